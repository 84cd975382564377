//! Provenance: what git says about HEAD (`head`), read beside the check, and whether the files the
//! build read are the committed ones (`Head::provenance`, with `git status` only when the index
//! does not vouch for them).

use super::*;

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
    index: Option<Tracked>,
}

/// The files of git's index (`git ls-files --stage`), by path: a regular file's execute bit and
/// blob id. Any other entry (a symbolic link, a submodule, a conflict) makes the whole `None`.
#[derive(Debug, Default)]
pub(super) struct Tracked {
    pub(super) positions: std::collections::HashMap<String, usize>,
    pub(super) files: Vec<(bool, [u8; 20])>,
}

/// A file of the working tree under the inputs, as the build read it.
#[derive(Debug, Clone, Copy)]
pub struct WorkFile<'a> {
    /// Relative to the project root, `/`-separated.
    pub path: &'a str,
    /// The git blob id of the bytes read (`source::git_blob_id`).
    pub blob: [u8; 20],
    pub executable: bool,
}

/// Runs git in `root` (English messages); the error names the command.
pub(super) fn git(root: &Path, args: &[&str]) -> Result<std::process::Output, Error> {
    std::process::Command::new("git")
        .args(args)
        .current_dir(root)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| Error::GitMissing { root: root.to_path_buf(), source })
}

/// `git ARGS` that must succeed: its output, trimmed.
pub(super) fn git_text(root: &Path, args: &[&str]) -> Result<String, Error> {
    let output = git(root, args)?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
        let message = message.strip_prefix("fatal: ").unwrap_or(&message).to_string();
        return Err(Error::Git { root: root.to_path_buf(), command: args.join(" "), message });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Reads seq, commit and commit time of HEAD, and git's index under `paths` (relative to `root`,
/// the files the bundle is built from). None of it looks at the working tree.
pub fn head(root: &Path, paths: &[&str]) -> Result<Head, Error> {
    let parse_error = |command: &str, text: &str| Error::Git {
        root: root.to_path_buf(),
        command: command.to_string(),
        message: format!("unexpected output `{text}`"),
    };
    let git_commit = git_text(root, &["rev-parse", "--verify", "HEAD^{commit}"])?;
    let count = git_text(root, &["rev-list", "--first-parent", "--count", "HEAD"])?;
    let seq = count.parse().map_err(|_| parse_error("rev-list", &count))?;
    let time = git_text(root, &["show", "-s", "--format=%ct", "HEAD"])?;
    let commit_time = time.parse().map_err(|_| parse_error("show", &time))?;
    Ok(Head { seq, git_commit, commit_time, index: index_if_head(root, paths) })
}

/// The index's files under `paths`, if the index has exactly HEAD's files there (a staged change
/// is for `git status` to report). Any failure is `None`: `git status` decides then.
pub(super) fn index_if_head(root: &Path, paths: &[&str]) -> Option<Tracked> {
    let with_paths = |args: &[&'static str]| -> Vec<&str> {
        let mut args = args.to_vec();
        args.push("--");
        args.extend_from_slice(paths);
        args
    };
    // Exit code 0: no difference; 1: some; anything else: git could not tell.
    let staged = git(root, &with_paths(&["diff-index", "--cached", "--quiet", "HEAD"])).ok()?;
    if staged.status.code() != Some(0) {
        return None;
    }
    let listed = git(root, &with_paths(&["ls-files", "--stage", "-z"])).ok()?;
    if !listed.status.success() {
        return None;
    }
    parse_stage(&listed.stdout)
}

/// `git ls-files --stage -z` output: `<mode> <object> <stage>\t<path>\0` per entry. Only regular
/// files at stage 0 (no conflict) with a SHA-1 id are understood; anything else is `None`.
pub(super) fn parse_stage(output: &[u8]) -> Option<Tracked> {
    let text = std::str::from_utf8(output).ok()?;
    let mut tracked = Tracked::default();
    for record in text.split_terminator('\0') {
        let (fields, path) = record.split_once('\t')?;
        let mut fields = fields.split(' ');
        let (mode, blob, stage) = (fields.next()?, fields.next()?, fields.next()?);
        let executable = match mode {
            "100644" => false,
            "100755" => true,
            _ => return None,
        };
        let mut id = [0; 20];
        hex::decode_to_slice(blob, &mut id).ok()?;
        if stage != "0" || fields.next().is_some() {
            return None;
        }
        let position = tracked.files.len();
        if tracked.positions.insert(path.to_string(), position).is_some() {
            return None;
        }
        tracked.files.push((executable, id));
    }
    Some(tracked)
}

/// Whether the files the build read are exactly the index's files under the inputs, byte for
/// byte and mode for mode: every read file is in the index with the same blob id and execute
/// bit, and every file of the index was read. Pure; `false` means "ask `git status`", not
/// "dirty": a file that git's filters rewrite (line endings, LFS), a file git ignores or
/// `core.fileMode = false` can make the two differ while `git status` sees nothing.
pub(super) fn matches_index(index: &Tracked, files: &[WorkFile]) -> bool {
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
        let dirty = !committed && status_reports_changes(root, paths)?;
        Ok(Provenance {
            seq: self.seq,
            git_commit: self.git_commit,
            commit_time: self.commit_time,
            dirty,
        })
    }
}

/// Whether `git status` reports changes to `paths`, untracked files included.
pub(super) fn status_reports_changes(root: &Path, paths: &[&str]) -> Result<bool, Error> {
    let mut status = vec!["status", "--porcelain", "--untracked-files=all", "--"];
    status.extend_from_slice(paths);
    Ok(!git_text(root, &status)?.is_empty())
}
