//! The deploy stage: `publish`, `rollback`, `rollout`, `warm`, `db migrate` and `status`. Each resolves an
//! environment's store, cache and webhook from `promptctl.toml` (and the overrides), runs its
//! store change (`publish`, one locked transaction), then brings the cache up to date and
//! notifies the webhook after the commit, and returns what happened at each step
//! (`Deployed { plan, cache, webhook }`); the CLI prints it and maps it to exit codes.

use crate::cache::{self, Notice};
use crate::config::Project;
use crate::publish::{self, PublishError};
use crate::store::{self, records, Location};
use anyhow::Result;
use std::path::PathBuf;

mod history;
mod refresh;
mod rollout;
mod status;

pub use history::*;
pub use refresh::*;
pub use rollout::*;
pub use status::*;

/// The environment variable that overrides every environment's store URL.
pub const DATABASE_VARIABLE: &str = "PROMPTCTL_DATABASE_URL";
/// The environment variable that overrides every environment's Redis URL.
pub const REDIS_VARIABLE: &str = "PROMPTCTL_REDIS_URL";
/// Where the embedded stores live, relative to the project root (git-ignored).
const EMBEDDED_DIR: &str = ".promptctl/store";
/// `publish` follows with the status table up to this many prompts.
pub const STATUS_TABLE_LIMIT: usize = 100;

/// Which environment, and the overrides of its store and cache (`--db`, `--redis`,
/// `--no-cache`, and their environment variables).
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub environment: String,
    pub database: Option<String>,
    pub redis: Option<String>,
    /// How Redis's TLS certificate is checked (`--redis-ca`, `--redis-insecure`).
    pub redis_tls: crate::redis_target::TlsOptions,
    pub no_cache: bool,
}

/// One environment, resolved.
#[derive(Debug)]
pub struct Environment {
    pub name: String,
    pub location: Location,
    /// The location as shown: without credentials, and relative to the project when inside it.
    pub shown: String,
    pub redis: Option<String>,
    pub redis_tls: crate::redis_target::TlsOptions,
    pub protected: bool,
    webhook: Option<crate::config::WebhookConfig>,
}

/// `env:VAR` reads the variable; anything else is the value itself.
fn expand(value: &str, what: &str) -> Result<String> {
    match value.strip_prefix("env:") {
        Some(variable) => std::env::var(variable).map_err(|_| {
            anyhow::anyhow!(
                "{what} is `env:{variable}` but the environment variable `{variable}` is not set"
            )
        }),
        None => Ok(value.to_string()),
    }
}

/// The environment `target` names, from promptctl.toml and the overrides.
pub fn resolve(project: &Project, target: &Target) -> Result<Environment> {
    let Some(config) = project.config.environments.get(&target.environment) else {
        let known: Vec<&str> = project.config.environments.keys().map(String::as_str).collect();
        let hint = crate::diagnostic::did_you_mean(&target.environment, known.iter().copied())
            .map(|best| format!("did you mean `{best}`? "))
            .unwrap_or_default();
        anyhow::bail!(
            "unknown environment `{}`; {hint}promptctl.toml declares: {}",
            target.environment,
            known.join(", ")
        );
    };
    let what = format!("`[environments.{}] database`", target.environment);
    // An empty override (an unset CI secret) is no override.
    let database = target.database.as_ref().filter(|url| !url.is_empty());
    let redis_override = target.redis.as_ref().filter(|url| !url.is_empty());
    let url = match (database, &config.database) {
        (Some(url), _) => url.clone(),
        (None, Some(url)) => expand(url, &what)?,
        (None, None) => format!("sqlite:{EMBEDDED_DIR}/{}.sqlite3", target.environment),
    };
    let location = Location::parse(&url, &project.root)?;
    let redis = if target.no_cache {
        None
    } else {
        match (redis_override, &config.redis) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(url)) => {
                Some(expand(url, &format!("`[environments.{}] redis`", target.environment))?)
            }
            (None, None) => None,
        }
    };
    if let Location::Sqlite { path } = &location {
        if path.starts_with(project.root.join(EMBEDDED_DIR)) {
            let folder = project.root.join(EMBEDDED_DIR);
            let _ = std::fs::create_dir_all(&folder);
            let _ = std::fs::write(folder.join(".gitignore"), "*\n");
        }
    }
    let shown = match &location {
        Location::Sqlite { path } => match path.strip_prefix(&project.root) {
            Ok(relative) => format!("sqlite:{}", relative.display()),
            Err(_) => location.to_string(),
        },
        Location::Postgres { .. } => location.to_string(),
    };
    Ok(Environment {
        name: target.environment.clone(),
        location,
        shown,
        redis,
        redis_tls: target.redis_tls.clone(),
        protected: config.is_protected(&target.environment),
        webhook: config.webhook.clone(),
    })
}

/// Who acts, for the audit trail, never "unknown": the flag, else `PROMPTCTL_ACTOR`,
/// `GITHUB_ACTOR`, git's `user.email` or `user.name` (of the project's repository, or the global
/// configuration), the OS user (`USER`, `LOGNAME`, `USERNAME`), and last the user id.
pub(crate) fn actor(flag: Option<&str>, root: &std::path::Path) -> String {
    if let Some(actor) = flag.map(str::trim).filter(|actor| !actor.is_empty()) {
        return actor.to_string();
    }
    let variable = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    if let Some(actor) = variable("PROMPTCTL_ACTOR").or_else(|| variable("GITHUB_ACTOR")) {
        return actor;
    }
    if let Some(identity) =
        crate::git::Repo::discover(root).ok().and_then(|repo| repo.user_identity())
    {
        return identity;
    }
    if let Some(user) = ["USER", "LOGNAME", "USERNAME"].iter().find_map(|name| variable(name)) {
        return user;
    }
    format!("uid {}", current_uid())
}

/// The process's user id (`/proc/self` belongs to it).
fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|metadata| metadata.uid()).unwrap_or(u32::MAX)
}

fn connect(environment: &Environment) -> Result<Box<dyn store::Connection>> {
    Ok(store::open(&environment.location)?)
}

/// The store revision before this command's changes (`None`: a store without a schema yet).
fn revision_before(connection: &mut dyn store::Connection) -> Result<Option<i64>> {
    Ok(match store::schema::current(connection)? {
        0 => None,
        _ => Some(records::revision(connection)?),
    })
}

fn connect_cache(
    project: &Project,
    environment: &Environment,
    url: &str,
) -> Result<cache::Cache, cache::CacheError> {
    let layout = cache::Layout { prefix: project.config.cache.key_prefix.clone() };
    let ttl = project.config.cache.ttl_seconds;
    cache::Cache::connect_with(url, &environment.redis_tls, layout, ttl)
}

/// The webhook's URL and secret, resolved before anything is published so that a missing secret
/// refuses the publish instead of skipping the notification.
struct Hook {
    url: String,
    secret: Option<String>,
}

fn hook(environment: &Environment) -> Result<Option<Hook>> {
    let Some(webhook) = &environment.webhook else { return Ok(None) };
    let url = expand(&webhook.url, &format!("`[environments.{}.webhook] url`", environment.name))?;
    let secret = match &webhook.secret_env {
        Some(variable) => Some(std::env::var(variable).map_err(|_| {
            crate::webhook::WebhookError::MissingSecret { variable: variable.clone() }
        })?),
        None => None,
    };
    Ok(Some(Hook { url, secret }))
}

/// What became of the deploy notification.
#[derive(Debug)]
pub enum Webhook {
    /// The environment has no webhook, or nothing was committed to notify about.
    None,
    /// Delivered; the URL as shown (its path and query hidden).
    Notified { url: String },
    /// Not delivered after the retries (the store and cache are updated).
    Failed { error: String },
}

fn notify(hook: Option<&Hook>, event: &str, body: serde_json::Value) -> Webhook {
    let Some(hook) = hook else { return Webhook::None };
    match crate::webhook::send(
        &hook.url,
        event,
        &body,
        hook.secret.as_deref().map(str::as_bytes),
        &crate::webhook::Delivery::default(),
    ) {
        Ok(_) => Webhook::Notified { url: crate::webhook::redact_url(&hook.url) },
        Err(error) => Webhook::Failed { error: error.to_string() },
    }
}

/// What `publish` is asked for.
#[derive(Debug, Clone, Default)]
pub struct PublishRequest {
    /// The bundle file or folder (default: `pipeline::build::DEFAULT_OUT`, where `build` writes).
    pub bundle: Option<PathBuf>,
    pub pubkeys: Vec<PathBuf>,
    pub plan_only: bool,
    pub only: Vec<String>,
    pub force: bool,
    pub allow_downgrade: bool,
    pub actor: Option<String>,
    /// Read the status table after the publish (up to `STATUS_TABLE_LIMIT` prompts).
    pub status: bool,
}

/// What `publish` did.
pub enum Publish {
    /// The store refused the publish (nothing changed); a `PublishError::Drifted` carries what
    /// the store knows of each drift.
    Refused {
        environment: Environment,
        error: PublishError,
    },
    /// `--plan`: what would change; `drift` is the refusal the publish would meet, if any.
    Planned {
        environment: Environment,
        bundle_path: PathBuf,
        plan: publish::Plan,
        drift: Option<PublishError>,
    },
    Deployed(Deployed),
}

/// A publish that ran: the plan (committed, or an unchanged re-publish), then the cache and the
/// webhook.
pub struct Deployed {
    pub environment: Environment,
    pub bundle_path: PathBuf,
    pub plan: publish::Plan,
    pub committed: bool,
    pub cache: CacheRefresh,
    pub webhook: Webhook,
    /// The bundle's prompts.
    pub prompts: usize,
    /// The status table, when asked for and the bundle has at most `STATUS_TABLE_LIMIT` prompts.
    pub status: Option<Status>,
}

/// `promptctl publish`: verifies the bundle, plans and applies it in one locked transaction, then
/// refreshes the cache and notifies the webhook. `progress` is called with (done, total) versions
/// while a large bundle is written.
pub fn publish(
    project: &Project,
    target: &Target,
    request: &PublishRequest,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Publish> {
    let environment = resolve(project, target)?;
    let default_out = super::build::DEFAULT_OUT;
    let bundle_path = request.bundle.clone().unwrap_or_else(|| project.root.join(default_out));
    if request.bundle.is_none() && !bundle_path.join("bundle.json").exists() {
        anyhow::bail!(
            "no bundle at `{default_out}/bundle.json`; run `promptctl build` first, or pass `--bundle PATH`"
        );
    }
    let hook = hook(&environment)?;
    // The prompts are checked as publish uses them: those the store already holds as they are
    // in the bundle are not parsed again.
    let super::build::ReadBundle { path: bundle_path, verified } =
        super::build::read_verified(Some(project), &bundle_path, &request.pubkeys, false)?;
    let mut connection = connect(&environment)?;
    let since = revision_before(&mut *connection)?;
    let options = publish::Options {
        only: request.only.clone(),
        force: request.force,
        allow_downgrade: request.allow_downgrade,
        plan_only: request.plan_only,
        actor: actor(request.actor.as_deref(), &project.root),
    };
    let store_target = publish::Target {
        environment: &environment.name,
        protected: environment.protected,
        embedded: environment.location.is_embedded(),
    };
    let outcome = publish::apply(&mut *connection, &verified, &store_target, &options, progress);
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(PublishError::Drifted(mut drift)) => {
            let _ = publish::explain_drift(&mut *connection, &mut drift);
            return Ok(Publish::Refused { environment, error: PublishError::Drifted(drift) });
        }
        Err(PublishError::Store(error)) => return Err(error.into()),
        Err(PublishError::Bundle(error)) => return Err(error.into()),
        Err(error) => return Ok(Publish::Refused { environment, error }),
    };
    let plan = outcome.plan;
    if request.plan_only {
        // The plan refuses as the publish would: over drift without `--force`.
        let drift = (!plan.drift.is_empty() && !request.force).then(|| {
            let mut drift = plan.drift.clone();
            let _ = publish::explain_drift(&mut *connection, &mut drift);
            PublishError::Drifted(drift)
        });
        return Ok(Publish::Planned { environment, bundle_path, plan, drift });
    }
    let notices: Vec<Notice> = if outcome.committed {
        // One notice per prompt whose activation or canary changed (its stable version named).
        let rollouts_only = plan
            .rollouts
            .iter()
            .filter(|rollout| !plan.activations.iter().any(|change| change.name == rollout.name));
        plan.activations
            .iter()
            .map(|change| (&change.name, change.to))
            .chain(rollouts_only.map(|rollout| (&rollout.name, rollout.stable)))
            .filter_map(|(name, to)| {
                let version = verified
                    .prompt(name)
                    .ok()?
                    .versions
                    .iter()
                    .find(|version| i64::from(version.version) == to)?;
                Some(Notice {
                    name: name.clone(),
                    version: to,
                    sha256: publish::content_sha256(&version.template),
                    seq: Some(plan.seq as i64),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let cache = refresh_cache(project, &environment, &mut *connection, &notices, since)?;
    let webhook = if outcome.committed {
        let body = serde_json::json!({
            "event": "publish",
            "environment": environment.name,
            "seq": plan.seq,
            "bundle_sha256": plan.bundle_sha256,
            "git_commit": verified.git_commit(),
            "actor": options.actor,
            "activations": plan.activations,
            "rollouts": plan.rollouts,
        });
        notify(hook.as_ref(), "publish", body)
    } else {
        Webhook::None
    };
    let prompts = verified.len();
    let status = if request.status && prompts <= STATUS_TABLE_LIMIT {
        Some(status_rows(project, &environment, Some(&mut *connection))?)
    } else {
        None
    };
    Ok(Publish::Deployed(Deployed {
        environment,
        bundle_path,
        plan,
        committed: outcome.committed,
        cache,
        webhook,
        prompts,
        status,
    }))
}

/// What `rollback` is asked for.
#[derive(Debug, Clone)]
pub struct RollbackRequest {
    pub name: String,
    pub to: Option<i64>,
    pub reason: String,
    pub actor: Option<String>,
}

/// What `rollback` did.
pub enum Rollback {
    /// The store refused it (nothing changed).
    Refused(PublishError),
    RolledBack(Box<RolledBack>),
}

/// A committed rollback, then the cache and the webhook.
pub type RolledBack = Operated<publish::Rollback>;

/// `promptctl rollback`: activates an earlier stored version (audited), then refreshes the cache
/// and notifies the webhook.
pub fn rollback(project: &Project, target: &Target, request: &RollbackRequest) -> Result<Rollback> {
    let operated = operate(
        project,
        target,
        &request.reason,
        request.actor.as_deref(),
        "rollback",
        |connection, environment, actor| {
            publish::rollback(
                connection,
                environment,
                &request.name,
                request.to,
                actor,
                &request.reason,
            )
        },
        |done| &done.active,
        |done, environment, actor| {
            serde_json::json!({
                "event": "rollback",
                "environment": environment,
                "name": done.name,
                "from": done.from,
                "to": done.to,
                "actor": actor,
                "reason": request.reason,
            })
        },
    )?;
    Ok(match operated {
        Ok(done) => Rollback::RolledBack(done),
        Err(error) => Rollback::Refused(error),
    })
}

/// `promptctl warm`: rewrites every cache entry of the environment from its store, and tells the
/// services to read everything again.
pub fn warm(project: &Project, target: &Target) -> Result<Warmed> {
    let environment = resolve(project, target)?;
    if environment.redis.is_none() {
        anyhow::bail!(
            "environment `{}` has no cache: set `redis` in `[environments.{}]`, or pass `--redis URL`",
            environment.name,
            environment.name
        );
    }
    let mut connection = connect(&environment)?;
    store::schema::require_current(&mut *connection)?;
    // Services that read a stale entry while Redis was back but not yet warmed are told to read
    // everything again (they keep what they serve unless the new reading is as new or newer).
    let everything = Notice {
        name: crate::cache::EVERYTHING.to_string(),
        version: 0,
        sha256: String::new(),
        seq: None,
    };
    let cache = refresh_cache(project, &environment, &mut *connection, &[everything], None)?;
    Ok(Warmed { environment, cache })
}

/// What `warm` did.
pub struct Warmed {
    pub environment: Environment,
    pub cache: CacheRefresh,
}

/// `promptctl db migrate`: creates or upgrades the store's schema; the migrations applied now.
pub fn migrate(project: &Project, target: &Target) -> Result<Migrated> {
    let environment = resolve(project, target)?;
    let mut connection = connect(&environment)?;
    let applied = store::schema::migrate(&mut *connection)?;
    Ok(Migrated { environment, applied })
}

/// What `db migrate` did.
pub struct Migrated {
    pub environment: Environment,
    /// The migrations applied now (none: the schema was up to date).
    pub applied: Vec<&'static store::schema::Migration>,
}
