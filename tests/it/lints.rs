//! The lint policy end to end: `[lints]` levels in promptctl.toml and prompt.toml, `[[suppress]]`
//! entries of prompt.toml (applied to locked versions without editing them), `check
//! --deny-warnings`, and the codes no level can lower (the table in src/check/policy.rs and the
//! one in docs/diagnostics.md agree).

use promptctl::check::policy::NEVER_ALLOWED;
use serde_json::Value;

use crate::support::{Repo, Run, CONFIG};

const OK: i32 = 0;
const ERRORS: i32 = 1;
const FAILURE: i32 = 2;

const PROMPT_TOML: &str = "description = \"Lists the rules\"\n";

/// Three findings: `variables/unused` (line 4), `portability/length` and
/// `portability/number-format` (both line 6).
const V1: &str = r#"+++
variables.rules = { type = "array", items = "string" }
variables.temperature = { type = "number" }
variables.spare = { type = "string", required = false }
+++
There are {{rules.length}} rules at {{temperature}}:
{{#each rules}}
- {{this}}
{{/each}}
"#;

/// A project whose promptctl.toml ends with `lints` (a `[lints]` table, or nothing) and whose
/// prompt `hello` has `prompt_toml` and `V1`.
fn project(lints: &str, prompt_toml: &str) -> Repo {
    let repo =
        Repo::new(&[("prompts/hello/prompt.toml", prompt_toml), ("prompts/hello/v1.prompt", V1)]);
    repo.write("promptctl.toml", &format!("{CONFIG}{lints}"));
    repo
}

/// `check --format json <args>`: the exit code and the diagnostics.
fn json(repo: &Repo, args: &[&str]) -> (i32, Vec<Value>) {
    let run = repo.run(&[&["check", "--format", "json"], args].concat());
    let diagnostics = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a JSON array ({e}):\n{}{}", run.stdout, run.stderr));
    (run.code, diagnostics)
}

/// (code, severity, how it was silenced or "") of each JSON diagnostic, sorted.
fn shape(diagnostics: &[Value]) -> Vec<(String, String, String)> {
    let mut shape: Vec<(String, String, String)> = diagnostics
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["severity"].as_str().unwrap_or_default().to_string(),
                d["suppressed"]["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    shape.sort();
    shape
}

fn row(code: &str, severity: &str, silenced: &str) -> (String, String, String) {
    (code.to_string(), severity.to_string(), silenced.to_string())
}

fn human(repo: &Repo, args: &[&str]) -> Run {
    let mut run = repo.run(&[&["check"], args].concat());
    run.stderr = repo.normalize(&run.stderr);
    run
}

#[test]
fn without_a_policy_the_findings_are_warnings() {
    let repo = project("", PROMPT_TOML);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, OK);
    assert_eq!(
        shape(&diagnostics),
        [
            row("portability/length", "warning", ""),
            row("portability/number-format", "warning", ""),
            row("variables/unused", "warning", ""),
        ]
    );
}

#[test]
fn a_code_level_beats_its_group_level() {
    let lints = "\n[lints]\nportability = \"allow\"\n\"portability/length\" = \"deny\"\n";
    let repo = project(lints, PROMPT_TOML);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, ERRORS, "`deny` makes the warning an error");
    assert_eq!(
        shape(&diagnostics),
        [
            row("portability/length", "error", ""),
            row("portability/number-format", "warning", "allowed"),
            row("variables/unused", "warning", ""),
        ]
    );
    let allowed = diagnostics.iter().find(|d| d["suppressed"].is_object()).expect("allowed");
    assert_eq!(allowed["suppressed"]["by"], "portability = \"allow\"");
    assert_eq!(allowed["suppressed"]["file"], "promptctl.toml");
    let run = human(&repo, &[]);
    assert_eq!(run.code, ERRORS);
    assert!(
        !run.stderr.contains("number-format"),
        "an allowed code is not printed:\n{}",
        run.stderr
    );
    insta::assert_snapshot!("lints_code_over_group", run.stderr);
}

#[test]
fn all_is_the_least_specific_level() {
    let lints = "\n[lints]\nall = \"deny\"\nvariables = \"warn\"\n";
    let repo = project(lints, PROMPT_TOML);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, ERRORS);
    assert_eq!(
        shape(&diagnostics),
        [
            row("portability/length", "error", ""),
            row("portability/number-format", "error", ""),
            row("variables/unused", "warning", ""),
        ]
    );
}

#[test]
fn a_prompt_overrides_the_project() {
    let lints = "\n[lints]\nportability = \"deny\"\n";
    let prompt = format!("{PROMPT_TOML}\n[lints]\n\"portability/length\" = \"warn\"\n\"variables/unused\" = \"allow\"\n");
    let repo = project(lints, &prompt);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, ERRORS, "number-format is still denied by the project");
    assert_eq!(
        shape(&diagnostics),
        [
            row("portability/length", "warning", ""),
            row("portability/number-format", "error", ""),
            row("variables/unused", "warning", "allowed"),
        ]
    );
    let allowed = diagnostics.iter().find(|d| d["suppressed"].is_object()).expect("allowed");
    assert_eq!(allowed["suppressed"]["file"], "prompts/hello/prompt.toml");
    // The prompt's group level also wins over the project's.
    let prompt = format!("{PROMPT_TOML}\n[lints]\nportability = \"allow\"\n");
    repo.write("prompts/hello/prompt.toml", &prompt);
    let run = human(&repo, &[]);
    assert_eq!(run.code, OK, "{}", run.stderr);
    assert!(
        run.stderr.ends_with("checked 1 prompt, 1 version: 1 warning (2 allowed by [lints])\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn deny_warnings_makes_every_warning_an_error() {
    let repo = project("", PROMPT_TOML);
    assert_eq!(repo.run(&["check"]).code, OK);
    let (code, diagnostics) = json(&repo, &["--deny-warnings"]);
    assert_eq!(code, ERRORS);
    assert!(diagnostics.iter().all(|d| d["severity"] == "error"), "{diagnostics:?}");
    let run = human(&repo, &["--deny-warnings"]);
    assert_eq!(run.code, ERRORS);
    assert_eq!(
        run.stderr.matches("made an error by `--deny-warnings`").count(),
        3,
        "{}",
        run.stderr
    );
    insta::assert_snapshot!("lints_deny_warnings", run.stderr);
    // An allowed code stays allowed.
    let repo = project("\n[lints]\nall = \"allow\"\n", PROMPT_TOML);
    assert_eq!(repo.run(&["check", "--deny-warnings"]).code, OK);
}

#[test]
fn a_never_allowed_code_refuses_allow() {
    for (key, level) in
        [("\"security/secret\"", "allow"), ("\"lock/modified\"", "warn"), ("syntax", "allow")]
    {
        let repo = project(&format!("\n[lints]\n{key} = \"{level}\"\n"), PROMPT_TOML);
        let run = human(&repo, &[]);
        assert_eq!(run.code, FAILURE, "{key}: {}", run.stderr);
        let line = CONFIG.lines().count() + 3;
        assert!(
            run.stderr.contains(&format!("promptctl.toml:{line}:{}", key.len() + 4)),
            "{key}: the value's line and column:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("can be set to") || run.stderr.contains("can never be set to"),
            "{}",
            run.stderr
        );
    }
    let repo = project("\n[lints]\n\"security/secret\" = \"allow\"\n", PROMPT_TOML);
    let run = human(&repo, &[]);
    insta::assert_snapshot!("lints_never_allowed_in_promptctl_toml", run.stderr);
    // In a prompt.toml, the same is a `lints/invalid`, and the setting is not applied.
    let prompt = format!("{PROMPT_TOML}\n[lints]\n\"lock/modified\" = \"allow\"\n");
    let repo = project("", &prompt);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, ERRORS);
    let invalid: Vec<&Value> =
        diagnostics.iter().filter(|d| d["code"] == "lints/invalid").collect();
    assert_eq!(invalid.len(), 1, "{diagnostics:?}");
    assert_eq!(invalid[0]["message"], "`lock/modified` can never be set to `allow`");
    assert_eq!((invalid[0]["line"].as_u64(), invalid[0]["column"].as_u64()), (Some(4), Some(19)));
    // A group's `allow` passes the never-allowed codes of the group by.
    let repo = Repo::new(&[
        (
            "prompts/hello/prompt.toml",
            format!("{PROMPT_TOML}\n[lints]\nsecurity = \"allow\"\n").as_str(),
        ),
        (
            "prompts/hello/v1.prompt",
            "+++\n+++\nUse ghp_R7x2Kq9Lm4Np8Tv3Wb6Yc1Zd5Fh0Gj2Hs7Ak4Dl here.\n",
        ),
    ]);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, ERRORS);
    assert_eq!(shape(&diagnostics), [row("security/secret", "error", "")]);
}

#[test]
fn an_unknown_code_or_level_is_named_with_a_suggestion() {
    let repo = project("\n[lints]\nportabilty = \"allow\"\n", PROMPT_TOML);
    let run = human(&repo, &[]);
    assert_eq!(run.code, FAILURE);
    let line = CONFIG.lines().count() + 3;
    assert!(run.stderr.contains(&format!("promptctl.toml:{line}:1")), "{}", run.stderr);
    assert!(run.stderr.contains("did you mean `portability`?"), "{}", run.stderr);
    insta::assert_snapshot!("lints_unknown_group_in_promptctl_toml", run.stderr);
    let repo = project("\n[lints]\nportability = \"silence\"\n", PROMPT_TOML);
    let run = human(&repo, &[]);
    assert_eq!(run.code, FAILURE);
    assert!(run.stderr.contains("`silence` is not a lint level"), "{}", run.stderr);

    let prompt = format!("{PROMPT_TOML}\n[lints]\n\"portability/lenght\" = \"allow\"\n\n[[suppress]]\ncode = \"variables/unusd\"\nreason = \"kept for v2\"\n");
    let repo = project("", &prompt);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, ERRORS);
    let helps: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d["code"] == "lints/invalid")
        .map(|d| d["help"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(helps, ["did you mean `portability/length`?", "did you mean `variables/unused`?"]);
    let run = human(&repo, &[]);
    insta::assert_snapshot!("lints_unknown_code_in_prompt_toml", run.stderr);
}

#[test]
fn a_suppression_silences_a_locked_version_without_editing_it() {
    let repo = project("", PROMPT_TOML);
    assert_eq!(repo.run(&["lock"]).code, OK);
    let (v1, lock) = (repo.read("prompts/hello/v1.prompt"), repo.read("prompts.lock"));
    let prompt = format!(
        "{PROMPT_TOML}\n[[suppress]]\ncode = \"portability/length\"\nversion = 1\nline = 6\nreason = \"only rendered by handlebars.js\"\n\n[[suppress]]\ncode = \"variables/unused\"\nreason = \"v2 prints it\"\n"
    );
    repo.write("prompts/hello/prompt.toml", &prompt);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, OK);
    assert_eq!(
        shape(&diagnostics),
        [
            row("portability/length", "warning", "suppressed"),
            row("portability/number-format", "warning", ""),
            row("variables/unused", "warning", "suppressed"),
        ]
    );
    let length = diagnostics.iter().find(|d| d["code"] == "portability/length").expect("length");
    assert_eq!(length["suppressed"]["reason"], "only rendered by handlebars.js");
    assert_eq!(length["suppressed"]["by"], "prompts/hello/prompt.toml:3");
    let run = human(&repo, &[]);
    assert_eq!(run.code, OK);
    assert!(
        run.stderr.ends_with("checked 1 prompt, 1 version: 1 warning (2 suppressed)\n"),
        "{}",
        run.stderr
    );
    // SARIF viewers get them as results with `suppressions`.
    let sarif = repo.run(&["check", "--format", "sarif"]);
    let sarif: Value = serde_json::from_str(&sarif.stdout).expect("SARIF is JSON");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let suppressed: Vec<&Value> = results.iter().filter(|r| r["suppressions"].is_array()).collect();
    assert_eq!((results.len(), suppressed.len()), (3, 2));
    let length = suppressed.iter().find(|r| r["ruleId"] == "portability/length").expect("length");
    assert_eq!(
        length["suppressions"][0]["justification"],
        "only rendered by handlebars.js (prompts/hello/prompt.toml:3)"
    );
    assert_eq!(repo.read("prompts/hello/v1.prompt"), v1, "the locked version is untouched");
    assert_eq!(repo.read("prompts.lock"), lock);
    assert!(!run.stderr.contains("lock/"), "{}", run.stderr);
    // A suppression is for its code, version and line only.
    let prompt = format!(
        "{PROMPT_TOML}\n[[suppress]]\ncode = \"portability/length\"\nversion = 1\nline = 7\nreason = \"moved\"\n"
    );
    repo.write("prompts/hello/prompt.toml", &prompt);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, OK);
    assert_eq!(
        shape(&diagnostics),
        [
            row("lints/unused-suppression", "warning", ""),
            row("portability/length", "warning", ""),
            row("portability/number-format", "warning", ""),
            row("variables/unused", "warning", ""),
        ]
    );
}

#[test]
fn a_suppression_needs_a_reason_and_a_suppressible_code() {
    for reason in ["", "reason = \"  \"\n"] {
        let prompt =
            format!("{PROMPT_TOML}\n[[suppress]]\ncode = \"portability/length\"\n{reason}");
        let repo = project("", &prompt);
        let (code, diagnostics) = json(&repo, &[]);
        assert_eq!(code, ERRORS, "{reason:?}");
        assert_eq!(
            shape(&diagnostics),
            [
                row("lints/invalid", "error", ""),
                row("portability/length", "warning", ""),
                row("portability/number-format", "warning", ""),
                row("variables/unused", "warning", ""),
            ],
            "{reason:?}: a suppression without a reason suppresses nothing"
        );
        let invalid = diagnostics.iter().find(|d| d["code"] == "lints/invalid").expect("invalid");
        assert_eq!(invalid["message"], "the suppression of `portability/length` gives no reason");
    }
    let prompt = format!("{PROMPT_TOML}\n[[suppress]]\ncode = \"lock/modified\"\nreason = \"we edited it\"\n\n[[suppress]]\ncode = \"portability/length\"\nversion = 4\nreason = \"r\"\n");
    let repo = project("", &prompt);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, ERRORS);
    let messages: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d["code"] == "lints/invalid")
        .map(|d| d["message"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        messages,
        [
            "`lock/modified` cannot be suppressed",
            "the suppression names version 4, which does not exist"
        ]
    );
    let run = human(&repo, &[]);
    insta::assert_snapshot!("lints_invalid_suppressions", run.stderr);
}

#[test]
fn an_unused_suppression_is_a_warning_at_its_entry() {
    let prompt = format!(
        "{PROMPT_TOML}\n[[suppress]]\ncode = \"portability/adjacent-numbers\"\nreason = \"copied from another prompt\"\n"
    );
    let repo = project("\n[lints]\nportability = \"allow\"\nvariables = \"allow\"\n", &prompt);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, OK);
    let unused =
        diagnostics.iter().find(|d| d["code"] == "lints/unused-suppression").expect("unused");
    assert_eq!(
        (unused["file"].as_str(), unused["line"].as_u64()),
        (Some("prompts/hello/prompt.toml"), Some(3))
    );
    let run = human(&repo, &[]);
    insta::assert_snapshot!("lints_unused_suppression", run.stderr);
    // Its level is configurable like any warning's.
    repo.write("promptctl.toml", &format!("{CONFIG}\n[lints]\nportability = \"allow\"\nvariables = \"allow\"\n\"lints/unused-suppression\" = \"deny\"\n"));
    assert_eq!(json(&repo, &[]).0, ERRORS);
}

#[test]
fn a_secret_is_suppressed_only_by_a_reasoned_entry_and_stays_visible() {
    let token = "ghp_R7x2Kq9Lm4Np8Tv3Wb6Yc1Zd5Fh0Gj2Hs7Ak4Dl";
    let prompt = format!(
        "{PROMPT_TOML}\n[[suppress]]\ncode = \"security/secret\"\nversion = 1\nline = 3\nreason = \"revoked; the example of a leaked token\"\n"
    );
    let repo = Repo::new(&[
        ("prompts/hello/prompt.toml", prompt.as_str()),
        (
            "prompts/hello/v1.prompt",
            format!("+++\n+++\nA leaked token looks like {token}.\n").as_str(),
        ),
    ]);
    let run = repo.run(&["check", "--format", "json"]);
    assert_eq!(run.code, OK, "{}", run.stdout);
    assert!(!run.stdout.contains(token), "no output prints a secret");
    let diagnostics: Vec<Value> = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(shape(&diagnostics), [row("security/secret", "error", "suppressed")]);
    let human = human(&repo, &[]);
    assert!(human.stderr.ends_with("no problems (1 suppressed)\n"), "{}", human.stderr);
}

#[test]
fn the_never_allowed_table_is_documented() {
    let docs = include_str!("../../docs/diagnostics.md");
    let section = docs
        .split("\n## Lint levels and suppressions\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/diagnostics.md has a `## Lint levels and suppressions` section");
    let table = section
        .split("| code | suppressible in prompt.toml | why |")
        .nth(1)
        .expect("the section has the never-allowed table");
    let mut documented = Vec::new();
    for line in table.lines().skip(2) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        documented.push((cells[1].trim_matches('`').to_string(), cells[2] == "yes"));
    }
    let table: Vec<(String, bool)> = NEVER_ALLOWED
        .iter()
        .map(|(code, suppressible, _)| (code.as_str().to_string(), *suppressible))
        .collect();
    assert_eq!(
        documented, table,
        "docs/diagnostics.md and NEVER_ALLOWED (src/check/policy.rs) differ"
    );
}

#[test]
fn review_follows_the_same_policy() {
    let repo = crate::review::GitRepo::base(&[
        ("prompts/hello/prompt.toml", PROMPT_TOML),
        ("prompts/hello/v1.prompt", "+++\nvariables.rules = { type = \"array\", items = \"string\" }\n+++\n{{#each rules}}\n- {{this}}\n{{/each}}\n"),
    ]);
    repo.write("prompts/hello/v2.prompt", V1);
    let lints = |report: &Value| -> Vec<(String, String)> {
        let prompts = report["prompts"].as_array().expect("prompts");
        let hello = prompts.iter().find(|p| p["name"] == "hello").expect("hello");
        let mut lints: Vec<(String, String)> = hello["lints"]
            .as_array()
            .map(|lints| {
                lints
                    .iter()
                    .map(|d| {
                        (
                            d["code"].as_str().unwrap_or_default().into(),
                            d["severity"].as_str().unwrap_or_default().into(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        lints.sort();
        lints
    };
    let review = |repo: &crate::review::GitRepo| -> Value {
        let run = repo.review(&["--base", "main", "--format", "json"]);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr))
    };
    let warning = |code: &str| (code.to_string(), "warning".to_string());
    assert_eq!(
        lints(&review(&repo)),
        [
            warning("portability/length"),
            warning("portability/number-format"),
            warning("variables/unused")
        ]
    );
    repo.write(
        "prompts/hello/prompt.toml",
        &format!(
            "{PROMPT_TOML}\n[lints]\nportability = \"allow\"\n\"variables/unused\" = \"deny\"\n"
        ),
    );
    assert_eq!(lints(&review(&repo)), [("variables/unused".to_string(), "error".to_string())]);
}

#[test]
fn an_inline_allow_is_counted_and_listed_too() {
    let token = "ghp_R7x2Kq9Lm4Np8Tv3Wb6Yc1Zd5Fh0Gj2Hs7Ak4Dl";
    let v1 = format!(
        "+++\n+++\n{{{{!-- promptctl-allow: security/secret reason=\"revoked example\" --}}}}\nA leaked token looks like {token}.\n"
    );
    let repo = Repo::new(&[
        ("prompts/hello/prompt.toml", PROMPT_TOML),
        ("prompts/hello/v1.prompt", v1.as_str()),
    ]);
    let run = repo.run(&["check", "--format", "json"]);
    assert_eq!(run.code, OK, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains(token));
    let diagnostics: Vec<Value> = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(shape(&diagnostics), [row("security/secret", "error", "suppressed")]);
    assert_eq!(diagnostics[0]["suppressed"]["reason"], "revoked example");
    assert_eq!(diagnostics[0]["suppressed"]["by"], "prompts/hello/v1.prompt:3");
    let human = human(&repo, &[]);
    assert_eq!(human.stderr, "checked 1 prompt, 1 version: no problems (1 suppressed)\n");
}

#[test]
fn warn_lowers_an_error_that_can_be_lowered() {
    let crlf = "+++\r\n+++\r\nHello.\r\n";
    let files = [("prompts/hello/prompt.toml", PROMPT_TOML), ("prompts/hello/v1.prompt", crlf)];
    let repo = Repo::new(&files);
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, ERRORS);
    assert_eq!(shape(&diagnostics), [row("security/carriage-return", "error", "")]);
    repo.write(
        "promptctl.toml",
        &format!("{CONFIG}\n[lints]\n\"security/carriage-return\" = \"warn\"\n"),
    );
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, OK);
    assert_eq!(shape(&diagnostics), [row("security/carriage-return", "warning", "")]);
    let note = diagnostics[0]["note"].as_str().unwrap_or_default();
    assert!(note.contains("made a warning by `\"security/carriage-return\" = \"warn\"`"), "{note}");
    // `--deny-warnings` still makes it an error.
    assert_eq!(json(&repo, &["--deny-warnings"]).0, ERRORS);
}

#[test]
fn a_suppression_waits_while_its_locked_version_is_edited() {
    let prompt = format!(
        "{PROMPT_TOML}\n[[suppress]]\ncode = \"portability/length\"\nversion = 1\nline = 6\nreason = \"only rendered by handlebars.js\"\n"
    );
    let repo = project("", &prompt);
    assert_eq!(repo.run(&["lock"]).code, OK);
    repo.write("prompts/hello/v1.prompt", &format!("{V1}Edited.\n"));
    let (code, diagnostics) = json(&repo, &[]);
    assert_eq!(code, ERRORS);
    assert_eq!(
        shape(&diagnostics),
        [row("lock/modified", "error", "")],
        "no unused-suppression warning"
    );
}
