//! Typed reading of a parsed TOML document (`toml::de::DeTable`, which keeps every span) into the
//! prompt format's structs. Hand-written instead of serde-derived because it halves the cost of a
//! cold check (serde's `Spanned` machinery costs as much as parsing itself), and because it reports
//! every unknown key and wrong type at once, each at its own span, in the words of the format.

use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::text::article;
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub type Value<'i> = Spanned<DeValue<'i>>;

/// Reads values out of one TOML text that starts at `offset` in the file `text`.
pub struct Reader<'a> {
    file: &'a str,
    text: &'a str,
    offset: usize,
    pub errors: Vec<Diagnostic>,
    /// The page of `docs/` that helps point to (`format.md`; `eval.md` while reading `[[eval]]`).
    pub doc: &'static str,
}

impl<'a> Reader<'a> {
    /// Parses `toml_text` (which starts at byte `offset` of `text`). A syntax error is returned as
    /// the reader's only error.
    pub fn parse<'i>(
        file: &'a str,
        text: &'a str,
        offset: usize,
        toml_text: &'i str,
    ) -> (Reader<'a>, Option<Spanned<DeTable<'i>>>) {
        let mut reader = Reader { file, text, offset, errors: Vec::new(), doc: "format.md" };
        match DeTable::parse(toml_text) {
            Ok(table) => (reader, Some(table)),
            Err(error) => {
                let span = error.span().unwrap_or(0..0);
                let message = error.message().lines().next().unwrap_or("invalid TOML").to_string();
                if is_too_deep(&message) {
                    let span = reader.span(span);
                    reader.errors.push(too_deep(file, text, span));
                    return (reader, None);
                }
                reader.error(
                    span,
                    format!("invalid TOML: {}", lowercase_first(&message)),
                    &lowercase_first(&message),
                    &format!("fix the TOML syntax; see {}", crate::text::docs("format.md")),
                );
                (reader, None)
            }
        }
    }

    /// Shifts a span of the TOML text to the file.
    pub fn span(&self, span: Range<usize>) -> Range<usize> {
        self.offset + span.start..self.offset + span.end
    }

    /// An error with its own code (`error` reports `syntax/toml`).
    pub fn error_code(
        &mut self,
        code: Code,
        span: Range<usize>,
        message: String,
        label: &(impl std::fmt::Display + ?Sized),
        help: &str,
    ) {
        let span = self.span(span);
        self.errors.push(
            Diagnostic::new(code, self.file, message)
                .at(self.text, span)
                .label(label.to_string())
                .help(help),
        );
    }

    pub fn error(
        &mut self,
        span: Range<usize>,
        message: String,
        label: &(impl std::fmt::Display + ?Sized),
        help: &str,
    ) {
        let span = self.span(span);
        self.errors.push(
            Diagnostic::new(Code::SyntaxToml, self.file, message)
                .at(self.text, span)
                .label(label.to_string())
                .help(help),
        );
    }

    /// Reports a value at `span` of the TOML text that nests more than `limit` levels (counted by
    /// `value_depth`) as `syntax/nesting`.
    pub fn too_deep_value(&mut self, span: Range<usize>, what: &str, limit: usize) {
        let span = self.span(span);
        self.errors.push(
            Diagnostic::new(
                Code::SyntaxNesting,
                self.file,
                format!("{what} nests more than {limit} tables and arrays deep"),
            )
            .at(self.text, span)
            .label("too deep")
            .help("flatten the value: applications read it as JSON, which they bound too"),
        );
    }

    /// Reports keys of `table` not in `allowed`, with a "did you mean".
    pub fn known_keys(&mut self, table: &DeTable, allowed: &[&str], what: &str) {
        for key in table.keys() {
            let name = key.get_ref().as_ref();
            if !allowed.contains(&name) {
                let help = match did_you_mean(name, allowed.iter().copied()) {
                    Some(suggestion) => {
                        format!("did you mean `{suggestion}`? see {}", crate::text::docs(self.doc))
                    }
                    None => format!(
                        "{what} accepts: {}; see {}",
                        allowed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
                        crate::text::docs(self.doc)
                    ),
                };
                self.error(
                    key.span(),
                    format!("unknown key `{name}` in {what}"),
                    "unknown key",
                    &help,
                );
            }
        }
    }

    fn wrong_type(
        &mut self,
        value: &Value,
        path: &(impl std::fmt::Display + ?Sized),
        expected: &str,
    ) {
        let found = value.get_ref().type_str();
        let message = format!("`{path}` must be {expected}, found {} {found}", article(found));
        self.error(
            value.span(),
            message,
            &format_args!("expected {expected}"),
            &format!("see {} for this key's type", crate::text::docs(self.doc)),
        );
    }

    pub fn required<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        table_span: Range<usize>,
        key: &str,
        what: &(impl std::fmt::Display + ?Sized),
    ) -> Option<&'t Value<'i>> {
        let found = get(table, key);
        if found.is_none() {
            let span = table_span.start..table_span.start;
            self.error(
                span,
                format!("{what} lacks the required key `{key}`"),
                &format_args!("`{key}` missing"),
                &format!("see {}", crate::text::docs(self.doc)),
            );
        }
        found
    }

    pub fn table<'t, 'i>(
        &mut self,
        value: &'t Value<'i>,
        path: &(impl std::fmt::Display + ?Sized),
    ) -> Option<&'t DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(value, path, "a table");
                None
            }
        }
    }

    pub fn string(
        &mut self,
        value: &Value,
        path: &(impl std::fmt::Display + ?Sized),
    ) -> Option<String> {
        match value.get_ref() {
            DeValue::String(text) => Some(text.to_string()),
            _ => {
                self.wrong_type(value, path, "a string");
                None
            }
        }
    }

    pub fn spanned_string(
        &mut self,
        value: &Value,
        path: &(impl std::fmt::Display + ?Sized),
    ) -> Option<Spanned<String>> {
        let text = self.string(value, path)?;
        Some(Spanned::new(self.span(value.span()), text))
    }

    pub fn integer(
        &mut self,
        value: &Value,
        path: &(impl std::fmt::Display + ?Sized),
    ) -> Option<i64> {
        match value.get_ref() {
            DeValue::Integer(integer) => {
                match i64::from_str_radix(integer.as_str(), integer.radix()) {
                    Ok(number) => Some(number),
                    Err(_) => {
                        self.error(
                            value.span(),
                            format!("`{path}` is out of range"),
                            "too large",
                            "use a smaller integer",
                        );
                        None
                    }
                }
            }
            _ => {
                self.wrong_type(value, path, "an integer");
                None
            }
        }
    }

    pub fn spanned_integer(
        &mut self,
        value: &Value,
        path: &(impl std::fmt::Display + ?Sized),
    ) -> Option<Spanned<i64>> {
        let number = self.integer(value, path)?;
        Some(Spanned::new(self.span(value.span()), number))
    }

    /// A number: a float, or an integer taken as one.
    pub fn number(
        &mut self,
        value: &Value,
        path: &(impl std::fmt::Display + ?Sized),
    ) -> Option<f64> {
        match value.get_ref() {
            DeValue::Integer(_) => self.integer(value, path).map(|number| number as f64),
            DeValue::Float(float) => match parse_float(float.as_str()) {
                Some(number) if number.is_finite() => Some(number),
                _ => {
                    self.error(
                        value.span(),
                        format!("`{path}` must be a finite number"),
                        "not a finite number",
                        "write a number such as 0.5",
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(value, path, "a number");
                None
            }
        }
    }

    pub fn boolean(
        &mut self,
        value: &Value,
        path: &(impl std::fmt::Display + ?Sized),
    ) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            _ => {
                self.wrong_type(value, path, "a boolean (true or false)");
                None
            }
        }
    }

    pub fn strings(
        &mut self,
        value: &Value,
        path: &(impl std::fmt::Display + ?Sized),
    ) -> Option<Vec<String>> {
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(value, path, "an array of strings");
            return None;
        };
        let mut strings = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            strings.push(self.string(item, &format_args!("{path}[{index}]"))?);
        }
        Some(strings)
    }

    /// A table of arbitrary values with their spans in the file (test and seed `vars`).
    pub fn values(
        &mut self,
        value: &Value,
        path: &(impl std::fmt::Display + ?Sized),
    ) -> Option<std::collections::BTreeMap<Spanned<String>, Spanned<toml::Value>>> {
        let table = self.table(value, path)?;
        let mut values = std::collections::BTreeMap::new();
        for (key, item) in table.iter() {
            let converted = self.value(item, &format_args!("{path}.{}", key.get_ref()))?;
            values.insert(
                Spanned::new(self.span(key.span()), key.get_ref().to_string()),
                Spanned::new(self.span(item.span()), converted),
            );
        }
        Some(values)
    }

    /// Converts a parsed value into an owned `toml::Value`.
    pub fn value(
        &mut self,
        value: &Value,
        path: &(impl std::fmt::Display + ?Sized),
    ) -> Option<toml::Value> {
        Some(match value.get_ref() {
            DeValue::String(text) => toml::Value::String(text.to_string()),
            DeValue::Integer(_) => toml::Value::Integer(self.integer(value, path)?),
            DeValue::Float(float) => match parse_float(float.as_str()) {
                Some(number) => toml::Value::Float(number),
                None => {
                    self.error(
                        value.span(),
                        format!("`{path}` is not a valid float"),
                        "invalid float",
                        "write a number such as 0.5",
                    );
                    return None;
                }
            },
            DeValue::Boolean(flag) => toml::Value::Boolean(*flag),
            DeValue::Datetime(datetime) => toml::Value::Datetime(*datetime),
            DeValue::Array(items) => {
                let mut converted = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    converted.push(self.value(item, &format_args!("{path}[{index}]"))?);
                }
                toml::Value::Array(converted)
            }
            DeValue::Table(table) => {
                let mut converted = toml::Table::new();
                for (key, item) in table.iter() {
                    converted.insert(
                        key.get_ref().to_string(),
                        self.value(item, &format_args!("{path}.{}", key.get_ref()))?,
                    );
                }
                toml::Value::Table(converted)
            }
        })
    }
}

/// How deep tables, arrays and dotted keys may nest in a TOML file: the limit of the `toml` crate's
/// parser, which reports going past it as an error (one the tests pin, `syntax/nesting`).
pub const MAX_TOML_NESTING: usize = 80;

/// Whether a message of the `toml` parser says the text nests past its limit.
pub fn is_too_deep(message: &str) -> bool {
    message.contains("recursion limit") || message.contains("max recursion depth")
}

/// The `syntax/nesting` diagnostic for TOML that nests past `MAX_TOML_NESTING`, at `span` of the file.
pub fn too_deep(file: &str, text: &str, span: Range<usize>) -> Diagnostic {
    Diagnostic::new(
        Code::SyntaxNesting,
        file,
        format!("the TOML nests more than {MAX_TOML_NESTING} tables, arrays or dotted keys deep"),
    )
    .at(text, span)
    .label("too deep from here")
    .help("flatten the values: no prompt format key needs more than a few levels")
}

/// How many tables and arrays nest in `value`, itself included (a scalar is 0). Iterative.
pub fn value_depth(value: &toml::Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 1)];
    while let Some((value, depth)) = pending.pop() {
        match value {
            toml::Value::Array(items) => {
                deepest = deepest.max(depth);
                pending.extend(items.iter().map(|item| (item, depth + 1)));
            }
            toml::Value::Table(table) => {
                deepest = deepest.max(depth);
                pending.extend(table.values().map(|item| (item, depth + 1)));
            }
            _ => {}
        }
    }
    deepest
}

pub fn get<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t Value<'i>> {
    table.iter().find(|(name, _)| name.get_ref().as_ref() == key).map(|(_, value)| value)
}

fn parse_float(text: &str) -> Option<f64> {
    let cleaned = text.replace('_', "");
    cleaned.parse().ok()
}

pub use crate::text::lowercase_first;
