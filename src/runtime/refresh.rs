//! The refresher thread: subscribes to `{prefix}activations`, re-reads a prompt on each notice
//! (Redis, then the database), re-reads everything at start, on every (re)subscription and on the
//! refresh period, and reconnects with backoff. It is the only writer of the snapshot; it never
//! panics a reader and never makes one wait.

#[path = "reconnect.rs"]
mod reconnect;

use super::{from_entry, metric, Prompt, Shared, Tier, TierState, TierStatus};
use crate::cache::{Entry, Layout, Notice, MAX_ENTRY_BYTES};
use crate::redis_target::{Commands, Target, TargetError, TlsOptions};
use crate::store::{self, records, Location};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How often a blocked read on the subscription wakes up to look at the stop flag and deadlines.
const POLL: Duration = Duration::from_millis(200);
/// Keys per SCAN and MGET round trip of a full read.
const BATCH: usize = 500;

/// Why a tier failed, for `health` and the error counter (no credentials in it).
#[derive(Debug, Clone, thiserror::Error)]
enum TierError {
    #[error("{0}")]
    Redis(String),
    #[error("{0}")]
    Db(String),
}

struct Worker {
    shared: Arc<Shared>,
    layout: Layout,
    client: Option<Target>,
    redis_shown: String,
    /// The connection for GET/SCAN/MGET (the subscription has its own).
    commands: Option<Commands>,
    location: Option<Result<Location, String>>,
    db: Option<Box<dyn store::Connection>>,
    next_full: Instant,
    /// Whether the last full read found every prompt it looked for (`full_refresh`).
    complete: bool,
    backoff: Duration,
    next_subscribe: Instant,
    /// The cache's stamp at the last full read from Redis: the snapshot holds every entry up to
    /// it, so a reconnection reads only what changed since (`reconnect`).
    known_stamp: Option<i64>,
    /// Set by `reconnect` when the read after a subscription got no answer (Redis still loading
    /// its data after a restart, say): it is tried again soon, reading only what changed.
    behind: bool,
    /// Set by `reconnect` when Redis has just failed: the next full read asks the database only.
    skip_redis: bool,
    /// `Shared::generation` when it started: it stops when the source leaves `store`.
    generation: u64,
}

pub(super) fn run(shared: Arc<Shared>, generation: u64) {
    let options = &shared.options;
    let redis_shown = options.redis_url.as_deref().map(store::redact_url).unwrap_or_default();
    let tls = TlsOptions { ca: options.redis_ca.clone(), insecure: options.redis_insecure };
    if tls.insecure && options.redis_url.is_some() {
        // The opt-in is announced where an operator looks first, once per store.
        eprintln!("promptctl runtime: warning: {}", crate::redis_target::INSECURE_WARNING);
    }
    let client = options.redis_url.as_deref().and_then(|url| match Target::open(url, &tls) {
        Ok(client) => Some(client),
        Err(error) => {
            mark(&shared, Tier::Redis, Err(error.to_string()));
            None
        }
    });
    let location = options.database_url.as_deref().map(|url| {
        let root = std::env::current_dir().unwrap_or_default();
        match Location::parse(url, &root) {
            Ok(Location::Postgres { url }) => {
                Ok(Location::Postgres { url: with_connect_timeout(&url, options.timeout) })
            }
            other => other.map_err(|error| error.to_string()),
        }
    });
    let now = Instant::now();
    let mut worker = Worker {
        layout: Layout { prefix: options.key_prefix.clone() },
        client,
        redis_shown,
        commands: None,
        location,
        db: None,
        next_full: now,
        complete: false,
        backoff: options.reconnect_min,
        next_subscribe: now,
        known_stamp: None,
        skip_redis: false,
        behind: false,
        generation,
        shared: shared.clone(),
    };
    worker.run();
}

/// Records the outcome of asking a tier.
fn mark(shared: &Shared, tier: Tier, outcome: Result<(), String>) {
    let mut health = shared.health.lock().unwrap_or_else(|poison| poison.into_inner());
    let state: &mut TierState = match tier {
        Tier::Redis => &mut health.redis,
        Tier::Db => &mut health.db,
        Tier::Embedded => return,
    };
    let before = state.status;
    match outcome {
        Ok(()) => {
            state.status = TierStatus::Ok;
            state.last_ok = Some(Instant::now());
        }
        Err(message) => {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            if state.status != TierStatus::Down || state.last_error.as_deref() != Some(&message) {
                metrics::counter!(metric::ERRORS, "tier" => tier.as_str(), "kind" => "unreachable")
                    .increment(1);
            }
            state.status = TierStatus::Down;
            state.last_error = Some(message);
        }
    }
    let transition = super::observe::Transition::new(tier, before, state);
    let up = if state.status == TierStatus::Ok { 1.0 } else { 0.0 };
    metrics::gauge!(metric::TIER_UP, "tier" => tier.as_str()).set(up);
    drop(health);
    transition.log();
}

fn redis_message(error: &redis::RedisError) -> String {
    crate::redis_target::describe(error)
}

/// A connection error of `redis_target` (it names the URL, without its password).
fn target_message(error: TargetError) -> String {
    error.to_string()
}

impl Worker {
    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
            || self.shared.generation.load(Ordering::SeqCst) != self.generation
    }

    fn run(&mut self) {
        while !self.stopped() {
            self.take_reload();
            let now = Instant::now();
            if self.client.is_some() && now >= self.next_subscribe {
                match self.subscribe_and_listen() {
                    Ok(()) => return, // stopped
                    Err(message) => {
                        mark(&self.shared, Tier::Redis, Err(message));
                        self.set_subscribed(false);
                        self.commands = None;
                        self.next_subscribe = Instant::now() + reconnect::jittered(self.backoff);
                        self.backoff = (self.backoff * 2).min(self.shared.options.reconnect_max);
                        // Notices may have been missed: poll the store until resubscribed.
                        self.next_full = self.next_full.min(Instant::now());
                    }
                }
            }
            if Instant::now() >= self.next_full {
                let ok = self.refresh_since_known();
                self.next_full = Instant::now()
                    + if ok {
                        self.shared.options.degraded_poll
                    } else {
                        self.shared.options.degraded_poll.min(self.backoff.max(POLL))
                    };
            }
            let mut wake = self.next_full;
            if self.client.is_some() {
                wake = wake.min(self.next_subscribe);
            }
            self.sleep_until(wake);
        }
    }

    fn sleep_until(&self, deadline: Instant) {
        let (lock, condvar) = &self.shared.wake;
        let mut guard = lock.lock().unwrap_or_else(|poison| poison.into_inner());
        while !self.stopped() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            guard = match condvar.wait_timeout(guard, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poison) => poison.into_inner().0,
            };
        }
    }

    fn set_subscribed(&self, subscribed: bool) {
        let mut health = self.shared.health.lock().unwrap_or_else(|poison| poison.into_inner());
        health.subscribed = subscribed;
    }

    /// Opens the subscription, reads everything once (notices may have been missed while it was
    /// closed), then handles notices until the connection fails (`Err`) or the store stops.
    fn subscribe_and_listen(&mut self) -> Result<(), String> {
        let timeout = self.shared.options.timeout;
        let client = self.client.clone().expect("called with a client");
        let shown = self.redis_shown.clone();
        let failed =
            |error: redis::RedisError| format!("Redis at `{shown}`: {}", redis_message(&error));
        let mut connection = client.subscriber(timeout).map_err(target_message)?;
        let mut pubsub = connection.as_pubsub();
        pubsub.set_read_timeout(Some(timeout)).map_err(&failed)?;
        pubsub.subscribe(self.layout.channel()).map_err(&failed)?;
        pubsub.set_read_timeout(Some(POLL)).map_err(&failed)?;
        mark(&self.shared, Tier::Redis, Ok(()));
        self.shared.subscriptions.fetch_add(1, Ordering::Relaxed);
        self.set_subscribed(true);
        self.backoff = self.shared.options.reconnect_min;
        self.refresh_since_known();
        self.next_full = Instant::now() + self.after_full_read();
        let mut last_heard = Instant::now();
        loop {
            if self.stopped() {
                return Ok(());
            }
            match pubsub.get_message() {
                Ok(message) => {
                    last_heard = Instant::now();
                    let payload: String = message.get_payload().unwrap_or_default();
                    match serde_json::from_str::<Notice>(&payload) {
                        Ok(notice) => self.on_notice(&notice),
                        Err(_) => {
                            metrics::counter!(metric::ERRORS, "tier" => "redis", "kind" => "notice")
                                .increment(1);
                        }
                    }
                }
                Err(error) if error.is_timeout() => {
                    if last_heard.elapsed() >= self.shared.options.heartbeat {
                        pubsub.set_read_timeout(Some(timeout)).map_err(&failed)?;
                        // In subscribed mode (RESP2) Redis answers PING with the array
                        // `["pong", ""]`, not `+PONG`: any answer will do. Notices that arrive
                        // before it are kept by the client for `get_message`.
                        pubsub.ping::<redis::Value>().map_err(&failed)?;
                        pubsub.set_read_timeout(Some(POLL)).map_err(&failed)?;
                        last_heard = Instant::now();
                    }
                }
                Err(error) => return Err(failed(error)),
            }
            self.take_reload();
            if Instant::now() >= self.next_full {
                self.scheduled_refresh();
                self.next_full = Instant::now() + self.after_full_read();
            }
        }
    }

    /// The wait before the next full read while subscribed: the refresh period after a complete
    /// read; the degraded poll after one that missed prompts because a tier failed (the database
    /// still down when Redis came back empty, say), so they arrive as soon as it answers.
    fn after_full_read(&self) -> Duration {
        if self.behind {
            return self.retry_after();
        }
        if self.complete {
            self.shared.options.refresh
        } else {
            self.shared.options.degraded_poll.max(POLL)
        }
    }

    fn redis_commands(&mut self) -> Result<&mut Commands, TierError> {
        if self.commands.is_none() {
            let Some(client) = &self.client else {
                return Err(TierError::Redis("no Redis configured".into()));
            };
            let timeout = self.shared.options.timeout;
            let connection = client
                .commands(timeout)
                .map_err(|error| TierError::Redis(target_message(error)))?;
            self.commands = Some(connection);
        }
        Ok(self.commands.as_mut().expect("just connected"))
    }

    fn redis_failed(&mut self, error: redis::RedisError) -> TierError {
        self.commands = None;
        TierError::Redis(format!("Redis at `{}`: {}", self.redis_shown, redis_message(&error)))
    }

    fn database(&mut self) -> Result<&mut dyn store::Connection, TierError> {
        if self.db.is_none() {
            let location = match &self.location {
                None => return Err(TierError::Db("no database configured".into())),
                Some(Err(message)) => return Err(TierError::Db(message.clone())),
                Some(Ok(location)) => location.clone(),
            };
            let connection = store::open(&location).map_err(|e| TierError::Db(e.to_string()))?;
            self.db = Some(connection);
        }
        Ok(&mut **self.db.as_mut().expect("just connected"))
    }

    /// Drops the connection after any failure: the next call reconnects, which costs little
    /// at the rate the store is read, and never leaves a broken session in place.
    fn db_failed(&mut self, error: store::StoreError) -> TierError {
        self.db = None;
        TierError::Db(error.to_string())
    }

    /// Every active entry in Redis, and the stamp read just before (`reconnect`): SCAN for
    /// `{prefix}*:active`, then GETRANGE in batches.
    fn redis_all(&mut self) -> Result<(Option<i64>, Vec<Entry>), TierError> {
        let pattern = self.layout.active_pattern();
        let layout = self.layout.clone();
        let connection = self.redis_commands()?;
        let stamp = reconnect::stamp(connection, &layout);
        let stamp = stamp.map_err(|error| self.redis_failed(error))?;
        let connection = self.redis_commands()?;
        // In a cluster, SCAN runs on every primary.
        let scanned = connection.scan(&pattern, BATCH);
        let mut keys = scanned.map_err(|error| self.redis_failed(error))?;
        keys.sort_unstable();
        keys.dedup();
        Ok((stamp, self.redis_entries(&keys)?))
    }

    /// The entries under `keys` that exist and are usable (`entry`).
    fn redis_entries(&mut self, keys: &[String]) -> Result<Vec<Entry>, TierError> {
        let mut entries = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH) {
            // GETRANGE instead of MGET: at most `MAX_ENTRY_BYTES` and one byte of each value, so
            // that no value makes the refresher read or hold more (one round trip per batch).
            let commands = chunk.iter().map(|key| {
                let mut command = redis::cmd("GETRANGE");
                command.arg(key).arg(0).arg(MAX_ENTRY_BYTES);
                command
            });
            let commands: Vec<redis::Cmd> = commands.collect();
            let connection = self.redis_commands()?;
            let values: Result<Vec<Vec<u8>>, _> = connection.pipeline(commands);
            let values = values.map_err(|error| self.redis_failed(error))?;
            entries.extend(values.into_iter().filter_map(|value| self.entry(value)));
        }
        Ok(entries)
    }

    fn redis_one(&mut self, name: &str) -> Result<Option<Entry>, TierError> {
        let key = self.layout.active(name);
        let connection = self.redis_commands()?;
        let value: Result<Vec<u8>, _> =
            redis::cmd("GETRANGE").arg(&key).arg(0).arg(MAX_ENTRY_BYTES).query(connection);
        let value = value.map_err(|error| self.redis_failed(error))?;
        Ok(self.entry(value))
    }

    /// The entry of a value read with GETRANGE (empty: no such key), unless it is over
    /// `MAX_ENTRY_BYTES` (refused, counted) or not an entry's JSON (counted as an error).
    fn entry(&self, value: Vec<u8>) -> Option<Entry> {
        if value.is_empty() {
            return None;
        }
        if value.len() > MAX_ENTRY_BYTES {
            self.shared.refused("size");
            return None;
        }
        match serde_json::from_slice::<Entry>(&value) {
            Ok(entry) => Some(entry),
            Err(_) => {
                metrics::counter!(metric::ERRORS, "tier" => "redis", "kind" => "entry")
                    .increment(1);
                None
            }
        }
    }

    fn db_all(&mut self) -> Result<Vec<records::ActiveVersion>, TierError> {
        let connection = self.database()?;
        let result = records::active_versions(connection);
        result.map_err(|error| self.db_failed(error))
    }

    fn db_one(&mut self, name: &str) -> Result<Option<records::ActiveVersion>, TierError> {
        let connection = self.database()?;
        let result = records::active_version(connection, name);
        result.map_err(|error| self.db_failed(error))
    }

    fn allowed(&self, name: &str) -> bool {
        self.shared.flags.load().allow.allows(name)
    }

    /// Reads everything: Redis first; the database for what Redis lacks (an expired entry) or
    /// for everything when Redis fails. Returns whether some tier answered.
    fn full_refresh(&mut self) -> bool {
        let _span = super::observe::refresh_span("full", None).entered();
        let started = Instant::now();
        self.shared.full_refreshes.fetch_add(1, Ordering::Relaxed);
        let mut prompts: Vec<Prompt> = Vec::new();
        let mut answered = None;
        let redis_complete = if self.client.is_some() && !std::mem::take(&mut self.skip_redis) {
            match self.redis_all() {
                Ok((stamp, entries)) => {
                    mark(&self.shared, Tier::Redis, Ok(()));
                    self.known_stamp = stamp;
                    answered = Some(Tier::Redis);
                    prompts.extend(
                        entries
                            .into_iter()
                            .filter(|entry| self.allowed(&entry.name))
                            .map(|entry| from_entry(entry, Tier::Redis)),
                    );
                    // Complete when Redis has every allowed prompt the application knows.
                    let have: std::collections::HashSet<&str> =
                        prompts.iter().map(|prompt| prompt.name.as_str()).collect();
                    self.shared
                        .contracts
                        .keys()
                        .filter(|name| self.allowed(name))
                        .all(|name| have.contains(name))
                }
                Err(error) => {
                    mark(&self.shared, Tier::Redis, Err(error.to_string()));
                    false
                }
            }
        } else {
            false
        };
        let mut db_answered = false;
        if !redis_complete && self.location.is_some() {
            match self.db_all() {
                Ok(active) => {
                    mark(&self.shared, Tier::Db, Ok(()));
                    db_answered = true;
                    answered = answered.or(Some(Tier::Db));
                    let have: std::collections::HashSet<String> =
                        prompts.iter().map(|prompt| prompt.name.clone()).collect();
                    for version in active {
                        if self.allowed(&version.name) && !have.contains(&version.name) {
                            prompts.push(from_active(version));
                        }
                    }
                }
                Err(error) => mark(&self.shared, Tier::Db, Err(error.to_string())),
            }
        }
        let kind_tier = answered.map_or("none", Tier::as_str);
        metrics::counter!(metric::REFRESHES, "kind" => "full", "tier" => kind_tier).increment(1);
        super::observe::refreshed(kind_tier);
        if answered.is_some() {
            self.apply(prompts);
            self.synced();
        }
        metrics::histogram!(metric::REFRESH_SECONDS, "kind" => "full")
            .record(started.elapsed().as_secs_f64());
        // Complete when Redis had everything, or the database answered for what it lacked (or
        // there is no database to ask and Redis answered).
        self.complete = redis_complete
            || db_answered
            || (self.location.is_none() && answered == Some(Tier::Redis));
        if answered.is_some() && !self.complete {
            // Prompts are missing: the next read after a reconnection reads everything.
            self.known_stamp = None;
        }
        answered.is_some()
    }

    fn on_notice(&mut self, notice: &Notice) {
        if notice.name == crate::cache::EVERYTHING {
            // `warm` rewrote the cache: read everything now.
            self.next_full = Instant::now();
            return;
        }
        if !self.allowed(&notice.name) {
            return;
        }
        let _span = super::observe::refresh_span("notice", Some(&notice.name)).entered();
        let started = Instant::now();
        let mut tier = "none";
        let mut found = None;
        match self.redis_one(&notice.name) {
            Ok(Some(entry)) => {
                tier = "redis";
                found = Some(from_entry(entry, Tier::Redis));
            }
            Ok(None) => {}
            Err(error) => mark(&self.shared, Tier::Redis, Err(error.to_string())),
        }
        if found.is_none() && self.location.is_some() {
            match self.db_one(&notice.name) {
                Ok(version) => {
                    mark(&self.shared, Tier::Db, Ok(()));
                    tier = "db";
                    found = version.map(from_active);
                }
                Err(error) => mark(&self.shared, Tier::Db, Err(error.to_string())),
            }
        }
        metrics::counter!(metric::REFRESHES, "kind" => "notice", "tier" => tier).increment(1);
        super::observe::refreshed(tier);
        match found {
            Some(prompt) => {
                self.apply(vec![prompt]);
                self.synced();
            }
            // Neither tier had it: read everything again soon.
            None if tier == "none" => self.next_full = Instant::now() + self.backoff,
            None => {}
        }
        metrics::histogram!(metric::REFRESH_SECONDS, "kind" => "notice")
            .record(started.elapsed().as_secs_f64());
    }

    fn synced(&self) {
        let mut health = self.shared.health.lock().unwrap_or_else(|poison| poison.into_inner());
        health.synced = Instant::now();
        self.shared.observer.synced();
    }
}

fn from_active(active: records::ActiveVersion) -> Prompt {
    let seconds = active
        .activated_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    Prompt {
        name: active.name,
        version: active.version,
        sha256: active.content_sha256,
        content: active.content,
        contract: active.contract,
        variables: active.variables,
        seq: active.seq,
        revision: Some(active.revision),
        activated_at: Some(crate::time::rfc3339(seconds)),
        tier: Tier::Db,
        compiled: None,
        canary: None,
        reads: metrics::Counter::noop(),
    }
    .with_canary(active.canary.map(|canary| crate::cache::CanaryEntry {
        version: canary.version,
        sha256: canary.content_sha256,
        content: canary.content,
        variables: canary.variables,
        contract: canary.contract,
        basis_points: canary.basis_points,
    }))
}

/// Bounds the PostgreSQL connect time by the refresher's timeout (whole seconds, at least 1),
/// unless the URL sets `connect_timeout` itself: an unreachable host must not hold the refresher
/// for the operating system's TCP timeout.
fn with_connect_timeout(url: &str, timeout: Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_string();
    }
    let seconds = timeout.as_secs_f64().ceil().max(1.0) as u64;
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={seconds}")
}

#[cfg(test)]
mod tests {
    use crate::cache::Layout;
    use std::time::Duration;

    #[test]
    fn connect_timeout_is_added_unless_set() {
        let second = Duration::from_millis(300);
        assert_eq!(
            super::with_connect_timeout("postgres://u@h/db", second),
            "postgres://u@h/db?connect_timeout=1"
        );
        assert_eq!(
            super::with_connect_timeout(
                "postgres://u@h/db?sslmode=disable",
                Duration::from_millis(2500)
            ),
            "postgres://u@h/db?sslmode=disable&connect_timeout=3"
        );
        assert_eq!(
            super::with_connect_timeout("postgres://u@h/db?connect_timeout=9", second),
            "postgres://u@h/db?connect_timeout=9"
        );
    }

    #[test]
    fn active_pattern_escapes_the_prefix() {
        assert_eq!(Layout { prefix: "prompt:".into() }.active_pattern(), "prompt:*:active");
        assert_eq!(
            Layout { prefix: "a*b?[c]\\".into() }.active_pattern(),
            "a\\*b\\?\\[c\\]\\\\*:active"
        );
    }
}
