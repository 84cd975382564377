//! `cargo xtask bench-publish`: times `promptctl publish` of the synthetic repository's signed
//! bundle into a real PostgreSQL and Redis started for the run (fresh store, unchanged re-publish,
//! one changed prompt), beside the floor of loading the same rows with `psql \copy`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

use test_support::{Postgres, Redis};

use crate::child::{self, Measured};
use crate::synth;

#[derive(clap::Args)]
pub struct Options {
    /// Prompts of the synthetic repository (3 versions each)
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    prompts: usize,
    /// Runs of each measurement
    #[arg(long, value_name = "K", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Folder of the report and the generated repository [default: <workspace>/target/bench]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

const SEED: u64 = 0x7072_6f6d_7074;

fn git(repo: &Path, args: &[&str]) -> Result<()> {
    crate::BENCH_GIT.run(repo, args)?;
    Ok(())
}

fn promptctl(binary: &Path, repo: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("--root")
        .arg(repo)
        .args(args)
        .stdout(Stdio::null())
        .env("PROMPTCTL_ACTOR", "bench");
    command
}

fn run_ok(mut command: Command) -> Result<Measured> {
    let command = &mut command;
    let measured = child::measure(command)?;
    if !measured.status.success() {
        bail!("{command:?} failed ({})", measured.status);
    }
    Ok(measured)
}

pub fn run(workspace_root: &Path, options: &Options) -> Result<()> {
    let out =
        options.out.clone().unwrap_or_else(|| crate::target_dir(workspace_root).join("bench"));
    let repo = out.join("tmp").join(format!("publish-{}", options.prompts));
    if repo.exists() {
        fs::remove_dir_all(&repo).with_context(|| format!("cannot remove {}", repo.display()))?;
    }
    let binary = crate::bench::build_release(workspace_root)?;
    let written = synth::write(&repo, SEED, options.prompts)?;
    println!("==> {} prompts, {} files in {}", options.prompts, written.files, repo.display());
    let key = out.join("tmp").join("bench-publish.key");
    let _ = fs::remove_file(&key);
    let public = repo.join("keys/bench.pub");
    let mut keygen = promptctl(
        &binary,
        &repo,
        &["keygen", "--public", public.to_str().unwrap(), "--secret", key.to_str().unwrap()],
    );
    keygen.stderr(Stdio::null());
    run_ok(keygen)?;
    let mut config = fs::read_to_string(repo.join("promptctl.toml"))?;
    config.push_str("\n[signing]\npublic_keys = [\"keys/bench.pub\"]\n");
    fs::write(repo.join("promptctl.toml"), config)?;
    fs::write(repo.join(".gitignore"), ".promptctl/\n")?;
    git(&repo, &["init", "-q"])?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-q", "-m", "synthetic prompts"])?;
    // Packed once, as a clone is, before anything is timed.
    git(&repo, &["gc", "--quiet"])?;
    let build =
        |repo: &Path| run_ok(promptctl(&binary, repo, &["build", "--key", key.to_str().unwrap()]));
    build(&repo)?;
    let bundle_bytes = fs::metadata(repo.join(".promptctl/build/bundle.json"))?.len();
    println!("    bundle.json: {:.1} MB", bundle_bytes as f64 / 1e6);

    // PostgreSQL with its default durability: the publishes are timed as a deployment runs them.
    let postgres = Postgres::start_durable()?;
    // Kept until the end: dropping it stops the server.
    let redis_server = Redis::start()?;
    let redis = redis_server.url();
    let publish = |database: &str| -> Result<Measured> {
        let url = postgres.url(database);
        run_ok(promptctl(
            &binary,
            &repo,
            &["publish", "--env", "production", "--db", &url, "--redis", &redis],
        ))
    };

    let mut fresh = Vec::new();
    let mut unchanged = Vec::new();
    let mut changed = Vec::new();
    for run in 0..options.runs {
        let database = format!("bench_{run}");
        postgres.create_database(&database)?;
        fresh.push(publish(&database)?);
        unchanged.push(publish(&database)?);
    }
    println!("    fresh publish: {}", spread(&fresh));
    println!("    unchanged re-publish: {}", spread(&unchanged));
    // One changed prompt: a new description and production switched to another of its versions
    // per run (an activation, so a cache entry and a notice too), committed and built (untimed),
    // published into the last database (timed).
    let last = format!("bench_{}", options.runs - 1);
    let manifest = fs::read_dir(repo.join("prompts"))?
        .flatten()
        .map(|entry| entry.path().join("prompt.toml"))
        .min()
        .context("no prompt")?;
    for run in 0..options.runs {
        let text = fs::read_to_string(&manifest)?;
        let (first, rest) = text.split_once('\n').context("empty prompt.toml")?;
        ensure!(first.starts_with("description = "), "unexpected prompt.toml");
        // Every synthetic prompt has versions 1 to 3.
        let from: u32 = rest
            .split_once("\n[activate]\nproduction = ")
            .and_then(|(_, after)| after.split('\n').next())
            .and_then(|number| number.parse().ok())
            .context("no `production = N` under [activate]")?;
        let to = if from == 3 { 2 } else { 3 };
        let rest = rest.replacen(
            &format!("\n[activate]\nproduction = {from}\n"),
            &format!("\n[activate]\nproduction = {to}\n"),
            1,
        );
        fs::write(&manifest, format!("description = \"Changed for bench run {run}\"\n{rest}"))?;
        git(&repo, &["commit", "-q", "-am", &format!("change {run}")])?;
        build(&repo)?;
        changed.push(publish(&last)?);
    }
    println!("    one changed prompt: {}", spread(&changed));

    // The floor: the same rows, dumped from the published store, loaded into an empty copy of the
    // schema by psql's \copy in one transaction.
    let dump = out.join("tmp").join("publish-rows");
    fs::create_dir_all(&dump)?;
    let tables = [
        "prompt_templates",
        "prompt_versions",
        "prompt_activations",
        "prompt_audit_logs",
        "prompt_deployments",
    ];
    for table in tables {
        let file = dump.join(format!("{table}.copy"));
        let status = postgres
            .psql(&last)
            .args(["-c", &format!("\\copy {table} TO '{}'", file.display())])
            .status()?;
        ensure!(status.success(), "cannot dump {table}");
    }
    let mut floor = Vec::new();
    for run in 0..options.runs {
        let database = format!("floor_{run}");
        postgres.create_database(&database)?;
        run_ok(promptctl(
            &binary,
            &repo,
            &["db", "migrate", "--env", "production", "--db", &postgres.url(&database)],
        ))?;
        // The identity columns take the dumped ids as they are.
        let mut script = String::from("BEGIN;\n");
        for table in ["prompt_activations", "prompt_audit_logs", "prompt_deployments"] {
            script.push_str(&format!(
                "ALTER TABLE {table} ALTER COLUMN id SET GENERATED BY DEFAULT;\n"
            ));
        }
        for table in tables {
            script.push_str(&format!(
                "\\copy {table} FROM '{}'\n",
                dump.join(format!("{table}.copy")).display()
            ));
        }
        script.push_str("COMMIT;\n");
        let script_path = dump.join("load.sql");
        fs::write(&script_path, script)?;
        let mut load = postgres.psql(&database);
        load.args(["-f", script_path.to_str().unwrap()]);
        floor.push(run_ok(load)?);
    }
    println!("    floor (psql \\copy of the same rows): {}", spread(&floor));

    let machine = crate::bench::machine();
    let table = format!(
        "`cargo xtask bench-publish --prompts {} --runs {}` ({machine}; {} prompts × 3 versions, bundle.json {:.1} MB; PostgreSQL and Redis on loopback; median [min–max] wall, and client CPU)\n\n| measure | wall | client CPU (user+sys) | peak RSS MB |\n|---|---:|---:|---:|\n{}{}{}{}",
        options.prompts,
        options.runs,
        options.prompts,
        bundle_bytes as f64 / 1e6,
        row("publish into an empty store (verify + schema + insert + cache)", &fresh),
        row("re-publish unchanged", &unchanged),
        row("one changed prompt (new bundle: description + activation, cache entry, notice)", &changed),
        row("floor: `psql \\copy` of the same rows into the empty schema", &floor),
    );
    println!("\n{table}");
    fs::create_dir_all(&out)?;
    fs::write(out.join("publish.md"), &table)?;
    println!("wrote {}", out.join("publish.md").display());
    Ok(())
}

fn walls(runs: &[Measured]) -> Vec<Duration> {
    runs.iter().map(|run| run.wall).collect()
}

fn spread(runs: &[Measured]) -> String {
    let mut times = walls(runs);
    times.sort();
    format!(
        "{} [{}–{}]",
        crate::bench::duration(times[times.len() / 2]),
        crate::bench::duration(times[0]),
        crate::bench::duration(times[times.len() - 1])
    )
}

fn row(name: &str, runs: &[Measured]) -> String {
    let mut cpu: Vec<Duration> = runs.iter().map(|run| run.user + run.system).collect();
    cpu.sort();
    let rss = runs.iter().map(|run| run.max_rss_bytes).max().unwrap_or(0);
    format!(
        "| {name} | {} | {} | {:.0} |\n",
        spread(runs),
        crate::bench::duration(cpu[cpu.len() / 2]),
        rss as f64 / 1e6
    )
}
