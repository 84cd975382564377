//! The embedded store: one SQLite file. Uuids, JSON and times are kept as text, booleans as 0/1;
//! `BEGIN IMMEDIATE` takes the write lock that PostgreSQL's advisory lock gives.

use super::{Connection, Dialect, Row, StoreError, Value};
use std::path::Path;
use std::time::Duration;

pub struct Sqlite {
    connection: rusqlite::Connection,
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let connect_error = |message: String| StoreError::Connect {
            location: format!("sqlite:{}", path.display()),
            message,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| {
                connect_error(format!("cannot create `{}`: {error}", parent.display()))
            })?;
        }
        let connection =
            rusqlite::Connection::open(path).map_err(|error| connect_error(error.to_string()))?;
        connection
            .busy_timeout(Duration::from_secs(30))
            .and_then(|()| {
                connection.execute_batch("PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;")
            })
            .map_err(|error| connect_error(error.to_string()))?;
        Ok(Sqlite { connection })
    }
}

/// `$1` → `?1`: SQLite's numbered parameters bind by position, as PostgreSQL's do.
fn translate(sql: &str) -> String {
    sql.replace('$', "?")
}

fn to_sqlite(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match value {
        Value::Null => V::Null,
        Value::Text(text) => V::Text(text.clone()),
        Value::Int(number) => V::Integer(*number),
        Value::Bool(flag) => V::Integer(i64::from(*flag)),
        Value::Json(json) => V::Text(json.to_string()),
        Value::Uuid(id) => V::Text(id.to_string()),
        Value::Time(time) => V::Text(super::format_time(*time)),
    }
}

fn database_error(error: rusqlite::Error) -> StoreError {
    StoreError::Database { message: error.to_string() }
}

impl Connection for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.connection.execute_batch(sql).map_err(database_error)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let params = params.iter().map(to_sqlite);
        let changed = self
            .connection
            .prepare_cached(&translate(sql))
            .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(params)))
            .map_err(database_error)?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut statement =
            self.connection.prepare_cached(&translate(sql)).map_err(database_error)?;
        let columns = statement.column_count();
        let mut rows = statement
            .query(rusqlite::params_from_iter(params.iter().map(to_sqlite)))
            .map_err(database_error)?;
        let mut result = Vec::new();
        while let Some(row) = rows.next().map_err(database_error)? {
            let mut values = Vec::with_capacity(columns);
            for index in 0..columns {
                use rusqlite::types::ValueRef;
                let value = match row.get_ref(index).map_err(database_error)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(number) => Value::Int(number),
                    ValueRef::Real(number) => Value::Int(number as i64),
                    ValueRef::Text(bytes) => {
                        Value::Text(String::from_utf8_lossy(bytes).into_owned())
                    }
                    ValueRef::Blob(bytes) => {
                        Value::Text(String::from_utf8_lossy(bytes).into_owned())
                    }
                };
                values.push(value);
            }
            result.push(Row(values));
        }
        Ok(result)
    }

    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<u64, StoreError> {
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            columns.join(", "),
            placeholders.join(", ")
        );
        let mut statement = self.connection.prepare_cached(&sql).map_err(database_error)?;
        for row in rows {
            statement
                .execute(rusqlite::params_from_iter(row.iter().map(to_sqlite)))
                .map_err(database_error)?;
        }
        Ok(rows.len() as u64)
    }

    fn update_ids(
        &mut self,
        table: &str,
        column: &str,
        value: Value,
        ids: &[uuid::Uuid],
    ) -> Result<u64, StoreError> {
        let sql = format!("UPDATE {table} SET {column} = ?1 WHERE id = ?2");
        let mut statement = self.connection.prepare_cached(&sql).map_err(database_error)?;
        let value = to_sqlite(&value);
        let mut changed = 0;
        for id in ids {
            changed += statement
                .execute(rusqlite::params![value, id.to_string()])
                .map_err(database_error)? as u64;
        }
        Ok(changed)
    }

    fn query_ids(&mut self, sql: &str, ids: &[uuid::Uuid]) -> Result<Vec<Row>, StoreError> {
        let sql = sql.replace(super::IN_IDS, "= $1");
        let mut rows = Vec::new();
        for id in ids {
            rows.extend(self.query(&sql, &[(*id).into()])?);
        }
        Ok(rows)
    }

    fn execute_ids(&mut self, sql: &str, ids: &[uuid::Uuid]) -> Result<u64, StoreError> {
        let sql = sql.replace(super::IN_IDS, "= $1");
        let mut changed = 0;
        for id in ids {
            changed += self.execute(&sql, &[(*id).into()])?;
        }
        Ok(changed)
    }

    fn begin_locked(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN IMMEDIATE")
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.batch("COMMIT")
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        if self.connection.is_autocommit() {
            return Ok(());
        }
        self.batch("ROLLBACK")
    }
}
