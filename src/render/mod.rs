//! Renders a parsed template with JSON values, with the semantics of handlebars.js in strict mode
//! with `noEscape`: nothing is HTML-escaped, and printing a missing value is an error. Pure.
//! Used by `check` for tests and seeds, and by the generated registry and the runtime client.

use crate::syntax::template::scope::{Frame, Resolution, Scopes};
use crate::syntax::template::{
    Block, Call, Expression, Helper, Literal, Node, Path, Program, Template,
};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt::Write;

mod js;

use js::*;
pub use js::{is_truthy, js_number, js_string};

/// Why a render failed. The span is a byte range of the template body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RenderError {
    pub message: String,
    pub span: std::ops::Range<usize>,
}

/// A template together with its source text, ready to render many times.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub source: String,
    pub template: Template,
}

impl Compiled {
    pub fn new(
        source: impl Into<String>,
    ) -> Result<Compiled, crate::syntax::template::SyntaxError> {
        let source = source.into();
        let template = crate::syntax::template::parse(&source)?;
        Ok(Compiled { source, template })
    }

    pub fn render(&self, vars: &Value) -> Result<String, RenderError> {
        render(&self.template, &self.source, vars)
    }
}

/// Renders `template` (parsed from `source`) with `vars` as the root context.
pub fn render(template: &Template, source: &str, vars: &Value) -> Result<String, RenderError> {
    let mut renderer = Renderer {
        source,
        output: String::with_capacity(source.len() + source.len() / 2),
        scopes: Scopes::new(Context { value: Cow::Borrowed(vars), data: None, params: Vec::new() }),
        root: vars,
        steps: 0,
    };
    renderer.program(&template.program)?;
    Ok(renderer.output)
}

/// The most statements one render may execute (each text, mustache and block, once per
/// iteration): nested `#each` blocks multiply, and twenty of them over two items make two
/// million. A list of 20,000 items of 40 statements each still fits; a runaway template stops
/// within a tenth of a second (optimised build). Fuzzing builds (`--cfg fuzzing`, instrumented
/// for coverage and AddressSanitizer, about a hundred times slower per statement) stop at a
/// twentieth of it, so that the fuzzer's one-second limit checks the same bound (docs/fuzzing.md).
pub const MAX_STEPS: u64 = if cfg!(fuzzing) { 50_000 } else { 1_000_000 };
/// The most bytes one render may produce.
pub const MAX_OUTPUT_BYTES: usize = 64 << 20;

/// The `@`-variables of one `#each` iteration.
struct Data {
    index: usize,
    key: Value,
    first: bool,
    last: bool,
}

/// What the renderer keeps per scope frame.
struct Context<'a> {
    /// The frame's `this` (handlebars.js `depth0`).
    value: Cow<'a, Value>,
    /// The `@`-variables of an `#each` iteration.
    data: Option<Data>,
    /// The values of the frame's block parameters, by position.
    params: Vec<Cow<'a, Value>>,
}

struct Renderer<'a> {
    source: &'a str,
    output: String,
    /// The context of each program being rendered, innermost last. Every block's program pushes
    /// one; a helper called while `this` is null runs its programs with an empty object instead
    /// (handlebars.js `container.nullContext`), which adds no `../` level. `#each` and `#with`
    /// frames are `../` levels (handlebars.js `depths`) only when their context differs
    /// (JavaScript `!=`) from the innermost level's, so `{{#with this}}` adds none.
    scopes: Scopes<'a, Context<'a>>,
    root: &'a Value,
    /// Statements executed so far (at most `MAX_STEPS`).
    steps: u64,
}

impl<'a> Renderer<'a> {
    fn program(&mut self, program: &'a Program) -> Result<(), RenderError> {
        for node in &program.body {
            self.steps += 1;
            if self.steps > MAX_STEPS || self.output.len() > MAX_OUTPUT_BYTES {
                let span = match node {
                    Node::Text(text) => text.original.clone(),
                    Node::Comment(comment) => comment.span.clone(),
                    Node::Mustache(mustache) => mustache.span.clone(),
                    Node::Block(block) => block.span.clone(),
                };
                let what = if self.steps > MAX_STEPS {
                    format!("{MAX_STEPS} steps")
                } else {
                    format!("{MAX_OUTPUT_BYTES} bytes of output")
                };
                return Err(RenderError {
                    message: format!(
                        "the render stopped after {what}: nested `#each` blocks multiply their iterations; iterate less deeply, or over smaller data"
                    ),
                    span,
                });
            }
            match node {
                Node::Text(text) => self.output.push_str(&self.source[text.value.clone()]),
                Node::Comment(_) => {}
                Node::Mustache(mustache) => self.mustache(&mustache.call)?,
                Node::Block(block) => self.block(block)?,
            }
        }
        Ok(())
    }

    fn mustache(&mut self, call: &Call) -> Result<(), RenderError> {
        if call.helper() == Some(Helper::Lookup) && !call.params.is_empty() {
            let value = self.lookup_helper(call)?;
            write_js_string(&mut self.output, value.as_deref());
            return Ok(());
        }
        if !call.params.is_empty() {
            return Err(RenderError {
                message: format!("unknown helper `{}`", call.head.original),
                span: call.head.span.clone(),
            });
        }
        let value = self.resolve(&call.head, true)?;
        write_js_string(&mut self.output, value.as_deref());
        Ok(())
    }

    fn lookup_helper(&self, call: &Call) -> Result<Option<Cow<'a, Value>>, RenderError> {
        let [object, field] = call.params.as_slice() else {
            return Err(RenderError {
                message: "`lookup` takes two arguments".into(),
                span: call.head.span.clone(),
            });
        };
        let object = self.evaluate(object)?;
        let field = self.evaluate(field)?;
        // handlebars.js: `if (!obj) return obj;` then a property lookup, which indexes strings.
        match object {
            Some(object) if js_truthy(&object) => {
                Ok(child(object, &property_key(field.as_deref())))
            }
            falsy => Ok(falsy),
        }
    }

    fn block(&mut self, block: &'a Block) -> Result<(), RenderError> {
        let name = block.call.head.simple_name().unwrap_or("");
        let argument = match block.call.params.as_slice() {
            [argument] => self.evaluate(argument)?,
            _ => {
                return Err(RenderError {
                    message: format!("`#{name}` takes exactly one argument"),
                    span: block.span.clone(),
                })
            }
        };
        match block.call.helper() {
            Some(helper @ (Helper::If | Helper::Unless)) => {
                let truthy = is_truthy(argument.as_deref());
                let take_program = if helper == Helper::If { truthy } else { !truthy };
                if take_program {
                    self.helper_program(&block.program)
                } else {
                    self.inverse(block)
                }
            }
            Some(Helper::With) => match argument {
                Some(value) if !is_empty(Some(&value)) => {
                    let params = &block.program.block_params;
                    // Block parameters are built only when the block names some.
                    let values = if params.is_empty() { Vec::new() } else { vec![value.clone()] };
                    self.with_context(value, &block.program, None, params, values)
                }
                _ => self.inverse(block),
            },
            Some(Helper::Each) => self.each(block, argument),
            Some(Helper::Lookup) | None => Err(RenderError {
                message: format!("unknown helper `#{name}`"),
                span: block.call.head.span.clone(),
            }),
        }
    }

    fn inverse(&mut self, block: &'a Block) -> Result<(), RenderError> {
        match &block.inverse {
            Some(inverse) => self.helper_program(inverse),
            None => Ok(()),
        }
    }

    /// Runs a program of a helper with the helper's `this`: the current context, or an empty
    /// object when that is null (handlebars.js calls helpers on `container.nullContext`). Neither
    /// adds a `../` level.
    fn helper_program(&mut self, program: &'a Program) -> Result<(), RenderError> {
        if !self.scopes.innermost().payload.value.is_null() {
            return self.program(program);
        }
        let payload =
            Context { value: Cow::Borrowed(null_context()), data: None, params: Vec::new() };
        self.scopes.push(Frame { payload, params: &[], level: false, data: false });
        let result = self.program(program);
        self.scopes.pop();
        result
    }

    fn each(
        &mut self,
        block: &'a Block,
        argument: Option<Cow<'a, Value>>,
    ) -> Result<(), RenderError> {
        let Some(argument) = argument else { return self.inverse(block) };
        let names = &block.program.block_params;
        let entries: Vec<(Value, Cow<'a, Value>)> = match argument {
            Cow::Borrowed(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (Value::from(i), Cow::Borrowed(item)))
                .collect(),
            Cow::Borrowed(Value::Object(fields)) => js_key_order(
                fields.iter().map(|(key, item)| (key.clone(), Cow::Borrowed(item))).collect(),
            ),
            Cow::Owned(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| (Value::from(i), Cow::Owned(item)))
                .collect(),
            Cow::Owned(Value::Object(fields)) => js_key_order(
                fields.into_iter().map(|(key, item)| (key, Cow::Owned(item))).collect(),
            ),
            _ => Vec::new(),
        };
        if entries.is_empty() {
            return self.inverse(block);
        }
        let count = entries.len();
        for (index, (key, item)) in entries.into_iter().enumerate() {
            let data =
                Data { index, key: key.clone(), first: index == 0, last: index + 1 == count };
            // Block parameters (built only when the block names some): the item and its key.
            let values =
                if names.is_empty() { Vec::new() } else { vec![item.clone(), Cow::Owned(key)] };
            self.with_context(item, &block.program, Some(data), names, values)?;
        }
        Ok(())
    }

    fn with_context(
        &mut self,
        context: Cow<'a, Value>,
        program: &'a Program,
        data: Option<Data>,
        names: &'a [String],
        values: Vec<Cow<'a, Value>>,
    ) -> Result<(), RenderError> {
        // handlebars.js `wrapProgram`: a new `../` level only when `context != depths[0]`, and
        // never for the null context standing in for a null one.
        let innermost = &self.scopes.innermost_level().payload.value;
        let level = !(loose_equal(&context, innermost)
            || (std::ptr::eq(&*context, null_context()) && innermost.is_null()));
        // A block binds as many of its parameters as it has values for.
        let params = &names[..names.len().min(values.len())];
        let is_each = data.is_some();
        let payload = Context { value: context, data, params: values };
        self.scopes.push(Frame { payload, params, level, data: is_each });
        let result = self.program(program);
        self.scopes.pop();
        result
    }

    fn evaluate(&self, expression: &Expression) -> Result<Option<Cow<'a, Value>>, RenderError> {
        match expression {
            Expression::Path(path) => self.resolve(path, false),
            Expression::Literal(literal, _) => Ok(match literal {
                Literal::String(text) => Some(Cow::Owned(Value::from(text.as_str()))),
                Literal::Number(number) => Some(Cow::Owned(number_value(*number))),
                Literal::Boolean(flag) => Some(Cow::Owned(Value::from(*flag))),
                Literal::Null => Some(Cow::Owned(Value::Null)),
                Literal::Undefined => None,
            }),
        }
    }

    /// Looks a path up. `strict` (printing) makes a missing terminal value an error; in helper
    /// arguments only a missing intermediate value is (as handlebars.js's strict mode does).
    fn resolve(&self, path: &Path, strict: bool) -> Result<Option<Cow<'a, Value>>, RenderError> {
        let mut strict = strict;
        let (mut current, segments): (Cow<'a, Value>, _) = match self.scopes.resolve(path) {
            Resolution::BlockParam { frame, position, rest } => {
                // handlebars.js looks a block parameter up before anything else (even `@name`),
                // and reads the rest of the path without strict checks: a missing last segment
                // is undefined, and a string's characters can be read.
                strict = false;
                (share(&self.scopes.frame(frame).payload.params[position]), rest)
            }
            Resolution::Nothing => return Ok(None),
            Resolution::Root { rest } => (Cow::Borrowed(self.root), rest),
            Resolution::Data { name, frame, rest } => {
                let data = frame.and_then(|frame| self.scopes.frame(frame).payload.data.as_ref());
                let value = data.and_then(|data| match name.name.as_str() {
                    "index" => Some(Value::from(data.index)),
                    "key" => Some(data.key.clone()),
                    "first" => Some(Value::from(data.first)),
                    "last" => Some(Value::from(data.last)),
                    _ => None,
                });
                match value {
                    Some(value) => (Cow::Owned(value), rest),
                    // As in handlebars.js: printing a data variable that no `#each` defines here
                    // fails in strict mode; as a helper argument it is undefined.
                    None if strict || !rest.is_empty() => {
                        return Err(RenderError {
                            message: format!(
                                "`{}` is not defined here (strict mode: it must be inside `#each`)",
                                path.original
                            ),
                            span: path.span.clone(),
                        })
                    }
                    None => return Ok(None),
                }
            }
            Resolution::Context { frame, rest } => {
                (share(&self.scopes.frame(frame).payload.value), rest)
            }
            // `{{..}}` above the root is undefined; reading from it fails.
            Resolution::AboveRoot { rest: [], .. } => return Ok(None),
            Resolution::AboveRoot { .. } => {
                return Err(RenderError {
                    message: format!(
                        "`{}` goes above the root context (`../` counts only the `#each` and `#with` blocks that change the context)",
                        path.original
                    ),
                    span: path.span.clone(),
                })
            }
        };
        for (position, segment) in segments.iter().enumerate() {
            let terminal = position + 1 == segments.len();
            let was_null = current.is_null();
            if terminal && strict && current.is_string() {
                // handlebars.js checks `name in value`, which throws for a string (even for
                // `length`, which a helper argument may read).
                return Err(RenderError {
                    message: format!(
                        "`{}` reads `{}` of a string (strict mode: only objects and arrays have fields)",
                        path.original, segment.name
                    ),
                    span: segment.span.clone(),
                });
            }
            let next = child(current, &segment.name);
            match next {
                Some(value) => current = value,
                None if terminal && !strict && !was_null => return Ok(None),
                None => {
                    let shown: String = path.original.clone();
                    return Err(RenderError {
                        message: format!(
                            "`{}` is missing (strict mode: `{shown}` must be present)",
                            segment.name
                        ),
                        span: segment.span.clone(),
                    });
                }
            }
        }
        Ok(Some(current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn check(template: &str, vars: Value, expect: &str) {
        let compiled = Compiled::new(template).unwrap_or_else(|e| panic!("parse error: {e:?}"));
        let rendered = compiled.render(&vars).unwrap_or_else(|e| panic!("render error: {e:?}"));
        assert_eq!(rendered, expect, "template: {template:?}");
    }

    #[track_caller]
    fn check_error(template: &str, vars: Value, expect: &str) {
        let compiled = Compiled::new(template).unwrap();
        let error = compiled.render(&vars).unwrap_err();
        assert!(error.message.contains(expect), "{error:?}");
    }

    #[test]
    fn prints_values_as_javascript_does() {
        check(
            "{{a}}|{{b}}|{{c}}|{{d}}|{{e}}",
            json!({"a": "x<y>&", "b": 3, "c": 0.5, "d": true, "e": null}),
            "x<y>&|3|0.5|true|",
        );
        check("{{{a}}}", json!({"a": "<b>"}), "<b>");
        assert_eq!(js_number(1e21), "1e+21");
        assert_eq!(js_number(1.5), "1.5");
        assert_eq!(js_number(1e-7), "1e-7");
        assert_eq!(js_number(0.000001), "0.000001");
        assert_eq!(js_number(-2.5e-7), "-2.5e-7");
        assert_eq!(js_number(1.5e300), "1.5e+300");
        assert_eq!(js_number(123456789012345680000.0), "123456789012345680000");
        assert_eq!(js_number(0.1 + 0.2), "0.30000000000000004");
        // A tie between two shortest candidates: JavaScript takes the even digit.
        assert_eq!(js_number(1690060720831323.0 + 0.25), "1690060720831323.2");
    }

    #[test]
    fn blocks_follow_handlebars_truthiness() {
        check("{{#if a}}y{{else}}n{{/if}}", json!({"a": 0}), "n");
        check("{{#if a}}y{{else}}n{{/if}}", json!({"a": []}), "n");
        check("{{#if a}}y{{else}}n{{/if}}", json!({"a": {}}), "y");
        check("{{#if a}}y{{else}}n{{/if}}", json!({}), "n");
        check("{{#unless a}}y{{/unless}}", json!({"a": ""}), "y");
        check("{{#if a}}A{{else if b}}B{{else}}C{{/if}}", json!({"a": false, "b": true}), "B");
        check("{{#if a}}A{{else if b}}B{{else}}C{{/if}}", json!({"a": false, "b": false}), "C");
        check("{{#with p}}{{name}}{{/with}}", json!({"p": {"name": "Ann"}}), "Ann");
        check("{{#with p}}{{name}}{{else}}none{{/with}}", json!({}), "none");
    }

    #[test]
    fn each_exposes_data_and_parent_scopes() {
        check(
            "{{#each items}}{{@index}}:{{this}}{{#if @first}}(first){{/if}}{{#if @last}}(last){{/if}}[{{../title}}] {{/each}}",
            json!({"items": ["a", "b"], "title": "T"}),
            "0:a(first)[T] 1:b(last)[T] ",
        );
        check("{{#each m}}{{@key}}={{this}};{{/each}}", json!({"m": {"x": 1, "y": 2}}), "x=1;y=2;");
        check("{{#each items}}x{{else}}empty{{/each}}", json!({"items": []}), "empty");
        check(
            "{{#each items as |item i|}}{{i}}={{item.n}} {{/each}}",
            json!({"items": [{"n": 1}, {"n": 2}]}),
            "0=1 1=2 ",
        );
        check(
            "{{#each outer}}{{#each inner}}{{@../index}}.{{@index}} {{/each}}{{/each}}",
            json!({"outer": [{"inner": [1, 2]}, {"inner": [3]}]}),
            "0.0 0.1 1.0 ",
        );
        check(
            "{{lookup items 1}}|{{items.[0]}}|{{items.length}}",
            json!({"items": ["a", "b"]}),
            "b|a|2",
        );
        check(
            "{{@root.t}}{{#each items}}{{@root.t}}{{/each}}",
            json!({"t": "R", "items": [1]}),
            "RR",
        );
    }

    #[test]
    fn strict_mode_refuses_missing_values() {
        check_error("{{missing}}", json!({}), "`missing` is missing");
        check_error("{{p.name}}", json!({"p": {}}), "`name` is missing");
        check_error("{{#if a.b}}x{{/if}}", json!({}), "`a` is missing");
        check("{{#if a}}{{a}}{{/if}}", json!({}), "");
    }

    /// The scope rules the differential test found (docs/portability.md), each as handlebars.js
    /// 4.7 renders it.
    #[test]
    fn contexts_follow_handlebars_js() {
        check(
            r#"{{lookup a "p"}}|{{lookup z 1}}|{{lookup s 1}}|{{lookup m x}}"#,
            json!({"a": false, "z": 0, "s": "abc", "m": {"undefined": "u"}}),
            "false|0|b|u",
        );
        check(
            "{{#with s.[1]}}{{this}}{{/with}}|{{#with xs.[01]}}x{{else}}none{{/with}}",
            json!({"s": "abc", "xs": [1, 2]}),
            "b|none",
        );
        check(
            "{{#each xs}}{{#if true}}{{this}}{{/if}}{{/each}}",
            json!({"xs": [null]}),
            "[object Object]",
        );
        check("{{#with p as |x|}}[{{x.q}}{{x.s.[0]}}]{{/with}}", json!({"p": {"s": "ab"}}), "[a]");
        check_error("{{#with p as |x|}}{{x.q.r}}{{/with}}", json!({"p": {}}), "`q` is missing");
        check_error("{{#with this}}{{../a}}{{/with}}", json!({"a": 1}), "above the root");
        check(
            "{{#each xs}}{{#with this}}{{../a}}{{/with}}{{/each}}",
            json!({"xs": [1], "a": "A"}),
            "A",
        );
        check(
            "{{#each xs}}{{#with ../s}}{{../t}}{{/with}}{{/each}}",
            json!({"xs": [1], "s": "1", "t": "T"}),
            "T",
        );
        check(
            "{{#each xs}}{{#with ../s}}{{../../t}}{{/with}}{{/each}}",
            json!({"xs": [1], "s": "2", "t": "T"}),
            "T",
        );
        check("{{#each m as |key|}}{{@key}}{{/each}}", json!({"m": {"a": "x"}}), "x");
        assert!(loose_equal(&json!(true), &json!("1")) && loose_equal(&json!([]), &json!(0)));
        assert!(!loose_equal(&json!(null), &json!(0)) && !loose_equal(&json!({}), &json!({})));
        assert!(
            loose_equal(&json!(16), &json!(" 0x10 ")) && loose_equal(&json!(1000), &json!("1e3"))
        );
        assert!(!loose_equal(&json!(0), &json!("0x")) && !loose_equal(&json!(1), &json!("1_0")));
        assert!(
            loose_equal(&json!({}), &json!("[object Object]"))
                && !loose_equal(&json!({}), &json!(0))
        );
        assert!(
            loose_equal(&json!(["a", null]), &json!("a,"))
                && loose_equal(&json!([1]), &json!(true))
        );
    }

    #[test]
    fn whitespace_control_and_standalone_lines() {
        check("a\n{{#if x}}\nb\n{{/if}}\nc\n", json!({"x": true}), "a\nb\nc\n");
        check(
            "a\n  {{#each xs}}\n  - {{this}}\n  {{/each}}\nc",
            json!({"xs": [1, 2]}),
            "a\n  - 1\n  - 2\nc",
        );
        check("a  {{~x~}}  b", json!({"x": "X"}), "aXb");
        check("{{#if x}}\n  yes\n{{else}}\n  no\n{{/if}}\n", json!({"x": false}), "  no\n");
        check(
            "{{#if a}}\nA\n{{else if b}}\nB\n{{else}}\nC\n{{/if}}\n",
            json!({"a": false, "b": true}),
            "B\n",
        );
        check("x {{! note }} y\n  {{!-- long }} --}}\nz", json!({}), "x  y\nz");
        check("\\{{name}} {{name}}", json!({"name": "N"}), "{{name}} N");
        check("<q>\n{{q}}\n</q>", json!({"q": "hi"}), "<q>\nhi\n</q>");
        check("{{#if x}} inline {{/if}}\n", json!({"x": true}), " inline \n");
        check("a\r\n{{#if x}}\r\nb\r\n{{/if}}\r\n", json!({"x": true}), "a\r\nb\r\n");
        check("{{!}}\r", json!({}), "");
        check("{{#if q}}\r\r\n{{/if}}", json!({"q": 1}), "\r\n");
        check("{{#if a}}{{else if b}}{{~else if c}}{{else}} {{/if}}", json!({}), "");
        check("a {{~x~}} \u{85}b", json!({"x": "X"}), "aX\u{85}b");
    }
}
