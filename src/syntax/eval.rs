//! `[[eval]]` tables of `prompt.toml` (docs/eval.md): which versions, cases and model, and the
//! assertions graded on each answer. Read with spans; `check::evals` validates them against the
//! project (models, contracts, datasets).

use super::walk::{get, Reader, Value};
use crate::diagnostic::Code;
use std::collections::BTreeMap;
use toml::de::DeValue;
use toml::Spanned;

pub use super::dataset::{cell_value, parse_dataset, resolve_cases, typed_case, MAX_DATASET_ROWS};

/// One `[[eval]]` table.
#[derive(Debug, Clone)]
pub struct EvalSpec {
    pub name: Spanned<String>,
    /// A `[models.NAME]`.
    pub model: Spanned<String>,
    /// Empty: the default set (the versions `[activate]` serves, and the newest).
    pub versions: Vec<Spanned<i64>>,
    pub cases: CasesSpec,
    /// The user message; `None`: the rendered prompt is the user message.
    pub input: Option<Spanned<String>>,
    /// The reference text of `similar_to = true` for cases that have none of their own.
    pub reference: Option<Spanned<String>>,
    /// Calls per case (1 or more).
    pub repeat: Spanned<u32>,
    pub asserts: Vec<Spanned<AssertSpec>>,
}

/// Where an eval's cases come from.
#[derive(Debug, Clone)]
pub enum CasesSpec {
    /// `vars = { … }` (or no vars: one case without variables).
    Inline(BTreeMap<Spanned<String>, Spanned<toml::Value>>),
    /// `test = "NAME"`: the vars of that `[[test]]`.
    Test(Spanned<String>),
    /// `dataset = "FILE"`: a JSONL or CSV file in the prompt's folder.
    Dataset(Spanned<String>),
}

/// One entry of `assert = [ … ]`.
#[derive(Debug, Clone)]
pub struct AssertSpec {
    pub kind: AssertKind,
    /// A required assertion under its pass rate fails the run (default true).
    pub required: bool,
    /// The share of calls that must pass, 0–1 (default 1.0).
    pub pass_rate: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AssertKind {
    Contains(String),
    NotContains(String),
    /// A pattern of the `regex` crate.
    Regex(String),
    /// Valid JSON; with a schema file (relative to the prompt's folder), valid against it.
    Json {
        schema: Option<String>,
    },
    MaxTokens(u64),
    MaxChars(u64),
    /// Cosine similarity of the answer's and the reference's embeddings at least `min`.
    /// `reference: None` (`similar_to = true`): each case's reference.
    SimilarTo {
        reference: Option<String>,
        min: f64,
        model: Option<String>,
    },
    /// A rubric graded by a judge model through the judge prompt.
    Judge {
        rubric: String,
        model: Option<String>,
        prompt: Option<String>,
    },
    LatencyMs(u64),
    /// USD per call.
    Cost(f64),
}

impl AssertKind {
    /// The key that names the assertion in `prompt.toml`.
    pub fn key(&self) -> &'static str {
        match self {
            AssertKind::Contains(_) => "contains",
            AssertKind::NotContains(_) => "not_contains",
            AssertKind::Regex(_) => "regex",
            AssertKind::Json { .. } => "json",
            AssertKind::MaxTokens(_) => "max_tokens",
            AssertKind::MaxChars(_) => "max_chars",
            AssertKind::SimilarTo { .. } => "similar_to",
            AssertKind::Judge { .. } => "judge",
            AssertKind::LatencyMs(_) => "latency_ms",
            AssertKind::Cost(_) => "cost",
        }
    }
}

/// One case of an eval: the vars the prompt renders with, and the user message and reference
/// text where the case has its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// How reports name the case: `vars`, the test's name, or `FILE:LINE` of a dataset row.
    pub label: String,
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub input: Option<String>,
    pub reference: Option<String>,
}

/// The most calls per case `repeat` may ask for.
pub const MAX_REPEAT: i64 = 1000;

/// The keys of an `[[eval]]` table.
const EVAL_KEYS: &[&str] = &[
    "name",
    "model",
    "versions",
    "vars",
    "test",
    "dataset",
    "input",
    "reference",
    "repeat",
    "assert",
];

/// The keys naming an assertion's kind.
const KINDS: &[&str] = &[
    "contains",
    "not_contains",
    "regex",
    "json",
    "max_tokens",
    "max_chars",
    "similar_to",
    "judge",
    "latency_ms",
    "cost",
];

/// The keys an assertion takes beside its kind.
const MODIFIERS: &[&str] = &["required", "pass_rate", "min", "model", "prompt"];

/// The versions an eval evaluates: its `versions`, or else the versions `[activate]` serves
/// (stable and canary) and the newest (`newest`, 0 when the prompt has none), in order.
pub fn eval_versions(eval: &EvalSpec, manifest: &super::prompt::Manifest, newest: u32) -> Vec<u32> {
    let mut versions: Vec<u32> = if eval.versions.is_empty() {
        let served = manifest.activate.values().map(|version| *version.get_ref());
        let canaries = manifest.canary.values().map(|canary| *canary.get_ref().version.get_ref());
        served.chain(canaries).filter_map(|number| u32::try_from(number).ok()).collect()
    } else {
        eval.versions.iter().filter_map(|number| u32::try_from(*number.get_ref()).ok()).collect()
    };
    if eval.versions.is_empty() && newest > 0 {
        versions.push(newest);
    }
    versions.retain(|number| *number >= 1);
    versions.sort_unstable();
    versions.dedup();
    versions
}

/// Reads `eval = [ … ]` (`[[eval]]` tables) of prompt.toml; problems go to `reader.errors`, with
/// help pointing to docs/eval.md.
pub(super) fn read_evals(reader: &mut Reader, value: &Value) -> Vec<Spanned<EvalSpec>> {
    let doc = std::mem::replace(&mut reader.doc, "eval.md");
    let mut evals = Vec::new();
    match value.get_ref() {
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                if let Some(eval) = read_eval(reader, item, index) {
                    evals.push(Spanned::new(reader.span(item.span()), eval));
                }
            }
        }
        _ => reader.error(
            value.span(),
            "`eval` must be an array of tables: write each eval as `[[eval]]`".into(),
            "expected [[eval]]",
            &format!("see {}", crate::text::docs("eval.md")),
        ),
    }
    reader.doc = doc;
    evals
}

fn help() -> String {
    format!("see {}", crate::text::docs("eval.md"))
}

fn read_eval(reader: &mut Reader, value: &Value, index: usize) -> Option<EvalSpec> {
    let path = format!("eval[{index}]");
    let table = reader.table(value, &path)?;
    reader.known_keys(table, EVAL_KEYS, "an [[eval]] table");
    let what = "an [[eval]] table";
    let name = reader
        .required(table, value.span(), "name", what)
        .and_then(|v| reader.spanned_string(v, &format_args!("{path}.name")));
    let name = name.filter(|name| {
        let empty = name.get_ref().trim().is_empty();
        if empty {
            let span = get(table, "name").map_or(0..0, |v| v.span());
            reader.error_code(
                Code::EvalInvalid,
                span,
                format!("`{path}.name` is empty"),
                "an empty name",
                "name the eval: reports and `--eval` select it by name",
            );
        }
        !empty
    });
    let model = reader
        .required(table, value.span(), "model", what)
        .and_then(|v| reader.spanned_string(v, &format_args!("{path}.model")));
    let versions = match get(table, "versions") {
        None => Some(Vec::new()),
        Some(list) => match list.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    reader.spanned_integer(item, &format_args!("{path}.versions[{i}]"))
                })
                .collect::<Vec<_>>()
                .into_iter()
                .collect(),
            _ => {
                reader.error(
                    list.span(),
                    format!("`{path}.versions` must be an array of version numbers, e.g. `[2, 3]`"),
                    "expected an array of integers",
                    &help(),
                );
                None
            }
        },
    };
    let sources: Vec<&Value> =
        ["vars", "test", "dataset"].iter().filter_map(|key| get(table, key)).collect();
    let cases = if sources.len() > 1 {
        reader.error_code(
            Code::EvalInvalid,
            sources[1].span(),
            format!("`{path}` takes one of `vars`, `test` and `dataset`, not {}", sources.len()),
            "a second source of cases",
            "keep one: inline `vars`, the vars of a `test`, or a `dataset` file",
        );
        None
    } else if let Some(vars) = get(table, "vars") {
        reader.values(vars, &format_args!("{path}.vars")).map(CasesSpec::Inline)
    } else if let Some(test) = get(table, "test") {
        reader.spanned_string(test, &format_args!("{path}.test")).map(CasesSpec::Test)
    } else if let Some(dataset) = get(table, "dataset") {
        reader.spanned_string(dataset, &format_args!("{path}.dataset")).map(CasesSpec::Dataset)
    } else {
        Some(CasesSpec::Inline(BTreeMap::new()))
    };
    let input = optional(
        get(table, "input").map(|v| reader.spanned_string(v, &format_args!("{path}.input"))),
    );
    let reference = optional(
        get(table, "reference")
            .map(|v| reader.spanned_string(v, &format_args!("{path}.reference"))),
    );
    let repeat = match get(table, "repeat") {
        None => Some(Spanned::new(reader.span(value.span()), 1)),
        Some(item) => {
            reader.spanned_integer(item, &format_args!("{path}.repeat")).and_then(|count| {
                match u32::try_from(*count.get_ref()) {
                    Ok(times) if (1..=MAX_REPEAT).contains(count.get_ref()) => {
                        Some(Spanned::new(count.span(), times))
                    }
                    _ => {
                        reader.error_code(
                            Code::EvalInvalid,
                            item.span(),
                            format!(
                                "`{path}.repeat` is {}, outside 1..={MAX_REPEAT}",
                                count.get_ref()
                            ),
                            "calls per case",
                            "repeat each case at least once (leave `repeat` out for once)",
                        );
                        None
                    }
                }
            })
        }
    };
    let asserts = match get(table, "assert") {
        None => Some(Vec::new()),
        Some(list) => match list.get_ref() {
            DeValue::Array(items) => {
                let read: Vec<_> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let spec = read_assert(reader, item, &format!("{path}.assert[{i}]"))?;
                        Some(Spanned::new(reader.span(item.span()), spec))
                    })
                    .collect();
                read.into_iter().collect()
            }
            _ => {
                reader.error(
                    list.span(),
                    format!("`{path}.assert` must be an array of inline tables, e.g. `[{{ contains = \"king\" }}]`"),
                    "expected an array",
                    &help(),
                );
                None
            }
        },
    };
    Some(EvalSpec {
        name: name?,
        model: model?,
        versions: versions?,
        cases: cases?,
        input: input?,
        reference: reference?,
        repeat: repeat?,
        asserts: asserts?,
    })
}

/// A key that may be absent (`Some(None)`) or present and valid (`Some(Some)`); `None`: present
/// and invalid.
fn optional<T>(item: Option<Option<T>>) -> Option<Option<T>> {
    item.map_or(Some(None), |inner| inner.map(Some))
}

/// A number in 0–1 (`pass_rate`, `min`).
fn share(reader: &mut Reader, value: &Value, path: &str) -> Option<f64> {
    let number = reader.number(value, &path)?;
    if (0.0..=1.0).contains(&number) {
        return Some(number);
    }
    reader.error_code(
        Code::EvalInvalid,
        value.span(),
        format!("`{path}` is {number}, outside 0–1"),
        "must lie in 0–1",
        "write a share between 0 and 1, e.g. 0.8",
    );
    None
}

/// A count that is not negative (`max_tokens`, `max_chars`, `latency_ms`).
fn count(reader: &mut Reader, value: &Value, path: &str) -> Option<u64> {
    let number = reader.integer(value, &path)?;
    u64::try_from(number).ok().or_else(|| {
        reader.error_code(
            Code::EvalInvalid,
            value.span(),
            format!("`{path}` is {number}, a negative limit"),
            "must be 0 or more",
            "write a limit of 0 or more",
        );
        None
    })
}

fn read_assert(reader: &mut Reader, value: &Value, path: &str) -> Option<AssertSpec> {
    let table = reader.table(value, &path)?;
    let allowed: Vec<&str> = KINDS.iter().chain(MODIFIERS).copied().collect();
    reader.known_keys(table, &allowed, "an assertion");
    let mut kinds: Vec<(&str, &Value)> =
        KINDS.iter().filter_map(|kind| Some((*kind, get(table, kind)?))).collect();
    // In the order they are written, so that "the second" is the second the author wrote.
    kinds.sort_by_key(|(_, item)| item.span().start);
    let (kind, item) = match kinds.as_slice() {
        [one] => *one,
        [] => {
            reader.error_code(
                Code::EvalInvalid,
                value.span(),
                format!("the assertion `{path}` names no kind"),
                "no assertion key",
                &format!("give it one of: {}", KINDS.join(", ")),
            );
            return None;
        }
        [_, (second, item), ..] => {
            reader.error_code(
                Code::EvalInvalid,
                item.span(),
                format!("the assertion `{path}` has {} kinds; `{second}` is a second", kinds.len()),
                "a second assertion kind",
                "write each assertion as its own inline table: `{ contains = \"a\" }, { max_chars = 100 }`",
            );
            return None;
        }
    };
    for (modifier, applies) in [
        ("min", kind == "similar_to"),
        ("model", kind == "similar_to" || kind == "judge"),
        ("prompt", kind == "judge"),
    ] {
        if let (Some(item), false) = (get(table, modifier), applies) {
            reader.error_code(
                Code::EvalInvalid,
                item.span(),
                format!("`{modifier}` does not apply to a `{kind}` assertion (`{path}`)"),
                "does not apply here",
                &format!("remove it; see {}", crate::text::docs("eval.md")),
            );
            return None;
        }
    }
    let key = format!("{path}.{kind}");
    let text = |reader: &mut Reader| reader.string(item, &key);
    let optional_string = |reader: &mut Reader, name: &str| {
        optional(get(table, name).map(|v| reader.string(v, &format_args!("{path}.{name}"))))
    };
    let kind = match kind {
        "contains" => AssertKind::Contains(text(reader)?),
        "not_contains" => AssertKind::NotContains(text(reader)?),
        "regex" => AssertKind::Regex(text(reader)?),
        "json" => match item.get_ref() {
            DeValue::Boolean(true) => AssertKind::Json { schema: None },
            DeValue::String(schema) => AssertKind::Json { schema: Some(schema.to_string()) },
            _ => {
                reader.error(
                    item.span(),
                    format!("`{key}` must be true or the path of a JSON Schema file"),
                    "expected true or a string",
                    &help(),
                );
                return None;
            }
        },
        "max_tokens" => AssertKind::MaxTokens(count(reader, item, &key)?),
        "max_chars" => AssertKind::MaxChars(count(reader, item, &key)?),
        "latency_ms" => AssertKind::LatencyMs(count(reader, item, &key)?),
        "cost" => {
            let cost = reader.number(item, &key)?;
            if cost < 0.0 {
                reader.error_code(
                    Code::EvalInvalid,
                    item.span(),
                    format!("`{key}` is {cost}, a negative cost"),
                    "must be 0 or more",
                    "write the most USD one call may cost, e.g. 0.002",
                );
                return None;
            }
            AssertKind::Cost(cost)
        }
        "similar_to" => {
            let reference = match item.get_ref() {
                DeValue::Boolean(true) => None,
                DeValue::String(reference) => Some(reference.to_string()),
                _ => {
                    reader.error(
                        item.span(),
                        format!(
                            "`{key}` must be a reference text, or true for each case's `reference`"
                        ),
                        "expected a string or true",
                        &help(),
                    );
                    return None;
                }
            };
            let min = match get(table, "min") {
                None => Some(0.8),
                Some(min) => share(reader, min, &format!("{path}.min")),
            };
            let model = optional_string(reader, "model");
            AssertKind::SimilarTo { reference, min: min?, model: model? }
        }
        _ => {
            let rubric = text(reader)?;
            if rubric.trim().is_empty() {
                reader.error_code(
                    Code::EvalInvalid,
                    item.span(),
                    format!("`{key}` is empty"),
                    "an empty rubric",
                    "say what the judge should look for in the answer",
                );
                return None;
            }
            let model = optional_string(reader, "model");
            let prompt = optional_string(reader, "prompt");
            AssertKind::Judge { rubric, model: model?, prompt: prompt? }
        }
    };
    let required = match get(table, "required") {
        None => Some(true),
        Some(flag) => reader.boolean(flag, &format_args!("{path}.required")),
    };
    let pass_rate = match get(table, "pass_rate") {
        None => Some(1.0),
        Some(rate) => share(reader, rate, &format!("{path}.pass_rate")),
    };
    Some(AssertSpec { kind, required: required?, pass_rate: pass_rate? })
}
