-- Canary rollouts (docs/deploy.md, "Canary rollouts"): an activation may also name a canary, a
-- second version served to `canary_basis_points` (percent × 100) of the keys; the activation's
-- `version_id` stays the version everyone else is served, which keeps `is_active` on it. The
-- latest activation of a template is its current rollout; `rollout`, `promote` and `abort` are
-- the actions of `promptctl rollout`.
ALTER TABLE prompt_activations DROP CONSTRAINT prompt_activations_action_check;
ALTER TABLE prompt_activations ADD CONSTRAINT prompt_activations_action_check
    CHECK (action IN ('publish', 'rollback', 'rollout', 'promote', 'abort'));
ALTER TABLE prompt_activations ADD COLUMN canary_version_id uuid REFERENCES prompt_versions (id);
ALTER TABLE prompt_activations ADD COLUMN canary_basis_points integer
    CHECK (canary_basis_points BETWEEN 0 AND 10000);
ALTER TABLE prompt_activations ADD CONSTRAINT prompt_activations_canary_pair
    CHECK ((canary_version_id IS NULL) = (canary_basis_points IS NULL));
-- A new activation row (a rollout changed by `promptctl rollout`, say) forgets the template's
-- published digest, so that the next publish looks at it in full and sees the drift; `publish`
-- records the digest again after its own activation rows.
CREATE FUNCTION promptctl_forget_published_activation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM promptctl_published WHERE template_id = NEW.template_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER promptctl_forget_published_activation AFTER INSERT ON prompt_activations
    FOR EACH ROW EXECUTE FUNCTION promptctl_forget_published_activation();
