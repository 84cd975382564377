//! Provenance: what git says about HEAD (`head`, through `crate::git`), read beside the check, and
//! whether the files the build read are the committed ones (`Head::provenance`: `matches_index`,
//! pure, with `git status` only when the index does not vouch for them).

use super::*;
use crate::git::{self, IndexFiles};

/// What git says about HEAD, read beside the check: the provenance but for `dirty`, and what
/// git's index holds under the inputs, against which `provenance` compares the files the build
/// read.
#[derive(Debug)]
pub struct Head {
    pub seq: u64,
    pub git_commit: String,
    /// The committer time, in seconds since the Unix epoch.
    pub commit_time: i64,
    /// The index's files under the inputs, when the index equals HEAD there; `None` when it
    /// does not, or git could not list it: then only `git status` can tell.
    index: Option<IndexFiles>,
}

/// A file of the working tree under the inputs, as the build read it.
#[derive(Debug, Clone, Copy)]
pub struct WorkFile<'a> {
    /// Relative to the project root, `/`-separated.
    pub path: &'a str,
    /// The git blob id of the bytes read (`git::blob_id`).
    pub blob: [u8; 20],
    pub executable: bool,
}

/// Reads seq, commit and commit time of HEAD, and git's index under `paths` (relative to `root`,
/// the files the bundle is built from). None of it looks at the working tree.
pub fn head(root: &Path, paths: &[&str]) -> Result<Head, Error> {
    let commit = git::head_commit(root)?;
    Ok(Head {
        seq: commit.seq,
        git_commit: commit.id,
        commit_time: commit.time,
        index: git::index_if_head(root, paths),
    })
}

/// Whether the files the build read are exactly the index's files under the inputs, byte for
/// byte and mode for mode: every read file is in the index with the same blob id and execute
/// bit, and every file of the index was read. Pure; `false` means "ask `git status`", not
/// "dirty": a file that git's filters rewrite (line endings, LFS), a file git ignores or
/// `core.fileMode = false` can make the two differ while `git status` sees nothing.
pub(super) fn matches_index(index: &IndexFiles, files: &[WorkFile]) -> bool {
    let mut seen = vec![false; index.files.len()];
    let mut unseen = index.files.len();
    for file in files {
        let Some(&position) = index.positions.get(file.path) else { return false };
        if index.files[position] != (file.executable, file.blob) {
            return false;
        }
        if !std::mem::replace(&mut seen[position], true) {
            unseen -= 1;
        }
    }
    unseen == 0
}

impl Head {
    /// The provenance, with `dirty` from the files the build read (`files`; `None` when some
    /// entry under the inputs could not be read as a file): when they are exactly the files of
    /// git's index and the index is HEAD's, the inputs are committed; otherwise `git status`
    /// decides, so that the bundle is marked dirty only when git reports changes (to
    /// promptctl.toml, the prompts folder or the lock file, untracked files included).
    pub fn provenance(
        self,
        root: &Path,
        paths: &[&str],
        files: Option<&[WorkFile]>,
    ) -> Result<Provenance, Error> {
        let committed = match (&self.index, files) {
            (Some(index), Some(files)) => matches_index(index, files),
            _ => false,
        };
        let dirty = !committed && git::status_reports_changes(root, paths)?;
        Ok(Provenance {
            seq: self.seq,
            git_commit: self.git_commit,
            commit_time: self.commit_time,
            dirty,
        })
    }
}
