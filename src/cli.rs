//! The command line: parses arguments, runs the stages, prints, and maps outcomes to exit codes.
//! The only module besides the I/O stages that touches the outside world; `anyhow` lives here.

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

/// Exit codes: a contract with scripts and CI (docs/commands.md).
pub mod exit {
    /// Success; warnings may have been printed.
    pub const OK: i32 = 0;
    /// The check found errors (or a command refused because of them).
    pub const ERRORS: i32 = 1;
    /// Usage error or operational failure: bad arguments, unreadable files, no project.
    pub const FAILURE: i32 = 2;
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
    /// Import a hard-coded prompt from a legacy source file as a new prompt whose v1 reproduces it
    #[command(group(clap::ArgGroup::new("extraction").multiple(false)))]
    Import(ImportArgs),
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
    }
}

fn open_project(root: Option<&Path>) -> Result<Project> {
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
    pub diagnostics: Vec<Diagnostic>,
    pub snapshot_writes: Vec<(String, String)>,
    pub lock_text: Option<String>,
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
    let prompts_path = project.prompts_path();
    if !prompts_path.is_dir() {
        anyhow::bail!("the prompts folder `{}` does not exist; create it or set `prompts_dir` in promptctl.toml", prompts_path.display());
    }
    let lock_file = project.config.lock_file.clone();
    let lock_path = project.lock_path();
    let mut diagnostics = Vec::new();
    let (lock, lock_text) = match std::fs::read(&lock_path) {
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
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => (Lock::default(), None),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read `{}`", lock_path.display()))
        }
    };
    // The file index lets unchanged files go unread; `--no-cache` and `--bless` read everything.
    let index_path = crate::index::path(&project.root);
    let known = if use_cache { Index::load(&index_path) } else { Index::default() };
    let loaded = source::load(&project.root, &prompts_path, &known)?;
    if use_cache {
        let index = Index::from_entries(loaded.index);
        if !index.same_as(&known) {
            // Best effort, like the result cache.
            let _ = index.save(&index_path);
        }
    }
    let mut prompts = loaded.prompts;
    let prompts_dir_selected = paths.is_empty() || select_all(project, paths);
    if prompts_dir_selected {
        diagnostics.extend(loaded.diagnostics);
    }
    let selected = select(project, &prompts, paths)?;
    if !paths.is_empty() {
        prompts = prompts
            .into_iter()
            .zip(selected.iter())
            .filter(|(_, keep)| **keep)
            .map(|(p, _)| p)
            .collect();
    }

    let memo_path = memo::path(project);
    let memo = if use_cache { Memo::load(&memo_path) } else { Memo::default() };
    let results: Vec<(String, bool, check::Outcome)> = prompts
        .par_iter_mut()
        .map(|files| {
            let key = memo::key(project, &lock, files);
            if let Some(diagnostics) = memo.get(&key) {
                if !diagnostics.is_empty() {
                    // Their snippets show the files' text.
                    let _ = files.load();
                }
                return (key, true, check::Outcome { diagnostics, snapshot_writes: Vec::new() });
            }
            let key = if files.load() { memo::key(project, &lock, files) } else { key };
            (key, false, check::prompt(&project.config, &lock, &lock_file, files, options))
        })
        .collect();

    let mut snapshot_writes = Vec::new();
    let mut fresh = Memo::default();
    let mut changed = false;
    for (key, hit, outcome) in results {
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
    if use_cache && (changed || fresh.len() != memo.len()) && paths.is_empty() {
        // Best effort: a read-only checkout still checks, it just does not get faster.
        let _ = fresh.save(&memo_path);
    }
    diagnostic::sort(&mut diagnostics);
    Ok(CheckRun { prompts, diagnostics, snapshot_writes, lock_text })
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
fn select(project: &Project, prompts: &[PromptFiles], paths: &[PathBuf]) -> Result<Vec<bool>> {
    if paths.is_empty() {
        return Ok(vec![true; prompts.len()]);
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
    Ok(prompts
        .iter()
        .map(|prompt| {
            wanted.iter().any(|w| {
                w.is_empty()
                    || *w == prompt.dir
                    || w.starts_with(&format!("{}/", prompt.dir))
                    || prompt.dir.starts_with(&format!("{w}/"))
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
    let bytes = std::fs::read(&from)
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
