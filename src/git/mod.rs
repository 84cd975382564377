//! The git adapter: every contact of promptctl with git goes through here (opening or discovering
//! a repository, HEAD, revisions and merge bases, trees and blobs, the index's entries, `git
//! status`, blob ids); `review` and `bundle` keep only their pure logic. Every failure is an
//! [`Error`], whose messages are the ones users see.
//!
//! Policy: objects are read with the library (git2, `objects.rs`): no process per object, it
//! works on a bare clone, and a blob's size is read from its header before it is inflated, so a
//! capped read never inflates a huge blob. The `git` binary (`command.rs`) is run only where it
//! is clearly faster or where it is the reference:
//! - `git status` (the review's changed prompt folders of a working tree, and a build's dirty
//!   check): it stats the files in parallel and uses the index's stat cache and fsmonitor, about
//!   twice as fast as libgit2 on a large tree; for the review, libgit2 answers when it fails.
//! - a build's provenance (`rev-parse`, `rev-list --first-parent --count`, `show -s`,
//!   `diff-index --cached`, `ls-files --stage`): the binary is the reference for what a build
//!   records. `seq` is the count `git rev-list` prints, replace refs, grafts and shallow
//!   boundaries included, as git (not libgit2) interprets them; git reads every index format it
//!   writes, where libgit2 refuses a split or sparse index; the commands run once per build,
//!   beside the check, so their process cost is hidden. Moving them to the library would need a
//!   proof of equal results on such repositories first.
//!
//! Blob ids of bytes (`blob_id`) are pure hashing, here because they are git's ids.

mod command;
mod objects;

pub use command::*;
pub use objects::*;

use std::path::PathBuf;

/// Everything that can go wrong when asking git, with the advice users see.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    /// The library failed.
    #[error("git: cannot {what}: {message}")]
    Library { what: String, message: String },
    #[error("cannot read `{path}`: its blob is {size} bytes, over the limit of {limit} bytes for {what}")]
    TooLarge { path: String, size: usize, limit: u64, what: &'static str },
    /// The binary could not be run (only a build's provenance needs it).
    #[error("`{root}` is a shallow clone: a bundle's seq is the number of commits in HEAD's first-parent history, which a shallow clone cuts short (its next deploy would be refused as a downgrade); fetch the full history first (`git fetch --unshallow`; in GitHub Actions set `fetch-depth: 0` on actions/checkout)")]
    ShallowBuild { root: PathBuf },
    #[error("cannot run `git` in `{root}`; install git, or build from a git checkout")]
    Missing { root: PathBuf, source: std::io::Error },
    /// A command of a build's provenance failed, or printed what it should not.
    #[error("`git {command}` failed in `{root}`: {message}; `build` takes seq, commit and time from HEAD, so run it in a git repository with at least one commit")]
    Command { root: PathBuf, command: String, message: String },
}

/// The id git gives `bytes` as a blob: SHA-1 of `blob <length>\0` followed by the bytes, as
/// `git hash-object` computes it for a file without filters.
pub fn blob_id(bytes: &[u8]) -> [u8; 20] {
    use sha1::Digest;
    let mut hasher = sha1::Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_are_libgit2s() {
        for bytes in [&b""[..], b"# generated\n", &[0xff, 0, b'\n']] {
            let expected = git2::Oid::hash_object(git2::ObjectType::Blob, bytes).expect("hashable");
            assert_eq!(Oid::from_bytes(&blob_id(bytes)).ok(), Some(expected));
        }
    }
}
