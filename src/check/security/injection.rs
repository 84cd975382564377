//! Injection: which interpolations print user-sourced values (a taint walk over the template), and
//! which sit inside a delimiter.

use super::*;

/// Whether a variable, or any part of it (a field, an array's items), is user input.
pub(super) fn holds_user_input(variable: &Variable) -> bool {
    variable.user_source || type_holds_user_input(&variable.ty)
}

pub(super) fn type_holds_user_input(ty: &Type) -> bool {
    match ty {
        Type::Array(item) => holds_user_input(item),
        Type::Object(fields) => fields.iter().any(holds_user_input),
        _ => false,
    }
}

/// What a path evaluates to, as far as taint goes.
#[derive(Clone, Copy)]
pub(super) enum Value<'v> {
    Root,
    Typed { ty: &'v Type, tainted: bool },
    Unknown { tainted: bool },
}

impl Value<'_> {
    pub(super) fn tainted(self) -> bool {
        match self {
            Value::Root => false,
            Value::Typed { tainted, .. } | Value::Unknown { tainted } => tainted,
        }
    }

    /// Tainted, or a container with user input somewhere inside.
    pub(super) fn deeply_tainted(self) -> bool {
        match self {
            Value::Typed { ty, tainted } => tainted || type_holds_user_input(ty),
            _ => self.tainted(),
        }
    }
}

/// What the taint walk keeps per scope frame.
pub(super) struct Context<'v> {
    pub(super) context: Value<'v>,
    /// `@key` inside `#each` over a user-sourced object is user input too, and so is the second
    /// block parameter.
    pub(super) keys_tainted: bool,
}

impl Context<'_> {
    pub(super) fn root() -> Self {
        Context { context: Value::Root, keys_tainted: false }
    }
}

/// An interpolation of a user-sourced value (body offsets).
pub(super) struct Print {
    pub(super) span: Range<usize>,
    /// The expression as written, `customer.note`.
    pub(super) shown: String,
}

/// A scope-aware walk that follows user input through `#each`, `#with` and block parameters.
/// Paths the variables rules reject resolve to nothing here: they are reported there.
pub(super) struct Taint<'v, 't> {
    pub(super) variables: &'v [Variable],
    pub(super) scopes: Scopes<'t, Context<'v>>,
    pub(super) prints: Vec<Print>,
}

impl<'v, 't> Taint<'v, 't> {
    pub(super) fn program(&mut self, program: &'t Program) {
        for node in &program.body {
            match node {
                Node::Text(_) | Node::Comment(_) => {}
                Node::Mustache(mustache) => self.mustache(&mustache.call, &mustache.span),
                Node::Block(block) => self.block(block),
            }
        }
    }

    pub(super) fn mustache(&mut self, call: &Call, span: &Range<usize>) {
        let tainted = match (call.helper(), call.params.first()) {
            (_, None) => self.resolve(&call.head).is_some_and(Value::tainted),
            (Some(Helper::Lookup), Some(Expression::Path(container))) => {
                self.resolve(container).is_some_and(Value::deeply_tainted)
            }
            _ => false,
        };
        if tainted {
            let shown = match (call.helper(), call.params.as_slice()) {
                (Some(Helper::Lookup), [Expression::Path(container), ..]) => {
                    container.original.clone()
                }
                _ => call.head.original.clone(),
            };
            self.prints.push(Print { span: span.clone(), shown });
        }
    }

    pub(super) fn block(&mut self, block: &'t Block) {
        let helper = block.call.helper().filter(|helper| helper.is_context());
        let argument = match block.call.params.first() {
            Some(Expression::Path(path)) => self.resolve(path),
            _ => None,
        };
        match helper {
            Some(helper) => {
                let is_each = helper == Helper::Each;
                let (context, keys_tainted) = match argument {
                    Some(argument) if is_each => iterate(argument, self.variables),
                    Some(argument) => (argument, false),
                    // Unknown context: whatever it holds is unknown, and so is its taint.
                    None => (Value::Unknown { tainted: false }, false),
                };
                let level = self.scopes.changes_context(helper, block.call.params.first());
                self.scopes.push(Frame {
                    payload: Context { context, keys_tainted },
                    params: &block.program.block_params,
                    level,
                    data: is_each,
                });
                self.program(&block.program);
                self.scopes.pop();
            }
            None => self.program(&block.program),
        }
        if let Some(inverse) = &block.inverse {
            self.program(inverse);
        }
    }

    pub(super) fn resolve(&self, path: &Path) -> Option<Value<'v>> {
        let frame = |index: usize| &self.scopes.frame(index).payload;
        let (mut current, segments) = match self.scopes.resolve(path) {
            // The first parameter names the context; the second `@index` or `@key`.
            Resolution::BlockParam { frame: index, position: 0, rest } => {
                (frame(index).context, rest)
            }
            Resolution::BlockParam { frame: index, rest, .. } => {
                (Value::Unknown { tainted: frame(index).keys_tainted }, rest)
            }
            Resolution::Context { frame: index, rest } => (frame(index).context, rest),
            Resolution::Root { rest } => (Value::Root, rest),
            Resolution::Data { name, frame: index, rest } if name.name == "key" => {
                (Value::Unknown { tainted: frame(index?).keys_tainted }, rest)
            }
            Resolution::Data { rest, .. } => (Value::Unknown { tainted: false }, rest),
            Resolution::AboveRoot { .. } | Resolution::Nothing => return None,
        };
        for segment in segments {
            current = match current {
                Value::Root => {
                    let variable = self.variables.iter().find(|v| v.name == segment.name)?;
                    Value::Typed { ty: &variable.ty, tainted: variable.user_source }
                }
                Value::Typed { ty: Type::Object(fields), tainted } => {
                    let field = fields.iter().find(|f| f.name == segment.name)?;
                    Value::Typed { ty: &field.ty, tainted: tainted || field.user_source }
                }
                Value::Typed { ty: Type::Array(item), tainted } => {
                    if segment.name == "length" && !segment.literal {
                        Value::Unknown { tainted: false }
                    } else {
                        Value::Typed { ty: &item.ty, tainted: tainted || item.user_source }
                    }
                }
                Value::Typed { .. } => return None,
                Value::Unknown { tainted } => Value::Unknown { tainted },
            };
        }
        Some(current)
    }
}

/// The element of `#each` over `value`, and whether its keys are user input.
pub(super) fn iterate<'v>(value: Value<'v>, variables: &'v [Variable]) -> (Value<'v>, bool) {
    match value {
        Value::Typed { ty: Type::Array(item), tainted } => {
            (Value::Typed { ty: &item.ty, tainted: tainted || item.user_source }, false)
        }
        Value::Typed { ty: Type::Object(fields), tainted } => {
            (Value::Unknown { tainted: tainted || fields.iter().any(holds_user_input) }, tainted)
        }
        Value::Root => (Value::Unknown { tainted: variables.iter().any(holds_user_input) }, false),
        Value::Typed { tainted, .. } | Value::Unknown { tainted } => {
            (Value::Unknown { tainted }, tainted)
        }
    }
}

/// The spans of Handlebars comments, where tags are not delimiters.
pub(super) fn comment_spans(program: &Program, spans: &mut Vec<Range<usize>>) {
    for node in &program.body {
        match node {
            Node::Comment(comment) => spans.push(comment.span.clone()),
            Node::Block(block) => {
                comment_spans(&block.program, spans);
                if let Some(inverse) = &block.inverse {
                    comment_spans(inverse, spans);
                }
            }
            Node::Text(_) | Node::Mustache(_) => {}
        }
    }
}

/// A tag name for the help: the last segment of the expression, or `input`.
pub(super) fn tag_name_for(shown: &str) -> String {
    let last = shown.rsplit(['.', '/']).next().unwrap_or_default();
    if last.is_empty() || last == "this" || !last.starts_with(|c: char| c.is_ascii_alphabetic()) {
        "input".into()
    } else {
        last.into()
    }
}

/// The body ranges between an XML-like tag pair (`<rules>` … `</rules>`) or inside a fenced block
/// (``` or ~~~ at the start of a line, up to the closing fence).
pub(super) fn delimited_regions(body: &str, comments: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut regions = Vec::new();
    let in_comment = |offset: usize| comments.iter().any(|c| c.start <= offset && offset < c.end);
    let bytes = body.as_bytes();
    let mut open: Vec<(&str, usize)> = Vec::new();
    for at in memchr::memchr_iter(b'<', bytes) {
        if in_comment(at) {
            continue;
        }
        let rest = &body[at + 1..];
        let (closing, rest) = match rest.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let name_length = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
            .unwrap_or(rest.len());
        let name = &rest[..name_length];
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let after = &rest[name_length..];
        let tag_end = if after.starts_with('>') {
            Some(0)
        } else if !closing && after.starts_with(char::is_whitespace) {
            after
                .find(['<', '>'])
                .filter(|&i| after.as_bytes()[i] == b'>' && !after[..i].ends_with('/'))
        } else if closing {
            after.find(|c: char| !c.is_whitespace()).filter(|&i| after.as_bytes()[i] == b'>')
        } else {
            None
        };
        let Some(tag_end) = tag_end else { continue };
        let end = body.len() - after.len() + tag_end + 1;
        if closing {
            if let Some(index) = open.iter().rposition(|(open_name, _)| *open_name == name) {
                regions.push(open[index].1..at);
                open.truncate(index);
            }
        } else {
            open.push((name, end));
        }
    }
    static BACKTICKS: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new("```"));
    static TILDES: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new("~~~"));
    if BACKTICKS.find(bytes).is_some() || TILDES.find(bytes).is_some() {
        let mut fence: Option<(u8, usize, usize)> = None;
        let mut line_start = 0;
        for line in body.split_inclusive('\n') {
            let indent = line.len() - line.trim_start_matches(' ').len();
            let trimmed = &line[indent..];
            let marker = trimmed.bytes().next().filter(|b| *b == b'`' || *b == b'~');
            if let (true, Some(marker)) = (indent <= 3, marker) {
                let run = trimmed.bytes().take_while(|b| *b == marker).count();
                if run >= 3 {
                    match fence {
                        None if marker == b'~' || !trimmed[run..].contains('`') => {
                            fence = Some((marker, run, line_start + line.len()));
                        }
                        Some((open_marker, open_run, content_start))
                            if marker == open_marker
                                && run >= open_run
                                && trimmed[run..].trim().is_empty() =>
                        {
                            regions.push(content_start..line_start);
                            fence = None;
                        }
                        _ => {}
                    }
                }
            }
            line_start += line.len();
        }
    }
    regions
}
