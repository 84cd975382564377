//! `cargo xtask bench-publish`: times `promptctl publish` of the synthetic repository's signed
//! bundle into a real PostgreSQL and Redis started for the run (fresh store, unchanged re-publish,
//! one changed prompt), beside the floor of loading the same rows with `psql \copy`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

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

/// Servers started for the run, stopped when dropped.
struct Servers {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    pg_port: u16,
    redis_port: u16,
    redis: Option<std::process::Child>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        if let Some(mut redis) = self.redis.take() {
            let _ = redis.kill();
            let _ = redis.wait();
        }
        let data = self.dir.join("data");
        let _ = self.pg(
            &self.bin.join("pg_ctl"),
            &["-D", data.to_str().unwrap_or(""), "-m", "immediate", "stop"],
        );
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Servers {
    fn start() -> Result<Servers> {
        let mut bins: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
            .context("PostgreSQL is not installed (apt-get install postgresql)")?
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file())
            .collect();
        bins.sort();
        let bin = bins.pop().context("no initdb under /usr/lib/postgresql/*/bin")?;
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0");
        let dir = std::env::temp_dir().join(format!("promptctl-bench-pg-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        if as_postgres {
            ensure!(Command::new("chown").arg("postgres:postgres").arg(&dir).status()?.success());
        }
        let mut servers = Servers {
            dir,
            bin,
            as_postgres,
            pg_port: free_port()?,
            redis_port: free_port()?,
            redis: None,
        };
        let data = servers.dir.join("data");
        let log = servers.dir.join("server.log");
        servers.pg(
            &servers.bin.join("initdb"),
            &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync"],
        )?;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            servers.pg_port,
            servers.dir.display()
        );
        servers.pg(
            &servers.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )?;
        servers.redis = Some(
            Command::new("redis-server")
                .args(["--port", &servers.redis_port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .spawn()
                .context("cannot start redis-server (apt-get install redis-server)")?,
        );
        std::thread::sleep(Duration::from_millis(300));
        Ok(servers)
    }

    fn pg(&self, program: &Path, args: &[&str]) -> Result<()> {
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        let output = command.args(args).current_dir(&self.dir).output()?;
        ensure!(
            output.status.success(),
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.pg_port)
    }

    fn psql(&self, database: &str, args: &[&str]) -> Command {
        let mut command = Command::new("psql");
        command
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &self.pg_port.to_string(), "-d", database])
            .args(args)
            .stdout(Stdio::null());
        command
    }

    fn create_database(&self, name: &str) -> Result<()> {
        let status = self.psql("postgres", &["-c", &format!("CREATE DATABASE {name}")]).status()?;
        ensure!(status.success(), "cannot create database {name}");
        Ok(())
    }
}

fn git(repo: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new("git")
        .args(["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"])
        .args(["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"])
        // No automatic `git gc`: after the commit of 50,000 objects it would pack them in the
        // background, on one of the two cores, during the timed publishes (see `pack` below).
        .args(["-c", "gc.auto=0"])
        .args(args)
        .current_dir(repo)
        .stdout(Stdio::null())
        .status()?;
    ensure!(status.success(), "git {args:?} failed");
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

    let servers = Servers::start()?;
    let redis = format!("redis://127.0.0.1:{}/", servers.redis_port);
    let publish = |database: &str| -> Result<Measured> {
        let url = servers.url(database);
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
        servers.create_database(&database)?;
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
        let status = servers
            .psql(&last, &["-c", &format!("\\copy {table} TO '{}'", file.display())])
            .status()?;
        ensure!(status.success(), "cannot dump {table}");
    }
    let mut floor = Vec::new();
    for run in 0..options.runs {
        let database = format!("floor_{run}");
        servers.create_database(&database)?;
        run_ok(promptctl(
            &binary,
            &repo,
            &["db", "migrate", "--env", "production", "--db", &servers.url(&database)],
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
        floor.push(run_ok(servers.psql(&database, &["-f", script_path.to_str().unwrap()]))?);
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
