//! The portability rules: constructs that render differently across Handlebars implementations
//! (handlebars.js, handlebars-rust, Handlebars.Net, handlebars.java), found by the conformance test
//! against handlebars.js and in the implementations' issue trackers (docs/portability.md). A walk
//! over one template with the declared types; pure, warnings only, never fails.

use crate::check::variables::Site;
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::prompt::{Type, Variable};
use crate::syntax::template::guards::{shown, Canonical, Guards, Reach};
use crate::syntax::template::scope::{Frame, Resolution, Scopes};
use crate::syntax::template::{
    Block, Call, Expression, Helper, Literal, Node, Path, Program, Template,
};
use std::ops::Range;

/// Runs the portability rules on one version's template.
pub fn check(site: &Site, template: &Template, variables: &[Variable]) -> Vec<Diagnostic> {
    let mut walker = Walker {
        site,
        variables,
        scopes: Scopes::new(Context { kind: Kind::Root, argument: None, each: None }),
        guards: Guards::default(),
        diagnostics: Vec::new(),
    };
    walker.program(&template.program);
    walker.diagnostics
}

/// What a path resolves to, as far as the declarations tell.
#[derive(Clone, Copy)]
enum Kind<'v> {
    /// The root context: the declared variables.
    Root,
    Type(&'v Type),
    /// Not known statically (a `lookup` result, an undeclared name the variables rules report).
    Unknown,
}

/// A resolved path. The canonical path (`player.name`, `items[].label`) and its optional prefixes
/// are only built on request (`track`): they serve the `#if` guards of
/// `portability/unguarded-each`, which is rare, while every printed path is resolved, so the
/// common walk allocates nothing.
struct Resolved<'v> {
    kind: Kind<'v>,
    canonical: Canonical,
}

impl<'v> Resolved<'v> {
    fn of(kind: Kind<'v>) -> Self {
        Resolved { kind, canonical: Canonical::default() }
    }
}

/// What `#each` iterates: `@key` is a number over an array and a string over an object.
#[derive(Clone, Copy, PartialEq)]
enum Each {
    Array,
    Object,
}

/// What the walk keeps per scope frame: the root, or the inside of `#each` / `#with` (and of an
/// unknown block helper, in an unknown context). Its block parameters: the first names the
/// context, the second `@index` / `@key`.
struct Context<'v, 't> {
    kind: Kind<'v>,
    /// The block's argument, from which the canonical path of the context is derived on request.
    argument: Option<&'t Path>,
    each: Option<Each>,
}

struct Walker<'a, 'v, 't> {
    site: &'a Site<'a>,
    variables: &'v [Variable],
    scopes: Scopes<'t, Context<'v, 't>>,
    /// The paths known to be present here (inside `#if x`, `#each x`, `#with x`), pushed as
    /// written: their canonical paths are only built when `unguarded_each` consults them.
    guards: Guards<'t>,
    diagnostics: Vec<Diagnostic>,
}

static INTEGER: Type = Type::Integer;
static BOOLEAN: Type = Type::Boolean;
static STRING: Type = Type::String { max_len: None };

impl<'v, 't> Walker<'_, 'v, 't> {
    fn report(
        &mut self,
        code: Code,
        range: Range<usize>,
        message: String,
        label: &str,
        help: &str,
    ) {
        let span = self.site.body_offset + range.start..self.site.body_offset + range.end;
        self.diagnostics.push(
            Diagnostic::new(code, self.site.file, message)
                .at(self.site.text, span)
                .label(label)
                .help(help),
        );
    }

    /// Checks a program; returns whether its output may be a bare number in handlebars.js: with
    /// `noEscape` a program returns its outputs joined with `+`, so one made only of numbers
    /// (and booleans) returns a number, which the output around the block adds to.
    fn program(&mut self, program: &'t Program) -> bool {
        // The output, mustache by mustache: the last one printed, while only comments and
        // whitespace-stripped text follow it, if it may print a number or a boolean.
        let mut previous_number: Option<Range<usize>> = None;
        let mut only_numbers = true;
        let mut any = false;
        for node in &program.body {
            let number = match node {
                Node::Text(text) if text.value.is_empty() => continue,
                Node::Comment(_) => continue,
                Node::Text(_) => None,
                Node::Mustache(mustache) => self
                    .mustache(&mustache.call)
                    .filter(prints_number)
                    .map(|_| mustache.span.clone()),
                Node::Block(block) => {
                    self.block(block).then_some(block.span.start..block.close_span.end)
                }
            };
            any = true;
            only_numbers &= number.is_some();
            if let (Some(first), Some(second)) = (&previous_number, &number) {
                let shown = |range: &Range<usize>| {
                    let text = &self.site.text
                        [self.site.body_offset + range.start..self.site.body_offset + range.end];
                    match text.find('\n') {
                        Some(end) => format!("{}…", &text[..end]),
                        None => text.to_string(),
                    }
                };
                let message = format!(
                    "`{}` and `{}` print numbers with nothing between them, which handlebars.js adds up",
                    shown(first),
                    shown(second)
                );
                self.report(
                    Code::PortabilityAdjacentNumbers,
                    first.start..second.end,
                    message,
                    "adjacent numbers",
                    "handlebars.js 4 with `noEscape` renders `{{a}}{{b}}` with 1 and 2 as `3` (and true as 1); put text between them, e.g. `{{a}}.{{b}}`, or pass one of them as a string",
                );
            }
            previous_number = number;
        }
        any && only_numbers
    }

    /// Checks a mustache; returns what it prints when that is a path.
    fn mustache(&mut self, call: &'t Call) -> Option<Resolved<'v>> {
        if !call.params.is_empty() {
            let mut params = Vec::with_capacity(call.params.len());
            for param in &call.params {
                params.push(match param {
                    Expression::Path(path) => self.resolve(path, false),
                    Expression::Literal(..) => None,
                });
            }
            if call.helper() != Some(Helper::Lookup) {
                return None;
            }
            let object = match call.params.first() {
                Some(Expression::Literal(literal, _)) => literal_kind(literal).map(Resolved::of),
                _ => params.into_iter().next().flatten(),
            };
            return object.and_then(|object| self.lookup_result(&object, call.params.get(1)));
        }
        let resolved = self.resolve(&call.head, false)?;
        if let Kind::Type(Type::Number) = resolved.kind {
            self.report(
                Code::PortabilityNumberFormat,
                call.head.span.clone(),
                format!(
                    "`{}` prints a `number`, which Handlebars implementations format differently",
                    call.head.original
                ),
                "formatting differs",
                "handlebars.js prints 1.0 as `1` and 1e21 as `1e+21`, handlebars-rust prints `1.0`, handlebars.java `1.0` and `1.0E21`, Handlebars.Net uses the culture's decimal separator (`0,5`); format the number in the application and pass it as a string, or declare it `integer`",
            );
        }
        Some(resolved)
    }

    /// What `{{lookup object key}}` may print, for `portability/adjacent-numbers`: the object
    /// itself when it is falsy (`false`, `0`; handlebars.js `if (!obj) return obj`), an array's
    /// item or `length`, a string's `length`, or the field (or variable) the key names; with a key
    /// that is not a literal, any field that prints a number.
    fn lookup_result(
        &self,
        object: &Resolved<'v>,
        key: Option<&Expression>,
    ) -> Option<Resolved<'v>> {
        static INTEGER: Type = Type::Integer;
        let numeric = |ty: &Type| matches!(ty, Type::Integer | Type::Number | Type::Boolean);
        let key = match key {
            Some(Expression::Literal(Literal::String(key), _)) => Some(key.clone()),
            Some(Expression::Literal(Literal::Number(key), _)) => {
                Some(crate::render::js_number(*key))
            }
            _ => None,
        };
        let length = key.as_deref().is_none_or(|key| key == "length");
        let field = |fields: &'v [Variable]| -> Option<&'v Type> {
            match &key {
                Some(key) => fields.iter().find(|field| &field.name == key).map(|field| &field.ty),
                None => fields.iter().find(|field| numeric(&field.ty)).map(|field| &field.ty),
            }
        };
        let printed: &'v Type = match object.kind {
            Kind::Root => field(self.variables)?,
            Kind::Type(Type::Object(fields)) => field(fields)?,
            Kind::Type(Type::Array(_) | Type::String { .. } | Type::Enum(_)) if length => &INTEGER,
            Kind::Type(Type::Array(item)) => &item.ty,
            Kind::Type(scalar) if numeric(scalar) => scalar,
            _ => return None,
        };
        Some(Resolved::of(Kind::Type(printed)))
    }

    /// Checks a block; returns whether its output may be a bare number (see `program`): `#if`
    /// and `#unless` return the branch they take, `#with` its body or its `{{else}}` part,
    /// `#each` its `{{else}}` part (an iteration's output is added to a string).
    fn block(&mut self, block: &'t Block) -> bool {
        let helper = block.call.helper().filter(|helper| helper.is_block());
        let path = match block.call.params.as_slice() {
            [Expression::Path(path)] => Some(path),
            _ => None,
        };
        let argument = match block.call.params.as_slice() {
            [Expression::Path(path)] => self.resolve(path, false),
            [Expression::Literal(literal, _)] => {
                Some(Resolved::of(literal_kind(literal).unwrap_or(Kind::Unknown)))
            }
            params => {
                for param in params {
                    if let Expression::Path(path) = param {
                        self.resolve(path, false);
                    }
                }
                None
            }
        };
        let guard = path.map(|path| (path, self.scopes.len()));
        match (helper, argument) {
            (Some(helper @ (Helper::If | Helper::Unless)), _) => {
                let (program_guard, inverse_guard) =
                    if helper == Helper::If { (guard, None) } else { (None, guard) };
                let program = self.guarded(&block.program, program_guard);
                let inverse = block
                    .inverse
                    .as_ref()
                    .is_some_and(|inverse| self.guarded(inverse, inverse_guard));
                program || inverse
            }
            (Some(helper @ (Helper::Each | Helper::With)), Some(argument)) => {
                let is_each = helper == Helper::Each;
                if let Some(path) = path {
                    if is_each && matches!(argument.kind, Kind::Root | Kind::Type(Type::Object(_)))
                    {
                        self.report(
                            Code::PortabilityObjectIteration,
                            path.span.clone(),
                            format!(
                                "`#each {}` iterates an object, whose key order differs between Handlebars implementations",
                                path.original
                            ),
                            "iterates an object",
                            "handlebars.js puts integer-like keys first, handlebars-rust sorts the keys or keeps their insertion order, handlebars.java follows the map it is given, and older handlebars-rust binds `as |a b|` as key, value; pass an array of objects instead, in the order the prompt needs",
                        );
                    }
                    if block.inverse.is_none() {
                        self.unguarded_each(helper.name(), path);
                    }
                }
                let (kind, each) = match (argument.kind, is_each) {
                    (Kind::Type(Type::Array(item)), true) => {
                        (Kind::Type(&item.ty), Some(Each::Array))
                    }
                    // The values of an object whose fields (or variables) all have one type.
                    (Kind::Type(Type::Object(fields)), true) => {
                        (same_type(fields), Some(Each::Object))
                    }
                    (Kind::Root, true) => (same_type(self.variables), Some(Each::Object)),
                    (_, true) => (Kind::Unknown, Some(Each::Object)),
                    (kind, false) => (kind, None),
                };
                let level = self.scopes.changes_context(helper, block.call.params.first());
                self.scopes.push(Frame {
                    payload: Context { kind, argument: path, each },
                    params: two_params(block),
                    level,
                    data: is_each,
                });
                let program = self.guarded(&block.program, guard) && !is_each;
                self.scopes.pop();
                let inverse = block.inverse.as_ref().is_some_and(|inverse| self.program(inverse));
                program || inverse
            }
            _ => {
                // An unknown helper or a bad argument, which the variables rules report: still
                // look inside, in an unknown context.
                self.scopes.push(Frame {
                    payload: Context { kind: Kind::Unknown, argument: None, each: None },
                    params: two_params(block),
                    level: true,
                    data: false,
                });
                self.program(&block.program);
                self.scopes.pop();
                if let Some(inverse) = &block.inverse {
                    self.program(inverse);
                }
                false
            }
        }
    }

    /// Checks `program` under `guard`, a path with the number of frames in scope where it is.
    fn guarded(&mut self, program: &'t Program, guard: Option<(&'t Path, usize)>) -> bool {
        let pushed = guard.is_some();
        if let Some((path, frames)) = guard {
            self.guards.push_written(path, frames);
        }
        let number = self.program(program);
        if pushed {
            self.guards.pop();
        }
        number
    }

    /// `#each x` / `#with x` without `{{else}}` over a value that may be absent: handlebars.js
    /// renders nothing, handlebars-rust in strict mode fails.
    fn unguarded_each(&mut self, name: &str, path: &'t Path) {
        let Some(argument) = self.resolve_quietly(path, true) else { return };
        let mut guards = std::mem::take(&mut self.guards);
        let unguarded =
            guards.unguarded(&argument.canonical, true, Reach::Under, |path, frames| {
                self.resolve_at(path, true, frames, true)
                    .map_or_else(String::new, |resolved| resolved.canonical.into_string())
            });
        self.guards = guards;
        let Some(optional) = unguarded else { return };
        let shown = shown(optional);
        self.report(
            Code::PortabilityUnguardedEach,
            path.span.clone(),
            format!(
                "`#{name} {}` has no `{{{{else}}}}` and `{shown}` is optional, so some implementations fail when it is absent",
                path.original
            ),
            "may be absent",
            &format!("handlebars.js renders nothing, but handlebars-rust in strict mode fails on a missing value given to `#each` or `#with` without `{{{{else}}}}`; wrap the block in `{{{{#if {shown}}}}}…{{{{/if}}}}`, or add an `{{{{else}}}}`"),
        );
    }

    fn resolve(&mut self, path: &Path, track: bool) -> Option<Resolved<'v>> {
        self.resolve_at(path, track, self.scopes.len(), false)
    }

    /// Resolves a path a second time without reporting `.length` again.
    fn resolve_quietly(&mut self, path: &Path, track: bool) -> Option<Resolved<'v>> {
        self.resolve_at(path, track, self.scopes.len(), true)
    }

    /// The canonical path of the context of frame `index`: its argument's, with `[]` for the
    /// items of an array.
    fn frame_canonical(&mut self, index: usize) -> Canonical {
        let frame = &self.scopes.frame(index).payload;
        let (argument, each) = (frame.argument, frame.each);
        let Some(argument) = argument else { return Canonical::default() };
        let parent = self.resolve_at(argument, true, index, true);
        match (parent, each) {
            (Some(parent), Some(Each::Array)) => parent.canonical.context(true),
            (Some(parent), None) => parent.canonical.context(false),
            _ => Canonical::default(),
        }
    }

    /// Resolves a path against the first `visible` frames; `None` when the variables rules report
    /// it anyway. Reports `.length` unless `quiet`. Only with `track` does it build the canonical
    /// path and the optional prefixes.
    fn resolve_at(
        &mut self,
        path: &Path,
        track: bool,
        visible: usize,
        quiet: bool,
    ) -> Option<Resolved<'v>> {
        let (mut current, segments) = match self.scopes.resolve_at(path, visible) {
            Resolution::BlockParam { frame: index, position, rest } => {
                let frame = &self.scopes.frame(index).payload;
                let (kind, each) = (frame.kind, frame.each);
                let resolved = match (position, each) {
                    (0, _) if track => Resolved { kind, canonical: self.frame_canonical(index) },
                    (0, _) => Resolved::of(kind),
                    (_, Some(Each::Array)) => Resolved::of(Kind::Type(&INTEGER)),
                    (_, Some(Each::Object)) => Resolved::of(Kind::Type(&STRING)),
                    (_, None) => Resolved::of(Kind::Unknown),
                };
                (resolved, rest)
            }
            Resolution::Root { rest } => (Resolved::of(Kind::Root), rest),
            Resolution::Data { name, frame, rest } => {
                let each = frame.and_then(|index| self.scopes.frame(index).payload.each);
                let resolved = match (name.name.as_str(), each) {
                    ("index", Some(_)) => Resolved::of(Kind::Type(&INTEGER)),
                    ("first" | "last", Some(_)) => Resolved::of(Kind::Type(&BOOLEAN)),
                    ("key", Some(Each::Array)) => Resolved::of(Kind::Type(&INTEGER)),
                    ("key", Some(Each::Object)) => Resolved::of(Kind::Type(&STRING)),
                    _ => return None,
                };
                (resolved, rest)
            }
            Resolution::Context { frame: index, rest } => {
                let kind = self.scopes.frame(index).payload.kind;
                let resolved = if track {
                    Resolved { kind, canonical: self.frame_canonical(index) }
                } else {
                    Resolved::of(kind)
                };
                (resolved, rest)
            }
            Resolution::AboveRoot { .. } | Resolution::Nothing => return None,
        };
        for segment in segments {
            current = match current.kind {
                Kind::Root => {
                    let variable = self.variables.iter().find(|v| v.name == segment.name)?;
                    if track {
                        current.canonical.variable(&variable.name, variable.required);
                    }
                    Resolved { kind: Kind::Type(&variable.ty), canonical: current.canonical }
                }
                Kind::Type(Type::Object(fields)) => {
                    let field = fields.iter().find(|field| field.name == segment.name)?;
                    if track {
                        current.canonical.field(&field.name, field.required);
                    }
                    Resolved { kind: Kind::Type(&field.ty), canonical: current.canonical }
                }
                Kind::Type(Type::Array(item)) => {
                    let length = segment.name == "length" && !segment.literal;
                    if length && !quiet {
                        self.report(
                            Code::PortabilityLength,
                            segment.span.clone(),
                            format!(
                                "`{}` reads the JavaScript property `length`, which not every Handlebars implementation has",
                                path.original
                            ),
                            "JavaScript only",
                            "handlebars-rust has no `.length` (it fails to render, and offers a `len` helper instead), nor do some ports such as raymond for Go; test the array itself (`{{#if items}}`), or pass the count as an `integer` variable",
                        );
                    } else if !length && segment.name.parse::<usize>().is_err() {
                        return None;
                    }
                    if track && length {
                        current.canonical.length();
                    } else if track {
                        current.canonical.element(&segment.name);
                    }
                    Resolved {
                        kind: Kind::Type(if length { &INTEGER } else { &item.ty }),
                        canonical: current.canonical,
                    }
                }
                Kind::Type(_) => return None,
                Kind::Unknown => Resolved::of(Kind::Unknown),
            };
        }
        Some(current)
    }
}

/// The block parameters a frame binds: the first names the context, the second `@index` /
/// `@key`; any further one is reported by the variables rules.
fn two_params(block: &Block) -> &[String] {
    let names = &block.program.block_params;
    &names[..names.len().min(2)]
}

/// Whether two types hold the same values, whatever their declarations' places and descriptions.
fn same_shape(a: &Type, b: &Type) -> bool {
    match (a, b) {
        (Type::Array(x), Type::Array(y)) => same_shape(&x.ty, &y.ty),
        (Type::Object(x), Type::Object(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|(x, y)| {
                    x.name == y.name && x.required == y.required && same_shape(&x.ty, &y.ty)
                })
        }
        _ => a == b,
    }
}

/// What the values of an object with `fields` may print: the first number (or boolean) type among
/// them, since one is enough for the number rules, else their type when they all have the same.
fn same_type(fields: &[Variable]) -> Kind<'_> {
    let number = fields.iter().find(|field| matches!(field.ty, Type::Integer | Type::Number));
    let number = number.or_else(|| fields.iter().find(|field| field.ty == Type::Boolean));
    if let Some(field) = number {
        return Kind::Type(&field.ty);
    }
    match fields.split_first() {
        Some((first, rest)) if rest.iter().all(|field| same_shape(&field.ty, &first.ty)) => {
            Kind::Type(&first.ty)
        }
        _ => Kind::Unknown,
    }
}

/// Whether a printed value may be a number in JavaScript (booleans add up as 0 and 1).
/// The type a number or boolean literal has (as a `#with` or `lookup` argument).
fn literal_kind(literal: &Literal) -> Option<Kind<'static>> {
    static NUMBER: Type = Type::Number;
    static BOOLEAN: Type = Type::Boolean;
    match literal {
        Literal::Number(_) => Some(Kind::Type(&NUMBER)),
        Literal::Boolean(_) => Some(Kind::Type(&BOOLEAN)),
        _ => None,
    }
}

fn prints_number(resolved: &Resolved) -> bool {
    matches!(resolved.kind, Kind::Type(Type::Integer | Type::Number | Type::Boolean))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::prompt::{read_front_matter, resolve_variables, split_front_matter};

    /// Checks a version file (front matter and template) and compares the codes and the text under
    /// each span with `expect` (`code: spanned text` per line).
    #[track_caller]
    fn check(file: &str, expect: &str) {
        let split = split_front_matter("v1.prompt", file).expect("front matter");
        let (front, problems) =
            read_front_matter("v1.prompt", file, split.front_matter_offset, split.front_matter);
        assert!(problems.is_empty(), "{problems:?}");
        let (variables, problems) =
            resolve_variables("v1.prompt", file, &front.expect("front matter reads"));
        assert!(problems.is_empty(), "{problems:?}");
        let template = crate::syntax::template::parse(split.body).expect("template parses");
        let site = Site { file: "v1.prompt", text: file, body_offset: split.body_offset };
        let found: Vec<String> = super::check(&site, &template, &variables)
            .iter()
            .map(|d| {
                let bytes = d.location.as_ref().map_or(0..0, |l| l.bytes.clone());
                format!("{}: {}", d.code.as_str(), &file[bytes])
            })
            .collect();
        assert_eq!(found.join("\n"), expect.trim(), "{file}");
    }

    #[test]
    fn adjacent_numbers() {
        let front = "+++\nvariables.a = { type = \"integer\" }\nvariables.b = { type = \"integer\" }\nvariables.s = { type = \"string\" }\nvariables.f = { type = \"boolean\" }\n+++\n";
        check(
            &format!("{front}{{{{a}}}}{{{{b}}}}{{{{s}}}}{{{{f}}}}"),
            "portability/adjacent-numbers: {{a}}{{b}}",
        );
        check(&format!("{front}{{{{a}}}}.{{{{b}}}} {{{{s}}}}{{{{a}}}}"), "");
        check(
            &format!("{front}{{{{a}}}}{{{{! c }}}}{{{{f}}}}"),
            "portability/adjacent-numbers: {{a}}{{! c }}{{f}}",
        );
        check(
            &format!("{front}{{{{a}}}} {{{{~b}}}}"),
            "portability/adjacent-numbers: {{a}} {{~b}}",
        );
        check(
            &format!("{front}{{{{a}}}}{{{{#if f}}}}{{{{b}}}}{{{{/if}}}}"),
            "portability/adjacent-numbers: {{a}}{{#if f}}{{b}}{{/if}}",
        );
        check(&format!("{front}{{{{a}}}}{{{{#if f}}}}{{{{s}}}}{{{{/if}}}}"), "");
        check(
            "+++\nvariables.xs = { type = \"array\", items = \"integer\" }\n+++\n{{#each xs}}{{@index}}{{this}} {{/each}}{{#each xs as |x i|}}{{x}}-{{i}}{{/each}}",
            "portability/adjacent-numbers: {{@index}}{{this}}",
        );
        check(
            "+++\nvariables.f = { type = \"boolean\" }\nvariables.l = { type = \"array\", items = \"integer\" }\n+++\n{{f}}{{lookup f \"a\"}} {{lookup l 0}}{{lookup l 1}} {{f}}-{{lookup l 0}}",
            "portability/adjacent-numbers: {{f}}{{lookup f \"a\"}}\nportability/adjacent-numbers: {{lookup l 0}}{{lookup l 1}}",
        );
        // The values of an object whose fields share one compound type.
        check(
            "+++\nvariables.m = { type = \"object\", fields = { x = { type = \"array\", items = \"integer\" }, y = { type = \"array\", items = \"integer\" } } }\n+++\n{{#each m}}{{[0]}}{{[1]}}|{{/each}}",
            "portability/object-iteration: m\nportability/adjacent-numbers: {{[0]}}{{[1]}}",
        );
        // `#with` returns its body's output as it is; found by the differential test.
        check(
            &format!("{front}{{{{a}}}}{{{{#with f}}}}{{{{this}}}}{{{{/with}}}} {{{{#with 1.5}}}}{{{{this}}}}{{{{this}}}}{{{{/with}}}} {{{{#each s}}}}{{{{a}}}}{{{{/each}}}}{{{{b}}}}"),
            "portability/adjacent-numbers: {{a}}{{#with f}}{{this}}{{/with}}\nportability/number-format: this\nportability/number-format: this\nportability/adjacent-numbers: {{this}}{{this}}",
        );
        check(
            &format!("{front}{{{{lookup s 'length'}}}}{{{{a}}}} {{{{b}}}}{{{{lookup false 0}}}} {{{{lookup this 'a'}}}}{{{{b}}}} {{{{lookup this 's'}}}}{{{{b}}}}"),
            "portability/adjacent-numbers: {{lookup s 'length'}}{{a}}\nportability/adjacent-numbers: {{b}}{{lookup false 0}}\nportability/adjacent-numbers: {{lookup this 'a'}}{{b}}",
        );
        // The `{{else}}` of `#each` and `#with` returns its output as it is; their bodies are
        // joined to a string by `#each`.
        check(
            &format!("{front}{{{{#each s}}}}{{{{else}}}}{{{{a}}}}{{{{/each}}}}{{{{b}}}}"),
            "portability/adjacent-numbers: {{#each s}}{{else}}{{a}}{{/each}}{{b}}",
        );
        check(&format!("{front}{{{{#each s}}}}{{{{a}}}}{{{{/each}}}}{{{{b}}}}"), "");
        // The values of an object whose fields are numbers.
        check(
            "+++\nvariables.m = { type = \"object\", fields = { a = { type = \"integer\" }, b = { type = \"integer\" } } }\n+++\n{{#each m}}{{this}}{{this}}{{/each}}",
            "portability/object-iteration: m\nportability/adjacent-numbers: {{this}}{{this}}",
        );
    }

    /// Paths resolve as handlebars.js resolves them (syntax::template::scope): `@index` names a
    /// block parameter `index` first, and `{{#with this}}` adds no `../` level.
    #[test]
    fn scopes_as_handlebars_js_resolves_them() {
        let front = "+++\nvariables.xs = { type = \"array\", items = \"string\" }\nvariables.n = { type = \"number\" }\n+++\n";
        check(
            &format!("{front}{{{{#each xs as |index|}}}}{{{{@index}}}}{{{{@index}}}}{{{{/each}}}}"),
            "",
        );
        check(
            &format!("{front}{{{{#each xs}}}}{{{{@index}}}}{{{{@index}}}}{{{{/each}}}}"),
            "portability/adjacent-numbers: {{@index}}{{@index}}",
        );
        check(
            &format!(
                "{front}{{{{#each xs}}}}{{{{#with this}}}}{{{{../n}}}}{{{{/with}}}}{{{{/each}}}}"
            ),
            "portability/number-format: ../n",
        );
    }

    #[test]
    fn number_format_and_length() {
        check(
            "+++\nvariables.price = { type = \"number\" }\nvariables.n = { type = \"integer\" }\nvariables.xs = { type = \"array\", items = \"number\" }\n+++\n{{price}} {{n}} {{xs.length}} {{#each xs}}{{this}}{{/each}}{{#if xs.length}}{{/if}}",
            "portability/number-format: price\nportability/length: length\nportability/number-format: this\nportability/length: length",
        );
    }

    #[test]
    fn object_iteration() {
        check(
            "+++\nvariables.m = { type = \"object\", fields = { a = { type = \"string\" } } }\nvariables.xs = { type = \"array\", items = \"string\" }\n+++\n{{#each m}}{{@key}}{{/each}}{{#each xs}}{{this}}{{/each}}{{#each this}}{{/each}}",
            "portability/object-iteration: m\nportability/object-iteration: this",
        );
    }

    #[test]
    fn unguarded_each() {
        let front = "+++\nvariables.xs = { type = \"array\", items = \"string\", required = false }\nvariables.p = { type = \"object\", required = false, fields = { ys = { type = \"array\", items = \"string\", required = false } } }\n+++\n";
        check(
            &format!("{front}{{{{#each xs}}}}{{{{this}}}}{{{{/each}}}}"),
            "portability/unguarded-each: xs",
        );
        check(&format!("{front}{{{{#each xs}}}}{{{{this}}}}{{{{else}}}}none{{{{/each}}}}"), "");
        check(
            &format!("{front}{{{{#if xs}}}}{{{{#each xs}}}}{{{{this}}}}{{{{/each}}}}{{{{/if}}}}"),
            "",
        );
        check(&format!("{front}{{{{#unless xs}}}}-{{{{else}}}}{{{{#each xs}}}}x{{{{/each}}}}{{{{/unless}}}}"), "");
        check(
            &format!("{front}{{{{#if p}}}}{{{{#each p.ys}}}}x{{{{/each}}}}{{{{/if}}}}{{{{#with p}}}}{{{{/with}}}}"),
            "portability/unguarded-each: p.ys\nportability/unguarded-each: p",
        );
        check(&format!("{front}{{{{#if p.ys}}}}{{{{#each p.ys}}}}x{{{{/each}}}}{{{{#with p}}}}{{{{/with}}}}{{{{/if}}}}"), "");
        // Guards through contexts and block parameters.
        check(&format!("{front}{{{{#if p}}}}{{{{#with p}}}}{{{{#if ys}}}}{{{{#each ys}}}}x{{{{/each}}}}{{{{/if}}}}{{{{/with}}}}{{{{/if}}}}"), "");
        check(
            &format!("{front}{{{{#if p}}}}{{{{#with p as |q|}}}}{{{{#each q.ys}}}}x{{{{/each}}}}{{{{#if q.ys}}}}{{{{#each ../p.ys}}}}x{{{{/each}}}}{{{{/if}}}}{{{{/with}}}}{{{{/if}}}}"),
            "portability/unguarded-each: q.ys",
        );
        let groups = "+++\nvariables.groups = { type = \"array\", items = { type = \"object\", fields = { tags = { type = \"array\", items = \"string\", required = false } } } }\n+++\n";
        check(&format!("{groups}{{{{#each groups as |g|}}}}{{{{#each g.tags}}}}x{{{{/each}}}}{{{{/each}}}}"), "portability/unguarded-each: g.tags");
        check(&format!("{groups}{{{{#each groups as |g|}}}}{{{{#if g.tags}}}}{{{{#each g.tags}}}}x{{{{/each}}}}{{{{/if}}}}{{{{/each}}}}"), "");
        check(&format!("{groups}{{{{#each groups}}}}{{{{#if tags}}}}{{{{#each this.tags}}}}x{{{{/each}}}}{{{{/if}}}}{{{{/each}}}}"), "");
    }
}
