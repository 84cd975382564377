//! Canary rollouts end to end (docs/format.md "Canary rollouts", docs/runtime.md "Canary
//! assignment"): declared in prompt.toml and checked, published into real stores (SQLite and
//! PostgreSQL) with a real Redis, served by the runtime in proportion and sticky per key, changed
//! by `promptctl rollout` (share, abort, promote) and seen as drift by the next publish.

use crate::publish::{backends, expect, Backend, Deploy};
use promptctl::rollout::in_canary;
use promptctl::runtime::{Options, PromptStore, Source};
use std::time::{Duration, Instant};
use test_support::shared_redis;

fn rollout_manifest(activate: &str) -> String {
    format!(
        "description = \"Greets a user\"\n\n[activate]\n{activate}\nstaging = 2\n\n[[test]]\nname = \"greets\"\nvars = {{ name = \"Ada\" }}\ncontains = [\"Ada\"]\n"
    )
}

/// The share of `keys` the runtime serves v2 (the canary), and the keys it does.
fn served_canary(store: &PromptStore, keys: &[String]) -> (f64, Vec<bool>) {
    let served: Vec<bool> = keys
        .iter()
        .map(|key| store.get_for("greeter", key).expect("served").version == 2)
        .collect();
    let share = served.iter().filter(|in_canary| **in_canary).count() as f64 / keys.len() as f64;
    (share, served)
}

/// Waits until `check` holds for the runtime (the notice of a change reaches it), at most 10 s;
/// returns how long it took.
fn wait_for(store: &PromptStore, what: &str, check: impl Fn(&PromptStore) -> bool) -> Duration {
    let started = Instant::now();
    assert!(store.wait_until(Duration::from_secs(10), check), "timed out waiting for {what}");
    started.elapsed()
}

#[test]
fn a_canary_is_checked_published_served_sticky_changed_aborted_and_seen_as_drift() {
    let Some(redis) = shared_redis() else { return };
    let keys: Vec<String> = (0..20_000).map(|index| format!("user-{index}")).collect();
    for (backend, url) in backends() {
        let deploy = Deploy::new(&url, Some(&redis.url()), "");

        // Declared wrongly first: the canary is the stable version, then a missing version, then a
        // breaking contract (v3 requires a variable v1 callers do not pass).
        for (activate, code, needle) in [
            (
                "production = { version = 1, canary = 1, percent = 10 }",
                "structure/canary",
                "already serves",
            ),
            (
                "production = { version = 1, canary = 9, percent = 10 }",
                "structure/canary",
                "which does not exist",
            ),
            (
                "production = { version = 1, canary = 2, percent = 100.5 }",
                "syntax/toml",
                "not a share",
            ),
            (
                "production = { version = 1, canary = 2 }",
                "syntax/toml",
                "has a canary but no `percent`",
            ),
            (
                "production = { version = 1, canary = 3, percent = 10 }",
                "structure/canary-contract",
                "`title` added (required",
            ),
        ] {
            std::fs::write(
                deploy.path().join("prompts/greeter/v3.prompt"),
                "+++\nvariables.name = { type = \"string\", max_len = 100 }\nvariables.title = { type = \"string\" }\n+++\n{{title}} {{name}}!\n",
            )
            .unwrap();
            std::fs::write(
                deploy.path().join("prompts/greeter/prompt.toml"),
                rollout_manifest(activate),
            )
            .unwrap();
            let checked = deploy.run(&["check"]);
            expect(&checked, 1, &[code, needle]);
        }
        std::fs::remove_file(deploy.path().join("prompts/greeter/v3.prompt")).unwrap();

        // Declared at 10 %: check passes, review shows the rollout, publish stores it.
        deploy.change(
            &[(
                "prompts/greeter/prompt.toml",
                &rollout_manifest("production = { version = 1, canary = 2, percent = 10 }"),
            )],
            "canary v2 at 10 %",
        );
        expect(&deploy.run(&["check"]), 0, &[]);
        let review = deploy.run(&["review", "--base", "HEAD~1", "--format", "markdown"]);
        expect(
            &review,
            0,
            &[
                "- Rollout: **production**: no canary → v2 canary 10 % (stable v1)",
                "production (canary)",
                "Welcome, Ada!",
            ],
        );
        let published = deploy.run(&["publish", "--env", "production"]);
        expect(&published, 0, &["rollout greeter beside v1: no canary -> v2 canary 10 %"]);
        assert_eq!(
            deploy.active("greeter"),
            Some(1),
            "{backend:?}: the stable version keeps is_active"
        );
        let entry = deploy.cache_entry("greeter").expect("a cache entry");
        assert_eq!(entry["version"], 1);
        assert_eq!(entry["canary"]["version"], 2);
        assert_eq!(entry["canary"]["basis_points"], 1000);
        assert_eq!(entry["canary"]["sha256"], promptctl::text::sha256_hex("Welcome, {{name}}!\n"));

        // The runtime serves both, in proportion, sticky, the same choice as the specification.
        let options = Options {
            source: Source::Store,
            redis_url: Some(redis.url()),
            database_url: Some(url.clone()),
            key_prefix: deploy.prefix.clone(),
            reconnect_max: Duration::from_millis(200),
            degraded_poll: Duration::from_millis(200),
            ..Options::default()
        };
        let options = if backend == Backend::Sqlite {
            // A relative SQLite path is the project's: the runtime opens it from there.
            Options {
                database_url: Some(format!(
                    "sqlite:{}",
                    deploy.path().join(url.trim_start_matches("sqlite:")).display()
                )),
                ..options
            }
        } else {
            options
        };
        let store = PromptStore::start(&[], options);
        wait_for(&store, "the canary", |store| {
            store.get("greeter").is_some_and(|prompt| prompt.canary.is_some())
        });
        assert_eq!(store.get("greeter").unwrap().version, 1, "get serves the stable version");
        let (share, at_ten) = served_canary(&store, &keys);
        assert!((share - 0.10).abs() < 0.01, "{backend:?}: {share} served the 10 % canary");
        for (key, served) in keys.iter().zip(&at_ten) {
            assert_eq!(*served, in_canary("greeter", "1:2", key, 1000), "{key}");
        }
        assert_eq!(served_canary(&store, &keys).1, at_ten, "the same keys, the same versions");

        // `promptctl serve` answers `?key=` and renders `"key"` with the same choice.
        let log = deploy.path().join(".promptctl/serve.log");
        let serve = crate::serve::Serve::start(deploy.path(), &log, &["--env", "production"], &[]);
        // Until its first read of the store, serve has the repository's stable texts only.
        let canary_key =
            keys.iter().zip(&at_ten).find(|(_, in_canary)| **in_canary).expect("a key").0;
        let started = Instant::now();
        while !serve
            .get(&format!("/v1/prompts/greeter?key={canary_key}"))
            .body
            .contains("\"version\":2")
        {
            assert!(started.elapsed() < Duration::from_secs(10), "serve never read the canary");
            std::thread::sleep(Duration::from_millis(20));
        }
        for (key, in_canary) in keys.iter().zip(&at_ten).take(200) {
            let want = if *in_canary { 2 } else { 1 };
            let got = serve.get(&format!("/v1/prompts/greeter?key={key}"));
            let got: serde_json::Value = serde_json::from_str(&got.body).expect("JSON");
            assert_eq!(got["version"], want, "{key}");
            let rendered = serve.post(
                "/v1/prompts/greeter/render",
                &serde_json::json!({"vars": {"name": "Ada"}, "key": key}),
            );
            let rendered: serde_json::Value = serde_json::from_str(&rendered.body).expect("JSON");
            assert_eq!(rendered["version"], want, "{key}");
            let greeting = if *in_canary { "Welcome, Ada!\n" } else { "Hello, Ada!\n" };
            assert_eq!(rendered["text"], greeting, "{key}");
        }
        let without_key: serde_json::Value =
            serde_json::from_str(&serve.get("/v1/prompts/greeter").body).expect("JSON");
        assert_eq!(without_key["version"], 1);
        drop(serve);

        // Raised to 50 % without a bundle: every key of the 10 % is still in.
        let raised = deploy.run(&[
            "rollout",
            "greeter",
            "--env",
            "production",
            "--percent",
            "50",
            "--reason",
            "metrics look good",
        ]);
        expect(
            &raised,
            0,
            &["v1 with v2 canary 10 % -> v1 with v2 canary 50 % by tester: metrics look good"],
        );
        wait_for(&store, "50 %", |store| {
            store
                .get("greeter")
                .and_then(|p| p.canary.clone())
                .is_some_and(|c| c.basis_points == 5000)
        });
        let (share, at_fifty) = served_canary(&store, &keys);
        assert!((share - 0.50).abs() < 0.01, "{backend:?}: {share} served the 50 % canary");
        for ((key, ten), fifty) in keys.iter().zip(&at_ten).zip(&at_fifty) {
            assert!(!ten || *fifty, "{key} left the canary when it grew");
        }
        expect(
            &deploy.run(&[
                "rollout",
                "greeter",
                "--env",
                "production",
                "--percent",
                "50",
                "--reason",
                "again",
            ]),
            2,
            &["already served to 50 % of the keys"],
        );
        expect(
            &deploy.run(&[
                "rollout",
                "greeter",
                "--env",
                "production",
                "--percent",
                "12.345",
                "--reason",
                "x",
            ]),
            2,
            &["at most two decimals (12.345 % has 3)"],
        );

        // Aborted: everyone stable, within one notice.
        let aborted = deploy.run(&[
            "rollout",
            "greeter",
            "--env",
            "production",
            "--abort",
            "--reason",
            "complaints",
            "--format",
            "json",
        ]);
        expect(&aborted, 0, &["\"status\": \"rollout-aborted\""]);
        let took = wait_for(&store, "the abort", |store| {
            store.get("greeter").is_some_and(|prompt| prompt.canary.is_none())
        });
        println!("{backend:?}: abort served in {took:?}");
        assert_eq!(served_canary(&store, &keys).0, 0.0);
        expect(
            &deploy.run(&[
                "rollout",
                "greeter",
                "--env",
                "production",
                "--promote",
                "--reason",
                "x",
            ]),
            2,
            &["has no canary"],
        );

        // History and status say what happened; the next publish of the same declaration
        // would restart the canary the on-call aborted: refused as drift.
        let history = deploy.run(&["history", "greeter", "--env", "production"]);
        expect(&history, 0, &["abort", "rollout", "+ v2 canary 50 %", "+ v2 canary 10 %"]);
        let status = deploy.run(&["status", "--env", "production"]);
        expect(&status, 0, &["drift"]);
        deploy.change(
            &[(
                "prompts/farewell/prompt.toml",
                &crate::publish::manifest(1, 1, "Says goodbye politely"),
            )],
            "describe",
        );
        let refused = deploy.run(&["publish", "--env", "production"]);
        expect(
            &refused,
            2,
            &[
                "(drift)",
                "published v2 canary 10 %, served no canary",
                "canary aborted by tester: complaints",
            ],
        );

        // Declared again at 10 % and forced: the canary is back; promoted, v2 serves everyone.
        // `-q`: a successful publish prints nothing (its plan, cache line and table left out).
        let quiet = deploy.run(&["-q", "publish", "--env", "production", "--force"]);
        expect(&quiet, 0, &[]);
        assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));
        wait_for(&store, "the canary again", |store| {
            store.get("greeter").is_some_and(|prompt| prompt.canary.is_some())
        });
        let promoted = deploy.run(&[
            "rollout",
            "greeter",
            "--env",
            "production",
            "--promote",
            "--reason",
            "done",
        ]);
        expect(&promoted, 0, &["-> v2 with no canary"]);
        wait_for(&store, "the promotion", |store| {
            store
                .get("greeter")
                .is_some_and(|prompt| prompt.version == 2 && prompt.canary.is_none())
        });
        assert_eq!(deploy.active("greeter"), Some(2));
        drop(store);
    }
}
