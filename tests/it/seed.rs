//! Seed drift and `promptctl import`, through the real binary in temporary repositories: every way
//! a `[seed]` can be wrong gives one clear diagnostic (exit 1), every invisible change to a legacy
//! text shows in the drift diff, every extraction and unescape mode reproduces its legacy text, and
//! import works the way a new user would try it.
//!
//! The helpers are private to this module: a project lives in `<temp>/repo`, so that a file "outside
//! the repository" can be written to `<temp>` without touching anything shared.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::support::{run_with, Run};

const CONFIG: &str = r#"prompts_dir = "prompts"
lock_file = "prompts.lock"

[environments.production]
"#;

/// A project in `<temp>/repo`, deleted when dropped.
struct Repo {
    temp: tempfile::TempDir,
    root: PathBuf,
}

impl Repo {
    fn new(files: &[(&str, &str)]) -> Repo {
        let temp = tempfile::Builder::new().prefix("promptctl-seed-").tempdir().expect("temp dir");
        let root = temp.path().join("repo");
        let repo = Repo { temp, root };
        repo.write("promptctl.toml", CONFIG);
        std::fs::create_dir_all(repo.root.join("prompts")).expect("create prompts/");
        for (path, content) in files {
            repo.write(path, content);
        }
        repo
    }

    /// Writes a file relative to the project root (`../x` reaches the temp folder around it).
    fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        let full = self.root.join(path);
        std::fs::create_dir_all(full.parent().expect("a parent")).expect("create folders");
        std::fs::write(&full, content).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.root.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    /// Replaces `from` by `to` in a file, which must contain `from` exactly once.
    fn edit(&self, path: &str, from: &str, to: &str) {
        let text = self.read(path);
        assert_eq!(text.matches(from).count(), 1, "{path} must contain {from:?} once:\n{text}");
        self.write(path, text.replacen(from, to, 1));
    }

    fn exists(&self, path: &str) -> bool {
        self.root.join(path).exists()
    }

    /// Runs `promptctl --color never <args>` in the project folder, as a user at a terminal would:
    /// the project is found from the working directory.
    fn run(&self, args: &[&str]) -> Run {
        run_with(&self.root, &[], args)
    }

    /// The codes of `check --format json`, asserting its exit code.
    fn codes(&self, expect_exit: i32) -> Vec<String> {
        let run = self.run(&["check", "--format", "json"]);
        assert_eq!(run.code, expect_exit, "check --format json:\n{}{}", run.stdout, run.stderr);
        // What a `promptctl-allow:` comment suppressed is listed too, marked `suppressed`.
        diagnostics(&run.stdout)
            .iter()
            .filter(|d| d.get("suppressed").is_none())
            .map(|d| d["code"].as_str().expect("a code").to_string())
            .collect()
    }

    /// `text` with the project folder as `[ROOT]`, the temp folder around it as `[TMP]` and
    /// sha256-looking hex as `[SHA]`.
    fn normalize(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (path, placeholder) in
            [(&self.root, "[ROOT]"), (&self.temp.path().to_path_buf(), "[TMP]")]
        {
            let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
            for path in [canonical, path.clone()] {
                text = text.replace(&path.display().to_string(), placeholder);
            }
        }
        static SHA: OnceLock<Regex> = OnceLock::new();
        let sha = SHA.get_or_init(|| Regex::new(r"\b[0-9a-f]{12,}\b").expect("sha regex"));
        sha.replace_all(&text, "[SHA]").into_owned()
    }
}

fn diagnostics(json: &str) -> Vec<Value> {
    match serde_json::from_str(json) {
        Ok(Value::Array(items)) => items,
        other => panic!("check --format json printed no array ({other:?}):\n{json}"),
    }
}

/// The human output of a run, for a snapshot: stdout, then stderr when there is any.
fn transcript(run: &Run) -> String {
    let mut text = format!("exit {}\n{}", run.code, run.stdout);
    if !run.stderr.is_empty() {
        text.push_str("--- stderr\n");
        text.push_str(&run.stderr);
    }
    text
}

/// A `prompt.toml` with only a description and `seed` as its `[seed]` table's body.
fn manifest(seed: &str) -> String {
    format!("description = \"Seeded prompt\"\n\n[seed]\n{seed}")
}

/// A `v1.prompt` with `front` as front matter and `body` as body, byte for byte.
fn version(front: &str, body: &str) -> String {
    format!("+++\n{front}+++\n{body}")
}

/// The one check helper: a project of `files`, `check` exits with `expect_exit` and reports exactly
/// `expect_codes` (in the order of its output), and its human output is snapshot `name`.
#[track_caller]
fn check_seed(name: &str, files: &[(&str, &str)], expect_exit: i32, expect_codes: &[&str]) {
    check_repo(name, &Repo::new(files), expect_exit, expect_codes);
}

#[track_caller]
fn check_repo(name: &str, repo: &Repo, expect_exit: i32, expect_codes: &[&str]) {
    let human = repo.run(&["check"]);
    assert_eq!(human.code, expect_exit, "{name}: check:\n{}{}", human.stdout, human.stderr);
    assert_eq!(repo.codes(expect_exit), expect_codes, "{name}: codes\n{}", human.stdout);
    insta::assert_snapshot!(name, repo.normalize(&transcript(&human)));
}

/// A project of `files` checks with no diagnostic at all; and the seed check did run: one more
/// character at the end of `prompts/svc/v1.prompt` is seed/drift.
#[track_caller]
fn check_clean(what: &str, files: &[(&str, &str)]) {
    let repo = Repo::new(files);
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 0, "{what}:\n{}{}", run.stdout, run.stderr);
    assert_eq!(repo.codes(0), Vec::<String>::new(), "{what}:\n{}", run.stdout);
    let v1 = repo.read("prompts/svc/v1.prompt");
    repo.write("prompts/svc/v1.prompt", format!("{v1}!"));
    assert_eq!(repo.codes(1), ["seed/drift"], "{what}: the seed check did not run");
}

// ---------------------------------------------------------------------------------------------
// A wrong [seed] gives one clear diagnostic, exit 1.

const SVC_CS: &str = r#"public sealed class Svc
{
    private const string Prompt = @"Answer questions about the shop.
Be brief.";
}
"#;

#[test]
fn extraction_errors() {
    let v1 = version("", "Answer questions about the shop.\nBe brief.");
    check_seed(
        "start_marker_not_found",
        &[
            ("legacy/Svc.cs", SVC_CS),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    r#"version = 1
file = "legacy/Svc.cs"
extract = { between = ["SystemPrompt = @\"", "\";"] }
unescape = "csharp-verbatim"
"#,
                ),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/extract"],
    );
    check_seed(
        "start_marker_more_than_once",
        &[
            ("legacy/Svc.cs", SVC_CS),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    r#"version = 1
file = "legacy/Svc.cs"
extract = { between = ["\"", "\";"] }
"#,
                ),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/extract"],
    );
    check_seed(
        "end_marker_not_found",
        &[
            ("legacy/Svc.cs", SVC_CS),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    r#"version = 1
file = "legacy/Svc.cs"
extract = { between = ["Prompt = @\"", "\"\"\";"] }
"#,
                ),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/extract"],
    );
    check_seed(
        "lines_past_the_end",
        &[
            ("legacy/Svc.cs", SVC_CS),
            (
                "prompts/svc/prompt.toml",
                &manifest("version = 1\nfile = \"legacy/Svc.cs\"\nextract = { lines = \"3-9\" }\n"),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/extract"],
    );
    check_seed(
        "lines_not_a_range",
        &[
            ("legacy/Svc.cs", SVC_CS),
            (
                "prompts/svc/prompt.toml",
                &manifest("version = 1\nfile = \"legacy/Svc.cs\"\nextract = { lines = \"4-3\" }\n"),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/extract"],
    );
    let json = r#"{ "support": { "system": "Answer questions about the shop.\nBe brief.", "max_tokens": 400 } }
"#;
    check_seed(
        "json_pointer_to_nothing",
        &[
            ("legacy/prompts.json", json),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/prompts.json\"\nextract = { json_pointer = \"/support/user\" }\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/extract"],
    );
    check_seed(
        "json_pointer_to_a_number",
        &[
            ("legacy/prompts.json", json),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/prompts.json\"\nextract = { json_pointer = \"/support/max_tokens\" }\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/extract"],
    );
    check_seed(
        "json_pointer_into_invalid_json",
        &[
            ("legacy/prompts.json", "{ \"support\": { \"system\": \"unterminated }\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/prompts.json\"\nextract = { json_pointer = \"/support/system\" }\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/extract"],
    );
    check_seed(
        "toml_key_to_nothing",
        &[
            ("legacy/prompts.toml", "[support]\nsystem = \"Answer questions about the shop.\\nBe brief.\"\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/prompts.toml\"\nextract = { toml_key = \"support.user\" }\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/extract"],
    );
}

#[test]
fn legacy_file_errors() {
    let v1 = version("", "Answer questions about the shop.\nBe brief.");
    let seed_of = |file: &str| {
        manifest(&format!(
            "version = 1\nfile = \"{file}\"\nextract = {{ between = [\"Prompt = @\\\"\", \"\\\";\"] }}\nunescape = \"csharp-verbatim\"\n"
        ))
    };
    check_seed(
        "legacy_file_missing",
        &[
            ("legacy/Svc.cs", SVC_CS),
            ("prompts/svc/prompt.toml", &seed_of("legacy/Services/Svc.cs")),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/file"],
    );

    let repo = Repo::new(&[
        ("prompts/svc/prompt.toml", &seed_of("legacy/Svc.cs")),
        ("prompts/svc/v1.prompt", &v1),
    ]);
    // Windows-1252: `é` is the single byte 0xE9.
    let mut bytes = SVC_CS.replace("shop", "caf_").into_bytes();
    bytes.iter_mut().filter(|b| **b == b'_').for_each(|b| *b = 0xE9);
    repo.write("legacy/Svc.cs", bytes);
    check_repo("legacy_file_not_utf8", &repo, 1, &["seed/file"]);

    let repo = Repo::new(&[
        ("prompts/svc/prompt.toml", &seed_of("../outside.cs")),
        ("prompts/svc/v1.prompt", &v1),
    ]);
    repo.write("../outside.cs", SVC_CS);
    check_repo("legacy_file_outside_the_repository", &repo, 1, &["seed/file"]);

    #[cfg(unix)]
    {
        // Refused whether or not the file exists: the path must be relative to the root.
        check_seed(
            "legacy_file_absolute",
            &[
                ("prompts/svc/prompt.toml", &seed_of("/srv/legacy/Svc.cs")),
                ("prompts/svc/v1.prompt", &v1),
            ],
            1,
            &["seed/file"],
        );

        let repo = Repo::new(&[
            ("prompts/svc/prompt.toml", &seed_of("legacy/Svc.cs")),
            ("prompts/svc/v1.prompt", &v1),
        ]);
        repo.write("../outside.cs", SVC_CS);
        std::fs::create_dir_all(repo.root.join("legacy")).expect("legacy/");
        std::os::unix::fs::symlink(
            repo.temp.path().join("outside.cs"),
            repo.root.join("legacy/Svc.cs"),
        )
        .expect("symlink");
        check_repo("legacy_file_symlink_out_of_the_repository", &repo, 1, &["seed/file"]);
    }
}

#[test]
fn version_and_vars_errors() {
    let seed = r#"version = 2
file = "legacy/Svc.cs"
extract = { between = ["Prompt = @\"", "\";"] }
unescape = "csharp-verbatim"
"#;
    check_seed(
        "seed_version_does_not_exist",
        &[
            ("legacy/Svc.cs", SVC_CS),
            ("prompts/svc/prompt.toml", &manifest(seed)),
            ("prompts/svc/v1.prompt", &version("", "Answer questions about the shop.\nBe brief.")),
        ],
        1,
        &["seed/version"],
    );

    let front = "variables.place = { type = \"string\" }\n";
    let body = "Answer questions about the {{place}}.\nBe brief.";
    let seed = |vars: &str| {
        manifest(&format!(
            "version = 1\nfile = \"legacy/Svc.cs\"\nextract = {{ between = [\"Prompt = @\\\"\", \"\\\";\"] }}\nunescape = \"csharp-verbatim\"\n{vars}"
        ))
    };
    check_seed(
        "seed_vars_wrong_type",
        &[
            ("legacy/Svc.cs", SVC_CS),
            ("prompts/svc/prompt.toml", &seed("vars = { place = 42 }\n")),
            ("prompts/svc/v1.prompt", &version(front, body)),
        ],
        1,
        &["tests/type"],
    );
    check_seed(
        "seed_vars_missing_required",
        &[
            ("legacy/Svc.cs", SVC_CS),
            ("prompts/svc/prompt.toml", &seed("")),
            ("prompts/svc/v1.prompt", &version(front, body)),
        ],
        1,
        &["tests/missing-var"],
    );
    check_seed(
        "seed_vars_unknown",
        &[
            ("legacy/Svc.cs", SVC_CS),
            ("prompts/svc/prompt.toml", &seed("vars = { plaec = \"shop\" }\n")),
            ("prompts/svc/v1.prompt", &version(front, body)),
        ],
        1,
        &["tests/missing-var", "tests/unknown-var"],
    );
}

#[test]
fn unescape_errors() {
    let v1 = version("", "Answer questions about the shop.");
    check_seed(
        "unescape_c_dangling_backslash",
        &[
            ("legacy/prompt.c", "static const char *PROMPT = \"Answer questions about the shop.\\\";\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/prompt.c\"\nextract = { between = [\"PROMPT = \\\"\", \"\\\";\"] }\nunescape = \"c\"\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/unescape"],
    );
    check_seed(
        "unescape_c_unknown_escape",
        &[
            ("legacy/prompt.c", "static const char *PROMPT = \"Answer questions about C:\\shop.\";\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/prompt.c\"\nextract = { between = [\"PROMPT = \\\"\", \"\\\";\"] }\nunescape = \"c\"\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/unescape"],
    );
    check_seed(
        "unescape_csharp_verbatim_lone_quote",
        &[
            ("legacy/Svc.cs", "const string Prompt = @\"Answer \"questions\" about the shop.\";\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/Svc.cs\"\nextract = { between = [\"Prompt = @\\\"\", \"\\\";\"] }\nunescape = \"csharp-verbatim\"\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/unescape"],
    );
    check_seed(
        "unescape_js_template_interpolation",
        &[
            ("legacy/seed.ts", "export const PROMPT = `Answer questions about the ${shop}.`;\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/seed.ts\"\nextract = { between = [\"PROMPT = `\", \"`;\"] }\nunescape = \"js-template\"\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &v1),
        ],
        1,
        &["seed/unescape"],
    );
    // The end marker `";` also matches the end of a doubled quote inside the literal: the help
    // names both causes.
    check_seed(
        "unescape_csharp_verbatim_end_marker_inside_the_literal",
        &[
            ("legacy/Svc.cs", "const string Prompt = @\"Reply \"\"no\"\"; then stop.\";\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/Svc.cs\"\nextract = { between = [\"Prompt = @\\\"\", \"\\\";\"] }\nunescape = \"csharp-verbatim\"\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &version("", "Reply \"no\"; then stop.")),
        ],
        1,
        &["seed/unescape"],
    );
}

// ---------------------------------------------------------------------------------------------
// Drift: an invisible change to the legacy text turns `check` red, and the diff shows it.

const DRIFT_CS: &str = r#"namespace Shop;

public sealed class Svc
{
    private const string Prompt = @"You help customers of the shop.
Answer in one short paragraph.
Quote the ""order number"" when you mention an order.
Never promise a delivery date.";
}
"#;

const DRIFT_SEED: &str = r#"version = 1
file = "legacy/Svc.cs"
extract = { between = ["Prompt = @\"", "\";"] }
unescape = "csharp-verbatim"
"#;

const DRIFT_BODY: &str = "You help customers of the shop.
Answer in one short paragraph.
Quote the \"order number\" when you mention an order.
Never promise a delivery date.";

/// A clean seeded prompt; `edit` replaces a fragment of the LEGACY file; then `check` is red with
/// seed/drift, and the changed lines of the diff (`-`/`+` lines, and a `\` line right after one)
/// are exactly `expect_lines`, in the JSON note and in the human output (snapshot `name`).
#[track_caller]
fn check_drift(name: &str, edit: (&str, &str), expect_lines: &[&str]) {
    let repo = Repo::new(&[
        ("legacy/Svc.cs", DRIFT_CS),
        ("prompts/svc/prompt.toml", &manifest(DRIFT_SEED)),
        ("prompts/svc/v1.prompt", &version("", DRIFT_BODY)),
    ]);
    assert_eq!(repo.codes(0), Vec::<String>::new(), "{name}: the seeded prompt starts clean");
    repo.edit("legacy/Svc.cs", edit.0, edit.1);
    check_repo(name, &repo, 1, &["seed/drift"]);

    let run = repo.run(&["check", "--format", "json"]);
    let drift = diagnostics(&run.stdout).into_iter().next().expect("one diagnostic");
    let note = drift["note"].as_str().expect("the drift diagnostic has a note");
    assert_eq!(changed_lines(note.lines()), expect_lines, "{name}: the diff in the note:\n{note}");
    let human = repo.run(&["check"]).stderr;
    let human_diff = human.lines().filter_map(|line| line.strip_prefix("  | "));
    assert_eq!(changed_lines(human_diff), expect_lines, "{name}: the diff in:\n{human}");
}

/// The `-`/`+` lines of a unified diff (not its `---`/`+++` header), and a `\ No newline` line
/// that follows one of them.
fn changed_lines<'a>(diff: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut lines = Vec::new();
    let mut after_change = false;
    for line in diff {
        let change = (line.starts_with('-') && !line.starts_with("---"))
            || (line.starts_with('+') && !line.starts_with("+++"));
        if change || (after_change && line.starts_with('\\')) {
            lines.push(line);
        }
        after_change = change;
    }
    lines
}

#[test]
fn drift_one_character() {
    check_drift(
        "drift_one_character",
        ("one short paragraph", "one Short paragraph"),
        &["-Answer in one Short paragraph.", "+Answer in one short paragraph."],
    );
}

#[test]
fn drift_trailing_space() {
    check_drift(
        "drift_trailing_space",
        ("short paragraph.\n", "short paragraph. \n"),
        &["-Answer in one short paragraph.·", "+Answer in one short paragraph."],
    );
}

#[test]
fn drift_crlf() {
    check_drift(
        "drift_crlf",
        ("short paragraph.\n", "short paragraph.\r\n"),
        &["-Answer in one short paragraph.␍", "+Answer in one short paragraph."],
    );
}

#[test]
fn drift_final_newline() {
    check_drift(
        "drift_final_newline",
        ("a delivery date.\";", "a delivery date.\n\";"),
        &[
            "-Never promise a delivery date.",
            "+Never promise a delivery date.",
            "\\ No newline at end of text",
        ],
    );
}

#[test]
fn drift_non_breaking_space() {
    check_drift(
        "drift_non_breaking_space",
        ("You help customers", "You help\u{a0}customers"),
        &["-You help⍽customers of the shop.", "+You help customers of the shop."],
    );
}

#[test]
fn drift_tab() {
    check_drift(
        "drift_tab",
        ("Quote the", "Quote\tthe"),
        &[
            "-Quote→the \"order number\" when you mention an order.",
            "+Quote the \"order number\" when you mention an order.",
        ],
    );
}

#[test]
fn drift_diff_in_json_note() {
    let repo = Repo::new(&[
        ("legacy/Svc.cs", DRIFT_CS),
        ("prompts/svc/prompt.toml", &manifest(DRIFT_SEED)),
        ("prompts/svc/v1.prompt", &version("", DRIFT_BODY)),
    ]);
    repo.edit("legacy/Svc.cs", "a delivery date", "a delivery week");
    let run = repo.run(&["check", "--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let found = diagnostics(&run.stdout);
    assert_eq!(found.len(), 1, "{}", run.stdout);
    let drift = &found[0];
    assert_eq!(drift["code"], "seed/drift");
    assert_eq!(drift["severity"], "error");
    assert_eq!(drift["file"], "prompts/svc/prompt.toml");
    assert_eq!(drift["line"], 5, "the diagnostic points at `file = …`");
    let message = drift["message"].as_str().expect("a message");
    assert!(message.contains("first difference at line 4, column 26"), "{message}");
    let note = drift["note"].as_str().expect("the diff is in the note");
    assert!(
        note.starts_with("--- legacy legacy/Svc.cs\n+++ rendered prompts/svc/v1.prompt\n"),
        "{note}"
    );
    assert!(note.contains("\n@@ -1,4 +1,4 @@\n"), "{note}");
    assert!(note.contains("\n-Never promise a delivery week.\n"), "{note}");
    assert!(note.contains("\n+Never promise a delivery date.\n"), "{note}");
    assert!(note.contains("\n Answer in one short paragraph.\n"), "context lines: {note}");
}

#[test]
fn drift_from_an_edit_of_the_version() {
    // The other side: the legacy text stays, a refactor of v1 goes wrong.
    let repo = Repo::new(&[
        ("legacy/Svc.cs", DRIFT_CS),
        ("prompts/svc/prompt.toml", &manifest(DRIFT_SEED)),
        ("prompts/svc/v1.prompt", &version("", DRIFT_BODY)),
    ]);
    repo.edit("prompts/svc/v1.prompt", "\"order number\"", "'order number'");
    check_repo("drift_from_an_edit_of_the_version", &repo, 1, &["seed/drift"]);
}

// ---------------------------------------------------------------------------------------------
// Every extraction mode and every unescape mode reproduces its legacy text.

#[test]
fn extraction_modes() {
    check_clean(
        "whole file",
        &[
            ("legacy/support.txt", "You are the support assistant.\nBe brief.\n"),
            ("prompts/svc/prompt.toml", &manifest("version = 1\nfile = \"legacy/support.txt\"\n")),
            ("prompts/svc/v1.prompt", &version("", "You are the support assistant.\nBe brief.\n")),
        ],
    );
    // The range excludes the line ending of its last line.
    check_clean(
        "lines",
        &[
            (
                "legacy/prompts.py",
                "# prompts of the support bot\nSYSTEM = \"\"\"\nYou are the support assistant.\nBe brief.\n\"\"\"\n",
            ),
            (
                "prompts/svc/prompt.toml",
                &manifest("version = 1\nfile = \"legacy/prompts.py\"\nextract = { lines = \"3-4\" }\n"),
            ),
            ("prompts/svc/v1.prompt", &version("", "You are the support assistant.\nBe brief.")),
        ],
    );
    check_clean(
        "lines up to the last line",
        &[
            ("legacy/prompt.txt", "# header\nYou are the support assistant.\nBe brief.\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/prompt.txt\"\nextract = { lines = \"2-3\" }\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &version("", "You are the support assistant.\nBe brief.")),
        ],
    );
    check_clean(
        "between, markers spanning line ends",
        &[
            (
                "legacy/README.md",
                "# Support bot\n\n<!-- prompt -->\nYou are the support assistant.\nBe brief.\n<!-- /prompt -->\n",
            ),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/README.md\"\nextract = { between = [\"<!-- prompt -->\\n\", \"<!-- /prompt -->\"] }\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &version("", "You are the support assistant.\nBe brief.\n")),
        ],
    );
    check_clean(
        "json_pointer",
        &[
            (
                "legacy/prompts.json",
                r#"{ "support": { "system": "You are the support assistant.\nBe brief, caf\u00e9 \"Ada\".", "max_tokens": 400 } }
"#,
            ),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/prompts.json\"\nextract = { json_pointer = \"/support/system\" }\n",
                ),
            ),
            (
                "prompts/svc/v1.prompt",
                &version("", "You are the support assistant.\nBe brief, café \"Ada\"."),
            ),
        ],
    );
    check_clean(
        "toml_key",
        &[
            (
                "legacy/prompts.toml",
                "[prompts.support]\nsystem = \"\"\"\nYou are the support assistant.\nBe brief.\"\"\"\nmax_tokens = 400\n",
            ),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/prompts.toml\"\nextract = { toml_key = \"prompts.support.system\" }\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &version("", "You are the support assistant.\nBe brief.")),
        ],
    );
}

#[test]
fn unescape_modes() {
    check_clean(
        "unescape c",
        &[
            (
                "legacy/Prompt.java",
                r#"class Prompt {
    static final String SYSTEM = "Line one\n\tindented \"quoted\" caf\u00e9 \\ \uD83D\uDE00";
}
"#,
            ),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    r#"version = 1
file = "legacy/Prompt.java"
extract = { between = ["SYSTEM = \"", "\";"] }
unescape = "c"
"#,
                ),
            ),
            ("prompts/svc/v1.prompt", &version("", "Line one\n\tindented \"quoted\" café \\ 😀")),
        ],
    );
    check_clean(
        "unescape csharp-verbatim",
        &[
            (
                "legacy/Svc.cs",
                "const string Prompt = @\"Say \"\"hi\"\" to C:\\shop\\n\n\"\"\"\" is two quotes.\";\n",
            ),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    r#"version = 1
file = "legacy/Svc.cs"
extract = { between = ["Prompt = @\"", "\";"] }
unescape = "csharp-verbatim"
"#,
                ),
            ),
            (
                "prompts/svc/v1.prompt",
                &version("", "Say \"hi\" to C:\\shop\\n\n\"\" is two quotes."),
            ),
        ],
    );
    // A CR in the literal is kept as it is: a CRLF legacy file needs a CRLF body, which must say
    // why it carries carriage returns (the comment line renders to nothing).
    check_clean(
        "unescape csharp-verbatim, CRLF kept",
        &[
            ("legacy/Svc.cs", "const string Prompt = @\"Line one\r\nLine two\";\r\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    r#"version = 1
file = "legacy/Svc.cs"
extract = { between = ["Prompt = @\"", "\";"] }
unescape = "csharp-verbatim"
"#,
                ),
            ),
            (
                "prompts/svc/v1.prompt",
                &version(
                    "",
                    "{{!-- promptctl-allow: security/carriage-return reason=\"reproduces the CRLF legacy literal\" --}}\nLine one\r\nLine two",
                ),
            ),
        ],
    );
    check_clean(
        "unescape js-template",
        &[
            (
                "legacy/seed.ts",
                r#"export const PROMPT = `Quote code in \`backticks\`.
Write \${name} literally, not \u{1F600} \x41.`;
"#,
            ),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    r#"version = 1
file = "legacy/seed.ts"
extract = { between = ["PROMPT = `", "`;"] }
unescape = "js-template"
"#,
                ),
            ),
            (
                "prompts/svc/v1.prompt",
                &version("", "Quote code in `backticks`.\nWrite ${name} literally, not 😀 A."),
            ),
        ],
    );
    // A backslash before a line feed is a line continuation: both disappear.
    check_clean(
        "unescape js-template, line continuation",
        &[
            ("legacy/seed.ts", "export const PROMPT = `One long \\\nline.`;\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/seed.ts\"\nextract = { between = [\"PROMPT = `\", \"`;\"] }\nunescape = \"js-template\"\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &version("", "One long line.")),
        ],
    );
    // JavaScript turns CRLF (and a lone CR) inside a template literal into LF, and a backslash
    // before CRLF is a line continuation: the application sends "Line one\nLine two, one long line.".
    check_clean(
        "unescape js-template, CRLF normalised as JavaScript does",
        &[
            ("legacy/seed.ts", "export const PROMPT = `Line one\r\nLine two, one long \\\r\nline.`;\r\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/seed.ts\"\nextract = { between = [\"PROMPT = `\", \"`;\"] }\nunescape = \"js-template\"\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &version("", "Line one\nLine two, one long line.")),
        ],
    );
    check_clean(
        "unescape none (the default) keeps backslashes",
        &[
            ("legacy/prompt.txt", "BEGIN\nKeep \\n and \\t as typed.\nEND\n"),
            (
                "prompts/svc/prompt.toml",
                &manifest(
                    "version = 1\nfile = \"legacy/prompt.txt\"\nextract = { between = [\"BEGIN\\n\", \"\\nEND\"] }\nunescape = \"none\"\n",
                ),
            ),
            ("prompts/svc/v1.prompt", &version("", "Keep \\n and \\t as typed.")),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// `promptctl import`, tried as a new user would.

const GREETER_CS: &str = r#"namespace Shop.Support;

public static class Greeter
{
    public const string SystemPrompt = @"You are the greeter of the Acme shop.
Greet Ada by name and ask how you can help.
Say ""hello"" in the customer's language.";
}
"#;

#[test]
fn import_as_a_new_user() {
    let repo = Repo::new(&[("legacy/Greeter.cs", GREETER_CS)]);
    let run = repo.run(&[
        "import",
        "greeting",
        "--from",
        "legacy/Greeter.cs",
        "--between",
        "SystemPrompt = @\"",
        "\";",
        "--unescape",
        "csharp-verbatim",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!("import_greeting", repo.normalize(&transcript(&run)));
    insta::assert_snapshot!(
        "import_greeting_prompt_toml",
        repo.read("prompts/greeting/prompt.toml")
    );
    assert_eq!(
        repo.read("prompts/greeting/v1.prompt"),
        "+++\n+++\nYou are the greeter of the Acme shop.\nGreet Ada by name and ask how you can help.\nSay \"hello\" in the customer's language."
    );
    // Activated everywhere, not locked yet: a warning, not an error.
    assert_eq!(repo.codes(0), ["lock/unlocked"]);

    // Refactor: the customer's name becomes a variable, its seed value keeps the text.
    repo.edit("prompts/greeting/v1.prompt", "Greet Ada by", "Greet {{customer}} by");
    repo.edit(
        "prompts/greeting/v1.prompt",
        "+++\n+++\n",
        "+++\nvariables.customer = { type = \"string\" }\n+++\n",
    );
    let manifest = repo.read("prompts/greeting/prompt.toml");
    assert!(
        manifest.trim_end().ends_with("unescape = \"csharp-verbatim\""),
        "[seed] is last:\n{manifest}"
    );
    repo.write(
        "prompts/greeting/prompt.toml",
        format!("{manifest}vars = {{ customer = \"Ada\" }}\n"),
    );
    assert_eq!(repo.codes(0), ["lock/unlocked"], "the refactored v1 reproduces the legacy text");

    // A wrong seed value is drift, and the diff says where.
    repo.edit("prompts/greeting/prompt.toml", "customer = \"Ada\"", "customer = \"Bob\"");
    check_repo("import_greeting_wrong_seed_var", &repo, 1, &["seed/drift", "lock/unlocked"]);

    repo.edit("prompts/greeting/prompt.toml", "customer = \"Bob\"", "customer = \"Ada\"");
    let run = repo.run(&["lock"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(repo.codes(0), Vec::<String>::new(), "locked and seed-checked");
}

/// `import` with `args` in a project of `files` exits 0, writes a `[seed]` with `expect_extract`
/// (the `extract = …` line, or none) and a v1 whose body is `expect_body`, and `check` is clean
/// but for the lock warning.
#[track_caller]
fn check_import(
    files: &[(&str, &str)],
    args: &[&str],
    expect_extract: Option<&str>,
    expect_body: &str,
) {
    let repo = Repo::new(files);
    let mut command = vec!["import", "imported"];
    command.extend_from_slice(args);
    let run = repo.run(&command);
    assert_eq!(run.code, 0, "import {args:?}:\n{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("seed check: v1 reproduces the legacy text byte for byte"),
        "{}",
        run.stdout
    );
    let manifest = repo.read("prompts/imported/prompt.toml");
    let extract = manifest.lines().find(|line| line.starts_with("extract = "));
    assert_eq!(extract, expect_extract, "import {args:?}:\n{manifest}");
    assert_eq!(
        repo.read("prompts/imported/v1.prompt"),
        format!("+++\n+++\n{expect_body}"),
        "import {args:?}"
    );
    assert_eq!(repo.codes(0), ["lock/unlocked"], "import {args:?}: check after import");
}

#[test]
fn import_each_extraction() {
    check_import(
        &[("legacy/support.txt", "You are the support assistant.\nBe brief.\n")],
        &["--from", "legacy/support.txt"],
        None,
        "You are the support assistant.\nBe brief.\n",
    );
    check_import(
        &[(
            "legacy/prompts.py",
            "SYSTEM = \"\"\"\nYou are the support assistant.\nBe brief.\n\"\"\"\n",
        )],
        &["--from", "legacy/prompts.py", "--lines", "2-3"],
        Some(r#"extract = { lines = "2-3" }"#),
        "You are the support assistant.\nBe brief.",
    );
    check_import(
        &[("legacy/Greeter.cs", GREETER_CS)],
        &["--from", "legacy/Greeter.cs", "--between", "SystemPrompt = @\"", "\";", "--unescape", "csharp-verbatim"],
        Some(r#"extract = { between = ['SystemPrompt = @"', '";'] }"#),
        "You are the greeter of the Acme shop.\nGreet Ada by name and ask how you can help.\nSay \"hello\" in the customer's language.",
    );
    check_import(
        &[(
            "legacy/prompts.json",
            r#"{"support": {"system": "You are the support assistant.\nBe brief."}}"#,
        )],
        &["--from", "legacy/prompts.json", "--json-pointer", "/support/system"],
        Some(r#"extract = { json_pointer = "/support/system" }"#),
        "You are the support assistant.\nBe brief.",
    );
    check_import(
        &[(
            "legacy/prompts.toml",
            "[support]\nsystem = \"You are the support assistant.\\nBe brief.\"\n",
        )],
        &["--from", "legacy/prompts.toml", "--toml-key", "support.system"],
        Some(r#"extract = { toml_key = "support.system" }"#),
        "You are the support assistant.\nBe brief.",
    );
    check_import(
        &[("legacy/prompt.c", "const char *P = \"Line one\\n\\tLine \\\"two\\\"\";\n")],
        &["--from", "legacy/prompt.c", "--between", "P = \"", "\";", "--unescape", "c"],
        Some(r#"extract = { between = ['P = "', '";'] }"#),
        "Line one\n\tLine \"two\"",
    );
    check_import(
        &[("legacy/seed.ts", "const P = `Use \\`code\\` and \\${x}.`;\n")],
        &["--from", "legacy/seed.ts", "--between", "P = `", "`;", "--unescape", "js-template"],
        Some(r#"extract = { between = ["P = `", "`;"] }"#),
        "Use `code` and ${x}.",
    );
    // A literal `{{` is escaped so that the template prints it; the drift check still passes.
    check_import(
        &[("legacy/prompt.txt", "Write placeholders as {{name}}, never {{{raw}}}.\n")],
        &["--from", "legacy/prompt.txt"],
        None,
        "Write placeholders as \\{{name}}, never \\{{{raw}}}.\n",
    );
}

#[test]
fn import_from_an_absolute_path_inside_the_repository() {
    let repo = Repo::new(&[("legacy/support.txt", "You are the support assistant.\n")]);
    let absolute = repo.root.join("legacy/support.txt").display().to_string();
    let run = repo.run(&["import", "support", "--from", &absolute]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(repo.read("prompts/support/prompt.toml").contains("file = \"legacy/support.txt\"\n"));
}

/// `import` with `args` in a project of `files` fails with exit 2, writes no prompt folder (or
/// leaves an existing one as it was), and says why (snapshot `name`).
#[track_caller]
fn check_import_error(name: &str, files: &[(&str, &str)], args: &[&str]) -> Repo {
    let repo = Repo::new(files);
    let before = repo
        .exists("prompts/imported/prompt.toml")
        .then(|| repo.read("prompts/imported/prompt.toml"));
    let mut command = vec!["import", "imported"];
    command.extend_from_slice(args);
    let run = repo.run(&command);
    assert_eq!(run.code, 2, "{name}: import {args:?}:\n{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "", "{name}: nothing on stdout");
    assert!(run.stderr.starts_with("error: "), "{name}: {}", run.stderr);
    match before {
        None => assert!(!repo.exists("prompts/imported"), "{name}: import wrote prompts/imported"),
        Some(before) => {
            assert_eq!(repo.read("prompts/imported/prompt.toml"), before, "{name}: overwritten")
        }
    }
    insta::assert_snapshot!(name, repo.normalize(&transcript(&run)));
    repo
}

#[test]
fn import_errors() {
    // Messages start with the file and give positions as file:line:column.
    let greeter = [("legacy/Greeter.cs", GREETER_CS)];
    check_import_error(
        "import_marker_missing",
        &greeter,
        &["--from", "legacy/Greeter.cs", "--between", "Prompt = \"", "\";", "--unescape", "c"],
    );
    check_import_error(
        "import_marker_more_than_once",
        &greeter,
        &["--from", "legacy/Greeter.cs", "--between", "S", "\";"],
    );
    check_import_error(
        "import_lines_past_the_end",
        &greeter,
        &["--from", "legacy/Greeter.cs", "--lines", "5-99"],
    );
    check_import_error(
        "import_json_pointer_to_nothing",
        &[("legacy/prompts.json", r#"{"support": {"system": "Be brief."}}"#)],
        &["--from", "legacy/prompts.json", "--json-pointer", "/support/user"],
    );
    check_import_error(
        "import_wrong_unescape",
        &[("legacy/prompt.c", "const char *P = \"Say \\\"hello\\\".\";\n")],
        &[
            "--from",
            "legacy/prompt.c",
            "--between",
            "P = \"",
            "\";",
            "--unescape",
            "csharp-verbatim",
        ],
    );
    check_import_error(
        "import_js_interpolation",
        &[("legacy/seed.ts", "const P = `Hello ${name}.`;\n")],
        &["--from", "legacy/seed.ts", "--between", "P = `", "`;", "--unescape", "js-template"],
    );
    check_import_error(
        "import_escaped_braces",
        &[("legacy/prompt.txt", "Handlebars writes a literal brace pair as \\{{.\n")],
        &["--from", "legacy/prompt.txt"],
    );
    check_import_error(
        "import_empty_text",
        &[("legacy/Svc.cs", "const string P = @\"\";\n")],
        &["--from", "legacy/Svc.cs", "--between", "P = @\"", "\";"],
    );
    check_import_error("import_missing_file", &greeter, &["--from", "legacy/Gone.cs"]);

    let repo = Repo::new(&greeter);
    repo.write("../Outside.cs", GREETER_CS);
    let run = repo.run(&["import", "imported", "--from", "../Outside.cs"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(!repo.exists("prompts/imported"));
    insta::assert_snapshot!("import_outside_the_repository", repo.normalize(&transcript(&run)));

    let repo = Repo::new(&[]);
    repo.write("legacy/Svc.cs", b"const string P = @\"caf\xe9\";\n");
    let run = repo.run(&["import", "imported", "--from", "legacy/Svc.cs"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(!repo.exists("prompts/imported"));
    insta::assert_snapshot!("import_not_utf8", repo.normalize(&transcript(&run)));

    let run = Repo::new(&greeter).run(&["import", "Greeting", "--from", "legacy/Greeter.cs"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("`Greeting` is not a valid prompt name"), "{}", run.stderr);
}

#[test]
fn import_names_the_existing_folder() {
    let repo = check_import_error(
        "import_overwrite_existing",
        &[
            ("legacy/Greeter.cs", GREETER_CS),
            ("prompts/imported/prompt.toml", "description = \"already here\"\n"),
            ("prompts/imported/v1.prompt", "+++\n+++\nHello.\n"),
        ],
        &["--from", "legacy/Greeter.cs"],
    );
    assert_eq!(repo.read("prompts/imported/v1.prompt"), "+++\n+++\nHello.\n");
    let run = repo.run(&["import", "imported", "--from", "legacy/Greeter.cs"]);
    assert!(run.stderr.contains("`prompts/imported`"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// This repository: six prompts migrated from legacy/, all seed-checked, no drift.

#[test]
fn this_repository_has_no_seed_drift() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root_arg = root.display().to_string();
    let run = run_with(
        root,
        &[std::ffi::OsStr::new("--root"), std::ffi::OsStr::new(&root_arg)],
        &["check", "--format", "json", "--no-cache"],
    );
    assert!(run.code == 0 || run.code == 1, "check failed to run:\n{}{}", run.stdout, run.stderr);
    let seed_problems: Vec<Value> = diagnostics(&run.stdout)
        .into_iter()
        .filter(|d| {
            let code = d["code"].as_str().unwrap_or("");
            code.starts_with("seed/")
                || (code.starts_with("tests/")
                    && d["message"].as_str().unwrap_or("").contains("the seed"))
        })
        .collect();
    assert!(seed_problems.is_empty(), "{seed_problems:#?}");

    let mut seeded = Vec::new();
    for entry in std::fs::read_dir(root.join("prompts")).expect("prompts/") {
        let dir = entry.expect("an entry").path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().expect("a name").to_string_lossy().into_owned();
        let text = std::fs::read_to_string(dir.join("prompt.toml")).expect("prompt.toml");
        let manifest: toml::Table = toml::from_str(&text).expect("prompt.toml is TOML");
        let seed = manifest.get("seed").and_then(toml::Value::as_table);
        // The judge prompt of `promptctl eval` was written here, not migrated from legacy code.
        if name == "eval-judge" {
            assert!(seed.is_none(), "eval-judge has no legacy text");
            continue;
        }
        let seed = seed.unwrap_or_else(|| panic!("prompts/{name}/prompt.toml has no [seed]"));
        assert_eq!(seed.get("version").and_then(toml::Value::as_integer), Some(1), "{name}");
        let file = seed.get("file").and_then(toml::Value::as_str).expect("seed.file");
        assert!(file.starts_with("legacy/"), "{name}: {file}");
        assert!(root.join(file).is_file(), "{name}: the legacy file {file} does not exist");
        seeded.push(name);
    }
    seeded.sort();
    assert_eq!(
        seeded,
        [
            "chess-system-prompt",
            "cto",
            "qa-system-prompt",
            "setup-guide-system-prompt",
            "streaming-qa-system-prompt",
            "tech-lead",
        ]
    );
}
