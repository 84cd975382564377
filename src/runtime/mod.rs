//! The runtime client (docs/runtime.md): `PromptStore` serves every active prompt from an in-memory
//! snapshot that readers load without a lock, seeded from the generated registry and kept up to
//! date by one background thread (`refresh`) that follows Redis and the database. Nothing a
//! request calls (`get`, `render`, `health`) waits on the network or on the refresher.
#![warn(missing_docs)]

mod canary;
mod observe;
mod options;
mod refresh;
mod reload;

pub use canary::Canary;
pub use observe::TARGET as LOG_TARGET;
pub use options::{variables, Allow, Options, OptionsError, Source};

use crate::registry::{Entry as RegistryEntry, Typed};
use crate::render::Compiled;
use crate::text::sha256_hex;
use arc_swap::ArcSwap;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Where the text a prompt serves came from. Every read is served from memory; the tier says
/// which source filled that memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The Redis cache entry (`{prefix}{name}:active`).
    Redis,
    /// The store's active row, read when Redis has no usable entry.
    Db,
    /// The text compiled into the application by the generated registry.
    Embedded,
}

impl Tier {
    /// The name used in JSON, metrics labels and logs (`redis`, `db`, `embedded`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Redis => "redis",
            Tier::Db => "db",
            Tier::Embedded => "embedded",
        }
    }
}

/// One active prompt as the application sees it. Immutable: a refresh replaces it.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// The prompt's name.
    pub name: String,
    /// The active version.
    pub version: i64,
    /// sha256 of `content` (checked before the prompt was accepted).
    pub sha256: String,
    /// The template text.
    pub content: String,
    /// The variable-contract fingerprint (`catalog::contract`).
    pub contract: String,
    /// The declared variables, as stored (JSON).
    pub variables: serde_json::Value,
    /// The bundle seq of the activation (none for embedded texts and rollbacks).
    pub seq: Option<i64>,
    /// The store's activation revision it comes from (`cache::Entry::revision`; none for
    /// embedded texts and entries written by older promptctl versions): a reading of a lower
    /// revision than the one served never replaces it.
    pub revision: Option<i64>,
    /// RFC 3339, when the store activated it (none for embedded texts).
    pub activated_at: Option<String>,
    /// Where the text came from.
    pub tier: Tier,
    /// The parsed text; none when it does not parse (then it is never rendered).
    compiled: Option<Arc<Compiled>>,
    /// The canary served beside this version to a share of the keys (`PromptStore::get_for`);
    /// none on the canary's own `Prompt`.
    pub canary: Option<Arc<Canary>>,
    /// Reads of this version (`metric::READS`), registered when it was installed.
    reads: metrics::Counter,
}

impl Prompt {
    /// Renders the text with untyped vars (strict Handlebars, no escaping, no type check).
    pub fn render_json(&self, vars: &serde_json::Value) -> Result<String, RenderError> {
        let compiled = self.compiled.as_ref().ok_or_else(|| RenderError::Unparsable {
            name: self.name.clone(),
            version: self.version,
        })?;
        compiled.render(vars).map_err(|source| RenderError::Render {
            name: self.name.clone(),
            version: self.version,
            source,
        })
    }

    fn same_text(&self, other: &Prompt) -> bool {
        self.version == other.version
            && self.sha256 == other.sha256
            && canary::same(self.canary.as_deref(), other.canary.as_deref())
    }
}

/// A typed render: the text, and the prompt (version, tier) it came from.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The rendered text.
    pub text: String,
    /// The version it was rendered from.
    pub prompt: Arc<Prompt>,
}

/// Why a render through the runtime failed; the served text is unaffected.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the fields are named by the messages
pub enum RenderError {
    /// No version with the vars' contract was ever served (the registry is older or newer).
    #[error("`{name}` has no version with the variable contract {contract} in this registry; regenerate the module with `promptctl codegen`")]
    NotServed { name: String, contract: String },
    /// The served text does not parse (it is served to `get`, never rendered).
    #[error("`{name}` v{version} does not parse as a template, so it is only served untyped")]
    Unparsable { name: String, version: i64 },
    /// Rendering failed (strict mode: a missing value, or a render budget exceeded).
    #[error("cannot render `{name}` v{version}: {source}")]
    Render {
        name: String,
        version: i64,
        #[source]
        source: crate::render::RenderError,
    },
    /// The typed vars did not serialise to JSON.
    #[error("cannot serialise the vars of `{name}`: {message}")]
    Vars { name: String, message: String },
}

/// A new version served (an activation, a rollback, or a store version replacing the compiled-in
/// one), as `PromptStore::on_activation` listeners see it.
#[derive(Debug, Clone)]
pub struct Activation {
    /// The prompt now served.
    pub prompt: Arc<Prompt>,
    /// The version served before, if any.
    pub previous: Option<i64>,
}

/// A listener of `PromptStore::on_activation`.
type Listener = Box<dyn Fn(&Activation) + Send + Sync>;

/// What one prompt name holds in the snapshot.
#[derive(Debug, Clone)]
struct Slot {
    /// What `get` returns.
    current: Arc<Prompt>,
    /// For each variable contract the application was compiled with, the latest text with that
    /// contract that was current: what typed rendering serves while `current` has another one.
    typed: Vec<Arc<Prompt>>,
}

/// The immutable map readers load; the refresher builds a new one and swaps it in.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    prompts: HashMap<String, Arc<Slot>>,
}

/// Whether a tier answered the last time it was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TierStatus {
    /// Answered the last time.
    Ok,
    /// Failed the last time; the snapshot keeps serving what it has.
    Down,
    /// Not configured, or not used with `source = embedded`.
    Disabled,
    /// Configured but not asked yet.
    Unknown,
}

/// The state of one tier, in `Health`.
#[derive(Debug, Clone, Serialize)]
pub struct TierHealth {
    /// Whether it answered the last time it was asked.
    pub status: TierStatus,
    /// How many prompts currently serve a text that came from this tier.
    pub prompts: usize,
    /// Seconds since the tier last answered.
    pub last_ok_seconds_ago: Option<f64>,
    /// The latest failure (URLs without credentials).
    pub last_error: Option<String>,
}

/// Every tier's state, in `Health`.
#[derive(Debug, Clone, Serialize)]
pub struct Tiers {
    /// The snapshot itself: always serving.
    pub memory: TierHealth,
    /// The Redis cache.
    pub redis: TierHealth,
    /// The store (PostgreSQL or SQLite).
    pub db: TierHealth,
    /// The registry compiled into the application.
    pub embedded: TierHealth,
}

/// `ok` when every configured tier answers, `degraded` when one does not (the snapshot still
/// serves the last known good text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every configured tier answers.
    Ok,
    /// A configured tier does not answer.
    Degraded,
}

/// What `PromptStore::health` reports (docs/runtime.md shows it as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: Status,
    /// Where prompts are read from (`Options::source`).
    pub source: Source,
    /// The environment served (`Options::environment`).
    pub environment: String,
    /// Seconds since the snapshot was last brought in line with the store (a full read or an
    /// applied notice); since start with `source = embedded`.
    pub snapshot_age_seconds: f64,
    /// Whether the notice subscription on `{prefix}activations` is open.
    pub subscribed: bool,
    /// Each tier's state.
    pub tiers: Tiers,
    /// Entries refused since start: content not matching its sha256, content over the 4 MiB cap
    /// (or a Redis value over `cache::MAX_ENTRY_BYTES`), or a variable contract the application
    /// was not compiled with (typed rendering only).
    pub integrity_refusals: u64,
    /// Since start: how often the notice subscription was opened (1 while it never dropped),
    /// how many full reads of the store were made, and how many times a tier failed.
    pub counts: Counts,
}

/// Counters of the refresher since start, in `Health`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// How often the notice subscription was opened (1 while it never dropped).
    pub subscriptions: u64,
    /// Full reads of every active prompt (at start, periodically, after a reconnection).
    pub full_refreshes: u64,
    /// Failed calls to Redis or the database.
    pub errors: u64,
}

/// The metric names (through the `metrics` facade); docs/runtime.md's table lists each with its
/// type, labels and meaning (a test compares the two).
pub mod metric {
    /// Counter, label `tier`: reads served, by the tier the text came from.
    pub const HITS: &str = "promptctl_runtime_hits_total";
    /// Counter: reads of a name the snapshot does not have.
    pub const MISSES: &str = "promptctl_runtime_misses_total";
    /// Counter, labels `kind` (`full`, `notice`) and `tier` (`redis`, `db`, `none`).
    pub const REFRESHES: &str = "promptctl_runtime_refreshes_total";
    /// Histogram in seconds, label `kind`.
    pub const REFRESH_SECONDS: &str = "promptctl_runtime_refresh_seconds";
    /// Counter, label `reason` (`sha256`, `contract`, `size`).
    pub const INTEGRITY_REFUSALS: &str = "promptctl_runtime_integrity_refusals_total";
    /// Counter, label `tier` (`redis`, `db`) and `kind`.
    pub const ERRORS: &str = "promptctl_runtime_errors_total";
    /// Gauge, label `tier`: 1 when the tier answered the last time, 0 when not.
    pub const TIER_UP: &str = "promptctl_runtime_tier_up";
    /// Counter, labels `prompt` and `source` (`redis`, `db`): a new version served.
    pub const ACTIVATIONS: &str = "promptctl_runtime_activations_total";
    /// Histogram in seconds: from the store's activation to this process serving it.
    pub const ACTIVATION_LAG: &str = "promptctl_runtime_activation_lag_seconds";
    /// Gauge: seconds since the snapshot was last brought in line with the store
    /// (`PromptStore::update_metrics`).
    pub const SNAPSHOT_AGE: &str = "promptctl_runtime_snapshot_age_seconds";
    /// Gauge: Unix time of the last sync with the store (set by the refresher itself).
    pub const LAST_SYNC: &str = "promptctl_runtime_last_sync_timestamp_seconds";
    /// Gauge, label `tier`: prompts whose served text came from that tier.
    pub const PROMPTS: &str = "promptctl_runtime_prompts";
    /// Gauge: 1 while the notice subscription is open (`PromptStore::update_metrics`).
    pub const SUBSCRIBED: &str = "promptctl_runtime_subscribed";
    /// Counter, labels `prompt`, `version` and `role` (`stable`, `canary`): reads and renders
    /// by the version served, so that a dashboard compares a canary with its stable version.
    pub const READS: &str = "promptctl_runtime_reads_total";

    /// Every name above.
    pub const ALL: &[&str] = &[
        HITS,
        MISSES,
        REFRESHES,
        REFRESH_SECONDS,
        INTEGRITY_REFUSALS,
        ERRORS,
        TIER_UP,
        ACTIVATIONS,
        ACTIVATION_LAG,
        SNAPSHOT_AGE,
        LAST_SYNC,
        PROMPTS,
        SUBSCRIBED,
        READS,
    ];
}

/// What the refresher records for `health`.
#[derive(Debug, Clone)]
struct TierState {
    status: TierStatus,
    last_ok: Option<Instant>,
    last_error: Option<String>,
}

impl TierState {
    fn new(configured: bool) -> TierState {
        let status = if configured { TierStatus::Unknown } else { TierStatus::Disabled };
        TierState { status, last_ok: None, last_error: None }
    }
}

#[derive(Debug)]
struct HealthState {
    redis: TierState,
    db: TierState,
    synced: Instant,
    subscribed: bool,
}

/// The part of the options `PromptStore::reconfigure` changes while running.
#[derive(Debug)]
struct Flags {
    source: Source,
    allow: Allow,
}

/// What the store and its refresher share.
struct Shared {
    snapshot: ArcSwap<Snapshot>,
    /// The snapshot of embedded texts built at start: what a prompt returns to when it stops
    /// following the store (`reconfigure`).
    seed: Snapshot,
    /// The current source and allow-list (`options` holds the ones the store started with).
    flags: ArcSwap<Flags>,
    /// Held by `reconfigure` and by `apply`, so that no refresh that started before a change
    /// installs what the change took away.
    reconfiguring: Mutex<()>,
    /// Bumped when the source becomes `embedded`: a refresher of an older generation stops.
    generation: AtomicU64,
    /// Set by `reconfigure`: the refresher reads everything at once (newly allowed prompts).
    reload: AtomicBool,
    /// Every version of the registry, by (name, version).
    embedded: HashMap<(&'static str, u32), Arc<Prompt>>,
    /// The contracts the application was compiled with, by name.
    contracts: HashMap<&'static str, Vec<&'static str>>,
    options: Options,
    health: Mutex<HealthState>,
    refusals: AtomicU64,
    subscriptions: AtomicU64,
    full_refreshes: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    wake: (Mutex<()>, Condvar),
    hits: [metrics::Counter; 3],
    misses: metrics::Counter,
    observer: observe::Observer,
    /// Called after each swap, once per activation it applied (`on_activation`).
    listeners: Mutex<Vec<Listener>>,
}

/// The in-memory prompts of one application. Cheap to share (`Arc` inside); dropping the last
/// handle stops the refresher.
pub struct PromptStore {
    shared: Arc<Shared>,
    _worker: Option<Arc<WorkerGuard>>,
}

impl Clone for PromptStore {
    fn clone(&self) -> PromptStore {
        PromptStore { shared: self.shared.clone(), _worker: self._worker.clone() }
    }
}

/// Stops the refresher when the last `PromptStore` handle goes.
struct WorkerGuard {
    shared: Arc<Shared>,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.1.notify_all();
    }
}

fn embedded_prompt(name: &str, version: &crate::registry::EntryVersion) -> Prompt {
    let compiled = Compiled::new(version.template).ok().map(Arc::new);
    Prompt {
        name: name.to_string(),
        version: i64::from(version.version),
        sha256: sha256_hex(version.template),
        content: version.template.to_string(),
        contract: version.contract.to_string(),
        variables: serde_json::Value::Null,
        seq: None,
        revision: None,
        activated_at: None,
        tier: Tier::Embedded,
        compiled,
        canary: None,
        reads: canary::reads_counter(name, i64::from(version.version), "stable"),
    }
}

impl PromptStore {
    /// Builds the snapshot from `registry` (the generated module's `ALL`) for
    /// `options.environment` and, with `source = store`, starts the refresher thread, which
    /// loads from Redis (or the database) at once. Returns without waiting for the network.
    ///
    /// Install the `metrics` recorder before calling this: the read counters are registered here.
    pub fn start(registry: &'static [RegistryEntry], options: Options) -> PromptStore {
        let mut embedded = HashMap::new();
        let mut contracts: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        let mut snapshot = Snapshot::default();
        for entry in registry {
            let mut typed = Vec::new();
            for version in entry.versions {
                let prompt = Arc::new(embedded_prompt(entry.name, version));
                embedded.insert((entry.name, version.version), prompt.clone());
                let known = contracts.entry(entry.name).or_default();
                if !known.contains(&version.contract) {
                    known.push(version.contract);
                }
                typed.push(prompt);
            }
            if let Some(active) = entry.active(&options.environment) {
                let current = embedded[&(entry.name, active.version)].clone();
                // Typed rendering of a version the environment does not serve falls back to the
                // registry's text of that version (see `render`), not to this list.
                typed.retain(|prompt| prompt.version == current.version);
                snapshot.prompts.insert(entry.name.to_string(), Arc::new(Slot { current, typed }));
            }
        }
        let store_source = options.source == Source::Store;
        let health = HealthState {
            redis: TierState::new(store_source && options.redis_url.is_some()),
            db: TierState::new(store_source && options.database_url.is_some()),
            synced: Instant::now(),
            subscribed: false,
        };
        let hits = [Tier::Redis, Tier::Db, Tier::Embedded]
            .map(|tier| metrics::counter!(metric::HITS, "tier" => tier.as_str()));
        let flags = Flags { source: options.source, allow: options.allow.clone() };
        let shared = Arc::new(Shared {
            seed: snapshot.clone(),
            snapshot: ArcSwap::from_pointee(snapshot),
            flags: ArcSwap::from_pointee(flags),
            reconfiguring: Mutex::new(()),
            generation: AtomicU64::new(0),
            reload: AtomicBool::new(false),
            embedded,
            contracts,
            options,
            health: Mutex::new(health),
            refusals: AtomicU64::new(0),
            subscriptions: AtomicU64::new(0),
            full_refreshes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake: (Mutex::new(()), Condvar::new()),
            hits,
            misses: metrics::counter!(metric::MISSES),
            observer: observe::Observer::start(store_source),
            listeners: Mutex::new(Vec::new()),
        });
        if store_source {
            spawn_refresher(&shared);
        }
        // Always: `reconfigure` may start a refresher later.
        let worker = Some(Arc::new(WorkerGuard { shared: shared.clone() }));
        PromptStore { shared, _worker: worker }
    }

    /// The active prompt called `name`, from memory.
    pub fn get(&self, name: &str) -> Option<Arc<Prompt>> {
        let snapshot = self.shared.snapshot.load();
        match snapshot.prompts.get(name) {
            Some(slot) => {
                let prompt = slot.current.clone();
                self.shared.hits[prompt.tier as usize].increment(1);
                prompt.reads.increment(1);
                Some(prompt)
            }
            None => {
                self.shared.misses.increment(1);
                None
            }
        }
    }

    /// Every prompt name the snapshot serves, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.shared.snapshot.load().prompts.keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// Renders the active text of `V::NAME` with typed vars, from memory. When the active text has
    /// another variable contract than `V` (it was refused for typed rendering), the latest text
    /// with `V`'s contract keeps serving, and failing that the registry's own text of `V::VERSION`.
    pub fn render<V: Typed>(&self, vars: &V) -> Result<Rendered, RenderError> {
        let prompt = self.typed_prompt::<V>()?;
        self.shared.hits[prompt.tier as usize].increment(1);
        prompt.reads.increment(1);
        let value = serde_json::to_value(vars).map_err(|error| RenderError::Vars {
            name: V::NAME.to_string(),
            message: error.to_string(),
        })?;
        let text = prompt.render_json(&value)?;
        Ok(Rendered { text, prompt })
    }

    /// The prompt `render::<V>` would use.
    pub fn typed_prompt<V: Typed>(&self) -> Result<Arc<Prompt>, RenderError> {
        let snapshot = self.shared.snapshot.load();
        let usable =
            |prompt: &Arc<Prompt>| prompt.contract == V::CONTRACT && prompt.compiled.is_some();
        if let Some(slot) = snapshot.prompts.get(V::NAME) {
            if usable(&slot.current) {
                return Ok(slot.current.clone());
            }
            if let Some(prompt) = slot.typed.iter().find(|prompt| usable(prompt)) {
                return Ok(prompt.clone());
            }
        }
        self.shared.embedded.get(&(V::NAME, V::VERSION)).filter(|p| usable(p)).cloned().ok_or_else(
            || RenderError::NotServed {
                name: V::NAME.to_string(),
                contract: V::CONTRACT.to_string(),
            },
        )
    }

    /// Calls `listener` once per activation applied from now on (a new version served: an
    /// activation or rollback read from the store, or a store version replacing the compiled-in
    /// one), on the refresher's thread, right after the snapshot that serves it was swapped in.
    /// The listener must return quickly and never block (hand the event to a channel): the
    /// refresher waits for it. A tier change of the same text is not an activation.
    pub fn on_activation(&self, listener: impl Fn(&Activation) + Send + Sync + 'static) {
        let mut listeners =
            self.shared.listeners.lock().unwrap_or_else(|poison| poison.into_inner());
        listeners.push(Box::new(listener));
    }

    /// Where this store reads prompts from (`Options::source`, or the last `reconfigure`).
    pub fn source(&self) -> Source {
        self.shared.flags.load().source
    }

    /// Source, per-tier status and snapshot age; cheap (one short lock the refresher only holds
    /// to update a few fields).
    pub fn health(&self) -> Health {
        let snapshot = self.shared.snapshot.load();
        let mut counts: BTreeMap<Tier, usize> = BTreeMap::new();
        for slot in snapshot.prompts.values() {
            *counts.entry(slot.current.tier).or_default() += 1;
        }
        let state = self.shared.health.lock().unwrap_or_else(|poison| poison.into_inner());
        let now = Instant::now();
        let tier = |state: &TierState, prompts: usize| TierHealth {
            status: state.status,
            prompts,
            last_ok_seconds_ago: state.last_ok.map(|at| now.duration_since(at).as_secs_f64()),
            last_error: state.last_error.clone(),
        };
        let always = |prompts: usize| TierHealth {
            status: TierStatus::Ok,
            prompts,
            last_ok_seconds_ago: Some(0.0),
            last_error: None,
        };
        let down = |state: &TierState| state.status == TierStatus::Down;
        Health {
            status: if down(&state.redis) || down(&state.db) {
                Status::Degraded
            } else {
                Status::Ok
            },
            source: self.shared.flags.load().source,
            environment: self.shared.options.environment.clone(),
            snapshot_age_seconds: now.duration_since(state.synced).as_secs_f64(),
            subscribed: state.subscribed,
            tiers: Tiers {
                memory: always(snapshot.prompts.len()),
                redis: tier(&state.redis, counts.get(&Tier::Redis).copied().unwrap_or(0)),
                db: tier(&state.db, counts.get(&Tier::Db).copied().unwrap_or(0)),
                embedded: always(counts.get(&Tier::Embedded).copied().unwrap_or(0)),
            },
            integrity_refusals: self.shared.refusals.load(Ordering::Relaxed),
            counts: Counts {
                subscriptions: self.shared.subscriptions.load(Ordering::Relaxed),
                full_refreshes: self.shared.full_refreshes.load(Ordering::Relaxed),
                errors: self.shared.errors.load(Ordering::Relaxed),
            },
        }
    }

    /// Blocks until `check` holds for the snapshot or `timeout` passes (for tests and for
    /// applications that want to wait for the first load before taking traffic).
    pub fn wait_until(&self, timeout: Duration, check: impl Fn(&PromptStore) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if check(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Why an entry from the store was not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The content does not match its sha256: never served.
    Sha256,
    /// The content is over `syntax::template::MAX_TEMPLATE_BYTES_CAP`: never served.
    Size,
}

impl Shared {
    /// Installs `prompt` (already read from a tier) into `snapshot`, checking its integrity.
    /// Returns whether the snapshot changed.
    fn install(&self, snapshot: &mut Snapshot, mut prompt: Prompt) -> Result<bool, Refusal> {
        if prompt.content.len() as u64 > crate::syntax::template::MAX_TEMPLATE_BYTES_CAP {
            self.refused_entry("size", Some((&prompt.name, prompt.version)));
            return Err(Refusal::Size);
        }
        if sha256_hex(&prompt.content) != prompt.sha256 {
            self.refused_entry("sha256", Some((&prompt.name, prompt.version)));
            return Err(Refusal::Sha256);
        }
        if let Some(canary) = &prompt.canary {
            let text = &canary.prompt;
            if text.content.len() as u64 > crate::syntax::template::MAX_TEMPLATE_BYTES_CAP {
                self.refused_entry("size", Some((&text.name, text.version)));
                return Err(Refusal::Size);
            }
            if sha256_hex(&text.content) != text.sha256 {
                self.refused_entry("sha256", Some((&text.name, text.version)));
                return Err(Refusal::Sha256);
            }
        }
        let previous = snapshot.prompts.get(&prompt.name);
        if let Some(slot) = previous {
            // An older reading (a stale Redis entry after an outage during which the database
            // served a rollback) never takes back what is served.
            if let (Some(served), Some(read)) = (slot.current.revision, prompt.revision) {
                if read < served {
                    return Ok(false);
                }
            }
            if slot.current.same_text(&prompt) {
                if slot.current.tier == prompt.tier {
                    return Ok(false);
                }
                // Same text from another tier: keep the parsed template.
                prompt.compiled = slot.current.compiled.clone();
            }
        }
        let compiled_contracts = self.contracts.get(prompt.name.as_str());
        let is_new_text = previous.is_none_or(|slot| !slot.current.same_text(&prompt));
        if prompt.compiled.is_none() {
            prompt.compiled = Compiled::new(prompt.content.as_str()).ok().map(Arc::new);
            if prompt.compiled.is_none() && is_new_text {
                metrics::counter!(metric::ERRORS, "tier" => prompt.tier.as_str(), "kind" => "parse")
                    .increment(1);
            }
        }
        let typed_ok = compiled_contracts
            .is_some_and(|known| known.contains(&prompt.contract.as_str()))
            && prompt.compiled.is_some();
        if compiled_contracts.is_some() && !typed_ok && is_new_text {
            self.refused_entry("contract", Some((&prompt.name, prompt.version)));
        }
        prompt.reads = canary::reads_counter(&prompt.name, prompt.version, "stable");
        if let Some(canary) = prompt.canary.take() {
            let reused = previous.and_then(|slot| slot.current.canary.as_ref()).filter(|old| {
                old.prompt.version == canary.prompt.version
                    && old.prompt.sha256 == canary.prompt.sha256
            });
            prompt.canary =
                Some(Arc::new(canary::prepared(&canary, reused.map(|old| &old.prompt))));
        }
        let prompt = Arc::new(prompt);
        let mut typed = previous.map(|slot| slot.typed.clone()).unwrap_or_default();
        if typed_ok {
            typed.retain(|old| old.contract != prompt.contract);
            typed.insert(0, prompt.clone());
        }
        snapshot.prompts.insert(prompt.name.clone(), Arc::new(Slot { current: prompt, typed }));
        Ok(true)
    }

    /// `apply` for the refresher of `generation`: only the prompts that follow the store under
    /// the current flags, and nothing once a `reconfigure` to `embedded` stopped that refresher.
    pub(super) fn apply_followed(&self, generation: u64, mut prompts: Vec<Prompt>) {
        let _reconfiguring = self.reconfiguring.lock().unwrap_or_else(|poison| poison.into_inner());
        let flags = self.flags.load();
        if flags.source != Source::Store || self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        prompts.retain(|prompt| flags.allow.allows(&prompt.name));
        self.apply(prompts);
    }

    /// Installs `prompts` into a copy of the snapshot and swaps it in (once, if anything changed).
    pub(super) fn apply(&self, prompts: Vec<Prompt>) {
        let current = self.snapshot.load_full();
        let mut next: Option<Snapshot> = None;
        for prompt in prompts {
            let target = next.get_or_insert_with(|| (*current).clone());
            let _ = self.install(target, prompt);
        }
        if let Some(next) = next {
            let changed = next.prompts.len() != current.prompts.len()
                || next.prompts.iter().any(|(name, slot)| {
                    current.prompts.get(name).is_none_or(|old| !Arc::ptr_eq(old, slot))
                });
            if changed {
                let next = Arc::new(next);
                self.snapshot.store(next.clone());
                let changed = self.observer.applied(&current, &next);
                let listeners = self.listeners.lock().unwrap_or_else(|poison| poison.into_inner());
                for (prompt, previous) in changed {
                    let activation = Activation { prompt, previous };
                    for listener in listeners.iter() {
                        listener(&activation);
                    }
                }
            }
        }
    }

    pub(super) fn refused(&self, reason: &'static str) {
        self.refused_entry(reason, None);
    }

    /// `refused`, naming the prompt and version when they are known.
    fn refused_entry(&self, reason: &'static str, prompt: Option<(&str, i64)>) {
        observe::refused(reason, prompt);
        self.refusals.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(metric::INTEGRITY_REFUSALS, "reason" => reason).increment(1);
    }
}

/// Starts a refresher thread of the current generation.
fn spawn_refresher(shared: &Arc<Shared>) {
    let thread_shared = shared.clone();
    let generation = shared.generation.load(Ordering::SeqCst);
    std::thread::Builder::new()
        .name("promptctl-refresh".into())
        .spawn(move || refresh::run(thread_shared, generation))
        .expect("the refresher thread starts");
}

/// A prompt from a cache entry (Redis).
fn from_entry(entry: crate::cache::Entry, tier: Tier) -> Prompt {
    Prompt {
        name: entry.name,
        version: entry.version,
        sha256: entry.sha256,
        content: entry.content,
        contract: entry.contract,
        variables: entry.variables,
        seq: entry.seq,
        revision: entry.revision,
        activated_at: Some(entry.activated_at),
        tier,
        compiled: None,
        canary: None,
        reads: metrics::Counter::noop(),
    }
    .with_canary(entry.canary)
}

#[cfg(test)]
mod tests;
