//! The check stage: the parallel check of every prompt (with the result cache and the file index),
//! the selection of paths, the snapshots `--bless` writes, the gate the later stages pass (a clean
//! check), and `lock`'s additions.

use crate::catalog::{Outline, Parsed};
use crate::check::{self, Options};
use crate::config::Project;
use crate::diagnostic::{self, Diagnostic};
use crate::index::Index;
use crate::lock::{self, Lock};
use crate::memo::{self, Memo};
use crate::source::{self, PromptFiles};
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything one `check` produced, with the texts needed to render it.
pub struct CheckRun {
    pub prompts: Vec<PromptFiles>,
    /// Entries of the prompts folder beside the prompt folders (a README, dot files, strays).
    pub extras: Vec<source::Extra>,
    pub diagnostics: Vec<Diagnostic>,
    /// What the lint policy silenced: not in `diagnostics`, counted in the summary and listed by
    /// `--format json`.
    pub silenced: Vec<crate::check::policy::Silenced>,
    pub snapshot_writes: Vec<(String, String)>,
    pub lock_text: Option<String>,
    /// The catalog's prompts (unsorted), when asked for (`check_for_catalog`); else empty.
    pub catalog: Vec<crate::catalog::Prompt>,
    /// The serialised entries of `bundle.json`, with `Keep::Bundle`; else empty.
    pub bundle_entries: Vec<crate::bundle::PromptEntry>,
}

impl CheckRun {
    /// The text of the file a diagnostic names (the lock, or a prompt's file), as it was read.
    pub fn source(&self, path: &str) -> Option<&str> {
        if let Some(text) = &self.lock_text {
            if !path.contains('/') || path.ends_with(".lock") {
                return Some(text);
            }
        }
        let prompt = self
            .prompts
            .iter()
            .find(|p| path.starts_with(&p.dir) && path[p.dir.len()..].starts_with('/'))?;
        let file = prompt.files().find(|f| f.path == path)?;
        std::str::from_utf8(file.bytes()).ok()
    }
}

/// `promptctl check`: loads, checks (with the result cache when `use_cache`), collects the
/// diagnostics, and writes the snapshots that `--bless` asks for (`CheckRun::snapshot_writes`
/// names them).
pub fn check(
    project: &Project,
    paths: &[PathBuf],
    options: Options,
    use_cache: bool,
) -> Result<CheckRun> {
    let run = run_check(project, paths, options, use_cache, Keep::Diagnostics)?;
    for (path, content) in &run.snapshot_writes {
        let target = project.root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&target, content)
            .with_context(|| format!("cannot write the snapshot `{path}`"))?;
    }
    Ok(run)
}

/// What a check run keeps of each prompt that checks clean, besides its diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Nothing (`check`).
    Diagnostics,
    /// Its entry of the catalog (`codegen`).
    Catalog,
    /// Its entry of `bundle.json`, serialised in the prompt's own task, and, when `served`, its
    /// catalog entry with only the versions an environment activates: all that the generated
    /// module needs (`build`).
    Bundle { served: bool },
}

/// The check of every prompt, with the result cache, as the later stages pass it: `Errors` while
/// it reports errors. With a `keep` other than `Diagnostics`, it also reads the catalog: from what
/// the check parsed for prompts it checked, and by loading and parsing the files of prompts whose
/// result came from the cache, in the same task, so no file is parsed twice.
pub fn gate(project: &Project, keep: Keep) -> Result<Gate> {
    let run = run_check(project, &[], Options::default(), true, keep)?;
    if has_errors(&run.diagnostics) {
        return Ok(Gate::Errors(run));
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
    Ok(Gate::Clean(run))
}

/// What the check gate let through.
pub enum Gate {
    /// The check is clean (warnings allowed): the stage goes on with it.
    Clean(CheckRun),
    /// The check reports errors: the stage refuses, and these are the diagnostics to show.
    Errors(CheckRun),
}

impl CheckRun {
    /// `check --deny-warnings`: every warning becomes an error, and says so.
    pub fn deny_warnings(&mut self) {
        for diagnostic in &mut self.diagnostics {
            if !diagnostic.is_error() {
                diagnostic.severity = diagnostic::Severity::Error;
                let note = "made an error by `--deny-warnings`".to_string();
                diagnostic.note = Some(match diagnostic.note.take() {
                    Some(existing) => diagnostic::bounded(
                        format!("{existing}\n{note}"),
                        diagnostic::MAX_NOTE_LINES,
                    ),
                    None => note,
                });
            }
        }
    }

    /// The diagnostics that are errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
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

    // The judge prompts of evals: another prompt's newest version, read once when an eval asks.
    let judged = std::sync::Mutex::new(BTreeMap::new());
    let judges = |name: &str| -> check::evals::JudgePrompt {
        if let Some(known) = judged.lock().ok().and_then(|known| known.get(name).cloned()) {
            return known;
        }
        let found = match listing.folders.iter().find(|folder| folder.name == name) {
            None => check::evals::JudgePrompt::Missing,
            Some(folder) => {
                let (mut files, _) = listing.read(folder);
                files.load();
                check::evals::declared_variables(&files)
            }
        };
        if let Ok(mut known) = judged.lock() {
            known.insert(name.to_string(), found.clone());
        }
        found
    };
    // Each prompt is read and checked in one task, so that a clean prompt's bytes are freed (and
    // their memory reused) while the others are still being read.
    let results: Vec<PromptDone> = folders
        .par_iter()
        .map(|folder| {
            let (mut files, index_entries) = listing.read(folder);
            let checked = check_one(
                project,
                &lock,
                &lock_file,
                &memo,
                &mut files,
                options,
                want_catalog,
                &judges,
            );
            if checked.outcome.diagnostics.is_empty() {
                files.release();
            }
            let (catalog, bundle_entry) = match (keep, checked.catalog) {
                (Keep::Bundle { served }, Some(prompt)) => {
                    let entry = crate::bundle::PromptEntry::new(&prompt);
                    (served.then(|| prompt.served_only()).flatten(), Some(entry))
                }
                (_, catalog) => (catalog, None),
            };
            let Checked { key, cached, outcome, .. } = checked;
            PromptDone { files, index_entries, key, cached, outcome, catalog, bundle_entry }
        })
        .collect();
    let mut prompts = Vec::with_capacity(results.len());
    let mut index_entries = Vec::new();
    let mut snapshot_writes = Vec::new();
    let mut fresh = Memo::default();
    let mut changed = false;
    let mut catalog = Vec::new();
    let mut bundle_entries = Vec::new();
    let mut silenced = Vec::new();
    for done in results {
        prompts.push(done.files);
        index_entries.extend(done.index_entries);
        catalog.extend(done.catalog);
        bundle_entries.extend(done.bundle_entry);
        changed |= !done.cached;
        let (key, outcome) = (done.key, done.outcome);
        if outcome.snapshot_writes.is_empty() && !outcome.uses_other_prompts {
            fresh.insert(key, &outcome.diagnostics, &outcome.silenced);
        }
        diagnostics.extend(outcome.diagnostics);
        silenced.extend(outcome.silenced);
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
    silenced.sort_by(|a, b| {
        let key = |d: &Diagnostic| (d.file.clone(), d.location.as_ref().map(|l| l.start), d.code);
        key(&a.diagnostic).cmp(&key(&b.diagnostic))
    });
    let extras = listing.extras;
    Ok(CheckRun {
        prompts,
        extras,
        diagnostics,
        silenced,
        snapshot_writes,
        lock_text,
        catalog,
        bundle_entries,
    })
}

pub(crate) fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// One prompt's task of a check run: its files, their index entries, its result, and what the
/// run keeps of it.
struct PromptDone {
    files: PromptFiles,
    index_entries: Vec<(String, crate::index::Entry)>,
    key: String,
    cached: bool,
    outcome: check::Outcome,
    catalog: Option<crate::catalog::Prompt>,
    bundle_entry: Option<crate::bundle::PromptEntry>,
}

/// What checking one prompt gave.
struct Checked {
    /// Its key in the result cache.
    key: String,
    /// Whether the result came from the cache.
    cached: bool,
    outcome: check::Outcome,
    /// Its entry of the catalog, when `want_catalog` and it has no errors.
    catalog: Option<crate::catalog::Prompt>,
}

/// Checks one prompt, or takes its result from `memo`; with `want_catalog`, also reads its entry
/// of the catalog, from what the check parsed or by parsing its files after a cache hit.
#[allow(clippy::too_many_arguments)]
fn check_one(
    project: &Project,
    lock: &Lock,
    lock_file: &str,
    memo: &Memo,
    files: &mut PromptFiles,
    options: Options,
    want_catalog: bool,
    judges: &check::evals::Judges,
) -> Checked {
    let mut key = memo::key(project, lock, files);
    if let Some((diagnostics, silenced)) = memo.get(&key) {
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
                let outcome = check::Outcome {
                    diagnostics,
                    snapshot_writes: Vec::new(),
                    silenced,
                    uses_other_prompts: false,
                };
                return Checked { key, cached: true, outcome, catalog };
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
        Some(judges),
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
    Checked { key, cached: false, outcome, catalog }
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

/// What `lock` did.
pub enum Locked {
    /// The check reports errors: nothing was locked.
    Refused(CheckRun),
    /// Every version was locked already; the lock holds this many.
    UpToDate { total: usize },
    /// These entries were added and the lock file written; it holds `total` in all.
    Added { added: Vec<lock::Entry>, total: usize },
}

/// `promptctl lock`: after a check without errors, records the sha256 of every version the lock
/// does not hold yet (never rewriting an entry) and writes the lock file.
pub fn lock(project: &Project) -> Result<Locked> {
    let run = run_check(project, &[], Options::default(), true, Keep::Diagnostics)?;
    if has_errors(&run.diagnostics) {
        return Ok(Locked::Refused(run));
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
        return Ok(Locked::UpToDate { total: lock.entries.len() });
    }
    std::fs::write(&lock_path, lock.render())
        .with_context(|| format!("cannot write `{}`", lock_path.display()))?;
    Ok(Locked::Added { added, total: lock.entries.len() })
}
