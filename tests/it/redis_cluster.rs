//! The distributed Redis engines (src/redis_target.rs) against real ones, each shared by the tests
//! of this process: a Redis Cluster (`redis+cluster://`; three primaries and their replicas,
//! `test_support::shared_cluster`) and Redis Sentinel (`redis+sentinel://`; a primary, a replica
//! and three sentinels, `test_support::shared_sentinel`). publish, warm, status and rollback write
//! and read across slots; the runtime reads every primary and hears the notices on the node it
//! subscribed to; a primary failed over during a running service loses no request.

use crate::redis_tls::{
    build, commit, expect, manifest, project, run, runtime_options, served, wait,
};
use promptctl::runtime::{PromptStore, Tier};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use test_support::{shared_cluster, shared_sentinel};

#[test]
fn publish_warm_status_rollback_and_the_runtime_work_across_slots() {
    let Some(cluster) = shared_cluster() else { return };
    let url = cluster.url();
    let (repo, prefix) = project(&url);
    let published = run(repo.path(), &["publish", "--env", "production"], &[]);
    expect(&published, 0, &[&format!("cache {url}")]);

    let store = PromptStore::start(&[], runtime_options(&url, &prefix, None));
    wait("the first load", || served(&store) == Some((1, Tier::Redis)));
    wait("farewell", || store.get("farewell").is_some_and(|prompt| prompt.tier == Tier::Redis));
    wait("the subscription", || store.health().subscribed);

    repo.write("prompts/greeter/prompt.toml", &manifest(2));
    expect(&run(repo.path(), &["lock"], &[]), 0, &[]);
    commit(&repo, "serve v2");
    build(&repo);
    expect(&run(repo.path(), &["publish", "--env", "production"], &[]), 0, &[]);
    wait("v2 through the notice", || served(&store) == Some((2, Tier::Redis)));

    let status = run(repo.path(), &["status", "--env", "production"], &[]);
    expect(&status, 0, &["greeter", "farewell"]);
    assert!(!status.stdout.contains("missing"), "{}", status.stdout);
    let warmed = run(repo.path(), &["warm", "--env", "production"], &[]);
    expect(&warmed, 0, &[]);

    let rolled = run(
        repo.path(),
        &["rollback", "greeter", "--env", "production", "--reason", "cluster test"],
        &[],
    );
    expect(&rolled, 0, &["rolled back `greeter`", &format!("cache {url}")]);
    wait("the rollback through the notice", || served(&store) == Some((1, Tier::Redis)));
    assert_eq!(store.health().tiers.redis.last_error, None);
}

#[test]
fn a_primary_failed_over_during_a_running_service_loses_no_request() {
    let Some(cluster) = shared_cluster() else { return };
    failover_during_a_running_service("cluster", &cluster.url(), |prefix| {
        let new_primary = cluster.failover(&format!("{prefix}greeter:active"));
        assert!(cluster.primaries().contains(&new_primary));
    });
}

#[test]
fn publish_status_rollback_and_the_runtime_work_through_sentinel() {
    let Some(sentinel) = shared_sentinel() else { return };
    let url = sentinel.url();
    let (repo, prefix) = project(&url);
    let published = run(repo.path(), &["publish", "--env", "production"], &[]);
    expect(&published, 0, &[&format!("cache {url}")]);
    let store = PromptStore::start(&[], runtime_options(&url, &prefix, None));
    wait("the first load", || served(&store) == Some((1, Tier::Redis)));
    wait("the subscription", || store.health().subscribed);
    let status = run(repo.path(), &["status", "--env", "production"], &[]);
    expect(&status, 0, &["greeter", "farewell"]);
    expect(&run(repo.path(), &["warm", "--env", "production"], &[]), 0, &[]);
    let rolled = run(
        repo.path(),
        &["rollback", "greeter", "--env", "production", "--to", "2", "--reason", "sentinel test"],
        &[],
    );
    expect(&rolled, 0, &["rolled back `greeter`", &format!("cache {url}")]);
    wait("v2 through the notice", || served(&store) == Some((2, Tier::Redis)));
}

#[test]
fn a_sentinel_failover_during_a_running_service_loses_no_request() {
    let Some(sentinel) = shared_sentinel() else { return };
    failover_during_a_running_service("sentinel", &sentinel.url(), |_| {
        let before = sentinel.primary_port();
        let after = sentinel.failover();
        assert_ne!(Some(after), before);
    });
}

/// Publishes v1, serves it from a running store under a steady request loop, runs `failover`,
/// publishes v2 and waits until it is served; no request may fail.
fn failover_during_a_running_service(what: &str, url: &str, failover: impl FnOnce(&str)) {
    let (repo, prefix) = project(url);
    expect(&run(repo.path(), &["publish", "--env", "production"], &[]), 0, &[]);
    let store = Arc::new(PromptStore::start(&[], runtime_options(url, &prefix, None)));
    wait("the first load", || served(&store) == Some((1, Tier::Redis)));
    wait("the subscription", || store.health().subscribed);

    // A steady request loop: every request must be served.
    let stop = Arc::new(AtomicBool::new(false));
    let (requests, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let looping = {
        let (store, stop, requests, failed) =
            (store.clone(), stop.clone(), requests.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                requests.fetch_add(1, Ordering::Relaxed);
                let served = store.get("greeter").and_then(|prompt| {
                    prompt.render_json(&serde_json::json!({ "name": "Ada" })).ok()
                });
                if !served.is_some_and(|text| text.contains("Ada")) {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };

    failover(&prefix);
    repo.write("prompts/greeter/prompt.toml", &manifest(2));
    expect(&run(repo.path(), &["lock"], &[]), 0, &[]);
    commit(&repo, "serve v2");
    build(&repo);
    let started = Instant::now();
    expect(&run(repo.path(), &["publish", "--env", "production"], &[]), 0, &[]);
    wait("v2 after the failover", || served(&store) == Some((2, Tier::Redis)));
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    looping.join().expect("the request loop");
    let (requests, failed) = (requests.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    // Reported, not asserted (timings belong in `cargo xtask bench`).
    eprintln!(
        "{what} failover: {requests} requests, {failed} failed; v2 served {elapsed:?} after the publish started"
    );
    assert_eq!(failed, 0, "{failed} of {requests} requests failed");
    assert!(requests > 0);
}
