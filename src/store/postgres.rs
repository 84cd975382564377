//! The PostgreSQL store, through the synchronous `postgres` client. Writers serialise on a
//! transaction-scoped advisory lock, so the lock can never outlive a crashed publisher.

use super::{Connection, Dialect, Row, StoreError, Value};
use postgres::types::{ToSql, Type};

/// The advisory lock key of promptctl's writers (`promptctl` in ASCII, truncated to 63 bits).
const ADVISORY_LOCK: i64 = 0x7072_6f6d_7074_6374;

pub struct Postgres {
    client: postgres::Client,
}

impl Postgres {
    /// Connects as libpq would with the URL's `sslmode` (`pg_tls`): the attempts in order, an
    /// encrypted one falling back to the next only when its handshake failed (`prefer`) and a
    /// plain one when the server refused it (`allow`).
    pub fn connect(url: &str) -> Result<Postgres, StoreError> {
        let location = super::redact_url(url);
        let prepared = super::pg_tls::prepare(url)
            .map_err(|message| StoreError::Connect { location: location.clone(), message })?;
        let mut last = None;
        let count = prepared.attempts.len();
        for (index, attempt) in prepared.attempts.into_iter().enumerate() {
            let encrypted = attempt.encrypted;
            match postgres::Client::connect(&attempt.url, attempt.tls) {
                Ok(client) => return Ok(Postgres { client }),
                Err(error) => {
                    let handshake = crate::tls::find_rustls_error(&error).is_some()
                        || error.to_string().contains("TLS handshake");
                    let message = match crate::tls::find_rustls_error(&error) {
                        Some(tls) => crate::tls::explain(tls, &prepared.host, &prepared.roots),
                        None if error.to_string().contains("server does not support TLS") => {
                            format!(
                                "the server `{}` does not accept TLS, and sslmode={} requires it",
                                prepared.host,
                                prepared.mode.as_str()
                            )
                        }
                        None => describe(&error),
                    };
                    last = Some(message);
                    let more = index + 1 < count;
                    // `prefer` falls back after a failed handshake only; `allow` after any
                    // refusal of the plain attempt.
                    if !more || (encrypted && !handshake) {
                        break;
                    }
                }
            }
        }
        Err(StoreError::Connect {
            location,
            message: last.unwrap_or_else(|| "no connection attempt was made".into()),
        })
    }
}

/// The server's message when there is one (the `Display` of `postgres::Error` is often just
/// "db error"), without anything from the connection string.
fn describe(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut message = db.message().to_string();
        if let Some(detail) = db.detail() {
            message.push_str(&format!(" ({detail})"));
        }
        return message;
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

fn database_error(error: postgres::Error) -> StoreError {
    if error.is_closed()
        || error.as_db_error().is_some_and(|db| db.code().code().starts_with("57P"))
    {
        return StoreError::ConnectionLost { message: describe(&error) };
    }
    if error.as_db_error().is_none() && error.to_string().contains("connection") {
        return StoreError::ConnectionLost { message: describe(&error) };
    }
    StoreError::Database { message: describe(&error) }
}

/// SQL NULL for a parameter of any type (`Option::<T>::None` only binds to `T`'s types).
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(postgres::types::IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// One field of `COPY … FROM STDIN` in the text format: `\N` for NULL, backslash escapes for
/// the characters that separate fields and rows.
fn copy_text(value: &Value, out: &mut Vec<u8>) {
    let escaped = |text: &str, out: &mut Vec<u8>| {
        for byte in text.bytes() {
            match byte {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                other => out.push(other),
            }
        }
    };
    match value {
        Value::Null => out.extend_from_slice(b"\\N"),
        Value::Text(text) => escaped(text, out),
        Value::Int(number) => out.extend_from_slice(number.to_string().as_bytes()),
        Value::Bool(flag) => out.push(if *flag { b't' } else { b'f' }),
        Value::Json(json) => escaped(&json.to_string(), out),
        Value::Uuid(id) => out.extend_from_slice(id.hyphenated().to_string().as_bytes()),
        Value::Time(time) => out.extend_from_slice(super::format_time(*time).as_bytes()),
    }
}

fn to_postgres(value: &Value) -> Box<dyn ToSql + Sync> {
    match value {
        Value::Null => Box::new(Null),
        Value::Text(text) => Box::new(text.clone()),
        Value::Int(number) => Box::new(*number),
        Value::Bool(flag) => Box::new(*flag),
        Value::Json(json) => Box::new(json.clone()),
        Value::Uuid(id) => Box::new(*id),
        Value::Time(time) => Box::new(*time),
    }
}

/// Rows of the client, as the store's `Row`s.
fn convert(rows: Vec<postgres::Row>) -> Result<Vec<Row>, StoreError> {
    let mut result = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for (index, column) in row.columns().iter().enumerate() {
            let ty = column.type_();
            let value = if *ty == Type::TEXT
                || *ty == Type::VARCHAR
                || *ty == Type::BPCHAR
                || *ty == Type::NAME
            {
                row.try_get::<_, Option<String>>(index).map(|v| v.map(Value::Text))
            } else if *ty == Type::INT8 {
                row.try_get::<_, Option<i64>>(index).map(|v| v.map(Value::Int))
            } else if *ty == Type::INT4 {
                row.try_get::<_, Option<i32>>(index).map(|v| v.map(|n| Value::Int(n.into())))
            } else if *ty == Type::INT2 {
                row.try_get::<_, Option<i16>>(index).map(|v| v.map(|n| Value::Int(n.into())))
            } else if *ty == Type::BOOL {
                row.try_get::<_, Option<bool>>(index).map(|v| v.map(Value::Bool))
            } else if *ty == Type::UUID {
                row.try_get::<_, Option<uuid::Uuid>>(index).map(|v| v.map(Value::Uuid))
            } else if *ty == Type::JSONB || *ty == Type::JSON {
                row.try_get::<_, Option<serde_json::Value>>(index).map(|v| v.map(Value::Json))
            } else if *ty == Type::TIMESTAMPTZ || *ty == Type::TIMESTAMP {
                row.try_get::<_, Option<std::time::SystemTime>>(index).map(|v| v.map(Value::Time))
            } else {
                return Err(StoreError::Database {
                    message: format!("unsupported column type `{ty}` in a query result"),
                });
            }
            .map_err(database_error)?;
            values.push(value.unwrap_or(Value::Null));
        }
        result.push(Row(values));
    }
    Ok(result)
}

impl Connection for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql).map_err(database_error)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let boxed: Vec<Box<dyn ToSql + Sync>> = params.iter().map(to_postgres).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
        self.client.execute(sql, &refs).map_err(database_error)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let boxed: Vec<Box<dyn ToSql + Sync>> = params.iter().map(to_postgres).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
        let rows = self.client.query(sql, &refs).map_err(database_error)?;
        convert(rows)
    }

    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<u64, StoreError> {
        use std::io::Write;
        if rows.is_empty() {
            return Ok(0);
        }
        let sql = format!("COPY {table} ({}) FROM STDIN", columns.join(", "));
        let mut text = Vec::with_capacity(rows.len() * 64);
        for row in rows {
            for (index, value) in row.iter().enumerate() {
                if index > 0 {
                    text.push(b'\t');
                }
                copy_text(value, &mut text);
            }
            text.push(b'\n');
        }
        let mut writer = self.client.copy_in(&sql).map_err(database_error)?;
        writer
            .write_all(&text)
            .map_err(|error| StoreError::ConnectionLost { message: error.to_string() })?;
        writer.finish().map_err(database_error)
    }

    fn update_ids(
        &mut self,
        table: &str,
        column: &str,
        value: Value,
        ids: &[uuid::Uuid],
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let sql = format!("UPDATE {table} SET {column} = $1 WHERE id = ANY($2)");
        let value = to_postgres(&value);
        let ids: Vec<uuid::Uuid> = ids.to_vec();
        self.client.execute(&sql, &[value.as_ref(), &ids]).map_err(database_error)
    }

    fn query_ids(&mut self, sql: &str, ids: &[uuid::Uuid]) -> Result<Vec<Row>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = sql.replace(super::IN_IDS, "= ANY($1)");
        let ids = ids.to_vec();
        convert(self.client.query(&sql, &[&ids]).map_err(database_error)?)
    }

    fn execute_ids(&mut self, sql: &str, ids: &[uuid::Uuid]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let sql = sql.replace(super::IN_IDS, "= ANY($1)");
        let ids = ids.to_vec();
        self.client.execute(&sql, &[&ids]).map_err(database_error)
    }

    fn begin_locked(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN")?;
        self.execute("SELECT pg_advisory_xact_lock($1)", &[Value::Int(ADVISORY_LOCK)]).map(|_| ())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.batch("COMMIT")
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        if self.client.is_closed() {
            return Ok(());
        }
        self.batch("ROLLBACK")
    }
}
