//! git's objects through the library (git2): the repository, revisions and merge bases, trees,
//! capped blob reads, and libgit2's comparison of a tree with the working tree.

use super::Error;
use git2::{ErrorCode, ObjectType, Repository};
use std::path::Path;

pub use git2::Oid;

fn library_error(what: impl Into<String>) -> impl FnOnce(git2::Error) -> Error {
    let what = what.into();
    move |error| Error::Library { what, message: error.message().to_string() }
}

/// A repository, opened for reading its objects.
pub struct Repo(Repository);

/// A commit of a `Repo`.
pub struct Commit<'r>(git2::Commit<'r>);

/// A tree of a `Repo`.
pub struct Tree<'r>(git2::Tree<'r>);

/// An entry of a `Tree`: a file, a symbolic link, a sub-tree or a submodule.
pub struct Entry<'t>(git2::TreeEntry<'t>);

/// A blob of a `Repo`, read whole.
pub struct Blob<'r>(git2::Blob<'r>);

impl Repo {
    /// The repository at or above `start`.
    pub fn discover(start: &Path) -> Result<Repo, Error> {
        // libgit2 re-hashes every object it reads (SHA-1 with collision detection), which costs
        // more than the whole review of a small change when the lock file weighs megabytes; git
        // itself does not, and the objects come from the repository being read.
        git2::opts::strict_hash_verification(false);
        Repository::discover(start)
            .map(Repo)
            .map_err(|_| Error::NotARepository { path: start.to_path_buf() })
    }

    /// git's `user.email`, else `user.name`, from the repository's configuration (with the
    /// global and system ones beneath it), for an audit trail's actor.
    pub fn user_identity(&self) -> Option<String> {
        let config = self.0.config().ok()?;
        ["user.email", "user.name"]
            .iter()
            .find_map(|key| config.get_string(key).ok().filter(|value| !value.trim().is_empty()))
    }

    /// The root of the working tree; `None` for a bare repository.
    pub fn workdir(&self) -> Option<&Path> {
        self.0.workdir()
    }

    pub fn is_bare(&self) -> bool {
        self.0.is_bare()
    }

    /// The commit `revision` names (a branch, tag, commit, `HEAD~2`...).
    pub fn resolve(&self, revision: &str) -> Result<Commit<'_>, Error> {
        let repo = &self.0;
        repo.revparse_single(revision)
            .and_then(|object| object.peel_to_commit())
            .map(Commit)
            .map_err(|error| {
                if repo.is_shallow() {
                    Error::ShallowUnknownRevision { revision: revision.to_string() }
                } else {
                    Error::UnknownRevision {
                        revision: revision.to_string(),
                        message: error.message().trim_end_matches('.').to_lowercase(),
                    }
                }
            })
    }

    /// The commit HEAD points to.
    pub fn head(&self) -> Result<Commit<'_>, Error> {
        self.0.head().and_then(|head| head.peel_to_commit()).map(Commit).map_err(
            |error| match error.code() {
                ErrorCode::UnbornBranch | ErrorCode::NotFound => Error::NoHead,
                _ => library_error("read HEAD")(error),
            },
        )
    }

    /// The merge base of two commits, which the messages call `names` (base, head).
    pub fn merge_base(
        &self,
        base: &Commit,
        head: &Commit,
        (base_name, head_name): (&str, &str),
    ) -> Result<Oid, Error> {
        match self.0.merge_base(base.id(), head.id()) {
            Ok(oid) => Ok(oid),
            Err(error) if error.code() == ErrorCode::NotFound => {
                let (base, head) = (base_name.to_string(), head_name.to_string());
                Err(if self.0.is_shallow() {
                    Error::ShallowNoMergeBase { base, head }
                } else {
                    Error::NoMergeBase { base, head }
                })
            }
            Err(error) => Err(library_error("find the merge base")(error)),
        }
    }

    /// The tree of the commit `id` (`what` names it for the message: `read the ...'s tree`).
    pub fn commit_tree(&self, id: Oid, what: &str) -> Result<Tree<'_>, Error> {
        self.0
            .find_commit(id)
            .and_then(|commit| commit.tree())
            .map(Tree)
            .map_err(library_error(format!("read the {what}'s tree")))
    }

    /// The tree `id` (of `path`, for the message).
    pub fn tree(&self, id: Oid, path: &str) -> Result<Tree<'_>, Error> {
        self.0.find_tree(id).map(Tree).map_err(library_error(format!("read `{path}`")))
    }

    /// The tree at `path` below `tree` (`tree` itself for ``), if there is one.
    pub fn subtree(&self, tree: &Tree, path: &str) -> Result<Option<Tree<'_>>, Error> {
        if path.is_empty() {
            return self
                .0
                .find_tree(tree.0.id())
                .map(|t| Some(Tree(t)))
                .map_err(library_error("read a tree"));
        }
        match tree.0.get_path(Path::new(path)) {
            Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
                self.tree(entry.id(), path).map(Some)
            }
            Ok(_) => Ok(None),
            Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
            Err(error) => Err(library_error(format!("read `{path}`"))(error)),
        }
    }

    /// The id of the blob at `path` below `tree`, if there is one.
    pub fn blob_id_at(&self, tree: &Tree, path: &str) -> Result<Option<Oid>, Error> {
        match tree.0.get_path(Path::new(path)) {
            Ok(entry) if entry.kind() == Some(ObjectType::Blob) => Ok(Some(entry.id())),
            Ok(_) => Ok(None),
            Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
            Err(error) => Err(library_error(format!("read `{path}`"))(error)),
        }
    }

    /// The text of the blob at `path` below `tree` (invalid UTF-8 replaced), if there is one.
    pub fn blob_text_at(&self, tree: &Tree, path: &str) -> Result<Option<String>, Error> {
        let Some(id) = self.blob_id_at(tree, path)? else { return Ok(None) };
        let blob = self.0.find_blob(id).map_err(library_error(format!("read `{path}`")))?;
        Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
    }

    /// The size of the blob `id`, from its header (nothing is inflated).
    pub fn blob_size(&self, id: Oid, path: &str) -> Result<usize, Error> {
        self.0
            .odb()
            .and_then(|odb| odb.read_header(id))
            .map(|(size, _)| size)
            .map_err(library_error(format!("read `{path}`")))
    }

    /// The blob `id` (at `path`, for the message), if it holds at most `limit` bytes (`what` it
    /// is, for the message): its size is read from its header first, so a huge blob is never
    /// inflated.
    pub fn capped_blob(
        &self,
        id: Oid,
        path: &str,
        (limit, what): (u64, &'static str),
    ) -> Result<Blob<'_>, Error> {
        let size = self.blob_size(id, path)?;
        if size as u64 > limit {
            return Err(Error::TooLarge { path: path.to_string(), size, limit, what });
        }
        self.0.find_blob(id).map(Blob).map_err(library_error(format!("read `{path}`")))
    }

    /// libgit2's comparison of `tree` with the working tree through the index (staged, unstaged
    /// and untracked changes, an untracked folder as one path ending in `/`) under `dir`: both
    /// paths of each change, relative to the repository root. `Status` does the same faster.
    pub fn changed_paths(&self, tree: &Tree, dir: &str) -> Result<Vec<String>, Error> {
        let mut options = git2::DiffOptions::new();
        options
            .pathspec(format!("{dir}/"))
            .include_untracked(true)
            // An untracked folder is one delta (`prompts/new/`): its name is all callers need.
            .recurse_untracked_dirs(false)
            .skip_binary_check(true)
            .ignore_submodules(true);
        let diff = self
            .0
            .diff_tree_to_workdir_with_index(Some(&tree.0), Some(&mut options))
            .map_err(library_error("compare the working tree with HEAD"))?;
        let paths = diff
            .deltas()
            .flat_map(|delta| [delta.old_file(), delta.new_file()])
            .filter_map(|file| Some(file.path()?.to_str()?.to_string()))
            .collect();
        Ok(paths)
    }
}

impl Commit<'_> {
    pub fn id(&self) -> Oid {
        self.0.id()
    }
}

impl<'r> Tree<'r> {
    /// The tree's object id (to find it again, with `Repo::tree`, from another borrow).
    pub fn id(&self) -> Oid {
        self.0.id()
    }

    /// The entries, in the tree's order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        self.0.iter().map(Entry)
    }

    /// The entry `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<Entry<'_>> {
        self.0.get_name(name).map(Entry)
    }
}

impl Entry<'_> {
    pub fn id(&self) -> Oid {
        self.0.id()
    }

    pub fn name_bytes(&self) -> &[u8] {
        self.0.name_bytes()
    }

    /// The name, when it is UTF-8.
    pub fn name(&self) -> Option<&str> {
        self.0.name().ok()
    }

    pub fn is_tree(&self) -> bool {
        self.0.kind() == Some(ObjectType::Tree)
    }

    /// A file or a symbolic link.
    pub fn is_blob(&self) -> bool {
        self.0.kind() == Some(ObjectType::Blob)
    }

    pub fn is_link(&self) -> bool {
        self.0.filemode() == 0o120000
    }
}

impl Blob<'_> {
    pub fn content(&self) -> &[u8] {
        self.0.content()
    }
}
