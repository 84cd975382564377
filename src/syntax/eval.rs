//! `[[eval]]` tables of `prompt.toml` (docs/eval.md): which versions, cases and model, and the
//! assertions graded on each answer. Read with spans; `check::evals` validates them against the
//! project (models, contracts, datasets).

use std::collections::BTreeMap;
use toml::Spanned;

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

/// How many rows a dataset may have.
pub const MAX_DATASET_ROWS: usize = 10_000;

/// Parses a dataset file (`.jsonl` or `.csv`, by `file`'s extension) into cases; the first bad
/// row is a diagnostic at its line and column. CSV cells are strings here: `check::evals`
/// converts them to the contract's types (`cell_value`).
#[allow(clippy::result_large_err)]
pub fn parse_dataset(file: &str, text: &str) -> Result<Vec<Case>, crate::diagnostic::Diagnostic> {
    let _ = text;
    Err(crate::diagnostic::Diagnostic::new(
        crate::diagnostic::Code::SyntaxToml,
        file,
        "datasets are not read yet",
    ))
}
