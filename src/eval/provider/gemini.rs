//! Google Gemini's API: `POST {base}/v1beta/models/{model}:generateContent` (streamed:
//! `:streamGenerateContent?alt=sse`) with `x-goog-api-key`, the system prompt as
//! `systemInstruction`, the parameters mapped into `generationConfig`; embeddings through
//! `:batchEmbedContents`.

use super::http::{self, Failure, Flow, Header};
use super::{CallError, ChatRequest, Completion, Embeddings, Model};
use serde_json::{json, Map, Value};

/// Request keys that live beside `generationConfig`, not in it; passed through as they are.
const TOP_LEVEL: [&str; 5] = ["safetySettings", "tools", "toolConfig", "cachedContent", "labels"];

fn headers(model: &Model) -> Vec<Header> {
    match &model.key {
        Some(key) => {
            vec![Header { name: "x-goog-api-key", value: key.expose().to_string(), secret: true }]
        }
        None => Vec::new(),
    }
}

/// The model id without a `models/` prefix.
fn model_id(model: &Model) -> &str {
    let id = model.config.model.trim();
    id.strip_prefix("models/").unwrap_or(id)
}

fn url(model: &Model, method: &str) -> String {
    format!("{}/v1beta/models/{}:{method}", model.base_url(), model_id(model))
}

/// A parameter's name in `generationConfig`: `max_tokens` is `maxOutputTokens`, `stop` is
/// `stopSequences`, other snake_case names turn camelCase (`top_p` → `topP`), camelCase names
/// pass as they are.
pub(super) fn config_key(key: &str) -> String {
    match key {
        "max_tokens" | "max_output_tokens" => "maxOutputTokens".into(),
        "stop" | "stop_sequences" => "stopSequences".into(),
        _ => {
            let mut out = String::with_capacity(key.len());
            let mut upper = false;
            for c in key.chars() {
                if c == '_' {
                    upper = !out.is_empty();
                } else if upper {
                    out.extend(c.to_uppercase());
                    upper = false;
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

/// The generateContent request body.
pub(super) fn body(request: &ChatRequest) -> Value {
    let mut body = Map::new();
    body.insert("contents".into(), json!([{"role": "user", "parts": [{"text": request.user}]}]));
    if let Some(system) = &request.system {
        body.insert("systemInstruction".into(), json!({"parts": [{"text": system}]}));
    }
    let mut config = Map::new();
    for (key, value) in &request.parameters {
        if TOP_LEVEL.contains(&key.as_str()) {
            body.insert(key.clone(), value.clone());
        } else if key == "generationConfig" {
            if let Value::Object(given) = value {
                config.extend(given.clone());
            }
        } else {
            let key = config_key(key);
            let value = match (key.as_str(), value) {
                ("stopSequences", Value::String(_)) => json!([value]),
                _ => value.clone(),
            };
            config.insert(key, value);
        }
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Value::Object(body)
}

pub(super) fn complete(model: &Model, request: &ChatRequest) -> Result<Completion, CallError> {
    let stream = model.config.stream;
    let url = if stream {
        format!("{}?alt=sse", url(model, "streamGenerateContent"))
    } else {
        url(model, "generateContent")
    };
    let parse = |value: &Value| {
        let mut completion = Completion::default();
        add_chunk(&mut completion, value)?;
        if value.get("candidates").is_none() {
            return Err(no_candidates(value));
        }
        Ok(completion)
    };
    http::chat(model, &url, &headers(model), &body(request), read_stream, parse)
}

/// A prompt answered without candidates (blocked: `promptFeedback.blockReason`).
fn no_candidates(value: &Value) -> Failure {
    match value.pointer("/promptFeedback/blockReason").and_then(Value::as_str) {
        Some(reason) => {
            Failure::Malformed(format!("no candidates: the prompt was blocked ({reason})"))
        }
        None => Failure::Malformed("no `candidates`".into()),
    }
}

/// Adds one answer (or one streamed chunk) to `completion`: the text of
/// `candidates[0].content.parts[]`, `finishReason`, `usageMetadata` (the last one counts).
pub(super) fn add_chunk(completion: &mut Completion, value: &Value) -> Result<(), Failure> {
    if let Some(candidates) = value.get("candidates") {
        let candidates = candidates
            .as_array()
            .ok_or_else(|| Failure::Malformed("`candidates` is not a list".into()))?;
        if let Some(candidate) = candidates.first() {
            if let Some(parts) = candidate.pointer("/content/parts") {
                let parts = parts
                    .as_array()
                    .ok_or_else(|| Failure::Malformed("`content.parts` is not a list".into()))?;
                for part in parts {
                    // Thought summaries are not the answer.
                    if part.get("thought").and_then(Value::as_bool) == Some(true) {
                        continue;
                    }
                    if let Some(text) = part.get("text").and_then(Value::as_str) {
                        completion.text.push_str(text);
                    }
                }
            }
            if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
                completion.finish_reason = Some(reason.to_string());
            }
        }
    }
    if let Some(usage) = value.get("usageMetadata") {
        completion.input_tokens = http::tokens(usage, "/promptTokenCount");
        completion.output_tokens = http::tokens(usage, "/candidatesTokenCount")
            + http::tokens(usage, "/thoughtsTokenCount");
    }
    Ok(())
}

pub(super) fn read_stream(body: impl std::io::Read) -> Result<Completion, Failure> {
    let mut completion = Completion::default();
    let mut chunks = 0;
    let mut last = Value::Null;
    http::events(body, |event| {
        let chunk = http::event_json(&event)?;
        if let Some(error) = chunk.get("error") {
            let status = error.get("code").and_then(Value::as_u64).unwrap_or(500) as u16;
            return Err(Failure::Status { status, message: http::error_message(&event.data) });
        }
        if chunk.get("candidates").is_some() {
            chunks += 1;
        }
        add_chunk(&mut completion, &chunk)?;
        last = chunk;
        Ok(Flow::Continue)
    })?;
    if chunks == 0 {
        return Err(no_candidates(&last));
    }
    Ok(completion)
}

pub(super) fn embed(model: &Model, texts: &[String]) -> Result<Embeddings, CallError> {
    let name = format!("models/{}", model_id(model));
    let requests: Vec<Value> = texts
        .iter()
        .map(|text| json!({"model": name, "content": {"parts": [{"text": text}]}}))
        .collect();
    let body = json!({ "requests": requests });
    let expected = texts.len();
    let (vectors, latency) =
        http::post(model, &url(model, "batchEmbedContents"), &headers(model), &body, |response| {
            parse_embeddings(&http::read_json(response)?, expected)
        })?;
    Ok(Embeddings { vectors, input_tokens: 0, latency_ms: latency })
}

/// `embeddings[].values`, one per text, in order.
pub(super) fn parse_embeddings(value: &Value, expected: usize) -> Result<Vec<Vec<f64>>, Failure> {
    let list = value
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| Failure::Malformed("no `embeddings` list".into()))?;
    let vectors = list
        .iter()
        .enumerate()
        .map(|(i, item)| {
            super::openai::vector(item.get("values")).ok_or_else(|| {
                Failure::Malformed(format!("`embeddings[{i}].values` is not a list of numbers"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if vectors.len() != expected {
        return Err(Failure::Malformed(format!(
            "{} embeddings answered for {expected} texts",
            vectors.len()
        )));
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_map_into_generation_config() {
        let mut parameters = Map::new();
        parameters.insert("max_tokens".into(), json!(64));
        parameters.insert("temperature".into(), json!(0));
        parameters.insert("top_p".into(), json!(0.9));
        parameters.insert("top_k".into(), json!(40));
        parameters.insert("stop".into(), json!("END"));
        parameters.insert("responseMimeType".into(), json!("application/json"));
        parameters.insert("safetySettings".into(), json!([]));
        let request = ChatRequest { system: Some("S".into()), user: "U".into(), parameters };
        let body = body(&request);
        assert_eq!(
            body["generationConfig"],
            json!({"maxOutputTokens": 64, "temperature": 0, "topP": 0.9, "topK": 40,
                   "stopSequences": ["END"], "responseMimeType": "application/json"})
        );
        assert_eq!(body["safetySettings"], json!([]));
        assert_eq!(body["systemInstruction"], json!({"parts": [{"text": "S"}]}));
        assert_eq!(body["contents"], json!([{"role": "user", "parts": [{"text": "U"}]}]));
        assert_eq!(config_key("presence_penalty"), "presencePenalty");
        assert_eq!(config_key("candidateCount"), "candidateCount");
    }

    #[test]
    fn an_answer_reads_parts_usage_and_finish_reason() {
        let answer = json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "A"}, {"text": "B"}]},
                            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2}
        });
        let mut completion = Completion::default();
        add_chunk(&mut completion, &answer).unwrap();
        assert_eq!(completion.text, "AB");
        assert_eq!((completion.input_tokens, completion.output_tokens), (5, 2));
        assert_eq!(completion.finish_reason.as_deref(), Some("STOP"));
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}});
        assert!(matches!(no_candidates(&blocked), Failure::Malformed(m) if m.contains("SAFETY")));
    }
}
