//! Grading one answer against one assertion (docs/eval.md). The text assertions, the token,
//! latency and cost ceilings and `json` are graded here from the answer alone; `similar_to` from
//! two embeddings (`cosine`) and `judge` from the judge model's answer (`verdict`), which the
//! runner fetches.

use super::provider::Completion;
use crate::syntax::eval::AssertKind;
use serde::Serialize;

/// The grade of one answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grade {
    pub passed: bool,
    /// Similarity or the judge's score, where the assertion has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Why it failed (or the judge's reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Grade {
    fn check(passed: bool, reason: impl FnOnce() -> String) -> Grade {
        Grade { passed, score: None, reason: (!passed).then(reason) }
    }
}

/// An assertion ready to grade: its regex compiled and its JSON Schema loaded.
pub enum Prepared {
    Regex(regex::Regex),
    Schema(Box<jsonschema::Validator>),
    Plain,
}

/// Compiles what `kind` needs; `schema` is the JSON Schema file's text for `json = "FILE"`.
pub fn prepare(kind: &AssertKind, schema: Option<&str>) -> Result<Prepared, String> {
    match kind {
        AssertKind::Regex(pattern) => regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map(Prepared::Regex)
            .map_err(|error| format!("the regex does not compile: {error}")),
        AssertKind::Json { schema: Some(file) } => {
            let text = schema.ok_or_else(|| format!("the JSON Schema `{file}` was not read"))?;
            let value: serde_json::Value = serde_json::from_str(text)
                .map_err(|error| format!("`{file}` is not JSON: {error}"))?;
            jsonschema::validator_for(&value)
                .map(|validator| Prepared::Schema(Box::new(validator)))
                .map_err(|error| format!("`{file}` is not a JSON Schema: {error}"))
        }
        _ => Ok(Prepared::Plain),
    }
}

/// Grades `answer` against an assertion that needs no further call; `None` for `similar_to` and
/// `judge`. `cost` is the call's estimated cost in USD, when the model has a price.
pub fn grade(
    kind: &AssertKind,
    prepared: &Prepared,
    answer: &Completion,
    cost: Option<f64>,
) -> Option<Grade> {
    let text = answer.text.as_str();
    Some(match kind {
        AssertKind::Contains(needle) => {
            Grade::check(text.contains(needle.as_str()), || format!("does not contain {needle:?}"))
        }
        AssertKind::NotContains(needle) => {
            Grade::check(!text.contains(needle.as_str()), || format!("contains {needle:?}"))
        }
        AssertKind::Regex(pattern) => match prepared {
            Prepared::Regex(regex) => {
                Grade::check(regex.is_match(text), || format!("does not match /{pattern}/"))
            }
            _ => Grade::check(false, || "the regex was not compiled".into()),
        },
        AssertKind::Json { .. } => match serde_json::from_str::<serde_json::Value>(text.trim()) {
            Err(error) => Grade::check(false, || format!("not JSON: {error}")),
            Ok(value) => match prepared {
                Prepared::Schema(validator) => {
                    let first = validator.iter_errors(&value).next().map(|error| {
                        format!(
                            "not valid against the schema at `{}`: {error}",
                            error.instance_path()
                        )
                    });
                    Grade::check(first.is_none(), || first.unwrap_or_default())
                }
                _ => Grade::check(true, String::new),
            },
        },
        AssertKind::MaxTokens(limit) => Grade::check(answer.output_tokens <= *limit, || {
            format!("{} output tokens, over {limit}", answer.output_tokens)
        }),
        AssertKind::MaxChars(limit) => {
            let chars = text.chars().count() as u64;
            Grade::check(chars <= *limit, || format!("{chars} characters, over {limit}"))
        }
        AssertKind::LatencyMs(limit) => Grade::check(answer.latency_ms <= *limit, || {
            format!("took {} ms, over {limit} ms", answer.latency_ms)
        }),
        AssertKind::Cost(limit) => match cost {
            Some(cost) => {
                Grade::check(cost <= *limit, || format!("cost ${cost:.6}, over ${limit:.6}"))
            }
            None => Grade::check(false, || "the model has no `price`: the cost is unknown".into()),
        },
        AssertKind::SimilarTo { .. } | AssertKind::Judge { .. } => return None,
    })
}

/// The cosine similarity of two vectors (0 when either is empty, zero or they differ in length).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na * nb)
}

/// Grades a similarity against its minimum.
pub fn similarity(score: f64, min: f64) -> Grade {
    Grade {
        passed: score >= min,
        score: Some(score),
        reason: (score < min).then(|| format!("similarity {score:.3}, under {min:.3}")),
    }
}

/// The judge's verdict, read from its answer: the first JSON object in the text with a boolean
/// `pass` (and optionally `score` 0–1 and `reason`).
pub fn verdict(answer: &str) -> Grade {
    for (start, _) in answer.match_indices('{') {
        let mut stream =
            serde_json::Deserializer::from_str(&answer[start..]).into_iter::<serde_json::Value>();
        let Some(Ok(serde_json::Value::Object(object))) = stream.next() else { continue };
        let Some(passed) = object.get("pass").and_then(serde_json::Value::as_bool) else {
            continue;
        };
        let score = object
            .get("score")
            .and_then(serde_json::Value::as_f64)
            .filter(|score| (0.0..=1.0).contains(score))
            .unwrap_or(if passed { 1.0 } else { 0.0 });
        let reason = object.get("reason").and_then(serde_json::Value::as_str).map(str::to_string);
        return Grade { passed, score: Some(score), reason };
    }
    Grade { passed: false, score: Some(0.0), reason: Some(not_a_verdict(answer)) }
}

/// Characters of a judge's answer quoted when it is not a verdict.
const VERDICT_EXCERPT_CHARS: usize = 120;

/// Why `answer` is no verdict, with its beginning (control characters escaped) to show what the
/// judge said instead.
fn not_a_verdict(answer: &str) -> String {
    let answer = answer.trim();
    if answer.is_empty() {
        return "the judge's answer is not a verdict: it is empty".into();
    }
    let excerpt = match answer.char_indices().nth(VERDICT_EXCERPT_CHARS) {
        Some((at, _)) => format!("{}…", &answer[..at]),
        None => answer.to_string(),
    };
    format!(
        "the judge's answer is not a verdict: it answered `{}`",
        crate::text::escape_controls(&excerpt)
    )
}

/// Grades `text` (a model's answer, from the fuzz target `eval_answer`) with every assertion that
/// reads the answer alone, and reads it as a judge's verdict.
#[doc(hidden)]
pub fn fuzz_grades(text: &str) {
    use std::sync::OnceLock;
    static PREPARED: OnceLock<Vec<(AssertKind, Prepared)>> = OnceLock::new();
    let prepared = PREPARED.get_or_init(|| {
        let schema = r#"{"type": "object", "required": ["pass"], "properties": {"pass": {"type": "boolean"}, "score": {"type": "number", "minimum": 0, "maximum": 1}}}"#;
        [
            (AssertKind::Contains("king".into()), None),
            (AssertKind::NotContains("I can't".into()), None),
            (AssertKind::Regex(r"(?i)\b(rook|king)s?\b".into()), None),
            (AssertKind::Json { schema: None }, None),
            (AssertKind::Json { schema: Some("verdict.schema.json".into()) }, Some(schema)),
            (AssertKind::MaxTokens(10), None),
            (AssertKind::MaxChars(100), None),
            (AssertKind::LatencyMs(1000), None),
            (AssertKind::Cost(0.01), None),
        ]
        .into_iter()
        .map(|(kind, schema)| {
            let prepared = prepare(&kind, schema).expect("the fuzz target's assertions prepare");
            (kind, prepared)
        })
        .collect()
    });
    let answer = Completion {
        text: text.to_string(),
        input_tokens: 100,
        output_tokens: text.len() as u64,
        latency_ms: 250,
        finish_reason: Some("stop".into()),
    };
    for (kind, prepared) in prepared {
        for cost in [None, Some(0.001)] {
            let grade = grade(kind, prepared, &answer, cost).expect("a text assertion grades");
            assert_eq!(grade.passed, grade.reason.is_none());
        }
    }
    let verdict = verdict(text);
    let score = verdict.score.expect("a verdict has a score");
    assert!((0.0..=1.0).contains(&score), "a verdict's score out of 0..=1: {score}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> Completion {
        Completion {
            text: text.into(),
            input_tokens: 10,
            output_tokens: 5,
            latency_ms: 250,
            finish_reason: None,
        }
    }

    fn graded(kind: AssertKind, text: &str, cost: Option<f64>) -> Grade {
        let prepared = prepare(&kind, None).unwrap();
        grade(&kind, &prepared, &answer(text), cost).unwrap()
    }

    #[test]
    fn text_and_ceiling_assertions() {
        assert!(graded(AssertKind::Contains("king".into()), "the king moves", None).passed);
        let missing = graded(AssertKind::Contains("rook".into()), "the king moves", None);
        assert_eq!(missing.reason.as_deref(), Some("does not contain \"rook\""));
        assert!(!graded(AssertKind::NotContains("king".into()), "the king", None).passed);
        assert!(graded(AssertKind::Regex("(?i)^THE".into()), "the king", None).passed);
        assert!(!graded(AssertKind::Regex("queen".into()), "the king", None).passed);
        assert!(graded(AssertKind::MaxTokens(5), "x", None).passed);
        assert!(!graded(AssertKind::MaxTokens(4), "x", None).passed);
        assert!(graded(AssertKind::MaxChars(3), "abé", None).passed);
        assert!(!graded(AssertKind::MaxChars(2), "abé", None).passed);
        assert!(graded(AssertKind::LatencyMs(250), "x", None).passed);
        assert!(!graded(AssertKind::LatencyMs(249), "x", None).passed);
        assert!(graded(AssertKind::Cost(0.01), "x", Some(0.001)).passed);
        assert!(!graded(AssertKind::Cost(0.01), "x", Some(0.02)).passed);
        assert!(!graded(AssertKind::Cost(0.01), "x", None).passed);
        assert!(prepare(&AssertKind::Regex("(".into()), None).is_err());
    }

    #[test]
    fn json_with_and_without_a_schema() {
        let plain = AssertKind::Json { schema: None };
        assert!(graded(plain.clone(), " {\"a\": 1}\n", None).passed);
        assert!(!graded(plain, "{\"a\": ", None).passed);
        let kind = AssertKind::Json { schema: Some("evals/s.json".into()) };
        let schema =
            r#"{"type":"object","required":["answer"],"properties":{"answer":{"type":"string"}}}"#;
        let prepared = prepare(&kind, Some(schema)).unwrap();
        assert!(grade(&kind, &prepared, &answer(r#"{"answer":"no"}"#), None).unwrap().passed);
        let wrong = grade(&kind, &prepared, &answer(r#"{"answer":3}"#), None).unwrap();
        assert!(!wrong.passed);
        assert!(wrong.reason.unwrap().contains("/answer"));
        assert!(prepare(&kind, Some("{")).is_err());
    }

    #[test]
    fn cosine_and_verdicts() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-12);
        assert_eq!(cosine(&[1.0], &[1.0, 2.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
        assert!(similarity(0.9, 0.8).passed);
        assert!(!similarity(0.7, 0.8).passed);
        let yes = verdict("Sure. {\"pass\": true, \"score\": 0.9, \"reason\": \"cites §3\"} done");
        assert_eq!(
            (yes.passed, yes.score, yes.reason.as_deref()),
            (true, Some(0.9), Some("cites §3"))
        );
        let no = verdict("{\"note\": {}} then {\"pass\": false, \"reason\": \"invents a rule\"}");
        assert_eq!((no.passed, no.score), (false, Some(0.0)));
        let none = verdict("I think it passes.");
        assert!(!none.passed);
        assert_eq!(
            none.reason.as_deref(),
            Some("the judge's answer is not a verdict: it answered `I think it passes.`")
        );
        let long = verdict(&format!("\u{1b}[2J{}", "y".repeat(500)));
        let reason = long.reason.unwrap();
        assert!(
            reason.starts_with("the judge's answer is not a verdict: it answered `\\u{1b}[2Jyyy")
        );
        assert!(reason.ends_with("…`") && reason.chars().count() < 200, "{reason}");
        assert!(!reason.chars().any(char::is_control), "{reason}");
        assert_eq!(
            verdict(" ").reason.as_deref(),
            Some("the judge's answer is not a verdict: it is empty")
        );
    }
}
