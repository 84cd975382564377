//! `history`: what the store recorded of an environment, newest first: the activations (publish
//! and rollback: who, when, from → to, why, the bundle seq and commit), and with `audit` the
//! audit log (every change of the store, with its details). Read-only: a store that does not exist
//! is not created.

use super::*;
use crate::store::records::{ActivationEntry, AuditEntry};

/// What `history` read.
pub struct History {
    pub environment: Environment,
    pub activations: Vec<ActivationEntry>,
    /// Empty unless asked for.
    pub audit: Vec<AuditEntry>,
    /// The store holds no schema yet (never published): everything above is empty.
    pub empty_store: bool,
}

pub fn history(
    project: &Project,
    target: &Target,
    name: Option<&str>,
    limit: u32,
    audit: bool,
) -> Result<History> {
    let environment = resolve(project, target)?;
    let missing =
        matches!(&environment.location, store::Location::Sqlite { path } if !path.exists());
    let empty = |environment| History {
        environment,
        activations: Vec::new(),
        audit: Vec::new(),
        empty_store: true,
    };
    if missing {
        return Ok(empty(environment));
    }
    let mut connection = connect(&environment)?;
    if store::schema::current(&mut *connection)? == 0 {
        return Ok(empty(environment));
    }
    if let Some(name) = name {
        if !records::has_template(&mut *connection, name)? {
            anyhow::bail!(
                "the store of `{}` has never held a prompt `{name}`; `promptctl status --env {}` \
                 lists what it holds",
                environment.name,
                environment.name
            );
        }
    }
    let limit = i64::from(limit.max(1));
    let activations = records::activations(&mut *connection, name, limit)?;
    let audit = if audit { records::audit_log(&mut *connection, name, limit)? } else { Vec::new() };
    Ok(History { environment, activations, audit, empty_store: false })
}
