//! Comparing the prompt folders of two prompts trees by their tree ids (pure: the trees come
//! from `git`).

use crate::git::{Entry, Oid, Tree};
use std::collections::{BTreeMap, BTreeSet};

/// Prompt folders of a prompts tree with their tree ids.
fn folder_ids(tree: Option<&Tree>) -> BTreeMap<String, Oid> {
    let Some(tree) = tree else { return BTreeMap::new() };
    tree.entries()
        .filter(Entry::is_tree)
        .filter_map(|entry| Some((entry.name()?.to_string(), entry.id())))
        .filter(|(name, _)| !name.starts_with('.'))
        .collect()
}

/// Whether a prompts tree has a prompt folder of that name.
pub(super) fn is_folder(tree: &Tree, name: &str) -> bool {
    !name.starts_with('.') && tree.get(name).is_some_and(|entry| entry.is_tree())
}

/// How the prompt folders of two prompts trees compare.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Comparison {
    /// Folders whose tree ids differ, and folders on one side only.
    pub(super) changed: BTreeSet<String>,
    /// For each changed folder: whether it is in the base, and in the head.
    pub(super) presence: BTreeMap<String, (bool, bool)>,
    /// How many folders are on both sides (changed or not).
    pub(super) on_both_sides: usize,
}

/// Compares the prompt folders of two prompts trees by their tree ids: nothing below the prompts
/// tree is read, so beyond its two listings (a tree object is one sorted list, a few bytes per
/// prompt) the cost follows the changed folders.
pub(super) fn compare_folders(base: Option<&Tree>, head: Option<&Tree>) -> Comparison {
    match compare_sorted(folders(base), folders(head)) {
        Some(comparison) => comparison,
        // Trees git did not write (out of order, or a name twice): compared by name instead.
        None => compare_maps(&folder_ids(base), &folder_ids(head)),
    }
}

/// The prompt folders of a prompts tree, in the tree's order.
fn folders<'t>(tree: Option<&'t Tree<'_>>) -> impl Iterator<Item = Entry<'t>> {
    tree.into_iter().flat_map(Tree::entries).filter(is_prompt_folder)
}

/// A sub-tree with a UTF-8 name that does not start with `.`.
fn is_prompt_folder(entry: &Entry<'_>) -> bool {
    entry.is_tree()
        && std::str::from_utf8(entry.name_bytes()).is_ok_and(|name| !name.starts_with('.'))
}

/// A folder of a listing: its name and tree id.
trait Listed {
    fn name(&self) -> &[u8];
    fn id(&self) -> Oid;
}

impl Listed for Entry<'_> {
    fn name(&self) -> &[u8] {
        self.name_bytes()
    }

    fn id(&self) -> Oid {
        Entry::id(self)
    }
}

/// Git's order of the sub-trees of a tree: by name, as if each ended with `/`.
fn tree_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.iter().chain(b"/").cmp(b.iter().chain(b"/"))
}

/// Walks two folder listings in git's order side by side, without copying them; `None` when one
/// of them is not strictly in that order, as no tree that git writes is.
fn compare_sorted<E: Listed>(
    base: impl Iterator<Item = E>,
    head: impl Iterator<Item = E>,
) -> Option<Comparison> {
    use std::cmp::Ordering;
    fn mark(comparison: &mut Comparison, name: &[u8], presence: (bool, bool)) {
        // Listings hold UTF-8 names only.
        let name = String::from_utf8_lossy(name).into_owned();
        comparison.presence.insert(name.clone(), presence);
        comparison.changed.insert(name);
    }
    /// The next folder of a listing, `None` when the one after it does not come after it.
    fn next_in_order<E: Listed>(
        listing: &mut std::iter::Peekable<impl Iterator<Item = E>>,
    ) -> Option<E> {
        let entry = listing.next()?;
        match listing.peek() {
            Some(after) if tree_order(entry.name(), after.name()) != Ordering::Less => None,
            _ => Some(entry),
        }
    }
    let (mut base, mut head) = (base.peekable(), head.peekable());
    let mut comparison = Comparison::default();
    loop {
        let order = match (base.peek(), head.peek()) {
            (Some(left), Some(right)) => tree_order(left.name(), right.name()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => return Some(comparison),
        };
        match order {
            Ordering::Less => {
                let entry = next_in_order(&mut base)?;
                mark(&mut comparison, entry.name(), (true, false));
            }
            Ordering::Greater => {
                let entry = next_in_order(&mut head)?;
                mark(&mut comparison, entry.name(), (false, true));
            }
            Ordering::Equal => {
                let (left, right) = (next_in_order(&mut base)?, next_in_order(&mut head)?);
                comparison.on_both_sides += 1;
                if left.id() != right.id() {
                    mark(&mut comparison, left.name(), (true, true));
                }
            }
        }
    }
}

/// `compare_sorted` for listings in any order, through maps by name.
fn compare_maps(base: &BTreeMap<String, Oid>, head: &BTreeMap<String, Oid>) -> Comparison {
    let mut comparison = Comparison::default();
    for (name, id) in base {
        match head.get(name) {
            Some(other) => {
                comparison.on_both_sides += 1;
                if other != id {
                    comparison.presence.insert(name.clone(), (true, true));
                }
            }
            None => {
                comparison.presence.insert(name.clone(), (true, false));
            }
        }
    }
    for name in head.keys().filter(|name| !base.contains_key(*name)) {
        comparison.presence.insert(name.clone(), (false, true));
    }
    comparison.changed = comparison.presence.keys().cloned().collect();
    comparison
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> Oid {
        Oid::from_bytes(&[byte; 20]).expect("20 bytes")
    }

    impl Listed for (&[u8], Oid) {
        fn name(&self) -> &[u8] {
            self.0
        }

        fn id(&self) -> Oid {
            self.1
        }
    }

    fn walk(base: &[(&[u8], Oid)], head: &[(&[u8], Oid)]) -> Option<Comparison> {
        compare_sorted(base.iter().copied(), head.iter().copied())
    }

    /// A listing sorted as git sorts a tree's sub-trees (`a-b/` before `a/`).
    fn listing<'n>(entries: &[(&'n str, u8)]) -> Vec<(&'n [u8], Oid)> {
        let mut listing: Vec<(&[u8], Oid)> =
            entries.iter().map(|(name, byte)| (name.as_bytes(), id(*byte))).collect();
        listing.sort_by(|a, b| tree_order(a.0, b.0));
        listing
    }

    fn maps(listing: &[(&[u8], Oid)]) -> BTreeMap<String, Oid> {
        listing.iter().map(|(name, id)| (String::from_utf8_lossy(name).into_owned(), *id)).collect()
    }

    #[test]
    fn the_side_by_side_walk_agrees_with_maps_by_name() {
        let base = listing(&[("a", 1), ("a-b", 2), ("b", 3), ("c", 4), ("gone", 5), ("a.b", 6)]);
        let head = listing(&[("a", 1), ("a-b", 9), ("b", 3), ("c", 8), ("new", 7), ("a.b", 6)]);
        assert_eq!(tree_order(b"a-b", b"a"), std::cmp::Ordering::Less, "git's order");
        let walked = walk(&base, &head).expect("in git's order");
        assert_eq!(walked, compare_maps(&maps(&base), &maps(&head)));
        let changed: Vec<&str> = walked.changed.iter().map(String::as_str).collect();
        assert_eq!(changed, ["a-b", "c", "gone", "new"]);
        assert_eq!(walked.presence["gone"], (true, false));
        assert_eq!(walked.presence["new"], (false, true));
        assert_eq!(walked.presence["c"], (true, true));
        assert_eq!(walked.on_both_sides, 5);
        // One side empty: everything on the other changed.
        let all_new = walk(&[], &head).expect("sorted");
        assert_eq!(all_new.changed.len(), head.len());
        assert_eq!(all_new.on_both_sides, 0);
    }

    #[test]
    fn listings_out_of_git_order_are_not_walked() {
        let mut unsorted = listing(&[("a", 1), ("b", 2)]);
        unsorted.reverse();
        assert_eq!(walk(&unsorted, &listing(&[("a", 1)])), None);
        let twice = [(&b"a"[..], id(1)), (&b"a"[..], id(2))];
        assert_eq!(walk(&listing(&[("a", 1)]), &twice), None);
        // Byte order is not git's order either.
        let bytewise = [(&b"a"[..], id(1)), (&b"a-b"[..], id(2))];
        assert_eq!(walk(&bytewise, &bytewise), None);
    }
}
