//! `promptctl.toml`: where the project is and how it is configured. Finding and reading the file
//! (and the secret rules file its `[security] rules` names) is the only I/O here; everything else
//! takes a loaded `Project`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "promptctl.toml";

pub use crate::syntax::template::MAX_TEMPLATE_BYTES_CAP;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_prompts_dir")]
    pub prompts_dir: String,
    #[serde(default = "default_lock_file")]
    pub lock_file: String,
    #[serde(default = "default_max_template_bytes")]
    pub max_template_bytes: u64,
    pub environments: BTreeMap<String, EnvironmentConfig>,
    /// `[codegen]`: where `promptctl codegen` writes the typed module.
    #[serde(default)]
    pub codegen: Option<CodegenConfig>,
    /// `[signing]`: the keys `build` signs with and `verify-bundle` trusts.
    #[serde(default)]
    pub signing: SigningConfig,
    /// `[cache]`: the Redis layout shared by every environment (docs/deploy.md).
    #[serde(default)]
    pub cache: CacheConfig,
    /// `[security]`: the secret rules (docs/security.md).
    #[serde(default)]
    pub security: SecurityConfig,
    /// `[lints]`: the level of codes and groups (docs/diagnostics.md, "Lint levels and
    /// suppressions").
    #[serde(default)]
    pub lints: crate::check::policy::ProjectLints,
    /// `[models.NAME]`: the models `[[eval]]` entries and their assertions call (docs/eval.md).
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
    /// `[eval]`: settings of `promptctl eval` (docs/eval.md).
    #[serde(default)]
    pub eval: EvalConfig,
}

/// `[models.NAME]`: one model behind a provider's HTTP API (docs/eval.md, "Models").
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The wire format: `openai` (and every OpenAI-compatible server), `azure-openai`,
    /// `anthropic` or `gemini`.
    pub provider: ProviderKind,
    /// The provider's model id (for Azure OpenAI, the deployment name).
    pub model: String,
    /// The API's base URL; default per provider (docs/eval.md).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The environment variable holding the API key. Default per provider when `base_url` is the
    /// provider's own; with another `base_url` and no `api_key_env`, no key is sent.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Sampling parameters sent with every request (`temperature`, `max_tokens`, `top_p`, …),
    /// part of the recorded responses' key.
    #[serde(default)]
    pub parameters: BTreeMap<String, toml::Value>,
    /// Requests in flight to this model at most (default 4).
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Requests started per minute at most (default: no limit).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// USD per million tokens, for the cost estimate and `--budget`.
    #[serde(default)]
    pub price: Option<Price>,
    /// `azure-openai`: the `api-version` query parameter.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Read the answer as a stream of server-sent events (default false).
    #[serde(default)]
    pub stream: bool,
    /// Seconds one HTTP request may take (default 120).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Attempts after a 429 or a 5xx before giving up (default 4).
    #[serde(default)]
    pub max_retries: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Openai,
    AzureOpenai,
    Anthropic,
    Gemini,
}

impl ProviderKind {
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::AzureOpenai => "azure-openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
        }
    }
}

/// `price = { input = 0.15, output = 0.60 }`: USD per million input and output tokens.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

/// `[eval]` in promptctl.toml.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// The prompt `judge` assertions render (its variables: `rubric`, `output`, and optionally
    /// `input` and `reference`); default `eval-judge`.
    #[serde(default = "default_judge_prompt")]
    pub judge_prompt: String,
    /// The model `judge` assertions use when they name none.
    #[serde(default)]
    pub judge_model: Option<String>,
    /// The model `similar_to` assertions use when they name none.
    #[serde(default)]
    pub embedding_model: Option<String>,
}

impl Default for EvalConfig {
    fn default() -> EvalConfig {
        EvalConfig {
            judge_prompt: default_judge_prompt(),
            judge_model: None,
            embedding_model: None,
        }
    }
}

fn default_judge_prompt() -> String {
    "eval-judge".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// A secret rules file in gitleaks' format (`.gitleaks.toml`), relative to the project root.
    #[serde(default)]
    pub rules: Option<String>,
}

/// `[environments.NAME]`: where one environment's store and cache are. Every key is optional: an
/// empty table publishes into the embedded SQLite store and writes no cache.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// The store: `postgres://…`, `sqlite:PATH` (relative to the project root), or `env:VAR` to
    /// read either from an environment variable. Default: `sqlite:.promptctl/store/NAME.sqlite3`.
    #[serde(default)]
    pub database: Option<String>,
    /// The Redis cache: `redis://…`, or `env:VAR`. None: no cache.
    #[serde(default)]
    pub redis: Option<String>,
    /// Refuse dirty bundles here unless `--force`. Default: true for an environment named
    /// `production`, false otherwise.
    #[serde(default)]
    pub protected: Option<bool>,
    /// A URL that receives a signed POST after each publish or rollback.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
}

impl EnvironmentConfig {
    pub fn is_protected(&self, name: &str) -> bool {
        self.protected.unwrap_or(name == "production")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http(s)://…`, or `env:VAR`.
    pub url: String,
    /// The environment variable holding the HMAC-SHA256 secret of the signature header.
    #[serde(default)]
    pub secret_env: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Prefix of every Redis key and of the notice channel (default `prompt:`).
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// Time to live of the `…:active` entries, in seconds (default 3600).
    #[serde(default = "default_ttl_seconds")]
    pub ttl_seconds: u64,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        CacheConfig { key_prefix: default_key_prefix(), ttl_seconds: default_ttl_seconds() }
    }
}

fn default_key_prefix() -> String {
    "prompt:".into()
}

fn default_ttl_seconds() -> u64 {
    3600
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodegenConfig {
    /// The generated Rust file, relative to the project root.
    pub out: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// minisign public keys (`.pub` files, relative to the project root) that bundles may be signed with.
    #[serde(default)]
    pub public_keys: Vec<String>,
    /// The minisign secret key file `build` signs with, relative to the project root; usually left
    /// out in favour of `--key` or `PROMPTCTL_SIGNING_KEY`, since a secret key is not committed.
    #[serde(default)]
    pub secret_key: Option<String>,
}

fn default_prompts_dir() -> String {
    "prompts".into()
}

fn default_lock_file() -> String {
    "prompts.lock".into()
}

fn default_max_template_bytes() -> u64 {
    16384
}

/// A loaded project: its root folder and configuration.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub config: Config,
    /// sha256 of `promptctl.toml`'s bytes: part of every cached check result's key.
    pub config_sha256: [u8; 32],
}

impl Project {
    pub fn prompts_path(&self) -> PathBuf {
        self.root.join(&self.config.prompts_dir)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(&self.config.lock_file)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no `promptctl.toml` in `{start}` or any folder above it; run `promptctl init` to put this repository under promptctl, or run promptctl inside a project, or pass `--root DIR`")]
    NotFound { start: PathBuf },
    #[error("`{root}` has no `promptctl.toml`; pass the folder that holds it")]
    NoConfig { root: PathBuf },
    #[error("cannot read `{path}`")]
    Read { path: PathBuf, source: crate::read::ReadError },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid { path: PathBuf, line: u32, column: u32, message: String },
}

/// Walks up from `start` to the first folder holding `promptctl.toml`.
pub fn find_root(start: &Path) -> Result<PathBuf, ConfigError> {
    let mut folder = Some(start);
    while let Some(current) = folder {
        if current.join(FILE_NAME).is_file() {
            return Ok(current.to_path_buf());
        }
        folder = current.parent();
    }
    Err(ConfigError::NotFound { start: start.to_path_buf() })
}

/// Reads `root/promptctl.toml`.
pub fn load(root: &Path) -> Result<Project, ConfigError> {
    let path = root.join(FILE_NAME);
    let bytes = crate::read::read(&path, crate::read::CONFIG_BYTES, "promptctl.toml")
        .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
    let invalid = |line: u32, column: u32, message: String| ConfigError::Invalid {
        path: path.clone(),
        line,
        column,
        message,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid(1, 1, "not valid UTF-8".into()))?;
    let config: Config = toml::from_str(text).map_err(|error| {
        let location = crate::diagnostic::Location::in_text(text, error.span().unwrap_or(0..0));
        let message = error.message().lines().next().unwrap_or("invalid TOML").to_string();
        invalid(
            location.start.line,
            location.start.column,
            format!("{message}; see {}", crate::text::docs("format.md")),
        )
    })?;
    if let Some(problem) = config.lints.0.problems.first() {
        let location = crate::diagnostic::Location::in_text(text, problem.span.clone());
        return Err(invalid(
            location.start.line,
            location.start.column,
            format!("{} in `[lints]`; {}", problem.message, problem.help),
        ));
    }
    if config.environments.is_empty() {
        return Err(invalid(
            1,
            1,
            "declare at least one environment, e.g. `[environments.production]`".into(),
        ));
    }
    if config.cache.ttl_seconds == 0 {
        return Err(invalid(1, 1, "`[cache] ttl_seconds` must be at least 1".into()));
    }
    if config.max_template_bytes == 0 {
        return Err(invalid(1, 1, "`max_template_bytes` must be at least 1".into()));
    }
    if config.max_template_bytes > MAX_TEMPLATE_BYTES_CAP {
        return Err(invalid(
            1,
            1,
            format!(
                "`max_template_bytes` is {}, over its cap of {MAX_TEMPLATE_BYTES_CAP} (4 MiB): bundles and the runtime refuse larger templates",
                config.max_template_bytes
            ),
        ));
    }
    if let Some((path, message)) = model_problem(&config) {
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();
        let (line, column) = locate(text, &keys);
        return Err(invalid(
            line,
            column,
            format!("{message}; see {}", crate::text::docs("eval.md")),
        ));
    }
    use sha2::Digest;
    let mut digest = sha2::Sha256::new();
    digest.update(&bytes);
    if let Some(rules) = &config.security.rules {
        // The rules file is an input of every prompt's check: its bytes join the digest that
        // keys the cached results.
        digest.update(load_rules(root, rules)?);
    }
    let config_sha256 = digest.finalize().into();
    Ok(Project { root: root.to_path_buf(), config, config_sha256 })
}

/// How deep a model's `parameters` may nest (tables and arrays).
pub const MAX_PARAMETERS_NESTING: usize = 8;

/// The first problem of `[models]` and `[eval]`: the keys it is at and what is wrong.
fn model_problem(config: &Config) -> Option<(Vec<String>, String)> {
    let at = |name: &str, key: &str| vec!["models".to_string(), name.to_string(), key.to_string()];
    for (name, model) in &config.models {
        if model.model.trim().is_empty() {
            return Some((
                at(name, "model"),
                format!("`[models.{name}] model` is empty: give the provider's model id"),
            ));
        }
        if model.provider == ProviderKind::AzureOpenai {
            for (key, value) in [("base_url", &model.base_url), ("api_version", &model.api_version)]
            {
                if value.is_none() {
                    return Some((
                        vec!["models".into(), name.clone()],
                        format!("`[models.{name}]` is an `azure-openai` model and needs `{key}`"),
                    ));
                }
            }
        }
        if let Some(url) = &model.base_url {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Some((
                    at(name, "base_url"),
                    format!("`[models.{name}] base_url` is not an http:// or https:// URL"),
                ));
            }
            if url.contains(['?', '#']) {
                return Some((
                    at(name, "base_url"),
                    format!(
                        "`[models.{name}] base_url` has a query or a fragment (`?`, `#`): give \
                         the base URL alone; a key belongs in the environment variable \
                         `api_key_env` names, Azure's `api-version` in `api_version`"
                    ),
                ));
            }
        }
        if let Some(price) = &model.price {
            for (key, value) in [("input", price.input), ("output", price.output)] {
                if !value.is_finite() || value < 0.0 {
                    let mut path = at(name, "price");
                    path.push(key.into());
                    return Some((path, format!("`[models.{name}] price.{key}` is {value}: a price is 0 or more (USD per million tokens)")));
                }
            }
        }
        for (key, value) in [
            ("max_concurrency", model.max_concurrency.map(u64::from)),
            ("requests_per_minute", model.requests_per_minute.map(u64::from)),
            ("timeout_seconds", model.timeout_seconds),
        ] {
            if value == Some(0) {
                return Some((
                    at(name, key),
                    format!("`[models.{name}] {key}` must be at least 1"),
                ));
            }
        }
        for (key, value) in &model.parameters {
            if crate::syntax::walk::value_depth(value) > MAX_PARAMETERS_NESTING {
                let mut path = at(name, "parameters");
                path.push(key.clone());
                return Some((path, format!("`[models.{name}] parameters.{key}` nests more than {MAX_PARAMETERS_NESTING} tables and arrays deep")));
            }
        }
    }
    let eval = |key: &str| vec!["eval".to_string(), key.to_string()];
    for (key, value) in [
        ("judge_model", &config.eval.judge_model),
        ("embedding_model", &config.eval.embedding_model),
    ] {
        let Some(model) = value else { continue };
        match config.models.get(model) {
            None => {
                let declared: Vec<&str> = config.models.keys().map(String::as_str).collect();
                let known = if declared.is_empty() {
                    "none is declared".to_string()
                } else {
                    format!("declared: {}", declared.join(", "))
                };
                return Some((eval(key), format!("`[eval] {key}` names the model `{model}`, which `[models]` does not declare ({known})")));
            }
            Some(found)
                if key == "embedding_model" && found.provider == ProviderKind::Anthropic =>
            {
                return Some((eval(key), format!("`[eval] embedding_model` names `{model}`, an `anthropic` model: Anthropic has no embeddings API")));
            }
            Some(_) => {}
        }
    }
    if !crate::check::is_valid_name(&config.eval.judge_prompt) {
        return Some((
            eval("judge_prompt"),
            format!("`[eval] judge_prompt` is `{}`, not a prompt name", config.eval.judge_prompt),
        ));
    }
    None
}

/// The line and column of the value at `keys` in the TOML `text` (as far as the keys lead; 1:1
/// when the first is absent).
fn locate(text: &str, keys: &[&str]) -> (u32, u32) {
    let Ok(document) = toml::de::DeTable::parse(text) else { return (1, 1) };
    let mut table = document.get_ref();
    let mut span = 0..0;
    for (index, key) in keys.iter().enumerate() {
        let Some((name, value)) = table.iter().find(|(name, _)| name.get_ref().as_ref() == *key)
        else {
            break;
        };
        span = if index + 1 == keys.len() { value.span() } else { name.span() };
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    let location = crate::diagnostic::Location::in_text(text, span);
    (location.start.line, location.start.column)
}

/// Reads and parses the secret rules file `relative` (`[security] rules`), makes its rules the
/// ones every check and redaction of this process uses, and returns its bytes.
fn load_rules(root: &Path, relative: &str) -> Result<Vec<u8>, ConfigError> {
    use crate::check::security::rules::{activate, RuleSet};
    let path = root.join(relative);
    let read = || {
        let canonical = root.canonicalize().map_err(crate::read::ReadError::from)?;
        crate::read::read_inside(
            &canonical,
            &path,
            crate::read::CONFIG_BYTES,
            "a secret rules file",
        )
    };
    let bytes = read().map_err(|source| ConfigError::Read { path: path.clone(), source })?;
    let invalid = |line: u32, column: u32, message: String| ConfigError::Invalid {
        path: path.clone(),
        line,
        column,
        message,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid(1, 1, "not valid UTF-8".into()))?;
    let rules = RuleSet::parse(text).map_err(|error| {
        invalid(
            error.line,
            error.column,
            format!("{}; see {}", error.message, crate::text::docs("security.md")),
        )
    })?;
    activate(std::sync::Arc::new(rules));
    Ok(bytes)
}

/// `text` (promptctl.toml) with `path` added to `[signing] public_keys`, comments and layout kept;
/// `None` when the list holds it already. An error says why the file cannot take it (not TOML,
/// `signing` or `public_keys` of another type).
pub fn with_public_key(text: &str, path: &str) -> Result<Option<String>, String> {
    use toml_edit::{Array, DocumentMut, Item, Table, Value};
    let mut document: DocumentMut = text.parse().map_err(|error: toml_edit::TomlError| {
        error.message().lines().next().unwrap_or("invalid TOML").to_string()
    })?;
    let signing = document
        .entry("signing")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_like_mut()
        .ok_or("`signing` is not a table")?;
    let keys = signing
        .entry("public_keys")
        .or_insert(Item::Value(Value::Array(Array::new())))
        .as_array_mut()
        .ok_or("`[signing] public_keys` is not an array")?;
    if keys.iter().any(|key| key.as_str() == Some(path)) {
        return Ok(None);
    }
    keys.push(path);
    Ok(Some(document.to_string()))
}

#[cfg(test)]
mod tests {
    use super::with_public_key;

    #[test]
    fn a_public_key_is_added_keeping_comments() {
        let text = "# ours\nprompts_dir = \"prompts\" # here\n\n[environments.production]\n";
        let edited = with_public_key(text, "keys/a.pub").unwrap().unwrap();
        assert!(edited.starts_with(text), "{edited}");
        assert!(edited.ends_with("[signing]\npublic_keys = [\"keys/a.pub\"]\n"), "{edited}");
        let parsed: super::Config = toml::from_str(&edited).unwrap();
        assert_eq!(parsed.signing.public_keys, ["keys/a.pub"]);
        // Idempotent, and a second key joins the list.
        assert_eq!(with_public_key(&edited, "keys/a.pub").unwrap(), None);
        let both = with_public_key(&edited, "keys/b.pub").unwrap().unwrap();
        assert!(both.contains("public_keys = [\"keys/a.pub\", \"keys/b.pub\"]"), "{both}");
    }

    #[test]
    fn an_existing_signing_table_keeps_its_keys() {
        let text = "[signing]\n# trusted\npublic_keys = [\"keys/old.pub\"] # rotate yearly\n";
        let edited = with_public_key(text, "keys/new.pub").unwrap().unwrap();
        assert!(edited.contains("# trusted"), "{edited}");
        assert!(edited.contains("# rotate yearly"), "{edited}");
        assert!(edited.contains("[\"keys/old.pub\", \"keys/new.pub\"]"), "{edited}");
        assert!(with_public_key("signing = 3\n", "k.pub").unwrap_err().contains("not a table"));
        assert!(with_public_key("[signing]\npublic_keys = 1\n", "k.pub").is_err());
        assert!(with_public_key("[signing\n", "k.pub").is_err());
    }
}
