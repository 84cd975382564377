//! The catalog: every checked prompt as the later stages (the code generator, the bundle,
//! review) need it, with the variable contract's fingerprint and canonical JSON. Built from what
//! `check` parsed (`Outline::from_parsed`) or by parsing the loaded files of a prompt whose check
//! result was cached (`Outline::read`); `Outline::finish` moves the templates out of the file
//! buffers. Pure: files arrive as bytes inside `PromptFiles`.

use crate::config::Config;
use crate::source::PromptFiles;
use crate::syntax::prompt::{self, Type, Variable};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Every prompt as the later stages (codegen, bundle) need it. Built only from prompts that check
/// clean: whatever does not parse is left out rather than reported, since `check` reported it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// The environments of `promptctl.toml`, sorted.
    pub environments: Vec<String>,
    /// Sorted by name.
    pub prompts: Vec<Prompt>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub name: String,
    pub description: String,
    /// Environment name to the version it serves (to every key outside a canary).
    pub activate: BTreeMap<String, u32>,
    /// Environment name to its canary, for the environments that roll one out.
    pub canary: BTreeMap<String, Canary>,
    /// Every version, sorted by number.
    pub versions: Vec<Version>,
}

/// A canary: `version` served to `basis_points` (percent × 100) of the keys, the environment's
/// `activate` version to the others (`crate::rollout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    // In alphabetical order: the bundle's canonical JSON is serde's, with sorted keys.
    pub basis_points: u32,
    pub version: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub number: u32,
    pub description: Option<String>,
    /// The version file up to and including its closing `+++` line, byte for byte.
    pub front_matter: String,
    /// The template body: everything after the closing `+++` line. `front_matter` followed by
    /// `template` is the version file.
    pub template: String,
    /// sha256 of the version file's bytes, hex: the digest `prompts.lock` records.
    pub sha256: String,
    pub variables: Vec<Variable>,
    pub model: Option<toml::Table>,
}

impl Prompt {
    /// The numbers of the versions some environment serves, as its stable version or its canary.
    fn served_numbers(&self) -> BTreeSet<u32> {
        let canaries = self.canary.values().map(|canary| canary.version);
        self.activate.values().copied().chain(canaries).collect()
    }

    /// The prompt with only the versions some environment activates (all that `generate` reads of
    /// it), or `None` when no environment serves it (`generate` leaves it out).
    pub fn served_only(mut self) -> Option<Prompt> {
        let numbers = self.served_numbers();
        self.versions.retain(|version| numbers.contains(&version.number));
        (!self.versions.is_empty()).then_some(self)
    }

    /// The versions some environment activates (stable or canary), sorted by number.
    pub fn activated(&self) -> impl Iterator<Item = &Version> {
        let numbers = self.served_numbers();
        self.versions.iter().filter(move |version| numbers.contains(&version.number))
    }
}

impl Version {
    /// The variable specs as JSON, keyed by name, in the shape of the front matter.
    pub fn variables_json(&self) -> Value {
        variables_json(&self.variables)
    }

    /// The variable-contract fingerprint, see `contract`.
    pub fn contract(&self) -> String {
        contract(&self.variables_json())
    }
}

/// The fingerprint of a version's variable contract: sha256 (hex) of the canonical JSON of its
/// variable specs (`Version::variables_json`) without `description` and `source`, which do not
/// change what a caller must pass. Two versions with the same contract accept the same vars.
pub fn contract(variables_json: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(&strip_specs(variables_json)).as_bytes()))
}

/// `{name: spec}` with every spec stripped of its documentation.
fn strip_specs(specs: &Value) -> Value {
    match specs {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(name, spec)| (name.clone(), strip_spec(spec))).collect())
        }
        other => other.clone(),
    }
}

fn strip_spec(spec: &Value) -> Value {
    let Value::Object(map) = spec else { return spec.clone() };
    Value::Object(
        map.iter()
            .filter(|(key, _)| *key != "description" && *key != "source")
            .map(|(key, value)| {
                let value = match key.as_str() {
                    "items" => strip_spec(value),
                    "fields" => strip_specs(value),
                    _ => value.clone(),
                };
                (key.clone(), value)
            })
            .collect(),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Detail {
    Full,
    Item,
}

fn variables_json(variables: &[Variable]) -> Value {
    Value::Object(
        variables
            .iter()
            .map(|variable| (variable.name.clone(), spec_json(variable, Detail::Full)))
            .collect(),
    )
}

fn spec_json(variable: &Variable, detail: Detail) -> Value {
    let mut spec = Map::new();
    spec.insert("type".into(), Value::from(variable.ty.name()));
    if detail == Detail::Full {
        spec.insert("required".into(), Value::from(variable.required));
    }
    if let Some(description) = &variable.description {
        spec.insert("description".into(), Value::from(description.as_str()));
    }
    if variable.user_source {
        spec.insert("source".into(), Value::from("user"));
    }
    match &variable.ty {
        Type::String { max_len: Some(max_len) } => {
            spec.insert("max_len".into(), Value::from(*max_len));
        }
        Type::Enum(values) => {
            spec.insert("values".into(), Value::from(values.clone()));
        }
        Type::Array(item) => {
            spec.insert("items".into(), spec_json(item, Detail::Item));
        }
        Type::Object(fields) => {
            spec.insert("fields".into(), variables_json(fields));
        }
        _ => {}
    }
    Value::Object(spec)
}

/// The variable specs of a stored or cached version (`Version::variables_json`'s shape, as the
/// store and the cache entries keep them) read back into variables, so that vars can be checked
/// against a contract that came from the store (`serve`). `None` when the JSON is not that shape
/// or nests deeper than `syntax::prompt::MAX_TYPE_NESTING` (never trusted by shape: it is read
/// from Redis or the database).
pub fn variables_from_json(specs: &Value) -> Option<Vec<Variable>> {
    fn specs_of(specs: &Value, depth: usize) -> Option<Vec<Variable>> {
        let Value::Object(map) = specs else { return None };
        map.iter().map(|(name, spec)| spec_of(name, spec, depth, true)).collect()
    }
    fn spec_of(name: &str, spec: &Value, depth: usize, full: bool) -> Option<Variable> {
        if depth > prompt::MAX_TYPE_NESTING {
            return None;
        }
        let Value::Object(map) = spec else { return None };
        let ty = match map.get("type")?.as_str()? {
            "string" => Type::String { max_len: map.get("max_len").and_then(Value::as_u64) },
            "integer" => Type::Integer,
            "number" => Type::Number,
            "boolean" => Type::Boolean,
            "enum" => Type::Enum(
                map.get("values")?
                    .as_array()?
                    .iter()
                    .map(|value| value.as_str().map(str::to_string))
                    .collect::<Option<_>>()?,
            ),
            "array" => Type::Array(Box::new(spec_of("", map.get("items")?, depth + 1, false)?)),
            "object" => Type::Object(specs_of(map.get("fields")?, depth + 1)?),
            _ => return None,
        };
        Some(Variable {
            name: name.to_string(),
            ty,
            // An array's items carry no `required`; a missing one in a full spec is required.
            required: !full || map.get("required").and_then(Value::as_bool).unwrap_or(true),
            description: map.get("description").and_then(Value::as_str).map(str::to_string),
            user_source: map.get("source").and_then(Value::as_str) == Some("user"),
            span: 0..0,
        })
    }
    specs_of(specs, 0)
}

/// JSON with object keys sorted (by their UTF-8 bytes) and no insignificant whitespace: the one
/// byte sequence of a value, whatever map type built it.
pub fn canonical_json(value: &Value) -> String {
    let mut output = String::new();
    write_canonical(value, &mut output);
    output
}

fn write_canonical(value: &Value, output: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            output.push('{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    output.push(',');
                }
                output.push_str(&Value::from(key.as_str()).to_string());
                output.push(':');
                write_canonical(value, output);
            }
            output.push('}');
        }
        Value::Array(items) => {
            output.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    output.push(',');
                }
                write_canonical(item, output);
            }
            output.push(']');
        }
        scalar => output.push_str(&scalar.to_string()),
    }
}

/// Reads the catalog out of prompt folders whose bytes are loaded (`PromptFiles::load`). Meant for
/// prompts that checked clean; a file that does not parse is skipped.
pub fn catalog(config: &Config, prompts: &[PromptFiles]) -> Catalog {
    use rayon::prelude::*;
    let prompts = prompts.par_iter().filter_map(|files| read_prompt(config, files)).collect();
    Catalog::new(config, prompts)
}

impl Catalog {
    /// The catalog of `prompts` (in any order) in a project with `config`'s environments.
    pub fn new(config: &Config, mut prompts: Vec<Prompt>) -> Catalog {
        prompts.sort_by(|a, b| a.name.cmp(&b.name));
        Catalog { environments: config.environments.keys().cloned().collect(), prompts }
    }
}

/// Reads one prompt of the catalog out of its loaded files, parsing them.
pub fn read_prompt(config: &Config, files: &PromptFiles) -> Option<Prompt> {
    read(config, files, true).map(|outline| outline.0)
}

/// What the check parsed of one version file, for `Outline::from_parsed`.
pub struct Parsed<'p> {
    /// The whole file.
    pub text: &'p str,
    /// Where the template starts in `text`.
    pub body_offset: usize,
    pub front: &'p prompt::FrontMatter,
    pub variables: &'p [Variable],
}

/// A prompt of the catalog whose templates are still in its files: `finish` moves them in, so
/// that the catalog shares the bytes `source` read instead of copying them.
pub struct Outline(Prompt);

impl Outline {
    /// Reads the outline of a prompt out of its loaded files, parsing them (a prompt whose result
    /// came from the check cache).
    pub fn read(config: &Config, files: &PromptFiles) -> Option<Outline> {
        read(config, files, false)
    }

    /// The outline from what the check already parsed of `files` (`versions`, in the order of
    /// `files.versions`; `None` for a version that did not parse), without parsing anything
    /// again; `finish` gives the same prompt as `read_prompt` of the same files.
    pub fn from_parsed<'p>(
        config: &Config,
        files: &PromptFiles,
        manifest: Option<&prompt::Manifest>,
        versions: impl IntoIterator<Item = Option<Parsed<'p>>>,
    ) -> Option<Outline> {
        let manifest = manifest?;
        let versions = files
            .versions
            .iter()
            .zip(versions)
            .filter_map(|((number, file), parsed)| {
                let parsed = parsed?;
                Some(version_of(
                    *number,
                    parsed.text,
                    parsed.body_offset,
                    parsed.front,
                    parsed.variables.to_vec(),
                    file.sha256_hex(),
                    false,
                ))
            })
            .collect();
        Some(Outline(prompt_of(config, files, manifest, versions)))
    }

    /// The prompt, each template taken out of its version file's bytes, which `files` no longer
    /// holds afterwards (`SourceFile::take_bytes`).
    pub fn finish(self, files: &mut PromptFiles) -> Prompt {
        let mut prompt = self.0;
        for version in &mut prompt.versions {
            let Some((_, file)) = files.versions.iter_mut().find(|(n, _)| *n == version.number)
            else {
                continue;
            };
            let mut text = match String::from_utf8(file.take_bytes()) {
                Ok(text) => text,
                // Not reached: the version was read from these bytes as UTF-8.
                Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
            };
            text.drain(..version.front_matter.len().min(text.len()));
            version.template = text;
        }
        prompt
    }
}

fn read(config: &Config, files: &PromptFiles, copy_templates: bool) -> Option<Outline> {
    let manifest_file = files.manifest.as_ref()?;
    let text = std::str::from_utf8(manifest_file.bytes()).ok()?;
    let manifest = prompt::read_manifest(&manifest_file.path, text).0?;
    let versions = files
        .versions
        .iter()
        .filter_map(|(number, file)| {
            read_version(*number, &file.path, file.bytes(), file.sha256_hex(), copy_templates)
        })
        .collect();
    Some(Outline(prompt_of(config, files, &manifest, versions)))
}

fn prompt_of(
    config: &Config,
    files: &PromptFiles,
    manifest: &prompt::Manifest,
    versions: Vec<Version>,
) -> Prompt {
    let activate: BTreeMap<String, u32> = manifest
        .activate
        .iter()
        .filter(|(environment, _)| config.environments.contains_key(environment.get_ref()))
        .filter_map(|(environment, version)| {
            Some((environment.get_ref().clone(), u32::try_from(*version.get_ref()).ok()?))
        })
        .collect();
    let canary = manifest
        .canary
        .iter()
        .filter(|(environment, _)| activate.contains_key(*environment))
        .filter_map(|(environment, spec)| {
            let version = u32::try_from(*spec.get_ref().version.get_ref()).ok()?;
            Some((
                environment.clone(),
                Canary { version, basis_points: *spec.get_ref().basis_points.get_ref() },
            ))
        })
        .collect();
    Prompt {
        name: files.name.clone(),
        description: manifest.description.clone(),
        activate,
        canary,
        versions,
    }
}

/// One version file's catalog entry, read from its bytes (from git, say): `None` when it does not
/// parse or its declarations are incomplete.
pub fn parse_version(number: u32, path: &str, bytes: &[u8]) -> Option<Version> {
    use sha2::{Digest, Sha256};
    let sha256 = hex::encode(Sha256::digest(bytes));
    read_version(number, path, bytes, sha256, true)
}

/// `sha256` is the digest of `bytes` (`SourceFile` computed it when it read them).
fn read_version(
    number: u32,
    path: &str,
    bytes: &[u8],
    sha256: String,
    copy_template: bool,
) -> Option<Version> {
    let text = std::str::from_utf8(bytes).ok()?;
    let split = prompt::split_front_matter(path, text).ok()?;
    let (front, _) =
        prompt::read_front_matter(path, text, split.front_matter_offset, split.front_matter);
    let front = front?;
    let (variables, problems) = prompt::resolve_variables(path, text, &front);
    if !problems.is_empty() {
        return None;
    }
    Some(version_of(number, text, split.body_offset, &front, variables, sha256, copy_template))
}

/// A version of the catalog; its template is empty unless `copy_template`.
fn version_of(
    number: u32,
    text: &str,
    body_offset: usize,
    front: &prompt::FrontMatter,
    variables: Vec<Variable>,
    sha256: String,
    copy_template: bool,
) -> Version {
    Version {
        number,
        description: front.description.clone(),
        front_matter: text[..body_offset].to_string(),
        template: if copy_template { text[body_offset..].to_string() } else { String::new() },
        sha256,
        variables,
        model: front.model.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_has_no_spaces() {
        let value =
            serde_json::json!({ "b": [1, { "z": true, "a": null }], "a": "x\"y", "é": 1.5 });
        assert_eq!(canonical_json(&value), r#"{"a":"x\"y","b":[1,{"a":null,"z":true}],"é":1.5}"#);
    }

    #[test]
    fn contract_ignores_descriptions_and_sources() {
        let a = serde_json::json!({ "x": { "type": "string", "required": true, "description": "one", "source": "user" },
            "o": { "type": "object", "required": true, "fields": { "description": { "type": "string", "required": true, "description": "d" } } } });
        let b = serde_json::json!({ "x": { "type": "string", "required": true },
            "o": { "type": "object", "required": true, "fields": { "description": { "type": "string", "required": true } } } });
        let c = serde_json::json!({ "x": { "type": "string", "required": false } });
        assert_eq!(contract(&a), contract(&b));
        assert_ne!(contract(&a), contract(&c));
    }

    #[test]
    fn variables_read_back_from_their_json() {
        let specs = serde_json::json!({
            "name": { "type": "string", "required": true, "max_len": 20, "description": "d", "source": "user" },
            "n": { "type": "integer", "required": false },
            "style": { "type": "enum", "required": true, "values": ["a", "b"] },
            "items": { "type": "array", "required": false, "items": { "type": "object",
                "fields": { "q": { "type": "string", "required": true }, "x": { "type": "number", "required": false } } } },
            "flag": { "type": "boolean", "required": true },
        });
        let variables = variables_from_json(&specs).expect("readable");
        assert_eq!(variables_json(&variables), specs);
        assert_eq!(contract(&variables_json(&variables)), contract(&specs));
        for bad in [
            serde_json::json!([]),
            serde_json::json!({ "x": { "type": "date" } }),
            serde_json::json!({ "x": { "type": "enum", "values": [1] } }),
            serde_json::json!({ "x": { "type": "array" } }),
        ] {
            assert_eq!(variables_from_json(&bad), None, "{bad}");
        }
        let mut deep = serde_json::json!({ "type": "string" });
        for _ in 0..40 {
            deep = serde_json::json!({ "type": "array", "items": deep });
        }
        assert_eq!(variables_from_json(&serde_json::json!({ "x": deep })), None);
    }
}
