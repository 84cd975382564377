//! The Redis cache (DESIGN §10), a contract with running applications: `{prefix}{name}:active`
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
}

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

    /// The store revision the entries were last made consistent with (`_` cannot start a prompt
    /// name, so this key never collides with an entry).
    pub fn stamp(&self) -> String {
        format!("{}_revision", self.prefix)
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
    connection: redis::Connection,
    url: String,
    pub layout: Layout,
    pub ttl_seconds: u64,
}

/// How long a command-line tool waits for Redis before it calls the cache unreachable.
const TIMEOUT: Duration = Duration::from_secs(3);

impl Cache {
    pub fn connect(url: &str, layout: Layout, ttl_seconds: u64) -> Result<Cache, CacheError> {
        let shown = crate::store::redact_url(url);
        let client = redis::Client::open(url).map_err(|error| CacheError::BadUrl {
            url: shown.clone(),
            message: error.to_string(),
        })?;
        let connection = client.get_connection_with_timeout(TIMEOUT).map_err(|error| {
            CacheError::Unreachable { url: shown.clone(), message: error.to_string() }
        })?;
        connection
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|()| connection.set_write_timeout(Some(TIMEOUT)))
            .map_err(|error| CacheError::Unreachable {
                url: shown.clone(),
                message: error.to_string(),
            })?;
        Ok(Cache { connection, url: shown, layout, ttl_seconds })
    }

    fn failed(&self, error: redis::RedisError) -> CacheError {
        if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() {
            CacheError::Unreachable { url: self.url.clone(), message: error.to_string() }
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
        // One `EXISTS` of many keys counts those that exist; the names are distinct.
        let mut pipe = redis::pipe();
        for chunk in names.chunks(1000) {
            let keys: Vec<String> = chunk.iter().map(|name| self.layout.active(name)).collect();
            pipe.cmd("EXISTS").arg(keys);
        }
        let found: Vec<usize> =
            pipe.query(&mut self.connection).map_err(|error| self.failed(error))?;
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
        for chunk in entries.chunks(1000) {
            let mut pipe = redis::pipe();
            for entry in chunk {
                let json = serde_json::to_string(entry).expect("a cache entry serialises");
                pipe.cmd("SET")
                    .arg(self.layout.active(&entry.name))
                    .arg(json)
                    .arg("EX")
                    .arg(self.ttl_seconds)
                    .ignore();
                pipe.cmd("SET")
                    .arg(self.layout.content(&entry.name, &entry.sha256))
                    .arg(&entry.content)
                    .arg("NX")
                    .ignore();
            }
            pipe.query::<()>(&mut self.connection).map_err(|error| self.failed(error))?;
        }
        let mut stamp = redis::cmd("SET");
        stamp.arg(self.layout.stamp()).arg(revision);
        match coverage {
            Coverage::Full => stamp.arg("EX").arg(self.ttl_seconds),
            Coverage::Changes => stamp.arg("KEEPTTL"),
        };
        stamp.query::<()>(&mut self.connection).map_err(|error| self.failed(error))?;
        if !notices.is_empty() {
            let mut pipe = redis::pipe();
            for notice in notices {
                let json = serde_json::to_string(notice).expect("a notice serialises");
                pipe.cmd("PUBLISH").arg(self.layout.channel()).arg(json).ignore();
            }
            pipe.query::<()>(&mut self.connection).map_err(|error| self.failed(error))?;
        }
        Ok(())
    }

    /// The active entry of `name` and its TTL left in seconds; an entry that is not valid JSON
    /// of the contract's shape is reported as `Err(text)` in the inner result.
    pub fn read(&mut self, name: &str) -> Result<Option<Found>, CacheError> {
        let key = self.layout.active(name);
        let (value, ttl): (Option<String>, i64) = redis::pipe()
            .cmd("GET")
            .arg(&key)
            .cmd("TTL")
            .arg(&key)
            .query(&mut self.connection)
            .map_err(|error| self.failed(error))?;
        Ok(value.map(|text| {
            (serde_json::from_str::<Entry>(&text).map_err(|error| error.to_string()), ttl)
        }))
    }
}
