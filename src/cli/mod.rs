//! The command line: parses arguments, calls the stages of `pipeline`, prints their typed outcomes,
//! and maps them to exit codes. It decides nothing about prompts, bundles or stores.

use crate::check::{self, Options};
use crate::config::{self, Project};
use crate::diagnostic::Diagnostic;
use crate::lock;
use crate::pipeline;
use crate::report;
use crate::source;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

mod build;
mod checking;
mod deploy;
mod diff;
mod eval;
mod explain;
mod generate;
mod import;
mod logging;
mod render;
mod review;
mod serve;
mod setup;

pub use build::*;
/// The metric names `publish --metrics-file` writes (docs/runtime.md's table lists them).
pub use deploy::metrics::name as publish_metric;
pub use deploy::OutputFormat;
pub use diff::{DiffArgs, DiffFormat};
pub use eval::{EvalArgs, EvalFormat};
pub use explain::{CompletionsArgs, ExplainArgs, ManArgs};
pub use generate::*;
use import::*;
pub use logging::LogFormat;
pub use render::{RenderArgs, RenderFormat, VarsArgs};
pub use serve::ServeArgs;
pub use setup::{CiArg, InitArgs, NewArgs, SchemaArgs};

/// Exit codes: a contract with scripts and CI (docs/commands.md).
pub mod exit {
    /// Success; warnings may have been printed.
    pub const OK: i32 = 0;
    /// The check found errors (or a command refused because of them).
    pub const ERRORS: i32 = 1;
    /// Usage error or operational failure: bad arguments, unreadable files, no project, a store
    /// that refused or failed (nothing was changed).
    pub const FAILURE: i32 = 2;
    /// The store was updated but the Redis cache could not be: run `promptctl warm`.
    pub const CACHE_STALE: i32 = 3;
    /// The store and cache were updated but the webhook could not be notified.
    pub const WEBHOOK_FAILED: i32 = 4;
    /// `eval --offline`: some answers are not recorded (and no required assertion failed).
    pub const NOT_RECORDED: i32 = 5;
}

#[derive(Debug, Parser)]
#[command(
    name = "promptctl",
    version,
    about = "Prompts as code: check, lock, review, build and publish versioned LLM prompts"
)]
pub struct Cli {
    /// The project folder (holding promptctl.toml); default: found by walking up from the working directory
    #[arg(long, global = true, value_name = "DIR", help_heading = "Global options")]
    pub root: Option<PathBuf>,
    /// When to use colours in human output
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, help_heading = "Global options")]
    pub color: Color,
    /// Log to stderr: -v promptctl's info events, -vv debug, -vvv trace (RUST_LOG, when set, decides instead)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Global options")]
    pub verbose: u8,
    /// Print no progress or summary lines: only diagnostics, machine output and errors
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,
    /// The format of the log lines on stderr
    #[arg(long, global = true, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Human, help_heading = "Global options")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
    Sarif,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Put this repository under promptctl: promptctl.toml, an example prompt with a test, the lock, schemas and CI
    Init(InitArgs),
    /// Create a prompt (v1 and a test), or with --next its next version
    New(NewArgs),
    /// Write the JSON Schemas of promptctl's files, for editors (`#:schema` lines point at them)
    Schema(SchemaArgs),
    /// Check prompts: syntax, variables and types, offline tests, structure, lock
    Check {
        /// Prompt folders or files to check (default: every prompt)
        paths: Vec<PathBuf>,
        /// How to print the diagnostics: `human` (rustc style), `json`, `github` (workflow annotations) or `sarif` (code scanning)
        #[arg(short, long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Write missing or changed test snapshots instead of failing
        #[arg(long)]
        bless: bool,
        /// Check everything again, ignoring and not updating the result cache
        #[arg(long)]
        no_cache: bool,
        /// Treat every warning as an error (exit 1), like `-D warnings`; `[lints]` levels still apply first
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Record the sha256 of new versions in the lock file (never rewrites an entry)
    Lock {
        /// `human` lines, or `json`: one object with the entries added (or the diagnostics that refused it)
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
        format: OutputFormat,
    },
    /// Print a version rendered with vars, exactly as the runtime renders it (vars checked against the contract)
    Render(RenderArgs),
    /// Compare two versions (or environments' activations) rendered with the same vars, line by line and word by word
    Diff(DiffArgs),
    /// Run the prompts' `[[eval]]` entries against models (recorded answers replayed), grade the answers, report pass rates
    Eval(EvalArgs),
    /// Review a change against a git base: what changes for the model, the code and each environment
    Review(review::ReviewArgs),
    /// Import a hard-coded prompt from a legacy source file as a new prompt whose v1 reproduces it
    #[command(group(clap::ArgGroup::new("extraction").multiple(false)))]
    Import(ImportArgs),
    /// Generate the typed Rust (or TypeScript) module of the served prompts, or the JSON Schemas of
    /// their variables
    Codegen(CodegenArgs),
    /// Write a minisign key pair for signing bundles (the secret key file gets mode 0600)
    Keygen(KeygenArgs),
    /// Check, generate code, and write the signed bundle: bundle.json and bundle.json.minisig
    Build(BuildArgs),
    /// Verify a bundle: signature by a trusted key, trusted comment, format, expiry, digests
    VerifyBundle(VerifyBundleArgs),
    /// Publish a verified bundle into an environment's store (one transaction), then its cache
    Publish(deploy::PublishArgs),
    /// Activate an earlier stored version of a prompt without a bundle (audited)
    Rollback(deploy::RollbackArgs),
    /// Change a canary without a bundle: its share of keys, promote it, or abort it (audited)
    Rollout(deploy::RolloutArgs),
    /// Per prompt: repository activation, store activation, cache entry and TTL left, drift
    Status(deploy::StatusArgs),
    /// The store's activations (who, when, from → to, why, bundle seq, commit), newest first; --audit adds the audit log
    History(deploy::HistoryArgs),
    /// Rewrite every cache entry of an environment from its store
    Warm(deploy::EnvArgs),
    /// Serve an environment's prompts over HTTP: read, render (vars checked), watch, health, metrics
    Serve(ServeArgs),
    /// The store's schema: `promptctl db migrate --env ENV`
    #[command(subcommand)]
    Db(deploy::DbCommand),
    /// Explain a diagnostic code: its section of docs/diagnostics.md (no code: list them all)
    Explain(ExplainArgs),
    /// Print the shell completion script for bash, zsh, fish, powershell or elvish
    Completions(CompletionsArgs),
    /// Print the man page (promptctl.1), or write one per command with --out
    Man(ManArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Name of the new prompt (lowercase letters, digits and `-`)
    pub name: String,
    /// The legacy source file, inside the repository
    #[arg(long = "from", value_name = "FILE")]
    pub from: PathBuf,
    /// Take the text between these two markers (the start marker must occur once)
    #[arg(long, num_args = 2, value_names = ["START", "END"], group = "extraction")]
    pub between: Option<Vec<String>>,
    /// Take lines A through B ("A-B", 1-based, inclusive)
    #[arg(long, value_name = "A-B", group = "extraction")]
    pub lines: Option<String>,
    /// Take the string at this JSON pointer of a JSON file
    #[arg(long, value_name = "POINTER", group = "extraction")]
    pub json_pointer: Option<String>,
    /// Take the string at this dotted key of a TOML file
    #[arg(long, value_name = "KEY", group = "extraction")]
    pub toml_key: Option<String>,
    /// Undo the escaping of the literal's language
    #[arg(long, value_enum, default_value_t = UnescapeArg::None)]
    pub unescape: UnescapeArg,
    /// The description written into prompt.toml
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnescapeArg {
    None,
    C,
    CsharpVerbatim,
    JsTemplate,
}

impl Cli {
    /// Whether the command was asked for JSON output (`--format json`): an operational failure is
    /// then printed as one JSON object on stdout too (`failure_json`).
    pub fn json_output(&self) -> bool {
        match &self.command {
            Command::Check { format, .. } => *format == Format::Json,
            Command::Render(args) => args.format == RenderFormat::Json,
            Command::Diff(args) => args.format == DiffFormat::Json,
            Command::Eval(args) => args.format == EvalFormat::Json,
            Command::Review(args) => args.format == review::ReviewFormat::Json,
            Command::Publish(args) => args.format == deploy::OutputFormat::Json,
            Command::Status(args) => args.format == deploy::OutputFormat::Json,
            Command::History(args) => args.format == deploy::OutputFormat::Json,
            Command::Lock { format } => *format == OutputFormat::Json,
            Command::Rollback(args) => args.format == OutputFormat::Json,
            Command::Rollout(args) => args.format == OutputFormat::Json,
            Command::Build(args) => args.format == OutputFormat::Json,
            Command::VerifyBundle(args) => args.format == OutputFormat::Json,
            Command::Keygen(args) => args.format == OutputFormat::Json,
            _ => false,
        }
    }
}

/// The stable code of an operational failure (exit 2), from the first cause promptctl knows in
/// its chain: `failure/no-project`, `failure/config`, `failure/io`, `failure/git`,
/// `failure/bundle`, `failure/store`, or `failure/other`.
pub fn failure_code(error: &anyhow::Error) -> &'static str {
    for cause in error.chain() {
        if let Some(config) = cause.downcast_ref::<config::ConfigError>() {
            return match config {
                config::ConfigError::NotFound { .. } | config::ConfigError::NoConfig { .. } => {
                    "failure/no-project"
                }
                config::ConfigError::Invalid { .. } => "failure/config",
                config::ConfigError::Read { .. } => "failure/io",
            };
        }
        if cause.is::<crate::store::StoreError>() {
            return "failure/store";
        }
        if cause.is::<crate::git::Error>() {
            return "failure/git";
        }
        if cause.is::<crate::bundle::Error>() {
            return "failure/bundle";
        }
        if cause.is::<crate::read::ReadError>() || cause.is::<std::io::Error>() {
            return "failure/io";
        }
    }
    "failure/other"
}

/// An operational failure as the one JSON object `--format json` prints on stdout:
/// `{"code", "severity": "error", "message", "causes": [...], "exit": 2}`. The texts are the ones
/// stderr shows, which never hold a secret.
pub fn failure_json(error: &anyhow::Error) -> String {
    let value = serde_json::json!({
        "code": failure_code(error),
        "severity": "error",
        "message": error.to_string(),
        "causes": error.chain().skip(1).map(|cause| cause.to_string()).collect::<Vec<_>>(),
        "exit": exit::FAILURE,
    });
    format!("{value:#}\n")
}

/// Whether a command line that clap refused asked for `--format json` (`--format json`,
/// `--format=json`, `-f json`, `-fjson`), so that its usage error is a JSON object too.
pub fn asks_for_json(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<String> = args.map(|arg| arg.to_string_lossy().into_owned()).collect();
    args.iter().enumerate().any(|(index, arg)| match arg.as_str() {
        "--format=json" | "-fjson" | "-f=json" => true,
        "--format" | "-f" => args.get(index + 1).is_some_and(|next| next == "json"),
        _ => false,
    })
}

/// The JSON object of a usage error that clap reported (`failure/usage`, exit 2): its first
/// line as the message, the rest (usage, hints) as causes.
pub fn usage_failure_json(message: &str) -> String {
    let plain: String = message.replace("error: ", "");
    let mut lines = plain.lines().map(str::trim).filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or("invalid arguments").to_string();
    let value = serde_json::json!({
        "code": "failure/usage",
        "severity": "error",
        "message": first,
        "causes": lines.map(str::to_string).collect::<Vec<_>>(),
        "exit": exit::FAILURE,
    });
    format!("{value:#}\n")
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

static JSON_STDOUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether stdout holds one JSON document (`--format json`): lines that would otherwise follow it
/// there (a deploy's cache and webhook lines) go to stderr instead.
pub(crate) fn json_stdout() -> bool {
    JSON_STDOUT.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether `--quiet` was given: commands then leave out their progress and summary lines.
pub(crate) fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    JSON_STDOUT.store(cli.json_output(), std::sync::atomic::Ordering::Relaxed);
    // Human diagnostics and logs go to stderr, so `auto` asks whether stderr is a terminal; only
    // `diff`'s coloured comparison goes to stdout.
    let terminal = |is_terminal: bool| match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    let color = terminal(std::io::stderr().is_terminal());
    let stdout_color = terminal(std::io::stdout().is_terminal());
    // A server's warnings (a tier down, a refused admin token) and activations are its log:
    // `serve` logs as with `-v` at least.
    let verbose =
        if matches!(cli.command, Command::Serve(_)) { cli.verbose.max(1) } else { cli.verbose };
    logging::init(verbose, cli.log_format, color);
    // A deploy host verifies with `--pubkey` and needs no project.
    if let Command::VerifyBundle(args) = &cli.command {
        return verify_bundle(cli.root.as_deref(), args);
    }
    match &cli.command {
        Command::Explain(args) => return explain::explain(args),
        Command::Completions(args) => return explain::completions(args),
        Command::Man(args) => return explain::man(args),
        _ => {}
    }
    if let Command::Init(args) = &cli.command {
        return setup::init(cli.root.as_deref(), args);
    }
    // A review reads its head from git and may run in a bare clone, without a project on disk.
    if let Command::Review(args) = &cli.command {
        return review::run(cli.root.as_deref(), args);
    }
    let project = open_project(cli.root.as_deref())?;
    match cli.command {
        Command::Check { paths, format, bless, no_cache, deny_warnings } => {
            let use_cache = !no_cache && !bless;
            let options = Options { bless };
            checking::check(&project, &paths, format, options, use_cache, deny_warnings, color)
        }
        Command::Lock { format } => checking::lock(&project, format, color),
        Command::New(args) => setup::new(&project, &args, color),
        Command::Schema(args) => setup::schema(&project, &args),
        Command::Import(args) => import(&project, &args, color),
        Command::Codegen(args) => codegen(&project, &args, color),
        Command::Render(args) => render::render(&project, &args, color),
        Command::Diff(args) => diff::diff(&project, &args, stdout_color),
        Command::Eval(args) => eval::eval(&project, &args, color),
        Command::Keygen(args) => keygen(&project, &args),
        Command::Build(args) => {
            let code = build(&project, &args, color)?;
            match &args.publish {
                Some(environment) if code == exit::OK => {
                    println!();
                    let out = args
                        .out
                        .clone()
                        .unwrap_or_else(|| project.root.join(crate::pipeline::build::DEFAULT_OUT));
                    deploy::publish_built(&project, environment, &out, color)
                }
                _ => Ok(code),
            }
        }
        Command::Publish(args) => deploy::publish(&project, &args, color),
        Command::Rollback(args) => deploy::rollback(&project, &args),
        Command::Rollout(args) => deploy::rollout(&project, &args),
        Command::Status(args) => deploy::status(&project, &args),
        Command::Warm(args) => deploy::warm(&project, &args),
        Command::Db(command) => deploy::db(&project, &command),
        Command::History(args) => deploy::history(&project, &args),
        Command::Serve(args) => serve::serve(project, &args),
        Command::VerifyBundle(_)
        | Command::Review(_)
        | Command::Init(_)
        | Command::Explain(_)
        | Command::Completions(_)
        | Command::Man(_) => {
            unreachable!("handled before the project is opened")
        }
    }
}

pub(crate) fn open_project(root: Option<&Path>) -> Result<Project> {
    let root = match root {
        Some(root) => {
            if !root.join(config::FILE_NAME).is_file() {
                return Err(config::ConfigError::NoConfig { root: root.to_path_buf() }.into());
            }
            root.to_path_buf()
        }
        None => {
            let working = std::env::current_dir().context("cannot read the working directory")?;
            config::find_root(&working)?
        }
    };
    Ok(config::load(&root)?)
}
