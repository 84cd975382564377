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
    let output = Command::new(env!("CARGO_BIN_EXE_promptctl"))
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

/// The shipped workflows are copied into other repositories as they are: every action pinned to a
/// commit, no credentials left in checkouts, the signing key only in a job limited to the default
/// branch, and nothing from the pull request interpolated into a script.
#[test]
fn the_shipped_workflows_are_safe_to_copy() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows");
    let pinned = regex::Regex::new(r"^\s*-?\s*uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # \S+$").unwrap();
    for name in ["ci.yml", "deploy-prompts.yml", "prompts-review.yml"] {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if line.trim_start().trim_start_matches("- ").starts_with("uses:") {
                assert!(
                    pinned.is_match(line),
                    "{name}:{}: not pinned to a commit: {line}",
                    index + 1
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
                    "{name}:{}: a checkout keeps its credentials",
                    index + 1
                );
            }
        }
        assert!(
            !text.contains("\"origin/${{ github.base_ref }}\""),
            "{name}: base_ref in a script"
        );
    }
    let deploy = std::fs::read_to_string(root.join("deploy-prompts.yml")).unwrap();
    let build = &deploy[deploy.find("  build:").unwrap()..deploy.find("  staging:").unwrap()];
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
}
