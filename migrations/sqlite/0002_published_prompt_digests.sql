-- Per template, the digest of the bundle JSON it was last published from: `publish` skips
-- the prompts whose JSON is unchanged since (docs/deploy.md). Any later change to a
-- template's rows (a rollback, by `rollback` or by hand in SQL, a new description)
-- forgets the digest, so that the next publish looks at that template in full.
-- promptctl's own bookkeeping, like `promptctl_meta`.
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
