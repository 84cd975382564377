//! The `[[eval]]` entries of a prompt (docs/eval.md), validated without calling anything: the
//! models exist in `[models]` (an embeddings model's provider has an embeddings API), the versions
//! and the named test exist, the dataset parses, every case's vars type-check against each
//! evaluated version's contract and render, regexes compile, JSON Schema files parse, and the
//! judge prompt exists and declares `rubric` and `output`. Pure: the judge prompts of other
//! prompts arrive through a lookup (`Judges`).

use super::*;
use crate::config::ProviderKind;
use crate::syntax::dataset::{self, case_problems, typed_case, Format};
use crate::syntax::eval::{eval_versions, AssertKind, Case, CasesSpec, EvalSpec};
use std::ops::Range;

/// What a prompt named as a judge prompt declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JudgePrompt {
    /// No prompt of the project has that name.
    Missing,
    /// Its newest version does not parse (its own check says why).
    Unparsed,
    /// The variables its newest version declares.
    Declares(Vec<String>),
}

/// Looks up a prompt of the project by name, for the judge prompts of `judge` assertions.
pub type Judges<'a> = dyn Fn(&str) -> JudgePrompt + Sync + 'a;

/// The variables the newest version of a prompt's files declares.
pub fn declared_variables(files: &PromptFiles) -> JudgePrompt {
    let Some((_, newest)) = files.versions.last() else { return JudgePrompt::Unparsed };
    let Ok(text) = std::str::from_utf8(newest.bytes()) else { return JudgePrompt::Unparsed };
    let Ok(split) = prompt::split_front_matter(&newest.path, text) else {
        return JudgePrompt::Unparsed;
    };
    match prompt::read_front_matter(
        &newest.path,
        text,
        split.front_matter_offset,
        split.front_matter,
    ) {
        (Some(front), _) => JudgePrompt::Declares(
            front.variables.keys().map(|name| name.get_ref().clone()).collect(),
        ),
        (None, _) => JudgePrompt::Unparsed,
    }
}

/// Where the evals of one prompt are reported, and what they are checked against.
pub(super) struct Site<'a> {
    pub(super) config: &'a Config,
    pub(super) files: &'a PromptFiles,
    pub(super) manifest: &'a Manifest,
    /// The manifest's text and path.
    pub(super) text: &'a str,
    pub(super) path: &'a str,
    pub(super) versions: &'a [Version<'a>],
    pub(super) judges: Option<&'a Judges<'a>>,
}

fn help() -> String {
    format!("see {}", crate::text::docs("eval.md"))
}

/// Checks every `[[eval]]` of the prompt.
pub(super) fn check(site: &Site, outcome: &mut Outcome, by_version: &mut Vec<(u32, Range<usize>)>) {
    let mut seen: BTreeMap<&str, Range<usize>> = BTreeMap::new();
    for eval in &site.manifest.evals {
        let spec = eval.get_ref();
        let name = spec.name.get_ref();
        if seen.insert(name.as_str(), spec.name.span()).is_some() {
            outcome.diagnostics.push(
                Diagnostic::new(
                    Code::EvalDuplicateName,
                    site.path,
                    format!("two evals are named `{name}`"),
                )
                .at(site.text, spec.name.span())
                .label("second eval with this name")
                .help(
                    "eval names identify results and recorded answers; give each eval its own name",
                ),
            );
            continue;
        }
        check_model(
            site,
            spec.model.get_ref(),
            spec.model.span(),
            "the eval",
            &mut outcome.diagnostics,
        );
        for assert in &spec.asserts {
            check_assert(site, spec, &assert.get_ref().kind, assert.span(), outcome);
        }
        let newest = site.versions.iter().map(|v| v.number).max().unwrap_or(0);
        for version in &spec.versions {
            let number = *version.get_ref();
            if !site.versions.iter().any(|v| i64::from(v.number) == number) {
                outcome.diagnostics.push(
                    Diagnostic::new(
                        Code::EvalVersion,
                        site.path,
                        format!("eval `{name}` evaluates version {number}, which does not exist"),
                    )
                    .at(site.text, version.span())
                    .label("no such version")
                    .help(format!("the versions are 1..{newest}; name existing versions, or leave `versions` out for the served ones and the newest")),
                );
            }
        }
        let Some((cases, csv)) = cases(site, spec, &mut outcome.diagnostics) else { continue };
        if spec
            .asserts
            .iter()
            .any(|a| matches!(a.get_ref().kind, AssertKind::SimilarTo { reference: None, .. }))
            && spec.reference.is_none()
        {
            if let Some(case) = cases.iter().find(|case| case.reference.is_none()) {
                let assert = spec.asserts.iter().find(|a| {
                    matches!(a.get_ref().kind, AssertKind::SimilarTo { reference: None, .. })
                });
                outcome.diagnostics.push(
                    Diagnostic::new(Code::EvalAssert, site.path, format!("eval `{name}`: `similar_to = true` compares with each case's reference, and case `{}` has none", case.label))
                        .at(site.text, assert.map_or(spec.name.span(), |a| a.span()))
                        .label("needs a reference")
                        .help("give the eval a `reference`, give every dataset row one, or write the reference text in `similar_to`"),
                );
            }
        }
        for number in eval_versions(spec, site.manifest, newest) {
            let Some(version) = site.versions.iter().find(|v| v.number == number) else { continue };
            let before = outcome.diagnostics.len();
            check_cases(site, spec, &cases, csv, version, &mut outcome.diagnostics);
            by_version.push((number, before..outcome.diagnostics.len()));
        }
    }
}

/// The recorded answers of `evals/recorded/` (docs/eval.md, "Recorded responses"): each is an
/// answer file (`schemas/eval-recorded.schema.json`) named by its key's digest. A broken or edited
/// file would otherwise only show when `eval` replays it.
pub(super) fn check_recorded(files: &PromptFiles, diagnostics: &mut Vec<Diagnostic>) {
    let record_again = || {
        format!(
            "recorded answers are written by `promptctl eval --record`, never by hand: delete the file and record again; {}",
            help()
        )
    };
    for file in &files.recorded {
        let Ok(text) = std::str::from_utf8(file.bytes()) else {
            diagnostics.push(
                Diagnostic::new(
                    Code::EvalRecorded,
                    file.path.clone(),
                    format!("`{}` is not UTF-8 text, so not a recorded answer", file.path),
                )
                .help(record_again()),
            );
            continue;
        };
        let entry = match serde_json::from_str::<crate::eval::cache::Entry>(text) {
            Ok(entry) => entry,
            Err(error) => {
                let at = json_error_offset(text, error.line(), error.column());
                diagnostics.push(
                    Diagnostic::new(
                        Code::EvalRecorded,
                        file.path.clone(),
                        format!("`{}` is not a recorded answer: {error}", file.path),
                    )
                    .at(text, at..at)
                    .label("here")
                    .help(record_again()),
                );
                continue;
            }
        };
        let name = file.path.rsplit('/').next().unwrap_or_default();
        let id = entry.key.id();
        if name.strip_suffix(".json") != Some(id.as_str()) {
            let key = text.find("\"key\"").map_or(0..0, |start| start..start + 5);
            diagnostics.push(
                Diagnostic::new(
                    Code::EvalRecorded,
                    file.path.clone(),
                    format!("the key of `{}` is not the one its name is the digest of: the file was edited or renamed", file.path),
                )
                .at(text, key)
                .label(format!("this key's digest is {id}"))
                .help(record_again()),
            );
        }
    }
}

/// The byte offset of serde_json's 1-based `line` and `column` in `text` (its end when past it).
fn json_error_offset(text: &str, line: usize, column: usize) -> usize {
    let start =
        text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum::<usize>();
    let mut at = (start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A model name of an eval or assertion (`what`) is declared in `[models]`.
fn check_model(
    site: &Site,
    model: &str,
    span: Range<usize>,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ProviderKind> {
    if let Some(found) = site.config.models.get(model) {
        return Some(found.provider);
    }
    let declared = site.config.models.keys().map(String::as_str);
    let help = match did_you_mean(model, declared.clone()) {
        Some(suggestion) => {
            format!("did you mean `{suggestion}`? models are declared in promptctl.toml")
        }
        None if site.config.models.is_empty() => {
            format!("declare `[models.{model}]` in promptctl.toml; {}", help())
        }
        None => format!(
            "declare `[models.{model}]` in promptctl.toml, or use one of: {}",
            declared.collect::<Vec<_>>().join(", ")
        ),
    };
    diagnostics.push(
        Diagnostic::new(
            Code::EvalModel,
            site.path,
            format!("{what} names the model `{model}`, which `[models]` does not declare"),
        )
        .at(site.text, span)
        .label("unknown model")
        .help(help),
    );
    None
}

fn check_assert(
    site: &Site,
    spec: &EvalSpec,
    kind: &AssertKind,
    span: Range<usize>,
    outcome: &mut Outcome,
) {
    let name = spec.name.get_ref();
    let diagnostics = &mut outcome.diagnostics;
    let error = |message: String, label: &str, help: String| {
        Diagnostic::new(Code::EvalAssert, site.path, format!("eval `{name}`: {message}"))
            .at(site.text, span.clone())
            .label(label)
            .help(help)
    };
    match kind {
        AssertKind::Regex(pattern) => {
            if let Err(problem) = regex::Regex::new(pattern) {
                let first = problem.to_string();
                let first = first.lines().last().unwrap_or("invalid").trim();
                let first = first.trim_start_matches("error: ").to_string();
                diagnostics.push(error(
                    format!("the regex {pattern:?} does not compile: {first}"),
                    "invalid regex",
                    "write a pattern of Rust's `regex` crate (no look-around or backreferences); escape `\\` as `\\\\` in TOML strings".into(),
                ));
            }
        }
        AssertKind::Json { schema: Some(schema) } => {
            let full = format!("{}/{schema}", site.files.dir);
            match site.files.evals.iter().find(|file| file.path == full) {
                None => diagnostics.push(error(
                    format!("the JSON Schema `{schema}` is not a file of `{}/evals/`", site.files.dir),
                    "not a file of the prompt's evals/",
                    format!("put the schema in the prompt's `evals/` folder and name it relative to the prompt's folder, e.g. `evals/answer.schema.json`; {}", help()),
                )),
                Some(file) => match serde_json::from_slice::<serde_json::Value>(file.bytes()) {
                    Ok(value @ (serde_json::Value::Object(_) | serde_json::Value::Bool(_))) => {
                        // What `eval` compiles it with: a schema the validator refuses fails there.
                        if let Err(problem) = jsonschema::validator_for(&value) {
                            diagnostics.push(error(
                                format!("`{schema}` is not a valid JSON Schema: {problem}"),
                                "not a valid schema",
                                format!("fix `{full}` (see https://json-schema.org/understanding-json-schema/); {}", help()),
                            ));
                        }
                    }
                    Ok(_) => diagnostics.push(error(
                        format!("the JSON Schema `{schema}` is neither an object nor a boolean"),
                        "not a schema",
                        "a JSON Schema is an object such as `{\"type\": \"object\"}` (or true / false)".into(),
                    )),
                    Err(problem) => diagnostics.push(error(
                        format!("the JSON Schema `{schema}` is not JSON: {problem}"),
                        "not JSON",
                        format!("fix `{full}`"),
                    )),
                },
            }
        }
        AssertKind::SimilarTo { model, .. } => {
            let Some(model) = model.as_ref().or(site.config.eval.embedding_model.as_ref()) else {
                diagnostics.push(
                    Diagnostic::new(Code::EvalModel, site.path, format!("eval `{name}`: `similar_to` has no embeddings model"))
                        .at(site.text, span)
                        .label("which model embeds?")
                        .help("name one with `model = \"…\"`, or set `[eval] embedding_model` in promptctl.toml"),
                );
                return;
            };
            if check_model(site, model, span.clone(), "a `similar_to` assertion", diagnostics)
                == Some(ProviderKind::Anthropic)
            {
                diagnostics.push(
                    Diagnostic::new(Code::EvalModel, site.path, format!("eval `{name}`: the embeddings model `{model}` is an `anthropic` model, and Anthropic has no embeddings API"))
                        .at(site.text, span)
                        .label("no embeddings")
                        .help("name an `openai`, `azure-openai` or `gemini` model for embeddings"),
                );
            }
        }
        AssertKind::Judge { model, prompt: judge_prompt, .. } => {
            match model.as_ref().or(site.config.eval.judge_model.as_ref()) {
                Some(model) => {
                    check_model(site, model, span.clone(), "a `judge` assertion", diagnostics);
                }
                None => diagnostics.push(
                    Diagnostic::new(Code::EvalModel, site.path, format!("eval `{name}`: `judge` has no judge model"))
                        .at(site.text, span.clone())
                        .label("which model judges?")
                        .help("name one with `model = \"…\"`, or set `[eval] judge_model` in promptctl.toml"),
                ),
            }
            let Some(judges) = site.judges else { return };
            outcome.uses_other_prompts = true;
            let judge = judge_prompt.as_ref().unwrap_or(&site.config.eval.judge_prompt);
            let problem = match judges(judge) {
                JudgePrompt::Unparsed => return,
                JudgePrompt::Missing => format!("the judge prompt `{judge}` does not exist"),
                JudgePrompt::Declares(variables) => {
                    let lacking: Vec<String> = ["rubric", "output"]
                        .iter()
                        .filter(|needed| !variables.iter().any(|v| v == *needed))
                        .map(|needed| format!("`{needed}`"))
                        .collect();
                    if lacking.is_empty() {
                        return;
                    }
                    format!("the judge prompt `{judge}` does not declare {}", lacking.join(" and "))
                }
            };
            outcome.diagnostics.push(
                Diagnostic::new(Code::EvalJudge, site.path, format!("eval `{name}`: {problem}"))
                    .at(site.text, span)
                    .label("judged with it")
                    .help(format!("a judge prompt is a prompt of this project whose newest version declares the variables `rubric` and `output` (and optionally `input` and `reference`); name it with `prompt` or `[eval] judge_prompt`; {}", help())),
            );
        }
        _ => {}
    }
}

/// The cases of an eval before conversion to any version's types, and whether they came from a
/// CSV file (strings to convert); `None` when they cannot be had (reported).
fn cases(
    site: &Site,
    spec: &EvalSpec,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Vec<Case>, bool)> {
    let mut csv = false;
    let mut cases = match &spec.cases {
        CasesSpec::Inline(vars) => vec![Case {
            label: "vars".into(),
            vars: vars_to_json(vars).as_object().cloned().unwrap_or_default(),
            input: None,
            reference: None,
        }],
        CasesSpec::Test(test) => {
            let tests = &site.manifest.tests;
            let Some(found) = tests.iter().find(|t| t.get_ref().name.get_ref() == test.get_ref())
            else {
                let help = match did_you_mean(
                    test.get_ref(),
                    tests.iter().map(|t| t.get_ref().name.get_ref().as_str()),
                ) {
                    Some(suggestion) => format!("did you mean `{suggestion}`?"),
                    None => {
                        "name a `[[test]]` of this prompt.toml, or give the eval its own `vars`"
                            .into()
                    }
                };
                diagnostics.push(
                    Diagnostic::new(Code::EvalTest, site.path, format!("eval `{}` takes the vars of the test `{}`, which this prompt does not have", spec.name.get_ref(), test.get_ref()))
                        .at(site.text, test.span())
                        .label("no such test")
                        .help(help),
                );
                return None;
            };
            vec![Case {
                label: test.get_ref().clone(),
                vars: vars_to_json(&found.get_ref().vars).as_object().cloned().unwrap_or_default(),
                input: None,
                reference: None,
            }]
        }
        CasesSpec::Dataset(file) => {
            let full = format!("{}/{}", site.files.dir, file.get_ref());
            if site.files.diagnostics.iter().any(|d| d.file == full) {
                return None; // Unreadable: reported where it was read.
            }
            let Some(found) = site.files.evals.iter().find(|f| f.path == full) else {
                diagnostics.push(
                    Diagnostic::new(Code::EvalDataset, site.path, format!("the dataset `{}` is not a file of `{}/evals/`", file.get_ref(), site.files.dir))
                        .at(site.text, file.span())
                        .label("not a file of the prompt's evals/")
                        .help(format!("put the dataset in the prompt's `evals/` folder and name it relative to the prompt's folder, e.g. `evals/questions.jsonl`; {}", help())),
                );
                return None;
            };
            let text = utf8(&found.path, found.bytes(), diagnostics)?;
            csv = dataset::format_of(&full) == Some(Format::Csv);
            match dataset::parse_dataset(&full, text) {
                Ok(cases) => cases,
                Err(problem) => {
                    diagnostics.push(problem);
                    return None;
                }
            }
        }
    };
    for case in &mut cases {
        case.input = case.input.take().or_else(|| spec.input.as_ref().map(|i| i.get_ref().clone()));
        case.reference =
            case.reference.take().or_else(|| spec.reference.as_ref().map(|r| r.get_ref().clone()));
    }
    Some((cases, csv))
}

/// Every case type-checks against `version`'s contract and renders; the first case that does not
/// is reported (with a count of the others).
fn check_cases(
    site: &Site,
    spec: &EvalSpec,
    cases: &[Case],
    csv: bool,
    version: &Version,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let (Some(variables), Some(template), Some(body)) =
        (&version.variables, &version.template, version.body)
    else {
        return;
    };
    let name = spec.name.get_ref();
    let what = format!("eval `{name}` (v{})", version.number);
    let mut first: Option<Diagnostic> = None;
    let mut failing = 0;
    for case in cases {
        let problem = match check_case(case, csv, variables, template, body) {
            Ok(()) => continue,
            Err(problem) => problem,
        };
        failing += 1;
        if first.is_some() {
            continue;
        }
        let (file, text, span) = case_site(site, spec, case, &problem);
        let diagnostic = Diagnostic::new(Code::EvalCase, file, format!("{what}, case `{}`: {problem}", case.label))
            .at(text, span)
            .label("this case")
            .help(format!("make the case's vars match the contract of {} (its front matter), or evaluate other versions with `versions`", version.path));
        first = Some(diagnostic);
    }
    if let Some(mut diagnostic) = first {
        if failing > 1 {
            diagnostic = diagnostic.note(format!(
                "{} more cases of this eval fail on v{}",
                failing - 1,
                version.number
            ));
        }
        diagnostics.push(diagnostic);
    }
}

fn check_case(
    case: &Case,
    csv: bool,
    variables: &[Variable],
    template: &Template,
    body: &str,
) -> Result<(), String> {
    let typed;
    let case = if csv {
        typed = typed_case(case, variables)?;
        &typed
    } else {
        case
    };
    if let Some(problem) = case_problems(&case.vars, variables).into_iter().next() {
        return Err(problem);
    }
    let vars = serde_json::Value::Object(case.vars.clone());
    render::render(template, body, &vars)
        .map(drop)
        .map_err(|error| format!("fails to render: {}", error.message))
}

/// Where a case's problem is shown: the dataset row, or the inline var or test in prompt.toml.
fn case_site<'a>(
    site: &'a Site,
    spec: &EvalSpec,
    case: &Case,
    problem: &str,
) -> (&'a str, &'a str, Range<usize>) {
    match &spec.cases {
        CasesSpec::Dataset(file) => {
            let full = format!("{}/{}", site.files.dir, file.get_ref());
            let line: usize =
                case.label.rsplit(':').next().and_then(|l| l.parse().ok()).unwrap_or(1);
            let found = site.files.evals.iter().find(|f| f.path == full);
            match found.and_then(|f| Some((f.path.as_str(), std::str::from_utf8(f.bytes()).ok()?)))
            {
                Some((path, text)) => {
                    let start: usize =
                        text.split_inclusive('\n').take(line - 1).map(str::len).sum();
                    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
                    (path, text, start..end.max(start))
                }
                None => (site.path, site.text, file.span()),
            }
        }
        CasesSpec::Test(test) => (site.path, site.text, test.span()),
        CasesSpec::Inline(vars) => {
            let span = vars
                .iter()
                .find(|(key, _)| problem.contains(&format!("`{}`", key.get_ref())))
                .map_or(spec.name.span(), |(_, value)| value.span());
            (site.path, site.text, span)
        }
    }
}
