//! Inputs nobody here chose (issue 13): nesting past every limit, files that are not regular files
//! or never end, folders outside the repository, lines of megabytes. Each case runs the real binary
//! and asserts a diagnostic with a file and a position, never a signal, a hang or a panic.

use serde_json::Value;

use crate::support::{minimal_prompt, Repo, Run};

/// The limit `syntax/nesting` enforces on templates (`syntax::template::MAX_NESTING`).
const MAX_NESTING: usize = promptctl::syntax::template::MAX_NESTING;

/// Runs `check --no-cache --format json` and returns the exit code and the diagnostics, failing on
/// a signal (no exit code) or output that is not JSON.
fn check_json(repo: &Repo, extra: &[&str]) -> (Run, Vec<Value>) {
    let run = repo.run(&[&["check", "--no-cache", "--format", "json"], extra].concat());
    assert!(run.code >= 0, "killed by a signal:\n{}", run.stderr);
    let diagnostics = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr));
    (run, diagnostics)
}

fn codes(diagnostics: &[Value]) -> Vec<&str> {
    diagnostics.iter().filter_map(|d| d["code"].as_str()).collect()
}

/// The prompt `name` with one version made of `template`, which may use the variables `x`, `y`
/// (booleans), `xs` (an array of strings) and `o` (an object with a string `s`), and a test that
/// renders it with all of them set and expects `contains`.
fn prompt_with(name: &str, template: &str, contains: &str) -> Vec<(String, String)> {
    vec![
        (
            format!("prompts/{name}/prompt.toml"),
            format!(
                "description = \"deep\"\n\n[[test]]\nname = \"renders\"\n\
                 vars = {{ x = true, y = false, xs = [\"a\"], o = {{ s = \"S\" }} }}\n\
                 contains = [{contains:?}]\n"
            ),
        ),
        (
            format!("prompts/{name}/v1.prompt"),
            format!(
                "+++\nvariables.x = {{ type = \"boolean\" }}\nvariables.y = {{ type = \"boolean\" }}\n\
                 variables.xs = {{ type = \"array\", items = \"string\" }}\n\
                 variables.o = {{ type = \"object\", fields.s = {{ type = \"string\" }} }}\n+++\n{template}\n"
            ),
        ),
    ]
}

/// `depth` nested blocks of one kind (or all kinds in turn), closed, around `{{@root.o.s}}`.
fn nested(kind: &str, depth: usize) -> String {
    const KINDS: [(&str, &str); 4] = [
        ("{{#if @root.x}}", "{{/if}}"),
        ("{{#unless @root.y}}", "{{/unless}}"),
        ("{{#each @root.xs}}", "{{/each}}"),
        ("{{#with @root.o}}", "{{/with}}"),
    ];
    let pick = |level: usize| match kind {
        "if" => KINDS[0],
        "unless" => KINDS[1],
        "each" => KINDS[2],
        "with" => KINDS[3],
        _ => KINDS[level % 4],
    };
    let mut text = String::new();
    for level in 0..depth {
        text.push_str(pick(level).0);
    }
    text.push_str("{{@root.o.s}}");
    for level in (0..depth).rev() {
        text.push_str(pick(level).1);
    }
    text
}

/// An `{{#if}}` followed by `links` `{{else if}}` links, the last of which is taken.
fn else_if_chain(links: usize) -> String {
    let mut text = String::from("{{#if @root.y}}no");
    for _ in 1..links {
        text.push_str("{{else if @root.y}}no");
    }
    text.push_str("{{else if @root.x}}{{@root.o.s}}{{/if}}");
    text
}

#[test]
fn unclosed_ifs_under_the_size_limit_do_not_crash_check() {
    // 1,200 unclosed `{{#if x}}` are 10,800 bytes, under the default limit of 16,384; with two
    // prompts, `check` parses on rayon's worker threads, whose stacks are the smallest.
    let mut files = minimal_prompt("fine");
    files.extend(prompt_with("deep", &"{{#if x}}".repeat(1_200), "S"));
    let repo = Repo::new(&files);
    let (run, diagnostics) = check_json(&repo, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let nesting: Vec<&Value> =
        diagnostics.iter().filter(|d| d["code"] == "syntax/nesting").collect();
    assert_eq!(nesting.len(), 1, "{diagnostics:#?}");
    // The block that goes too deep: the 65th `{{#if x}}` on line 7 (after 6 lines of front matter).
    assert_eq!(nesting[0]["file"], "prompts/deep/v1.prompt");
    assert_eq!(nesting[0]["line"], 7);
    assert_eq!(nesting[0]["column"], (MAX_NESTING * "{{#if x}}".len() + 1) as u64);
    let human = repo.run(&["check", "--no-cache"]);
    assert_eq!(human.code, 1);
    assert!(human.stderr.contains("error[syntax/nesting]: blocks nest more than 64 deep"));
    assert!(human.stderr.contains("--> prompts/deep/v1.prompt:7:"), "{}", human.stderr);
}

#[test]
fn every_block_kind_renders_at_the_limit_and_is_refused_one_past_it() {
    for kind in ["if", "unless", "each", "with", "mixed", "else-if"] {
        let at_limit = if kind == "else-if" {
            else_if_chain(MAX_NESTING - 1)
        } else {
            nested(kind, MAX_NESTING)
        };
        let past = if kind == "else-if" {
            else_if_chain(MAX_NESTING)
        } else {
            nested(kind, MAX_NESTING + 1)
        };
        let deep = if kind == "else-if" { else_if_chain(2_000) } else { nested(kind, 2_000) };
        let mut files = minimal_prompt("fine");
        files.extend(prompt_with("at", &at_limit, "S"));
        files.extend(prompt_with("past", &past, "S"));
        files.extend(prompt_with("deep", &deep, "S"));
        // Raised so that the 2,000-deep template is within the size limit and gets parsed.
        let repo = Repo::with_config("max_template_bytes = 1000000", &files);
        let (run, diagnostics) = check_json(&repo, &[]);
        assert_eq!(run.code, 1, "{kind}: {}", run.stdout);
        // Warnings (a variable a single-kind template does not use) are beside the point.
        let mut found: Vec<(&str, &str)> = diagnostics
            .iter()
            .filter(|d| d["severity"] == "error")
            .map(|d| (d["file"].as_str().unwrap_or(""), d["code"].as_str().unwrap_or("")))
            .collect();
        found.sort_unstable();
        assert_eq!(
            found,
            [
                ("prompts/deep/v1.prompt", "syntax/nesting"),
                ("prompts/past/v1.prompt", "syntax/nesting")
            ],
            "{kind}: the template at the limit checks and its test renders: {diagnostics:#?}"
        );
    }
}

#[test]
fn a_template_over_the_size_limit_is_not_parsed() {
    // 2,000 unclosed blocks, over a lowered limit: one size diagnostic and nothing from the parser.
    let files = prompt_with("deep", &"{{#each xs}}".repeat(2_000), "S");
    let repo = Repo::with_config("max_template_bytes = 1000", &files);
    let (run, diagnostics) = check_json(&repo, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(codes(&diagnostics), ["structure/size-limit"], "{diagnostics:#?}");
}

/// A one-version prompt whose front matter is `front` and template `template`, no tests.
fn bare_prompt(name: &str, front: &str, template: &str) -> Vec<(String, String)> {
    vec![
        (format!("prompts/{name}/prompt.toml"), "description = \"deep\"\n".to_string()),
        (format!("prompts/{name}/v1.prompt"), format!("+++\n{front}\n+++\n{template}\n")),
    ]
}

#[test]
fn front_matter_nesting_past_the_toml_limit_is_a_diagnostic() {
    // `fields` 200 deep by dotted keys (past the parser's limit of 80 segments per key; 2,000 would
    // make a file of 18 MB, refused by its size alone) and 2,000 deep by inline tables; `model`
    // 5,000 inline tables deep, and 5,000 dotted keys deep.
    let mut dotted = String::new();
    let mut key = String::from("variables.x");
    for _ in 0..200 {
        dotted.push_str(&format!("{key}.type = \"object\"\n"));
        key.push_str(".fields.a");
    }
    dotted.push_str(&format!("{key}.type = \"string\""));
    let inline = format!(
        "variables.x = {}{{ type = \"string\" }}{}",
        "{ type = \"object\", fields.a = ".repeat(2_000),
        "}".repeat(2_000)
    );
    let model_inline = format!("model = {}1{}", "{ a = ".repeat(5_000), "}".repeat(5_000));
    let model_dotted = format!("model.{} = 1", vec!["a"; 5_000].join("."));
    let mut files = minimal_prompt("fine");
    files.extend(bare_prompt("dotted", &dotted, "{{x}}"));
    files.extend(bare_prompt("inline", &inline, "{{x}}"));
    files.extend(bare_prompt("model-inline", &model_inline, "hello"));
    files.extend(bare_prompt("model-dotted", &model_dotted, "hello"));
    let repo = Repo::with_config("max_template_bytes = 1000000", &files);
    let (run, diagnostics) = check_json(&repo, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    for name in ["dotted", "inline", "model-inline", "model-dotted"] {
        let file = format!("prompts/{name}/v1.prompt");
        let found: Vec<&str> = diagnostics
            .iter()
            .filter(|d| d["file"] == file.as_str())
            .filter_map(|d| d["code"].as_str())
            .collect();
        assert_eq!(found, ["syntax/nesting"], "{name}: {diagnostics:#?}");
    }
}

/// `levels` nested types: `x` an object, each level a field `a`, the innermost a string; with
/// its vars and the path that prints it.
fn deep_type(levels: usize) -> (String, String, String) {
    let declaration = format!(
        "variables.x = {}{{ type = \"string\" }}{}",
        "{ type = \"object\", fields.a = ".repeat(levels - 1),
        "}".repeat(levels - 1)
    );
    let vars = format!("x = {}\"deep\"{}", "{ a = ".repeat(levels - 1), "}".repeat(levels - 1));
    let path = format!("x{}", ".a".repeat(levels - 1));
    (declaration, vars, path)
}

#[test]
fn variable_types_render_at_the_type_limit_and_are_refused_past_it() {
    let limit = promptctl::syntax::prompt::MAX_TYPE_NESTING;
    let mut files = minimal_prompt("fine");
    for (name, levels) in [("at", limit), ("past", limit + 1)] {
        let (declaration, vars, path) = deep_type(levels);
        files.push((
            format!("prompts/{name}/prompt.toml"),
            format!(
                "description = \"deep\"\n\n[[test]]\nname = \"renders\"\nvars = {{ {vars} }}\ncontains = [\"deep\"]\n"
            ),
        ));
        files.push((
            format!("prompts/{name}/v1.prompt"),
            format!("+++\n{declaration}\n+++\n{{{{{path}}}}}\n"),
        ));
    }
    // A model as deep as a type may be, and one level more.
    let model =
        |levels: usize| format!("model = {}1{}", "{ a = ".repeat(levels), "}".repeat(levels));
    files.extend(bare_prompt("model-at", &model(limit), "hello"));
    files.extend(bare_prompt("model-past", &model(limit + 1), "hello"));
    let repo = Repo::new(&files);
    let (run, diagnostics) = check_json(&repo, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let mut found: Vec<(&str, &str)> = diagnostics
        .iter()
        .map(|d| (d["file"].as_str().unwrap_or(""), d["code"].as_str().unwrap_or("")))
        .collect();
    found.sort_unstable();
    // Past the limit, the variable is not declared, so its test and its use are reported too.
    assert!(found.contains(&("prompts/past/v1.prompt", "syntax/nesting")), "{diagnostics:#?}");
    assert!(
        found.contains(&("prompts/model-past/v1.prompt", "syntax/nesting")),
        "{diagnostics:#?}"
    );
    assert!(
        !found
            .iter()
            .any(|(file, _)| file.starts_with("prompts/at/")
                || file.starts_with("prompts/model-at/")),
        "at the limit, the prompts check clean and the test renders: {diagnostics:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Files that are not regular files, never end, or lie outside the repository.

/// Runs the binary like `Repo::run`, but kills it and fails the test if it has not exited after
/// `LIMIT`: what these cases guard against is a hang, which would otherwise hang the suite.
fn run_or_kill(repo: &Repo, args: &[&str]) -> Run {
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);
    let mut child = std::process::Command::new(crate::support::binary())
        .arg("--root")
        .arg(repo.path())
        .args(["--color", "never"])
        .args(args)
        .current_dir(repo.path())
        .env("PROMPTCTL_SIGNING_KEY", "")
        .env_remove("PROMPTCTL_SIGNING_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promptctl");
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait for promptctl").is_some() {
            break;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("promptctl {args:?} was still running after {LIMIT:?}: it hangs");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collect promptctl's output");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(run.code >= 0, "promptctl {args:?} was killed by a signal:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "promptctl {args:?} panicked:\n{}", run.stderr);
    run
}

fn symlink(target: &str, link: &std::path::Path) {
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent).expect("create the link's folder");
    }
    std::os::unix::fs::symlink(target, link).expect("create a symbolic link");
}

/// Makes `path` a file that never ends or never answers: a FIFO (`"fifo"`), a sparse file of
/// 2 GiB (`"huge"`) or a link to /dev/zero (anything else).
fn hostile_file(path: &std::path::Path, case: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create the folder");
    match case {
        "fifo" => mkfifo(path),
        "huge" => std::fs::File::create(path).and_then(|f| f.set_len(2 << 30)).expect("grow"),
        _ => symlink("/dev/zero", path),
    }
}

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Runs git in `repo` with a fixed identity.
fn git(repo: &Repo, args: &[&str]) {
    test_support::git(repo.path(), args);
}

fn commit_all(repo: &Repo) {
    repo.write(".gitignore", ".promptctl/\n");
    git(repo, &["init", "-q"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "prompts"]);
}

#[test]
fn a_lock_file_that_never_ends_is_refused() {
    for (case, lock_file) in [("link to /dev/zero", "prompts.lock"), ("absolute", "/dev/zero")] {
        let repo =
            Repo::with_config(&format!("lock_file = {lock_file:?}"), &minimal_prompt("hello"));
        // `with_config` puts the default `lock_file` after ours; keep only ours.
        let config = repo.read("promptctl.toml").replacen("lock_file = \"prompts.lock\"\n", "", 1);
        repo.write("promptctl.toml", &config);
        if lock_file == "prompts.lock" {
            symlink("/dev/zero", &repo.join("prompts.lock"));
        }
        let run = run_or_kill(&repo, &["check"]);
        assert_eq!(run.code, 2, "{case}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("cannot read `"), "{case}: {}", run.stderr);
        assert!(
            run.stderr.contains("resolves to `/dev/zero`, outside the repository"),
            "{case}: {}",
            run.stderr
        );
    }
    // A FIFO inside the repository: refused for what it is, without waiting for a writer.
    let repo = Repo::new(&minimal_prompt("hello"));
    mkfifo(&repo.join("prompts.lock"));
    let run = run_or_kill(&repo, &["check"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("it is a FIFO, not a regular file"), "{}", run.stderr);
}

#[test]
fn a_lock_file_over_its_limit_is_refused_unread() {
    let repo = Repo::new(&minimal_prompt("hello"));
    let file = std::fs::File::create(repo.join("prompts.lock")).expect("create the lock");
    // Sparse: 2 GiB that take no room on disk, and would take 2 GiB of memory if read.
    file.set_len(2 << 30).expect("grow the lock");
    let run = run_or_kill(&repo, &["check"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "it is {} bytes, over the limit of {} bytes for the lock file",
            2u64 << 30,
            promptctl::read::LOCK_BYTES
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn prompt_files_that_are_not_regular_files_or_too_large_are_diagnostics() {
    let mut files = minimal_prompt("hello");
    files.extend(minimal_prompt("fifo"));
    files.extend(minimal_prompt("huge"));
    let repo = Repo::new(&files);
    std::fs::remove_file(repo.join("prompts/fifo/v1.prompt")).expect("remove v1");
    mkfifo(&repo.join("prompts/fifo/v1.prompt"));
    let huge = std::fs::OpenOptions::new()
        .write(true)
        .open(repo.join("prompts/huge/v1.prompt"))
        .expect("open v1");
    huge.set_len(1 << 30).expect("grow v1");
    let run = run_or_kill(&repo, &["check", "--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let diagnostics: Vec<Value> = serde_json::from_str(&run.stdout).expect("JSON");
    let found: Vec<(&str, &str)> = diagnostics
        .iter()
        .filter(|d| d["code"] != "structure/no-versions" && d["code"] != "tests/unknown-version")
        .map(|d| (d["file"].as_str().unwrap_or(""), d["code"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        found,
        [
            ("prompts/fifo/v1.prompt", "structure/file-type"),
            ("prompts/huge/v1.prompt", "structure/size-limit")
        ],
        "{diagnostics:#?}"
    );
    let message = |file: &str| {
        let found = diagnostics.iter().find(|d| d["file"] == file).expect("a diagnostic");
        found["message"].as_str().unwrap_or("").to_string()
    };
    let huge = message("prompts/huge/v1.prompt");
    assert!(huge.contains("over the limit of 278528 bytes for a version file"), "{huge}");
    let fifo = message("prompts/fifo/v1.prompt");
    assert_eq!(fifo, "cannot read the file: it is a FIFO, not a regular file");
}

#[test]
fn a_seed_file_that_never_ends_is_a_seed_diagnostic() {
    for case in ["fifo", "huge", "dev-zero"] {
        let mut files = minimal_prompt("svc");
        files[0].1.push_str(
            "\n[seed]\nversion = 1\nfile = \"legacy/svc.txt\"\nextract = { lines = \"1-1\" }\n",
        );
        let repo = Repo::new(&files);
        hostile_file(&repo.join("legacy/svc.txt"), case);
        let run = run_or_kill(&repo, &["check", "--format", "json"]);
        assert_eq!(run.code, 1, "{case}: {}{}", run.stdout, run.stderr);
        let diagnostics: Vec<Value> = serde_json::from_str(&run.stdout).expect("JSON");
        assert_eq!(codes(&diagnostics), ["seed/file"], "{case}: {diagnostics:#?}");
        let message = diagnostics[0]["message"].as_str().unwrap_or("");
        let expected = match case {
            "fifo" => "a FIFO, not a regular file",
            "huge" => "over the limit of 16777216 bytes for a legacy file of `[seed]`",
            _ => "outside the repository",
        };
        assert!(message.contains(expected), "{case}: {message}");
    }
}

#[test]
fn build_reads_no_dot_file_that_never_ends_and_no_prompt_outside_the_repository() {
    let repo = Repo::new(&minimal_prompt("hello"));
    symlink("/dev/zero", &repo.join("prompts/hello/.z"));
    symlink("/dev/zero", &repo.join("prompts/.zero"));
    commit_all(&repo);
    mkfifo(&repo.join("prompts/hello/.fifo"));
    let run = run_or_kill(&repo, &["check"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = run_or_kill(&repo, &["build"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // Git tracks no FIFO, and none of the three goes into the bundle: it is clean.
    assert!(!run.stderr.contains("the bundle is marked dirty"), "{}", run.stderr);

    // A prompts folder that is a link out of the repository, or an absolute `prompts_dir`.
    let outside = Repo::new(&minimal_prompt("elsewhere"));
    for case in ["link", "absolute"] {
        let repo = Repo::new(&[("README.md", "x")]);
        std::fs::remove_dir_all(repo.join("prompts")).expect("remove prompts/");
        let target = outside.join("prompts");
        if case == "link" {
            symlink(target.to_str().expect("UTF-8 path"), &repo.join("prompts"));
        } else {
            let config = repo.read("promptctl.toml").replace(
                "prompts_dir = \"prompts\"",
                &format!("prompts_dir = {:?}", target.display().to_string()),
            );
            repo.write("promptctl.toml", &config);
        }
        commit_all(&repo);
        for command in ["check", "build"] {
            let run = run_or_kill(&repo, &[command]);
            assert_eq!(run.code, 2, "{case} {command}: {}{}", run.stdout, run.stderr);
            assert!(
                run.stderr.contains("outside the repository"),
                "{case} {command}: {}",
                run.stderr
            );
            assert!(
                !repo.join(".promptctl/build/bundle.json").exists(),
                "{case}: a bundle was written"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Diagnostics about huge lines stay small in every format.

#[test]
fn diagnostics_on_a_line_of_megabytes_stay_small() {
    // 4 MB on one line, within a limit raised to near its cap, with an undeclared variable and a bidi control
    // at its end; a 200 KB line over the default limit; a variable name of 1 MB.
    let long = format!("{}{{{{undeclared}}}} \u{202e}x\n", "word ".repeat(800_000));
    let over = format!("{}\n", "w".repeat(200_000));
    let name = "é".repeat(500_000);
    let mut files =
        bare_prompt("long", "variables.x = { type = \"string\" }", &format!("{{{{x}}}}{long}"));
    files.extend(bare_prompt("over", "", &over));
    files.extend(bare_prompt(
        "name",
        &format!("variables.\"{name}\" = {{ type = \"string\" }}"),
        "hi",
    ));
    let repo = Repo::with_config("max_template_bytes = 4100000", &files);
    // SARIF lists every rule whatever the findings: its output for a clean project is the base.
    let clean = Repo::new(&minimal_prompt("hello"));
    for format in ["human", "json", "github", "sarif"] {
        // Human diagnostics go to stderr, the machine formats to stdout.
        let output = |run: &crate::support::Run| {
            if format == "human" {
                run.stderr.clone()
            } else {
                run.stdout.clone()
            }
        };
        let base = output(&run_or_kill(&clean, &["check", "--no-cache", "--format", format])).len();
        let run = run_or_kill(&repo, &["check", "--no-cache", "--format", format]);
        assert_eq!(run.code, 1, "{format}: {}", run.stderr);
        let out = output(&run);
        let size = out.len() - base.min(out.len());
        assert!(size < 16_000, "{format}: {size} bytes of output more than for a clean project");
        assert!(out.contains("undeclared"), "{format}: {out}");
    }
    let human = repo.run(&["check", "--no-cache"]);
    assert!(
        human.stderr.contains(" --> prompts/long/v1.prompt:4:4000008\n"),
        "the position of the undeclared variable:\n{}",
        human.stderr
    );
    assert!(human.stderr.contains("error[security/bidi]"), "{}", human.stderr);
    assert!(human.stderr.contains("more bytes)"), "the name is cut:\n{}", human.stderr);

    let lowered = Repo::with_config("max_template_bytes = 1000", &bare_prompt("over", "", &over));
    let human = run_or_kill(&lowered, &["check", "--no-cache"]);
    assert_eq!(human.code, 1);
    assert!(human.stderr.contains("error[structure/size-limit]"), "{}", human.stderr);
    assert!(human.stderr.len() < 4_000, "{} bytes of output", human.stderr.len());
}

#[test]
fn import_refuses_a_legacy_file_that_never_ends() {
    for case in ["fifo", "huge", "dev-zero"] {
        let repo = Repo::new(&[("README.md", "x")]);
        hostile_file(&repo.join("legacy/svc.txt"), case);
        let run =
            run_or_kill(&repo, &["import", "svc", "--from", "legacy/svc.txt", "--lines", "1-1"]);
        assert_eq!(run.code, 2, "{case}: {}{}", run.stdout, run.stderr);
        let expected = match case {
            "fifo" => "it is a FIFO, not a regular file",
            "huge" => "over the limit of 16777216 bytes",
            _ => "is outside the repository",
        };
        assert!(run.stderr.contains(expected), "{case}: {}", run.stderr);
        assert!(!repo.join("prompts/svc").exists(), "{case}: a prompt was written");
    }
}

// ---------------------------------------------------------------------------------------------
// Values: object keys in source order, numbers JSON cannot carry.

#[test]
fn each_over_an_object_follows_the_source_order_of_its_keys() {
    let files = [
        (
            "prompts/keys/prompt.toml",
            "description = \"keys\"\n\n[[test]]\nname = \"order\"\n\
             vars = { m = { b = \"2\", a = \"1\", c = \"3\" } }\n\
             contains = [\"b=2(first);a=1;c=3(last);\"]\n",
        ),
        (
            "prompts/keys/v1.prompt",
            "+++\nvariables.m = { type = \"object\", fields.a = { type = \"string\" }, \
             fields.b = { type = \"string\" }, fields.c = { type = \"string\" } }\n+++\n\
             {{#each m}}{{@key}}={{this}}{{#if @first}}(first){{/if}}{{#if @last}}(last){{/if}};{{/each}}\n",
        ),
    ];
    let repo = Repo::new(&files);
    let (run, diagnostics) = check_json(&repo, &[]);
    let errors: Vec<&Value> = diagnostics.iter().filter(|d| d["severity"] == "error").collect();
    assert!(errors.is_empty(), "the test renders in source order: {diagnostics:#?}");
    assert_eq!(run.code, 0);
}

#[test]
fn test_vars_that_json_cannot_carry_are_refused() {
    for value in ["nan", "inf", "-inf", "+nan"] {
        let files = [
            (
                "prompts/num/prompt.toml".to_string(),
                format!(
                    "description = \"n\"\n\n[[test]]\nname = \"odd\"\nvars = {{ x = {value} }}\n"
                ),
            ),
            (
                "prompts/num/v1.prompt".to_string(),
                "+++\nvariables.x = { type = \"number\" }\n+++\n{{x}}\n".to_string(),
            ),
        ];
        let repo = Repo::new(&files);
        let (run, diagnostics) = check_json(&repo, &[]);
        assert_eq!(run.code, 1, "{value}");
        let errors: Vec<Value> =
            diagnostics.into_iter().filter(|d| d["severity"] == "error").collect();
        assert_eq!(codes(&errors), ["tests/type"], "{value}: {errors:#?}");
        let message = errors[0]["message"].as_str().unwrap_or("");
        assert!(message.contains("which JSON cannot carry"), "{value}: {message}");
    }
}

#[test]
fn limits_cannot_be_raised_past_their_caps() {
    let repo = Repo::with_config("max_template_bytes = 4194305", &minimal_prompt("hello"));
    let run = run_or_kill(&repo, &["check"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("`max_template_bytes` is 4194305, over its cap of 4194304"),
        "{}",
        run.stderr
    );
    // An expiry 8,000 years ahead once gave year 10240, which verification then refused.
    let repo = Repo::new(&minimal_prompt("hello"));
    let run = run_or_kill(&repo, &["build", "--expires-in", "3000000"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("3000000 is not in 1..=36500"), "{}", run.stderr);
}
