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

/// Beyond this many changed prompts, the cache is rewritten whole rather than entry by entry.
const INCREMENTAL_LIMIT: usize = 100;

/// Brings the cache up to date with the store and publishes `notices`; returns the exit code:
/// OK, or CACHE_STALE with the reason printed. `since` is the store revision before this
/// command's changes: when the cache's stamp says it holds that revision and no entry is missing,
/// only the changed entries are written; otherwise (and always for `warm`, `since = None`) every
/// active version is.
fn refresh_cache(
    project: &Project,
    resolved: &Resolved,
    connection: &mut dyn store::Connection,
    notices: &[Notice],
    since: Option<i64>,
) -> Result<i32> {
    let Some(url) = &resolved.redis else { return Ok(exit::OK) };
    let revision = records::revision(connection)?;
    // The entries a consistent cache holds, to find missing ones (expired or deleted); only when
    // the cache may be consistent (`warm` rewrites everything).
    let names = match since {
        Some(_) => records::activated_names(connection)?,
        None => Vec::new(),
    };
    let written = (|| -> Result<String, cache::CacheError> {
        let mut cache = connect_cache(project, url)?;
        let stamp = match since {
            Some(_) => cache.read_stamp()?,
            None => None,
        };
        let consistent = stamp.is_some()
            && (stamp == Some(revision) || stamp == since)
            && notices.len() <= INCREMENTAL_LIMIT
            && cache.count_missing(&names.iter().map(String::as_str).collect::<Vec<_>>())? == 0;
        if consistent && stamp == Some(revision) && notices.is_empty() {
            return Ok(format!("up to date ({} entries, revision {revision})", names.len()));
        }
        let (entries, coverage) = if consistent {
            let mut entries = Vec::new();
            for notice in notices {
                let active =
                    records::active_version(connection, &notice.name).map_err(|error| {
                        cache::CacheError::Command {
                            url: store::redact_url(url),
                            message: error.to_string(),
                        }
                    })?;
                entries.extend(active.map(publish::cache_entry));
            }
            (entries, cache::Coverage::Changes)
        } else {
            let active = records::active_versions(connection).map_err(|error| {
                cache::CacheError::Command {
                    url: store::redact_url(url),
                    message: error.to_string(),
                }
            })?;
            (active.into_iter().map(publish::cache_entry).collect(), cache::Coverage::Full)
        };
        cache.write(&entries, notices, revision, coverage)?;
        Ok(format!(
            "{} entries written{}, {} notices on `{}activations`",
            entries.len(),
            if coverage == cache::Coverage::Full { "" } else { " (changed only)" },
            notices.len(),
            project.config.cache.key_prefix
        ))
    })();
    match written {
        Ok(summary) => {
            println!("cache {}: {summary}", store::redact_url(url));
            Ok(exit::OK)
        }
        Err(error) => {
            eprintln!("error: {error}");
            eprintln!(
                "error: the store is up to date but the cache is stale: run `promptctl warm --env {}` once Redis is back (the next publish also repairs it)",
                resolved.name
            );
            Ok(exit::CACHE_STALE)
        }
    }
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

/// Maps refusals of the store to the documented exit code: they are operational (2).
fn refused(error: PublishError) -> Result<i32> {
    eprintln!("error: {error}");
    Ok(exit::FAILURE)
}

/// The drift refusal, with the way over it that the command at hand has.
fn refused_drift(error: PublishError, environment: &str, args: &PublishArgs) -> Result<i32> {
    let over = if args.from_build {
        format!("to publish over it anyway, run `promptctl publish --env {environment} --force` (`build --publish` has no `--force`)")
    } else {
        "to publish over it anyway, pass `--force`".to_string()
    };
    eprintln!("error: {error}\n{over}; `promptctl status --env {environment}` shows the details");
    Ok(exit::FAILURE)
}

/// `build --publish ENV`: publishes the bundle just written to `out`, with the overrides of the
/// environment variables and no flags.
pub fn publish_built(
    project: &Project,
    environment: &str,
    out: &std::path::Path,
    color: bool,
) -> Result<i32> {
    let variable = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let args = PublishArgs {
        target: EnvArgs {
            environment: environment.to_string(),
            database: variable(DATABASE_VARIABLE),
            redis: variable(REDIS_VARIABLE),
            no_cache: false,
        },
        bundle: Some(out.to_path_buf()),
        pubkeys: Vec::new(),
        plan: false,
        only: Vec::new(),
        force: false,
        allow_downgrade: false,
        actor: None,
        format: OutputFormat::Human,
        from_build: true,
    };
    publish(project, &args, color)
}

pub fn publish(project: &Project, args: &PublishArgs, _color: bool) -> Result<i32> {
    let resolved = resolve(project, &args.target)?;
    let bundle_path = args.bundle.clone().unwrap_or_else(|| project.root.join(".promptctl/build"));
    if args.bundle.is_none() && !bundle_path.join("bundle.json").exists() {
        anyhow::bail!(
            "no bundle at `.promptctl/build/bundle.json`; run `promptctl build` first, or pass `--bundle PATH`"
        );
    }
    let hook = hook(&resolved)?;
    // The prompts are checked as publish uses them: those the store already holds as they are
    // in the bundle are not parsed again.
    let (bundle_path, verified) =
        super::read_verified(Some(project), &bundle_path, &args.pubkeys, false)?;
    let mut connection = connect(&resolved)?;
    let since = match store::schema::current(&mut *connection)? {
        0 => None,
        _ => Some(records::revision(&mut *connection)?),
    };
    let options = publish::Options {
        only: args.only.clone(),
        force: args.force,
        allow_downgrade: args.allow_downgrade,
        plan_only: args.plan,
        actor: actor(args.actor.as_deref()),
    };
    let target = publish::Target {
        environment: &resolved.name,
        protected: resolved.protected,
        embedded: resolved.location.is_embedded(),
    };
    // A bar for many new versions, on a terminal; the number is known once the plan is.
    let terminal = std::io::stderr().is_terminal() && !args.plan;
    let mut bar: Option<indicatif::ProgressBar> = None;
    let outcome = {
        let mut progress = |done: u64, total: u64| {
            if bar.is_none() && terminal && total > PROGRESS_THRESHOLD {
                let new = indicatif::ProgressBar::new(total);
                new.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:40}] {pos}/{len} versions",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                new.set_message(format!("publishing to {}", resolved.name));
                bar = Some(new);
            }
            if let Some(bar) = &bar {
                bar.set_position(done);
            }
        };
        publish::apply(&mut *connection, &verified, &target, &options, &mut progress)
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(PublishError::Drifted(mut drift)) => {
            let _ = publish::explain_drift(&mut *connection, &mut drift);
            return refused_drift(PublishError::Drifted(drift), &resolved.name, args);
        }
        Err(PublishError::Store(error)) => return Err(error.into()),
        Err(PublishError::Bundle(error)) => return Err(error.into()),
        Err(error) => return refused(error),
    };
    let plan = &outcome.plan;
    if args.format == OutputFormat::Json {
        let json = serde_json::json!({
            "plan": plan,
            "committed": outcome.committed,
            "store": resolved.shown,
        });
        println!("{}", serde_json::to_string_pretty(&json).expect("serialisable"));
    } else {
        print_plan(plan, &resolved, &bundle_path, args.plan, args.force);
    }
    if args.plan {
        // The plan exits as the publish would: refused over drift without `--force`.
        if !plan.drift.is_empty() && !args.force {
            let mut drift = plan.drift.clone();
            let _ = publish::explain_drift(&mut *connection, &mut drift);
            return refused_drift(PublishError::Drifted(drift), &resolved.name, args);
        }
        return Ok(exit::OK);
    }
    let notices: Vec<Notice> = if outcome.committed {
        plan.activations
            .iter()
            .filter_map(|change| {
                let version = verified
                    .prompt(&change.name)
                    .ok()?
                    .versions
                    .iter()
                    .find(|version| i64::from(version.version) == change.to)?;
                Some(Notice {
                    name: change.name.clone(),
                    version: change.to,
                    sha256: publish::content_sha256(&version.template),
                    seq: Some(plan.seq as i64),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut code = refresh_cache(project, &resolved, &mut *connection, &notices, since)?;
    if outcome.committed {
        let body = serde_json::json!({
            "event": "publish",
            "environment": resolved.name,
            "seq": plan.seq,
            "bundle_sha256": plan.bundle_sha256,
            "git_commit": verified.git_commit(),
            "actor": options.actor,
            "activations": plan.activations,
        });
        let notified = notify(hook.as_ref(), "publish", body);
        if code == exit::OK {
            code = notified;
        }
    }
    if args.format == OutputFormat::Human {
        print_short_status(project, &resolved, &mut *connection, verified.len())?;
    }
    Ok(code)
}

/// The status table after a publish, or a pointer to it for large bundles.
fn print_short_status(
    project: &Project,
    resolved: &Resolved,
    connection: &mut dyn store::Connection,
    prompts: usize,
) -> Result<()> {
    println!();
    if prompts <= STATUS_TABLE_LIMIT {
        let status = status_rows(project, resolved, Some(connection))?;
        print_status(&status.rows);
    } else {
        println!("{prompts} prompts: `promptctl status --env {}` shows the table", resolved.name);
    }
    Ok(())
}

fn print_plan(
    plan: &publish::Plan,
    resolved: &Resolved,
    bundle: &std::path::Path,
    plan_only: bool,
    force: bool,
) {
    let verb = if plan_only { "plan for" } else { "published" };
    if plan.already_published {
        println!(
            "{} seq {} is already published to `{}` ({}): nothing changed",
            bundle.display(),
            plan.seq,
            resolved.name,
            resolved.shown
        );
        return;
    }
    println!(
        "{verb} `{}` ({}): bundle seq {} sha256 {}{}",
        resolved.name,
        resolved.shown,
        plan.seq,
        &plan.bundle_sha256[..12],
        plan.previous_seq.map(|seq| format!(", previous seq {seq}")).unwrap_or_default()
    );
    if plan.downgrade {
        println!("  downgrade allowed (--allow-downgrade): recorded in the audit log");
    }
    for name in &plan.new_prompts {
        println!("  + prompt {name}");
    }
    for (name, version) in &plan.new_versions {
        println!("  + version {name} v{version}");
    }
    for name in &plan.description_changes {
        println!("  ~ description of {name}");
    }
    for change in &plan.activations {
        println!(
            "  * activate {} {} -> v{}",
            change.name,
            change.from.map_or("(none)".into(), |v| format!("v{v}")),
            change.to
        );
    }
    for drift in &plan.drift {
        println!(
            "  ! drift {}: published {}, active {} ({})",
            drift.name,
            drift.published.map_or("none".into(), |v| format!("v{v}")),
            drift.active.map_or("none".into(), |v| format!("v{v}")),
            if force { "overridden by --force" } else { "refused without --force" }
        );
    }
    for change in &plan.adopted {
        println!(
            "  = {} stays at v{}: the bundle agrees with the version activated outside publish (drift resolved)",
            change.name, change.to
        );
    }
    for name in &plan.not_in_bundle {
        println!("  = {name} is in the store but not in the bundle: left as it is");
    }
    if !plan.changes_store() {
        println!("  no prompt changes (the deployment is recorded)");
    }
}

pub fn rollback(project: &Project, args: &RollbackArgs) -> Result<i32> {
    let resolved = resolve(project, &args.target)?;
    if args.reason.trim().is_empty() {
        anyhow::bail!("`--reason` is empty; say why, for the audit trail");
    }
    let hook = hook(&resolved)?;
    let mut connection = connect(&resolved)?;
    let since = match store::schema::current(&mut *connection)? {
        0 => None,
        _ => Some(records::revision(&mut *connection)?),
    };
    let actor = actor(args.actor.as_deref());
    let done = match publish::rollback(
        &mut *connection,
        &resolved.name,
        &args.name,
        args.to,
        &actor,
        &args.reason,
    ) {
        Ok(done) => done,
        Err(PublishError::Store(error)) => return Err(error.into()),
        Err(error) => return refused(error),
    };
    println!(
        "rolled back `{}` in `{}` ({}): {} -> v{} by {actor}: {}",
        done.name,
        resolved.name,
        resolved.shown,
        done.from.map_or("(none)".into(), |v| format!("v{v}")),
        done.to,
        args.reason
    );
    let notice = Notice {
        name: done.active.name.clone(),
        version: done.active.version,
        sha256: done.active.content_sha256.clone(),
        seq: None,
    };
    let code = refresh_cache(project, &resolved, &mut *connection, &[notice], since)?;
    let body = serde_json::json!({
        "event": "rollback",
        "environment": resolved.name,
        "name": done.name,
        "from": done.from,
        "to": done.to,
        "actor": actor,
        "reason": args.reason,
    });
    let notified = notify(hook.as_ref(), "rollback", body);
    Ok(if code == exit::OK { notified } else { code })
}

pub fn warm(project: &Project, args: &EnvArgs) -> Result<i32> {
    let resolved = resolve(project, args)?;
    if resolved.redis.is_none() {
        anyhow::bail!(
            "environment `{}` has no cache: set `redis` in `[environments.{}]`, or pass `--redis URL`",
            resolved.name,
            resolved.name
        );
    }
    let mut connection = connect(&resolved)?;
    store::schema::require_current(&mut *connection)?;
    // Services that read a stale entry while Redis was back but not yet warmed are told to read
    // everything again (they keep what they serve unless the new reading is as new or newer).
    let everything = Notice {
        name: crate::cache::EVERYTHING.to_string(),
        version: 0,
        sha256: String::new(),
        seq: None,
    };
    refresh_cache(project, &resolved, &mut *connection, &[everything], None)
}

pub fn db(project: &Project, command: &DbCommand) -> Result<i32> {
    match command {
        DbCommand::Migrate(args) => {
            let resolved = resolve(project, args)?;
            let mut connection = connect(&resolved)?;
            let applied = store::schema::migrate(&mut *connection)?;
            if applied.is_empty() {
                println!(
                    "{}: schema up to date (migration {})",
                    resolved.shown,
                    store::schema::latest()
                );
            }
            for migration in applied {
                println!(
                    "{}: applied migration {} ({})",
                    resolved.shown, migration.version, migration.name
                );
            }
            Ok(exit::OK)
        }
    }
}

/// One row of `status`.
#[derive(Debug, Clone, serde::Serialize)]
struct StatusRow {
    name: String,
    /// What promptctl.toml's prompt serves in this environment, in the working tree.
    repository: Option<u32>,
    store: Option<i64>,
    /// What the latest publish activated.
    published: Option<i64>,
    cache: Option<i64>,
    cache_ttl_seconds: Option<i64>,
    /// The cache entry is missing, unreadable, or not the store's active version; `None` when the
    /// cache could not be read (its state is unknown).
    cache_stale: Option<bool>,
    drift: bool,
    notes: Vec<String>,
}

/// What `status` found: a row per prompt, whether the environment was ever published to, and
/// whether its cache could be read.
struct Status {
    rows: Vec<StatusRow>,
    published: bool,
    /// `None`: no cache configured; `Some(Err)`: unreachable, so the rows' cache state is unknown.
    cache: Option<Result<(), String>>,
}

/// Reads the store (`None`: an SQLite file that does not exist, which `status` does not create)
/// and the cache.
fn status_rows(
    project: &Project,
    resolved: &Resolved,
    connection: Option<&mut dyn store::Connection>,
) -> Result<Status> {
    let repository = repository_activations(project, &resolved.name);
    let mut published = false;
    let templates = match connection {
        None => Default::default(),
        Some(connection) => 'read: {
            if store::schema::current(connection)? == 0 {
                break 'read Default::default();
            }
            store::schema::require_current(connection)?;
            if let Some(owner) = records::environment(connection)? {
                if owner != resolved.name {
                    anyhow::bail!(
                        "the store `{}` belongs to environment `{owner}`, not `{}`",
                        resolved.shown,
                        resolved.name
                    );
                }
            }
            published = records::highest_deployment(connection, &resolved.name)?.is_some();
            records::templates(connection)?
        }
    };
    let mut cache = match &resolved.redis {
        Some(url) => match connect_cache(project, url) {
            Ok(cache) => Some(Ok(cache)),
            Err(error) => Some(Err(error.to_string())),
        },
        None => None,
    };
    let mut names: std::collections::BTreeSet<String> = templates.keys().cloned().collect();
    names.extend(repository.keys().cloned());
    let mut rows = Vec::new();
    let mut read_error = None;
    for name in names {
        let template = templates.get(&name);
        let active = template.and_then(records::StoredTemplate::active);
        let published =
            template.and_then(|t| t.published.and_then(|id| t.by_id(id))).map(|v| v.number);
        let mut row = StatusRow {
            name: name.clone(),
            repository: repository.get(&name).copied().flatten(),
            store: active.map(|v| v.number),
            published,
            cache: None,
            cache_ttl_seconds: None,
            cache_stale: None,
            drift: template.is_some() && published != active.map(|v| v.number),
            notes: Vec::new(),
        };
        if let Some(Ok(cache)) = &mut cache {
            match cache.read(&name) {
                Ok(Some((Ok(entry), ttl))) => {
                    row.cache = Some(entry.version);
                    row.cache_ttl_seconds = Some(ttl);
                    let matches = active.is_some_and(|a| {
                        a.number == entry.version && a.content_sha256 == entry.sha256
                    });
                    row.cache_stale = Some(!matches);
                }
                Ok(Some((Err(problem), _))) => {
                    row.cache_stale = Some(true);
                    row.notes.push(format!("cache entry unreadable: {problem}"));
                }
                Ok(None) => row.cache_stale = Some(active.is_some()),
                Err(error) => {
                    row.notes.push(format!("cache unknown: {error}"));
                    read_error.get_or_insert_with(|| error.to_string());
                }
            }
        }
        if row.drift {
            row.notes.push("drift: active is not what the last publish set".into());
        }
        if row.repository.is_some() && row.repository.map(i64::from) != row.store {
            row.notes.push("repository differs from store: publish a new bundle".into());
        }
        if row.cache_stale == Some(true) {
            row.notes.push("cache stale: run `promptctl warm`".into());
        }
        rows.push(row);
    }
    let cache = cache.map(|state| match (state, read_error) {
        (Err(error), _) | (Ok(_), Some(error)) => Err(error),
        (Ok(_), None) => Ok(()),
    });
    Ok(Status { rows, published, cache })
}

/// The activations of the working tree's prompts (without checking them: `status` reports, it
/// does not judge).
fn repository_activations(
    project: &Project,
    environment: &str,
) -> std::collections::BTreeMap<String, Option<u32>> {
    let mut result = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(project.prompts_path()) else { return result };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let manifest = entry.path().join("prompt.toml");
        let Ok(bytes) = crate::read::read(&manifest, crate::read::MANIFEST_BYTES, "a prompt.toml")
        else {
            continue;
        };
        let Ok(text) = String::from_utf8(bytes) else { continue };
        let path = format!("{}/{name}/prompt.toml", project.config.prompts_dir);
        let (parsed, _) = crate::syntax::prompt::read_manifest(&path, &text);
        let version = parsed.and_then(|manifest| {
            manifest
                .activate
                .iter()
                .find(|(env, _)| env.get_ref() == environment)
                .and_then(|(_, version)| u32::try_from(*version.get_ref()).ok())
        });
        result.insert(name, version);
    }
    result
}

fn print_status(rows: &[StatusRow]) {
    let version = |v: Option<i64>| v.map_or("-".to_string(), |v| format!("v{v}"));
    let mut table = vec![[
        "prompt".to_string(),
        "repo".into(),
        "store".into(),
        "published".into(),
        "cache".into(),
        "ttl".into(),
        "notes".into(),
    ]];
    for row in rows {
        table.push([
            row.name.clone(),
            version(row.repository.map(i64::from)),
            version(row.store),
            version(row.published),
            version(row.cache),
            row.cache_ttl_seconds.map_or("-".into(), |t| format!("{t}s")),
            if row.notes.is_empty() { "ok".into() } else { row.notes.join("; ") },
        ]);
    }
    let widths: Vec<usize> =
        (0..7).map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for row in &table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 6 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        println!("{}", line.trim_end());
    }
}

pub fn status(project: &Project, args: &StatusArgs) -> Result<i32> {
    let resolved = resolve(project, &args.target)?;
    // Read-only: an SQLite store that does not exist is not created (nor migrated).
    let missing = matches!(&resolved.location, store::Location::Sqlite { path } if !path.exists());
    let mut connection = if missing { None } else { Some(connect(&resolved)?) };
    let status = match &mut connection {
        Some(connection) => status_rows(project, &resolved, Some(&mut **connection))?,
        None => status_rows(project, &resolved, None)?,
    };
    let cache_state = match &status.cache {
        None => "none",
        Some(Ok(())) => "ok",
        Some(Err(_)) => "unreachable",
    };
    if args.format == OutputFormat::Json {
        let json = serde_json::json!({
            "environment": resolved.name,
            "store": resolved.shown,
            "published": status.published,
            "cache": cache_state,
            "prompts": status.rows,
        });
        println!("{}", serde_json::to_string_pretty(&json).expect("serialisable"));
    } else {
        let never = if status.published { "" } else { ": never published" };
        println!("environment `{}`, store {}{never}", resolved.name, resolved.shown);
        if let Some(Err(error)) = &status.cache {
            println!("cache unreachable, its entries unknown: {error}");
        }
        print_status(&status.rows);
    }
    // The cache's state cannot be vouched for: not a clean bill of health.
    Ok(if matches!(status.cache, Some(Err(_))) { exit::CACHE_STALE } else { exit::OK })
}
