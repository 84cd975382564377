//! The Redis cache (docs/deploy.md), a contract with running applications: `{prefix}{name}:active`
//! holds the active version as JSON with a TTL, `{prefix}{name}:sha256:{hex}` the immutable
//! content, and every activation is announced on `{prefix}activations`. The cache is never the
//! source of truth: whatever is here can be rewritten from the store (`promptctl warm`).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The most bytes of one `{prefix}{name}:active` value a reader takes: a template of the 4 MiB cap
/// (`config::MAX_TEMPLATE_BYTES_CAP`) with its JSON escapes and variables fits many times over;
/// a larger value is refused without being read whole.
pub const MAX_ENTRY_BYTES: usize = 16 << 20;

/// The JSON of `{prefix}{name}:active`. `sha256` is the sha256 of `content`, so a reader can
/// check what it got; `contract` is the variable-contract fingerprint of the generated types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub version: i64,
    pub sha256: String,
    pub content: String,
    pub variables: serde_json::Value,
    #[serde(default)]
    pub contract: String,
    /// RFC 3339, UTC.
    pub activated_at: String,
    pub seq: Option<i64>,
    /// The store's activation revision of this entry (`records::ActiveVersion::revision`): a
    /// writer never replaces an entry of a higher revision, and a reader never trades what it
    /// serves for an entry of a lower one. Absent in entries of older promptctl versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// A canary served beside `version` to `basis_points` of the keys (docs/runtime.md, "Canary
    /// assignment"); absent when there is none, so older readers keep reading the stable version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryEntry>,
}

/// The canary of an entry: a second version, checked by its own sha256, and its share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryEntry {
    pub version: i64,
    pub sha256: String,
    pub content: String,
    pub variables: serde_json::Value,
    #[serde(default)]
    pub contract: String,
    /// Percent × 100 (0..=10000).
    pub basis_points: i64,
}

/// The name in a notice that asks every reader to read everything again (after `warm`). No
/// prompt can have it, and a reader that does not know it finds no such entry and then reads
/// everything anyway.
pub const EVERYTHING: &str = "*";

/// The message published on `{prefix}activations` for one activation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub name: String,
    pub version: i64,
    pub sha256: String,
    pub seq: Option<i64>,
}

/// Key names for one prefix.
#[derive(Debug, Clone)]
pub struct Layout {
    pub prefix: String,
}

impl Layout {
    pub fn active(&self, name: &str) -> String {
        format!("{}{name}:active", self.prefix)
    }

    pub fn content(&self, name: &str, sha256: &str) -> String {
        format!("{}{name}:sha256:{sha256}", self.prefix)
    }

    pub fn channel(&self) -> String {
        format!("{}activations", self.prefix)
    }

    /// The `SCAN MATCH` pattern of every `…:active` key of this prefix (glob characters of the
    /// prefix escaped, so that it matches only itself).
    pub fn active_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.prefix.len() + 8);
        for character in self.prefix.chars() {
            if matches!(character, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(character);
        }
        pattern.push_str("*:active");
        pattern
    }

    /// The revision of the entry of `name` (`Entry::revision`), kept beside it so that a write can
    /// compare revisions without parsing the entry.
    pub fn revision(&self, name: &str) -> String {
        format!("{}{name}:revision", self.prefix)
    }

    /// The store revision the entries were last made consistent with (`_` cannot start a prompt
    /// name, so this key never collides with an entry).
    pub fn stamp(&self) -> String {
        format!("{}_revision", self.prefix)
    }

    /// The changes index: a sorted set of prompt names scored by the revision of their latest
    /// entry, with the members `_stamp` (the stamp it is in step with) and `_since` (the lowest
    /// stamp from which it lists every change), so that a reader that knows an older stamp reads
    /// only what changed (docs/deploy.md, "The Redis layout").
    pub fn changes(&self) -> String {
        format!("{}_changes", self.prefix)
    }
}

/// How much of the cache a write covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Every active version: the stamp gets the full TTL.
    Full,
    /// Only the entries that changed since the stamp's revision: the stamp keeps its TTL, so it
    /// expires with the oldest entries.
    Changes,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("Redis URL `{url}`: {message}")]
    BadUrl { url: String, message: String },
    #[error("cannot reach Redis at `{url}`: {message}")]
    Unreachable { url: String, message: String },
    #[error("Redis at `{url}` failed: {message}")]
    Command { url: String, message: String },
}

/// What `Cache::read` found: the entry (or why it is unreadable) and its TTL left in seconds.
pub type Found = (Result<Entry, String>, i64);

/// A connection to one environment's cache.
pub struct Cache {
    connection: crate::redis_target::Commands,
    url: String,
    pub layout: Layout,
    pub ttl_seconds: u64,
}

/// Writes each entry (KEYS: its `:active` and `:revision` keys in pairs; ARGV: the TTL, then its
/// JSON and revision in pairs) unless the cache holds one of a higher revision: in one script, so
/// that a writer that read the store before a rollback (and writes after it) cannot put back what
/// the rollback replaced. Returns how many were written.
const WRITE_NEWER: &str = r"
local ttl = ARGV[1]
local written = 0
for i = 1, #KEYS, 2 do
  local json = ARGV[i + 1]
  local revision = tonumber(ARGV[i + 2])
  local current = tonumber(redis.call('GET', KEYS[i + 1]) or '-1') or -1
  if revision >= current then
    redis.call('SET', KEYS[i], json, 'EX', ttl)
    redis.call('SET', KEYS[i + 1], revision, 'EX', ttl)
    written = written + 1
  end
end
return written
";

/// `WRITE_NEWER` for one entry in a Redis Cluster (KEYS[1]: its `:active` key; ARGV: the TTL, its
/// JSON, its revision), comparing with the revision inside the entry it would replace, so that it
/// touches no other key (no `:revision` key in a cluster). Returns 1 when written.
const WRITE_NEWER_ONE: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local ok, entry = pcall(cjson.decode, current)
  local held = ok and type(entry) == 'table' and tonumber(entry['revision']) or -1
  if tonumber(ARGV[3]) < held then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[1])
return 1
";

/// Adds the written entries to the changes index (KEYS[1]; ARGV: revision and name in pairs),
/// never lowering a name's revision.
const CHANGES_NEWER: &str = r"
for i = 1, #ARGV, 2 do
  local revision = tonumber(ARGV[i])
  local current = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i + 1]) or '-1') or -1
  if revision > current then redis.call('ZADD', KEYS[1], revision, ARGV[i + 1]) end
end
return 0
";

/// Sets the stamp (KEYS[1]) to ARGV[1] unless it holds a higher revision; with ARGV[3] = 1 the
/// stamp keeps its TTL, else it gets ARGV[2] seconds. Then keeps the changes index (KEYS[2]) in
/// step: `_stamp` follows the stamp; `_since` goes to -1 after a full write (every entry was just
/// indexed) and to the new stamp when the index was not in step with the old one (it was lost,
/// or a writer that does not know it moved the stamp), since changes before may be missing. In a
/// Redis Cluster, where the two keys may live in different slots, it gets the stamp alone.
const STAMP_NEWER: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '-1') or -1
local revision = tonumber(ARGV[1])
if revision < current then return 0 end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], revision, 'KEEPTTL')
else
  redis.call('SET', KEYS[1], revision, 'EX', ARGV[2])
end
if #KEYS < 2 then return 1 end
local in_step = tonumber(redis.call('ZSCORE', KEYS[2], '_stamp') or '-2')
if ARGV[3] ~= '1' then
  redis.call('ZADD', KEYS[2], -1, '_since')
elseif in_step ~= current then
  redis.call('ZADD', KEYS[2], revision, '_since')
end
redis.call('ZADD', KEYS[2], revision, '_stamp')
return 1
";

/// How long a command-line tool waits for Redis before it calls the cache unreachable.
const TIMEOUT: Duration = Duration::from_secs(3);

impl Cache {
    /// Connects to the cache at `url` (any URL `redis_target` accepts), TLS certificates checked
    /// against the system's roots (or the URL's `?ca=`).
    pub fn connect(url: &str, layout: Layout, ttl_seconds: u64) -> Result<Cache, CacheError> {
        Cache::connect_with(url, &crate::redis_target::TlsOptions::default(), layout, ttl_seconds)
    }

    /// Connects to the cache at `url` (any URL `redis_target` accepts), TLS checked per `tls`.
    pub fn connect_with(
        url: &str,
        tls: &crate::redis_target::TlsOptions,
        layout: Layout,
        ttl_seconds: u64,
    ) -> Result<Cache, CacheError> {
        use crate::redis_target::{Target, TargetError};
        let target = Target::open(url, tls).map_err(|error| match error {
            TargetError::BadUrl { url, message } => CacheError::BadUrl { url, message },
            TargetError::Unreachable { url, message } => CacheError::Unreachable { url, message },
        })?;
        let connection = target.commands(TIMEOUT).map_err(|error| match error {
            TargetError::BadUrl { url, message } | TargetError::Unreachable { url, message } => {
                CacheError::Unreachable { url, message }
            }
        })?;
        Ok(Cache { connection, url: target.shown().to_string(), layout, ttl_seconds })
    }

    fn failed(&self, error: redis::RedisError) -> CacheError {
        if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() {
            let message = crate::redis_target::describe(&error);
            CacheError::Unreachable { url: self.url.clone(), message }
        } else {
            CacheError::Command { url: self.url.clone(), message: error.to_string() }
        }
    }

    /// The stamp: the store revision the cache holds, if it is known to hold one.
    pub fn read_stamp(&mut self) -> Result<Option<i64>, CacheError> {
        let value: Option<String> = redis::cmd("GET")
            .arg(self.layout.stamp())
            .query(&mut self.connection)
            .map_err(|error| self.failed(error))?;
        Ok(value.and_then(|text| text.parse().ok()))
    }

    /// How many of these prompts have no `…:active` entry (one pipelined round trip).
    pub fn count_missing(&mut self, names: &[&str]) -> Result<usize, CacheError> {
        if names.is_empty() {
            return Ok(0);
        }
        // One `EXISTS` of many keys counts those that exist; the names are distinct. In a cluster,
        // one `EXISTS` per key (keys of several slots cannot share a command).
        let chunk = if self.connection.is_cluster() { 1 } else { 1000 };
        let commands = names.chunks(chunk).map(|chunk| {
            let keys: Vec<String> = chunk.iter().map(|name| self.layout.active(name)).collect();
            let mut command = redis::cmd("EXISTS");
            command.arg(keys);
            command
        });
        let commands: Vec<redis::Cmd> = commands.collect();
        let found: Vec<usize> =
            self.connection.pipeline(commands).map_err(|error| self.failed(error))?;
        Ok(names.len().saturating_sub(found.iter().sum()))
    }

    /// Writes the entries (active JSON with the TTL, immutable content without one), stamps the
    /// cache with the store `revision` they come from, then publishes the notices.
    pub fn write(
        &mut self,
        entries: &[Entry],
        notices: &[Notice],
        revision: i64,
        coverage: Coverage,
    ) -> Result<(), CacheError> {
        let script = redis::Script::new(WRITE_NEWER);
        let cluster = self.connection.is_cluster();
        for chunk in entries.chunks(1000) {
            if cluster {
                // One script per entry, on its `…:active` key alone (a cluster's keys of two
                // prompts, or of an entry and its `…:revision`, may live in different slots).
                let commands = chunk.iter().map(|entry| {
                    let json = serde_json::to_string(entry).expect("a cache entry serialises");
                    let mut command = redis::cmd("EVAL");
                    command
                        .arg(WRITE_NEWER_ONE)
                        .arg(1)
                        .arg(self.layout.active(&entry.name))
                        .arg(self.ttl_seconds)
                        .arg(json)
                        .arg(entry.revision.unwrap_or(0));
                    command
                });
                let commands: Vec<redis::Cmd> = commands.collect();
                self.connection.pipeline::<()>(commands).map_err(|error| self.failed(error))?;
            } else {
                let mut invocation = script.prepare_invoke();
                invocation.arg(self.ttl_seconds);
                for entry in chunk {
                    let json = serde_json::to_string(entry).expect("a cache entry serialises");
                    invocation
                        .key(self.layout.active(&entry.name))
                        .key(self.layout.revision(&entry.name))
                        .arg(json)
                        .arg(entry.revision.unwrap_or(0));
                }
                invocation
                    .invoke::<i64>(&mut self.connection)
                    .map_err(|error| self.failed(error))?;
            }
            if !cluster {
                // The changes index is one key, but the stamp script keeps it in step with the
                // stamp, another key: a cluster has no changes index (its readers read in full).
                let index_script = redis::Script::new(CHANGES_NEWER);
                let mut index = index_script.prepare_invoke();
                index.key(self.layout.changes());
                for entry in chunk {
                    index.arg(entry.revision.unwrap_or(0)).arg(&entry.name);
                }
                index.invoke::<i64>(&mut self.connection).map_err(|error| self.failed(error))?;
            }
            let commands = chunk.iter().map(|entry| {
                let mut command = redis::cmd("SET");
                command
                    .arg(self.layout.content(&entry.name, &entry.sha256))
                    .arg(&entry.content)
                    .arg("NX");
                command
            });
            let commands: Vec<redis::Cmd> = commands.collect();
            self.connection.pipeline::<()>(commands).map_err(|error| self.failed(error))?;
        }
        let keep_ttl = if coverage == Coverage::Changes { 1 } else { 0 };
        if cluster {
            // EVAL, not EVALSHA: a script loaded on one node is unknown to the others.
            let mut command = redis::cmd("EVAL");
            command.arg(STAMP_NEWER).arg(1).arg(self.layout.stamp());
            command.arg(revision).arg(self.ttl_seconds).arg(keep_ttl);
            command.query::<i64>(&mut self.connection).map_err(|error| self.failed(error))?;
        } else {
            redis::Script::new(STAMP_NEWER)
                .key(self.layout.stamp())
                .key(self.layout.changes())
                .arg(revision)
                .arg(self.ttl_seconds)
                .arg(keep_ttl)
                .invoke::<i64>(&mut self.connection)
                .map_err(|error| self.failed(error))?;
        }
        if !notices.is_empty() {
            // In a cluster, any node forwards a `PUBLISH` to every other node.
            let commands = notices.iter().map(|notice| {
                let json = serde_json::to_string(notice).expect("a notice serialises");
                let mut command = redis::cmd("PUBLISH");
                command.arg(self.layout.channel()).arg(json);
                command
            });
            let commands: Vec<redis::Cmd> = commands.collect();
            let published = self.connection.keyless(commands);
            published.map_err(|error| self.failed(error))?;
        }
        Ok(())
    }

    /// The active entry of `name` and its TTL left in seconds; an entry that is not valid JSON
    /// of the contract's shape is reported as `Err(text)` in the inner result.
    pub fn read(&mut self, name: &str) -> Result<Option<Found>, CacheError> {
        let key = self.layout.active(name);
        let mut get = redis::cmd("GET");
        get.arg(&key);
        let mut ttl = redis::cmd("TTL");
        ttl.arg(&key);
        let (value, ttl): (Option<String>, i64) =
            self.connection.pipeline([get, ttl]).map_err(|error| self.failed(error))?;
        Ok(value.map(|text| {
            (serde_json::from_str::<Entry>(&text).map_err(|error| error.to_string()), ttl)
        }))
    }
}
