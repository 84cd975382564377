//! `review`: what a change does to the prompts, for the people reviewing it. `git` reads the two
//! sides (the merge base and the head) out of git; everything else here is pure: `classify` turns
//! the changed prompt folders into a `Report` (new prompts and versions, activation, metadata, model
//! and variable-contract changes, forbidden edits of locked versions, rendered before/after texts
//! with diffs, lint findings on changed lines), and `output` prints it as markdown, JSON or GitHub
//! annotations. Every text quoted from a file is redacted (`check::security::redact`) before it is
//! parsed for display, so no output of the review can hold a secret.

pub mod git;
pub mod output;

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

/// One side of the review, as named on the command line and resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Revision {
    /// What the user passed (`origin/main`), or `working tree`.
    pub name: String,
    /// The commit, hex; `None` for the working tree.
    pub commit: Option<String>,
}

/// One prompt folder on one side: file names relative to the folder (`prompt.toml`,
/// `v2.prompt`, `snapshots/chess.v2.txt`) with their raw bytes.
#[derive(Debug, Clone, Default)]
pub struct Folder {
    /// The folder relative to the project root, `/`-separated (`prompts/qa`).
    pub dir: String,
    pub files: BTreeMap<String, Vec<u8>>,
    /// The legacy file named by `[seed] file`, for the seed-drift lint.
    pub seed: Option<SeedSource>,
}

/// A prompt whose folder differs between base and head; `None` where it does not exist.
#[derive(Debug, Clone)]
pub struct Pair {
    pub name: String,
    pub base: Option<Folder>,
    pub head: Option<Folder>,
}

/// Everything `classify` needs, read by `git::read`.
#[derive(Debug, Clone)]
pub struct Input {
    pub base: Revision,
    /// The merge base of the base revision and the head, hex: the tree the head is compared with.
    pub merge_base: String,
    pub head: Revision,
    pub base_config: Config,
    pub head_config: Config,
    /// The entries of `prompts.lock` on each side that the review reads.
    pub locks: Locks,
    /// Changed prompts, sorted by name.
    pub pairs: Vec<Pair>,
    /// Prompts present on both sides with identical folders.
    pub unchanged: usize,
    /// Whether the base tree has a prompts folder at all (without one, every prompt is new).
    pub base_has_prompts: bool,
}

/// The review of a change.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub base: Revision,
    pub merge_base: String,
    pub head: Revision,
    pub base_has_prompts: bool,
    /// Changed prompts, sorted by name.
    pub prompts: Vec<PromptReview>,
    pub unchanged: usize,
    /// Entries of the base's `prompts.lock` that the head's lock rewrites or drops.
    pub lock_rewrites: Vec<Forbidden>,
}

impl Report {
    /// Every forbidden change: edits, deletions and renames of locked versions, and rewritten
    /// lock entries. Any of them makes `review` exit 1.
    pub fn forbidden(&self) -> impl Iterator<Item = &Forbidden> {
        self.prompts.iter().flat_map(|p| p.forbidden.iter()).chain(self.lock_rewrites.iter())
    }
}

/// What one changed prompt's change amounts to.
#[derive(Debug, Clone, Serialize)]
pub struct PromptReview {
    pub name: String,
    /// The kinds of change, in a fixed order, for headlines (see `Kind`).
    pub kinds: Vec<Kind>,
    pub new_versions: Vec<NewVersion>,
    /// Versions that existed on the base, were not locked there, and changed or disappeared.
    pub unlocked_edits: Vec<UnlockedEdit>,
    pub forbidden: Vec<Forbidden>,
    /// Environments whose activated version changes.
    pub activations: Vec<Activation>,
    pub metadata: Vec<FieldChange>,
    /// Per group of environments whose served text changes.
    pub served: Vec<Served>,
    /// Lint findings of the head on changed lines, or new since the base.
    #[serde(serialize_with = "serialize_diagnostics")]
    pub lints: Vec<Diagnostic>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    NewPrompt,
    DeletedPrompt,
    Forbidden,
    NewVersion,
    ActivationChange,
    ServedTextChange,
    BreakingContractChange,
    ContractChange,
    ModelChange,
    MetadataChange,
    UnlockedEdit,
    LintFindings,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::NewPrompt => "new prompt",
            Kind::DeletedPrompt => "deleted prompt",
            Kind::Forbidden => "forbidden edit of a locked version",
            Kind::NewVersion => "new version",
            Kind::ActivationChange => "activation change",
            Kind::ServedTextChange => "served text changes",
            Kind::BreakingContractChange => "breaking variable-contract change",
            Kind::ContractChange => "variable-contract change",
            Kind::ModelChange => "model settings change",
            Kind::MetadataChange => "metadata change",
            Kind::UnlockedEdit => "unlocked version edited",
            Kind::LintFindings => "lint findings",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NewVersion {
    pub version: u32,
    /// The environments that serve it on the head.
    pub served_in: Vec<String>,
    /// Its variable contract against the version before it (`None` for v1 of a new prompt).
    pub compared_with: Option<u32>,
    pub contract: Vec<VariableChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnlockedEdit {
    pub version: u32,
    pub file: String,
    /// `true` when the file is gone on the head.
    pub deleted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForbiddenKind {
    /// A locked version's bytes changed.
    Edited,
    /// A locked version's file is gone.
    Deleted,
    /// A locked version's bytes moved to another file.
    Renamed,
    /// The head's lock records another digest for a version the base's lock had.
    LockRewritten,
    /// The head's lock drops an entry of the base's lock.
    LockRemoved,
}

/// A change to a locked version: never allowed (docs/review.md).
#[derive(Debug, Clone, Serialize)]
pub struct Forbidden {
    pub prompt: String,
    pub version: u32,
    pub kind: ForbiddenKind,
    /// The file to annotate (project-relative).
    pub file: String,
    pub message: String,
    pub help: String,
}

impl Forbidden {
    /// The lock diagnostic code of the same rule in `check`.
    pub fn code(&self) -> Code {
        match self.kind {
            ForbiddenKind::Edited | ForbiddenKind::LockRewritten => Code::LockModified,
            ForbiddenKind::Deleted | ForbiddenKind::LockRemoved => Code::LockDeleted,
            ForbiddenKind::Renamed => Code::LockRenamed,
        }
    }
}

/// Which version an environment serves before and after (`None`: none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activation {
    pub environment: String,
    pub before: Option<u32>,
    pub after: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// `description`, `owners`, `tags`, `tests`.
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The served text of a group of environments that change the same way.
#[derive(Debug, Clone, Serialize)]
pub struct Served {
    pub environments: Vec<String>,
    pub before: Option<u32>,
    pub after: Option<u32>,
    /// The served version files (project-relative), for annotations.
    pub before_file: Option<String>,
    pub after_file: Option<String>,
    pub model: Vec<FieldChange>,
    pub contract: Vec<VariableChange>,
    /// One per test that applies, or one for the template itself when no test does.
    pub renders: Vec<Render>,
}

impl Served {
    pub fn breaking(&self) -> bool {
        self.contract.iter().any(|c| c.breaking)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariableChange {
    pub variable: String,
    /// What changed, in words: `added (required string)`, `removed`, `string → integer`, …
    pub change: String,
    pub breaking: bool,
}

/// The text a model reads, before and after, for one test's vars.
#[derive(Debug, Clone, Serialize)]
pub struct Render {
    /// The test whose vars were used; `None`: the raw template, as no test applies.
    pub test: Option<String>,
    pub before: Option<Rendering>,
    pub after: Option<Rendering>,
    /// Unified diff with invisible characters made visible; empty when the texts are equal.
    pub diff: String,
    /// Changed line pairs where a word-level view helps: (before line, after line) with the
    /// changed words marked.
    pub words: Vec<WordChange>,
    pub added_lines: usize,
    pub removed_lines: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rendering {
    Text(String),
    /// The template does not render with these vars (strict mode): the reason.
    Error(String),
}

impl Rendering {
    fn text(&self) -> &str {
        match self {
            Rendering::Text(text) => text,
            Rendering::Error(_) => "",
        }
    }
}

/// One changed line pair, as segments: `(tag, text)` with tag `=`, `-` or `+`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WordChange {
    pub line: usize,
    pub segments: Vec<(char, String)>,
}

fn serialize_diagnostics<S: serde::Serializer>(
    diagnostics: &[Diagnostic],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(diagnostics.iter().map(crate::report::JsonDiagnostic::from))
}

/// One version file as the review sees it: digest of the raw bytes, everything else parsed from
/// the redacted text.
struct VersionView {
    number: u32,
    path: String,
    sha256: String,
    body: Option<String>,
    template: Option<Template>,
    variables: Option<Vec<Variable>>,
    model: Option<toml::Table>,
}

/// One side of one prompt.
struct SideView {
    manifest: Option<Manifest>,
    versions: BTreeMap<u32, VersionView>,
}

impl SideView {
    fn activation(&self, environment: &str) -> Option<u32> {
        let manifest = self.manifest.as_ref()?;
        let (_, version) = manifest.activate.iter().find(|(e, _)| e.get_ref() == environment)?;
        u32::try_from(*version.get_ref()).ok()
    }

    fn served_in(&self, number: u32, environments: &[String]) -> Vec<String> {
        environments.iter().filter(|e| self.activation(e) == Some(number)).cloned().collect()
    }

    fn tests(&self) -> &[toml::Spanned<TestSpec>] {
        self.manifest.as_ref().map_or(&[], |m| m.tests.as_slice())
    }
}

/// Redacted UTF-8 text of a file (lossy for invalid bytes: it is only shown).
fn shown_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    security::redact(&text).into_owned()
}

fn view(folder: &Folder) -> SideView {
    let mut side = SideView { manifest: None, versions: BTreeMap::new() };
    for (name, bytes) in &folder.files {
        let path = format!("{}/{name}", folder.dir);
        if name == "prompt.toml" {
            side.manifest = prompt::read_manifest(&path, &shown_text(bytes)).0;
        } else if let Some(number) = crate::source::version_number(name) {
            side.versions.insert(number, version_view(number, path, bytes));
        }
    }
    side
}

fn version_view(number: u32, path: String, bytes: &[u8]) -> VersionView {
    let mut version = VersionView {
        number,
        sha256: sha256_hex(bytes),
        body: None,
        template: None,
        variables: None,
        model: None,
        path,
    };
    let text = shown_text(bytes);
    let Ok(split) = prompt::split_front_matter(&version.path, &text) else { return version };
    let (front, _) = prompt::read_front_matter(
        &version.path,
        &text,
        split.front_matter_offset,
        split.front_matter,
    );
    if let Some(front) = front {
        version.variables = Some(prompt::resolve_variables(&version.path, &text, &front).0);
        version.model = front.model;
    }
    version.template = template::parse(split.body).ok();
    version.body = Some(split.body.to_string());
    version
}

/// Classifies every changed prompt of `input`.
pub fn classify(input: &Input) -> Report {
    classify_with(input, &input.locks)
}

fn classify_with(input: &Input, locks: &Locks) -> Report {
    let mut environments: BTreeSet<String> =
        input.head_config.environments.keys().cloned().collect();
    environments.extend(input.base_config.environments.keys().cloned());
    let environments: Vec<String> = environments.into_iter().collect();
    let (base_lock, head_lock, same_lock) = (&locks.base, &locks.head, locks.same);
    // Where each head version's bytes are, to tell a rename from a deletion across folders.
    let mut head_blobs: BTreeMap<String, (String, u32, String)> = BTreeMap::new();
    for pair in &input.pairs {
        let Some(head) = &pair.head else { continue };
        for (name, bytes) in &head.files {
            if let Some(number) = crate::source::version_number(name) {
                head_blobs.entry(sha256_hex(bytes)).or_insert((
                    pair.name.clone(),
                    number,
                    format!("{}/{name}", head.dir),
                ));
            }
        }
    }
    let context = Context {
        input,
        environments: &environments,
        base_lock,
        head_lock,
        head_blobs: &head_blobs,
    };
    let prompts: Vec<PromptReview> =
        input.pairs.par_iter().map(|pair| context.prompt(pair)).collect();
    let lock_rewrites = if same_lock {
        Vec::new()
    } else {
        lock_rewrites(base_lock, head_lock, &input.head_config.lock_file)
    };
    Report {
        format: FORMAT,
        base: input.base.clone(),
        merge_base: input.merge_base.clone(),
        head: input.head.clone(),
        base_has_prompts: input.base_has_prompts,
        prompts,
        unchanged: input.unchanged,
        lock_rewrites,
    }
}

/// The two locks as far as the review reads them: every entry of the changed prompts and, when
/// the two files differ, of every prompt whose entries differ (what `lock_rewrites` reports). A
/// lock as `promptctl lock` writes it is read in one pass that keeps only those entries, so that
/// beyond that pass the cost follows the changed prompts; any other is parsed whole, as `check`
/// does.
#[derive(Debug, Clone)]
pub struct Locks {
    base: Lock,
    head: Lock,
    /// The two files are identical (or both missing).
    same: bool,
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
    fn whole(base: Option<&str>, head: Option<&str>) -> Locks {
        let parse =
            |text: Option<&str>| text.map_or_else(Lock::default, |t| Lock::parse(FILE, t).0);
        let same = base == head;
        let base_lock = parse(base);
        let head_lock = if same { base_lock.clone() } else { parse(head) };
        Locks { base: base_lock, head: head_lock, same }
    }

    /// Whether the review reads the same from both: the entries of every changed prompt on each
    /// side, and the rewritten or removed entries.
    fn agrees_with(&self, other: &Locks, pairs: &[Pair]) -> bool {
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
const FILE: &str = "prompts.lock";

/// Entries of the base's lock that the head's lock changes or drops: `check` of the head alone
/// cannot see them, since it trusts the head's lock.
fn lock_rewrites(base: &Lock, head: &Lock, lock_file: &str) -> Vec<Forbidden> {
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

struct Context<'a> {
    input: &'a Input,
    environments: &'a [String],
    base_lock: &'a Lock,
    head_lock: &'a Lock,
    head_blobs: &'a BTreeMap<String, (String, u32, String)>,
}

impl Context<'_> {
    fn prompt(&self, pair: &Pair) -> PromptReview {
        let base = pair.base.as_ref().map(view);
        let head = pair.head.as_ref().map(view);
        let mut review = PromptReview {
            name: pair.name.clone(),
            kinds: Vec::new(),
            new_versions: Vec::new(),
            unlocked_edits: Vec::new(),
            forbidden: Vec::new(),
            activations: Vec::new(),
            metadata: Vec::new(),
            served: Vec::new(),
            lints: Vec::new(),
        };
        self.versions(pair, base.as_ref(), head.as_ref(), &mut review);
        for environment in self.environments {
            let before = base.as_ref().and_then(|b| b.activation(environment));
            let after = head.as_ref().and_then(|h| h.activation(environment));
            if before != after {
                review.activations.push(Activation {
                    environment: environment.clone(),
                    before,
                    after,
                });
            }
        }
        if let (Some(base), Some(head)) = (&base, &head) {
            review.metadata = metadata(base, head);
        }
        review.served = self.served(base.as_ref(), head.as_ref());
        if let Some(head_folder) = &pair.head {
            review.lints = self.lints(&pair.name, pair.base.as_ref(), head_folder);
        }

        let mut kinds = BTreeSet::new();
        match (&pair.base, &pair.head) {
            (None, Some(_)) => {
                kinds.insert(Kind::NewPrompt);
            }
            (Some(_), None) => {
                kinds.insert(Kind::DeletedPrompt);
            }
            _ => {}
        }
        let flags = [
            (Kind::Forbidden, !review.forbidden.is_empty()),
            (Kind::NewVersion, !review.new_versions.is_empty() && pair.base.is_some()),
            (Kind::ActivationChange, !review.activations.is_empty() && pair.base.is_some()),
            (Kind::ServedTextChange, !review.served.is_empty()),
            (Kind::BreakingContractChange, review.served.iter().any(Served::breaking)),
            (
                Kind::ContractChange,
                review.served.iter().any(|s| !s.contract.is_empty() && !s.breaking()),
            ),
            (Kind::ModelChange, review.served.iter().any(|s| !s.model.is_empty())),
            (Kind::MetadataChange, !review.metadata.is_empty()),
            (Kind::UnlockedEdit, !review.unlocked_edits.is_empty()),
            (Kind::LintFindings, !review.lints.is_empty()),
        ];
        kinds.extend(flags.into_iter().filter(|(_, on)| *on).map(|(kind, _)| kind));
        review.kinds = kinds.into_iter().collect();
        review
    }

    /// New versions, and what happened to the base's versions: locked ones are immutable.
    fn versions(
        &self,
        pair: &Pair,
        base: Option<&SideView>,
        head: Option<&SideView>,
        review: &mut PromptReview,
    ) {
        let name = &pair.name;
        if let Some(head) = head {
            for (number, version) in &head.versions {
                if base.is_some_and(|b| b.versions.contains_key(number)) {
                    continue;
                }
                let previous = head.versions.range(..*number).next_back().map(|(_, v)| v);
                let contract = match previous {
                    Some(previous) => contract_changes(
                        previous.variables.as_deref().unwrap_or(&[]),
                        version.variables.as_deref().unwrap_or(&[]),
                    ),
                    None => Vec::new(),
                };
                review.new_versions.push(NewVersion {
                    version: *number,
                    served_in: head.served_in(*number, self.environments),
                    compared_with: previous.map(|p| p.number),
                    contract,
                });
            }
        }
        let Some(base) = base else { return };
        let next_free = head
            .and_then(|h| h.versions.keys().next_back().copied())
            .max(base.versions.keys().next_back().copied())
            .unwrap_or(0)
            + 1;
        for (number, before) in &base.versions {
            let after = head.and_then(|h| h.versions.get(number));
            if after.is_some_and(|a| a.sha256 == before.sha256) {
                continue;
            }
            let Some(entry) = self.base_lock.get(name, *number) else {
                if head.is_none() {
                    // The whole prompt is gone: that is the change, not each version.
                    continue;
                }
                review.unlocked_edits.push(UnlockedEdit {
                    version: *number,
                    file: before.path.clone(),
                    deleted: after.is_none(),
                });
                continue;
            };
            let lock_file = &self.input.head_config.lock_file;
            let forbidden = match after {
                Some(after) => Forbidden {
                    prompt: name.clone(),
                    version: *number,
                    kind: ForbiddenKind::Edited,
                    file: after.path.clone(),
                    message: format!(
                        "version {number} of `{name}` is locked and was edited (lock sha256:{}, base sha256:{}, head sha256:{})",
                        lock::short(&entry.sha256),
                        lock::short(&before.sha256),
                        lock::short(&after.sha256)
                    ),
                    help: format!(
                        "a locked version is immutable: restore `{}` from the base branch and put the change in a new version, v{next_free}.prompt",
                        after.path
                    ),
                },
                None => match self.head_blobs.get(&before.sha256) {
                    Some((to_prompt, to_version, to_path)) => Forbidden {
                        prompt: name.clone(),
                        version: *number,
                        kind: ForbiddenKind::Renamed,
                        file: to_path.clone(),
                        message: format!(
                            "version {number} of `{name}` is locked and was renamed to `{to_path}` (v{to_version} of `{to_prompt}`)"
                        ),
                        help: format!(
                            "names and version numbers are part of the lock: move the file back to `{}`; a copy under a new name needs its own new version",
                            before.path
                        ),
                    },
                    None => Forbidden {
                        prompt: name.clone(),
                        version: *number,
                        kind: ForbiddenKind::Deleted,
                        file: before.path.clone(),
                        message: format!(
                            "version {number} of `{name}` is locked and was deleted (lock sha256:{})",
                            lock::short(&entry.sha256)
                        ),
                        help: format!(
                            "a locked version may be served and must stay reproducible (see `{lock_file}`): restore `{}`; to retire a prompt, stop activating it instead",
                            before.path
                        ),
                    },
                },
            };
            review.forbidden.push(forbidden);
        }
    }

    /// Groups the environments by how their served version changes, and renders the groups whose
    /// served text changes.
    fn served(&self, base: Option<&SideView>, head: Option<&SideView>) -> Vec<Served> {
        type Key = (Option<u32>, Option<String>, Option<u32>, Option<String>);
        let mut groups: BTreeMap<Key, Vec<String>> = BTreeMap::new();
        for environment in self.environments {
            let before = base.and_then(|b| {
                let number = b.activation(environment)?;
                Some((number, b.versions.get(&number)?))
            });
            let after = head.and_then(|h| {
                let number = h.activation(environment)?;
                Some((number, h.versions.get(&number)?))
            });
            let before_sha = before.map(|(_, v)| v.sha256.clone());
            let after_sha = after.map(|(_, v)| v.sha256.clone());
            if before_sha == after_sha {
                continue;
            }
            groups
                .entry((before.map(|(n, _)| n), before_sha, after.map(|(n, _)| n), after_sha))
                .or_default()
                .push(environment.clone());
        }
        groups
            .into_iter()
            .map(|((before, _, after, _), environments)| {
                let before_version = before.and_then(|n| base?.versions.get(&n));
                let after_version = after.and_then(|n| head?.versions.get(&n));
                let model = match (before_version, after_version) {
                    (Some(b), Some(a)) => model_changes(b.model.as_ref(), a.model.as_ref()),
                    _ => Vec::new(),
                };
                let contract = match (before_version, after_version) {
                    (Some(b), Some(a)) => contract_changes(
                        b.variables.as_deref().unwrap_or(&[]),
                        a.variables.as_deref().unwrap_or(&[]),
                    ),
                    _ => Vec::new(),
                };
                let renders = renders(base, before_version, head, after_version);
                Served {
                    environments,
                    before,
                    after,
                    before_file: before_version.map(|v| v.path.clone()),
                    after_file: after_version.map(|v| v.path.clone()),
                    model,
                    contract,
                    renders,
                }
            })
            .collect()
    }

    /// The head's lint findings that sit on changed lines of changed files, or that the base did
    /// not have. Lock findings are left out: the review judges locked versions against the base.
    fn lints(&self, name: &str, base: Option<&Folder>, head: &Folder) -> Vec<Diagnostic> {
        let is_lock_rule =
            |code: Code| matches!(code, Code::LockModified | Code::LockDeleted | Code::LockRenamed);
        let head_findings = lint(&self.input.head_config, self.head_lock, name, head);
        if head_findings.is_empty() {
            return Vec::new();
        }
        let base_findings: BTreeSet<(Code, String, String)> = base
            .map(|folder| lint(&self.input.base_config, self.base_lock, name, folder))
            .unwrap_or_default()
            .into_iter()
            .map(|d| (d.code, d.file, d.message))
            .collect();
        let changed = changed_lines(base, head);
        head_findings
            .into_iter()
            .filter(|d| !is_lock_rule(d.code))
            .filter(|d| {
                let on_changed_line = match (changed.get(&d.file), &d.location) {
                    (Some(ChangedLines::All), _) => true,
                    (Some(ChangedLines::Some(lines)), Some(location)) => {
                        lines.range(location.start.line..=location.end.line).next().is_some()
                    }
                    (Some(ChangedLines::Some(_)), None) => true,
                    (None, _) => false,
                };
                on_changed_line
                    || !base_findings.contains(&(d.code, d.file.clone(), d.message.clone()))
            })
            .collect()
    }
}

/// `check`'s rules over one side of one prompt, from the bytes git gave.
fn lint(config: &Config, lock: &Lock, name: &str, folder: &Folder) -> Vec<Diagnostic> {
    let mut files = PromptFiles {
        name: name.to_string(),
        dir: folder.dir.clone(),
        manifest: None,
        versions: Vec::new(),
        snapshots: Vec::new(),
        seed: folder.seed.clone(),
        diagnostics: Vec::new(),
        unreadable: false,
        extras: Vec::new(),
    };
    for (file_name, bytes) in &folder.files {
        let file = SourceFile::new(format!("{}/{file_name}", folder.dir), bytes.clone());
        if file_name == "prompt.toml" {
            files.manifest = Some(file);
        } else if let Some(number) = crate::source::version_number(file_name) {
            files.versions.push((number, file));
        } else if file_name.starts_with("snapshots/") {
            files.snapshots.push(file);
        }
    }
    files.versions.sort_by_key(|(number, _)| *number);
    let mut diagnostics =
        check::prompt(config, lock, &config.lock_file, &files, check::Options::default())
            .diagnostics;
    crate::diagnostic::sort(&mut diagnostics);
    diagnostics
}

enum ChangedLines {
    All,
    /// 1-based line numbers of the head file that are new or changed.
    Some(BTreeSet<u32>),
}

/// For every file of the head folder that differs from the base: which of its lines changed.
fn changed_lines(base: Option<&Folder>, head: &Folder) -> BTreeMap<String, ChangedLines> {
    let mut changed = BTreeMap::new();
    for (name, bytes) in &head.files {
        let path = format!("{}/{name}", head.dir);
        let Some(before) = base.and_then(|b| b.files.get(name)) else {
            changed.insert(path, ChangedLines::All);
            continue;
        };
        if before == bytes {
            continue;
        }
        let old = String::from_utf8_lossy(before);
        let new = String::from_utf8_lossy(bytes);
        let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
        let mut lines = BTreeSet::new();
        for op in diff.ops() {
            if op.tag() != similar::DiffTag::Equal {
                let range = op.new_range();
                lines.extend((range.start..range.end.max(range.start + 1)).map(|i| i as u32 + 1));
            }
        }
        changed.insert(path, ChangedLines::Some(lines));
    }
    changed
}

fn metadata(base: &SideView, head: &SideView) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let (Some(before), Some(after)) = (&base.manifest, &head.manifest) else { return changes };
    let mut field = |name: &str, old: String, new: String| {
        if old != new {
            changes.push(FieldChange {
                field: name.to_string(),
                before: Some(old).filter(|s| !s.is_empty()),
                after: Some(new).filter(|s| !s.is_empty()),
            });
        }
    };
    field("description", before.description.clone(), after.description.clone());
    field("owners", before.owners.join(", "), after.owners.join(", "));
    field("tags", before.tags.join(", "), after.tags.join(", "));
    // Tests are compared by what they hold, not where it sits in the file.
    let tests = |side: &SideView| -> BTreeMap<String, String> {
        side.tests()
            .iter()
            .map(|test| {
                let spec = test.get_ref();
                let fingerprint = serde_json::json!({
                    "version": spec.version.as_ref().map(|v| *v.get_ref()),
                    "vars": check::vars_to_json(&spec.vars),
                    "contains": spec.contains,
                    "not_contains": spec.not_contains,
                    "max_chars": spec.max_chars.as_ref().map(|v| *v.get_ref()),
                    "snapshot": spec.snapshot,
                });
                (spec.name.get_ref().clone(), fingerprint.to_string())
            })
            .collect()
    };
    let (old_tests, new_tests) = (tests(base), tests(head));
    let mut words = Vec::new();
    for (name, text) in &new_tests {
        match old_tests.get(name) {
            None => words.push(format!("added `{name}`")),
            Some(old) if old != text => words.push(format!("changed `{name}`")),
            Some(_) => {}
        }
    }
    for name in old_tests.keys().filter(|name| !new_tests.contains_key(*name)) {
        words.push(format!("removed `{name}`"));
    }
    if !words.is_empty() {
        changes.push(FieldChange {
            field: "tests".into(),
            before: None,
            after: Some(words.join(", ")),
        });
    }
    changes
}

/// `model` settings, flattened to dotted keys, compared key by key.
fn model_changes(before: Option<&toml::Table>, after: Option<&toml::Table>) -> Vec<FieldChange> {
    fn flatten(prefix: &str, table: &toml::Table, into: &mut BTreeMap<String, String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            match value {
                toml::Value::Table(inner) => flatten(&path, inner, into),
                other => {
                    into.insert(path, other.to_string());
                }
            }
        }
    }
    let (mut old, mut new) = (BTreeMap::new(), BTreeMap::new());
    if let Some(table) = before {
        flatten("", table, &mut old);
    }
    if let Some(table) = after {
        flatten("", table, &mut new);
    }
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|key| old.get(*key) != new.get(*key))
        .map(|key| FieldChange {
            field: key.clone(),
            before: old.get(key).cloned(),
            after: new.get(key).cloned(),
        })
        .collect()
}

/// A type in words: `string (max_len 200)`, `array of string`, `enum "a" | "b"`, …
pub fn describe(ty: &Type) -> String {
    match ty {
        Type::String { max_len: Some(max) } => format!("string (max_len {max})"),
        Type::String { max_len: None } => "string".into(),
        Type::Integer => "integer".into(),
        Type::Number => "number".into(),
        Type::Boolean => "boolean".into(),
        Type::Enum(values) => format!(
            "enum {}",
            values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(" | ")
        ),
        Type::Array(item) => format!("array of {}", describe(&item.ty)),
        Type::Object(fields) => format!(
            "object {{ {} }}",
            fields
                .iter()
                .map(|f| format!(
                    "{}{}: {}",
                    f.name,
                    if f.required { "" } else { "?" },
                    describe(&f.ty)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Whether two types accept the same values (spans and descriptions aside).
fn same_type(a: &Type, b: &Type) -> bool {
    match (a, b) {
        (Type::Array(x), Type::Array(y)) => same_type(&x.ty, &y.ty),
        (Type::Object(x), Type::Object(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|(f, g)| {
                    f.name == g.name && f.required == g.required && same_type(&f.ty, &g.ty)
                })
        }
        _ => a == b,
    }
}

/// What a caller must change: removing or retyping a variable, adding a required one or making one
/// required breaks callers; the rest does not.
pub fn contract_changes(before: &[Variable], after: &[Variable]) -> Vec<VariableChange> {
    let mut changes = Vec::new();
    let mut push = |variable: &str, change: String, breaking: bool| {
        changes.push(VariableChange { variable: variable.to_string(), change, breaking });
    };
    for old in before {
        let Some(new) = after.iter().find(|v| v.name == old.name) else {
            push(&old.name, format!("removed (was {})", describe(&old.ty)), true);
            continue;
        };
        if !same_type(&old.ty, &new.ty) {
            match (&old.ty, &new.ty) {
                (Type::String { max_len: a }, Type::String { max_len: b }) => {
                    let tighter = match (a, b) {
                        (_, None) => false,
                        (None, Some(_)) => true,
                        (Some(a), Some(b)) => b < a,
                    };
                    let show = |m: &Option<u64>| m.map_or("none".to_string(), |m| m.to_string());
                    push(&old.name, format!("max_len {} → {}", show(a), show(b)), tighter);
                }
                (Type::Enum(a), Type::Enum(b)) => {
                    let removed: Vec<&String> = a.iter().filter(|v| !b.contains(v)).collect();
                    let added: Vec<&String> = b.iter().filter(|v| !a.contains(v)).collect();
                    let list = |values: &[&String]| {
                        values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
                    };
                    let mut words = Vec::new();
                    if !added.is_empty() {
                        words.push(format!("values added: {}", list(&added)));
                    }
                    if !removed.is_empty() {
                        words.push(format!("values removed: {}", list(&removed)));
                    }
                    if words.is_empty() {
                        words.push("values reordered".into());
                    }
                    push(&old.name, words.join("; "), !removed.is_empty());
                }
                _ => push(
                    &old.name,
                    format!("retyped: {} → {}", describe(&old.ty), describe(&new.ty)),
                    true,
                ),
            }
        }
        match (old.required, new.required) {
            (false, true) => push(&old.name, "now required".into(), true),
            (true, false) => push(&old.name, "now optional".into(), false),
            _ => {}
        }
        match (old.user_source, new.user_source) {
            (false, true) => push(&old.name, "now marked `source = \"user\"`".into(), false),
            (true, false) => push(&old.name, "no longer marked `source = \"user\"`".into(), false),
            _ => {}
        }
    }
    for new in after.iter().filter(|v| !before.iter().any(|o| o.name == v.name)) {
        let required = if new.required { "required" } else { "optional" };
        push(&new.name, format!("added ({required} {})", describe(&new.ty)), new.required);
    }
    changes
}

/// Renders the served version before and after with each test's vars. A test that exists on one
/// side lends its vars to the other, so both texts come from the same inputs where possible.
fn renders(
    base: Option<&SideView>,
    before: Option<&VersionView>,
    head: Option<&SideView>,
    after: Option<&VersionView>,
) -> Vec<Render> {
    let applies = |test: &TestSpec, version: Option<&VersionView>| {
        version.is_some_and(|v| {
            test.version.as_ref().is_none_or(|n| *n.get_ref() == i64::from(v.number))
        })
    };
    let mut names: Vec<String> = Vec::new();
    let mut tests: BTreeMap<String, (Option<&TestSpec>, Option<&TestSpec>)> = BTreeMap::new();
    for test in base.map_or(&[][..], SideView::tests) {
        let test = test.get_ref();
        if applies(test, before) {
            let name = test.name.get_ref().clone();
            if !tests.contains_key(&name) {
                names.push(name.clone());
            }
            tests.entry(name).or_default().0 = Some(test);
        }
    }
    for test in head.map_or(&[][..], SideView::tests) {
        let test = test.get_ref();
        if applies(test, after) {
            let name = test.name.get_ref().clone();
            if !tests.contains_key(&name) {
                names.push(name.clone());
            }
            tests.entry(name).or_default().1 = Some(test);
        }
    }
    let render_one = |version: Option<&VersionView>, test: &TestSpec| -> Option<Rendering> {
        let version = version?;
        let (Some(template), Some(body)) = (&version.template, &version.body) else {
            return Some(Rendering::Error(format!(
                "`{}` does not parse; `promptctl check` says why",
                version.path
            )));
        };
        let vars = check::vars_to_json(&test.vars);
        Some(match crate::render::render(template, body, &vars) {
            Ok(text) => Rendering::Text(security::redact(&text).into_owned()),
            Err(error) => Rendering::Error(error.message),
        })
    };
    let mut renders: Vec<Render> = names
        .iter()
        .map(|name| {
            let (old_test, new_test) = tests[name];
            let before_test = old_test.or(new_test).expect("a test from one side");
            let after_test = new_test.or(old_test).expect("a test from one side");
            let old = render_one(before, before_test);
            let new = render_one(after, after_test);
            compare(Some(name.clone()), old, new, before, after)
        })
        .collect();
    if renders.is_empty() {
        // No test to render with: the template itself is what changes.
        let raw = |version: Option<&VersionView>| {
            version.map(|v| Rendering::Text(v.body.clone().unwrap_or_default()))
        };
        renders.push(compare(None, raw(before), raw(after), before, after));
    }
    renders
}

fn compare(
    test: Option<String>,
    before: Option<Rendering>,
    after: Option<Rendering>,
    before_version: Option<&VersionView>,
    after_version: Option<&VersionView>,
) -> Render {
    let old = before.as_ref().map_or("", Rendering::text);
    let new = after.as_ref().map_or("", Rendering::text);
    let label = |version: Option<&VersionView>, side: &str| match version {
        Some(v) => format!("{side} v{}", v.number),
        None => format!("{side} (not served)"),
    };
    let (diff, words, added_lines, removed_lines) = if old == new {
        (String::new(), Vec::new(), 0, 0)
    } else {
        let diff = crate::diff::unified(
            old,
            new,
            &label(before_version, "before"),
            &label(after_version, "after"),
        );
        let (words, added, removed) = word_changes(old, new);
        (diff, words, added, removed)
    };
    Render { test, before, after, diff, words, added_lines, removed_lines }
}

/// At most this many word-level line pairs per render: past that a reader wants the diff.
const MAX_WORD_CHANGES: usize = 20;

/// Line pairs (a removed line replaced by an added one) that share most of their words: there a
/// word-level view shows the edit better than two whole lines. Also counts added and removed lines.
fn word_changes(old: &str, new: &str) -> (Vec<WordChange>, usize, usize) {
    use similar::{ChangeTag, DiffTag, TextDiff};
    let diff = TextDiff::from_lines(old, new);
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let (mut added, mut removed) = (0, 0);
    let mut pairs = Vec::new();
    for op in diff.ops() {
        let (old_range, new_range) = (op.old_range(), op.new_range());
        match op.tag() {
            DiffTag::Equal => continue,
            DiffTag::Insert => added += new_range.len(),
            DiffTag::Delete => removed += old_range.len(),
            DiffTag::Replace => {
                added += new_range.len();
                removed += old_range.len();
                for (o, n) in old_range.zip(new_range) {
                    pairs.push((o, n));
                }
            }
        }
    }
    let mut changes = Vec::new();
    for (o, n) in pairs {
        if changes.len() == MAX_WORD_CHANGES {
            break;
        }
        let a = crate::diff::make_visible(old_lines.get(o).copied().unwrap_or(""));
        let b = crate::diff::make_visible(new_lines.get(n).copied().unwrap_or(""));
        let words = TextDiff::from_words(a.as_str(), b.as_str());
        if words.ratio() < 0.5 {
            continue;
        }
        let mut segments: Vec<(char, String)> = Vec::new();
        for change in words.iter_all_changes() {
            let tag = match change.tag() {
                ChangeTag::Equal => '=',
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
            };
            match segments.last_mut() {
                Some((last, text)) if *last == tag => text.push_str(change.value()),
                _ => segments.push((tag, change.value().to_string())),
            }
        }
        changes.push(WordChange { line: n + 1, segments });
    }
    (changes, added, removed)
}

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
