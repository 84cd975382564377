//! `promptctl diff NAME A B`: two versions of a prompt (numbers, `@ENV` activations, or with
//! `rev` side A read from a git revision) rendered with the same vars, compared line by line and
//! word by word with the machinery `review` uses (`diff::unified` with invisible characters made
//! visible, `review::word_changes`).

use super::render::{self, At, Inputs};
use crate::catalog::Version;
use crate::config::Project;
use crate::diagnostic::Diagnostic;
use crate::review::WordChange;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// One side of a comparison.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Side {
    pub version: u32,
    /// `working tree`, or the git revision it was read from.
    pub from: String,
    /// sha256 of the template, as the store and the runtime record it.
    pub sha256: String,
    pub text: String,
}

/// Two rendered versions and how they differ.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Compared {
    pub name: String,
    /// The test whose vars were used, if any.
    pub test: Option<String>,
    pub a: Side,
    pub b: Side,
    /// Unified diff with invisible characters made visible; empty when the texts are equal.
    pub diff: String,
    /// Changed line pairs that share most of their words, with the words marked.
    pub words: Vec<WordChange>,
    pub added_lines: usize,
    pub removed_lines: usize,
}

pub enum Diff {
    Compared(Compared),
    /// A side's vars do not fit its contract, or it fails to render: its diagnostics, and the
    /// version file's text they point into.
    Refused {
        diagnostics: Vec<Diagnostic>,
        text: String,
    },
    /// The prompt does not check in the working tree.
    Errors(super::check::CheckRun),
}

pub fn diff(
    project: &Project,
    name: &str,
    a: &str,
    b: &str,
    rev: Option<&str>,
    inputs: &Inputs,
) -> Result<Diff> {
    let run = match render::checked(project, name)? {
        Ok(run) => run,
        Err(run) => return Ok(Diff::Errors(run)),
    };
    let prompt = render::find(&run, name)?;
    let at = |text: &str| {
        let (_, at) = render::parse_target(&format!("{name}@{}", text.trim_start_matches('@')));
        at
    };
    let (a_at, b_at) = (at(a), at(b));
    let from_rev;
    let (a_version, a_from): (&Version, String) = match rev {
        None => (render::pick(project, prompt, &a_at)?, "working tree".into()),
        Some(rev) => {
            let At::Version(number) = a_at else {
                bail!("with `--rev`, side A is a version number (`{a}` is an environment: its activation is read from the working tree)");
            };
            from_rev = version_at(project, name, number, rev)?;
            (&from_rev, rev.to_string())
        }
    };
    let b_version = render::pick(project, prompt, &b_at)?;
    let mut sides = Vec::new();
    for (version, from) in [(a_version, a_from), (b_version, "working tree".to_string())] {
        let file = render::version_file(project, name, version.number);
        let vars = render::vars_for(project, name, inputs, version)?;
        match render::render_version(version, &file, vars)? {
            Ok(text) => sides.push(Side {
                version: version.number,
                from,
                sha256: hex::encode(Sha256::digest(version.template.as_bytes())),
                text,
            }),
            Err((diagnostics, text)) => return Ok(Diff::Refused { diagnostics, text }),
        }
    }
    let b = sides.pop().expect("two sides");
    let a = sides.pop().expect("two sides");
    let label = |side: &Side| match side.from.as_str() {
        "working tree" => format!("{name} v{}", side.version),
        rev => format!("{name} v{} ({rev})", side.version),
    };
    let (diff, words, added_lines, removed_lines) = if a.text == b.text {
        (String::new(), Vec::new(), 0, 0)
    } else {
        let diff = crate::diff::unified(&a.text, &b.text, &label(&a), &label(&b));
        let (words, added, removed) = crate::review::word_changes(&a.text, &b.text);
        (diff, words, added, removed)
    };
    Ok(Diff::Compared(Compared {
        name: name.to_string(),
        test: inputs.test.clone(),
        a,
        b,
        diff,
        words,
        added_lines,
        removed_lines,
    }))
}

/// The text of `file` (relative to the project root) as committed at `rev`, with its path in the
/// repository; `None` when it did not exist there.
pub(super) fn text_at(project: &Project, file: &str, rev: &str) -> Result<Option<String>> {
    Ok(blob_at(project, file, rev)?.1)
}

fn blob_at(project: &Project, file: &str, rev: &str) -> Result<(String, Option<String>)> {
    let repo = crate::git::Repo::discover(&project.root)?;
    let workdir = repo.workdir().context("`--rev` needs a repository with a working tree")?;
    let root = project.root.canonicalize().unwrap_or_else(|_| project.root.clone());
    let workdir = workdir.canonicalize().unwrap_or_else(|_| workdir.to_path_buf());
    let in_repo = root.join(file);
    let path = in_repo
        .strip_prefix(&workdir)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or(file.to_string());
    let commit = repo.resolve(rev)?;
    let tree = repo.commit_tree(commit.id(), rev)?;
    let text = repo.blob_text_at(&tree, &path)?;
    Ok((path, text))
}

/// Version `number` of `name` as committed at `rev`.
pub(super) fn version_at(project: &Project, name: &str, number: u32, rev: &str) -> Result<Version> {
    let file = render::version_file(project, name, number);
    let (path, text) = blob_at(project, &file, rev)?;
    let text = text.with_context(|| format!("`{path}` does not exist at `{rev}`"))?;
    crate::catalog::parse_version(number, &file, text.as_bytes()).with_context(|| {
        format!("`{path}` at `{rev}` does not parse; check it out and run `promptctl check`")
    })
}
