//! What a fleet needs when Redis comes back: reconnect waits with jitter, so that services that
//! lost Redis together do not come back in step, and a refresh after a reconnection that reads
//! only what changed when the cache's stamp allows it (docs/runtime.md, "Reconnecting"), instead
//! of every service reading the whole cache at once.

use super::{mark, metric, Worker};
use crate::cache::Layout;
use crate::runtime::{from_entry, Tier};
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

impl Worker {
    /// Installs what the refresher read (`Shared::apply_followed`).
    pub(super) fn apply(&self, prompts: Vec<super::Prompt>) {
        self.shared.apply_followed(self.generation, prompts);
    }

    /// After `PromptStore::reconfigure`: read everything now (prompts newly allowed).
    pub(super) fn take_reload(&mut self) {
        if self.shared.reload.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.known_stamp = None;
            self.next_full = Instant::now();
        }
    }

    /// The read after a (re)subscription and while polling without one: only what changed since
    /// the last full read when the stamp allows it, everything otherwise (and at start). Returns
    /// whether some tier answered.
    pub(super) fn refresh_since_known(&mut self) -> bool {
        let answered = self.read_since_known();
        self.behind = !answered;
        answered
    }

    /// What the subscription's timer reads: a retry of a read after a subscription that got no
    /// answer reads only what changed; the periodic safety net reads everything.
    pub(super) fn scheduled_refresh(&mut self) {
        if self.behind {
            self.refresh_since_known();
        } else {
            self.full_refresh();
        }
    }

    /// The wait before that retry: jittered, so that services that subscribed together while
    /// Redis was loading do not retry in step.
    pub(super) fn retry_after(&self) -> Duration {
        let options = &self.shared.options;
        jittered(options.reconnect_max.min(options.degraded_poll).max(Duration::from_millis(200)))
    }

    fn read_since_known(&mut self) -> bool {
        let Some(known) = self.known_stamp else { return self.full_refresh() };
        match self.changes_refresh(known) {
            Outcome::Done => true,
            Outcome::Fallback => self.full_refresh(),
            // Redis just failed: the database alone, without asking Redis again.
            Outcome::RedisDown if self.location.is_some() => {
                self.skip_redis = true;
                self.full_refresh()
            }
            Outcome::RedisDown => false,
        }
    }

    /// Brings the snapshot up to date from stamp `known` by reading only the changed entries,
    /// unless the cache cannot say what changed or a changed entry is missing (`Fallback`: read
    /// everything) or Redis fails.
    fn changes_refresh(&mut self, known: i64) -> Outcome {
        let started = Instant::now();
        let layout = self.layout.clone();
        let asked = match self.redis_commands() {
            Ok(connection) => {
                let asked = since(connection, &layout, known);
                asked.map_err(|error| self.redis_failed(error))
            }
            Err(error) => Err(error),
        };
        let since = match asked {
            Ok(since) => since,
            Err(error) => {
                mark(&self.shared, Tier::Redis, Err(error.to_string()));
                return Outcome::RedisDown;
            }
        };
        match since {
            Since::Unknown => return Outcome::Fallback,
            Since::Changed(names, stamp) => {
                let names: Vec<String> =
                    names.into_iter().filter(|name| self.allowed(name)).collect();
                let keys: Vec<String> = names.iter().map(|name| layout.active(name)).collect();
                match self.redis_entries(&keys) {
                    // Every changed entry is there (none expired, none refused).
                    Ok(entries) if entries.len() == keys.len() => {
                        let prompts =
                            entries.into_iter().map(|entry| from_entry(entry, Tier::Redis));
                        self.apply(prompts.collect());
                        self.known_stamp = Some(stamp);
                    }
                    Ok(_) => return Outcome::Fallback,
                    Err(error) => {
                        mark(&self.shared, Tier::Redis, Err(error.to_string()));
                        return Outcome::RedisDown;
                    }
                }
            }
            Since::Unchanged => {}
        }
        mark(&self.shared, Tier::Redis, Ok(()));
        self.synced();
        metrics::counter!(metric::REFRESHES, "kind" => "changes", "tier" => "redis").increment(1);
        metrics::histogram!(metric::REFRESH_SECONDS, "kind" => "changes")
            .record(started.elapsed().as_secs_f64());
        Outcome::Done
    }
}

/// How `changes_refresh` ended.
enum Outcome {
    /// The snapshot is up to date with the cache.
    Done,
    /// The cache cannot say what changed: read everything.
    Fallback,
    /// Redis failed (marked down).
    RedisDown,
}

/// A wait drawn uniformly from `[backoff / 2, backoff]`: the doubling still bounds the retry rate,
/// and the half that is random spreads services that failed together over the interval.
pub(super) fn jittered(backoff: Duration) -> Duration {
    let half = backoff / 2;
    let span = (backoff - half).as_nanos() as u64;
    if span == 0 {
        return backoff;
    }
    half + Duration::from_nanos(random() % (span + 1))
}

/// 64 random bits from the standard library's per-process random hasher keys (no dependency;
/// nothing here needs more than spreading).
fn random() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    hasher.write_u128(now.map_or(0, |since| since.as_nanos()));
    hasher.finish()
}

/// What a reader that holds the cache as of stamp `known` has to read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Since {
    /// The stamp is still `known`: no writer changed the cache.
    Unchanged,
    /// These prompts' entries changed (the stamp is now the second field).
    Changed(Vec<String>, i64),
    /// The cache cannot say (no stamp, an older stamp, or a changes index that does not reach
    /// back to `known`): read everything.
    Unknown,
}

/// The stamp (`Layout::stamp`): the store revision the cache is consistent with, if any.
pub(super) fn stamp(
    connection: &mut crate::redis_target::Commands,
    layout: &Layout,
) -> redis::RedisResult<Option<i64>> {
    let value: Option<String> = redis::cmd("GET").arg(layout.stamp()).query(connection)?;
    Ok(value.and_then(|text| text.parse().ok()))
}

/// Compares the cache's stamp with `known` and, when they differ, asks the changes index
/// (`Layout::changes`) for the prompts written since: one round trip of four commands.
pub(super) fn since(
    connection: &mut crate::redis_target::Commands,
    layout: &Layout,
    known: i64,
) -> redis::RedisResult<Since> {
    if connection.is_cluster() {
        // A cluster has no changes index (`cache::Cache::write`): read everything.
        return Ok(Since::Unknown);
    }
    let changes = layout.changes();
    // Read in this order: a writer between two of them can only make the answer `Unknown` (the
    // stamp read first is older than the index's `_stamp`) or list more names than needed.
    let (stamp, in_step, from, names): (Option<String>, Option<f64>, Option<f64>, Vec<String>) =
        redis::pipe()
            .cmd("GET")
            .arg(layout.stamp())
            .cmd("ZSCORE")
            .arg(&changes)
            .arg("_stamp")
            .cmd("ZSCORE")
            .arg(&changes)
            .arg("_since")
            .cmd("ZRANGEBYSCORE")
            .arg(&changes)
            .arg(format!("({known}"))
            .arg("+inf")
            .query(connection)?;
    Ok(decide(known, stamp.and_then(|text| text.parse().ok()), in_step, from, names))
}

fn decide(
    known: i64,
    stamp: Option<i64>,
    in_step: Option<f64>,
    from: Option<f64>,
    names: Vec<String>,
) -> Since {
    let Some(stamp) = stamp else { return Since::Unknown };
    if stamp == known {
        return Since::Unchanged;
    }
    let in_step = in_step == Some(stamp as f64);
    let reaches_back = from.is_some_and(|from| from <= known as f64);
    if stamp < known || !in_step || !reaches_back {
        return Since::Unknown;
    }
    // `_stamp` and `_since` are the index's own members; no prompt name starts with `_`.
    let names = names.into_iter().filter(|name| !name.starts_with('_')).collect();
    Since::Changed(names, stamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_whole() {
        let backoff = Duration::from_millis(100);
        let waits: Vec<Duration> = (0..200).map(|_| jittered(backoff)).collect();
        assert!(waits.iter().all(|wait| *wait >= backoff / 2 && *wait <= backoff), "{waits:?}");
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 100, "waits are spread: {} distinct of 200", distinct.len());
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn what_to_read_after_a_reconnection() {
        let names = || vec!["_stamp".to_string(), "qa".to_string()];
        assert_eq!(decide(7, Some(7), Some(7.0), Some(-1.0), names()), Since::Unchanged);
        assert_eq!(decide(7, None, None, None, vec![]), Since::Unknown);
        assert_eq!(
            decide(7, Some(9), Some(9.0), Some(-1.0), names()),
            Since::Changed(vec!["qa".into()], 9)
        );
        assert_eq!(
            decide(7, Some(9), Some(9.0), Some(7.0), names()),
            Since::Changed(vec!["qa".into()], 9)
        );
        // The index starts after what the reader knows, or lags the stamp, or is absent.
        assert_eq!(decide(7, Some(9), Some(9.0), Some(8.0), names()), Since::Unknown);
        assert_eq!(decide(7, Some(9), Some(8.0), Some(-1.0), names()), Since::Unknown);
        assert_eq!(decide(7, Some(9), None, None, vec![]), Since::Unknown);
        // A cache rewritten from an older store.
        assert_eq!(decide(7, Some(5), Some(5.0), Some(-1.0), names()), Since::Unknown);
    }
}
