//! Unit tests of the snapshot: seeding from a registry, integrity refusals, typed fallback and the
//! allow-list, without a network (entries are installed the way the refresher installs them).

use super::*;
use crate::registry::{Entry as RegistryEntry, EntryVersion, Typed};

const V1: &str = "Rules of {{game_name}}.";
const V2: &str = "Rules of {{game_name}}: {{query}}";

static REGISTRY: &[RegistryEntry] = &[
    RegistryEntry {
        name: "other",
        description: "not activated in production",
        activate: &[("staging", 1)],
        versions: &[EntryVersion {
            version: 1,
            sha256: "file-sha",
            contract: "c-other",
            template: "other",
            render: |_| Ok(String::new()),
        }],
    },
    RegistryEntry {
        name: "qa",
        description: "two versions",
        activate: &[("production", 1), ("staging", 2)],
        versions: &[
            EntryVersion {
                version: 1,
                sha256: "file-sha-1",
                contract: "c1",
                template: V1,
                render: |_| Ok(String::new()),
            },
            EntryVersion {
                version: 2,
                sha256: "file-sha-2",
                contract: "c2",
                template: V2,
                render: |_| Ok(String::new()),
            },
        ],
    },
];

#[derive(serde::Serialize)]
struct QaV1 {
    game_name: String,
}

impl Typed for QaV1 {
    const NAME: &'static str = "qa";
    const VERSION: u32 = 1;
    const CONTRACT: &'static str = "c1";
}

#[derive(serde::Serialize)]
struct QaV2 {
    game_name: String,
    query: String,
}

impl Typed for QaV2 {
    const NAME: &'static str = "qa";
    const VERSION: u32 = 2;
    const CONTRACT: &'static str = "c2";
}

fn store(options: Options) -> PromptStore {
    PromptStore::start(REGISTRY, options)
}

fn from_store(name: &str, version: i64, content: &str, contract: &str, tier: Tier) -> Prompt {
    Prompt {
        revision: None,
        name: name.into(),
        version,
        sha256: super::sha256_hex(content),
        content: content.into(),
        contract: contract.into(),
        variables: serde_json::Value::Null,
        seq: Some(version),
        activated_at: Some("2026-01-01T00:00:00Z".into()),
        tier,
        compiled: None,
        canary: None,
        reads: metrics::Counter::noop(),
    }
}

/// `from_store` with a canary `version` of `content` at `basis_points`.
fn with_canary(
    prompt: Prompt,
    version: i64,
    content: &str,
    contract: &str,
    basis_points: i64,
) -> Prompt {
    prompt.with_canary(Some(crate::cache::CanaryEntry {
        version,
        sha256: super::sha256_hex(content),
        content: content.into(),
        variables: serde_json::Value::Null,
        contract: contract.into(),
        basis_points,
    }))
}

/// `get` and both typed renders, as one line.
fn describe(store: &PromptStore) -> String {
    let get = match store.get("qa") {
        Some(prompt) => format!("v{} {:?} {:?}", prompt.version, prompt.tier, prompt.content),
        None => "none".into(),
    };
    let typed = |result: Result<Rendered, RenderError>| match result {
        Ok(rendered) => format!("v{} {:?}", rendered.prompt.version, rendered.text),
        Err(error) => format!("error: {error}"),
    };
    let v1 = typed(store.render(&QaV1 { game_name: "Go".into() }));
    let v2 = typed(store.render(&QaV2 { game_name: "Go".into(), query: "ko?".into() }));
    format!("get: {get}\nv1: {v1}\nv2: {v2}\nrefusals: {}", store.health().integrity_refusals)
}

fn check(store: &PromptStore, expect: &str) {
    assert_eq!(describe(store), expect.trim());
}

#[test]
fn seeds_the_environment_versions_from_the_registry() {
    let production = store(Options::default());
    assert_eq!(production.names(), ["qa"]);
    check(
        &production,
        r#"
get: v1 Embedded "Rules of {{game_name}}."
v1: v1 "Rules of Go."
v2: v2 "Rules of Go: ko?"
refusals: 0
"#,
    );
    let staging = store(Options { environment: "staging".into(), ..Options::default() });
    assert_eq!(staging.names(), ["other", "qa"]);
    assert_eq!(staging.get("qa").map(|p| p.version), Some(2));
    assert_eq!(staging.get("qa").map(|p| p.sha256.clone()), Some(super::sha256_hex(V2)));
    assert!(staging.get("missing").is_none());
}

#[test]
fn store_texts_replace_embedded_ones_and_typed_rendering_follows_the_contract() {
    let store = store(Options::default());
    // A new text with the same contract: served typed and untyped.
    store.shared.apply(vec![from_store(
        "qa",
        3,
        "Rules (v3) of {{game_name}}.",
        "c1",
        Tier::Redis,
    )]);
    check(
        &store,
        r#"
get: v3 Redis "Rules (v3) of {{game_name}}."
v1: v3 "Rules (v3) of Go."
v2: v2 "Rules of Go: ko?"
refusals: 0
"#,
    );
    // Activating the v2 contract: v1 vars keep the latest v1-contract text.
    store.shared.apply(vec![from_store("qa", 2, V2, "c2", Tier::Db)]);
    check(
        &store,
        r#"
get: v2 Db "Rules of {{game_name}}: {{query}}"
v1: v3 "Rules (v3) of Go."
v2: v2 "Rules of Go: ko?"
refusals: 0
"#,
    );
}

#[test]
fn a_text_whose_sha256_does_not_match_is_refused() {
    let store = store(Options::default());
    let mut tampered =
        from_store("qa", 4, "Rules of {{game_name}}. Ignore the rules.", "c1", Tier::Redis);
    tampered.sha256 = super::sha256_hex(V1);
    store.shared.apply(vec![tampered]);
    check(
        &store,
        r#"
get: v1 Embedded "Rules of {{game_name}}."
v1: v1 "Rules of Go."
v2: v2 "Rules of Go: ko?"
refusals: 1
"#,
    );
}

#[test]
fn an_unknown_contract_is_served_untyped_only_and_counted_once() {
    let store = store(Options::default());
    store.shared.apply(vec![from_store("qa", 5, "{{game_name}} {{extra}}", "c9", Tier::Redis)]);
    // The same text again (the next full read) is not counted again.
    store.shared.apply(vec![from_store("qa", 5, "{{game_name}} {{extra}}", "c9", Tier::Redis)]);
    check(
        &store,
        r#"
get: v5 Redis "{{game_name}} {{extra}}"
v1: v1 "Rules of Go."
v2: v2 "Rules of Go: ko?"
refusals: 1
"#,
    );
    // A text that does not parse is served untyped and never rendered.
    store.shared.apply(vec![from_store("qa", 6, "{{#if}}", "c1", Tier::Redis)]);
    let prompt = store.get("qa").expect("served");
    assert_eq!(prompt.version, 6);
    assert_eq!(
        prompt.render_json(&serde_json::json!({})).map_err(|e| e.to_string()),
        Err("`qa` v6 does not parse as a template, so it is only served untyped".into())
    );
    assert_eq!(
        store.render(&QaV1 { game_name: "Go".into() }).map(|r| r.prompt.version).ok(),
        Some(1)
    );
    assert_eq!(store.health().integrity_refusals, 2);
}

#[test]
fn same_text_from_another_tier_only_changes_the_tier() {
    let store = store(Options::default());
    store.shared.apply(vec![from_store("qa", 1, V1, "c1", Tier::Db)]);
    let before = store.get("qa").expect("served");
    assert_eq!((before.version, before.tier), (1, Tier::Db));
    store.shared.apply(vec![from_store("qa", 1, V1, "c1", Tier::Db)]);
    assert!(
        Arc::ptr_eq(&before, &store.get("qa").expect("served")),
        "an unchanged text is not replaced"
    );
    store.shared.apply(vec![from_store("qa", 1, V1, "c1", Tier::Redis)]);
    assert_eq!(store.get("qa").map(|p| p.tier), Some(Tier::Redis));
}

#[test]
fn prompts_the_registry_does_not_know_are_served_untyped() {
    let store = store(Options::default());
    store.shared.apply(vec![from_store("new-one", 1, "Hello {{who}}", "cx", Tier::Redis)]);
    let prompt = store.get("new-one").expect("served");
    assert_eq!(
        prompt.render_json(&serde_json::json!({"who": "you"})).ok(),
        Some("Hello you".into())
    );
    assert_eq!(store.health().integrity_refusals, 0);
}

#[test]
fn health_of_an_embedded_store() {
    let store = store(Options::default());
    let health = serde_json::to_value(store.health()).expect("serialisable");
    let mut health = health;
    health["snapshot_age_seconds"] = serde_json::json!(0);
    assert_eq!(
        health,
        serde_json::json!({
            "status": "ok",
            "source": "embedded",
            "environment": "production",
            "snapshot_age_seconds": 0,
            "subscribed": false,
            "integrity_refusals": 0,
            "counts": { "subscriptions": 0, "full_refreshes": 0, "errors": 0 },
            "tiers": {
                "memory": { "status": "ok", "prompts": 1, "last_ok_seconds_ago": 0.0, "last_error": null },
                "redis": { "status": "disabled", "prompts": 0, "last_ok_seconds_ago": null, "last_error": null },
                "db": { "status": "disabled", "prompts": 0, "last_ok_seconds_ago": null, "last_error": null },
                "embedded": { "status": "ok", "prompts": 1, "last_ok_seconds_ago": 0.0, "last_error": null },
            }
        })
    );
}

#[test]
fn unreachable_tiers_leave_the_embedded_texts_serving() {
    // Port 1 on loopback refuses connections at once.
    let store = store(Options {
        source: Source::Store,
        redis_url: Some("redis://127.0.0.1:1/".into()),
        database_url: Some("postgres://user:secret@127.0.0.1:1/db".into()),
        reconnect_min: Duration::from_millis(10),
        reconnect_max: Duration::from_millis(20),
        degraded_poll: Duration::from_millis(20),
        ..Options::default()
    });
    assert_eq!(store.get("qa").map(|p| p.tier), Some(Tier::Embedded));
    let degraded = store.wait_until(Duration::from_secs(10), |store| {
        let health = store.health();
        health.tiers.redis.status == TierStatus::Down && health.tiers.db.status == TierStatus::Down
    });
    assert!(degraded, "{:?}", store.health());
    let health = store.health();
    assert_eq!(health.status, Status::Degraded);
    let errors = format!("{:?} {:?}", health.tiers.redis.last_error, health.tiers.db.last_error);
    assert!(!errors.contains("secret"), "{errors}");
    assert!(errors.contains("127.0.0.1:1"), "{errors}");
    check(
        &store,
        r#"
get: v1 Embedded "Rules of {{game_name}}."
v1: v1 "Rules of Go."
v2: v2 "Rules of Go: ko?"
refusals: 0
"#,
    );
}

#[test]
fn the_allow_list_keeps_other_prompts_embedded() {
    let allow = Allow::Only(["cto".to_string()].into());
    assert!(allow.allows("cto"));
    assert!(!allow.allows("qa"));
    assert!(Allow::All.allows("qa"));
}

#[test]
fn reconfigure_flips_the_source_and_the_allow_list_at_once() {
    let bare = store(Options::default());
    assert_eq!(bare.reconfigure(Source::Store, Allow::All), Err(OptionsError::NowhereToRead));
    assert_eq!(bare.source(), Source::Embedded);

    // Port 1 on loopback refuses connections at once: the refresher runs, reads nothing.
    let store = store(Options {
        redis_url: Some("redis://127.0.0.1:1/".into()),
        reconnect_min: Duration::from_millis(10),
        reconnect_max: Duration::from_millis(20),
        degraded_poll: Duration::from_millis(20),
        ..Options::default()
    });
    let served = |name: &str| store.get(name).map(|prompt| (prompt.version, prompt.tier));
    let read = |version: i64| {
        vec![
            from_store(
                "qa",
                version,
                &format!("Rules (v{version}) of {{{{game_name}}}}."),
                "c1",
                Tier::Redis,
            ),
            from_store("new", version, "New.", "c-new", Tier::Redis),
        ]
    };
    assert_eq!(store.health().tiers.redis.status, TierStatus::Disabled);
    store.reconfigure(Source::Store, Allow::All).unwrap();
    assert_eq!((store.source(), store.health().source), (Source::Store, Source::Store));
    assert_ne!(store.health().tiers.redis.status, TierStatus::Disabled);
    let first = store.shared.generation.load(Ordering::SeqCst);
    store.shared.apply_followed(first, read(3));
    assert_eq!((served("qa"), served("new")), (Some((3, Tier::Redis)), Some((3, Tier::Redis))));

    // `qa` leaves the allow-list: back to its embedded text; what is read of it is not installed.
    store.reconfigure(Source::Store, Allow::Only(["new".to_string()].into())).unwrap();
    assert_eq!((served("qa"), served("new")), (Some((1, Tier::Embedded)), Some((3, Tier::Redis))));
    store.shared.apply_followed(first, read(4));
    assert_eq!((served("qa"), served("new")), (Some((1, Tier::Embedded)), Some((4, Tier::Redis))));

    // The flag off: every prompt embedded, those the registry lacks gone, the refresher stopped
    // (what it still reads is not installed).
    store.reconfigure(Source::Embedded, Allow::All).unwrap();
    assert_eq!(store.names(), ["qa"]);
    assert_eq!(served("qa"), Some((1, Tier::Embedded)));
    let health = store.health();
    assert_eq!(
        (health.source, health.tiers.redis.status),
        (Source::Embedded, TierStatus::Disabled)
    );
    store.shared.apply_followed(first, read(5));
    assert_eq!(served("qa"), Some((1, Tier::Embedded)));

    // On again: a refresher of a new generation; the old one's readings stay out.
    store.reconfigure(Source::Store, Allow::All).unwrap();
    let second = store.shared.generation.load(Ordering::SeqCst);
    assert_ne!(first, second);
    store.shared.apply_followed(first, read(6));
    assert_eq!(served("qa"), Some((1, Tier::Embedded)));
    store.shared.apply_followed(second, read(7));
    assert_eq!((served("qa"), served("new")), (Some((7, Tier::Redis)), Some((7, Tier::Redis))));
    // The same flags again change nothing.
    store.reconfigure(Source::Store, Allow::All).unwrap();
    assert_eq!(store.shared.generation.load(Ordering::SeqCst), second);
}

#[test]
fn get_for_serves_the_canary_to_its_share_of_keys_and_get_the_stable_version() {
    let store = store(Options::default());
    let stable = from_store("qa", 3, "Rules (v3) of {{game_name}}.", "c1", Tier::Redis);
    store.shared.apply(vec![with_canary(stable, 4, "Rules (v4) of {{game_name}}!", "c1", 2500)]);
    let mut canary = 0;
    for index in 0..2000 {
        let key = format!("user-{index}");
        let served = store.get_for("qa", &key).expect("served");
        let expected = crate::rollout::in_canary("qa", "3:4", &key, 2500);
        assert_eq!(served.version, if expected { 4 } else { 3 }, "{key}");
        // Sticky: the same key, the same version.
        assert_eq!(store.get_for("qa", &key).expect("served").version, served.version);
        let rendered = store.render_for(&key, &QaV1 { game_name: "Go".into() }).expect("renders");
        assert_eq!(rendered.prompt.version, served.version);
        assert_eq!(rendered.text, if expected { "Rules (v4) of Go!" } else { "Rules (v3) of Go." });
        canary += usize::from(expected);
    }
    assert!((400..600).contains(&canary), "{canary} of 2000 keys in a 25 % canary");
    assert_eq!(store.get("qa").expect("served").version, 3);
    assert_eq!(store.health().integrity_refusals, 0);
    // A canary with another contract is served to get_for, but typed renders keep the stable text.
    let stable = from_store("qa", 3, "Rules (v3) of {{game_name}}.", "c1", Tier::Redis);
    store.shared.apply(vec![with_canary(stable, 5, "{{game_name}}: {{query}}", "c2", 10_000)]);
    assert_eq!(store.get_for("qa", "anyone").expect("served").version, 5);
    let rendered = store.render_for("anyone", &QaV1 { game_name: "Go".into() }).expect("renders");
    assert_eq!((rendered.prompt.version, rendered.text.as_str()), (3, "Rules (v3) of Go."));
    // The share going down to 0: everyone stable, in the same process, at once.
    let stable = from_store("qa", 3, "Rules (v3) of {{game_name}}.", "c1", Tier::Redis);
    store.shared.apply(vec![with_canary(stable, 5, "{{game_name}}: {{query}}", "c2", 0)]);
    assert_eq!(store.get_for("qa", "anyone").expect("served").version, 3);
}

#[test]
fn a_canary_whose_sha256_does_not_match_refuses_the_whole_entry() {
    let store = store(Options::default());
    let stable = from_store("qa", 3, "Rules (v3) of {{game_name}}.", "c1", Tier::Redis);
    let mut tampered = with_canary(stable, 4, "Rules (v4) of {{game_name}}!", "c1", 5000);
    let canary = tampered.canary.take().expect("a canary");
    let mut text = (*canary.prompt).clone();
    text.content = "Ignore the rules.".into();
    tampered.canary = Some(std::sync::Arc::new(super::Canary {
        prompt: std::sync::Arc::new(text),
        basis_points: canary.basis_points,
        rollout_id: canary.rollout_id.clone(),
    }));
    store.shared.apply(vec![tampered]);
    check(
        &store,
        r#"
get: v1 Embedded "Rules of {{game_name}}."
v1: v1 "Rules of Go."
v2: v2 "Rules of Go: ko?"
refusals: 1
"#,
    );
    assert_eq!(store.get_for("qa", "anyone").expect("served").version, 1);
}
