//! Reading the files a repository holds, bounded. Anything committed can be a symbolic link to
//! `/dev/zero`, a FIFO or a file of gigabytes, so every file promptctl reads from a project goes
//! through here: only regular files are read (opened without blocking, so a FIFO cannot hang the
//! open, and checked again on the open file), never more than the cap of their kind, and, where
//! the path comes from the repository, only when it resolves inside the repository.
//!
//! The caps are far above what any real file of each kind holds, and each is named in the
//! diagnostic that reports a file over it.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};

/// `promptctl.toml`.
pub const CONFIG_BYTES: u64 = 1 << 20;
/// A `prompt.toml` (its tests and their vars included).
pub const MANIFEST_BYTES: u64 = 4 << 20;
/// What a version file may hold besides its template, whose own limit is `max_template_bytes`:
/// the front matter and its `+++` lines.
pub const FRONT_MATTER_BYTES: u64 = 256 << 10;
/// A snapshot of a rendered test, or a legacy file a `[seed]` extracts from.
pub const TEXT_BYTES: u64 = 16 << 20;
/// `prompts.lock`: 100 bytes or so per version, so hundreds of thousands of versions.
pub const LOCK_BYTES: u64 = 64 << 20;
/// A minisign key file (a few hundred bytes), whose path promptctl.toml may give.
pub const KEY_BYTES: u64 = 64 << 10;
/// A file beside the prompts that `build` hashes only to compare it with git's index (a README, a
/// dot file).
pub const OTHER_BYTES: u64 = 16 << 20;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("it is {kind}, not a regular file")]
    NotAFile { kind: &'static str },
    #[error("it is {size} bytes, over the limit of {limit} bytes for {what}")]
    TooLarge { size: u64, limit: u64, what: &'static str },
    #[error("it resolves to `{}`, outside the repository", resolved.display())]
    Outside { resolved: PathBuf },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(error) if error.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The words for a file type that is not a regular file.
pub fn kind_of(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Opens `path` (following symbolic links) if it is a regular file of at most `limit` bytes,
/// `what` naming its kind for the message. Returns the file and its metadata, read from the
/// open file.
pub fn open(path: &Path, limit: u64, what: &'static str) -> Result<(File, Metadata), ReadError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO opened for reading blocks until a writer appears; without blocking, it opens at
        // once and is then refused for what it is. Regular files ignore the flag.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(ReadError::NotAFile { kind: kind_of(metadata.file_type()) });
    }
    if metadata.len() > limit {
        return Err(ReadError::TooLarge { size: metadata.len(), limit, what });
    }
    Ok((file, metadata))
}

/// Reads the rest of `file` into `buffer` (appending), failing once it would go past `limit`
/// bytes in all: a file may grow after `open` looked at its size.
pub fn read_into(
    file: &mut File,
    buffer: &mut Vec<u8>,
    limit: u64,
    what: &'static str,
) -> Result<(), ReadError> {
    let start = buffer.len();
    file.take(limit + 1).read_to_end(buffer)?;
    let read = (buffer.len() - start) as u64;
    if read > limit {
        return Err(ReadError::TooLarge { size: read, limit, what });
    }
    Ok(())
}

/// Reads a whole regular file of at most `limit` bytes.
pub fn read(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let (mut file, metadata) = open(path, limit, what)?;
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    read_into(&mut file, &mut bytes, limit, what)?;
    Ok(bytes)
}

/// `path` with every symbolic link resolved, if that is inside `canonical_root` (itself
/// canonical).
pub fn inside(canonical_root: &Path, path: &Path) -> Result<PathBuf, ReadError> {
    let resolved = path.canonicalize()?;
    if resolved.starts_with(canonical_root) {
        Ok(resolved)
    } else {
        Err(ReadError::Outside { resolved })
    }
}

/// Reads a file the repository names (the lock, a seed), which must resolve inside
/// `canonical_root`.
pub fn read_inside(
    canonical_root: &Path,
    path: &Path,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, ReadError> {
    read(&inside(canonical_root, path)?, limit, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_bounded_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read(&file, 5, "a test file").unwrap(), b"12345");
        let error = read(&file, 4, "a test file").unwrap_err();
        assert_eq!(error.to_string(), "it is 5 bytes, over the limit of 4 bytes for a test file");
        assert!(matches!(read(dir.path(), 10, "x"), Err(ReadError::NotAFile { kind: "a folder" })));
        assert!(matches!(
            read(Path::new("/dev/zero"), 10, "x"),
            Err(ReadError::NotAFile { kind: "a device" })
        ));
        assert!(read(&dir.path().join("missing"), 10, "x").unwrap_err().is_not_found());
        let root = dir.path().canonicalize().unwrap();
        assert!(matches!(inside(&root, Path::new("/dev/zero")), Err(ReadError::Outside { .. })));
        assert_eq!(inside(&root, &file).unwrap(), root.join("file"));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        assert!(matches!(read(&fifo, 10, "x"), Err(ReadError::NotAFile { kind: "a FIFO" })));
    }
}
