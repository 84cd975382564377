//! The runtime client at fleet scale, against real servers: after a reconnection it reads only the
//! entries that changed when the cache's stamp and changes index allow it (and everything when a
//! writer that does not keep the index moved the stamp); the example service flips its feature
//! flag and allow-list on SIGHUP, from its environment file, without a restart.

use crate::runtime::{http, service_binary};
use promptctl::cache::{Cache, Coverage, Entry, Layout, Notice};
use promptctl::runtime::{Options, PromptStore, Source};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use test_support::{or_skip, shared_redis, unique, KillOnDrop, Redis};

const WAIT: Duration = Duration::from_secs(60);

fn wait(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn entry(name: &str, version: i64, revision: i64) -> Entry {
    let content = format!("{name} v{version}: answer {{{{question}}}}.");
    Entry {
        name: name.into(),
        version,
        sha256: promptctl::text::sha256_hex(&content),
        content,
        variables: serde_json::json!([]),
        contract: String::new(),
        activated_at: "2026-01-01T00:00:00Z".into(),
        seq: None,
        revision: Some(revision),
        canary: None,
    }
}

fn notice(entry: &Entry) -> Notice {
    Notice {
        name: entry.name.clone(),
        version: entry.version,
        sha256: entry.sha256.clone(),
        seq: None,
    }
}

fn version(store: &PromptStore, name: &str) -> Option<i64> {
    store.get(name).map(|prompt| prompt.version)
}

/// Drops every client connection but this one, as a Redis restart would.
fn drop_clients(connection: &mut redis::Connection) {
    // The command connections first: a refresher that notices its subscription dropped
    // reconnects them at once.
    for kind in ["normal", "pubsub"] {
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg(kind)
            .arg("SKIPME")
            .arg("yes")
            .query(connection)
            .expect("CLIENT KILL");
    }
}

/// The cache of a test's own redis-server, written the way `promptctl publish` writes it, with
/// revisions that grow like the store's.
struct Writer {
    url: String,
    prefix: &'static str,
    revision: i64,
    markers: i64,
}

impl Writer {
    /// Writes `name` at `version` (a new connection each time: the test drops every client).
    fn write(&mut self, name: &str, version: i64, with_notice: bool) {
        self.revision += 1;
        let entry = entry(name, version, self.revision);
        let notices = if with_notice { vec![notice(&entry)] } else { vec![] };
        let layout = Layout { prefix: self.prefix.into() };
        let mut cache = Cache::connect(&self.url, layout, 600).expect("connect");
        cache.write(&[entry], &notices, self.revision, Coverage::Changes).expect("write");
    }

    /// Waits until `store` has subscribed `subscriptions` times and heard a notice since, so that
    /// its read after the last subscription is over.
    fn settle(&mut self, store: &PromptStore, subscriptions: u64) {
        wait("the subscription", || {
            let health = store.health();
            health.subscribed && health.counts.subscriptions >= subscriptions
        });
        self.markers += 1;
        let markers = self.markers;
        self.write("marker", markers, true);
        wait("the marker's notice", || version(store, "marker") == Some(markers));
    }
}

#[test]
fn a_reconnection_reads_only_what_changed_when_the_stamp_allows() {
    // A server of its own: the test drops every client of it.
    let Some(redis) = or_skip(Redis::start()) else { return };
    let prefix = "fleet:";
    let mut cache = Cache::connect(&redis.url(), Layout { prefix: prefix.into() }, 600).unwrap();
    let entries: Vec<Entry> = (0..20).map(|i| entry(&format!("p{i:02}"), 1, i + 1)).collect();
    cache.write(&entries, &[], 20, Coverage::Full).expect("write");
    drop(cache);
    let mut writer = Writer { url: redis.url(), prefix, revision: 20, markers: 0 };
    let options = Options {
        source: Source::Store,
        redis_url: Some(redis.url()),
        key_prefix: prefix.into(),
        reconnect_max: Duration::from_millis(200),
        degraded_poll: Duration::from_millis(200),
        ..Options::default()
    };
    let store = PromptStore::start(&[], options);
    wait("the first read", || store.names().len() == 20);
    writer.settle(&store, 1);
    let full = || store.health().counts.full_refreshes;
    assert_eq!(full(), 1);
    let mut admin = crate::support::redis_connection(&redis.url());

    // A publish whose notice was lost: after the reconnection, only the changed entry is read.
    writer.write("p03", 2, false);
    drop_clients(&mut admin);
    wait("p03 v2 after the reconnection", || version(&store, "p03") == Some(2));
    writer.settle(&store, 2);
    assert_eq!(full(), 1, "{:?}", store.health());
    drop_clients(&mut admin);
    writer.settle(&store, 3);
    assert_eq!(full(), 1, "{:?}", store.health());

    // A writer that does not keep the changes index (an older promptctl) moves the stamp: the
    // index is not in step, so everything is read.
    writer.revision += 1;
    let json = serde_json::to_string(&entry("p05", 2, writer.revision)).unwrap();
    let _: () = redis::pipe()
        .cmd("SET")
        .arg(format!("{prefix}p05:active"))
        .arg(json)
        .cmd("SET")
        .arg(format!("{prefix}p05:revision"))
        .arg(writer.revision)
        .cmd("SET")
        .arg(format!("{prefix}_revision"))
        .arg(writer.revision)
        .query(&mut admin)
        .unwrap();
    drop_clients(&mut admin);
    wait("p05 v2 after a full read", || version(&store, "p05") == Some(2));
    writer.settle(&store, 4);
    assert!(full() > 1, "{:?}", store.health());

    // The next writer that keeps the index finds it out of step and restarts it from its own
    // stamp: the reader reads everything once more, then changes only again.
    writer.write("p06", 2, false);
    drop_clients(&mut admin);
    wait("p06 v2", || version(&store, "p06") == Some(2));
    writer.settle(&store, 5);
    let after = full();
    writer.write("p07", 2, false);
    drop_clients(&mut admin);
    wait("p07 v2", || version(&store, "p07") == Some(2));
    writer.settle(&store, 6);
    assert_eq!(full(), after, "{:?}", store.health());
    assert_eq!(store.names().len(), 21);
}

/// `NAME=value` lines of the service's environment file.
fn write_env(path: &Path, lines: &[(&str, &str)]) {
    let text: String = lines.iter().map(|(name, value)| format!("{name}={value}\n")).collect();
    std::fs::write(path, text).expect("write the environment file");
}

fn qa_prompt(port: u16) -> (i64, String) {
    let (status, body) = http(port, "GET", "/prompts/qa-system-prompt", None).expect("request");
    assert_eq!(status, 200, "{body}");
    (body["version"].as_i64().unwrap(), body["tier"].as_str().unwrap().to_string())
}

fn health(port: u16) -> Value {
    http(port, "GET", "/health", None).expect("request").1
}

fn sighup(pid: u32) {
    let status = Command::new("kill").args(["-HUP", &pid.to_string()]).status().expect("kill");
    assert!(status.success());
}

#[test]
fn the_example_service_flips_its_flag_on_sighup() {
    let Some(redis) = shared_redis() else { return };
    let prefix = format!("{}:", unique("hup"));
    let mut cache =
        Cache::connect(&redis.url(), Layout { prefix: prefix.clone() }, 600).expect("connect");
    cache.write(&[entry("qa-system-prompt", 7, 1)], &[], 1, Coverage::Full).expect("write");
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("qa-service.env");
    let url = redis.url();
    let base = [("PROMPTCTL_REDIS_URL", url.as_str()), ("PROMPTCTL_KEY_PREFIX", prefix.as_str())];
    let with = |more: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        base.iter().copied().chain(more.iter().copied()).collect()
    };
    write_env(&env, &with(&[("PROMPTCTL_SOURCE", "embedded")]));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = dir.path().join("service.log");
    let mut command = Command::new(service_binary());
    for (name, _) in std::env::vars() {
        if name.starts_with("PROMPTCTL_") {
            command.env_remove(name);
        }
    }
    let child = command
        .env("QA_SERVICE_ADDR", format!("127.0.0.1:{port}"))
        .env("QA_SERVICE_ENV_FILE", &env)
        .env("PROMPTCTL_RECONNECT_MAX_MS", "200")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("service.err")).unwrap())
        .spawn()
        .expect("start qa-service");
    let service = KillOnDrop(child);
    let pid = service.0.id();
    wait("the service to listen", || http(port, "GET", "/health", None).is_ok());
    assert_eq!(qa_prompt(port), (1, "embedded".into()));
    assert_eq!(health(port)["features"]["promptDatabase"], false);

    // The flag on, for this prompt only.
    write_env(
        &env,
        &with(&[("PROMPTCTL_SOURCE", "store"), ("PROMPTCTL_STORE_PROMPTS", "qa-system-prompt")]),
    );
    sighup(pid);
    wait("v7 from Redis", || qa_prompt(port) == (7, "redis".into()));
    assert_eq!(health(port)["features"]["promptDatabase"], true);

    // The prompt leaves the allow-list: back to its embedded text, the service still on `store`.
    write_env(&env, &with(&[("PROMPTCTL_SOURCE", "store"), ("PROMPTCTL_STORE_PROMPTS", "cto")]));
    sighup(pid);
    wait("v1 embedded again", || qa_prompt(port) == (1, "embedded".into()));
    assert_eq!(health(port)["features"]["promptDatabase"], true);

    // A file that does not parse changes nothing, and says why on stderr.
    write_env(&env, &with(&[("PROMPTCTL_SOURCE", "redis")]));
    sighup(pid);
    let errors = dir.path().join("service.err");
    wait("the refusal on stderr", || {
        std::fs::read_to_string(&errors).unwrap_or_default().contains("kept the running")
    });
    let said = std::fs::read_to_string(&errors).unwrap();
    assert!(said.contains("`PROMPTCTL_SOURCE` is `redis`; use `embedded` or `store`"), "{said}");
    assert!(!said.contains(&url), "no URL in the log: {said}");
    assert_eq!(qa_prompt(port), (1, "embedded".into()));
    assert_eq!(health(port)["features"]["promptDatabase"], true);

    // Every prompt, then the flag off again.
    write_env(&env, &with(&[("PROMPTCTL_SOURCE", "store")]));
    sighup(pid);
    wait("v7 again", || qa_prompt(port) == (7, "redis".into()));
    write_env(&env, &with(&[("PROMPTCTL_SOURCE", "embedded")]));
    sighup(pid);
    wait("embedded again", || qa_prompt(port) == (1, "embedded".into()));
    assert_eq!(health(port)["features"]["promptDatabase"], false);
    assert!(http(port, "GET", "/health", None).is_ok(), "still running");
}
