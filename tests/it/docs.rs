//! The documentation stays true to the tool: `docs/diagnostics.md` has a section for every
//! diagnostic code, in the order of `Code::ALL`, with its severity and an example; `--help` output
//! is snapshotted so a change to the command line is reviewed like any other output.

use std::process::Command;

use promptctl::diagnostic::{Code, Severity};

const DIAGNOSTICS_MD: &str = include_str!("../../docs/diagnostics.md");

/// One `## \`code\`` section of docs/diagnostics.md.
struct Section<'a> {
    code: &'a str,
    /// The line number of the heading, for messages.
    line: usize,
    body: Vec<&'a str>,
}

/// Splits the document at its `## \`code\`` headings. The introduction before the first one may
/// have plain `## ` headings of its own; after it, every `## ` heading must name a code. Lines
/// inside fenced blocks are never headings.
fn sections(text: &str) -> Vec<Section<'_>> {
    let mut sections: Vec<Section> = Vec::new();
    let mut in_fence = false;
    for (index, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence {
            if let Some(heading) = line.strip_prefix("## ") {
                match heading.trim().strip_prefix('`').and_then(|h| h.strip_suffix('`')) {
                    Some(code) => {
                        sections.push(Section { code, line: index + 1, body: Vec::new() });
                        continue;
                    }
                    None if sections.is_empty() => {}
                    None => panic!("docs/diagnostics.md:{}: a `## ` heading after the introduction names no code: {line}", index + 1),
                }
            }
        }
        if let Some(section) = sections.last_mut() {
            section.body.push(line);
        }
    }
    assert!(!in_fence, "docs/diagnostics.md ends inside a fenced block");
    sections
}

/// The fenced blocks of a section, each as its lines without the fences.
fn fenced_blocks<'a>(lines: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in lines {
        if line.starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(Vec::new()),
            }
        } else if let Some(block) = current.as_mut() {
            block.push(line);
        }
    }
    blocks
}

#[test]
fn every_code_has_a_section_in_order() {
    let documented: Vec<&str> =
        sections(DIAGNOSTICS_MD).iter().map(|section| section.code).collect();
    let unknown: Vec<&&str> =
        documented.iter().filter(|code| Code::parse(code).is_none()).collect();
    assert!(
        unknown.is_empty(),
        "docs/diagnostics.md documents codes promptctl does not have: {unknown:?}"
    );
    let all: Vec<&str> = Code::ALL.iter().map(|code| code.as_str()).collect();
    let missing: Vec<&&str> = all.iter().filter(|code| !documented.contains(code)).collect();
    assert!(
        missing.is_empty(),
        "docs/diagnostics.md has no `## \\`code\\`` section for: {missing:?}"
    );
    assert_eq!(
        documented, all,
        "docs/diagnostics.md: one section per code, in the order of src/diagnostic.rs"
    );
}

#[test]
fn every_section_states_its_severity_and_has_an_example() {
    for section in sections(DIAGNOSTICS_MD) {
        let at = format!("docs/diagnostics.md:{} (`{}`)", section.line, section.code);
        let Some(code) = Code::parse(section.code) else { continue };
        let severity = match code.severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let stated = format!("Severity: {severity}");
        assert!(
            section.body.iter().any(|line| line.replace('*', "").trim() == stated),
            "{at}: no line `{stated}`"
        );

        let example = section.body.iter().position(|line| line.starts_with("### Example"));
        let example = example.unwrap_or_else(|| panic!("{at}: no `### Example` part"));
        let example_end = section.body[example + 1..]
            .iter()
            .position(|line| line.starts_with("### "))
            .map_or(section.body.len(), |end| example + 1 + end);
        let blocks = fenced_blocks(&section.body[example..example_end]);
        assert!(
            blocks.len() >= 2,
            "{at}: the example needs a fenced failing input and a fenced output"
        );
        let header = format!("{severity}[{}]", section.code);
        assert!(
            blocks.iter().any(|block| block.iter().any(|line| line.starts_with(&header))),
            "{at}: no fenced block of the example shows the output `{header}: …`"
        );
        assert!(
            section.body.iter().any(|line| line.starts_with("### Fix")),
            "{at}: no `### Fix` part"
        );
    }
}

#[test]
fn the_introduction_documents_the_json_fields_and_exit_codes() {
    let intro = DIAGNOSTICS_MD.split("\n## `").next().unwrap_or_default();
    for field in [
        "code",
        "severity",
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "message",
        "help",
        "note",
    ] {
        assert!(
            intro.contains(&format!("`{field}`")),
            "docs/diagnostics.md: the introduction does not describe the JSON field `{field}`"
        );
    }
    for exit in ["`0`", "`1`", "`2`"] {
        assert!(
            intro.contains(exit),
            "docs/diagnostics.md: the introduction does not describe exit code {exit}"
        );
    }
}

fn help(args: &[&str]) -> String {
    let output = Command::new(crate::support::binary())
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run promptctl");
    assert_eq!(output.status.code(), Some(0), "promptctl {args:?}");
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

#[test]
fn help_output() {
    insta::assert_snapshot!("help", help(&["--help"]));
    insta::assert_snapshot!("check_help", help(&["check", "--help"]));
}

/// The workflows this repository ships, every `*.yml` of `.github/workflows/`, as (name, text).
fn workflows() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows");
    let mut workflows: Vec<(String, String)> = std::fs::read_dir(&root)
        .expect(".github/workflows")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .map(|name| {
            let text = std::fs::read_to_string(root.join(&name)).expect("workflow");
            (name, text)
        })
        .collect();
    workflows.sort();
    let names: Vec<&str> = workflows.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["ci.yml", "deploy-prompts.yml", "prompts-eval.yml", "prompts-review.yml", "release.yml"]
    );
    workflows
}

fn repository_file(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The lines of one top-level job (`  name:` under `jobs:`) of a workflow.
fn job<'a>(workflow: &'a str, name: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = workflow.lines().collect();
    let jobs = lines.iter().position(|line| *line == "jobs:").expect("jobs:");
    let start = jobs
        + lines[jobs..]
            .iter()
            .position(|line| *line == format!("  {name}:"))
            .unwrap_or_else(|| panic!("no job {name}"));
    let end = lines[start + 1..]
        .iter()
        .position(|line| {
            line.starts_with("  ")
                && !line.starts_with("   ")
                && !line.trim_start().starts_with('#')
        })
        .map_or(lines.len(), |end| start + 1 + end);
    lines[start..end].to_vec()
}

/// The names of a workflow's jobs.
fn jobs(workflow: &str) -> Vec<&str> {
    let after = &workflow[workflow.find("\njobs:\n").expect("jobs:") + 7..];
    after
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with(' ') || line.starts_with('#'))
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.trim().strip_suffix(':'))
        .filter(|name| !name.starts_with('#'))
        .collect()
}

/// The shipped workflows and the action are copied into other repositories or run there as they
/// are: every action pinned to a commit (or this repository's own, `uses: ./`), no credentials
/// left in checkouts, a time limit on every job, root only for `apt-get`, the signing keys only in
/// jobs limited to the default branch or to version tags, and nothing from a pull request or an
/// input interpolated into a script.
#[test]
fn the_shipped_workflows_are_safe_to_copy() {
    let pinned = regex::Regex::new(r"^\s*-?\s*uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # \S+$").unwrap();
    let local = regex::Regex::new(r"^\s*-?\s*uses: \./$").unwrap();
    let sudo = regex::Regex::new(r"\bsudo\b").unwrap();
    let sudo_apt_get = regex::Regex::new(r"\bsudo (?:[A-Z_]+=\S+ )*apt-get ").unwrap();
    let mut files = workflows();
    files.push(("action.yml".to_owned(), repository_file("action.yml")));
    for (name, text) in &files {
        let lines: Vec<&str> = text.lines().collect();
        // The indentation of the `run:` key whose block scalar the next lines may belong to.
        let mut script_indent: Option<usize> = None;
        for (index, line) in lines.iter().enumerate() {
            let at = format!("{name}:{}", index + 1);
            if line.trim_start().trim_start_matches("- ").starts_with("uses:") {
                assert!(
                    pinned.is_match(line) || local.is_match(line),
                    "{at}: not pinned to a commit: {line}"
                );
            }
            if line.contains("actions/checkout@") {
                let step: Vec<&str> = lines[index + 1..]
                    .iter()
                    .take_while(|next| !next.trim_start().starts_with("- "))
                    .copied()
                    .collect();
                assert!(
                    step.iter().any(|l| l.trim() == "persist-credentials: false"),
                    "{at}: a checkout keeps its credentials"
                );
            }
            if !line.trim_start().starts_with('#') && sudo.is_match(line) {
                assert_eq!(
                    sudo.find_iter(line).count(),
                    sudo_apt_get.find_iter(line).count(),
                    "{at}: sudo for something else than apt-get: {line}"
                );
            }
            // An expression never reaches a script's text: it is a value of `env:` (or `with:`,
            // `name:`, …), and the script reads the environment.
            let indent = line.len() - line.trim_start().len();
            let key_indent = indent + if line.trim_start().starts_with("- ") { 2 } else { 0 };
            if script_indent.is_some_and(|script| line.trim().is_empty() || indent > script) {
                assert!(!line.contains("${{"), "{at}: an expression inside a script: {line}");
                continue;
            }
            script_indent = None;
            let value = line.trim_start().trim_start_matches("- ");
            if let Some(script) = value.strip_prefix("run:") {
                assert!(!script.contains("${{"), "{at}: an expression inside a script: {line}");
                if matches!(script.trim(), "|" | ">" | "|-" | ">-") {
                    script_indent = Some(key_indent);
                }
            }
        }
        assert!(
            !text.contains("\"origin/${{ github.base_ref }}\""),
            "{name}: base_ref in a script"
        );
        if name.as_str() != "action.yml" {
            for job_name in jobs(text) {
                assert!(
                    job(text, job_name)
                        .iter()
                        .any(|line| line.starts_with("    timeout-minutes: ")),
                    "{name}: the job `{job_name}` has no timeout-minutes"
                );
            }
            assert!(
                text.contains("\npermissions:\n  contents: read\n"),
                "{name}: default permissions"
            );
        }
    }
    for script in [".ci/run", ".github/action/install.sh"] {
        for (index, line) in repository_file(script).lines().enumerate() {
            if !line.trim_start().starts_with('#') && sudo.is_match(line) {
                assert!(
                    sudo_apt_get.is_match(line),
                    "{script}:{}: sudo for something else than apt-get: {line}",
                    index + 1
                );
            }
        }
    }

    // The model keys reach only the evaluation that a maintainer asks for (a label or a manual
    // run), in an environment; every pull request replays the recorded answers without them.
    let evaluation = repository_file(".github/workflows/prompts-eval.yml");
    let eval_job = job(&evaluation, "eval").join("\n");
    assert!(
        eval_job.contains("environment: model-keys"),
        "the model keys are not in an environment"
    );
    assert!(
        eval_job.contains("contains(github.event.pull_request.labels.*.name, 'eval')"),
        "the paid evaluation runs without the label"
    );
    assert!(eval_job.contains("secrets.OPENAI_API_KEY"));
    let review = repository_file(".github/workflows/prompts-review.yml");
    assert!(review.contains("promptctl eval --offline"), "pull requests do not replay the evals");
    assert!(!review.contains("API_KEY"), "a model key reaches every pull request");

    let deploy = repository_file(".github/workflows/deploy-prompts.yml");
    let build = job(&deploy, "build").join("\n");
    assert!(
        build.contains("environment: prompt-signing"),
        "the signing key is not in an environment"
    );
    assert!(
        build.contains(
            "if: github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
        ),
        "workflow_dispatch could build any branch"
    );
    assert!(build.contains("secrets.PROMPTCTL_SIGNING_KEY"));
    let rest = &deploy[deploy.find("  staging:").unwrap()..];
    assert!(!rest.contains("PROMPTCTL_SIGNING_KEY"), "the key reaches a publishing job");

    // The release: only version tags start it; the minisign key and the write token only in the
    // job that publishes, in the protected `release` environment; the key never printed.
    let release = repository_file(".github/workflows/release.yml");
    assert!(
        release.contains("on:\n  push:\n    tags: [\"v[0-9]*\"]\n"),
        "release.yml: not on tags"
    );
    let publish = job(&release, "publish").join("\n");
    assert!(
        publish.contains("    environment: release\n"),
        "the release key is not in an environment"
    );
    assert!(publish.contains("secrets.RELEASE_MINISIGN_KEY"));
    assert!(publish.contains("      contents: write\n"));
    for other in jobs(&release).into_iter().filter(|name| *name != "publish") {
        let other = job(&release, other).join("\n");
        assert!(!other.contains("RELEASE_MINISIGN_KEY"), "the release key reaches another job");
        assert!(!other.contains("contents: write"), "a write token in a build job");
    }
    assert!(
        !release.lines().any(|line| line.contains("RELEASE_MINISIGN_KEY")
            && (line.contains("echo") || line.contains("cat "))),
        "release.yml prints its key"
    );
    for target in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "aarch64-apple-darwin",
        "x86_64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        assert!(
            release.contains(&format!("- target: {target}\n")),
            "release.yml: no {target} build"
        );
    }
    // The archive layout the action's install step unpacks.
    let install = repository_file(".github/action/install.sh");
    assert!(
        release.contains(r#"tar -czf "dist/promptctl-$TARGET.tar.gz" -C dist "promptctl-$TARGET""#)
    );
    assert!(install.contains(r#"asset="promptctl-$target.tar.gz""#));
    assert!(install.contains(r#""$download/promptctl-$target/promptctl$exe""#));
    assert!(release.contains("sha256sum promptctl-*.tar.gz >SHA256SUMS"));
}

/// `action.yml` is a composite action with the inputs docs/ci.md describes, each step with its
/// shell (a composite step needs one), and its install step is the script tested below.
#[test]
fn the_action_declares_its_inputs_and_steps() {
    let action = repository_file("action.yml");
    for key in [
        "name: promptctl\n",
        "description: ",
        "inputs:\n",
        "outputs:\n",
        "runs:\n  using: composite\n",
    ] {
        assert!(action.contains(&format!("\n{key}")), "action.yml: no top-level `{key}`");
    }
    for input in ["version", "command", "working-directory"] {
        let declared = action
            .find(&format!("\n  {input}:\n"))
            .unwrap_or_else(|| panic!("action.yml: no input `{input}`"));
        let body = &action[declared..];
        assert!(
            body.lines()
                .skip(2)
                .take_while(|line| line.starts_with("    "))
                .any(|line| line.starts_with("    description: ")),
            "action.yml: the input `{input}` has no description"
        );
        assert!(
            repository_file("docs/ci.md").contains(&format!("`{input}`")),
            "docs/ci.md does not describe the input `{input}`"
        );
    }
    let steps = &action[action.find("\n  steps:\n").expect("runs.steps")..];
    let step_count = steps.lines().filter(|line| line.starts_with("    - ")).count();
    let shells = steps
        .lines()
        .filter(|line| line.trim_start().trim_start_matches("- ") == "shell: bash")
        .count();
    assert_eq!(step_count, 2);
    assert_eq!(shells, step_count, "action.yml: every composite step needs `shell:`");
    assert!(action.contains(r#"run: bash "$GITHUB_ACTION_PATH/.github/action/install.sh""#));
}

/// The action's install script against a release in a file:// folder: it installs the archive
/// whose SHA-256 matches SHA256SUMS, refuses one that does not, and without a release for the
/// platform builds from source (here: says that cargo is missing).
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
#[test]
fn the_action_installs_a_checked_release() {
    let target = if cfg!(target_arch = "x86_64") {
        "x86_64-unknown-linux-musl"
    } else {
        "aarch64-unknown-linux-musl"
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let releases = temp.path().join("releases");
    let release = releases.join("v9.9.9");
    let folder = release.join(format!("promptctl-{target}"));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("promptctl"), "#!/bin/sh\necho \"promptctl 9.9.9 $*\"\n").unwrap();
    let shell = |script: &str| {
        let status =
            Command::new("bash").arg("-c").arg(script).current_dir(&release).status().unwrap();
        assert!(status.success(), "{script}");
    };
    shell(&format!("chmod +x promptctl-{target}/promptctl && tar -czf promptctl-{target}.tar.gz promptctl-{target} && rm -r promptctl-{target} && sha256sum promptctl-*.tar.gz > SHA256SUMS"));

    let run = |version: &str, runner: &str, path: &str| {
        let runner = temp.path().join(runner);
        std::fs::create_dir_all(&runner).unwrap();
        let output = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.github/action/install.sh"))
            .env_clear()
            .env("PATH", path)
            .env("INPUT_VERSION", version)
            .env("GITHUB_ACTION_PATH", env!("CARGO_MANIFEST_DIR"))
            .env("GITHUB_PATH", runner.join("path"))
            .env("GITHUB_OUTPUT", runner.join("output"))
            .env("RUNNER_TEMP", &runner)
            .env("PROMPTCTL_RELEASE_BASE_URL", format!("file://{}", releases.display()))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text, runner)
    };
    // A PATH of the tools the script uses and no cargo, wherever cargo is installed.
    let tools = temp.path().join("bin");
    std::fs::create_dir_all(&tools).unwrap();
    for tool in [
        "bash",
        "cat",
        "chmod",
        "cp",
        "curl",
        "dirname",
        "grep",
        "gzip",
        "head",
        "mkdir",
        "rm",
        "sed",
        "sh",
        "sha256sum",
        "tar",
        "uname",
    ] {
        let found = ["/usr/local/bin", "/usr/bin", "/bin"]
            .iter()
            .map(|dir| std::path::Path::new(dir).join(tool))
            .find(|path| path.is_file())
            .unwrap_or_else(|| panic!("{tool} is not installed"));
        std::os::unix::fs::symlink(found, tools.join(tool)).unwrap();
    }
    let system = tools.to_str().unwrap();

    let (ok, text, runner) = run("9.9.9", "ok", system);
    assert!(ok, "{text}");
    assert!(text.contains("promptctl 9.9.9 --version"), "{text}");
    assert!(text.contains("SHA-256 checked"), "{text}");
    let bin = std::fs::read_to_string(runner.join("path")).unwrap();
    assert_eq!(bin.trim(), runner.join("promptctl-v9.9.9/bin").display().to_string());
    assert_eq!(std::fs::read_to_string(runner.join("output")).unwrap(), "version=v9.9.9\n");

    // One byte changed: refused, and no fallback.
    let archive = release.join(format!("promptctl-{target}.tar.gz"));
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&archive, bytes).unwrap();
    let (ok, text, runner) = run("v9.9.9", "tampered", system);
    assert!(!ok, "{text}");
    assert!(text.contains("does not match the SHA-256"), "{text}");
    assert!(!runner.join("path").exists(), "{text}");

    // No such release: the source build, which needs cargo (not on this PATH).
    let (ok, text, _) = run("v8.0.0", "missing", system);
    assert!(!ok, "{text}");
    assert!(text.contains("no release archive"), "{text}");
    assert!(text.contains("no cargo to build promptctl from source"), "{text}");

    let (ok, text, _) = run("main", "bad-version", system);
    assert!(!ok && text.contains("expected a release such as v1.2.3"), "{text}");
}
