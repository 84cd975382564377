//! The `[[test]]` entries of a prompt: vars type-checked against the contract, each rendered with
//! the versions it targets and compared with its snapshot.

use super::*;

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
pub(super) fn run_tests(
    files: &PromptFiles,
    manifest: &Manifest,
    text: &str,
    path: &str,
    versions: &[Version],
    activated: &[u32],
    options: Options,
    outcome: &mut Outcome,
    by_version: &mut Vec<(u32, std::ops::Range<usize>)>,
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
            let before = outcome.diagnostics.len();
            run_test(files, spec, test.span(), text, path, version, options, outcome);
            by_version.push((number, before..outcome.diagnostics.len()));
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn run_test(
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
    let site = RenderSite { path, text, whole, span: name_span.clone(), label: "this test" };
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

/// Where in `prompt.toml` a render's problems are reported.
pub(super) struct RenderSite<'a> {
    /// The manifest's path and text.
    pub(super) path: &'a str,
    pub(super) text: &'a str,
    /// The whole table (where missing vars are reported).
    pub(super) whole: std::ops::Range<usize>,
    /// What a render error points at, and its label.
    pub(super) span: std::ops::Range<usize>,
    pub(super) label: &'a str,
}

/// Type-checks `vars` against the version and renders it in strict mode, reporting either failure.
#[allow(clippy::too_many_arguments)]
pub(super) fn render_with(
    version: &Version,
    variables: &[Variable],
    template: &Template,
    body: &str,
    vars: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    what: &str,
    RenderSite { path, text, whole, span, label }: RenderSite,
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

pub(super) fn line_of(version: &Version, body_offset: usize) -> u32 {
    version.text.map_or(0, |text| {
        crate::diagnostic::Location::in_text(
            text,
            version.body_offset + body_offset..version.body_offset + body_offset,
        )
        .start
        .line
    })
}

pub(super) fn column_of(version: &Version, body_offset: usize) -> u32 {
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
pub(super) fn excerpt(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= 12 {
        text.to_string()
    } else {
        format!("{}\n… ({} more lines)", lines[..12].join("\n"), lines.len() - 12)
    }
}

/// What to do about a type problem.
pub(super) fn type_help(problem: &str, variable: &Variable) -> String {
    if problem.contains("max_len") {
        "shorten the value, or raise `max_len` in the front matter".into()
    } else if problem.contains("enum's values") {
        "pass one of the listed values, or add the value to `values` in the front matter".into()
    } else {
        format!("pass a value of type {}, as declared in the front matter", variable.ty.name())
    }
}

/// The closing `+++` line before the body that starts at `body_offset`.
pub(super) fn closing_line(text: &str, body_offset: usize) -> std::ops::Range<usize> {
    let before = text[..body_offset].trim_end_matches(['\n', '\r']);
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    start..before.len()
}

/// The caret label of a type problem: what is wrong with the value, in a few words.
pub(super) fn type_label(problem: &str, variable: &Variable) -> String {
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
