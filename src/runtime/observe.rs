//! What the runtime tells an operator besides `health`: `tracing` events (an activation applied,
//! a tier down or back up, an integrity refusal), the spans of refreshes, and the metrics that
//! are more than a counter at their call site (activations by prompt, activation lag, snapshot
//! age). Events carry names, versions, tiers, reasons and redacted errors: never a prompt's text,
//! its variables, or a credential (docs/runtime.md, "Logs and traces").

use super::{metric, PromptStore, Snapshot, Tier, TierState, TierStatus};
use std::sync::Arc;
use std::time::SystemTime;

/// The target of every event and span of the runtime (`RUST_LOG=promptctl::runtime=debug`).
pub const TARGET: &str = "promptctl::runtime";

/// Seconds since the Unix epoch, now (0 on a clock before 1970).
fn unix_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Beyond this many activations in one swap, `applied` logs a summary instead of each.
const LOGGED_ACTIVATIONS: usize = 20;

/// The metric handles and the start time the events need.
pub(super) struct Observer {
    /// When the store started (Unix seconds): activations older than this were not waited for,
    /// so they are not counted in the lag.
    started: f64,
    last_sync: metrics::Gauge,
}

impl Observer {
    /// Registers the metrics that must be scrapeable before anything happens (at zero), and
    /// starts the last-sync clock (a store that never syncs goes stale from its start).
    pub(super) fn start(store_source: bool) -> Observer {
        for reason in ["sha256", "size", "contract"] {
            metrics::counter!(metric::INTEGRITY_REFUSALS, "reason" => reason).absolute(0);
        }
        let last_sync = metrics::gauge!(metric::LAST_SYNC);
        if store_source {
            last_sync.set(unix_now());
            for tier in [Tier::Redis, Tier::Db] {
                metrics::counter!(metric::ERRORS, "tier" => tier.as_str(), "kind" => "unreachable")
                    .absolute(0);
            }
        }
        Observer { started: unix_now(), last_sync }
    }

    /// The snapshot was brought in line with the store (a full read or an applied notice).
    pub(super) fn synced(&self) {
        self.last_sync.set(unix_now());
        metrics::gauge!(metric::SNAPSHOT_AGE).set(0.0);
    }

    /// Logs and counts every prompt whose served version changed between `before` and `after`
    /// (just swapped in). A tier change of the same text is not an activation. Up to
    /// `LOGGED_ACTIVATIONS` changes are logged one by one at `info`; a larger swap (a first read of
    /// thousands of prompts) is one `info` summary, and each change at `debug`.
    /// Returns the changes (the prompt now served, the version served before) for the listeners
    /// of `PromptStore::on_activation`.
    pub(super) fn applied(
        &self,
        before: &Snapshot,
        after: &Snapshot,
    ) -> Vec<(Arc<super::Prompt>, Option<i64>)> {
        let now = unix_now();
        let changed: Vec<(&String, &Arc<super::Prompt>, Option<i64>)> = after
            .prompts
            .iter()
            .filter_map(|(name, slot)| {
                let old = before.prompts.get(name);
                let same = old.is_some_and(|old| {
                    Arc::ptr_eq(old, slot) || old.current.same_text(&slot.current)
                });
                (!same).then(|| (name, &slot.current, old.map(|old| old.current.version)))
            })
            .collect();
        let one_by_one = changed.len() <= LOGGED_ACTIVATIONS;
        for &(name, to, from) in &changed {
            // The lag of an activation made while this store was running: from the store's
            // activation (whole seconds) to now.
            let activated = to.activated_at.as_deref().and_then(crate::time::parse_rfc3339);
            let lag = activated
                .map(|at| at as f64)
                .filter(|at| *at + 1.0 >= self.started)
                .map(|at| (now - at).max(0.0));
            metrics::counter!(metric::ACTIVATIONS, "prompt" => name.clone(), "source" => to.tier.as_str())
                .increment(1);
            if let Some(lag) = lag {
                metrics::histogram!(metric::ACTIVATION_LAG).record(lag);
            }
            macro_rules! applied {
                ($level:ident) => {
                    tracing::$level!(
                        target: TARGET,
                        prompt = %name,
                        from,
                        to = to.version,
                        source = to.tier.as_str(),
                        seq = to.seq,
                        latency_seconds = lag,
                        "activation applied"
                    )
                };
            }
            if one_by_one {
                applied!(info);
            } else {
                applied!(debug);
            }
        }
        if !one_by_one {
            tracing::info!(
                target: TARGET,
                prompts = changed.len(),
                "activations applied (each one at debug level)"
            );
        }
        changed.into_iter().map(|(_, to, from)| (to.clone(), from)).collect()
    }
}

/// A tier's change of state worth a log line: down (with the redacted error), back up. Made
/// under the health lock, logged after it is released (a slow log writer never holds `health`).
pub(super) struct Transition {
    tier: Tier,
    before: TierStatus,
    after: TierStatus,
    error: Option<String>,
}

impl Transition {
    pub(super) fn new(tier: Tier, before: TierStatus, state: &TierState) -> Transition {
        let down = state.status == TierStatus::Down && before != TierStatus::Down;
        let error = if down { state.last_error.clone() } else { None };
        Transition { tier, before, after: state.status, error }
    }

    pub(super) fn log(self) {
        let tier = self.tier.as_str();
        match (self.before, self.after) {
            (TierStatus::Down, TierStatus::Down) => {}
            (_, TierStatus::Down) => tracing::warn!(
                target: TARGET,
                tier,
                error = self.error.as_deref().unwrap_or_default(),
                "tier down; the snapshot keeps serving"
            ),
            (TierStatus::Down, TierStatus::Ok) => {
                tracing::info!(target: TARGET, tier, "tier up again")
            }
            (TierStatus::Unknown, TierStatus::Ok) => {
                tracing::debug!(target: TARGET, tier, "tier up")
            }
            _ => {}
        }
    }
}

/// Logs an entry refused for its integrity (`prompt`: its name and version, when known).
pub(super) fn refused(reason: &'static str, prompt: Option<(&str, i64)>) {
    tracing::warn!(
        target: TARGET,
        reason,
        prompt = prompt.map(|(name, _)| name),
        version = prompt.map(|(_, version)| version),
        "integrity refusal: the entry is not served"
    );
}

/// The span of one refresh: `kind` is `full` or `notice` (then `prompt` names it); `tier` is
/// recorded when it ends (`refreshed`).
pub(super) fn refresh_span(kind: &'static str, prompt: Option<&str>) -> tracing::Span {
    tracing::info_span!(
        target: TARGET,
        "promptctl.refresh",
        kind,
        prompt,
        tier = tracing::field::Empty
    )
}

/// Records on the current refresh span which tier answered (`redis`, `db`, `none`).
pub(super) fn refreshed(tier: &str) {
    tracing::Span::current().record("tier", tier);
}

impl PromptStore {
    /// Sets the gauges that change with time rather than with events:
    /// `promptctl_runtime_snapshot_age_seconds`, `promptctl_runtime_prompts` (by tier),
    /// `promptctl_runtime_subscribed` and `promptctl_runtime_tier_up` of the configured tiers. Call it where the metrics are
    /// rendered (before each scrape); it takes the same short lock as `health`.
    pub fn update_metrics(&self) {
        let health = self.health();
        metrics::gauge!(metric::SNAPSHOT_AGE).set(health.snapshot_age_seconds);
        if health.source == super::Source::Store {
            metrics::gauge!(metric::SUBSCRIBED).set(if health.subscribed { 1.0 } else { 0.0 });
        }
        for (tier, state) in [
            (Tier::Redis, &health.tiers.redis),
            (Tier::Db, &health.tiers.db),
            (Tier::Embedded, &health.tiers.embedded),
        ] {
            metrics::gauge!(metric::PROMPTS, "tier" => tier.as_str()).set(state.prompts as f64);
            let up = match state.status {
                TierStatus::Ok => 1.0,
                TierStatus::Down => 0.0,
                TierStatus::Disabled | TierStatus::Unknown => continue,
            };
            if tier != Tier::Embedded {
                metrics::gauge!(metric::TIER_UP, "tier" => tier.as_str()).set(up);
            }
        }
    }
}
