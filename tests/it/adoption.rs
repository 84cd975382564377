//! A new team's first hour, as it would go: the installed binary alone (copied out of the build,
//! nothing of this repository visible to it) in an empty git repository whose application holds a
//! hard-coded prompt: `init`, `import`, `check`, `lock`, `keygen`, `build`, `verify-bundle`,
//! `publish` into the embedded store, a change with `new --next`, `review`, and the written TOML
//! files checked by taplo against the schemas `init` wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The legacy application: a system prompt hard-coded in Python.
const APP: &str = r#"import os

SYSTEM = """You are the support assistant of Acme Cloud.
Answer in at most five sentences, and say when you do not know.
"""


def reply(question):
    return call_model(SYSTEM, question)
"#;

struct Step {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `program args` in `dir` with a clean environment: PATH with the installed binary first,
/// HOME in the sandbox, no promptctl or GitHub variables of the test's own shell.
fn run(sandbox: &Path, dir: &Path, program: &str, args: &[&str]) -> Step {
    let bin = sandbox.join("prefix/bin");
    let path = std::env::var("PATH").unwrap_or_default();
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", format!("{}:{path}", bin.display()))
        .env("HOME", sandbox.join("home"))
        .env("LC_ALL", "C")
        .env("USER", "newcomer")
        .env("GIT_AUTHOR_NAME", "New Comer")
        .env("GIT_AUTHOR_EMAIL", "newcomer@example.com")
        .env("GIT_COMMITTER_NAME", "New Comer")
        .env("GIT_COMMITTER_EMAIL", "newcomer@example.com")
        .output()
        .unwrap_or_else(|error| panic!("run {program}: {error}"));
    let step = Step {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(!step.stderr.contains("panicked"), "{program} {args:?} panicked:\n{}", step.stderr);
    step
}

fn ok(step: Step, what: &str) -> Step {
    assert_eq!(
        step.code, 0,
        "{what} exited {}\n--- stdout\n{}\n--- stderr\n{}",
        step.code, step.stdout, step.stderr
    );
    step
}

/// taplo on PATH, else where `cargo xtask verify` installs it (`target/ci-tools/taplo-*/bin`), or `None` said
/// loudly (under `CI=true`, a failure).
fn taplo() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join("taplo")).find(|path| path.is_file())
    });
    let target = crate::support::target_dir();
    let found = on_path.or_else(|| {
        let tools = std::fs::read_dir(target.join("ci-tools")).ok()?;
        tools.flatten().map(|tool| tool.path().join("bin/taplo")).find(|path| path.is_file())
    });
    if found.is_none() {
        let message = "taplo is not installed (`npm install -g @taplo/cli`): the schema check of the new user's TOML files is skipped";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}, and CI=true requires it");
        eprintln!("\n\n*** WARNING: {message} ***\n");
    }
    found
}

#[test]
fn a_new_team_goes_from_nothing_to_a_published_prompt() {
    let sandbox = tempfile::Builder::new().prefix("promptctl-newcomer-").tempdir().unwrap();
    let sandbox = sandbox.path();
    // "Installed": the binary copied alone into a prefix.
    std::fs::create_dir_all(sandbox.join("prefix/bin")).unwrap();
    std::fs::create_dir_all(sandbox.join("home")).unwrap();
    std::fs::copy(crate::support::binary(), sandbox.join("prefix/bin/promptctl")).unwrap();
    let repo = sandbox.join("acme-support");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("app.py"), APP).unwrap();
    let p = |args: &[&str]| run(sandbox, &repo, "promptctl", args);
    let git = |args: &[&str]| ok(run(sandbox, &repo, "git", args), &format!("git {args:?}"));
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "the application"]);

    // Before init, the error says what to do.
    let lost = p(&["check"]);
    assert_eq!(lost.code, 2);
    assert!(lost.stderr.contains("run `promptctl init`"), "{}", lost.stderr);

    let init = ok(p(&["init"]), "init");
    for file in ["promptctl.toml", "prompts.lock", "schemas/prompt.schema.json"] {
        assert!(init.stdout.contains(&format!("wrote {file}")), "{}", init.stdout);
    }
    assert!(init.stdout.contains("next:"), "{}", init.stdout);
    // Idempotent: a second run writes nothing and changes nothing.
    let config_before = std::fs::read(repo.join("promptctl.toml")).unwrap();
    let again = ok(p(&["init"]), "init again");
    assert!(!again.stdout.contains("wrote "), "{}", again.stdout);
    assert!(again.stdout.contains("kept promptctl.toml"), "{}", again.stdout);
    assert_eq!(std::fs::read(repo.join("promptctl.toml")).unwrap(), config_before);

    let import =
        p(&["import", "support-bot", "--from", "app.py", "--between", "SYSTEM = \"\"\"", "\"\"\""]);
    let import = ok(import, "import");
    assert!(
        import.stdout.contains("reproduces the legacy text byte for byte"),
        "{}",
        import.stdout
    );
    let manifest = std::fs::read_to_string(repo.join("prompts/support-bot/prompt.toml")).unwrap();
    assert!(manifest.starts_with("#:schema ../../schemas/prompt.schema.json\n"), "{manifest}");

    ok(p(&["check"]), "check");
    let locked = ok(p(&["lock"]), "lock");
    assert!(locked.stdout.contains("locked support-bot v1"), "{}", locked.stdout);
    let keygen = ok(p(&["keygen"]), "keygen");
    assert!(keygen.stdout.contains("added `keys/promptctl.pub`"), "{}", keygen.stdout);
    let key_id = keygen.stdout.split("public key ").nth(1).unwrap()[..16].to_string();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "prompts under promptctl"]);

    let built = ok(p(&["build"]), "build");
    assert!(
        built.stdout.contains(&format!("with key {key_id} (`.promptctl/keys/promptctl.key`)")),
        "{}",
        built.stdout
    );
    assert!(!built.stderr.contains("development"), "{}", built.stderr);
    let verified = ok(p(&["verify-bundle", ".promptctl/build"]), "verify-bundle");
    assert!(verified.stdout.contains(&format!("signed by key {key_id}")), "{}", verified.stdout);
    let published = ok(p(&["publish", "--env", "production"]), "publish");
    assert!(published.stdout.contains("published `production`"), "{}", published.stdout);
    assert!(published.stdout.contains("activate support-bot (none) -> v1"), "{}", published.stdout);

    let next = ok(p(&["new", "support-bot", "--next"]), "new --next");
    assert!(next.stdout.contains("wrote prompts/support-bot/v2.prompt"), "{}", next.stdout);
    let review = ok(p(&["review", "--base", "main", "--format", "json"]), "review");
    let report: serde_json::Value = serde_json::from_str(&review.stdout).expect("JSON review");
    assert!(review.stdout.contains("support-bot"), "{report:#}");

    if let Some(taplo) = taplo() {
        let taplo = taplo.to_string_lossy().into_owned();
        let tomls =
            ["promptctl.toml", "prompts/greeting/prompt.toml", "prompts/support-bot/prompt.toml"];
        let mut args = vec!["check"];
        args.extend(tomls);
        ok(run(sandbox, &repo, &taplo, &args), "taplo check");
        // The schema is really applied: an unknown key fails.
        let mut broken = manifest.clone();
        broken.push_str("\nnot_a_key = 1\n");
        std::fs::write(repo.join("prompts/support-bot/prompt.toml"), broken).unwrap();
        let refused = run(sandbox, &repo, &taplo, &["check", "prompts/support-bot/prompt.toml"]);
        assert_ne!(refused.code, 0, "taplo accepted an unknown key:\n{}", refused.stderr);
    }
}
