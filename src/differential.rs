//! Differential testing of the renderer: a deterministic generator of random templates in the
//! supported subset (docs/format.md) with random data, and a comparison of promptctl's output with
//! another engine's (handlebars.js under node, or the `handlebars` crate in the tests). A
//! difference is minimised (the shortest template and vars that still show it) and classified:
//! explained by a portability lint or a documented exception (docs/portability.md), or not.
//!
//! Used by `tests/it/differential.rs` (a fixed seed in the test suite) and by
//! `cargo xtask differential` (long runs). Not part of the product: hidden from the docs.

use crate::check::portability;
use crate::check::variables::Site;
use crate::diagnostic::Code;
use crate::render::Compiled;
use crate::syntax::prompt::{Type, Variable};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

// ------------------------------------------------------------------------------------------------
// The random source.

/// splitmix64: small, fast, and the same sequence on every platform.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ------------------------------------------------------------------------------------------------
// The generated template: a tree, so that it can be minimised piece by piece.

/// `~` on the two sides of a tag.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Strip {
    pub open: bool,
    pub close: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Text(String),
    /// `{{expr}}`, `{{{expr}}}` or `{{&expr}}`; `pad` puts spaces inside the braces.
    Print {
        expr: String,
        style: Style,
        strip: Strip,
        pad: bool,
    },
    Comment {
        body: String,
        long: bool,
        strip: Strip,
    },
    Block(Block),
    /// Outside the supported subset (a partial, a raw block, a hash argument…): promptctl must
    /// refuse it.
    Unsupported(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    Double,
    Triple,
    Ampersand,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub helper: &'static str,
    pub arg: String,
    pub params: Vec<String>,
    pub open: Strip,
    pub body: Vec<Piece>,
    /// `{{else if …}}` links.
    pub links: Vec<Link>,
    pub inverse: Option<Inverse>,
    pub close: Strip,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub helper: &'static str,
    pub arg: String,
    pub strip: Strip,
    pub body: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Inverse {
    pub strip: Strip,
    /// `{{^}}` instead of `{{else}}`.
    pub caret: bool,
    pub body: Vec<Piece>,
}

/// One generated case.
#[derive(Clone, Debug)]
pub struct Case {
    pub pieces: Vec<Piece>,
    pub vars: Value,
}

impl Case {
    pub fn template(&self) -> String {
        let mut out = String::new();
        write_pieces(&mut out, &self.pieces);
        out
    }

    /// Whether the case holds a construct outside the supported subset.
    pub fn unsupported(&self) -> bool {
        fn any(pieces: &[Piece]) -> bool {
            pieces.iter().any(|piece| match piece {
                Piece::Unsupported(_) => true,
                Piece::Block(block) => {
                    any(&block.body)
                        || block.links.iter().any(|link| any(&link.body))
                        || block.inverse.as_ref().is_some_and(|inverse| any(&inverse.body))
                }
                _ => false,
            })
        }
        any(&self.pieces)
    }
}

fn tag(out: &mut String, strip: Strip, inner: &str) {
    out.push_str("{{");
    if strip.open {
        out.push('~');
    }
    out.push_str(inner);
    if strip.close {
        out.push('~');
    }
    out.push_str("}}");
}

fn call(helper: &str, arg: &str, params: &[String]) -> String {
    let mut text = format!("{helper} {arg}");
    if !params.is_empty() {
        let _ = write!(text, " as |{}|", params.join(" "));
    }
    text
}

fn write_pieces(out: &mut String, pieces: &[Piece]) {
    for piece in pieces {
        match piece {
            Piece::Text(text) | Piece::Unsupported(text) => out.push_str(text),
            Piece::Print { expr, style, strip, pad } => {
                let expr = if *pad { format!(" {expr} ") } else { expr.clone() };
                match style {
                    Style::Double => tag(out, *strip, &expr),
                    Style::Ampersand => tag(out, *strip, &format!("&{expr}")),
                    Style::Triple => tag(out, *strip, &format!("{{{expr}}}")),
                }
            }
            Piece::Comment { body, long, strip } => {
                if *long {
                    tag(out, *strip, &format!("!--{body}--"));
                } else {
                    tag(out, *strip, &format!("!{body}"));
                }
            }
            Piece::Block(block) => {
                tag(
                    out,
                    block.open,
                    &format!("#{}", call(block.helper, &block.arg, &block.params)),
                );
                write_pieces(out, &block.body);
                for link in &block.links {
                    tag(out, link.strip, &format!("else {}", call(link.helper, &link.arg, &[])));
                    write_pieces(out, &link.body);
                }
                if let Some(inverse) = &block.inverse {
                    tag(out, inverse.strip, if inverse.caret { "^" } else { "else" });
                    write_pieces(out, &inverse.body);
                }
                tag(out, block.close, &format!("/{}", block.helper));
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The generator.

/// Object keys: names, integer-like keys (which JavaScript enumerates first), a key that needs
/// `[…]`, and `length`.
const KEYS: &[&str] =
    &["a", "b", "c", "n", "s", "xs", "p", "q", "0", "1", "10", "2", "length", "a b"];
const STRINGS: &[&str] = &[
    "",
    "x",
    "hello world",
    " ",
    "\n",
    "0",
    "false",
    "{{x}}",
    "ünï",
    "a,b",
    " pad ",
    "\\",
    "-0",
    "line\r\nbreak",
    "}}",
    "😀",
];
const TEXTS: &[&str] = &[
    "",
    " ",
    "  ",
    "\n",
    "\n",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "x",
    "a b",
    "\n  ",
    "  \n",
    " \t\n",
    "{",
    "}",
    "}}",
    "\\",
    "\\\\",
    "\\{{x}}",
    "\\{{",
    "a\\{{b}} c",
    "{ {",
    ",",
    "ü",
    "\n\n",
];

fn number(rng: &mut Rng) -> Value {
    match rng.below(22) {
        0 => json!(0),
        1 => json!(1),
        2 => json!(2),
        3 => json!(-1),
        4 => json!(1.5),
        5 => json!(-0.0),
        6 => json!(1e21),
        7 => json!(1e-7),
        8 => json!(0.1 + 0.2),
        9 => json!(9_007_199_254_740_993u64),
        10 => json!(123_456_789_012_345_680_000.0),
        11 => json!(1.0),
        12 => json!(100),
        13 => json!(u64::MAX),
        14 => json!(i64::MIN),
        15 => json!(5e-324),
        16 => json!(1.797_693_134_862_315_7e308),
        17 => json!(0.0),
        18 => json!(-2.5),
        19 => json!(1e20),
        20 => json!(0.000001),
        _ => json!(rng.below(1000) as i64 - 500),
    }
}

/// JavaScript's enumeration order: array-index keys in numeric order, then the others as written.
fn js_order(keys: &mut [String]) {
    keys.sort_by_key(|key| match key.parse::<u32>() {
        Ok(index) if key == &index.to_string() && index < u32::MAX => (0, index),
        _ => (1, 0),
    });
}

fn value(rng: &mut Rng, depth: usize, sorted: bool) -> Value {
    let scalar = depth >= 3 || rng.chance(55);
    if scalar {
        return match rng.below(10) {
            0..=2 => json!(rng.pick(STRINGS)),
            3..=5 => number(rng),
            6 | 7 => json!(rng.chance(50)),
            _ => Value::Null,
        };
    }
    if rng.chance(50) {
        let count = rng.below(4);
        // Arrays of objects of one shape, or of anything.
        if rng.chance(50) {
            Value::Array((0..count).map(|_| object(rng, depth + 1, sorted)).collect())
        } else {
            Value::Array((0..count).map(|_| value(rng, depth + 1, sorted)).collect())
        }
    } else {
        object(rng, depth + 1, sorted)
    }
}

fn object(rng: &mut Rng, depth: usize, sorted: bool) -> Value {
    let count = rng.below(5);
    let mut keys: Vec<String> = Vec::new();
    for _ in 0..count {
        let key = rng.pick(KEYS).to_string();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if sorted {
        keys.sort();
        js_order(&mut keys);
    }
    let mut map = Map::new();
    for key in keys {
        let v = value(rng, depth, sorted);
        map.insert(key, v);
    }
    Value::Object(map)
}

/// The root vars: an object with most of the top-level names.
fn root(rng: &mut Rng, sorted: bool) -> Value {
    let mut keys: Vec<String> =
        KEYS.iter().filter(|_| rng.chance(60)).map(|key| key.to_string()).collect();
    if sorted {
        js_order(&mut keys);
    } else {
        for i in (1..keys.len()).rev() {
            keys.swap(i, rng.below(i + 1));
        }
    }
    let mut map = Map::new();
    for key in keys {
        let v = value(rng, 0, sorted);
        map.insert(key, v);
    }
    Value::Object(map)
}

/// A context the generator knows about while it writes a block's body: what `this` is there (one
/// representative item for `#each`), and the block parameters it declares.
struct Frame<'v> {
    context: Option<&'v Value>,
    each: bool,
    params: Vec<(String, Option<&'v Value>)>,
}

struct Generator<'v> {
    rng: Rng,
    root: &'v Value,
    frames: Vec<Frame<'v>>,
    /// Pieces left to write.
    budget: usize,
    depth: usize,
}

fn segment(key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        key.to_string()
    } else {
        format!("[{key}]")
    }
}

fn children(value: &Value) -> Vec<(String, &Value)> {
    match value {
        Value::Object(map) => map.iter().map(|(key, v)| (segment(key), v)).collect(),
        Value::Array(items) => {
            items.iter().enumerate().map(|(index, v)| (format!("[{index}]"), v)).collect()
        }
        _ => Vec::new(),
    }
}

const HELPER_PARAMS: &[&str] = &["x", "i", "item", "key", "a", "p"];

impl<'v> Generator<'v> {
    fn strip(&mut self) -> Strip {
        Strip { open: self.rng.chance(15), close: self.rng.chance(15) }
    }

    fn data_frames(&self) -> usize {
        self.frames.iter().filter(|frame| frame.each).count()
    }

    /// A path and, when the generator can tell, the value it names.
    fn path(&mut self) -> (String, Option<&'v Value>) {
        let frame = self.frames.len() - 1;
        let context = self.frames[frame].context;
        let roll = self.rng.below(100);
        // Block parameters of any frame in scope.
        let params: Vec<(String, Option<&'v Value>)> =
            self.frames.iter().flat_map(|frame| frame.params.iter().cloned()).collect();
        if roll < 12 && !params.is_empty() {
            let (name, value) = self.rng.pick(&params).clone();
            return self.extend(name, value);
        }
        if roll < 20 && self.frames.len() > 1 {
            let too_far = usize::from(self.rng.chance(5));
            let up = 1 + self.rng.below(self.frames.len() - 1 + too_far);
            let target = self.frames.len().checked_sub(up + 1).map(|i| self.frames[i].context);
            let prefix = "../".repeat(up);
            return match target.flatten() {
                Some(value) if self.rng.chance(80) => {
                    let kids = children(value);
                    if kids.is_empty() {
                        (format!("{prefix}this"), Some(value))
                    } else {
                        let (name, v) = self.rng.pick(&kids).clone();
                        self.extend(format!("{prefix}{name}"), Some(v))
                    }
                }
                _ => (format!("{prefix}{}", segment(self.rng.pick::<&str>(KEYS))), None),
            };
        }
        if roll < 30 {
            let data = self.data_frames();
            if data > 0 || self.rng.chance(10) {
                let name = *self.rng.pick(&["index", "key", "first", "last", "index", "key"]);
                let up = if data > 1 && self.rng.chance(30) { "../" } else { "" };
                return (format!("@{up}{name}"), None);
            }
        }
        if roll < 35 {
            let kids = children(self.root);
            if kids.is_empty() || self.rng.chance(10) {
                return ("@root".to_string(), Some(self.root));
            }
            let (name, v) = self.rng.pick(&kids).clone();
            return self.extend(format!("@root.{name}"), Some(v));
        }
        if roll < 42 {
            return match self.rng.below(3) {
                0 => ("this".to_string(), context),
                1 => ("this".to_string(), context),
                _ => match context {
                    Some(value) if !children(value).is_empty() => {
                        let kids = children(value);
                        let (name, v) = self.rng.pick(&kids).clone();
                        let prefix = if self.rng.chance(50) { "this." } else { "./" };
                        (format!("{prefix}{name}"), Some(v))
                    }
                    _ => ("this".to_string(), context),
                },
            };
        }
        if roll < 50 {
            // Any name: often missing.
            let name = *self.rng.pick(KEYS);
            let found = context.and_then(|c| c.get(name));
            return self.extend(segment(name), found);
        }
        match context {
            Some(value) if !children(value).is_empty() => {
                let kids = children(value);
                let (name, v) = self.rng.pick(&kids).clone();
                // A name in brackets at the start is a path too.
                self.extend(name, Some(v))
            }
            _ => ("this".to_string(), context),
        }
    }

    /// Sometimes goes one level further into `value`.
    fn extend(&mut self, path: String, value: Option<&'v Value>) -> (String, Option<&'v Value>) {
        if !self.rng.chance(35) {
            return (path, value);
        }
        match value {
            Some(Value::Array(items)) if self.rng.chance(30) => {
                let _ = items;
                (format!("{path}.length"), None)
            }
            Some(Value::String(_)) if self.rng.chance(10) => (format!("{path}.length"), None),
            Some(v) => {
                let kids = children(v);
                if kids.is_empty() {
                    return (path, value);
                }
                let (name, child) = self.rng.pick(&kids).clone();
                (format!("{path}.{name}"), Some(child))
            }
            None => (format!("{path}.{}", segment(self.rng.pick::<&str>(KEYS))), None),
        }
    }

    fn literal(&mut self) -> String {
        self.rng
            .pick(&[
                "\"a\"",
                "'b'",
                "0",
                "1",
                "-1",
                "1.5",
                "true",
                "false",
                "null",
                "undefined",
                "\"\"",
                "\"length\"",
                "\"0\"",
            ])
            .to_string()
    }

    /// An argument for `lookup` or a block helper.
    fn argument(&mut self) -> (String, Option<&'v Value>) {
        if self.rng.chance(8) {
            (self.literal(), None)
        } else {
            self.path()
        }
    }

    fn text(&mut self) -> Piece {
        let mut text = String::new();
        for _ in 0..1 + self.rng.below(3) {
            text.push_str(self.rng.pick::<&str>(TEXTS));
        }
        Piece::Text(text)
    }

    fn print(&mut self) -> Piece {
        let expr = if self.rng.chance(10) {
            let object = self.argument().0;
            let key = if self.rng.chance(50) {
                let data =
                    self.rng.pick(&["@index", "@key", "\"a\"", "'length'", "0", "1", "\"p\""]);
                data.to_string()
            } else {
                self.argument().0
            };
            format!("lookup {object} {key}")
        } else {
            self.path().0
        };
        let style = match self.rng.below(12) {
            0 => Style::Triple,
            1 => Style::Ampersand,
            _ => Style::Double,
        };
        let pad = self.rng.chance(10);
        Piece::Print { expr, style, strip: self.strip(), pad }
    }

    fn comment(&mut self) -> Piece {
        let long = self.rng.chance(40);
        let body = if long {
            self.rng.pick(&["", " c ", " }} ", "\n", " {{x}} ", "-", "~"]).to_string()
        } else {
            self.rng.pick(&["", " c ", "\n", " x", "-", "~"]).to_string()
        };
        // `{{!~}}` reads the `~` as `~}}`; keep the body from ending in `~` before `--`.
        Piece::Comment { body, long, strip: self.strip() }
    }

    /// A line break and indentation around a block tag, so that it stands alone on its line.
    fn standalone(&mut self, pieces: &mut Vec<Piece>) {
        let indent = *self.rng.pick(&["", "", "  ", "\t", " "]);
        let newline = if self.rng.chance(10) { "\r\n" } else { "\n" };
        pieces.push(Piece::Text(format!("{newline}{indent}")));
    }

    fn block(&mut self) -> Piece {
        let helper = *self.rng.pick(&["if", "if", "unless", "each", "each", "with"]);
        let (arg, value) = self.argument();
        let mut params = Vec::new();
        let context_block = matches!(helper, "each" | "with");
        if context_block && self.rng.chance(30) {
            params.push(self.rng.pick(HELPER_PARAMS).to_string());
            if helper == "each" && self.rng.chance(60) {
                params.push(self.rng.pick(HELPER_PARAMS).to_string());
            }
        }
        let open = self.strip();
        // The body: inside a new frame for `#each` and `#with`.
        self.depth += 1;
        let body = if context_block {
            let item: Option<&'v Value> = match (helper, value) {
                ("each", Some(Value::Array(items))) if !items.is_empty() => {
                    Some(&items[self.rng.below(items.len())])
                }
                ("each", Some(Value::Object(map))) if !map.is_empty() => {
                    map.values().nth(self.rng.below(map.len()))
                }
                ("each", _) => None,
                (_, value) => value,
            };
            let mut frame_params = Vec::new();
            if let Some(first) = params.first() {
                frame_params.push((first.clone(), item));
            }
            if let Some(second) = params.get(1) {
                frame_params.push((second.clone(), None));
            }
            self.frames.push(Frame { context: item, each: helper == "each", params: frame_params });
            let body = self.program();
            self.frames.pop();
            body
        } else {
            self.program()
        };
        let mut links = Vec::new();
        if matches!(helper, "if" | "unless") || self.rng.chance(10) {
            while self.rng.chance(25) && links.len() < 3 {
                let link_helper = *self.rng.pick(&["if", "if", "unless", "with", "each"]);
                let (arg, _) = self.argument();
                let body = self.program();
                links.push(Link { helper: link_helper, arg, strip: self.strip(), body });
            }
        }
        let inverse = if self.rng.chance(40) || !links.is_empty() && self.rng.chance(50) {
            let strip = self.strip();
            let caret = self.rng.chance(10);
            Some(Inverse { strip, caret, body: self.program() })
        } else {
            None
        };
        self.depth -= 1;
        Piece::Block(Block { helper, arg, params, open, body, links, inverse, close: self.strip() })
    }

    fn program(&mut self) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let count = self.rng.below(5);
        for _ in 0..count {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            let roll = self.rng.below(100);
            if roll < 30 {
                pieces.push(self.text());
            } else if roll < 62 {
                pieces.push(self.print());
            } else if roll < 70 {
                pieces.push(self.comment());
            } else if self.depth < 8 {
                let standalone = self.rng.chance(45);
                if standalone {
                    self.standalone(&mut pieces);
                }
                let block = self.block();
                pieces.push(block);
                if standalone {
                    self.standalone(&mut pieces);
                }
            }
        }
        pieces
    }
}

/// Constructs outside the subset; promptctl must refuse each.
const UNSUPPORTED: &[&str] = &[
    "{{> partial}}",
    "{{#> layout}}x{{/layout}}",
    "{{^a}}x{{/a}}",
    "{{{{raw}}}} {{x}} {{{{/raw}}}}",
    "{{lookup a b c=1}}",
    "{{lookup (lookup a b) c}}",
    "{{#if (lookup a b)}}x{{/if}}",
    "{{log a}}",
    "{{#each a key=1}}x{{/each}}",
    "{{*decorator}}",
    "{{#*inline \"p\"}}x{{/inline}}",
    "{{#custom a}}x{{/custom}}",
    "{{a b}}",
    "{{1}}",
    "{{true}}",
];

/// Case `index` of the run with `seed`: every case can be regenerated alone.
pub fn generate(seed: u64, index: u64) -> Case {
    let mut rng = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ index);
    rng.next_u64();
    // Most objects list their keys in JavaScript's order, so that differences of key order (a
    // class of their own) do not drown the others.
    let sorted = rng.chance(85);
    let vars = root(&mut rng, sorted);
    let budget = 1 + rng.below(24);
    let mut generator = Generator {
        rng: rng.clone(),
        root: &vars,
        frames: vec![Frame { context: Some(&vars), each: false, params: Vec::new() }],
        budget,
        depth: 0,
    };
    let mut pieces = generator.program();
    if pieces.is_empty() {
        pieces.push(generator.print());
    }
    let mut rng = generator.rng;
    if rng.chance(3) {
        let at = rng.below(pieces.len() + 1);
        // After an empty comment, so that a `\` ending the text before cannot escape it.
        pieces.insert(at, Piece::Unsupported(format!("{{{{!}}}}{}", rng.pick(UNSUPPORTED))));
    }
    Case { pieces, vars }
}

// ------------------------------------------------------------------------------------------------
// Outcomes and engines.

/// What one engine did with a case.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Rendered(String),
    Failed(String),
}

impl Outcome {
    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }

    /// Agreement: the same text, or both failed.
    pub fn agrees(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Rendered(a), Outcome::Rendered(b)) => a == b,
            (Outcome::Failed(_), Outcome::Failed(_)) => true,
            _ => false,
        }
    }

    pub fn shown(&self) -> String {
        match self {
            Outcome::Rendered(text) => format!("{text:?}"),
            Outcome::Failed(message) => format!("error: {message}"),
        }
    }
}

/// promptctl's outcome.
pub fn promptctl(template: &str, vars: &Value) -> Outcome {
    match Compiled::new(template) {
        Err(error) => Outcome::Failed(format!("syntax: {}", error.message)),
        Ok(compiled) => match compiled.render(vars) {
            Ok(text) => Outcome::Rendered(text),
            Err(error) => Outcome::Failed(format!("render: {}", error.message)),
        },
    }
}

/// The engine promptctl is compared with: renders a batch of (template, vars).
pub trait Engine {
    fn name(&self) -> &'static str;
    fn render(&mut self, cases: &[(String, Value)]) -> Result<Vec<Outcome>, String>;
    /// The known differences of this engine, tried in order on each difference.
    fn known(&self) -> &'static [Known];
}

/// handlebars.js under node: one process, fed a batch per line (`tests/differential/render.js`).
pub struct HandlebarsJs {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub version: String,
}

impl HandlebarsJs {
    /// Starts `node script prefix`, where `prefix` holds `node_modules/handlebars`.
    pub fn start(script: &Path, prefix: &Path) -> Result<HandlebarsJs, String> {
        let mut child = Command::new("node")
            .arg(script)
            .arg(prefix)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("run node: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|e| format!("read from node: {e}"))?;
        let hello: Value =
            serde_json::from_str(&line).map_err(|e| format!("node said {line:?}: {e}"))?;
        let version = hello["version"].as_str().unwrap_or_default().to_string();
        Ok(HandlebarsJs { child, stdin, stdout, version })
    }
}

impl Drop for HandlebarsJs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Engine for HandlebarsJs {
    fn name(&self) -> &'static str {
        "handlebars.js"
    }

    fn render(&mut self, cases: &[(String, Value)]) -> Result<Vec<Outcome>, String> {
        let input: Vec<Value> = cases
            .iter()
            .map(|(template, vars)| json!({"template": template, "vars": vars}))
            .collect();
        let mut line = serde_json::to_string(&input).map_err(|e| e.to_string())?;
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).map_err(|e| format!("write to node: {e}"))?;
        self.stdin.flush().map_err(|e| format!("write to node: {e}"))?;
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).map_err(|e| format!("read from node: {e}"))?;
        let results: Vec<Value> = serde_json::from_str(&answer).map_err(|e| {
            let shown: String = answer.chars().take(300).collect();
            format!("node answered {shown:?}: {e}")
        })?;
        if results.len() != cases.len() {
            return Err(format!(
                "node answered {} results for {} cases",
                results.len(),
                cases.len()
            ));
        }
        Ok(results
            .iter()
            .map(|result| match (result["output"].as_str(), result["error"].as_str()) {
                (Some(text), _) => Outcome::Rendered(text.to_string()),
                (None, Some(message)) => Outcome::Failed(message.to_string()),
                _ => Outcome::Failed(format!("render.js result without output: {result}")),
            })
            .collect())
    }

    fn known(&self) -> &'static [Known] {
        &[Known::AdjacentNumbers, Known::KeyOrder]
    }
}

/// Installs handlebars.js 4 with npm into `<target>/conformance-node` (where the conformance test
/// puts it) unless it is there; `Err` names the missing program.
pub fn install_handlebars_js(target: &Path) -> Result<PathBuf, String> {
    let prefix = target.join("conformance-node");
    let runs = |program: &str| {
        Command::new(program).arg("--version").output().is_ok_and(|output| output.status.success())
    };
    if !runs("node") {
        return Err("node".into());
    }
    if !prefix.join("node_modules/handlebars/package.json").is_file() {
        if !runs("npm") {
            return Err("npm".into());
        }
        let status = Command::new("npm")
            .args(["install", "--prefix"])
            .arg(&prefix)
            .args(["handlebars@4", "--no-audit", "--no-fund", "--silent"])
            .status()
            .map_err(|e| format!("npm: {e}"))?;
        if !status.success() {
            return Err(format!("`npm install --prefix {} handlebars@4` failed", prefix.display()));
        }
    }
    Ok(prefix)
}

// ------------------------------------------------------------------------------------------------
// Known differences.

/// A known difference: a portability lint (or a documented exception) that explains it, shown by a
/// variant of the case without the construct, on which the two engines agree again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Known {
    /// handlebars.js adds two numbers printed side by side (`portability/adjacent-numbers`).
    /// Variant: a `|` after every mustache and block.
    AdjacentNumbers,
    /// Object keys enumerated in another order (`portability/object-iteration`). Variant: every
    /// object's keys in JavaScript's order.
    KeyOrder,
    /// Fractional and large numbers print differently (`portability/number-format`). Variant:
    /// every number that is not a safe integer as the string JavaScript prints.
    NumberFormat,
    /// `.length` is JavaScript only (`portability/length`). Variant: `.length` read as `.[0]`.
    Length,
    /// `#each`/`#with` without `{{else}}` on a missing value fails in strict mode
    /// (`portability/unguarded-each`). Variant: an `{{else}}` on every `#each` and `#with`.
    UnguardedEach,
    /// Several of the others in one case. Variant: all of theirs at once.
    Several,
}

impl Known {
    /// The lint code, or the exception's name in docs/portability.md.
    pub fn name(self) -> &'static str {
        match self {
            Known::AdjacentNumbers => "portability/adjacent-numbers",
            Known::KeyOrder => "portability/object-iteration",
            Known::NumberFormat => "portability/number-format",
            Known::Length => "portability/length",
            Known::UnguardedEach => "portability/unguarded-each",
            Known::Several => "several",
        }
    }

    /// The variant of `case` without the construct, or `None` when it has none.
    pub fn variant(self, case: &Case) -> Option<Case> {
        let mut variant = case.clone();
        let changed = match self {
            Known::AdjacentNumbers => {
                map_pieces(&mut variant.pieces, &mut |pieces| {
                    let mut out = Vec::new();
                    for piece in pieces.drain(..) {
                        let separate = matches!(piece, Piece::Print { .. } | Piece::Block(_));
                        out.push(piece);
                        if separate {
                            out.push(Piece::Text("|".into()));
                        }
                    }
                    *pieces = out;
                });
                true
            }
            Known::KeyOrder => {
                variant.vars = sort_keys(&case.vars);
                variant.vars != case.vars || keys_differ(&variant.vars, &case.vars)
            }
            Known::NumberFormat => {
                variant.vars = numbers_as_strings(&case.vars);
                variant.vars != case.vars
            }
            Known::Length => {
                let mut changed = false;
                map_exprs(&mut variant.pieces, &mut |expr| {
                    if expr.contains(".length") {
                        *expr = expr.replace(".length", ".[0]");
                        changed = true;
                    }
                });
                changed
            }
            Known::UnguardedEach => {
                let mut changed = false;
                map_blocks(&mut variant.pieces, &mut |block| {
                    if matches!(block.helper, "each" | "with") && block.inverse.is_none() {
                        block.inverse = Some(Inverse {
                            strip: Strip::default(),
                            caret: false,
                            body: Vec::new(),
                        });
                        changed = true;
                    }
                });
                changed
            }
            Known::Several => return None,
        };
        changed.then_some(variant)
    }
}

/// The variants of all `known` differences applied one after the other, when two or more apply.
fn all_variants(known: &[Known], case: &Case) -> Option<Case> {
    let mut current = case.clone();
    let mut applied = 0;
    for &k in known {
        if let Some(variant) = k.variant(&current) {
            current = variant;
            applied += 1;
        }
    }
    (applied >= 2).then_some(current)
}

fn keys_differ(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            !x.keys().eq(y.keys()) || x.values().zip(y.values()).any(|(a, b)| keys_differ(a, b))
        }
        (Value::Array(x), Value::Array(y)) => x.iter().zip(y).any(|(a, b)| keys_differ(a, b)),
        _ => false,
    }
}

/// Every object's keys in JavaScript's enumeration order.
pub fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<String> = map.keys().cloned().collect();
            js_order(&mut keys);
            Value::Object(
                keys.into_iter().map(|key| (key.clone(), sort_keys(&map[&key]))).collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// Whether any object lists its keys in another order than JavaScript enumerates them.
pub fn unsorted_keys(value: &Value) -> bool {
    keys_differ(value, &sort_keys(value))
}

fn numbers_as_strings(value: &Value) -> Value {
    match value {
        Value::Number(number) => {
            let safe = number.as_i64().is_some_and(|i| i.unsigned_abs() <= 1 << 53);
            if safe {
                value.clone()
            } else {
                Value::String(crate::render::js_string(Some(value)))
            }
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), numbers_as_strings(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_strings).collect()),
        other => other.clone(),
    }
}

fn map_pieces(pieces: &mut Vec<Piece>, f: &mut dyn FnMut(&mut Vec<Piece>)) {
    f(pieces);
    for piece in pieces.iter_mut() {
        if let Piece::Block(block) = piece {
            map_pieces(&mut block.body, f);
            for link in &mut block.links {
                map_pieces(&mut link.body, f);
            }
            if let Some(inverse) = &mut block.inverse {
                map_pieces(&mut inverse.body, f);
            }
        }
    }
}

fn map_blocks(pieces: &mut [Piece], f: &mut dyn FnMut(&mut Block)) {
    for piece in pieces.iter_mut() {
        if let Piece::Block(block) = piece {
            f(block);
            map_blocks(&mut block.body, f);
            for link in &mut block.links {
                map_blocks(&mut link.body, f);
            }
            if let Some(inverse) = &mut block.inverse {
                map_blocks(&mut inverse.body, f);
            }
        }
    }
}

fn map_exprs(pieces: &mut [Piece], f: &mut dyn FnMut(&mut String)) {
    for piece in pieces.iter_mut() {
        match piece {
            Piece::Print { expr, .. } => f(expr),
            Piece::Block(block) => {
                f(&mut block.arg);
                map_exprs(&mut block.body, f);
                for link in &mut block.links {
                    f(&mut link.arg);
                    map_exprs(&mut link.body, f);
                }
                if let Some(inverse) = &mut block.inverse {
                    map_exprs(&mut inverse.body, f);
                }
            }
            _ => {}
        }
    }
}

/// The portability codes `check` reports on a template, each top-level var declared as the type
/// of its value (null and mixed arrays as optional strings).
pub fn portability_codes(template: &str, vars: &Value) -> Vec<Code> {
    let Ok(compiled) = Compiled::new(template) else { return Vec::new() };
    let variables: Vec<Variable> = match vars {
        Value::Object(map) => map.iter().map(|(name, value)| declare(name, value)).collect(),
        _ => Vec::new(),
    };
    let site = Site { file: "case", text: template, body_offset: 0 };
    portability::check(&site, &compiled.template, &variables).iter().map(|d| d.code).collect()
}

fn declare(name: &str, value: &Value) -> Variable {
    let (ty, required) = match value {
        Value::Null => (Type::String { max_len: None }, false),
        Value::String(_) => (Type::String { max_len: None }, true),
        Value::Bool(_) => (Type::Boolean, true),
        Value::Number(number) if number.is_i64() || number.is_u64() => (Type::Integer, true),
        Value::Number(_) => (Type::Number, true),
        Value::Array(items) => (
            Type::Array(Box::new(match items.first() {
                Some(first) => declare("item", first),
                None => declare("item", &Value::String(String::new())),
            })),
            true,
        ),
        Value::Object(fields) => {
            (Type::Object(fields.iter().map(|(name, value)| declare(name, value)).collect()), true)
        }
    };
    Variable {
        name: name.to_string(),
        ty,
        required,
        description: None,
        user_source: false,
        span: 0..0,
    }
}

// ------------------------------------------------------------------------------------------------
// Comparison, classification and minimisation.

/// How the two engines disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Both render, to different text.
    Output,
    /// promptctl fails, the other renders.
    PromptctlFails,
    /// promptctl renders, the other fails.
    OtherFails,
}

impl Kind {
    fn of(ours: &Outcome, theirs: &Outcome) -> Option<Kind> {
        match (ours, theirs) {
            (Outcome::Rendered(a), Outcome::Rendered(b)) if a != b => Some(Kind::Output),
            (Outcome::Failed(_), Outcome::Rendered(_)) => Some(Kind::PromptctlFails),
            (Outcome::Rendered(_), Outcome::Failed(_)) => Some(Kind::OtherFails),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Output => "different output",
            Kind::PromptctlFails => "promptctl fails, the other renders",
            Kind::OtherFails => "promptctl renders, the other fails",
        }
    }
}

/// A difference, minimised.
#[derive(Clone, Debug)]
pub struct Difference {
    pub kind: Kind,
    /// Where it was found: the case's index in the run.
    pub index: u64,
    pub template: String,
    pub vars: Value,
    pub promptctl: Outcome,
    pub other: Outcome,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "  [{}] case {}\n    template:  {:?}\n    vars:      {}\n    promptctl: {}\n    other:     {}",
            self.kind.as_str(),
            self.index,
            self.template,
            self.vars,
            self.promptctl.shown(),
            self.other.shown()
        )
    }
}

/// The counts of a run.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: u64,
    /// Both rendered the same text.
    pub same_output: u64,
    /// Both failed.
    pub both_failed: u64,
    /// Cases with an unsupported construct that promptctl refused (whatever the other did).
    pub refused: u64,
    /// Unsupported constructs promptctl rendered: a bug.
    pub accepted_unsupported: Vec<Difference>,
    /// Differences explained by a known difference, counted by it, with the first example.
    pub known: BTreeMap<&'static str, (u64, Option<Difference>)>,
    /// Unexplained differences, minimised, grouped by minimised template.
    pub unexplained: BTreeMap<(Kind, String), (u64, Difference)>,
    /// Unexplained differences found after the minimisation budget was spent.
    pub unexplained_not_minimised: u64,
}

impl Report {
    pub fn unexplained_count(&self) -> u64 {
        self.unexplained.values().map(|(count, _)| count).sum::<u64>()
            + self.unexplained_not_minimised
            + self.accepted_unsupported.len() as u64
    }

    pub fn summary(&self, engine: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} cases against {engine}: {} same output, {} both failed, {} unsupported constructs refused, {} known differences, {} unexplained",
            self.cases,
            self.same_output,
            self.both_failed,
            self.refused,
            self.known.values().map(|(count, _)| count).sum::<u64>(),
            self.unexplained_count()
        );
        for (name, (count, example)) in &self.known {
            let _ = writeln!(out, "known `{name}`: {count}");
            if let Some(example) = example {
                let _ = writeln!(out, "{example}");
            }
        }
        for difference in &self.accepted_unsupported {
            let _ = writeln!(out, "UNSUPPORTED CONSTRUCT RENDERED BY PROMPTCTL:\n{difference}");
        }
        for ((_, _), (count, difference)) in &self.unexplained {
            let _ = writeln!(out, "UNEXPLAINED ({count} found):\n{difference}");
        }
        if self.unexplained_not_minimised > 0 {
            let _ =
                writeln!(out, "{} more unexplained, not minimised", self.unexplained_not_minimised);
        }
        out
    }
}

/// Runs `cases` cases of `seed` in batches of `batch`, comparing promptctl with `engine`,
/// minimising at most `minimise` unexplained differences (each costs a round trip per step);
/// `progress` is called after each batch.
pub fn run(
    engine: &mut dyn Engine,
    seed: u64,
    cases: u64,
    batch: usize,
    minimise: usize,
    progress: &mut dyn FnMut(&Report),
) -> Result<Report, String> {
    let mut report = Report::default();
    let mut start = 0u64;
    let mut minimise_budget = minimise;
    while start < cases {
        let end = (start + batch as u64).min(cases);
        let generated: Vec<Case> = (start..end).map(|index| generate(seed, index)).collect();
        let inputs: Vec<(String, Value)> =
            generated.iter().map(|case| (case.template(), case.vars.clone())).collect();
        let theirs = engine.render(&inputs)?;
        let mut differing = Vec::new();
        for (offset, ((case, (template, vars)), other)) in
            generated.iter().zip(&inputs).zip(theirs).enumerate()
        {
            report.cases += 1;
            let index = start + offset as u64;
            let ours = promptctl(template, vars);
            if case.unsupported() {
                if ours.failed() {
                    report.refused += 1;
                } else {
                    report.accepted_unsupported.push(Difference {
                        kind: Kind::of(&ours, &other).unwrap_or(Kind::Output),
                        index,
                        template: template.clone(),
                        vars: vars.clone(),
                        promptctl: ours,
                        other,
                    });
                }
                continue;
            }
            match Kind::of(&ours, &other) {
                None if ours.failed() => report.both_failed += 1,
                None => report.same_output += 1,
                Some(kind) => differing.push((index, case.clone(), kind, ours, other)),
            }
        }
        classify(engine, &mut report, differing, &mut minimise_budget)?;
        progress(&report);
        start = end;
    }
    Ok(report)
}

/// Which known difference explains each difference (the first whose variant agrees), and
/// minimises the rest.
fn classify(
    engine: &mut dyn Engine,
    report: &mut Report,
    differing: Vec<(u64, Case, Kind, Outcome, Outcome)>,
    budget: &mut usize,
) -> Result<(), String> {
    let known = engine.known();
    // One batch with every variant of every difference.
    let mut variants: Vec<(usize, Known, (String, Value))> = Vec::new();
    for (position, (_, case, _, _, _)) in differing.iter().enumerate() {
        for &k in known {
            if let Some(variant) = k.variant(case) {
                variants.push((position, k, (variant.template(), variant.vars.clone())));
            }
        }
    }
    // Last, every variant at once: a case can show several known differences.
    for (position, (_, case, _, _, _)) in differing.iter().enumerate() {
        if let Some(all) = all_variants(known, case) {
            variants.push((position, Known::Several, (all.template(), all.vars.clone())));
        }
    }
    let inputs: Vec<(String, Value)> = variants.iter().map(|(_, _, input)| input.clone()).collect();
    let outcomes = if inputs.is_empty() { Vec::new() } else { engine.render(&inputs)? };
    let mut explained: Vec<Option<Known>> = vec![None; differing.len()];
    for ((position, k, (template, vars)), theirs) in variants.iter().zip(&outcomes) {
        if explained[*position].is_some() {
            continue;
        }
        let ours = promptctl(template, vars);
        let (_, case, _, _, _) = &differing[*position];
        if ours.agrees(theirs) && lint_fires(*k, case) {
            explained[*position] = Some(*k);
        }
    }
    for ((index, case, kind, _, _), explanation) in differing.into_iter().zip(explained) {
        if let Some(k) = explanation {
            let first = !report.known.contains_key(k.name());
            let example = match first {
                true => Some(Difference { index, ..minimise(engine, case, kind, Some(k))? }),
                false => None,
            };
            let entry = report.known.entry(k.name()).or_insert((0, example));
            entry.0 += 1;
            continue;
        }
        if *budget == 0 {
            report.unexplained_not_minimised += 1;
            continue;
        }
        *budget -= 1;
        let small = minimise(engine, case, kind, None)?;
        let key = (kind, small.template.clone());
        let entry = report.unexplained.entry(key).or_insert((0, Difference { index, ..small }));
        entry.0 += 1;
    }
    Ok(())
}

/// Whether the lint behind a known difference reports the case (with vars declared as their
/// values' types).
fn lint_fires(known: Known, case: &Case) -> bool {
    let code = match known {
        Known::AdjacentNumbers => Code::PortabilityAdjacentNumbers,
        Known::Length => Code::PortabilityLength,
        // Key order and unguarded `#each` depend on declarations the data cannot tell (an
        // object's declared fields, an optional variable).
        _ => return true,
    };
    // An array whose items have different types fits no declaration, so the lint cannot see
    // what it holds.
    (known == Known::AdjacentNumbers && mixed_array(&case.vars))
        || portability_codes(&case.template(), &case.vars).contains(&code)
}

fn mixed_array(value: &Value) -> bool {
    let kind = |v: &Value| std::mem::discriminant(v);
    match value {
        Value::Array(items) => {
            items.windows(2).any(|pair| kind(&pair[0]) != kind(&pair[1]))
                || items.iter().any(mixed_array)
        }
        Value::Object(map) => map.values().any(mixed_array),
        _ => false,
    }
}

/// Every one-step simplification of a case: a piece removed, a block replaced by one of its
/// parts, a `~` or a link dropped, a text shortened, a var removed.
fn shrink(case: &Case) -> Vec<Case> {
    let mut out = Vec::new();
    let mut pieces_variants = Vec::new();
    shrink_pieces(&case.pieces, &mut pieces_variants);
    for pieces in pieces_variants {
        out.push(Case { pieces, vars: case.vars.clone() });
    }
    let mut vars_variants = Vec::new();
    shrink_value(&case.vars, &mut vars_variants);
    for vars in vars_variants {
        out.push(Case { pieces: case.pieces.clone(), vars });
    }
    out
}

fn shrink_value(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            for key in map.keys() {
                let mut smaller = map.clone();
                smaller.shift_remove(key);
                out.push(Value::Object(smaller));
            }
            for (key, v) in map {
                let mut inner = Vec::new();
                shrink_value(v, &mut inner);
                for replacement in inner {
                    let mut changed = map.clone();
                    changed.insert(key.clone(), replacement);
                    out.push(Value::Object(changed));
                }
            }
        }
        Value::Array(items) => {
            for index in 0..items.len() {
                let mut smaller = items.clone();
                smaller.remove(index);
                out.push(Value::Array(smaller));
            }
            for (index, v) in items.iter().enumerate() {
                let mut inner = Vec::new();
                shrink_value(v, &mut inner);
                for replacement in inner {
                    let mut changed = items.clone();
                    changed[index] = replacement;
                    out.push(Value::Array(changed));
                }
            }
        }
        Value::String(text) if !text.is_empty() => out.push(json!("")),
        _ => {}
    }
}

fn shrink_pieces(pieces: &[Piece], out: &mut Vec<Vec<Piece>>) {
    for (index, piece) in pieces.iter().enumerate() {
        let replace = |replacement: Vec<Piece>| {
            let mut changed = pieces[..index].to_vec();
            changed.extend(replacement);
            changed.extend_from_slice(&pieces[index + 1..]);
            changed
        };
        out.push(replace(Vec::new()));
        match piece {
            Piece::Text(text) => {
                let chars: Vec<char> = text.chars().collect();
                for cut in 0..chars.len() {
                    let shorter: String = chars
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != cut)
                        .map(|(_, c)| c)
                        .collect();
                    out.push(replace(vec![Piece::Text(shorter)]));
                }
            }
            Piece::Print { expr, style, strip, pad } => {
                let plain = Piece::Print {
                    expr: expr.clone(),
                    style: Style::Double,
                    strip: Strip::default(),
                    pad: false,
                };
                if (*style, *strip, *pad) != (Style::Double, Strip::default(), false) {
                    out.push(replace(vec![plain]));
                }
            }
            Piece::Comment { strip, .. } => {
                if *strip != Strip::default() {
                    out.push(replace(vec![Piece::Comment {
                        body: String::new(),
                        long: false,
                        strip: Strip::default(),
                    }]));
                }
            }
            Piece::Block(block) => {
                out.push(replace(block.body.clone()));
                if let Some(inverse) = &block.inverse {
                    out.push(replace(inverse.body.clone()));
                    let mut without = block.clone();
                    without.inverse = None;
                    out.push(replace(vec![Piece::Block(without)]));
                    let mut plain = block.clone();
                    plain.inverse =
                        Some(Inverse { strip: Strip::default(), caret: false, ..inverse.clone() });
                    if &plain != block {
                        out.push(replace(vec![Piece::Block(plain)]));
                    }
                }
                for (position, link) in block.links.iter().enumerate() {
                    out.push(replace(link.body.clone()));
                    let mut without = block.clone();
                    without.links.remove(position);
                    out.push(replace(vec![Piece::Block(without)]));
                }
                if !block.params.is_empty() {
                    let mut fewer = block.clone();
                    fewer.params.pop();
                    out.push(replace(vec![Piece::Block(fewer)]));
                }
                for strip in [&block.open, &block.close] {
                    if *strip != Strip::default() {
                        let mut plain = block.clone();
                        plain.open = Strip::default();
                        plain.close = Strip::default();
                        out.push(replace(vec![Piece::Block(plain)]));
                        break;
                    }
                }
                let mut inner = Vec::new();
                shrink_pieces(&block.body, &mut inner);
                for body in inner {
                    let mut changed = block.clone();
                    changed.body = body;
                    out.push(replace(vec![Piece::Block(changed)]));
                }
                for position in 0..block.links.len() {
                    let mut inner = Vec::new();
                    shrink_pieces(&block.links[position].body, &mut inner);
                    for body in inner {
                        let mut changed = block.clone();
                        changed.links[position].body = body;
                        out.push(replace(vec![Piece::Block(changed)]));
                    }
                }
                if let Some(inverse) = &block.inverse {
                    let mut inner = Vec::new();
                    shrink_pieces(&inverse.body, &mut inner);
                    for body in inner {
                        let mut changed = block.clone();
                        if let Some(changed_inverse) = &mut changed.inverse {
                            changed_inverse.body = body;
                        }
                        out.push(replace(vec![Piece::Block(changed)]));
                    }
                }
            }
            Piece::Unsupported(_) => {}
        }
    }
}

/// The size a minimisation makes smaller: the template's length, then the vars'.
fn size(case: &Case) -> (usize, usize) {
    (case.template().len(), case.vars.to_string().len())
}

/// Shrinks a difference greedily while it stays a difference of the same kind that `known`
/// explains (or, without it, that no known difference of the engine explains); each step renders
/// all candidates in one batch.
pub fn minimise(
    engine: &mut dyn Engine,
    case: Case,
    kind: Kind,
    known: Option<Known>,
) -> Result<Difference, String> {
    let mut current = case;
    for _ in 0..200 {
        let mut candidates = shrink(&current);
        candidates.retain(|candidate| size(candidate) < size(&current) && !candidate.unsupported());
        candidates.sort_by_key(size);
        candidates.dedup_by(|a, b| a.template() == b.template() && a.vars == b.vars);
        if candidates.is_empty() {
            break;
        }
        let inputs: Vec<(String, Value)> =
            candidates.iter().map(|c| (c.template(), c.vars.clone())).collect();
        let outcomes = engine.render(&inputs)?;
        let mut kept = None;
        for ((candidate, (template, vars)), theirs) in candidates.iter().zip(&inputs).zip(&outcomes)
        {
            let ours = promptctl(template, vars);
            if Kind::of(&ours, theirs) != Some(kind) {
                continue;
            }
            let keep = match known {
                Some(k) => explained_by(engine, candidate, k)?,
                None => !explained_quickly(engine, candidate)?,
            };
            if keep {
                kept = Some(candidate.clone());
                break;
            }
        }
        match kept {
            Some(smaller) => current = smaller,
            None => break,
        }
    }
    let template = current.template();
    let theirs = engine.render(&[(template.clone(), current.vars.clone())])?;
    let ours = promptctl(&template, &current.vars);
    Ok(Difference {
        kind,
        index: 0,
        template,
        vars: current.vars,
        promptctl: ours,
        other: theirs.into_iter().next().unwrap_or(Outcome::Failed("no result".into())),
    })
}

/// Whether a known difference explains a candidate (its variant agrees): keeps the minimiser
/// from shrinking an unexplained difference into a known one.
fn explained_quickly(engine: &mut dyn Engine, case: &Case) -> Result<bool, String> {
    for &k in engine.known().iter().chain(&[Known::Several]) {
        if explained_by(engine, case, k)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the variant of a known difference agrees, and its lint fires.
fn explained_by(engine: &mut dyn Engine, case: &Case, k: Known) -> Result<bool, String> {
    let variant = match k {
        Known::Several => all_variants(engine.known(), case),
        _ => k.variant(case),
    };
    let Some(variant) = variant else { return Ok(false) };
    if !lint_fires(k, case) {
        return Ok(false);
    }
    let template = variant.template();
    let theirs = engine.render(&[(template.clone(), variant.vars.clone())])?;
    Ok(promptctl(&template, &variant.vars).agrees(&theirs[0]))
}
