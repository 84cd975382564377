//! `init`, `new`, `new --next`, `schema` and `keygen`'s edit of promptctl.toml, beyond the
//! new-user walk of `adoption.rs`: CI files, idempotence, refusals, and comments kept.

use crate::support::{run_in, run_with, Repo};

fn empty_folder() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("promptctl-it-init-").tempdir().unwrap()
}

fn expect(run: &crate::support::Run, code: i32) {
    assert_eq!(run.code, code, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}

#[test]
fn init_writes_a_github_workflow_when_asked_and_never_overwrites() {
    let dir = empty_folder();
    std::fs::create_dir_all(dir.path().join(".github")).unwrap();
    std::fs::write(dir.path().join(".gitignore"), "target/").unwrap();
    std::fs::write(dir.path().join("prompts.lock"), "# ours\n").unwrap();
    let init = run_with(dir.path(), &[], &["init"]);
    expect(&init, 0);
    // .github/ exists: the workflow is written by default, and uses the Action.
    let workflow =
        std::fs::read_to_string(dir.path().join(".github/workflows/prompts.yml")).unwrap();
    assert!(workflow.contains("uses: promptctl/promptctl@"), "{workflow}");
    assert!(workflow.contains("command: check --format github"), "{workflow}");
    assert!(workflow.contains("fetch-depth: 0"), "{workflow}");
    // Existing files are kept, and said so; .gitignore gets its line on a new line.
    assert!(init.stdout.contains("kept prompts.lock"), "{}", init.stdout);
    assert_eq!(std::fs::read_to_string(dir.path().join("prompts.lock")).unwrap(), "# ours\n");
    let ignore = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
    assert!(ignore.starts_with("target/\n") && ignore.ends_with(".promptctl/\n"), "{ignore}");
    // Not a git repository: the next steps start with `git init`.
    assert!(init.stdout.contains("git init && git add -A"), "{}", init.stdout);
    // The example checks (a warning for the unlocked version only) and locks.
    let check = run_in(dir.path(), &["check"]);
    expect(&check, 0);
    assert!(check.stderr.contains("1 warning"), "{}", check.stderr);
    expect(&run_in(dir.path(), &["lock"]), 0);
    let clean = run_in(dir.path(), &["check"]);
    assert!(clean.stderr.contains("no problems"), "{}", clean.stderr);

    let again = run_with(dir.path(), &[], &["init", "--ci", "github"]);
    expect(&again, 0);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert!(!again.stdout.contains("wrote "), "{}", again.stdout);
}

#[test]
fn init_without_github_writes_no_workflow() {
    let dir = empty_folder();
    expect(&run_with(dir.path(), &[], &["init"]), 0);
    assert!(!dir.path().join(".github").exists());
    expect(&run_with(dir.path(), &[], &["init", "--ci", "none"]), 0);
    assert!(!dir.path().join(".github").exists());
}

#[test]
fn new_refuses_a_bad_name_with_the_checks_diagnostic() {
    let repo = Repo::new(&[] as &[(&str, &str)]);
    let refused = run_in(repo.path(), &["new", "Bad_Name"]);
    expect(&refused, 1);
    assert!(refused
        .stderr
        .contains("error[structure/name]: `Bad_Name` is not a valid prompt name"));
    assert!(refused.stderr.contains("e.g. to `bad-name`"), "{}", refused.stderr);
    assert_eq!(refused.stdout, "");
    assert!(!repo.join("prompts/Bad_Name").exists());
    let next = run_in(repo.path(), &["new", "Bad_Name", "--next"]);
    expect(&next, 1);
    assert!(next.stderr.contains("error[structure/name]"), "{}", next.stderr);
}

#[test]
fn new_creates_a_prompt_that_checks_and_refuses_an_existing_one() {
    let repo = Repo::new(&[] as &[(&str, &str)]);
    let created = run_in(repo.path(), &["new", "faq-bot", "--description", "Answers \"FAQ\""]);
    expect(&created, 0);
    assert!(created.stdout.contains("wrote prompts/faq-bot/v1.prompt"), "{}", created.stdout);
    assert!(repo
        .read("prompts/faq-bot/prompt.toml")
        .contains("description = \"Answers \\\"FAQ\\\"\""));
    let check = run_in(repo.path(), &["check"]);
    expect(&check, 0);
    let again = run_in(repo.path(), &["new", "faq-bot"]);
    expect(&again, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    // --quiet: what was written, not the advice on what to do next.
    assert!(created.stdout.contains("\nnext: "), "{}", created.stdout);
    let quiet = run_in(repo.path(), &["new", "faq-bot-2", "-q"]);
    expect(&quiet, 0);
    assert!(quiet.stdout.contains("wrote prompts/faq-bot-2/v1.prompt"), "{}", quiet.stdout);
    assert!(!quiet.stdout.contains("next:"), "{}", quiet.stdout);
    let next = run_in(repo.path(), &["--quiet", "new", "faq-bot", "--next"]);
    expect(&next, 0);
    assert!(next.stdout.contains("wrote prompts/faq-bot/v2.prompt"), "{}", next.stdout);
    assert!(!next.stdout.contains("next:"), "{}", next.stdout);
}

#[test]
fn new_next_copies_the_latest_version_its_test_and_points_staging_at_it() {
    let repo = Repo::new(&[] as &[(&str, &str)]);
    expect(&run_in(repo.path(), &["new", "faq-bot"]), 0);
    // A comment and a snapshot test of v1 that --next must keep and copy.
    let manifest = repo.read("prompts/faq-bot/prompt.toml");
    let manifest =
        manifest.replace("[activate]", "# who serves what\n[activate]") + "snapshot = true\n";
    repo.write("prompts/faq-bot/prompt.toml", &manifest);
    expect(&run_in(repo.path(), &["check", "--bless"]), 0);
    let next = run_in(repo.path(), &["new", "faq-bot", "--next"]);
    expect(&next, 0);
    assert_eq!(repo.read("prompts/faq-bot/v2.prompt"), repo.read("prompts/faq-bot/v1.prompt"));
    let edited = repo.read("prompts/faq-bot/prompt.toml");
    assert!(edited.contains("# who serves what\n[activate]\nstaging = 2\n"), "{edited}");
    assert!(edited.contains("name = \"v1-example\"\nversion = 1\n"), "{edited}");
    assert!(edited.contains("name = \"v1-example-v2\"\nversion = 2\n"), "{edited}");
    assert!(repo.join("prompts/faq-bot/snapshots/v1-example-v2.v2.txt").is_file());
    let check = run_in(repo.path(), &["check"]);
    expect(&check, 0);
    assert!(!check.stdout.contains("error"), "{}", check.stdout);
    let third = run_in(repo.path(), &["new", "faq-bot", "--next"]);
    expect(&third, 0);
    assert!(repo.read("prompts/faq-bot/prompt.toml").contains("staging = 3"));
    let missing = run_in(repo.path(), &["new", "nobody", "--next"]);
    expect(&missing, 2);
    assert!(missing.stderr.contains("no prompt `nobody`"), "{}", missing.stderr);
}

#[test]
fn keygen_lists_its_key_keeping_comments_unless_told_not_to() {
    let repo = Repo::new(&[] as &[(&str, &str)]);
    let config = format!("# our settings\n{}", repo.read("promptctl.toml"));
    repo.write("promptctl.toml", &config);
    let keygen = run_in(repo.path(), &["keygen"]);
    expect(&keygen, 0);
    let edited = repo.read("promptctl.toml");
    assert!(edited.starts_with(&config), "{edited}");
    assert!(edited.contains("public_keys = [\"keys/promptctl.pub\"]"), "{edited}");
    let other = run_in(
        repo.path(),
        &["keygen", "--public", "other.pub", "--secret", "other.key", "--no-config"],
    );
    expect(&other, 0);
    assert_eq!(repo.read("promptctl.toml"), edited, "--no-config edited promptctl.toml");
    assert!(other.stdout.contains("list it in `[signing] public_keys`"), "{}", other.stdout);
}

#[test]
fn schema_writes_the_schemas_once() {
    let repo = Repo::new(&[] as &[(&str, &str)]);
    let written = run_in(repo.path(), &["schema", "--write", "editor/schemas"]);
    expect(&written, 0);
    let text = repo.read("editor/schemas/prompt.schema.json");
    let _: serde_json::Value = serde_json::from_str(&text).unwrap();
    let again = run_in(repo.path(), &["schema", "--write", "editor/schemas"]);
    assert!(again.stdout.contains("kept editor/schemas/prompt.schema.json"), "{}", again.stdout);
}
