-- Per template, the digest of the bundle JSON it was last published from: `publish` skips
-- the prompts whose JSON is unchanged since (docs/deploy.md). Any later change to a
-- template's rows (a rollback, by `rollback` or by hand in SQL, a new description)
-- forgets the digest, so that the next publish looks at that template in full.
-- promptctl's own bookkeeping, like `promptctl_meta`.
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
