//! `prompt.toml` and `v<N>.prompt` files: TOML with spans, the `+++` front matter split, and the
//! variable specs resolved into types. Problems become diagnostics at the line and column of the
//! original file. Pure: the bytes come in, data and diagnostics go out.

use crate::diagnostic::{Code, Diagnostic};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// `prompt.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub description: String,
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub activate: BTreeMap<Spanned<String>, Spanned<i64>>,
    #[serde(default, rename = "test")]
    pub tests: Vec<Spanned<TestSpec>>,
    pub seed: Option<Spanned<SeedSpec>>,
}

/// One `[[test]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    pub name: Spanned<String>,
    pub version: Option<Spanned<i64>>,
    #[serde(default)]
    pub vars: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    pub contains: Vec<String>,
    #[serde(default)]
    pub not_contains: Vec<String>,
    pub max_chars: Option<Spanned<i64>>,
    #[serde(default)]
    pub snapshot: bool,
}

/// `[seed]`: the legacy text that a version must reproduce byte for byte.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSpec {
    pub version: Spanned<i64>,
    pub file: Spanned<String>,
    pub extract: Option<Spanned<Extract>>,
    pub unescape: Option<Spanned<Unescape>>,
    #[serde(default)]
    pub vars: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

/// Which part of a legacy file holds the prompt text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Extract {
    /// The text strictly between the first `start` and the next `end` after it.
    Between([String; 2]),
    /// `"A-B"`: lines A through B, 1-based and inclusive, with their line endings except the last.
    Lines(String),
    /// A JSON pointer (RFC 6901) to a string in a JSON file.
    JsonPointer(String),
    /// A dotted key to a string in a TOML file.
    TomlKey(String),
}

/// How the extracted literal is unescaped before comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unescape {
    None,
    /// C, C# regular strings, Java and JSON: `\n`, `\t`, `\"`, `\\`, `\uXXXX`, …
    C,
    /// C# verbatim strings: `""` is one `"`.
    CsharpVerbatim,
    /// JavaScript template literals: `` \` ``, `\$`, `\\`, `\n`, …
    JsTemplate,
}

/// The front matter of a version file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontMatter {
    pub description: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<Spanned<String>, Spanned<RawVariable>>,
    pub model: Option<toml::Table>,
}

/// A variable spec as written; `resolve_variables` turns it into a `Variable`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVariable {
    #[serde(rename = "type")]
    pub kind: String,
    pub required: Option<bool>,
    pub description: Option<String>,
    pub max_len: Option<i64>,
    pub source: Option<String>,
    pub values: Option<Vec<String>>,
    pub items: Option<RawItems>,
    pub fields: Option<BTreeMap<String, RawVariable>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawItems {
    Name(String),
    Spec(Box<RawVariable>),
}

/// A declared variable with its resolved type.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    pub ty: Type,
    pub required: bool,
    pub description: Option<String>,
    /// `source = "user"`: untrusted input.
    pub user_source: bool,
    /// The span of the declaration in the version file.
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    String { max_len: Option<u64> },
    Integer,
    Number,
    Boolean,
    Enum(Vec<String>),
    Array(Box<Variable>),
    Object(Vec<Variable>),
}

impl Type {
    pub fn name(&self) -> &'static str {
        match self {
            Type::String { .. } => "string",
            Type::Integer => "integer",
            Type::Number => "number",
            Type::Boolean => "boolean",
            Type::Enum(_) => "enum",
            Type::Array(_) => "array",
            Type::Object(_) => "object",
        }
    }

    pub fn is_scalar(&self) -> bool {
        !matches!(self, Type::Array(_) | Type::Object(_))
    }
}

/// A version file split into its parts, with offsets into the file's text.
#[derive(Debug, Clone)]
pub struct Split<'a> {
    pub front_matter: &'a str,
    pub front_matter_offset: usize,
    pub body: &'a str,
    pub body_offset: usize,
}

/// Splits a version file at its `+++` lines.
// A `Diagnostic` is large, but this error is the rare path and is pushed into a list at once.
#[allow(clippy::result_large_err)]
pub fn split_front_matter<'a>(file: &str, text: &'a str) -> Result<Split<'a>, Diagnostic> {
    let first_line_end = text.find('\n').map_or(text.len(), |index| index + 1);
    if text[..first_line_end].trim_end_matches(['\n', '\r']) != "+++" {
        return Err(Diagnostic::new(Code::SyntaxFrontMatter, file, "a version file must start with a `+++` line")
            .at(text, 0..text[..first_line_end].trim_end_matches(['\n', '\r']).len())
            .label("expected `+++`")
            .help("start the file with front matter: a line `+++`, the TOML (`variables.name = { type = \"string\" }`), a line `+++`, then the template"));
    }
    let mut line_start = first_line_end;
    while line_start < text.len() {
        let line_end =
            text[line_start..].find('\n').map_or(text.len(), |index| line_start + index + 1);
        if text[line_start..line_end].trim_end_matches(['\n', '\r']) == "+++" {
            return Ok(Split {
                front_matter: &text[first_line_end..line_start],
                front_matter_offset: first_line_end,
                body: &text[line_end..],
                body_offset: line_end,
            });
        }
        line_start = line_end;
    }
    Err(Diagnostic::new(Code::SyntaxFrontMatter, file, "the front matter is never closed")
        .at(text, 0..3)
        .label("opened here")
        .help("add a line `+++` after the front matter, before the template"))
}

/// Parses TOML text that starts at byte `offset` of `full_text`, mapping errors to that file.
#[allow(clippy::result_large_err)]
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &str,
    full_text: &str,
    offset: usize,
    toml_text: &str,
) -> Result<T, Diagnostic> {
    toml::from_str(toml_text).map_err(|error| {
        let span =
            error.span().map_or(offset..offset, |span| offset + span.start..offset + span.end);
        let message = error.message().trim_end_matches('\n').to_string();
        // serde names Rust types ("expected u32"); say what the file should hold instead.
        let first_line = message
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .replace("u32", "a positive integer")
            .replace("u64", "a positive integer")
            .replace("i64", "an integer")
            .replace("a string or map", "a string or a table")
            .replace("struct ", "table ");
        let help = if first_line.contains("unknown field") {
            "see docs/format.md for the keys this file accepts".to_string()
        } else {
            "fix the TOML syntax; see docs/format.md".to_string()
        };
        Diagnostic::new(
            Code::SyntaxToml,
            file,
            format!("invalid TOML: {}", lowercase_first(&first_line)),
        )
        .at(full_text, span)
        .label(lowercase_first(&first_line))
        .help(help)
    })
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Resolves the front matter's variable specs into types, reporting incomplete declarations.
pub fn resolve_variables(
    file: &str,
    text: &str,
    front: &FrontMatter,
) -> (Vec<Variable>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut variables = Vec::new();
    for (name, raw) in &front.variables {
        let span = name.span().start..raw.span().end;
        let name = name.get_ref();
        let mut problems = Vec::new();
        if !is_identifier(name) {
            problems.push(format!("`{name}` is not a valid variable name (letters, digits and `_`, not starting with a digit)"));
        }
        let variable = resolve_one(name, raw.get_ref(), span.clone(), &mut problems);
        for problem in problems {
            diagnostics.push(
                Diagnostic::new(Code::VariablesInvalidSpec, file, problem)
                    .at(text, span.clone())
                    .label("in this declaration")
                    .help("see the variable keys in docs/format.md"),
            );
        }
        if let Some(variable) = variable {
            variables.push(variable);
        }
    }
    (variables, diagnostics)
}

pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn resolve_one(
    name: &str,
    raw: &RawVariable,
    span: Range<usize>,
    problems: &mut Vec<String>,
) -> Option<Variable> {
    let kind = raw.kind.as_str();
    let misplaced = |key: &str, present: bool, allowed: bool, problems: &mut Vec<String>| {
        if present && !allowed {
            problems
                .push(format!("`{key}` does not apply to a variable of type `{kind}` (`{name}`)"));
        }
    };
    misplaced("max_len", raw.max_len.is_some(), kind == "string", problems);
    misplaced("values", raw.values.is_some(), kind == "enum", problems);
    misplaced("items", raw.items.is_some(), kind == "array", problems);
    misplaced("fields", raw.fields.is_some(), kind == "object", problems);
    if let Some(source) = &raw.source {
        if source != "user" {
            problems
                .push(format!("`source = \"{source}\"` is not known; the only source is \"user\""));
        }
    }
    let ty = match kind {
        "string" => {
            let max_len = match raw.max_len {
                Some(length) if length < 1 => {
                    problems.push(format!("`max_len` of `{name}` must be at least 1"));
                    None
                }
                other => other.map(|length| length as u64),
            };
            Type::String { max_len }
        }
        "integer" => Type::Integer,
        "number" => Type::Number,
        "boolean" => Type::Boolean,
        "enum" => match &raw.values {
            Some(values) if !values.is_empty() => {
                let mut seen = std::collections::BTreeSet::new();
                for value in values {
                    if !seen.insert(value) {
                        problems.push(format!("enum `{name}` lists `{value}` twice"));
                    }
                }
                Type::Enum(values.clone())
            }
            _ => {
                problems.push(format!("enum `{name}` needs a non-empty `values` list"));
                return None;
            }
        },
        "array" => {
            let item_name = format!("{name}[]");
            let item = match &raw.items {
                Some(RawItems::Name(item_kind)) => {
                    let raw_item = RawVariable {
                        kind: item_kind.clone(),
                        required: None,
                        description: None,
                        max_len: None,
                        source: raw.source.clone(),
                        values: None,
                        items: None,
                        fields: None,
                    };
                    resolve_one(&item_name, &raw_item, span.clone(), problems)?
                }
                Some(RawItems::Spec(spec)) => {
                    resolve_one(&item_name, spec, span.clone(), problems)?
                }
                None => {
                    problems.push(format!("array `{name}` needs `items` (a type name such as \"string\", or a spec table)"));
                    return None;
                }
            };
            Type::Array(Box::new(item))
        }
        "object" => match &raw.fields {
            Some(fields) if !fields.is_empty() => {
                let mut resolved = Vec::new();
                for (field_name, field) in fields {
                    if !is_identifier(field_name) {
                        problems
                            .push(format!("`{field_name}` is not a valid field name of `{name}`"));
                    }
                    if let Some(variable) = resolve_one(field_name, field, span.clone(), problems) {
                        resolved.push(variable);
                    }
                }
                Type::Object(resolved)
            }
            _ => {
                problems.push(format!("object `{name}` needs a non-empty `fields` table"));
                return None;
            }
        },
        other => {
            let suggestion = crate::diagnostic::did_you_mean(
                other,
                ["string", "integer", "number", "boolean", "enum", "array", "object"],
            );
            problems.push(match suggestion {
                Some(suggestion) => format!("`{other}` is not a type (did you mean `{suggestion}`?)"),
                None => format!("`{other}` is not a type; use string, integer, number, boolean, enum, array or object"),
            });
            return None;
        }
    };
    Some(Variable {
        name: name.to_string(),
        ty,
        required: raw.required.unwrap_or(true),
        description: raw.description.clone(),
        user_source: raw.source.as_deref() == Some("user"),
        span,
    })
}

/// Converts a TOML value into the JSON value templates render with.
pub fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(text) => serde_json::Value::from(text.as_str()),
        toml::Value::Integer(integer) => serde_json::Value::from(*integer),
        toml::Value::Float(float) => serde_json::Number::from_f64(*float)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        toml::Value::Boolean(flag) => serde_json::Value::from(*flag),
        toml::Value::Datetime(datetime) => serde_json::Value::from(datetime.to_string()),
        toml::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(toml_to_json).collect())
        }
        toml::Value::Table(table) => serde_json::Value::Object(
            table.iter().map(|(key, value)| (key.clone(), toml_to_json(value))).collect(),
        ),
    }
}

/// Checks a value against a variable's type; returns the first problem as a message.
pub fn type_check(variable: &Variable, value: &toml::Value, path: &str) -> Result<(), String> {
    match (&variable.ty, value) {
        (Type::String { max_len }, toml::Value::String(text)) => {
            let length = text.chars().count() as u64;
            match max_len {
                Some(max) if length > *max => Err(format!(
                    "`{path}` has {length} characters, more than its `max_len` of {max}"
                )),
                _ => Ok(()),
            }
        }
        (Type::Integer, toml::Value::Integer(_)) => Ok(()),
        (Type::Number, toml::Value::Integer(_) | toml::Value::Float(_)) => Ok(()),
        (Type::Boolean, toml::Value::Boolean(_)) => Ok(()),
        (Type::Enum(values), toml::Value::String(text)) => {
            if values.contains(text) {
                Ok(())
            } else {
                Err(format!(
                    "`{path}` is \"{text}\", not one of the enum's values: {}",
                    values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
                ))
            }
        }
        (Type::Array(item), toml::Value::Array(items)) => {
            for (index, element) in items.iter().enumerate() {
                type_check(item, element, &format!("{path}[{index}]"))?;
            }
            Ok(())
        }
        (Type::Object(fields), toml::Value::Table(table)) => {
            for field in fields {
                match table.get(&field.name) {
                    Some(element) => type_check(field, element, &format!("{path}.{}", field.name))?,
                    None if field.required => {
                        return Err(format!("`{path}` lacks its required field `{}`", field.name))
                    }
                    None => {}
                }
            }
            for key in table.keys() {
                if !fields.iter().any(|field| &field.name == key) {
                    let hint = crate::diagnostic::did_you_mean(
                        key,
                        fields.iter().map(|f| f.name.as_str()),
                    )
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                    return Err(format!(
                        "`{path}` has a field `{key}` that the object does not declare{hint}"
                    ));
                }
            }
            Ok(())
        }
        (ty, value) => Err(format!(
            "`{path}` must be {} {}, found {} {}",
            article(ty.name()),
            ty.name(),
            article(value.type_str()),
            value.type_str()
        )),
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
