//! The review's report: what `classify` returns and `output` renders (prompts, kinds of change,
//! forbidden edits, activations, contract and rendering changes), serialised as
//! `promptctl.review/1`.

use super::*;

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
    /// Environments whose canary changes (started, re-shared, ended).
    pub rollouts: Vec<Rollout>,
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

/// A canary: a version and its share in basis points (percent × 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RolloutState {
    pub version: u32,
    pub basis_points: u32,
}

/// An environment whose canary changes, beside its stable version (the head's, else the base's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollout {
    pub environment: String,
    pub stable: Option<u32>,
    pub before: Option<RolloutState>,
    pub after: Option<RolloutState>,
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
    pub(super) fn text(&self) -> &str {
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

pub(super) fn serialize_diagnostics<S: serde::Serializer>(
    diagnostics: &[Diagnostic],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(diagnostics.iter().map(crate::report::JsonDiagnostic::from))
}
