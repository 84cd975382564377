//! What changes the store without a bundle: `rollback` (an earlier version for everyone) and
//! `rollout` (a canary's share raised or lowered, the canary promoted or aborted). Each is one
//! locked, audited transaction whose activation row the next publish compares with the bundle
//! (drift), exactly like a rollback.

use super::*;

/// What `rollback` did.
#[derive(Debug, Clone)]
pub struct Rollback {
    pub name: String,
    pub from: Option<i64>,
    pub to: i64,
    pub active: records::ActiveVersion,
}

/// Activates an earlier stored version of `name` without a bundle: `to`, or the version that was
/// active before the current one. Audited; the store must already belong to `environment`.
pub fn rollback(
    connection: &mut dyn Connection,
    environment: &str,
    name: &str,
    to: Option<i64>,
    actor: &str,
    reason: &str,
) -> Result<Rollback, PublishError> {
    with_template(connection, environment, name, |connection, template| {
        let stored = template
            .versions
            .iter()
            .map(|v| format!("v{}", v.number))
            .collect::<Vec<_>>()
            .join(", ");
        let active = template.active();
        let target_number = match to {
            Some(number) => number,
            None => {
                let Some(current) = active else {
                    return Err(PublishError::NoActive { name: name.into(), stored });
                };
                let history = records::history(connection, template.id)?;
                let previous = history
                    .iter()
                    .find(|row| row.version == current.number)
                    .and_then(|row| row.previous);
                match previous {
                    Some(previous) => previous,
                    None => return Err(PublishError::NoPrevious { name: name.into(), stored }),
                }
            }
        };
        let Some(target) = template.version(target_number) else {
            return Err(PublishError::VersionNotStored {
                name: name.into(),
                version: target_number,
                stored,
            });
        };
        if active.map(|v| v.id) == Some(target.id) {
            return Err(PublishError::AlreadyActive { name: name.into(), version: target_number });
        }
        let now = SystemTime::now();
        records::set_active(connection, template.id, target.id)?;
        records::insert_activation(
            connection,
            &NewActivation {
                template: template.id,
                version: target.id,
                previous: active.map(|v| v.id),
                action: "rollback",
                actor,
                git_commit: None,
                bundle_seq: None,
                reason: Some(reason),
                at: now,
                // A rollback serves one version to everyone: it ends a canary.
                canary: None,
            },
        )?;
        records::insert_audit(
            connection,
            Some(template.id),
            Some(target.id),
            "rolled_back",
            actor,
            now,
            serde_json::json!({"environment": environment, "from": active.map(|v| v.number), "to": target_number, "reason": reason}),
        )?;
        let active_now =
            records::active_version(connection, name)?.expect("the version was just activated");
        Ok(Rollback {
            name: name.into(),
            from: active.map(|v| v.number),
            to: target_number,
            active: active_now,
        })
    })
}

/// What `promptctl rollout` does to a prompt's canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutAction {
    /// Serve the canary to this many basis points (percent × 100) of the keys.
    Share(u32),
    /// The canary becomes the version everyone is served.
    Promote,
    /// Back to the stable version for everyone.
    Abort,
}

/// What `rollout` did.
#[derive(Debug, Clone)]
pub struct RolloutDone {
    pub name: String,
    /// The stable version before, and after (the canary's, after a promotion).
    pub stable_before: i64,
    pub stable: i64,
    /// The canary before, and after (none after a promotion or an abort).
    pub from: Option<CanaryState>,
    pub to: Option<CanaryState>,
    pub active: records::ActiveVersion,
}

/// Changes the canary of `name` without a bundle (`RolloutAction`), audited with `actor` and
/// `reason`; the store must already belong to `environment` and serve a canary of that prompt.
pub fn rollout(
    connection: &mut dyn Connection,
    environment: &str,
    name: &str,
    action: RolloutAction,
    actor: &str,
    reason: &str,
) -> Result<RolloutDone, PublishError> {
    with_template(connection, environment, name, |connection, template| {
        let Some(active) = template.active() else {
            return Err(PublishError::NoCanary { name: name.into() });
        };
        let Some((canary_id, basis_points)) = template.canary else {
            return Err(PublishError::NoCanary { name: name.into() });
        };
        let canary = template.by_id(canary_id).expect("a stored canary version");
        let from = CanaryState { version: canary.number, basis_points };
        let (action_name, version, to, audit) = match action {
            RolloutAction::Share(share) => {
                if i64::from(share) == basis_points {
                    return Err(PublishError::SameShare {
                        name: name.into(),
                        share: crate::rollout::basis_points_display(share),
                    });
                }
                let to = CanaryState { version: canary.number, basis_points: i64::from(share) };
                ("rollout", active, Some(to), "rollout_changed")
            }
            RolloutAction::Promote => ("promote", canary, None, "rollout_promoted"),
            RolloutAction::Abort => ("abort", active, None, "rollout_aborted"),
        };
        let now = SystemTime::now();
        if version.id != active.id {
            records::set_active(connection, template.id, version.id)?;
        }
        records::insert_activation(
            connection,
            &NewActivation {
                template: template.id,
                version: version.id,
                previous: Some(active.id),
                action: action_name,
                actor,
                git_commit: None,
                bundle_seq: None,
                reason: Some(reason),
                at: now,
                canary: to.map(|to| (canary.id, to.basis_points)),
            },
        )?;
        records::insert_audit(
            connection,
            Some(template.id),
            Some(version.id),
            audit,
            actor,
            now,
            serde_json::json!({"environment": environment, "stable": active.number, "canary": from.version, "from_basis_points": from.basis_points, "to_basis_points": to.map(|to| to.basis_points), "served": version.number, "reason": reason}),
        )?;
        let active_now =
            records::active_version(connection, name)?.expect("the template has an active version");
        Ok(RolloutDone {
            name: name.into(),
            stable_before: active.number,
            stable: version.number,
            from: Some(from),
            to,
            active: active_now,
        })
    })
}

/// Runs `change` on the stored template `name` in one transaction under the writers' lock, once
/// the schema is current and the store is known to belong to `environment`.
fn with_template<T>(
    connection: &mut dyn Connection,
    environment: &str,
    name: &str,
    change: impl FnOnce(&mut dyn Connection, &StoredTemplate) -> Result<T, PublishError>,
) -> Result<T, PublishError> {
    schema::require_current(connection)?;
    crate::store::locked(
        connection,
        |connection| {
            if !check_environment(connection, environment)? {
                return Err(PublishError::NothingPublished);
            }
            let templates = records::templates(connection)?;
            let Some(template) = templates.get(name) else {
                return Err(PublishError::NotStored {
                    name: name.into(),
                    suggestion: suggestion(name, templates.keys().map(String::as_str)),
                });
            };
            change(connection, template)
        },
        |_| true,
    )
}
