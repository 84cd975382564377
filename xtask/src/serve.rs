//! `cargo xtask bench --runtime`: the runtime client side by side with the per-request Redis GET
//! of the migration plan and the raw Redis round trip of `redis-benchmark`: `PromptStore::get`
//! latency with two reader threads, activation propagation from the store's commit to the first
//! read serving the new version, and the example service's HTTP latency (`examples/qa-service`,
//! on one kept-alive connection and on a new connection per request); and the activation
//! propagation again through a Redis Cluster of three primaries. Starts its own redis-server
//! (`test_support::Redis`) and cluster (`test_support::Cluster`); reports, never asserts.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use promptctl::cache::{self, Cache, Notice};
use promptctl::runtime::{Options, PromptStore, Source, Tier};
use promptctl::store::{self, records, Location};
use test_support::{Cluster, KillOnDrop, Redis};

const PROMPT: &str = "qa-system-prompt";
/// Reads per thread of the `get` measurement.
const GETS: usize = 1_000_000;
/// GETs per thread of the per-request Redis measurement.
const REDIS_GETS: usize = 20_000;
const ACTIVATIONS: usize = 100;
const READERS: usize = 2;
/// Requests of each qa-service measurement.
const HTTP_REQUESTS: usize = 2_000;

pub(crate) fn run_checked(command: &mut Command) -> Result<String> {
    let output = command.output().with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A committed copy of the workspace's prompts, published once into `database` (with the cache in
/// `redis`) by the real binary, so that both versions of the Q&A prompt are stored. `extra` adds
/// prompts of the bench's own (`(name, prompt.toml, v1.prompt)`), locked before the commit.
pub(crate) fn publish_project(
    workspace_root: &Path,
    promptctl: &Path,
    dir: &Path,
    database: &str,
    redis: &str,
    prefix: &str,
    extra: &[(&str, &str, &str)],
) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    for folder in ["prompts", "legacy", "schemas"] {
        test_support::copy_tree(&workspace_root.join(folder), &dir.join(folder))?;
    }
    fs::copy(workspace_root.join("prompts.lock"), dir.join("prompts.lock"))?;
    fs::write(
        dir.join("promptctl.toml"),
        format!("prompts_dir = \"prompts\"\nlock_file = \"prompts.lock\"\n\n[signing]\npublic_keys = [\"keys/promptctl.pub\"]\n\n[cache]\nkey_prefix = \"{prefix}\"\n\n[environments.production]\ndatabase = \"{database}\"\nredis = \"{redis}\"\n\n[environments.staging]\n"),
    )?;
    fs::write(dir.join(".gitignore"), ".promptctl/\n")?;
    let promptctl_run = |args: &[&str]| {
        let mut command = Command::new(promptctl);
        command.arg("--root").arg(dir).args(args).current_dir(dir);
        command.env_remove("PROMPTCTL_DATABASE_URL").env_remove("PROMPTCTL_REDIS_URL");
        run_checked(&mut command)
    };
    let git = |args: &[&str]| crate::BENCH_GIT.run(dir, args);
    for (name, manifest, text) in extra {
        let folder = dir.join("prompts").join(name);
        fs::create_dir_all(&folder)?;
        fs::write(folder.join("prompt.toml"), manifest)?;
        fs::write(folder.join("v1.prompt"), text)?;
    }
    if !extra.is_empty() {
        promptctl_run(&["lock"])?;
    }
    promptctl_run(&["keygen"])?;
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", "prompts"])?;
    promptctl_run(&["build", "--key", ".promptctl/keys/promptctl.key"])?;
    promptctl_run(&["publish", "--env", "production"])?;
    Ok(())
}

/// Nanosecond percentiles of a sample.
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
    count: usize,
}

fn percentiles(mut samples: Vec<f64>) -> Percentiles {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Percentiles { p50: at(0.50), p99: at(0.99), max: at(1.0), count: samples.len() }
}

fn human(nanos: f64) -> String {
    if nanos < 1e3 {
        format!("{nanos:.0} ns")
    } else if nanos < 1e6 {
        format!("{:.1} µs", nanos / 1e3)
    } else {
        format!("{:.2} ms", nanos / 1e6)
    }
}

/// `get` from `READERS` threads at once, each call timed on its own.
fn time_get(store: &PromptStore) -> (Percentiles, Percentiles) {
    let threads: Vec<_> = (0..READERS)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut samples = Vec::with_capacity(GETS);
                for _ in 0..GETS {
                    let started = Instant::now();
                    let prompt = store.get(PROMPT);
                    let elapsed = started.elapsed();
                    std::hint::black_box(prompt);
                    samples.push(elapsed.as_nanos() as f64);
                }
                samples
            })
        })
        .collect();
    let samples: Vec<f64> =
        threads.into_iter().flat_map(|thread| thread.join().expect("a reader")).collect();
    // What the two `Instant::now` calls around each read cost by themselves.
    let mut timer = Vec::with_capacity(GETS);
    for _ in 0..GETS {
        let started = Instant::now();
        timer.push(started.elapsed().as_nanos() as f64);
    }
    (percentiles(samples), percentiles(timer))
}

/// The migration plan's approach: a Redis GET and a JSON parse per retrieval, `READERS` threads.
fn time_redis_get(url: &str, key: &str) -> Result<Percentiles> {
    let threads: Vec<_> = (0..READERS)
        .map(|_| {
            let url = url.to_string();
            let key = key.to_string();
            std::thread::spawn(move || -> Result<Vec<f64>> {
                let mut connection = redis::Client::open(url.as_str())?.get_connection()?;
                let mut samples = Vec::with_capacity(REDIS_GETS);
                for _ in 0..REDIS_GETS {
                    let started = Instant::now();
                    let text: Option<String> =
                        redis::cmd("GET").arg(&key).query(&mut connection)?;
                    let entry: cache::Entry =
                        serde_json::from_str(&text.context("the entry is missing")?)?;
                    let elapsed = started.elapsed();
                    std::hint::black_box(entry);
                    samples.push(elapsed.as_nanos() as f64);
                }
                Ok(samples)
            })
        })
        .collect();
    let mut samples = Vec::new();
    for thread in threads {
        samples.extend(thread.join().expect("a Redis reader")?);
    }
    Ok(percentiles(samples))
}

/// `ACTIVATIONS` activations, alternating v1 and v2: each one is committed in the store
/// (`publish::rollback`, the same transaction code as publish), then the cache is brought up to
/// date and the notice published as `promptctl` does after its commit; the time runs from the
/// commit to the first `get` that returns the new version.
fn time_propagation(
    store: &PromptStore,
    connection: &mut dyn store::Connection,
    cache: &mut Cache,
) -> Result<Percentiles> {
    let mut samples = Vec::with_capacity(ACTIVATIONS);
    let mut current = store.get(PROMPT).context("served")?.version;
    for _ in 0..ACTIVATIONS {
        let next = if current == 1 { 2 } else { 1 };
        let done = promptctl::publish::rollback(
            connection,
            "production",
            PROMPT,
            Some(next),
            "bench",
            "bench",
        )
        .map_err(|error| anyhow::anyhow!("{error}"))?;
        let committed = Instant::now();
        // What `promptctl` does after the commit when the cache is consistent: check the stamp
        // and that every entry exists, then write the changed entry, the stamp and the notice.
        let revision = records::revision(connection)?;
        let names = records::activated_names(connection)?;
        let stamp = cache.read_stamp()?;
        let missing = cache.count_missing(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
        ensure!(
            stamp.is_some() && missing == 0,
            "the cache is not consistent (stamp {stamp:?}, {missing} missing)"
        );
        let active = records::active_version(connection, PROMPT)?.context("active")?;
        let notice = Notice {
            name: done.active.name.clone(),
            version: done.active.version,
            sha256: done.active.content_sha256.clone(),
            seq: None,
        };
        let entries = [promptctl::publish::cache_entry(active.clone())];
        cache.write(&entries, &[notice], revision, cache::Coverage::Changes)?;
        loop {
            if store.get(PROMPT).is_some_and(|prompt| prompt.version == next) {
                break;
            }
            ensure!(committed.elapsed() < Duration::from_secs(10), "v{next} never arrived");
            std::thread::yield_now();
        }
        samples.push(committed.elapsed().as_nanos() as f64);
        current = next;
    }
    Ok(percentiles(samples))
}

/// What `time_canary` measured.
struct CanaryTimes {
    abort: Percentiles,
    get_for: Percentiles,
    get: Percentiles,
}

/// A canary (the active text again as "version + 1", at 50 %) written into the served entry and
/// taken out again `ACTIVATIONS` times, as `promptctl rollout` writes it after its commit: the
/// time from the cache write to the snapshot serving the change (the abort's is reported); then
/// `get_for` over 10,000 keys beside `get`, with the canary on.
fn time_canary(
    store: &PromptStore,
    connection: &mut dyn store::Connection,
    cache: &mut Cache,
) -> Result<CanaryTimes> {
    let active = records::active_version(connection, PROMPT)?.context("active")?;
    let base = promptctl::publish::cache_entry(active);
    let mut revision = records::revision(connection)? + 1_000;
    let with_canary = |revision: i64, on: bool| {
        let mut entry = base.clone();
        entry.revision = Some(revision);
        entry.canary = on.then(|| cache::CanaryEntry {
            version: base.version + 1,
            sha256: base.sha256.clone(),
            content: base.content.clone(),
            variables: base.variables.clone(),
            contract: base.contract.clone(),
            basis_points: 5_000,
        });
        entry
    };
    let notice = Notice {
        name: base.name.clone(),
        version: base.version,
        sha256: base.sha256.clone(),
        seq: None,
    };
    let mut aborts = Vec::with_capacity(ACTIVATIONS);
    for round in 0..ACTIVATIONS * 2 {
        let on = round % 2 == 0;
        revision += 1;
        let started = Instant::now();
        cache.write(
            &[with_canary(revision, on)],
            std::slice::from_ref(&notice),
            revision,
            cache::Coverage::Changes,
        )?;
        loop {
            if store.get(PROMPT).is_some_and(|prompt| prompt.canary.is_some() == on) {
                break;
            }
            ensure!(started.elapsed() < Duration::from_secs(10), "the canary change never arrived");
            std::thread::yield_now();
        }
        if !on {
            aborts.push(started.elapsed().as_nanos() as f64);
        }
    }
    revision += 1;
    cache.write(&[with_canary(revision, true)], &[notice], revision, cache::Coverage::Changes)?;
    let started = Instant::now();
    while store.get(PROMPT).is_none_or(|prompt| prompt.canary.is_none()) {
        ensure!(started.elapsed() < Duration::from_secs(10), "the canary never arrived");
        std::thread::yield_now();
    }
    let keys: std::sync::Arc<Vec<String>> =
        std::sync::Arc::new((0..10_000).map(|index| format!("user-{index}")).collect());
    let time = |keyed: bool| -> Percentiles {
        let threads: Vec<_> = (0..READERS)
            .map(|_| {
                let store = store.clone();
                let keys = keys.clone();
                std::thread::spawn(move || {
                    let mut samples = Vec::with_capacity(GETS);
                    for index in 0..GETS {
                        let key = &keys[index % keys.len()];
                        let started = Instant::now();
                        let prompt =
                            if keyed { store.get_for(PROMPT, key) } else { store.get(PROMPT) };
                        let elapsed = started.elapsed();
                        std::hint::black_box(prompt);
                        samples.push(elapsed.as_nanos() as f64);
                    }
                    samples
                })
            })
            .collect();
        percentiles(
            threads.into_iter().flat_map(|thread| thread.join().expect("a reader")).collect(),
        )
    };
    let get_for = time(true);
    let get = time(false);
    Ok(CanaryTimes { abort: percentiles(aborts), get_for, get })
}

/// `time_propagation` through a Redis Cluster of three primaries (and a replica each) on loopback
/// ports: the workspace's prompts published into a SQLite store of their own with the cache in the
/// cluster, a second `PromptStore` following it.
fn time_cluster_propagation(
    workspace_root: &Path,
    promptctl: &Path,
    work: &Path,
    prefix: &str,
) -> Result<Percentiles> {
    println!("==> runtime: starting a Redis Cluster (3 primaries, 3 replicas)");
    let cluster = Cluster::start().map_err(|error| anyhow::anyhow!("{error}"))?;
    let path = work.join("cluster-store.sqlite3");
    let _ = fs::remove_file(&path);
    let database = format!("sqlite:{}", path.display());
    let project = work.join("cluster-project");
    publish_project(workspace_root, promptctl, &project, &database, &cluster.url(), prefix, &[])?;
    let store = follow(&cluster.url(), &database, prefix, "the cluster")?;
    println!("==> runtime: {ACTIVATIONS} activations through the cluster");
    let location = Location::parse(&database, &project)?;
    let mut connection = store::open(&location)?;
    let layout = cache::Layout { prefix: prefix.into() };
    let mut cache = Cache::connect(&cluster.url(), layout, 3600)?;
    time_propagation(&store, &mut *connection, &mut cache)
}

/// `redis-benchmark -t get -c 1` against the same server: its p50/p99 in ms (CSV output).
fn redis_benchmark(port: u16) -> Result<(f64, f64)> {
    let output = run_checked(Command::new("redis-benchmark").args([
        "-p",
        &port.to_string(),
        "-t",
        "get",
        "-n",
        "100000",
        "-c",
        "1",
        "--csv",
    ]))?;
    let line = output.lines().find(|line| line.starts_with("\"GET\"")).context("no GET line")?;
    let fields: Vec<f64> =
        line.split(',').skip(1).filter_map(|field| field.trim_matches('"').parse().ok()).collect();
    ensure!(fields.len() >= 6, "unexpected redis-benchmark output: {line}");
    // rps, avg, min, p50, p95, p99, max
    Ok((fields[3], fields[5]))
}

pub fn run(workspace_root: &Path, promptctl: &Path, out: &Path, machine: &str) -> Result<()> {
    let redis = Redis::start()?;
    let work = out.join("tmp").join("runtime");
    let prefix = "bench:";
    let database = match std::env::var("PROMPTCTL_BENCH_DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            let path = work.join("store.sqlite3");
            let _ = fs::remove_file(&path);
            format!("sqlite:{}", path.display())
        }
    };
    let project = work.join("project");
    println!(
        "==> runtime: publishing the workspace's prompts into {}",
        store::redact_url(&database)
    );
    publish_project(workspace_root, promptctl, &project, &database, &redis.url(), prefix, &[])?;

    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the Prometheus recorder")?;
    let store = follow(&redis.url(), &database, prefix, "Redis")?;

    println!("==> runtime: get, {READERS} threads × {GETS} reads");
    let (get, timer) = time_get(&store);
    println!("==> runtime: per-request Redis GET + JSON parse, {READERS} threads × {REDIS_GETS}");
    let per_request = time_redis_get(&redis.url(), &format!("{prefix}{PROMPT}:active"))?;
    println!("==> runtime: {ACTIVATIONS} activations, commit → first read of the new version");
    let location = Location::parse(&database, &project)?;
    let mut connection = store::open(&location)?;
    let mut cache = Cache::connect(&redis.url(), cache::Layout { prefix: prefix.into() }, 3600)?;
    let propagation = time_propagation(&store, &mut *connection, &mut cache)?;
    println!("==> runtime: {ACTIVATIONS} canary starts and aborts; get_for beside get at 50 %");
    let canary = time_canary(&store, &mut *connection, &mut cache)?;
    drop((cache, connection));
    let cluster_propagation = time_cluster_propagation(workspace_root, promptctl, &work, prefix)?;
    println!("==> runtime: redis-benchmark -t get -c 1 -n 100000");
    let (floor_p50, floor_p99) = redis_benchmark(redis.port)?;
    std::hint::black_box(recorder.render());
    println!("==> runtime: qa-service, {HTTP_REQUESTS} requests kept alive and {HTTP_REQUESTS} on new connections");
    let (kept_alive, new_connections) =
        time_service(workspace_root, &redis.url(), &database, prefix)?;

    let store_kind = if database.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" };
    let mut table = String::new();
    writeln!(table, "Runtime client, {machine}; Redis 127.0.0.1, store {store_kind}, Prometheus recorder installed.\n")?;
    writeln!(table, "| measurement | samples | p50 | p99 | max |")?;
    writeln!(table, "| --- | ---: | ---: | ---: | ---: |")?;
    let mut row = |name: &str, p: &Percentiles| {
        writeln!(
            table,
            "| {name} | {} | {} | {} | {} |",
            p.count,
            human(p.p50),
            human(p.p99),
            human(p.max)
        )
    };
    row(&format!("`PromptStore::get`, {READERS} threads reading"), &get)?;
    row("(timer overhead alone: two `Instant::now`)", &timer)?;
    row(&format!("per-request Redis GET + JSON parse, {READERS} threads"), &per_request)?;
    row("activation: commit → first read of the new version", &propagation)?;
    row("canary abort: cache write → every key served the stable version", &canary.abort)?;
    row(
        &format!("`PromptStore::get_for` (canary at 50 %, 10,000 keys), {READERS} threads"),
        &canary.get_for,
    )?;
    row(&format!("`PromptStore::get` in the same state, {READERS} threads"), &canary.get)?;
    row(
        "activation through a Redis Cluster (3 primaries + replicas, `redis+cluster://`), store SQLite",
        &cluster_propagation,
    )?;
    row("qa-service `POST /api/v1/agents/qa`, one kept-alive connection", &kept_alive)?;
    row("qa-service `POST /api/v1/agents/qa`, a new connection each", &new_connections)?;
    writeln!(
        table,
        "| raw Redis round trip (`redis-benchmark -t get -c 1`) | 100000 | {} | {} | |",
        human(floor_p50 * 1e6),
        human(floor_p99 * 1e6)
    )?;
    println!("\n{table}");
    fs::create_dir_all(out)?;
    let path: PathBuf = out.join("runtime.md");
    fs::write(&path, &table).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Builds and starts the example service (release) on the bench's Redis and store, then times
/// `POST /api/v1/agents/qa` over one kept-alive connection and over a new connection each.
fn time_service(
    workspace_root: &Path,
    redis: &str,
    database: &str,
    prefix: &str,
) -> Result<(Percentiles, Percentiles)> {
    let status = crate::cargo()
        .args(["build", "--quiet", "--release", "--package", "qa-service", "--bin", "qa-service"])
        .current_dir(workspace_root)
        .status()
        .context("cannot start cargo")?;
    ensure!(status.success(), "`cargo build --release --package qa-service` failed ({status})");
    let binary = crate::target_dir(workspace_root).join("release").join("qa-service");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut command = Command::new(&binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PROMPTCTL_") {
            command.env_remove(name);
        }
    }
    let child = command
        .env("QA_SERVICE_ADDR", format!("127.0.0.1:{port}"))
        .env("PROMPTCTL_SOURCE", "store")
        .env("PROMPTCTL_REDIS_URL", redis)
        .env("PROMPTCTL_DATABASE_URL", database)
        .env("PROMPTCTL_KEY_PREFIX", prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let _service = KillOnDrop(child);
    let body = r#"{"gameId":"chess","query":"Can a pawn move backwards?"}"#;
    let request = format!(
        "POST /api/v1/agents/qa HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let started = Instant::now();
    let connect = || loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => return Ok(stream),
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(error) => return Err(anyhow::anyhow!("qa-service did not listen: {error}")),
        }
    };
    // One exchange: the request, then the response head and its `Content-Length` bytes of body.
    let exchange = |stream: &mut std::net::TcpStream| -> Result<()> {
        use std::io::{Read, Write};
        stream.write_all(request.as_bytes())?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            ensure!(stream.read(&mut byte)? == 1, "qa-service closed the connection");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        ensure!(head.starts_with("http/1.1 200"), "qa-service answered: {head}");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .context("a response without Content-Length")?;
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body)?;
        Ok(())
    };
    let mut stream = connect()?;
    // Warm up: the first requests wait for the store's first read.
    for _ in 0..50 {
        exchange(&mut stream)?;
    }
    let mut kept = Vec::with_capacity(HTTP_REQUESTS);
    for _ in 0..HTTP_REQUESTS {
        let started = Instant::now();
        exchange(&mut stream)?;
        kept.push(started.elapsed().as_nanos() as f64);
    }
    drop(stream);
    let mut fresh = Vec::with_capacity(HTTP_REQUESTS);
    for _ in 0..HTTP_REQUESTS {
        let started = Instant::now();
        let mut stream = connect()?;
        exchange(&mut stream)?;
        fresh.push(started.elapsed().as_nanos() as f64);
    }
    Ok((percentiles(kept), percentiles(fresh)))
}

/// A `PromptStore` following the cache at `redis_url` (with `database` as its fallback), once it
/// is subscribed and serves `PROMPT` from Redis (`what` names the cache in the error).
fn follow(redis_url: &str, database: &str, prefix: &str, what: &str) -> Result<PromptStore> {
    let options = Options {
        source: Source::Store,
        redis_url: Some(redis_url.into()),
        database_url: Some(database.into()),
        key_prefix: prefix.into(),
        ..Options::default()
    };
    let store = PromptStore::start(registry_demo::prompts::ALL, options);
    let loaded = store.wait_until(Duration::from_secs(20), |store| {
        store.health().subscribed && store.get(PROMPT).is_some_and(|p| p.tier == Tier::Redis)
    });
    ensure!(loaded, "the store did not load from {what}: {:?}", store.health());
    Ok(store)
}
