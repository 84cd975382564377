//! The command line: parses arguments, runs the stages, prints, and maps outcomes to exit codes.
//! The only module besides the I/O stages that touches the outside world; `anyhow` lives here.

use crate::catalog::{Outline, Parsed};
use crate::check::{self, Options};
use crate::config::{self, Project};
use crate::diagnostic::{self, Diagnostic};
use crate::index::Index;
use crate::lock::{self, Lock};
use crate::memo::{self, Memo};
use crate::report;
use crate::source::{self, PromptFiles};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use rayon::prelude::*;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

mod deploy;
mod review;

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
}

#[derive(Debug, Parser)]
#[command(
    name = "promptctl",
    version,
    about = "Prompts as code: check, lock, review, build and publish versioned LLM prompts"
)]
pub struct Cli {
    /// The project folder (holding promptctl.toml); default: found by walking up from the working directory
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// When to use colours in human output
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
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
    /// Check prompts: syntax, variables and types, offline tests, structure, lock
    Check {
        /// Prompt folders or files to check (default: every prompt)
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Write missing or changed test snapshots instead of failing
        #[arg(long)]
        bless: bool,
        /// Check everything again, ignoring and not updating the result cache
        #[arg(long)]
        no_cache: bool,
    },
    /// Record the sha256 of new versions in the lock file (never rewrites an entry)
    Lock,
    /// Review a change against a git base: what changes for the model, the code and each environment
    Review(review::ReviewArgs),
    /// Import a hard-coded prompt from a legacy source file as a new prompt whose v1 reproduces it
    #[command(group(clap::ArgGroup::new("extraction").multiple(false)))]
    Import(ImportArgs),
    /// Generate the typed Rust module of the served prompts (the file named by `[codegen] out`)
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
    /// Per prompt: repository activation, store activation, cache entry and TTL left, drift
    Status(deploy::StatusArgs),
    /// Rewrite every cache entry of an environment from its store
    Warm(deploy::EnvArgs),
    /// The store's schema: `promptctl db migrate --env ENV`
    #[command(subcommand)]
    Db(deploy::DbCommand),
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

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    // A deploy host verifies with `--pubkey` and needs no project.
    if let Command::VerifyBundle(args) = &cli.command {
        return verify_bundle(cli.root.as_deref(), args);
    }
    // A review reads its head from git and may run in a bare clone, without a project on disk.
    if let Command::Review(args) = &cli.command {
        return review::run(cli.root.as_deref(), args);
    }
    let project = open_project(cli.root.as_deref())?;
    match cli.command {
        Command::Check { paths, format, bless, no_cache } => {
            let run = check_project(&project, &paths, Options { bless }, !no_cache && !bless)?;
            for (path, content) in &run.snapshot_writes {
                let target = project.root.join(path);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create `{}`", parent.display()))?;
                }
                std::fs::write(&target, content)
                    .with_context(|| format!("cannot write the snapshot `{path}`"))?;
                eprintln!("wrote snapshot {path}");
            }
            print_diagnostics(&run, format, color)?;
            Ok(if run.diagnostics.iter().any(Diagnostic::is_error) {
                exit::ERRORS
            } else {
                exit::OK
            })
        }
        Command::Lock => lock_project(&project, color),
        Command::Import(args) => import(&project, &args, color),
        Command::Codegen(args) => codegen(&project, &args, color),
        Command::Keygen(args) => keygen(&project, &args),
        Command::Build(args) => {
            let code = build(&project, &args, color)?;
            match &args.publish {
                Some(environment) if code == exit::OK => {
                    println!();
                    let out =
                        args.out.clone().unwrap_or_else(|| project.root.join(".promptctl/build"));
                    deploy::publish_built(&project, environment, &out, color)
                }
                _ => Ok(code),
            }
        }
        Command::Publish(args) => deploy::publish(&project, &args, color),
        Command::Rollback(args) => deploy::rollback(&project, &args),
        Command::Status(args) => deploy::status(&project, &args),
        Command::Warm(args) => deploy::warm(&project, &args),
        Command::Db(command) => deploy::db(&project, &command),
        Command::VerifyBundle(_) | Command::Review(_) => {
            unreachable!("handled before the project is opened")
        }
    }
}

pub(crate) fn open_project(root: Option<&Path>) -> Result<Project> {
    let root = match root {
        Some(root) => {
            if !root.join(config::FILE_NAME).is_file() {
                anyhow::bail!(
                    "`{}` has no `promptctl.toml`; pass the folder that holds it",
                    root.display()
                );
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

/// Everything one `check` produced, with the texts needed to render it.
pub struct CheckRun {
    pub prompts: Vec<PromptFiles>,
    /// Entries of the prompts folder beside the prompt folders (a README, dot files, strays).
    pub extras: Vec<source::Extra>,
    pub diagnostics: Vec<Diagnostic>,
    pub snapshot_writes: Vec<(String, String)>,
    pub lock_text: Option<String>,
    /// The catalog's prompts (unsorted), when asked for (`check_for_catalog`); else empty.
    pub catalog: Vec<crate::catalog::Prompt>,
    /// The serialised entries of `bundle.json`, with `Keep::Bundle`; else empty.
    pub bundle_entries: Vec<crate::bundle::PromptEntry>,
}

impl CheckRun {
    /// A diagnostic in the human format. The file it quotes is shown with every secret blanked
    /// out, whatever the diagnostic is about: no output of promptctl ever prints a secret.
    pub fn human(&self, diagnostic: &Diagnostic, color: bool) -> String {
        let text = self.source(&diagnostic.file).map(crate::check::security::redact);
        report::human(diagnostic, text.as_deref(), color)
    }

    fn source(&self, path: &str) -> Option<&str> {
        if let Some(text) = &self.lock_text {
            if !path.contains('/') || path.ends_with(".lock") {
                return Some(text);
            }
        }
        let prompt = self
            .prompts
            .iter()
            .find(|p| path.starts_with(&p.dir) && path[p.dir.len()..].starts_with('/'))?;
        let file = prompt
            .manifest
            .iter()
            .chain(prompt.versions.iter().map(|(_, f)| f))
            .chain(prompt.snapshots.iter())
            .find(|f| f.path == path)?;
        std::str::from_utf8(file.bytes()).ok()
    }
}

/// Loads, checks (with the result cache when `use_cache`) and collects diagnostics.
pub fn check_project(
    project: &Project,
    paths: &[PathBuf],
    options: Options,
    use_cache: bool,
) -> Result<CheckRun> {
    run_check(project, paths, options, use_cache, Keep::Diagnostics)
}

/// What a check run keeps of each prompt that checks clean, besides its diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Nothing (`check`).
    Diagnostics,
    /// Its entry of the catalog (`codegen`).
    Catalog,
    /// Its entry of `bundle.json`, serialised in the prompt's own task, and, when `served`, its
    /// catalog entry with only the versions an environment activates: all that the generated
    /// module needs (`build`).
    Bundle { served: bool },
}

/// `check_project` of every prompt, with the result cache, that also reads the catalog: from what
/// the check parsed for prompts it checked, and by loading and parsing the files of prompts whose
/// result came from the cache, in the same task, so no file is parsed twice.
fn check_for_catalog(project: &Project, keep: Keep) -> Result<CheckRun> {
    run_check(project, &[], Options::default(), true, keep)
}

fn run_check(
    project: &Project,
    paths: &[PathBuf],
    options: Options,
    use_cache: bool,
    keep: Keep,
) -> Result<CheckRun> {
    let want_catalog = keep != Keep::Diagnostics;
    let prompts_path = project.prompts_path();
    if !prompts_path.is_dir() {
        anyhow::bail!("the prompts folder `{}` does not exist; create it or set `prompts_dir` in promptctl.toml", prompts_path.display());
    }
    // Only what the repository holds is read: a prompts folder or a lock file that resolves
    // elsewhere (a link out, an absolute path) would put text nobody reviewed in a bundle.
    let canonical_root = project.root.canonicalize().unwrap_or_else(|_| project.root.clone());
    if let Err(error) = crate::read::inside(&canonical_root, &prompts_path) {
        anyhow::bail!("the prompts folder `{}` cannot be used: {error}; promptctl reads prompts only from inside the repository, so that every one of them is reviewed and versioned (set `prompts_dir` in promptctl.toml to a folder of the repository)", project.config.prompts_dir);
    }
    let lock_file = project.config.lock_file.clone();
    let lock_path = project.lock_path();
    let mut diagnostics = Vec::new();
    let lock_bytes = crate::read::read_inside(
        &canonical_root,
        &lock_path,
        crate::read::LOCK_BYTES,
        "the lock file",
    );
    let (lock, lock_text) = match lock_bytes {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => {
                let (lock, problems) = Lock::parse(&lock_file, &text);
                diagnostics.extend(problems);
                (lock, Some(text))
            }
            Err(_) => {
                anyhow::bail!("`{}` is not valid UTF-8; restore it from git", lock_path.display())
            }
        },
        Err(error) if error.is_not_found() => (Lock::default(), None),
        Err(error) => {
            return Err(error).with_context(|| {
                format!("cannot read `{lock_file}` (`lock_file` in promptctl.toml)")
            })
        }
    };
    // The file index lets unchanged files go unread; `--no-cache` and `--bless` read everything.
    let index_path = crate::index::path(&project.root);
    let known = if use_cache { Index::load(&index_path) } else { Index::default() };
    let memo_path = memo::path(project);
    let (listing, memo) = rayon::join(
        || source::list(&project.root, &prompts_path, &known, project.config.max_template_bytes),
        || if use_cache { Memo::load(&memo_path) } else { Memo::default() },
    );
    let listing = listing?;
    let prompts_dir_selected = paths.is_empty() || select_all(project, paths);
    if prompts_dir_selected {
        diagnostics.extend(listing.diagnostics.iter().cloned());
    }
    let dirs: Vec<&str> = listing.folders.iter().map(|folder| folder.dir.as_str()).collect();
    let selected = select(project, &dirs, paths)?;
    let folders: Vec<&source::Folder> =
        listing.folders.iter().zip(&selected).filter(|(_, keep)| **keep).map(|(f, _)| f).collect();

    // Each prompt is read and checked in one task, so that a clean prompt's bytes are freed (and
    // their memory reused) while the others are still being read.
    type Read = (PromptFiles, Vec<(String, crate::index::Entry)>);
    type Kept = (Option<crate::catalog::Prompt>, Option<crate::bundle::PromptEntry>);
    let results: Vec<(Read, (String, bool, check::Outcome), Kept)> = folders
        .par_iter()
        .map(|folder| {
            let (mut files, index_entries) = listing.read(folder);
            let (key, hit, outcome, catalog) =
                check_one(project, &lock, &lock_file, &memo, &mut files, options, want_catalog);
            if outcome.diagnostics.is_empty() {
                files.release();
            }
            let kept = match (keep, catalog) {
                (Keep::Bundle { served }, Some(prompt)) => {
                    let entry = crate::bundle::PromptEntry::new(&prompt);
                    (served.then(|| prompt.served_only()).flatten(), Some(entry))
                }
                (_, catalog) => (catalog, None),
            };
            ((files, index_entries), (key, hit, outcome), kept)
        })
        .collect();
    let mut prompts = Vec::with_capacity(results.len());
    let mut index_entries = Vec::new();
    let mut snapshot_writes = Vec::new();
    let mut fresh = Memo::default();
    let mut changed = false;
    let mut catalog = Vec::new();
    let mut bundle_entries = Vec::new();
    for ((files, entries), (key, hit, outcome), (prompt, bundle_entry)) in results {
        prompts.push(files);
        index_entries.extend(entries);
        catalog.extend(prompt);
        bundle_entries.extend(bundle_entry);
        changed |= !hit;
        if outcome.snapshot_writes.is_empty() {
            fresh.insert(key, &outcome.diagnostics);
        }
        diagnostics.extend(outcome.diagnostics);
        snapshot_writes.extend(outcome.snapshot_writes);
    }
    // Locked prompts whose folder is gone entirely.
    if paths.is_empty() {
        let names: std::collections::BTreeSet<&str> =
            prompts.iter().map(|p| p.name.as_str()).collect();
        let mut gone: Vec<&str> = lock
            .entries
            .iter()
            .map(|e| e.name.as_str())
            .filter(|name| !names.contains(name))
            .collect();
        gone.dedup();
        for name in gone {
            let dir = format!("{}/{name}", project.config.prompts_dir.trim_end_matches('/'));
            lock::check(&lock, &lock_file, &dir, name, &[], &[], &mut diagnostics);
        }
    }
    // Both caches are best effort: a read-only checkout still checks, it just does not get
    // faster. A partial check leaves them as they were.
    if use_cache && paths.is_empty() {
        rayon::join(
            || {
                if changed || fresh.len() != memo.len() {
                    let _ = fresh.save(&memo_path);
                }
            },
            || {
                let index = Index::from_entries(index_entries);
                if !index.same_as(&known) {
                    let _ = index.save(&index_path);
                }
            },
        );
    }
    diagnostic::sort(&mut diagnostics);
    let extras = listing.extras;
    Ok(CheckRun {
        prompts,
        extras,
        diagnostics,
        snapshot_writes,
        lock_text,
        catalog,
        bundle_entries,
    })
}

fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// What checking one prompt gave: its result cache key, whether the result came from the cache,
/// the outcome, and (when `want_catalog` and it has no errors) its entry of the catalog.
type Checked = (String, bool, check::Outcome, Option<crate::catalog::Prompt>);

/// Checks one prompt, or takes its result from `memo`; with `want_catalog`, also reads its entry
/// of the catalog, from what the check parsed or by parsing its files after a cache hit.
fn check_one(
    project: &Project,
    lock: &Lock,
    lock_file: &str,
    memo: &Memo,
    files: &mut PromptFiles,
    options: Options,
    want_catalog: bool,
) -> Checked {
    let mut key = memo::key(project, lock, files);
    if let Some(diagnostics) = memo.get(&key) {
        // Their snippets show the files' text, and the catalog needs their bytes.
        let read = (want_catalog || !diagnostics.is_empty()) && files.load();
        let reread_key = read.then(|| memo::key(project, lock, files));
        // A file that changed since the index vouched for it is checked again.
        match reread_key {
            Some(changed) if changed != key => key = changed,
            _ => {
                let outline = (want_catalog && !has_errors(&diagnostics))
                    .then(|| Outline::read(&project.config, files))
                    .flatten();
                let catalog = outline.map(|outline| outline.finish(files));
                let outcome = check::Outcome { diagnostics, snapshot_writes: Vec::new() };
                return (key, true, outcome, catalog);
            }
        }
    }
    if files.load() {
        key = memo::key(project, lock, files);
    }
    let checked = &*files;
    let (outcome, outline) = check::prompt_with(
        &project.config,
        lock,
        lock_file,
        checked,
        options,
        |manifest, versions| {
            want_catalog
                .then(|| {
                    let parsed = versions.iter().map(|version| {
                        version.body?;
                        Some(Parsed {
                            text: version.text?,
                            body_offset: version.body_offset,
                            front: version.front.as_ref()?,
                            variables: version.variables.as_deref()?,
                        })
                    });
                    Outline::from_parsed(&project.config, checked, manifest, parsed)
                })
                .flatten()
        },
    );
    // A prompt with errors keeps its bytes: its diagnostics quote them.
    let outline = outline.filter(|_| !has_errors(&outcome.diagnostics));
    let catalog = outline.map(|outline| outline.finish(files));
    (key, false, outcome, catalog)
}

/// Whether a PATH argument names the prompts folder itself (or the root): then problems of the
/// folder as a whole are reported too.
fn select_all(project: &Project, paths: &[PathBuf]) -> bool {
    let prompts = project.prompts_path().canonicalize().ok();
    let root = project.root.canonicalize().ok();
    paths
        .iter()
        .filter_map(|path| path.canonicalize().ok())
        .any(|path| Some(&path) == prompts.as_ref() || Some(&path) == root.as_ref())
}

/// Which prompts the PATH arguments select (all when there are none).
fn select(project: &Project, dirs: &[&str], paths: &[PathBuf]) -> Result<Vec<bool>> {
    if paths.is_empty() {
        return Ok(vec![true; dirs.len()]);
    }
    let working = std::env::current_dir().context("cannot read the working directory")?;
    let root = project.root.canonicalize().unwrap_or_else(|_| project.root.clone());
    let mut wanted = Vec::new();
    for path in paths {
        let absolute = if path.is_absolute() { path.clone() } else { working.join(path) };
        let absolute = absolute
            .canonicalize()
            .with_context(|| format!("`{}` does not exist", path.display()))?;
        let relative = absolute.strip_prefix(&root).map_err(|_| {
            anyhow::anyhow!("`{}` is outside the project `{}`", path.display(), root.display())
        })?;
        wanted.push(
            relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
        );
    }
    Ok(dirs
        .iter()
        .map(|dir| {
            wanted.iter().any(|w| {
                w.is_empty()
                    || w == dir
                    || w.starts_with(&format!("{dir}/"))
                    || dir.starts_with(&format!("{w}/"))
            })
        })
        .collect())
}

fn print_diagnostics(run: &CheckRun, format: Format, color: bool) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Json => out.write_all(report::json(&run.diagnostics).as_bytes())?,
        Format::Github => out.write_all(report::github(&run.diagnostics).as_bytes())?,
        Format::Sarif => out.write_all(report::sarif(&run.diagnostics).as_bytes())?,
        Format::Human => {
            for diagnostic in &run.diagnostics {
                out.write_all(run.human(diagnostic, color).as_bytes())?;
            }
            let versions = run.prompts.iter().map(|p| p.versions.len()).sum();
            out.write_all(
                report::summary(&run.diagnostics, run.prompts.len(), versions).as_bytes(),
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

fn lock_project(project: &Project, color: bool) -> Result<i32> {
    let run = check_project(project, &[], Options::default(), true)?;
    let blocking: Vec<&Diagnostic> = run.diagnostics.iter().filter(|d| d.is_error()).collect();
    if !blocking.is_empty() {
        for diagnostic in &blocking {
            print!("{}", run.human(diagnostic, color));
        }
        eprintln!(
            "error: not locking while `check` reports {} error(s); fix them first",
            blocking.len()
        );
        return Ok(exit::ERRORS);
    }
    let lock_path = project.lock_path();
    let mut lock = match &run.lock_text {
        Some(text) => Lock::parse(&project.config.lock_file, text).0,
        None => Lock::default(),
    };
    let candidates = run.prompts.iter().flat_map(|prompt| {
        prompt.versions.iter().map(|(number, file)| lock::Entry {
            name: prompt.name.clone(),
            version: *number,
            sha256: file.sha256_hex(),
        })
    });
    let added = lock.add(candidates);
    if added.is_empty() {
        println!(
            "{} is up to date ({} locked versions)",
            project.config.lock_file,
            lock.entries.len()
        );
        return Ok(exit::OK);
    }
    std::fs::write(&lock_path, lock.render())
        .with_context(|| format!("cannot write `{}`", lock_path.display()))?;
    for entry in &added {
        println!("locked {} v{} sha256:{}", entry.name, entry.version, lock::short(&entry.sha256));
    }
    println!(
        "{}: {} new, {} locked versions in all",
        project.config.lock_file,
        added.len(),
        lock.entries.len()
    );
    Ok(exit::OK)
}

fn import(project: &Project, args: &ImportArgs, color: bool) -> Result<i32> {
    use crate::syntax::prompt::{Extract, Unescape};
    if !check::is_valid_name(&args.name) {
        anyhow::bail!("`{}` is not a valid prompt name: use lowercase letters, digits and `-`, starting with a letter (at most 64)", args.name);
    }
    let prompt_dir = project.prompts_path().join(&args.name);
    let relative_dir = source::relative(&project.root, &prompt_dir);
    if prompt_dir.exists() {
        anyhow::bail!("prompt `{}` already exists at `{relative_dir}`; import never overwrites: choose another name, or add a version to the existing prompt", args.name);
    }
    let from = args
        .from
        .canonicalize()
        .with_context(|| format!("cannot read the legacy file `{}`", args.from.display()))?;
    let root = project.root.canonicalize().unwrap_or_else(|_| project.root.clone());
    let from_relative = from
        .strip_prefix(&root)
        .map_err(|_| anyhow::anyhow!("`{}` is outside the repository; copy the legacy source into it (e.g. under legacy/) so that the seed check can keep reading it", args.from.display()))?;
    let from_relative = from_relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let bytes = crate::read::read(&from, crate::read::TEXT_BYTES, "a legacy file of `[seed]`")
        .with_context(|| format!("cannot read the legacy file `{from_relative}`"))?;
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("`{from_relative}` is not valid UTF-8; convert it (e.g. `iconv -f windows-1252 -t utf-8`) and commit it first"))?;
    let extract = match (&args.between, &args.lines, &args.json_pointer, &args.toml_key) {
        (Some(markers), _, _, _) => {
            Some(Extract::Between([markers[0].clone(), markers[1].clone()]))
        }
        (_, Some(lines), _, _) => Some(Extract::Lines(lines.clone())),
        (_, _, Some(pointer), _) => Some(Extract::JsonPointer(pointer.clone())),
        (_, _, _, Some(key)) => Some(Extract::TomlKey(key.clone())),
        _ => None,
    };
    let (mode, mode_name) = match args.unescape {
        UnescapeArg::None => (Unescape::None, "none"),
        UnescapeArg::C => (Unescape::C, "c"),
        UnescapeArg::CsharpVerbatim => (Unescape::CsharpVerbatim, "csharp-verbatim"),
        UnescapeArg::JsTemplate => (Unescape::JsTemplate, "js-template"),
    };
    let seed_error = |error: crate::seed::SeedError, literal_start: Option<usize>| {
        let slice = crate::seed::is_slice(extract.as_ref());
        let at = crate::seed::position(
            &from_relative,
            &text,
            error.span.clone().filter(|_| slice),
            literal_start,
        );
        anyhow::anyhow!("`{from_relative}`: {}{at}; {}", error.message, error.help)
    };
    let (literal, literal_range) =
        crate::seed::extract(&text, extract.as_ref()).map_err(|e| seed_error(e, None))?;
    let literal_start = crate::seed::is_slice(extract.as_ref()).then_some(literal_range.start);
    let legacy = crate::seed::unescape(&literal, mode).map_err(|e| seed_error(e, literal_start))?;
    if legacy.trim().is_empty() {
        anyhow::bail!(
            "the extracted text of `{from_relative}` is empty; check the extraction flags"
        );
    }
    let body = crate::seed::escape_for_template(&legacy)
        .map_err(|problem| anyhow::anyhow!("{problem}"))?;

    let quote = |value: &str| toml::Value::String(value.to_string()).to_string();
    let description = args
        .description
        .clone()
        .unwrap_or_else(|| format!("Imported from {from_relative}; say what this prompt is for"));
    let mut manifest = format!(
        "#:schema ../../schemas/prompt.schema.json\ndescription = {}\n\n[activate]\n",
        quote(&description)
    );
    for environment in project.config.environments.keys() {
        manifest.push_str(&format!("{environment} = 1\n"));
    }
    manifest.push_str(&format!(
        "\n[seed]            # v1 must render exactly the legacy text\nversion = 1\nfile = {}\n",
        quote(&from_relative)
    ));
    match &extract {
        Some(Extract::Between([start, end])) => manifest.push_str(&format!(
            "extract = {{ between = [{}, {}] }}\n",
            quote(start),
            quote(end)
        )),
        Some(Extract::Lines(lines)) => {
            manifest.push_str(&format!("extract = {{ lines = {} }}\n", quote(lines)))
        }
        Some(Extract::JsonPointer(pointer)) => {
            manifest.push_str(&format!("extract = {{ json_pointer = {} }}\n", quote(pointer)))
        }
        Some(Extract::TomlKey(key)) => {
            manifest.push_str(&format!("extract = {{ toml_key = {} }}\n", quote(key)))
        }
        None => {}
    }
    if mode != Unescape::None {
        manifest.push_str(&format!("unescape = \"{mode_name}\"\n"));
    }
    std::fs::create_dir_all(&prompt_dir)
        .with_context(|| format!("cannot create `{relative_dir}`"))?;
    std::fs::write(prompt_dir.join("prompt.toml"), manifest)
        .with_context(|| format!("cannot write `{relative_dir}/prompt.toml`"))?;
    std::fs::write(prompt_dir.join("v1.prompt"), format!("+++\n+++\n{body}"))
        .with_context(|| format!("cannot write `{relative_dir}/v1.prompt`"))?;
    println!("imported `{}` from {from_relative}: {relative_dir}/prompt.toml and {relative_dir}/v1.prompt ({} bytes)", args.name, legacy.len());

    let run = check_project(project, std::slice::from_ref(&prompt_dir), Options::default(), false)?;
    let errors: Vec<&Diagnostic> = run.diagnostics.iter().filter(|d| d.is_error()).collect();
    for diagnostic in &errors {
        print!("{}", run.human(diagnostic, color));
    }
    if !errors.is_empty() {
        eprintln!("error: the imported prompt does not check clean; this is a bug in `promptctl import`, please report it");
        return Ok(exit::ERRORS);
    }
    println!("seed check: v1 reproduces the legacy text byte for byte");
    println!("next: declare variables in v1's front matter and replace literal parts with {{{{name}}}}, with their values in `[seed] vars`; `promptctl check` proves the text did not change. Then add tests, and `promptctl lock`.");
    Ok(exit::OK)
}

#[derive(Debug, clap::Args)]
pub struct CodegenArgs {
    /// Compare with the file instead of writing it: print a diff and exit 1 when it is stale
    #[arg(long)]
    pub check: bool,
    /// The file to generate (default: `[codegen] out` of promptctl.toml), relative to the project root
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
}

/// Checks the project and, when it checks clean, reads its catalog; otherwise prints the errors,
/// says why `what` refuses, and returns `None`.
pub(crate) fn checked_catalog(
    project: &Project,
    color: bool,
    what: &str,
) -> Result<Option<crate::catalog::Catalog>> {
    Ok(checked_run(project, color, what, Keep::Catalog)?
        .map(|run| crate::catalog::Catalog::new(&project.config, run.catalog)))
}

/// `check_for_catalog`, refusing (printing the errors, `None`) while it reports errors.
fn checked_run(project: &Project, color: bool, what: &str, keep: Keep) -> Result<Option<CheckRun>> {
    let run = check_for_catalog(project, keep)?;
    let errors: Vec<&Diagnostic> = run.diagnostics.iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        for diagnostic in &errors {
            print!("{}", run.human(diagnostic, color));
        }
        eprintln!(
            "error: not {what} while `check` reports {} error(s); fix them first",
            errors.len()
        );
        return Ok(None);
    }
    // A file the index vouched for may have become unreadable since.
    let unreadable = run.prompts.iter().find_map(|prompt| {
        let problem =
            prompt.diagnostics.iter().find(|d| d.code == diagnostic::Code::SyntaxEncoding)?;
        Some(format!("cannot read `{}`: {}", problem.file, problem.message))
    });
    if let Some(message) = unreadable {
        anyhow::bail!(message);
    }
    Ok(Some(run))
}

fn codegen(project: &Project, args: &CodegenArgs, color: bool) -> Result<i32> {
    let Some(out) =
        args.out.clone().or_else(|| project.config.codegen.as_ref().map(|c| c.out.clone()))
    else {
        anyhow::bail!("no file to generate: add `[codegen]` with `out = \"src/prompts.rs\"` to promptctl.toml, or pass `--out FILE`");
    };
    let what = if args.check { "checking generated code" } else { "generating code" };
    let Some(catalog) = checked_catalog(project, color, what)? else { return Ok(exit::ERRORS) };
    let generated = crate::codegen::generate(&catalog);
    let target = project.root.join(&out);
    let current = match std::fs::read(&target) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).with_context(|| format!("cannot read `{out}`")),
    };
    if current.as_deref() == Some(generated.as_str()) {
        println!("{out} is up to date");
        return Ok(exit::OK);
    }
    if args.check {
        let old = current.as_deref().unwrap_or("");
        print!("{}", crate::diff::unified(old, &generated, &out, &format!("{out} (generated)")));
        eprintln!(
            "error: `{out}` is {}; run `promptctl codegen` and commit the result",
            if current.is_some() { "stale" } else { "missing" }
        );
        return Ok(exit::ERRORS);
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(&target, &generated).with_context(|| format!("cannot write `{out}`"))?;
    println!("wrote {out}");
    Ok(exit::OK)
}

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// The public key file to write (default: keys/promptctl.pub in the project); commit it and list it in `[signing] public_keys`
    #[arg(long, value_name = "FILE")]
    pub public: Option<PathBuf>,
    /// The secret key file to write (default: .promptctl/keys/promptctl.key in the project); keep it out of git, CI reads it from PROMPTCTL_SIGNING_KEY
    #[arg(long, value_name = "FILE")]
    pub secret: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The folder to write bundle.json and bundle.json.minisig to (default: .promptctl/build in the project)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The minisign secret key file to sign with (default: PROMPTCTL_SIGNING_KEY, then `[signing] secret_key`, then a local development key)
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The bundle expires this many days after its commit's time (1 to 36500)
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub expires_in: Option<u32>,
    /// Then publish the bundle to this environment (as `promptctl publish --env ENV` would)
    #[arg(long, value_name = "ENV")]
    pub publish: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyBundleArgs {
    /// The bundle: a bundle.json file (its signature is BUNDLE.minisig) or the folder holding it
    pub bundle: PathBuf,
    /// A trusted minisign public key file (repeatable; default: `[signing] public_keys` of promptctl.toml)
    #[arg(long = "pubkey", value_name = "FILE")]
    pub pubkeys: Vec<PathBuf>,
}

/// The environment variable holding a secret key file's contents, for CI secret stores.
const SIGNING_KEY_VARIABLE: &str = "PROMPTCTL_SIGNING_KEY";
/// Where `build` keeps the development key when no signing key is configured.
const DEV_KEY_DIR: &str = ".promptctl/dev-key";
const DEV_SECRET_KEY: &str = "promptctl-dev.key";
const DEV_PUBLIC_KEY: &str = "promptctl-dev.pub";

fn signing_password() -> Option<String> {
    std::env::var(crate::signing::PASSWORD_VARIABLE).ok()
}

fn keygen(project: &Project, args: &KeygenArgs) -> Result<i32> {
    let public_path =
        args.public.clone().unwrap_or_else(|| project.root.join("keys/promptctl.pub"));
    let secret_path =
        args.secret.clone().unwrap_or_else(|| project.root.join(".promptctl/keys/promptctl.key"));
    let secret_dir_existed =
        secret_path.parent().is_none_or(|dir| dir.as_os_str().is_empty() || dir.exists());
    let password = signing_password();
    let key_id = crate::signing::write_key_pair(&public_path, &secret_path, password.as_deref())?;
    if !secret_dir_existed {
        if let Some(dir) = secret_path.parent() {
            // The folder is new and holds a secret: keep all of it out of git.
            let _ = std::fs::write(dir.join(".gitignore"), "*\n");
        }
    }
    let public = shown(project, &public_path);
    let secret = shown(project, &secret_path);
    println!("wrote {public}: public key {key_id}; commit it and list it in `[signing] public_keys` of promptctl.toml");
    let protection = if password.is_some() {
        format!("encrypted with the password in {}", crate::signing::PASSWORD_VARIABLE)
    } else {
        format!(
            "not encrypted (set {} before keygen to encrypt it)",
            crate::signing::PASSWORD_VARIABLE
        )
    };
    println!("wrote {secret}: secret key, mode 0600, {protection}; never commit it: give its contents to CI as {SIGNING_KEY_VARIABLE}, or pass `build --key {secret}`");
    Ok(exit::OK)
}

/// A path for messages: relative to the project root when it is inside it.
fn shown(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.root).unwrap_or(path).display().to_string()
}

/// A key file's text (a minisign key is a few hundred bytes; its path may come from the committed
/// promptctl.toml, so it is read bounded).
fn read_key_file(path: &Path) -> Result<String> {
    let bytes = crate::read::read(path, crate::read::KEY_BYTES, "a key file")?;
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("it is not valid UTF-8"))
}

/// The key `build` signs with, where it came from, and whether it is the development key.
fn signing_key(
    project: &Project,
    key_file: Option<&Path>,
) -> Result<(crate::signing::SecretKey, String, bool)> {
    let password = signing_password();
    let read_file = |path: &Path, name: String| -> Result<crate::signing::SecretKey> {
        let text = read_key_file(path)
            .with_context(|| format!("cannot read the secret key `{}`", path.display()))?;
        Ok(crate::signing::read_secret_key(&text, password.as_deref(), &name)?)
    };
    if let Some(path) = key_file {
        let name = format!("`{}`", path.display());
        return Ok((read_file(path, name.clone())?, name, false));
    }
    if let Ok(text) = std::env::var(SIGNING_KEY_VARIABLE) {
        let name = format!("from {SIGNING_KEY_VARIABLE}");
        return Ok((
            crate::signing::read_secret_key(&text, password.as_deref(), &name)?,
            name,
            false,
        ));
    }
    if let Some(path) = &project.config.signing.secret_key {
        let name = format!("`{path}` (`[signing] secret_key`)");
        return Ok((read_file(&project.root.join(path), name.clone())?, name, false));
    }
    let dir = project.root.join(DEV_KEY_DIR);
    let secret_path = dir.join(DEV_SECRET_KEY);
    let name = format!("`{DEV_KEY_DIR}/{DEV_SECRET_KEY}`");
    if !secret_path.exists() {
        crate::signing::write_key_pair(&dir.join(DEV_PUBLIC_KEY), &secret_path, None)?;
        let _ = std::fs::write(dir.join(".gitignore"), "*\n");
        eprintln!("note: no signing key configured: created the development key {name}");
    }
    let text = read_key_file(&secret_path)
        .with_context(|| format!("cannot read the development key {name}"))?;
    Ok((crate::signing::read_secret_key(&text, None, &name)?, name, true))
}

fn build(project: &Project, args: &BuildArgs, color: bool) -> Result<i32> {
    use crate::bundle;
    let inputs =
        [config::FILE_NAME, project.config.prompts_dir.as_str(), project.config.lock_file.as_str()];
    // git reads HEAD and its index, and the files beside the prompts are read, while the prompts
    // are checked and read.
    let (run, head) = std::thread::scope(|scope| {
        let head = scope.spawn(|| (bundle::head(&project.root, &inputs), read_top_inputs(project)));
        // Each prompt's entry of the bundle is serialised as soon as it is checked; the catalog
        // keeps only what the generated module needs, if it is generated.
        let keep = Keep::Bundle { served: project.config.codegen.is_some() };
        let run = checked_run(project, color, "building", keep);
        (run, head.join())
    });
    let Some(mut run) = run? else {
        return Ok(exit::ERRORS);
    };
    let (head, top_inputs) = match head {
        Ok((head, top_inputs)) => (head?, top_inputs),
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let provenance = {
        let extras = top_inputs.zip(read_extras(&run));
        let files = extras.as_ref().map(|(top, extras)| {
            let prompt_files = run.prompts.iter().flat_map(PromptFiles::files);
            prompt_files.chain(top).chain(extras).map(work_file).collect::<Vec<_>>()
        });
        head.provenance(&project.root, &inputs, files.as_deref())?
    };
    let catalog = crate::catalog::Catalog::new(&project.config, std::mem::take(&mut run.catalog));
    let entries = std::mem::take(&mut run.bundle_entries);
    drop(run);
    let (key, key_name, development_signed) = signing_key(project, args.key.as_deref())?;
    let options = bundle::Options { expires_in_days: args.expires_in, development_signed };

    let out = args.out.clone().unwrap_or_else(|| project.root.join(".promptctl/build"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create `{}`", out.display()))?;
    let bundle_path = out.join("bundle.json");
    let signature_path = out.join("bundle.json.minisig");
    let signed = std::fs::File::create(&bundle_path)
        .and_then(|mut file| {
            let environments = &catalog.environments;
            bundle::write_entries(&entries, environments, &provenance, &key, options, &mut file)
        })
        .with_context(|| format!("cannot write `{}`", bundle_path.display()))?;
    std::fs::write(&signature_path, &signed.signature)
        .with_context(|| format!("cannot write `{}`", signature_path.display()))?;

    if let Some(codegen) = &project.config.codegen {
        let generated = crate::codegen::generate(&catalog);
        let target = project.root.join(&codegen.out);
        if std::fs::read(&target).ok().as_deref() != Some(generated.as_bytes()) {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create `{}`", parent.display()))?;
            }
            std::fs::write(&target, &generated)
                .with_context(|| format!("cannot write `{}`", codegen.out))?;
            println!("wrote {} (it was stale: commit it)", codegen.out);
        }
    }

    let versions: usize = entries.iter().map(|entry| entry.versions).sum();
    let commit = &provenance.git_commit[..provenance.git_commit.len().min(12)];
    println!(
        "built {}: {} prompts, {versions} versions, seq {}, commit {commit}, sha256 {}",
        shown(project, &bundle_path),
        entries.len(),
        provenance.seq,
        &signed.sha256[..12],
    );
    println!("signed {} with key {} ({key_name})", shown(project, &signature_path), key.key_id());
    if let Some(expires) = &bundle::expires(&provenance, options) {
        println!("expires {expires}");
    }
    if development_signed {
        eprintln!("warning: the bundle is development-signed: only the embedded store accepts it; configure a key (`promptctl keygen`, then `--key`, {SIGNING_KEY_VARIABLE} or `[signing] secret_key`) for deployable bundles");
    }
    if provenance.dirty {
        eprintln!("warning: promptctl.toml, the prompts or the lock file have uncommitted changes: the bundle is marked dirty, and publishing it to production needs `--force`");
    }
    // Hundreds of thousands of allocations: freeing them one by one takes longer than the
    // process's exit, which returns the memory at once.
    std::mem::forget((catalog, entries));
    Ok(exit::OK)
}

/// promptctl.toml and the lock file, read for their git blob ids (`None`: one could not be read;
/// a missing lock file is simply left out).
fn read_top_inputs(project: &Project) -> Option<Vec<source::SourceFile>> {
    let mut files = Vec::new();
    let caps =
        [(crate::read::CONFIG_BYTES, "promptctl.toml"), (crate::read::LOCK_BYTES, "the lock file")];
    for (relative, (limit, what)) in
        [config::FILE_NAME, project.config.lock_file.as_str()].into_iter().zip(caps)
    {
        match source::read_one(&project.root, relative, limit, what) {
            Ok(mut file) => {
                drop(file.take_bytes());
                files.push(file);
            }
            Err(error) if error.is_not_found() => {}
            Err(_) => return None,
        }
    }
    Some(files)
}

/// The entries of the prompts folder that no check read, read now for their git blob ids (`None`:
/// one is a folder, a link or unreadable, so only `git status` can tell whether it is committed).
fn read_extras(run: &CheckRun) -> Option<Vec<source::SourceFile>> {
    let extras = run.extras.iter().chain(run.prompts.iter().flat_map(|prompt| &prompt.extras));
    extras
        .map(|extra| {
            let mut file = extra.read().ok().filter(|_| extra.is_file)?;
            drop(file.take_bytes());
            Some(file)
        })
        .collect()
}

fn work_file(file: &source::SourceFile) -> crate::bundle::WorkFile<'_> {
    crate::bundle::WorkFile { path: &file.path, blob: file.blob, executable: file.executable }
}

/// Reads a bundle (a bundle.json file, or the folder holding it) and its signature, and verifies
/// them with the given public keys, or else the keys `promptctl.toml` trusts (and, for a bundle
/// that says it is development-signed, this project's development key). `every_prompt` checks
/// every prompt now; otherwise they are checked when used (`bundle::authenticate`).
pub(crate) fn read_verified(
    project: Option<&Project>,
    bundle: &Path,
    pubkeys: &[PathBuf],
    every_prompt: bool,
) -> Result<(PathBuf, crate::bundle::Verified)> {
    use crate::bundle::{self, Error};
    let bundle_path =
        if bundle.is_dir() { bundle.join("bundle.json") } else { bundle.to_path_buf() };
    let mut signature_path = bundle_path.clone().into_os_string();
    signature_path.push(".minisig");
    let signature_path = PathBuf::from(signature_path);
    let bytes = std::fs::read(&bundle_path)
        .map_err(|source| Error::Read { path: bundle_path.clone(), source })?;
    let signature = match std::fs::read_to_string(&signature_path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::SignatureMissing { path: signature_path }.into())
        }
        Err(source) => return Err(Error::Read { path: signature_path, source }.into()),
    };
    let read_key = |path: &Path, shown: String| -> Result<crate::signing::PublicKey> {
        let text =
            read_key_file(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        Ok(crate::signing::read_public_key(&text, &shown)?)
    };
    let mut trusted = Vec::new();
    if pubkeys.is_empty() {
        if let Some(project) = project {
            for path in &project.config.signing.public_keys {
                trusted.push(read_key(&project.root.join(path), format!("`{path}`"))?);
            }
        }
    } else {
        for path in pubkeys {
            trusted.push(read_key(path, format!("`{}`", path.display()))?);
        }
    }
    // A development-signed bundle also verifies with this project's own development key: trusted
    // when the signature names it, and then only for a bundle that says it is development-signed.
    let signed_by = crate::signing::signature_key_id(&signature).ok();
    let mut development_key = None;
    if let Some(project) = project {
        let path = project.root.join(DEV_KEY_DIR).join(DEV_PUBLIC_KEY);
        if path.is_file() {
            let key = read_key(&path, format!("`{DEV_KEY_DIR}/{DEV_PUBLIC_KEY}`"))?;
            if signed_by.as_deref() == Some(key.key_id().as_str())
                && !trusted
                    .iter()
                    .any(|trusted: &crate::signing::PublicKey| trusted.key_id() == key.key_id())
            {
                development_key = Some(key.key_id());
                trusted.push(key);
            }
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    let verified = if every_prompt {
        bundle::verify(bytes, &signature, &trusted, now)?
    } else {
        bundle::authenticate(bytes, &signature, &trusted, now)?
    };
    if development_key.is_some() && !verified.development_signed() {
        anyhow::bail!(
            "`{}` is signed with the development key but does not say it is development-signed; rebuild it with `promptctl build`",
            bundle_path.display()
        );
    }
    Ok((bundle_path, verified))
}

fn verify_bundle(root: Option<&Path>, args: &VerifyBundleArgs) -> Result<i32> {
    let project =
        if args.pubkeys.is_empty() { Some(open_project(root)?) } else { open_project(root).ok() };
    let (bundle_path, verified) =
        read_verified(project.as_ref(), &args.bundle, &args.pubkeys, true)?;
    let mut versions = 0;
    for name in verified.names() {
        versions += verified.prompt(name)?.versions.len();
    }
    let header = verified.header();
    println!(
        "verified {}: format {}, seq {}, commit {}, {} prompts, {versions} versions, signed by key {}",
        bundle_path.display(),
        header.format,
        verified.seq(),
        header.git_commit,
        verified.len(),
        verified.key_id()
    );
    if let Some(expires) = &header.expires {
        println!("expires {expires}");
    }
    if header.dirty {
        eprintln!("warning: built from uncommitted changes (dirty); publishing it to production needs `--force`");
    }
    if verified.development_signed() {
        eprintln!("warning: development-signed: only the embedded store accepts it");
    }
    Ok(exit::OK)
}
