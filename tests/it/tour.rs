//! The README's five-minute tour, run literally on a committed copy of this repository: every
//! `promptctl …` command the tour section shows is run here, in the README's order and spelled as
//! the README spells it (the test fails when the two differ); the edits it asks of the reader
//! (`$EDITOR`, `git checkout`, declaring the variable) are made by the test between them.

use crate::support::{run_isolated, Run};
use std::path::Path;
use test_support::{copy_tree, git};

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `promptctl …` code spans of the README's tour section, in order.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let start = readme.find("## A five-minute tour").expect("the tour section");
    let rest = &readme[start + 3..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    // Code spans: the text between pairs of backquotes (a span never crosses a paragraph).
    let spans = section.split('`').skip(1).step_by(2);
    spans
        .filter(|span| span.starts_with("promptctl "))
        .map(|span| span.replace('\n', " "))
        .collect()
}

/// Splits a command line as a shell would for these commands (double quotes only).
fn words(command: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted) = (Vec::new(), String::new(), false);
    for c in command.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

struct Tour<'a> {
    root: &'a Path,
    /// The README commands run so far.
    ran: Vec<String>,
}

impl Tour<'_> {
    /// Runs `command` (as the README spells it) and checks its exit code.
    #[track_caller]
    fn run(&mut self, command: &str, code: i32) -> Run {
        self.ran.push(command.to_string());
        let words = words(command);
        assert_eq!(words[0], "promptctl");
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let run = run_isolated(self.root, &args, &[("PROMPTCTL_ACTOR", "tour@example.com")]);
        assert_eq!(
            run.code, code,
            "`{command}`\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout, run.stderr
        );
        run
    }

    fn edit(&self, file: &str, edit: impl FnOnce(&str) -> String) {
        let path = self.root.join(file);
        let text = std::fs::read_to_string(&path).expect("read a file of the tour");
        let changed = edit(&text);
        assert_ne!(changed, text, "the edit of {file} changed nothing");
        std::fs::write(&path, changed).expect("write a file of the tour");
    }
}

#[test]
fn the_readme_tour_runs_as_written() {
    let commands = readme_commands();
    assert!(commands.len() >= 10, "the tour shows its commands: {commands:?}");

    let dir = tempfile::Builder::new().prefix("promptctl-tour-").tempdir().unwrap();
    let root = dir.path();
    for folder in ["prompts", "legacy", "schemas", "examples/registry-demo"] {
        copy_tree(&workspace().join(folder), &root.join(folder)).expect("copy the workspace");
    }
    for file in ["promptctl.toml", "prompts.lock"] {
        std::fs::copy(workspace().join(file), root.join(file)).expect("copy the workspace");
    }
    std::fs::write(root.join(".gitignore"), ".promptctl/\ntarget/\n").unwrap();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "the prompts"]);
    git(root, &["checkout", "-q", "-b", "change-the-qa-prompt"]);
    let mut tour = Tour { root, ran: Vec::new() };

    // 1–2. An edit of the locked v1 is refused, and undone.
    tour.edit("prompts/qa-system-prompt/v1.prompt", |text| text.replace("Your job", "Your task"));
    let refused = tour.run("promptctl check", 1);
    assert!(format!("{}{}", refused.stdout, refused.stderr).contains("lock/modified"));
    git(root, &["checkout", "prompts/qa-system-prompt/v1.prompt"]);

    // 3. A new version, with a variable not declared yet.
    tour.run("promptctl new qa-system-prompt --next", 0);
    let v3 = "prompts/qa-system-prompt/v3.prompt";
    tour.edit(v3, |text| {
        text.replacen(
            "for {{game_name}}.",
            "for {{game_name}}.\nThe player asking is {{player_name}}.",
            1,
        )
    });
    let undeclared = run_isolated(root, &["check"], &[]);
    assert_eq!(undeclared.code, 1);
    assert!(format!("{}{}", undeclared.stdout, undeclared.stderr).contains("variables/undeclared"));

    // 4. Declared, given a value in the copied test; rendered, compared, blessed.
    tour.edit(v3, |text| {
        text.replacen(
            "variables.answer_style",
            "variables.player_name = { type = \"string\", max_len = 100, description = \"The asking player's display name\" }\nvariables.answer_style",
            1,
        )
    });
    tour.edit("prompts/qa-system-prompt/prompt.toml", |text| {
        let test =
            text.find("name = \"injection-stays-in-rules-v3\"").expect("new copied the test");
        let vars = test + text[test..].find("vars = { ").expect("its vars") + "vars = { ".len();
        format!("{}player_name = \"Ada\", {}", &text[..vars], &text[vars..])
    });
    let rendered =
        tour.run("promptctl render qa-system-prompt@3 --test injection-stays-in-rules-v3", 0);
    assert!(rendered.stdout.contains("The player asking is Ada."), "{}", rendered.stdout);
    let diff =
        tour.run("promptctl diff qa-system-prompt 2 3 --test injection-stays-in-rules-v3", 0);
    assert!(diff.stdout.contains("+The player asking is Ada."), "{}", diff.stdout);
    tour.run("promptctl check --bless", 0);

    // 5. The typed module, the lock, the review.
    tour.run("promptctl codegen", 0);
    tour.run("promptctl codegen --check", 0);
    tour.run("promptctl check", 0);
    tour.run("promptctl lock", 0);
    let review = tour.run("promptctl review --base main", 0);
    assert!(review.stdout.contains("player_name"), "{}", review.stdout);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "qa-system-prompt v3: the player's name"]);

    // 6. The delivery, locally.
    tour.run("promptctl build --publish staging", 0);
    let status = tour.run("promptctl status --env staging", 0);
    assert!(status.stdout.contains("qa-system-prompt"), "{}", status.stdout);
    tour.run(
        "promptctl rollback qa-system-prompt --to 2 --env staging --reason \"trying rollback\"",
        0,
    );
    let history = tour.run("promptctl history qa-system-prompt --env staging", 0);
    assert!(history.stdout.contains("trying rollback"), "{}", history.stdout);
    assert!(history.stdout.contains("tour@example.com"), "{}", history.stdout);

    assert_eq!(tour.ran, commands, "the README's tour and this test run the same commands");
}
