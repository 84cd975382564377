//! Anthropic's Messages API: `POST {base}/v1/messages` with `x-api-key` and `anthropic-version`,
//! the system prompt top-level, `max_tokens` always sent (the API requires it); streamed as
//! `message_start`, `content_block_delta`, `message_delta`, `message_stop` (and `error`) events.
//! Anthropic has no embeddings API.

use super::http::{self, Failure, Flow, Header};
use super::{CallError, ChatRequest, Completion, Model};
use serde_json::{json, Map, Value};

/// The API version every request names.
pub(super) const VERSION: &str = "2023-06-01";
/// `max_tokens` when the parameters give none: the API refuses a request without it.
pub(super) const DEFAULT_MAX_TOKENS: u64 = 1024;

const RESERVED: [&str; 4] = ["model", "messages", "system", "stream"];

fn headers(model: &Model) -> Vec<Header> {
    let mut headers = vec![Header::plain("anthropic-version", VERSION)];
    if let Some(key) = &model.key {
        headers.push(Header { name: "x-api-key", value: key.expose().to_string(), secret: true });
    }
    headers
}

/// The Messages request body; `stop` is sent as `stop_sequences`.
pub(super) fn body(model: &Model, request: &ChatRequest) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(model.config.model));
    body.insert("max_tokens".into(), json!(DEFAULT_MAX_TOKENS));
    if let Some(system) = &request.system {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), json!([{"role": "user", "content": request.user}]));
    for (key, value) in &request.parameters {
        if RESERVED.contains(&key.as_str()) {
            continue;
        }
        if key == "stop" {
            let list = if value.is_array() { value.clone() } else { json!([value]) };
            body.insert("stop_sequences".into(), list);
        } else {
            body.insert(key.clone(), value.clone());
        }
    }
    if model.config.stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

pub(super) fn complete(model: &Model, request: &ChatRequest) -> Result<Completion, CallError> {
    let url = format!("{}/v1/messages", model.base_url());
    http::chat(model, &url, &headers(model), &body(model, request), read_stream, parse)
}

/// Input tokens of a `usage` object, with the cached ones (they are input too).
fn input_tokens(usage: &Value) -> u64 {
    ["/input_tokens", "/cache_creation_input_tokens", "/cache_read_input_tokens"]
        .iter()
        .map(|pointer| http::tokens(usage, pointer))
        .sum()
}

/// A message: the `text` blocks of `content` joined, `usage`, `stop_reason`.
pub(super) fn parse(value: &Value) -> Result<Completion, Failure> {
    let content = value
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| Failure::Malformed("no `content` list".into()))?;
    let text: String = content
        .iter()
        .filter(|block| block.get("type").and_then(Value::as_str).is_none_or(|t| t == "text"))
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect();
    let usage = value.get("usage").cloned().unwrap_or(Value::Null);
    Ok(Completion {
        text,
        input_tokens: input_tokens(&usage),
        output_tokens: http::tokens(&usage, "/output_tokens"),
        latency_ms: 0,
        finish_reason: value.get("stop_reason").and_then(Value::as_str).map(str::to_string),
    })
}

/// The HTTP status an `error` event stands for, so that overloaded and rate-limited streams are
/// retried like the same answers before the stream.
fn error_status(kind: &str) -> u16 {
    match kind {
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        "api_error" => 500,
        "timeout_error" => 504,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        _ => 400,
    }
}

pub(super) fn read_stream(body: impl std::io::Read) -> Result<Completion, Failure> {
    let mut completion = Completion::default();
    let mut started = false;
    let mut stopped = false;
    http::events(body, |event| {
        let data = http::event_json(&event)?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(event.event.clone())
            .unwrap_or_default();
        match kind.as_str() {
            "message_start" => {
                started = true;
                let usage = data.pointer("/message/usage").cloned().unwrap_or(Value::Null);
                completion.input_tokens = input_tokens(&usage);
                completion.output_tokens = http::tokens(&usage, "/output_tokens");
            }
            "content_block_delta" => {
                if let Some(text) = data.pointer("/delta/text").and_then(Value::as_str) {
                    completion.text.push_str(text);
                }
            }
            "message_delta" => {
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    completion.finish_reason = Some(reason.to_string());
                }
                if data.pointer("/usage/output_tokens").is_some() {
                    completion.output_tokens = http::tokens(&data, "/usage/output_tokens");
                }
                if data.pointer("/usage/input_tokens").is_some() {
                    completion.input_tokens = input_tokens(&data["usage"]);
                }
            }
            "message_stop" => {
                stopped = true;
                return Ok(Flow::Stop);
            }
            "error" => {
                let kind = data.pointer("/error/type").and_then(Value::as_str).unwrap_or("");
                return Err(Failure::Status {
                    status: error_status(kind),
                    message: http::error_message(&event.data),
                });
            }
            _ => {}
        }
        Ok(Flow::Continue)
    })?;
    if !started {
        return Err(Failure::Malformed("the stream held no `message_start` event".into()));
    }
    if !stopped {
        return Err(Failure::Transport("the stream ended before `message_stop`".into()));
    }
    Ok(completion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_joins_its_text_blocks() {
        let answer = json!({
            "content": [{"type": "text", "text": "Hel"}, {"type": "tool_use", "id": "x"},
                        {"type": "text", "text": "lo"}],
            "usage": {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 2},
            "stop_reason": "end_turn"
        });
        let completion = parse(&answer).unwrap();
        assert_eq!(completion.text, "Hello");
        assert_eq!((completion.input_tokens, completion.output_tokens), (12, 3));
        assert_eq!(completion.finish_reason.as_deref(), Some("end_turn"));
        assert!(matches!(parse(&json!({"type": "message"})), Err(Failure::Malformed(_))));
    }

    #[test]
    fn stream_errors_map_to_statuses_that_retry_when_transient() {
        assert_eq!(error_status("overloaded_error"), 529);
        assert_eq!(error_status("rate_limit_error"), 429);
        assert_eq!(error_status("invalid_request_error"), 400);
    }
}
