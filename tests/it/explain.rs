//! `explain`, `completions` and `man`: every diagnostic code's section of docs/diagnostics.md comes
//! out of `explain`, outside a project; the bash completion script loads in bash and completes the
//! commands; every shell gets a script naming them; the man pages cover every command.

use crate::support::{run_with, Run};
use promptctl::diagnostic::Code;
use std::path::Path;

fn run(args: &[&str]) -> Run {
    // Outside any project: none of these needs one.
    run_with(&std::env::temp_dir(), &[], args)
}

#[test]
fn explain_prints_each_codes_section_and_lists_them_all() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/diagnostics.md"))
            .unwrap();
    for code in Code::ALL {
        let explained = run(&["explain", code.as_str()]);
        assert_eq!(explained.code, 0, "{}: {}", code.as_str(), explained.stderr);
        assert!(explained.stdout.starts_with(&format!("## `{}`\n", code.as_str())));
        assert!(explained.stdout.contains("### Example"), "{}", code.as_str());
        assert!(explained.stdout.contains("### Fix"), "{}", code.as_str());
        assert!(
            docs.contains(explained.stdout.trim_end()),
            "{}: not the docs' text",
            code.as_str()
        );
        // The section ends before the next code's heading.
        assert_eq!(explained.stdout.matches("\n## `").count(), 0, "{}", code.as_str());
    }
    // As printed in a diagnostic's title, too.
    let titled = run(&["explain", "error[tests/type]"]);
    assert_eq!(titled.stdout, run(&["explain", "tests/type"]).stdout);

    let listed = run(&["explain"]);
    assert_eq!(listed.code, 0);
    assert_eq!(listed.stdout.lines().count(), Code::ALL.len());
    assert!(listed.stdout.contains("render/missing-var"));

    let unknown = run(&["explain", "test/type"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("did you mean `tests/type`?"), "{}", unknown.stderr);
}

#[test]
fn completion_scripts_load_and_name_the_commands() {
    let bash = run(&["completions", "bash"]);
    assert_eq!(bash.code, 0);
    let script = std::env::temp_dir().join(test_support::unique("completion.bash"));
    std::fs::write(&script, &bash.stdout).unwrap();
    // Load the script, then ask it what `promptctl re` completes to.
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && COMP_WORDS=(promptctl re) COMP_CWORD=1 COMP_LINE='promptctl re' \
             COMP_POINT=12 && _promptctl promptctl re promptctl && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    std::fs::remove_file(&script).unwrap();
    let words = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let words: Vec<&str> = words.lines().collect();
    for expected in ["render", "review"] {
        assert!(words.contains(&expected), "`re` completes to {words:?}");
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let script = run(&["completions", shell]);
        assert_eq!(script.code, 0, "{shell}");
        for command in ["check", "render", "publish", "explain"] {
            assert!(script.stdout.contains(command), "{shell}: no `{command}`");
        }
    }
    let wrong = run(&["completions", "tcsh"]);
    assert_eq!(wrong.code, 2);
}

#[test]
fn man_pages_cover_every_command() {
    let page = run(&["man"]);
    assert_eq!(page.code, 0);
    assert!(
        page.stdout.contains(".TH promptctl 1"),
        "{}",
        &page.stdout[..200.min(page.stdout.len())]
    );
    assert!(page.stdout.contains("promptctl\\-render"), "the commands are listed");
    let dir = tempfile::tempdir().unwrap();
    let written = run(&["man", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(written.code, 0, "{}", written.stderr);
    for command in ["check", "render", "publish", "rollback", "explain", "db-migrate"] {
        let path = dir.path().join(format!("promptctl-{command}.1"));
        assert!(path.is_file(), "no {}", path.display());
    }
    assert!(dir.path().join("promptctl.1").is_file());
}

/// Every option and argument of every command says what it does in `--help`, and the common
/// ones have their short flags.
#[test]
fn every_option_has_help_and_the_common_ones_a_short_flag() {
    use clap::CommandFactory;
    fn visit(
        command: &clap::Command,
        path: &str,
        missing: &mut Vec<String>,
        shorts: &mut Vec<(String, String, char)>,
    ) {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            if arg.get_help().is_none() {
                missing.push(format!("{path} --{id}"));
            }
            if let Some(short) = arg.get_short() {
                shorts.push((path.to_string(), id.to_string(), short));
            }
        }
        for sub in command.get_subcommands() {
            visit(sub, &format!("{path} {}", sub.get_name()), missing, shorts);
        }
    }
    let command = promptctl::cli::Cli::command();
    let (mut missing, mut shorts) = (Vec::new(), Vec::new());
    visit(&command, "promptctl", &mut missing, &mut shorts);
    assert!(missing.is_empty(), "options without a help sentence: {missing:?}");
    for (path, id, short) in &shorts {
        let expected = match id.as_str() {
            "format" => 'f',
            "environment" => 'e',
            _ => continue,
        };
        assert_eq!(*short, expected, "{path} --{id}");
    }
    for command in ["check", "status", "history", "render", "diff"] {
        let has_f = shorts
            .iter()
            .any(|(p, id, s)| p == &format!("promptctl {command}") && id == "format" && *s == 'f');
        assert!(has_f, "promptctl {command} has no -f for --format");
    }
    for command in ["publish", "rollback", "status", "history", "warm"] {
        let has_e = shorts.iter().any(|(p, id, s)| {
            p == &format!("promptctl {command}") && id == "environment" && *s == 'e'
        });
        assert!(has_e, "promptctl {command} has no -e for --env");
    }
}
