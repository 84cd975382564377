//! The I/O of `review`: reads the base side straight from git objects with git2 (no checkout, so
//! it works on a bare clone) and the head side from a commit or the working tree. Only the prompt
//! folders whose tree ids differ are read, and only the lock entries of the changed prompts are
//! kept, so the cost follows the number of changed prompts; what still grows with the repository
//! is one listing of each prompts tree, reading and scanning `prompts.lock` once per side (from
//! the working tree when its bytes are the blob's, cheaper than inflating it), and for a working
//! tree `git status` (a stat per tracked file, a listing per folder, of the prompts folder).

use super::{Folder, Input, Locks, Pair, Revision};
use crate::config::{Config, FILE_NAME};
use crate::source::SeedSource;
use git2::{Blob, ErrorCode, ObjectType, Oid, Repository, Tree};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What to compare: the base revision, and the head (a revision, or the working tree).
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Where to look for the repository (the project root, or the working directory).
    pub start: &'a Path,
    /// The project root on disk with its configuration, when there is one; without it (a bare
    /// clone) the project is the repository root of the head commit.
    pub project: Option<(&'a Path, &'a Config)>,
    pub base: &'a str,
    pub head: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("`{path}` is not inside a git repository; run `promptctl review` in a clone of the repository")]
    NotARepository { path: PathBuf },
    #[error("a bare repository has no working tree to review; pass `--head REV`")]
    Bare,
    #[error("the repository has no commit yet; commit the prompts first, or pass `--head REV`")]
    NoHead,
    #[error("unknown revision `{revision}` ({message}); pass a branch, tag or commit that exists, e.g. `origin/main` after `git fetch origin main`")]
    UnknownRevision { revision: String, message: String },
    #[error("unknown revision `{revision}` in this shallow clone; fetch more history (`git fetch --deepen=200 origin`, or `git fetch --unshallow`; in GitHub Actions set `fetch-depth: 0` on actions/checkout)")]
    ShallowUnknownRevision { revision: String },
    #[error("this shallow clone lacks the merge base of `{base}` and `{head}`; fetch more history (`git fetch --deepen=200 origin`, or `git fetch --unshallow`; in GitHub Actions set `fetch-depth: 0` on actions/checkout)")]
    ShallowNoMergeBase { base: String, head: String },
    #[error("`{base}` and `{head}` have no common history; pass the branch that the head was branched from")]
    NoMergeBase { base: String, head: String },
    #[error(
        "the head revision `{revision}` has no `{path}`; review a commit of a promptctl project"
    )]
    NoConfig { revision: String, path: String },
    #[error("`{path}` of `{revision}` is invalid: {message}")]
    Config { revision: String, path: String, message: String },
    #[error("git: cannot {what}: {message}")]
    Git { what: String, message: String },
    #[error("cannot read `{path}`")]
    Read { path: PathBuf, source: crate::read::ReadError },
    #[error("cannot read `{path}`: its blob is {size} bytes, over the limit of {limit} bytes for {what}")]
    TooLarge { path: String, size: usize, limit: u64, what: &'static str },
}

/// The blob `id` (at `path`, for the message), if it holds at most `limit` bytes: its size is
/// read from its header first, so a huge blob is never inflated.
fn capped_blob<'r>(
    repo: &'r Repository,
    id: Oid,
    path: &str,
    (limit, what): (u64, &'static str),
) -> Result<Blob<'r>, GitError> {
    let size = repo
        .odb()
        .and_then(|odb| odb.read_header(id))
        .map_err(git_error(format!("read `{path}`")))?
        .0;
    if size as u64 > limit {
        return Err(GitError::TooLarge { path: path.to_string(), size, limit, what });
    }
    repo.find_blob(id).map_err(git_error(format!("read `{path}`")))
}

const LOCK: (u64, &str) = (crate::read::LOCK_BYTES, "the lock file");
const MANIFEST: (u64, &str) = (crate::read::MANIFEST_BYTES, "a prompt.toml");
const SNAPSHOT: (u64, &str) = (crate::read::TEXT_BYTES, "a snapshot");
const SEED: (u64, &str) = (crate::read::TEXT_BYTES, "a legacy file of `[seed]`");

/// The cap of a version file under `config`: its template limit and the front matter's.
fn version_cap(config: &Config) -> (u64, &'static str) {
    (config.max_template_bytes.saturating_add(crate::read::FRONT_MATTER_BYTES), "a version file")
}

/// The cap of a file of a prompt folder the review reads (`wanted`).
fn file_cap(config: &Config, name: &str) -> (u64, &'static str) {
    if name == "prompt.toml" {
        MANIFEST
    } else {
        version_cap(config)
    }
}

fn git_error(what: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
    let what = what.into();
    move |error| GitError::Git { what, message: error.message().to_string() }
}

/// Reads both sides of the review.
pub fn read(request: &Request) -> Result<Input, GitError> {
    // libgit2 re-hashes every object it reads (SHA-1 with collision detection), which costs more
    // than the whole review of a small change when the lock file weighs megabytes; git itself
    // does not, and the objects come from the repository being reviewed.
    git2::opts::strict_hash_verification(false);
    let repo = Repository::discover(request.start)
        .map_err(|_| GitError::NotARepository { path: request.start.to_path_buf() })?;
    let workdir = repo.workdir().map(Path::to_path_buf);
    if workdir.is_none() && request.head.is_none() {
        return Err(GitError::Bare);
    }
    let base_commit = resolve(&repo, request.base)?;
    let head_commit = match request.head {
        Some(head) => resolve(&repo, head)?,
        None => repo.head().and_then(|head| head.peel_to_commit()).map_err(|error| match error
            .code()
        {
            ErrorCode::UnbornBranch | ErrorCode::NotFound => GitError::NoHead,
            _ => git_error("read HEAD")(error),
        })?,
    };
    let head_name = request.head.unwrap_or("HEAD");
    let merge_base = match repo.merge_base(base_commit.id(), head_commit.id()) {
        Ok(oid) => oid,
        Err(error) if error.code() == ErrorCode::NotFound => {
            let (base, head) = (request.base.to_string(), head_name.to_string());
            return Err(if repo.is_shallow() {
                GitError::ShallowNoMergeBase { base, head }
            } else {
                GitError::NoMergeBase { base, head }
            });
        }
        Err(error) => return Err(git_error("find the merge base")(error)),
    };
    let base_tree = repo
        .find_commit(merge_base)
        .and_then(|commit| commit.tree())
        .map_err(git_error("read the merge base's tree"))?;
    let head_tree = head_commit.tree().map_err(git_error("read the head's tree"))?;

    // The project: where promptctl.toml is, relative to the repository's root.
    let (prefix, head_config, disk_root) = match (request.project, &workdir) {
        (Some((root, config)), Some(workdir)) => {
            let canonical =
                |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
            let relative = canonical(root)
                .strip_prefix(canonical(workdir))
                .map(slash_path)
                .unwrap_or_default();
            let prefix = if relative.is_empty() { relative } else { format!("{relative}/") };
            let config = match request.head {
                // A head commit is read with its own configuration, when it has one.
                Some(revision) => match config_in(&repo, &head_tree, &prefix, revision)? {
                    Some(config) => config,
                    None => config.clone(),
                },
                None => config.clone(),
            };
            (prefix, config, request.head.is_none().then(|| root.to_path_buf()))
        }
        _ => {
            let config = config_in(&repo, &head_tree, "", head_name)?.ok_or_else(|| {
                GitError::NoConfig { revision: head_name.to_string(), path: FILE_NAME.into() }
            })?;
            (String::new(), config, None)
        }
    };
    // A base without promptctl.toml (or with one this version cannot read) is compared with the
    // head's settings.
    let base_config = config_in(&repo, &base_tree, &prefix, request.base)
        .ok()
        .flatten()
        .unwrap_or_else(|| head_config.clone());

    let base_prompts_dir = format!("{prefix}{}", base_config.prompts_dir.trim_end_matches('/'));
    let head_prompts_dir = format!("{prefix}{}", head_config.prompts_dir.trim_end_matches('/'));
    // Of a working tree, `git status` says which prompt folders changed; on a large tree it takes
    // longest, so it runs while the trees and the locks are read.
    let status = match (&disk_root, &workdir) {
        (Some(_), Some(workdir)) => Status::start(workdir, &head_prompts_dir),
        _ => Status(None),
    };
    let base_prompts = subtree(&repo, &base_tree, &base_prompts_dir)?;
    let head_prompts = subtree(&repo, &head_tree, &head_prompts_dir)?;
    let compared = compare_folders(base_prompts.as_ref(), head_prompts.as_ref());

    // The locks: blobs stay in libgit2's memory until the entries the review needs are taken. The
    // working tree's file is the head of a working-tree review, and otherwise stands in for a
    // blob whose id its bytes hash to (a clean checkout, as in CI): reading and hashing it costs
    // a fraction of inflating the blob.
    let base_lock_path = format!("{prefix}{}", base_config.lock_file);
    let head_lock_path = format!("{prefix}{}", head_config.lock_file);
    let disk_lock = match (&disk_root, &workdir) {
        (Some(root), _) => {
            let path = root.join(&head_config.lock_file);
            let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
            match crate::read::read_inside(&canonical_root, &path, LOCK.0, LOCK.1) {
                Ok(bytes) => Some(bytes),
                Err(error) if error.is_not_found() => None,
                Err(source) => return Err(GitError::Read { path, source }),
            }
        }
        // A copy that cannot be read (or is not a regular file within the cap) is no copy: the
        // blob is read instead.
        (None, Some(workdir)) => {
            crate::read::read(&workdir.join(&head_lock_path), LOCK.0, LOCK.1).ok()
        }
        (None, None) => None,
    };
    let disk_lock = WorktreeCopy::new(disk_lock);
    let base_lock = disk_lock.or_blob(&repo, blob_id(&base_tree, &base_lock_path)?)?;
    let head_lock = match &disk_root {
        Some(_) => LockText::Disk,
        None => {
            let head_id = blob_id(&head_tree, &head_lock_path)?;
            if head_id.is_some() && head_id == blob_id(&base_tree, &base_lock_path)? {
                LockText::SameAsBase
            } else {
                disk_lock.or_blob(&repo, head_id)?
            }
        }
    };

    let mut changed = compared.changed;
    if disk_root.is_some() {
        let disk_prompts = workdir.as_deref().unwrap_or(Path::new(".")).join(&head_prompts_dir);
        changed.extend(workdir_changes(
            &repo,
            &head_tree,
            &head_prompts_dir,
            &disk_prompts,
            status,
        )?);
    }

    let mut pairs = Vec::with_capacity(changed.len());
    for name in &changed {
        let base = match &base_prompts {
            Some(tree) => read_tree_folder(&repo, tree, &base_config, name)?
                .map(|folder| with_seed_from_tree(&repo, &base_tree, &prefix, folder)),
            None => None,
        };
        let head = match &disk_root {
            Some(root) => read_disk_folder(root, &head_config, name)?
                .map(|folder| with_seed_from_disk(root, folder)),
            None => match &head_prompts {
                Some(tree) => read_tree_folder(&repo, tree, &head_config, name)?
                    .map(|folder| with_seed_from_tree(&repo, &head_tree, &prefix, folder)),
                None => None,
            },
        };
        // A folder that differs only in files the review does not read is no change.
        let same = match (&base, &head) {
            (Some(b), Some(h)) => b.files == h.files,
            (None, None) => true,
            _ => false,
        };
        if !same {
            pairs.push(Pair { name: name.clone(), base, head });
        }
    }
    let disk_text = disk_lock.text();
    let (base_text, head_text) =
        (base_lock.text(disk_text.as_deref()), head_lock.text(disk_text.as_deref()));
    // The same blob is the same text.
    let head_text = match head_lock {
        LockText::SameAsBase => base_text.as_deref(),
        _ => head_text.as_deref(),
    };
    let locks = Locks::read(base_text.as_deref(), head_text, &pairs);

    // The folders on both sides of the trees that are not in the review. A changed folder is on
    // both sides when the comparison says so; one that only the working tree changed has the same
    // tree on both sides, or none.
    let on_both_sides = |name: &str| match compared.presence.get(name) {
        Some(&(in_base, in_head)) => in_base && in_head,
        None => base_prompts.as_ref().is_some_and(|tree| is_folder(tree, name)),
    };
    let unchanged = compared
        .on_both_sides
        .saturating_sub(pairs.iter().filter(|pair| on_both_sides(&pair.name)).count());

    Ok(Input {
        base: Revision {
            name: request.base.to_string(),
            commit: Some(base_commit.id().to_string()),
        },
        merge_base: merge_base.to_string(),
        head: match request.head {
            Some(name) => {
                Revision { name: name.to_string(), commit: Some(head_commit.id().to_string()) }
            }
            None => Revision { name: "working tree".into(), commit: None },
        },
        base_config,
        head_config,
        locks,
        pairs,
        unchanged,
        base_has_prompts: base_prompts.is_some(),
    })
}

/// Where a side's `prompts.lock` is read from.
enum LockText<'r> {
    /// The side has none.
    Missing,
    Blob(Blob<'r>),
    /// The working tree's file (`WorktreeCopy`).
    Disk,
    /// The head has the base's blob: read once, and no entry can differ.
    SameAsBase,
}

impl LockText<'_> {
    /// The text, given the working tree's; `None` for `SameAsBase` too.
    fn text<'a>(&'a self, disk: Option<&'a str>) -> Option<Cow<'a, str>> {
        match self {
            LockText::Missing | LockText::SameAsBase => None,
            LockText::Blob(blob) => Some(String::from_utf8_lossy(blob.content())),
            LockText::Disk => disk.map(Cow::Borrowed),
        }
    }
}

/// The working tree's `prompts.lock`, and its git blob id once asked.
struct WorktreeCopy {
    bytes: Option<Vec<u8>>,
    id: std::cell::OnceCell<Option<Oid>>,
}

impl WorktreeCopy {
    fn new(bytes: Option<Vec<u8>>) -> WorktreeCopy {
        WorktreeCopy { bytes, id: std::cell::OnceCell::new() }
    }

    /// The blob `id`, unless the working tree's file has exactly its bytes. A file of another size
    /// is told apart without hashing it.
    fn or_blob<'r>(&self, repo: &'r Repository, id: Option<Oid>) -> Result<LockText<'r>, GitError> {
        let Some(id) = id else { return Ok(LockText::Missing) };
        let same_size = |bytes: &Vec<u8>| {
            repo.odb()
                .and_then(|odb| odb.read_header(id))
                .is_ok_and(|(size, _)| size == bytes.len())
        };
        if self.bytes.as_ref().is_some_and(same_size) && self.blob_id() == Some(id) {
            return Ok(LockText::Disk);
        }
        capped_blob(repo, id, "the lock file", LOCK).map(LockText::Blob)
    }

    /// Git's id of the file as a blob: the SHA-1 of `blob LEN\0` and its bytes.
    fn blob_id(&self) -> Option<Oid> {
        *self.id.get_or_init(|| {
            use sha1::Digest;
            let bytes = self.bytes.as_ref()?;
            let mut hasher = sha1::Sha1::new();
            hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
            hasher.update(bytes);
            Oid::from_bytes(&hasher.finalize()).ok()
        })
    }

    /// The file as text, as a working-tree review reads it.
    fn text(&self) -> Option<Cow<'_, str>> {
        self.bytes.as_deref().map(String::from_utf8_lossy)
    }
}

/// The id of the blob at `path`, if there is one.
fn blob_id(tree: &Tree, path: &str) -> Result<Option<Oid>, GitError> {
    match tree.get_path(Path::new(path)) {
        Ok(entry) if entry.kind() == Some(ObjectType::Blob) => Ok(Some(entry.id())),
        Ok(_) => Ok(None),
        Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
        Err(error) => Err(git_error(format!("read `{path}`"))(error)),
    }
}

/// A relative path with `/` separators.
fn slash_path(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn resolve<'r>(repo: &'r Repository, revision: &str) -> Result<git2::Commit<'r>, GitError> {
    repo.revparse_single(revision).and_then(|object| object.peel_to_commit()).map_err(|error| {
        if repo.is_shallow() {
            GitError::ShallowUnknownRevision { revision: revision.to_string() }
        } else {
            GitError::UnknownRevision {
                revision: revision.to_string(),
                message: error.message().trim_end_matches('.').to_lowercase(),
            }
        }
    })
}

/// `promptctl.toml` of a tree, parsed; `None` when the tree has none.
fn config_in(
    repo: &Repository,
    tree: &Tree,
    prefix: &str,
    revision: &str,
) -> Result<Option<Config>, GitError> {
    let path = format!("{prefix}{FILE_NAME}");
    let Some(text) = blob_text(repo, tree, &path)? else { return Ok(None) };
    toml::from_str::<Config>(&text).map(Some).map_err(|error| GitError::Config {
        revision: revision.to_string(),
        path,
        message: error.message().lines().next().unwrap_or("invalid TOML").to_string(),
    })
}

/// The tree at `path`, if there is one.
fn subtree<'r>(
    repo: &'r Repository,
    tree: &Tree,
    path: &str,
) -> Result<Option<Tree<'r>>, GitError> {
    if path.is_empty() {
        return repo.find_tree(tree.id()).map(Some).map_err(git_error("read a tree"));
    }
    match tree.get_path(Path::new(path)) {
        Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
            repo.find_tree(entry.id()).map(Some).map_err(git_error(format!("read `{path}`")))
        }
        Ok(_) => Ok(None),
        Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
        Err(error) => Err(git_error(format!("read `{path}`"))(error)),
    }
}

/// Prompt folders of a prompts tree with their tree ids.
fn folder_ids(tree: Option<&Tree>) -> BTreeMap<String, Oid> {
    let Some(tree) = tree else { return BTreeMap::new() };
    tree.iter()
        .filter(|entry| entry.kind() == Some(ObjectType::Tree))
        .filter_map(|entry| Some((entry.name().ok()?.to_string(), entry.id())))
        .filter(|(name, _)| !name.starts_with('.'))
        .collect()
}

/// Whether a prompts tree has a prompt folder of that name.
fn is_folder(tree: &Tree, name: &str) -> bool {
    !name.starts_with('.')
        && tree.get_name(name).is_some_and(|entry| entry.kind() == Some(ObjectType::Tree))
}

/// How the prompt folders of two prompts trees compare.
#[derive(Debug, Default, PartialEq, Eq)]
struct Comparison {
    /// Folders whose tree ids differ, and folders on one side only.
    changed: BTreeSet<String>,
    /// For each changed folder: whether it is in the base, and in the head.
    presence: BTreeMap<String, (bool, bool)>,
    /// How many folders are on both sides (changed or not).
    on_both_sides: usize,
}

/// Compares the prompt folders of two prompts trees by their tree ids: nothing below the prompts
/// tree is read, so beyond its two listings (a tree object is one sorted list, a few bytes per
/// prompt) the cost follows the changed folders.
fn compare_folders(base: Option<&Tree>, head: Option<&Tree>) -> Comparison {
    match compare_sorted(folders(base), folders(head)) {
        Some(comparison) => comparison,
        // Trees git did not write (out of order, or a name twice): compared by name instead.
        None => compare_maps(&folder_ids(base), &folder_ids(head)),
    }
}

/// The prompt folders of a prompts tree, in the tree's order.
fn folders<'t>(tree: Option<&'t Tree<'_>>) -> impl Iterator<Item = git2::TreeEntry<'t>> {
    tree.into_iter().flat_map(Tree::iter).filter(is_prompt_folder)
}

/// A sub-tree with a UTF-8 name that does not start with `.`.
fn is_prompt_folder(entry: &git2::TreeEntry<'_>) -> bool {
    entry.kind() == Some(ObjectType::Tree)
        && std::str::from_utf8(entry.name_bytes()).is_ok_and(|name| !name.starts_with('.'))
}

/// A folder of a listing: its name and tree id.
trait Listed {
    fn name(&self) -> &[u8];
    fn id(&self) -> Oid;
}

impl Listed for git2::TreeEntry<'_> {
    fn name(&self) -> &[u8] {
        self.name_bytes()
    }

    fn id(&self) -> Oid {
        git2::TreeEntry::id(self)
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

/// Prompt folders whose files differ between the head commit and the working tree (staged,
/// unstaged or untracked), through the index's stat cache. The `git` command does this about
/// twice as fast as libgit2 on a large tree (it stats files in parallel), so it is asked first;
/// libgit2 answers when it is not installed or fails.
fn workdir_changes(
    repo: &Repository,
    head_tree: &Tree,
    prompts_dir: &str,
    disk_prompts: &Path,
    status: Status,
) -> Result<BTreeSet<String>, GitError> {
    if let Some(paths) = status.finish() {
        let mut names = BTreeSet::new();
        let prefix = format!("{prompts_dir}/");
        for path in paths {
            let path = path.trim_end_matches('/');
            if prefix.trim_end_matches('/').starts_with(path)
                || prefix.starts_with(&format!("{path}/"))
            {
                // The whole prompts folder (or a folder above it) is untracked: every prompt is.
                let entries = std::fs::read_dir(disk_prompts).into_iter().flatten().flatten();
                names.extend(
                    entries
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|name| !name.starts_with('.')),
                );
                continue;
            }
            let Some(inside) = path.strip_prefix(&prefix) else { continue };
            let name = inside.split_once('/').map_or(inside, |(name, _)| name);
            // A file directly in the prompts folder is not a prompt.
            if !name.is_empty() && (inside.contains('/') || disk_prompts.join(name).is_dir()) {
                names.insert(name.to_string());
            }
        }
        return Ok(names);
    }
    let mut options = git2::DiffOptions::new();
    options
        .pathspec(format!("{prompts_dir}/"))
        .include_untracked(true)
        // An untracked prompt folder is one delta (`prompts/new/`): its name is all we need.
        .recurse_untracked_dirs(false)
        .skip_binary_check(true)
        .ignore_submodules(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(head_tree), Some(&mut options))
        .map_err(git_error("compare the working tree with HEAD"))?;
    let mut names = BTreeSet::new();
    let prefix = format!("{prompts_dir}/");
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            let Some(path) = file.path().and_then(Path::to_str) else { continue };
            if prefix.starts_with(path) {
                // The whole prompts folder (or a folder above it) is untracked: every prompt is.
                let entries = std::fs::read_dir(disk_prompts).into_iter().flatten().flatten();
                names.extend(
                    entries
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|name| !name.starts_with('.')),
                );
                continue;
            }
            let Some(inside) = path.strip_prefix(&prefix) else { continue };
            if let Some((name, _)) = inside.split_once('/') {
                if !name.is_empty() {
                    names.insert(name.to_string());
                }
            }
        }
    }
    Ok(names)
}

/// `git status` of the prompts folder, running: the paths it reports under it (both sides of a
/// rename, relative to the repository root) once it is done. Dropped unfinished (the review
/// failed meanwhile), it is stopped.
struct Status(Option<std::process::Child>);

impl Status {
    /// Starts `git status`; without git, a `Status` that reports nothing (libgit2 answers then).
    fn start(workdir: &Path, prompts_dir: &str) -> Status {
        let child = std::process::Command::new("git")
            .args(["status", "--porcelain=v1", "-z", "--untracked-files=normal", "--no-renames"])
            .arg("--")
            .arg(format!("{prompts_dir}/"))
            .current_dir(workdir)
            .env("LC_ALL", "C")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok();
        Status(child)
    }

    /// The reported paths; `None` when git could not be run or failed.
    fn finish(mut self) -> Option<Vec<String>> {
        let output = self.0.take()?.wait_with_output().ok()?;
        if !output.status.success() {
            return None;
        }
        let text = String::from_utf8(output.stdout).ok()?;
        // Each record is `XY PATH`, NUL-terminated.
        Some(
            text.split('\0')
                .filter(|record| record.len() > 3)
                .map(|record| record[3..].to_string())
                .collect(),
        )
    }
}

impl Drop for Status {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn blob_text(repo: &Repository, tree: &Tree, path: &str) -> Result<Option<String>, GitError> {
    Ok(blob(repo, tree, path)?.map(|blob| String::from_utf8_lossy(blob.content()).into_owned()))
}

/// The blob at `path`, if there is one.
fn blob<'r>(repo: &'r Repository, tree: &Tree, path: &str) -> Result<Option<Blob<'r>>, GitError> {
    match tree.get_path(Path::new(path)) {
        Ok(entry) if entry.kind() == Some(ObjectType::Blob) => {
            repo.find_blob(entry.id()).map(Some).map_err(git_error(format!("read `{path}`")))
        }
        Ok(_) => Ok(None),
        Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
        Err(error) => Err(git_error(format!("read `{path}`"))(error)),
    }
}

/// Whether a file in a prompt folder is one the review reads.
fn wanted(name: &str) -> bool {
    name == "prompt.toml" || crate::source::version_number(name).is_some()
}

fn read_tree_folder(
    repo: &Repository,
    prompts: &Tree,
    config: &Config,
    name: &str,
) -> Result<Option<Folder>, GitError> {
    let dir = side_dir(config, name);
    let Some(entry) = prompts.get_name(name) else { return Ok(None) };
    if entry.kind() != Some(ObjectType::Tree) {
        return Ok(None);
    }
    let what = || format!("read `{dir}`");
    let tree = repo.find_tree(entry.id()).map_err(git_error(what()))?;
    let mut folder = Folder { dir: dir.clone(), ..Folder::default() };
    for entry in tree.iter() {
        let Ok(file_name) = entry.name() else { continue };
        match entry.kind() {
            Some(ObjectType::Blob) if wanted(file_name) && entry.filemode() != 0o120000 => {
                let path = format!("{dir}/{file_name}");
                let blob = capped_blob(repo, entry.id(), &path, file_cap(config, file_name))?;
                folder.files.insert(file_name.to_string(), blob.content().to_vec());
            }
            Some(ObjectType::Tree) if file_name == "snapshots" => {
                let snapshots = repo.find_tree(entry.id()).map_err(git_error(what()))?;
                for snapshot in snapshots.iter() {
                    let (Ok(snapshot_name), Some(ObjectType::Blob)) =
                        (snapshot.name(), snapshot.kind())
                    else {
                        continue;
                    };
                    let path = format!("{dir}/snapshots/{snapshot_name}");
                    let blob = capped_blob(repo, snapshot.id(), &path, SNAPSHOT)?;
                    folder
                        .files
                        .insert(format!("snapshots/{snapshot_name}"), blob.content().to_vec());
                }
            }
            _ => {}
        }
    }
    Ok((!folder.files.is_empty()).then_some(folder))
}

/// The folder of the prompt `name` under `config`'s prompts folder.
fn side_dir(config: &Config, name: &str) -> String {
    format!("{}/{name}", config.prompts_dir.trim_end_matches('/'))
}

fn read_disk_folder(root: &Path, config: &Config, name: &str) -> Result<Option<Folder>, GitError> {
    let dir = side_dir(config, name);
    let path = root.join(&dir);
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| GitError::Read { path, source: source.into() }
    };
    let capped_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GitError::Read { path, source }
    };
    let entries = match std::fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => return Ok(None),
        Err(source) => return Err(GitError::Read { path, source: source.into() }),
    };
    let mut folder = Folder { dir, ..Folder::default() };
    for entry in entries {
        let entry = entry.map_err(read_error(&path))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let file_path = entry.path();
        if file_path.is_file() && wanted(&file_name) {
            let (limit, what) = file_cap(config, &file_name);
            let bytes =
                crate::read::read(&file_path, limit, what).map_err(capped_error(&file_path))?;
            folder.files.insert(file_name, bytes);
        } else if file_name == "snapshots" && file_path.is_dir() {
            for snapshot in std::fs::read_dir(&file_path).map_err(read_error(&file_path))? {
                let snapshot = snapshot.map_err(read_error(&file_path))?;
                if snapshot.path().is_file() {
                    let bytes = crate::read::read(&snapshot.path(), SNAPSHOT.0, SNAPSHOT.1)
                        .map_err(capped_error(&snapshot.path()))?;
                    folder.files.insert(
                        format!("snapshots/{}", snapshot.file_name().to_string_lossy()),
                        bytes,
                    );
                }
            }
        }
    }
    Ok((!folder.files.is_empty()).then_some(folder))
}

/// The `[seed] file` a folder's manifest names.
fn seed_path(folder: &Folder) -> Option<String> {
    let text = std::str::from_utf8(folder.files.get("prompt.toml")?).ok()?;
    if !text.contains("seed") {
        return None;
    }
    let (manifest, _) = crate::syntax::prompt::read_manifest("prompt.toml", text);
    Some(manifest?.seed?.get_ref().file.get_ref().replace('\\', "/"))
}

fn with_seed_from_tree(repo: &Repository, tree: &Tree, prefix: &str, mut folder: Folder) -> Folder {
    if let Some(path) = seed_path(&folder) {
        let unavailable =
            |reason: &str| SeedSource::Unavailable { path: path.clone(), reason: reason.into() };
        folder.seed = Some(if path.starts_with('/') || path.split('/').any(|part| part == "..") {
            unavailable("the path leaves the repository; give it relative to the repository root")
        } else {
            match tree.get_path(Path::new(&format!("{prefix}{path}"))) {
                Ok(entry) if entry.kind() == Some(ObjectType::Blob) => {
                    match capped_blob(repo, entry.id(), &path, SEED) {
                        Ok(blob) => SeedSource::Read(crate::source::SourceFile::new(
                            path.clone(),
                            blob.content().to_vec(),
                        )),
                        Err(error) => unavailable(&format!("cannot read it: {error}")),
                    }
                }
                _ => unavailable("the file does not exist"),
            }
        });
    }
    folder
}

fn with_seed_from_disk(root: &Path, mut folder: Folder) -> Folder {
    if let Some(path) = seed_path(&folder) {
        let unavailable = |reason: String| SeedSource::Unavailable { path: path.clone(), reason };
        let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        folder.seed = Some(match root.join(&path).canonicalize() {
            Ok(resolved) if !resolved.starts_with(&canonical_root) => unavailable(format!(
                "it resolves to `{}`, outside the repository",
                resolved.display()
            )),
            Ok(resolved) => match crate::read::read(&resolved, SEED.0, SEED.1) {
                Ok(bytes) => SeedSource::Read(crate::source::SourceFile::new(path.clone(), bytes)),
                Err(error) => unavailable(format!("cannot read it: {error}")),
            },
            Err(_) => unavailable("the file does not exist".into()),
        });
    }
    folder
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
    fn a_working_tree_copy_has_its_blobs_id() {
        for bytes in [&b""[..], b"# generated\n", &[0xff, 0, b'\n']] {
            let copy = WorktreeCopy::new(Some(bytes.to_vec()));
            let expected = Oid::hash_object(ObjectType::Blob, bytes).expect("hashable");
            assert_eq!(copy.blob_id(), Some(expected));
        }
        assert_eq!(WorktreeCopy::new(None).blob_id(), None);
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
