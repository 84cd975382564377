//! The queries: rows in, domain records out. Everything that knows a table's columns is here;
//! `publish` decides what to write, this module knows how.

use super::{Connection, StoreError, Value};
use std::collections::BTreeMap;
use std::time::SystemTime;
use uuid::Uuid;

/// The key of `promptctl_meta` that names the environment a store belongs to.
pub use super::history::{activations, audit_log, ActivationEntry, AuditEntry};

const ENVIRONMENT_KEY: &str = "environment";

pub fn environment(connection: &mut dyn Connection) -> Result<Option<String>, StoreError> {
    let rows = connection
        .query("SELECT value FROM promptctl_meta WHERE key = $1", &[ENVIRONMENT_KEY.into()])?;
    rows.first().map(|row| row.text(0)).transpose()
}

pub fn claim_environment(
    connection: &mut dyn Connection,
    environment: &str,
) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO promptctl_meta (key, value) VALUES ($1, $2)",
        &[ENVIRONMENT_KEY.into(), environment.into()],
    )?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub seq: i64,
    pub bundle_sha256: String,
    pub git_commit: String,
    pub key_id: String,
    pub actor: String,
    pub published_at: SystemTime,
}

/// The deployment with the highest seq (the latest of those on a tie).
pub fn highest_deployment(
    connection: &mut dyn Connection,
    environment: &str,
) -> Result<Option<Deployment>, StoreError> {
    let rows = connection.query(
        "SELECT seq, bundle_sha256, git_commit, key_id, actor, published_at FROM prompt_deployments WHERE environment = $1 ORDER BY seq DESC, id DESC LIMIT 1",
        &[environment.into()],
    )?;
    rows.first()
        .map(|row| {
            Ok(Deployment {
                seq: row.int(0)?,
                bundle_sha256: row.text(1)?,
                git_commit: row.text(2)?,
                key_id: row.text(3)?,
                actor: row.text(4)?,
                published_at: row.time(5)?,
            })
        })
        .transpose()
}

pub struct NewDeployment<'a> {
    pub seq: i64,
    pub environment: &'a str,
    pub bundle_sha256: &'a str,
    pub git_commit: &'a str,
    pub key_id: &'a str,
    pub actor: &'a str,
    pub at: SystemTime,
    pub downgrade: bool,
    pub forced: bool,
    pub dirty: bool,
    pub development_signed: bool,
}

pub fn insert_deployment(
    connection: &mut dyn Connection,
    deployment: &NewDeployment<'_>,
) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO prompt_deployments (seq, environment, bundle_sha256, git_commit, key_id, actor, published_at, downgrade, forced, dirty, development_signed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            Value::Int(deployment.seq),
            deployment.environment.into(),
            deployment.bundle_sha256.into(),
            deployment.git_commit.into(),
            deployment.key_id.into(),
            deployment.actor.into(),
            Value::Time(deployment.at),
            deployment.downgrade.into(),
            deployment.forced.into(),
            deployment.dirty.into(),
            deployment.development_signed.into(),
        ],
    )?;
    Ok(())
}

/// A stored version, without its text.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVersion {
    pub id: Uuid,
    pub number: i64,
    pub source_sha256: String,
    pub content_sha256: String,
    pub is_active: bool,
}

/// A stored template with its versions (sorted by number).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTemplate {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub versions: Vec<StoredVersion>,
    /// The version the latest `publish` activation set (what the deployments expect).
    pub published: Option<Uuid>,
    /// The canary the latest activation set (what is served now): version id, basis points.
    pub canary: Option<(Uuid, i64)>,
    /// The canary the latest `publish` activation set.
    pub published_canary: Option<(Uuid, i64)>,
}

impl StoredTemplate {
    pub fn active(&self) -> Option<&StoredVersion> {
        self.versions.iter().find(|version| version.is_active)
    }

    pub fn version(&self, number: i64) -> Option<&StoredVersion> {
        self.versions.iter().find(|version| version.number == number)
    }

    pub fn by_id(&self, id: Uuid) -> Option<&StoredVersion> {
        self.versions.iter().find(|version| version.id == id)
    }
}

/// Every template, keyed by name: three queries whatever the size of the store.
pub fn templates(
    connection: &mut dyn Connection,
) -> Result<BTreeMap<String, StoredTemplate>, StoreError> {
    load_templates(connection, None)
}

/// The templates with these ids, keyed by name (three queries per id in SQLite, three in all in
/// PostgreSQL).
pub fn templates_by_id(
    connection: &mut dyn Connection,
    ids: &[Uuid],
) -> Result<BTreeMap<String, StoredTemplate>, StoreError> {
    load_templates(connection, Some(ids))
}

fn load_templates(
    connection: &mut dyn Connection,
    ids: Option<&[Uuid]>,
) -> Result<BTreeMap<String, StoredTemplate>, StoreError> {
    let mut query = |sql: &str, filter: &str| match ids {
        None => connection.query(&sql.replace("{filter}", ""), &[]),
        Some(ids) => connection.query_ids(&sql.replace("{filter}", filter), ids),
    };
    let mut by_id = BTreeMap::new();
    for row in
        query("SELECT id, name, description FROM prompt_templates{filter}", " WHERE id {in_ids}")?
    {
        let id = row.uuid(0)?;
        by_id.insert(
            id,
            StoredTemplate {
                id,
                name: row.text(1)?,
                description: row.text(2)?,
                versions: Vec::new(),
                published: None,
                canary: None,
                published_canary: None,
            },
        );
    }
    for row in query(
        "SELECT template_id, id, version_number, source_sha256, content_sha256, is_active FROM prompt_versions{filter} ORDER BY template_id, version_number",
        " WHERE template_id {in_ids}",
    )? {
        if let Some(template) = by_id.get_mut(&row.uuid(0)?) {
            template.versions.push(StoredVersion {
                id: row.uuid(1)?,
                number: row.int(2)?,
                source_sha256: row.text(3)?,
                content_sha256: row.text(4)?,
                is_active: row.bool(5)?,
            });
        }
    }
    for row in query(
        "SELECT template_id, version_id, canary_version_id, canary_basis_points FROM prompt_activations WHERE id IN (SELECT MAX(id) FROM prompt_activations WHERE action = 'publish'{filter} GROUP BY template_id)",
        " AND template_id {in_ids}",
    )? {
        if let Some(template) = by_id.get_mut(&row.uuid(0)?) {
            template.published = Some(row.uuid(1)?);
            template.published_canary = canary_of(&row, 2)?;
        }
    }
    for row in query(
        "SELECT template_id, canary_version_id, canary_basis_points FROM prompt_activations WHERE id IN (SELECT MAX(id) FROM prompt_activations{filter} GROUP BY template_id) AND canary_version_id IS NOT NULL",
        " WHERE template_id {in_ids}",
    )? {
        if let Some(template) = by_id.get_mut(&row.uuid(0)?) {
            template.canary = canary_of(&row, 1)?;
        }
    }
    // SQLite answers per id: keep each template's versions in order.
    for template in by_id.values_mut() {
        template.versions.sort_by_key(|version| version.number);
    }
    Ok(by_id.into_values().map(|template| (template.name.clone(), template)).collect())
}

/// The canary (version id, basis points) in columns `at` and `at + 1` of an activation row.
fn canary_of(row: &super::Row, at: usize) -> Result<Option<(Uuid, i64)>, StoreError> {
    Ok(match (row.opt_uuid(at)?, row.opt_int(at + 1)?) {
        (Some(version), Some(basis_points)) => Some((version, basis_points)),
        _ => None,
    })
}

/// A template, and the digest of the bundle JSON it was last published from, when nothing has
/// changed it since (none: not recorded, e.g. left out by `--only`, changed by a rollback or by
/// hand, or stored before migration 2).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedState {
    pub id: Uuid,
    pub name: String,
    pub digest: Option<String>,
}

/// Every template's published state, in one query.
pub fn published_states(
    connection: &mut dyn Connection,
) -> Result<Vec<PublishedState>, StoreError> {
    connection
        .query(
            "SELECT t.id, t.name, p.digest FROM prompt_templates t LEFT JOIN promptctl_published p ON p.template_id = t.id",
            &[],
        )?
        .iter()
        .map(|row| Ok(PublishedState { id: row.uuid(0)?, name: row.text(1)?, digest: row.opt_text(2)? }))
        .collect()
}

/// Replaces the published digests of the `cleared` templates by `recorded` (template, digest); a
/// cleared template without a new digest is looked at in full by the next publish.
pub fn record_published(
    connection: &mut dyn Connection,
    cleared: &[Uuid],
    recorded: &[(Uuid, String)],
) -> Result<(), StoreError> {
    connection
        .execute_ids("DELETE FROM promptctl_published WHERE template_id {in_ids}", cleared)?;
    if recorded.is_empty() {
        return Ok(());
    }
    let rows: Vec<Vec<Value>> = recorded
        .iter()
        .map(|(template, digest)| vec![(*template).into(), digest.as_str().into()])
        .collect();
    connection.insert_rows("promptctl_published", &["template_id", "digest"], &rows)?;
    Ok(())
}

pub fn update_description(
    connection: &mut dyn Connection,
    template: Uuid,
    description: &str,
    at: SystemTime,
) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE prompt_templates SET description = $2, updated_at = $3 WHERE id = $1",
        &[template.into(), description.into(), Value::Time(at)],
    )?;
    Ok(())
}

/// Inserts templates `(name, description)` at once; returns their ids, in order.
pub fn insert_templates(
    connection: &mut dyn Connection,
    templates: &[(&str, &str)],
    at: SystemTime,
) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<Uuid> = templates.iter().map(|_| Uuid::new_v4()).collect();
    let rows: Vec<Vec<Value>> = templates
        .iter()
        .zip(&ids)
        .map(|((name, description), id)| {
            vec![
                (*id).into(),
                (*name).into(),
                (*description).into(),
                Value::Time(at),
                Value::Time(at),
            ]
        })
        .collect();
    connection.insert_rows(
        "prompt_templates",
        &["id", "name", "description", "created_at", "updated_at"],
        &rows,
    )?;
    Ok(ids)
}

pub struct NewVersion<'a> {
    pub template: Uuid,
    pub number: i64,
    pub content: &'a str,
    pub content_sha256: &'a str,
    pub source_sha256: &'a str,
    pub front_matter: &'a str,
    pub variables: &'a serde_json::Value,
    pub model: Option<&'a serde_json::Value>,
    pub contract: &'a str,
    pub git_commit: &'a str,
    pub at: SystemTime,
    /// Inserted as its template's active version (for a template that has none yet).
    pub is_active: bool,
}

/// Inserts versions at once; returns their ids, in order.
pub fn insert_versions(
    connection: &mut dyn Connection,
    versions: &[NewVersion<'_>],
) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<Uuid> = versions.iter().map(|_| Uuid::new_v4()).collect();
    let rows: Vec<Vec<Value>> = versions
        .iter()
        .zip(&ids)
        .map(|(version, id)| {
            vec![
                (*id).into(),
                version.template.into(),
                Value::Int(version.number),
                version.content.into(),
                version.content_sha256.into(),
                version.source_sha256.into(),
                version.front_matter.into(),
                Value::Json(version.variables.clone()),
                version.model.cloned().map_or(Value::Null, Value::Json),
                version.contract.into(),
                version.is_active.into(),
                version.git_commit.into(),
                Value::Time(version.at),
            ]
        })
        .collect();
    connection.insert_rows(
        "prompt_versions",
        &[
            "id",
            "template_id",
            "version_number",
            "content",
            "content_sha256",
            "source_sha256",
            "front_matter",
            "variables",
            "model",
            "contract_fingerprint",
            "is_active",
            "git_commit",
            "created_at",
        ],
        &rows,
    )?;
    Ok(ids)
}

/// Switches many templates' active versions at once: `deactivate` first, then `activate`, so
/// that the one-active-version index holds after each statement.
pub fn switch_active(
    connection: &mut dyn Connection,
    deactivate: &[Uuid],
    activate: &[Uuid],
) -> Result<(), StoreError> {
    connection.update_ids("prompt_versions", "is_active", false.into(), deactivate)?;
    connection.update_ids("prompt_versions", "is_active", true.into(), activate)?;
    Ok(())
}

/// Makes `version` the template's one active version (clearing the old one first, so that the
/// partial unique index holds at every statement).
pub fn set_active(
    connection: &mut dyn Connection,
    template: Uuid,
    version: Uuid,
) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE prompt_versions SET is_active = $2 WHERE template_id = $1 AND is_active = $3",
        &[template.into(), false.into(), true.into()],
    )?;
    connection.execute(
        "UPDATE prompt_versions SET is_active = $2 WHERE id = $1",
        &[version.into(), true.into()],
    )?;
    Ok(())
}

pub struct NewActivation<'a> {
    pub template: Uuid,
    pub version: Uuid,
    pub previous: Option<Uuid>,
    /// `publish`, `rollback`, or one of `promptctl rollout`'s: `rollout`, `promote`, `abort`.
    pub action: &'a str,
    pub actor: &'a str,
    pub git_commit: Option<&'a str>,
    pub bundle_seq: Option<i64>,
    pub reason: Option<&'a str>,
    pub at: SystemTime,
    /// The canary served beside `version` from now on: version id and basis points.
    pub canary: Option<(Uuid, i64)>,
}

pub fn insert_activation(
    connection: &mut dyn Connection,
    activation: &NewActivation<'_>,
) -> Result<(), StoreError> {
    insert_activations(connection, std::slice::from_ref(activation))
}

/// Inserts activations at once.
pub fn insert_activations(
    connection: &mut dyn Connection,
    activations: &[NewActivation<'_>],
) -> Result<(), StoreError> {
    let rows: Vec<Vec<Value>> = activations
        .iter()
        .map(|activation| {
            vec![
                activation.template.into(),
                activation.version.into(),
                activation.previous.into(),
                activation.action.into(),
                activation.actor.into(),
                activation.git_commit.map(str::to_string).into(),
                activation.bundle_seq.map_or(Value::Null, Value::Int),
                activation.reason.map(str::to_string).into(),
                Value::Time(activation.at),
                activation.canary.map(|(version, _)| version).into(),
                activation.canary.map_or(Value::Null, |(_, basis_points)| Value::Int(basis_points)),
            ]
        })
        .collect();
    connection.insert_rows(
        "prompt_activations",
        &[
            "template_id",
            "version_id",
            "previous_version_id",
            "action",
            "actor",
            "git_commit",
            "bundle_seq",
            "reason",
            "at",
            "canary_version_id",
            "canary_basis_points",
        ],
        &rows,
    )?;
    Ok(())
}

/// One audit row, for `insert_audits`.
pub struct NewAudit<'a> {
    pub template: Option<Uuid>,
    pub version: Option<Uuid>,
    pub action: &'a str,
    pub details: serde_json::Value,
}

/// Inserts audit rows at once, all by `changed_by` at `at`.
pub fn insert_audits(
    connection: &mut dyn Connection,
    audits: Vec<NewAudit<'_>>,
    changed_by: &str,
    at: SystemTime,
) -> Result<(), StoreError> {
    let rows: Vec<Vec<Value>> = audits
        .into_iter()
        .map(|audit| {
            vec![
                audit.template.into(),
                audit.version.into(),
                audit.action.into(),
                changed_by.into(),
                Value::Time(at),
                Value::Json(audit.details),
            ]
        })
        .collect();
    connection.insert_rows(
        "prompt_audit_logs",
        &["template_id", "version_id", "action", "changed_by", "changed_at", "details"],
        &rows,
    )?;
    Ok(())
}

pub fn insert_audit(
    connection: &mut dyn Connection,
    template: Option<Uuid>,
    version: Option<Uuid>,
    action: &str,
    changed_by: &str,
    at: SystemTime,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    insert_audits(connection, vec![NewAudit { template, version, action, details }], changed_by, at)
}

/// An active version with everything a cache entry or a client needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveVersion {
    pub name: String,
    pub version: i64,
    pub content: String,
    pub content_sha256: String,
    pub variables: serde_json::Value,
    pub contract: String,
    /// When the latest activation of this template happened (its creation time if none).
    pub activated_at: SystemTime,
    /// The bundle seq of that activation (none for a rollback).
    pub seq: Option<i64>,
    /// The id of that activation (0 if none): it only grows, per template, with every publish or
    /// rollback that changes what is served, so of two readings the one with the higher revision
    /// is the newer (`cache::Entry::revision`).
    pub revision: i64,
    /// The canary that activation serves beside this version.
    pub canary: Option<ActiveCanary>,
}

/// A canary served beside an active version: its text and its share.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveCanary {
    pub version: i64,
    pub content: String,
    pub content_sha256: String,
    pub variables: serde_json::Value,
    pub contract: String,
    /// Percent × 100 (0..=10000).
    pub basis_points: i64,
}

const ACTIVE_SELECT: &str = "SELECT t.name, v.version_number, v.content, v.content_sha256, v.variables, v.contract_fingerprint, COALESCE(a.at, v.created_at), a.bundle_seq, COALESCE(a.id, 0), c.version_number, c.content, c.content_sha256, c.variables, c.contract_fingerprint, a.canary_basis_points FROM prompt_versions v JOIN prompt_templates t ON t.id = v.template_id LEFT JOIN prompt_activations a ON a.id = (SELECT MAX(b.id) FROM prompt_activations b WHERE b.template_id = v.template_id) LEFT JOIN prompt_versions c ON c.id = a.canary_version_id WHERE v.is_active = $1";

fn active_from(row: &super::Row) -> Result<ActiveVersion, StoreError> {
    Ok(ActiveVersion {
        name: row.text(0)?,
        version: row.int(1)?,
        content: row.text(2)?,
        content_sha256: row.text(3)?,
        variables: row.json(4)?,
        contract: row.text(5)?,
        activated_at: row.time(6)?,
        seq: row.opt_int(7)?,
        revision: row.int(8)?,
        canary: match (row.opt_int(9)?, row.opt_int(14)?) {
            (Some(version), Some(basis_points)) => Some(ActiveCanary {
                version,
                content: row.text(10)?,
                content_sha256: row.text(11)?,
                variables: row.json(12)?,
                contract: row.text(13)?,
                basis_points,
            }),
            _ => None,
        },
    })
}

/// Every active version, sorted by name.
pub fn active_versions(connection: &mut dyn Connection) -> Result<Vec<ActiveVersion>, StoreError> {
    let sql = format!("{ACTIVE_SELECT} ORDER BY t.name");
    connection.query(&sql, &[true.into()])?.iter().map(active_from).collect()
}

/// The active version of one template.
pub fn active_version(
    connection: &mut dyn Connection,
    name: &str,
) -> Result<Option<ActiveVersion>, StoreError> {
    let sql = format!("{ACTIVE_SELECT} AND t.name = $2");
    connection.query(&sql, &[true.into(), name.into()])?.first().map(active_from).transpose()
}

/// A stored version with its text, whether active or not (`serve`'s versions endpoint).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredText {
    pub name: String,
    pub version: i64,
    pub content: String,
    pub content_sha256: String,
    pub variables: serde_json::Value,
    pub contract: String,
    pub model: Option<serde_json::Value>,
    pub is_active: bool,
}

/// Version `number` of the template `name`, if the store holds it.
pub fn stored_text(
    connection: &mut dyn Connection,
    name: &str,
    number: i64,
) -> Result<Option<StoredText>, StoreError> {
    let rows = connection.query(
        "SELECT t.name, v.version_number, v.content, v.content_sha256, v.variables, v.contract_fingerprint, v.model, v.is_active FROM prompt_versions v JOIN prompt_templates t ON t.id = v.template_id WHERE t.name = $1 AND v.version_number = $2",
        &[name.into(), number.into()],
    )?;
    let Some(row) = rows.first() else { return Ok(None) };
    let model = Some(row.json(6)?).filter(|model| !model.is_null());
    Ok(Some(StoredText {
        name: row.text(0)?,
        version: row.int(1)?,
        content: row.text(2)?,
        content_sha256: row.text(3)?,
        variables: row.json(4)?,
        contract: row.text(5)?,
        model,
        is_active: row.bool(7)?,
    }))
}

/// One row of a template's activation history, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Activation {
    pub version: i64,
    pub previous: Option<i64>,
    pub action: String,
    pub actor: String,
    pub reason: Option<String>,
    pub bundle_seq: Option<i64>,
    pub at: SystemTime,
}

pub fn history(
    connection: &mut dyn Connection,
    template: Uuid,
) -> Result<Vec<Activation>, StoreError> {
    connection
        .query(
            "SELECT v.version_number, p.version_number, a.action, a.actor, a.reason, a.bundle_seq, a.at FROM prompt_activations a JOIN prompt_versions v ON v.id = a.version_id LEFT JOIN prompt_versions p ON p.id = a.previous_version_id WHERE a.template_id = $1 ORDER BY a.id DESC",
            &[template.into()],
        )?
        .iter()
        .map(|row| {
            Ok(Activation {
                version: row.int(0)?,
                previous: row.opt_int(1)?,
                action: row.text(2)?,
                actor: row.text(3)?,
                reason: row.opt_text(4)?,
                bundle_seq: row.opt_int(5)?,
                at: row.time(6)?,
            })
        })
        .collect()
}

/// The store's activation revision: the id of its latest activation row (0 for none). Every
/// change of what is served (publish or rollback) raises it, so a cache stamped with it is known
/// to hold the store's state of then.
pub fn revision(connection: &mut dyn Connection) -> Result<i64, StoreError> {
    let rows = connection.query("SELECT COALESCE(MAX(id), 0) FROM prompt_activations", &[])?;
    rows.first().map_or(Ok(0), |row| row.int(0))
}

/// The prompts whose active version is not the one the latest publish set.
pub fn drifted(connection: &mut dyn Connection) -> Result<Vec<String>, StoreError> {
    Ok(templates(connection)?
        .into_values()
        .filter(|template| template.published != template.active().map(|v| v.id))
        .map(|template| template.name)
        .collect())
}

/// The names of the templates that were ever activated, i.e. that have an active version (a
/// template is never left without one, except by hand in SQL). Read from the narrow activations
/// table, not from the versions and their text.
pub fn activated_names(connection: &mut dyn Connection) -> Result<Vec<String>, StoreError> {
    connection
        .query(
            "SELECT t.name FROM prompt_templates t WHERE EXISTS (SELECT 1 FROM prompt_activations a WHERE a.template_id = t.id)",
            &[],
        )?
        .iter()
        .map(|row| row.text(0))
        .collect()
}

/// Whether the store knows a prompt of this name.
pub fn has_template(connection: &mut dyn Connection, name: &str) -> Result<bool, StoreError> {
    let rows = connection
        .query("SELECT COUNT(*) FROM prompt_templates WHERE name = $1", &[name.into()])?;
    Ok(rows.first().map(|row| row.int(0)).transpose()?.unwrap_or(0) > 0)
}
