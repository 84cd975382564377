//! The generator: random templates of the supported subset, as a tree of pieces, with random vars
//! (`generate`).

use super::*;

/// Object keys: names, integer-like keys (which JavaScript enumerates first), a key that needs
/// `[…]`, and `length`.
pub(super) const KEYS: &[&str] =
    &["a", "b", "c", "n", "s", "xs", "p", "q", "0", "1", "10", "2", "length", "a b"];
pub(super) const STRINGS: &[&str] = &[
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
pub(super) const TEXTS: &[&str] = &[
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

pub(super) fn number(rng: &mut Rng) -> Value {
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
pub(super) fn js_order(keys: &mut [String]) {
    keys.sort_by_key(|key| match key.parse::<u32>() {
        Ok(index) if key == &index.to_string() && index < u32::MAX => (0, index),
        _ => (1, 0),
    });
}

pub(super) fn value(rng: &mut Rng, depth: usize, sorted: bool) -> Value {
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

pub(super) fn object(rng: &mut Rng, depth: usize, sorted: bool) -> Value {
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
pub(super) fn root(rng: &mut Rng, sorted: bool) -> Value {
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
pub(super) struct Frame<'v> {
    pub(super) context: Option<&'v Value>,
    pub(super) each: bool,
    pub(super) params: Vec<(String, Option<&'v Value>)>,
}

pub(super) struct Generator<'v> {
    pub(super) rng: Rng,
    pub(super) root: &'v Value,
    pub(super) frames: Vec<Frame<'v>>,
    /// Pieces left to write.
    pub(super) budget: usize,
    pub(super) depth: usize,
}

pub(super) fn segment(key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        key.to_string()
    } else {
        format!("[{key}]")
    }
}

pub(super) fn children(value: &Value) -> Vec<(String, &Value)> {
    match value {
        Value::Object(map) => map.iter().map(|(key, v)| (segment(key), v)).collect(),
        Value::Array(items) => {
            items.iter().enumerate().map(|(index, v)| (format!("[{index}]"), v)).collect()
        }
        _ => Vec::new(),
    }
}

pub(super) const HELPER_PARAMS: &[&str] = &["x", "i", "item", "key", "a", "p"];

impl<'v> Generator<'v> {
    pub(super) fn strip(&mut self) -> Strip {
        Strip { open: self.rng.chance(15), close: self.rng.chance(15) }
    }

    pub(super) fn data_frames(&self) -> usize {
        self.frames.iter().filter(|frame| frame.each).count()
    }

    /// A path and, when the generator can tell, the value it names.
    pub(super) fn path(&mut self) -> (String, Option<&'v Value>) {
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
    pub(super) fn extend(
        &mut self,
        path: String,
        value: Option<&'v Value>,
    ) -> (String, Option<&'v Value>) {
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

    pub(super) fn literal(&mut self) -> String {
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
    pub(super) fn argument(&mut self) -> (String, Option<&'v Value>) {
        if self.rng.chance(8) {
            (self.literal(), None)
        } else {
            self.path()
        }
    }

    pub(super) fn text(&mut self) -> Piece {
        let mut text = String::new();
        for _ in 0..1 + self.rng.below(3) {
            text.push_str(self.rng.pick::<&str>(TEXTS));
        }
        Piece::Text(text)
    }

    pub(super) fn print(&mut self) -> Piece {
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

    pub(super) fn comment(&mut self) -> Piece {
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
    pub(super) fn standalone(&mut self, pieces: &mut Vec<Piece>) {
        let indent = *self.rng.pick(&["", "", "  ", "\t", " "]);
        let newline = if self.rng.chance(10) { "\r\n" } else { "\n" };
        pieces.push(Piece::Text(format!("{newline}{indent}")));
    }

    pub(super) fn block(&mut self) -> Piece {
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

    pub(super) fn program(&mut self) -> Vec<Piece> {
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
pub(super) const UNSUPPORTED: &[&str] = &[
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
