//! Reads a prompts folder from disk: every prompt folder's files, with their sha256. This is the
//! only stage of `check` that touches the file system; it never interprets contents beyond file
//! names (and the `[seed] file` of a manifest), so a file that cannot be parsed still arrives here.
//! With a file index (`index`), a file whose metadata did not change is not read at all: its
//! sha256 comes from the index and its bytes are read only if a stage asks for them. Each file
//! also carries its git blob id, and the listing names every entry it did not read (`Extra`), so
//! that `build` can tell from git's index alone whether the prompts are committed.

use crate::diagnostic::{Code, Diagnostic};
use crate::index::{self, Index, Stamp};
use crate::read::{self, ReadError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

/// A file, named by its path relative to the project root (`/`-separated). Its bytes are in memory
/// when it was read; a file trusted from the index is read on first use (`PromptFiles::load`).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub sha256: [u8; 32],
    /// The git blob id of the bytes (`git_blob_id`).
    pub blob: [u8; 20],
    /// The owner's execute bit when the file was read (false for bytes that came from elsewhere).
    pub executable: bool,
    absolute: PathBuf,
    bytes: OnceLock<Vec<u8>>,
    /// The most bytes it may hold, and its kind for the message about it (`read`).
    limit: u64,
    what: &'static str,
}

impl SourceFile {
    /// A file whose bytes are already in memory.
    pub fn new(path: String, bytes: Vec<u8>) -> SourceFile {
        SourceFile {
            path,
            sha256: Sha256::digest(&bytes).into(),
            blob: git_blob_id(&bytes),
            executable: false,
            absolute: PathBuf::new(),
            bytes: OnceLock::from(bytes),
            limit: u64::MAX,
            what: "a file",
        }
    }

    /// A file the index vouched for: digests from the index, bytes read on first use.
    fn unread(path: String, absolute: PathBuf, known: &index::Entry, cap: Cap) -> SourceFile {
        SourceFile {
            path,
            sha256: known.sha256,
            blob: known.blob,
            executable: known.stamp.executable,
            absolute,
            bytes: OnceLock::new(),
            limit: cap.0,
            what: cap.1,
        }
    }

    /// Reads the file at `absolute`, named `path`, if it is a regular file within `cap`.
    fn read(path: String, absolute: PathBuf, cap: Cap) -> Result<(SourceFile, Stamp), ReadError> {
        let (bytes, stamp) = read_file(&absolute, cap)?;
        let mut file = SourceFile::new(path, bytes);
        file.absolute = absolute;
        file.executable = stamp.executable;
        (file.limit, file.what) = cap;
        Ok((file, stamp))
    }

    /// The bytes, or nothing if they were never loaded (see `PromptFiles::load`).
    pub fn bytes(&self) -> &[u8] {
        self.bytes.get().map_or(&[], Vec::as_slice)
    }

    /// Reads the bytes if they are not in memory yet. A file that changed since the index
    /// recorded it gets its new digest.
    pub fn load(&mut self) -> Result<(), ReadError> {
        if self.bytes.get().is_some() {
            return Ok(());
        }
        let (bytes, stamp) = read_file(&self.absolute, (self.limit, self.what))?;
        self.sha256 = Sha256::digest(&bytes).into();
        self.blob = git_blob_id(&bytes);
        self.executable = stamp.executable;
        let _ = self.bytes.set(bytes);
        Ok(())
    }

    /// Moves the bytes out (for a stage that keeps them, e.g. as a template of the catalog);
    /// afterwards `bytes` is empty and `load` would read the file again.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        self.bytes.take().unwrap_or_default()
    }

    pub fn is_loaded(&self) -> bool {
        self.bytes.get().is_some()
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// The id git gives `bytes` as a blob (moved to the git adapter, `git::blob_id`).
pub use crate::git::blob_id as git_blob_id;

/// An entry under the prompts folder that no check reads: a README, a dot file, a stray file or
/// folder. Nothing checks it, but `git status` would list it if it were new or changed, so
/// `build` needs to know of it to tell whether its inputs are what git has committed.
#[derive(Debug, Clone)]
pub struct Extra {
    /// Relative to the project root, `/`-separated.
    pub path: String,
    absolute: PathBuf,
    /// A regular file: not a folder or a symbolic link.
    pub is_file: bool,
}

impl Extra {
    fn new(root: &Path, absolute: PathBuf, file_type: Option<std::fs::FileType>) -> Extra {
        Extra {
            path: relative(root, &absolute),
            absolute,
            is_file: file_type.is_some_and(|kind| kind.is_file()),
        }
    }

    /// Reads the file, with its digests, if it is a regular file (not through a link) within
    /// `read::OTHER_BYTES`.
    pub fn read(&self) -> Result<SourceFile, ReadError> {
        if !self.is_file {
            return Err(ReadError::NotAFile { kind: "a folder or a symbolic link" });
        }
        Ok(SourceFile::read(self.path.clone(), self.absolute.clone(), OTHER)?.0)
    }
}

/// The files of one prompt folder.
#[derive(Debug, Clone)]
pub struct PromptFiles {
    /// The folder name, which is the prompt's name (valid or not).
    pub name: String,
    /// The folder, relative to the project root.
    pub dir: String,
    pub manifest: Option<SourceFile>,
    /// `v<N>.prompt` files with their parsed number, sorted by number.
    pub versions: Vec<(u32, SourceFile)>,
    /// `snapshots/*.txt`, by file name.
    pub snapshots: Vec<SourceFile>,
    /// The files directly in `evals/` (datasets, JSON Schemas), by file name.
    pub evals: Vec<SourceFile>,
    /// The `.json` files of `evals/recorded/` (recorded model answers), by file name; its other
    /// entries are listed in `extras`.
    pub recorded: Vec<SourceFile>,
    /// The legacy file named by `[seed] file`, read here so that checking stays pure.
    pub seed: Option<SeedSource>,
    /// Problems found while reading: stray files, symlinks out of the repository, read errors.
    pub diagnostics: Vec<Diagnostic>,
    /// The folder itself could not be read (a link out of the repository): only `diagnostics` apply.
    pub unreadable: bool,
    /// Entries of the folder that were not read: dot files, stray files and folders.
    pub extras: Vec<Extra>,
}

impl PromptFiles {
    /// Reads every file of the prompt that is not in memory yet; a file that cannot be read is a
    /// diagnostic (it was there a moment ago, when the folder was listed). Returns whether
    /// anything was read (then digests may have changed).
    pub fn load(&mut self) -> bool {
        let mut read = false;
        let mut unreadable = Vec::new();
        for file in self.files_mut() {
            read |= !file.is_loaded();
            if let Err(error) = file.load() {
                unreadable.push(read_diagnostic(file.path.clone(), &error));
            }
        }
        self.diagnostics.extend(unreadable);
        read
    }

    /// Drops the bytes of every file (a clean prompt's, once it is checked); `load` reads them
    /// again if a later stage needs them.
    pub fn release(&mut self) {
        for file in self.files_mut() {
            drop(file.take_bytes());
        }
    }

    /// The manifest, versions, snapshots and read seed file.
    fn files_mut(&mut self) -> impl Iterator<Item = &mut SourceFile> {
        let seed = match &mut self.seed {
            Some(SeedSource::Read(file)) => Some(file),
            _ => None,
        };
        self.manifest
            .iter_mut()
            .chain(self.versions.iter_mut().map(|(_, file)| file))
            .chain(self.snapshots.iter_mut())
            .chain(self.evals.iter_mut())
            .chain(self.recorded.iter_mut())
            .chain(seed)
    }

    /// Every file of the prompt, for digests.
    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.manifest
            .iter()
            .chain(self.versions.iter().map(|(_, file)| file))
            .chain(self.snapshots.iter())
            .chain(self.evals.iter())
            .chain(self.recorded.iter())
    }
}

/// What became of reading a seed's legacy file.
#[derive(Debug, Clone)]
pub enum SeedSource {
    Read(SourceFile),
    /// Missing, unreadable or outside the repository; the reason is a message.
    Unavailable {
        path: String,
        reason: String,
    },
}

#[derive(serde::Deserialize)]
struct SeedProbe {
    seed: Option<SeedFileProbe>,
}

#[derive(serde::Deserialize)]
struct SeedFileProbe {
    file: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read the prompts folder `{path}`")]
    ReadDir { path: PathBuf, source: std::io::Error },
}

/// The prompt folders of a prompts folder, listed but not read: a caller that reads and checks
/// each prompt in one task (`Listing::read`) frees a clean prompt's bytes while others are still
/// being read.
pub struct Listing<'a> {
    reader: Reader<'a>,
    /// Sorted by name.
    pub folders: Vec<Folder>,
    /// Problems with the folder itself: files that belong to no prompt.
    pub diagnostics: Vec<Diagnostic>,
    /// Entries beside the prompt folders: dot files, a README, stray files.
    pub extras: Vec<Extra>,
}

/// One prompt folder of a `Listing`.
pub struct Folder {
    /// The folder name, which is the prompt's name (valid or not).
    pub name: String,
    /// The folder, relative to the project root.
    pub dir: String,
    path: PathBuf,
    is_symlink: bool,
}

impl Listing<'_> {
    /// Reads one prompt folder: its files and the file index entries they give.
    pub fn read(&self, folder: &Folder) -> (PromptFiles, Vec<(String, index::Entry)>) {
        self.reader.prompt(&folder.name, &folder.path, folder.is_symlink)
    }
}

/// Lists the prompt folders under `prompts_dir` (an absolute path inside `root`); reading them
/// will trust `known` for files whose metadata did not change, and read version files of up to
/// `max_template_bytes` of template.
pub fn list<'a>(
    root: &'a Path,
    prompts_dir: &Path,
    known: &'a Index,
    max_template_bytes: u64,
) -> Result<Listing<'a>, SourceError> {
    let read_dir_error = |source| SourceError::ReadDir { path: prompts_dir.to_path_buf(), source };
    let mut folders = Vec::new();
    let mut stray = Vec::new();
    let mut extras = Vec::new();
    for entry in std::fs::read_dir(prompts_dir).map_err(read_dir_error)? {
        let entry = entry.map_err(read_dir_error)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            extras.push(Extra::new(root, path, entry.file_type().ok()));
            continue;
        }
        let is_symlink = entry.file_type().is_ok_and(|kind| kind.is_symlink());
        let is_dir = if is_symlink {
            path.is_dir()
        } else {
            entry.file_type().is_ok_and(|kind| kind.is_dir())
        };
        if is_dir {
            folders.push((name, path, is_symlink));
        } else {
            extras.push(Extra::new(root, path, entry.file_type().ok()));
            stray.push(name);
        }
    }
    folders.sort();
    extras.sort_by(|a, b| a.path.cmp(&b.path));
    let reader = Reader {
        root,
        canonical_root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
        known,
        now: SystemTime::now(),
        version: (max_template_bytes.saturating_add(read::FRONT_MATTER_BYTES), "a version file"),
    };
    let folders = folders
        .into_iter()
        .map(|(name, path, is_symlink)| Folder {
            dir: relative(root, &path),
            name,
            path,
            is_symlink,
        })
        .collect();
    // A file directly in the prompts folder belongs to no prompt (a README is welcome).
    let diagnostics = stray
        .into_iter()
        .filter(|name| !name.eq_ignore_ascii_case("README.md"))
        .map(|name| {
            Diagnostic::new(Code::StructureVersionFile, relative(root, &prompts_dir.join(&name)), format!("`{name}` is not inside a prompt folder"))
                .help("move it into `prompts/<name>/`, or delete it (only README.md may sit beside the prompt folders)")
        })
        .collect();
    Ok(Listing { reader, folders, diagnostics, extras })
}

/// Reads one file of the project, named by its path relative to `root`, with its digests, if it
/// is a regular file of at most `limit` bytes (`what` names its kind).
pub fn read_one(
    root: &Path,
    relative_path: &str,
    limit: u64,
    what: &'static str,
) -> Result<SourceFile, ReadError> {
    let absolute = root.join(relative_path);
    Ok(SourceFile::read(relative(root, &absolute), absolute, (limit, what))?.0)
}

/// The most bytes a file may hold, and its kind, for the message about a file over it.
type Cap = (u64, &'static str);

const MANIFEST: Cap = (read::MANIFEST_BYTES, "a prompt.toml");
const SNAPSHOT: Cap = (read::TEXT_BYTES, "a snapshot");
const SEED: Cap = (read::TEXT_BYTES, "a legacy file of `[seed]`");
const EVAL: Cap = (crate::syntax::dataset::MAX_DATASET_BYTES, "an eval dataset or schema");
const RECORDED: Cap = (crate::eval::cache::MAX_ENTRY_BYTES, "a recorded eval answer");
const OTHER: Cap = (read::OTHER_BYTES, "a file beside the prompts");

/// The diagnostic for a file of a prompt that could not be read.
fn read_diagnostic(path: String, error: &ReadError) -> Diagnostic {
    let (code, help) = match error {
        ReadError::TooLarge { .. } => (
            Code::StructureSizeLimit,
            "shorten the file (for a version file, raise `max_template_bytes` if its template is meant to be this long)",
        ),
        ReadError::NotAFile { .. } => (
            Code::StructureFileType,
            "replace it with a regular file, or remove it from the prompt folder",
        ),
        ReadError::Outside { .. } => (
            Code::StructureSymlink,
            "copy what it points to into the repository, so that its text is reviewed and versioned with the prompt",
        ),
        ReadError::Io(_) => (Code::SyntaxEncoding, "check the file's permissions"),
    };
    Diagnostic::new(code, path, format!("cannot read the file: {error}")).help(help)
}

/// The project-relative, `/`-separated form of a path.
pub fn relative(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

struct Reader<'a> {
    root: &'a Path,
    canonical_root: PathBuf,
    known: &'a Index,
    now: SystemTime,
    /// The cap of a version file: `max_template_bytes` and `read::FRONT_MATTER_BYTES`.
    version: Cap,
}

/// A listed directory entry: name, path, type (from the listing, no system call).
type Listed = (String, PathBuf, std::fs::FileType, std::fs::DirEntry);

fn list_dir(dir: &Path) -> std::io::Result<Vec<Listed>> {
    let mut entries: Vec<Listed> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            Some((e.file_name().to_string_lossy().into_owned(), e.path(), e.file_type().ok()?, e))
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

impl Reader<'_> {
    fn prompt(
        &self,
        name: &str,
        dir: &Path,
        is_symlink: bool,
    ) -> (PromptFiles, Vec<(String, index::Entry)>) {
        let mut prompt = PromptFiles {
            name: name.to_string(),
            dir: relative(self.root, dir),
            manifest: None,
            versions: Vec::new(),
            snapshots: Vec::new(),
            evals: Vec::new(),
            recorded: Vec::new(),
            seed: None,
            diagnostics: Vec::new(),
            unreadable: false,
            extras: Vec::new(),
        };
        let mut entries = Vec::new();
        if is_symlink {
            if let Some(diagnostic) = check_symlink(&self.canonical_root, dir, &prompt.dir) {
                prompt.diagnostics.push(diagnostic);
                prompt.unreadable = true;
                return (prompt, entries);
            }
        }
        let listed = match list_dir(dir) {
            Ok(listed) => listed,
            Err(error) => {
                prompt.diagnostics.push(Diagnostic::new(
                    Code::StructureMissingManifest,
                    prompt.dir.clone(),
                    format!("cannot read the prompt folder: {error}"),
                ));
                return (prompt, entries);
            }
        };
        let mut manifest_seed = None;
        for (file_name, path, file_type, entry) in listed {
            if file_name.starts_with('.') {
                prompt.extras.push(Extra::new(self.root, path, Some(file_type)));
                continue;
            }
            let relative_path = format!("{}/{file_name}", prompt.dir);
            let (is_dir, is_file) = if file_type.is_symlink() {
                if let Some(diagnostic) = check_symlink(&self.canonical_root, &path, &relative_path)
                {
                    prompt.diagnostics.push(diagnostic);
                    prompt.extras.push(Extra::new(self.root, path, None));
                    continue;
                }
                (path.is_dir(), path.is_file())
            } else {
                (file_type.is_dir(), file_type.is_file())
            };
            if (file_name == "snapshots" || file_name == "evals") && is_dir {
                let evals = file_name == "evals";
                for (snapshot_name, snapshot, snapshot_type, snapshot_entry) in
                    list_dir(&path).unwrap_or_default()
                {
                    let snapshot_relative = format!("{relative_path}/{snapshot_name}");
                    if snapshot_type.is_symlink() {
                        if let Some(diagnostic) =
                            check_symlink(&self.canonical_root, &snapshot, &snapshot_relative)
                        {
                            prompt.diagnostics.push(diagnostic);
                            prompt.extras.push(Extra::new(self.root, snapshot, None));
                            continue;
                        }
                    }
                    if evals && snapshot_name == "recorded" && snapshot.is_dir() {
                        // Recorded answers: `check` reads the `.json` files (eval::cache).
                        for (recorded_name, recorded, recorded_type, recorded_entry) in
                            list_dir(&snapshot).unwrap_or_default()
                        {
                            let recorded_relative = format!("{snapshot_relative}/{recorded_name}");
                            if recorded_type.is_symlink() {
                                if let Some(diagnostic) = check_symlink(
                                    &self.canonical_root,
                                    &recorded,
                                    &recorded_relative,
                                ) {
                                    prompt.diagnostics.push(diagnostic);
                                    prompt.extras.push(Extra::new(self.root, recorded, None));
                                    continue;
                                }
                            }
                            if !recorded_name.ends_with(".json")
                                || recorded_name.starts_with('.')
                                || !recorded.is_file()
                            {
                                prompt.extras.push(Extra::new(
                                    self.root,
                                    recorded,
                                    Some(recorded_type),
                                ));
                            } else if let Some((file, _)) = self.fetch(
                                &recorded,
                                Some(&recorded_entry),
                                recorded_relative,
                                false,
                                RECORDED,
                                &mut prompt.diagnostics,
                                &mut entries,
                            ) {
                                prompt.recorded.push(file);
                            }
                        }
                    } else if !snapshot.is_file() {
                        prompt.extras.push(Extra::new(self.root, snapshot, None));
                    } else if let Some((file, _)) = self.fetch(
                        &snapshot,
                        Some(&snapshot_entry),
                        snapshot_relative,
                        false,
                        if evals { EVAL } else { SNAPSHOT },
                        &mut prompt.diagnostics,
                        &mut entries,
                    ) {
                        if evals {
                            prompt.evals.push(file);
                        } else {
                            prompt.snapshots.push(file);
                        }
                    }
                }
                continue;
            }
            if file_name == "prompt.toml" && is_file {
                if let Some((file, seed)) = self.fetch(
                    &path,
                    Some(&entry),
                    relative_path,
                    true,
                    MANIFEST,
                    &mut prompt.diagnostics,
                    &mut entries,
                ) {
                    manifest_seed = seed;
                    prompt.manifest = Some(file);
                }
                continue;
            }
            match version_number(&file_name) {
                Some(number) if is_file => {
                    if let Some((file, _)) = self.fetch(
                        &path,
                        Some(&entry),
                        relative_path,
                        false,
                        self.version,
                        &mut prompt.diagnostics,
                        &mut entries,
                    ) {
                        prompt.versions.push((number, file));
                    }
                }
                Some(_) if !is_dir => {
                    // Named as a version, but a FIFO, a device or a socket: never opened.
                    prompt.extras.push(Extra::new(self.root, path.clone(), Some(file_type)));
                    prompt.diagnostics.push(read_diagnostic(
                        relative_path,
                        &ReadError::NotAFile { kind: read::kind_of(file_type) },
                    ));
                }
                _ => {
                    prompt.extras.push(Extra::new(self.root, path.clone(), Some(file_type)));
                    let help = if file_name.ends_with(".prompt") {
                        "name version files `v1.prompt`, `v2.prompt`, … (no leading zeros)"
                    } else {
                        "a prompt folder holds `prompt.toml`, `v<N>.prompt` files, `snapshots/` and `evals/`; move other files elsewhere"
                    };
                    prompt.diagnostics.push(
                        Diagnostic::new(
                            Code::StructureVersionFile,
                            relative_path,
                            format!("`{file_name}` is not a version file"),
                        )
                        .help(help),
                    );
                }
            }
        }
        prompt.versions.sort_by_key(|(number, _)| *number);
        prompt.seed = manifest_seed.map(|path| self.seed(path, &mut entries));
        (prompt, entries)
    }

    /// Gets one file: from the index when its metadata matches, else by reading it. Returns the
    /// file and, for a manifest (`probe_seed`), the `[seed] file` it names.
    #[allow(clippy::too_many_arguments)]
    fn fetch(
        &self,
        path: &Path,
        entry: Option<&std::fs::DirEntry>,
        relative_path: String,
        probe_seed: bool,
        cap: Cap,
        diagnostics: &mut Vec<Diagnostic>,
        entries: &mut Vec<(String, index::Entry)>,
    ) -> Option<(SourceFile, Option<String>)> {
        if !self.known.is_empty() {
            let metadata = match entry {
                Some(entry) if !entry.file_type().is_ok_and(|t| t.is_symlink()) => entry.metadata(),
                _ => std::fs::metadata(path),
            };
            if let Ok(metadata) = metadata {
                let stamp = Stamp::of(&metadata);
                if let Some(known) = self.known.get(&relative_path, &stamp) {
                    entries.push((relative_path.clone(), known.clone()));
                    let file = SourceFile::unread(relative_path, path.to_path_buf(), known, cap);
                    return Some((file, known.seed.clone()));
                }
            }
        }
        match SourceFile::read(relative_path.clone(), path.to_path_buf(), cap) {
            Ok((file, stamp)) => {
                let seed = if probe_seed { probe(file.bytes()) } else { None };
                if stamp.settled(self.now) {
                    entries.push((
                        file.path.clone(),
                        index::Entry {
                            stamp,
                            sha256: file.sha256,
                            blob: file.blob,
                            seed: seed.clone(),
                        },
                    ));
                }
                Some((file, seed))
            }
            Err(error) => {
                diagnostics.push(read_diagnostic(relative_path, &error));
                None
            }
        }
    }

    /// Gets the legacy file a manifest's `[seed]` names, which must be inside the repository.
    fn seed(&self, path: String, entries: &mut Vec<(String, index::Entry)>) -> SeedSource {
        let unavailable = |reason: String| SeedSource::Unavailable { path: path.clone(), reason };
        let relative_path = Path::new(&path);
        if relative_path.is_absolute() {
            return unavailable(
                "the path is absolute; give it relative to the repository root".into(),
            );
        }
        match self.root.join(relative_path).canonicalize() {
            Ok(resolved) if !resolved.starts_with(&self.canonical_root) => unavailable(format!(
                "it resolves to `{}`, outside the repository",
                resolved.display()
            )),
            Ok(resolved) => {
                let mut problems = Vec::new();
                match self.fetch(
                    &resolved,
                    None,
                    path.replace('\\', "/"),
                    false,
                    SEED,
                    &mut problems,
                    entries,
                ) {
                    Some((file, _)) => SeedSource::Read(file),
                    None => unavailable(
                        problems
                            .first()
                            .map_or("cannot read it".to_string(), |d| d.message.clone()),
                    ),
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                unavailable("the file does not exist".into())
            }
            Err(error) => unavailable(format!("cannot read it: {error}")),
        }
    }
}

/// The `[seed] file` a manifest names, if any. Only probed here; `check` parses the manifest.
fn probe(manifest: &[u8]) -> Option<String> {
    memchr::memmem::find(manifest, b"seed")?;
    let probe: SeedProbe = toml::from_slice(manifest).ok()?;
    probe.seed?.file
}

/// Reads a whole regular file of at most `cap` bytes with open + fstat + read + close, returning
/// its bytes and its metadata. std's `read_to_end` asks the file for its size and position first;
/// prompt files are small, so one `read` into a per-thread scratch buffer, then an exact copy, is
/// cheaper.
fn read_file(path: &Path, (limit, what): Cap) -> Result<(Vec<u8>, Stamp), ReadError> {
    use std::io::Read;
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let (mut file, metadata) = read::open(path, limit, what)?;
    let stamp = Stamp::of(&metadata);
    SCRATCH.with_borrow_mut(|scratch| {
        if scratch.len() < 64 * 1024 {
            scratch.resize(64 * 1024, 0);
        }
        let mut filled = 0;
        loop {
            if filled as u64 > limit {
                // It grew after `open` looked at its size.
                return Err(ReadError::TooLarge { size: filled as u64, limit, what });
            }
            if filled == scratch.len() {
                let grown = scratch.len() * 2;
                scratch.resize(grown, 0);
            }
            match file.read(&mut scratch[filled..]) {
                Ok(0) => return Ok((scratch[..filled].to_vec(), stamp)),
                Ok(read) => filled += read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error.into()),
            }
        }
    })
}

/// A symbolic link may point anywhere inside the project, never outside it: the repository is
/// what gets reviewed, and a link out of it would publish text nobody reviewed.
fn check_symlink(canonical_root: &Path, path: &Path, relative_path: &str) -> Option<Diagnostic> {
    let metadata = std::fs::symlink_metadata(path).ok()?;
    if !metadata.file_type().is_symlink() {
        return None;
    }
    let target = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
    match path.canonicalize() {
        Ok(resolved) if resolved.starts_with(canonical_root) => None,
        Ok(resolved) => Some(
            Diagnostic::new(Code::StructureSymlink, relative_path.to_string(), format!("`{relative_path}` is a symbolic link to `{}`, outside the repository", resolved.display()))
                .help("copy what it points to into the repository, so that its text is reviewed and versioned with the prompt"),
        ),
        Err(_) => Some(
            Diagnostic::new(Code::StructureSymlink, relative_path.to_string(), format!("`{relative_path}` is a broken symbolic link (to `{target}`)"))
                .help("remove the link or point it at a file inside the repository"),
        ),
    }
}

/// `v12.prompt` → 12; leading zeros, `v0` and other names are not versions.
pub fn version_number(file_name: &str) -> Option<u32> {
    let digits = file_name.strip_prefix('v')?.strip_suffix(".prompt")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
