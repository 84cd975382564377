//! What `promptctl history` reads of the store: the activations (publishes, rollbacks and
//! rollouts) and the audit log, newest first. Re-exported by `records`.

use super::{Connection, StoreError, Value};
use std::time::SystemTime;

/// One activation for `promptctl history`: a publish, a rollback or a rollout change of one prompt.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ActivationEntry {
    pub prompt: String,
    pub version: i64,
    pub previous: Option<i64>,
    pub action: String,
    pub actor: String,
    pub reason: Option<String>,
    pub bundle_seq: Option<i64>,
    pub git_commit: Option<String>,
    #[serde(serialize_with = "serialize_time")]
    pub at: SystemTime,
    /// The canary this activation serves beside `version`, if any: its version and share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<i64>,
    /// The canary's share in basis points (percent × 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_basis_points: Option<i64>,
}

/// One row of the audit log for `promptctl history --audit`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub prompt: Option<String>,
    pub version: Option<i64>,
    pub action: String,
    pub actor: String,
    #[serde(serialize_with = "serialize_time")]
    pub at: SystemTime,
    pub details: serde_json::Value,
}

fn serialize_time<S: serde::Serializer>(
    time: &SystemTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&super::format_time(*time))
}

/// The activations of every prompt, or of `name`, newest first, at most `limit`.
pub fn activations(
    connection: &mut dyn Connection,
    name: Option<&str>,
    limit: i64,
) -> Result<Vec<ActivationEntry>, StoreError> {
    let filter = if name.is_some() { " WHERE t.name = $2" } else { "" };
    let sql = format!(
        "SELECT t.name, v.version_number, p.version_number, a.action, a.actor, a.reason, a.bundle_seq, a.git_commit, a.at, c.version_number, a.canary_basis_points FROM prompt_activations a JOIN prompt_templates t ON t.id = a.template_id JOIN prompt_versions v ON v.id = a.version_id LEFT JOIN prompt_versions p ON p.id = a.previous_version_id LEFT JOIN prompt_versions c ON c.id = a.canary_version_id{filter} ORDER BY a.id DESC LIMIT $1"
    );
    let mut parameters = vec![Value::from(limit)];
    if let Some(name) = name {
        parameters.push(name.into());
    }
    connection
        .query(&sql, &parameters)?
        .iter()
        .map(|row| {
            Ok(ActivationEntry {
                prompt: row.text(0)?,
                version: row.int(1)?,
                previous: row.opt_int(2)?,
                action: row.text(3)?,
                actor: row.text(4)?,
                reason: row.opt_text(5)?,
                bundle_seq: row.opt_int(6)?,
                git_commit: row.opt_text(7)?,
                at: row.time(8)?,
                canary: row.opt_int(9)?,
                canary_basis_points: row.opt_int(10)?,
            })
        })
        .collect()
}

/// The audit log of every prompt (and of the store: deployments), or of `name`, newest first,
/// at most `limit`.
pub fn audit_log(
    connection: &mut dyn Connection,
    name: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let filter = if name.is_some() { " WHERE t.name = $2" } else { "" };
    let sql = format!(
        "SELECT t.name, v.version_number, l.action, l.changed_by, l.changed_at, l.details FROM prompt_audit_logs l LEFT JOIN prompt_templates t ON t.id = l.template_id LEFT JOIN prompt_versions v ON v.id = l.version_id{filter} ORDER BY l.id DESC LIMIT $1"
    );
    let mut parameters = vec![Value::from(limit)];
    if let Some(name) = name {
        parameters.push(name.into());
    }
    connection
        .query(&sql, &parameters)?
        .iter()
        .map(|row| {
            Ok(AuditEntry {
                prompt: row.opt_text(0)?,
                version: row.opt_int(1)?,
                action: row.text(2)?,
                actor: row.text(3)?,
                at: row.time(4)?,
                details: row.json(5)?,
            })
        })
        .collect()
}
