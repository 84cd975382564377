//! `promptctl diff`: two versions, or environments' activations, rendered with the same vars and
//! compared by line and by word (invisible characters shown); JSON and Markdown; `--exit-code`;
//! side A from a git revision; a contract one side lacks.

use crate::render::{project, VERSION};
use crate::support::Run;
use test_support::git;

#[track_caller]
fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "--- stdout\n{}\n--- stderr\n{}", run.stdout, run.stderr);
    run
}

#[test]
fn two_versions_rendered_with_one_test_differ_by_line_and_word() {
    let repo = project();
    // v2 is v1 with `Hello` → `Hi` and the nickname printed unguarded.
    let run = ok(repo.run(&["diff", "greet", "1", "2", "--test", "ada", "--var", "nickname=Ace"]));
    let expected = "\
greet: v1 → v2, with the vars of test `ada`
1 line added, 1 line removed

--- greet v1
+++ greet v2
@@ -1,1 +1,1 @@
-Hello Ada (2, warm) #7 [a] [b] aka Ace
+Hi Ada (2, warm) #7 [a] [b] aka Ace

changed words:
  line 1: [-Hello-]{+Hi+} Ada (2, warm) #7 [a] [b] aka Ace
";
    assert_eq!(run.stdout, expected);
    assert_eq!(
        repo.run(&[
            "diff",
            "greet",
            "1",
            "2",
            "--test",
            "ada",
            "--var",
            "nickname=Ace",
            "--exit-code"
        ])
        .code,
        1
    );

    // The same version on both sides (production activates v1): identical, exit 0 even with
    // --exit-code.
    let same = ok(repo.run(&["diff", "greet", "1", "@production", "--test", "ada", "--exit-code"]));
    assert!(same.stdout.contains("the rendered texts are identical"), "{}", same.stdout);

    // JSON: both texts, their template digests, the diff and the words.
    let json = ok(repo.run(&[
        "diff",
        "greet",
        "@production",
        "@staging",
        "--test",
        "ada",
        "--var",
        "nickname=Ace",
        "--format",
        "json",
    ]));
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["a"]["version"], 1);
    assert_eq!(json["b"]["version"], 2);
    assert_eq!(json["b"]["text"], "Hi Ada (2, warm) #7 [a] [b] aka Ace\n");
    assert_eq!(json["added_lines"], 1);
    assert_eq!(json["words"][0]["line"], 1);
    assert_ne!(json["a"]["sha256"], json["b"]["sha256"]);

    let markdown = ok(repo.run(&[
        "diff",
        "greet",
        "1",
        "2",
        "--test",
        "ada",
        "--var",
        "nickname=Ace",
        "--format",
        "markdown",
    ]));
    assert!(markdown.stdout.starts_with("### `greet`: v1 → v2"), "{}", markdown.stdout);
    assert!(markdown.stdout.contains("```diff\n--- greet v1\n"), "{}", markdown.stdout);
}

#[test]
fn invisible_changes_are_shown_and_a_missing_variable_is_a_diagnostic() {
    let repo = project();
    repo.write(
        "prompts/greet/v3.prompt",
        &VERSION.replace("Hello {{name}}", "Hello\u{a0}{{name}}\t"),
    );
    let run = ok(repo.run(&["diff", "greet", "1", "3", "--test", "ada"]));
    assert!(run.stdout.contains("+Hello⍽Ada"), "{}", run.stdout);
    assert!(run.stdout.contains("+Hello⍽Ada→ (2"), "the tab is shown: {}", run.stdout);

    // The test's vars lack the nickname v2 prints unguarded: v2's render failure, not a diff.
    let run = repo.run(&["diff", "greet", "1", "2", "--test", "ada"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("error[render/failed]: v2 fails to render"), "{}", run.stderr);
}

#[test]
fn side_a_can_come_from_a_git_revision() {
    let repo = project();
    let root = repo.path();
    let v3 = VERSION.replace("Hello", "Greetings");
    repo.write("prompts/greet/v3.prompt", &v3);
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "v3"]);
    // v3 is not locked yet: its draft changes in the working tree.
    repo.write("prompts/greet/v3.prompt", &v3.replace("Greetings", "Welcome"));
    let run = ok(repo.run(&["diff", "greet", "3", "3", "--rev", "HEAD", "--test", "ada"]));
    assert!(run.stdout.starts_with("greet: v3 at HEAD → v3"), "{}", run.stdout);
    assert!(
        run.stdout.contains("-Greetings Ada") && run.stdout.contains("+Welcome Ada"),
        "{}",
        run.stdout
    );

    let missing = repo.run(&["diff", "greet", "4", "3", "--rev", "HEAD"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("does not exist at `HEAD`"), "{}", missing.stderr);
    let unknown = repo.run(&["diff", "greet", "3", "3", "--rev", "no-such-branch"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("no-such-branch"), "{}", unknown.stderr);
}
