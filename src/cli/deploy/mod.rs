//! The deploy commands: `publish`, `rollback`, `status`, `history`, `warm` and `db migrate`: their arguments,
//! and what they print of the deploy stage (`pipeline::deploy`), each step's outcome mapped to its
//! exit code.

use super::exit;
use crate::config::Project;
use crate::pipeline::deploy::{
    self as stage, CacheRefresh, Environment, Webhook, DATABASE_VARIABLE, REDIS_VARIABLE,
};
use crate::publish::{self, PublishError};
use anyhow::Result;
use std::io::IsTerminal;
use std::path::PathBuf;

mod activate;
mod history;
pub mod metrics;
mod status;

pub use activate::*;
pub use history::*;
pub use status::*;

/// Bundles with more versions than this get a progress bar on a terminal.
const PROGRESS_THRESHOLD: u64 = 2000;

#[derive(Debug, clap::Args)]
pub struct EnvArgs {
    /// The environment (a table `[environments.NAME]` of promptctl.toml)
    #[arg(short = 'e', long = "env", value_name = "ENV")]
    pub environment: String,
    /// The store URL (`postgres://…` or `sqlite:PATH`), instead of the environment's
    #[arg(long = "db", value_name = "URL", env = DATABASE_VARIABLE, hide_env_values = true)]
    pub database: Option<String>,
    /// The Redis URL, instead of the environment's
    #[arg(long = "redis", value_name = "URL", env = REDIS_VARIABLE, hide_env_values = true)]
    pub redis: Option<String>,
    /// A PEM file of the CA certificates that sign Redis's TLS certificate (`rediss://`), instead of the system's
    #[arg(long = "redis-ca", value_name = "FILE", env = "PROMPTCTL_REDIS_CA")]
    pub redis_ca: Option<PathBuf>,
    /// Do not check Redis's TLS certificate at all (printed as a warning; for tests only)
    #[arg(long = "redis-insecure", env = "PROMPTCTL_REDIS_INSECURE")]
    pub redis_insecure: bool,
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
    /// Who publishes, for the audit trail (default: PROMPTCTL_ACTOR, GITHUB_ACTOR, git's user.email, the OS user)
    #[arg(long)]
    pub actor: Option<String>,
    /// `human`: the plan and each step; `json`: one object with the plan and the outcome
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Write the run's figures to FILE in the Prometheus text format, failed runs included (docs/runtime.md)
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
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
    /// Who rolls back (default: PROMPTCTL_ACTOR, GITHUB_ACTOR, git's user.email, the OS user)
    #[arg(long)]
    pub actor: Option<String>,
    /// `human` lines, or `json`: one object with the prompt, the environment, from, to, actor and reason
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("change").required(true).args(["percent", "promote", "abort"])))]
pub struct RolloutArgs {
    /// The prompt whose canary changes
    pub name: String,
    /// Serve the canary to this share of keys (0 to 100, at most two decimals); keys already in
    /// the canary stay in it when the share grows
    #[arg(long, value_name = "PERCENT")]
    pub percent: Option<f64>,
    /// The canary becomes the version everyone is served
    #[arg(long)]
    pub promote: bool,
    /// Back to the stable version for everyone, within one notice
    #[arg(long)]
    pub abort: bool,
    #[command(flatten)]
    pub target: EnvArgs,
    /// Why, for the audit trail
    #[arg(long)]
    pub reason: String,
    /// Who changes it (default: PROMPTCTL_ACTOR, GITHUB_ACTOR, git's user.email, the OS user)
    #[arg(long)]
    pub actor: Option<String>,
    /// `human` lines, or `json`: one object with the prompt, the environment, the stable version, the canary before and after, actor and reason
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: EnvArgs,
    /// `human`: a table; `json`: an object with a row per prompt
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
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

impl EnvArgs {
    pub(super) fn target(&self) -> stage::Target {
        if self.redis_insecure && !self.no_cache {
            eprintln!("warning: --redis-insecure: {}", crate::redis_target::INSECURE_WARNING);
        }
        stage::Target {
            environment: self.environment.clone(),
            database: self.database.clone(),
            redis: self.redis.clone(),
            redis_tls: crate::redis_target::TlsOptions {
                ca: self.redis_ca.clone().filter(|path| !path.as_os_str().is_empty()),
                insecure: self.redis_insecure,
            },
            no_cache: self.no_cache,
        }
    }
}

/// Prints what became of the cache; `OK`, or `CACHE_STALE` when Redis could not be written.
fn cache_code(cache: &CacheRefresh, environment: &Environment) -> i32 {
    match cache {
        CacheRefresh::None => exit::OK,
        CacheRefresh::Refreshed { .. } if super::quiet() => exit::OK,
        CacheRefresh::Refreshed { url, summary } => {
            if super::json_stdout() {
                eprintln!("cache {url}: {summary}");
            } else {
                println!("cache {url}: {summary}");
            }
            exit::OK
        }
        CacheRefresh::Stale { error } => {
            eprintln!("error: {error}");
            eprintln!(
                "error: the store is up to date but the cache is stale: run `promptctl warm --env {}` once Redis is back (the next publish also repairs it)",
                environment.name
            );
            exit::CACHE_STALE
        }
    }
}

/// Prints what became of the webhook; `OK`, or `WEBHOOK_FAILED`.
fn webhook_code(webhook: &Webhook) -> i32 {
    match webhook {
        Webhook::None => exit::OK,
        Webhook::Notified { .. } if super::quiet() => exit::OK,
        Webhook::Notified { url } => {
            if super::json_stdout() {
                eprintln!("webhook {url} notified");
            } else {
                println!("webhook {url} notified");
            }
            exit::OK
        }
        Webhook::Failed { error } => {
            eprintln!(
                "error: {error}; the store and cache are updated, only the notification is missing"
            );
            exit::WEBHOOK_FAILED
        }
    }
}
