//! The store's schema as numbered migrations (docs/deploy.md), one SQL file per dialect in
//! `migrations/postgres/` and `migrations/sqlite/`, embedded at compile time. A migration is never
//! edited once released: a change is a new file. `migrate` applies the missing ones in order,
//! inside the writers' lock, and records each in `promptctl_migrations` with the sha256 of the
//! file it ran; a store whose recorded checksum differs from the file this promptctl carries (a
//! released migration was edited) is refused, by `migrate` and by `require_current`.

use super::{Connection, Dialect, StoreError, Value};
use sha2::{Digest, Sha256};

/// One schema change, in both dialects.
pub struct Migration {
    /// Its number: the files' four-digit prefix.
    pub version: i64,
    /// What the ledger records as its name: the files' name after the number, `_` as spaces.
    pub name: &'static str,
    /// `migrations/postgres/NNNN_name.sql`.
    pub postgres: &'static str,
    /// `migrations/sqlite/NNNN_name.sql`.
    pub sqlite: &'static str,
}

impl Migration {
    /// The SQL of `dialect`.
    pub fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Postgres => self.postgres,
            Dialect::Sqlite => self.sqlite,
        }
    }

    /// The sha256 (hex) of the file of `dialect`, as the ledger records it.
    pub fn checksum(&self, dialect: Dialect) -> String {
        hex::encode(Sha256::digest(self.sql(dialect).as_bytes()))
    }
}

/// `migration!(1, "prompt tables", "0001_prompt_tables")`: both files of a migration.
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            postgres: include_str!(concat!("../../migrations/postgres/", $file, ".sql")),
            sqlite: include_str!(concat!("../../migrations/sqlite/", $file, ".sql")),
        }
    };
}

/// Every migration, in order; `tests` checks that it lists exactly the files of `migrations/`.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "prompt tables", "0001_prompt_tables"),
    migration!(2, "published prompt digests", "0002_published_prompt_digests"),
    migration!(3, "canary rollouts", "0003_canary_rollouts"),
];

/// The newest migration this promptctl knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}

const CREATE_LEDGER_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS promptctl_migrations (version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL, checksum text)";
const CREATE_LEDGER_SQLITE: &str = "CREATE TABLE IF NOT EXISTS promptctl_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL, checksum TEXT)";

/// Whether the ledger has its `checksum` column (stores migrated before checksums were recorded
/// lack it until the next `migrate`).
fn ledger_has_checksums(connection: &mut dyn Connection) -> Result<bool, StoreError> {
    let rows = match connection.dialect() {
        Dialect::Postgres => connection.query(
            "SELECT 1::bigint FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'promptctl_migrations' AND column_name = 'checksum'",
            &[],
        )?,
        Dialect::Sqlite => connection.query(
            "SELECT 1 FROM pragma_table_info('promptctl_migrations') WHERE name = 'checksum'",
            &[],
        )?,
    };
    Ok(!rows.is_empty())
}

/// Refuses a store where a migration this promptctl carries was applied from other SQL: its
/// recorded checksum differs from the file's. Migrations recorded without a checksum (applied
/// before checksums were kept) pass.
fn verify_checksums(connection: &mut dyn Connection) -> Result<(), StoreError> {
    if !ledger_has_checksums(connection)? {
        return Ok(());
    }
    let dialect = connection.dialect();
    let rows = connection.query(
        "SELECT version, checksum FROM promptctl_migrations WHERE checksum IS NOT NULL ORDER BY version",
        &[],
    )?;
    for row in rows {
        let version = row.int(0)?;
        let recorded = row.text(1)?;
        let Some(migration) = MIGRATIONS.iter().find(|m| m.version == version) else { continue };
        let carried = migration.checksum(dialect);
        if recorded != carried {
            return Err(StoreError::MigrationChanged {
                version,
                name: migration.name.to_string(),
                recorded,
                carried,
            });
        }
    }
    Ok(())
}

/// The migration the store is at, without changing it (0: no promptctl schema yet).
pub fn current(connection: &mut dyn Connection) -> Result<i64, StoreError> {
    let exists = match connection.dialect() {
        Dialect::Postgres => connection.query(
            "SELECT 1::bigint FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'promptctl_migrations'",
            &[],
        )?,
        Dialect::Sqlite => connection.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'promptctl_migrations'",
            &[],
        )?,
    };
    if exists.is_empty() {
        return Ok(0);
    }
    let rows =
        connection.query("SELECT COALESCE(MAX(version), 0) FROM promptctl_migrations", &[])?;
    rows.first().map_or(Ok(0), |row| row.int(0))
}

/// Applies the missing migrations, each in its own locked transaction; returns those applied.
pub fn migrate(connection: &mut dyn Connection) -> Result<Vec<&'static Migration>, StoreError> {
    let mut applied = Vec::new();
    loop {
        let step = super::locked(
            connection,
            |connection| {
                let ledger = match connection.dialect() {
                    Dialect::Postgres => CREATE_LEDGER_POSTGRES,
                    Dialect::Sqlite => CREATE_LEDGER_SQLITE,
                };
                connection.batch(ledger)?;
                if !ledger_has_checksums(connection)? {
                    connection
                        .batch("ALTER TABLE promptctl_migrations ADD COLUMN checksum TEXT")?;
                }
                // Migrations recorded before checksums were kept adopt the files' checksums.
                let dialect = connection.dialect();
                for migration in MIGRATIONS {
                    connection.execute(
                    "UPDATE promptctl_migrations SET checksum = $1 WHERE version = $2 AND checksum IS NULL",
                    &[migration.checksum(dialect).into(), Value::Int(migration.version)],
                )?;
                }
                verify_checksums(connection)?;
                let at = current(connection)?;
                if at > latest() {
                    return Err(StoreError::SchemaTooNew { found: at, known: latest() });
                }
                let Some(next) = MIGRATIONS.iter().find(|migration| migration.version > at) else {
                    return Ok(None);
                };
                connection.batch(next.sql(dialect))?;
                connection.execute(
                "INSERT INTO promptctl_migrations (version, name, applied_at, checksum) VALUES ($1, $2, $3, $4)",
                &[
                    Value::Int(next.version),
                    next.name.into(),
                    Value::Time(std::time::SystemTime::now()),
                    next.checksum(dialect).into(),
                ],
            )?;
                Ok(Some(next))
            },
            |_| true,
        )?;
        match step {
            Some(migration) => applied.push(migration),
            None => return Ok(applied),
        }
    }
}

/// Fails unless the schema is exactly the one this promptctl writes.
pub fn require_current(connection: &mut dyn Connection) -> Result<(), StoreError> {
    let at = current(connection)?;
    if at > 0 {
        verify_checksums(connection)?;
    }
    match at {
        0 => Err(StoreError::NotInitialised),
        at if at > latest() => Err(StoreError::SchemaTooNew { found: at, known: latest() }),
        at if at < latest() => Err(StoreError::Database {
            message: format!(
                "the store's schema is at migration {at}, this promptctl needs {}; run `promptctl db migrate --env ENV`",
                latest()
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `MIGRATIONS` lists exactly the files of `migrations/`, numbered from 1 without gaps, named
    /// after them, the same files in both dialects.
    #[test]
    fn the_migrations_are_the_files() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        for dialect in ["postgres", "sqlite"] {
            let mut files: Vec<String> = std::fs::read_dir(root.join(dialect))
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let expected: Vec<String> = MIGRATIONS
                .iter()
                .map(|m| format!("{:04}_{}.sql", m.version, m.name.replace(' ', "_")))
                .collect();
            assert_eq!(files, expected, "migrations/{dialect}/");
        }
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1);
            assert_ne!(migration.checksum(Dialect::Postgres), migration.checksum(Dialect::Sqlite));
        }
    }
}
