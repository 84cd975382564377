//! Recorded responses (docs/eval.md, "Recorded responses"): every call is keyed by SHA-256 over
//! the canonical JSON of what was asked (provider, model, parameters, the messages' SHA-256, the
//! repetition), and its answer is kept in `.promptctl/cache/eval/KEY.json`; `--record` copies the
//! answers a prompt's evals used into `prompts/NAME/evals/recorded/`, which is committed, so a
//! run in CI replays them without keys or cost.

use super::provider::{Completion, Embeddings};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What one call asks, as the key records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallKey {
    /// `chat` or `embeddings`.
    pub kind: String,
    pub provider: String,
    pub model: String,
    pub parameters: Map<String, Value>,
    /// SHA-256 of the canonical JSON of the messages (chat) or texts (embeddings).
    pub request_sha256: String,
    pub repetition: u32,
}

impl CallKey {
    /// The key's name: SHA-256 of its canonical JSON, hex.
    pub fn id(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        hex::encode(Sha256::digest(canonical(&value).as_bytes()))
    }
}

/// The SHA-256 (hex) of `value`'s canonical JSON: what `CallKey::request_sha256` holds.
pub fn request_sha256(value: &Value) -> String {
    hex::encode(Sha256::digest(canonical(value).as_bytes()))
}

/// JSON with every object's keys sorted and no spaces: equal values give equal bytes.
pub fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sorted(value)).unwrap_or_default()
}

/// A recorded answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Chat(Completion),
    Embeddings(Embeddings),
}

/// One file of the cache: the key in full (so a reader sees what was asked), and the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub key: CallKey,
    pub answer: Answer,
    /// RFC 3339, when the call was made.
    pub recorded_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot write `{path}`: {message}")]
    Write { path: PathBuf, message: String },
    #[error("cannot read `{path}`: {message}")]
    Read { path: PathBuf, message: String },
}

/// The largest cache file read (an answer of a few hundred kilobytes at most).
pub const MAX_ENTRY_BYTES: u64 = 8 * 1024 * 1024;

/// Reads a recorded answer's file as another revision committed it: its text, if it has one.
pub type Committed = std::sync::Arc<dyn Fn(&Path) -> Option<String> + Send + Sync>;

/// Where answers are looked for and kept.
#[derive(Clone)]
pub struct Cache {
    /// `.promptctl/cache/eval/` under the project root.
    pub local: PathBuf,
    /// With `--base`: the base revision's recorded answers, looked at after the working tree's.
    pub committed: Option<Committed>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Cache")
            .field("local", &self.local)
            .field("committed", &self.committed.is_some())
            .finish()
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `prompts/NAME/evals/recorded/`.
    Recorded,
    /// `.promptctl/cache/eval/`.
    Local,
    /// A call made in this run.
    Called,
}

impl Cache {
    pub fn new(project_root: &Path) -> Cache {
        Cache { local: project_root.join(".promptctl/cache/eval"), committed: None }
    }

    /// The answer to `key`, from `recorded` (the prompt's `evals/recorded/` folder) or the local
    /// cache. A local file that is unreadable, not an entry, or an entry of another key is a miss
    /// (the cache writes it again); a recorded one is an error, since it is committed and a
    /// miss would hide it (offline, as `not recorded`).
    pub fn lookup(
        &self,
        recorded: &Path,
        key: &CallKey,
    ) -> Result<Option<(Entry, Origin)>, CacheError> {
        let id = key.id();
        let path = recorded.join(format!("{id}.json"));
        if std::fs::symlink_metadata(&path).is_ok() {
            let bad = |message: String| CacheError::Read { path: path.clone(), message };
            let bytes = crate::read::read(&path, MAX_ENTRY_BYTES, "a recorded answer")
                .map_err(|error| bad(error.to_string()))?;
            let entry: Entry = serde_json::from_slice(&bytes).map_err(|error| {
                bad(format!(
                    "not a recorded answer ({error}); delete it and run `promptctl eval --record` to record it again"
                ))
            })?;
            if &entry.key != key {
                return Err(bad(format!(
                    "its key is not the one its name ({id}) is the digest of: the file was edited or renamed; delete it and run `promptctl eval --record` to record it again"
                )));
            }
            return Ok(Some((entry, Origin::Recorded)));
        }
        // Committed at the base only (a base file that is broken is no answer: the base's own
        // check would have said so).
        if let Some(text) = self.committed.as_ref().and_then(|read| read(&path)) {
            if let Ok(entry) = serde_json::from_str::<Entry>(&text) {
                if &entry.key == key {
                    return Ok(Some((entry, Origin::Recorded)));
                }
            }
        }
        Ok(read_entry(&self.local.join(format!("{id}.json")))
            .filter(|entry| &entry.key == key)
            .map(|entry| (entry, Origin::Local)))
    }

    /// Keeps `entry` in the local cache (written to a temporary file, then renamed).
    pub fn store(&self, entry: &Entry) -> Result<(), CacheError> {
        write_entry(&self.local, entry)
    }
}

/// Writes `entry` as `dir/KEY.json`, atomically.
pub fn write_entry(dir: &Path, entry: &Entry) -> Result<(), CacheError> {
    let id = entry.key.id();
    let path = dir.join(format!("{id}.json"));
    let failed = |error: std::io::Error| CacheError::Write {
        path: path.clone(),
        message: error.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut text = serde_json::to_string_pretty(entry).unwrap_or_default();
    text.push('\n');
    let temporary = dir.join(format!(".{id}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, text).map_err(failed)?;
    std::fs::rename(&temporary, &path).map_err(|error| {
        let _ = std::fs::remove_file(&temporary);
        failed(error)
    })
}

fn read_entry(path: &Path) -> Option<Entry> {
    let bytes = crate::read::read(path, MAX_ENTRY_BYTES, "a recorded answer").ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Makes `dir` (a prompt's `evals/recorded/`) hold exactly the entries `keep`: writes the missing
/// ones and removes the `.json` files of other keys. Returns (written, removed).
pub fn record(dir: &Path, keep: &[Entry]) -> Result<(usize, usize), CacheError> {
    let ids: std::collections::BTreeSet<String> = keep.iter().map(|e| e.key.id()).collect();
    let (written, _) = record_adding(dir, keep)?;
    let mut removed = 0;
    if let Ok(listing) = std::fs::read_dir(dir) {
        for item in listing.flatten() {
            let name = item.file_name().to_string_lossy().to_string();
            let Some(id) = name.strip_suffix(".json") else { continue };
            if !ids.contains(id) {
                std::fs::remove_file(item.path()).map_err(|error| CacheError::Write {
                    path: item.path(),
                    message: error.to_string(),
                })?;
                removed += 1;
            }
        }
    }
    Ok((written, removed))
}

/// Writes the entries of `keep` that `dir` lacks, removing nothing (a run of some evals or
/// versions only). Returns (written, 0).
pub fn record_adding(dir: &Path, keep: &[Entry]) -> Result<(usize, usize), CacheError> {
    let mut written = 0;
    for entry in keep {
        let path = dir.join(format!("{}.json", entry.key.id()));
        if read_entry(&path).as_ref() != Some(entry) {
            write_entry(dir, entry)?;
            written += 1;
        }
    }
    Ok((written, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(repetition: u32) -> CallKey {
        let mut parameters = Map::new();
        parameters.insert("temperature".into(), Value::from(0));
        parameters.insert("max_tokens".into(), Value::from(64));
        CallKey {
            kind: "chat".into(),
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            parameters,
            request_sha256: request_sha256(&serde_json::json!({"user": "hi", "system": null})),
            repetition,
        }
    }

    #[test]
    fn keys_are_canonical_and_tell_repetitions_apart() {
        let a = key(0);
        let mut b = key(0);
        // Same parameters inserted in another order: the same key.
        b.parameters = [("max_tokens", 64), ("temperature", 0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::from(v)))
            .collect();
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), key(1).id());
        let mut c = key(0);
        c.parameters.insert("temperature".into(), Value::from(1));
        assert_ne!(a.id(), c.id());
        assert_eq!(
            canonical(&serde_json::json!({"b": [{"d": 1, "c": 2}], "a": "x"})),
            r#"{"a":"x","b":[{"c":2,"d":1}]}"#
        );
    }

    #[test]
    fn stores_finds_and_records() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::new(root.path());
        let recorded = root.path().join("prompts/p/evals/recorded");
        let entry = Entry {
            key: key(0),
            answer: Answer::Chat(Completion {
                text: "hello".into(),
                input_tokens: 3,
                output_tokens: 1,
                latency_ms: 12,
                finish_reason: Some("stop".into()),
            }),
            recorded_at: "2026-12-03T00:00:00Z".into(),
        };
        assert!(cache.lookup(&recorded, &entry.key).unwrap().is_none());
        cache.store(&entry).unwrap();
        assert_eq!(cache.lookup(&recorded, &entry.key).unwrap().unwrap().1, Origin::Local);
        std::fs::create_dir_all(&recorded).unwrap();
        std::fs::write(recorded.join("stale.json"), "{}").unwrap();
        assert_eq!(record(&recorded, std::slice::from_ref(&entry)).unwrap(), (1, 1));
        assert_eq!(record(&recorded, std::slice::from_ref(&entry)).unwrap(), (0, 0));
        assert_eq!(cache.lookup(&recorded, &entry.key).unwrap().unwrap().1, Origin::Recorded);
        // A recorded file under the right name holding another key is an error, not that answer.
        let other = key(5);
        let renamed = recorded.join(format!("{}.json", other.id()));
        std::fs::copy(recorded.join(format!("{}.json", entry.key.id())), &renamed).unwrap();
        let error = cache.lookup(&recorded, &other).unwrap_err().to_string();
        assert!(error.contains("edited or renamed"), "{error}");
        // So is one that is not an entry, with where its JSON breaks.
        std::fs::write(&renamed, "{\n  \"key\": [\n").unwrap();
        let error = cache.lookup(&recorded, &other).unwrap_err().to_string();
        assert!(
            error.contains("not a recorded answer (EOF while parsing a list at line 3"),
            "{error}"
        );
        // A local cache file of another key is only a miss.
        let local = root.path().join(".promptctl/cache/eval");
        std::fs::copy(
            local.join(format!("{}.json", entry.key.id())),
            local.join(format!("{}.json", key(6).id())),
        )
        .unwrap();
        assert!(cache.lookup(&recorded, &key(6)).unwrap().is_none());
    }
}
