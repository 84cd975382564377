//! The variables rules: walks a template's syntax tree with a scope stack (`#each`, `#with`, block
//! parameters, `../`, `@index`, `@root`) and checks every expression against the declared types.
//! Pure; reports diagnostics, never fails.

use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::syntax::prompt::{Type, Variable};
use crate::syntax::template::guards::{shown, Canonical, Guards, Reach};
use crate::syntax::template::scope::{Frame, Resolution, Scopes};
use crate::syntax::template::{Block, Call, Expression, Helper, Node, Path, Program, Template};
use crate::text::article;
use std::collections::BTreeSet;
use std::ops::Range;

/// The helpers that exist, in every implementation promptctl must agree with.
const BLOCK_HELPERS: &[&str] = Helper::BLOCK_NAMES;
const INLINE_HELPERS: &[&str] = Helper::INLINE_NAMES;

/// Where the template sits in its file, to turn body offsets into file positions.
pub struct Site<'a> {
    pub file: &'a str,
    /// The whole file's text.
    pub text: &'a str,
    /// Byte offset of the template body in `text`.
    pub body_offset: usize,
}

/// Runs the variables rules on one version's template.
pub fn check(site: &Site, template: &Template, variables: &[Variable]) -> Vec<Diagnostic> {
    let mut walker = Walker {
        site,
        variables,
        scopes: Scopes::new(Context::root()),
        guards: Guards::default(),
        used: BTreeSet::new(),
        diagnostics: Vec::new(),
    };
    walker.program(&template.program);
    for variable in variables {
        if !walker.used.contains(variable.name.as_str()) {
            walker.diagnostics.push(
                Diagnostic::new(
                    Code::VariablesUnused,
                    site.file,
                    format!("variable `{}` is declared but never used", variable.name),
                )
                .at(site.text, variable.span.clone())
                .label("declared here")
                .help(format!(
                    "use `{{{{{}}}}}` in the template, or remove the declaration",
                    variable.name
                )),
            );
        }
    }
    walker.diagnostics
}

/// What a path resolves to.
#[derive(Clone, Copy)]
enum Shape<'v> {
    /// The root context: the declared variables.
    Root,
    Type(&'v Type),
    /// Not known statically (a `lookup` result); anything goes.
    Unknown,
}

#[derive(Clone)]
struct Resolved<'v> {
    shape: Shape<'v>,
    /// The canonical path (`player.name`, `items[].label`) with its optional prefixes, for guard
    /// matching; built as the path is resolved, since the diagnostics name it too.
    canonical: Canonical,
}

impl<'v> Resolved<'v> {
    fn of(shape: Shape<'v>) -> Self {
        Resolved { shape, canonical: Canonical::default() }
    }
}

/// What the walk keeps per scope frame.
struct Context<'v> {
    /// The context value of this frame, which its first block parameter names too.
    context: Resolved<'v>,
    /// What its other block parameters (`@index` or `@key` of `#each`) hold.
    param: Shape<'v>,
}

impl Context<'_> {
    fn root() -> Self {
        Context { context: Resolved::of(Shape::Root), param: Shape::Unknown }
    }
}

struct Walker<'a, 'v, 't> {
    site: &'a Site<'a>,
    variables: &'v [Variable],
    scopes: Scopes<'t, Context<'v>>,
    /// The paths known to be present here (inside `#if x`, `#with x`, `#each x`), pushed with
    /// their canonical paths.
    guards: Guards<'t>,
    used: BTreeSet<&'v str>,
    diagnostics: Vec<Diagnostic>,
}

impl<'a, 'v, 't> Walker<'a, 'v, 't> {
    fn span(&self, range: &Range<usize>) -> Range<usize> {
        self.site.body_offset + range.start..self.site.body_offset + range.end
    }

    fn report(
        &mut self,
        code: Code,
        range: &Range<usize>,
        message: String,
        label: &str,
        help: Option<String>,
    ) {
        let mut diagnostic = Diagnostic::new(code, self.site.file, message)
            .at(self.site.text, self.span(range))
            .label(label);
        if let Some(help) = help {
            diagnostic = diagnostic.help(help);
        }
        self.diagnostics.push(diagnostic);
    }

    fn program(&mut self, program: &'t Program) {
        for node in &program.body {
            match node {
                Node::Text(_) | Node::Comment(_) => {}
                Node::Mustache(mustache) => self.mustache(&mustache.call),
                Node::Block(block) => self.block(block),
            }
        }
    }

    fn mustache(&mut self, call: &Call) {
        if let Some(helper) = call.helper() {
            let name = helper.name();
            if !helper.is_block() && !call.params.is_empty() {
                self.lookup(call);
                return;
            }
            if helper.is_block() {
                self.report(
                    Code::VariablesHelperArgs,
                    &call.head.span,
                    format!("`{name}` is a block helper"),
                    "used inline",
                    Some(format!("write `{{{{#{name} …}}}}…{{{{/{name}}}}}`")),
                );
                return;
            }
        }
        if !call.params.is_empty() {
            self.unknown_helper(&call.head, false);
            // The arguments are still expressions over the variables: check them, and count them used.
            for param in &call.params {
                self.param(param);
            }
            return;
        }
        let Some(resolved) = self.resolve(&call.head) else { return };
        if let Shape::Type(ty) = resolved.shape {
            if !ty.is_scalar() {
                let help = match ty {
                    Type::Array(_) => format!(
                        "iterate it: `{{{{#each {0}}}}}{{{{this}}}}{{{{/each}}}}`",
                        call.head.original
                    ),
                    _ => format!("print its fields, e.g. `{{{{{0}.field}}}}`", call.head.original),
                };
                self.report(
                    Code::VariablesNotScalar,
                    &call.head.span,
                    format!(
                        "`{}` is {} {} and cannot be printed",
                        call.head.original,
                        article(ty.name()),
                        ty.name()
                    ),
                    "not a scalar",
                    Some(help),
                );
                return;
            }
        }
        self.require_guards(&call.head, &resolved, true);
    }

    fn lookup(&mut self, call: &Call) {
        if call.params.len() != 2 {
            self.report(
                Code::VariablesHelperArgs,
                &call.head.span,
                format!("`lookup` takes 2 arguments, found {}", call.params.len()),
                "wrong number of arguments",
                Some("write `{{lookup items @index}}`".into()),
            );
        }
        for param in &call.params {
            self.param(param);
        }
    }

    fn param(&mut self, expression: &Expression) -> Option<Resolved<'v>> {
        match expression {
            Expression::Literal(..) => Some(Resolved::of(Shape::Unknown)),
            Expression::Path(path) => {
                let resolved = self.resolve(path)?;
                self.require_guards(path, &resolved, false);
                Some(resolved)
            }
        }
    }

    fn unknown_helper(&mut self, head: &Path, block: bool) {
        let all: Vec<&str> = if block { BLOCK_HELPERS.to_vec() } else { INLINE_HELPERS.to_vec() };
        let suggestion = did_you_mean(&head.original, all.iter().copied()).or_else(|| {
            did_you_mean(&head.original, BLOCK_HELPERS.iter().chain(INLINE_HELPERS).copied())
        });
        let help = match suggestion {
            Some(suggestion) => format!("did you mean `{suggestion}`? the helpers are if, unless, each, with and lookup"),
            None => "the helpers are if, unless, each, with and lookup; compute anything else in the application and pass it as a variable".into(),
        };
        self.report(
            Code::VariablesUnknownHelper,
            &head.span,
            format!("unknown helper `{}`", head.original),
            "no such helper",
            Some(help),
        );
    }

    fn block(&mut self, block: &'t Block) {
        let Some(helper) = block.call.helper().filter(|helper| helper.is_block()) else {
            self.unknown_helper(&block.call.head, true);
            // Walk the arguments and the body in the current scope, so that the one error does not
            // hide others or turn the variables it uses into "unused" warnings.
            for param in &block.call.params {
                self.param(param);
            }
            self.program(&block.program);
            if let Some(inverse) = &block.inverse {
                self.program(inverse);
            }
            return;
        };
        let name = helper.name();
        let argument = match block.call.params.as_slice() {
            [argument] => self.param(argument),
            params => {
                for param in params {
                    self.param(param);
                }
                self.report(
                    Code::VariablesHelperArgs,
                    &block.call.head.span,
                    format!("`#{name}` takes 1 argument, found {}", params.len()),
                    "wrong number of arguments",
                    Some(format!("write `{{{{#{name} value}}}}`")),
                );
                None
            }
        };
        let guard = match (&argument, block.call.params.first()) {
            (Some(resolved), Some(Expression::Path(_))) if !resolved.canonical.is_empty() => {
                Some(&resolved.canonical)
            }
            _ => None,
        };
        let with_guard = |walker: &mut Self, program: &'t Program, guarded: bool| {
            let pushed = guarded && guard.is_some();
            if let Some(guard) = guard.filter(|_| pushed) {
                walker.guards.push_canonical(guard);
            }
            walker.program(program);
            if pushed {
                walker.guards.pop();
            }
        };
        match helper {
            Helper::If | Helper::Unless => {
                if !block.program.block_params.is_empty() {
                    self.report(
                        Code::VariablesHelperArgs,
                        &block.span,
                        format!("`#{name}` takes no block parameters"),
                        "unexpected `as |…|`",
                        None,
                    );
                }
                with_guard(self, &block.program, helper == Helper::If);
                if let Some(inverse) = &block.inverse {
                    with_guard(self, inverse, helper == Helper::Unless);
                }
            }
            Helper::Each | Helper::With => {
                let is_each = helper == Helper::Each;
                let inner = argument
                    .as_ref()
                    .and_then(|argument| self.inner_context(argument, block, is_each));
                // `{{#with this}}` (or `{{#with @root}}` at the root) keeps the context.
                let level = self.scopes.changes_context(helper, block.call.params.first());
                let params = &block.program.block_params;
                if let Some(inner) = inner {
                    let param = self.block_params(block, is_each, argument.as_ref());
                    let payload = Context { context: inner, param };
                    self.scopes.push(Frame { payload, params, level, data: is_each });
                    with_guard(self, &block.program, true);
                    self.scopes.pop();
                } else {
                    // The argument was already reported; still check the body for other problems
                    // without reporting every use of the unknown context.
                    let unknown = Resolved::of(Shape::Unknown);
                    let payload = Context { context: unknown, param: Shape::Unknown };
                    self.scopes.push(Frame { payload, params, level, data: is_each });
                    self.program(&block.program);
                    self.scopes.pop();
                }
                if let Some(inverse) = &block.inverse {
                    self.program(inverse);
                }
            }
            // Not a block helper: reported above.
            Helper::Lookup => {}
        }
    }

    /// The context inside `#each argument` / `#with argument`, or `None` after reporting why not.
    fn inner_context(
        &mut self,
        argument: &Resolved<'v>,
        block: &Block,
        is_each: bool,
    ) -> Option<Resolved<'v>> {
        let span = block.call.params.first().map(Expression::span).unwrap_or(block.span.clone());
        let shown = block
            .call
            .params
            .first()
            .map(|p| self.site.text[self.span(&p.span())].to_string())
            .unwrap_or_default();
        match (argument.shape, is_each) {
            (Shape::Type(Type::Array(item)), true) => Some(Resolved {
                shape: Shape::Type(&item.ty),
                canonical: argument.canonical.context(true),
            }),
            (Shape::Type(Type::Object(_)), false) | (Shape::Root, false) => Some(Resolved {
                shape: argument.shape,
                canonical: argument.canonical.context(false),
            }),
            (Shape::Type(Type::Object(_)), true) | (Shape::Root, true) | (Shape::Unknown, _) => {
                Some(Resolved::of(Shape::Unknown))
            }
            (Shape::Type(ty), _) => {
                let (what, help) = if is_each {
                    ("iterated", "`#each` takes an array (or an object, to iterate its fields)")
                } else {
                    ("used as a context", "`#with` takes an object; print a scalar directly")
                };
                self.report(
                    Code::VariablesNotIterable,
                    &span,
                    format!(
                        "`{shown}` is {} {} and cannot be {what}",
                        article(ty.name()),
                        ty.name()
                    ),
                    "not iterable",
                    Some(help.into()),
                );
                None
            }
        }
    }

    /// Reports too many block parameters; returns what the ones after the first hold.
    fn block_params(
        &mut self,
        block: &Block,
        is_each: bool,
        argument: Option<&Resolved<'v>>,
    ) -> Shape<'v> {
        let names = &block.program.block_params;
        let limit = if is_each { 2 } else { 1 };
        if names.len() > limit {
            self.report(
                Code::VariablesHelperArgs,
                &block.span,
                format!(
                    "`#{}` provides at most {limit} block parameter(s), found {}",
                    if is_each { "each" } else { "with" },
                    names.len()
                ),
                "too many block parameters",
                None,
            );
        }
        match argument.map(|a| a.shape) {
            Some(Shape::Type(Type::Array(_))) => Shape::Type(&Type::Integer),
            _ => Shape::Unknown,
        }
    }

    /// Resolves a path against the scope stack, reporting why it cannot be.
    fn resolve(&mut self, path: &Path) -> Option<Resolved<'v>> {
        let (mut current, segments) = match self.scopes.resolve(path) {
            Resolution::BlockParam { frame, position, rest } => {
                let context = &self.scopes.frame(frame).payload;
                let resolved = if position == 0 {
                    context.context.clone()
                } else {
                    Resolved::of(context.param)
                };
                (resolved, rest)
            }
            Resolution::Nothing => return None,
            Resolution::Root { rest } => (Resolved::of(Shape::Root), rest),
            Resolution::Data { name, frame, rest } => match name.name.as_str() {
                "index" | "first" | "last" | "key" => {
                    if frame.is_none() {
                        let message = if path.depth == 0 {
                            format!("`@{}` is only defined inside `{{{{#each}}}}`", name.name)
                        } else {
                            format!(
                                "`{}` needs {} enclosing `{{{{#each}}}}` blocks",
                                path.original,
                                path.depth + 1
                            )
                        };
                        self.report(
                            Code::VariablesScope,
                            &path.span,
                            message,
                            "outside of `#each`",
                            Some("move it inside an `{{#each …}}` block".into()),
                        );
                        return None;
                    }
                    let ty: &'static Type = match name.name.as_str() {
                        "index" => &Type::Integer,
                        "key" => &Type::String { max_len: None },
                        _ => &Type::Boolean,
                    };
                    (Resolved::of(Shape::Type(ty)), rest)
                }
                other => {
                    self.report(
                        Code::VariablesScope,
                        &path.span,
                        format!("`@{other}` is not a data variable"),
                        "unknown data variable",
                        Some("the data variables are @index, @first, @last, @key and @root".into()),
                    );
                    return None;
                }
            },
            Resolution::AboveRoot { missing, .. } => {
                self.report(
                    Code::VariablesScope,
                    &path.span,
                    format!(
                        "`{}` goes {} level(s) above the root context",
                        path.original,
                        missing
                    ),
                    "no such parent scope",
                    Some("`../` counts only the `#each` and `#with` blocks that change the context (not `{{#with this}}`); remove a `../`".into()),
                );
                return None;
            }
            Resolution::Context { frame, rest } => {
                (self.scopes.frame(frame).payload.context.clone(), rest)
            }
        };
        for segment in segments {
            match current.shape {
                Shape::Root => {
                    let variables = self.variables;
                    match variables.iter().find(|v| v.name == segment.name) {
                        Some(variable) => {
                            self.used.insert(variable.name.as_str());
                            current.shape = Shape::Type(&variable.ty);
                            current.canonical.variable(&variable.name, variable.required);
                        }
                        None => {
                            let mut candidates: Vec<&str> =
                                variables.iter().map(|v| v.name.as_str()).collect();
                            candidates.extend(self.scopes.param_names().map(String::as_str));
                            let declare = format!(
                                "declare it in the front matter: `variables.{} = {{ type = \"string\" }}`",
                                segment.name
                            );
                            // The declaration is always offered: a close name may be a typo, or
                            // the new variable may merely resemble one (`player_name`, `game_name`).
                            let help = match did_you_mean(&segment.name, candidates.iter().copied())
                            {
                                Some(suggestion) => {
                                    format!("did you mean `{suggestion}`? If not, {declare}")
                                }
                                None => declare,
                            };
                            let in_scope = if self.scopes.len() > 1 && path.depth == 0 && !path.data
                            {
                                " (inside a block, the context is the block's value; `../` reaches the variables)"
                            } else {
                                ""
                            };
                            let message =
                                format!("variable `{}` is not declared{in_scope}", segment.name);
                            self.report(
                                Code::VariablesUndeclared,
                                &segment.span,
                                message,
                                "not declared",
                                Some(help),
                            );
                            return None;
                        }
                    }
                }
                Shape::Type(Type::Object(fields)) => {
                    match fields.iter().find(|field| field.name == segment.name) {
                        Some(field) => {
                            current.shape = Shape::Type(&field.ty);
                            current.canonical.field(&field.name, field.required);
                        }
                        None => {
                            let help = match did_you_mean(
                                &segment.name,
                                fields.iter().map(|f| f.name.as_str()),
                            ) {
                                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                                None => format!(
                                    "the fields are: {}",
                                    fields
                                        .iter()
                                        .map(|f| format!("`{}`", f.name))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            };
                            self.report(
                                Code::VariablesUndeclared,
                                &segment.span,
                                format!(
                                    "field `{}` is not declared in `{}`",
                                    segment.name,
                                    shown(current.canonical.as_str())
                                ),
                                "no such field",
                                Some(help),
                            );
                            return None;
                        }
                    }
                }
                Shape::Type(Type::Array(item)) => {
                    if segment.name == "length" && !segment.literal {
                        current.shape = Shape::Type(&Type::Integer);
                        current.canonical.length();
                    } else if segment.name.parse::<usize>().is_ok() {
                        current.shape = Shape::Type(&item.ty);
                        current.canonical.element(&segment.name);
                    } else {
                        self.report(
                            Code::VariablesFieldOnScalar,
                            &segment.span,
                            format!(
                                "`{}` is an array; `.{}` is not an element",
                                shown(current.canonical.as_str()),
                                segment.name
                            ),
                            "arrays have elements, not fields",
                            Some("iterate it with `{{#each …}}`, or index it with `.[0]`".into()),
                        );
                        return None;
                    }
                }
                Shape::Type(ty) => {
                    let shown = if current.canonical.is_empty() {
                        path.original.clone()
                    } else {
                        shown(current.canonical.as_str())
                    };
                    self.report(
                        Code::VariablesFieldOnScalar,
                        &segment.span,
                        format!(
                            "`{shown}` is {} {}; it has no field `{}`",
                            article(ty.name()),
                            ty.name(),
                            segment.name
                        ),
                        "field access on a scalar",
                        Some(format!(
                            "declare `{shown}` as an object with `fields`, or print it as it is"
                        )),
                    );
                    return None;
                }
                Shape::Unknown => current = Resolved::of(Shape::Unknown),
            }
        }
        Some(current)
    }

    /// Printing (or reading through) an optional value needs a guard, or strict rendering fails.
    fn require_guards(&mut self, path: &Path, resolved: &Resolved<'v>, printed: bool) {
        // Every guard is pushed with its canonical path: there is none to resolve.
        let unguarded =
            self.guards.unguarded(&resolved.canonical, printed, Reach::Along, |_, _| String::new());
        if let Some(optional) = unguarded {
            let shown = shown(optional);
            self.report(
                Code::VariablesUnguardedOptional,
                &path.span,
                if path.original == shown {
                    format!("`{shown}` is optional, and printing it fails when it is absent")
                } else {
                    format!(
                        "`{shown}` is optional, and `{}` fails to render when it is absent",
                        path.original
                    )
                },
                "may be absent",
                Some(format!(
                    "wrap it in `{{{{#if {shown}}}}}…{{{{/if}}}}`, or make the variable required"
                )),
            );
        }
    }
}
