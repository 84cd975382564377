//! The deploy step (docs/deploy.md): a verified bundle's versions and one environment's activations
//! into the store, in one locked transaction, and the changes made without a bundle (`rollback`,
//! `rollout`: `operate.rs`).
//! It decides what changes; `store::records` knows the rows. Caching and notifying happen after
//! the commit, in `cli`, because the store is the truth and the cache can always be rewritten.

use crate::bundle::{self, Verified};
use crate::store::records::{
    self, NewActivation, NewAudit, NewDeployment, NewVersion, StoredTemplate,
};
use crate::store::{schema, Connection, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

mod operate;
pub use operate::{rollback, rollout, Rollback, RolloutAction, RolloutDone};

/// Where a publish goes and what the environment allows.
pub struct Target<'a> {
    pub environment: &'a str,
    /// Dirty bundles are refused here unless `force`.
    pub protected: bool,
    /// The store is the embedded SQLite file (the only one that takes development-signed bundles).
    pub embedded: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Limit activation changes to these prompts (all versions are still stored).
    pub only: Vec<String>,
    /// Publish over drift, and publish a dirty bundle to a protected environment.
    pub force: bool,
    /// Accept a bundle whose seq is not higher than the store's highest deployment.
    pub allow_downgrade: bool,
    /// Compute and return the plan; roll the transaction back.
    pub plan_only: bool,
    pub actor: String,
}

/// One activation that changes: `from` → `to` (version numbers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub name: String,
    pub from: Option<i64>,
    pub to: i64,
}

/// A canary: a version served to `basis_points` (percent × 100) of the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CanaryState {
    pub version: i64,
    pub basis_points: i64,
}

/// A prompt whose canary changes: `from` → `to` beside the stable version `stable` (none: no
/// canary).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutChange {
    pub name: String,
    pub stable: i64,
    pub from: Option<CanaryState>,
    pub to: Option<CanaryState>,
}

/// A prompt whose active version (or canary) is not the one the last publish set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    pub name: String,
    /// What the latest publish activated.
    pub published: Option<i64>,
    /// What the store serves now.
    pub active: Option<i64>,
    /// The canary the latest publish set, when the drift is in the canary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_canary: Option<CanaryState>,
    /// The canary served now, when the drift is in the canary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_canary: Option<CanaryState>,
    /// The latest activation, when it was a rollback: who and why.
    pub by: Option<String>,
}

/// What a publish does (or, with `plan_only`, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub environment: String,
    pub seq: u64,
    pub bundle_sha256: String,
    pub new_prompts: Vec<String>,
    pub new_versions: Vec<(String, u32)>,
    pub description_changes: Vec<String>,
    pub activations: Vec<Change>,
    /// Prompts whose canary changes (started, re-shared, ended), stable version changing or not.
    pub rollouts: Vec<RolloutChange>,
    pub drift: Vec<Drift>,
    /// Drifted prompts whose bundle activation is the version the store serves now: the publish
    /// records that the repository agrees (a `publish` activation of the same version), which
    /// ends the drift without changing what is served.
    pub adopted: Vec<Change>,
    /// Prompts in the store that the bundle does not have (left as they are).
    pub not_in_bundle: Vec<String>,
    /// The store's highest deployment seq before this one.
    pub previous_seq: Option<i64>,
    pub downgrade: bool,
    /// This exact bundle is the store's latest deployment and nothing would change.
    pub already_published: bool,
}

impl Plan {
    pub fn changes_store(&self) -> bool {
        !(self.new_prompts.is_empty()
            && self.new_versions.is_empty()
            && self.description_changes.is_empty()
            && self.activations.is_empty()
            && self.rollouts.is_empty()
            && self.adopted.is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A prompt of the bundle failed its checks (they run when the prompt is first used).
    #[error(transparent)]
    Bundle(#[from] bundle::Error),
    #[error("the store belongs to environment `{store}`, not `{wanted}`; each environment has its own store: check `--env` and the store URL")]
    WrongEnvironment { store: String, wanted: String },
    #[error("bundle seq {seq} is not higher than the store's last deployment (seq {highest}, commit {commit}); publish a bundle built from a newer commit of the deploy branch, or pass `--allow-downgrade` to roll back on purpose (audited)")]
    Downgrade { seq: u64, highest: i64, commit: String },
    #[error("{}", immutable_message(.0))]
    Immutable(Vec<(String, u32, String, String)>),
    #[error("{}", drift_message(.0))]
    Drifted(Vec<Drift>),
    #[error("the bundle was built from uncommitted changes (dirty) and `{environment}` is protected; build from a clean commit, or pass `--force`")]
    Dirty { environment: String },
    #[error("the bundle is development-signed and `{environment}` is not the embedded store; build with a configured signing key (`--key`, PROMPTCTL_SIGNING_KEY or `[signing] secret_key`)")]
    DevelopmentSigned { environment: String },
    #[error("the bundle does not know environment `{environment}` (it has: {known}); build it with this environment declared in promptctl.toml")]
    UnknownEnvironment { environment: String, known: String },
    #[error("`--only {name}`: the bundle has no prompt `{name}`{suggestion}")]
    UnknownPrompt { name: String, suggestion: String },
    #[error("`{name}` is not in the store{suggestion}")]
    NotStored { name: String, suggestion: String },
    #[error(
        "nothing has been published to this store yet; run `promptctl publish --env ENV` first"
    )]
    NothingPublished,
    #[error("`{name}` has no canary in this store; declare one in its prompt.toml (`[activate] ENV = {{ version = N, canary = M, percent = P }}`) and publish")]
    NoCanary { name: String },
    #[error("the canary of `{name}` is already served to {share} of the keys")]
    SameShare { name: String, share: String },
    #[error(
        "`{name}` has no active version in the store; pass `--to N` to activate one of: {stored}"
    )]
    NoActive { name: String, stored: String },
    #[error(
        "`{name}` has no earlier active version to go back to; pass `--to N` (stored: {stored})"
    )]
    NoPrevious { name: String, stored: String },
    #[error("`{name}` v{version} is not in the store (stored: {stored})")]
    VersionNotStored { name: String, version: i64, stored: String },
    #[error("`{name}` v{version} is already active")]
    AlreadyActive { name: String, version: i64 },
}

fn immutable_message(conflicts: &[(String, u32, String, String)]) -> String {
    let mut message = String::from("the store already has these versions with other bytes, and a stored version never changes:");
    for (name, version, stored, bundled) in conflicts {
        message.push_str(&format!(
            "\n  `{name}` v{version}: store sha256:{}, bundle sha256:{}",
            &stored[..stored.len().min(12)],
            &bundled[..bundled.len().min(12)]
        ));
    }
    message.push_str("\nrestore those files to the published bytes and add the change as a new version; there is no flag to overwrite a published version");
    message
}

fn drift_message(drift: &[Drift]) -> String {
    let mut message =
        String::from("the store's active versions differ from what the last publish set (drift):");
    for item in drift {
        message.push_str(&format!(
            "\n  `{}`: published {}, active {}{}",
            item.name,
            item.published.map_or("none".into(), |v| format!("v{v}")),
            item.active.map_or("none".into(), |v| format!("v{v}")),
            item.by.as_deref().map(|by| format!(" ({by})")).unwrap_or_default()
        ));
        if item.published_canary.is_some() || item.active_canary.is_some() {
            let show = |canary: Option<CanaryState>| {
                canary.map_or("no canary".to_string(), |c| {
                    format!(
                        "v{} canary {}",
                        c.version,
                        crate::rollout::basis_points_display(c.basis_points as u32)
                    )
                })
            };
            message.push_str(&format!(
                "; published {}, served {}",
                show(item.published_canary),
                show(item.active_canary)
            ));
        }
    }
    message.push_str("\npublishing this bundle would undo that: make the bundle activate the versions the environment should serve (for a rollback, the version rolled back to, or a fixed new one)");
    message
}

fn suggestion<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    crate::diagnostic::did_you_mean(name, candidates)
        .map(|best| format!("; did you mean `{best}`?"))
        .unwrap_or_default()
}

/// sha256 of a template's text: what cache readers check the content against.
pub fn content_sha256(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// The result of `apply`.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub plan: Plan,
    /// The transaction was committed (false for `plan_only` and for an unchanged re-publish).
    pub committed: bool,
}

/// Progress of the writes of a large bundle: called with (done, total).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Publishes `bundle` into the store behind `connection` (docs/deploy.md gives the order).
pub fn apply(
    connection: &mut dyn Connection,
    verified: &Verified,
    target: &Target<'_>,
    options: &Options,
    progress: Progress<'_>,
) -> Result<Outcome, PublishError> {
    if verified.development_signed() && !target.embedded {
        return Err(PublishError::DevelopmentSigned { environment: target.environment.into() });
    }
    if verified.dirty() && target.protected && !options.force {
        return Err(PublishError::Dirty { environment: target.environment.into() });
    }
    if !verified.environments().iter().any(|e| e == target.environment) {
        return Err(PublishError::UnknownEnvironment {
            environment: target.environment.into(),
            known: verified.environments().join(", "),
        });
    }
    for name in &options.only {
        if !verified.contains(name) {
            return Err(PublishError::UnknownPrompt {
                name: name.clone(),
                suggestion: suggestion(name, verified.names()),
            });
        }
    }
    if options.plan_only {
        if schema::current(connection)? == 0 {
            // A store that was never migrated is empty: plan against nothing.
            verified.check_all()?;
            let plan = compute(verified, target, options, &Stored::default(), None)?;
            return Ok(Outcome { plan, committed: false });
        }
        schema::require_current(connection)?;
    } else {
        schema::migrate(connection)?;
    }

    crate::store::locked(
        connection,
        |connection| transaction(connection, verified, target, options, progress),
        |outcome| outcome.committed,
    )
}

fn check_environment(
    connection: &mut dyn Connection,
    environment: &str,
) -> Result<bool, PublishError> {
    match records::environment(connection)? {
        Some(store) if store != environment => {
            Err(PublishError::WrongEnvironment { store, wanted: environment.into() })
        }
        Some(_) => Ok(true),
        None => Ok(false),
    }
}

fn transaction(
    connection: &mut dyn Connection,
    verified: &Verified,
    target: &Target<'_>,
    options: &Options,
    progress: Progress<'_>,
) -> Result<Outcome, PublishError> {
    let claimed = check_environment(connection, target.environment)?;
    let highest = records::highest_deployment(connection, target.environment)?;
    let stored = Stored::read(connection, verified)?;
    let plan = compute(verified, target, options, &stored, highest.as_ref())?;
    let Stored { templates, unchanged, .. } = stored;
    if options.plan_only {
        return Ok(Outcome { plan, committed: false });
    }
    if !plan.drift.is_empty() && !options.force {
        return Err(PublishError::Drifted(plan.drift.clone()));
    }
    if plan.already_published {
        return Ok(Outcome { plan, committed: false });
    }

    let now = SystemTime::now();
    let actor = options.actor.as_str();
    if !claimed {
        records::claim_environment(connection, target.environment)?;
    }
    let commit = verified.git_commit();
    let seq = verified.seq();
    let mut audits: Vec<NewAudit<'_>> = Vec::new();
    let mut templates = templates;

    // Templates: the new ones in one insert, then the changed descriptions.
    let mut new_names: Vec<(&str, &str)> = Vec::with_capacity(plan.new_prompts.len());
    for name in &plan.new_prompts {
        new_names.push((name.as_str(), verified.prompt(name)?.description.as_str()));
    }
    let new_ids = records::insert_templates(connection, &new_names, now)?;
    // A new template's audit row lists the versions it arrives with (one row per template, not
    // one per version: a first publish of 10,000 prompts writes 10,000 rows, not 40,000).
    let created: std::collections::BTreeSet<&str> =
        new_names.iter().map(|(name, _)| *name).collect();
    for ((name, description), id) in new_names.iter().zip(new_ids) {
        let versions: Vec<serde_json::Value> = verified
            .prompt(name)?
            .versions
            .iter()
            .map(|v| serde_json::json!({"version": v.version, "sha256": v.sha256}))
            .collect();
        audits.push(NewAudit {
            template: Some(id),
            version: None,
            action: "template_created",
            details: serde_json::json!({"name": name, "versions": versions, "git_commit": commit, "bundle_seq": seq}),
        });
        templates.insert(
            name.to_string(),
            StoredTemplate {
                id,
                name: name.to_string(),
                description: description.to_string(),
                versions: Vec::new(),
                published: None,
                canary: None,
                published_canary: None,
            },
        );
    }
    for name in &plan.description_changes {
        let template = &templates[name];
        let description = &verified.prompt(name)?.description;
        records::update_description(connection, template.id, description, now)?;
        audits.push(NewAudit {
            template: Some(template.id),
            version: None,
            action: "description_changed",
            details: serde_json::json!({"from": template.description, "to": description, "git_commit": commit, "bundle_seq": seq}),
        });
    }

    // Versions: every missing one in one insert.
    let total = plan.new_versions.len() as u64;
    let mut digests = Vec::with_capacity(plan.new_versions.len());
    let mut pending = Vec::with_capacity(plan.new_versions.len());
    for (name, number) in &plan.new_versions {
        let version = verified
            .prompt(name)?
            .versions
            .iter()
            .find(|version| version.version == *number)
            .expect("the plan names bundled versions");
        digests.push(content_sha256(&version.template));
        pending.push((name, version));
    }
    // A template without an active version gets its first activation at insert time, which
    // saves an update of every row of a first publish.
    let born_active: std::collections::BTreeSet<(&str, i64)> = plan
        .activations
        .iter()
        .filter(|change| change.from.is_none())
        .map(|change| (change.name.as_str(), change.to))
        .collect();
    let mut new_versions = Vec::with_capacity(pending.len());
    for ((name, version), digest) in pending.iter().zip(&digests) {
        new_versions.push(NewVersion {
            template: templates[*name].id,
            number: i64::from(version.version),
            content: &version.template,
            content_sha256: digest,
            source_sha256: &version.sha256,
            front_matter: &version.front_matter,
            variables: &version.variables,
            model: version.model.as_ref(),
            contract: &version.contract,
            git_commit: commit,
            at: now,
            is_active: born_active.contains(&(name.as_str(), i64::from(version.version))),
        });
    }
    let mut done = 0;
    let mut version_ids = Vec::with_capacity(new_versions.len());
    for chunk in new_versions.chunks(2000) {
        version_ids.extend(records::insert_versions(connection, chunk)?);
        done += chunk.len() as u64;
        progress(done, total);
    }
    for (((name, version), digest), id) in pending.iter().zip(&digests).zip(version_ids) {
        let template = templates.get_mut(*name).expect("inserted above");
        if !created.contains(name.as_str()) {
            audits.push(NewAudit {
                template: Some(template.id),
                version: Some(id),
                action: "version_created",
                details: serde_json::json!({"version": version.version, "sha256": version.sha256, "git_commit": commit, "bundle_seq": seq}),
            });
        }
        template.versions.push(records::StoredVersion {
            id,
            number: i64::from(version.version),
            source_sha256: version.sha256.clone(),
            content_sha256: digest.clone(),
            is_active: born_active.contains(&(name.as_str(), i64::from(version.version))),
        });
    }

    // Activations: the drift adopted, then the switches, each with its history and audit rows.
    let mut activations = Vec::new();
    for change in &plan.adopted {
        let template = &templates[&change.name];
        let version = template.version(change.to).expect("the active version is stored").id;
        activations.push(NewActivation {
            template: template.id,
            version,
            previous: Some(version),
            action: "publish",
            actor,
            git_commit: Some(commit),
            bundle_seq: Some(seq as i64),
            reason: Some("the bundle agrees with the version activated outside publish"),
            at: now,
            canary: template.canary,
        });
        audits.push(NewAudit {
            template: Some(template.id),
            version: Some(version),
            action: "drift_adopted",
            details: serde_json::json!({"environment": target.environment, "version": change.to, "git_commit": commit, "bundle_seq": seq}),
        });
    }
    let mut deactivate = Vec::new();
    let mut activate = Vec::new();
    // One activation row per prompt whose stable version or canary changes, carrying both.
    let wanted_canary = |name: &str, template: &StoredTemplate| -> Option<(uuid::Uuid, i64)> {
        let canary = verified.prompt(name).ok()?.canary.get(target.environment)?;
        let id = template.version(i64::from(canary.version))?.id;
        Some((id, i64::from(canary.basis_points)))
    };
    // The publish row of a prompt: its stable version, what it replaces, and the bundle's canary.
    let publish_row = |name: &str, template: &StoredTemplate, version, previous| NewActivation {
        template: template.id,
        version,
        previous,
        action: "publish",
        actor,
        git_commit: Some(commit),
        bundle_seq: Some(seq as i64),
        reason: None,
        at: now,
        canary: wanted_canary(name, template),
    };
    for change in &plan.activations {
        let template = &templates[&change.name];
        let version = template.version(change.to).expect("every bundled version is stored").id;
        let previous = change.from.and_then(|from| template.version(from)).map(|v| v.id);
        if template.active().is_some_and(|active| active.id == version) {
            // Inserted active above.
        } else {
            deactivate.extend(template.active().map(|v| v.id));
            activate.push(version);
        }
        activations.push(publish_row(&change.name, template, version, previous));
        audits.push(NewAudit {
            template: Some(template.id),
            version: Some(version),
            action: "activated",
            details: serde_json::json!({"environment": target.environment, "from": change.from, "to": change.to, "git_commit": commit, "bundle_seq": seq, "forced": options.force && !plan.drift.is_empty()}),
        });
    }
    for change in &plan.rollouts {
        let template = &templates[&change.name];
        let version = template.version(change.stable).expect("every bundled version is stored").id;
        if !plan.activations.iter().any(|activation| activation.name == change.name) {
            activations.push(publish_row(&change.name, template, version, Some(version)));
        }
        audits.push(NewAudit {
            template: Some(template.id),
            version: Some(version),
            action: "rollout_published",
            details: serde_json::json!({"environment": target.environment, "stable": change.stable, "from": change.from, "to": change.to, "git_commit": commit, "bundle_seq": seq}),
        });
    }
    records::switch_active(connection, &deactivate, &activate)?;
    records::insert_activations(connection, &activations)?;

    // The digest of each prompt this publish looked at, so that the next one can skip those that
    // stay as they are. A prompt left out by `--only` may still have changed (versions,
    // description) without its activation: its old digest goes and none replaces it.
    let mut cleared = Vec::new();
    let mut recorded = Vec::new();
    for name in verified.names().filter(|name| !unchanged.contains(*name)) {
        let template = &templates[name];
        cleared.push(template.id);
        if options.only.is_empty() || options.only.iter().any(|only| only == name) {
            recorded.push((template.id, verified.digest(name).expect("a bundled prompt")));
        }
    }
    records::record_published(connection, &cleared, &recorded)?;
    records::insert_deployment(
        connection,
        &NewDeployment {
            seq: seq as i64,
            environment: target.environment,
            bundle_sha256: verified.sha256(),
            git_commit: commit,
            key_id: verified.key_id(),
            actor,
            at: now,
            downgrade: plan.downgrade,
            forced: options.force,
            dirty: verified.dirty(),
            development_signed: verified.development_signed(),
        },
    )?;
    audits.push(NewAudit {
        template: None,
        version: None,
        action: "deployed",
        details: serde_json::json!({
            "environment": target.environment,
            "bundle_seq": seq,
            "bundle_sha256": verified.sha256(),
            "git_commit": commit,
            "key_id": verified.key_id(),
            "downgrade": plan.downgrade,
            "previous_seq": plan.previous_seq,
            "forced": options.force,
            "dirty": verified.dirty(),
            "only": options.only,
            "activations": plan.activations.len(),
        }),
    });
    records::insert_audits(connection, audits, actor, now)?;
    Ok(Outcome { plan, committed: true })
}

/// What the plan needs of the store: every template the bundle may change, in full, and the names
/// of the bundle's prompts that the store holds exactly as the bundle has them: published from
/// JSON with the same digest, and not changed since (the store forgets the digest of a template
/// whose rows change: a rollback, by `rollback` or by hand). Those need neither their checks nor
/// their rows.
#[derive(Default)]
struct Stored {
    templates: BTreeMap<String, StoredTemplate>,
    unchanged: BTreeSet<String>,
    /// Every template's name, sorted.
    names: Vec<String>,
}

impl Stored {
    fn read(connection: &mut dyn Connection, verified: &Verified) -> Result<Stored, PublishError> {
        let states = records::published_states(connection)?;
        let mut unchanged = BTreeSet::new();
        let mut changed = Vec::new();
        for state in &states {
            let Some(digest) = verified.digest(&state.name) else { continue };
            if state.digest.as_deref() == Some(digest.as_str()) {
                unchanged.insert(state.name.clone());
            } else {
                changed.push(state.id);
            }
        }
        verified.check(verified.names().filter(|name| !unchanged.contains(*name)))?;
        // A few templates by id; past a quarter of the store, all of them at once.
        let templates = if changed.len() * 4 > states.len() {
            records::templates(connection)?
        } else {
            records::templates_by_id(connection, &changed)?
        };
        let mut names: Vec<String> = states.into_iter().map(|state| state.name).collect();
        names.sort_unstable();
        Ok(Stored { templates, unchanged, names })
    }
}

/// The plan, from the bundle and what the store holds (pure).
fn compute(
    verified: &Verified,
    target: &Target<'_>,
    options: &Options,
    stored: &Stored,
    highest: Option<&records::Deployment>,
) -> Result<Plan, PublishError> {
    let templates = &stored.templates;
    let mut plan = Plan {
        environment: target.environment.into(),
        seq: verified.seq(),
        bundle_sha256: verified.sha256().into(),
        previous_seq: highest.map(|h| h.seq),
        ..Plan::default()
    };
    let same_bundle = highest.is_some_and(|h| h.bundle_sha256 == verified.sha256());
    if let Some(highest) = highest {
        if (verified.seq() as i64) <= highest.seq && !same_bundle {
            if !options.allow_downgrade {
                return Err(PublishError::Downgrade {
                    seq: verified.seq(),
                    highest: highest.seq,
                    commit: highest.git_commit[..highest.git_commit.len().min(12)].to_string(),
                });
            }
            plan.downgrade = true;
        }
    }
    let mut conflicts = Vec::new();
    // The prompts the store holds exactly as this bundle has them change nothing.
    for name in verified.names().filter(|name| !stored.unchanged.contains(*name)) {
        let prompt = verified.prompt(name)?;
        let stored = templates.get(name);
        match stored {
            None => plan.new_prompts.push(name.to_string()),
            Some(template) if template.description != prompt.description => {
                plan.description_changes.push(name.to_string())
            }
            Some(_) => {}
        }
        for version in &prompt.versions {
            match stored.and_then(|t| t.version(i64::from(version.version))) {
                None => plan.new_versions.push((name.to_string(), version.version)),
                Some(existing) if existing.source_sha256 != version.sha256 => conflicts.push((
                    name.to_string(),
                    version.version,
                    existing.source_sha256.clone(),
                    version.sha256.clone(),
                )),
                Some(_) => {}
            }
        }
        let in_scope = options.only.is_empty() || options.only.iter().any(|only| only == name);
        let Some(&wanted) = prompt.activate.get(target.environment) else { continue };
        if !in_scope {
            continue;
        }
        let active = stored.and_then(StoredTemplate::active);
        let wanted_canary = prompt.canary.get(target.environment).map(|canary| CanaryState {
            version: i64::from(canary.version),
            basis_points: i64::from(canary.basis_points),
        });
        let current_canary = stored.and_then(|t| canary_state(t, t.canary));
        if let Some(template) = stored {
            let published = template.published.and_then(|id| template.by_id(id));
            let published_canary = canary_state(template, template.published_canary);
            let agrees = active.map(|v| v.number) == Some(i64::from(wanted))
                && current_canary == wanted_canary;
            let drifted = published.map(|v| v.id) != active.map(|v| v.id)
                || (published.is_some() && published_canary != current_canary);
            if drifted && agrees {
                plan.adopted.push(Change {
                    name: name.to_string(),
                    from: active.map(|v| v.number),
                    to: i64::from(wanted),
                });
            } else if drifted {
                let canary_drift = published_canary != current_canary;
                plan.drift.push(Drift {
                    name: name.to_string(),
                    published: published.map(|v| v.number),
                    active: active.map(|v| v.number),
                    by: None,
                    published_canary: if canary_drift { published_canary } else { None },
                    active_canary: if canary_drift { current_canary } else { None },
                });
            }
        }
        if active.map(|v| v.number) != Some(i64::from(wanted)) {
            plan.activations.push(Change {
                name: name.to_string(),
                from: active.map(|v| v.number),
                to: i64::from(wanted),
            });
        }
        if current_canary != wanted_canary {
            plan.rollouts.push(RolloutChange {
                name: name.to_string(),
                stable: i64::from(wanted),
                from: current_canary,
                to: wanted_canary,
            });
        }
    }
    if !conflicts.is_empty() {
        return Err(PublishError::Immutable(conflicts));
    }
    plan.not_in_bundle =
        stored.names.iter().filter(|name| !verified.contains(name)).cloned().collect();
    plan.already_published = same_bundle && !plan.changes_store();
    Ok(plan)
}

/// A stored canary (version id, basis points) as version number and share.
fn canary_state(
    template: &StoredTemplate,
    canary: Option<(uuid::Uuid, i64)>,
) -> Option<CanaryState> {
    let (id, basis_points) = canary?;
    Some(CanaryState { version: template.by_id(id)?.number, basis_points })
}

/// Fills in who caused each drift (the latest rollback's actor and reason).
pub fn explain_drift(
    connection: &mut dyn Connection,
    drift: &mut [Drift],
) -> Result<(), StoreError> {
    let templates = records::templates(connection)?;
    for item in drift {
        let Some(template) = templates.get(&item.name) else { continue };
        if let Some(latest) = records::history(connection, template.id)?.first() {
            let what = match latest.action.as_str() {
                "rollback" => Some("rolled back"),
                "rollout" => Some("canary share changed"),
                "promote" => Some("canary promoted"),
                "abort" => Some("canary aborted"),
                _ => None,
            };
            if let Some(what) = what {
                item.by = Some(format!(
                    "{what} by {}{}",
                    latest.actor,
                    latest.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                ));
            }
        } else {
            item.by = Some("changed outside promptctl".into());
        }
    }
    Ok(())
}

/// The cache entry of an active version.
pub fn cache_entry(active: records::ActiveVersion) -> crate::cache::Entry {
    let seconds = active
        .activated_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    crate::cache::Entry {
        name: active.name,
        version: active.version,
        sha256: active.content_sha256,
        content: active.content,
        variables: active.variables,
        contract: active.contract,
        activated_at: bundle::rfc3339(seconds),
        seq: active.seq,
        revision: Some(active.revision),
        canary: active.canary.map(|canary| crate::cache::CanaryEntry {
            version: canary.version,
            sha256: canary.content_sha256,
            content: canary.content,
            variables: canary.variables,
            contract: canary.contract,
            basis_points: canary.basis_points,
        }),
    }
}
