//! `promptctl render`: every test snapshot of this repository's prompts comes out byte for byte
//! from `render --test`; vars from a JSON or TOML file, standard input and typed `--var`
//! assignments; `@VERSION` and `@ENV`; the JSON form; each diagnostic at the declaration it
//! breaks, on standard error with nothing on standard output; usage errors exit 2.

use crate::support::{run_in, Repo, Run};
use std::path::Path;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[track_caller]
fn rendered(run: &Run) -> &str {
    assert_eq!(run.code, 0, "--- stdout\n{}\n--- stderr\n{}", run.stdout, run.stderr);
    assert_eq!(run.stderr, "", "nothing on standard error");
    &run.stdout
}

/// Every standard error `refused` saw, for the check that each code of `CODES` came up.
static SEEN: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

#[track_caller]
fn refused(run: &Run, code: i32, needles: &[&str]) {
    SEEN.lock().unwrap_or_else(|p| p.into_inner()).push_str(&run.stderr);
    assert_eq!(run.code, code, "--- stdout\n{}\n--- stderr\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "", "nothing on standard output when refused");
    for needle in needles {
        assert!(run.stderr.contains(needle), "`{needle}` not in:\n{}", run.stderr);
    }
}

#[test]
fn every_snapshot_of_this_repository_comes_out_of_render() {
    let mut compared = 0;
    for prompt in std::fs::read_dir(workspace().join("prompts")).unwrap() {
        let prompt = prompt.unwrap().path();
        let Ok(snapshots) = std::fs::read_dir(prompt.join("snapshots")) else { continue };
        let name = prompt.file_name().unwrap().to_str().unwrap().to_string();
        for snapshot in snapshots {
            let snapshot = snapshot.unwrap().path();
            let file = snapshot.file_name().unwrap().to_str().unwrap().to_string();
            // `<test>.v<N>.txt`
            let stem = file.strip_suffix(".txt").unwrap();
            let (test, version) = stem.rsplit_once(".v").unwrap();
            let run =
                run_in(workspace(), &["render", &format!("{name}@{version}"), "--test", test]);
            let expected = std::fs::read_to_string(&snapshot).unwrap();
            assert_eq!(rendered(&run), expected, "{name}@{version} --test {test}");
            compared += 1;
        }
    }
    assert!(compared >= 9, "only {compared} snapshots compared");
}

pub(crate) const VERSION: &str = r#"+++
description = "Greets"
variables.name = { type = "string", max_len = 10 }
variables.count = { type = "integer" }
variables.tone = { type = "enum", values = ["warm", "dry"] }
variables.nickname = { type = "string", required = false }
variables.user = { type = "object", fields = { id = { type = "integer" }, tags = { type = "array", items = { type = "string" } } } }
+++
Hello {{name}} ({{count}}, {{tone}}) #{{user.id}}{{#each user.tags}} [{{this}}]{{/each}}{{#if nickname}} aka {{nickname}}{{/if}}
"#;

pub(crate) fn project() -> Repo {
    let repo = Repo::new(&[
        (
            "promptctl.toml",
            "prompts_dir = \"prompts\"\nlock_file = \"prompts.lock\"\n\n[environments.production]\n[environments.staging]\n",
        ),
        (
            "prompts/greet/prompt.toml",
            "description = \"Greets\"\n\n[activate]\nproduction = 1\nstaging = 2\n\n[[test]]\nname = \"ada\"\nversion = 1\nvars = { name = \"Ada\", count = 2, tone = \"warm\", user = { id = 7, tags = [\"a\", \"b\"] } }\n",
        ),
        ("prompts/greet/v1.prompt", VERSION),
        ("prompts/greet/v2.prompt", &VERSION.replace("Hello", "Hi").replace("{{#if nickname}} aka {{nickname}}{{/if}}", " aka {{nickname}}")),
    ]);
    assert_eq!(repo.run(&["lock"]).code, 0);
    repo
}

#[test]
fn vars_come_from_tests_files_stdin_and_typed_assignments() {
    let repo = project();
    let ada = "Hello Ada (2, warm) #7 [a] [b]\n";
    assert_eq!(rendered(&repo.run(&["render", "greet@1", "--test", "ada"])), ada);
    assert_eq!(rendered(&repo.run(&["render", "greet@production", "--test", "ada"])), ada);

    // Assignments win over the test, typed by the contract; dotted keys reach into objects.
    let run = repo.run(&[
        "render",
        "greet@1",
        "--test",
        "ada",
        "--var",
        "count=3",
        "--var",
        "name=42",
        "--var",
        "user.tags=[\"x\"]",
        "--var",
        "nickname=Ace",
    ]);
    assert_eq!(rendered(&run), "Hello 42 (3, warm) #7 [x] aka Ace\n");

    // A TOML file, and JSON on standard input.
    repo.write(
        "vars.toml",
        "name = \"Bo\"\ncount = 1\ntone = \"dry\"\n[user]\nid = 1\ntags = []\n",
    );
    assert_eq!(
        rendered(&repo.run(&["render", "greet@1", "--vars", "vars.toml"])),
        "Hello Bo (1, dry) #1\n"
    );
    let output = std::process::Command::new(crate::support::binary())
        .args(["--root"])
        .arg(repo.path())
        .args(["render", "greet", "--vars", "-", "--var", "nickname=Cy", "--format", "json"])
        .stdin(
            std::fs::File::open(repo.path().join("vars.toml"))
                .map(|_| std::process::Stdio::piped())
                .unwrap(),
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(
                br#"{"name": "Cy", "count": 5, "tone": "warm", "user": {"id": 9, "tags": ["t"]}}"#,
            )?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["name"], "greet");
    assert_eq!(json["version"], 2, "the newest version");
    assert_eq!(json["text"], "Hi Cy (5, warm) #9 [t] aka Cy\n");
    let v2 = repo.read("prompts/greet/v2.prompt");
    let body = &v2[v2.rfind("+++\n").unwrap() + 4..];
    use sha2::Digest;
    assert_eq!(json["sha256"], hex::encode(sha2::Sha256::digest(body.as_bytes())));
}

/// The codes of `render`, each shown by the test below (check.rs's `every_code_has_a_case` reads
/// this file too).
const CODES: [&str; 4] =
    ["render/unknown-var", "render/missing-var", "render/type", "render/failed"];

#[test]
fn vars_that_break_the_contract_are_diagnostics_at_the_declaration() {
    let repo = project();
    let run = repo.run(&["render", "greet@1", "--var", "name=Ada", "--var", "nmae=x"]);
    refused(
        &run,
        1,
        &[
            "error[render/unknown-var]: the vars pass `nmae`",
            "did you mean `name`?",
            "error[render/missing-var]: the vars do not pass the required variable `count`",
            "--> prompts/greet/v1.prompt:4:11",
            "pass it: `--var count=…` (integer)",
            "required variable `tone`",
            "required variable `user`",
        ],
    );
    // The missing ones come in the order of their declarations.
    let count = run.stderr.find("`count`").unwrap();
    let tone = run.stderr.find("`tone`").unwrap();
    assert!(count < tone);

    let run = repo.run(&[
        "render",
        "greet@1",
        "--test",
        "ada",
        "--var",
        "tone=cold",
        "--var",
        "name=Adalbertine-Z",
    ]);
    refused(
        &run,
        1,
        &[
            "error[render/type]: the vars: `tone` is \"cold\", not one of the enum's values",
            "--> prompts/greet/v1.prompt:5:11",
            "more than its `max_len` of 10",
        ],
    );
    repo.write("nulls.json", "{\"name\": null}");
    let run = repo.run(&["render", "greet@1", "--test", "ada", "--vars", "nulls.json"]);
    refused(&run, 1, &["`name` holds a null"]);
    let run = repo.run(&["render", "greet@1", "--test", "ada", "--var", "user.id=x"]);
    refused(&run, 2, &["`user.id` is declared an integer, and `x` is not one"]);

    // v2 prints `nickname` unguarded: the strict render stops there.
    let run = repo.run(&["render", "greet@staging", "--test", "ada"]);
    refused(&run, 2, &["test `ada` is written for v1, not v2"]);
    repo.write(
        "ada.toml",
        "name = \"Ada\"\ncount = 2\ntone = \"warm\"\nuser = { id = 7, tags = [] }\n",
    );
    let run = repo.run(&["render", "greet@staging", "--vars", "ada.toml"]);
    refused(
        &run,
        1,
        &[
            "error[render/failed]: v2 fails to render with these vars",
            "--> prompts/greet/v2.prompt:9:",
            "fails here",
        ],
    );
    let seen = SEEN.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for code in CODES {
        assert!(seen.contains(&format!("error[{code}]")), "no case shows `{code}`");
    }
}

#[test]
fn usage_errors_exit_2_and_a_prompt_that_does_not_check_is_not_rendered() {
    let repo = project();
    refused(
        &repo.run(&["render", "gret"]),
        2,
        &["there is no prompt `gret`; did you mean `greet`?"],
    );
    refused(&repo.run(&["render", "greet@7"]), 2, &["`greet` has no v7; it has v1, v2"]);
    refused(
        &repo.run(&["render", "greet@prod"]),
        2,
        &["`prod` is neither a version number nor an environment", "production, staging"],
    );
    refused(
        &repo.run(&["render", "greet", "--test", "bob"]),
        2,
        &["`greet` has no test `bob`; its tests are: ada"],
    );
    refused(&repo.run(&["render", "greet", "--var", "novalue"]), 2, &["write `--var KEY=VALUE`"]);
    refused(
        &repo.run(&["render", "greet", "--vars", "missing.json"]),
        2,
        &["cannot read the vars file `missing.json`"],
    );
    repo.write("bad.toml", "name = \n");
    refused(
        &repo.run(&["render", "greet", "--vars", "bad.toml"]),
        2,
        &["neither a JSON object nor valid TOML", "line 1"],
    );

    // An edit of a locked version: check's error, and no rendering.
    repo.write("prompts/greet/v1.prompt", &VERSION.replace("Hello", "Howdy"));
    refused(
        &repo.run(&["render", "greet@1", "--test", "ada"]),
        1,
        &["lock/modified", "not rendering while `check` reports errors"],
    );
}
