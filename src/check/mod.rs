//! `check`: every rule over the files `source` read. Pure: files come in as bytes, diagnostics and
//! the snapshot files to write (with `--bless`) go out. Prompts are independent, so they are checked
//! in parallel, and each prompt's result can be cached by the digest of its inputs (`memo`).

pub mod portability;
pub mod security;
pub mod variables;

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

/// The prompt name rule: what applications ask for, so kept simple and stable.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// Checks one prompt folder.
pub fn prompt(
    config: &Config,
    lock: &Lock,
    lock_file: &str,
    files: &PromptFiles,
    options: Options,
) -> Outcome {
    prompt_with(config, lock, lock_file, files, options, |_, _| ()).0
}

/// `prompt`, which also hands what it parsed (the manifest when it parsed, and every version) to
/// `inspect` before dropping it, so that a later stage (the catalog of `build`) does not parse the
/// same files again.
pub fn prompt_with<R>(
    config: &Config,
    lock: &Lock,
    lock_file: &str,
    files: &PromptFiles,
    options: Options,
    inspect: impl FnOnce(Option<&Manifest>, &[Version]) -> R,
) -> (Outcome, R) {
    let mut outcome =
        Outcome { diagnostics: files.diagnostics.clone(), snapshot_writes: Vec::new() };
    if files.unreadable {
        let inspected = inspect(None, &[]);
        return (outcome, inspected);
    }
    let diagnostics = &mut outcome.diagnostics;
    if !is_valid_name(&files.name) {
        let suggestion: String = files
            .name
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
        let diagnostic = Diagnostic::new(
            Code::StructureName,
            files.dir.clone(),
            format!("`{}` is not a valid prompt name", files.name),
        )
        .help(help);
        diagnostics.push(diagnostic);
    }

    let manifest = parse_manifest(files, diagnostics);
    let versions: Vec<Version> = files
        .versions
        .iter()
        .map(|(number, file)| parse_version(config, *number, &file.path, file.bytes(), diagnostics))
        .collect();
    // Secrets and hidden characters: every text file as it is, whatever else is wrong with it.
    if let Some(file) = &files.manifest {
        if let Ok(text) = std::str::from_utf8(file.bytes()) {
            diagnostics.extend(security::check_file(&file.path, text));
        }
    }
    for version in &versions {
        if let Some(text) = version.text {
            diagnostics.extend(security::check_file(version.path, text));
        }
    }

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
        );
        if let Some(seed) = &manifest.seed {
            check_seed(
                files,
                seed,
                manifest_text,
                manifest_path,
                &versions,
                &mut outcome.diagnostics,
            );
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
    for diagnostic in &mut outcome.diagnostics {
        redact_texts(diagnostic);
    }
    let inspected = inspect(manifest.as_ref().map(|(manifest, _, _)| manifest), &versions);
    (outcome, inspected)
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
            .help("add prompt.toml with at least `description = \"…\"` (see docs/format.md)"),
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

/// Converts TOML vars to the JSON object templates render with.
pub fn vars_to_json(vars: &BTreeMap<Spanned<String>, Spanned<toml::Value>>) -> serde_json::Value {
    serde_json::Value::Object(
        vars.iter()
            .map(|(key, value)| (key.get_ref().clone(), prompt::toml_to_json(value.get_ref())))
            .collect(),
    )
}

/// Type-checks `vars` against a version's variables. Returns whether they are usable for rendering.
pub fn type_check_vars(
    vars: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    variables: &[Variable],
    what: &str,
    file: &str,
    text: &str,
    whole: std::ops::Range<usize>,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let before = diagnostics.len();
    for (key, value) in vars {
        match variables.iter().find(|variable| variable.name == *key.get_ref()) {
            None => {
                let help =
                    match did_you_mean(key.get_ref(), variables.iter().map(|v| v.name.as_str())) {
                        Some(suggestion) => format!("did you mean `{suggestion}`?"),
                        None => {
                            "remove it, or declare it in the version's front matter".to_string()
                        }
                    };
                diagnostics.push(
                    Diagnostic::new(
                        Code::TestsUnknownVar,
                        file,
                        format!(
                            "{what} passes `{}`, which the version does not declare",
                            key.get_ref()
                        ),
                    )
                    .at(text, key.span())
                    .label("not a variable of this version")
                    .help(help),
                );
            }
            Some(variable) => {
                if let Err(problem) = prompt::type_check(variable, value.get_ref(), key.get_ref()) {
                    diagnostics.push(
                        Diagnostic::new(Code::TestsType, file, format!("{what}: {problem}"))
                            .at(text, value.span())
                            .label(type_label(&problem, variable))
                            .help(type_help(&problem, variable)),
                    );
                }
            }
        }
    }
    for variable in variables.iter().filter(|variable| variable.required) {
        if !vars.keys().any(|key| *key.get_ref() == variable.name) {
            diagnostics.push(
                Diagnostic::new(
                    Code::TestsMissingVar,
                    file,
                    format!("{what} does not pass the required variable `{}`", variable.name),
                )
                .at(text, whole.clone())
                .label(format!("`{}` missing here", variable.name))
                .help(format!(
                    "add `{} = …` ({}) to its vars, or mark the variable `required = false`",
                    variable.name,
                    variable.ty.name()
                )),
            );
        }
    }
    diagnostics.len() == before
}

#[allow(clippy::too_many_arguments)]
fn run_tests(
    files: &PromptFiles,
    manifest: &Manifest,
    text: &str,
    path: &str,
    versions: &[Version],
    activated: &[u32],
    options: Options,
    outcome: &mut Outcome,
) {
    let mut seen: BTreeMap<&str, std::ops::Range<usize>> = BTreeMap::new();
    for test in &manifest.tests {
        let spec: &TestSpec = test.get_ref();
        let name = spec.name.get_ref();
        if seen.insert(name.as_str(), spec.name.span()).is_some() {
            outcome.diagnostics.push(
                Diagnostic::new(
                    Code::TestsDuplicateName,
                    path,
                    format!("two tests are named `{name}`"),
                )
                .at(text, spec.name.span())
                .label("second test with this name")
                .help("test names identify snapshots; give each test its own name"),
            );
            continue;
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            || name.is_empty()
        {
            outcome.diagnostics.push(
                Diagnostic::new(Code::SyntaxToml, path, format!("test name `{name}` must match ^[a-z0-9][a-z0-9_-]*$"))
                    .at(text, spec.name.span())
                    .help("test names become snapshot file names; use lowercase letters, digits, `-` and `_`"),
            );
            continue;
        }
        let targets: Vec<u32> = match &spec.version {
            Some(version) => {
                let number = *version.get_ref();
                if number < 1 || !versions.iter().any(|v| i64::from(v.number) == number) {
                    outcome.diagnostics.push(
                        Diagnostic::new(Code::TestsUnknownVersion, path, format!("test `{name}` targets version {number}, which does not exist"))
                            .at(text, version.span())
                            .label("no such version")
                            .help("point the test at an existing version, or remove `version` to test every activated version"),
                    );
                    continue;
                }
                vec![number as u32]
            }
            None if !activated.is_empty() => activated.to_vec(),
            None => versions.iter().map(|v| v.number).max().into_iter().collect(),
        };
        for number in targets {
            let Some(version) = versions.iter().find(|v| v.number == number) else { continue };
            run_test(files, spec, test.span(), text, path, version, options, outcome);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_test(
    files: &PromptFiles,
    spec: &TestSpec,
    whole: std::ops::Range<usize>,
    text: &str,
    path: &str,
    version: &Version,
    options: Options,
    outcome: &mut Outcome,
) {
    let (Some(variables), Some(template), Some(body)) =
        (&version.variables, &version.template, version.body)
    else {
        return;
    };
    let name = spec.name.get_ref();
    let what = format!("test `{name}` (v{})", version.number);
    let name_span = spec.name.span();
    let diagnostics = &mut outcome.diagnostics;
    let site = (path, text, whole, name_span.clone(), "this test");
    let Some(rendered) =
        render_with(version, variables, template, body, &spec.vars, &what, site, diagnostics)
    else {
        return;
    };
    for needle in &spec.contains {
        if !rendered.contains(needle.as_str()) {
            diagnostics.push(
                Diagnostic::new(
                    Code::TestsContains,
                    path,
                    format!("{what}: the rendered text does not contain {needle:?}"),
                )
                .at(text, name_span.clone())
                .label("this test")
                .help("change the template or the test's vars so that the text appears, or fix the expectation")
                .note(format!("rendered text:\n{}", excerpt(&rendered))),
            );
        }
    }
    for needle in &spec.not_contains {
        if let Some(position) = rendered.find(needle.as_str()) {
            let line = rendered[..position].matches('\n').count() + 1;
            diagnostics.push(
                Diagnostic::new(
                    Code::TestsNotContains,
                    path,
                    format!("{what}: the rendered text contains {needle:?} (rendered line {line})"),
                )
                .at(text, name_span.clone())
                .label("this test")
                .help("change the template or the test's vars so that the text no longer appears, or drop it from `not_contains`")
                .note(format!("rendered text:\n{}", excerpt(&rendered))),
            );
        }
    }
    if let Some(max) = &spec.max_chars {
        let count = rendered.chars().count() as i64;
        if count > *max.get_ref() {
            diagnostics.push(
                Diagnostic::new(Code::TestsMaxChars, path, format!("{what}: the rendered text has {count} characters, more than max_chars = {}", max.get_ref()))
                    .at(text, max.span())
                    .label("limit")
                    .help("shorten the template or the test's vars, or raise `max_chars`"),
            );
        }
    }
    if spec.snapshot {
        let snapshot_path = format!("{}/snapshots/{name}.v{}.txt", files.dir, version.number);
        let existing = files.snapshots.iter().find(|file| file.path == snapshot_path);
        let matches = existing.is_some_and(|file| file.bytes() == rendered.as_bytes());
        if !matches {
            if options.bless {
                outcome.snapshot_writes.push((snapshot_path, rendered));
            } else {
                let diagnostic = match existing {
                    None => Diagnostic::new(
                        Code::TestsSnapshot,
                        path,
                        format!("{what}: snapshot `{snapshot_path}` does not exist"),
                    )
                    .at(text, name_span)
                    .label("snapshot = true")
                    .help("run `promptctl check --bless` to write it, then review and commit it"),
                    Some(file) => {
                        let old = String::from_utf8_lossy(file.bytes());
                        Diagnostic::new(Code::TestsSnapshot, path, format!("{what}: the rendered text differs from `{snapshot_path}`"))
                            .at(text, name_span)
                            .label("snapshot = true")
                            .help("if the change is intended, run `promptctl check --bless` and commit the snapshot")
                            .note(crate::diff::unified(&old, &rendered, "snapshot", "rendered"))
                    }
                };
                outcome.diagnostics.push(diagnostic);
            }
        }
    }
}

/// Where in `prompt.toml` a render's problems are reported: the file, its text, the span of the
/// whole table (for missing vars), the span to point at, and its label.
type RenderSite<'a> = (&'a str, &'a str, std::ops::Range<usize>, std::ops::Range<usize>, &'a str);

/// Type-checks `vars` against the version and renders it in strict mode, reporting either failure.
#[allow(clippy::too_many_arguments)]
fn render_with(
    version: &Version,
    variables: &[Variable],
    template: &Template,
    body: &str,
    vars: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    what: &str,
    (path, text, whole, span, label): RenderSite,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    if !type_check_vars(vars, variables, what, path, text, whole, diagnostics) {
        return None;
    }
    match render::render(template, body, &vars_to_json(vars)) {
        Ok(rendered) => Some(rendered),
        Err(error) => {
            let position = format!(
                "at {}:{} in {}",
                line_of(version, error.span.start),
                column_of(version, error.span.start),
                version.path
            );
            diagnostics.push(
                Diagnostic::new(
                    Code::TestsRender,
                    path,
                    format!("{what} fails to render: {}", error.message),
                )
                .at(text, span)
                .label(label)
                .help(position),
            );
            None
        }
    }
}

fn line_of(version: &Version, body_offset: usize) -> u32 {
    version.text.map_or(0, |text| {
        crate::diagnostic::Location::in_text(
            text,
            version.body_offset + body_offset..version.body_offset + body_offset,
        )
        .start
        .line
    })
}

fn column_of(version: &Version, body_offset: usize) -> u32 {
    version.text.map_or(0, |text| {
        crate::diagnostic::Location::in_text(
            text,
            version.body_offset + body_offset..version.body_offset + body_offset,
        )
        .start
        .column
    })
}

/// The first lines of a rendered text, for messages.
fn excerpt(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= 12 {
        text.to_string()
    } else {
        format!("{}\n… ({} more lines)", lines[..12].join("\n"), lines.len() - 12)
    }
}

/// The seed rule: the seed version, rendered with the seed vars, equals the legacy text.
fn check_seed(
    files: &PromptFiles,
    seed: &Spanned<prompt::SeedSpec>,
    text: &str,
    path: &str,
    versions: &[Version],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let spec = seed.get_ref();
    let file_span = spec.file.span();
    let number = *spec.version.get_ref();
    let Some(version) = versions.iter().find(|v| i64::from(v.number) == number) else {
        let existing =
            versions.iter().map(|v| format!("v{}", v.number)).collect::<Vec<_>>().join(", ");
        diagnostics.push(
            Diagnostic::new(
                Code::SeedVersion,
                path,
                format!(
                    "`[seed]` names version {number} of `{}`, which does not exist",
                    files.name
                ),
            )
            .at(text, spec.version.span())
            .label("no such version")
            .help(if existing.is_empty() {
                "add v1.prompt".to_string()
            } else {
                format!("the seed is normally v1, the imported text; versions: {existing}")
            }),
        );
        return;
    };
    let legacy = match &files.seed {
        Some(crate::source::SeedSource::Read(file)) => file,
        Some(crate::source::SeedSource::Unavailable { path: legacy_path, reason }) => {
            diagnostics.push(
                Diagnostic::new(Code::SeedFile, path, format!("cannot use the legacy file `{legacy_path}`: {reason}"))
                    .at(text, file_span)
                    .label("legacy file")
                    .help("keep the legacy source in the repository (e.g. under legacy/) and name it relative to the repository root"),
            );
            return;
        }
        None => return,
    };
    let Ok(legacy_text) = std::str::from_utf8(legacy.bytes()) else {
        diagnostics.push(
            Diagnostic::new(
                Code::SeedFile,
                path,
                format!("the legacy file `{}` is not valid UTF-8", legacy.path),
            )
            .at(text, file_span)
            .label("legacy file")
            .help(
                "convert the legacy file to UTF-8 (`iconv -f windows-1252 -t utf-8`) and commit it",
            ),
        );
        return;
    };
    let extract_span = spec.extract.as_ref().map_or(file_span.clone(), |e| e.span());
    let extract = spec.extract.as_ref().map(Spanned::get_ref);
    let (literal, literal_range) = match crate::seed::extract(legacy_text, extract) {
        Ok(found) => found,
        Err(error) => {
            diagnostics.push(
                Diagnostic::new(
                    Code::SeedExtract,
                    path,
                    format!(
                        "seed extraction from `{}`: {}{}",
                        legacy.path,
                        error.message,
                        crate::seed::position(
                            &legacy.path,
                            legacy_text,
                            error.span.clone().filter(|_| crate::seed::is_slice(extract)),
                            None
                        )
                    ),
                )
                .at(text, extract_span)
                .label("extraction")
                .help(error.help),
            );
            return;
        }
    };
    let mode = spec.unescape.as_ref().map_or(prompt::Unescape::None, |m| *m.get_ref());
    let expected = match crate::seed::unescape(&literal, mode) {
        Ok(expected) => expected,
        Err(error) => {
            let span = spec.unescape.as_ref().map_or(extract_span, |m| m.span());
            diagnostics.push(
                Diagnostic::new(
                    Code::SeedUnescape,
                    path,
                    format!(
                        "cannot unescape the literal from `{}`: {}{}",
                        legacy.path,
                        error.message,
                        crate::seed::position(
                            &legacy.path,
                            legacy_text,
                            error.span.clone().filter(|_| crate::seed::is_slice(extract)),
                            Some(literal_range.start)
                        )
                    ),
                )
                .at(text, span)
                .label("unescape mode")
                .help(error.help),
            );
            return;
        }
    };
    let (Some(variables), Some(template), Some(body)) =
        (&version.variables, &version.template, version.body)
    else {
        return;
    };
    let what = format!("the seed (v{number})");
    let site = (path, text, seed.span(), seed.span(), "seed");
    let Some(rendered) =
        render_with(version, variables, template, body, &spec.vars, &what, site, diagnostics)
    else {
        return;
    };
    if rendered != expected {
        let (line, column) = first_difference(&expected, &rendered);
        diagnostics.push(
            Diagnostic::new(
                Code::SeedDrift,
                path,
                format!("v{number} of `{}` does not reproduce the legacy text of `{}` (first difference at line {line}, column {column} of the text)", files.name, legacy.path),
            )
            .at(text, file_span)
            .label("legacy text")
            .help(format!("make {} render exactly the legacy text (the diff marks tabs →, trailing spaces ·, CR ␍, non-breaking spaces ⍽), or fix the extraction", version.path))
            .note(crate::diff::unified(&expected, &rendered, &format!("legacy {}", legacy.path), &format!("rendered {}", version.path))),
        );
    }
}

/// The 1-based line and column (in characters) where two texts first differ.
fn first_difference(expected: &str, actual: &str) -> (usize, usize) {
    let common = expected
        .char_indices()
        .zip(actual.chars())
        .find(|((_, a), b)| a != b)
        .map_or(expected.len().min(actual.len()), |((index, _), _)| index);
    let common = if actual.is_char_boundary(common) { common } else { 0 };
    let before = &expected[..common.min(expected.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// What to do about a type problem.
fn type_help(problem: &str, variable: &Variable) -> String {
    if problem.contains("max_len") {
        "shorten the value, or raise `max_len` in the front matter".into()
    } else if problem.contains("enum's values") {
        "pass one of the listed values, or add the value to `values` in the front matter".into()
    } else {
        format!("pass a value of type {}, as declared in the front matter", variable.ty.name())
    }
}

/// The closing `+++` line before the body that starts at `body_offset`.
fn closing_line(text: &str, body_offset: usize) -> std::ops::Range<usize> {
    let before = text[..body_offset].trim_end_matches(['\n', '\r']);
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    start..before.len()
}

/// The caret label of a type problem: what is wrong with the value, in a few words.
fn type_label(problem: &str, variable: &Variable) -> String {
    if problem.contains("max_len") {
        "too long".into()
    } else if problem.contains("enum's values") {
        "not one of the allowed values".into()
    } else if problem.contains("lacks its required field") {
        "a required field is missing".into()
    } else if problem.contains("does not declare") {
        "unknown field".into()
    } else {
        format!("expected {}", variable.ty.name())
    }
}
