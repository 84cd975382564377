//! Conformance with handlebars.js, the reference implementation non-Rust consumers render with:
//! every test and seed of every prompt in `prompts/`, and the corpus of tricky templates in
//! `tests/conformance/*.toml`, rendered by promptctl and by handlebars.js
//! (`compile(t, {noEscape: true, strict: true})`), must agree byte for byte, and where one fails
//! the other must fail too. The differences found, and what was done about each, are in
//! docs/portability.md.
//!
//! handlebars.js is installed by this harness into `target/conformance-node/` with npm, and run
//! once for all cases (`tests/conformance/render.js`). Without node or npm the comparison is
//! skipped with a loud message, or fails under `CI=true`; the promptctl side (the corpus snapshot
//! and its `error = true` expectations) is checked either way.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use promptctl::check::variables::Site;
use promptctl::check::{portability, vars_to_json};
use promptctl::diagnostic::Code;
use promptctl::render::Compiled;
use promptctl::syntax::prompt::{read_manifest, split_front_matter, toml_to_json, Type, Variable};
use serde_json::{json, Value};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One template rendered with one set of vars.
struct Case {
    /// Where it comes from, for messages: `whitespace.toml: standalone else`, or
    /// `prompts/cto: test meepleai (v1)`.
    origin: String,
    template: String,
    vars: Value,
    /// The corpus says handlebars.js throws on it (`error = true`); `None` for the prompts' cases,
    /// which must render.
    expect_error: Option<bool>,
    /// A known difference from handlebars.js, and the portability lint that warns about it
    /// (`lint = "portability/…"`); docs/portability.md explains each.
    lint: Option<Code>,
    /// The vars as TOML, to declare variables of their types for the lint.
    toml_vars: Option<toml::Table>,
}

/// What one implementation did with a case.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Rendered(String),
    Failed(String),
}

impl Outcome {
    fn failed(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
}

fn promptctl(case: &Case) -> Outcome {
    match Compiled::new(case.template.as_str()) {
        Err(error) => Outcome::Failed(format!("syntax: {}", error.message)),
        Ok(compiled) => match compiled.render(&case.vars) {
            Ok(text) => Outcome::Rendered(text),
            Err(error) => Outcome::Failed(format!("render: {}", error.message)),
        },
    }
}

/// The corpus: every `[[case]]` of every `tests/conformance/*.toml`, sorted by file.
fn corpus() -> Vec<Case> {
    let dir = manifest_dir().join("tests/conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("read a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {file}: {e}"));
        let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let allowed = ["case"];
        assert!(
            table.keys().all(|k| allowed.contains(&k.as_str())),
            "{file}: only [[case]] tables"
        );
        let list = table.get("case").and_then(toml::Value::as_array);
        let list = list.unwrap_or_else(|| panic!("{file}: no [[case]]"));
        let mut names = std::collections::BTreeSet::new();
        for entry in list {
            let entry = entry.as_table().unwrap_or_else(|| panic!("{file}: a case is a table"));
            for key in entry.keys() {
                assert!(
                    ["name", "template", "vars", "error", "lint"].contains(&key.as_str()),
                    "{file}: unknown key `{key}` in a case"
                );
            }
            let name = entry.get("name").and_then(toml::Value::as_str);
            let name = name.unwrap_or_else(|| panic!("{file}: a case without a `name`"));
            assert!(names.insert(name.to_string()), "{file}: two cases named `{name}`");
            let template = entry.get("template").and_then(toml::Value::as_str);
            let template = template.unwrap_or_else(|| panic!("{file}: `{name}` has no template"));
            let vars = entry.get("vars").unwrap_or_else(|| panic!("{file}: `{name}` has no vars"));
            assert!(vars.is_table(), "{file}: the vars of `{name}` are a table");
            let error = entry.get("error").map(|value| {
                value.as_bool().unwrap_or_else(|| panic!("{file}: `error` of `{name}` is a bool"))
            });
            let lint = entry.get("lint").map(|value| {
                let code = value.as_str().and_then(Code::parse);
                code.unwrap_or_else(|| panic!("{file}: `lint` of `{name}` is not a code: {value}"))
            });
            cases.push(Case {
                origin: format!("{file}: {name}"),
                template: template.to_string(),
                vars: toml_to_json(vars),
                expect_error: Some(error.unwrap_or(false)),
                lint,
                toml_vars: vars.as_table().cloned(),
            });
        }
    }
    cases
}

/// Every test and seed of every prompt in `prompts/`, against the versions it targets (the rule of
/// docs/format.md: the test's `version`, else every activated version, else the latest).
fn prompt_cases() -> Vec<Case> {
    let root = manifest_dir();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("prompts"))
        .expect("read prompts/")
        .map(|entry| entry.expect("read a directory entry").path())
        .filter(|path| path.join("prompt.toml").is_file())
        .collect();
    dirs.sort();
    let mut cases = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let manifest_path = format!("prompts/{name}/prompt.toml");
        let text = std::fs::read_to_string(dir.join("prompt.toml")).expect("read prompt.toml");
        let (manifest, problems) = read_manifest(&manifest_path, &text);
        assert!(problems.is_empty(), "{manifest_path}: {problems:?}");
        let manifest = manifest.unwrap_or_else(|| panic!("{manifest_path} does not parse"));
        let mut bodies = BTreeMap::new();
        for number in 1u32.. {
            let path = format!("prompts/{name}/v{number}.prompt");
            let Ok(text) = std::fs::read_to_string(root.join(&path)) else { break };
            let split = split_front_matter(&path, &text)
                .unwrap_or_else(|problem| panic!("{path}: {}", problem.message));
            bodies.insert(number, split.body.to_string());
        }
        assert!(!bodies.is_empty(), "prompts/{name} has no v1.prompt");
        let mut activated: Vec<u32> =
            manifest.activate.values().map(|version| *version.get_ref() as u32).collect();
        activated.sort_unstable();
        activated.dedup();
        let latest = *bodies.keys().next_back().expect("one version at least");
        for test in &manifest.tests {
            let test = test.get_ref();
            let targets = match &test.version {
                Some(version) => vec![*version.get_ref() as u32],
                None if !activated.is_empty() => activated.clone(),
                None => vec![latest],
            };
            for number in targets {
                cases.push(Case {
                    origin: format!("prompts/{name}: test {} (v{number})", test.name.get_ref()),
                    template: bodies[&number].clone(),
                    vars: vars_to_json(&test.vars),
                    expect_error: None,
                    lint: None,
                    toml_vars: None,
                });
            }
        }
        if let Some(seed) = &manifest.seed {
            let seed = seed.get_ref();
            let number = *seed.version.get_ref() as u32;
            cases.push(Case {
                origin: format!("prompts/{name}: seed (v{number})"),
                template: bodies[&number].clone(),
                vars: vars_to_json(&seed.vars),
                expect_error: None,
                lint: None,
                toml_vars: None,
            });
        }
    }
    cases
}

/// `text` on one line, with its line endings and tabs visible.
fn shown(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Rendered(text) => format!("{text:?}"),
        Outcome::Failed(message) => format!("error: {message}"),
    }
}

/// promptctl's side of the corpus: what each case renders to (a snapshot, reviewed like any other
/// output), and a failure exactly where the case says handlebars.js throws.
#[test]
fn corpus_renders_with_promptctl() {
    let cases = corpus();
    assert!(cases.len() >= 100, "the corpus has only {} cases", cases.len());
    let mut snapshot = String::new();
    let mut wrong = Vec::new();
    for case in &cases {
        let outcome = promptctl(case);
        let _ = writeln!(snapshot, "{}\n  {}", case.origin, shown(&outcome));
        if Some(outcome.failed()) != case.expect_error {
            wrong.push(format!("{}: {}", case.origin, shown(&outcome)));
        }
        if let Some(code) = case.lint {
            let found = portability_codes(case);
            if !found.contains(&code) {
                wrong.push(format!(
                    "{}: `{}` does not warn here (found {found:?})",
                    case.origin,
                    code.as_str()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "cases where promptctl fails without `error = true` or renders despite it, or where the named lint is silent:\n{}",
        wrong.join("\n")
    );
    insta::assert_snapshot!("corpus", snapshot);
}

#[test]
fn prompts_render_with_promptctl() {
    let cases = prompt_cases();
    // This repository's prompts have tests, seeds with variables, `#if`, `#each`: if none are found
    // the reading above is broken, not the prompts.
    assert!(cases.len() >= 15, "only {} cases from prompts/", cases.len());
    for case in &cases {
        let outcome = promptctl(case);
        assert!(!outcome.failed(), "{}: {}", case.origin, shown(&outcome));
    }
}

/// The comparison itself: handlebars.js and promptctl agree on every case.
#[test]
fn handlebars_js_agrees_with_promptctl() {
    let Some(prefix) = crate::support::handlebars_js("conformance test") else { return };
    let mut cases = prompt_cases();
    cases.extend(corpus());
    let results = render_with_handlebars_js(&prefix, &cases);
    let mut differences = String::new();
    for (case, reference) in cases.iter().zip(&results) {
        let ours = promptctl(case);
        let same = match (&ours, reference) {
            (Outcome::Rendered(a), Outcome::Rendered(b)) => a == b,
            (Outcome::Failed(_), Outcome::Failed(_)) => true,
            _ => false,
        };
        // A documented difference that a lint warns about (the corpus test checks the lint).
        if !same && case.lint.is_none() {
            let _ = writeln!(
                differences,
                "{}\n  template:      {:?}\n  vars:          {}\n  handlebars.js: {}\n  promptctl:     {}",
                case.origin,
                case.template,
                case.vars,
                shown(reference),
                shown(&ours)
            );
        }
        if case.expect_error.is_some_and(|error| error != reference.failed()) {
            let _ = writeln!(
                differences,
                "{}: `error = {}` in the corpus, but handlebars.js {}",
                case.origin,
                !reference.failed(),
                shown(reference)
            );
        }
    }
    assert!(
        differences.is_empty(),
        "promptctl and handlebars.js differ (document the difference in docs/portability.md, \
         then fix it or lint it):\n{differences}"
    );
}

/// The portability codes `check` reports on a case's template, with each var declared as the type
/// of its value.
fn portability_codes(case: &Case) -> Vec<Code> {
    let Ok(compiled) = Compiled::new(case.template.as_str()) else { return Vec::new() };
    let variables: Vec<Variable> =
        case.toml_vars.iter().flatten().map(|(name, value)| declare(name, value)).collect();
    let site = Site { file: "case", text: &case.template, body_offset: 0 };
    portability::check(&site, &compiled.template, &variables).iter().map(|d| d.code).collect()
}

/// A required variable of the type of `value`.
fn declare(name: &str, value: &toml::Value) -> Variable {
    let ty = match value {
        toml::Value::String(_) | toml::Value::Datetime(_) => Type::String { max_len: None },
        toml::Value::Integer(_) => Type::Integer,
        toml::Value::Float(_) => Type::Number,
        toml::Value::Boolean(_) => Type::Boolean,
        toml::Value::Array(items) => Type::Array(Box::new(match items.first() {
            Some(first) => declare("item", first),
            None => declare("item", &toml::Value::String(String::new())),
        })),
        toml::Value::Table(fields) => {
            Type::Object(fields.iter().map(|(name, value)| declare(name, value)).collect())
        }
    };
    Variable {
        name: name.to_string(),
        ty,
        required: true,
        description: None,
        user_source: false,
        span: 0..0,
    }
}

/// Renders all cases with one run of node; one outcome per case, in order.
fn render_with_handlebars_js(prefix: &Path, cases: &[Case]) -> Vec<Outcome> {
    let input: Vec<Value> =
        cases.iter().map(|case| json!({"template": case.template, "vars": case.vars})).collect();
    let dir = tempfile::tempdir().expect("create a temp dir");
    let input_path = dir.path().join("cases.json");
    std::fs::write(&input_path, serde_json::to_vec(&input).expect("cases serialise"))
        .expect("write cases.json");
    let output = Command::new("node")
        .arg(manifest_dir().join("tests/conformance/render.js"))
        .arg(prefix)
        .arg(&input_path)
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "tests/conformance/render.js failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Value = serde_json::from_slice(&output.stdout).expect("render.js prints JSON");
    let version = parsed["version"].as_str().unwrap_or_default();
    assert!(version.starts_with("4."), "expected handlebars.js 4.x, found {version:?}");
    let results = parsed["results"].as_array().expect("results is an array");
    assert_eq!(results.len(), cases.len(), "render.js returned one result per case");
    results
        .iter()
        .map(|result| match (result["output"].as_str(), result["error"].as_str()) {
            (Some(text), _) => Outcome::Rendered(text.to_string()),
            (None, Some(message)) => Outcome::Failed(message.to_string()),
            _ => panic!("render.js result without output or error: {result}"),
        })
        .collect()
}
