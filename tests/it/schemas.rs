//! The JSON Schemas in `schemas/` (editor help for `promptctl.toml`, `prompt.toml` and the front
//! matter of `v<N>.prompt`): they are valid schemas, every property is documented, the repository's
//! own files validate against them, and inline fixtures are accepted or rejected as expected.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

const PROMPTCTL: &str = "promptctl.schema.json";
const PROMPT: &str = "prompt.schema.json";
const FRONT_MATTER: &str = "front-matter.schema.json";

const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";
const ID_PREFIX: &str = "https://promptctl.dev/schemas/";

/// The number of prompts the repository ships at least.
const MIN_PROMPTS: usize = 6;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `path` relative to the repository root, for messages.
fn display(path: &Path) -> String {
    path.strip_prefix(repo_root()).unwrap_or(path).display().to_string()
}

fn load_schema(name: &str) -> Value {
    let path = repo_root().join("schemas").join(name);
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", display(&path)));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", display(&path)))
}

fn validator(name: &str) -> jsonschema::Validator {
    jsonschema::validator_for(&load_schema(name))
        .unwrap_or_else(|e| panic!("schemas/{name} does not compile: {e}"))
}

/// Every violation of `instance`, as `at <instance path> (schema <keyword location>, via
/// <evaluation path through $refs>): <message>`.
fn violations(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/" } else { &at };
            format!("at {at} (schema {}, via {}): {e}", e.schema_path(), e.evaluation_path())
        })
        .collect()
}

fn toml_to_json(what: &str, text: &str) -> Value {
    toml::from_str::<Value>(text).unwrap_or_else(|e| panic!("{what} is not valid TOML: {e}"))
}

/// The front matter of a version file: the text between the first line `+++` and the next line
/// `+++`.
fn front_matter(text: &str) -> Option<&str> {
    fn is_fence(line: &str) -> bool {
        let line = line.strip_suffix('\n').unwrap_or(line);
        line.strip_suffix('\r').unwrap_or(line) == "+++"
    }
    let mut lines = text.split_inclusive('\n');
    let first = lines.next()?;
    if !is_fence(first) || !first.ends_with('\n') {
        return None;
    }
    let start = first.len();
    let mut end = start;
    for line in lines {
        if is_fence(line) {
            return Some(&text[start..end]);
        }
        end += line.len();
    }
    None
}

/// Validates every file of `files` (path, TOML text) against `schema` and returns one message per
/// violation, naming the file.
fn check_files(schema: &str, files: &[(PathBuf, String)]) -> Vec<String> {
    let validator = validator(schema);
    let mut failures = Vec::new();
    for (path, text) in files {
        let what = display(path);
        let instance = match toml::from_str::<Value>(text) {
            Ok(instance) => instance,
            Err(e) => {
                failures.push(format!("{what}: not valid TOML: {e}"));
                continue;
            }
        };
        for violation in violations(&validator, &instance) {
            failures.push(format!("{what} does not match schemas/{schema} {violation}"));
        }
    }
    failures
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", display(dir)))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    entries
}

/// The prompts folder: `prompts_dir` of the repository's promptctl.toml, by default `prompts`.
fn prompts_dir() -> PathBuf {
    let config = fs::read_to_string(repo_root().join("promptctl.toml")).unwrap_or_default();
    let config = toml::from_str::<Value>(&config).unwrap_or_default();
    repo_root().join(config.get("prompts_dir").and_then(Value::as_str).unwrap_or("prompts"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", display(path)))
}

/// Looks up `pointer` (a local `$ref` such as `#/$defs/variable`) in `root`.
fn resolve<'a>(root: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("only local references are used, found {reference:?}"));
    root.pointer(pointer).unwrap_or_else(|| panic!("dangling reference {reference:?}"))
}

/// A keyword of a property's schema, looked up directly or through its `$ref`.
fn documented<'a>(root: &'a Value, schema: &'a Value, keyword: &str) -> Option<&'a str> {
    if let Some(text) = schema.get(keyword).and_then(Value::as_str) {
        return Some(text);
    }
    let reference = schema.get("$ref")?.as_str()?;
    documented(root, resolve(root, reference), keyword)
}

/// Collects the JSON pointers of the properties, anywhere in `schema`, that lack a title or a
/// description.
fn undocumented(root: &Value, schema: &Value, pointer: &str, missing: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                let here = format!("{pointer}/{key}");
                if key == "properties" {
                    for (name, property) in value.as_object().expect("properties is an object") {
                        for keyword in ["title", "description"] {
                            let text = documented(root, property, keyword);
                            if text.is_none_or(|t| t.trim().is_empty()) {
                                missing.push(format!("{here}/{name} has no {keyword}"));
                            }
                        }
                    }
                }
                // An `if` only tests a property's value; it declares nothing.
                if key != "if" {
                    undocumented(root, value, &here, missing);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                undocumented(root, item, &format!("{pointer}/{i}"), missing);
            }
        }
        _ => {}
    }
}

#[test]
fn schemas_are_valid_json_schemas_with_id_and_title() {
    let dir = repo_root().join("schemas");
    let names: Vec<String> = sorted_entries(&dir)
        .iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        // The OpenAPI document of `serve` is checked by tests/it/serve.rs.
        .filter(|name| !name.ends_with(".openapi.json"))
        .collect();
    for expected in [PROMPTCTL, PROMPT, FRONT_MATTER] {
        assert!(names.iter().any(|n| n == expected), "schemas/{expected} is missing");
    }
    for name in &names {
        let schema = load_schema(name);
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!(
                "schemas/{name} is not a valid JSON Schema: at {} (meta-schema {}): {e}",
                e.instance_path(),
                e.evaluation_path()
            );
        }
        assert_eq!(schema["$schema"], DRAFT_2020_12, "schemas/{name}: $schema");
        assert_eq!(schema["$id"], format!("{ID_PREFIX}{name}"), "schemas/{name}: $id");
        let title = schema["title"].as_str().unwrap_or_default();
        assert!(!title.trim().is_empty(), "schemas/{name} has no title");
        let description = schema["description"].as_str().unwrap_or_default();
        assert!(!description.trim().is_empty(), "schemas/{name} has no description");
        validator(name);
    }
}

#[test]
fn every_schema_property_has_a_title_and_a_description() {
    for name in [PROMPTCTL, PROMPT, FRONT_MATTER] {
        let schema = load_schema(name);
        let mut missing = Vec::new();
        undocumented(&schema, &schema, "", &mut missing);
        assert!(missing.is_empty(), "schemas/{name}:\n{}", missing.join("\n"));
    }
}

#[test]
fn repository_promptctl_toml_matches_its_schema() {
    let path = repo_root().join("promptctl.toml");
    assert!(path.is_file(), "the repository has no promptctl.toml");
    let failures = check_files(PROMPTCTL, &[(path.clone(), read(&path))]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn repository_prompts_match_their_schemas() {
    let prompts_dir = prompts_dir();
    let mut prompt_tomls = Vec::new();
    let mut front_matters = Vec::new();
    let mut failures = Vec::new();
    if prompts_dir.is_dir() {
        for dir in sorted_entries(&prompts_dir).into_iter().filter(|p| p.is_dir()) {
            let prompt_toml = dir.join("prompt.toml");
            if !prompt_toml.is_file() {
                continue;
            }
            let text = read(&prompt_toml);
            prompt_tomls.push((prompt_toml, text));
            let mut versions = 0;
            for file in sorted_entries(&dir) {
                let name = file.file_name().unwrap().to_string_lossy().into_owned();
                if !(name.starts_with('v') && name.ends_with(".prompt") && file.is_file()) {
                    continue;
                }
                versions += 1;
                match front_matter(&read(&file)) {
                    Some(toml) => front_matters.push((file, toml.to_owned())),
                    None => failures.push(format!(
                        "{}: no front matter (a first line `+++` and a closing line `+++`)",
                        display(&file)
                    )),
                }
            }
            if versions == 0 {
                failures.push(format!("{}: no v<N>.prompt file", display(&dir)));
            }
        }
    }
    if prompt_tomls.len() < MIN_PROMPTS {
        failures.push(format!(
            "expected at least {MIN_PROMPTS} {}/*/prompt.toml, found {}",
            display(&prompts_dir),
            prompt_tomls.len()
        ));
    }
    failures.extend(check_files(PROMPT, &prompt_tomls));
    failures.extend(check_files(FRONT_MATTER, &front_matters));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Asserts that `toml` is rejected by `schema`, with a violation whose text (instance path, schema
/// path and message) contains `expected`.
fn check_invalid(schema: &str, toml: &str, expected: &str) {
    let instance = toml_to_json("fixture", toml);
    let violations = violations(&validator(schema), &instance);
    assert!(!violations.is_empty(), "schemas/{schema} accepts the invalid fixture:\n{toml}");
    assert!(
        violations.iter().any(|v| v.contains(expected)),
        "schemas/{schema} rejects the fixture, but no violation mentions {expected:?}:\n{}\n\
         fixture:\n{toml}",
        violations.join("\n")
    );
}

/// Asserts that `toml` is accepted by `schema`.
fn check_valid(schema: &str, toml: &str) {
    let instance = toml_to_json("fixture", toml);
    let violations = violations(&validator(schema), &instance);
    assert!(
        violations.is_empty(),
        "schemas/{schema} rejects the valid fixture:\n{}\nfixture:\n{toml}",
        violations.join("\n")
    );
}

#[test]
fn invalid_promptctl_toml_is_rejected() {
    check_invalid(
        PROMPTCTL,
        r#"
prompt_dir = "prompts"
[environments.production]
"#,
        "'prompt_dir' was unexpected",
    );
    check_invalid(PROMPTCTL, r#"prompts_dir = "prompts""#, "\"environments\" is a required");
    check_invalid(
        PROMPTCTL,
        "[environments.production]\nregion = \"eu\"\n",
        "Additional properties are not allowed ('region' was unexpected)",
    );
    check_invalid(
        PROMPTCTL,
        "[cache]\nttl_seconds = 0\n[environments.production]\n",
        "0 is less than the minimum of 1",
    );
    check_invalid(PROMPTCTL, "[environments]", "/environments/minProperties");
    check_invalid(
        PROMPTCTL,
        r#"
max_template_bytes = 0
[environments.production]
"#,
        "/max_template_bytes/minimum",
    );
    check_invalid(
        PROMPTCTL,
        r#"
max_template_bytes = "16k"
[environments.production]
"#,
        "/max_template_bytes/type",
    );
    check_invalid(
        PROMPTCTL,
        r#"environments = { production = "yes" }"#,
        "at /environments/production",
    );
    check_invalid(
        PROMPTCTL,
        r#"
lock_file = ""
[environments.production]
"#,
        "/lock_file/minLength",
    );
}

#[test]
fn invalid_prompt_toml_is_rejected() {
    check_invalid(PROMPT, r#"owners = ["@ai-team"]"#, "\"description\" is a required");
    check_invalid(PROMPT, r#"description = """#, "/description/minLength");
    check_invalid(
        PROMPT,
        r#"
description = "x"
descripton = "typo"
"#,
        "'descripton' was unexpected",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[activate]
production = "v1"
"#,
        "/activate/additionalProperties/oneOf",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[activate]
production = 0
"#,
        "/activate/additionalProperties/oneOf",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
tags = "critical"
"#,
        "/tags/type",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[[test]]
name = "Chess game"
"#,
        "/name/pattern",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[[test]]
name = "-chess"
"#,
        "/name/pattern",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[[test]]
version = 1
"#,
        "\"name\" is a required",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[[test]]
name = "chess"
contain = ["Chess"]
"#,
        "'contain' was unexpected",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[[test]]
name = "chess"
max_chars = 0
"#,
        "/max_chars/minimum",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[[test]]
name = "chess"
snapshot = "yes"
"#,
        "/snapshot/type",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[test]
name = "chess"
"#,
        "/test/type",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[seed]
version = 1
"#,
        "\"file\" is a required",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[seed]
version = 1
file = "legacy/a.cs"
extract = { between = ["START", "END"], lines = "1-3" }
"#,
        "/extract/maxProperties",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[seed]
version = 1
file = "legacy/a.cs"
extract = {}
"#,
        "/extract/minProperties",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[seed]
version = 1
file = "legacy/a.cs"
extract = { regex = "START(.*)END" }
"#,
        "'regex' was unexpected",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[seed]
version = 1
file = "legacy/a.cs"
extract = { between = ["START"] }
"#,
        "/between/minItems",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[seed]
version = 1
file = "legacy/a.cs"
extract = { between = ["START", ""] }
"#,
        "/between/items/minLength",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[seed]
version = 1
file = "legacy/a.cs"
extract = { lines = "3..10" }
"#,
        "/lines/pattern",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[seed]
version = 1
file = "legacy/a.json"
extract = { json_pointer = "prompts/system" }
"#,
        "/json_pointer/pattern",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[seed]
version = 1
file = "legacy/a.cs"
unescape = "csharp"
"#,
        "/unescape/enum",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[seed]
version = 0
file = "legacy/a.cs"
"#,
        "/version/minimum",
    );
    check_invalid(
        PROMPT,
        r#"
description = "x"
[seed]
version = 1
file = "legacy/a.cs"
var = { game_name = "Chess" }
"#,
        "'var' was unexpected",
    );
}

#[test]
fn invalid_front_matter_is_rejected() {
    check_invalid(FRONT_MATTER, r#"descripton = "typo""#, "'descripton' was unexpected");
    check_invalid(FRONT_MATTER, r#"model = "gpt-4o-mini""#, "/model/type");
    check_invalid(
        FRONT_MATTER,
        r#"variables.game_name = { required = true }"#,
        "\"type\" is a required",
    );
    check_invalid(FRONT_MATTER, r#"variables.game_name = { type = "str" }"#, "/type/enum");
    check_invalid(FRONT_MATTER, r#"variables.game_name = "string""#, "at /variables/game_name");
    check_invalid(
        FRONT_MATTER,
        r#"variables.2nd = { type = "string" }"#,
        r#""2nd" does not match"#,
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.game-name = { type = "string" }"#,
        r#""game-name" does not match"#,
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.game_name = { type = "string", maxlen = 200 }"#,
        "'maxlen' was unexpected",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.game_name = { type = "string", max_len = 0 }"#,
        "/max_len/minimum",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.game_name = { type = "string", required = "yes" }"#,
        "/required/type",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.context = { type = "string", source = "web" }"#,
        "/source/const",
    );
    // `values` belongs to enums, `items` to arrays, `fields` to objects: required there,
    // forbidden elsewhere.
    check_invalid(
        FRONT_MATTER,
        r#"variables.level = { type = "enum" }"#,
        "\"values\" is a required",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.level = { type = "enum", values = [] }"#,
        "/values/minItems",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.level = { type = "enum", values = ["a", "a"] }"#,
        "/values/uniqueItems",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.level = { type = "enum", values = [1, 2] }"#,
        "/values/items/type",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.level = { type = "string", values = ["a", "b"] }"#,
        "/else/not",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.examples = { type = "array" }"#,
        "\"items\" is a required",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.examples = { type = "string", items = "string" }"#,
        "/else/not",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.examples = { type = "array", items = "text" }"#,
        "/scalarTypeName/enum",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.examples = { type = "array", items = "enum" }"#,
        "/scalarTypeName/enum",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.player = { type = "object" }"#,
        "\"fields\" is a required",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.player = { type = "string", fields = { name = { type = "string" } } }"#,
        "/else/not",
    );
    // Nested specs are checked the same way.
    check_invalid(
        FRONT_MATTER,
        r#"variables.examples = { type = "array", items = { type = "enum" } }"#,
        "\"values\" is a required",
    );
    check_invalid(
        FRONT_MATTER,
        r#"variables.player = { type = "object", fields = { name = { type = "string", max = 3 } } }"#,
        "'max' was unexpected",
    );
    check_invalid(
        FRONT_MATTER,
        r#"
[variables.game]
type = "object"
fields.moves = { type = "array", items = { type = "object", fields = { san = { type = "strin" } } } }
"#,
        "at /variables/game/fields/moves/items/fields/san/type",
    );
}

#[test]
fn valid_fixtures_are_accepted() {
    check_valid(
        PROMPTCTL,
        r#"
#:schema schemas/promptctl.schema.json
prompts_dir = "prompts"
lock_file = "prompts.lock"
max_template_bytes = 16384

[environments.production]
[environments.staging]
"#,
    );
    // Defaults for everything but the environments; every setting of an environment.
    check_valid(
        PROMPTCTL,
        r#"
[cache]
key_prefix = "prompts:"
ttl_seconds = 60

[environments.production]
database = "env:PROMPTS_DATABASE_URL"
redis = "redis://127.0.0.1:6379/0"
protected = true
webhook = { url = "https://hooks.example.com/prompts", secret_env = "HOOK_SECRET" }

[environments.staging]
database = "sqlite:.promptctl/store/staging.sqlite3"
"#,
    );
    check_valid(PROMPT, r#"description = "Minimal prompt""#);
    check_valid(
        PROMPT,
        r#"
#:schema ../../schemas/prompt.schema.json
description = "System prompt of the rules Q&A agent"
owners = ["@ai-team"]
tags = ["critical"]

[activate]
production = 1
staging = 2

[seed]
version = 1
file = "legacy/meepleai/RagService.cs"
extract = { between = ["START", "END"] }
unescape = "csharp-verbatim"
vars = { game_name = "Chess" }

[[test]]
name = "chess"
version = 2
vars = { game_name = "Chess", context = "Knights move in an L.", n = 3, tags = ["a"], o = { k = 1.5 } }
contains = ["Chess"]
not_contains = ["{{"]
max_chars = 4000
snapshot = true

[[test]]
name = "0_edge-case"
"#,
    );
    for extract in [
        r#"{ lines = "12-40" }"#,
        r#"{ json_pointer = "/prompts/system" }"#,
        r#"{ json_pointer = "" }"#,
        r#"{ toml_key = "prompts.system" }"#,
    ] {
        check_valid(
            PROMPT,
            &format!(
                "description = \"x\"\n[seed]\nversion = 3\nfile = \"legacy/a\"\nextract = {extract}\n"
            ),
        );
    }
    for unescape in ["none", "c", "csharp-verbatim", "js-template"] {
        check_valid(
            PROMPT,
            &format!(
                "description = \"x\"\n[seed]\nversion = 1\nfile = \"legacy/a\"\nunescape = \"{unescape}\"\n"
            ),
        );
    }

    let version_file = r#"+++
description = "adds few-shot examples"   # optional
variables.game_name = { type = "string", required = true, max_len = 200 }
variables.context   = { type = "string", source = "user", description = "retrieved rule excerpts" }
variables.examples  = { type = "array", items = "string", required = false }
model = { name = "gpt-4o-mini", temperature = 0.2 }      # free-form, carried into the bundle, diffed in review
+++
You are a board-game rules expert for {{game_name}}.
"#;
    check_valid(FRONT_MATTER, front_matter(version_file).expect("front matter"));
    check_valid(FRONT_MATTER, "");
    check_valid(
        FRONT_MATTER,
        r#"
[variables]
level = { type = "enum", values = ["beginner", "expert"] }
turn = { type = "integer" }
temperature = { type = "number", required = false }
verbose = { type = "boolean" }
_private = { type = "string" }

[variables.game]
type = "object"
description = "the game being played"
fields.name = { type = "string", max_len = 80 }
fields.moves = { type = "array", items = { type = "object", fields = { san = { type = "string" } } } }
fields.modes = { type = "array", items = { type = "enum", values = ["blitz"] } }
fields.grid = { type = "array", items = { type = "array", items = "integer" } }

[model]
name = "gpt-4o-mini"
stop = ["\n\n"]
options = { seed = 7 }
"#,
    );
}

#[test]
fn front_matter_is_the_text_between_the_fences() {
    assert_eq!(front_matter("+++\na = 1\n+++\nbody"), Some("a = 1\n"));
    assert_eq!(front_matter("+++\n+++\n"), Some(""));
    assert_eq!(front_matter("+++\r\na = 1\r\n+++\r\nbody"), Some("a = 1\r\n"));
    assert_eq!(front_matter("+++\na = \"+++\"\n +++\n+++"), Some("a = \"+++\"\n +++\n"));
    assert_eq!(front_matter("a = 1\n+++\n"), None);
    assert_eq!(front_matter("++++\na = 1\n+++\n"), None);
    assert_eq!(front_matter("+++\na = 1\n"), None);
    assert_eq!(front_matter("+++"), None);
}

#[test]
fn models_and_eval_settings_are_validated() {
    check_valid(
        PROMPTCTL,
        r#"
[environments.production]

[models.mini]
provider = "openai"
model = "gpt-4o-mini"
parameters = { temperature = 0, max_tokens = 512 }
price = { input = 0.15, output = 0.60 }
max_concurrency = 4
requests_per_minute = 60

[models.azure]
provider = "azure-openai"
model = "my-deployment"
base_url = "https://example.openai.azure.com"
api_version = "2024-06-01"

[models.local]
provider = "openai"
model = "llama3"
base_url = "http://127.0.0.1:8000/v1"
stream = true
timeout_seconds = 60
max_retries = 0

[eval]
judge_model = "mini"
embedding_model = "mini"
judge_prompt = "eval-judge"
"#,
    );
    let with = |models: &str| format!("[environments.production]\n{models}");
    check_invalid(
        PROMPTCTL,
        &with("[models.m]\nprovider = \"cohere\"\nmodel = \"x\"\n"),
        "/provider/enum",
    );
    check_invalid(
        PROMPTCTL,
        &with("[models.m]\nprovider = \"openai\"\nmodel = \"\"\n"),
        "/model/minLength",
    );
    check_invalid(
        PROMPTCTL,
        &with("[models.m]\nprovider = \"openai\"\n"),
        "\"model\" is a required",
    );
    check_invalid(
        PROMPTCTL,
        &with("[models.m]\nprovider = \"azure-openai\"\nmodel = \"d\"\nbase_url = \"https://x\"\n"),
        "\"api_version\" is a required",
    );
    check_invalid(
        PROMPTCTL,
        &with("[models.m]\nprovider = \"openai\"\nmodel = \"x\"\nprice = { input = -1, output = 1 }\n"),
        "/minimum",
    );
    check_invalid(
        PROMPTCTL,
        &with("[models.m]\nprovider = \"openai\"\nmodel = \"x\"\nmax_concurrency = 0\n"),
        "/max_concurrency/minimum",
    );
    check_invalid(
        PROMPTCTL,
        &with("[models.m]\nprovider = \"openai\"\nmodel = \"x\"\napi_key = \"sk-…\"\n"),
        "'api_key' was unexpected",
    );
    check_invalid(PROMPTCTL, &with("[eval]\njudge = \"mini\"\n"), "'judge' was unexpected");
}

#[test]
fn evals_are_validated() {
    check_valid(
        PROMPT,
        r#"
description = "x"

[[eval]]
name = "castling"
model = "mini"
versions = [2]
test = "chess-concise"
input = "How does castling work?"
repeat = 3
assert = [
  { contains = "king" },
  { not_contains = "I can't find that in the rulebook" },
  { regex = "(?i)\\brook\\b" },
  { json = true },
  { json = "evals/answer.schema.json" },
  { max_tokens = 400 },
  { max_chars = 2000 },
  { similar_to = "The king moves two squares", min = 0.8, model = "embed" },
  { similar_to = true },
  { judge = "Cites the section", required = false, pass_rate = 0.5, model = "mini", prompt = "eval-judge" },
  { latency_ms = 8000 },
  { cost = 0.002 },
]

[[eval]]
name = "questions"
model = "mini"
dataset = "evals/questions.jsonl"

[[eval]]
name = "inline"
model = "mini"
vars = { game_name = "Chess" }
"#,
    );
    let with = |eval: &str| format!("description = \"x\"\n\n[[eval]]\n{eval}");
    check_invalid(PROMPT, &with("model = \"mini\"\n"), "\"name\" is a required");
    check_invalid(
        PROMPT,
        &with("name = \"e\"\nmodel = \"mini\"\nrepeats = 2\n"),
        "'repeats' was unexpected",
    );
    check_invalid(
        PROMPT,
        &with("name = \"e\"\nmodel = \"mini\"\ntest = \"t\"\nvars = { a = 1 }\n"),
        "/not",
    );
    check_invalid(PROMPT, &with("name = \"e\"\nmodel = \"mini\"\nrepeat = 0\n"), "/repeat/minimum");
    check_invalid(
        PROMPT,
        &with("name = \"e\"\nmodel = \"mini\"\ndataset = \"evals/q.xlsx\"\n"),
        "/dataset/pattern",
    );
    check_invalid(
        PROMPT,
        &with("name = \"e\"\nmodel = \"mini\"\nassert = [{ contains = \"a\", pass_rate = 1.5 }]\n"),
        "/pass_rate/maximum",
    );
    check_invalid(
        PROMPT,
        &with("name = \"e\"\nmodel = \"mini\"\nassert = [{ contains = \"a\", max_chars = 3 }]\n"),
        "/oneOf",
    );
    check_invalid(
        PROMPT,
        &with("name = \"e\"\nmodel = \"mini\"\nassert = [{ required = false }]\n"),
        "/oneOf",
    );
    check_invalid(
        PROMPT,
        &with("name = \"e\"\nmodel = \"mini\"\nassert = [{ contain = \"a\" }]\n"),
        "'contain' was unexpected",
    );
    check_invalid(
        PROMPT,
        &with("name = \"e\"\nmodel = \"mini\"\nassert = [{ cost = -0.1 }]\n"),
        "/cost/minimum",
    );
}
