//! `promptctl render`: one version of a prompt rendered with vars the way the runtime renders it
//! (the same strict engine `check` runs tests with), after the vars are checked against the
//! version's contract. The vars come from a test, a JSON or TOML file (or standard input) and
//! `KEY=VALUE` assignments typed by the contract, merged in that order.

use super::check::{self, Gate, Keep};
use crate::catalog::{Prompt, Version};
use crate::config::Project;
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::syntax::prompt::{self, Type, Variable};
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Which version: `NAME` (the newest), `NAME@N`, or `NAME@ENV` (the version `prompt.toml`
/// activates in ENV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Newest,
    Version(u32),
    Environment(String),
}

/// Splits `NAME[@VERSION|@ENV]`.
pub fn parse_target(target: &str) -> (String, At) {
    match target.split_once('@') {
        None => (target.to_string(), At::Newest),
        Some((name, at)) => {
            let at = at.strip_prefix('v').filter(|n| n.parse::<u32>().is_ok()).unwrap_or(at);
            match at.parse::<u32>() {
                Ok(number) => (name.to_string(), At::Version(number)),
                Err(_) => (name.to_string(), At::Environment(at.to_string())),
            }
        }
    }
}

/// Where the vars come from.
#[derive(Debug, Default)]
pub struct Inputs {
    /// A `[[test]]` of the prompt, whose vars come first.
    pub test: Option<String>,
    /// A vars document (JSON or TOML) and the name to show for it (`-` for standard input).
    pub document: Option<(String, String)>,
    /// `KEY=VALUE` (dotted keys for nested objects), applied last.
    pub assignments: Vec<String>,
    /// For `diff`, where one set of vars feeds two versions: a test written for another version
    /// lends its vars, and vars a version does not declare are left out for it.
    pub shared: bool,
}

/// A rendered version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rendered {
    pub name: String,
    pub version: u32,
    /// sha256 of the template text, as the store and the runtime record it.
    pub sha256: String,
    pub text: String,
}

/// What `render` did.
pub enum Render {
    Rendered(Rendered),
    /// The vars do not fit the contract, or the strict render failed: these say why, at the
    /// version file, whose text is `text`.
    Refused {
        diagnostics: Vec<Diagnostic>,
        text: String,
    },
    /// The prompt does not check: these are its errors.
    Errors(check::CheckRun),
}

pub fn render(project: &Project, target: &str, inputs: &Inputs) -> Result<Render> {
    let (name, at) = parse_target(target);
    let run = match checked(project, &name)? {
        Ok(run) => run,
        Err(run) => return Ok(Render::Errors(run)),
    };
    let found = find(&run, &name)?;
    let version = pick(project, found, &at)?;
    let file = version_file(project, &name, version.number);
    let vars = vars_for(project, &name, inputs, version)?;
    Ok(match render_version(version, &file, vars)? {
        Ok(text) => Render::Rendered(Rendered {
            name,
            version: version.number,
            sha256: hex::encode(Sha256::digest(version.template.as_bytes())),
            text,
        }),
        Err((diagnostics, text)) => Render::Refused { diagnostics, text },
    })
}

/// The gate's run with the catalog, or (as `Err`) the run whose errors concern `name`.
pub(super) fn checked(
    project: &Project,
    name: &str,
) -> Result<std::result::Result<check::CheckRun, check::CheckRun>> {
    Ok(match check::gate(project, Keep::Catalog)? {
        Gate::Clean(run) => Ok(run),
        Gate::Errors(run) => {
            let dir = format!("{}/", project_dir(project, name));
            if run.errors().any(|d| d.file.starts_with(&dir))
                || !run.catalog.iter().any(|p| p.name == name)
            {
                Err(run)
            } else {
                Ok(run)
            }
        }
    })
}

/// The catalog's prompt `name`, or an error naming the nearest one.
pub(super) fn find<'a>(run: &'a check::CheckRun, name: &str) -> Result<&'a Prompt> {
    match run.catalog.iter().find(|prompt| prompt.name == name) {
        Some(found) => Ok(found),
        None => {
            let names: Vec<&str> = run.catalog.iter().map(|p| p.name.as_str()).collect();
            let hint = did_you_mean(name, names.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_else(|| format!("; the prompts are: {}", names.join(", ")));
            bail!("there is no prompt `{name}`{hint}")
        }
    }
}

/// `prompts/NAME/vN.prompt`, relative to the project root.
pub(super) fn version_file(project: &Project, name: &str, number: u32) -> String {
    format!("{}/v{number}.prompt", project_dir(project, name))
}

/// The vars of `inputs` for `version`: the test's, the document's, then the assignments.
pub(super) fn vars_for(
    project: &Project,
    name: &str,
    inputs: &Inputs,
    version: &Version,
) -> Result<Map<String, Value>> {
    let mut vars = Map::new();
    if let Some(test) = &inputs.test {
        vars = test_vars(project, name, test, version.number, inputs.shared)?;
    }
    if let Some((shown, document)) = &inputs.document {
        for (key, value) in parse_document(shown, document)? {
            vars.insert(key, value);
        }
    }
    for assignment in &inputs.assignments {
        assign(&mut vars, assignment, &version.variables)?;
    }
    if inputs.shared {
        vars.retain(|key, _| version.variables.iter().any(|v| &v.name == key));
    }
    Ok(vars)
}

/// The text of `version` (at `file`) rendered with `vars` after they are checked against its
/// declarations; `Err` holds the diagnostics and the version file's text they point into.
#[allow(clippy::type_complexity)]
pub(super) fn render_version(
    version: &Version,
    file: &str,
    vars: Map<String, Value>,
) -> Result<std::result::Result<String, (Vec<Diagnostic>, String)>> {
    let text = format!("{}{}", version.front_matter, version.template);
    let diagnostics =
        check_vars(&vars, &version.variables, file, &text, version.front_matter.len());
    if !diagnostics.is_empty() {
        return Ok(Err((diagnostics, text)));
    }
    let template = match crate::syntax::template::parse(&version.template) {
        Ok(template) => template,
        Err(_) => bail!("`{file}` does not parse; `promptctl check` says why"),
    };
    let offset = version.front_matter.len();
    match crate::render::render(&template, &version.template, &Value::Object(vars)) {
        Ok(rendered) => Ok(Ok(rendered)),
        Err(error) => {
            let diagnostic = Diagnostic::new(
                Code::RenderFailed,
                file,
                format!("v{} fails to render with these vars: {}", version.number, error.message),
            )
            .at(&text, offset + error.span.start..offset + error.span.end)
            .label("fails here")
            .help("pass the value this needs, or guard the use with `{{#if}}`");
            Ok(Err((vec![diagnostic], text)))
        }
    }
}

pub(super) fn project_dir(project: &Project, name: &str) -> String {
    crate::source::relative(&project.root, &project.prompts_path().join(name))
}

pub(super) fn pick<'a>(project: &Project, prompt: &'a Prompt, at: &At) -> Result<&'a Version> {
    let numbers =
        || prompt.versions.iter().map(|v| format!("v{}", v.number)).collect::<Vec<_>>().join(", ");
    match at {
        At::Newest => prompt.versions.last().context("the prompt has no version"),
        At::Version(number) => {
            prompt.versions.iter().find(|v| v.number == *number).with_context(|| {
                format!("`{}` has no v{number}; it has {}", prompt.name, numbers())
            })
        }
        At::Environment(environment) => {
            if !project.config.environments.contains_key(environment) {
                let known: Vec<&str> =
                    project.config.environments.keys().map(String::as_str).collect();
                bail!(
                    "`{environment}` is neither a version number nor an environment of \
                     promptctl.toml ({})",
                    known.join(", ")
                );
            }
            let number = prompt.activate.get(environment).with_context(|| {
                format!("`{}` activates no version in `{environment}`", prompt.name)
            })?;
            prompt
                .versions
                .iter()
                .find(|v| v.number == *number)
                .with_context(|| format!("`{}` activates v{number}, which is missing", prompt.name))
        }
    }
}

fn test_vars(
    project: &Project,
    name: &str,
    test: &str,
    number: u32,
    shared: bool,
) -> Result<Map<String, Value>> {
    let path = format!("{}/prompt.toml", project_dir(project, name));
    let text = std::fs::read_to_string(project.root.join(&path))
        .with_context(|| format!("cannot read `{path}`"))?;
    let manifest = prompt::read_manifest(&path, &text)
        .0
        .with_context(|| format!("`{path}` does not parse; `promptctl check` says why"))?;
    let tests: Vec<&prompt::TestSpec> = manifest.tests.iter().map(|t| t.get_ref()).collect();
    let Some(spec) = tests.iter().find(|t| t.name.get_ref() == test) else {
        let names: Vec<&str> = tests.iter().map(|t| t.name.get_ref().as_str()).collect();
        bail!(
            "`{name}` has no test `{test}`{}",
            if names.is_empty() {
                String::new()
            } else {
                format!("; its tests are: {}", names.join(", "))
            }
        );
    };
    if let Some(version) = spec.version.as_ref().filter(|_| !shared) {
        if *version.get_ref() != i64::from(number) {
            bail!(
                "test `{test}` is written for v{}, not v{number}; render `{name}@{}`, or pass the \
                 vars another way",
                version.get_ref(),
                version.get_ref()
            );
        }
    }
    match crate::check::vars_to_json(&spec.vars) {
        Value::Object(map) => Ok(map),
        _ => unreachable!("vars_to_json returns an object"),
    }
}

/// A vars document: JSON when it starts with `{`, else TOML; an object either way.
fn parse_document(shown: &str, text: &str) -> Result<Map<String, Value>> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        let value: Value = serde_json::from_str(trimmed).map_err(|error| {
            anyhow::anyhow!(
                "`{shown}` is not valid JSON: {error} (line {}, column {})",
                error.line(),
                error.column()
            )
        })?;
        match value {
            Value::Object(map) => Ok(map),
            _ => bail!("`{shown}` must hold an object of vars"),
        }
    } else {
        let table: toml::Table = toml::from_str(trimmed).map_err(|error| {
            let position = error
                .span()
                .map(|span| {
                    let before = &trimmed[..span.start.min(trimmed.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
                    format!(" (line {line}, column {column})")
                })
                .unwrap_or_default();
            anyhow::anyhow!(
                "`{shown}` is neither a JSON object nor valid TOML: {}{position}",
                error.message().trim_end()
            )
        })?;
        Ok(table.iter().map(|(key, value)| (key.clone(), prompt::toml_to_json(value))).collect())
    }
}

/// Applies `KEY=VALUE`: the value is a string where the contract says string or enum, else JSON
/// (`42`, `true`, `["a"]`, `{"k": 1}`); an undeclared key takes the text as a string (and the
/// contract check then names it).
fn assign(vars: &mut Map<String, Value>, assignment: &str, variables: &[Variable]) -> Result<()> {
    let Some((key, raw)) = assignment.split_once('=') else {
        bail!("`--var {assignment}`: write `--var KEY=VALUE`");
    };
    let path: Vec<&str> = key.split('.').collect();
    if path.iter().any(|segment| segment.is_empty()) {
        bail!("`--var {assignment}`: `{key}` is not a dotted name");
    }
    let ty = declared_type(variables, &path);
    let value = match ty {
        None | Some(Type::String { .. }) | Some(Type::Enum(_)) => Value::String(raw.to_string()),
        Some(ty) => serde_json::from_str(raw).map_err(|_| {
            anyhow::anyhow!(
                "`--var {assignment}`: `{key}` is declared {} {}, and `{raw}` is not one",
                crate::text::article(ty.name()),
                ty.name()
            )
        })?,
    };
    let mut object = vars;
    for segment in &path[..path.len() - 1] {
        let entry = object.entry(segment.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        object = entry.as_object_mut().expect("made an object above");
    }
    object.insert(path[path.len() - 1].to_string(), value);
    Ok(())
}

fn declared_type<'a>(variables: &'a [Variable], path: &[&str]) -> Option<&'a Type> {
    let variable = variables.iter().find(|v| v.name == path[0])?;
    match (&variable.ty, &path[1..]) {
        (ty, []) => Some(ty),
        (Type::Object(fields), rest) => declared_type(fields, rest),
        _ => None,
    }
}

/// What is wrong with a set of vars against a contract (`vars_problems`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarProblem {
    /// A name the contract does not declare (with the nearest declared name, if any).
    Unknown { key: String, suggestion: Option<String> },
    /// A value of the wrong type; `path` is where (`key`, `key.field`, `key[2]`).
    Type { key: String, path: String, message: String },
    /// A required variable not passed.
    Missing { key: String },
}

impl VarProblem {
    /// The stable code (`render/unknown-var`, `render/type`, `render/missing-var`).
    pub fn code(&self) -> Code {
        match self {
            VarProblem::Unknown { .. } => Code::RenderUnknownVar,
            VarProblem::Type { .. } => Code::RenderType,
            VarProblem::Missing { .. } => Code::RenderMissingVar,
        }
    }

    /// Where: the variable, or the value inside it.
    pub fn path(&self) -> &str {
        match self {
            VarProblem::Unknown { key, .. } | VarProblem::Missing { key } => key,
            VarProblem::Type { path, .. } => path,
        }
    }

    /// What is wrong, in a sentence.
    pub fn message(&self) -> String {
        match self {
            VarProblem::Unknown { key, suggestion } => {
                let hint = suggestion
                    .as_ref()
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                format!("the vars pass `{key}`, which this version does not declare{hint}")
            }
            VarProblem::Type { message, .. } => format!("the vars: {message}"),
            VarProblem::Missing { key } => {
                format!("the vars do not pass the required variable `{key}`")
            }
        }
    }
}

/// The vars against the contract, with the same rules as a test's vars (`prompt::type_check`):
/// undeclared names, wrong types, missing required variables, in that order. `render` and `serve`
/// both check vars through here.
pub fn vars_problems(vars: &Map<String, Value>, variables: &[Variable]) -> Vec<VarProblem> {
    let mut problems = Vec::new();
    for (key, value) in vars {
        let Some(variable) = variables.iter().find(|v| &v.name == key) else {
            let suggestion =
                did_you_mean(key, variables.iter().map(|v| v.name.as_str())).map(str::to_string);
            problems.push(VarProblem::Unknown { key: key.clone(), suggestion });
            continue;
        };
        let problem = match json_to_toml(value) {
            Some(value) => prompt::type_check_at(variable, &value, key).err(),
            None => {
                Some((key.clone(), format!("`{key}` holds a null, which no variable type accepts")))
            }
        };
        if let Some((path, message)) = problem {
            problems.push(VarProblem::Type { key: key.clone(), path, message });
        }
    }
    for variable in variables.iter().filter(|v| v.required && !vars.contains_key(&v.name)) {
        problems.push(VarProblem::Missing { key: variable.name.clone() });
    }
    problems
}

/// The vars against the contract (`vars_problems`); each problem is placed at the declaration it
/// breaks (or at the front matter for an undeclared name).
fn check_vars(
    vars: &Map<String, Value>,
    variables: &[Variable],
    file: &str,
    text: &str,
    front_matter_len: usize,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let front = 0..front_matter_len.min(3);
    let declared = |key: &str| variables.iter().find(|v| v.name == key);
    for problem in vars_problems(vars, variables) {
        match &problem {
            VarProblem::Unknown { key, suggestion } => {
                let help = match suggestion {
                    Some(suggestion) => {
                        format!("did you mean `{suggestion}`? Or declare it in the front matter")
                    }
                    None => "remove it, or declare it in the version's front matter".to_string(),
                };
                diagnostics.push(
                    Diagnostic::new(
                        Code::RenderUnknownVar,
                        file,
                        format!("the vars pass `{key}`, which this version does not declare"),
                    )
                    .at(text, front.clone())
                    .label("the version's declarations")
                    .help(help),
                );
            }
            VarProblem::Type { key, message, .. } => {
                let Some(variable) = declared(key) else { continue };
                diagnostics.push(
                    Diagnostic::new(Code::RenderType, file, format!("the vars: {message}"))
                        .at(text, variable.span.clone())
                        .label(format!(
                            "declared {} {} here",
                            crate::text::article(variable.ty.name()),
                            variable.ty.name()
                        ))
                        .help("pass a value of the declared type"),
                );
            }
            VarProblem::Missing { key } => {
                let Some(variable) = declared(key) else { continue };
                diagnostics.push(
                    Diagnostic::new(
                        Code::RenderMissingVar,
                        file,
                        format!("the vars do not pass the required variable `{key}`"),
                    )
                    .at(text, variable.span.clone())
                    .label(format!("`{key}` is declared required here"))
                    .help(format!(
                        "pass it: `--var {key}=…` ({}), a `--vars` file, or a `--test`",
                        variable.ty.name()
                    )),
                );
            }
        }
    }
    diagnostics.sort_by_key(|diagnostic| diagnostic.location.as_ref().map(|l| l.bytes.start));
    diagnostics
}

/// JSON as TOML, for `prompt::type_check`; `None` when it holds a null (or a number neither
/// TOML integer nor float can hold).
fn json_to_toml(value: &Value) -> Option<toml::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(flag) => toml::Value::Boolean(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => toml::Value::Integer(integer),
            None => toml::Value::Float(number.as_f64()?),
        },
        Value::String(text) => toml::Value::String(text.clone()),
        Value::Array(items) => {
            toml::Value::Array(items.iter().map(json_to_toml).collect::<Option<_>>()?)
        }
        Value::Object(map) => toml::Value::Table(
            map.iter().map(|(k, v)| Some((k.clone(), json_to_toml(v)?))).collect::<Option<_>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse_target("qa"), ("qa".into(), At::Newest));
        assert_eq!(parse_target("qa@3"), ("qa".into(), At::Version(3)));
        assert_eq!(parse_target("qa@v3"), ("qa".into(), At::Version(3)));
        assert_eq!(
            parse_target("qa@production"),
            ("qa".into(), At::Environment("production".into()))
        );
    }

    #[test]
    fn documents_are_json_or_toml_objects() {
        let json = parse_document("a.json", "{\"name\": \"Ada\", \"n\": 2}").unwrap();
        assert_eq!(json["name"], "Ada");
        let toml = parse_document("a.toml", "name = \"Ada\"\n[user]\nid = 7\n").unwrap();
        assert_eq!(toml["user"]["id"], 7);
        let error = parse_document("-", "name = \n").unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
        let error = parse_document("v.json", "{\"a\": }").unwrap_err().to_string();
        assert!(error.contains("not valid JSON") && error.contains("line 1"), "{error}");
    }
}
