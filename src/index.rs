//! The file index: what `source` knew about each file the last time it read it (size, times,
//! inode, executable bit, sha256 and git blob id), so that a warm `check` can trust a file whose metadata did not change without
//! reading it, as git's index does. Stored in `.promptctl/cache/files.bin`, advisory: a missing or
//! corrupt index only means files are read again.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

const MAGIC: &[u8] = b"promptctl-file-index/2\n";

/// Where the index of the project at `root` lives.
pub fn path(root: &Path) -> std::path::PathBuf {
    root.join(".promptctl").join("cache").join("files.bin")
}

/// A file is only recorded when it was last changed this long before the read: a file changed in
/// the same instant as it was read could change again without its times changing ("racily clean").
const SETTLE: Duration = Duration::from_secs(2);

/// The metadata that identifies one state of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub modified_ns: i128,
    pub changed_ns: i128,
    pub inode: u64,
    /// The owner's execute bit, which git records as the file's mode (100755 or 100644).
    pub executable: bool,
}

impl Stamp {
    pub fn of(metadata: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Stamp {
                size: metadata.len(),
                modified_ns: i128::from(metadata.mtime()) * 1_000_000_000
                    + i128::from(metadata.mtime_nsec()),
                changed_ns: i128::from(metadata.ctime()) * 1_000_000_000
                    + i128::from(metadata.ctime_nsec()),
                inode: metadata.ino(),
                executable: metadata.mode() & 0o100 != 0,
            }
        }
        #[cfg(not(unix))]
        {
            let nanos = |time: std::io::Result<SystemTime>| {
                time.ok()
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as i128)
            };
            Stamp {
                size: metadata.len(),
                modified_ns: nanos(metadata.modified()),
                changed_ns: nanos(metadata.modified()),
                inode: 0,
                executable: false,
            }
        }
    }

    /// Whether the file had settled before `now` (see `SETTLE`).
    pub fn settled(&self, now: SystemTime) -> bool {
        let now_ns = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128);
        self.modified_ns.max(self.changed_ns) + (SETTLE.as_nanos() as i128) < now_ns
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stamp: Stamp,
    pub sha256: [u8; 32],
    /// The id git gives the bytes as a blob (`git::blob_id`), which `build` compares with
    /// git's index to tell whether its inputs are committed.
    pub blob: [u8; 20],
    /// For a `prompt.toml`: the `[seed] file` it names (derived from its bytes, so valid as long
    /// as they are).
    pub seed: Option<String>,
}

#[derive(Debug, Default)]
pub struct Index {
    entries: HashMap<String, Entry>,
}

impl Index {
    pub fn get(&self, path: &str, stamp: &Stamp) -> Option<&Entry> {
        self.entries.get(path).filter(|entry| entry.stamp == *stamp)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads the index; anything unreadable is an empty index.
    pub fn load(path: &Path) -> Index {
        std::fs::read(path).ok().and_then(|bytes| decode(&bytes)).unwrap_or_default()
    }

    pub fn from_entries(entries: impl IntoIterator<Item = (String, Entry)>) -> Index {
        Index { entries: entries.into_iter().collect() }
    }

    /// Whether `other` holds exactly the same entries (then there is nothing to write).
    pub fn same_as(&self, other: &Index) -> bool {
        self.entries == other.entries
    }

    /// Writes the index atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, encode(self))?;
        std::fs::rename(&temporary, path)
    }
}

fn encode(index: &Index) -> Vec<u8> {
    let mut paths: Vec<&String> = index.entries.keys().collect();
    paths.sort();
    let mut out = Vec::with_capacity(MAGIC.len() + paths.len() * 120);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(paths.len() as u64).to_le_bytes());
    for path in paths {
        let entry = &index.entries[path];
        put_bytes(&mut out, path.as_bytes());
        out.extend_from_slice(&entry.stamp.size.to_le_bytes());
        out.extend_from_slice(&entry.stamp.modified_ns.to_le_bytes());
        out.extend_from_slice(&entry.stamp.changed_ns.to_le_bytes());
        out.extend_from_slice(&entry.stamp.inode.to_le_bytes());
        out.push(u8::from(entry.stamp.executable));
        out.extend_from_slice(&entry.sha256);
        out.extend_from_slice(&entry.blob);
        match &entry.seed {
            Some(seed) => {
                out.push(1);
                put_bytes(&mut out, seed.as_bytes());
            }
            None => out.push(0),
        }
    }
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

struct Decoder<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoder<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < count {
            return None;
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn string(&mut self) -> Option<String> {
        let length = u32::from_le_bytes(self.array()?) as usize;
        String::from_utf8(self.take(length)?.to_vec()).ok()
    }
}

fn decode(bytes: &[u8]) -> Option<Index> {
    let mut decoder = Decoder { bytes: bytes.strip_prefix(MAGIC)? };
    let count = u64::from_le_bytes(decoder.array()?) as usize;
    let mut entries = HashMap::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        let path = decoder.string()?;
        let stamp = Stamp {
            size: u64::from_le_bytes(decoder.array()?),
            modified_ns: i128::from_le_bytes(decoder.array()?),
            changed_ns: i128::from_le_bytes(decoder.array()?),
            inode: u64::from_le_bytes(decoder.array()?),
            executable: match decoder.take(1)?[0] {
                0 => false,
                1 => true,
                _ => return None,
            },
        };
        let sha256 = decoder.array()?;
        let blob = decoder.array()?;
        let seed = match decoder.take(1)?[0] {
            0 => None,
            1 => Some(decoder.string()?),
            _ => return None,
        };
        entries.insert(path, Entry { stamp, sha256, blob, seed });
    }
    decoder.bytes.is_empty().then_some(Index { entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let stamp = Stamp {
            size: 10,
            modified_ns: 1_700_000_000_123_456_789,
            changed_ns: 5,
            inode: 42,
            executable: false,
        };
        let index = Index::from_entries([
            (
                "prompts/a/prompt.toml".to_string(),
                Entry { stamp, sha256: [7; 32], blob: [3; 20], seed: Some("legacy/A.cs".into()) },
            ),
            (
                "prompts/a/v1.prompt".to_string(),
                Entry {
                    stamp: Stamp { executable: true, ..stamp },
                    sha256: [9; 32],
                    blob: [4; 20],
                    seed: None,
                },
            ),
        ]);
        let bytes = encode(&index);
        let decoded = decode(&bytes).expect("decodes");
        assert!(decoded.same_as(&index));
        let executable = Stamp { executable: true, ..stamp };
        assert!(decoded.get("prompts/a/v1.prompt", &executable).is_some());
        assert!(
            decoded.get("prompts/a/v1.prompt", &stamp).is_none(),
            "the mode is part of the stamp"
        );
        assert!(decoded.get("prompts/a/v1.prompt", &Stamp { size: 11, ..stamp }).is_none());
        assert!(decode(&bytes[..bytes.len() - 1]).is_none());
        assert!(decode(b"something else").is_none());
    }

    #[test]
    fn recent_files_are_not_settled() {
        let now = SystemTime::now();
        let now_ns = now.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as i128;
        let fresh = Stamp {
            size: 1,
            modified_ns: now_ns - 1_000_000,
            changed_ns: now_ns - 1_000_000,
            inode: 1,
            executable: false,
        };
        let old = Stamp {
            size: 1,
            modified_ns: now_ns - 10_000_000_000,
            changed_ns: now_ns - 10_000_000_000,
            inode: 1,
            executable: false,
        };
        assert!(!fresh.settled(now));
        assert!(old.settled(now));
    }
}
