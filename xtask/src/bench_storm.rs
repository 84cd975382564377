//! `cargo xtask bench --runtime`, the reconnect storm: `--storm-services` runtime clients
//! (`PromptStore`s in this process, each with its own refresher thread and Redis connections)
//! follow one cache of `--storm-prompts` prompts; Redis is restarted with its data (`SHUTDOWN
//! SAVE`, then the same port and RDB file), and the report counts the commands Redis saw from the
//! restart until every client had resubscribed and Redis fell quiet, from `INFO commandstats`.
//! Reports, never asserts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use promptctl::cache::{Cache, Coverage, Entry, Layout};
use promptctl::runtime::{Options, PromptStore, Source, TierStatus};
use test_support::KillOnDrop;

const PREFIX: &str = "storm:";

/// The storm's numbers, for the report.
pub struct Storm {
    pub services: usize,
    pub prompts: usize,
    /// Calls by command (lower case, as `INFO` names them), without the bench's own `INFO`.
    pub calls: BTreeMap<String, u64>,
    /// Commands Redis refused while loading its data (`rejected_calls`), by command.
    pub rejected: BTreeMap<String, u64>,
    /// From the restart to every client subscribed again.
    pub resubscribed: Duration,
}

impl Storm {
    /// Every call but the heartbeat's `ping`s (their number grows with the time waited, not
    /// with the storm).
    pub fn total(&self) -> u64 {
        self.calls.iter().filter(|(command, _)| *command != "ping").map(|(_, calls)| calls).sum()
    }

    pub fn markdown(&self, machine: &str) -> String {
        let mut table = String::new();
        let _ = writeln!(
            table,
            "Reconnect storm, {machine}: {} runtime clients following a cache of {} prompts; \
             redis-server restarted with its data (`SHUTDOWN SAVE`, same port). Commands Redis \
             saw from the restart until every client had resubscribed, had its read after that \
             answered, and Redis was quiet for 2 s \
             (`INFO commandstats`, the bench's own `INFO` excluded; the total leaves out the \
             heartbeat's `ping`s, which grow with the time waited); all clients were subscribed, with \
             Redis answering their reads, {:.1} s after the restart.\n",
            self.services,
            self.prompts,
            self.resubscribed.as_secs_f64()
        );
        let _ = writeln!(table, "| command | calls | refused while loading |");
        let _ = writeln!(table, "| --- | ---: | ---: |");
        for (command, calls) in &self.calls {
            let refused = self.rejected.get(command).copied().unwrap_or(0);
            let _ = writeln!(table, "| `{command}` | {calls} | {refused} |");
        }
        let refused: u64 = self.rejected.values().sum();
        let _ = writeln!(table, "| **total** | **{}** | {refused} |", self.total());
        table
    }
}

/// A redis-server that saves its data in `dir` on `SHUTDOWN SAVE` and loads it when started again.
struct Server {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<KillOnDrop>,
}

impl Server {
    fn start(dir: &Path) -> Result<Server> {
        fs::create_dir_all(dir)?;
        let _ = fs::remove_file(dir.join("storm.rdb"));
        let port = test_support::free_port();
        let mut server = Server { port, dir: dir.to_path_buf(), child: None };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<()> {
        let child: Child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--dbfilename", "storm.rdb", "--maxclients", "10000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start redis-server (apt-get install redis-server)")?;
        self.child = Some(KillOnDrop(child));
        let started = Instant::now();
        while !test_support::port_open(self.port) {
            ensure!(started.elapsed() < Duration::from_secs(20), "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn connection(&self) -> Result<redis::Connection> {
        let client = redis::Client::open(self.url())?;
        Ok(client.get_connection_with_timeout(Duration::from_secs(5))?)
    }

    /// `SHUTDOWN SAVE`, then the same server again on the same port, with the saved data.
    fn restart(&mut self) -> Result<()> {
        let mut connection = self.connection()?;
        // The server closes the connection instead of answering.
        let _ = redis::cmd("SHUTDOWN").arg("SAVE").query::<()>(&mut connection);
        let Some(mut child) = self.child.take() else { bail!("redis-server is not running") };
        let status = child.0.wait()?;
        ensure!(self.dir.join("storm.rdb").exists(), "redis-server saved nothing ({status})");
        self.spawn()
    }

    /// `INFO commandstats` as calls by command, and the rejected ones.
    fn calls(&self) -> Result<(BTreeMap<String, u64>, BTreeMap<String, u64>)> {
        let mut connection = self.connection()?;
        let info: String = redis::cmd("INFO").arg("commandstats").query(&mut connection)?;
        let mut calls = BTreeMap::new();
        let mut rejected = BTreeMap::new();
        for line in info.lines() {
            let Some((name, fields)) =
                line.strip_prefix("cmdstat_").and_then(|l| l.split_once(':'))
            else {
                continue;
            };
            let count = fields
                .split(',')
                .find_map(|field| field.strip_prefix("calls="))
                .and_then(|value| value.parse::<u64>().ok())
                .with_context(|| format!("unexpected INFO line: {line}"))?;
            let refused = fields
                .split(',')
                .find_map(|field| field.strip_prefix("rejected_calls="))
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or(0);
            if name != "info" {
                calls.insert(name.to_string(), count);
                if refused > 0 {
                    rejected.insert(name.to_string(), refused);
                }
            }
        }
        Ok((calls, rejected))
    }
}

fn entry(index: usize) -> Entry {
    let content = format!("Prompt {index}: answer {{{{question}}}} briefly.");
    Entry {
        name: format!("p{index:05}"),
        version: 1,
        sha256: promptctl::text::sha256_hex(&content),
        content,
        variables: serde_json::json!([{ "name": "question", "type": "string" }]),
        contract: String::new(),
        activated_at: "2026-01-01T00:00:00Z".into(),
        seq: None,
        revision: Some(index as i64 + 1),
        canary: None,
    }
}

pub fn run(out: &Path, services: usize, prompts: usize) -> Result<Storm> {
    ensure!(services > 0 && prompts > 0, "the storm needs at least one service and one prompt");
    let mut server = Server::start(&out.join("tmp").join("storm"))?;
    println!("==> storm: writing {prompts} cache entries");
    let mut cache = Cache::connect(&server.url(), Layout { prefix: PREFIX.into() }, 3600)?;
    let entries: Vec<Entry> = (0..prompts).map(entry).collect();
    cache.write(&entries, &[], prompts as i64, Coverage::Full)?;
    drop(cache);

    println!("==> storm: starting {services} runtime clients");
    let options = Options {
        source: Source::Store,
        redis_url: Some(server.url()),
        key_prefix: PREFIX.into(),
        ..Options::default()
    };
    let stores: Vec<PromptStore> =
        (0..services).map(|_| PromptStore::start(&[], options.clone())).collect();
    let loaded = |store: &PromptStore| {
        store.wait_until(Duration::from_secs(300), |store| {
            store.health().subscribed && store.names().len() == prompts
        })
    };
    for store in &stores {
        ensure!(loaded(store), "a client did not load the cache: {:?}", store.health());
    }
    let before: Vec<u64> = stores.iter().map(|store| store.health().counts.subscriptions).collect();

    println!("==> storm: restarting redis-server with its data");
    server.restart()?;
    let restarted = Instant::now();
    for (store, before) in stores.iter().zip(&before) {
        let again = store.wait_until(Duration::from_secs(120), |store| {
            let health = store.health();
            // Subscribed again, and the read after it answered (a client that subscribed while
            // Redis was still loading its data retries).
            health.subscribed
                && health.counts.subscriptions > *before
                && health.tiers.redis.status == TierStatus::Ok
        });
        ensure!(again, "a client did not resubscribe: {:?}", store.health());
    }
    let resubscribed = restarted.elapsed();
    // Quiet: no command for 2 s (four polls 500 ms apart see the same counts).
    let (mut calls, mut rejected) = server.calls()?;
    let mut same = 0;
    let quiet_by = Instant::now() + Duration::from_secs(120);
    while same < 4 {
        ensure!(Instant::now() < quiet_by, "Redis did not fall quiet: {calls:?}");
        std::thread::sleep(Duration::from_millis(500));
        let (now, refused) = server.calls()?;
        let busy = |calls: &BTreeMap<String, u64>| {
            calls.iter().filter(|(command, _)| *command != "ping").map(|(_, n)| *n).sum::<u64>()
        };
        same = if busy(&now) == busy(&calls) { same + 1 } else { 0 };
        calls = now;
        rejected = refused;
    }
    for store in &stores {
        ensure!(store.names().len() == prompts, "a client lost prompts: {:?}", store.health());
    }
    drop(stores);
    Ok(Storm { services, prompts, calls, rejected, resubscribed })
}
