//! `cargo xtask fuzz TARGET --time S`: runs one cargo-fuzz target of `fuzz/` (docs/fuzzing.md)
//! for S seconds with the limits the project holds every input to (1 s per input, 512 MB), seeded
//! with its committed corpus and kept regressions. New corpus entries go to `fuzz/work/TARGET/`
//! (ignored by git), so the committed corpus stays small; crashes, hangs and out-of-memory inputs
//! land in `fuzz/artifacts/TARGET/` (ignored too) until they are kept in `fuzz/regressions/`.
//! `cargo xtask fuzz --list` lists the targets.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct Options {
    /// The target to run (a file of fuzz/fuzz_targets/, without `.rs`)
    #[arg(required_unless_present = "list")]
    target: Option<String>,
    /// Seconds to run for (libFuzzer's `-max_total_time`)
    #[arg(long, value_name = "S", required_unless_present = "list")]
    time: Option<u64>,
    /// List the targets and exit
    #[arg(long, conflicts_with_all = ["target", "time"])]
    list: bool,
    /// Further libFuzzer options, after `--` (e.g. `-- -max_len=65536 -jobs=2`)
    #[arg(last = true, value_name = "LIBFUZZER_ARGS")]
    libfuzzer_args: Vec<String>,
}

/// Per-input time limit, in seconds: a slower input is a hang.
const TIMEOUT_SECONDS: u32 = 1;
/// Memory limit, in MB: an input that needs more is an out-of-memory finding.
const RSS_LIMIT_MB: u32 = 512;

pub fn run(root: &Path, options: &Options) -> Result<()> {
    let fuzz_dir = root.join("fuzz");
    let targets = targets(&fuzz_dir)?;
    if options.list {
        for target in &targets {
            println!("{target}");
        }
        return Ok(());
    }
    let (Some(target), Some(time)) = (&options.target, options.time) else {
        bail!("give a target and `--time S`, or `--list`");
    };
    if !targets.contains(target) {
        bail!("no fuzz target `{target}`; the targets are: {}", targets.join(", "));
    }
    check_tools()?;
    let work = fuzz_dir.join("work").join(target);
    std::fs::create_dir_all(&work)
        .with_context(|| format!("cannot create `{}`", work.display()))?;
    let mut command = nightly_cargo();
    command
        .current_dir(root)
        .args(["fuzz", "run", "--debug-assertions", "--fuzz-dir"])
        .arg(&fuzz_dir)
        .arg(target)
        .arg(&work);
    for seeds in ["corpus", "regressions"] {
        let folder = fuzz_dir.join(seeds).join(target);
        if folder.is_dir() {
            command.arg(folder);
        }
    }
    command
        .arg("--")
        .arg(format!("-max_total_time={time}"))
        .arg(format!("-timeout={TIMEOUT_SECONDS}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .args(&options.libfuzzer_args);
    // AddressSanitizer keeps freed memory in a quarantine (256 MB by default) to catch uses after
    // free; counted in the process's RSS, it alone trips the 512 MB limit after a few hundred
    // inputs that each need 100 MB at most. A smaller quarantine keeps the limit about promptctl.
    if std::env::var_os("ASAN_OPTIONS").is_none() {
        command.env("ASAN_OPTIONS", "quarantine_size_mb=32");
    }
    eprintln!("running {command:?}");
    let status = command.status().context("cannot run `cargo +nightly fuzz`")?;
    if !status.success() {
        bail!(
            "`{target}` failed ({status}): the input is in fuzz/artifacts/{target}/; minimise it \
             with `cargo +nightly fuzz tmin {target} FILE`, keep it in fuzz/regressions/{target}/ \
             (or fuzz/pending/{target}/ until the fix lands) and fix the cause"
        );
    }
    Ok(())
}

/// The targets: the files of `fuzz/fuzz_targets/`, sorted.
fn targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let folder = fuzz_dir.join("fuzz_targets");
    let mut targets = Vec::new();
    for entry in
        std::fs::read_dir(&folder).with_context(|| format!("cannot list `{}`", folder.display()))?
    {
        let path: PathBuf = entry?.path();
        if path.extension().is_some_and(|extension| extension == "rs") {
            if let Some(stem) = path.file_stem().and_then(|stem| stem.to_str()) {
                targets.push(stem.to_string());
            }
        }
    }
    targets.sort();
    Ok(targets)
}

/// `cargo +nightly` through rustup's proxy (not the `CARGO` of this stable run, which ignores
/// `+toolchain`), with the outer run's toolchain choice removed. The fuzz build (nightly,
/// instrumented) always goes to `fuzz/target/`, whatever `CARGO_TARGET_DIR` the stable builds use.
fn nightly_cargo() -> Command {
    let mut command = Command::new("cargo");
    command
        .arg("+nightly")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("CARGO_TARGET_DIR");
    command
}

/// A clear error when the nightly toolchain or cargo-fuzz is missing.
fn check_tools() -> Result<()> {
    let quiet = |command: &mut Command| {
        command.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    };
    let mut rustc = Command::new("rustup");
    rustc.args(["run", "nightly", "rustc", "--version"]).env_remove("RUSTUP_TOOLCHAIN");
    if !quiet(&mut rustc) {
        bail!("the nightly toolchain is missing (cargo-fuzz needs it): install it with `rustup toolchain install nightly`");
    }
    if !quiet(nightly_cargo().args(["fuzz", "--version"])) {
        bail!("cargo-fuzz is missing: install it with `cargo install cargo-fuzz --locked`");
    }
    Ok(())
}
