//! Assembling the review's `Input`: the base side is read straight from git objects through
//! `git` (no checkout, so it works on a bare clone), the head side from a commit or the working
//! tree. Only the prompt
//! folders whose tree ids differ are read, and only the lock entries of the changed prompts are
//! kept, so the cost follows the number of changed prompts; what still grows with the repository
//! is one listing of each prompts tree, reading and scanning `prompts.lock` once per side (from
//! the working tree when its bytes are the blob's, cheaper than inflating it), and for a working
//! tree `git status` (a stat per tracked file, a listing per folder, of the prompts folder).

use super::folders::{compare_folders, is_folder};
use super::{Folder, Input, Locks, Pair, Revision};
use crate::config::{Config, FILE_NAME};
use crate::git::{self, Blob, Oid, Repo, Tree};
use crate::source::SeedSource;
use std::borrow::Cow;
use std::collections::BTreeSet;
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

/// Why the review could not read its two sides.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Git(#[from] git::Error),
    #[error(
        "the head revision `{revision}` has no `{path}`; review a commit of a promptctl project"
    )]
    NoConfig { revision: String, path: String },
    #[error("`{path}` of `{revision}` is invalid: {message}")]
    Config { revision: String, path: String, message: String },
    #[error("cannot read `{path}`")]
    Read { path: PathBuf, source: crate::read::ReadError },
}

const LOCK: (u64, &str) = (crate::read::LOCK_BYTES, "the lock file");
const MANIFEST: (u64, &str) = (crate::read::MANIFEST_BYTES, "a prompt.toml");
const SNAPSHOT: (u64, &str) = (crate::read::TEXT_BYTES, "a snapshot");
const EVAL: (u64, &str) = (crate::syntax::dataset::MAX_DATASET_BYTES, "an eval dataset or schema");
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

/// Reads both sides of the review.
pub fn read(request: &Request) -> Result<Input, Error> {
    let repo = Repo::discover(request.start)?;
    let workdir = repo.workdir().map(Path::to_path_buf);
    if workdir.is_none() && request.head.is_none() {
        return Err(git::Error::Bare.into());
    }
    let base_commit = repo.resolve(request.base)?;
    let head_commit = match request.head {
        Some(head) => repo.resolve(head)?,
        None => repo.head()?,
    };
    let head_name = request.head.unwrap_or("HEAD");
    let merge_base = repo.merge_base(&base_commit, &head_commit, (request.base, head_name))?;
    let base_tree = repo.commit_tree(merge_base, "merge base")?;
    let head_tree = repo.commit_tree(head_commit.id(), "head")?;

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
                Error::NoConfig { revision: head_name.to_string(), path: FILE_NAME.into() }
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
        (Some(_), Some(workdir)) => git::Status::start(workdir, &head_prompts_dir),
        _ => git::Status::none(),
    };
    let base_prompts = repo.subtree(&base_tree, &base_prompts_dir)?;
    let head_prompts = repo.subtree(&head_tree, &head_prompts_dir)?;
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
                Err(source) => return Err(Error::Read { path, source }),
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
    let base_lock = disk_lock.or_blob(&repo, repo.blob_id_at(&base_tree, &base_lock_path)?)?;
    let head_lock = match &disk_root {
        Some(_) => LockText::Disk,
        None => {
            let head_id = repo.blob_id_at(&head_tree, &head_lock_path)?;
            if head_id.is_some() && head_id == repo.blob_id_at(&base_tree, &base_lock_path)? {
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
    fn or_blob<'r>(&self, repo: &'r Repo, id: Option<Oid>) -> Result<LockText<'r>, Error> {
        let Some(id) = id else { return Ok(LockText::Missing) };
        let same_size = |bytes: &Vec<u8>| {
            repo.blob_size(id, "the lock file").is_ok_and(|size| size == bytes.len())
        };
        if self.bytes.as_ref().is_some_and(same_size) && self.blob_id() == Some(id) {
            return Ok(LockText::Disk);
        }
        Ok(repo.capped_blob(id, "the lock file", LOCK).map(LockText::Blob)?)
    }

    /// Git's id of the file as a blob (`git::blob_id`).
    fn blob_id(&self) -> Option<Oid> {
        *self.id.get_or_init(|| Oid::from_bytes(&git::blob_id(self.bytes.as_ref()?)).ok())
    }

    /// The file as text, as a working-tree review reads it.
    fn text(&self) -> Option<Cow<'_, str>> {
        self.bytes.as_deref().map(String::from_utf8_lossy)
    }
}

/// A relative path with `/` separators.
fn slash_path(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// `promptctl.toml` of a tree, parsed; `None` when the tree has none.
fn config_in(
    repo: &Repo,
    tree: &Tree,
    prefix: &str,
    revision: &str,
) -> Result<Option<Config>, Error> {
    let path = format!("{prefix}{FILE_NAME}");
    let Some(text) = repo.blob_text_at(tree, &path)? else { return Ok(None) };
    toml::from_str::<Config>(&text).map(Some).map_err(|error| Error::Config {
        revision: revision.to_string(),
        path,
        message: error.message().lines().next().unwrap_or("invalid TOML").to_string(),
    })
}

/// Prompt folders whose files differ between the head commit and the working tree (staged,
/// unstaged or untracked), through the index's stat cache. The `git` command does this about
/// twice as fast as libgit2 on a large tree (it stats files in parallel), so it is asked first;
/// libgit2 answers when it is not installed or fails.
fn workdir_changes(
    repo: &Repo,
    head_tree: &Tree,
    prompts_dir: &str,
    disk_prompts: &Path,
    status: git::Status,
) -> Result<BTreeSet<String>, Error> {
    if let Some(paths) = status.finish() {
        let mut names = BTreeSet::new();
        let prefix = format!("{prompts_dir}/");
        for path in paths {
            let path = path.trim_end_matches('/');
            if prefix.trim_end_matches('/').starts_with(path)
                || prefix.starts_with(&format!("{path}/"))
            {
                // The whole prompts folder (or a folder above it) is untracked: every prompt is.
                names.extend(all_folders(disk_prompts));
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
    let mut names = BTreeSet::new();
    let prefix = format!("{prompts_dir}/");
    for path in repo.changed_paths(head_tree, prompts_dir)? {
        if prefix.starts_with(&path) {
            // The whole prompts folder (or a folder above it) is untracked: every prompt is.
            names.extend(all_folders(disk_prompts));
            continue;
        }
        let Some(inside) = path.strip_prefix(&prefix) else { continue };
        if let Some((name, _)) = inside.split_once('/') {
            if !name.is_empty() {
                names.insert(name.to_string());
            }
        }
    }
    Ok(names)
}

/// The names of the folders in `dir` that do not start with `.` (none when it cannot be listed).
fn all_folders(dir: &Path) -> impl Iterator<Item = String> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    entries
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
}

/// Whether a file in a prompt folder is one the review reads.
fn wanted(name: &str) -> bool {
    name == "prompt.toml" || crate::source::version_number(name).is_some()
}

fn read_tree_folder(
    repo: &Repo,
    prompts: &Tree,
    config: &Config,
    name: &str,
) -> Result<Option<Folder>, Error> {
    let dir = side_dir(config, name);
    let Some(entry) = prompts.get(name) else { return Ok(None) };
    if !entry.is_tree() {
        return Ok(None);
    }
    let tree = repo.tree(entry.id(), &dir)?;
    let mut folder = Folder { dir: dir.clone(), ..Folder::default() };
    for entry in tree.entries() {
        let Some(file_name) = entry.name() else { continue };
        if entry.is_blob() && wanted(file_name) && !entry.is_link() {
            let path = format!("{dir}/{file_name}");
            let blob = repo.capped_blob(entry.id(), &path, file_cap(config, file_name))?;
            folder.files.insert(file_name.to_string(), blob.content().to_vec());
        } else if entry.is_tree() && (file_name == "snapshots" || file_name == "evals") {
            let cap = if file_name == "evals" { EVAL } else { SNAPSHOT };
            let snapshots = repo.tree(entry.id(), &dir)?;
            for snapshot in snapshots.entries() {
                let (Some(snapshot_name), true) = (snapshot.name(), snapshot.is_blob()) else {
                    continue;
                };
                let path = format!("{dir}/{file_name}/{snapshot_name}");
                let blob = repo.capped_blob(snapshot.id(), &path, cap)?;
                folder
                    .files
                    .insert(format!("{file_name}/{snapshot_name}"), blob.content().to_vec());
            }
        }
    }
    Ok((!folder.files.is_empty()).then_some(folder))
}

/// The folder of the prompt `name` under `config`'s prompts folder.
fn side_dir(config: &Config, name: &str) -> String {
    format!("{}/{name}", config.prompts_dir.trim_end_matches('/'))
}

fn read_disk_folder(root: &Path, config: &Config, name: &str) -> Result<Option<Folder>, Error> {
    let dir = side_dir(config, name);
    let path = root.join(&dir);
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| Error::Read { path, source: source.into() }
    };
    let capped_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Read { path, source }
    };
    let entries = match std::fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => return Ok(None),
        Err(source) => return Err(Error::Read { path, source: source.into() }),
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
        } else if (file_name == "snapshots" || file_name == "evals") && file_path.is_dir() {
            let cap = if file_name == "evals" { EVAL } else { SNAPSHOT };
            for snapshot in std::fs::read_dir(&file_path).map_err(read_error(&file_path))? {
                let snapshot = snapshot.map_err(read_error(&file_path))?;
                if snapshot.path().is_file() {
                    let bytes = crate::read::read(&snapshot.path(), cap.0, cap.1)
                        .map_err(capped_error(&snapshot.path()))?;
                    folder.files.insert(
                        format!("{file_name}/{}", snapshot.file_name().to_string_lossy()),
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

fn with_seed_from_tree(repo: &Repo, tree: &Tree, prefix: &str, mut folder: Folder) -> Folder {
    if let Some(path) = seed_path(&folder) {
        let unavailable =
            |reason: &str| SeedSource::Unavailable { path: path.clone(), reason: reason.into() };
        folder.seed = Some(if path.starts_with('/') || path.split('/').any(|part| part == "..") {
            unavailable("the path leaves the repository; give it relative to the repository root")
        } else {
            match repo.blob_id_at(tree, &format!("{prefix}{path}")) {
                Ok(Some(id)) => match repo.capped_blob(id, &path, SEED) {
                    Ok(blob) => SeedSource::Read(crate::source::SourceFile::new(
                        path.clone(),
                        blob.content().to_vec(),
                    )),
                    Err(error) => unavailable(&format!("cannot read it: {error}")),
                },
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

    #[test]
    fn a_working_tree_copy_has_its_blobs_id() {
        // `git::blob_id` is libgit2's id of the bytes (its own test).
        for bytes in [&b""[..], b"# generated\n", &[0xff, 0, b'\n']] {
            let copy = WorktreeCopy::new(Some(bytes.to_vec()));
            let expected = Oid::from_bytes(&git::blob_id(bytes)).expect("20 bytes");
            assert_eq!(copy.blob_id(), Some(expected));
        }
        assert_eq!(WorktreeCopy::new(None).blob_id(), None);
    }
}
