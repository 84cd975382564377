//! A fast path for reading a version's front matter: the common shape (`description = "…"`,
//! `variables.NAME = { … }` on one line each, `model = { … }`, comments) read straight into
//! `FrontMatter`, at a fraction of the cost of the general TOML parser, which a cold check would
//! otherwise spend a third of its time in. It only ever answers for valid input it fully
//! understands: anything else (other TOML syntax, escapes, multi-line values, an unknown key, a
//! wrong type, a duplicate) gives `None`, and `prompt::read_front_matter` takes the general path,
//! which also reports the problems. In debug builds every answer is compared with the general
//! path's (`prompt::read_front_matter`).

use super::raw::{FrontMatter, RawItems, RawVariable};
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// The front matter of `toml_text`, with spans shifted by `offset`, or `None` to take the general
/// path.
pub fn front_matter(toml_text: &str, offset: usize) -> Option<FrontMatter> {
    let mut parser = Parser { text: toml_text, bytes: toml_text.as_bytes(), at: 0, depth: 0 };
    let mut front = FrontMatter::default();
    let (mut has_description, mut has_model) = (false, false);
    while parser.at < parser.bytes.len() {
        parser.spaces();
        if parser.line_end()? {
            continue;
        }
        let (first, _) = parser.bare_key()?;
        parser.spaces();
        let second = if parser.eat(b'.') {
            parser.spaces();
            let key = parser.bare_key()?;
            parser.spaces();
            Some(key)
        } else {
            None
        };
        if !parser.eat(b'=') {
            return None;
        }
        parser.spaces();
        let (value, span) = parser.value()?;
        parser.spaces();
        if !parser.line_end()? {
            return None;
        }
        match (first, second) {
            ("description", None) if !has_description => {
                has_description = true;
                front.description = Some(value.string()?);
            }
            ("model", None) if !has_model => {
                has_model = true;
                let Parsed::Table(entries) = value else { return None };
                front.model = Some(table(entries));
            }
            ("variables", Some((name, name_span))) => {
                let spec = variable(value)?;
                let key =
                    Spanned::new(offset + name_span.start..offset + name_span.end, name.into());
                if front.variables.contains_key(&key) {
                    return None;
                }
                front
                    .variables
                    .insert(key, Spanned::new(offset + span.start..offset + span.end, spec));
            }
            _ => return None,
        }
    }
    Some(front)
}

/// A value as written.
enum Parsed {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Array(Vec<Parsed>),
    /// Keys in the order written, none twice.
    Table(Vec<(String, Parsed)>),
}

impl Parsed {
    fn string(self) -> Option<String> {
        match self {
            Parsed::String(text) => Some(text),
            _ => None,
        }
    }
}

fn toml_value(value: Parsed) -> toml::Value {
    match value {
        Parsed::String(text) => toml::Value::String(text),
        Parsed::Integer(number) => toml::Value::Integer(number),
        Parsed::Float(number) => toml::Value::Float(number),
        Parsed::Boolean(flag) => toml::Value::Boolean(flag),
        Parsed::Array(items) => toml::Value::Array(items.into_iter().map(toml_value).collect()),
        Parsed::Table(entries) => toml::Value::Table(table(entries)),
    }
}

fn table(entries: Vec<(String, Parsed)>) -> toml::Table {
    entries.into_iter().map(|(key, value)| (key, toml_value(value))).collect()
}

/// A variable spec, as `prompt::read_variable` reads it when it reports nothing.
fn variable(value: Parsed) -> Option<RawVariable> {
    let Parsed::Table(entries) = value else { return None };
    let mut spec = RawVariable {
        kind: String::new(),
        required: None,
        description: None,
        max_len: None,
        source: None,
        values: None,
        items: None,
        fields: None,
    };
    let mut has_kind = false;
    for (key, value) in entries {
        match key.as_str() {
            "type" => {
                spec.kind = value.string()?;
                has_kind = true;
            }
            "required" => match value {
                Parsed::Boolean(flag) => spec.required = Some(flag),
                _ => return None,
            },
            "description" => spec.description = Some(value.string()?),
            "max_len" => match value {
                Parsed::Integer(number) => spec.max_len = Some(number),
                _ => return None,
            },
            "source" => spec.source = Some(value.string()?),
            "values" => {
                let Parsed::Array(items) = value else { return None };
                spec.values = Some(items.into_iter().map(Parsed::string).collect::<Option<_>>()?);
            }
            "items" => {
                spec.items = Some(match value {
                    Parsed::String(name) => RawItems::Name(name),
                    table => RawItems::Spec(Box::new(variable(table)?)),
                })
            }
            "fields" => {
                let Parsed::Table(fields) = value else { return None };
                let mut read = BTreeMap::new();
                for (name, field) in fields {
                    read.insert(name, variable(field)?);
                }
                spec.fields = Some(read);
            }
            _ => return None,
        }
    }
    has_kind.then_some(spec)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    /// Inline tables and arrays open around the current value.
    depth: usize,
}

/// Values nested deeper than this take the general path, whose parser bounds the nesting and
/// reports it (`syntax/nesting`); the common front matter nests two or three levels.
const MAX_DEPTH: usize = 8;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    fn spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// At the end of a line (after an optional comment): consumes it and says so; `Some(false)`
    /// when something else follows, `None` for what the fast path does not read.
    fn line_end(&mut self) -> Option<bool> {
        if self.eat(b'#') {
            while let Some(byte) = self.peek() {
                if byte == b'\n' || byte == b'\r' {
                    break;
                }
                if (byte < 0x20 && byte != b'\t') || byte == 0x7f {
                    return None;
                }
                self.at += 1;
            }
        }
        match self.peek() {
            None => Some(true),
            Some(b'\n') => {
                self.at += 1;
                Some(true)
            }
            Some(b'\r') if self.bytes.get(self.at + 1) == Some(&b'\n') => {
                self.at += 2;
                Some(true)
            }
            Some(b'\r') => None,
            Some(_) => Some(false),
        }
    }

    fn bare_key(&mut self) -> Option<(&'a str, Range<usize>)> {
        let start = self.at;
        while matches!(self.peek(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-')) {
            self.at += 1;
        }
        (self.at > start).then(|| (&self.text[start..self.at], start..self.at))
    }

    /// One value on the current line, with its span.
    fn value(&mut self) -> Option<(Parsed, Range<usize>)> {
        if self.depth == MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let value = self.value_inner();
        self.depth -= 1;
        value
    }

    fn value_inner(&mut self) -> Option<(Parsed, Range<usize>)> {
        let start = self.at;
        let value = match self.peek()? {
            b'"' => Parsed::String(self.string()?),
            b'{' => {
                self.at += 1;
                let mut entries: Vec<(String, Parsed)> = Vec::new();
                self.spaces();
                if !self.eat(b'}') {
                    loop {
                        let (key, _) = self.bare_key()?;
                        self.spaces();
                        if !self.eat(b'=') {
                            return None;
                        }
                        self.spaces();
                        let (value, _) = self.value()?;
                        if entries.iter().any(|(name, _)| name == key) {
                            return None;
                        }
                        entries.push((key.to_string(), value));
                        self.spaces();
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                        self.spaces();
                    }
                }
                Parsed::Table(entries)
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                self.spaces();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value()?.0);
                        self.spaces();
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                        self.spaces();
                    }
                }
                Parsed::Array(items)
            }
            b't' | b'f' => {
                let flag = if self.text[self.at..].starts_with("true") {
                    true
                } else if self.text[self.at..].starts_with("false") {
                    false
                } else {
                    return None;
                };
                self.at += if flag { 4 } else { 5 };
                Parsed::Boolean(flag)
            }
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return None,
        };
        // A value ends where a space, a separator, a comment or the line does.
        match self.peek() {
            None | Some(b' ' | b'\t' | b',' | b'}' | b']' | b'#' | b'\n' | b'\r') => {
                Some((value, start..self.at))
            }
            Some(_) => None,
        }
    }

    /// A basic string without escapes or control characters (all else: the general path).
    fn string(&mut self) -> Option<String> {
        if self.text[self.at..].starts_with("\"\"\"") {
            return None;
        }
        self.at += 1;
        let start = self.at;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' | 0x7f => return None,
                byte if byte < 0x20 && byte != b'\t' => return None,
                _ => self.at += 1,
            }
        }
        let text = self.text[start..self.at].to_string();
        self.at += 1;
        Some(text)
    }

    /// A decimal integer or a float in plain notation (`-12`, `0.5`, `1e-3`); leading zeros,
    /// `+`, `_`, other bases, `inf`, `nan` and dates are left to the general path.
    fn number(&mut self) -> Option<Parsed> {
        let start = self.at;
        self.eat(b'-');
        let digits = |parser: &mut Parser| {
            let from = parser.at;
            while matches!(parser.peek(), Some(b'0'..=b'9')) {
                parser.at += 1;
            }
            parser.at - from
        };
        let integer_start = self.at;
        let integer_digits = digits(self);
        if integer_digits == 0 || (integer_digits > 1 && self.bytes[integer_start] == b'0') {
            return None;
        }
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            if digits(self) == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            float = true;
            self.at += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if digits(self) == 0 {
                return None;
            }
        }
        let text = &self.text[start..self.at];
        if float {
            let number: f64 = text.parse().ok()?;
            number.is_finite().then_some(Parsed::Float(number))
        } else {
            text.parse().ok().map(Parsed::Integer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path reads `toml` (or declines, when `fast` is false) and agrees with the general
    /// path, spans included.
    fn check(toml: &str, fast: bool) {
        let text = format!("+++\n{toml}+++\nbody\n");
        let quick = front_matter(toml, 4);
        assert_eq!(quick.is_some(), fast, "fast path on {toml:?}");
        let (general, _) = super::super::prompt::read_front_matter("v1.prompt", &text, 4, toml);
        if let Some(quick) = quick {
            let general = general.expect("the general path reads it too");
            let spans = |front: &FrontMatter| -> Vec<(Range<usize>, Range<usize>)> {
                front.variables.iter().map(|(name, spec)| (name.span(), spec.span())).collect()
            };
            assert_eq!(quick, general, "{toml:?}");
            assert_eq!(spans(&quick), spans(&general), "{toml:?}");
        }
    }

    #[test]
    fn common_front_matter_takes_the_fast_path() {
        check("", true);
        check("# only a comment\n\n", true);
        check(
            r#"description = "tightens the tone"
variables.company_name = { type = "string", max_len = 120, description = "the subject" }
variables.note = { type = "string", source = "user", description = "untrusted" }   # comment
variables.limit = { type = "integer" }
variables . flag={type="boolean",required=true}
variables.glossary = { type = "array", items = "string", required = false }
variables.customer = { type = "object", fields = { name = { type = "string" }, level = { type = "integer" } } }
variables.tone = { type = "enum", values = ["warm", "dry"] }
variables.rows = { type = "array", items = { type = "object", fields = { a = { type = "number" } } } }
model = { name = "mistral-large", temperature = 0.5, max_tokens = 800, stop = ["a", "b"], x = { y = -1e-3, z = false } }
"#,
            true,
        );
        check("description = \"é 😀\ttab\"\r\nvariables.a = { type = \"string\" }\r\n", true);
    }

    #[test]
    fn anything_else_takes_the_general_path() {
        for toml in [
            "description = \"a \\\"quoted\\\" word\"\n",
            "description = 'literal'\n",
            "description = \"\"\"\nmulti\n\"\"\"\n",
            "[variables.a]\ntype = \"string\"\n",
            "variables.a.type = \"string\"\n",
            "variables = { a = { type = \"string\" } }\n",
            "variables.a = {\n type = \"string\" }\n",
            "variables.a = { type = \"string\", }\n",
            "variables.a = { type = \"string\" }\nvariables.a = { type = \"integer\" }\n",
            "variables.a = { type = \"string\", type = \"integer\" }\n",
            "variables.a = { kind = \"string\" }\n",
            "variables.a = { description = \"no type\" }\n",
            "variables.a = { type = \"string\", max_len = 1_000 }\n",
            "variables.a = { type = \"string\", max_len = 0x10 }\n",
            "variables.a = { type = \"string\", max_len = 99999999999999999999 }\n",
            "variables.a = { type = \"string\", required = \"yes\" }\n",
            "variables.\"quoted\" = { type = \"string\" }\n",
            "model = { when = 1979-05-27 }\n",
            "model = { t = 07 }\n",
            "model = { t = inf }\n",
            "model = { t = +1 }\n",
            "model = { t = 1. }\n",
            "model = \"gpt\"\n",
            "model.name = \"gpt\"\n",
            "description = \"a\"\ndescription = \"b\"\n",
            "descriptoin = \"typo\"\n",
            "description = \"a\" trailing\n",
            "description = \"a\"\rvariables.a = { type = \"string\" }\n",
            "description = \"a\" # bad \u{1} comment\n",
        ] {
            check(toml, false);
        }
    }
}
