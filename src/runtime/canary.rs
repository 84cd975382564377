//! Canary rollouts in the runtime (docs/runtime.md, "Canary assignment"): a served prompt may
//! carry a canary, a second version that `get_for` and `render_for` serve to the keys that
//! `crate::rollout` puts in its share, sticky per key; `get` and `render` keep serving the stable
//! version. Both versions arrive in one cache entry (or one store row), are checked by their own
//! sha256, and are swapped in together.

use super::{metric, Prompt, PromptStore, RenderError, Rendered};
use crate::registry::Typed;
use crate::render::Compiled;
use std::sync::Arc;

/// A canary served beside a prompt's stable version to a share of the keys.
#[derive(Debug, Clone)]
pub struct Canary {
    /// The canary version, as `get_for` returns it to the keys in the canary.
    pub prompt: Arc<Prompt>,
    /// The share of keys in basis points (percent × 100, 0..=10000).
    pub basis_points: u32,
    /// The rollout id the assignment hashes (`rollout::rollout_id(stable, canary)`).
    pub rollout_id: String,
}

impl Canary {
    /// Whether `key` is served the canary.
    pub fn serves(&self, key: &str) -> bool {
        crate::rollout::in_canary(&self.prompt.name, &self.rollout_id, key, self.basis_points)
    }
}

/// Whether two canaries (or their absence) serve the same text to the same share.
pub(super) fn same(a: Option<&Canary>, b: Option<&Canary>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.prompt.version == b.prompt.version
                && a.prompt.sha256 == b.prompt.sha256
                && a.basis_points == b.basis_points
                && a.rollout_id == b.rollout_id
        }
        _ => false,
    }
}

/// The read counter of one served version.
pub(super) fn reads_counter(name: &str, version: i64, role: &'static str) -> metrics::Counter {
    metrics::counter!(metric::READS, "prompt" => name.to_string(), "version" => version.to_string(), "role" => role)
}

impl Prompt {
    /// This prompt with the canary of a cache entry (or a store row), unchecked: `install`
    /// checks its size and sha256 as the stable version's.
    pub(super) fn with_canary(mut self, entry: Option<crate::cache::CanaryEntry>) -> Prompt {
        if let Some(entry) = entry {
            let basis_points =
                u32::try_from(entry.basis_points.clamp(0, i64::from(crate::rollout::BUCKETS)))
                    .unwrap_or(0);
            let rollout_id = crate::rollout::rollout_id(
                u32::try_from(self.version).unwrap_or(0),
                u32::try_from(entry.version).unwrap_or(0),
            );
            let prompt = Prompt {
                name: self.name.clone(),
                version: entry.version,
                sha256: entry.sha256,
                content: entry.content,
                contract: entry.contract,
                variables: entry.variables,
                seq: self.seq,
                revision: self.revision,
                activated_at: self.activated_at.clone(),
                tier: self.tier,
                compiled: None,
                canary: None,
                reads: metrics::Counter::noop(),
            };
            self.canary =
                Some(Arc::new(Canary { prompt: Arc::new(prompt), basis_points, rollout_id }));
        }
        self
    }
}

/// The canary ready to serve: parsed (or the parse of the same text already served, `reused`),
/// with its read counter.
pub(super) fn prepared(canary: &Canary, reused: Option<&Arc<Prompt>>) -> Canary {
    let mut prompt = (*canary.prompt).clone();
    prompt.compiled = match reused {
        Some(old) => old.compiled.clone(),
        None => Compiled::new(prompt.content.as_str()).ok().map(Arc::new),
    };
    prompt.reads = reads_counter(&prompt.name, prompt.version, "canary");
    Canary {
        prompt: Arc::new(prompt),
        basis_points: canary.basis_points,
        rollout_id: canary.rollout_id.clone(),
    }
}

impl PromptStore {
    /// The version of `name` served to `key`: the canary when a rollout puts `key` in its share
    /// (the same answer for the same key in every process and language: docs/runtime.md), the
    /// stable version otherwise. The returned prompt's `version` says which one served, for the
    /// application's own logging of outcomes.
    pub fn get_for(&self, name: &str, key: &str) -> Option<Arc<Prompt>> {
        let snapshot = self.shared.snapshot.load();
        let Some(slot) = snapshot.prompts.get(name) else {
            self.shared.misses.increment(1);
            return None;
        };
        let prompt = match &slot.current.canary {
            Some(canary) if canary.serves(key) => canary.prompt.clone(),
            _ => slot.current.clone(),
        };
        self.shared.hits[prompt.tier as usize].increment(1);
        prompt.reads.increment(1);
        Some(prompt)
    }

    /// `render` for `key`: the canary's text when `key` is in its share and the canary has `V`'s
    /// variable contract (a canary with another contract is served to `get_for` only), the text
    /// `render` uses otherwise. `Rendered::prompt` says which version rendered.
    pub fn render_for<V: Typed>(&self, key: &str, vars: &V) -> Result<Rendered, RenderError> {
        let canary = {
            let snapshot = self.shared.snapshot.load();
            snapshot.prompts.get(V::NAME).and_then(|slot| {
                slot.current
                    .canary
                    .as_ref()
                    .filter(|canary| {
                        canary.serves(key)
                            && canary.prompt.contract == V::CONTRACT
                            && canary.prompt.compiled.is_some()
                    })
                    .map(|canary| canary.prompt.clone())
            })
        };
        let Some(prompt) = canary else { return self.render(vars) };
        self.shared.hits[prompt.tier as usize].increment(1);
        prompt.reads.increment(1);
        let value = serde_json::to_value(vars).map_err(|error| RenderError::Vars {
            name: V::NAME.to_string(),
            message: error.to_string(),
        })?;
        let text = prompt.render_json(&value)?;
        Ok(Rendered { text, prompt })
    }
}
