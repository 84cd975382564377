//! Eval datasets (docs/eval.md): JSONL and CSV files of cases, parsed with the line and column of
//! the first bad row; CSV cells converted to a contract's types; and the cases of an eval for one
//! version (`resolve_cases`), which `check` validates and the runner evaluates. Pure: text in,
//! cases or a diagnostic out.
//!
//! The CSV reader is a small one of our own rather than the `csv` crate: datasets need only RFC
//! 4180 (a header row, `"` quoting with `""` escapes, commas and newlines inside quotes), and a
//! problem must be reported at its byte in the file, which is simplest to do where the bytes are
//! scanned.

// A `Diagnostic` is large, but it is the rare path: the first bad row ends the parse.
#![allow(clippy::result_large_err)]

use super::eval::{Case, CasesSpec, EvalSpec};
use super::prompt::{is_identifier, TestSpec, Type, Variable};
use crate::diagnostic::{Code, Diagnostic};
use serde_json::{Map, Value};
use std::ops::Range;
use toml::Spanned;

/// How many rows a dataset may have.
pub const MAX_DATASET_ROWS: usize = 10_000;

/// How many bytes a dataset file may hold (where it is read: `source`).
pub const MAX_DATASET_BYTES: u64 = 4 << 20;

/// The two file formats of datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

/// The format of a dataset file, by its extension (`.jsonl`, `.csv`, any case).
pub fn format_of(file: &str) -> Option<Format> {
    let extension = file.rsplit_once('.')?.1.to_ascii_lowercase();
    match extension.as_str() {
        "jsonl" => Some(Format::Jsonl),
        "csv" => Some(Format::Csv),
        _ => None,
    }
}

fn problem(file: &str, text: &str, span: Range<usize>, message: String, label: &str) -> Diagnostic {
    Diagnostic::new(Code::EvalDataset, file, message)
        .at(text, span)
        .label(label)
        .help(format!("see the dataset formats in {}", crate::text::docs("eval.md")))
}

/// Parses a dataset file (`.jsonl` or `.csv`, by `file`'s extension) into cases; the first bad
/// row is a diagnostic at its line and column. CSV cells are strings here (`typed_case` converts
/// them to the contract's types). Each case's label is `FILE:LINE`.
pub fn parse_dataset(file: &str, text: &str) -> Result<Vec<Case>, Diagnostic> {
    let cases = match format_of(file) {
        Some(Format::Jsonl) => parse_jsonl(file, text)?,
        Some(Format::Csv) => parse_csv(file, text)?,
        None => {
            return Err(Diagnostic::new(
                Code::EvalDataset,
                file,
                format!("`{file}` is neither a `.jsonl` nor a `.csv` file"),
            )
            .help(format!(
                "write the dataset as JSONL or CSV; see {}",
                crate::text::docs("eval.md")
            )))
        }
    };
    if cases.is_empty() {
        return Err(Diagnostic::new(Code::EvalDataset, file, format!("`{file}` has no rows"))
            .at(text, 0..0)
            .label("empty")
            .help("add one case per row, or use inline `vars` instead of a dataset"));
    }
    Ok(cases)
}

fn too_many(file: &str, text: &str, span: Range<usize>) -> Diagnostic {
    problem(
        file,
        text,
        span,
        format!("`{file}` has more than {MAX_DATASET_ROWS} rows"),
        "one row too many",
    )
}

fn parse_jsonl(file: &str, text: &str) -> Result<Vec<Case>, Diagnostic> {
    let mut cases = Vec::new();
    let mut start = 0;
    for (index, raw) in text.split('\n').enumerate() {
        let line_start = start;
        start += raw.len() + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let whole = line_start..line_start + line.len();
        if cases.len() == MAX_DATASET_ROWS {
            return Err(too_many(file, text, whole));
        }
        let row: Value = serde_json::from_str(line).map_err(|error| {
            let column = error.column().saturating_sub(1).min(line.len());
            let at = line_start + column;
            let message = error.to_string();
            let message = message.split(" at line ").next().unwrap_or_default().to_string();
            problem(
                file,
                text,
                at..(at + 1).min(whole.end).max(at),
                format!("line {} of `{file}` is not JSON: {message}", index + 1),
                "here",
            )
        })?;
        let bad = |message: String, label: &str| problem(file, text, whole.clone(), message, label);
        let Value::Object(mut row) = row else {
            return Err(bad(
                format!("line {} of `{file}` is not a JSON object", index + 1),
                "expected {\"vars\": {…}, \"input\": \"…\", \"reference\": \"…\"}",
            ));
        };
        let vars = match row.remove("vars") {
            None => Map::new(),
            Some(Value::Object(vars)) => vars,
            Some(_) => {
                return Err(bad(
                    format!("`vars` on line {} of `{file}` is not an object", index + 1),
                    "expected \"vars\": {…}",
                ))
            }
        };
        let mut text_of = |key: &str| match row.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(bad(
                format!("`{key}` on line {} of `{file}` is not a string", index + 1),
                "expected a string",
            )),
        };
        let input = text_of("input")?;
        let reference = text_of("reference")?;
        if let Some(key) = row.keys().next() {
            return Err(bad(
                format!("line {} of `{file}` has the unknown key `{key}`", index + 1),
                "a row takes `vars`, `input` and `reference`",
            ));
        }
        cases.push(Case { label: format!("{file}:{}", index + 1), vars, input, reference });
    }
    Ok(cases)
}

/// One CSV record: its fields with their spans, and the line it starts on.
struct Record {
    line: usize,
    span: Range<usize>,
    fields: Vec<(String, Range<usize>)>,
}

/// Splits CSV text into records (RFC 4180); blank lines are skipped.
fn csv_records(file: &str, text: &str) -> Result<Vec<Record>, Diagnostic> {
    let bytes = text.as_bytes();
    let mut records = Vec::new();
    let (mut at, mut line) = (0, 1);
    let line_end = |at: usize| match bytes.get(at) {
        Some(b'\n') => Some(1),
        Some(b'\r') if bytes.get(at + 1) == Some(&b'\n') => Some(2),
        _ => None,
    };
    while at < bytes.len() {
        if let Some(length) = line_end(at) {
            at += length;
            line += 1;
            continue;
        }
        if records.len() > MAX_DATASET_ROWS {
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            return Err(too_many(file, text, at..end));
        }
        let (record_start, record_line) = (at, line);
        let mut fields = Vec::new();
        loop {
            let field_start = at;
            let mut value = String::new();
            if bytes.get(at) == Some(&b'"') {
                at += 1;
                loop {
                    let Some(quote) = text[at..].find('"').map(|i| at + i) else {
                        return Err(problem(
                            file,
                            text,
                            field_start..field_start + 1,
                            format!("a quoted field of `{file}` is never closed"),
                            "opened here",
                        ));
                    };
                    value.push_str(&text[at..quote]);
                    line += text[at..quote].matches('\n').count();
                    if bytes.get(quote + 1) == Some(&b'"') {
                        value.push('"');
                        at = quote + 2;
                    } else {
                        at = quote + 1;
                        break;
                    }
                }
                if at < bytes.len() && bytes[at] != b',' && line_end(at).is_none() {
                    return Err(problem(
                        file,
                        text,
                        at..at + 1,
                        format!("a quoted field of `{file}` goes on after its closing quote"),
                        "after the closing quote",
                    )
                    .help("end the field at its closing quote; write a quote inside a quoted field as `\"\"`"));
                }
            } else {
                while at < bytes.len() && bytes[at] != b',' && line_end(at).is_none() {
                    if bytes[at] == b'"' {
                        return Err(problem(
                            file,
                            text,
                            at..at + 1,
                            format!("a quote inside an unquoted field of `{file}`"),
                            "stray quote",
                        )
                        .help("quote the whole field and double the quotes inside it: `\"say \"\"hi\"\"\"`"));
                    }
                    at += 1;
                }
                value.push_str(&text[field_start..at]);
            }
            fields.push((value, field_start..at));
            if bytes.get(at) == Some(&b',') {
                at += 1;
                continue;
            }
            if let Some(length) = line_end(at) {
                records.push(Record { line: record_line, span: record_start..at, fields });
                at += length;
                line += 1;
            } else {
                records.push(Record { line: record_line, span: record_start..at, fields });
            }
            break;
        }
    }
    Ok(records)
}

fn parse_csv(file: &str, text: &str) -> Result<Vec<Case>, Diagnostic> {
    let mut records = csv_records(file, text)?.into_iter();
    let Some(header) = records.next() else { return Ok(Vec::new()) };
    let mut names: Vec<&str> = Vec::new();
    for (name, span) in &header.fields {
        let name = name.trim();
        let message = if names.contains(&name) {
            format!("the header of `{file}` names the column `{name}` twice")
        } else if name != "input" && name != "reference" && !is_identifier(name) {
            format!("the column `{name}` of `{file}` is not a variable name")
        } else {
            names.push(name);
            continue;
        };
        return Err(problem(file, text, span.clone(), message, "in the header row"));
    }
    let mut cases = Vec::new();
    for record in records {
        if record.fields.len() != names.len() {
            return Err(problem(
                file,
                text,
                record.span.clone(),
                format!(
                    "line {} of `{file}` has {} field{}, the header {}",
                    record.line,
                    record.fields.len(),
                    if record.fields.len() == 1 { "" } else { "s" },
                    names.len()
                ),
                "this row",
            ));
        }
        let mut case = Case {
            label: format!("{file}:{}", record.line),
            vars: Map::new(),
            input: None,
            reference: None,
        };
        for (name, (value, _)) in names.iter().zip(record.fields) {
            if value.is_empty() {
                continue;
            }
            match *name {
                "input" => case.input = Some(value),
                "reference" => case.reference = Some(value),
                _ => {
                    case.vars.insert(name.to_string(), Value::String(value));
                }
            }
        }
        cases.push(case);
    }
    Ok(cases)
}

/// A CSV cell's text as a value of `variable`'s type: integers, numbers, `true`/`false`, JSON
/// for arrays and objects, the text itself for strings and enums.
pub fn cell_value(variable: &Variable, cell: &str) -> Result<Value, String> {
    let name = &variable.name;
    let trimmed = cell.trim();
    match &variable.ty {
        Type::String { .. } | Type::Enum(_) => Ok(Value::String(cell.to_string())),
        Type::Integer => trimmed
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("`{name}` is \"{cell}\", not an integer")),
        Type::Number => trimmed
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("`{name}` is \"{cell}\", not a finite number")),
        Type::Boolean => match trimmed {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("`{name}` is \"{cell}\", not `true` or `false`")),
        },
        Type::Array(_) | Type::Object(_) => serde_json::from_str(trimmed).map_err(|error| {
            format!(
                "`{name}` is not the JSON of {} {}: {error}",
                crate::text::article(variable.ty.name()),
                variable.ty.name()
            )
        }),
    }
}

/// A CSV case with its cells converted to the types of `variables` (a cell of a variable the
/// version does not declare stays a string, for the type check to report).
pub fn typed_case(case: &Case, variables: &[Variable]) -> Result<Case, String> {
    let mut typed = case.clone();
    for (name, value) in typed.vars.iter_mut() {
        let (Some(variable), Value::String(cell)) =
            (variables.iter().find(|v| v.name == *name), &*value)
        else {
            continue;
        };
        *value = cell_value(variable, cell)?;
    }
    Ok(typed)
}

/// A JSON value as TOML, for the type check (`null` has no TOML form).
fn json_to_toml(value: &Value, path: &str) -> Result<toml::Value, String> {
    Ok(match value {
        Value::Null => return Err(format!("`{path}` is null; leave an absent value out")),
        Value::Bool(flag) => toml::Value::Boolean(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => toml::Value::Integer(integer),
            None => toml::Value::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => toml::Value::String(text.clone()),
        Value::Array(items) => toml::Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| json_to_toml(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => toml::Value::Table(
            fields
                .iter()
                .map(|(key, item)| Ok((key.clone(), json_to_toml(item, &format!("{path}.{key}"))?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// The problems of `vars` against a version's `variables`: undeclared, missing required, and
/// wrongly typed variables, each a message.
pub fn case_problems(vars: &Map<String, Value>, variables: &[Variable]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, value) in vars {
        match variables.iter().find(|variable| variable.name == *name) {
            None => problems.push(format!("`{name}` is not a variable of this version")),
            Some(variable) => {
                let checked = json_to_toml(value, name)
                    .and_then(|value| super::values::type_check(variable, &value, name));
                problems.extend(checked.err());
            }
        }
    }
    for variable in variables.iter().filter(|variable| variable.required) {
        if !vars.contains_key(&variable.name) {
            problems.push(format!("the required variable `{}` is missing", variable.name));
        }
    }
    problems
}

/// The vars of an inline case or a test, as JSON.
fn json_vars(
    vars: &std::collections::BTreeMap<Spanned<String>, Spanned<toml::Value>>,
) -> serde_json::Map<String, serde_json::Value> {
    vars.iter()
        .map(|(key, value)| (key.get_ref().clone(), super::values::toml_to_json(value.get_ref())))
        .collect()
}

/// The cases of `eval` for a version that declares `variables`: one case of its inline `vars`,
/// the vars of its `test` (among `tests`), or one per row of its dataset (`dataset`: the file's
/// path and text, read by the caller from the prompt's folder), CSV cells converted to the
/// contract's types; each with the eval's `input` and `reference` where it has none of its own.
/// The first problem is an error: its code (`eval/test`, `eval/dataset`, `eval/case`) and message.
pub fn resolve_cases(
    eval: &EvalSpec,
    tests: &[Spanned<TestSpec>],
    dataset: Option<(&str, &str)>,
    variables: &[Variable],
) -> Result<Vec<Case>, (Code, String)> {
    let mut cases = match &eval.cases {
        CasesSpec::Inline(vars) => {
            vec![Case { label: "vars".into(), vars: json_vars(vars), input: None, reference: None }]
        }
        CasesSpec::Test(name) => {
            let test = tests
                .iter()
                .find(|test| test.get_ref().name.get_ref() == name.get_ref())
                .ok_or_else(|| {
                    (Code::EvalTest, format!("the prompt has no test `{}`", name.get_ref()))
                })?;
            vec![Case {
                label: name.get_ref().clone(),
                vars: json_vars(&test.get_ref().vars),
                input: None,
                reference: None,
            }]
        }
        CasesSpec::Dataset(file) => {
            let (path, text) = dataset.ok_or_else(|| {
                (Code::EvalDataset, format!("the dataset `{}` was not read", file.get_ref()))
            })?;
            let parsed = parse_dataset(path, text).map_err(|d| (Code::EvalDataset, d.message))?;
            if format_of(path) == Some(Format::Csv) {
                parsed
                    .iter()
                    .map(|case| {
                        typed_case(case, variables).map_err(|message| {
                            (Code::EvalCase, format!("{}: {message}", case.label))
                        })
                    })
                    .collect::<Result<_, _>>()?
            } else {
                parsed
            }
        }
    };
    for case in &mut cases {
        if let Some(problem) = case_problems(&case.vars, variables).into_iter().next() {
            return Err((Code::EvalCase, format!("{}: {problem}", case.label)));
        }
        if case.input.is_none() {
            case.input = eval.input.as_ref().map(|input| input.get_ref().clone());
        }
        if case.reference.is_none() {
            case.reference = eval.reference.as_ref().map(|reference| reference.get_ref().clone());
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_rows_become_cases() {
        let text = "{\"vars\":{\"q\":\"a\"},\"input\":\"hi\"}\n\n{\"reference\":\"r\"}\n";
        let cases = parse_dataset("d.jsonl", text).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].label, "d.jsonl:1");
        assert_eq!(cases[0].vars["q"], "a");
        assert_eq!(cases[0].input.as_deref(), Some("hi"));
        assert_eq!(cases[1].label, "d.jsonl:3");
        assert_eq!(cases[1].reference.as_deref(), Some("r"));
    }

    #[test]
    fn a_bad_jsonl_line_is_reported_at_its_line_and_column() {
        let error = parse_dataset("d.jsonl", "{\"vars\":{}}\n{\"vars\": x}\n").unwrap_err();
        let location = error.location.unwrap();
        assert_eq!((location.start.line, location.start.column), (2, 10), "{}", error.message);
        assert!(error.message.starts_with("line 2 of `d.jsonl` is not JSON"), "{}", error.message);
        let error = parse_dataset("d.jsonl", "{\"var\": {}}\n").unwrap_err();
        assert!(error.message.contains("unknown key `var`"), "{}", error.message);
        let error = parse_dataset("d.jsonl", "\n\n").unwrap_err();
        assert!(error.message.contains("has no rows"), "{}", error.message);
    }

    #[test]
    fn csv_quotes_escapes_and_newlines() {
        let text = "q,input,n\r\n\"a, \"\"b\"\"\",\"two\nlines\",3\nplain,,\n";
        let cases = parse_dataset("d.csv", text).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].vars["q"], "a, \"b\"");
        assert_eq!(cases[0].input.as_deref(), Some("two\nlines"));
        assert_eq!(cases[0].vars["n"], "3");
        assert_eq!(cases[0].label, "d.csv:2");
        assert_eq!(cases[1].label, "d.csv:4");
        assert_eq!(cases[1].vars.len(), 1);
        assert_eq!(cases[1].input, None);
    }

    #[test]
    fn bad_csv_is_reported_where_it_goes_wrong() {
        let at = |text: &str| {
            let error = parse_dataset("d.csv", text).unwrap_err();
            let location = error.location.unwrap();
            (location.start.line, location.start.column, error.message)
        };
        let (line, column, message) = at("q\n\"open\n");
        assert_eq!((line, column), (2, 1), "{message}");
        assert!(message.contains("never closed"), "{message}");
        let (line, column, message) = at("q\nab\"c\n");
        assert_eq!((line, column), (2, 3), "{message}");
        let (line, column, message) = at("q\n\"a\"b\n");
        assert_eq!((line, column), (2, 4), "{message}");
        let (line, _, message) = at("q,r\n1\n");
        assert_eq!(line, 2);
        assert!(message.contains("has 1 field, the header 2"), "{message}");
        let (_, _, message) = at("q,q\n1,2\n");
        assert!(message.contains("twice"), "{message}");
    }

    #[test]
    fn too_many_rows_are_refused() {
        let text = format!("q\n{}", "x\n".repeat(MAX_DATASET_ROWS + 1));
        assert!(parse_dataset("d.csv", &text).unwrap_err().message.contains("more than"));
        let text = "{}\n".repeat(MAX_DATASET_ROWS + 1);
        assert!(parse_dataset("d.jsonl", &text).unwrap_err().message.contains("more than"));
        let text = format!("q\n{}", "x\n".repeat(MAX_DATASET_ROWS));
        assert_eq!(parse_dataset("d.csv", &text).unwrap().len(), MAX_DATASET_ROWS);
    }

    #[test]
    fn cells_take_the_contract_types() {
        let variable = |ty: Type| Variable {
            name: "v".into(),
            ty,
            required: true,
            description: None,
            user_source: false,
            span: 0..0,
        };
        assert_eq!(cell_value(&variable(Type::Integer), " 42").unwrap(), Value::from(42));
        assert_eq!(cell_value(&variable(Type::Number), "0.5").unwrap(), Value::from(0.5));
        assert_eq!(cell_value(&variable(Type::Boolean), "true").unwrap(), Value::Bool(true));
        assert!(cell_value(&variable(Type::Integer), "4.2").is_err());
        assert!(cell_value(&variable(Type::Boolean), "yes").is_err());
        let items = Box::new(variable(Type::Integer));
        assert_eq!(
            cell_value(&variable(Type::Array(items)), "[1,2]").unwrap(),
            serde_json::json!([1, 2])
        );
    }
}
