//! The store (docs/deploy.md): PostgreSQL or the embedded SQLite behind one `Connection` trait, the
//! versioned schema, and the row shapes. Only this module and `cache` know how rows and entries
//! look; `publish` speaks in domain terms through the queries here.

#[cfg(feature = "store-postgres")]
mod postgres;
#[cfg(feature = "store-postgres")]
pub(crate) mod pg_tls;
mod history;
pub mod records;
pub mod schema;
#[cfg(feature = "store-sqlite")]
mod sqlite;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A parameter or a column value, in the few types the schema uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
    Json(serde_json::Value),
    Uuid(uuid::Uuid),
    Time(SystemTime),
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::Text(text.to_string())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::Text(text)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Value {
        Value::Int(number)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Value {
        Value::Bool(flag)
    }
}

impl From<uuid::Uuid> for Value {
    fn from(id: uuid::Uuid) -> Value {
        Value::Uuid(id)
    }
}

impl From<Option<uuid::Uuid>> for Value {
    fn from(id: Option<uuid::Uuid>) -> Value {
        id.map_or(Value::Null, Value::Uuid)
    }
}

impl From<Option<String>> for Value {
    fn from(text: Option<String>) -> Value {
        text.map_or(Value::Null, Value::Text)
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Value {
        Value::Json(json)
    }
}

/// One result row. Accessors are lenient about representation (SQLite keeps uuids, JSON and
/// times as text, booleans as integers) and strict about meaning.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, index: usize) -> &Value {
        self.0.get(index).unwrap_or(&Value::Null)
    }

    pub fn text(&self, index: usize) -> Result<String, StoreError> {
        self.opt_text(index)?.ok_or_else(|| StoreError::shape(index, "text", "null"))
    }

    pub fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.at(index) {
            Value::Null => Ok(None),
            Value::Text(text) => Ok(Some(text.clone())),
            Value::Uuid(id) => Ok(Some(id.to_string())),
            other => Err(StoreError::shape(index, "text", other)),
        }
    }

    pub fn int(&self, index: usize) -> Result<i64, StoreError> {
        self.opt_int(index)?.ok_or_else(|| StoreError::shape(index, "integer", "null"))
    }

    pub fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.at(index) {
            Value::Null => Ok(None),
            Value::Int(number) => Ok(Some(*number)),
            other => Err(StoreError::shape(index, "integer", other)),
        }
    }

    pub fn bool(&self, index: usize) -> Result<bool, StoreError> {
        match self.at(index) {
            Value::Bool(flag) => Ok(*flag),
            Value::Int(number) => Ok(*number != 0),
            other => Err(StoreError::shape(index, "boolean", other)),
        }
    }

    pub fn uuid(&self, index: usize) -> Result<uuid::Uuid, StoreError> {
        self.opt_uuid(index)?.ok_or_else(|| StoreError::shape(index, "uuid", "null"))
    }

    pub fn opt_uuid(&self, index: usize) -> Result<Option<uuid::Uuid>, StoreError> {
        match self.at(index) {
            Value::Null => Ok(None),
            Value::Uuid(id) => Ok(Some(*id)),
            Value::Text(text) => uuid::Uuid::parse_str(text)
                .map(Some)
                .map_err(|_| StoreError::shape(index, "uuid", text)),
            other => Err(StoreError::shape(index, "uuid", other)),
        }
    }

    pub fn json(&self, index: usize) -> Result<serde_json::Value, StoreError> {
        match self.at(index) {
            Value::Null => Ok(serde_json::Value::Null),
            Value::Json(json) => Ok(json.clone()),
            Value::Text(text) => {
                serde_json::from_str(text).map_err(|_| StoreError::shape(index, "json", text))
            }
            other => Err(StoreError::shape(index, "json", other)),
        }
    }

    pub fn time(&self, index: usize) -> Result<SystemTime, StoreError> {
        match self.at(index) {
            Value::Time(time) => Ok(*time),
            Value::Text(text) => {
                parse_time(text).ok_or_else(|| StoreError::shape(index, "timestamp", text))
            }
            other => Err(StoreError::shape(index, "timestamp", other)),
        }
    }
}

/// RFC 3339 with microseconds, UTC: how SQLite keeps times (sorts as text).
pub fn format_time(time: SystemTime) -> String {
    let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() as i64;
    let base = crate::time::rfc3339(seconds);
    format!("{}.{:06}Z", base.trim_end_matches('Z'), since.subsec_micros())
}

pub fn parse_time(text: &str) -> Option<SystemTime> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, rest)) => (format!("{whole}Z"), rest.trim_end_matches('Z')),
        None => (text.to_string(), ""),
    };
    let seconds = crate::time::parse_rfc3339(&whole)?;
    let micros: u64 = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().chain("000000".chars()).take(6).collect();
        digits.parse().ok()?
    };
    let seconds = u64::try_from(seconds).ok()?;
    Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(seconds * 1_000_000 + micros))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

/// A connection to a store. Statements use `$1`, `$2`, … placeholders in both dialects.
pub trait Connection {
    fn dialect(&self) -> Dialect;
    /// Runs statements without parameters (DDL, `BEGIN`).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Starts a transaction that holds the store's write lock until it ends: a PostgreSQL
    /// transaction-scoped advisory lock, or SQLite's `BEGIN IMMEDIATE`. Two publishers never
    /// interleave.
    fn begin_locked(&mut self) -> Result<(), StoreError>;
    /// Inserts many rows at once (PostgreSQL's `COPY`, a prepared statement in SQLite); each row
    /// holds one value per column.
    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<u64, StoreError>;
    /// `UPDATE table SET column = value WHERE id` is one of `ids`, in one statement where the
    /// dialect allows it.
    fn update_ids(
        &mut self,
        table: &str,
        column: &str,
        value: Value,
        ids: &[uuid::Uuid],
    ) -> Result<u64, StoreError>;
    /// Runs `sql`, in which `IN_IDS` stands for "is one of `ids`" (PostgreSQL: `= ANY($1)` with
    /// an array; SQLite: `= ?1`, once per id), and returns every row.
    fn query_ids(&mut self, sql: &str, ids: &[uuid::Uuid]) -> Result<Vec<Row>, StoreError>;
    /// Like `query_ids`, for a statement that returns no rows; the number of rows changed.
    fn execute_ids(&mut self, sql: &str, ids: &[uuid::Uuid]) -> Result<u64, StoreError>;
    fn commit(&mut self) -> Result<(), StoreError>;
    fn rollback(&mut self) -> Result<(), StoreError>;
}

/// What `query_ids` and `execute_ids` replace by the dialect's "is one of the ids".
pub const IN_IDS: &str = "{in_ids}";

/// Where a store is, parsed from a URL; `Display` never shows a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Postgres { url: String },
    Sqlite { path: PathBuf },
}

impl Location {
    /// `postgres://…`/`postgresql://…`, or `sqlite:PATH`/`sqlite://PATH` (relative to `root`).
    pub fn parse(url: &str, root: &Path) -> Result<Location, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres { url: url.to_string() });
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(StoreError::BadUrl {
                    url: redact_url(url),
                    message: "the SQLite path is empty".into(),
                });
            }
            let path = Path::new(path);
            let path = if path.is_absolute() { path.to_path_buf() } else { root.join(path) };
            return Ok(Location::Sqlite { path });
        }
        Err(StoreError::BadUrl {
            url: redact_url(url),
            message: "use `postgres://USER@HOST/DB` or `sqlite:PATH`".into(),
        })
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self, Location::Sqlite { .. })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Postgres { url } => f.write_str(&redact_url(url)),
            Location::Sqlite { path } => write!(f, "sqlite:{}", path.display()),
        }
    }
}

/// `scheme://user:secret@host/…` → `scheme://user:***@host/…`; also hides `password=` parameters.
pub fn redact_url(url: &str) -> String {
    let mut text = url.to_string();
    if let Some(scheme_end) = text.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end =
            text[rest_start..].find(['/', '?']).map_or(text.len(), |i| rest_start + i);
        if let Some(at) = text[rest_start..authority_end].rfind('@') {
            let userinfo = &text[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = rest_start + colon + 1;
                text.replace_range(start..rest_start + at, "***");
            }
        }
    }
    if let Some(start) = text.find("password=") {
        let value_start = start + "password=".len();
        let end = text[value_start..].find('&').map_or(text.len(), |i| value_start + i);
        text.replace_range(value_start..end, "***");
    }
    text
}

/// Opens a store; SQLite files (and their folder) are created on first use.
/// Runs `body` in one transaction holding the writers' lock (`Connection::begin_locked`): commits
/// when it returns `Ok` and `commit` approves the value, rolls back otherwise (a dry run), and
/// on an error rolls back and returns the body's error (a failed rollback adds nothing to it).
/// Every write of the store goes through here.
pub fn locked<T, E: From<StoreError>>(
    connection: &mut dyn Connection,
    body: impl FnOnce(&mut dyn Connection) -> Result<T, E>,
    commit: impl FnOnce(&T) -> bool,
) -> Result<T, E> {
    connection.begin_locked()?;
    match body(&mut *connection) {
        Ok(value) => {
            if commit(&value) {
                connection.commit()?;
            } else {
                connection.rollback()?;
            }
            Ok(value)
        }
        Err(error) => {
            let _ = connection.rollback();
            Err(error)
        }
    }
}

/// A backend left out of the build (features `store-postgres`, `store-sqlite`) is an error that
/// says so.
pub fn open(location: &Location) -> Result<Box<dyn Connection>, StoreError> {
    match location {
        #[cfg(feature = "store-postgres")]
        Location::Postgres { url } => Ok(Box::new(postgres::Postgres::connect(url)?)),
        #[cfg(feature = "store-sqlite")]
        Location::Sqlite { path } => Ok(Box::new(sqlite::Sqlite::open(path)?)),
        #[allow(unreachable_patterns)]
        other => Err(StoreError::BadUrl {
            url: other.to_string(),
            message: format!(
                "this build of promptctl has no {} support; build it with the `store-{}` feature",
                if other.is_embedded() { "SQLite" } else { "PostgreSQL" },
                if other.is_embedded() { "sqlite" } else { "postgres" }
            ),
        }),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL `{url}`: {message}")]
    BadUrl { url: String, message: String },
    #[error("cannot connect to the store `{location}`: {message}")]
    Connect { location: String, message: String },
    #[error("store error: {message}")]
    Database { message: String },
    #[error("the connection to the store was lost: {message}; nothing was committed, run the command again")]
    ConnectionLost { message: String },
    #[error("unexpected column {index} in a store row: wanted {wanted}, found {found}")]
    Shape { index: usize, wanted: &'static str, found: String },
    #[error("the store's schema is at migration {found}, newer than this promptctl knows ({known}); upgrade promptctl")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("migration {version} ({name}) was applied to this store from other SQL than the file this promptctl carries (recorded sha256 {recorded}, file {carried}): a released migration was edited; restore the file and put the change in a new migration")]
    MigrationChanged { version: i64, name: String, recorded: String, carried: String },
    #[error("the store is not initialised (no promptctl schema); run `promptctl db migrate --env ENV` or `promptctl publish` first")]
    NotInitialised,
}

impl StoreError {
    fn shape(index: usize, wanted: &'static str, found: impl std::fmt::Debug) -> StoreError {
        StoreError::Shape { index, wanted, found: format!("{found:?}") }
    }
}
