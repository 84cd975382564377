//! The results of a run, per eval and assertion (pass rate over calls, mean score, latency,
//! tokens, cost), the before/after delta with `--base`, and their JSON, markdown and human forms.
//! The JSON is what `review --eval FILE` reads back.

use super::run::{CallResult, Job, Outcome, Status};
use serde::{Deserialize, Serialize};

/// One eval of one version (one side with `--base`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvalResult {
    pub prompt: String,
    pub eval: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    pub version: u32,
    pub model: String,
    /// Cases × repetitions.
    pub calls: u32,
    pub answered: u32,
    pub not_recorded: u32,
    pub failed: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_latency_ms: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// USD, estimated from the tokens at the model's price; `None` without a price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    pub asserts: Vec<AssertResult>,
    /// The first errors of failed calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssertResult {
    pub assertion: String,
    pub required: bool,
    /// The pass rate it needs.
    pub threshold: f64,
    pub passed: u32,
    pub graded: u32,
    pub not_recorded: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_score: Option<f64>,
    pub verdict: Verdict,
    /// Up to three failures: the case and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    NotRecorded,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::NotRecorded => "not recorded",
        }
    }
}

/// A whole run's report: what `--format json` prints.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub evals: Vec<EvalResult>,
    /// USD spent on calls made in this run.
    pub spent: f64,
    pub stopped_by_budget: bool,
    /// With `--base`: the base revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

impl Report {
    /// Some required assertion is under its pass rate.
    pub fn failed(&self) -> bool {
        self.evals
            .iter()
            .filter(|e| e.side.as_deref() != Some("base"))
            .flat_map(|e| &e.asserts)
            .any(|a| a.required && a.verdict == Verdict::Fail)
    }

    /// Some call failed (a model error) or the budget stopped the run.
    pub fn broken(&self) -> bool {
        self.stopped_by_budget || self.evals.iter().any(|e| e.failed > 0)
    }

    pub fn not_recorded(&self) -> bool {
        self.evals
            .iter()
            .any(|e| e.not_recorded > 0 || e.asserts.iter().any(|a| a.not_recorded > 0))
    }
}

/// Sums the calls of each job.
pub fn summarize(jobs: &[Job], outcome: &Outcome, base: Option<String>) -> Report {
    let mut evals = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        let calls: Vec<&CallResult> = outcome.calls.iter().filter(|c| c.job == index).collect();
        let answered: Vec<&CallResult> =
            calls.iter().copied().filter(|c| matches!(c.status, Status::Answered(_))).collect();
        let count =
            |status: fn(&Status) -> bool| calls.iter().filter(|c| status(&c.status)).count() as u32;
        let completions = || answered.iter().filter_map(|c| c.completion.as_ref());
        let mean_latency_ms = (!answered.is_empty()).then(|| {
            completions().map(|c| c.latency_ms as f64).sum::<f64>() / answered.len() as f64
        });
        let costs: Vec<f64> = answered.iter().filter_map(|c| c.cost).collect();
        let errors = calls
            .iter()
            .filter_map(|c| match &c.status {
                Status::Failed(message) => Some(message.clone()),
                Status::OverBudget => Some("not called: it would pass the budget".into()),
                _ => None,
            })
            .take(3)
            .collect();
        let asserts = job
            .asserts
            .iter()
            .enumerate()
            .map(|(a, assertion)| {
                let mut passed = 0;
                let mut graded = 0;
                let mut not_recorded = 0;
                let mut scores = Vec::new();
                let mut failures = Vec::new();
                for call in &calls {
                    if call.unrecorded.get(a).copied().unwrap_or(false) {
                        not_recorded += 1;
                        continue;
                    }
                    let Some(grade) = call.grades.get(a).and_then(Option::as_ref) else {
                        if matches!(call.status, Status::Failed(_) | Status::OverBudget) {
                            graded += 1;
                        }
                        continue;
                    };
                    graded += 1;
                    if grade.passed {
                        passed += 1;
                    } else if failures.len() < 3 {
                        let case = &job.cases[call.case].label;
                        let why = grade.reason.clone().unwrap_or_default();
                        failures.push(format!("{case} #{}: {why}", call.repetition + 1));
                    }
                    scores.extend(grade.score);
                }
                let pass_rate = (graded > 0).then(|| f64::from(passed) / f64::from(graded));
                let threshold = assertion.spec.pass_rate;
                let verdict = if not_recorded > 0 {
                    Verdict::NotRecorded
                } else if pass_rate.is_some_and(|rate| rate + 1e-9 >= threshold) {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                };
                AssertResult {
                    assertion: assertion.label.clone(),
                    required: assertion.spec.required,
                    threshold,
                    passed,
                    graded,
                    not_recorded,
                    pass_rate,
                    mean_score: (!scores.is_empty())
                        .then(|| scores.iter().sum::<f64>() / scores.len() as f64),
                    verdict,
                    failures,
                }
            })
            .collect();
        evals.push(EvalResult {
            prompt: job.prompt.clone(),
            eval: job.eval.clone(),
            side: job.side.map(str::to_string),
            version: job.version,
            model: job.model.clone(),
            calls: calls.len() as u32,
            answered: answered.len() as u32,
            not_recorded: count(|s| *s == Status::NotRecorded),
            failed: count(|s| matches!(s, Status::Failed(_) | Status::OverBudget)),
            mean_latency_ms,
            input_tokens: completions().map(|c| c.input_tokens).sum(),
            output_tokens: completions().map(|c| c.output_tokens).sum(),
            cost: (!costs.is_empty()).then(|| costs.iter().sum()),
            asserts,
            errors,
        });
    }
    Report { evals, spent: outcome.spent, stopped_by_budget: outcome.stopped_by_budget, base }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("–".into(), |rate| format!("{:.0} %", rate * 100.0))
}

fn score(value: Option<f64>) -> String {
    value.map_or("–".into(), |value| format!("{value:.2}"))
}

fn money(value: Option<f64>) -> String {
    value.map_or("–".into(), |value| format!("${value:.6}"))
}

/// The results as a markdown table (also the human form: it reads well in a terminal), with the
/// before/after table when the report has two sides.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    if report.base.is_some() {
        out.push_str(&delta_markdown(report));
        out.push('\n');
    }
    out.push_str("| prompt | eval | version | assertion | pass rate | needed | score | result |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for eval in &report.evals {
        let version = match &eval.side {
            Some(side) => format!("v{} ({side})", eval.version),
            None => format!("v{}", eval.version),
        };
        for assertion in &eval.asserts {
            let needed = format!(
                "{}{}",
                percent(Some(assertion.threshold)),
                if assertion.required { "" } else { " (optional)" }
            );
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} ({}/{}) | {} | {} | {} |\n",
                eval.prompt,
                eval.eval,
                version,
                escape_cell(&assertion.assertion),
                percent(assertion.pass_rate),
                assertion.passed,
                assertion.graded,
                needed,
                score(assertion.mean_score),
                match (assertion.verdict, assertion.required) {
                    // Reported only: it fails nothing.
                    (Verdict::Fail, false) => "fail (optional)",
                    (verdict, _) => verdict.word(),
                },
            ));
        }
    }
    out.push_str("\n| prompt | eval | version | model | calls | not recorded | failed | latency | tokens in/out | cost |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for eval in &report.evals {
        out.push_str(&format!(
            "| {} | {} | v{}{} | {} | {} | {} | {} | {} | {}/{} | {} |\n",
            eval.prompt,
            eval.eval,
            eval.version,
            eval.side.as_ref().map(|s| format!(" ({s})")).unwrap_or_default(),
            eval.model,
            eval.calls,
            eval.not_recorded,
            eval.failed,
            eval.mean_latency_ms.map_or("–".into(), |ms| format!("{ms:.0} ms")),
            eval.input_tokens,
            eval.output_tokens,
            money(eval.cost),
        ));
    }
    for eval in &report.evals {
        for assertion in &eval.asserts {
            for failure in &assertion.failures {
                out.push_str(&format!(
                    "\n- `{}` / `{}` / {}: {}",
                    eval.prompt,
                    eval.eval,
                    escape_cell(&assertion.assertion),
                    escape_cell(failure)
                ));
            }
        }
        for error in &eval.errors {
            out.push_str(&format!(
                "\n- `{}` / `{}`: {}",
                eval.prompt,
                eval.eval,
                escape_cell(error)
            ));
        }
    }
    out.push_str(&format!("\nSpent ${:.6} on calls made in this run", report.spent));
    if report.stopped_by_budget {
        out.push_str("; the budget stopped the run");
    }
    out.push_str(".\n");
    out
}

/// The before/after table of a run with `--base`: each assertion's pass rate and score on both
/// sides and the change.
pub fn delta_markdown(report: &Report) -> String {
    let mut out = format!(
        "**Model evaluation** (base `{}` → head)\n\n| prompt | eval | assertion | base | head | Δ pass rate | Δ score |\n|---|---|---|---|---|---|---|\n",
        report.base.as_deref().unwrap_or("?")
    );
    for head in report.evals.iter().filter(|e| e.side.as_deref() == Some("head")) {
        let base = report.evals.iter().find(|e| {
            e.side.as_deref() == Some("base") && e.prompt == head.prompt && e.eval == head.eval
        });
        for (index, after) in head.asserts.iter().enumerate() {
            let before = base.and_then(|b| b.asserts.get(index));
            let side = |result: Option<&AssertResult>, version: Option<u32>| match (result, version)
            {
                (Some(result), Some(version)) => format!(
                    "v{version}: {} {}",
                    percent(result.pass_rate),
                    if result.verdict == Verdict::NotRecorded { "(not recorded)" } else { "" }
                )
                .trim_end()
                .to_string(),
                _ => "new".into(),
            };
            let change = |a: Option<f64>, b: Option<f64>, unit: f64, suffix: &str| match (a, b) {
                (Some(a), Some(b)) => format!("{:+.0}{suffix}", (b - a) * unit),
                _ => "–".into(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                head.prompt,
                head.eval,
                escape_cell(&after.assertion),
                side(before, base.map(|b| b.version)),
                side(Some(after), Some(head.version)),
                change(before.and_then(|b| b.pass_rate), after.pass_rate, 100.0, " pp"),
                match (before.and_then(|b| b.mean_score), after.mean_score) {
                    (Some(a), Some(b)) => format!("{:+.2}", b - a),
                    _ => "–".into(),
                },
            ));
        }
    }
    out
}

/// The section `review --eval` adds to the pull request's comment: the before/after table with
/// `--base`, else the results table; and a line when answers were not recorded.
pub fn review_section(report: &Report) -> String {
    if report.evals.is_empty() {
        return String::new();
    }
    let mut out = match report.base {
        Some(_) => delta_markdown(report),
        None => format!("**Model evaluation**\n\n{}", markdown(report)),
    };
    if report.not_recorded() {
        out.push_str("\nSome answers are not recorded: run `promptctl eval --record` with the models' keys and commit `prompts/*/evals/recorded/`.\n");
    }
    if report.failed() {
        out.push_str("\n**A required assertion is under its pass rate.**\n");
    }
    out
}

/// GitHub workflow commands for the required assertions that failed, then the markdown.
pub fn github(report: &Report) -> String {
    let mut out = String::new();
    for eval in report.evals.iter().filter(|e| e.side.as_deref() != Some("base")) {
        for assertion in eval.asserts.iter().filter(|a| a.required && a.verdict == Verdict::Fail) {
            out.push_str(&format!(
                "::error title=eval {}/{}::{} passed {} of {} calls, needs {}\n",
                eval.prompt,
                eval.eval,
                workflow_escape(&assertion.assertion),
                assertion.passed,
                assertion.graded,
                percent(Some(assertion.threshold)),
            ));
        }
    }
    out.push_str(&markdown(report));
    out
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn workflow_escape(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::assert::{Grade, Prepared};
    use crate::eval::cache::Origin;
    use crate::eval::provider::Completion;
    use crate::eval::run::{Assertion, CallResult, Case, Job, Outcome, Status};
    use crate::syntax::eval::{AssertKind, AssertSpec};

    fn job(side: Option<&'static str>, version: u32, pass_rate: f64) -> Job {
        let assertion = |kind: AssertKind, label: &str| Assertion {
            spec: AssertSpec { kind, required: true, pass_rate },
            label: label.into(),
            prepared: Prepared::Plain,
            model: None,
            judge: None,
        };
        Job {
            prompt: "rules".into(),
            eval: "castling".into(),
            side,
            version,
            model: "mini".into(),
            parameters: Default::default(),
            cases: vec![Case {
                label: "test chess".into(),
                system: None,
                user: "q".into(),
                input: None,
                reference: None,
            }],
            repeat: 4,
            asserts: vec![
                assertion(AssertKind::Contains("king".into()), "contains \"king\""),
                assertion(
                    AssertKind::Judge { rubric: "r".into(), model: None, prompt: None },
                    "judge",
                ),
            ],
            recorded: "recorded".into(),
        }
    }

    fn call(job: usize, repetition: u32, passed: bool, judge: Option<f64>) -> CallResult {
        let grade = |passed: bool, score: Option<f64>| Grade {
            passed,
            score,
            reason: (!passed).then(|| "does not contain \"king\"".to_string()),
        };
        CallResult {
            job,
            case: 0,
            repetition,
            status: Status::Answered(Origin::Recorded),
            completion: Some(Completion {
                text: "a".into(),
                input_tokens: 10,
                output_tokens: 2,
                latency_ms: 100 + u64::from(repetition) * 100,
                finish_reason: None,
            }),
            cost: Some(0.001),
            grades: vec![Some(grade(passed, None)), judge.map(|s| grade(s >= 0.5, Some(s)))],
            unrecorded: vec![false, judge.is_none()],
        }
    }

    #[test]
    fn pass_rates_thresholds_scores_and_not_recorded() {
        let jobs = [job(None, 1, 0.75)];
        let outcome = Outcome {
            calls: vec![
                call(0, 0, true, Some(0.9)),
                call(0, 1, true, Some(0.7)),
                call(0, 2, true, Some(0.8)),
                call(0, 3, false, Some(0.2)),
            ],
            used: Default::default(),
            spent: 0.0,
            stopped_by_budget: false,
        };
        let report = summarize(&jobs, &outcome, None);
        let eval = &report.evals[0];
        assert_eq!(
            (eval.calls, eval.answered, eval.input_tokens, eval.output_tokens),
            (4, 4, 40, 8)
        );
        assert_eq!(eval.mean_latency_ms, Some(250.0));
        assert!((eval.cost.unwrap() - 0.004).abs() < 1e-12);
        let contains = &eval.asserts[0];
        assert_eq!((contains.passed, contains.graded, contains.verdict), (3, 4, Verdict::Pass));
        assert_eq!(contains.failures, ["test chess #4: does not contain \"king\""]);
        let judge = &eval.asserts[1];
        assert!((judge.mean_score.unwrap() - 0.65).abs() < 1e-12);
        assert_eq!(judge.verdict, Verdict::Pass);
        assert!(!report.failed() && !report.broken() && !report.not_recorded());

        // Under the threshold: a failure; a judge answer missing offline: not recorded.
        let strict = [job(None, 1, 1.0)];
        let mut outcome = outcome;
        outcome.calls[1] = call(0, 1, true, None);
        let report = summarize(&strict, &outcome, None);
        assert_eq!(report.evals[0].asserts[0].verdict, Verdict::Fail);
        assert_eq!(report.evals[0].asserts[1].verdict, Verdict::NotRecorded);
        assert!(report.failed() && report.not_recorded());
        let markdown = markdown(&report);
        assert!(
            markdown.contains(
                "| rules | castling | v1 | contains \"king\" | 75 % (3/4) | 100 % | – | FAIL |"
            ),
            "{markdown}"
        );
        assert!(github(&report).starts_with("::error title=eval rules/castling::contains \"king\" passed 3 of 4 calls, needs 100 %\n"));
    }

    #[test]
    fn the_delta_table_pairs_base_and_head() {
        let jobs = [job(Some("base"), 1, 1.0), job(Some("head"), 2, 1.0)];
        let mut calls: Vec<CallResult> = (0..4).map(|r| call(0, r, true, Some(1.0))).collect();
        calls.extend((0..4).map(|r| call(1, r, r < 2, Some(0.5))));
        let outcome =
            Outcome { calls, used: Default::default(), spent: 0.25, stopped_by_budget: false };
        let report = summarize(&jobs, &outcome, Some("origin/main".into()));
        let table = delta_markdown(&report);
        assert!(table.starts_with("**Model evaluation** (base `origin/main` → head)"), "{table}");
        assert!(
            table.contains(
                "| rules | castling | contains \"king\" | v1: 100 % | v2: 50 % | -50 pp | – |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| rules | castling | judge | v1: 100 % | v2: 100 % | +0 pp | -0.50 |"),
            "{table}"
        );
        // Only the head's failures fail the run.
        assert!(report.failed());
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
        assert!(review_section(&report).contains("A required assertion is under its pass rate"));
        assert_eq!(review_section(&Report::default()), "");
    }
}
