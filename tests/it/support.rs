//! Test support: a fresh promptctl project in a temporary folder, the real binary run against it, and
//! the normalisation that makes its output stable across machines (temp paths, sha256 digests).
//! What the tests share with `xtask` (real servers, git, tree copies) is the `test-support` crate
//! (crates/test-support).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use regex::Regex;
use tempfile::TempDir;

/// The `promptctl.toml` every test project starts from; `Repo::with_config` appends to it.
pub const CONFIG: &str = r#"prompts_dir = "prompts"
lock_file = "prompts.lock"

[environments.production]
[environments.staging]
"#;

/// The `[models.*]` and `[eval]` tables of this repository's `promptctl.toml`, which a project
/// that copies the repository's prompts (and so their `[[eval]]` entries) appends to its own.
pub fn repository_models() -> String {
    let config =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("promptctl.toml"))
            .expect("read promptctl.toml");
    let start = config.find("\n[models.").expect("promptctl.toml declares [models]");
    format!("\n{}", &config[start + 1..])
}

/// A project in a temporary folder, deleted when dropped.
pub struct Repo {
    dir: TempDir,
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Repo {
    /// A project with the default `promptctl.toml` and `files` (`(path, content)`, paths relative
    /// to the project root, `/`-separated).
    pub fn new(files: &[(impl AsRef<str>, impl AsRef<str>)]) -> Repo {
        Repo::with_config("", files)
    }

    /// Like `new`, with `extra` appended to the top of `promptctl.toml` (before the tables), e.g.
    /// `max_template_bytes = 64`.
    pub fn with_config(extra: &str, files: &[(impl AsRef<str>, impl AsRef<str>)]) -> Repo {
        let dir =
            tempfile::Builder::new().prefix("promptctl-it-").tempdir().expect("create a temp dir");
        let repo = Repo { dir };
        repo.write(
            "promptctl.toml",
            &format!("{extra}{}{CONFIG}", if extra.is_empty() { "" } else { "\n" }),
        );
        std::fs::create_dir_all(repo.path().join("prompts")).expect("create prompts/");
        for (path, content) in files {
            repo.write(path.as_ref(), content.as_ref());
        }
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, relative: &str) -> PathBuf {
        self.path().join(relative)
    }

    /// Writes a text file, creating its folders.
    pub fn write(&self, relative: &str, content: &str) {
        self.write_bytes(relative, content.as_bytes());
    }

    /// Writes raw bytes (for files that are not UTF-8), creating its folders.
    pub fn write_bytes(&self, relative: &str, bytes: &[u8]) {
        let path = self.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {relative}: {e}"));
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.join(relative))
            .unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    pub fn remove(&self, relative: &str) {
        std::fs::remove_file(self.join(relative))
            .unwrap_or_else(|e| panic!("remove {relative}: {e}"));
    }

    /// Runs `promptctl --root <dir> --color never <args>` in the project folder.
    pub fn run(&self, args: &[&str]) -> Run {
        run_in(self.path(), args)
    }

    /// `text` with this project's path replaced by `[ROOT]`, see `normalize`.
    pub fn normalize(&self, text: &str) -> String {
        normalize(text, self.path())
    }
}

/// Runs the binary with `--root root --color never`, in `root`, without the colour variables of
/// the environment the tests happen to run in.
pub fn run_in(root: &Path, args: &[&str]) -> Run {
    run_with(root, &[std::ffi::OsStr::new("--root"), root.as_os_str()], args)
}

/// The promptctl binary the tests run: a hard link to cargo's `target/debug/promptctl` made once
/// per test process in `CARGO_TARGET_TMPDIR/promptctl-bin-PID/`. Every `cargo build` (even of nothing new) replaces
/// `target/debug/promptctl` by unlinking it and linking it again, so a test that runs cargo
/// (`runtime::service_binary`) would open a window in which a test starting the binary by
/// cargo's path finds no file (ENOENT): the private link keeps the inode whatever cargo does.
/// The folders of test processes that have exited are removed.
pub fn binary() -> &'static Path {
    static LINKED: OnceLock<PathBuf> = OnceLock::new();
    LINKED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(dir).expect("create CARGO_TARGET_TMPDIR");
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix("promptctl-bin-") else { continue };
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        // Named `promptctl` (clap's usage lines show the binary's file name), in a folder of its own.
        let folder = dir.join(format!("promptctl-bin-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("create the binary's folder");
        let link = folder.join("promptctl");
        let _ = std::fs::remove_file(&link);
        let source = Path::new(env!("CARGO_BIN_EXE_promptctl"));
        // The link itself may fall in such a window (a test's cargo run at the same moment).
        let started = std::time::Instant::now();
        loop {
            match std::fs::hard_link(source, &link)
                .or_else(|_| std::fs::copy(source, &link).map(|_| ()))
            {
                Ok(()) => break,
                Err(error)
                    if error.kind() == std::io::ErrorKind::NotFound
                        && started.elapsed() < std::time::Duration::from_secs(10) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(error) => panic!("link {} to {}: {error}", source.display(), link.display()),
            }
        }
        link
    })
}

/// Runs `command` (the promptctl binary) to completion.
pub fn output(command: &mut Command) -> std::process::Output {
    command.output().expect("run promptctl")
}

/// Runs the binary in `dir` with `global` options (none, or a `--root` of the test's choosing)
/// before `--color never` and `args`; a panic of the binary fails the test.
pub fn run_with(dir: &Path, global: &[&std::ffi::OsStr], args: &[&str]) -> Run {
    let output = output(
        Command::new(binary())
            .args(global)
            .args(["--color", "never"])
            .args(args)
            .current_dir(dir)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE"),
    );
    let run = Run {
        // A signal (no code) shows as -1, which no expectation matches.
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    };
    assert!(!run.stderr.contains("panicked"), "promptctl {args:?} panicked:\n{}", run.stderr);
    run
}

/// Runs the binary with `--root root --color never` in `root`, with none of the `PROMPTCTL_*`
/// variables (or `GITHUB_ACTOR`) of the shell the tests run in, and `env` set: what it signs with,
/// publishes to and records as the actor comes from the test alone. A panic fails the test.
pub fn run_isolated(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(binary());
    command.arg("--root").arg(root).args(["--color", "never"]).args(args).current_dir(root);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("PROMPTCTL_") || name == "GITHUB_ACTOR" || name == "RUST_LOG" {
            command.env_remove(name.as_ref());
        }
    }
    command.envs(env.iter().copied());
    let output = output(&mut command);
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    };
    assert!(!run.stderr.contains("panicked"), "promptctl {args:?} panicked:\n{}", run.stderr);
    run
}

/// Makes output comparable across machines: `root` (as given and canonicalised) becomes `[ROOT]`,
/// any other temporary folder `[TMP]`, and runs of 12 or more hex digits (sha256 digests, whole or
/// shortened) `[SHA]`.
pub fn normalize(text: &str, root: &Path) -> String {
    static TEMP: OnceLock<Regex> = OnceLock::new();
    static SHA: OnceLock<Regex> = OnceLock::new();
    let mut text = text.to_string();
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    for path in [canonical.as_path(), root] {
        text = text.replace(&path.display().to_string(), "[ROOT]");
    }
    let temp = TEMP.get_or_init(|| {
        let dirs = [
            std::env::temp_dir(),
            std::env::temp_dir().canonicalize().unwrap_or_else(|_| std::env::temp_dir()),
        ];
        let alternatives: Vec<String> =
            dirs.iter().map(|dir| regex::escape(&dir.display().to_string())).collect();
        Regex::new(&format!(r"(?:{})/\.?[A-Za-z0-9_-]+", alternatives.join("|")))
            .expect("temp regex")
    });
    let text = temp.replace_all(&text, "[TMP]");
    let sha = SHA.get_or_init(|| Regex::new(r"\b[0-9a-f]{12,}\b").expect("sha regex"));
    sha.replace_all(&text, "[SHA]").into_owned()
}

/// A prompt that checks clean: `prompts/<name>/prompt.toml` with one passing test, and
/// `prompts/<name>/v1.prompt` using its one variable. Not activated, so it needs no lock entry.
pub fn minimal_prompt(name: &str) -> Vec<(String, String)> {
    vec![
        (
            format!("prompts/{name}/prompt.toml"),
            r#"description = "Greets a user by name"

[[test]]
name = "greets"
vars = { name = "Ada" }
contains = ["Hello, Ada!"]
"#
            .to_string(),
        ),
        (
            format!("prompts/{name}/v1.prompt"),
            r#"+++
variables.name = { type = "string", max_len = 100 }
+++
Hello, {{name}}!
"#
            .to_string(),
        ),
    ]
}

/// A Redis client connection for assertions.
pub fn redis_connection(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|client| client.get_connection_with_timeout(std::time::Duration::from_secs(5)))
        .expect("connect to the test redis-server")
}

/// The cargo target folder (`CARGO_TARGET_DIR`, relative to the workspace, or `target/`), where
/// `cargo xtask verify`'s setup installs the tools some tests run (`ci-tools/`).
pub fn target_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target"));
    if target.is_absolute() {
        target
    } else {
        manifest.join(target)
    }
}

/// handlebars.js (`<target>/conformance-node`) for the tests that compare with it (`test` names
/// them in the message), installed with npm when missing, once per process: the tests run in
/// parallel, and two `npm install`s into one folder leave a broken install. `None` after a loud
/// SKIPPED message when node or npm is missing, except under `CI=true`, where that fails.
pub fn handlebars_js(test: &str) -> Option<PathBuf> {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match promptctl::differential::install_handlebars_js(&target_dir()) {
        Ok(prefix) => Some(prefix),
        Err(missing) => {
            let message = format!(
                "`{missing}`: the {test} against handlebars.js cannot run (install Node.js with npm)"
            );
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!("{message}; under CI=true this is a failure");
            }
            eprintln!("\n==================== SKIPPED ====================\n{message}\n=================================================\n");
            None
        }
    }
}

/// Asserts that `value` (what promptctl printed or wrote) is valid against `schemas/{schema}`,
/// listing every violation.
pub fn assert_schema_valid(schema: &str, value: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(schema);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("schemas/{schema}: {e}"));
    let schema_value: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("schemas/{schema}: {e}"));
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema_value)
        .unwrap_or_else(|e| panic!("schemas/{schema} does not compile: {e}"));
    let violations: Vec<String> =
        validator.iter_errors(value).map(|e| format!("at {}: {e}", e.instance_path())).collect();
    assert!(violations.is_empty(), "schemas/{schema}:\n{}\n{value:#}", violations.join("\n"));
}
