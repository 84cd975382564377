//! `rollout`: a canary's share raised or lowered, the canary promoted or aborted, without a bundle
//! (audited, drift-checked by the next publish like a rollback), then the cache and the webhook.

use super::*;

/// What `rollout` is asked for.
#[derive(Debug, Clone)]
pub struct RolloutRequest {
    pub name: String,
    pub action: publish::RolloutAction,
    pub reason: String,
    pub actor: Option<String>,
}

/// What `rollout` did.
pub enum Rollout {
    /// The store refused it (nothing changed).
    Refused(PublishError),
    Done(Box<RolledOut>),
}

/// A committed rollout change, then the cache and the webhook.
pub struct RolledOut {
    pub environment: Environment,
    pub done: publish::RolloutDone,
    pub actor: String,
    pub cache: CacheRefresh,
    pub webhook: Webhook,
}

/// `promptctl rollout`: changes a canary in the store (audited), then refreshes the cache (one
/// notice: every subscribed service reads the entry again) and notifies the webhook.
pub fn rollout(project: &Project, target: &Target, request: &RolloutRequest) -> Result<Rollout> {
    let environment = resolve(project, target)?;
    if request.reason.trim().is_empty() {
        anyhow::bail!("`--reason` is empty; say why, for the audit trail");
    }
    let hook = hook(&environment)?;
    let mut connection = connect(&environment)?;
    let since = revision_before(&mut *connection)?;
    let actor = actor(request.actor.as_deref(), &project.root);
    let done = match publish::rollout(
        &mut *connection,
        &environment.name,
        &request.name,
        request.action,
        &actor,
        &request.reason,
    ) {
        Ok(done) => done,
        Err(PublishError::Store(error)) => return Err(error.into()),
        Err(error) => return Ok(Rollout::Refused(error)),
    };
    let notice = Notice {
        name: done.active.name.clone(),
        version: done.active.version,
        sha256: done.active.content_sha256.clone(),
        seq: None,
    };
    let cache = refresh_cache(project, &environment, &mut *connection, &[notice], since)?;
    let body = serde_json::json!({
        "event": "rollout",
        "environment": environment.name,
        "name": done.name,
        "stable": done.stable,
        "from": done.from,
        "to": done.to,
        "actor": actor,
        "reason": request.reason,
    });
    let webhook = notify(hook.as_ref(), "rollout", body);
    Ok(Rollout::Done(Box::new(RolledOut { environment, done, actor, cache, webhook })))
}
