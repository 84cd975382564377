//! The deploy commands: `publish`, `rollback`, `status`, `warm` and `db migrate`. They resolve an
//! environment's store and cache from `promptctl.toml` (and the overrides), call `publish`, then
//! write the cache and the webhook after the commit and map each outcome to its exit code.

use super::exit;
use crate::cache::{self, Cache, Notice};
use crate::config::Project;
use crate::publish::{self, PublishError};
use crate::store::{self, records, Location};
use anyhow::Result;
use std::io::IsTerminal;
use std::path::PathBuf;

mod activate;
mod refresh;
mod status;

pub use activate::*;
use refresh::*;
pub use status::*;

/// The environment variable that overrides every environment's store URL.
const DATABASE_VARIABLE: &str = "PROMPTCTL_DATABASE_URL";
/// The environment variable that overrides every environment's Redis URL.
const REDIS_VARIABLE: &str = "PROMPTCTL_REDIS_URL";
/// Where the embedded stores live, relative to the project root (git-ignored).
const EMBEDDED_DIR: &str = ".promptctl/store";
/// Bundles with more versions than this get a progress bar on a terminal.
const PROGRESS_THRESHOLD: u64 = 2000;
/// `publish` follows with the status table up to this many prompts.
const STATUS_TABLE_LIMIT: usize = 100;

#[derive(Debug, clap::Args)]
pub struct EnvArgs {
    /// The environment (a table `[environments.NAME]` of promptctl.toml)
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// The store URL (`postgres://…` or `sqlite:PATH`), instead of the environment's
    #[arg(long = "db", value_name = "URL", env = DATABASE_VARIABLE, hide_env_values = true)]
    pub database: Option<String>,
    /// The Redis URL, instead of the environment's
    #[arg(long = "redis", value_name = "URL", env = REDIS_VARIABLE, hide_env_values = true)]
    pub redis: Option<String>,
    /// Write nothing to Redis, even when the environment has a cache
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub target: EnvArgs,
    /// The bundle: bundle.json, or the folder holding it (default: `.promptctl/build`, where `build` writes)
    #[arg(long, value_name = "PATH")]
    pub bundle: Option<PathBuf>,
    /// A trusted public key file (repeatable; default: `[signing] public_keys`)
    #[arg(long = "pubkey", value_name = "FILE")]
    pub pubkeys: Vec<PathBuf>,
    /// Print what would change and touch nothing
    #[arg(long)]
    pub plan: bool,
    /// Change only these prompts' activations (all versions are still stored)
    #[arg(long, value_name = "NAME", num_args = 1..)]
    pub only: Vec<String>,
    /// Publish over drift, and publish a dirty bundle to a protected environment
    #[arg(long)]
    pub force: bool,
    /// Accept a bundle whose seq is not higher than the last deployment's (audited)
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Who publishes, for the audit trail (default: PROMPTCTL_ACTOR, GITHUB_ACTOR or USER)
    #[arg(long)]
    pub actor: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Run by `build --publish`, which has no `--force`: hints name `promptctl publish` instead.
    #[arg(skip)]
    pub from_build: bool,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The prompt to roll back
    pub name: String,
    /// The version to activate (default: the one active before the current one)
    #[arg(long, value_name = "VERSION")]
    pub to: Option<i64>,
    #[command(flatten)]
    pub target: EnvArgs,
    /// Why, for the audit trail
    #[arg(long)]
    pub reason: String,
    /// Who rolls back (default: PROMPTCTL_ACTOR, GITHUB_ACTOR or USER)
    #[arg(long)]
    pub actor: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: EnvArgs,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Create or upgrade the store's schema (idempotent)
    Migrate(EnvArgs),
}

/// One environment, resolved.
struct Resolved {
    name: String,
    location: Location,
    /// The location as shown: without credentials, and relative to the project when inside it.
    shown: String,
    redis: Option<String>,
    protected: bool,
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

fn resolve(project: &Project, args: &EnvArgs) -> Result<Resolved> {
    let Some(config) = project.config.environments.get(&args.environment) else {
        let known: Vec<&str> = project.config.environments.keys().map(String::as_str).collect();
        let hint = crate::diagnostic::did_you_mean(&args.environment, known.iter().copied())
            .map(|best| format!("did you mean `{best}`? "))
            .unwrap_or_default();
        anyhow::bail!(
            "unknown environment `{}`; {hint}promptctl.toml declares: {}",
            args.environment,
            known.join(", ")
        );
    };
    let what = format!("`[environments.{}] database`", args.environment);
    // An empty override (an unset CI secret) is no override.
    let database = args.database.as_ref().filter(|url| !url.is_empty());
    let redis_override = args.redis.as_ref().filter(|url| !url.is_empty());
    let url = match (database, &config.database) {
        (Some(url), _) => url.clone(),
        (None, Some(url)) => expand(url, &what)?,
        (None, None) => format!("sqlite:{EMBEDDED_DIR}/{}.sqlite3", args.environment),
    };
    let location = Location::parse(&url, &project.root)?;
    let redis = if args.no_cache {
        None
    } else {
        match (redis_override, &config.redis) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(url)) => {
                Some(expand(url, &format!("`[environments.{}] redis`", args.environment))?)
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
    Ok(Resolved {
        name: args.environment.clone(),
        location,
        shown,
        redis,
        protected: config.is_protected(&args.environment),
        webhook: config.webhook.clone(),
    })
}

fn actor(flag: Option<&str>) -> String {
    if let Some(actor) = flag {
        return actor.to_string();
    }
    for variable in ["PROMPTCTL_ACTOR", "GITHUB_ACTOR", "USER", "USERNAME"] {
        if let Ok(value) = std::env::var(variable) {
            if !value.is_empty() {
                return value;
            }
        }
    }
    "unknown".into()
}

fn connect(resolved: &Resolved) -> Result<Box<dyn store::Connection>> {
    Ok(store::open(&resolved.location)?)
}

fn connect_cache(project: &Project, url: &str) -> Result<Cache, cache::CacheError> {
    let layout = cache::Layout { prefix: project.config.cache.key_prefix.clone() };
    Cache::connect(url, layout, project.config.cache.ttl_seconds)
}

/// The webhook's URL and secret, resolved before anything is published so that a missing secret
/// refuses the publish instead of skipping the notification.
struct Hook {
    url: String,
    secret: Option<String>,
}

fn hook(resolved: &Resolved) -> Result<Option<Hook>> {
    let Some(webhook) = &resolved.webhook else { return Ok(None) };
    let url = expand(&webhook.url, &format!("`[environments.{}.webhook] url`", resolved.name))?;
    let secret = match &webhook.secret_env {
        Some(variable) => Some(std::env::var(variable).map_err(|_| {
            crate::webhook::WebhookError::MissingSecret { variable: variable.clone() }
        })?),
        None => None,
    };
    Ok(Some(Hook { url, secret }))
}

fn notify(hook: Option<&Hook>, event: &str, body: serde_json::Value) -> i32 {
    let Some(hook) = hook else { return exit::OK };
    match crate::webhook::send(
        &hook.url,
        event,
        &body,
        hook.secret.as_deref().map(str::as_bytes),
        &crate::webhook::Delivery::default(),
    ) {
        Ok(_) => {
            println!("webhook {} notified", crate::webhook::redact_url(&hook.url));
            exit::OK
        }
        Err(error) => {
            eprintln!(
                "error: {error}; the store and cache are updated, only the notification is missing"
            );
            exit::WEBHOOK_FAILED
        }
    }
}
