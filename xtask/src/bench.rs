//! `cargo xtask bench`: times `promptctl check` (cold and warm result cache, peak RSS) on
//! synthetic repositories from `synth`, against an in-process floor that only reads and hashes the
//! same files, and `promptctl build` (check included, cold and warm) on some of them; writes the
//! report to `target/bench/`. Timings are reported, never asserted.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::child::{self, Measured};
use crate::synth;

#[derive(clap::Args)]
pub struct Options {
    /// Repository sizes to time, in prompts of 3 versions each
    #[arg(
        long = "prompts",
        value_name = "N",
        num_args = 1..,
        default_values_t = [1_000, 10_000, 30_000]
    )]
    prompts: Vec<usize>,
    /// Runs of each measurement (floor, cold check, warm check) per size
    #[arg(
        long,
        value_name = "K",
        default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    runs: u32,
    /// Folder of the report and of the generated repositories [default: <workspace>/target/bench]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Seed of the synthetic repositories; the same seed always gives the same bytes
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Write the synthetic repositories and print their sizes, but build and time nothing
    #[arg(long)]
    generate_only: bool,
    /// Time `promptctl review` instead, with 10, 100 and 1,000 prompts changed (review_bench.rs)
    #[arg(long)]
    review: bool,
    /// Sizes (among `--prompts`) at which `promptctl build` is timed too; the repository is
    /// committed to git first, which takes a while for large ones (`--build-at` alone: none)
    #[arg(long, value_name = "N", num_args = 0.., default_values_t = [10_000])]
    build_at: Vec<usize>,
    /// Time the runtime client instead (`get`, activation propagation, per-request Redis GET,
    /// `redis-benchmark`); needs redis-server and redis-benchmark
    #[arg(long, conflicts_with = "generate_only")]
    runtime: bool,
    /// Runtime clients of the reconnect storm (`--runtime`; bench_storm.rs)
    #[arg(long, value_name = "N", default_value_t = 200)]
    storm_services: usize,
    /// Prompts in the cache of the reconnect storm
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    storm_prompts: usize,
    /// With `--runtime`: measure the reconnect storm only
    #[arg(long, requires = "runtime")]
    storm_only: bool,
    /// Time `promptctl serve` (release) under load instead: `GET /v1/prompts/{name}` and a render
    /// from a loopback load generator, beside `redis-benchmark` GETs of the same cache key, and
    /// the server's RSS (bench_serve.rs); needs redis-server and redis-benchmark
    #[arg(long, conflicts_with_all = ["generate_only", "runtime", "review"])]
    serve: bool,
    /// With `--serve`: concurrent kept-alive connections of the load generator
    #[arg(long, value_name = "N", default_value_t = 64, requires = "serve")]
    serve_connections: usize,
    /// With `--serve`: seconds of measured load per endpoint (after 1 s of warm-up)
    #[arg(long, value_name = "S", default_value_t = 10, requires = "serve")]
    serve_seconds: u64,
    /// With `--serve`: `promptctl serve --workers N`; default: the cores the one-thread load
    /// generator leaves (one fewer than the machine's, at least 1); 0: the server's own default
    /// (one per core)
    #[arg(long, value_name = "N", requires = "serve")]
    serve_workers: Option<usize>,
}

/// "prompt" in ASCII: any fixed number would do, as long as reports from different days compare.
const DEFAULT_SEED: u64 = 0x7072_6f6d_7074;

/// The numbers of one repository size.
struct SizeReport {
    prompts: usize,
    written: synth::Written,
    generate: Duration,
    floor: Vec<Duration>,
    cold: Vec<Measured>,
    warm: Vec<Measured>,
    /// `promptctl build` with the check cache removed before each run, and kept.
    build: Option<(Vec<Measured>, Vec<Measured>)>,
}

/// Set on the release re-run, so that it cannot re-run itself again.
const RELEASE_RERUN: &str = "XTASK_BENCH_RELEASE_RERUN";

pub fn run(workspace_root: &Path, options: &Options) -> Result<()> {
    // `cargo xtask` builds the dev profile, where sha2 hashes an order of magnitude slower: the
    // floor would be meaningless. So an unoptimised bench hands over to an optimised build of it.
    if cfg!(debug_assertions) && std::env::var_os(RELEASE_RERUN).is_none() {
        println!(
            "==> cargo run --release --package xtask -- bench (the floor needs optimised code)"
        );
        // Same working folder, so that a relative `--out` means the same thing.
        let status = crate::cargo()
            .args(["run", "--quiet", "--release", "--package", "xtask", "--manifest-path"])
            .arg(workspace_root.join("Cargo.toml"))
            .arg("--")
            .args(std::env::args_os().skip(1))
            .env(RELEASE_RERUN, "1")
            .status()
            .context("cannot start cargo")?;
        ensure!(status.success(), "the optimised `cargo xtask bench` failed ({status})");
        return Ok(());
    }
    ensure!(options.prompts.iter().all(|&n| n > 0), "`--prompts` sizes must be at least 1");
    let out =
        options.out.clone().unwrap_or_else(|| crate::target_dir(workspace_root).join("bench"));
    let machine = machine();
    println!("machine: {machine}");
    if options.serve {
        let promptctl = build_release(workspace_root)?;
        fs::create_dir_all(&out)?;
        return crate::bench_serve::run(
            workspace_root,
            &promptctl,
            &out,
            &machine,
            options.serve_connections,
            options.serve_seconds,
            match options.serve_workers {
                Some(0) => None,
                Some(workers) => Some(workers),
                None => Some(
                    std::thread::available_parallelism().map_or(1, |cores| cores.get()).max(2) - 1,
                ),
            },
        );
    }
    if options.runtime {
        if !options.storm_only {
            let promptctl = build_release(workspace_root)?;
            crate::serve::run(workspace_root, &promptctl, &out, &machine)?;
        }
        let storm = crate::bench_storm::run(&out, options.storm_services, options.storm_prompts)?;
        let table = storm.markdown(&machine);
        println!("\n{table}");
        fs::create_dir_all(&out)?;
        let path = out.join("storm.md");
        fs::write(&path, &table).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
        return Ok(());
    }

    let promptctl = if options.generate_only { None } else { Some(build_release(workspace_root)?) };
    if let (true, Some(promptctl)) = (options.review, &promptctl) {
        return crate::review_bench::run(
            promptctl,
            &out,
            options.seed,
            &options.prompts,
            options.runs,
        );
    }

    let mut reports = Vec::new();
    for &prompts in &options.prompts {
        let repo = out.join("tmp").join(format!("repo-{prompts}"));
        if repo.exists() {
            fs::remove_dir_all(&repo)
                .with_context(|| format!("cannot remove the old {}", repo.display()))?;
        }
        let started = Instant::now();
        let written = synth::write(&repo, options.seed, prompts)?;
        let generate = started.elapsed();
        println!(
            "==> {prompts} prompts: {} files, {:.1} MB ({:.1} MB in version files) in {}: {}",
            written.files,
            megabytes(written.bytes),
            megabytes(written.version_bytes),
            duration(generate),
            repo.display()
        );
        let Some(promptctl) = &promptctl else { continue };

        let floor = time_floor(&repo, options.runs, written.files)?;
        println!(
            "    floor (read + sha256, {} threads): {}",
            rayon::current_num_threads(),
            spread(&floor)
        );
        let cold = time_check(promptctl, &repo, options.runs, true)?;
        println!("    cold check: {} (CPU {})", spread(&walls(&cold)), spread(&cpu_times(&cold)));
        let warm = time_check(promptctl, &repo, options.runs, false)?;
        println!("    warm check: {} (CPU {})", spread(&walls(&warm)), spread(&cpu_times(&warm)));
        let build = if options.build_at.contains(&prompts) {
            let keys = out.join("tmp").join(format!("keys-{prompts}"));
            prepare_build(promptctl, &repo, &keys)?;
            let cold = time_build(promptctl, &repo, &keys, options.runs, true)?;
            println!(
                "    cold build: {} (CPU {}, peak {:.0} MB)",
                spread(&walls(&cold)),
                spread(&cpu_times(&cold)),
                megabytes(peak_rss(&cold))
            );
            let warm = time_build(promptctl, &repo, &keys, options.runs, false)?;
            println!(
                "    warm build: {} (CPU {}, peak {:.0} MB)",
                spread(&walls(&warm)),
                spread(&cpu_times(&warm)),
                megabytes(peak_rss(&warm))
            );
            Some((cold, warm))
        } else {
            None
        };
        reports.push(SizeReport { prompts, written, generate, floor, cold, warm, build });
    }
    if options.generate_only {
        return Ok(());
    }

    let table = markdown(&machine, options.runs, &reports);
    println!("\n{table}");
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let markdown_path = out.join("check.md");
    fs::write(&markdown_path, &table)
        .with_context(|| format!("cannot write {}", markdown_path.display()))?;
    let json_path = out.join("check.json");
    fs::write(&json_path, json(&machine, options, &reports))
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    println!("wrote {} and {}", markdown_path.display(), json_path.display());
    Ok(())
}

/// Builds the release binary the bench times and returns its path.
pub(crate) fn build_release(workspace_root: &Path) -> Result<PathBuf> {
    println!("==> cargo build --release --bin promptctl");
    let status = crate::cargo()
        .args(["build", "--release", "--bin", "promptctl"])
        .current_dir(workspace_root)
        .status()
        .context("cannot start cargo")?;
    ensure!(status.success(), "`cargo build --release --bin promptctl` failed ({status})");
    Ok(crate::target_dir(workspace_root).join("release").join("promptctl"))
}

/// The floor: what reading and hashing every file of the repository costs, on all cores, with the
/// walk included, since `check` has to walk too.
fn time_floor(repo: &Path, runs: u32, expected_files: u64) -> Result<Vec<Duration>> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let (files, _bytes) = hash_tree(repo)?;
        times.push(started.elapsed());
        ensure!(
            files == expected_files,
            "the floor hashed {files} files, expected {expected_files}"
        );
    }
    Ok(times)
}

/// Reads and hashes every file under `dir` except the result cache; returns (files, bytes).
fn hash_tree(dir: &Path) -> Result<(u64, u64)> {
    let mut files = Vec::new();
    let mut folders = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let kind = entry.file_type()?;
        if kind.is_dir() && entry.file_name() != ".promptctl" {
            folders.push(entry.path());
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    let add = |a: (u64, u64), b: (u64, u64)| Ok((a.0 + b.0, a.1 + b.1));
    let (in_files, in_folders) = rayon::join(
        || {
            files
                .par_iter()
                .map(|path| {
                    let bytes = fs::read(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    std::hint::black_box(Sha256::digest(&bytes));
                    Ok((1, bytes.len() as u64))
                })
                .try_reduce(|| (0, 0), add)
        },
        || folders.par_iter().map(|folder| hash_tree(folder)).try_reduce(|| (0, 0), add),
    );
    add(in_files?, in_folders?)
}

/// Runs `promptctl --root <repo> check --format json` `runs` times, its stdout to a null sink;
/// `cold` removes the result cache before each run. Fails, showing the human output, unless the
/// check passes: a benchmark of a repository with diagnostics would not time the real thing.
fn time_check(promptctl: &Path, repo: &Path, runs: u32, cold: bool) -> Result<Vec<Measured>> {
    time_runs(repo, runs, cold, || {
        let mut command = Command::new(promptctl);
        command
            .arg("--root")
            .arg(repo)
            .args(["check", "--format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let run = child::measure(&mut command)?;
        if !run.status.success() {
            bail!(
                "`promptctl --root {} check` failed ({}) on the synthetic repository, which \
                 must be clean; its first lines:\n{}",
                repo.display(),
                run.status,
                human_output(promptctl, repo)
            );
        }
        Ok(run)
    })
}

/// Runs `run` `runs` times in `repo`; `cold` removes `.promptctl/` (the check cache and file
/// index) before each run.
fn time_runs(
    repo: &Path,
    runs: u32,
    cold: bool,
    mut run: impl FnMut() -> Result<Measured>,
) -> Result<Vec<Measured>> {
    let cache = repo.join(".promptctl");
    let mut measured = Vec::new();
    for _ in 0..runs {
        if cold && cache.exists() {
            fs::remove_dir_all(&cache)
                .with_context(|| format!("cannot remove {}", cache.display()))?;
        }
        measured.push(run()?);
    }
    Ok(measured)
}

/// Makes `repo` something `promptctl build` accepts: a git repository with one commit of fixed
/// author, committer and date (so seq, commit and bundle are the same every time), and a key pair
/// in `keys`, outside the repository.
fn prepare_build(promptctl: &Path, repo: &Path, keys: &Path) -> Result<()> {
    println!("    committing the repository to git and writing a signing key");
    // Fixed author, committer and date: the same commit, seq and bundle every time.
    let git = |args: &[&str]| -> Result<()> {
        crate::BENCH_GIT.at("2026-01-01T00:00:00Z").run(repo, args)?;
        Ok(())
    };
    fs::write(repo.join(".gitignore"), ".promptctl/\n")?;
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "--no-gpg-sign", "-m", "synthetic prompts"])?;
    // Packed, as a clone is, and before the timing starts.
    git(&["gc", "--quiet"])?;
    // The files were written in the same second as the index, so git treats every entry as
    // "racily clean" and re-hashes all 40,000 files on each `git status` until the index is
    // rewritten later. A clone pays that once (its first git command rewrites the index); the
    // bench times the steady state: wait past the second, and let git rewrite the index.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    git(&["update-index", "-q", "--really-refresh"])?;
    git(&["status", "--porcelain"])?;
    if keys.exists() {
        fs::remove_dir_all(keys).with_context(|| format!("cannot remove {}", keys.display()))?;
    }
    let status = Command::new(promptctl)
        .arg("--root")
        .arg(repo)
        .arg("keygen")
        .arg("--public")
        .arg(keys.join("bench.pub"))
        .arg("--secret")
        .arg(keys.join("bench.key"))
        .env_remove("PROMPTCTL_SIGNING_KEY_PASSWORD")
        .stdout(Stdio::null())
        .status()
        .context("cannot run promptctl keygen")?;
    ensure!(status.success(), "`promptctl keygen` failed ({status})");
    Ok(())
}

/// Runs `promptctl --root <repo> build --key <keys>/bench.key --out <keys>/bundle` `runs` times;
/// `cold` removes `.promptctl/` (the check cache and file index) before each run.
fn time_build(
    promptctl: &Path,
    repo: &Path,
    keys: &Path,
    runs: u32,
    cold: bool,
) -> Result<Vec<Measured>> {
    time_runs(repo, runs, cold, || {
        let mut command = Command::new(promptctl);
        command
            .arg("--root")
            .arg(repo)
            .arg("build")
            .arg("--key")
            .arg(keys.join("bench.key"))
            .arg("--out")
            .arg(keys.join("bundle"))
            .env_remove("PROMPTCTL_SIGNING_KEY")
            .env_remove("PROMPTCTL_SIGNING_KEY_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let run = child::measure(&mut command)?;
        ensure!(
            run.status.success(),
            "`promptctl --root {} build` failed ({}) on the synthetic repository",
            repo.display(),
            run.status
        );
        Ok(run)
    })
}

/// The first 40 lines of `promptctl --root <repo> check`, stdout then stderr.
fn human_output(promptctl: &Path, repo: &Path) -> String {
    let output = match Command::new(promptctl).arg("--root").arg(repo).arg("check").output() {
        Ok(output) => output,
        Err(error) => return format!("(cannot run {}: {error})", promptctl.display()),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines().take(40).collect::<Vec<_>>().join("\n")
}

fn markdown(machine: &str, runs: u32, reports: &[SizeReport]) -> String {
    let mut out = String::from("# `promptctl check` benchmark\n\n");
    let _ = writeln!(out, "Machine: {machine}. Medians of {runs} runs, [min–max] in brackets.");
    let _ = writeln!(
        out,
        "Floor: in-process walk + read + sha256 of every file on all cores. Cold: `.promptctl/` \
         removed before each run. Warm: the cache of the previous run kept. MB = 10^6 bytes.\n"
    );
    out.push_str(
        "| prompts | MB | files | floor median [min–max] | cold median [min–max] | cold/floor \
         | warm median [min–max] | peak RSS MB cold / warm |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for report in reports {
        let floor = median(&report.floor);
        let cold = walls(&report.cold);
        let warm = walls(&report.warm);
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {} | {} | {:.1}× | {} | {:.0} / {:.0} |",
            report.prompts,
            megabytes(report.written.bytes),
            report.written.files,
            spread(&report.floor),
            spread(&cold),
            median(&cold).as_secs_f64() / floor.as_secs_f64(),
            spread(&warm),
            megabytes(peak_rss(&report.cold)),
            megabytes(peak_rss(&report.warm)),
        );
    }
    if reports.iter().any(|report| report.build.is_some()) {
        out.push_str(
            "\n`promptctl build` (check included, signed bundle written): cold = `.promptctl/` \
             removed before each run, warm = the check cache of the previous run kept.\n\n",
        );
        out.push_str(
            "| prompts | cold build median [min–max] | CPU | warm build median [min–max] | CPU \
             | peak RSS MB cold / warm |\n",
        );
        out.push_str("|---:|---:|---:|---:|---:|---:|\n");
    }
    for report in reports {
        let Some((cold, warm)) = &report.build else { continue };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0} / {:.0} |",
            report.prompts,
            spread(&walls(cold)),
            duration(median(&cpu_times(cold))),
            spread(&walls(warm)),
            duration(median(&cpu_times(warm))),
            megabytes(peak_rss(cold)),
            megabytes(peak_rss(warm)),
        );
    }
    out
}

/// The raw numbers: every run, milliseconds with 3 decimals, bytes as integers.
fn json(machine: &str, options: &Options, reports: &[SizeReport]) -> String {
    let millis = |time: Duration| format!("{:.3}", time.as_secs_f64() * 1e3);
    let list = |values: Vec<String>| format!("[{}]", values.join(", "));
    let times = |times: Vec<Duration>| list(times.into_iter().map(millis).collect());
    let rss = |runs: &[Measured]| list(runs.iter().map(|r| r.max_rss_bytes.to_string()).collect());
    let sizes: Vec<String> = reports
        .iter()
        .map(|report| {
            let mut fields = vec![
                ("prompts", report.prompts.to_string()),
                ("files", report.written.files.to_string()),
                ("bytes", report.written.bytes.to_string()),
                ("version_bytes", report.written.version_bytes.to_string()),
                ("generate_ms", millis(report.generate)),
                ("floor_ms", times(report.floor.clone())),
                ("cold_ms", times(walls(&report.cold))),
                ("cold_cpu_ms", times(cpu_times(&report.cold))),
                ("cold_max_rss_bytes", rss(&report.cold)),
                ("warm_ms", times(walls(&report.warm))),
                ("warm_cpu_ms", times(cpu_times(&report.warm))),
                ("warm_max_rss_bytes", rss(&report.warm)),
            ];
            if let Some((cold, warm)) = &report.build {
                fields.extend([
                    ("build_cold_ms", times(walls(cold))),
                    ("build_cold_cpu_ms", times(cpu_times(cold))),
                    ("build_cold_max_rss_bytes", rss(cold)),
                    ("build_warm_ms", times(walls(warm))),
                    ("build_warm_cpu_ms", times(cpu_times(warm))),
                    ("build_warm_max_rss_bytes", rss(warm)),
                ]);
            }
            let fields: Vec<String> =
                fields.iter().map(|(key, value)| format!("      \"{key}\": {value}")).collect();
            format!("    {{\n{}\n    }}", fields.join(",\n"))
        })
        .collect();
    format!(
        "{{\n  \"machine\": {},\n  \"threads\": {},\n  \"seed\": {},\n  \"runs\": {},\n  \
         \"sizes\": [\n{}\n  ]\n}}\n",
        json_string(machine),
        rayon::current_num_threads(),
        options.seed,
        options.runs,
        sizes.join(",\n")
    )
}

fn json_string(value: &str) -> String {
    let mut out = String::from("\"");
    for character in value.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            control if control.is_control() => {
                let _ = write!(out, "\\u{:04x}", control as u32);
            }
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// `nproc, CPU model, kernel`, from /proc; parts that cannot be read say so.
pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|release| format!("Linux {}", release.trim()))
        .unwrap_or_else(|_| "unknown kernel".to_string());
    format!("{cores} cores, {cpu}, {kernel}")
}

fn walls(runs: &[Measured]) -> Vec<Duration> {
    runs.iter().map(|run| run.wall).collect()
}

/// User plus system time of each run.
fn cpu_times(runs: &[Measured]) -> Vec<Duration> {
    runs.iter().map(|run| run.user + run.system).collect()
}

fn peak_rss(runs: &[Measured]) -> u64 {
    runs.iter().map(|run| run.max_rss_bytes).max().unwrap_or(0)
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// `median [min–max]`.
pub(crate) fn spread(times: &[Duration]) -> String {
    let min = times.iter().min().copied().unwrap_or_default();
    let max = times.iter().max().copied().unwrap_or_default();
    format!("{} [{}–{}]", duration(median(times)), duration(min), duration(max))
}

pub(crate) fn duration(time: Duration) -> String {
    let millis = time.as_secs_f64() * 1e3;
    if millis < 10.0 {
        format!("{millis:.2} ms")
    } else if millis < 1_000.0 {
        format!("{millis:.0} ms")
    } else {
        format!("{:.2} s", millis / 1e3)
    }
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
