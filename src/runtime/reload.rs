//! The feature flag flipped while running (docs/runtime.md, "Changing the source without a
//! restart"): `PromptStore::reconfigure` changes the source and the allow-list at once for every
//! reader, puts prompts that stop following the store back on their embedded text, and has the
//! refresher read what newly follows it.

use super::{spawn_refresher, Allow, Flags, OptionsError, PromptStore, Source, Tier, TierState};
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl PromptStore {
    /// Changes where prompts are read from and which follow the store, without a restart:
    /// `embedded` stops the refresher and serves the compiled texts again; `store` starts it (or,
    /// when it runs, has it read everything now); a prompt the allow-list no longer names returns
    /// to its embedded text (one the registry does not have is no longer served). Readers see the
    /// change at once, in one swap. The URLs and timings stay those `start` was given; `store`
    /// without any URL among them is refused like `Options::from_env` refuses it.
    pub fn reconfigure(&self, source: Source, allow: Allow) -> Result<(), OptionsError> {
        let shared = &self.shared;
        let options = &shared.options;
        if source == Source::Store && options.redis_url.is_none() && options.database_url.is_none()
        {
            return Err(OptionsError::NowhereToRead);
        }
        let _reconfiguring =
            shared.reconfiguring.lock().unwrap_or_else(|poison| poison.into_inner());
        let old = shared.flags.load_full();
        if old.source == source && old.allow == allow {
            return Ok(());
        }
        let follows = |name: &str| source == Source::Store && allow.allows(name);
        let current = shared.snapshot.load_full();
        let mut next = (*current).clone();
        for (name, slot) in &current.prompts {
            if slot.current.tier == Tier::Embedded || follows(name) {
                continue;
            }
            match shared.seed.prompts.get(name) {
                Some(seed) => next.prompts.insert(name.clone(), seed.clone()),
                None => next.prompts.remove(name),
            };
        }
        shared.flags.store(Arc::new(Flags { source, allow }));
        shared.snapshot.store(Arc::new(next));
        {
            let mut health = shared.health.lock().unwrap_or_else(|poison| poison.into_inner());
            let store = source == Source::Store;
            if store != (old.source == Source::Store) {
                health.redis = TierState::new(store && options.redis_url.is_some());
                health.db = TierState::new(store && options.database_url.is_some());
                health.subscribed = false;
            }
        }
        match (old.source, source) {
            (Source::Store, Source::Embedded) => {
                // The refresher of this generation sees the change and stops.
                shared.generation.fetch_add(1, Ordering::SeqCst);
            }
            (Source::Embedded, Source::Store) => spawn_refresher(shared),
            _ => shared.reload.store(true, Ordering::SeqCst),
        }
        shared.wake.1.notify_all();
        Ok(())
    }
}
