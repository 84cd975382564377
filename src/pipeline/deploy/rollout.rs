//! `rollout`: a canary's share raised or lowered, the canary promoted or aborted, without a bundle
//! (audited, drift-checked by the next publish like a rollback), then the cache and the webhook;
//! and `operate`, the frame it shares with `rollback`.

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
pub type RolledOut = Operated<publish::RolloutDone>;

/// A change committed without a bundle (`rollback`, `rollout`), then the cache and the webhook.
pub struct Operated<T> {
    pub environment: Environment,
    pub done: T,
    pub actor: String,
    pub cache: CacheRefresh,
    pub webhook: Webhook,
}

/// `promptctl rollout`: changes a canary in the store (audited), then refreshes the cache (one
/// notice: every subscribed service reads the entry again) and notifies the webhook.
pub fn rollout(project: &Project, target: &Target, request: &RolloutRequest) -> Result<Rollout> {
    let operated = operate(
        project,
        target,
        &request.reason,
        request.actor.as_deref(),
        "rollout",
        |connection, environment, actor| {
            publish::rollout(
                connection,
                environment,
                &request.name,
                request.action,
                actor,
                &request.reason,
            )
        },
        |done| &done.active,
        |done, environment, actor| {
            serde_json::json!({
                "event": "rollout",
                "environment": environment,
                "name": done.name,
                "stable": done.stable,
                "from": done.from,
                "to": done.to,
                "actor": actor,
                "reason": request.reason,
            })
        },
    )?;
    Ok(match operated {
        Ok(done) => Rollout::Done(done),
        Err(error) => Rollout::Refused(error),
    })
}

/// The frame of a change made without a bundle: the environment resolved, the reason required,
/// the store connected, `change` run (a refusal returned as `Err` inside `Ok`, nothing changed),
/// then the cache refreshed with one notice for the prompt `active` names, and the webhook sent
/// `body` as `event`.
#[allow(clippy::too_many_arguments)]
pub(super) fn operate<T>(
    project: &Project,
    target: &Target,
    reason: &str,
    actor_flag: Option<&str>,
    event: &str,
    change: impl FnOnce(&mut dyn store::Connection, &str, &str) -> Result<T, PublishError>,
    active: impl Fn(&T) -> &records::ActiveVersion,
    body: impl FnOnce(&T, &str, &str) -> serde_json::Value,
) -> Result<Result<Box<Operated<T>>, PublishError>> {
    let environment = resolve(project, target)?;
    if reason.trim().is_empty() {
        anyhow::bail!("`--reason` is empty; say why, for the audit trail");
    }
    let hook = hook(&environment)?;
    let mut connection = connect(&environment)?;
    let since = revision_before(&mut *connection)?;
    let actor = actor(actor_flag, &project.root);
    let done = match change(&mut *connection, &environment.name, &actor) {
        Ok(done) => done,
        Err(PublishError::Store(error)) => return Err(error.into()),
        Err(error) => return Ok(Err(error)),
    };
    let served = active(&done);
    let notice = Notice {
        name: served.name.clone(),
        version: served.version,
        sha256: served.content_sha256.clone(),
        seq: None,
    };
    let cache = refresh_cache(project, &environment, &mut *connection, &[notice], since)?;
    let webhook = notify(hook.as_ref(), event, body(&done, &environment.name, &actor));
    Ok(Ok(Box::new(Operated { environment, done, actor, cache, webhook })))
}
