//! The Handlebars front end: lexes and parses the subset promptctl supports into a tree with byte
//! spans, then applies handlebars.js's whitespace rules (`~` and standalone lines) so that the tree
//! renders byte for byte as handlebars.js would. Pure: no I/O, never panics, one error at most.

use std::ops::Range;

/// A parsed template. Text nodes hold ranges into the source, so rendering needs the source too.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub program: Program,
}

/// A sequence of statements: the template itself, a block's body or its `{{else}}` part.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Program {
    pub body: Vec<Node>,
    /// An `{{else if …}}` part: the body holds exactly one chained block.
    pub chained: bool,
    /// Block parameters introduced by `as |a b|` on the block that owns this program.
    pub block_params: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(Text),
    Mustache(Mustache),
    Block(Box<Block>),
    Comment(Comment),
}

/// Literal text. `value` is what renders: a sub-range of `original` once whitespace is stripped.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub original: Range<usize>,
    pub value: Range<usize>,
    left_stripped: bool,
    right_stripped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Strip {
    /// `{{~`: strip whitespace before the tag.
    pub open: bool,
    /// `~}}`: strip whitespace after the tag.
    pub close: bool,
}

/// `{{expression}}`: prints a value, or calls an inline helper (`{{lookup a b}}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Mustache {
    pub span: Range<usize>,
    pub call: Call,
    pub strip: Strip,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub span: Range<usize>,
    pub strip: Strip,
}

/// `{{#helper params}}program{{else}}inverse{{/helper}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The opening tag.
    pub span: Range<usize>,
    pub call: Call,
    pub program: Program,
    pub inverse: Option<Program>,
    pub open_strip: Strip,
    pub inverse_strip: Strip,
    pub close_strip: Strip,
    /// The closing tag (for a chained `else if` block, the closing tag of the whole chain).
    pub close_span: Range<usize>,
}

/// A helper name or a path followed by parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub head: Path,
    pub params: Vec<Expression>,
}

impl Call {
    /// The built-in helper the call's head names, if it is a bare identifier naming one.
    pub fn helper(&self) -> Option<Helper> {
        self.head.simple_name().and_then(Helper::named)
    }
}

/// The helpers promptctl supports: the block helpers `#if`, `#unless`, `#each`, `#with` and the
/// inline `lookup`. Any other name is an unknown helper (`check` reports it, `render` refuses it);
/// the rules and the renderer match on this enum, never on the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Helper {
    If,
    Unless,
    Each,
    With,
    Lookup,
}

impl Helper {
    /// The block helpers' names, for messages.
    pub const BLOCK_NAMES: &'static [&'static str] = &["if", "unless", "each", "with"];
    /// The inline helpers' names, for messages.
    pub const INLINE_NAMES: &'static [&'static str] = &["lookup"];

    /// The helper called `name`.
    pub fn named(name: &str) -> Option<Helper> {
        Some(match name {
            "if" => Helper::If,
            "unless" => Helper::Unless,
            "each" => Helper::Each,
            "with" => Helper::With,
            "lookup" => Helper::Lookup,
            _ => return None,
        })
    }

    /// Its name as templates write it.
    pub fn name(self) -> &'static str {
        match self {
            Helper::If => "if",
            Helper::Unless => "unless",
            Helper::Each => "each",
            Helper::With => "with",
            Helper::Lookup => "lookup",
        }
    }

    /// `#if`, `#unless`, `#each` and `#with`; `lookup` is inline.
    pub fn is_block(self) -> bool {
        self != Helper::Lookup
    }

    /// `#each` and `#with`, which change the context.
    pub fn is_context(self) -> bool {
        matches!(self, Helper::Each | Helper::With)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    Path(Path),
    Literal(Literal, Range<usize>),
}

impl Expression {
    pub fn span(&self) -> Range<usize> {
        match self {
            Expression::Path(path) => path.span.clone(),
            Expression::Literal(_, span) => span.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Number(f64),
    Boolean(bool),
    Null,
    Undefined,
}

/// A path such as `../player.name`, `this`, `@index` or `items.[0]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub span: Range<usize>,
    /// Starts with `@`: a data variable (`@index`, `@root.name`).
    pub data: bool,
    /// The number of leading `../`.
    pub depth: u32,
    /// Starts with `this` or `./`: never a helper and never a block parameter.
    pub scoped: bool,
    pub segments: Vec<Segment>,
    /// The path as written.
    pub original: String,
}

impl Path {
    /// A bare identifier such as `if` or `name`, which may name a helper.
    pub fn simple_name(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [only] if !self.data && self.depth == 0 && !self.scoped && !only.literal => {
                Some(&only.name)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub name: String,
    pub span: Range<usize>,
    /// Written as `[name]`.
    pub literal: bool,
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub span: Range<usize>,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    pub kind: ErrorKind,
}

/// What kind of problem a `SyntaxError` is; each has its own diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not valid Handlebars.
    Invalid,
    /// Valid Handlebars, but outside the portable subset.
    Unsupported,
    /// Blocks nest deeper than `MAX_NESTING`.
    TooDeep,
}

/// How deep blocks may nest, counting each `{{else if …}}` link of a chain as one more level
/// (it is a block inside the `else` part of the one before). Every walk over a template recurses
/// once per level, so this bounds their stacks; handlebars.js renders any template within it.
pub const MAX_NESTING: usize = 64;

/// The most `max_template_bytes` (promptctl.toml) may be raised to: bundle verification and the
/// runtime refuse a template over it whatever the project says, so that no entry can make a
/// service hold megabytes per prompt.
pub const MAX_TEMPLATE_BYTES_CAP: u64 = 4 << 20;

/// Parses a template body.
pub fn parse(source: &str) -> Result<Template, SyntaxError> {
    let tokens = lex(source)?;
    let mut parser = Parser { tokens, position: 0, depth: 0 };
    let mut program = parser.program()?;
    if let Some(token) = parser.tokens.get(parser.position) {
        return Err(match &token.kind {
            TokenKind::Close { name, .. } => error(
                token.span.clone(),
                format!("`{{{{/{name}}}}}` closes a block that was never opened"),
                "no matching `{{#…}}`",
                Some(format!("remove it, or open the block with `{{{{#{name} …}}}}`")),
            ),
            _ => error(
                token.span.clone(),
                "`{{else}}` outside of a block".to_string(),
                "not inside `{{#if}}`, `{{#unless}}`, `{{#each}}` or `{{#with}}`",
                None,
            ),
        });
    }
    let mut whitespace = Whitespace { source, root_seen: false };
    whitespace.program(&mut program);
    Ok(Template { program })
}

fn error(span: Range<usize>, message: String, label: &str, help: Option<String>) -> SyntaxError {
    SyntaxError { span, message, label: label.to_string(), help, kind: ErrorKind::Invalid }
}

fn too_deep(span: Range<usize>, chained: bool) -> SyntaxError {
    let what = if chained { "this `{{else if …}}` link" } else { "this block" };
    SyntaxError {
        span,
        message: format!("blocks nest more than {MAX_NESTING} deep"),
        label: format!("{what} is level {}", MAX_NESTING + 1),
        help: Some(format!(
            "flatten the template: move inner parts into separate prompts or compute values in the \
             application; each `{{{{else if}}}}` link counts as one level (the limit is {MAX_NESTING})"
        )),
        kind: ErrorKind::TooDeep,
    }
}

fn unsupported(span: Range<usize>, what: &str, help: &str) -> SyntaxError {
    SyntaxError {
        span,
        message: format!("{what} are not supported"),
        label: "not in the portable subset".to_string(),
        help: Some(help.to_string()),
        kind: ErrorKind::Unsupported,
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer: splits the source into text and tags. Each tag is parsed into its parts right away.

#[derive(Debug)]
struct Token {
    span: Range<usize>,
    kind: TokenKind,
}

#[derive(Debug)]
enum TokenKind {
    Text,
    Mustache {
        call: Call,
        strip: Strip,
    },
    Comment {
        strip: Strip,
    },
    Open {
        call: Call,
        block_params: Vec<String>,
        strip: Strip,
    },
    /// `{{else}}` or `{{^}}`.
    Else {
        strip: Strip,
    },
    /// `{{else if cond}}`.
    ElseChain {
        call: Call,
        block_params: Vec<String>,
        strip: Strip,
    },
    Close {
        name: String,
        strip: Strip,
    },
}

fn lex(source: &str) -> Result<Vec<Token>, SyntaxError> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut cursor = 0;
    let mut text_start = 0;
    while let Some(found) = memchr::memmem::find(&bytes[cursor..], b"{{") {
        let open = cursor + found;
        // `\{{` is a literal `{{`; `\\{{` is a literal backslash followed by a tag.
        let backslashes = bytes[text_start..open].iter().rev().take_while(|&&b| b == b'\\').count();
        if backslashes >= 1 {
            let text_end = open - 1;
            if text_start < text_end {
                tokens.push(Token { span: text_start..text_end, kind: TokenKind::Text });
            }
            if backslashes == 1 {
                // The escaped text runs to the next `{{` (or the end), as in handlebars.js.
                let next = memchr::memmem::find(&bytes[open + 2..], b"{{")
                    .map_or(bytes.len(), |index| open + 2 + index);
                let mut next = next;
                for _ in 0..2 {
                    if next > open + 2 && bytes[next - 1] == b'\\' {
                        next -= 1;
                    }
                }
                tokens.push(Token { span: open..next, kind: TokenKind::Text });
                text_start = next;
                cursor = next.max(open + 2);
                continue;
            }
            text_start = open;
        }
        if text_start < open {
            tokens.push(Token { span: text_start..open, kind: TokenKind::Text });
        }
        let (end, kind) = lex_tag(source, open)?;
        tokens.push(Token { span: open..end, kind });
        cursor = end;
        text_start = end;
    }
    if text_start < bytes.len() {
        tokens.push(Token { span: text_start..bytes.len(), kind: TokenKind::Text });
    }
    Ok(tokens)
}

/// Lexes the tag that starts at `open` (at `{{`), returning its end and kind.
fn lex_tag(source: &str, open: usize) -> Result<(usize, TokenKind), SyntaxError> {
    let bytes = source.as_bytes();
    let rest = &source[open..];
    if rest.starts_with("{{{{") {
        return Err(unsupported(
            open..open + 4,
            "raw blocks `{{{{…}}}}`",
            "write the text literally, escaping `{{` as `\\{{`",
        ));
    }
    // As handlebars.js's lexer: `{{`, an optional `~`, then the sigil (`{`, `!`, `#`, …) with no
    // space in between; the tag ends at the first `}}`, read as `}}}` (or `}~}}`) when a third
    // brace touches it, which only a `{{{` tag may use, and `}}}}` ends no tag at all.
    let mut position = open + 2;
    let mut strip = Strip::default();
    if bytes.get(position) == Some(&b'~') {
        strip.open = true;
        position += 1;
    }
    let triple = bytes.get(position) == Some(&b'{');
    if triple {
        position += 1;
    }
    if !triple && bytes.get(position) == Some(&b'!') {
        return lex_comment(source, open, position + 1, strip);
    }
    let opener = &source[open..position];
    let Some(close_index) = memchr::memmem::find(&bytes[position..], b"}}") else {
        return Err(error(
            open..position,
            format!("`{opener}` is never closed"),
            "unclosed tag",
            Some(format!("add `{}` after the expression", if triple { "}}}" } else { "}}" })),
        ));
    };
    let close_at = position + close_index;
    let tilde = close_at > position && bytes[close_at - 1] == b'~';
    let inner_plain_end = if tilde { close_at - 1 } else { close_at };
    let plain = &source[position..inner_plain_end];
    // `{{else}}` and `{{^}}` are whole tokens: a brace after them is text.
    let inverse = !triple
        && (plain.trim() == "else" || (plain.starts_with('^') && plain[1..].trim().is_empty()));
    let (inner_end, end, unescaped_close) = if tilde {
        let unescaped =
            !inverse && inner_plain_end > position && bytes[inner_plain_end - 1] == b'}';
        (inner_plain_end - usize::from(unescaped), close_at + 2, unescaped)
    } else if inverse {
        (close_at, close_at + 2, false)
    } else if source[close_at..].starts_with("}}}}") {
        return Err(error(
            close_at..close_at + 4,
            "`}}}}` cannot close a tag".into(),
            "four closing braces",
            Some("handlebars.js reads `}}}}` as the end of a raw block; put the extra braces in text after an empty comment, e.g. `{{name}}{{!}}}`".into()),
        ));
    } else if bytes.get(close_at + 2) == Some(&b'}') {
        (close_at, close_at + 3, true)
    } else {
        (close_at, close_at + 2, false)
    };
    if unescaped_close != triple {
        let (closer, help) = if triple {
            ("}}", "close `{{{` with `}}}`".to_string())
        } else {
            (
                "}}}",
                "handlebars.js reads `}}}` as the end of a `{{{…}}}` tag; to print a `}` right after the tag, separate it with an empty comment: `{{name}}{{!}}}`".to_string(),
            )
        };
        return Err(error(
            open..end,
            format!("`{opener}` is closed by `{closer}`"),
            "mismatched braces",
            Some(help),
        ));
    }
    if tilde {
        strip.close = true;
    }
    if bytes.get(position).is_some_and(u8::is_ascii_whitespace) {
        let sigil_at = position + (plain.len() - plain.trim_start().len());
        if let Some(sigil) = source[sigil_at..].chars().next().filter(|c| "#/^&!>*{".contains(*c)) {
            return Err(error(
                position..sigil_at + 1,
                format!("a space between `{opener}` and `{sigil}`"),
                "handlebars.js allows no space here",
                Some(format!("write `{opener}{sigil}` without the space")),
            ));
        }
    }
    let tag_span = open..end;
    let inner = &source[position..inner_end];
    let trimmed_start = position + (inner.len() - inner.trim_start().len());
    let sigil = source[trimmed_start..inner_end].chars().next();
    if triple {
        let call = parse_call(source, trimmed_start, inner_end, &tag_span)?;
        return Ok((end, TokenKind::Mustache { call: call.0, strip }));
    }
    match sigil {
        Some('#') => {
            let after = trimmed_start + 1;
            match bytes.get(after) {
                Some(b'>') => {
                    return Err(unsupported(
                        tag_span,
                        "partial blocks `{{#> …}}`",
                        "inline the partial's text into the prompt",
                    ))
                }
                Some(b'*') => {
                    return Err(unsupported(
                        tag_span,
                        "decorators `{{#* …}}`",
                        "remove the decorator",
                    ))
                }
                _ => {}
            }
            let (call, block_params) = parse_call(source, after, inner_end, &tag_span)?;
            if call.head.simple_name().is_none() {
                return Err(error(
                    call.head.span.clone(),
                    format!("`{}` cannot name a block helper", call.head.original),
                    "not a helper name",
                    Some("use `{{#if …}}`, `{{#unless …}}`, `{{#each …}}` or `{{#with …}}`".into()),
                ));
            }
            Ok((end, TokenKind::Open { call, block_params, strip }))
        }
        Some('/') => {
            let name = source[trimmed_start + 1..inner_end].trim();
            if name.is_empty() {
                return Err(error(
                    tag_span,
                    "`{{/}}` names no block".into(),
                    "missing block name",
                    Some("write `{{/if}}`, `{{/each}}`, …".into()),
                ));
            }
            Ok((end, TokenKind::Close { name: name.to_string(), strip }))
        }
        Some('^') => {
            if source[trimmed_start + 1..inner_end].trim().is_empty() {
                Ok((end, TokenKind::Else { strip }))
            } else {
                Err(unsupported(
                    tag_span,
                    "inverse sections `{{^name}}`",
                    "write `{{#unless name}}…{{/unless}}`",
                ))
            }
        }
        Some('>') => Err(unsupported(
            tag_span,
            "partials `{{> …}}`",
            "inline the partial's text into the prompt",
        )),
        Some('*') => Err(unsupported(tag_span, "decorators `{{* …}}`", "remove the decorator")),
        Some('&') => {
            let (call, _) = parse_call(source, trimmed_start + 1, inner_end, &tag_span)?;
            Ok((end, TokenKind::Mustache { call, strip }))
        }
        None => Err(error(
            tag_span,
            "empty tag `{{}}`".into(),
            "nothing between the braces",
            Some("write a variable name, or `\\{{` for literal braces".into()),
        )),
        _ => {
            let words = &source[trimmed_start..inner_end];
            if words == "else" || words.trim_end() == "else" {
                return Ok((end, TokenKind::Else { strip }));
            }
            if let Some(after) = words.strip_prefix("else") {
                if after.starts_with(char::is_whitespace) {
                    let (call, block_params) =
                        parse_call(source, trimmed_start + 4, inner_end, &tag_span)?;
                    return Ok((end, TokenKind::ElseChain { call, block_params, strip }));
                }
            }
            let (call, block_params) = parse_call(source, trimmed_start, inner_end, &tag_span)?;
            if !block_params.is_empty() {
                return Err(error(
                    tag_span,
                    "block parameters `as |…|` on a tag that is not a block".into(),
                    "not a block",
                    Some("block parameters belong on `{{#each …}}` or `{{#with …}}`".into()),
                ));
            }
            Ok((end, TokenKind::Mustache { call, strip }))
        }
    }
}

fn lex_comment(
    source: &str,
    open: usize,
    body: usize,
    mut strip: Strip,
) -> Result<(usize, TokenKind), SyntaxError> {
    let long = source[body..].starts_with("--");
    let terminator = if long { "--" } else { "" };
    // handlebars.js ends a long comment at the first `--}}` counted from its opening `--`, so
    // `{{!--}}` is a whole comment.
    let search_from = body;
    let mut from = search_from;
    loop {
        let Some(index) = memchr::memmem::find(&source.as_bytes()[from..], b"}}") else {
            let (shown, add) = if long { ("{{!--", "--}}") } else { ("{{!", "}}") };
            return Err(error(
                open..open + shown.len(),
                format!("comment `{shown}` is never closed"),
                "unclosed comment",
                Some(format!("add `{add}`")),
            ));
        };
        let close = from + index;
        let mut before = &source[search_from..close];
        let mut tilde = false;
        if before.ends_with('~') {
            before = &before[..before.len() - 1];
            tilde = true;
        }
        if before.ends_with(terminator) {
            strip.close = tilde;
            return Ok((close + 2, TokenKind::Comment { strip }));
        }
        from = close + 2;
    }
}

/// Parses `head param param… [as |a b|]` between `start` and `end`.
fn parse_call(
    source: &str,
    start: usize,
    end: usize,
    tag: &Range<usize>,
) -> Result<(Call, Vec<String>), SyntaxError> {
    let mut cursor = Cursor { source, position: start, end };
    cursor.skip_whitespace();
    if cursor.at_end() {
        return Err(error(
            tag.clone(),
            "the tag has no expression".into(),
            "expected a name",
            None,
        ));
    }
    let head = match cursor.expression(tag)? {
        Expression::Path(path) => path,
        Expression::Literal(_, span) => {
            return Err(error(
                span,
                "a literal cannot be printed or called".into(),
                "literal here",
                Some("write the text outside the tag".into()),
            ));
        }
    };
    let mut params = Vec::new();
    let mut block_params = Vec::new();
    loop {
        cursor.skip_whitespace();
        if cursor.at_end() {
            break;
        }
        let after_as = cursor.rest().strip_prefix("as").unwrap_or_default();
        if after_as.starts_with(char::is_whitespace) && after_as.trim_start().starts_with('|') {
            cursor.position += 2;
            cursor.skip_whitespace();
            let pipe = cursor.position;
            cursor.position += 1;
            let Some(close) = cursor.rest().find('|') else {
                return Err(error(
                    pipe..pipe + 1,
                    "block parameters `as |…|` are never closed".into(),
                    "unclosed `|`",
                    Some("add the closing `|`".into()),
                ));
            };
            block_params = cursor.rest()[..close].split_whitespace().map(str::to_string).collect();
            cursor.position += close + 1;
            cursor.skip_whitespace();
            if !cursor.at_end() || block_params.is_empty() {
                return Err(error(
                    pipe..cursor.end,
                    "malformed block parameters".into(),
                    "expected `as |name|` at the end of the tag",
                    None,
                ));
            }
            break;
        }
        params.push(cursor.expression(tag)?);
    }
    Ok((Call { head, params }, block_params))
}

struct Cursor<'a> {
    source: &'a str,
    position: usize,
    end: usize,
}

fn is_id_char(c: char) -> bool {
    !(c.is_whitespace()
        || matches!(
            c,
            '!' | '"'
                | '#'
                | '%'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | '+'
                | ','
                | '.'
                | '/'
                | ';'
                | '<'
                | '='
                | '>'
                | '@'
                | '['
                | '\\'
                | ']'
                | '^'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
        ))
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.source[self.position..self.end]
    }

    fn at_end(&self) -> bool {
        self.position >= self.end
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.position += rest.len() - rest.trim_start().len();
    }

    fn expression(&mut self, tag: &Range<usize>) -> Result<Expression, SyntaxError> {
        let start = self.position;
        let rest = self.rest();
        let first = rest.chars().next().unwrap_or(' ');
        if first == '(' {
            return Err(unsupported(
                start..self.end,
                "sub-expressions `(helper …)`",
                "compute the value in the application and pass it as a variable",
            ));
        }
        if first == '"' || first == '\'' {
            let mut value = String::new();
            let mut chars = rest.char_indices().skip(1);
            while let Some((index, c)) = chars.next() {
                if c == '\\' && rest[index + 1..].starts_with(first) {
                    value.push(first);
                    chars.next();
                } else if c == first {
                    self.position += index + 1;
                    self.expect_separator(tag)?;
                    return Ok(Expression::Literal(Literal::String(value), start..self.position));
                } else {
                    value.push(c);
                }
            }
            return Err(error(
                start..self.end,
                "string literal is never closed".into(),
                "unclosed string",
                Some(format!("add the closing `{first}`")),
            ));
        }
        let word_len = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        let word = &rest[..word_len];
        if let Some(equals) = word.find('=') {
            if word[..equals].chars().all(is_id_char) && equals > 0 {
                return Err(unsupported(
                    start..start + word_len,
                    "hash arguments `key=value`",
                    "pass the value as a variable instead",
                ));
            }
        }
        if let Some(number) = parse_number(word) {
            self.position += word_len;
            return Ok(Expression::Literal(Literal::Number(number), start..self.position));
        }
        let literal = match word {
            "true" => Some(Literal::Boolean(true)),
            "false" => Some(Literal::Boolean(false)),
            "null" => Some(Literal::Null),
            "undefined" => Some(Literal::Undefined),
            _ => None,
        };
        if let Some(literal) = literal {
            self.position += word_len;
            return Ok(Expression::Literal(literal, start..self.position));
        }
        self.path(tag).map(Expression::Path)
    }

    fn expect_separator(&self, tag: &Range<usize>) -> Result<(), SyntaxError> {
        match self.rest().chars().next() {
            None => Ok(()),
            Some(c) if c.is_whitespace() => Ok(()),
            Some(_) => Err(error(
                self.position..self.end,
                "unexpected text after an expression".into(),
                "expected a space or the end of the tag",
                Some(format!("check the tag `{}`", &self.source[tag.clone()])),
            )),
        }
    }

    fn path(&mut self, tag: &Range<usize>) -> Result<Path, SyntaxError> {
        let start = self.position;
        let mut path = Path {
            span: start..start,
            data: false,
            depth: 0,
            scoped: false,
            segments: Vec::new(),
            original: String::new(),
        };
        if self.rest().starts_with('@') {
            path.data = true;
            self.position += 1;
        }
        loop {
            let rest = self.rest();
            if rest.starts_with("../") {
                path.depth += 1;
                self.position += 3;
            } else if rest.starts_with("./") && path.depth == 0 && path.segments.is_empty() {
                path.scoped = true;
                self.position += 2;
            } else {
                break;
            }
        }
        let mut expect_segment = true;
        let rest = self.rest();
        if rest.starts_with('.')
            && !rest[1..].starts_with(['.', '/'])
            && path.segments.is_empty()
            && !path.data
        {
            let after = &rest[1..];
            if after.is_empty() || after.starts_with(char::is_whitespace) {
                path.scoped = true;
                self.position += 1;
                expect_segment = false;
            }
        }
        loop {
            let segment_start = self.position;
            let rest = self.rest();
            if expect_segment {
                if rest.starts_with('[') {
                    let Some(close) = rest.find(']') else {
                        return Err(error(
                            segment_start..self.end,
                            "`[` is never closed".into(),
                            "unclosed literal segment",
                            Some("add `]`".into()),
                        ));
                    };
                    path.segments.push(Segment {
                        name: rest[1..close].to_string(),
                        span: segment_start..segment_start + close + 1,
                        literal: true,
                    });
                    self.position += close + 1;
                } else {
                    let length = rest.find(|c: char| !is_id_char(c)).unwrap_or(rest.len());
                    if length == 0 {
                        let shown = rest
                            .chars()
                            .next()
                            .map_or("the end of the tag".to_string(), |c| format!("`{c}`"));
                        return Err(error(
                            segment_start
                                ..(segment_start + rest.chars().next().map_or(0, char::len_utf8))
                                    .max(segment_start),
                            format!("expected a name, found {shown}"),
                            "expected a name",
                            Some(format!("check the tag `{}`", &self.source[tag.clone()])),
                        ));
                    }
                    let name = &rest[..length];
                    if name.bytes().all(|b| b.is_ascii_digit()) && !path.segments.is_empty() {
                        return Err(error(
                            segment_start..segment_start + length,
                            format!("`.{name}` is not a valid path segment in Handlebars"),
                            "numeric segment",
                            Some(format!("write `.[{name}]` to index an array")),
                        ));
                    }
                    if name == "this" && path.segments.is_empty() && !path.data {
                        path.scoped = true;
                    } else if name == "this" {
                        return Err(error(
                            segment_start..segment_start + length,
                            "`this` may only start a path".into(),
                            "`this` in the middle of a path",
                            None,
                        ));
                    } else {
                        path.segments.push(Segment {
                            name: name.to_string(),
                            span: segment_start..segment_start + length,
                            literal: false,
                        });
                    }
                    self.position += length;
                }
                expect_segment = false;
            } else if rest.starts_with('.') || rest.starts_with('/') {
                if rest.starts_with("..") {
                    return Err(error(
                        segment_start..segment_start + 2,
                        "`..` may only start a path".into(),
                        "`..` in the middle of a path",
                        None,
                    ));
                }
                self.position += 1;
                expect_segment = true;
            } else {
                break;
            }
        }
        if path.segments.is_empty() && !path.scoped && path.depth == 0 {
            return Err(error(
                start..self.position.max(start + 1),
                "expected a name".into(),
                "expected a name",
                None,
            ));
        }
        self.expect_separator(tag)?;
        path.span = start..self.position;
        path.original = self.source[start..self.position].to_string();
        Ok(path)
    }
}

fn parse_number(word: &str) -> Option<f64> {
    let digits = word.strip_prefix('-').unwrap_or(word);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if is_digits(whole) && fraction.is_none_or(is_digits) {
        word.parse().ok()
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Parser: builds the block tree from the token list.

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    /// Blocks and `else if` links open around the current position (at most `MAX_NESTING`).
    depth: usize,
}

impl Parser {
    /// Parses statements until a token that ends a program (`{{else}}`, `{{/x}}`) or the end.
    fn program(&mut self) -> Result<Program, SyntaxError> {
        let mut body = Vec::new();
        while let Some(token) = self.tokens.get_mut(self.position) {
            let span = token.span.clone();
            match &mut token.kind {
                TokenKind::Text => {
                    body.push(Node::Text(Text {
                        original: span.clone(),
                        value: span,
                        left_stripped: false,
                        right_stripped: false,
                    }));
                    self.position += 1;
                }
                TokenKind::Comment { strip } => {
                    body.push(Node::Comment(Comment { span, strip: *strip }));
                    self.position += 1;
                }
                TokenKind::Mustache { call, strip } => {
                    let call = std::mem::replace(call, empty_call());
                    body.push(Node::Mustache(Mustache { span, call, strip: *strip }));
                    self.position += 1;
                }
                TokenKind::Open { call, block_params, strip } => {
                    let call = std::mem::replace(call, empty_call());
                    let block_params = std::mem::take(block_params);
                    let open_strip = *strip;
                    self.position += 1;
                    let block = self.block(span, call, block_params, open_strip)?;
                    body.push(Node::Block(Box::new(block)));
                }
                TokenKind::Else { .. } | TokenKind::ElseChain { .. } | TokenKind::Close { .. } => {
                    break
                }
            }
        }
        Ok(Program { body, chained: false, block_params: Vec::new() })
    }

    /// Parses a block's body after its opening tag, through its closing tag.
    fn block(
        &mut self,
        span: Range<usize>,
        call: Call,
        block_params: Vec<String>,
        open_strip: Strip,
    ) -> Result<Block, SyntaxError> {
        if self.depth == MAX_NESTING {
            return Err(too_deep(span, false));
        }
        self.depth += 1;
        let block = self.block_inner(span, call, block_params, open_strip);
        self.depth -= 1;
        block
    }

    fn block_inner(
        &mut self,
        span: Range<usize>,
        call: Call,
        block_params: Vec<String>,
        open_strip: Strip,
    ) -> Result<Block, SyntaxError> {
        let name = call.head.original.clone();
        let mut program = self.program()?;
        program.block_params = block_params;
        let mut inverse = None;
        let mut inverse_strip = Strip::default();
        let next = self.tokens.get_mut(self.position);
        let Some(next) = next else {
            return Err(error(
                span,
                format!("`{{{{#{name}}}}}` is never closed"),
                "opened here",
                Some(format!("add `{{{{/{name}}}}}` where the block ends")),
            ));
        };
        match &mut next.kind {
            TokenKind::Else { strip } => {
                inverse_strip = *strip;
                self.position += 1;
                inverse = Some(self.program()?);
            }
            TokenKind::ElseChain { call: chain_call, block_params, strip } => {
                inverse_strip = *strip;
                let chain_call = std::mem::replace(chain_call, empty_call());
                let chain_params = std::mem::take(block_params);
                let chain_span = next.span.clone();
                let chain_strip = *strip;
                self.position += 1;
                // The chained block ends at this block's closing tag, which it consumes and reports.
                let (mut chained, close_strip) = self.chained_block(
                    chain_span,
                    chain_call,
                    chain_params,
                    chain_strip,
                    &name,
                    &span,
                )?;
                // The first link closes with the closing tag (handlebars.js `prepareBlock`).
                chained.close_strip = close_strip;
                let close_span = chained.close_span.clone();
                let inverse_program = Program {
                    body: vec![Node::Block(Box::new(chained))],
                    chained: true,
                    block_params: Vec::new(),
                };
                return Ok(Block {
                    span,
                    call,
                    program,
                    inverse: Some(inverse_program),
                    open_strip,
                    inverse_strip,
                    close_strip,
                    close_span,
                });
            }
            _ => {}
        }
        self.close(span, call, program, inverse, open_strip, inverse_strip, &name)
    }

    #[allow(clippy::too_many_arguments)]
    fn close(
        &mut self,
        span: Range<usize>,
        call: Call,
        program: Program,
        inverse: Option<Program>,
        open_strip: Strip,
        inverse_strip: Strip,
        name: &str,
    ) -> Result<Block, SyntaxError> {
        match self.tokens.get(self.position) {
            Some(Token {
                span: close_span,
                kind: TokenKind::Close { name: close_name, strip: close_strip },
            }) => {
                if close_name != name {
                    return Err(error(
                        close_span.clone(),
                        format!("`{{{{/{close_name}}}}}` does not match the open block `{{{{#{name}}}}}`"),
                        "mismatched closing tag",
                        Some(format!("close `{{{{#{name}}}}}` with `{{{{/{name}}}}}` first")),
                    ));
                }
                let close_span = close_span.clone();
                let close_strip = *close_strip;
                self.position += 1;
                Ok(Block {
                    span,
                    call,
                    program,
                    inverse,
                    open_strip,
                    inverse_strip,
                    close_strip,
                    close_span,
                })
            }
            Some(Token {
                span: else_span,
                kind: TokenKind::Else { .. } | TokenKind::ElseChain { .. },
            }) => Err(error(
                else_span.clone(),
                format!("a second `{{{{else}}}}` in `{{{{#{name}}}}}`"),
                "one `{{else}}` per block",
                Some("use `{{else if …}}` for a chain".into()),
            )),
            _ => Err(error(
                span,
                format!("`{{{{#{name}}}}}` is never closed"),
                "opened here",
                Some(format!("add `{{{{/{name}}}}}` where the block ends")),
            )),
        }
    }

    fn chained_block(
        &mut self,
        span: Range<usize>,
        call: Call,
        block_params: Vec<String>,
        open_strip: Strip,
        outer_name: &str,
        outer_span: &Range<usize>,
    ) -> Result<(Block, Strip), SyntaxError> {
        if self.depth == MAX_NESTING {
            return Err(too_deep(span, true));
        }
        self.depth += 1;
        let block =
            self.chained_block_inner(span, call, block_params, open_strip, outer_name, outer_span);
        self.depth -= 1;
        block
    }

    /// Parses one `{{else if …}}` link through the chain's closing tag. Returns the block and
    /// the closing tag's strip. As in handlebars.js's parser (`prepareBlock` gives each link the
    /// strip of what follows it, then the link before overwrites it), the first link's closing
    /// strip is the closing tag's and every later link's is its own opening tag's: a `~` opening
    /// a later link strips the end of that link's last part too.
    fn chained_block_inner(
        &mut self,
        span: Range<usize>,
        call: Call,
        block_params: Vec<String>,
        open_strip: Strip,
        outer_name: &str,
        outer_span: &Range<usize>,
    ) -> Result<(Block, Strip), SyntaxError> {
        let mut program = self.program()?;
        program.block_params = block_params;
        match self.tokens.get_mut(self.position) {
            Some(Token { kind: TokenKind::Else { strip }, .. }) => {
                let inverse_strip = *strip;
                self.position += 1;
                let inverse = self.program()?;
                self.close(
                    span,
                    call,
                    program,
                    Some(inverse),
                    open_strip,
                    inverse_strip,
                    outer_name,
                )
                .map(|block| {
                    let close_strip = block.close_strip;
                    (block, close_strip)
                })
                .map_err(|e| retarget_unclosed(e, outer_span, outer_name))
            }
            Some(Token {
                kind: TokenKind::ElseChain { call: chain_call, block_params, strip },
                span: chain_span,
            }) => {
                let inverse_strip = *strip;
                let chain_call = std::mem::replace(chain_call, empty_call());
                let chain_params = std::mem::take(block_params);
                let chain_span = chain_span.clone();
                self.position += 1;
                let (mut chained, close_strip) = self.chained_block(
                    chain_span,
                    chain_call,
                    chain_params,
                    inverse_strip,
                    outer_name,
                    outer_span,
                )?;
                chained.close_strip = inverse_strip;
                let close_span = chained.close_span.clone();
                let inverse = Program {
                    body: vec![Node::Block(Box::new(chained))],
                    chained: true,
                    block_params: Vec::new(),
                };
                let block = Block {
                    span,
                    call,
                    program,
                    inverse: Some(inverse),
                    open_strip,
                    inverse_strip,
                    close_strip,
                    close_span,
                };
                Ok((block, close_strip))
            }
            _ => self
                .close(span, call, program, None, open_strip, Strip::default(), outer_name)
                .map(|block| {
                    let close_strip = block.close_strip;
                    (block, close_strip)
                })
                .map_err(|e| retarget_unclosed(e, outer_span, outer_name)),
        }
    }
}

fn retarget_unclosed(
    mut error: SyntaxError,
    outer_span: &Range<usize>,
    outer_name: &str,
) -> SyntaxError {
    if error.label == "opened here" {
        error.span = outer_span.clone();
        error.message = format!("`{{{{#{outer_name}}}}}` is never closed");
    }
    error
}

fn empty_call() -> Call {
    Call {
        head: Path {
            span: 0..0,
            data: false,
            depth: 0,
            scoped: false,
            segments: Vec::new(),
            original: String::new(),
        },
        params: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Whitespace control, ported from handlebars.js (compiler/whitespace-control.js): `~` strips all
// whitespace on its side; a block, `{{else}}` or comment tag alone on its line removes the line.

struct Whitespace<'a> {
    source: &'a str,
    root_seen: bool,
}

struct StripInfo {
    open: bool,
    close: bool,
    open_standalone: bool,
    close_standalone: bool,
    inline_standalone: bool,
}

impl Whitespace<'_> {
    fn program(&mut self, program: &mut Program) {
        let is_root = !self.root_seen;
        self.root_seen = true;
        for index in 0..program.body.len() {
            let Some(strip) = self.statement(&mut program.body[index]) else { continue };
            let prev_whitespace = self.is_prev_whitespace(&program.body, Some(index), is_root);
            let next_whitespace = self.is_next_whitespace(&program.body, Some(index), is_root);
            let open_standalone = strip.open_standalone && prev_whitespace;
            let close_standalone = strip.close_standalone && next_whitespace;
            let inline_standalone = strip.inline_standalone && prev_whitespace && next_whitespace;
            if strip.close {
                self.omit_right(&mut program.body, Some(index), true);
            }
            if strip.open {
                self.omit_left(&mut program.body, Some(index), true);
            }
            if inline_standalone {
                self.omit_right(&mut program.body, Some(index), false);
                self.omit_left(&mut program.body, Some(index), false);
            }
            if open_standalone {
                if let Node::Block(block) = &mut program.body[index] {
                    self.omit_right(&mut block.program.body, None, false);
                }
                self.omit_left(&mut program.body, Some(index), false);
            }
            if close_standalone {
                self.omit_right(&mut program.body, Some(index), false);
                if let Node::Block(block) = &mut program.body[index] {
                    let inner = match block.inverse.as_mut() {
                        Some(inverse) => inverse,
                        None => &mut block.program,
                    };
                    self.omit_left(&mut inner.body, None, false);
                }
            }
        }
    }

    fn statement(&mut self, node: &mut Node) -> Option<StripInfo> {
        match node {
            Node::Text(_) => None,
            Node::Mustache(mustache) => Some(StripInfo {
                open: mustache.strip.open,
                close: mustache.strip.close,
                open_standalone: false,
                close_standalone: false,
                inline_standalone: false,
            }),
            Node::Comment(comment) => Some(StripInfo {
                open: comment.strip.open,
                close: comment.strip.close,
                open_standalone: false,
                close_standalone: false,
                inline_standalone: true,
            }),
            Node::Block(block) => Some(self.block(block)),
        }
    }

    fn block(&mut self, block: &mut Block) -> StripInfo {
        self.program(&mut block.program);
        if let Some(inverse) = block.inverse.as_mut() {
            self.program(inverse);
        }
        let has_inverse = block.inverse.is_some();
        let open_standalone = self.is_next_whitespace(&block.program.body, None, false);
        let close_standalone = {
            let first_inverse_body = match block.inverse.as_ref() {
                Some(inverse) if inverse.chained => chained_first(inverse).map(|p| &p.body),
                Some(inverse) => Some(&inverse.body),
                None => None,
            };
            self.is_prev_whitespace(first_inverse_body.unwrap_or(&block.program.body), None, false)
        };
        let info = StripInfo {
            open: block.open_strip.open,
            close: block.close_strip.close,
            open_standalone,
            close_standalone,
            inline_standalone: false,
        };
        if block.open_strip.close {
            self.omit_right(&mut block.program.body, None, true);
        }
        if has_inverse {
            let inverse_strip = block.inverse_strip;
            if inverse_strip.open {
                self.omit_left(&mut block.program.body, None, true);
            }
            let program_prev_whitespace = self.is_prev_whitespace(&block.program.body, None, false);
            let Some(inverse) = block.inverse.as_mut() else { return info };
            if inverse_strip.close {
                self.omit_right(&mut first_inverse_mut(inverse).body, None, true);
            }
            if block.close_strip.open {
                self.omit_left(&mut last_inverse_mut(inverse).body, None, true);
            }
            let first_next_whitespace =
                self.is_next_whitespace(&first_inverse_mut(inverse).body, None, false);
            if program_prev_whitespace && first_next_whitespace {
                self.omit_left(&mut block.program.body, None, false);
                self.omit_right(&mut first_inverse_mut(inverse).body, None, false);
            }
        } else if block.close_strip.open {
            self.omit_left(&mut block.program.body, None, true);
        }
        info
    }

    fn original<'b>(&'b self, text: &Text) -> &'b str {
        &self.source[text.original.clone()]
    }

    /// handlebars.js `isPrevWhitespace`: the text before statement `index` (or the end of `body`)
    /// ends with a newline and only whitespace after it.
    fn is_prev_whitespace(&self, body: &[Node], index: Option<usize>, is_root: bool) -> bool {
        let index = index.unwrap_or(body.len());
        if index == 0 {
            return is_root;
        }
        let Node::Text(prev) = &body[index - 1] else { return false };
        let has_sibling = index >= 2;
        let original = self.original(prev);
        let trailing = original.trim_end_matches(is_js_space);
        let whitespace = &original[trailing.len()..];
        if whitespace.contains('\n') {
            return true;
        }
        !has_sibling && is_root && trailing.is_empty()
    }

    /// handlebars.js `isNextWhitespace`: the text after statement `index` (or the start of `body`)
    /// starts with whitespace up to and including a newline.
    fn is_next_whitespace(&self, body: &[Node], index: Option<usize>, is_root: bool) -> bool {
        let next_index = index.map_or(0, |i| i + 1);
        let Some(next) = body.get(next_index) else { return is_root };
        let Node::Text(next) = next else { return false };
        let has_sibling = body.len() > next_index + 1;
        let original = self.original(next);
        let leading = original.trim_start_matches(is_js_space);
        let whitespace = &original[..original.len() - leading.len()];
        if whitespace.contains('\n') {
            return true;
        }
        !has_sibling && is_root && leading.is_empty()
    }

    /// handlebars.js `omitRight`: strips the start of the text after statement `index`.
    fn omit_right(&self, body: &mut [Node], index: Option<usize>, multiple: bool) {
        let target = index.map_or(0, |i| i + 1);
        let Some(Node::Text(text)) = body.get_mut(target) else { return };
        if !multiple && text.right_stripped {
            return;
        }
        let value = &self.source[text.value.clone()];
        let removed = if multiple {
            value.len() - value.trim_start_matches(is_js_space).len()
        } else {
            // `/^[ \t]*\r?\n?/`: a lone `\r` goes too.
            let tabs = value.len() - value.trim_start_matches([' ', '\t']).len();
            let after = &value[tabs..];
            let cr = usize::from(after.starts_with('\r'));
            tabs + cr + usize::from(after[cr..].starts_with('\n'))
        };
        text.value.start += removed;
        text.right_stripped = removed > 0;
    }

    /// handlebars.js `omitLeft`: strips the end of the text before statement `index`.
    fn omit_left(&self, body: &mut [Node], index: Option<usize>, multiple: bool) -> bool {
        let target = match index {
            Some(0) => return false,
            Some(i) => i - 1,
            None if body.is_empty() => return false,
            None => body.len() - 1,
        };
        let Some(Node::Text(text)) = body.get_mut(target) else { return false };
        if !multiple && text.left_stripped {
            return false;
        }
        let value = &self.source[text.value.clone()];
        let kept = if multiple {
            value.trim_end_matches(is_js_space)
        } else {
            value.trim_end_matches([' ', '\t'])
        };
        let removed = value.len() - kept.len();
        text.value.end -= removed;
        text.left_stripped = removed > 0;
        text.left_stripped
    }
}

/// JavaScript's `\s`: Unicode `White_Space` without U+0085 (NEXT LINE), with U+FEFF.
pub fn is_js_space(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

fn chained_first(inverse: &Program) -> Option<&Program> {
    match inverse.body.first() {
        Some(Node::Block(block)) => Some(&block.program),
        _ => None,
    }
}

fn first_inverse_mut(inverse: &mut Program) -> &mut Program {
    if inverse.chained && matches!(inverse.body.first(), Some(Node::Block(_))) {
        let Some(Node::Block(block)) = inverse.body.first_mut() else {
            unreachable!("checked above")
        };
        return &mut block.program;
    }
    inverse
}

/// handlebars.js walks `lastInverse` down `.program` of the last chained block, not its inverse.
fn last_inverse_mut(inverse: &mut Program) -> &mut Program {
    if inverse.chained && matches!(inverse.body.last(), Some(Node::Block(_))) {
        let Some(Node::Block(block)) = inverse.body.last_mut() else {
            unreachable!("checked above")
        };
        return last_inverse_mut(&mut block.program);
    }
    inverse
}
