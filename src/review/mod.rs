//! `review`: what a change does to the prompts, for the people reviewing it. `input` reads the two
//! sides (the merge base and the head) through `crate::git`, comparing the prompt folders by tree
//! id (`folders`, pure); everything else here is pure: `classify` turns
//! the changed prompt folders into a `Report` (new prompts and versions, activation, metadata, model
//! and variable-contract changes, forbidden edits of locked versions, rendered before/after texts
//! with diffs, lint findings on changed lines), and `output` prints it as markdown, JSON or GitHub
//! annotations. Every text quoted from a file is redacted (`check::security::redact`) before it is
//! parsed for display, so no output of the review can hold a secret.
//!
//! `report` holds the types, `classify` the classification, `locks` the two locks, `changes` the
//! contract and metadata changes, `rendering` the before/after renders.

pub mod input;
pub mod output;

mod changes;
mod classify;
mod folders;
mod locks;
mod rendering;
mod report;

pub use changes::*;
pub use classify::*;
pub use locks::*;
pub use rendering::word_changes;
use rendering::*;
pub use report::*;

use crate::check::{self, security};
use crate::config::Config;
use crate::diagnostic::{Code, Diagnostic};
use crate::lock::{self, Lock};
use crate::source::{PromptFiles, SeedSource, SourceFile};
use crate::syntax::prompt::{self, Manifest, TestSpec, Type, Variable};
use crate::syntax::template::{self, Template};
use crate::text::sha256_hex;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The version of the `--format json` shape (docs/review.md).
pub const FORMAT: &str = "promptctl.review/1";

#[cfg(test)]
mod tests {
    use super::*;

    fn variable(name: &str, ty: Type, required: bool) -> Variable {
        Variable {
            name: name.into(),
            ty,
            required,
            description: None,
            user_source: false,
            span: 0..0,
        }
    }

    #[test]
    fn contract_changes_mark_what_breaks_callers() {
        let string = Type::String { max_len: None };
        let before = [
            variable("kept", string.clone(), true),
            variable("gone", string.clone(), true),
            variable("retyped", string.clone(), true),
            variable("relaxed", Type::String { max_len: Some(10) }, true),
            variable("mode", Type::Enum(vec!["a".into(), "b".into()]), true),
        ];
        let after = [
            variable("kept", string.clone(), false),
            variable("retyped", Type::Integer, true),
            variable("relaxed", Type::String { max_len: Some(20) }, true),
            variable("mode", Type::Enum(vec!["a".into(), "c".into()]), true),
            variable("extra", string.clone(), false),
            variable("needed", string, true),
        ];
        let changes = contract_changes(&before, &after);
        let summary: Vec<(String, bool)> =
            changes.iter().map(|c| (format!("{}: {}", c.variable, c.change), c.breaking)).collect();
        assert_eq!(
            summary,
            [
                ("kept: now optional".to_string(), false),
                ("gone: removed (was string)".to_string(), true),
                ("retyped: retyped: string → integer".to_string(), true),
                ("relaxed: max_len 10 → 20".to_string(), false),
                ("mode: values added: \"c\"; values removed: \"b\"".to_string(), true),
                ("extra: added (optional string)".to_string(), false),
                ("needed: added (required string)".to_string(), true),
            ]
        );
    }

    #[test]
    fn word_changes_pair_similar_lines_only() {
        let (words, added, removed) = word_changes(
            "You are a helpful assistant.\nBye\n",
            "You are a terse assistant.\nCompletely different words here\n",
        );
        assert_eq!((added, removed), (2, 2));
        assert_eq!(words.len(), 1, "{words:?}");
        assert!(words[0].segments.contains(&('-', "helpful".to_string())), "{words:?}");
        assert!(words[0].segments.contains(&('+', "terse".to_string())), "{words:?}");
    }

    // The lock entries a review reads, against the locks parsed whole: on a repository of many
    // prompts with every version locked, of which a few change.

    const CONFIG: &str = "[environments.production]\n[environments.staging]\n";

    fn manifest(active: u32) -> String {
        format!(
            "description = \"A prompt\"\n\n[activate]\nproduction = {active}\nstaging = {active}\n\n[[test]]\nname = \"ada\"\nvars = {{ who = \"Ada\" }}\n"
        )
    }

    fn version_text(name: &str, number: u32) -> String {
        format!("+++\nvariables.who = {{ type = \"string\" }}\n+++\nv{number} of {name} greets {{{{who}}}}.\n")
    }

    fn prompt_name(index: usize) -> String {
        format!("p{index:04}")
    }

    /// A prompt folder with these version texts, serving the last of them.
    fn folder(name: &str, versions: &[(u32, String)]) -> Folder {
        let mut files = BTreeMap::new();
        let active = versions.iter().map(|(number, _)| *number).max().unwrap_or(1);
        files.insert("prompt.toml".to_string(), manifest(active).into_bytes());
        for (number, text) in versions {
            files.insert(format!("v{number}.prompt"), text.clone().into_bytes());
        }
        Folder { dir: format!("prompts/{name}"), files, seed: None }
    }

    /// The base folder of prompt `index`: v1 and v2.
    fn base_folder(index: usize) -> Folder {
        let name = prompt_name(index);
        folder(&name, &[(1, version_text(&name, 1)), (2, version_text(&name, 2))])
    }

    /// The lock of `prompts` prompts with v1 and v2 of each locked, as `promptctl lock` writes it.
    fn full_lock(prompts: usize) -> Lock {
        let mut lock = Lock::default();
        lock.add((0..prompts).flat_map(|index| {
            let name = prompt_name(index);
            [1, 2].map(|number| lock::Entry {
                name: name.clone(),
                version: number,
                sha256: sha256_hex(version_text(&name, number).as_bytes()),
            })
        }));
        lock
    }

    fn input(locks: Locks, pairs: Vec<Pair>) -> Input {
        let config: Config = toml::from_str(CONFIG).expect("valid configuration");
        Input {
            base: Revision { name: "main".into(), commit: Some("0".repeat(40)) },
            merge_base: "0".repeat(40),
            head: Revision { name: "working tree".into(), commit: None },
            base_config: config.clone(),
            head_config: config,
            locks,
            pairs,
            unchanged: 0,
            base_has_prompts: true,
        }
    }

    /// Classifies with the lock entries the review reads and with the whole locks; the reports
    /// must be the same. Returns the report, and how many entries of the base's lock were read.
    fn check(base_lock: &str, head_lock: &str, pairs: Vec<Pair>) -> (Report, usize) {
        let whole = Locks::whole(Some(base_lock), Some(head_lock));
        let read = Locks::read(Some(base_lock), Some(head_lock), &pairs);
        assert!(read.agrees_with(&whole, &pairs), "the locks disagree");
        let entries = read.base.entries.len();
        let input = input(read, pairs);
        let report = classify(&input);
        let json = |report: &Report| serde_json::to_value(report).expect("serialisable");
        assert_eq!(json(&report), json(&classify_with(&input, &whole)));
        (report, entries)
    }

    /// (prompt, kinds, forbidden kinds) of each prompt of a report, and its lock rewrites.
    type Summary =
        (Vec<(String, Vec<Kind>, Vec<ForbiddenKind>)>, Vec<(String, u32, ForbiddenKind)>);

    fn summary(report: &Report) -> Summary {
        (
            report
                .prompts
                .iter()
                .map(|p| {
                    (p.name.clone(), p.kinds.clone(), p.forbidden.iter().map(|f| f.kind).collect())
                })
                .collect(),
            report.lock_rewrites.iter().map(|f| (f.prompt.clone(), f.version, f.kind)).collect(),
        )
    }

    const PROMPTS: usize = 300;

    #[test]
    fn a_new_version_locked_reads_the_entries_of_its_prompt_only() {
        let base = full_lock(PROMPTS);
        let name = prompt_name(100);
        let v3 = version_text(&name, 3);
        let mut head = base.clone();
        head.add([lock::Entry {
            name: name.clone(),
            version: 3,
            sha256: sha256_hex(v3.as_bytes()),
        }]);
        let after =
            folder(&name, &[(1, version_text(&name, 1)), (2, version_text(&name, 2)), (3, v3)]);
        let pair = Pair { name: name.clone(), base: Some(base_folder(100)), head: Some(after) };
        let (report, read) = check(&base.render(), &head.render(), vec![pair]);
        assert_eq!(read, 2, "only the changed prompt's entries");
        let (prompts, rewrites) = summary(&report);
        assert_eq!(prompts.len(), 1);
        assert_eq!(prompts[0].0, name);
        assert!(prompts[0].1.contains(&Kind::NewVersion), "{prompts:?}");
        assert!(prompts[0].2.is_empty(), "{prompts:?}");
        assert!(rewrites.is_empty(), "{rewrites:?}");
    }

    #[test]
    fn a_locked_version_edited_among_untouched_prompts_is_forbidden() {
        let lock = full_lock(PROMPTS).render();
        let name = prompt_name(50);
        let edited = version_text(&name, 1).replace("greets", "welcomes");
        let head = folder(&name, &[(1, edited), (2, version_text(&name, 2))]);
        let pair = Pair { name: name.clone(), base: Some(base_folder(50)), head: Some(head) };
        let (report, read) = check(&lock, &lock, vec![pair]);
        assert_eq!(read, 2);
        let (prompts, rewrites) = summary(&report);
        assert_eq!(prompts.len(), 1);
        assert_eq!(prompts[0].2, [ForbiddenKind::Edited]);
        assert!(prompts[0].1.contains(&Kind::Forbidden));
        assert!(rewrites.is_empty());
    }

    #[test]
    fn renamed_and_deleted_prompts_keep_their_locked_versions() {
        let lock = full_lock(PROMPTS).render();
        // p0010 moves to `renamed` (same bytes), p0020 is deleted.
        let mut moved = base_folder(10);
        moved.dir = "prompts/renamed".into();
        let pairs = vec![
            Pair { name: prompt_name(10), base: Some(base_folder(10)), head: None },
            Pair { name: prompt_name(20), base: Some(base_folder(20)), head: None },
            Pair { name: "renamed".into(), base: None, head: Some(moved) },
        ];
        let (report, read) = check(&lock, &lock, pairs);
        assert_eq!(read, 4);
        let (prompts, _) = summary(&report);
        let find = |name: &str| prompts.iter().find(|p| p.0 == name).expect("reviewed").clone();
        let renamed = find(&prompt_name(10));
        assert!(renamed.1.contains(&Kind::DeletedPrompt));
        assert_eq!(renamed.2, [ForbiddenKind::Renamed, ForbiddenKind::Renamed]);
        let deleted = find(&prompt_name(20));
        assert_eq!(deleted.2, [ForbiddenKind::Deleted, ForbiddenKind::Deleted]);
        assert!(find("renamed").1.contains(&Kind::NewPrompt));
    }

    #[test]
    fn lock_entries_removed_or_rewritten_for_untouched_prompts_are_found() {
        let base = full_lock(PROMPTS);
        let mut head = base.clone();
        head.entries.retain(|e| !(e.name == prompt_name(30) && e.version == 2));
        let rewritten = head
            .entries
            .iter_mut()
            .find(|e| e.name == prompt_name(40) && e.version == 1)
            .expect("an entry");
        rewritten.sha256 = "ab".repeat(32);
        // One folder changes as well (a new, unlocked version), far from the two.
        let name = prompt_name(200);
        let after = folder(
            &name,
            &[
                (1, version_text(&name, 1)),
                (2, version_text(&name, 2)),
                (3, version_text(&name, 3)),
            ],
        );
        let pair = Pair { name: name.clone(), base: Some(base_folder(200)), head: Some(after) };
        let (report, read) = check(&base.render(), &head.render(), vec![pair]);
        assert_eq!(read, 6, "the changed prompt's entries and those of the two prompts");
        let (prompts, rewrites) = summary(&report);
        assert_eq!(prompts.len(), 1);
        assert_eq!(
            rewrites,
            [
                (prompt_name(30), 2, ForbiddenKind::LockRemoved),
                (prompt_name(40), 1, ForbiddenKind::LockRewritten)
            ]
        );
    }

    #[test]
    fn locks_in_another_shape_are_parsed_whole() {
        let base = full_lock(PROMPTS).render();
        let name = prompt_name(7);
        let edited = version_text(&name, 2).replace("greets", "welcomes");
        let head_folder = folder(&name, &[(1, version_text(&name, 1)), (2, edited)]);
        let pair = || Pair {
            name: name.clone(),
            base: Some(base_folder(7)),
            head: Some(head_folder.clone()),
        };
        // A comment after a value, entries out of order, and a version locked twice (a merge).
        let commented = base.replacen("version = 1\n", "version = 1 # checked\n", 1);
        let entry = |index: usize| {
            let name = prompt_name(index);
            let sha = sha256_hex(version_text(&name, 1).as_bytes());
            format!("\n[[version]]\nname = \"{name}\"\nversion = 1\nsha256 = \"{sha}\"\n")
        };
        let unsorted = format!("{base}{}", entry(3));
        let twice = format!(
            "{base}\n[[version]]\nname = \"{name}\"\nversion = 2\nsha256 = \"{}\"\n",
            "cd".repeat(32)
        );
        for text in [&commented, &unsorted, &twice] {
            assert_eq!(lock::select(text, &BTreeSet::new()), None);
            for (base_text, head_text) in [(text, text), (&base, text), (text, &base)] {
                let (report, _) = check(base_text, head_text, vec![pair()]);
                let (prompts, _) = summary(&report);
                assert!(prompts[0].2.contains(&ForbiddenKind::Edited), "{prompts:?}");
            }
        }
    }

    /// A small random generator, so that the next test is the same on every run.
    struct Steps(u64);

    impl Steps {
        fn below(&mut self, bound: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % bound as u64) as usize
        }
    }

    #[test]
    fn random_changes_to_locks_and_folders_read_as_the_whole_locks_do() {
        let prompts = 12;
        let mut steps = Steps(0x5eed);
        for _ in 0..200 {
            let base = full_lock(prompts);
            let mut head = base.clone();
            for _ in 0..steps.below(4) {
                let index = steps.below(head.entries.len().max(1));
                match steps.below(3) {
                    0 if !head.entries.is_empty() => {
                        head.entries.remove(index);
                    }
                    1 if !head.entries.is_empty() => head.entries[index].sha256 = "ee".repeat(32),
                    _ => {
                        let name = prompt_name(steps.below(prompts + 2));
                        let sha = sha256_hex(version_text(&name, 3).as_bytes());
                        head.add([lock::Entry { name, version: 3, sha256: sha }]);
                    }
                }
            }
            let mut head_text = head.render();
            if steps.below(8) == 0 {
                // Sometimes a shape only the TOML parser reads.
                head_text.push_str("# edited by hand\n");
                head_text = head_text.replacen("version = 2\n", "version = 2  # kept\n", 1);
            }
            let mut pairs = Vec::new();
            for index in 0..prompts + 2 {
                let name = prompt_name(index);
                let before = (index < prompts).then(|| base_folder(index));
                let after = match steps.below(6) {
                    0 => None,
                    1 => Some(folder(
                        &name,
                        &[
                            (1, version_text(&name, 1).replace("greets", "meets")),
                            (2, version_text(&name, 2)),
                        ],
                    )),
                    2 => Some(folder(
                        &name,
                        &[
                            (1, version_text(&name, 1)),
                            (2, version_text(&name, 2)),
                            (3, version_text(&name, 3)),
                        ],
                    )),
                    3 => Some(folder(
                        &name,
                        &[(2, version_text(&name, 1)), (3, version_text(&name, 2))],
                    )),
                    // Unchanged: not a pair, as `git::read` leaves it out.
                    _ => continue,
                };
                if before.is_some() || after.is_some() {
                    pairs.push(Pair { name, base: before, head: after });
                }
            }
            check(&base.render(), &head_text, pairs);
        }
    }
}
