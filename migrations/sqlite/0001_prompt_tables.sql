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
