//! The `git` binary: `git status`, and what a build records of HEAD and the index (see the
//! policy in `mod.rs` for why these run the binary).

use super::Error;
use std::path::Path;

/// Runs git in `root` (English messages); the error names the command.
fn git(root: &Path, args: &[&str]) -> Result<std::process::Output, Error> {
    std::process::Command::new("git")
        .args(args)
        .current_dir(root)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| Error::Missing { root: root.to_path_buf(), source })
}

/// `git ARGS` that must succeed: its output, trimmed.
fn git_text(root: &Path, args: &[&str]) -> Result<String, Error> {
    let output = git(root, args)?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
        let message = message.strip_prefix("fatal: ").unwrap_or(&message).to_string();
        return Err(Error::Command { root: root.to_path_buf(), command: args.join(" "), message });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// HEAD as a build records it.
#[derive(Debug)]
pub struct HeadCommit {
    /// The commit id, in hex.
    pub id: String,
    /// The first-parent commit count of HEAD.
    pub seq: u64,
    /// The committer time, in seconds since the Unix epoch.
    pub time: i64,
}

/// Reads the commit, first-parent count and commit time of HEAD in `root`.
pub fn head_commit(root: &Path) -> Result<HeadCommit, Error> {
    let parse_error = |command: &str, text: &str| Error::Command {
        root: root.to_path_buf(),
        command: command.to_string(),
        message: format!("unexpected output `{text}`"),
    };
    let id = git_text(root, &["rev-parse", "--verify", "HEAD^{commit}"])?;
    // A shallow clone counts only the commits it has: seq would go back in time.
    if git_text(root, &["rev-parse", "--is-shallow-repository"])? == "true" {
        return Err(Error::ShallowBuild { root: root.to_path_buf() });
    }
    let count = git_text(root, &["rev-list", "--first-parent", "--count", "HEAD"])?;
    let seq = count.parse().map_err(|_| parse_error("rev-list", &count))?;
    let time = git_text(root, &["show", "-s", "--format=%ct", "HEAD"])?;
    let time = time.parse().map_err(|_| parse_error("show", &time))?;
    Ok(HeadCommit { id, seq, time })
}

/// The files of git's index (`git ls-files --stage`), by path: a regular file's execute bit and
/// blob id. Any other entry (a symbolic link, a submodule, a conflict) makes the whole `None`.
#[derive(Debug, Default)]
pub struct IndexFiles {
    pub positions: std::collections::HashMap<String, usize>,
    pub files: Vec<(bool, [u8; 20])>,
}

/// The index's files under `paths` (relative to `root`), if the index has exactly HEAD's files
/// there (a staged change is for `git status` to report). Any failure is `None`: `git status`
/// decides then.
pub fn index_if_head(root: &Path, paths: &[&str]) -> Option<IndexFiles> {
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
pub fn parse_stage(output: &[u8]) -> Option<IndexFiles> {
    let text = std::str::from_utf8(output).ok()?;
    let mut tracked = IndexFiles::default();
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

/// Whether `git status` reports changes to `paths`, untracked files included.
pub fn status_reports_changes(root: &Path, paths: &[&str]) -> Result<bool, Error> {
    let mut status = vec!["status", "--porcelain", "--untracked-files=all", "--"];
    status.extend_from_slice(paths);
    Ok(!git_text(root, &status)?.is_empty())
}

/// `git status` of a folder of the working tree, running: the paths it reports under it (both
/// sides of a rename, relative to the repository root) once it is done. Dropped unfinished (the
/// caller failed meanwhile), it is stopped.
pub struct Status(Option<std::process::Child>);

impl Status {
    /// Starts `git status` of `dir` (relative to `workdir`, the repository root); without git, a
    /// `Status` that reports nothing.
    pub fn start(workdir: &Path, dir: &str) -> Status {
        let child = std::process::Command::new("git")
            .args(["status", "--porcelain=v1", "-z", "--untracked-files=normal", "--no-renames"])
            .arg("--")
            .arg(format!("{dir}/"))
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

    /// A `Status` that reports nothing.
    pub fn none() -> Status {
        Status(None)
    }

    /// The reported paths (an untracked folder ends with `/`); `None` when git could not be run
    /// or failed.
    pub fn finish(mut self) -> Option<Vec<String>> {
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
