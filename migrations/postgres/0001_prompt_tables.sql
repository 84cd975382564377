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
