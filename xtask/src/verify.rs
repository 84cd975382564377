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
    /// `target/debug/promptctl --root <workspace root>`, built by an earlier `Cargo` step.
    DebugPromptctl,
    /// A check written here, run in process.
    Check(fn(&Path) -> Result<()>),
}

/// The steps, in the order they run; each later step may rely on the earlier ones having passed.
///
/// Adding a step is one line.
const STEPS: &[Step] = &[
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
    Step {
        name: "build",
        program: Program::Cargo,
        args: &["build", "--bin", "promptctl"],
        env: &[],
    },
    // What an application links: the runtime client without the CLI's dependencies.
    Step {
        name: "runtime-only dependencies",
        program: Program::Check(runtime_dependencies),
        args: &[],
        env: &[],
    },
    Step {
        name: "build (runtime only)",
        program: Program::Cargo,
        args: &["build", "--no-default-features", "--features", "runtime"],
        env: &[],
    },
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
