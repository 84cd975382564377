//! `promptctl review`: real git repositories in temporary folders (a base commit on `main`, a head
//! on `feature` or in the working tree), every classification of the review, its markdown
//! (snapshots), JSON and GitHub outputs, the size limit, the job summary, redaction, and the
//! errors (unknown base, shallow clone, no repository, bare clone, base without prompts).

use std::path::Path;
use std::process::Command;

use test_support::Git;

use crate::support::{normalize, Repo, Run};

/// Runs git in `dir` with a fixed identity and dates, and without the machine's configuration.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    Git::new("Test", "test@example.invalid")
        .at("2024-01-01T00:00:00Z")
        .run(dir, args)
        .unwrap_or_else(|error| panic!("{error}"))
}

/// A project in a git repository.
pub struct GitRepo {
    pub repo: Repo,
}

impl GitRepo {
    /// A repository whose first commit on `main` holds `files` (plus the default promptctl.toml)
    /// with every version locked, and a branch `feature` checked out on top of it.
    pub fn base(files: &[(&str, &str)]) -> GitRepo {
        let repo = Repo::new(files);
        repo.write(".gitignore", ".promptctl/\n");
        let git = GitRepo { repo };
        git.git(&["init", "-q"]);
        if git.repo.path().join("prompts").read_dir().is_ok_and(|mut d| d.next().is_some()) {
            let lock = git.repo.run(&["lock"]);
            assert_eq!(lock.code, 0, "lock failed:\n{}{}", lock.stdout, lock.stderr);
        }
        git.commit("base");
        git.git(&["checkout", "-q", "-b", "feature"]);
        git
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_in(self.repo.path(), args)
    }

    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
    }

    pub fn write(&self, path: &str, content: &str) {
        self.repo.write(path, content);
    }

    /// `promptctl review ARGS` in the repository, with no GitHub variables of the machine's own.
    pub fn review(&self, args: &[&str]) -> Run {
        review_in(self.repo.path(), args, &[])
    }

    pub fn normalize(&self, text: &str) -> String {
        normalize(text, self.repo.path())
    }
}

/// The GitHub Actions variables a test must not inherit from the machine it runs on.
pub const GITHUB_VARIABLES: &[&str] = &[
    "GITHUB_STEP_SUMMARY",
    "GITHUB_REPOSITORY",
    "GITHUB_EVENT_PATH",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "GITHUB_ACTIONS",
    "PROMPTCTL_COMMENT_AUTHOR",
];

/// Runs `promptctl --color never review ARGS` in `dir` with `env` set and the GitHub variables of
/// the machine removed.
pub fn review_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(crate::support::binary());
    command.args(["--color", "never", "review"]).args(args).current_dir(dir);
    for name in GITHUB_VARIABLES {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("run promptctl");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "promptctl review {args:?} panicked:\n{}",
        run.stderr
    );
    run
}

fn assert_code(run: &Run, code: i32) {
    assert_eq!(run.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

/// The review of prompt `name` in a JSON report.
fn prompt<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["prompts"]
        .as_array()
        .expect("prompts")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no prompt `{name}` in the report: {report:#}"))
}

fn kinds(report: &serde_json::Value, name: &str) -> Vec<String> {
    prompt(report, name)["kinds"]
        .as_array()
        .expect("kinds")
        .iter()
        .map(|k| k.as_str().expect("kind").to_string())
        .collect()
}

const GREETER_TOML: &str = r#"description = "Greets a customer by name"
owners = ["@support"]
tags = ["greeting"]

[activate]
production = 1
staging = 1

[[test]]
name = "ada"
vars = { name = "Ada", tone = "warm" }
contains = ["Ada"]
"#;

const GREETER_V1: &str = r#"+++
variables.name = { type = "string", max_len = 100 }
variables.tone = { type = "enum", values = ["warm", "formal"] }
model = { name = "gpt-4o-mini", temperature = 0.2 }
+++
Hello, {{name}}! Keep a {{tone}} tone.
You help customers of the shop.
"#;

const SUMMARY_TOML: &str = r#"description = "Summarises a ticket"

[activate]
production = 1
staging = 1

[[test]]
name = "short"
vars = { ticket = "The printer is on fire." }
"#;

const SUMMARY_V1: &str = r#"+++
variables.ticket = { type = "string" }
+++
Summarise this ticket in one sentence:
{{ticket}}
"#;

/// `greeter` (v1 locked, served in production and staging) and `summary`, which stays unchanged.
fn shop() -> GitRepo {
    GitRepo::base(&[
        ("prompts/greeter/prompt.toml", GREETER_TOML),
        ("prompts/greeter/v1.prompt", GREETER_V1),
        ("prompts/summary/prompt.toml", SUMMARY_TOML),
        ("prompts/summary/v1.prompt", SUMMARY_V1),
    ])
}

/// A v2 of `greeter` that says "Welcome" instead of "Hello", with the same variables.
const GREETER_V2: &str = r#"+++
variables.name = { type = "string", max_len = 100 }
variables.tone = { type = "enum", values = ["warm", "formal"] }
model = { name = "gpt-4o-mini", temperature = 0.2 }
+++
Welcome, {{name}}! Keep a {{tone}} tone.
You help customers of the shop.
"#;

#[test]
fn new_version_served_in_staging() {
    let repo = shop();
    repo.write("prompts/greeter/v2.prompt", GREETER_V2);
    repo.write("prompts/greeter/prompt.toml", &GREETER_TOML.replace("staging = 1", "staging = 2"));
    let run = repo.review(&["--base", "main"]);
    assert_code(&run, 0);
    insta::assert_snapshot!("new_version_served_in_staging", repo.normalize(&run.stdout));
    let report = json(&repo.review(&["--base", "main", "--format", "json"]));
    assert_eq!(
        kinds(&report, "greeter"),
        ["new-version", "activation-change", "served-text-change", "lint-findings"]
    );
    let greeter = prompt(&report, "greeter");
    assert_eq!(greeter["activations"][0]["environment"], "staging");
    assert_eq!(greeter["activations"][0]["before"], 1);
    assert_eq!(greeter["activations"][0]["after"], 2);
    assert_eq!(greeter["served"].as_array().map(Vec::len), Some(1), "production is unchanged");
    let render = &greeter["served"][0]["renders"][0];
    assert_eq!(
        render["before"]["text"],
        "Hello, Ada! Keep a warm tone.\nYou help customers of the shop.\n"
    );
    assert_eq!(
        render["after"]["text"],
        "Welcome, Ada! Keep a warm tone.\nYou help customers of the shop.\n"
    );
    // v2 is activated but not locked yet: a finding on the new file.
    assert_eq!(greeter["lints"][0]["code"], "lock/unlocked");
    assert_eq!(report["unchanged"], 1);
}

#[test]
fn new_prompt_is_rendered_in_full() {
    let repo = shop();
    repo.write(
        "prompts/farewell/prompt.toml",
        "description = \"Says goodbye\"\n\n[activate]\nproduction = 1\n\n[[test]]\nname = \"bob\"\nvars = { name = \"Bob\" }\n",
    );
    repo.write(
        "prompts/farewell/v1.prompt",
        "+++\nvariables.name = { type = \"string\" }\n+++\nGoodbye, {{name}}.\n",
    );
    // Untracked, the new folder is part of a working-tree review.
    let untracked = json(&repo.review(&["--base", "main", "--format", "json"]));
    assert_eq!(kinds(&untracked, "farewell")[0], "new-prompt");
    repo.commit("farewell");
    let run = repo.review(&["--base", "main", "--head", "feature"]);
    assert_code(&run, 0);
    insta::assert_snapshot!("new_prompt", repo.normalize(&run.stdout));
    let report = json(&repo.review(&["--base", "main", "--head", "feature", "--format", "json"]));
    assert_eq!(kinds(&report, "farewell")[0], "new-prompt");
    assert_eq!(
        prompt(&report, "farewell")["served"][0]["renders"][0]["after"]["text"],
        "Goodbye, Bob.\n"
    );
    assert_eq!(report["head"]["name"], "feature");
    assert!(report["head"]["commit"].is_string());
}

#[test]
fn metadata_and_model_settings() {
    let repo = shop();
    let manifest = GREETER_TOML
        .replace("Greets a customer by name", "Greets a customer by first name")
        .replace("[\"@support\"]", "[\"@support\", \"@growth\"]")
        .replace("production = 1", "production = 2")
        .replace("staging = 1", "staging = 2");
    repo.write("prompts/greeter/prompt.toml", &manifest);
    repo.write(
        "prompts/greeter/v2.prompt",
        &GREETER_V1.replace("temperature = 0.2", "temperature = 0.7, max_tokens = 200"),
    );
    let run = repo.review(&["--base", "main"]);
    assert_code(&run, 0);
    insta::assert_snapshot!("metadata_and_model_settings", repo.normalize(&run.stdout));
    let report = json(&repo.review(&["--base", "main", "--format", "json"]));
    let greeter = prompt(&report, "greeter");
    let kinds = kinds(&report, "greeter");
    assert!(kinds.contains(&"model-change".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"metadata-change".to_string()), "{kinds:?}");
    let metadata: Vec<&str> = greeter["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["field"].as_str().unwrap())
        .collect();
    assert_eq!(metadata, ["description", "owners"]);
    let served = &greeter["served"][0];
    assert_eq!(served["environments"], serde_json::json!(["production", "staging"]));
    let model: Vec<(String, String)> = served["model"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["field"].as_str().unwrap().into(), format!("{} → {}", m["before"], m["after"])))
        .collect();
    assert_eq!(
        model,
        [
            ("max_tokens".to_string(), "null → \"200\"".to_string()),
            ("temperature".to_string(), "\"0.2\" → \"0.7\"".to_string())
        ]
    );
    // Same template: the rendered text does not change even though the served version does.
    assert_eq!(served["renders"][0]["diff"], "");
}

#[test]
fn breaking_variable_contract_change() {
    let repo = shop();
    repo.write(
        "prompts/greeter/prompt.toml",
        &GREETER_TOML.replace("production = 1", "production = 2").replace(
            "vars = { name = \"Ada\", tone = \"warm\" }",
            "vars = { name = \"Ada\", tone = 3, shop = \"Bits & Bobs\" }",
        ),
    );
    repo.write(
        "prompts/greeter/v2.prompt",
        r#"+++
variables.tone = { type = "integer" }
variables.shop = { type = "string" }
variables.emoji = { type = "boolean", required = false }
+++
Hello! Tone level {{tone}}. You help customers of {{shop}}.{{#if emoji}} 🙂{{/if}}
"#,
    );
    let run = repo.review(&["--base", "main"]);
    assert_code(&run, 0);
    insta::assert_snapshot!("breaking_variable_contract_change", repo.normalize(&run.stdout));
    let report = json(&repo.review(&["--base", "main", "--format", "json"]));
    let served = &prompt(&report, "greeter")["served"][0];
    assert_eq!(served["environments"], serde_json::json!(["production"]));
    let contract: Vec<(String, bool)> = served["contract"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["variable"].as_str().unwrap().to_string(), c["breaking"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        contract,
        [
            ("name".to_string(), true),
            ("tone".to_string(), true),
            ("emoji".to_string(), false),
            ("shop".to_string(), true)
        ]
    );
    assert!(kinds(&report, "greeter").contains(&"breaking-contract-change".to_string()));
    // Each side renders with its own test's vars.
    let render = &served["renders"][0];
    assert_eq!(
        render["before"]["text"],
        "Hello, Ada! Keep a warm tone.\nYou help customers of the shop.\n"
    );
    assert!(render["after"]["text"].as_str().unwrap().contains("Bits & Bobs"), "{render:#}");
    let github = repo.review(&["--base", "main", "--format", "github"]);
    assert!(
        github.stdout.lines().any(|l| l.starts_with(
            "::warning file=prompts/greeter/v2.prompt,title=breaking variable-contract change::"
        )),
        "{}",
        github.stdout
    );
}

#[test]
fn compatible_contract_change_is_not_breaking() {
    let repo = shop();
    repo.write("prompts/greeter/prompt.toml", &GREETER_TOML.replace("staging = 1", "staging = 2"));
    repo.write(
        "prompts/greeter/v2.prompt",
        &GREETER_V1
            .replace("max_len = 100", "max_len = 200")
            .replace("+++\nHello", "variables.vip = { type = \"boolean\", required = false }\n+++\n{{#if vip}}Dear {{/if}}Hello"),
    );
    let report = json(&repo.review(&["--base", "main", "--format", "json"]));
    let kinds = kinds(&report, "greeter");
    assert!(kinds.contains(&"contract-change".to_string()), "{kinds:?}");
    assert!(!kinds.contains(&"breaking-contract-change".to_string()), "{kinds:?}");
    let changes: Vec<&str> = prompt(&report, "greeter")["served"][0]["contract"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["max_len 100 → 200", "added (optional boolean)"]);
}

#[test]
fn forbidden_edit_of_a_locked_version() {
    let repo = shop();
    repo.write("prompts/greeter/v1.prompt", &GREETER_V1.replace("of the shop", "of the store"));
    let run = repo.review(&["--base", "main"]);
    assert_code(&run, 1);
    assert!(run.stderr.contains("1 forbidden change(s) to locked versions"), "{}", run.stderr);
    insta::assert_snapshot!("forbidden_edit", repo.normalize(&run.stdout));
    let github = repo.review(&["--base", "main", "--format", "github"]);
    assert_code(&github, 1);
    assert!(
        github.stdout.starts_with("::error file=prompts/greeter/v1.prompt,title=lock/modified::version 1 of `greeter` is locked and was edited"),
        "{}",
        github.stdout
    );
}

#[test]
fn forbidden_deletion_rename_and_lock_rewrite() {
    let repo = GitRepo::base(&[
        ("prompts/greeter/prompt.toml", GREETER_TOML),
        ("prompts/greeter/v1.prompt", GREETER_V1),
        ("prompts/greeter/v2.prompt", GREETER_V2),
        ("prompts/summary/prompt.toml", SUMMARY_TOML),
        ("prompts/summary/v1.prompt", SUMMARY_V1),
    ]);
    // v2 renamed to v3, and summary's locked v1 deleted (its prompt.toml stays).
    std::fs::rename(
        repo.repo.join("prompts/greeter/v2.prompt"),
        repo.repo.join("prompts/greeter/v3.prompt"),
    )
    .unwrap();
    repo.repo.remove("prompts/summary/v1.prompt");
    // Someone rewrote greeter v1 and its lock entry to hide it.
    let edited = GREETER_V1.replace("of the shop", "of the store");
    repo.write("prompts/greeter/v1.prompt", &edited);
    let lock = repo.repo.read("prompts.lock");
    let old = lock.lines().find(|l| l.starts_with("sha256")).unwrap().to_string();
    use sha2::Digest;
    let new = format!("sha256 = \"{}\"", hex::encode(sha2::Sha256::digest(edited.as_bytes())));
    repo.write("prompts.lock", &lock.replacen(&old, &new, 1));
    let run = repo.review(&["--base", "main", "--format", "json"]);
    assert_code(&run, 1);
    let report = json(&run);
    let forbidden = |name: &str| -> Vec<(u64, String)> {
        prompt(&report, name)["forbidden"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["version"].as_u64().unwrap(), f["kind"].as_str().unwrap().to_string()))
            .collect()
    };
    assert_eq!(forbidden("greeter"), [(1, "edited".to_string()), (2, "renamed".to_string())]);
    assert_eq!(forbidden("summary"), [(1, "deleted".to_string())]);
    let rewrites = report["lock_rewrites"].as_array().unwrap();
    assert_eq!(rewrites.len(), 1, "{rewrites:?}");
    assert_eq!(rewrites[0]["kind"], "lock-rewritten");
    assert_eq!(rewrites[0]["prompt"], "greeter");
    let markdown = repo.review(&["--base", "main"]);
    assert_code(&markdown, 1);
    insta::assert_snapshot!(
        "forbidden_deletion_rename_and_lock_rewrite",
        repo.normalize(&markdown.stdout)
    );
}

#[test]
fn deleted_prompts() {
    let repo = GitRepo::base(&[
        ("prompts/summary/prompt.toml", SUMMARY_TOML),
        ("prompts/summary/v1.prompt", SUMMARY_V1),
    ]);
    // A draft that was never locked can go; the locked one cannot.
    repo.write("prompts/draft/prompt.toml", "description = \"A draft\"\n");
    repo.write("prompts/draft/v1.prompt", "+++\n+++\nDraft text\n");
    repo.commit("draft");
    repo.git(&["branch", "-f", "main"]);
    std::fs::remove_dir_all(repo.repo.join("prompts/draft")).unwrap();
    let report = json(&repo.review(&["--base", "main", "--format", "json"]));
    assert_eq!(kinds(&report, "draft"), ["deleted-prompt"]);
    assert!(prompt(&report, "draft")["forbidden"].as_array().unwrap().is_empty());
    let run = repo.review(&["--base", "main"]);
    assert_code(&run, 0);
    insta::assert_snapshot!("deleted_draft", repo.normalize(&run.stdout));

    std::fs::remove_dir_all(repo.repo.join("prompts/summary")).unwrap();
    let run = repo.review(&["--base", "main", "--format", "json"]);
    assert_code(&run, 1);
    let report = json(&run);
    assert_eq!(
        kinds(&report, "summary")[..2],
        ["deleted-prompt".to_string(), "forbidden".to_string()]
    );
    let served = &prompt(&report, "summary")["served"][0];
    assert_eq!(served["after"], serde_json::Value::Null);
}

#[test]
fn lint_findings_on_changed_lines_only() {
    // The base already has a warning (an unused variable) that the review must not repeat.
    let repo = GitRepo::base(&[
        ("prompts/summary/prompt.toml", SUMMARY_TOML),
        (
            "prompts/summary/v1.prompt",
            "+++\nvariables.ticket = { type = \"string\" }\nvariables.unused = { type = \"string\", required = false }\n+++\nSummarise:\n{{ticket}}\n",
        ),
    ]);
    repo.write(
        "prompts/summary/v2.prompt",
        "+++\nvariables.ticket = { type = \"string\" }\n+++\nSummarise for {{audience}}:\n{{ticket}}\n",
    );
    let report = json(&repo.review(&["--base", "main", "--format", "json"]));
    let lints: Vec<(String, String, Option<u64>)> = prompt(&report, "summary")["lints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().into(),
                d["file"].as_str().unwrap().into(),
                d["line"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        lints,
        [("variables/undeclared".to_string(), "prompts/summary/v2.prompt".to_string(), Some(4))]
    );
    let github = repo.review(&["--base", "main", "--format", "github"]);
    assert_eq!(
        github.stdout.lines().next().unwrap_or(""),
        "::error file=prompts/summary/v2.prompt,line=4,endLine=4,col=17,endColumn=24,title=variables/undeclared::variable `audience` is not declared%0Ahelp: declare it in the front matter: `variables.audience = { type = \"string\" }`",
    );
}

#[test]
fn unchanged_served_text_takes_one_line() {
    let repo = shop();
    // Only the tests change, and a new version nobody serves yet.
    repo.write(
        "prompts/greeter/prompt.toml",
        &GREETER_TOML.replace("contains = [\"Ada\"]", "contains = [\"Hello, Ada\"]"),
    );
    repo.write("prompts/greeter/v2.prompt", GREETER_V2);
    let run = repo.review(&["--base", "main"]);
    assert_code(&run, 0);
    insta::assert_snapshot!("unchanged_served_text", repo.normalize(&run.stdout));
    assert!(!run.stdout.contains("```diff"), "{}", run.stdout);
}

#[test]
fn word_level_highlights_and_visible_whitespace() {
    let repo = shop();
    repo.write("prompts/greeter/prompt.toml", &GREETER_TOML.replace("staging = 1", "staging = 2"));
    repo.write(
        "prompts/greeter/v2.prompt",
        &GREETER_V1
            .replace("You help customers of the shop.", "You help loyal customers of the shop.\t "),
    );
    let run = repo.review(&["--base", "main"]);
    assert_code(&run, 0);
    assert!(run.stdout.contains("+You help loyal customers of the shop.→·"), "{}", run.stdout);
    assert!(run.stdout.contains("You help <ins>loyal </ins>customers of the"), "{}", run.stdout);
}

#[test]
fn secrets_are_never_printed() {
    let key = "ghp_R7x2Kq9Lm4Np8Tv3Wb6Yc1Zd5Fh0Gj2Hs7Ak4Dl";
    let repo = shop();
    repo.write("prompts/greeter/prompt.toml", &GREETER_TOML.replace("staging = 1", "staging = 2"));
    repo.write(
        "prompts/greeter/v2.prompt",
        &GREETER_V1.replace("You help", &format!("Use the token {key} to call the API.\nYou help")),
    );
    for format in ["markdown", "json", "github"] {
        let run = repo.review(&["--base", "main", "--format", format]);
        assert!(
            !run.stdout.contains(key) && !run.stderr.contains(key),
            "{format} leaks the key:\n{}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("R7x2Kq9Lm4"),
            "{format} leaks part of the key:\n{}",
            run.stdout
        );
    }
    let markdown = repo.review(&["--base", "main"]);
    assert!(markdown.stdout.contains("security/secret"), "{}", markdown.stdout);
    assert!(markdown.stdout.contains("Use the token ****"), "{}", markdown.stdout);
}

#[test]
fn long_reports_are_shortened_and_written_in_full() {
    let mut files: Vec<(String, String)> = Vec::new();
    let paragraph =
        "Answer the customer's question politely and precisely, citing the handbook. ".repeat(40);
    for index in 0..40 {
        files.push((format!("prompts/p{index:02}/prompt.toml"), "description = \"Long\"\n\n[activate]\nproduction = 1\nstaging = 1\n\n[[test]]\nname = \"t\"\nvars = { x = \"y\" }\n".into()));
        files.push((
            format!("prompts/p{index:02}/v1.prompt"),
            format!(
                "+++\nvariables.x = {{ type = \"string\" }}\n+++\n{{{{x}}}} {paragraph}\nEnd.\n"
            ),
        ));
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let repo = GitRepo::base(&refs);
    for index in 0..40 {
        let path = format!("prompts/p{index:02}/v2.prompt");
        repo.write(&path, &format!("+++\nvariables.x = {{ type = \"string\" }}\n+++\n{{{{x}}}} {paragraph}\nThe end.\n"));
        let manifest = format!("prompts/p{index:02}/prompt.toml");
        repo.write(&manifest, &repo.repo.read(&manifest).replace("staging = 1", "staging = 2"));
    }
    let summary = repo.repo.join("summary.md");
    std::fs::write(&summary, "# earlier step\n").unwrap();
    let run = review_in(
        repo.repo.path(),
        &["--base", "main"],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_code(&run, 0);
    let length = run.stdout.chars().count();
    assert!(length <= 65_536, "{length} characters");
    assert!(
        run.stdout.contains("The whole report is in `.promptctl/review/review.md`"),
        "{}",
        &run.stdout[run.stdout.len() - 600..]
    );
    let full = repo.repo.read(".promptctl/review/review.md");
    assert!(
        full.chars().count() > 65_536,
        "the full report has {} characters",
        full.chars().count()
    );
    assert_eq!(full.matches("#### staging: v1 → v2").count(), 40);
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.starts_with("# earlier step\n<!-- promptctl-review -->"),
        "{}",
        &summary[..200]
    );
    assert_eq!(summary.len(), "# earlier step\n".len() + run.stdout.len() + 1);
}

#[test]
fn base_without_prompts_folder_makes_every_prompt_new() {
    let repo = GitRepo::base(&[]);
    for (path, content) in
        [("prompts/summary/prompt.toml", SUMMARY_TOML), ("prompts/summary/v1.prompt", SUMMARY_V1)]
    {
        repo.write(path, content);
    }
    let run = repo.review(&["--base", "main"]);
    assert_code(&run, 0);
    assert!(
        run.stdout.contains("The base has no prompts folder: every prompt is new."),
        "{}",
        run.stdout
    );
    let report = json(&repo.review(&["--base", "main", "--format", "json"]));
    assert_eq!(report["base_has_prompts"], false);
    assert_eq!(kinds(&report, "summary")[0], "new-prompt");
}

#[test]
fn head_revision_ignores_the_working_tree() {
    let repo = shop();
    repo.write("prompts/greeter/v2.prompt", GREETER_V2);
    repo.commit("v2");
    // An uncommitted edit of a locked version: only a working-tree review sees it.
    repo.write("prompts/greeter/v1.prompt", &GREETER_V1.replace("shop", "store"));
    assert_code(&repo.review(&["--base", "main", "--head", "feature"]), 0);
    assert_code(&repo.review(&["--base", "main"]), 1);
    // The merge base, not the tip of main: commits on main after the branch point are not part
    // of the change.
    repo.git(&["stash", "-q"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.write("prompts/summary/v2.prompt", SUMMARY_V1);
    repo.commit("main moves on");
    let report = json(&repo.review(&["--base", "main", "--head", "feature", "--format", "json"]));
    let names: Vec<&str> =
        report["prompts"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["greeter"]);
    assert_ne!(report["merge_base"], report["base"]["commit"]);
}

/// Prompt `name` of a larger repository: v1 locked, served everywhere, with its own text.
fn numbered(name: &str) -> [(String, String); 2] {
    [
        (
            format!("prompts/{name}/prompt.toml"),
            SUMMARY_TOML.replace("a ticket", &format!("a ticket for {name}")),
        ),
        (
            format!("prompts/{name}/v1.prompt"),
            SUMMARY_V1.replace("one sentence", &format!("one sentence ({name})")),
        ),
    ]
}

#[test]
fn few_changes_among_many_untouched_prompts() {
    // 40 prompts, plus `a` and `a-b`, which git sorts as `a-b/` before `a/`.
    let mut names: Vec<String> = (0..40).map(|i| format!("p{i:02}")).collect();
    names.extend(["a".to_string(), "a-b".to_string()]);
    let files: Vec<(String, String)> = names.iter().flat_map(|name| numbered(name)).collect();
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    let repo = GitRepo::base(&borrowed);
    let v2 = |name: &str| SUMMARY_V1.replace("one sentence", &format!("two sentences ({name})"));
    // A locked version edited, a new version served in staging, a prompt renamed, a prompt
    // deleted, and the lock entry of an untouched prompt removed.
    repo.write("prompts/p05/v1.prompt", &SUMMARY_V1.replace("Summarise", "Sum up"));
    for name in ["p10", "a-b"] {
        repo.write(&format!("prompts/{name}/v2.prompt"), &v2(name));
        let manifest = repo.repo.read(&format!("prompts/{name}/prompt.toml"));
        repo.write(
            &format!("prompts/{name}/prompt.toml"),
            &manifest.replace("staging = 1", "staging = 2"),
        );
    }
    std::fs::rename(repo.repo.join("prompts/p15"), repo.repo.join("prompts/p15-moved")).unwrap();
    std::fs::remove_dir_all(repo.repo.join("prompts/p20")).unwrap();
    let lock = repo.repo.read("prompts.lock");
    let entry = lock.find("\n[[version]]\nname = \"p30\"").expect("p30 is locked");
    let end = lock[entry + 1..].find("\n[[version]]").map_or(lock.len(), |at| entry + 1 + at);
    repo.write("prompts.lock", &format!("{}{}", &lock[..entry], &lock[end..]));

    let summary = |run: &Run| {
        assert_code(run, 1);
        let report = json(run);
        let prompts: Vec<(String, Vec<String>, Vec<String>)> = report["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let strings = |key: &str, field: Option<&str>| -> Vec<String> {
                    p[key]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| field.map_or(v, |f| &v[f]).as_str().unwrap().to_string())
                        .collect()
                };
                (
                    p["name"].as_str().unwrap().to_string(),
                    strings("kinds", None),
                    strings("forbidden", Some("kind")),
                )
            })
            .collect();
        (prompts, report["unchanged"].clone(), report["lock_rewrites"].clone())
    };
    let working_tree = summary(&repo.review(&["--base", "main", "--format", "json"]));
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        working_tree.0,
        [
            (
                "a-b".to_string(),
                strings(&[
                    "new-version",
                    "activation-change",
                    "served-text-change",
                    "lint-findings"
                ]),
                vec![]
            ),
            (
                "p05".to_string(),
                strings(&["forbidden", "served-text-change"]),
                strings(&["edited"])
            ),
            (
                "p10".to_string(),
                strings(&[
                    "new-version",
                    "activation-change",
                    "served-text-change",
                    "lint-findings"
                ]),
                vec![]
            ),
            (
                "p15".to_string(),
                strings(&[
                    "deleted-prompt",
                    "forbidden",
                    "activation-change",
                    "served-text-change"
                ]),
                strings(&["renamed"])
            ),
            (
                "p15-moved".to_string(),
                strings(&["new-prompt", "served-text-change", "lint-findings"]),
                vec![]
            ),
            (
                "p20".to_string(),
                strings(&[
                    "deleted-prompt",
                    "forbidden",
                    "activation-change",
                    "served-text-change"
                ]),
                strings(&["deleted"])
            ),
        ]
    );
    // 42 prompts on the base, two of them gone, three changed in place.
    assert_eq!(working_tree.1, 37);
    let rewrites = working_tree.2.as_array().unwrap();
    assert_eq!(rewrites.len(), 1, "{rewrites:?}");
    assert_eq!(
        (rewrites[0]["prompt"].as_str(), rewrites[0]["kind"].as_str()),
        (Some("p30"), Some("lock-removed"))
    );

    // Committed, the two trees say the same, and so does the (now clean) working tree.
    repo.commit("changes");
    assert_eq!(
        summary(&repo.review(&["--base", "main", "--head", "feature", "--format", "json"])),
        working_tree
    );
    assert_eq!(summary(&repo.review(&["--base", "main", "--format", "json"])), working_tree);
}

#[test]
fn head_revision_reads_its_own_lock_not_the_working_trees() {
    let repo = shop();
    repo.write("prompts/greeter/v2.prompt", GREETER_V2);
    repo.commit("v2");
    let lock = repo.repo.read("prompts.lock");
    let rewrites = |args: &[&str]| {
        let run = repo.review(&[&["--base", "main", "--format", "json"], args].concat());
        json(&run)["lock_rewrites"].as_array().unwrap().len()
    };
    // A clean checkout: the working tree's lock is the commit's.
    assert_eq!(rewrites(&["--head", "feature"]), 0);
    // A digest rewritten in place (same size) and an entry removed, neither committed: only the
    // working tree has them.
    let sha = lock.lines().find(|l| l.starts_with("sha256")).unwrap();
    let same_size = lock.replacen(sha, &format!("sha256 = \"{}\"", "0".repeat(64)), 1);
    assert_eq!(same_size.len(), lock.len());
    let entry = lock.find("\n[[version]]").unwrap();
    let next = lock[entry + 1..].find("\n[[version]]").map_or(lock.len(), |at| entry + 1 + at);
    let removed = format!("{}{}", &lock[..entry], &lock[next..]);
    for edited in [same_size, removed] {
        repo.write("prompts.lock", &edited);
        assert_eq!(rewrites(&["--head", "feature"]), 0, "{edited}");
        assert_eq!(rewrites(&[]), 1, "{edited}");
    }
}

#[test]
fn bare_clone_reads_everything_from_git_objects() {
    let repo = shop();
    repo.write("prompts/greeter/v2.prompt", GREETER_V2);
    repo.write("prompts/greeter/prompt.toml", &GREETER_TOML.replace("staging = 1", "staging = 2"));
    repo.commit("v2");
    let outer = tempfile::tempdir().unwrap();
    git_in(
        outer.path(),
        &["clone", "-q", "--bare", repo.repo.path().to_str().unwrap(), "bare.git"],
    );
    let bare = outer.path().join("bare.git");
    let run = review_in(&bare, &["--base", "main", "--head", "feature", "--format", "json"], &[]);
    assert_code(&run, 0);
    let report = json(&run);
    assert_eq!(
        kinds(&report, "greeter")[..2],
        ["new-version".to_string(), "activation-change".to_string()]
    );
    let without_head = review_in(&bare, &["--base", "main"], &[]);
    assert_code(&without_head, 2);
    assert_eq!(
        without_head.stderr,
        "error: a bare repository has no working tree to review; pass `--head REV`\n"
    );
}

#[test]
fn unknown_base_revision() {
    let repo = shop();
    let run = repo.review(&["--base", "origin/nope"]);
    assert_code(&run, 2);
    insta::assert_snapshot!("unknown_base", repo.normalize(&run.stderr));
}

#[test]
fn shallow_clones_say_to_fetch_more_history() {
    let repo = shop();
    repo.write("prompts/greeter/v2.prompt", GREETER_V2);
    repo.commit("v2");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("prompts/summary/v2.prompt", SUMMARY_V1);
    repo.commit("main moves on");
    let outer = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.repo.path().display());
    // Only the tip of feature: main is not there at all.
    git_in(outer.path(), &["clone", "-q", "--depth", "1", "--branch", "feature", &url, "one"]);
    let run = review_in(&outer.path().join("one"), &["--base", "origin/main"], &[]);
    assert_code(&run, 2);
    assert_eq!(run.stderr, "error: unknown revision `origin/main` in this shallow clone; fetch more history (`git fetch --deepen=200 origin`, or `git fetch --unshallow`; in GitHub Actions set `fetch-depth: 0` on actions/checkout)\n");
    // Both tips, but not the commit they share.
    git_in(
        outer.path(),
        &["clone", "-q", "--depth", "1", "--no-single-branch", "--branch", "feature", &url, "tips"],
    );
    let run = review_in(&outer.path().join("tips"), &["--base", "origin/main"], &[]);
    assert_code(&run, 2);
    assert_eq!(run.stderr, "error: this shallow clone lacks the merge base of `origin/main` and `HEAD`; fetch more history (`git fetch --deepen=200 origin`, or `git fetch --unshallow`; in GitHub Actions set `fetch-depth: 0` on actions/checkout)\n");
    // Deepening fixes it.
    git_in(&outer.path().join("tips"), &["fetch", "-q", "--unshallow"]);
    let run = review_in(&outer.path().join("tips"), &["--base", "origin/main"], &[]);
    assert_code(&run, 0);
}

#[test]
fn not_a_git_repository() {
    let repo = Repo::new(&crate::support::minimal_prompt("greet"));
    let run = review_in(repo.path(), &["--base", "main"], &[]);
    assert_code(&run, 2);
    assert_eq!(
        repo.normalize(&run.stderr),
        "error: `[ROOT]` is not inside a git repository; run `promptctl review` in a clone of the repository\n"
    );
}

#[test]
fn review_help() {
    let output = Command::new(crate::support::binary())
        .args(["review", "--help"])
        .env_remove("GITHUB_TOKEN")
        .output()
        .expect("run promptctl");
    insta::assert_snapshot!("review_help", String::from_utf8(output.stdout).expect("UTF-8"));
}
