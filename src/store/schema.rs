//! The store's schema as numbered migrations (docs/deploy.md). A migration is never edited once
//! released: a change is a new one. `migrate` applies the missing ones in order, inside the
//! writers' lock, and records each in `promptctl_migrations`; running it again changes nothing.

use super::{Connection, Dialect, StoreError, Value};

/// One schema change, in both dialects.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "prompt tables",
        postgres: r#"
CREATE TABLE promptctl_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE prompt_templates (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE TABLE prompt_versions (
    id                   uuid PRIMARY KEY,
    template_id          uuid NOT NULL REFERENCES prompt_templates (id),
    version_number       bigint NOT NULL CHECK (version_number > 0),
    content              text NOT NULL,
    content_sha256       text NOT NULL,
    source_sha256        text NOT NULL,
    front_matter         text NOT NULL,
    variables            jsonb NOT NULL,
    model                jsonb,
    contract_fingerprint text NOT NULL,
    is_active            boolean NOT NULL DEFAULT false,
    git_commit           text NOT NULL,
    created_at           timestamptz NOT NULL,
    UNIQUE (template_id, version_number)
);
CREATE UNIQUE INDEX prompt_versions_one_active ON prompt_versions (template_id) WHERE is_active;
CREATE TABLE prompt_activations (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    template_id         uuid NOT NULL REFERENCES prompt_templates (id),
    version_id          uuid NOT NULL REFERENCES prompt_versions (id),
    previous_version_id uuid REFERENCES prompt_versions (id),
    action              text NOT NULL CHECK (action IN ('publish', 'rollback')),
    actor               text NOT NULL,
    git_commit          text,
    bundle_seq          bigint,
    reason              text,
    at                  timestamptz NOT NULL
);
CREATE INDEX prompt_activations_by_template ON prompt_activations (template_id, id DESC);
CREATE TABLE prompt_audit_logs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    template_id uuid REFERENCES prompt_templates (id),
    version_id  uuid REFERENCES prompt_versions (id),
    action      text NOT NULL,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL,
    details     jsonb NOT NULL
);
CREATE INDEX prompt_audit_logs_by_template ON prompt_audit_logs (template_id, changed_at DESC);
CREATE TABLE prompt_deployments (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq                bigint NOT NULL,
    environment        text NOT NULL,
    bundle_sha256      text NOT NULL,
    git_commit         text NOT NULL,
    key_id             text NOT NULL,
    actor              text NOT NULL,
    published_at       timestamptz NOT NULL,
    downgrade          boolean NOT NULL DEFAULT false,
    forced             boolean NOT NULL DEFAULT false,
    dirty              boolean NOT NULL DEFAULT false,
    development_signed boolean NOT NULL DEFAULT false
);
CREATE INDEX prompt_deployments_by_seq ON prompt_deployments (environment, seq DESC);
"#,
        sqlite: r#"
CREATE TABLE promptctl_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE prompt_templates (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE prompt_versions (
    id                   TEXT PRIMARY KEY,
    template_id          TEXT NOT NULL REFERENCES prompt_templates (id),
    version_number       INTEGER NOT NULL CHECK (version_number > 0),
    content              TEXT NOT NULL,
    content_sha256       TEXT NOT NULL,
    source_sha256        TEXT NOT NULL,
    front_matter         TEXT NOT NULL,
    variables            TEXT NOT NULL,
    model                TEXT,
    contract_fingerprint TEXT NOT NULL,
    is_active            INTEGER NOT NULL DEFAULT 0 CHECK (is_active IN (0, 1)),
    git_commit           TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    UNIQUE (template_id, version_number)
);
CREATE UNIQUE INDEX prompt_versions_one_active ON prompt_versions (template_id) WHERE is_active = 1;
CREATE TABLE prompt_activations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    template_id         TEXT NOT NULL REFERENCES prompt_templates (id),
    version_id          TEXT NOT NULL REFERENCES prompt_versions (id),
    previous_version_id TEXT REFERENCES prompt_versions (id),
    action              TEXT NOT NULL CHECK (action IN ('publish', 'rollback')),
    actor               TEXT NOT NULL,
    git_commit          TEXT,
    bundle_seq          INTEGER,
    reason              TEXT,
    at                  TEXT NOT NULL
);
CREATE INDEX prompt_activations_by_template ON prompt_activations (template_id, id DESC);
CREATE TABLE prompt_audit_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    template_id TEXT REFERENCES prompt_templates (id),
    version_id  TEXT REFERENCES prompt_versions (id),
    action      TEXT NOT NULL,
    changed_by  TEXT NOT NULL,
    changed_at  TEXT NOT NULL,
    details     TEXT NOT NULL
);
CREATE INDEX prompt_audit_logs_by_template ON prompt_audit_logs (template_id, changed_at DESC);
CREATE TABLE prompt_deployments (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    seq                INTEGER NOT NULL,
    environment        TEXT NOT NULL,
    bundle_sha256      TEXT NOT NULL,
    git_commit         TEXT NOT NULL,
    key_id             TEXT NOT NULL,
    actor              TEXT NOT NULL,
    published_at       TEXT NOT NULL,
    downgrade          INTEGER NOT NULL DEFAULT 0,
    forced             INTEGER NOT NULL DEFAULT 0,
    dirty              INTEGER NOT NULL DEFAULT 0,
    development_signed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX prompt_deployments_by_seq ON prompt_deployments (environment, seq DESC);
"#,
    },
    Migration {
        version: 2,
        name: "published prompt digests",
        // Per template, the digest of the bundle JSON it was last published from: `publish` skips
        // the prompts whose JSON is unchanged since (docs/deploy.md). Any later change to a
        // template's rows (a rollback, by `rollback` or by hand in SQL, a new description)
        // forgets the digest, so that the next publish looks at that template in full.
        // promptctl's own bookkeeping, like `promptctl_meta`.
        postgres: r#"
CREATE TABLE promptctl_published (
    template_id uuid PRIMARY KEY REFERENCES prompt_templates (id) ON DELETE CASCADE,
    digest      text NOT NULL
);
CREATE FUNCTION promptctl_forget_published() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'prompt_templates' THEN
        DELETE FROM promptctl_published WHERE template_id = OLD.id;
    ELSE
        DELETE FROM promptctl_published WHERE template_id = OLD.template_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER promptctl_forget_published AFTER UPDATE OR DELETE ON prompt_versions
    FOR EACH ROW EXECUTE FUNCTION promptctl_forget_published();
CREATE TRIGGER promptctl_forget_published AFTER UPDATE ON prompt_templates
    FOR EACH ROW EXECUTE FUNCTION promptctl_forget_published();
"#,
        sqlite: r#"
CREATE TABLE promptctl_published (
    template_id TEXT PRIMARY KEY REFERENCES prompt_templates (id) ON DELETE CASCADE,
    digest      TEXT NOT NULL
);
CREATE TRIGGER promptctl_forget_published_version_update AFTER UPDATE ON prompt_versions
BEGIN
    DELETE FROM promptctl_published WHERE template_id = OLD.template_id;
END;
CREATE TRIGGER promptctl_forget_published_version_delete AFTER DELETE ON prompt_versions
BEGIN
    DELETE FROM promptctl_published WHERE template_id = OLD.template_id;
END;
CREATE TRIGGER promptctl_forget_published_template_update AFTER UPDATE ON prompt_templates
BEGIN
    DELETE FROM promptctl_published WHERE template_id = OLD.id;
END;
"#,
    },
];

/// The newest migration this promptctl knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}

const CREATE_LEDGER_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS promptctl_migrations (version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)";
const CREATE_LEDGER_SQLITE: &str = "CREATE TABLE IF NOT EXISTS promptctl_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)";

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
        connection.begin_locked()?;
        let step = (|| {
            let ledger = match connection.dialect() {
                Dialect::Postgres => CREATE_LEDGER_POSTGRES,
                Dialect::Sqlite => CREATE_LEDGER_SQLITE,
            };
            connection.batch(ledger)?;
            let at = current(connection)?;
            if at > latest() {
                return Err(StoreError::SchemaTooNew { found: at, known: latest() });
            }
            let Some(next) = MIGRATIONS.iter().find(|migration| migration.version > at) else {
                return Ok(None);
            };
            connection.batch(match connection.dialect() {
                Dialect::Postgres => next.postgres,
                Dialect::Sqlite => next.sqlite,
            })?;
            connection.execute(
                "INSERT INTO promptctl_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[
                    Value::Int(next.version),
                    next.name.into(),
                    Value::Time(std::time::SystemTime::now()),
                ],
            )?;
            Ok(Some(next))
        })();
        match step {
            Ok(Some(migration)) => {
                connection.commit()?;
                applied.push(migration);
            }
            Ok(None) => {
                connection.commit()?;
                return Ok(applied);
            }
            Err(error) => {
                let _ = connection.rollback();
                return Err(error);
            }
        }
    }
}

/// Fails unless the schema is exactly the one this promptctl writes.
pub fn require_current(connection: &mut dyn Connection) -> Result<(), StoreError> {
    match current(connection)? {
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
