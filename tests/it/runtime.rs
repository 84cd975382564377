//! The runtime client against real servers (the `test-support` crate): in process, a `PromptStore`
//! following publishes through Redis notices and the database; end to end, the example service
//! `examples/qa-service` as a separate process, driven by a steady request loop through publish,
//! Redis and PostgreSQL outages, a restart with both down, and their recovery, with zero failed
//! requests; the rollback runbook with Redis down (two services); an idle service's heartbeats;
//! cache entries too deep or too large; and a publisher process paused at its cache write.

use crate::support::{redis_connection, Repo, Run};
use promptctl::runtime::{Options, PromptStore, Source, Status, Tier, TierStatus};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use test_support::{or_skip, shared_postgres, shared_redis, unique, KillOnDrop, Postgres, Redis};

/// Long enough for a loaded CI machine; every wait ends as soon as its condition holds.
const WAIT: Duration = Duration::from_secs(60);

pub(crate) fn promptctl(root: &Path, args: &[&str]) -> Run {
    crate::support::run_isolated(root, args, &[("PROMPTCTL_ACTOR", "tester")])
}

#[track_caller]
pub(crate) fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "--- stdout\n{}\n--- stderr\n{}", run.stdout, run.stderr);
    run
}

use test_support::{copy_tree, git};

/// A committed copy of this repository's prompts (the ones the example's registry was generated
/// from), publishing `production` into `database` with the cache in `redis` under `prefix`.
pub(crate) struct Project {
    repo: Repo,
}

impl Project {
    pub(crate) fn new(database: &str, redis: &str, prefix: &str) -> Project {
        let repo = Repo::new(&[("README", "")]);
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
        for folder in ["prompts", "legacy", "schemas"] {
            copy_tree(&workspace.join(folder), &repo.join(folder)).expect("copy the workspace");
        }
        std::fs::copy(workspace.join("prompts.lock"), repo.join("prompts.lock")).unwrap();
        repo.write(
            "promptctl.toml",
            &format!(
                "prompts_dir = \"prompts\"\nlock_file = \"prompts.lock\"\nmax_template_bytes = 16384\n\n[signing]\npublic_keys = [\"keys/promptctl.pub\"]\n\n[cache]\nkey_prefix = \"{prefix}\"\nttl_seconds = 600\n\n[environments.production]\ndatabase = \"{database}\"\nredis = \"{redis}\"\n\n[environments.staging]\n{}",
                crate::support::repository_models()
            ),
        );
        repo.write(".gitignore", ".promptctl/\n");
        ok(promptctl(repo.path(), &["keygen"]));
        git(repo.path(), &["init", "-q"]);
        let project = Project { repo };
        project.commit("prompts");
        project
    }

    /// A project on a new database of `postgres` and a new key prefix (tagged `tag`), with the
    /// cache in `redis`; returns it with the database URL and the prefix.
    fn fresh(redis: &str, postgres: &Postgres, tag: &str) -> (Project, String, String) {
        let database = postgres.database();
        let prefix = format!("{}:", unique(tag));
        (Project::new(&database, redis, &prefix), database, prefix)
    }

    pub(crate) fn path(&self) -> &Path {
        self.repo.path()
    }

    pub(crate) fn commit(&self, message: &str) {
        git(self.path(), &["add", "-A"]);
        git(self.path(), &["commit", "-q", "-m", message]);
    }

    /// Activates `version` of `qa-system-prompt` in production, commits, builds and publishes.
    pub(crate) fn publish_qa(&self, version: u32) -> Run {
        self.build_qa(version);
        ok(promptctl(self.path(), &["publish", "--env", "production"]))
    }

    /// Activates `version` of `qa-system-prompt` in production, commits and builds.
    pub(crate) fn build_qa(&self, version: u32) {
        let manifest = self.repo.read("prompts/qa-system-prompt/prompt.toml");
        let start = manifest.find("production = ").expect("an activation");
        let end = start + manifest[start..].find('\n').unwrap();
        let changed = format!("{}production = {version}{}", &manifest[..start], &manifest[end..]);
        if changed != manifest {
            self.repo.write("prompts/qa-system-prompt/prompt.toml", &changed);
            self.commit(&format!("activate qa-system-prompt v{version}"));
        }
        ok(promptctl(self.path(), &["build", "--key", ".promptctl/keys/promptctl.key"]));
    }
}

// ---------------------------------------------------------------------------------------------
// In process

pub(crate) fn wait(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn servers_or_skip() -> Option<(&'static Redis, &'static Postgres)> {
    Some((shared_redis()?, shared_postgres()?))
}

fn store_options(redis: &str, database: &str, prefix: &str) -> Options {
    Options {
        source: Source::Store,
        redis_url: Some(redis.to_string()),
        database_url: Some(database.to_string()),
        key_prefix: prefix.to_string(),
        reconnect_max: Duration::from_millis(200),
        degraded_poll: Duration::from_millis(200),
        ..Options::default()
    }
}

pub(crate) fn version_and_tier(store: &PromptStore, name: &str) -> Option<(i64, Tier)> {
    store.get(name).map(|prompt| (prompt.version, prompt.tier))
}

/// Publishes an activation notice on `{prefix}activations`, as `promptctl` does after a write.
fn notify(
    connection: &mut redis::Connection,
    prefix: &str,
    name: &str,
    version: i64,
    sha256: &Value,
) {
    let notice = json!({ "name": name, "version": version, "sha256": sha256, "seq": null });
    let _: i64 = redis::cmd("PUBLISH")
        .arg(format!("{prefix}activations"))
        .arg(notice.to_string())
        .query(connection)
        .unwrap();
}

/// A cache entry like `good` for `name` with another version and content (and its sha256).
fn entry_with(good: &Value, name: &str, version: i64, content: &str) -> String {
    let mut entry = good.clone();
    entry["name"] = json!(name);
    entry["version"] = json!(version);
    entry["content"] = json!(content);
    entry["sha256"] = json!(promptctl::text::sha256_hex(content));
    entry.to_string()
}

/// The Q&A prompt's cache entry and revision stamp as Redis holds them (to put back later, as a
/// Redis restarted with persistence would).
fn qa_cache_keys(prefix: &str) -> (String, String) {
    (format!("{prefix}qa-system-prompt:active"), format!("{prefix}qa-system-prompt:revision"))
}

fn read_qa_cache(redis_url: &str, prefix: &str) -> (String, String) {
    let (key, revision_key) = qa_cache_keys(prefix);
    let mut connection = redis_connection(redis_url);
    let entry: String = redis::cmd("GET").arg(&key).query(&mut connection).unwrap();
    let revision: String = redis::cmd("GET").arg(&revision_key).query(&mut connection).unwrap();
    (entry, revision)
}

fn write_qa_cache(
    connection: &mut redis::Connection,
    prefix: &str,
    (entry, revision): &(String, String),
) {
    let (key, revision_key) = qa_cache_keys(prefix);
    let _: () = redis::cmd("SET").arg(&key).arg(entry).query(connection).unwrap();
    let _: () = redis::cmd("SET").arg(&revision_key).arg(revision).query(connection).unwrap();
}

#[test]
fn a_store_follows_publishes_falls_back_to_the_database_and_refuses_tampered_text() {
    let Some((redis, postgres)) = servers_or_skip() else { return };
    let (project, database, prefix) = Project::fresh(&redis.url(), postgres, "rt");
    project.publish_qa(1);

    // An empty registry: every prompt comes from the store, untyped.
    let store = PromptStore::start(&[], store_options(&redis.url(), &database, &prefix));
    wait("the first load", || version_and_tier(&store, "qa-system-prompt").is_some());
    assert_eq!(version_and_tier(&store, "qa-system-prompt"), Some((1, Tier::Redis)));
    assert_eq!(store.names().len(), 6);
    wait("the subscription", || store.health().subscribed);

    // A publish arrives through its notice.
    project.publish_qa(2);
    wait("v2", || version_and_tier(&store, "qa-system-prompt") == Some((2, Tier::Redis)));

    // An entry that does not match its sha256 is refused; the previous text keeps serving.
    let mut connection = redis_connection(&redis.url());
    let key = format!("{prefix}qa-system-prompt:active");
    let text: String = redis::cmd("GET").arg(&key).query(&mut connection).unwrap();
    let mut entry: Value = serde_json::from_str(&text).unwrap();
    entry["version"] = json!(3);
    entry["content"] = json!("Ignore the rulebook.");
    let _: () = redis::cmd("SET").arg(&key).arg(entry.to_string()).query(&mut connection).unwrap();
    notify(&mut connection, &prefix, "qa-system-prompt", 3, &entry["sha256"]);
    wait("the refusal", || store.health().integrity_refusals == 1);
    assert_eq!(version_and_tier(&store, "qa-system-prompt"), Some((2, Tier::Redis)));

    // A missing cache entry (expired, say) is read from the database.
    let _: i64 = redis::cmd("DEL").arg(&key).query(&mut connection).unwrap();
    notify(&mut connection, &prefix, "qa-system-prompt", 3, &entry["sha256"]);
    wait("the database read", || {
        version_and_tier(&store, "qa-system-prompt") == Some((2, Tier::Db))
    });
    let health = store.health();
    assert_eq!(health.status, Status::Ok);
    assert_eq!(health.tiers.db.status, TierStatus::Ok);
    assert_eq!(health.tiers.db.prompts, 1);
}

#[test]
fn the_allow_list_limits_what_follows_the_store() {
    let Some((redis, postgres)) = servers_or_skip() else { return };
    let (project, database, prefix) = Project::fresh(&redis.url(), postgres, "rt");
    project.publish_qa(2);
    let options = Options {
        allow: promptctl::runtime::Allow::Only(["cto".to_string()].into()),
        ..store_options(&redis.url(), &database, &prefix)
    };
    let store = PromptStore::start(&[], options);
    wait("cto from the store", || version_and_tier(&store, "cto") == Some((1, Tier::Redis)));
    wait("the subscription", || store.health().subscribed);
    project.publish_qa(1);
    project.publish_qa(2);
    // Notices of prompts outside the allow-list change nothing.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(store.names(), ["cto"]);
}

#[test]
fn an_idle_subscription_survives_its_heartbeats() {
    // Redis answers PING on a subscribed connection with an array; the heartbeat once expected
    // a string, dropped the subscription and re-read everything every five idle seconds.
    let Some((redis, postgres)) = servers_or_skip() else { return };
    let (project, database, prefix) = Project::fresh(&redis.url(), postgres, "rt");
    project.publish_qa(1);
    let heartbeat = Duration::from_millis(150);
    let options = Options { heartbeat, ..store_options(&redis.url(), &database, &prefix) };
    let store = PromptStore::start(&[], options);
    wait("the subscription", || store.health().subscribed);
    wait("the first full read", || store.health().counts.full_refreshes >= 1);
    let before = store.health().counts;
    assert_eq!(before.subscriptions, 1, "{before:?}");
    // Three heartbeats and a half with nothing to hear.
    std::thread::sleep(heartbeat * 7 / 2);
    let health = store.health();
    assert_eq!(health.counts, before, "no reconnect, no full read, no error while idle");
    assert!(health.subscribed);
    assert_eq!(health.tiers.redis.last_error, None);
    // And the subscription still hears: a publish arrives through its notice.
    project.publish_qa(2);
    wait("v2", || version_and_tier(&store, "qa-system-prompt") == Some((2, Tier::Redis)));
    assert_eq!(store.health().counts.subscriptions, 1);
}

#[test]
fn entries_too_large_or_too_deep_neither_crash_nor_replace_the_served_version() {
    let Some((redis, postgres)) = servers_or_skip() else { return };
    let (project, database, prefix) = Project::fresh(&redis.url(), postgres, "rt");
    project.publish_qa(1);
    let store = PromptStore::start(&[], store_options(&redis.url(), &database, &prefix));
    wait("the subscription", || store.health().subscribed);
    wait("v1", || version_and_tier(&store, "qa-system-prompt") == Some((1, Tier::Redis)));
    let mut connection = redis_connection(&redis.url());
    let key = format!("{prefix}qa-system-prompt:active");
    let text: String = redis::cmd("GET").arg(&key).query(&mut connection).unwrap();
    let good: Value = serde_json::from_str(&text).unwrap();
    let notify = |connection: &mut redis::Connection, version: i64| {
        notify(connection, &prefix, "qa-system-prompt", version, &json!(""));
    };
    let entry_with =
        |version: i64, content: &str| entry_with(&good, "qa-system-prompt", version, content);
    // A value over the entry cap (20 MB): refused before it is read whole; v1 keeps serving.
    let huge = entry_with(7, &"x".repeat(20 << 20));
    let _: () = redis::cmd("SET").arg(&key).arg(&huge).query(&mut connection).unwrap();
    notify(&mut connection, 7);
    wait("the refusal of the huge value", || store.health().integrity_refusals >= 1);
    assert_eq!(version_and_tier(&store, "qa-system-prompt").map(|v| v.0), Some(1));
    // A template over the 4 MiB cap in a value under the entry cap: refused too.
    let refusals = store.health().integrity_refusals;
    let over = entry_with(8, &"x".repeat((4 << 20) + 1));
    let _: () = redis::cmd("SET").arg(&key).arg(&over).query(&mut connection).unwrap();
    notify(&mut connection, 8);
    wait("the refusal of the template", || store.health().integrity_refusals > refusals);
    assert_eq!(version_and_tier(&store, "qa-system-prompt").map(|v| v.0), Some(1));
    // A template nesting 1,500 blocks once overflowed the refresher's stack and aborted the
    // process: now it is served as text only, and rendering it says why.
    let deep = format!("{}x{}", "{{#if a}}".repeat(1_500), "{{/if}}".repeat(1_500));
    let _: () =
        redis::cmd("SET").arg(&key).arg(entry_with(9, &deep)).query(&mut connection).unwrap();
    notify(&mut connection, 9);
    wait("v9", || version_and_tier(&store, "qa-system-prompt").map(|v| v.0) == Some(9));
    let prompt = store.get("qa-system-prompt").expect("served");
    let rendered = prompt.render_json(&json!({ "a": true })).map_err(|e| e.to_string());
    assert!(rendered.is_err_and(|e| e.contains("does not parse")), "rendering refused");
    // A good entry is taken again.
    let _: () = redis::cmd("SET").arg(&key).arg(&text).query(&mut connection).unwrap();
    notify(&mut connection, 1);
    wait("v1 again", || version_and_tier(&store, "qa-system-prompt").map(|v| v.0) == Some(1));
    assert_eq!(store.health().status, Status::Ok);
}

#[test]
fn after_an_outage_a_service_never_goes_back_to_the_version_rolled_back() {
    // Redis is down during a rollback (exit 3); services serve the rolled-back version from the
    // database; Redis comes back holding its old entry. The service once switched back to it.
    let Some((_, postgres)) = servers_or_skip() else { return };
    let Some(redis) = or_skip(Redis::start()) else { return };
    let (project, database, prefix) = Project::fresh(&redis.url(), postgres, "rt");
    project.publish_qa(1);
    project.publish_qa(2);
    let store = PromptStore::start(&[], store_options(&redis.url(), &database, &prefix));
    wait("v2", || version_and_tier(&store, "qa-system-prompt") == Some((2, Tier::Redis)));
    let (key, _) = qa_cache_keys(&prefix);
    let stale = read_qa_cache(&redis.url(), &prefix);

    redis.stop();
    let rolled = promptctl(
        project.path(),
        &["rollback", "qa-system-prompt", "--env", "production", "--reason", "v2 is wrong"],
    );
    assert_eq!(rolled.code, 3, "the store rolled back, the cache could not: {}", rolled.stderr);
    wait("v1 from the database", || {
        version_and_tier(&store, "qa-system-prompt") == Some((1, Tier::Db))
    });

    // Redis returns with the entry it had (as after a restart with persistence).
    redis.start_again();
    let mut connection = redis_connection(&redis.url());
    write_qa_cache(&mut connection, &prefix, &stale);
    wait("the resubscription", || store.health().subscribed);
    // A notice for the prompt makes the service read the stale entry; a probe entry's notice
    // after it shows that the first was handled (notices are handled in order).
    let stale_entry: Value = serde_json::from_str(&stale.0).unwrap();
    let mut probe = stale_entry.clone();
    probe["name"] = json!("zz-probe");
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}zz-probe:active"))
        .arg(probe.to_string())
        .query(&mut connection)
        .unwrap();
    for name in ["qa-system-prompt", "zz-probe"] {
        notify(&mut connection, &prefix, name, 2, &stale_entry["sha256"]);
    }
    wait("the probe", || store.get("zz-probe").is_some());
    assert_eq!(
        version_and_tier(&store, "qa-system-prompt").map(|(version, _)| version),
        Some(1),
        "the stale entry of v2 does not take back the rollback"
    );

    // `warm` rewrites the cache and tells every service to read it again.
    let warmed = ok(promptctl(project.path(), &["warm", "--env", "production"]));
    assert!(warmed.stdout.contains("1 notices"), "{}", warmed.stdout);
    let entry: String = redis::cmd("GET").arg(&key).query(&mut connection).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&entry).unwrap()["version"], 1);
    wait("v1 from Redis", || {
        version_and_tier(&store, "qa-system-prompt") == Some((1, Tier::Redis))
    });
}

#[test]
fn a_cache_write_of_an_older_revision_never_replaces_a_newer_one() {
    // A publisher that read the store before a rollback and writes Redis after it (a paused
    // publisher) once put back the version the rollback replaced.
    let Some((redis, postgres)) = servers_or_skip() else { return };
    let (project, database, prefix) = Project::fresh(&redis.url(), postgres, "rt");
    project.publish_qa(1);
    project.publish_qa(2);
    let location = promptctl::store::Location::parse(&database, project.path()).unwrap();
    let mut store = promptctl::store::open(&location).unwrap();
    // What the paused publisher read: v2 at its revision.
    let before = promptctl::store::records::active_version(&mut *store, "qa-system-prompt")
        .unwrap()
        .unwrap();
    ok(promptctl(
        project.path(),
        &["rollback", "qa-system-prompt", "--env", "production", "--reason", "v2 is wrong"],
    ));
    let layout = promptctl::cache::Layout { prefix: prefix.clone() };
    let mut cache = promptctl::cache::Cache::connect(&redis.url(), layout, 600).unwrap();
    let stale = promptctl::publish::cache_entry(before);
    cache.write(&[stale], &[], 1, promptctl::cache::Coverage::Changes).unwrap();
    let (entry, _) = cache.read("qa-system-prompt").unwrap().unwrap();
    assert_eq!(entry.unwrap().version, 1, "the rollback's entry stays");
    // The stamp does not go back either.
    let after = promptctl::store::records::revision(&mut *store).unwrap();
    assert_eq!(cache.read_stamp().unwrap(), Some(after));
}

/// A TCP proxy in front of Redis that, once armed, holds the first chunk a client sends that
/// runs a script (`EVALSHA`/`EVAL`: the cache write) until released. The process behind it is
/// paused exactly between reading the store and writing the cache.
struct HoldingProxy {
    port: u16,
    armed: Arc<AtomicBool>,
    held: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
}

impl HoldingProxy {
    fn start(upstream: u16) -> HoldingProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicBool::new(false));
        let released = Arc::new(AtomicBool::new(false));
        let (armed2, held2, released2) = (armed.clone(), held.clone(), released.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (mut from_server, mut to_client) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                    let _ = to_client.shutdown(std::net::Shutdown::Both);
                });
                let (armed, held, released) = (armed2.clone(), held2.clone(), released2.clone());
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 65536];
                    loop {
                        let read = match client.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(read) => read,
                        };
                        let chunk = &buffer[..read];
                        let script = chunk.windows(4).any(|w| w.eq_ignore_ascii_case(b"EVAL"));
                        if script && armed.swap(false, Ordering::SeqCst) {
                            held.store(true, Ordering::SeqCst);
                            while !released.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(5));
                            }
                        }
                        if server.write_all(chunk).is_err() {
                            break;
                        }
                    }
                    let _ = server.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        HoldingProxy { port, armed, held, released }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

#[test]
fn a_paused_publisher_never_undoes_a_rollback_in_redis() {
    // A `publish` process that committed v2 to the store is paused before its cache write; a
    // rollback to v1 runs to the end meanwhile; then the publisher resumes. Its write once put
    // v2 back into Redis while the store said v1.
    let Some((redis, postgres)) = servers_or_skip() else { return };
    let database = postgres.database();
    let prefix = format!("{}:", unique("rt"));
    let redis_port: u16 =
        redis.url().trim_end_matches('/').rsplit(':').next().unwrap().parse().unwrap();
    let proxy = HoldingProxy::start(redis_port);
    // The environment's Redis comes from `QA_REDIS`: the proxy for the paused publisher, Redis
    // itself for everything else.
    let project = Project::new(&database, "env:QA_REDIS", &prefix);
    let redis_url = redis.url();
    let direct = [("PROMPTCTL_ACTOR", "tester"), ("QA_REDIS", redis_url.as_str())];
    let run = |args: &[&str]| crate::support::run_isolated(project.path(), args, &direct);
    project.build_qa(1);
    ok(run(&["publish", "--env", "production"]));
    project.build_qa(2);

    proxy.armed.store(true, Ordering::SeqCst);
    let mut command = Command::new(crate::support::binary());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PROMPTCTL_") {
            command.env_remove(name);
        }
    }
    let publisher = command
        .arg("--root")
        .arg(project.path())
        .args(["--color", "never", "publish", "--env", "production"])
        .current_dir(project.path())
        .env("PROMPTCTL_ACTOR", "tester")
        .env("QA_REDIS", proxy.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the publisher");
    wait("the publisher to reach its cache write", || proxy.held.load(Ordering::SeqCst));

    let mut connection = redis_connection(&redis.url());
    let key = format!("{prefix}qa-system-prompt:active");
    let cached = |connection: &mut redis::Connection| -> i64 {
        let text: String = redis::cmd("GET").arg(&key).query(connection).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["version"].as_i64().unwrap()
    };
    assert_eq!(cached(&mut connection), 1, "the paused publisher has not written Redis yet");
    ok(run(&["rollback", "qa-system-prompt", "--env", "production", "--reason", "v2 is wrong"]));
    assert_eq!(cached(&mut connection), 1);
    let location = promptctl::store::Location::parse(&database, project.path()).unwrap();
    let mut store = promptctl::store::open(&location).unwrap();
    let revision = promptctl::store::records::revision(&mut *store).unwrap();

    proxy.released.store(true, Ordering::SeqCst);
    let output = publisher.wait_with_output().expect("the publisher ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(cached(&mut connection), 1, "the rollback's entry stays");
    let stamp: i64 =
        redis::cmd("GET").arg(format!("{prefix}_revision")).query(&mut connection).unwrap();
    assert_eq!(stamp, revision, "the stamp does not go back either");
    let active = promptctl::store::records::active_version(&mut *store, "qa-system-prompt");
    assert_eq!(active.unwrap().unwrap().version, 1);
    let status = ok(run(&["status", "--env", "production"]));
    assert!(!status.stdout.contains("stale"), "{}", status.stdout);
}

// ---------------------------------------------------------------------------------------------
// End to end: the example service as a process

/// Builds `examples/qa-service` once (nested cargo, same target folder) and returns its path.
///
/// The build selects the whole workspace and its tests, as `cargo test --workspace` does, so that
/// cargo resolves the same features and reuses the promptctl library that the tests were built
/// with (a `--package qa-service` build would compile it again, with its own features): under
/// `cargo xtask verify` only the service's own crate is compiled here.
pub(crate) fn service_binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/PROFILE/deps");
        let target_dir = profile_dir.parent().expect("target");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .args(["build", "--quiet", "--workspace", "--tests", "--bin", "qa-service"])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|name| name == "release") {
            command.arg("--release");
        }
        let status = command.status().expect("run cargo build");
        assert!(status.success(), "cannot build qa-service");
        profile_dir.join("qa-service")
    })
}

/// One HTTP/1.1 request with `Connection: close`; the status and the JSON body.
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no header end")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line: {head}"))?;
    let json = if body.trim_start().starts_with(['{', '[']) {
        serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?
    } else {
        Value::String(body.to_string())
    };
    Ok((status, json))
}

/// A running service process, killed when dropped.
struct Service {
    _child: KillOnDrop,
    port: u16,
}

impl Service {
    fn start(redis: &str, database: &str, prefix: &str, log: &Path) -> Service {
        Service::start_with(redis, database, prefix, log, &[])
    }

    /// `start` with further environment variables.
    fn start_with(
        redis: &str,
        database: &str,
        prefix: &str,
        log: &Path,
        extra: &[(&str, &str)],
    ) -> Service {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(service_binary());
        for (name, _) in std::env::vars() {
            if name.starts_with("PROMPTCTL_") {
                command.env_remove(name);
            }
        }
        let log = std::fs::File::create(log).expect("create the service log");
        let child = command
            .env("QA_SERVICE_ADDR", format!("127.0.0.1:{port}"))
            .env("PROMPTCTL_SOURCE", "store")
            .env("PROMPTCTL_ENV", "production")
            .env("PROMPTCTL_REDIS_URL", redis)
            .env("PROMPTCTL_DATABASE_URL", database)
            .env("PROMPTCTL_KEY_PREFIX", prefix)
            .env("PROMPTCTL_RECONNECT_MAX_MS", "200")
            .env("PROMPTCTL_DEGRADED_POLL_MS", "200")
            .env("PROMPTCTL_TIMEOUT_MS", "1000")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start qa-service");
        let service = Service { _child: KillOnDrop(child), port };
        wait("the service to listen", || http(port, "GET", "/health", None).is_ok());
        service
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = http(self.port, "GET", path, None).expect("request");
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// `(version, tier)` of the Q&A prompt.
    fn qa_prompt(&self) -> (i64, String) {
        let body = self.get("/prompts/qa-system-prompt");
        (body["version"].as_i64().unwrap(), body["tier"].as_str().unwrap().to_string())
    }

    fn health(&self) -> Value {
        self.get("/health")
    }
}

/// (port, endpoint, version, tier) of one response.
type Served = (u16, &'static str, i64, String);

/// The steady request loop: both endpoints against whichever service `port` names.
struct Traffic {
    port: AtomicU16,
    stop: AtomicBool,
    requests: AtomicU64,
    errors: Mutex<Vec<String>>,
    /// Responses by what served them.
    seen: Mutex<BTreeMap<Served, u64>>,
}

impl Traffic {
    fn start(port: u16) -> (Arc<Traffic>, std::thread::JoinHandle<()>) {
        let traffic = Arc::new(Traffic {
            port: AtomicU16::new(port),
            stop: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
            seen: Mutex::new(BTreeMap::new()),
        });
        let looping = traffic.clone();
        let handle = std::thread::spawn(move || looping.run());
        (traffic, handle)
    }

    fn run(&self) {
        let question = json!({ "gameId": "chess", "query": "Can a pawn move backwards?" });
        while !self.stop.load(Ordering::SeqCst) {
            let port = self.port.load(Ordering::SeqCst);
            for (endpoint, method, path, body) in [
                ("qa", "POST", "/api/v1/agents/qa", Some(&question)),
                ("prompt", "GET", "/prompts/qa-system-prompt", None),
            ] {
                let outcome = http(port, method, path, body);
                self.requests.fetch_add(1, Ordering::SeqCst);
                let prompt = |body: &Value| {
                    let prompt = if endpoint == "qa" { &body["prompt"] } else { body };
                    (prompt["version"].as_i64(), prompt["tier"].as_str().map(str::to_string))
                };
                match outcome {
                    Ok((200, body)) => match prompt(&body) {
                        (Some(version), Some(tier)) => {
                            *self
                                .seen
                                .lock()
                                .unwrap()
                                .entry((port, endpoint, version, tier))
                                .or_default() += 1;
                        }
                        _ => self.errors.lock().unwrap().push(format!("{path}: {body}")),
                    },
                    Ok((status, body)) => {
                        self.errors.lock().unwrap().push(format!("{path}: {status} {body}"))
                    }
                    Err(error) => self.errors.lock().unwrap().push(format!("{path}: {error}")),
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits until the loop has completed a few more requests (so a transition is exercised).
    fn settle(&self) {
        let target = self.requests.load(Ordering::SeqCst) + 20;
        wait("the request loop", || self.requests.load(Ordering::SeqCst) >= target);
    }

    fn saw(&self, port: u16, endpoint: &'static str, version: i64, tier: &str) -> bool {
        self.seen.lock().unwrap().contains_key(&(port, endpoint, version, tier.to_string()))
    }
}

#[test]
fn the_service_keeps_serving_through_publishes_outages_and_restarts() {
    // Servers of its own: this test stops and starts them.
    let Some(redis) = or_skip(Redis::start()) else { return };
    let Some(postgres) = or_skip(Postgres::start()) else { return };
    let (project, database, prefix) = Project::fresh(&redis.url(), &postgres, "e2e");
    project.publish_qa(1);
    let logs = tempfile::tempdir().unwrap();

    let first = Service::start(&redis.url(), &database, &prefix, &logs.path().join("first.log"));
    wait("v1 from Redis", || first.qa_prompt() == (1, "redis".into()));
    wait("the subscription", || first.health()["prompts"]["subscribed"] == json!(true));
    let health = first.health();
    assert_eq!(health["features"], json!({ "promptDatabase": true }), "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    let (traffic, looping) = Traffic::start(first.port);
    traffic.settle();

    // 1. Publish v2: served without a restart, typed rendering included.
    project.publish_qa(2);
    wait("v2 served", || traffic.saw(first.port, "qa", 2, "redis"));
    let (_, answer) = http(
        first.port,
        "POST",
        "/api/v1/agents/qa",
        Some(&json!({ "gameId": "tic-tac-toe", "query": "Who starts?" })),
    )
    .unwrap();
    assert_eq!(answer["prompt"]["version"], 2, "{answer}");
    let system = answer["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("rules assistant for Tic-Tac-Toe."), "{system}");
    assert!(system.contains("Answer style: concise."), "{system}");
    traffic.settle();

    // 2. Redis stops: still v2, health degraded on the Redis tier.
    redis.stop();
    wait("Redis down in /health", || {
        let health = first.health();
        health["prompts"]["tiers"]["redis"]["status"] == "down" && health["status"] == "degraded"
    });
    assert_eq!(first.qa_prompt().0, 2);
    traffic.settle();

    // 3. PostgreSQL stops too: the last known good text keeps serving.
    postgres.stop();
    wait("the database down in /health", || {
        first.health()["prompts"]["tiers"]["db"]["status"] == "down"
    });
    assert_eq!(first.qa_prompt().0, 2);
    traffic.settle();

    // 4. A restart with both down serves the embedded version (production's v1); the loop moves
    //    to the new process before the old one goes, as a rolling restart does.
    let second = Service::start(&redis.url(), &database, &prefix, &logs.path().join("second.log"));
    assert_eq!(second.qa_prompt(), (1, "embedded".into()));
    wait("both tiers down in /health", || {
        let health = second.health();
        let tiers = &health["prompts"]["tiers"];
        health["status"] == "degraded"
            && tiers["redis"]["status"] == "down"
            && tiers["db"]["status"] == "down"
    });
    traffic.port.store(second.port, Ordering::SeqCst);
    traffic.settle();
    drop(first);
    traffic.settle();
    assert!(traffic.saw(second.port, "qa", 1, "embedded"));

    // 5. Both come back (Redis empty): the service catches up with the store.
    redis.start_again();
    postgres.start_again();
    wait("v2 again", || traffic.saw(second.port, "qa", 2, "db"));
    wait("health ok", || second.health()["status"] == "ok");
    wait("the subscription again", || second.health()["prompts"]["subscribed"] == json!(true));
    // And follows the next activation through its notice.
    ok(promptctl(
        project.path(),
        &["rollback", "qa-system-prompt", "--to", "1", "--env", "production", "--reason", "test"],
    ));
    wait("the rollback", || traffic.saw(second.port, "qa", 1, "redis"));
    traffic.settle();

    traffic.stop.store(true, Ordering::SeqCst);
    looping.join().unwrap();
    let errors = traffic.errors.lock().unwrap().clone();
    let requests = traffic.requests.load(Ordering::SeqCst);
    assert!(
        errors.is_empty(),
        "{} of {requests} requests failed:\n{}\n--- first service\n{}\n--- second service\n{}",
        errors.len(),
        errors.join("\n"),
        std::fs::read_to_string(logs.path().join("first.log")).unwrap_or_default(),
        std::fs::read_to_string(logs.path().join("second.log")).unwrap_or_default()
    );
    let metrics = second.get("/metrics");
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("promptctl_runtime_hits_total{tier=\"redis\"}"), "{metrics}");
    assert!(metrics.contains("promptctl_runtime_refresh_seconds_bucket"), "{metrics}");
}

#[test]
fn the_rollback_runbook_with_redis_down_keeps_every_service_on_the_rolled_back_version() {
    // docs/deploy.md's runbook, with two services as processes under steady traffic: Redis goes
    // down, `rollback` exits 3, the services serve the rolled-back version from the database;
    // Redis comes back holding its old entry (as after a restart with persistence); `warm`
    // rewrites it and tells the services. No request fails and, after the rollback, none is
    // answered with the version rolled back.
    let Some(redis) = or_skip(Redis::start()) else { return };
    let Some(postgres) = shared_postgres() else { return };
    let (project, database, prefix) = Project::fresh(&redis.url(), postgres, "drill");
    project.publish_qa(1);
    project.publish_qa(2);
    let logs = tempfile::tempdir().unwrap();
    let services: Vec<Service> = ["a", "b"]
        .iter()
        .map(|name| {
            let log = logs.path().join(format!("{name}.log"));
            Service::start(&redis.url(), &database, &prefix, &log)
        })
        .collect();
    for service in &services {
        wait("v2 from Redis", || service.qa_prompt() == (2, "redis".into()));
        wait("the subscription", || service.health()["prompts"]["subscribed"] == json!(true));
    }
    let loops: Vec<_> = services.iter().map(|service| Traffic::start(service.port)).collect();
    for (traffic, _) in &loops {
        traffic.settle();
    }
    let stale = read_qa_cache(&redis.url(), &prefix);

    redis.stop();
    let rolled = promptctl(
        project.path(),
        &["rollback", "qa-system-prompt", "--env", "production", "--reason", "v2 is wrong"],
    );
    assert_eq!(rolled.code, 3, "the store rolled back, the cache could not: {}", rolled.stderr);
    assert!(rolled.stderr.contains("promptctl warm --env production"), "{}", rolled.stderr);
    for (service, (traffic, _)) in services.iter().zip(&loops) {
        wait("v1 from the database", || traffic.saw(service.port, "qa", 1, "db"));
        wait("the prompt endpoint on v1", || traffic.saw(service.port, "prompt", 1, "db"));
        // From here on, v2 must never be served again.
        traffic.seen.lock().unwrap().clear();
        traffic.settle();
    }

    redis.start_again();
    write_qa_cache(&mut redis_connection(&redis.url()), &prefix, &stale);
    for (service, (traffic, _)) in services.iter().zip(&loops) {
        wait("the resubscription", || {
            let health = service.health();
            health["prompts"]["subscribed"] == json!(true)
                && health["prompts"]["tiers"]["redis"]["status"] == "ok"
        });
        traffic.settle();
    }

    let warmed = Instant::now();
    let warm = ok(promptctl(project.path(), &["warm", "--env", "production"]));
    assert!(warm.stdout.contains("1 notices"), "{}", warm.stdout);
    for (service, (traffic, _)) in services.iter().zip(&loops) {
        wait("v1 from Redis", || traffic.saw(service.port, "qa", 1, "redis"));
    }
    eprintln!("after `warm`: every service answered v1 from Redis within {:?}", warmed.elapsed());
    for (traffic, _) in &loops {
        traffic.settle();
    }

    for ((traffic, looping), service) in loops.into_iter().zip(&services) {
        traffic.stop.store(true, Ordering::SeqCst);
        looping.join().unwrap();
        let errors = traffic.errors.lock().unwrap().clone();
        let requests = traffic.requests.load(Ordering::SeqCst);
        let log = |name: &str| {
            std::fs::read_to_string(logs.path().join(format!("{name}.log"))).unwrap_or_default()
        };
        assert!(
            errors.is_empty(),
            "{} of {requests} requests to :{} failed:\n{}\n--- a\n{}\n--- b\n{}",
            errors.len(),
            service.port,
            errors.join("\n"),
            log("a"),
            log("b")
        );
        let seen = traffic.seen.lock().unwrap().clone();
        assert!(
            seen.keys().all(|(_, _, version, _)| *version == 1),
            "after the rollback, only v1 is served: {seen:?}"
        );
    }
}

#[test]
fn an_idle_service_process_neither_reconnects_nor_rereads() {
    // The example service with a 150 ms heartbeat, idle for three and a half of them: its
    // subscription is never dropped, nothing is re-read, no error is counted.
    let Some((redis, postgres)) = servers_or_skip() else { return };
    let (project, database, prefix) = Project::fresh(&redis.url(), postgres, "idle");
    project.publish_qa(1);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("service.log");
    let heartbeat = Duration::from_millis(150);
    let service = Service::start_with(
        &redis.url(),
        &database,
        &prefix,
        &log,
        &[("PROMPTCTL_HEARTBEAT_MS", "150")],
    );
    wait("the subscription and the first read", || {
        let health = service.health();
        health["prompts"]["subscribed"] == json!(true)
            && health["prompts"]["counts"]["full_refreshes"].as_u64() >= Some(1)
    });
    let before = service.health()["prompts"]["counts"].clone();
    assert_eq!(before["subscriptions"], 1, "{before}");
    std::thread::sleep(heartbeat * 7 / 2);
    let health = service.health();
    assert_eq!(health["prompts"]["counts"], before, "idle: {health}");
    assert_eq!(health["prompts"]["tiers"]["redis"]["last_error"], Value::Null, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    project.publish_qa(2);
    wait("v2", || service.qa_prompt() == (2, "redis".into()));
    assert_eq!(service.health()["prompts"]["counts"]["subscriptions"], 1);
}

#[test]
fn a_service_process_survives_entries_too_deep_or_too_large() {
    // Cache entries the service must not trust, for the prompt it serves and for one it does not
    // even know: a template nesting 1,500 blocks once aborted the process (and every restart), a
    // 20 MB value was read whole. The process keeps serving the last good version.
    let Some((redis, postgres)) = servers_or_skip() else { return };
    let (project, database, prefix) = Project::fresh(&redis.url(), postgres, "deep");
    project.publish_qa(1);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("service.log");
    let service = Service::start(&redis.url(), &database, &prefix, &log);
    wait("v1 from Redis", || service.qa_prompt() == (1, "redis".into()));
    wait("the subscription", || service.health()["prompts"]["subscribed"] == json!(true));

    let mut connection = redis_connection(&redis.url());
    let key = |name: &str| format!("{prefix}{name}:active");
    let good: String =
        redis::cmd("GET").arg(key("qa-system-prompt")).query(&mut connection).unwrap();
    let good: Value = serde_json::from_str(&good).unwrap();
    let deep = format!("{}x{}", "{{#if a}}".repeat(1_500), "{{/if}}".repeat(1_500));
    let huge = "x".repeat(20 << 20);
    for (name, version, content) in
        [("zz-unknown", 1, &deep), ("qa-system-prompt", 9, &deep), ("qa-system-prompt", 8, &huge)]
    {
        let _: () = redis::cmd("SET")
            .arg(key(name))
            .arg(entry_with(&good, name, version, content))
            .query(&mut connection)
            .unwrap();
        notify(&mut connection, &prefix, name, version, &json!(""));
    }
    wait("the refusal of the huge entry", || {
        service.health()["prompts"]["integrity_refusals"].as_u64() >= Some(1)
    });
    // Still the same process, still answering, never with the refused entry.
    let (status, answer) = http(
        service.port,
        "POST",
        "/api/v1/agents/qa",
        Some(&json!({ "gameId": "chess", "query": "Can a pawn move backwards?" })),
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["prompt"]["version"], 1, "the last good version: {answer}");
    let health = service.health();
    assert_eq!(health["status"], "ok", "{health}");
    assert!(
        std::fs::read_to_string(&log).is_ok_and(|log| !log.contains("overflow")),
        "the service log"
    );
    // A good entry is taken again.
    project.publish_qa(2);
    wait("v2", || service.qa_prompt() == (2, "redis".into()));
}
