//! `check`: every rule over the files `source` read. Pure: files come in as bytes, diagnostics and
//! the snapshot files to write (with `--bless`) go out. Prompts are independent, so they are checked
//! in parallel, and each prompt's result can be cached by the digest of its inputs (`memo`).

pub mod evals;
pub mod policy;
pub mod portability;
pub mod security;
pub mod variables;

mod seeds;
mod testing;

use seeds::*;
pub use testing::*;

use crate::config::Config;
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::lock::Lock;
use crate::render;
use crate::source::PromptFiles;
use crate::syntax::prompt::{self, FrontMatter, Manifest, TestSpec, Variable};
use crate::syntax::template::{self, Template};
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Write missing and changed snapshots instead of reporting them.
    pub bless: bool,
}

/// What checking one prompt produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub diagnostics: Vec<Diagnostic>,
    /// Snapshot files to write (project-relative path, content), only with `--bless`.
    pub snapshot_writes: Vec<(String, String)>,
    /// What the lint policy silenced (`[lints]` levels of `allow`, `[[suppress]]` entries).
    pub silenced: Vec<policy::Silenced>,
    /// The result depends on other prompts (the judge prompts of `judge` assertions), so it is
    /// not cached by this prompt's inputs alone.
    pub uses_other_prompts: bool,
}

/// A version file after parsing; the parts that failed to parse are `None`.
pub struct Version<'a> {
    pub number: u32,
    pub path: &'a str,
    pub text: Option<&'a str>,
    pub body: Option<&'a str>,
    pub body_offset: usize,
    pub front: Option<FrontMatter>,
    pub variables: Option<Vec<Variable>>,
    pub template: Option<Template>,
}

/// The canaries of `[activate]`: each names an existing version other than the one its environment
/// serves, and a caller that renders with the stable version's variables must not fail on the
/// canary (`review`'s breaking contract changes, from the stable version to the canary).
fn canaries(
    manifest: &Manifest,
    manifest_text: &str,
    manifest_path: &str,
    name: &str,
    versions: &[Version],
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (environment, canary) in &manifest.canary {
        let number = *canary.get_ref().version.get_ref();
        let span = canary.get_ref().version.span();
        let stable = manifest
            .activate
            .iter()
            .find(|(key, _)| key.get_ref() == environment)
            .map(|(_, version)| *version.get_ref());
        let Some(found) = versions.iter().find(|v| i64::from(v.number) == number) else {
            let latest = versions.iter().map(|v| v.number).max().unwrap_or(0);
            diagnostics.push(
                Diagnostic::new(
                    Code::StructureCanary,
                    manifest_path.to_string(),
                    format!("the canary of `{environment}` is version {number} of `{name}`, which does not exist"),
                )
                .at(manifest_text, span)
                .label("no such version")
                .help(format!("the versions are 1..{latest}; add v{number}.prompt or name an existing version as the canary")),
            );
            continue;
        };
        if stable == Some(number) {
            diagnostics.push(
                Diagnostic::new(
                    Code::StructureCanary,
                    manifest_path.to_string(),
                    format!("the canary of `{environment}` is v{number}, the version `{environment}` already serves"),
                )
                .at(manifest_text, span)
                .label("same as `version`")
                .help("a canary rolls out another version: name the new version as `canary`, or write `{environment} = N` once it serves everyone".replace("{environment}", environment)),
            );
            continue;
        }
        let stable_variables = stable
            .and_then(|stable| versions.iter().find(|v| i64::from(v.number) == stable))
            .and_then(|v| v.variables.as_ref());
        let (Some(before), Some(after)) = (stable_variables, found.variables.as_ref()) else {
            continue;
        };
        let breaking: Vec<String> = crate::review::contract_changes(before, after)
            .into_iter()
            .filter(|change| change.breaking)
            .map(|change| format!("`{}` {}", change.variable, change.change))
            .collect();
        if !breaking.is_empty() {
            diagnostics.push(
                Diagnostic::new(
                    Code::StructureCanaryContract,
                    manifest_path.to_string(),
                    format!(
                        "the canary v{number} of `{environment}` breaks callers of v{}: {}",
                        stable.unwrap_or_default(),
                        breaking.join("; ")
                    ),
                )
                .at(manifest_text, span)
                .label("incompatible with the stable version")
                .help("a service renders both versions with the same variables: keep the canary's contract compatible (new variables optional, none removed or retyped), or activate it for everyone in a release that updates the callers"),
            );
        }
    }
}

/// The prompt name rule: what applications ask for, so kept simple and stable.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// `structure/name` for a prompt folder `dir` whose name breaks the rule, with a suggestion;
/// `check` reports it, and `new` and `import` refuse such a name with it.
pub fn name_diagnostic(dir: &str, name: &str) -> Option<Diagnostic> {
    if is_valid_name(name) {
        return None;
    }
    let suggestion: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let suggestion = suggestion.trim_matches('-').to_string();
    let rule = "a prompt name is lowercase ASCII letters, digits and `-`, starts with a letter, at most 64 characters";
    let help = if is_valid_name(&suggestion) {
        format!("rename the folder, e.g. to `{suggestion}`: {rule}")
    } else {
        format!("rename the folder: {rule}")
    };
    Some(
        Diagnostic::new(
            Code::StructureName,
            dir.to_string(),
            format!("`{name}` is not a valid prompt name"),
        )
        .help(help),
    )
}

/// Checks one prompt folder.
pub fn prompt(
    config: &Config,
    lock: &Lock,
    lock_file: &str,
    files: &PromptFiles,
    options: Options,
) -> Outcome {
    prompt_with(config, lock, lock_file, files, options, None, |_, _| ()).0
}

/// `prompt`, which also hands what it parsed (the manifest when it parsed, and every version) to
/// `inspect` before dropping it, so that a later stage (the catalog of `build`) does not parse the
/// same files again. `judges` looks up the project's other prompts for the judge prompts of evals
/// (`None`: those are not checked).
#[allow(clippy::too_many_arguments)]
pub fn prompt_with<R>(
    config: &Config,
    lock: &Lock,
    lock_file: &str,
    files: &PromptFiles,
    options: Options,
    judges: Option<&evals::Judges>,
    inspect: impl FnOnce(Option<&Manifest>, &[Version]) -> R,
) -> (Outcome, R) {
    let mut outcome = Outcome { diagnostics: files.diagnostics.clone(), ..Outcome::default() };
    if files.unreadable {
        let inspected = inspect(None, &[]);
        return (outcome, inspected);
    }
    let diagnostics = &mut outcome.diagnostics;
    diagnostics.extend(name_diagnostic(&files.dir, &files.name));

    let manifest = parse_manifest(files, diagnostics);
    let versions: Vec<Version> = files
        .versions
        .iter()
        .map(|(number, file)| parse_version(config, *number, &file.path, file.bytes(), diagnostics))
        .collect();
    // Secrets and hidden characters: every text file as it is, whatever else is wrong with it.
    // What `promptctl-allow:` comments suppress is kept for the audit (`Outcome::silenced`).
    let mut allowed_inline = Vec::new();
    let manifest_text = files
        .manifest
        .as_ref()
        .and_then(|f| Some((f.path.as_str(), std::str::from_utf8(f.bytes()).ok()?)));
    let version_texts = versions.iter().filter_map(|v| Some((v.path, v.text?)));
    for (path, text) in manifest_text.into_iter().chain(version_texts) {
        let (found, silenced) = security::check_file_audited(path, text);
        diagnostics.extend(found);
        allowed_inline.extend(silenced);
    }
    // The evals' datasets and JSON Schemas: their text goes to a model (and into the repository's
    // history) too. A file that is not UTF-8 is reported where the eval reads it.
    for file in &files.evals {
        if let Ok(text) = std::str::from_utf8(file.bytes()) {
            let (found, silenced) = security::check_data_file_audited(&file.path, text);
            diagnostics.extend(found);
            allowed_inline.extend(silenced);
        }
    }
    evals::check_recorded(files, diagnostics);

    if files.versions.is_empty() {
        diagnostics.push(
            Diagnostic::new(
                Code::StructureNoVersions,
                files.dir.clone(),
                format!("prompt `{}` has no version", files.name),
            )
            .help("add `v1.prompt`: a `+++` front matter block followed by the template"),
        );
    }
    for (expected, (number, file)) in (1u32..).zip(&files.versions) {
        if *number != expected {
            diagnostics.push(
                Diagnostic::new(Code::StructureVersionGap, file.path.clone(), if expected == 1 { format!("versions of `{}` start at v{number}, not v1", files.name) } else { format!("versions of `{}` jump from v{} to v{number}", files.name, expected - 1) })
                    .help(format!("versions are numbered 1..N without gaps: rename this file to `v{expected}.prompt`")),
            );
            break;
        }
    }

    let mut activated: Vec<u32> = Vec::new();
    // Which diagnostics of prompt.toml (a test's, the seed's) are about which version.
    let mut by_version: Vec<(u32, std::ops::Range<usize>)> = Vec::new();
    if let Some((manifest, manifest_text, manifest_path)) = &manifest {
        for (environment, version) in &manifest.activate {
            if !config.environments.contains_key(environment.get_ref()) {
                let help = match did_you_mean(
                    environment.get_ref(),
                    config.environments.keys().map(String::as_str),
                ) {
                    Some(suggestion) => format!(
                        "did you mean `{suggestion}`? environments are declared in promptctl.toml"
                    ),
                    None => format!(
                        "declare `[environments.{}]` in promptctl.toml, or use one of: {}",
                        environment.get_ref(),
                        config.environments.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                };
                diagnostics.push(
                    Diagnostic::new(
                        Code::StructureUnknownEnvironment,
                        manifest_path.to_string(),
                        format!(
                            "`{}` is not an environment of this project",
                            environment.get_ref()
                        ),
                    )
                    .at(manifest_text, environment.span())
                    .label("unknown environment")
                    .help(help),
                );
            }
            let number = *version.get_ref();
            if number < 1 || !versions.iter().any(|v| i64::from(v.number) == number) {
                let latest = versions.iter().map(|v| v.number).max().unwrap_or(0);
                diagnostics.push(
                    Diagnostic::new(Code::StructureActivation, manifest_path.to_string(), format!("`{}` activates version {number} of `{}`, which does not exist", environment.get_ref(), files.name))
                        .at(manifest_text, version.span())
                        .label("no such version")
                        .help(if latest == 0 { "add a version file first".to_string() } else { format!("the versions are 1..{latest}; add v{number}.prompt or activate an existing version") }),
                );
            } else if !activated.contains(&(number as u32)) {
                activated.push(number as u32);
            }
        }
        canaries(manifest, manifest_text, manifest_path, &files.name, &versions, diagnostics);
        for canary in manifest.canary.values() {
            let number = *canary.get_ref().version.get_ref();
            if versions.iter().any(|v| i64::from(v.number) == number)
                && !activated.contains(&(number as u32))
            {
                activated.push(number as u32);
            }
        }
        activated.sort_unstable();
        run_tests(
            files,
            manifest,
            manifest_text,
            manifest_path,
            &versions,
            &activated,
            options,
            &mut outcome,
            &mut by_version,
        );
        let site = evals::Site {
            config,
            files,
            manifest,
            text: manifest_text,
            path: manifest_path,
            versions: &versions,
            judges,
        };
        evals::check(&site, &mut outcome, &mut by_version);
        if let Some(seed) = &manifest.seed {
            let before = outcome.diagnostics.len();
            check_seed(
                files,
                seed,
                manifest_text,
                manifest_path,
                &versions,
                &mut outcome.diagnostics,
            );
            if let Ok(number) = u32::try_from(*seed.get_ref().version.get_ref()) {
                by_version.push((number, before..outcome.diagnostics.len()));
            }
        }
    }

    let version_digests: Vec<(u32, String, String)> = files
        .versions
        .iter()
        .map(|(number, file)| (*number, file.path.clone(), file.sha256_hex()))
        .collect();
    crate::lock::check(
        lock,
        lock_file,
        &files.dir,
        &files.name,
        &version_digests,
        &activated,
        &mut outcome.diagnostics,
    );
    root_causes_first(&version_digests, &by_version, &mut outcome.diagnostics);
    // `--bless` never writes the snapshot of a locked version's edited text: it must be restored.
    for (number, path, _) in &version_digests {
        if outcome.diagnostics.iter().any(|d| d.code == Code::LockModified && d.file == *path) {
            let suffix = format!(".v{number}.txt");
            outcome.snapshot_writes.retain(|(snapshot, _)| !snapshot.ends_with(&suffix));
        }
    }
    for diagnostic in &mut outcome.diagnostics {
        redact_texts(diagnostic);
    }
    let scope = policy::PromptScope {
        versions: version_digests
            .iter()
            .map(|(number, path, _)| (*number, path.as_str()))
            .collect(),
        manifest: manifest.as_ref().map(|(manifest, text, path)| policy::ManifestLints {
            path,
            text,
            lints: &manifest.lints,
            suppress: &manifest.suppress,
        }),
    };
    outcome.silenced = allowed_inline;
    outcome.silenced.extend(policy::apply(
        &config.lints.0,
        &scope,
        is_root_cause,
        &mut outcome.diagnostics,
    ));
    let inspected = inspect(manifest.as_ref().map(|(manifest, _, _)| manifest), &versions);
    (outcome, inspected)
}

/// Whether `code` is a root cause in a version file: the version was edited after it was locked,
/// or it does not parse. What else is reported about that version follows from it.
fn is_root_cause(code: Code) -> bool {
    matches!(
        code,
        Code::LockModified
            | Code::SyntaxToml
            | Code::SyntaxFrontMatter
            | Code::SyntaxTemplate
            | Code::SyntaxNesting
            | Code::SyntaxEncoding
    )
}

/// Root causes first: a version that was edited after it was locked (`lock/modified`) or does not
/// parse keeps that diagnostic and drops the cascade it causes in the same version (what its tests
/// and its seed report, what the rules find in its file), which would otherwise bury it and, for a
/// locked version, advise `--bless` on a text that must be restored instead. The root cause's note
/// counts what was left out. Security and lock diagnostics are never a consequence: a secret in
/// an edited file is reported all the same.
fn root_causes_first(
    versions: &[(u32, String, String)],
    by_version: &[(u32, std::ops::Range<usize>)],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let independent =
        |code: Code| code.as_str().starts_with("security/") || code.as_str().starts_with("lock/");
    let mut dropped = vec![false; diagnostics.len()];
    // (index of the root cause, codes of its consequences)
    let mut causes: Vec<(usize, Vec<Code>)> = Vec::new();
    for (number, path, _) in versions {
        // A lock violation is the root cause of everything else in its file, a parse error included.
        let root = diagnostics
            .iter()
            .position(|d| d.code == Code::LockModified && d.file == *path)
            .or_else(|| diagnostics.iter().position(|d| is_root_cause(d.code) && d.file == *path));
        let Some(root) = root else { continue };
        let root_code = diagnostics[root].code;
        let mut consequences = Vec::new();
        for (index, diagnostic) in diagnostics.iter().enumerate() {
            if index == root || dropped[index] || independent(diagnostic.code) {
                continue;
            }
            let in_file = diagnostic.file == *path
                && (root_code == Code::LockModified || !is_root_cause(diagnostic.code));
            let about_version =
                by_version.iter().any(|(n, range)| n == number && range.contains(&index));
            if in_file || about_version {
                dropped[index] = true;
                consequences.push(diagnostic.code);
            }
        }
        if !consequences.is_empty() {
            causes.push((root, consequences));
        }
    }
    for (root, mut codes) in causes {
        let count = codes.len();
        codes.sort_unstable();
        let mut listed: Vec<String> = Vec::new();
        for code in &codes {
            let times = codes.iter().filter(|c| *c == code).count();
            let entry = if times > 1 {
                format!("{} ×{times}", code.as_str())
            } else {
                code.as_str().to_string()
            };
            if listed.last() != Some(&entry) {
                listed.push(entry);
            }
        }
        let what = if count == 1 { "diagnostic" } else { "diagnostics" };
        let fixed = if diagnostics[root].code == Code::LockModified {
            "restoring the file clears them"
        } else {
            "they are checked again once it parses"
        };
        let note = format!(
            "{count} more {what} of this version follow from it and are not shown ({}); {fixed}",
            listed.join(", ")
        );
        let diagnostic = &mut diagnostics[root];
        let note = match diagnostic.note.take() {
            Some(existing) => format!("{existing}\n{note}"),
            None => note,
        };
        diagnostic.note = Some(crate::diagnostic::bounded(note, crate::diagnostic::MAX_NOTE_LINES));
    }
    let mut index = 0;
    diagnostics.retain(|_| {
        index += 1;
        !dropped[index - 1]
    });
}

/// Blanks secrets out of everything a diagnostic says: a test's `contains` string, a rendered
/// text in a note, a diff against a legacy file can all quote one, and every output format (and
/// the result cache) takes its words from here.
fn redact_texts(diagnostic: &mut Diagnostic) {
    let redact = |text: &mut String| {
        if let std::borrow::Cow::Owned(redacted) = security::redact(text) {
            *text = redacted;
        }
    };
    redact(&mut diagnostic.message);
    for text in
        [&mut diagnostic.label, &mut diagnostic.help, &mut diagnostic.note].into_iter().flatten()
    {
        redact(text);
    }
}

fn parse_manifest<'a>(
    files: &'a PromptFiles,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Manifest, &'a str, &'a str)> {
    let Some(file) = &files.manifest else {
        diagnostics.push(
            Diagnostic::new(
                Code::StructureMissingManifest,
                files.dir.clone(),
                format!("prompt `{}` has no `prompt.toml`", files.name),
            )
            .help(format!(
                "add prompt.toml with at least `description = \"…\"` (see {})",
                crate::text::docs("format.md")
            )),
        );
        return None;
    };
    let text = utf8(&file.path, file.bytes(), diagnostics)?;
    let (manifest, problems) = prompt::read_manifest(&file.path, text);
    diagnostics.extend(problems);
    match manifest {
        Some(manifest) => {
            if manifest.description.trim().is_empty() {
                diagnostics.push(
                    Diagnostic::new(Code::SyntaxToml, file.path.clone(), "`description` is empty")
                        .at(text, text.find("description").map_or(0..0, |start| start..start + "description".len()))
                        .help("say in one line what the prompt is for; reviewers and the registry show it"),
                );
            }
            Some((manifest, text, file.path.as_str()))
        }
        None => None,
    }
}

/// Checks that `bytes` are UTF-8, reporting the first invalid byte's position.
fn utf8<'a>(path: &str, bytes: &'a [u8], diagnostics: &mut Vec<Diagnostic>) -> Option<&'a str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(error) => {
            let valid = std::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default();
            let bad = bytes.get(error.valid_up_to()).copied().unwrap_or_default();
            let mut diagnostic = Diagnostic::new(
                Code::SyntaxEncoding,
                path,
                format!(
                    "the file is not valid UTF-8 (byte 0x{bad:02x} at offset {})",
                    error.valid_up_to()
                ),
            )
            .help("save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)");
            // Point at the end of the valid prefix: that position exists in the text we can show.
            diagnostic.location =
                Some(crate::diagnostic::Location::in_text(valid, valid.len()..valid.len()));
            diagnostics.push(diagnostic.label("invalid UTF-8 after this point"));
            None
        }
    }
}

fn parse_version<'a>(
    config: &Config,
    number: u32,
    path: &'a str,
    bytes: &'a [u8],
    diagnostics: &mut Vec<Diagnostic>,
) -> Version<'a> {
    let mut version = Version {
        number,
        path,
        text: None,
        body: None,
        body_offset: 0,
        front: None,
        variables: None,
        template: None,
    };
    let Some(text) = utf8(path, bytes, diagnostics) else { return version };
    version.text = Some(text);
    let split = match prompt::split_front_matter(path, text) {
        Ok(split) => split,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return version;
        }
    };
    version.body = Some(split.body);
    version.body_offset = split.body_offset;
    let (front, problems) =
        prompt::read_front_matter(path, text, split.front_matter_offset, split.front_matter);
    diagnostics.extend(problems);
    if let Some(front) = front {
        let (variables, problems) = prompt::resolve_variables(path, text, &front);
        diagnostics.extend(problems);
        version.variables = Some(variables);
        version.front = Some(front);
    }
    let body = split.body;
    if body.trim().is_empty() {
        diagnostics.push(
            Diagnostic::new(
                Code::StructureEmptyTemplate,
                path,
                format!("the template of version {number} is empty"),
            )
            .at(text, closing_line(text, split.body_offset))
            .label("nothing after the front matter")
            .help("write the prompt text after the closing `+++` line"),
        );
        return version;
    }
    if body.len() as u64 > config.max_template_bytes {
        let limit = config.max_template_bytes as usize;
        let start = split.body_offset + limit;
        let end = text[start.min(text.len())..].find('\n').map_or(text.len(), |i| start + i);
        diagnostics.push(
            Diagnostic::new(
                Code::StructureSizeLimit,
                path,
                format!("the template is {} bytes, over the limit of {limit} bytes", body.len()),
            )
            .at(text, start..end)
            .label("the limit is reached here")
            .help("shorten the prompt, or raise `max_template_bytes` in promptctl.toml"),
        );
        // Not parsed: the limit is what bounds the parse's time and memory.
        return version;
    }
    match template::parse(body) {
        Ok(parsed) => {
            if let Some(variables) = &version.variables {
                let site = variables::Site { file: path, text, body_offset: split.body_offset };
                diagnostics.extend(variables::check(&site, &parsed, variables));
                diagnostics.extend(portability::check(&site, &parsed, variables));
                diagnostics.extend(security::check_injection(&site, &parsed, variables));
            }
            version.template = Some(parsed);
        }
        Err(error) => {
            let code = match error.kind {
                template::ErrorKind::Invalid => Code::SyntaxTemplate,
                template::ErrorKind::Unsupported => Code::SyntaxUnsupported,
                template::ErrorKind::TooDeep => Code::SyntaxNesting,
            };
            let span = split.body_offset + error.span.start..split.body_offset + error.span.end;
            let mut diagnostic =
                Diagnostic::new(code, path, error.message).at(text, span).label(error.label);
            if let Some(help) = error.help {
                diagnostic = diagnostic.help(help);
            }
            diagnostics.push(diagnostic);
        }
    }
    version
}
