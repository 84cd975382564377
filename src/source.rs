//! Reads a prompts folder from disk into memory: every prompt folder's files, with their sha256.
//! This is the only stage of `check` that touches the file system; it never interprets contents
//! beyond file names, so a file that cannot be parsed still arrives here as bytes.

use crate::diagnostic::{Code, Diagnostic};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A file read into memory, named by its path relative to the project root (`/`-separated).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
}

impl SourceFile {
    pub fn new(path: String, bytes: Vec<u8>) -> SourceFile {
        let sha256 = Sha256::digest(&bytes).into();
        SourceFile { path, bytes, sha256 }
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
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
    /// The legacy file named by `[seed] file`, read here so that checking stays pure.
    pub seed: Option<SeedSource>,
    /// Problems found while reading: stray files, symlinks out of the repository, read errors.
    pub diagnostics: Vec<Diagnostic>,
    /// The folder itself could not be read (a link out of the repository): only `diagnostics` apply.
    pub unreadable: bool,
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

/// Reads every prompt folder under `prompts_dir` (an absolute path inside `root`), in parallel.
/// Everything read from the prompts folder.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub prompts: Vec<PromptFiles>,
    /// Problems with the folder itself: files that belong to no prompt.
    pub diagnostics: Vec<Diagnostic>,
}

pub fn load(root: &Path, prompts_dir: &Path) -> Result<Loaded, SourceError> {
    let read_dir_error = |source| SourceError::ReadDir { path: prompts_dir.to_path_buf(), source };
    let mut folders = Vec::new();
    let mut stray = Vec::new();
    for entry in std::fs::read_dir(prompts_dir).map_err(read_dir_error)? {
        let entry = entry.map_err(read_dir_error)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
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
            stray.push(name);
        }
    }
    folders.sort();
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let prompts: Vec<PromptFiles> = folders
        .par_iter()
        .map(|(name, path, is_symlink)| load_prompt(root, &canonical_root, name, path, *is_symlink))
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
    Ok(Loaded { prompts, diagnostics })
}

/// The project-relative, `/`-separated form of a path.
pub fn relative(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn load_prompt(
    root: &Path,
    canonical_root: &Path,
    name: &str,
    dir: &Path,
    is_symlink: bool,
) -> PromptFiles {
    let mut prompt = PromptFiles {
        name: name.to_string(),
        dir: relative(root, dir),
        manifest: None,
        versions: Vec::new(),
        snapshots: Vec::new(),
        seed: None,
        diagnostics: Vec::new(),
        unreadable: false,
    };
    if is_symlink {
        if let Some(diagnostic) = check_symlink(canonical_root, dir, &prompt.dir) {
            prompt.diagnostics.push(diagnostic);
            prompt.unreadable = true;
            return prompt;
        }
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            prompt.diagnostics.push(Diagnostic::new(
                Code::StructureMissingManifest,
                prompt.dir.clone(),
                format!("cannot read the prompt folder: {error}"),
            ));
            return prompt;
        }
    };
    // `DirEntry::file_type` comes from the directory listing itself: no extra system call per file.
    let mut names: Vec<(String, PathBuf, std::fs::FileType)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            Some((e.file_name().to_string_lossy().into_owned(), e.path(), e.file_type().ok()?))
        })
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (file_name, path, file_type) in names {
        if file_name.starts_with('.') {
            continue;
        }
        let relative_path = format!("{}/{file_name}", prompt.dir);
        let (is_dir, is_file) = if file_type.is_symlink() {
            if let Some(diagnostic) = check_symlink(canonical_root, &path, &relative_path) {
                prompt.diagnostics.push(diagnostic);
                continue;
            }
            (path.is_dir(), path.is_file())
        } else {
            (file_type.is_dir(), file_type.is_file())
        };
        if file_name == "snapshots" && is_dir {
            let mut snapshot_files: Vec<(String, PathBuf, std::fs::FileType)> =
                std::fs::read_dir(&path)
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        Some((
                            e.file_name().to_string_lossy().into_owned(),
                            e.path(),
                            e.file_type().ok()?,
                        ))
                    })
                    .collect();
            snapshot_files.sort_by(|a, b| a.0.cmp(&b.0));
            for (snapshot_name, snapshot, snapshot_type) in snapshot_files {
                let snapshot_relative = format!("{relative_path}/{snapshot_name}");
                if snapshot_type.is_symlink() {
                    if let Some(diagnostic) =
                        check_symlink(canonical_root, &snapshot, &snapshot_relative)
                    {
                        prompt.diagnostics.push(diagnostic);
                        continue;
                    }
                }
                if snapshot.is_file() {
                    read_into(&snapshot, snapshot_relative, &mut prompt.diagnostics, |file| {
                        prompt.snapshots.push(file)
                    });
                }
            }
            continue;
        }
        if file_name == "prompt.toml" && is_file {
            read_into(&path, relative_path, &mut prompt.diagnostics, |file| {
                prompt.manifest = Some(file)
            });
            continue;
        }
        match version_number(&file_name) {
            Some(number) if is_file => {
                read_into(&path, relative_path, &mut prompt.diagnostics, |file| {
                    prompt.versions.push((number, file))
                });
            }
            _ => {
                let help = if file_name.ends_with(".prompt") {
                    "name version files `v1.prompt`, `v2.prompt`, … (no leading zeros)"
                } else {
                    "a prompt folder holds `prompt.toml`, `v<N>.prompt` files and `snapshots/`; move other files elsewhere"
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
    prompt.seed = prompt
        .manifest
        .as_ref()
        .and_then(|manifest| read_seed(root, canonical_root, &manifest.bytes));
    prompt
}

/// Reads the legacy file a manifest's `[seed]` names, if any. The manifest is only probed for
/// `seed.file` here; `check` parses and validates it properly.
fn read_seed(root: &Path, canonical_root: &Path, manifest: &[u8]) -> Option<SeedSource> {
    memchr::memmem::find(manifest, b"seed")?;
    let probe: SeedProbe = toml::from_slice(manifest).ok()?;
    let path = probe.seed?.file?;
    let unavailable = |reason: String| Some(SeedSource::Unavailable { path: path.clone(), reason });
    let relative_path = Path::new(&path);
    if relative_path.is_absolute() {
        return unavailable("the path is absolute; give it relative to the repository root".into());
    }
    let full = root.join(relative_path);
    match full.canonicalize() {
        Ok(resolved) if !resolved.starts_with(canonical_root) => {
            unavailable(format!("it resolves to `{}`, outside the repository", resolved.display()))
        }
        Ok(resolved) => match std::fs::read(&resolved) {
            Ok(bytes) => Some(SeedSource::Read(SourceFile::new(path.replace('\\', "/"), bytes))),
            Err(error) => unavailable(format!("cannot read it: {error}")),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            unavailable("the file does not exist".into())
        }
        Err(error) => unavailable(format!("cannot read it: {error}")),
    }
}

/// Reads a whole file with plain `read` calls into `scratch`, a buffer kept zero-initialised
/// across calls (it only grows), and returns a copy of exactly the bytes read. std's `read_to_end`
/// asks the file for its size and position first, two extra system calls per file that cost more
/// than they save on files of a few kilobytes.
fn read_all(mut file: std::fs::File, scratch: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    if scratch.len() < 64 * 1024 {
        scratch.resize(64 * 1024, 0);
    }
    let mut filled = 0;
    loop {
        if filled == scratch.len() {
            let grown = scratch.len() * 2;
            scratch.resize(grown, 0);
        }
        match file.read(&mut scratch[filled..]) {
            Ok(0) => return Ok(scratch[..filled].to_vec()),
            Ok(read) => filled += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Reads a file with open + read + close.
fn read_into(
    path: &Path,
    relative_path: String,
    diagnostics: &mut Vec<Diagnostic>,
    store: impl FnOnce(SourceFile),
) {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let read = SCRATCH.with_borrow_mut(|scratch| {
        std::fs::File::open(path).and_then(|file| read_all(file, scratch))
    });
    match read {
        Ok(bytes) => store(SourceFile::new(relative_path, bytes)),
        Err(error) => diagnostics.push(Diagnostic::new(
            Code::SyntaxEncoding,
            relative_path,
            format!("cannot read the file: {error}"),
        )),
    }
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
