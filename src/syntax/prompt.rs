//! `prompt.toml` and `v<N>.prompt` files: TOML with spans, the `+++` front matter split, and the
//! variable specs resolved into types. Problems become diagnostics at the line and column of the
//! original file. Pure: the bytes come in, data and diagnostics go out.

use crate::diagnostic::{Code, Diagnostic};
use crate::text::lowercase_first;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// `prompt.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub description: String,
    pub owners: Vec<String>,
    pub tags: Vec<String>,
    /// Environment to the version it serves to everyone (the stable version of a rollout).
    pub activate: BTreeMap<Spanned<String>, Spanned<i64>>,
    /// Environment to its canary, where `[activate]` declares one
    /// (`production = { version = 3, canary = 4, percent = 10 }`).
    pub canary: BTreeMap<String, Spanned<CanarySpec>>,
    pub tests: Vec<Spanned<TestSpec>>,
    pub seed: Option<Spanned<SeedSpec>>,
    /// `[lints]`: `code-or-group = "allow|warn|deny"`, as written (checked by `check::policy`).
    pub lints: Vec<(Spanned<String>, Spanned<String>)>,
    /// `[[suppress]]`: reasoned suppressions of diagnostics in this prompt's files.
    pub suppress: Vec<Spanned<super::lints::SuppressSpec>>,
    /// `[[eval]]`: evaluations against models (docs/eval.md).
    pub evals: Vec<Spanned<super::eval::EvalSpec>>,
}

/// The canary of an `[activate]` entry: a second version served to a share of the keys.
#[derive(Debug, Clone)]
pub struct CanarySpec {
    pub version: Spanned<i64>,
    /// The share in basis points (percent × 100: 0..=10000).
    pub basis_points: Spanned<u32>,
}

/// One `[[test]]` table.
#[derive(Debug, Clone)]
pub struct TestSpec {
    pub name: Spanned<String>,
    pub version: Option<Spanned<i64>>,
    pub vars: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    pub contains: Vec<String>,
    pub not_contains: Vec<String>,
    pub max_chars: Option<Spanned<i64>>,
    pub snapshot: bool,
}

/// `[seed]`: the legacy text that a version must reproduce byte for byte.
#[derive(Debug, Clone)]
pub struct SeedSpec {
    pub version: Spanned<i64>,
    pub file: Spanned<String>,
    pub extract: Option<Spanned<Extract>>,
    pub unescape: Option<Spanned<Unescape>>,
    pub vars: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

/// Which part of a legacy file holds the prompt text.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unescape {
    None,
    /// C, C# regular strings, Java and JSON: `\n`, `\t`, `\"`, `\\`, `\uXXXX`, …
    C,
    /// C# verbatim strings: `""` is one `"`.
    CsharpVerbatim,
    /// JavaScript template literals: `` \` ``, `\$`, `\\`, `\n`, …
    JsTemplate,
}

pub use super::raw::{FrontMatter, RawItems, RawVariable};

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
        if super::walk::is_too_deep(&message) {
            return super::walk::too_deep(file, full_text, span);
        }
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
            format!("see {} for the keys this file accepts", crate::text::docs("format.md"))
        } else {
            format!("fix the TOML syntax; see {}", crate::text::docs("format.md"))
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
        let mut depth = Depth { level: 0, exceeded: false };
        let variable = resolve_one(name, raw.get_ref(), span.clone(), &mut problems, &mut depth);
        if depth.exceeded {
            diagnostics.push(
                Diagnostic::new(
                    Code::SyntaxNesting,
                    file,
                    format!("the type of `{name}` nests more than {MAX_TYPE_NESTING} arrays and objects deep"),
                )
                .at(text, span.clone())
                .label("in this declaration")
                .help("flatten the type: pass deep data as a string (e.g. JSON the application formats)"),
            );
        }
        for problem in problems {
            diagnostics.push(
                Diagnostic::new(Code::VariablesInvalidSpec, file, problem)
                    .at(text, span.clone())
                    .label("in this declaration")
                    .help(format!("see the variable keys in {}", crate::text::docs("format.md"))),
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

/// How deep a variable's type may nest (`items` of arrays, `fields` of objects): every walk over
/// types and values (the checker, codegen, type checks) recurses once per level.
pub const MAX_TYPE_NESTING: usize = 32;

/// The nesting of the type `resolve_one` is at, and whether it went past `MAX_TYPE_NESTING`.
struct Depth {
    level: usize,
    exceeded: bool,
}

fn resolve_one(
    name: &str,
    raw: &RawVariable,
    span: Range<usize>,
    problems: &mut Vec<String>,
    depth: &mut Depth,
) -> Option<Variable> {
    if depth.level == MAX_TYPE_NESTING {
        depth.exceeded = true;
        return None;
    }
    depth.level += 1;
    let variable = resolve_inner(name, raw, span, problems, depth);
    depth.level -= 1;
    variable
}

fn resolve_inner(
    name: &str,
    raw: &RawVariable,
    span: Range<usize>,
    problems: &mut Vec<String>,
    depth: &mut Depth,
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
                    resolve_one(&item_name, &raw_item, span.clone(), problems, depth)?
                }
                Some(RawItems::Spec(spec)) => {
                    resolve_one(&item_name, spec, span.clone(), problems, depth)?
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
                    if let Some(variable) =
                        resolve_one(field_name, field, span.clone(), problems, depth)
                    {
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

pub use super::values::{toml_to_json, type_check, type_check_at};

use super::walk::{get, Reader};
use toml::de::DeTable;

/// Reads `prompt.toml`.
pub fn read_manifest(file: &str, text: &str) -> (Option<Manifest>, Vec<Diagnostic>) {
    let (mut reader, document) = Reader::parse(file, text, 0, text);
    let Some(document) = document else { return (None, reader.errors) };
    let root = document.get_ref();
    reader.known_keys(
        root,
        &["description", "owners", "tags", "activate", "test", "seed", "lints", "suppress", "eval"],
        "prompt.toml",
    );
    let description = reader
        .required(root, 0..0, "description", "prompt.toml")
        .and_then(|v| reader.string(v, &"description"));
    let owners = get(root, "owners").map_or(Some(Vec::new()), |v| reader.strings(v, &"owners"));
    let tags = get(root, "tags").map_or(Some(Vec::new()), |v| reader.strings(v, &"tags"));
    let mut activate = BTreeMap::new();
    let mut canary = BTreeMap::new();
    if let Some(value) = get(root, "activate") {
        if let Some(table) = reader.table(value, &"activate") {
            for (environment, entry) in table.iter() {
                let name = environment.get_ref().to_string();
                let key = Spanned::new(reader.span(environment.span()), name.clone());
                if let toml::de::DeValue::Table(_) = entry.get_ref() {
                    let Some((stable, rollout)) =
                        super::activate::read_rollout(&mut reader, entry, &name)
                    else {
                        continue;
                    };
                    activate.insert(key, stable);
                    if let Some(rollout) = rollout {
                        canary.insert(name, Spanned::new(reader.span(entry.span()), rollout));
                    }
                } else if let Some(number) =
                    reader.spanned_integer(entry, &format_args!("activate.{name}"))
                {
                    activate.insert(key, number);
                }
            }
        }
    }
    let mut tests = Vec::new();
    if let Some(value) = get(root, "test") {
        match value.get_ref() {
            toml::de::DeValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let Some(test) = read_test(&mut reader, item, index) {
                        tests.push(Spanned::new(reader.span(item.span()), test));
                    }
                }
            }
            _ => reader.error(
                value.span(),
                "`test` must be an array of tables: write each test as `[[test]]`".into(),
                "expected [[test]]",
                &format!("see {}", crate::text::docs("format.md")),
            ),
        }
    }
    let seed = get(root, "seed").and_then(|value| {
        let seed = read_seed(&mut reader, value)?;
        Some(Spanned::new(reader.span(value.span()), seed))
    });
    let evals =
        get(root, "eval").map_or_else(Vec::new, |v| super::eval::read_evals(&mut reader, v));
    let lints = get(root, "lints").map(|v| super::lints::read_lints(&mut reader, v));
    let suppress = get(root, "suppress").map(|v| super::lints::read_suppress(&mut reader, v));
    let lints = lints.unwrap_or(Some(Vec::new())).unwrap_or_default();
    let suppress = suppress.unwrap_or(Some(Vec::new())).unwrap_or_default();
    let errors = reader.errors;
    match (description, owners, tags) {
        (Some(description), Some(owners), Some(tags)) if errors.is_empty() => {
            let manifest = Manifest {
                description,
                owners,
                tags,
                activate,
                canary,
                tests,
                seed,
                lints,
                suppress,
                evals,
            };
            (Some(manifest), errors)
        }
        _ => (None, errors),
    }
}

fn read_test(reader: &mut Reader, value: &super::walk::Value, index: usize) -> Option<TestSpec> {
    let path = format_args!("test[{index}]");
    let table = reader.table(value, &path)?;
    reader.known_keys(
        table,
        &["name", "version", "vars", "contains", "not_contains", "max_chars", "snapshot"],
        "a [[test]] table",
    );
    let name = reader
        .required(table, value.span(), "name", "a [[test]] table")
        .and_then(|v| reader.spanned_string(v, &format_args!("{path}.name")));
    let version =
        get(table, "version").map(|v| reader.spanned_integer(v, &format_args!("{path}.version")));
    let vars = get(table, "vars")
        .map_or(Some(BTreeMap::new()), |v| reader.values(v, &format_args!("{path}.vars")));
    let contains = get(table, "contains")
        .map_or(Some(Vec::new()), |v| reader.strings(v, &format_args!("{path}.contains")));
    let not_contains = get(table, "not_contains")
        .map_or(Some(Vec::new()), |v| reader.strings(v, &format_args!("{path}.not_contains")));
    let max_chars = get(table, "max_chars")
        .map(|v| reader.spanned_integer(v, &format_args!("{path}.max_chars")));
    let snapshot = get(table, "snapshot")
        .map_or(Some(false), |v| reader.boolean(v, &format_args!("{path}.snapshot")));
    Some(TestSpec {
        name: name?,
        version: version.map_or(Some(None), |v| v.map(Some))?,
        vars: vars?,
        contains: contains?,
        not_contains: not_contains?,
        max_chars: max_chars.map_or(Some(None), |v| v.map(Some))?,
        snapshot: snapshot?,
    })
}

fn read_seed(reader: &mut Reader, value: &super::walk::Value) -> Option<SeedSpec> {
    let table = reader.table(value, &"seed")?;
    reader.known_keys(table, &["version", "file", "extract", "unescape", "vars"], "[seed]");
    let version = reader
        .required(table, value.span(), "version", "[seed]")
        .and_then(|v| reader.spanned_integer(v, &"seed.version"));
    let file = reader
        .required(table, value.span(), "file", "[seed]")
        .and_then(|v| reader.spanned_string(v, &"seed.file"));
    let extract = match get(table, "extract") {
        None => Some(None),
        Some(extract_value) => read_extract(reader, extract_value)
            .map(|extract| Some(Spanned::new(reader.span(extract_value.span()), extract))),
    };
    let unescape = match get(table, "unescape") {
        None => Some(None),
        Some(mode_value) => {
            let mode = reader.string(mode_value, &"seed.unescape")?;
            let parsed = match mode.as_str() {
                "none" => Some(Unescape::None),
                "c" => Some(Unescape::C),
                "csharp-verbatim" => Some(Unescape::CsharpVerbatim),
                "js-template" => Some(Unescape::JsTemplate),
                _ => None,
            };
            match parsed {
                Some(parsed) => Some(Some(Spanned::new(reader.span(mode_value.span()), parsed))),
                None => {
                    reader.error(
                        mode_value.span(),
                        format!("`{mode}` is not an unescape mode"),
                        "unknown mode",
                        "use one of: none, c, csharp-verbatim, js-template",
                    );
                    None
                }
            }
        }
    };
    let vars = get(table, "vars").map_or(Some(BTreeMap::new()), |v| reader.values(v, &"seed.vars"));
    Some(SeedSpec {
        version: version?,
        file: file?,
        extract: extract?,
        unescape: unescape?,
        vars: vars?,
    })
}

fn read_extract(reader: &mut Reader, value: &super::walk::Value) -> Option<Extract> {
    let table = reader.table(value, &"seed.extract")?;
    let methods = ["between", "lines", "json_pointer", "toml_key"];
    reader.known_keys(table, &methods, "`seed.extract`");
    if table.len() != 1 {
        reader.error(value.span(), "`seed.extract` takes exactly one method".into(), "one of between, lines, json_pointer, toml_key", "write e.g. `extract = { between = [\"START\", \"END\"] }`; leave it out to take the whole file");
        return None;
    }
    let (key, method) = table.iter().next()?;
    Some(match key.get_ref().as_ref() {
        "between" => {
            let markers = reader.strings(method, &"seed.extract.between")?;
            let [start, end]: [String; 2] = markers.try_into().ok().or_else(|| {
                reader.error(
                    method.span(),
                    "`between` takes two markers: [start, end]".into(),
                    "expected two strings",
                    "write `between = [\"START\", \"END\"]`",
                );
                None
            })?;
            Extract::Between([start, end])
        }
        "lines" => Extract::Lines(reader.string(method, &"seed.extract.lines")?),
        "json_pointer" => {
            Extract::JsonPointer(reader.string(method, &"seed.extract.json_pointer")?)
        }
        "toml_key" => Extract::TomlKey(reader.string(method, &"seed.extract.toml_key")?),
        _ => return None,
    })
}

/// Reads the front matter of a version file; `offset` is where it starts in `text`. The common
/// shape takes a fast path (`quick`); the rest, and every problem, the general TOML parser.
pub fn read_front_matter(
    file: &str,
    text: &str,
    offset: usize,
    front_matter: &str,
) -> (Option<FrontMatter>, Vec<Diagnostic>) {
    if let Some(quick) = super::quick::front_matter(front_matter, offset) {
        #[cfg(debug_assertions)]
        {
            let (general, problems) = read_front_matter_generally(file, text, offset, front_matter);
            let spans = |front: &FrontMatter| -> Vec<(Range<usize>, Range<usize>)> {
                front.variables.iter().map(|(name, spec)| (name.span(), spec.span())).collect()
            };
            assert!(problems.is_empty(), "the fast path read a front matter with problems");
            let general = general.expect("the general path reads what the fast path read");
            assert_eq!(quick, general, "fast and general front matter of {file} differ");
            assert_eq!(spans(&quick), spans(&general), "spans of {file} differ");
        }
        return (Some(quick), Vec::new());
    }
    read_front_matter_generally(file, text, offset, front_matter)
}

fn read_front_matter_generally(
    file: &str,
    text: &str,
    offset: usize,
    front_matter: &str,
) -> (Option<FrontMatter>, Vec<Diagnostic>) {
    let (mut reader, document) = Reader::parse(file, text, offset, front_matter);
    let Some(document) = document else { return (None, reader.errors) };
    let root = document.get_ref();
    reader.known_keys(root, &["description", "variables", "model"], "the front matter");
    let description = get(root, "description").map(|v| reader.string(v, &"description"));
    let mut variables = BTreeMap::new();
    if let Some(value) = get(root, "variables") {
        if let Some(table) = reader.table(value, &"variables") {
            for (name, spec) in table.iter() {
                let path = format!("variables.{}", name.get_ref());
                if let Some(raw) = read_variable(&mut reader, spec, &path) {
                    variables.insert(
                        Spanned::new(reader.span(name.span()), name.get_ref().to_string()),
                        Spanned::new(reader.span(spec.span()), raw),
                    );
                }
            }
        }
    }
    let model = get(root, "model").and_then(|value| match reader.value(value, &"model")? {
        table @ toml::Value::Table(_) if super::walk::value_depth(&table) > MAX_TYPE_NESTING => {
            reader.too_deep_value(value.span(), "`model`", MAX_TYPE_NESTING);
            None
        }
        toml::Value::Table(table) => Some(table),
        _ => {
            reader.error(
                value.span(),
                "`model` must be a table, e.g. `model = { name = \"gpt-4o-mini\" }`".into(),
                "expected a table",
                &format!("see {}", crate::text::docs("format.md")),
            );
            None
        }
    });
    let errors = reader.errors;
    if !errors.is_empty() {
        return (None, errors);
    }
    (Some(FrontMatter { description: description.flatten(), variables, model }), errors)
}

fn read_variable(
    reader: &mut Reader,
    value: &super::walk::Value,
    path: &(impl std::fmt::Display + ?Sized),
) -> Option<RawVariable> {
    let table: &DeTable = reader.table(value, path)?;
    reader.known_keys(
        table,
        &["type", "required", "description", "max_len", "source", "values", "items", "fields"],
        "a variable spec",
    );
    let kind = reader
        .required(table, value.span(), "type", &format_args!("`{path}`"))
        .and_then(|v| reader.string(v, &format_args!("{path}.type")));
    let required =
        get(table, "required").map(|v| reader.boolean(v, &format_args!("{path}.required")));
    let description =
        get(table, "description").map(|v| reader.string(v, &format_args!("{path}.description")));
    let max_len = get(table, "max_len").map(|v| reader.integer(v, &format_args!("{path}.max_len")));
    let source = get(table, "source").map(|v| reader.string(v, &format_args!("{path}.source")));
    let values = get(table, "values").map(|v| reader.strings(v, &format_args!("{path}.values")));
    let items = get(table, "items").map(|v| match v.get_ref() {
        toml::de::DeValue::String(name) => Some(RawItems::Name(name.to_string())),
        _ => read_variable(reader, v, &format_args!("{path}.items"))
            .map(|spec| RawItems::Spec(Box::new(spec))),
    });
    let fields = match get(table, "fields") {
        None => Some(None),
        Some(fields_value) => {
            reader.table(fields_value, &format_args!("{path}.fields")).map(|fields_table| {
                let mut fields = BTreeMap::new();
                for (field, spec) in fields_table.iter() {
                    if let Some(raw) = read_variable(
                        reader,
                        spec,
                        &format_args!("{path}.fields.{}", field.get_ref()),
                    ) {
                        fields.insert(field.get_ref().to_string(), raw);
                    }
                }
                Some(fields)
            })
        }
    };
    Some(RawVariable {
        kind: kind?,
        required: optional(required)?,
        description: optional(description)?,
        max_len: optional(max_len)?,
        source: optional(source)?,
        values: optional(values)?,
        items: optional(items)?,
        fields: fields?,
    })
}

/// A key that may be absent (`None`) or present and valid (`Some(Some)`); `Some(None)` inside
/// means present but invalid, which turns the whole read into `None`.
fn optional<T>(item: Option<Option<T>>) -> Option<Option<T>> {
    item.map_or(Some(None), |inner| inner.map(Some))
}
