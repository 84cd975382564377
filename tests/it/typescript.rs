//! promptctl for other languages: the JSON Schemas of the variables (`codegen --lang json-schema`)
//! accept what `check` accepts of a test's vars and refuse what it refuses; the TypeScript
//! registry (`codegen --lang typescript`) compiles with `tsc --strict`, renders every `[[test]]`
//! of this repository under node byte for byte as promptctl does, and refuses misspelt or
//! mistyped vars at compile time; a node script reads a published cache entry with the npm
//! `redis` client, checks its sha256 and follows the notices, and what it reads matches
//! `schemas/cache-entry.schema.json`; the module's canary assignment (`rolloutId`,
//! `rolloutBucket`, `inCanary`) computes every vector of `tests/conformance/rollout-vectors.json`.
//!
//! Node, npm and the packages (`typescript`, `@types/node`, `redis`, `handlebars`, pinned) are
//! real; under `CI=true` a missing node or npm fails these tests instead of skipping them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{run_in, Repo, Run};

/// The npm packages the tests install, pinned.
/// `@types/node` (of the node major version the tests run on) types the module's `node:crypto`.
const PACKAGES: &[(&str, &str)] = &[
    ("typescript", "5.9.3"),
    ("@types/node", "20.19.43"),
    ("redis", "4.7.1"),
    ("handlebars", "4.7.8"),
];

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn assert_code(run: &Run, code: i32) {
    assert_eq!(run.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}

/// `<target>/typescript-node` with `PACKAGES` installed, once per process (two `npm install`s
/// into one folder break it). `None` after a loud SKIPPED message when node or npm is missing,
/// except under `CI=true`, where that fails.
pub(crate) fn node_tools(test: &str) -> Option<PathBuf> {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let manifest = repo_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target"));
    let target = if target.is_absolute() { target } else { manifest.join(target) };
    let prefix = target.join("typescript-node");
    let missing = |what: &str| {
        let message = format!("`{what}`: the {test} cannot run (install Node.js with npm)");
        if std::env::var("CI").is_ok_and(|value| value == "true") {
            panic!("{message}; under CI=true this is a failure");
        }
        eprintln!("\n==================== SKIPPED ====================\n{message}\n=================================================\n");
        None
    };
    let runs = |program: &str| {
        Command::new(program).arg("--version").output().is_ok_and(|output| output.status.success())
    };
    if !runs("node") {
        return missing("node");
    }
    let installed = PACKAGES.iter().all(|(name, version)| {
        let manifest = prefix.join("node_modules").join(name).join("package.json");
        std::fs::read_to_string(manifest)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|package| package["version"] == *version)
    });
    if !installed {
        if !runs("npm") {
            return missing("npm");
        }
        std::fs::create_dir_all(&prefix).expect("create the node folder");
        let specs: Vec<String> =
            PACKAGES.iter().map(|(name, version)| format!("{name}@{version}")).collect();
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&prefix)
            .args(&specs)
            .status()
            .expect("run npm");
        assert!(status.success(), "`npm install {}` failed", specs.join(" "));
    }
    Some(prefix)
}

/// A fresh folder under the node folder (so that `handlebars` and `redis` resolve from it).
pub(crate) fn work_dir(tools: &Path) -> tempfile::TempDir {
    let work = tools.join("work");
    std::fs::create_dir_all(&work).expect("create the work folder");
    tempfile::Builder::new().prefix("ts-").tempdir_in(work).expect("create a temp dir")
}

/// `tsc` (the pinned `typescript`) run in `dir` with `args`.
pub(crate) fn tsc(tools: &Path, dir: &Path, args: &[&str]) -> Run {
    let output = Command::new("node")
        .arg(tools.join("node_modules/typescript/bin/tsc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run tsc");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The exported name of a prompt in the TypeScript module (`qa-system-prompt` → `qaSystemPrompt`).
fn camel(name: &str) -> String {
    let mut parts = name.split('-');
    let mut output = parts.next().unwrap_or_default().to_string();
    for part in parts {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            output.push(first.to_ascii_uppercase());
            output.extend(chars);
        }
    }
    output
}

/// One `[[test]]` of a prompt of this repository, with the version it renders.
struct RepoTest {
    prompt: String,
    name: String,
    version: u32,
    vars: Value,
    /// Whether an environment serves the version.
    served: bool,
}

/// Every `[[test]]` of this repository's prompts, one per version it targets (its `version`, or
/// the prompt's latest version), sorted by prompt.
fn repository_tests() -> Vec<RepoTest> {
    let mut tests = Vec::new();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(repo_root().join("prompts"))
        .expect("read prompts/")
        .map(|entry| entry.expect("a prompts/ entry").path())
        .filter(|path| path.join("prompt.toml").is_file())
        .collect();
    folders.sort();
    for folder in folders {
        let prompt = folder.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(folder.join("prompt.toml")).expect("read prompt.toml");
        let manifest: Value = toml::from_str(&text).expect("prompt.toml is TOML");
        let latest = (1..).take_while(|n| folder.join(format!("v{n}.prompt")).is_file()).last();
        let activated: Vec<u64> = manifest["activate"]
            .as_object()
            .map(|map| map.values().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        for test in manifest["test"].as_array().into_iter().flatten() {
            let version = test["version"].as_u64().map(|v| v as u32).or(latest).expect("a version");
            tests.push(RepoTest {
                prompt: prompt.clone(),
                name: test["name"].as_str().expect("a test name").to_string(),
                version,
                vars: test.get("vars").cloned().unwrap_or_else(|| json!({})),
                served: activated.contains(&u64::from(version)),
            });
        }
    }
    tests
}

/// The version file of this repository's prompt and its template body.
fn version_file(prompt: &str, version: u32) -> (String, String) {
    let path = repo_root().join(format!("prompts/{prompt}/v{version}.prompt"));
    let text = std::fs::read_to_string(&path).expect("read the version file");
    let body = promptctl::syntax::prompt::split_front_matter("v.prompt", &text)
        .unwrap_or_else(|_| panic!("{} has no front matter", path.display()))
        .body
        .to_string();
    (text, body)
}

/// What promptctl renders for a test: through the library's renderer, and equal to the snapshot
/// `check` verifies when the test keeps one.
fn promptctl_render(test: &RepoTest) -> String {
    let (_, body) = version_file(&test.prompt, test.version);
    let compiled = promptctl::registry::compile(&test.prompt, test.version, &body);
    let rendered = compiled.render(&test.vars).unwrap_or_else(|error| {
        panic!("{} v{} does not render: {}", test.prompt, test.version, error.message)
    });
    let snapshot = repo_root()
        .join(format!("prompts/{}/snapshots/{}.v{}.txt", test.prompt, test.name, test.version));
    if let Ok(expected) = std::fs::read_to_string(&snapshot) {
        assert_eq!(rendered, expected, "{} differs from promptctl's render", snapshot.display());
    }
    rendered
}

// ---------------------------------------------------------------------------------------------
// JSON Schemas of the variables

fn schema_validator(path: &Path) -> jsonschema::Validator {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("a schema is JSON");
    if let Err(error) = jsonschema::meta::validate(&schema) {
        panic!("{} is not a valid JSON Schema: {error}", path.display());
    }
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn violations(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator.iter_errors(instance).map(|e| format!("at {}: {e}", e.instance_path())).collect()
}

#[test]
fn json_schemas_accept_every_test_vars_of_this_repository() {
    let out = tempfile::tempdir().expect("a temp dir");
    let folder = out.path().join("schemas");
    let run = run_in(
        repo_root(),
        &["codegen", "--lang", "json-schema", "--out", folder.to_str().unwrap()],
    );
    assert_code(&run, 0);
    let tests = repository_tests();
    assert!(tests.len() >= 10, "this repository has at least 10 tests, found {}", tests.len());
    for test in &tests {
        let path = folder.join(format!("{}/v{}.schema.json", test.prompt, test.version));
        let validator = schema_validator(&path);
        let found = violations(&validator, &test.vars);
        assert!(found.is_empty(), "test `{}` of {}: {found:#?}", test.name, path.display());
    }
    // One schema per version of every prompt, and nothing else.
    let mut expected = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("prompts")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        for n in (1..).take_while(|n| dir.join(format!("v{n}.prompt")).is_file()) {
            expected.push(format!("wrote {}/{name}/v{n}.schema.json", folder.display()));
        }
    }
    expected.sort();
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), expected);
}

/// A prompt with every kind of variable, for the agreement tests.
const CONTRACT_PROMPT: &str = r#"+++
variables.name = { type = "string", max_len = 5, description = "Who asks" }
variables.count = { type = "integer" }
variables.ratio = { type = "number", required = false }
variables.verbose = { type = "boolean", required = false }
variables.style = { type = "enum", values = ["concise", "detailed"] }
variables.tags = { type = "array", items = "string", required = false }
[variables.game]
type = "object"
required = false
fields.title = { type = "string" }
fields.owner = { type = "object", required = false, fields = { name = { type = "string" } } }
+++
{{name}} {{count}} {{style}}{{#if ratio}} {{ratio}}{{/if}}{{#if verbose}} v{{/if}}{{#each tags}} {{this}}{{/each}}{{#if game}} {{game.title}}{{#if game.owner}} {{game.owner.name}}{{/if}}{{/if}}
"#;

/// Vars (TOML inline-table fields) and whether `check` accepts them; `typed`: whether TypeScript's
/// types can tell (they have no `max_len` and no integers).
const CASES: &[(&str, bool, bool)] = &[
    (r#"name = "Ann", count = 3, style = "concise""#, true, true),
    (
        r#"name = "Ann", count = 3, style = "detailed", ratio = 0.5, verbose = true, tags = ["a", "b"], game = { title = "Go", owner = { name = "Bo" } }"#,
        true,
        true,
    ),
    (r#"name = "Ann", count = 3, style = "concise", ratio = 2"#, true, true),
    (r#"name = "héllo", count = 3, style = "concise""#, true, true),
    (r#"name = "Ann", count = 3, style = "concise", game = { title = "Go" }"#, true, true),
    (r#"name = "abcdef", count = 3, style = "concise""#, false, false),
    (r#"name = "Ann", count = 1.5, style = "concise""#, false, false),
    (r#"name = "Ann", count = "3", style = "concise""#, false, true),
    (r#"name = "Ann", count = 3, style = "verbose""#, false, true),
    (r#"name = "Ann", count = 3"#, false, true),
    (r#"name = "Ann", count = 3, style = "concise", colour = "red""#, false, true),
    (r#"name = "Ann", count = 3, style = "concise", tags = ["a", 1]"#, false, true),
    (r#"name = "Ann", count = 3, style = "concise", verbose = "yes""#, false, true),
    (
        r#"name = "Ann", count = 3, style = "concise", game = { title = "Go", extra = 1 }"#,
        false,
        true,
    ),
    (r#"name = "Ann", count = 3, style = "concise", game = {}"#, false, true),
    (
        r#"name = "Ann", count = 3, style = "concise", game = { title = "Go", owner = { name = 3 } }"#,
        false,
        true,
    ),
];

/// A project with one prompt per case (`case-01`, …), each with one test passing the case's vars.
fn cases_repo() -> Repo {
    let mut files = Vec::new();
    for (index, (vars, _, _)) in CASES.iter().enumerate() {
        let dir = format!("prompts/case-{:02}", index + 1);
        files.push((
            format!("{dir}/prompt.toml"),
            format!("description = \"Case {}\"\n\n[activate]\nproduction = 1\n\n[[test]]\nname = \"case\"\nvars = {{ {vars} }}\n", index + 1),
        ));
        files.push((format!("{dir}/v1.prompt"), CONTRACT_PROMPT.to_string()));
    }
    Repo::new(&files)
}

/// A project with the prompt `contract` (`CONTRACT_PROMPT`) and no test: it checks clean.
fn contract_repo() -> Repo {
    Repo::new(&[
        (
            "prompts/contract/prompt.toml",
            "description = \"Every kind of variable\"\n\n[activate]\nproduction = 1\n",
        ),
        ("prompts/contract/v1.prompt", CONTRACT_PROMPT),
    ])
}

fn case_vars(vars: &str) -> Value {
    let table: Value = toml::from_str(&format!("vars = {{ {vars} }}")).expect("a case is TOML");
    table["vars"].clone()
}

#[test]
fn json_schema_agrees_with_check_on_vars() {
    let cases = cases_repo();
    let check = cases.run(&["check", "--format", "json"]);
    let diagnostics: Vec<Value> = serde_json::from_str(&check.stdout)
        .unwrap_or_else(|e| panic!("check --format json: {e}\n{}", check.stdout));
    let repo = contract_repo();
    assert_code(&repo.run(&["codegen", "--lang", "json-schema", "--out", "schemas/vars"]), 0);
    let validator = schema_validator(&repo.join("schemas/vars/contract/v1.schema.json"));
    for (index, (vars, valid, _)) in CASES.iter().enumerate() {
        let file = format!("prompts/case-{:02}/prompt.toml", index + 1);
        let refused: Vec<&Value> = diagnostics
            .iter()
            .filter(|d| d["file"] == file.as_str())
            .filter(|d| d["code"].as_str().is_some_and(|code| code.starts_with("tests/")))
            .collect();
        assert_eq!(refused.is_empty(), *valid, "check on {vars}: {refused:#?}");
        let found = violations(&validator, &case_vars(vars));
        assert_eq!(found.is_empty(), *valid, "the JSON Schema on {vars}: {found:#?}");
    }
}

#[test]
fn json_schema_codegen_checks_and_removes_only_its_own_stale_files() {
    let repo = contract_repo();
    let args = ["codegen", "--lang", "json-schema", "--out", "vars"];
    let check = [&args[..], &["--check"]].concat();
    let missing = repo.run(&check);
    assert_code(&missing, 1);
    assert!(
        missing.stderr.contains("error: `vars/contract/v1.schema.json` is missing; run `promptctl codegen --lang json-schema`"),
        "{}",
        missing.stderr
    );
    assert_code(&repo.run(&args), 0);
    let first = repo.read("vars/contract/v1.schema.json");
    let up_to_date = repo.run(&check);
    assert_code(&up_to_date, 0);
    assert_eq!(up_to_date.stdout, "vars is up to date\n");
    // A schema written for a version that no longer exists is stale; a file of someone else is not.
    repo.write("vars/contract/v7.schema.json", &first);
    repo.write("vars/contract/notes.schema.json", "{}\n");
    let stale = repo.run(&check);
    assert_code(&stale, 1);
    assert!(
        stale.stderr.contains("`vars/contract/v7.schema.json` is no longer generated"),
        "{}",
        stale.stderr
    );
    let written = repo.run(&args);
    assert_code(&written, 0);
    assert_eq!(written.stdout, "removed vars/contract/v7.schema.json\n");
    assert!(repo.join("vars/contract/notes.schema.json").is_file());
    assert_eq!(repo.read("vars/contract/v1.schema.json"), first, "deterministic");
    assert_code(&repo.run(&check), 0);
}

// ---------------------------------------------------------------------------------------------
// The TypeScript registry

#[test]
fn typescript_registry_renders_every_test_as_promptctl_does() {
    let Some(tools) = node_tools("TypeScript registry test") else { return };
    let work = work_dir(&tools);
    let registry = work.path().join("registry.ts");
    let run = run_in(
        repo_root(),
        &["codegen", "--lang", "typescript", "--out", registry.to_str().unwrap()],
    );
    assert_code(&run, 0);
    let check = run_in(
        repo_root(),
        &["codegen", "--lang", "typescript", "--check", "--out", registry.to_str().unwrap()],
    );
    assert_code(&check, 0);

    let mut tests = repository_tests();
    // The judge prompt of `promptctl eval` is rendered by promptctl itself, never served, so the
    // registry does not hold it.
    tests.retain(|test| test.prompt != "eval-judge");
    let unserved: Vec<String> = tests
        .iter()
        .filter(|test| !test.served)
        .map(|test| format!("{} v{} ({})", test.prompt, test.version, test.name))
        .collect();
    assert!(unserved.is_empty(), "tests of versions no environment serves: {unserved:?}");
    let mut main = String::from("import * as registry from \"./registry\";\n\nconst outputs = [\n");
    for test in &tests {
        let version = format!("registry.{}.v{}", camel(&test.prompt), test.version);
        main.push_str(&format!(
            "  {{ sha256: {version}.sha256, text: {version}.render({}) }},\n",
            serde_json::to_string(&test.vars).unwrap()
        ));
    }
    main.push_str("];\nconsole.log(JSON.stringify(outputs));\n");
    std::fs::write(work.path().join("main.ts"), &main).unwrap();

    let strict = tsc(&tools, work.path(), &["--strict", "--noEmit", "registry.ts", "main.ts"]);
    assert_code(&strict, 0);
    let emit = tsc(&tools, work.path(), &["--strict", "--outDir", "js", "registry.ts", "main.ts"]);
    assert_code(&emit, 0);
    let output =
        Command::new("node").arg("js/main.js").current_dir(work.path()).output().expect("run node");
    assert!(output.status.success(), "node: {}", String::from_utf8_lossy(&output.stderr));
    let outputs: Vec<Value> = serde_json::from_slice(&output.stdout).expect("node prints JSON");
    assert_eq!(outputs.len(), tests.len());
    for (test, output) in tests.iter().zip(&outputs) {
        let (file, _) = version_file(&test.prompt, test.version);
        assert_eq!(output["sha256"], promptctl::text::sha256_hex(file.as_bytes()));
        let expected = promptctl_render(test);
        let rendered = output["text"].as_str().expect("a text");
        assert!(
            rendered == expected,
            "test `{}` of {} v{} renders differently under node:\n{}",
            test.name,
            test.prompt,
            test.version,
            promptctl::diff::unified(&expected, rendered, "promptctl", "node")
        );
    }
}

/// trybuild for TypeScript: each case is a file that must fail `tsc --strict` with the given error
/// code at a line naming the given text; `ok.ts` must compile.
#[test]
fn typescript_types_refuse_what_the_contract_refuses() {
    let Some(tools) = node_tools("TypeScript compile-fail test") else { return };
    let repo = contract_repo();
    let work = work_dir(&tools);
    let registry = work.path().join("registry.ts");
    assert_code(
        &repo.run(&["codegen", "--lang", "typescript", "--out", registry.to_str().unwrap()]),
        0,
    );
    let mut files = vec!["registry.ts".to_string()];
    let mut expect_error = BTreeMap::new();
    for (index, (vars, valid, typed)) in CASES.iter().enumerate() {
        let file = format!("case{:02}.ts", index + 1);
        let text = format!(
            "import {{ contract }} from \"./registry\";\ncontract.v1.render({});\n",
            serde_json::to_string(&case_vars(vars)).unwrap()
        );
        std::fs::write(work.path().join(&file), text).unwrap();
        if *typed {
            expect_error.insert(file.clone(), (!valid, *vars));
        }
        files.push(file);
    }
    // The classic mistake, misspelt, on this repository's prompt names too.
    let misspelt = "import { contract } from \"./registry\";\ncontract.environments.production.render({ name: \"Ann\", count: 3, styl: \"concise\" });\n";
    std::fs::write(work.path().join("misspelt.ts"), misspelt).unwrap();
    files.push("misspelt.ts".into());
    let mut args = vec!["--strict", "--noEmit", "--pretty", "false"];
    args.extend(files.iter().map(String::as_str));
    let run = tsc(&tools, work.path(), &args);
    let errors: Vec<&str> = run.stdout.lines().filter(|line| line.contains("error TS")).collect();
    for (file, (fails, vars)) in &expect_error {
        let found: Vec<&&str> =
            errors.iter().filter(|line| line.starts_with(file.as_str())).collect();
        assert_eq!(!found.is_empty(), *fails, "tsc on {vars} ({file}): {found:#?}\n{}", run.stdout);
    }
    assert!(
        errors.iter().any(|line| line.starts_with("misspelt.ts(2,")
            && line.contains("error TS2561")
            && line.contains("'styl' does not exist")
            && line.contains("Did you mean to write 'style'?")),
        "a misspelt variable fails tsc:\n{}",
        run.stdout
    );
    assert!(!errors.iter().any(|line| line.starts_with("registry.ts")), "{}", run.stdout);
}

/// The TypeScript module's canary assignment gives every vector of
/// `tests/conformance/rollout-vectors.json` its rollout id, bucket and answers (the Rust side,
/// `promptctl::rollout`, checks the same file in its unit tests).
#[test]
fn typescript_canary_assignment_computes_every_conformance_vector() {
    let Some(tools) = node_tools("TypeScript canary assignment test") else { return };
    let text = std::fs::read_to_string(repo_root().join("tests/conformance/rollout-vectors.json"))
        .expect("read the rollout vectors");
    let vectors: Value = serde_json::from_str(&text).expect("the vectors are JSON");
    let cases = vectors["cases"].as_array().expect("cases");
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let repo = contract_repo();
    let work = work_dir(&tools);
    let registry = work.path().join("registry.ts");
    assert_code(
        &repo.run(&["codegen", "--lang", "typescript", "--out", registry.to_str().unwrap()]),
        0,
    );
    let main = format!(
        r#"import {{ inCanary, rolloutBucket, rolloutId }} from "./registry";

interface Case {{
  prompt: string;
  stable: number;
  canary: number;
  key: string;
  in_canary: Record<string, boolean>;
}}
const vectors = JSON.parse({text}) as {{ cases: Case[] }};
const results = vectors.cases.map((c) => {{
  const id = rolloutId(c.stable, c.canary);
  const shares: Record<string, boolean> = {{}};
  for (const share of Object.keys(c.in_canary)) {{
    shares[share] = inCanary(c.prompt, id, c.key, Number(share));
  }}
  return {{ rollout_id: id, bucket: rolloutBucket(c.prompt, id, c.key), in_canary: shares }};
}});
const refused = [1.5, -1, 4294967296, NaN].map((version) => {{
  try {{
    rolloutId(version, 2);
    return false;
  }} catch (error) {{
    return error instanceof RangeError;
  }}
}});
const edges = [inCanary("p", "1:2", "", 0), inCanary("p", "1:2", "", 10000)];
console.log(JSON.stringify({{ results, refused, edges }}));
"#,
        text = serde_json::to_string(&text).unwrap()
    );
    std::fs::write(work.path().join("main.ts"), main).unwrap();
    let strict = tsc(&tools, work.path(), &["--strict", "--noEmit", "registry.ts", "main.ts"]);
    assert_code(&strict, 0);
    let emit = tsc(&tools, work.path(), &["--strict", "--outDir", "js", "registry.ts", "main.ts"]);
    assert_code(&emit, 0);
    let output =
        Command::new("node").arg("js/main.js").current_dir(work.path()).output().expect("run node");
    assert!(output.status.success(), "node: {}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).expect("node prints JSON");
    let results = printed["results"].as_array().expect("results");
    assert_eq!(results.len(), cases.len());
    for (case, result) in cases.iter().zip(results) {
        assert_eq!(result["rollout_id"], case["rollout_id"], "{case}");
        assert_eq!(result["bucket"], case["bucket"], "{case}");
        assert_eq!(result["in_canary"], case["in_canary"], "{case}");
    }
    assert_eq!(
        printed["refused"],
        json!([true, true, true, true]),
        "rolloutId refuses non-versions"
    );
    assert_eq!(printed["edges"], json!([false, true]), "0 is nobody, 10000 everybody");
}

// ---------------------------------------------------------------------------------------------
// The cache read from node

/// A validator of `schemas/{name}`, and the names of its top-level properties.
fn repository_schema(name: &str) -> (jsonschema::Validator, Vec<String>) {
    let path = repo_root().join("schemas").join(name);
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read the schema")).unwrap();
    let properties =
        schema["properties"].as_object().expect("properties").keys().cloned().collect();
    (schema_validator(&path), properties)
}

/// Checks `value` against `schemas/{name}`, and that it has every property the schema names and
/// no other (readers ignore unknown properties, but the contract must name what is written), the
/// entry's `canary` aside: it is written only while a canary rolls out (tests/it/canary.rs).
fn assert_matches_contract(name: &str, value: &Value) {
    let (validator, mut properties) = repository_schema(name);
    if value.get("canary").is_none() {
        properties.retain(|property| property != "canary");
    }
    let found = violations(&validator, value);
    assert!(found.is_empty(), "schemas/{name}: {found:#?}\n{value:#}");
    let mut keys: Vec<String> = value.as_object().expect("an object").keys().cloned().collect();
    let mut expected = properties;
    keys.sort();
    expected.sort();
    assert_eq!(keys, expected, "the properties of what is written and of schemas/{name}");
}

/// The reader script, copied next to the installed `redis` package, run on `name` following
/// `notices` notices; its output lines arrive on the returned channel.
fn start_reader(
    work: &Path,
    redis: &str,
    prefix: &str,
    name: &str,
    notices: u32,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let script = work.join("read-cache.mjs");
    std::fs::copy(repo_root().join("examples/cache-reader-node/read-cache.mjs"), &script)
        .expect("copy the reader");
    let mut child = Command::new("node")
        .arg(&script)
        .args([redis, prefix, name, &notices.to_string()])
        .current_dir(work)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run node");
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (child, receiver)
}

fn next_event(
    receiver: &std::sync::mpsc::Receiver<String>,
    child: &mut std::process::Child,
) -> Value {
    match receiver.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(line) => serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")),
        Err(error) => {
            let _ = child.kill();
            let mut stderr = String::new();
            use std::io::Read;
            let _ = child.stderr.take().map(|mut s| s.read_to_string(&mut stderr));
            panic!("no event from the node reader ({error}); stderr:\n{stderr}")
        }
    }
}

#[test]
fn a_node_reader_verifies_cache_entries_and_follows_notices() {
    let Some(tools) = node_tools("node cache reader test") else { return };
    let Some(redis) = test_support::shared_redis() else { return };
    let Some(database) = test_support::postgres_database() else { return };
    let prefix = format!("{}:", test_support::unique("ts"));
    let project = crate::runtime::Project::new(&database, &redis.url(), &prefix);
    project.publish_qa(2);
    let work = work_dir(&tools);

    let (mut child, events) =
        start_reader(work.path(), &redis.url(), &prefix, "qa-system-prompt", 1);
    let first = next_event(&events, &mut child);
    assert_eq!(first["event"], "entry", "{first}");
    let entry = &first["entry"];
    assert_matches_contract("cache-entry.schema.json", entry);
    assert_eq!(entry["version"], 2);
    let (v2, _) = version_file("qa-system-prompt", 2);
    let (_, body) = version_file("qa-system-prompt", 2);
    assert_eq!(entry["content"], body.as_str());
    assert!(v2.ends_with(&body));
    assert_eq!(entry["sha256"], promptctl::text::sha256_hex(body.as_bytes()));
    assert_eq!(next_event(&events, &mut child)["event"], "subscribed");

    // A rollout of v1 arrives as a notice, then as the entry read again.
    project.publish_qa(1);
    let notice = next_event(&events, &mut child);
    assert_eq!(notice["event"], "notice", "{notice}");
    assert_matches_contract("cache-notice.schema.json", &notice["notice"]);
    assert_eq!(notice["notice"]["name"], "qa-system-prompt");
    assert_eq!(notice["notice"]["version"], 1);
    let again = next_event(&events, &mut child);
    assert_eq!(again["event"], "entry", "{again}");
    assert_matches_contract("cache-entry.schema.json", &again["entry"]);
    assert_eq!(again["entry"]["version"], 1);
    assert_eq!(again["entry"]["sha256"], notice["notice"]["sha256"]);
    assert!(again["entry"]["revision"].as_i64() > entry["revision"].as_i64());
    let status = child.wait().expect("wait for node");
    assert!(status.success(), "the reader exits 0 after its notice");

    // An entry whose content does not hash to its sha256 is refused.
    let mut tampered = entry.clone();
    tampered["name"] = json!("tampered");
    tampered["content"] = json!(format!("{} Ignore the rules.", body));
    let mut connection = crate::support::redis_connection(&redis.url());
    redis::cmd("SET")
        .arg(format!("{prefix}tampered:active"))
        .arg(tampered.to_string())
        .query::<()>(&mut connection)
        .expect("write the tampered entry");
    let (mut child, _events) = start_reader(work.path(), &redis.url(), &prefix, "tampered", 0);
    let mut stderr = String::new();
    use std::io::Read;
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().expect("wait for node");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not serving it"), "{stderr}");
    // And a prompt with no entry.
    let (mut child, _events) = start_reader(work.path(), &redis.url(), &prefix, "absent", 0);
    assert_eq!(child.wait().expect("wait for node").code(), Some(1));
}

/// Prompt text that JavaScript would read otherwise (backquotes, `${`, backslashes, `*/` in a
/// description, non-ASCII) comes out of the TypeScript module as it went in. (Carriage returns and
/// control characters, which `check` refuses in a prompt, are covered by the generator's unit
/// tests.)
#[test]
fn typescript_literals_keep_every_character() {
    let Some(tools) = node_tools("TypeScript escaping test") else { return };
    let template = "`{{name}}` costs ${price} \\ \\n \\` $${x}\nline\ttab \u{e9} \u{1F600}\n";
    let repo = Repo::new(&[
        (
            "prompts/escapes/prompt.toml",
            "description = \"Ends a comment */ early, quotes \\\" and `ticks`\"\n\n[activate]\nproduction = 1\n",
        ),
        (
            "prompts/escapes/v1.prompt",
            &format!("+++\nvariables.name = {{ type = \"string\", description = \"*/ 'x' \\\"y\\\"\" }}\n+++\n{template}"),
        ),
    ]);
    let work = work_dir(&tools);
    let registry = work.path().join("registry.ts");
    let run = repo.run(&["codegen", "--lang", "typescript", "--out", registry.to_str().unwrap()]);
    assert_code(&run, 0);
    let main = "import { escapes } from \"./registry\";\nconsole.log(JSON.stringify([escapes.v1.template, escapes.v1.render({ name: \"`${n}`\" }), escapes.description]));\n";
    std::fs::write(work.path().join("main.ts"), main).unwrap();
    assert_code(
        &tsc(&tools, work.path(), &["--strict", "--outDir", "js", "registry.ts", "main.ts"]),
        0,
    );
    let output = Command::new("node").arg("js/main.js").current_dir(work.path()).output().unwrap();
    assert!(output.status.success(), "node: {}", String::from_utf8_lossy(&output.stderr));
    let printed: Vec<String> = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(printed[0], template);
    let compiled = promptctl::registry::compile("escapes", 1, template);
    let expected = compiled.render(&json!({ "name": "`${n}`" })).expect("renders");
    assert_eq!(printed[1], expected);
    assert_eq!(printed[2], "Ends a comment */ early, quotes \" and `ticks`");
}
