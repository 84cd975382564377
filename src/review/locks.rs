//! The two sides' `prompts.lock`: the entries of the changed prompts only (`Locks`), and rewrites
//! of locked entries.

use super::*;

/// The two locks as far as the review reads them: every entry of the changed prompts and, when
/// the two files differ, of every prompt whose entries differ (what `lock_rewrites` reports). A
/// lock as `promptctl lock` writes it is read in one pass that keeps only those entries, so that
/// beyond that pass the cost follows the changed prompts; any other is parsed whole, as `check`
/// does.
#[derive(Debug, Clone)]
pub struct Locks {
    pub(super) base: Lock,
    pub(super) head: Lock,
    /// The two files are identical (or both missing).
    pub(super) same: bool,
}

impl Locks {
    /// From the texts of `prompts.lock` on each side (`None`: no lock file) and the changed
    /// prompts. Debug builds (the tests') check the result against the whole locks.
    pub fn read(base: Option<&str>, head: Option<&str>, pairs: &[Pair]) -> Locks {
        let same = match (base, head) {
            // The same blob comes as the same text.
            (Some(base), Some(head)) => std::ptr::eq(base, head) || base == head,
            (base, head) => base.is_none() && head.is_none(),
        };
        let names: BTreeSet<&str> = pairs.iter().map(|pair| pair.name.as_str()).collect();
        let (base_text, head_text) = (base.unwrap_or_default(), head.unwrap_or_default());
        let selected = if same {
            lock::select(base_text, &names).map(|lock| (lock.clone(), lock))
        } else {
            lock::select_changes(base_text, head_text, &names)
        };
        let locks = match selected {
            Some((base, head)) => Locks { base, head, same },
            None => Locks::whole(base, head),
        };
        debug_assert!(
            locks.agrees_with(&Locks::whole(base, head), pairs),
            "the lock entries read for the review differ from those of the whole locks"
        );
        locks
    }

    /// Both locks parsed whole: what `read` must agree with.
    pub(super) fn whole(base: Option<&str>, head: Option<&str>) -> Locks {
        let parse =
            |text: Option<&str>| text.map_or_else(Lock::default, |t| Lock::parse(FILE, t).0);
        let same = base == head;
        let base_lock = parse(base);
        let head_lock = if same { base_lock.clone() } else { parse(head) };
        Locks { base: base_lock, head: head_lock, same }
    }

    /// Whether the review reads the same from both: the entries of every changed prompt on each
    /// side, and the rewritten or removed entries.
    pub(super) fn agrees_with(&self, other: &Locks, pairs: &[Pair]) -> bool {
        let entries = |lock: &Lock, name: &str| lock.for_prompt(name).cloned().collect::<Vec<_>>();
        let rewrites = |locks: &Locks| {
            let found =
                if locks.same { Vec::new() } else { lock_rewrites(&locks.base, &locks.head, FILE) };
            found.into_iter().map(|f| (f.prompt, f.version, f.kind, f.message)).collect::<Vec<_>>()
        };
        self.same == other.same
            && pairs.iter().all(|pair| {
                entries(&self.base, &pair.name) == entries(&other.base, &pair.name)
                    && entries(&self.head, &pair.name) == entries(&other.head, &pair.name)
            })
            && rewrites(self) == rewrites(other)
    }
}

/// The name `Lock::parse` gives the lock in its diagnostics, which the review does not show.
pub(super) const FILE: &str = "prompts.lock";

/// Entries of the base's lock that the head's lock changes or drops: `check` of the head alone
/// cannot see them, since it trusts the head's lock.
pub(super) fn lock_rewrites(base: &Lock, head: &Lock, lock_file: &str) -> Vec<Forbidden> {
    let mut found = Vec::new();
    for entry in &base.entries {
        let (kind, message) = match head.get(&entry.name, entry.version) {
            Some(now) if now.sha256 == entry.sha256 => continue,
            Some(now) => (
                ForbiddenKind::LockRewritten,
                format!(
                    "the lock entry of version {} of `{}` was rewritten (base sha256:{}, head sha256:{})",
                    entry.version,
                    entry.name,
                    lock::short(&entry.sha256),
                    lock::short(&now.sha256)
                ),
            ),
            None => (
                ForbiddenKind::LockRemoved,
                format!(
                    "the lock entry of version {} of `{}` was removed (sha256:{})",
                    entry.version,
                    entry.name,
                    lock::short(&entry.sha256)
                ),
            ),
        };
        found.push(Forbidden {
            prompt: entry.name.clone(),
            version: entry.version,
            kind,
            file: lock_file.to_string(),
            message,
            help: format!("entries of `{lock_file}` are added, never rewritten: restore the entry from the base branch"),
        });
    }
    found
}
