//! The Handlebars front end: lexes and parses the subset promptctl supports into a tree with byte
//! spans, then applies handlebars.js's whitespace rules (`~` and standalone lines) so that the tree
//! renders byte for byte as handlebars.js would. Pure: no I/O, never panics, one error at most.

use std::ops::Range;

pub mod guards;
mod lexer;
mod parser;
pub mod scope;
mod whitespace;

use lexer::*;
use parser::*;
pub use whitespace::is_js_space;
use whitespace::*;

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
