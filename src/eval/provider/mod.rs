//! The providers' HTTP APIs, through reqwest (no provider SDK): OpenAI's chat completions and
//! embeddings (and every OpenAI-compatible server, and Azure OpenAI's variant), Anthropic's
//! Messages, Google Gemini's generateContent and batchEmbedContents. Keys come from the
//! environment only and appear in no message; 429 and 5xx answers are retried with backoff,
//! honouring `Retry-After`; each model has its own concurrency and requests-per-minute limits.
//!
//! `http.rs` holds what every provider shares (the client, the limits, the retry loop, server-sent
//! events); `openai.rs` (with Azure OpenAI), `anthropic.rs` and `gemini.rs` build each provider's
//! requests and read its answers.

mod anthropic;
mod gemini;
mod http;
mod openai;

pub use crate::config::{ModelConfig, Price, ProviderKind};
use serde::{Deserialize, Serialize};

/// What one evaluation call asks a chat model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    /// The system message (a system prompt under evaluation), if any.
    pub system: Option<String>,
    /// The user message.
    pub user: String,
    /// Sampling parameters: the model's `parameters`, over which the version's front matter
    /// `model` table is laid. Keys are sent as the provider names them (`max_tokens`,
    /// `temperature`, …; Gemini's are mapped into `generationConfig`).
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

/// A chat model's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    /// Tokens as the provider counted them (0 where it reports none).
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Wall time of the successful attempt, in milliseconds.
    pub latency_ms: u64,
    /// Why generation stopped, as the provider says it (`stop`, `end_turn`, `STOP`, `length`, …).
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// An embeddings model's answer: one vector per input text, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f64>>,
    pub input_tokens: u64,
    pub latency_ms: u64,
}

/// Why a call failed. No variant holds the API key or a header.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum CallError {
    #[error("the environment variable `{variable}` (the API key of model `{model}`) is not set")]
    MissingKey { model: String, variable: String },
    #[error("model `{model}`: {provider} answered HTTP {status}: {message}")]
    Status { model: String, provider: &'static str, status: u16, message: String },
    #[error("model `{model}`: still rate limited (HTTP 429) after {attempts} attempts")]
    RateLimited { model: String, attempts: u32 },
    #[error("model `{model}`: the answer is not {provider}'s format: {message}")]
    Malformed { model: String, provider: &'static str, message: String },
    #[error("model `{model}`: {message}")]
    Transport { model: String, message: String },
    #[error("model `{model}` ({provider}) has no {what} API")]
    Unsupported { model: String, provider: &'static str, what: &'static str },
}

/// An API key: read from the environment, sent in one header, shown nowhere (`Debug` redacts it).
#[derive(Clone)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The base URL a provider is reached at when `base_url` is not given (Azure has none).
pub fn default_base_url(provider: ProviderKind) -> Option<&'static str> {
    match provider {
        ProviderKind::Openai => Some("https://api.openai.com/v1"),
        ProviderKind::AzureOpenai => None,
        ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com"),
    }
}

/// The environment variable a provider's key is read from by default.
pub fn default_key_variable(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Openai => "OPENAI_API_KEY",
        ProviderKind::AzureOpenai => "AZURE_OPENAI_API_KEY",
        ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
        ProviderKind::Gemini => "GEMINI_API_KEY",
    }
}

/// The environment variable `config`'s key comes from, or `None` when no key is sent: a
/// `base_url` other than the provider's own (a local server) and no `api_key_env`. Azure's base
/// URL is always the customer's own resource, so it always takes a key.
pub fn key_variable(config: &ModelConfig) -> Option<String> {
    if let Some(variable) = &config.api_key_env {
        return Some(variable.clone());
    }
    let own = match (config.base_url.as_deref(), default_base_url(config.provider)) {
        (None, _) => true,
        (Some(_), None) => true,
        (Some(given), Some(default)) => {
            given.trim_end_matches('/') == default.trim_end_matches('/')
        }
    };
    own.then(|| default_key_variable(config.provider).to_string())
}

/// One configured model, ready to call from several threads (`Send + Sync`): its HTTP client,
/// its key and the limits every thread calling it shares.
pub struct Model {
    pub name: String,
    pub config: ModelConfig,
    base_url: String,
    key: Option<Secret>,
    http: http::Http,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("provider", &self.config.provider.name())
            .field("model", &self.config.model)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Prepares `config` (named `name` in `[models]`): reads its key from the environment when
    /// it needs one, builds the HTTP client.
    pub fn new(name: &str, config: &ModelConfig) -> Result<Model, CallError> {
        let invalid = |message: String| CallError::Transport { model: name.to_string(), message };
        let base_url = match (&config.base_url, default_base_url(config.provider)) {
            (Some(given), _) => given.trim().trim_end_matches('/').to_string(),
            (None, Some(default)) => default.to_string(),
            (None, None) => {
                return Err(invalid(format!(
                    "{} needs `base_url` (the resource's endpoint, \
                     `https://RESOURCE.openai.azure.com`)",
                    config.provider.name()
                )))
            }
        };
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(invalid(format!(
                "`base_url` must start with http:// or https://, not `{}`",
                crate::text::escape_controls(&http::shown_url(&base_url))
            )));
        }
        if base_url.contains(['?', '#']) {
            return Err(invalid(
                "`base_url` has a query or a fragment (`?`, `#`): a key belongs in the \
                 environment variable `api_key_env` names, Azure's `api-version` in `api_version`"
                    .into(),
            ));
        }
        if config.provider == ProviderKind::AzureOpenai
            && config.api_version.as_deref().is_none_or(|v| v.trim().is_empty())
        {
            return Err(invalid(
                "azure-openai needs `api_version` (the `api-version` query parameter, e.g. \
                 `2024-10-21`)"
                    .into(),
            ));
        }
        let key = match key_variable(config) {
            None => None,
            Some(variable) => match std::env::var(&variable) {
                Ok(value) if !value.trim().is_empty() => Some(Secret(value.trim().to_string())),
                _ => return Err(CallError::MissingKey { model: name.to_string(), variable }),
            },
        };
        let http = http::Http::new(config).map_err(invalid)?;
        Ok(Model { name: name.to_string(), config: config.clone(), base_url, key, http })
    }

    /// The wire format this model speaks.
    pub fn provider(&self) -> ProviderKind {
        self.config.provider
    }

    /// The base URL requests go to (the provider's default when `base_url` is not given).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether the provider has an embeddings API (Anthropic has none).
    pub fn has_embeddings(&self) -> bool {
        self.config.provider != ProviderKind::Anthropic
    }

    /// Asks the chat model, retrying 429 and 5xx answers and waiting for the model's limits.
    pub fn complete(&self, request: &ChatRequest) -> Result<Completion, CallError> {
        match self.config.provider {
            ProviderKind::Openai | ProviderKind::AzureOpenai => openai::complete(self, request),
            ProviderKind::Anthropic => anthropic::complete(self, request),
            ProviderKind::Gemini => gemini::complete(self, request),
        }
    }

    /// Embeds `texts` with an embeddings model (OpenAI-compatible or Gemini; Anthropic has none).
    pub fn embed(&self, texts: &[String]) -> Result<Embeddings, CallError> {
        match self.config.provider {
            ProviderKind::Openai | ProviderKind::AzureOpenai => openai::embed(self, texts),
            ProviderKind::Gemini => gemini::embed(self, texts),
            ProviderKind::Anthropic => Err(CallError::Unsupported {
                model: self.name.clone(),
                provider: self.config.provider.name(),
                what: "embeddings",
            }),
        }
    }

    fn malformed(&self, message: impl Into<String>) -> CallError {
        CallError::Malformed {
            model: self.name.clone(),
            provider: self.config.provider.name(),
            message: self.shown(&message.into()),
        }
    }

    /// `text` without the key in it (a server may echo it in an error message, or in an answer).
    fn scrub(&self, text: &str) -> String {
        match &self.key {
            Some(key) => redact(text, key.expose()),
            None => text.to_string(),
        }
    }

    /// Text a server sent, as a message shows it: scrubbed of the key, cut to a few hundred
    /// characters, its control characters escaped.
    fn shown(&self, text: &str) -> String {
        crate::text::escape_controls(&http::truncate(&self.scrub(text)))
    }
}

/// Keys shorter than this are redacted only where they stand as a whole token: a short key
/// (`k`, a local server's `none`) would otherwise be cut out of ordinary words.
const SHORT_KEY_CHARS: usize = 12;

/// `text` with each occurrence of `key` replaced by `<redacted>`; a key shorter than
/// `SHORT_KEY_CHARS` only where it is not part of a longer run of `[A-Za-z0-9_-]`.
pub(crate) fn redact(text: &str, key: &str) -> String {
    if key.is_empty() {
        return text.to_string();
    }
    if key.chars().count() >= SHORT_KEY_CHARS {
        return text.replace(key, "<redacted>");
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in text.match_indices(key) {
        if at < rest {
            continue; // overlaps a redacted occurrence
        }
        let end = at + key.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        let joined =
            |c: Option<char>, edge: Option<char>| c.is_some_and(word) && edge.is_some_and(word);
        // A key edge that is itself a word character joins the word around it.
        if joined(before, key.chars().next()) || joined(after, key.chars().next_back()) {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str("<redacted>");
        rest = end;
    }
    out.push_str(&text[rest..]);
    out
}

/// The fuzz target `eval_answer` (docs/fuzzing.md): `data` read as every provider reads a model
/// server's answer — as one JSON document (OpenAI's and Anthropic's chat answers, Gemini's answer
/// or chunk, each provider's embeddings for one to three texts), as a stream of server-sent events
/// (each provider's stream reader), as an error body and a `Retry-After` value — and every
/// answer text read is graded as the assertions grade it. Nothing may panic, and a stream's
/// text comes only from the input.
#[doc(hidden)]
pub fn fuzz_answer(data: &[u8]) {
    use std::time::{Duration, SystemTime};
    let mut texts: Vec<String> = Vec::new();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        texts.extend(openai::parse_chat(&value).ok().map(|c| c.text));
        texts.extend(anthropic::parse(&value).ok().map(|c| c.text));
        let mut chunk = Completion::default();
        if gemini::add_chunk(&mut chunk, &value).is_ok() {
            texts.push(chunk.text);
        }
        for expected in 1..=3 {
            if let Ok((vectors, _)) = openai::parse_embeddings(&value, expected) {
                assert_eq!(vectors.len(), expected);
                let _ = crate::eval::assert::cosine(&vectors[0], &vectors[expected - 1]);
            }
            if let Ok(vectors) = gemini::parse_embeddings(&value, expected) {
                assert_eq!(vectors.len(), expected);
            }
        }
    }
    for read in [openai::read_stream, anthropic::read_stream, gemini::read_stream] {
        if let Ok(completion) = read(data) {
            assert!(completion.text.len() <= data.len(), "a stream's text longer than the stream");
            texts.push(completion.text);
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = http::truncate(&http::error_message(&text));
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    if let Some(wait) = http::parse_retry_after(text.trim(), now) {
        let _ = wait.min(Duration::from_secs(60));
    }
    texts.push(text.into_owned());
    for text in &texts {
        crate::eval::assert::fuzz_grades(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> ModelConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_key_variable_defaults_to_the_providers_own_unless_the_server_is_another() {
        let openai = config("provider = \"openai\"\nmodel = \"m\"");
        assert_eq!(key_variable(&openai).as_deref(), Some("OPENAI_API_KEY"));
        let own = config(
            "provider = \"openai\"\nmodel = \"m\"\nbase_url = \"https://api.openai.com/v1/\"",
        );
        assert_eq!(key_variable(&own).as_deref(), Some("OPENAI_API_KEY"));
        let local =
            config("provider = \"openai\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:8000/v1\"");
        assert_eq!(key_variable(&local), None);
        let named = config(
            "provider = \"anthropic\"\nmodel = \"m\"\nbase_url = \"http://x\"\napi_key_env = \"K\"",
        );
        assert_eq!(key_variable(&named).as_deref(), Some("K"));
        let azure = config("provider = \"azure-openai\"\nmodel = \"d\"\nbase_url = \"https://r\"");
        assert_eq!(key_variable(&azure).as_deref(), Some("AZURE_OPENAI_API_KEY"));
        let gemini = config("provider = \"gemini\"\nmodel = \"m\"");
        assert_eq!(key_variable(&gemini).as_deref(), Some("GEMINI_API_KEY"));
    }

    #[test]
    fn azure_needs_a_base_url_and_an_api_version() {
        let error =
            Model::new("az", &config("provider = \"azure-openai\"\nmodel = \"d\"")).unwrap_err();
        assert!(error.to_string().contains("base_url"), "{error}");
        let error = Model::new(
            "az",
            &config("provider = \"azure-openai\"\nmodel = \"d\"\nbase_url = \"https://r\""),
        )
        .unwrap_err();
        assert!(error.to_string().contains("api_version"), "{error}");
    }

    #[test]
    fn a_long_key_is_redacted_everywhere_a_short_one_only_as_a_whole_token() {
        let long = "sk-0123456789abcdef";
        assert_eq!(
            redact(&format!("key {long}, again:x{long}y"), long),
            "key <redacted>, again:x<redacted>y"
        );
        assert_eq!(
            redact("Incorrect API key provided: k", "k"),
            "Incorrect API key provided: <redacted>"
        );
        assert_eq!(
            redact("k k-x (k) kk \"k\"", "k"),
            "<redacted> k-x (<redacted>) kk \"<redacted>\""
        );
        assert_eq!(redact("token=none; nonexistent", "none"), "token=<redacted>; nonexistent");
        assert_eq!(redact("a.b", "."), "a<redacted>b", "a key of no word characters");
        assert_eq!(redact("unchanged", ""), "unchanged");
    }

    #[test]
    fn a_base_url_with_a_query_or_not_http_is_refused_without_showing_the_query() {
        for base in
            ["http://h/v1?key=s3cret", "https://h/v1#s3cret", "ftp://u:s3cret@h/v1?k=s3cret"]
        {
            let text = format!("provider = \"openai\"\nmodel = \"m\"\nbase_url = \"{base}\"");
            let error = Model::new("m", &config(&text)).unwrap_err().to_string();
            assert!(error.contains("base_url") && !error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn a_secret_debugs_redacted() {
        assert_eq!(format!("{:?}", Secret("sk-123".into())), "Secret(<redacted>)");
    }

    #[test]
    fn a_model_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Model>();
    }
}
