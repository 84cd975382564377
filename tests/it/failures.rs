//! Operational failures (exit 2) under `--format json`: still one JSON object with a stable code on
//! stdout, so that a script reading stdout never meets plain text; the human error stays on stderr.

use serde_json::Value;

use crate::support::{minimal_prompt, run_in, Repo};

/// Runs `args` in `dir` and returns the one JSON object stdout holds, after checking exit 2, the
/// code, and that stderr still says it in words.
fn failure(dir: &std::path::Path, args: &[&str], code: &str) -> Value {
    let run = run_in(dir, args);
    assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
    let value: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!("{args:?}: stdout is not one JSON value ({e}):\n{}", run.stdout)
    });
    assert!(value.is_object(), "{args:?}: {value}");
    assert_eq!(value["code"], code, "{args:?}: {value}");
    assert_eq!(value["severity"], "error");
    assert_eq!(value["exit"], 2);
    let message = value["message"].as_str().expect("a message");
    assert!(!message.is_empty());
    assert!(run.stderr.starts_with(&format!("error: {message}")), "{args:?}: {}", run.stderr);
    value
}

#[test]
fn no_project_is_a_json_failure() {
    let empty = tempfile::tempdir().expect("temporary folder");
    let value = failure(empty.path(), &["check", "--format", "json"], "failure/no-project");
    assert!(value["message"].as_str().unwrap_or_default().contains("promptctl.toml"), "{value}");
    failure(empty.path(), &["render", "x", "--format", "json"], "failure/no-project");
    failure(empty.path(), &["diff", "x", "1", "2", "--format", "json"], "failure/no-project");
    failure(
        empty.path(),
        &["history", "--env", "production", "--format", "json"],
        "failure/no-project",
    );

    // Without --format json: nothing on stdout, the error on stderr.
    let human = run_in(empty.path(), &["check"]);
    assert_eq!((human.code, human.stdout.as_str()), (2, ""));
    assert!(
        human.stderr.starts_with("error: ") && human.stderr.contains("promptctl.toml"),
        "{}",
        human.stderr
    );
}

#[test]
fn invalid_config_and_unreadable_files_are_json_failures() {
    let repo = Repo::new(&minimal_prompt("hello"));
    repo.write("promptctl.toml", "prompts_dir = [\n");
    failure(repo.path(), &["check", "--format", "json"], "failure/config");

    let repo = Repo::new(&minimal_prompt("hello"));
    let value = failure(
        repo.path(),
        &["render", "hello", "--vars", "no-such-vars.json", "--format", "json"],
        "failure/io",
    );
    assert!(value["message"].as_str().unwrap_or_default().contains("no-such-vars.json"), "{value}");
    // A path to check that does not exist.
    failure(repo.path(), &["check", "prompts/nope", "--format", "json"], "failure/io");
}

#[test]
fn an_unreachable_store_is_a_json_failure_without_its_password() {
    let repo = Repo::new(&minimal_prompt("hello"));
    let config = repo.read("promptctl.toml");
    repo.write(
        "promptctl.toml",
        &format!("{config}\n[environments.remote]\ndatabase = \"postgres://promptctl:hunter2-secret@127.0.0.1:1/prompts?connect_timeout=2\"\n"),
    );
    let run = run_in(repo.path(), &["status", "--env", "remote", "--format", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let value: Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(value["code"], "failure/store", "{value}");
    assert!(!run.stdout.contains("hunter2"), "the password leaks: {}", run.stdout);
    assert!(!run.stderr.contains("hunter2"), "the password leaks: {}", run.stderr);
}

#[test]
fn a_usage_error_under_format_json_is_a_json_failure() {
    let empty = tempfile::tempdir().expect("temporary folder");
    for args in [
        &["check", "--format", "json", "--no-such-flag"][..],
        &["check", "--format=json", "--no-such-flag"],
        &["rollout", "qa", "--env", "production", "-f", "json"],
        &["rollback", "qa", "--to", "three", "--reason", "x", "--env", "p", "--format", "json"],
    ] {
        let run = crate::support::run_isolated(empty.path(), args, &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        let value: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|error| {
            panic!("{args:?}: stdout is not JSON ({error}): {}", run.stdout)
        });
        assert_eq!(value["code"], "failure/usage", "{args:?}");
        assert_eq!(value["exit"], 2);
        let message = value["message"].as_str().expect("a message");
        assert!(
            !message.is_empty() && run.stderr.contains(message),
            "{args:?}: {value}\n{}",
            run.stderr
        );
    }
    // Without JSON, clap's text alone; help is not a failure.
    let run = crate::support::run_isolated(empty.path(), &["check", "--no-such-flag"], &[]);
    assert_eq!((run.code, run.stdout.as_str()), (2, ""));
    let run =
        crate::support::run_isolated(empty.path(), &["check", "--format", "json", "--help"], &[]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Usage"), "{}", run.stdout);
}
