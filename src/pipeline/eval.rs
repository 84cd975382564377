//! `promptctl eval`: the `[[eval]]` entries of the selected prompts, expanded into jobs (an eval
//! of one version: its cases rendered, its assertions prepared), run through `eval::run` with
//! the recorded responses, and summed into `eval::report::Report`. With `--base REV`, each eval
//! runs on the version the base's `[activate]` serves and on the head's; with `--record`, the
//! answers each prompt used are written into its `evals/recorded/` folder.

use super::check::{self, Gate, Keep};
use super::render::{self, project_dir, render_version, version_file};
use crate::catalog::{Prompt, Version};
use crate::config::Project;
use crate::eval::cache::Cache;
use crate::eval::provider::Model;
use crate::eval::report::{self, Report};
use crate::eval::run::{self, Assertion, Case, Job, JudgePrompt};
use crate::syntax::eval::{AssertKind, CasesSpec, EvalSpec};
use crate::syntax::prompt;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What `eval` was asked.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Prompts (empty: every prompt with evals).
    pub names: Vec<String>,
    /// Only the evals of this name.
    pub eval: Option<String>,
    /// `N` or `@ENV`.
    pub version: Option<String>,
    /// Evaluate the base's served version and the head's.
    pub base: Option<String>,
    /// The environment whose activations `--base` compares.
    pub env: String,
    pub options: run::Options,
    /// Write the answers used into the prompts' `evals/recorded/` folders.
    pub record: bool,
    /// With `record`: also remove the recorded answers this run did not use (the caller makes
    /// sure the run is unfiltered: every eval of the prompts, each on its default versions).
    pub prune: bool,
}

pub enum Evaluated {
    Done {
        report: Report,
        /// (folder, files written, files removed) for `--record`.
        recorded: Vec<(String, usize, usize)>,
    },
    /// The check reports errors.
    Errors(check::CheckRun),
    /// No prompt has an `[[eval]]` (and none was named): nothing to run.
    Nothing,
}

pub fn eval(project: &Project, request: &Request) -> Result<Evaluated> {
    let run = match check::gate(project, Keep::Catalog)? {
        Gate::Clean(run) => run,
        // Named prompts are evaluated when the errors are elsewhere (the judge prompts they use
        // and promptctl.toml count as theirs).
        Gate::Errors(run) if !blocking(project, &run, &request.names) => run,
        Gate::Errors(run) => return Ok(Evaluated::Errors(run)),
    };
    let mut catalog: Vec<&Prompt> = run.catalog.iter().collect();
    catalog.sort_by(|a, b| a.name.cmp(&b.name));
    for name in &request.names {
        render::find(&run, name)?;
    }
    if request.base.is_some() && !project.config.environments.contains_key(&request.env) {
        let known: Vec<&str> = project.config.environments.keys().map(String::as_str).collect();
        bail!(
            "there is no environment `{}` in promptctl.toml; `--env` names one of: {}",
            request.env,
            known.join(", ")
        );
    }
    let base_tree = match &request.base {
        Some(rev) => Some(BaseTree::open(project, rev)?),
        None => None,
    };
    let mut jobs = Vec::new();
    for prompt in catalog {
        if !request.names.is_empty() && !request.names.contains(&prompt.name) {
            continue;
        }
        let manifest = manifest(project, &prompt.name)?;
        let evals: Vec<&EvalSpec> = manifest
            .evals
            .iter()
            .map(|e| e.get_ref())
            .filter(|e| request.eval.as_ref().is_none_or(|name| e.name.get_ref() == name))
            .collect();
        if evals.is_empty() && request.names.contains(&prompt.name) && request.eval.is_none() {
            bail!("`{}` has no [[eval]]; docs/eval.md says how to write one", prompt.name);
        }
        for spec in evals {
            for (side, version) in
                versions(project, prompt, &manifest, spec, request, base_tree.as_ref())?
            {
                jobs.push(job(project, &run, prompt, &manifest, spec, side, &version)?);
            }
        }
    }
    if jobs.is_empty() {
        match &request.eval {
            Some(name) => bail!("no prompt has an eval `{name}`"),
            None => return Ok(Evaluated::Nothing),
        }
    }
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for job in &jobs {
        names.insert(&job.model);
        names.extend(job.asserts.iter().filter_map(|a| a.model.as_deref()));
    }
    let mut models = BTreeMap::new();
    for name in names {
        let config =
            project.config.models.get(name).with_context(|| {
                format!("there is no model `{name}` in promptctl.toml's [models]")
            })?;
        models.insert(name.to_string(), (config.clone(), Model::new(name, config)));
    }
    let mut cache = Cache::new(&project.root);
    if let Some(base) = &base_tree {
        cache.committed = Some(committed_at(project, &base.rev)?);
    }
    let outcome = run::run(&jobs, models, cache, request.options.clone());
    let mut recorded = Vec::new();
    if request.record {
        let prune = request.prune
            && request.eval.is_none()
            && request.version.is_none()
            && request.base.is_none();
        for (dir, entries) in &outcome.used {
            let (written, removed) = if prune {
                crate::eval::cache::record(dir, entries)?
            } else {
                crate::eval::cache::record_adding(dir, entries)?
            };
            recorded.push((crate::source::relative(&project.root, dir), written, removed));
        }
    }
    let report = report::summarize(&jobs, &outcome, request.base.clone());
    Ok(Evaluated::Done { report, recorded })
}

/// Whether `check`'s errors keep `names` from being evaluated: always when no prompt is named;
/// else when an error is in a named prompt's folder, in a judge prompt's, outside `prompts/`
/// (promptctl.toml), or a named prompt is missing from the catalog.
fn blocking(project: &Project, run: &check::CheckRun, names: &[String]) -> bool {
    if names.is_empty() {
        return true;
    }
    let mut folders: Vec<String> =
        names.iter().map(|name| format!("{}/", project_dir(project, name))).collect();
    folders.push(format!("{}/", project_dir(project, &project.config.eval.judge_prompt)));
    let prompts = format!("{}/", crate::source::relative(&project.root, &project.prompts_path()));
    names.iter().any(|name| !run.catalog.iter().any(|prompt| &prompt.name == name))
        || run.errors().any(|error| {
            !error.file.starts_with(&prompts)
                || folders.iter().any(|folder| error.file.starts_with(folder.as_str()))
        })
}

/// A reader of files as `rev` committed them, by their path in the working tree: with `--base`,
/// the answers the base recorded replay even when the working tree no longer holds them.
fn committed_at(project: &Project, rev: &str) -> Result<crate::eval::cache::Committed> {
    let repo = crate::git::Repo::discover(&project.root)?;
    let workdir = repo.workdir().context("`--base` needs a repository with a working tree")?;
    let workdir = workdir.canonicalize().unwrap_or_else(|_| workdir.to_path_buf());
    let root = project.root.canonicalize().unwrap_or_else(|_| project.root.clone());
    let prefix = root.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default();
    let commit = repo.resolve(rev)?.id();
    let tree = repo.commit_tree(commit, rev)?.id();
    let project_root = project.root.clone();
    let repo = std::sync::Mutex::new(repo);
    Ok(std::sync::Arc::new(move |path: &Path| {
        let relative = prefix.join(path.strip_prefix(&project_root).ok()?);
        let relative = relative.to_str()?.replace('\\', "/");
        let repo = repo.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tree = repo.tree(tree, &relative).ok()?;
        let id = repo.blob_id_at(&tree, &relative).ok()??;
        if repo.blob_size(id, &relative).ok()? as u64 > crate::eval::cache::MAX_ENTRY_BYTES {
            return None;
        }
        repo.blob_text_at(&tree, &relative).ok()?
    }))
}

/// `prompts/NAME/prompt.toml`, read.
fn manifest(project: &Project, name: &str) -> Result<prompt::Manifest> {
    let path = format!("{}/prompt.toml", project_dir(project, name));
    let bytes =
        crate::read::read(&project.root.join(&path), crate::read::CONFIG_BYTES, "prompt.toml")
            .with_context(|| format!("cannot read `{path}`"))?;
    let text = String::from_utf8(bytes).with_context(|| format!("`{path}` is not UTF-8"))?;
    prompt::read_manifest(&path, &text)
        .0
        .with_context(|| format!("`{path}` does not parse; `promptctl check` says why"))
}

/// The base revision's tree, for `--base`.
struct BaseTree {
    rev: String,
}

impl BaseTree {
    fn open(project: &Project, rev: &str) -> Result<BaseTree> {
        let repo = crate::git::Repo::discover(&project.root)?;
        repo.resolve(rev).with_context(|| format!("cannot resolve `{rev}`"))?;
        Ok(BaseTree { rev: rev.to_string() })
    }

    /// The version `name`'s `prompt.toml` activates in `env` at the base, and that version's file
    /// there; `None` when the prompt or the activation did not exist.
    fn served(&self, project: &Project, name: &str, env: &str) -> Result<Option<Version>> {
        let Some(text) = super::diff::text_at(
            project,
            &format!("{}/prompt.toml", project_dir(project, name)),
            &self.rev,
        )?
        else {
            return Ok(None);
        };
        let path = format!("{}/prompt.toml ({})", project_dir(project, name), self.rev);
        let Some(manifest) = prompt::read_manifest(&path, &text).0 else {
            bail!("`{path}` does not parse");
        };
        let Some(number) =
            manifest.activate.iter().find(|(e, _)| e.get_ref() == env).map(|(_, n)| *n.get_ref())
        else {
            return Ok(None);
        };
        let number =
            u32::try_from(number).with_context(|| format!("`{path}` activates v{number}"))?;
        Ok(Some(super::diff::version_at(project, name, number, &self.rev)?))
    }
}

/// The versions an eval runs on, each with its side.
fn versions(
    project: &Project,
    prompt: &Prompt,
    manifest: &prompt::Manifest,
    spec: &EvalSpec,
    request: &Request,
    base: Option<&BaseTree>,
) -> Result<Vec<(Option<&'static str>, Version)>> {
    let by_number = |number: u32| -> Result<Version> {
        prompt
            .versions
            .iter()
            .find(|v| v.number == number)
            .cloned()
            .with_context(|| format!("`{}` has no v{number}", prompt.name))
    };
    if let Some(base) = base {
        let env = &request.env;
        let head = prompt.activate.get(env).with_context(|| {
            format!(
                "`{}` activates no version in `{env}`; `--base` compares what `{env}` serves",
                prompt.name
            )
        })?;
        let mut sides = Vec::new();
        if let Some(version) = base.served(project, &prompt.name, env)? {
            sides.push((Some("base"), version));
        }
        sides.push((Some("head"), by_number(*head)?));
        return Ok(sides);
    }
    if let Some(at) = &request.version {
        let (_, at) =
            render::parse_target(&format!("{}@{}", prompt.name, at.trim_start_matches('@')));
        return Ok(vec![(None, render::pick(project, prompt, &at)?.clone())]);
    }
    let newest = prompt.versions.last().map_or(0, |v| v.number);
    let numbers = crate::syntax::eval::eval_versions(spec, manifest, newest);
    numbers.into_iter().map(|n| Ok((None, by_number(n)?))).collect()
}

/// One eval of one version: cases rendered, assertions prepared.
fn job(
    project: &Project,
    run: &check::CheckRun,
    prompt: &Prompt,
    manifest: &prompt::Manifest,
    spec: &EvalSpec,
    side: Option<&'static str>,
    version: &Version,
) -> Result<Job> {
    let name = &prompt.name;
    let eval = spec.name.get_ref();
    let model_name = spec.model.get_ref();
    let config = project.config.models.get(model_name).with_context(|| {
        format!("eval `{eval}` of `{name}` names the model `{model_name}`, which [models] lacks")
    })?;
    let dir = project.prompts_path().join(name);
    let file = version_file(project, name, version.number);
    let mut cases = Vec::new();
    for case in cases_of(&dir, manifest, spec, version)? {
        let rendered = match render_version(version, &file, case.vars.clone())? {
            Ok(text) => text,
            Err((diagnostics, _)) => bail!(
                "eval `{eval}` of `{name}`: case {} does not render with v{}: {}",
                case.label,
                version.number,
                diagnostics.first().map_or(String::new(), |d| d.message.clone())
            ),
        };
        let input = case.input.clone().or_else(|| spec.input.as_ref().map(|i| i.get_ref().clone()));
        let (system, user) = match &input {
            Some(input) => (Some(rendered), input.clone()),
            None => (None, rendered),
        };
        let reference =
            case.reference.clone().or_else(|| spec.reference.as_ref().map(|r| r.get_ref().clone()));
        cases.push(Case { label: case.label, system, user, input, reference });
    }
    let mut asserts = Vec::new();
    for assertion in &spec.asserts {
        let assertion = assertion.get_ref();
        let schema = match &assertion.kind {
            AssertKind::Json { schema: Some(path) } => Some(read_in(&dir, path)?),
            _ => None,
        };
        let prepared = crate::eval::assert::prepare(&assertion.kind, schema.as_deref())
            .map_err(|message| anyhow::anyhow!("eval `{eval}` of `{name}`: {message}"))?;
        let (model, judge) = match &assertion.kind {
            AssertKind::SimilarTo { model, .. } => {
                let model = model.clone().or_else(|| project.config.eval.embedding_model.clone());
                (Some(model.with_context(|| format!("eval `{eval}` of `{name}`: `similar_to` names no model and [eval] has no `embedding_model`"))?), None)
            }
            AssertKind::Judge { model, prompt: judge_prompt, .. } => {
                let model = model.clone().or_else(|| project.config.eval.judge_model.clone());
                let model = model.with_context(|| format!("eval `{eval}` of `{name}`: `judge` names no model and [eval] has no `judge_model`"))?;
                let judge_name = judge_prompt
                    .clone()
                    .unwrap_or_else(|| project.config.eval.judge_prompt.clone());
                let judge = render::find(run, &judge_name)
                    .with_context(|| format!("eval `{eval}` of `{name}`: the judge prompt"))?;
                let version = judge.versions.last().context("the judge prompt has no version")?;
                (
                    Some(model),
                    Some(JudgePrompt {
                        name: judge_name,
                        version: version.number,
                        template: version.template.clone(),
                        declared: version.variables.iter().map(|v| v.name.clone()).collect(),
                    }),
                )
            }
            _ => (None, None),
        };
        asserts.push(Assertion {
            spec: assertion.clone(),
            label: label(&assertion.kind),
            prepared,
            model,
            judge,
        });
    }
    Ok(Job {
        prompt: name.clone(),
        eval: eval.clone(),
        side,
        version: version.number,
        model: model_name.clone(),
        parameters: run::parameters_for(config, version.model.as_ref()),
        cases,
        repeat: *spec.repeat.get_ref(),
        asserts,
        recorded: dir.join("evals/recorded"),
    })
}

/// How the table names an assertion.
fn label(kind: &AssertKind) -> String {
    let short = |text: &str| {
        let mut shown: String = text.chars().take(40).collect();
        if text.chars().count() > 40 {
            shown.push('…');
        }
        format!("{shown:?}")
    };
    match kind {
        AssertKind::Contains(text) | AssertKind::NotContains(text) => {
            format!("{} {}", kind.key(), short(text))
        }
        // As written in prompt.toml's literal strings, not escaped again.
        AssertKind::Regex(pattern) => {
            let mut shown: String =
                pattern.chars().take(40).map(|c| if c.is_control() { ' ' } else { c }).collect();
            if pattern.chars().count() > 40 {
                shown.push('…');
            }
            format!("regex /{shown}/")
        }
        AssertKind::Json { schema: Some(file) } => format!("json {file}"),
        AssertKind::Json { schema: None } => "json".into(),
        AssertKind::MaxTokens(n) | AssertKind::MaxChars(n) | AssertKind::LatencyMs(n) => {
            format!("{} {n}", kind.key())
        }
        AssertKind::SimilarTo { min, .. } => format!("similar_to ≥ {min}"),
        AssertKind::Judge { rubric, .. } => format!("judge {}", short(rubric)),
        AssertKind::Cost(usd) => format!("cost ${usd}"),
    }
}

/// A file of the prompt's folder, read with the repository's limits and kept inside the folder.
fn read_in(dir: &std::path::Path, relative: &str) -> Result<String> {
    let canonical =
        dir.canonicalize().with_context(|| format!("cannot open `{}`", dir.display()))?;
    let bytes = crate::read::read_inside(
        &canonical,
        &dir.join(relative),
        crate::read::CONFIG_BYTES,
        "an eval file",
    )
    .with_context(|| format!("cannot read `{relative}` in `{}`", dir.display()))?;
    String::from_utf8(bytes).with_context(|| format!("`{relative}` is not UTF-8"))
}

/// The cases of an eval for `version` (`syntax::dataset::resolve_cases`, the function `check`
/// validates them with), the dataset read from the prompt's folder.
fn cases_of(
    dir: &std::path::Path,
    manifest: &prompt::Manifest,
    spec: &EvalSpec,
    version: &Version,
) -> Result<Vec<crate::syntax::eval::Case>> {
    let dataset = match &spec.cases {
        CasesSpec::Dataset(file) => Some((file.get_ref().clone(), read_in(dir, file.get_ref())?)),
        _ => None,
    };
    crate::syntax::dataset::resolve_cases(
        spec,
        &manifest.tests,
        dataset.as_ref().map(|(path, text)| (path.as_str(), text.as_str())),
        &version.variables,
    )
    .map_err(|(code, message)| {
        anyhow::anyhow!(
            "eval `{}`: {message} ({}; `promptctl check` says where)",
            spec.name.get_ref(),
            code.as_str()
        )
    })
}
