//! Redis over TLS with ACL users (src/redis_target.rs), against real redis-servers with a TLS-only
//! port and certificates generated in the test (`test_support::tls`): publish, status, rollback and
//! the runtime's subscription through `rediss://user:password@…`; a wrong CA, a wrong host name and
//! a wrong password refused with an error that names the host and the reason; the insecure opt-in
//! announced; and no password in any output.

use crate::support::{Repo, Run};
use promptctl::runtime::{Options, PromptStore, Source, Tier};
use std::path::Path;
use std::time::{Duration, Instant};
use test_support::tls::certs;
use test_support::{git_at, or_skip, unique, Redis, TlsServer};

const PASSWORD: &str = "s3cret-Pass-7";
const USERS: [&str; 2] = ["default off", "alice on >s3cret-Pass-7 ~* &* +@all"];
const WAIT: Duration = Duration::from_secs(60);

fn tls_redis(misnamed: bool) -> Option<Redis> {
    let certs = certs();
    let (cert, key) = if misnamed {
        (&certs.misnamed_cert, &certs.misnamed_key)
    } else {
        (&certs.server_cert, &certs.server_key)
    };
    or_skip(Redis::start_tls(&TlsServer { cert, key, ca: &certs.ca }, &USERS))
}

/// `rediss://alice:PASSWORD@127.0.0.1:port/`.
fn alice_url(redis: &Redis, password: &str) -> String {
    format!("rediss://alice:{password}@127.0.0.1:{}/", redis.port)
}

pub(crate) fn run(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec![("PROMPTCTL_ACTOR", "tester")];
    all.extend_from_slice(env);
    crate::support::run_isolated(root, args, &all)
}

#[track_caller]
pub(crate) fn expect(run: &Run, code: i32, needles: &[&str]) {
    let all = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", run.stdout, run.stderr);
    for needle in needles {
        assert!(all.contains(needle), "missing `{needle}` in\n{all}");
    }
    assert!(!all.contains(PASSWORD), "the password is printed:\n{all}");
}

pub(crate) fn manifest(production: u32) -> String {
    format!(
        "description = \"Greets a user\"\n\n[activate]\nproduction = {production}\n\n[[test]]\nname = \"greets\"\nvars = {{ name = \"Ada\" }}\ncontains = [\"Ada\"]\n"
    )
}

pub(crate) fn version(greeting: &str) -> String {
    format!("+++\nvariables.name = {{ type = \"string\", max_len = 100 }}\n+++\n{greeting}, {{{{name}}}}!\n")
}

/// A committed, built project (`greeter` v1 and v2, v1 active; `farewell` v1) publishing to a SQLite store with
/// the cache at `redis_url` under a prefix of its own.
pub(crate) fn project(redis_url: &str) -> (Repo, String) {
    let prefix = format!("{}:", unique("tls"));
    let config = format!(
        "prompts_dir = \"prompts\"\nlock_file = \"prompts.lock\"\n\n[signing]\npublic_keys = [\"keys/promptctl.pub\"]\n\n[cache]\nkey_prefix = \"{prefix}\"\nttl_seconds = 600\n\n[environments.production]\ndatabase = \"sqlite:store.sqlite3\"\nredis = \"{redis_url}\"\n"
    );
    let repo = Repo::new(&[("promptctl.toml", config.as_str())]);
    repo.write(".gitignore", ".promptctl/\nstore.sqlite3*\n");
    repo.write("prompts/greeter/prompt.toml", &manifest(1));
    repo.write("prompts/greeter/v1.prompt", &version("Hello"));
    repo.write("prompts/greeter/v2.prompt", &version("Welcome"));
    repo.write("prompts/farewell/prompt.toml", &manifest(1));
    repo.write("prompts/farewell/v1.prompt", &version("Goodbye"));
    expect(&run(repo.path(), &["keygen"], &[]), 0, &[]);
    expect(&run(repo.path(), &["lock"], &[]), 0, &[]);
    git_at(repo.path(), None, &["init", "-q"]);
    commit(&repo, "prompts");
    build(&repo);
    (repo, prefix)
}

pub(crate) fn commit(repo: &Repo, message: &str) {
    git_at(repo.path(), Some("2001-02-03T04:05:06Z"), &["add", "-A"]);
    git_at(repo.path(), Some("2001-02-03T04:05:06Z"), &["commit", "-q", "-m", message]);
}

pub(crate) fn build(repo: &Repo) {
    expect(&run(repo.path(), &["build", "--key", ".promptctl/keys/promptctl.key"], &[]), 0, &[]);
}

pub(crate) fn wait(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn runtime_options(url: &str, prefix: &str, ca: Option<&Path>) -> Options {
    Options {
        source: Source::Store,
        redis_url: Some(url.to_string()),
        redis_ca: ca.map(Path::to_path_buf),
        key_prefix: prefix.to_string(),
        reconnect_max: Duration::from_millis(200),
        degraded_poll: Duration::from_millis(200),
        ..Options::default()
    }
}

pub(crate) fn served(store: &PromptStore) -> Option<(i64, Tier)> {
    store.get("greeter").map(|prompt| (prompt.version, prompt.tier))
}

#[test]
fn publish_status_rollback_and_the_runtime_work_over_tls_with_an_acl_user() {
    let Some(redis) = tls_redis(false) else { return };
    let url = alice_url(&redis, PASSWORD);
    let (repo, prefix) = project(&url);
    let ca = certs().ca.display().to_string();
    let shown = format!("rediss://alice:***@127.0.0.1:{}/", redis.port);

    let published = run(repo.path(), &["publish", "--env", "production", "--redis-ca", &ca], &[]);
    expect(&published, 0, &[&format!("cache {shown}")]);

    // The runtime subscribes as alice over TLS (the default user is off: an unauthenticated
    // subscription would fail).
    let store = PromptStore::start(&[], runtime_options(&url, &prefix, Some(&certs().ca)));
    wait("the first load", || served(&store) == Some((1, Tier::Redis)));
    wait("the subscription", || store.health().subscribed);

    repo.write("prompts/greeter/prompt.toml", &manifest(2));
    expect(&run(repo.path(), &["lock"], &[]), 0, &[]);
    commit(&repo, "serve v2");
    build(&repo);
    // The CA from the environment variable, as a deploy job sets it.
    let published =
        run(repo.path(), &["publish", "--env", "production"], &[("PROMPTCTL_REDIS_CA", &ca)]);
    expect(&published, 0, &[&format!("cache {shown}")]);
    wait("v2 through the notice", || served(&store) == Some((2, Tier::Redis)));

    let status = run(repo.path(), &["status", "--env", "production", "--redis-ca", &ca], &[]);
    expect(&status, 0, &["greeter"]);
    assert!(!status.stdout.contains("cannot reach"), "{}", status.stdout);

    let rolled = run(
        repo.path(),
        &["rollback", "greeter", "--env", "production", "--reason", "tls test", "--redis-ca", &ca],
        &[],
    );
    expect(&rolled, 0, &["rolled back `greeter`", &format!("cache {shown}")]);
    wait("the rollback through the notice", || served(&store) == Some((1, Tier::Redis)));
    let health = store.health();
    assert_eq!(health.tiers.redis.last_error, None);
    assert_eq!(health.counts.subscriptions, 1, "{:?}", health.counts);
}

#[test]
fn a_wrong_ca_is_refused_naming_the_host_and_the_reason() {
    let Some(redis) = tls_redis(false) else { return };
    let url = alice_url(&redis, PASSWORD);
    let (repo, prefix) = project(&url);
    let host = format!("127.0.0.1:{}", redis.port);
    let other = certs().other_ca.display().to_string();
    let published =
        run(repo.path(), &["publish", "--env", "production", "--redis-ca", &other], &[]);
    expect(&published, 3, &[&host, "not signed by a trusted CA"]);
    // Without a CA file, the system's roots do not know the test CA either.
    let published = run(repo.path(), &["publish", "--env", "production"], &[]);
    expect(&published, 3, &[&host, "not signed by a trusted CA"]);

    let store = PromptStore::start(&[], runtime_options(&url, &prefix, Some(&certs().other_ca)));
    wait("the refusal", || store.health().tiers.redis.last_error.is_some());
    let error = store.health().tiers.redis.last_error.unwrap();
    assert!(error.contains(&host) && error.contains("not signed by a trusted CA"), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");
    assert!(!store.health().subscribed);
}

#[test]
fn a_wrong_host_name_is_refused_and_the_insecure_opt_in_is_a_warning() {
    let Some(redis) = tls_redis(true) else { return };
    let url = alice_url(&redis, PASSWORD);
    let (repo, prefix) = project(&url);
    let host = format!("127.0.0.1:{}", redis.port);
    let ca = certs().ca.display().to_string();
    let published = run(repo.path(), &["publish", "--env", "production", "--redis-ca", &ca], &[]);
    expect(&published, 3, &[&host, "not issued for this host name"]);

    let store = PromptStore::start(&[], runtime_options(&url, &prefix, Some(&certs().ca)));
    wait("the refusal", || store.health().tiers.redis.last_error.is_some());
    let error = store.health().tiers.redis.last_error.unwrap();
    assert!(error.contains(&host) && error.contains("not issued for this host name"), "{error}");
    drop(store);

    // Not checking the certificate is an explicit opt-in, printed as a warning.
    let warm = run(repo.path(), &["warm", "--env", "production", "--redis-insecure"], &[]);
    expect(&warm, 0, &["warning: --redis-insecure", "not checked"]);
    let options =
        Options { redis_insecure: true, ..runtime_options(&url, &prefix, Some(&certs().ca)) };
    let store = PromptStore::start(&[], options);
    wait("the first load", || served(&store) == Some((1, Tier::Redis)));
}

#[test]
fn a_wrong_password_is_refused_without_printing_it() {
    let Some(redis) = tls_redis(false) else { return };
    let wrong = "Not-the-s3cret-9";
    let url = alice_url(&redis, wrong);
    let (repo, prefix) = project(&url);
    let ca = certs().ca.display().to_string();
    let published = run(repo.path(), &["publish", "--env", "production", "--redis-ca", &ca], &[]);
    expect(&published, 3, &[&format!("rediss://alice:***@127.0.0.1:{}/", redis.port)]);
    let all = format!("{}{}", published.stdout, published.stderr);
    assert!(!all.contains(wrong), "{all}");
    assert!(all.contains("the user name or password is refused"), "{all}");

    let store = PromptStore::start(&[], runtime_options(&url, &prefix, Some(&certs().ca)));
    wait("the refusal", || store.health().tiers.redis.last_error.is_some());
    let error = store.health().tiers.redis.last_error.unwrap();
    assert!(error.contains("the user name or password is refused"), "{error}");
    assert!(!error.contains(wrong), "{error}");
}

#[test]
fn an_acl_user_without_tls_reads_and_subscribes() {
    let Some(redis) = or_skip(Redis::start_with_users(&USERS)) else { return };
    let url = format!("redis://alice:{PASSWORD}@127.0.0.1:{}/", redis.port);
    let (repo, prefix) = project(&url);
    let published = run(repo.path(), &["publish", "--env", "production"], &[]);
    expect(&published, 0, &[&format!("cache redis://alice:***@127.0.0.1:{}/", redis.port)]);
    let store = PromptStore::start(&[], runtime_options(&url, &prefix, None));
    wait("the first load", || served(&store) == Some((1, Tier::Redis)));
    wait("the subscription", || store.health().subscribed);
    let rolled = run(
        repo.path(),
        &["rollback", "greeter", "--env", "production", "--to", "2", "--reason", "acl test"],
        &[],
    );
    expect(&rolled, 0, &["rolled back `greeter`"]);
    wait("v2 through the notice", || served(&store) == Some((2, Tier::Redis)));
}
