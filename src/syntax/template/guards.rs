//! The one model of `#if` guards and of the canonical paths they are matched against, which the
//! variables rules (`variables/unguarded-optional`) and the portability rules
//! (`portability/unguarded-each`) share. A canonical path names a declared value whatever path
//! reached it (`player.name`, `items[].label` for the field of every item, `xs.[0]`, `xs.length`);
//! its optional prefixes are the ones whose last component may be absent (an optional variable or
//! field, an array element). A guard is a path known to be truthy, hence present, where it is in
//! scope: the argument of `#if` (in its body), of `#unless` (in its `{{else}}`), of `#each` and
//! `#with` (in their bodies). Pure; matching allocates nothing.

use super::Path;

/// A canonical path with its optional prefixes. Built a step per path segment from the canonical
/// path of the context the path starts from (empty for the root context, `@root` and anything
/// with no declaration); every optional prefix is a prefix of the path, followed in it by `.` or
/// `[` (or by nothing: the path itself), so each is kept as its length. Empty, it allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Canonical {
    path: String,
    /// The lengths of the optional prefixes, shortest first.
    optional: Vec<usize>,
}

impl Canonical {
    /// The canonical path of the context of a block over this path: `#with x` is `x`, `#each xs`
    /// over an array `xs[]` (`items`). Without the optional prefixes: a path read inside the block
    /// needs guards for what it reads further only (the argument is checked where it is written).
    pub fn context(&self, items: bool) -> Canonical {
        let mut path = String::with_capacity(self.path.len() + if items { 2 } else { 0 });
        path.push_str(&self.path);
        if items {
            path.push_str("[]");
        }
        Canonical { path, optional: Vec::new() }
    }

    /// A declared variable, read from the root context (whose canonical path is empty: only it
    /// names variables); optional unless `required`.
    pub fn variable(&mut self, name: &str, required: bool) {
        self.path.clear();
        self.path.push_str(name);
        self.optional.clear();
        if !required {
            self.optional.push(self.path.len());
        }
    }

    /// `.name`: a declared field of the object this path names; optional unless `required`.
    pub fn field(&mut self, name: &str, required: bool) {
        self.path.push('.');
        self.path.push_str(name);
        if !required {
            self.optional.push(self.path.len());
        }
    }

    /// `.[index]`: an element of the array this path names, which may always be absent.
    pub fn element(&mut self, index: &str) {
        self.path.push_str(".[");
        self.path.push_str(index);
        self.path.push(']');
        self.optional.push(self.path.len());
    }

    /// `.length` of the array this path names, present whenever the array is.
    pub fn length(&mut self) {
        self.path.push_str(".length");
    }

    pub fn into_string(self) -> String {
        self.path
    }

    pub fn as_str(&self) -> &str {
        &self.path
    }

    pub fn is_empty(&self) -> bool {
        self.path.is_empty()
    }

    /// The optional prefixes, shortest first; the path itself last when it is optional, unless
    /// `itself` is false (reading through a value to test or iterate it needs the values around it
    /// present, not the value itself).
    pub fn optional(&self, itself: bool) -> impl Iterator<Item = &str> + '_ {
        let count = if itself {
            self.optional.len()
        } else {
            self.optional.len() - usize::from(self.optional.last() == Some(&self.path.len()))
        };
        self.optional[..count].iter().map(|&end| &self.path[..end])
    }
}

/// A canonical path as the user wrote it: without the `[]` of the items of an array.
pub fn shown(canonical: &str) -> String {
    canonical.replace("[]", "")
}

/// Which guards cover an optional prefix `p` of a canonical path `c`. Both rules accept a guard
/// whose canonical path is `p` or a path under it (`#if p.ys` means `p` is present); they differ
/// on guards off `c`'s own path, and the difference is kept so that their diagnostics stay as
/// they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Any guard that is `p` or under it (`portability/unguarded-each`).
    Under,
    /// Only a guard that is `p`, or under it and a prefix of `c` (`variables/unguarded-optional`:
    /// `{{#if p.ys}}` guards `p` for `{{p.ys.[0]}}`, not for `{{p.name}}`).
    Along,
}

/// A guard: its canonical path once known, or the path as written with the number of frames that
/// were in scope there, to resolve when a rule first consults it (see `Guards::unguarded`).
#[derive(Debug)]
enum Guard<'t> {
    Written { path: &'t Path, frames: usize },
    Canonical(String),
}

/// The guards in scope, innermost last.
#[derive(Debug, Default)]
pub struct Guards<'t> {
    stack: Vec<Guard<'t>>,
}

impl<'t> Guards<'t> {
    /// A guard whose canonical path the user knows already (it resolved the argument anyway).
    pub fn push_canonical(&mut self, canonical: &Canonical) {
        self.stack.push(Guard::Canonical(canonical.as_str().to_owned()));
    }

    /// A guard `path`, written where `frames` frames were in scope: its canonical path is only
    /// built if a rule consults the guards while it is in scope.
    pub fn push_written(&mut self, path: &'t Path, frames: usize) {
        self.stack.push(Guard::Written { path, frames });
    }

    pub fn pop(&mut self) {
        self.stack.pop();
    }

    /// The first of `canonical`'s optional prefixes (see `Canonical::optional` for `itself`) that
    /// no guard in scope covers, as `reach` tells. Resolves the guards still as written first,
    /// once each, with `resolve(path, frames)`: the canonical path of `path` resolved against the
    /// outermost `frames` frames (empty when it has none), which those frames, still in scope
    /// below the guard, keep valid as long as it is.
    pub fn unguarded<'c>(
        &mut self,
        canonical: &'c Canonical,
        itself: bool,
        reach: Reach,
        mut resolve: impl FnMut(&'t Path, usize) -> String,
    ) -> Option<&'c str> {
        let mut optional = canonical.optional(itself).peekable();
        optional.peek()?;
        for guard in &mut self.stack {
            if let Guard::Written { path, frames } = *guard {
                *guard = Guard::Canonical(resolve(path, frames));
            }
        }
        optional.find(|prefix| !self.covered(prefix, canonical.as_str(), reach))
    }

    fn covered(&self, prefix: &str, path: &str, reach: Reach) -> bool {
        self.stack.iter().any(|guard| {
            let Guard::Canonical(guard) = guard else { return false };
            if guard == prefix {
                return true;
            }
            let under = guard.strip_prefix(prefix).is_some_and(|rest| rest.starts_with(['.', '[']));
            under && (reach == Reach::Under || path.starts_with(guard.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(steps: &[&str]) -> Canonical {
        let mut canonical = Canonical::default();
        for step in steps {
            match *step {
                "[]" => canonical = canonical.context(true),
                "length" => canonical.length(),
                step if step.starts_with('[') => canonical.element(&step[1..step.len() - 1]),
                step if step.starts_with('?') => canonical.field(&step[1..], false),
                step => canonical.field(step, true),
            }
        }
        canonical
    }

    #[test]
    fn builds_canonical_paths() {
        let mut p = Canonical::default();
        p.variable("p", false);
        assert_eq!(p.context(true).as_str(), "p[]");
        assert_eq!(p.context(false).optional(true).count(), 0);
        p.field("ys", false);
        p.element("0");
        p.field("name", true);
        assert_eq!(p.as_str(), "p.ys.[0].name");
        assert_eq!(p.optional(true).collect::<Vec<_>>(), ["p", "p.ys", "p.ys.[0]"]);
        p.length();
        assert_eq!(p.optional(false).count(), 3);
        let items = canonical(&["[]", "?label"]);
        assert_eq!(items.as_str(), "[].label");
        assert_eq!(items.optional(false).count(), 0);
        assert_eq!(shown("items[].label"), "items.label");
    }

    #[test]
    fn matches_guards() {
        let mut p = Canonical::default();
        p.variable("p", false);
        let mut name = p.clone();
        name.field("name", true);
        let mut ys = p.clone();
        ys.field("ys", false);
        let mut pq = Canonical::default();
        pq.variable("pq", true);
        let mut guards = Guards::default();
        let no_resolve = |_: &Path, _: usize| unreachable!();
        assert_eq!(guards.unguarded(&name, true, Reach::Along, no_resolve), Some("p"));
        guards.push_canonical(&pq);
        assert_eq!(guards.unguarded(&name, true, Reach::Under, no_resolve), Some("p"));
        guards.push_canonical(&ys);
        assert_eq!(guards.unguarded(&name, true, Reach::Along, no_resolve), Some("p"));
        assert_eq!(guards.unguarded(&name, true, Reach::Under, no_resolve), None);
        assert_eq!(guards.unguarded(&ys, true, Reach::Along, no_resolve), None);
        assert_eq!(guards.unguarded(&ys, false, Reach::Along, no_resolve), None);
        guards.pop();
        assert_eq!(guards.unguarded(&ys, true, Reach::Under, no_resolve), Some("p"));
        guards.push_canonical(&p);
        assert_eq!(guards.unguarded(&ys, true, Reach::Under, no_resolve), Some("p.ys"));
        assert_eq!(guards.unguarded(&ys, false, Reach::Under, no_resolve), None);
    }
}
