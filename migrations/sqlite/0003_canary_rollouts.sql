-- Canary rollouts (docs/deploy.md, "Canary rollouts"): an activation may also name a canary, a
-- second version served to `canary_basis_points` (percent × 100) of the keys; the activation's
-- `version_id` stays the version everyone else is served, which keeps `is_active` on it. The
-- latest activation of a template is its current rollout; `rollout`, `promote` and `abort` are
-- the actions of `promptctl rollout`. SQLite cannot change a CHECK constraint: the table is
-- rebuilt with its rows and ids.
CREATE TABLE prompt_activations_new (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    template_id         TEXT NOT NULL REFERENCES prompt_templates (id),
    version_id          TEXT NOT NULL REFERENCES prompt_versions (id),
    previous_version_id TEXT REFERENCES prompt_versions (id),
    action              TEXT NOT NULL CHECK (action IN ('publish', 'rollback', 'rollout', 'promote', 'abort')),
    actor               TEXT NOT NULL,
    git_commit          TEXT,
    bundle_seq          INTEGER,
    reason              TEXT,
    at                  TEXT NOT NULL,
    canary_version_id   TEXT REFERENCES prompt_versions (id),
    canary_basis_points INTEGER CHECK (canary_basis_points BETWEEN 0 AND 10000),
    CHECK ((canary_version_id IS NULL) = (canary_basis_points IS NULL))
);
INSERT INTO prompt_activations_new (id, template_id, version_id, previous_version_id, action, actor, git_commit, bundle_seq, reason, at)
    SELECT id, template_id, version_id, previous_version_id, action, actor, git_commit, bundle_seq, reason, at FROM prompt_activations;
DROP TABLE prompt_activations;
ALTER TABLE prompt_activations_new RENAME TO prompt_activations;
CREATE INDEX prompt_activations_by_template ON prompt_activations (template_id, id DESC);
-- A new activation row (a rollout changed by `promptctl rollout`, say) forgets the template's
-- published digest, so that the next publish looks at it in full and sees the drift; `publish`
-- records the digest again after its own activation rows.
CREATE TRIGGER promptctl_forget_published_activation AFTER INSERT ON prompt_activations
BEGIN
    DELETE FROM promptctl_published WHERE template_id = NEW.template_id;
END;
