//! OpenAI's chat completions and embeddings (and every OpenAI-compatible server: vLLM, Ollama,
//! LM Studio), and Azure OpenAI's variant of them: the deployment in the path, `api-version` in
//! the query, the key in `api-key`, no `model` in the body.

use super::http::{self, Failure, Flow, Header};
use super::{ChatRequest, Completion, Embeddings, Model, ProviderKind};
use serde_json::{json, Map, Value};

/// Body keys promptctl sets itself; parameters of these names are not sent.
const RESERVED: [&str; 5] = ["model", "messages", "stream", "stream_options", "input"];

fn is_azure(model: &Model) -> bool {
    model.config.provider == ProviderKind::AzureOpenai
}

/// The endpoint `what` (`chat/completions`, `embeddings`).
pub(super) fn url(model: &Model, what: &str) -> String {
    let base = model.base_url();
    if is_azure(model) {
        let version = model.config.api_version.as_deref().unwrap_or_default().trim();
        format!("{base}/openai/deployments/{}/{what}?api-version={version}", model.config.model)
    } else {
        format!("{base}/{what}")
    }
}

fn headers(model: &Model) -> Vec<Header> {
    match &model.key {
        None => Vec::new(),
        Some(key) if is_azure(model) => {
            vec![Header { name: "api-key", value: key.expose().to_string(), secret: true }]
        }
        Some(key) => vec![Header {
            name: "authorization",
            value: format!("Bearer {}", key.expose()),
            secret: true,
        }],
    }
}

/// The chat completions request body: the model (not for Azure), the messages, the parameters.
pub(super) fn chat_body(model: &Model, request: &ChatRequest) -> Value {
    let mut body = Map::new();
    if !is_azure(model) {
        body.insert("model".into(), json!(model.config.model));
    }
    let mut messages = Vec::new();
    if let Some(system) = &request.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": request.user}));
    body.insert("messages".into(), Value::Array(messages));
    for (key, value) in &request.parameters {
        if !RESERVED.contains(&key.as_str()) {
            body.insert(key.clone(), value.clone());
        }
    }
    if model.config.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

pub(super) fn complete(
    model: &Model,
    request: &ChatRequest,
) -> Result<Completion, super::CallError> {
    let url = url(model, "chat/completions");
    http::chat(model, &url, &headers(model), &chat_body(model, request), read_stream, parse_chat)
}

/// A chat completion: `choices[0].message.content`, `finish_reason`, `usage`.
pub(super) fn parse_chat(value: &Value) -> Result<Completion, Failure> {
    let choice =
        value.pointer("/choices/0").ok_or_else(|| Failure::Malformed("no `choices[0]`".into()))?;
    let message = choice
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| Failure::Malformed("no `choices[0].message`".into()))?;
    let text = match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        // No content: a refusal, or tool calls only.
        Some(Value::Null) | None => {
            message.get("refusal").and_then(Value::as_str).unwrap_or_default().to_string()
        }
        Some(_) => {
            return Err(Failure::Malformed("`choices[0].message.content` is not text".into()))
        }
    };
    Ok(Completion {
        text,
        input_tokens: http::tokens(value, "/usage/prompt_tokens"),
        output_tokens: http::tokens(value, "/usage/completion_tokens"),
        latency_ms: 0,
        finish_reason: choice.get("finish_reason").and_then(Value::as_str).map(str::to_string),
    })
}

/// A streamed chat completion: `data:` chunks of `choices[0].delta.content` up to `[DONE]`; the
/// usage arrives in a last chunk without choices (`stream_options.include_usage`).
pub(super) fn read_stream(body: impl std::io::Read) -> Result<Completion, Failure> {
    let mut completion = Completion::default();
    let mut chunks = 0;
    http::events(body, |event| {
        if event.data.trim() == "[DONE]" {
            return Ok(Flow::Stop);
        }
        let chunk = http::event_json(&event)?;
        if chunk.get("error").is_some() {
            return Err(Failure::Status { status: 500, message: http::error_message(&event.data) });
        }
        chunks += 1;
        if let Some(choice) = chunk.pointer("/choices/0") {
            if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str) {
                completion.text.push_str(text);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                completion.finish_reason = Some(reason.to_string());
            }
        }
        if chunk.get("usage").is_some_and(Value::is_object) {
            completion.input_tokens = http::tokens(&chunk, "/usage/prompt_tokens");
            completion.output_tokens = http::tokens(&chunk, "/usage/completion_tokens");
        }
        Ok(Flow::Continue)
    })?;
    if chunks == 0 {
        return Err(Failure::Malformed("the stream held no chunk".into()));
    }
    Ok(completion)
}

pub(super) fn embed(model: &Model, texts: &[String]) -> Result<Embeddings, super::CallError> {
    let mut body = Map::new();
    if !is_azure(model) {
        body.insert("model".into(), json!(model.config.model));
    }
    body.insert("input".into(), json!(texts));
    let expected = texts.len();
    let ((vectors, input_tokens), latency) = http::post(
        model,
        &url(model, "embeddings"),
        &headers(model),
        &Value::Object(body),
        |response| parse_embeddings(&http::read_json(response)?, expected),
    )?;
    Ok(Embeddings { vectors, input_tokens, latency_ms: latency })
}

/// `data[i].embedding`, put in the order of `data[i].index`; `usage.prompt_tokens`.
pub(super) fn parse_embeddings(
    value: &Value,
    expected: usize,
) -> Result<(Vec<Vec<f64>>, u64), Failure> {
    let data = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| Failure::Malformed("no `data` list".into()))?;
    let mut indexed = Vec::with_capacity(data.len());
    for (position, item) in data.iter().enumerate() {
        let index = item.get("index").and_then(Value::as_u64).map_or(position, |i| i as usize);
        let vector = vector(item.get("embedding")).ok_or_else(|| {
            Failure::Malformed(format!("`data[{position}].embedding` is not a list of numbers"))
        })?;
        indexed.push((index, vector));
    }
    indexed.sort_by_key(|(index, _)| *index);
    let in_order = indexed.iter().enumerate().all(|(position, (index, _))| position == *index);
    if indexed.len() != expected || !in_order {
        return Err(Failure::Malformed(format!(
            "{} embeddings answered for {expected} texts",
            indexed.len()
        )));
    }
    let vectors = indexed.into_iter().map(|(_, vector)| vector).collect();
    Ok((vectors, http::tokens(value, "/usage/prompt_tokens")))
}

/// A JSON list of numbers.
pub(super) fn vector(value: Option<&Value>) -> Option<Vec<f64>> {
    value?.as_array()?.iter().map(Value::as_f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_reads_content_tokens_and_finish_reason() {
        let answer = json!({
            "choices": [{"message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2}
        });
        let completion = parse_chat(&answer).unwrap();
        assert_eq!(completion.text, "Hi");
        assert_eq!((completion.input_tokens, completion.output_tokens), (7, 2));
        assert_eq!(completion.finish_reason.as_deref(), Some("stop"));
        assert!(matches!(parse_chat(&json!({"choices": []})), Err(Failure::Malformed(_))));
    }

    #[test]
    fn embeddings_are_ordered_by_index_and_counted() {
        let answer = json!({"data": [
            {"index": 1, "embedding": [0.5, 1]},
            {"index": 0, "embedding": [1.0, 0.0]}
        ], "usage": {"prompt_tokens": 4}});
        let (vectors, tokens) = parse_embeddings(&answer, 2).unwrap();
        assert_eq!(vectors, vec![vec![1.0, 0.0], vec![0.5, 1.0]]);
        assert_eq!(tokens, 4);
        assert!(parse_embeddings(&answer, 3).is_err());
        assert!(parse_embeddings(&json!({"data": [{"embedding": "x"}]}), 1).is_err());
    }
}
