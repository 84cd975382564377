//! The CI output formats of `check`: `--format github` (workflow commands, with their escaping and
//! GitHub's cap of 10 annotations per severity) and `--format sarif` (SARIF 2.1.0, validated against
//! the official schema in `tests/schemas/`). Snapshots of both for a small broken repository.

use std::collections::BTreeSet;

use promptctl::diagnostic::{Code, Diagnostic, Severity};
use promptctl::report::{self, github_data, github_property};
use serde_json::Value;

use crate::support::Repo;

const SARIF_SCHEMA: &str = include_str!("../schemas/sarif-2.1.0.json");

fn sarif_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(SARIF_SCHEMA).expect("the SARIF schema is JSON");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
    jsonschema::validator_for(&schema).expect("the SARIF schema compiles")
}

/// Validates a SARIF log against the SARIF 2.1.0 schema, listing every violation.
#[track_caller]
fn assert_valid_sarif(text: &str) -> Value {
    let log: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    let validator = sarif_validator();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("at {} (schema {}): {e}", e.instance_path(), e.schema_path()))
        .collect();
    assert!(errors.is_empty(), "invalid SARIF:\n{}\n{text}", errors.join("\n"));
    log
}

/// A project with an error, a warning and a problem about a whole file whose name needs escaping.
fn broken_repo() -> Repo {
    Repo::new(&[
        ("prompts/hello/prompt.toml", "description = \"Greets a user by name\"\n"),
        (
            "prompts/hello/v1.prompt",
            "+++\nvariables.name = { type = \"string\" }\nvariables.unused = { type = \"string\" }\n+++\nHello, {{name}}! Let us play {{gme_name}}.\n",
        ),
        ("prompts/hello/notes, draft: 2.txt", "not a version\n"),
    ])
}

// ---------------------------------------------------------------------------------------------
// --format github

#[test]
fn github_escaping() {
    // (input, as data, as a property): @actions/core's escapeData and escapeProperty.
    let table = [
        ("plain text", "plain text", "plain text"),
        ("100%", "100%25", "100%25"),
        ("%0A is not a newline", "%250A is not a newline", "%250A is not a newline"),
        ("a\nb", "a%0Ab", "a%0Ab"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("key: value, more", "key: value, more", "key%3A value%2C more"),
        ("::error::injected", "::error::injected", "%3A%3Aerror%3A%3Ainjected"),
        ("prompts/a, b:c.txt", "prompts/a, b:c.txt", "prompts/a%2C b%3Ac.txt"),
        ("é ✓ `{{x}}`", "é ✓ `{{x}}`", "é ✓ `{{x}}`"),
        ("", "", ""),
    ];
    for (input, data, property) in table {
        assert_eq!(github_data(input), data, "data of {input:?}");
        assert_eq!(github_property(input), property, "property of {input:?}");
    }
}

fn diagnostic(code: Code, index: usize) -> Diagnostic {
    let text = "line one\nline two: {{x}}, end\n";
    Diagnostic::new(code, format!("prompts/p{index:02}/v1.prompt"), format!("problem {index}"))
        .at(text, 9..17)
        .help("fix it")
}

#[test]
fn github_caps_annotations_per_severity() {
    let mut diagnostics: Vec<Diagnostic> =
        (0..13).map(|i| diagnostic(Code::VariablesUndeclared, i)).collect();
    diagnostics.extend((0..12).map(|i| diagnostic(Code::VariablesUnused, 100 + i)));
    let output = report::github(&diagnostics);
    let lines: Vec<&str> = output.lines().collect();
    let errors = lines.iter().filter(|l| l.starts_with("::error ")).count();
    let warnings = lines.iter().filter(|l| l.starts_with("::warning ")).count();
    let notices: Vec<&&str> = lines.iter().filter(|l| l.starts_with("::notice::")).collect();
    assert_eq!((errors, warnings), (10, 10), "{output}");
    assert_eq!(
        notices,
        [&"::notice::3 errors and 2 warnings more not shown as annotations (GitHub shows 10 per severity); run `promptctl check` to see all"],
        "{output}"
    );
    assert_eq!(lines.len(), 21, "one line per command:\n{output}");
    assert_eq!(lines.last(), notices.first().copied(), "the notice comes last");
    // The first ten of each severity, in order.
    assert!(lines[0].ends_with("::problem 0%0Ahelp: fix it"), "{}", lines[0]);
    assert!(output.contains("::problem 9%0A") && !output.contains("::problem 10%0A"));
    assert!(output.contains("::problem 109%0A") && !output.contains("::problem 110%0A"));

    // Exactly ten of each: no notice. Eleven warnings only: the notice counts one warning.
    assert!(!report::github(&diagnostics[..10]).contains("::notice::"));
    let warnings_only = report::github(&diagnostics[13..24]);
    assert!(warnings_only.ends_with("::notice::1 warning more not shown as annotations (GitHub shows 10 per severity); run `promptctl check` to see all\n"), "{warnings_only}");
    assert_eq!(report::github(&[]), "");
}

#[test]
fn github_locations() {
    let text = "ab\ncd{{x}}ef\n";
    let one_line = Diagnostic::new(Code::VariablesUndeclared, "p/v1.prompt", "m").at(text, 5..10);
    let multi_line = Diagnostic::new(Code::VariablesUndeclared, "p/v1.prompt", "m").at(text, 1..6);
    let empty = Diagnostic::new(Code::VariablesUndeclared, "p/v1.prompt", "m").at(text, 5..5);
    let whole_file = Diagnostic::new(Code::StructureMissingManifest, "p", "m");
    let output = report::github(&[one_line, multi_line, empty, whole_file]);
    assert_eq!(
        output,
        "::error file=p/v1.prompt,line=2,endLine=2,col=3,endColumn=7,title=variables/undeclared::m\n\
         ::error file=p/v1.prompt,line=1,endLine=2,title=variables/undeclared::m\n\
         ::error file=p/v1.prompt,line=2,endLine=2,col=3,endColumn=3,title=variables/undeclared::m\n\
         ::error file=p,title=structure/missing-manifest::m\n"
    );
}

#[test]
fn github_output_of_a_broken_repository() {
    let repo = broken_repo();
    let run = repo.run(&["check", "--format", "github"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.lines().all(|line| line.starts_with("::")), "{}", run.stdout);
    assert!(run.stdout.contains("file=prompts/hello/notes%2C draft%3A 2.txt,"), "{}", run.stdout);
    insta::assert_snapshot!("github", repo.normalize(&run.stdout));
}

// ---------------------------------------------------------------------------------------------
// --format sarif

#[test]
fn sarif_rules_are_every_code() {
    let log = assert_valid_sarif(&report::sarif(&[]));
    let driver = &log["runs"][0]["tool"]["driver"];
    assert_eq!(driver["name"], "promptctl");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), Code::ALL.len());
    for (rule, code) in rules.iter().zip(Code::ALL) {
        assert_eq!(rule["id"], code.as_str());
        assert_eq!(rule["shortDescription"]["text"], code.summary());
        let level = match code.severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        assert_eq!(rule["defaultConfiguration"]["level"], level, "{}", code.as_str());
        let uri = rule["helpUri"].as_str().unwrap_or_default();
        let anchor = uri.split_once("docs/diagnostics.md#").map(|(_, anchor)| anchor);
        // GitHub's anchor of the heading "## `variables/undeclared`".
        let expected: String = code.as_str().chars().filter(|c| *c != '/').collect();
        assert_eq!(anchor, Some(expected.as_str()), "{uri}");
    }
    assert_eq!(log["runs"][0]["results"], Value::Array(Vec::new()));
}

#[test]
fn sarif_results_are_valid_and_fingerprinted() {
    let text = "ünïcode {{x}}\n{{x}}\n";
    let first = Diagnostic::new(Code::VariablesUndeclared, "prompts/a b/v1.prompt", "same")
        .at(text, 10..15)
        .help("do this");
    let second = Diagnostic::new(Code::VariablesUndeclared, "prompts/a b/v1.prompt", "same")
        .at(text, 18..23);
    let whole_file = Diagnostic::new(Code::StructureNoVersions, "prompts/empty", "no version");
    let log = assert_valid_sarif(&report::sarif(&[first.clone(), second, whole_file]));
    let results = log["runs"][0]["results"].as_array().expect("results");
    assert_eq!(log["runs"][0]["columnKind"], "unicodeCodePoints");

    let location = &results[0]["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "prompts/a%20b/v1.prompt");
    assert_eq!(
        report::sarif(&[Diagnostic::new(Code::StructureVersionFile, "a:b %.txt", "m")])
            .matches("\"uri\": \"a%3Ab%20%25.txt\"")
            .count(),
        1
    );
    assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    // Columns count characters: `{{x}}` starts at the ninth character of "ünïcode {{x}}".
    assert_eq!(
        location["region"],
        serde_json::json!({"startLine": 1, "startColumn": 9, "endLine": 1, "endColumn": 14})
    );
    assert_eq!(results[0]["message"]["text"], "same\nhelp: do this");
    assert_eq!(results[0]["level"], "error");
    let index = results[0]["ruleIndex"].as_u64().expect("ruleIndex") as usize;
    assert_eq!(log["runs"][0]["tool"]["driver"]["rules"][index]["id"], "variables/undeclared");
    assert!(results[2]["locations"][0]["physicalLocation"].get("region").is_none());

    // Same code, file and message: one fingerprint, told apart by the occurrence.
    let fingerprint = |result: &Value| {
        result["partialFingerprints"]["promptctl/v1"].as_str().expect("fingerprint").to_string()
    };
    let (a, b) = (fingerprint(&results[0]), fingerprint(&results[1]));
    assert_eq!(a.split_once(':').map(|p| p.0), b.split_once(':').map(|p| p.0));
    assert!(a.ends_with(":1") && b.ends_with(":2"), "{a} {b}");
    // Stable when lines are added above it.
    let moved = Diagnostic::new(Code::VariablesUndeclared, "prompts/a b/v1.prompt", "same")
        .at(&format!("\n\n{text}"), 12..17)
        .help("do this");
    let moved_log = assert_valid_sarif(&report::sarif(&[moved]));
    assert_eq!(fingerprint(&moved_log["runs"][0]["results"][0]), a);
    // A different message is a different alert.
    let other = Diagnostic::new(Code::VariablesUndeclared, "prompts/a b/v1.prompt", "other");
    let other_log = report::sarif(&[other]);
    assert!(!other_log.contains(a.split_once(':').map_or("", |p| p.0)));
}

#[test]
fn sarif_output_of_a_broken_repository() {
    let repo = broken_repo();
    let run = repo.run(&["check", "--format", "sarif"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let mut log = assert_valid_sarif(&run.stdout);
    let codes: BTreeSet<&str> = log["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|result| result["ruleId"].as_str())
        .collect();
    assert_eq!(
        codes,
        BTreeSet::from(["structure/version-file", "variables/undeclared", "variables/unused"])
    );
    // The rules are checked above, and rule indices here; the snapshot shows the results.
    let rules = log["runs"][0]["tool"]["driver"]["rules"].clone();
    for result in log["runs"][0]["results"].as_array_mut().expect("results") {
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        result.as_object_mut().expect("a result is an object").remove("ruleIndex");
    }
    let driver = &mut log["runs"][0]["tool"]["driver"];
    driver["rules"] = Value::String("[RULES]".into());
    driver["version"] = Value::String("[VERSION]".into());
    driver["semanticVersion"] = Value::String("[VERSION]".into());
    let shown = repo.normalize(&serde_json::to_string_pretty(&log).expect("serialise"));
    insta::assert_snapshot!("sarif", shown);
}

#[test]
fn the_sarif_schema_rejects_broken_logs() {
    // The validation above is only worth something if the schema bites.
    let good: Value = serde_json::from_str(&report::sarif(&[Diagnostic::new(
        Code::StructureNoVersions,
        "prompts/x",
        "m",
    )]))
    .expect("JSON");
    let validator = sarif_validator();
    assert!(validator.is_valid(&good));
    type Mutation = fn(&mut Value);
    let broken: [(&str, Mutation); 4] = [
        ("a level SARIF does not have", |log| {
            log["runs"][0]["results"][0]["level"] = "fatal".into()
        }),
        ("no version", |log| {
            log.as_object_mut().expect("object").remove("version");
        }),
        ("a message without text", |log| {
            log["runs"][0]["results"][0]["message"] = serde_json::json!({})
        }),
        ("a line 0", |log| {
            log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"] =
                serde_json::json!({"startLine": 0})
        }),
    ];
    for (what, mutate) in broken {
        let mut log = good.clone();
        mutate(&mut log);
        assert!(!validator.is_valid(&log), "the schema accepts {what}");
    }
}
