//! The eval providers (`promptctl::eval::provider`) against a local HTTP/1.1 server that speaks
//! each provider's wire format and records what it was sent: request paths, headers and bodies,
//! answers and streams read, embeddings, retries on 429 (waiting `Retry-After`) and 5xx, errors
//! that fail at once, missing keys, keys kept out of every message, the concurrency limit.

use promptctl::eval::provider::{CallError, ChatRequest, Model, ModelConfig};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request the server got.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
    at: Instant,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What the server answers.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
    /// Bytes of the body sent before the server stalls (and never sends the rest).
    stall: Option<usize>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
            stall: None,
        }
    }

    fn raw(status: u16, content_type: &str, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", content_type.into())],
            body: body.into(),
            delay: Duration::ZERO,
            stall: None,
        }
    }

    fn sse(body: &str) -> Reply {
        Reply::raw(200, "text/event-stream", body)
    }

    fn with(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Handler = dyn Fn(usize, &Seen) -> Reply + Send + Sync;

/// A local server; `handler` answers request number `n` (from 0).
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    most_at_once: Arc<AtomicUsize>,
}

impl Server {
    fn start(handler: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let (seen_, most_) = (seen.clone(), most_at_once.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (seen, most, handler, in_flight) =
                    (seen_.clone(), most_.clone(), handler.clone(), in_flight.clone());
                std::thread::spawn(move || {
                    let _ = connection(stream, &seen, &most, &in_flight, &*handler);
                });
            }
        });
        Server { url, seen, most_at_once }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Serves one connection's requests (keep-alive) until the client closes it.
fn connection(
    stream: TcpStream,
    seen: &Mutex<Vec<Seen>>,
    most: &AtomicUsize,
    in_flight: &AtomicUsize,
    handler: &Handler,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) =
            (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let request = Seen {
            method,
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        };
        let number = {
            let mut seen = seen.lock().unwrap();
            seen.push(request.clone());
            seen.len() - 1
        };
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
        let reply = handler(number, &request);
        std::thread::sleep(reply.delay);
        // Counted out before the answer is written: the client holds its place until it has read it.
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut head =
            format!("HTTP/1.1 {} X\r\ncontent-length: {}\r\n", reply.status, reply.body.len());
        for (name, value) in &reply.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes())?;
        if let Some(sent) = reply.stall {
            writer.write_all(&reply.body.as_bytes()[..sent])?;
            writer.flush()?;
            std::thread::sleep(Duration::from_secs(5));
            return Ok(());
        }
        writer.write_all(reply.body.as_bytes())?;
        writer.flush()?;
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum P {
    OpenAi,
    Azure,
    Anthropic,
    Gemini,
}

impl P {
    fn name(self) -> &'static str {
        match self {
            P::OpenAi => "openai",
            P::Azure => "azure-openai",
            P::Anthropic => "anthropic",
            P::Gemini => "gemini",
        }
    }

    /// The key this test's model reads (from a variable of its own).
    fn key(self) -> String {
        format!("sk-test-{}-d0n0tl3ak", self.name())
    }

    /// The key a request was sent, read from the header the provider puts it in.
    fn sent_key(self, seen: &Seen) -> String {
        let value = match self {
            P::OpenAi => seen.header("authorization").and_then(|v| v.strip_prefix("Bearer ")),
            P::Azure => seen.header("api-key"),
            P::Anthropic => seen.header("x-api-key"),
            P::Gemini => seen.header("x-goog-api-key"),
        };
        value.unwrap_or_default().to_string()
    }

    /// The environment variable holding the key.
    fn variable(self) -> String {
        format!("PROMPTCTL_TEST_{}_KEY", self.name().replace('-', "_").to_uppercase())
    }

    /// A chat answer in the provider's format: "Castling moves the king.", 12 tokens in, 5 out.
    fn answer(self) -> Reply {
        Reply::json(
            200,
            match self {
                P::OpenAi | P::Azure => json!({
                    "id": "chatcmpl-1", "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant",
                        "content": "Castling moves the king."}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
                }),
                P::Anthropic => json!({
                    "id": "msg_1", "type": "message", "role": "assistant",
                    "content": [{"type": "text", "text": "Castling "},
                                {"type": "text", "text": "moves the king."}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": 12, "output_tokens": 5}
                }),
                P::Gemini => json!({
                    "candidates": [{"content": {"role": "model",
                        "parts": [{"text": "Castling moves the king."}]}, "finishReason": "STOP"}],
                    "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5}
                }),
            },
        )
    }

    fn finish_reason(self) -> &'static str {
        match self {
            P::OpenAi | P::Azure => "stop",
            P::Anthropic => "end_turn",
            P::Gemini => "STOP",
        }
    }

    /// An error body in the provider's format whose message echoes the key.
    fn error(self, status: u16) -> Reply {
        let message = format!("model `nope` does not exist (key {} rejected)", self.key());
        Reply::json(
            status,
            match self {
                P::OpenAi | P::Azure => {
                    json!({"error": {"message": message, "type": "invalid_request_error"}})
                }
                P::Anthropic => json!({"type": "error",
                    "error": {"type": "invalid_request_error", "message": message}}),
                P::Gemini => {
                    json!({"error": {"code": status, "message": message, "status": "INVALID_ARGUMENT"}})
                }
            },
        )
    }

    fn model_id(self) -> &'static str {
        match self {
            P::OpenAi => "gpt-4o-mini",
            P::Azure => "my-deployment",
            P::Anthropic => "claude-sonnet-4-5",
            P::Gemini => "gemini-2.0-flash",
        }
    }

    /// The path a chat request goes to.
    fn chat_path(self, stream: bool) -> String {
        match (self, stream) {
            (P::OpenAi, _) => "/v1/chat/completions".into(),
            (P::Azure, _) => {
                "/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21".into()
            }
            (P::Anthropic, _) => "/v1/messages".into(),
            (P::Gemini, false) => "/v1beta/models/gemini-2.0-flash:generateContent".into(),
            (P::Gemini, true) => {
                "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse".into()
            }
        }
    }

    /// The configuration of a model at `server`, its key in an environment variable of its own;
    /// `extra` is more TOML.
    fn model(self, server: &Server, extra: &str) -> Model {
        let variable = self.variable();
        // Set by .cargo/config.toml's [env] when cargo starts the test binary (a `set_var` here
        // would race with the other tests' process spawns).
        assert_eq!(std::env::var(&variable).as_deref(), Ok(self.key().as_str()), "{variable}");
        let base = match self {
            P::OpenAi => format!("{}/v1", server.url),
            _ => server.url.clone(),
        };
        let azure = if self == P::Azure { "api_version = \"2024-10-21\"\n" } else { "" };
        let text = format!(
            "provider = \"{}\"\nmodel = \"{}\"\nbase_url = \"{base}\"\napi_key_env = \"{variable}\"\n\
             {azure}{extra}",
            self.name(),
            self.model_id()
        );
        let config: ModelConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        Model::new("m", &config).unwrap()
    }
}

fn request() -> ChatRequest {
    let parameters = json!({"temperature": 0, "max_tokens": 64, "top_p": 0.5});
    ChatRequest {
        system: Some("You explain chess rules.".into()),
        user: "How does castling work?".into(),
        parameters: parameters.as_object().unwrap().clone(),
    }
}

/// Asserts that neither the error's message nor its Debug form holds `key`.
fn keeps_the_key_out(error: &CallError, key: &str) {
    assert!(!error.to_string().contains(key), "{error}");
    assert!(!format!("{error:?}").contains(key), "{error:?}");
}

fn chat_is_sent_and_read(p: P) {
    let server = Server::start(move |_, _| p.answer());
    let model = p.model(&server, "");
    assert!(!format!("{model:?}").contains(&p.key()), "{model:?}");
    let completion = model.complete(&request()).unwrap();
    assert_eq!(completion.text, "Castling moves the king.");
    assert_eq!((completion.input_tokens, completion.output_tokens), (12, 5));
    assert_eq!(completion.finish_reason.as_deref(), Some(p.finish_reason()));
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let sent = &seen[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", p.chat_path(false).as_str()));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    let body = sent.json();
    let key = p.key();
    match p {
        P::OpenAi | P::Azure => {
            if p == P::OpenAi {
                assert_eq!(sent.header("authorization"), Some(format!("Bearer {key}").as_str()));
                assert_eq!(sent.header("api-key"), None);
                assert_eq!(body["model"], "gpt-4o-mini");
            } else {
                assert_eq!(sent.header("api-key"), Some(key.as_str()));
                assert_eq!(sent.header("authorization"), None);
                assert_eq!(body.get("model"), None, "Azure names the deployment in the path");
            }
            assert_eq!(
                body["messages"],
                json!([{"role": "system", "content": "You explain chess rules."},
                       {"role": "user", "content": "How does castling work?"}])
            );
            assert_eq!((&body["temperature"], &body["max_tokens"]), (&json!(0), &json!(64)));
            assert_eq!(body["top_p"], json!(0.5));
            assert_eq!(body.get("stream"), None);
        }
        P::Anthropic => {
            assert_eq!(sent.header("x-api-key"), Some(key.as_str()));
            assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
            assert_eq!(sent.header("authorization"), None);
            assert_eq!(body["model"], "claude-sonnet-4-5");
            assert_eq!(body["system"], "You explain chess rules.");
            assert_eq!(
                body["messages"],
                json!([{"role": "user", "content": "How does castling work?"}])
            );
            assert_eq!((&body["max_tokens"], &body["temperature"]), (&json!(64), &json!(0)));
        }
        P::Gemini => {
            assert_eq!(sent.header("x-goog-api-key"), Some(key.as_str()));
            assert!(!sent.path.contains(&key), "the key is not in the query");
            assert_eq!(
                body["systemInstruction"],
                json!({"parts": [{"text": "You explain chess rules."}]})
            );
            assert_eq!(
                body["contents"],
                json!([{"role": "user", "parts": [{"text": "How does castling work?"}]}])
            );
            assert_eq!(
                body["generationConfig"],
                json!({"temperature": 0, "maxOutputTokens": 64, "topP": 0.5})
            );
        }
    }
}

#[test]
fn openai_chat_is_sent_and_read() {
    chat_is_sent_and_read(P::OpenAi);
}

#[test]
fn azure_openai_chat_is_sent_and_read() {
    chat_is_sent_and_read(P::Azure);
}

#[test]
fn anthropic_chat_is_sent_and_read() {
    chat_is_sent_and_read(P::Anthropic);
}

#[test]
fn gemini_chat_is_sent_and_read() {
    chat_is_sent_and_read(P::Gemini);
}

#[test]
fn anthropic_sends_a_default_max_tokens_and_has_no_embeddings() {
    let server = Server::start(|_, _| P::Anthropic.answer());
    let model = P::Anthropic.model(&server, "");
    let request = ChatRequest { system: None, user: "Hi".into(), parameters: Default::default() };
    model.complete(&request).unwrap();
    let body = server.seen()[0].json();
    assert_eq!(body["max_tokens"], json!(1024));
    assert_eq!(body.get("system"), None);
    let error = model.embed(&["x".to_string()]).unwrap_err();
    assert!(matches!(error, CallError::Unsupported { what: "embeddings", .. }), "{error:?}");
    assert_eq!(server.seen().len(), 1, "no embeddings request is sent");
}

/// The stream each provider sends: "Castling moves the king." in pieces, 12 tokens in, 5 out.
fn stream_of(p: P) -> String {
    let events: Vec<String> = match p {
        P::OpenAi | P::Azure => {
            let chunk = |delta: Value, finish: Value| {
                json!({"object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            vec![
                chunk(json!({"role": "assistant", "content": ""}), Value::Null).to_string(),
                chunk(json!({"content": "Castling "}), Value::Null).to_string(),
                chunk(json!({"content": "moves the king."}), Value::Null).to_string(),
                chunk(json!({}), json!("stop")).to_string(),
                json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5}})
                    .to_string(),
            ]
            .into_iter()
            .map(|data| format!("data: {data}\n\n"))
            .chain(["data: [DONE]\n\n".to_string()])
            .collect()
        }
        P::Anthropic => [
            ("message_start", json!({"type": "message_start", "message": {"id": "msg_1",
                "content": [], "usage": {"input_tokens": 12, "output_tokens": 1}}})),
            ("content_block_start", json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}})),
            ("ping", json!({"type": "ping"})),
            ("content_block_delta", json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "Castling "}})),
            ("content_block_delta", json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "moves the king."}})),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            ("message_delta", json!({"type": "message_delta",
                "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}})),
            ("message_stop", json!({"type": "message_stop"})),
        ]
        .into_iter()
        .map(|(event, data)| format!("event: {event}\ndata: {data}\n\n"))
        .collect(),
        P::Gemini => [
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Castling "}]}}],
                   "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 2}}),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "moves the king."}]},
                   "finishReason": "STOP"}],
                   "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5}}),
        ]
        .into_iter()
        .map(|data| format!("data: {data}\r\n\r\n"))
        .collect(),
    };
    events.concat()
}

fn stream_is_read(p: P) {
    let server = Server::start(move |_, _| Reply::sse(&stream_of(p)));
    let model = p.model(&server, "stream = true");
    let completion = model.complete(&request()).unwrap();
    assert_eq!(completion.text, "Castling moves the king.");
    assert_eq!((completion.input_tokens, completion.output_tokens), (12, 5));
    assert_eq!(completion.finish_reason.as_deref(), Some(p.finish_reason()));
    let sent = &server.seen()[0];
    assert_eq!(sent.path, p.chat_path(true));
    let body = sent.json();
    match p {
        P::OpenAi | P::Azure => {
            assert_eq!(body["stream"], json!(true));
            assert_eq!(body["stream_options"], json!({"include_usage": true}));
        }
        P::Anthropic => assert_eq!(body["stream"], json!(true)),
        P::Gemini => assert_eq!(body.get("stream"), None),
    }
}

#[test]
fn openai_stream_is_read() {
    stream_is_read(P::OpenAi);
}

#[test]
fn azure_openai_stream_is_read() {
    stream_is_read(P::Azure);
}

#[test]
fn anthropic_stream_is_read() {
    stream_is_read(P::Anthropic);
}

#[test]
fn gemini_stream_is_read() {
    stream_is_read(P::Gemini);
}

#[test]
fn an_anthropic_stream_error_is_a_status_error() {
    let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1}}}\n\n\
                  event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"bad turn\"}}\n\n";
    let server = Server::start(move |_, _| Reply::sse(stream));
    let model = P::Anthropic.model(&server, "stream = true\nmax_retries = 0");
    let error = model.complete(&request()).unwrap_err();
    assert!(
        matches!(&error, CallError::Status { status: 400, message, .. } if message == "bad turn"),
        "{error:?}"
    );
}

#[test]
fn openai_embeddings_are_read_in_index_order() {
    let server = Server::start(|_, _| {
        Reply::json(
            200,
            json!({"object": "list", "data": [
            {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
            {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}
        ], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 6, "total_tokens": 6}}),
        )
    });
    let model = P::OpenAi.model(&server, "");
    let texts = vec!["first".to_string(), "second".to_string()];
    let embeddings = model.embed(&texts).unwrap();
    assert_eq!(embeddings.vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    assert_eq!(embeddings.input_tokens, 6);
    let sent = &server.seen()[0];
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.json(), json!({"model": "gpt-4o-mini", "input": ["first", "second"]}));
}

#[test]
fn azure_openai_embeddings_name_the_deployment() {
    let server = Server::start(|_, _| {
        Reply::json(
            200,
            json!({"data": [{"index": 0, "embedding": [0.25]}], "usage": {"prompt_tokens": 1}}),
        )
    });
    let model = P::Azure.model(&server, "");
    let embeddings = model.embed(&["x".to_string()]).unwrap();
    assert_eq!(embeddings.vectors, vec![vec![0.25]]);
    let sent = &server.seen()[0];
    assert_eq!(sent.path, "/openai/deployments/my-deployment/embeddings?api-version=2024-10-21");
    assert_eq!(sent.header("api-key"), Some(P::Azure.key().as_str()));
    assert_eq!(sent.json(), json!({"input": ["x"]}));
}

#[test]
fn gemini_embeddings_are_batched() {
    let server = Server::start(|_, _| {
        Reply::json(200, json!({"embeddings": [{"values": [0.5, 0.5]}, {"values": [1, 0]}]}))
    });
    let model = P::Gemini.model(&server, "");
    let embeddings = model.embed(&["a".to_string(), "b".to_string()]).unwrap();
    assert_eq!(embeddings.vectors, vec![vec![0.5, 0.5], vec![1.0, 0.0]]);
    let sent = &server.seen()[0];
    assert_eq!(sent.path, "/v1beta/models/gemini-2.0-flash:batchEmbedContents");
    assert_eq!(sent.header("x-goog-api-key"), Some(P::Gemini.key().as_str()));
    assert_eq!(
        sent.json(),
        json!({"requests": [
            {"model": "models/gemini-2.0-flash", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/gemini-2.0-flash", "content": {"parts": [{"text": "b"}]}}
        ]})
    );
}

/// 429 with `Retry-After: 1` then an answer; 500 then an answer; 429 every time; 400; JSON that
/// is not; a missing key; an unreachable server. No message holds the key.
fn retries_and_failures(p: P) {
    let key = p.key();

    let server =
        Server::start(
            move |n, _| {
                if n == 0 {
                    p.error(429).with("retry-after", "1")
                } else {
                    p.answer()
                }
            },
        );
    let completion = p.model(&server, "").complete(&request()).unwrap();
    assert_eq!(completion.text, "Castling moves the king.");
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "retried once");
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_millis(950), "waited only {waited:?} after Retry-After: 1");

    let server = Server::start(move |n, _| if n == 0 { p.error(500) } else { p.answer() });
    let completion = p.model(&server, "").complete(&request()).unwrap();
    assert_eq!(completion.output_tokens, 5);
    assert_eq!(server.seen().len(), 2, "retried after the 500");

    let server = Server::start(move |_, _| p.error(429).with("retry-after", "0"));
    let error = p.model(&server, "max_retries = 2").complete(&request()).unwrap_err();
    assert!(matches!(error, CallError::RateLimited { attempts: 3, .. }), "{error:?}");
    assert_eq!(server.seen().len(), 3);

    let server = Server::start(move |_, _| p.error(400));
    let error = p.model(&server, "").complete(&request()).unwrap_err();
    match &error {
        CallError::Status { status: 400, message, provider, .. } => {
            assert!(message.contains("model `nope` does not exist"), "{message}");
            assert_eq!(*provider, p.name());
        }
        other => panic!("{other:?}"),
    }
    keeps_the_key_out(&error, &key);
    assert_eq!(server.seen().len(), 1, "a 400 is not retried");

    let server = Server::start(|_, _| Reply::raw(200, "application/json", "{\"choices\": [ oops"));
    let error = p.model(&server, "").complete(&request()).unwrap_err();
    assert!(matches!(error, CallError::Malformed { .. }), "{error:?}");
    assert_eq!(server.seen().len(), 1, "malformed JSON is not retried");

    let server = Server::start(|_, _| Reply::json(200, json!({"unexpected": true})));
    let error = p.model(&server, "").complete(&request()).unwrap_err();
    assert!(matches!(error, CallError::Malformed { .. }), "{error:?}");

    let unset = format!("PROMPTCTL_TEST_UNSET_{}_KEY", p.name().replace('-', "_").to_uppercase());
    let azure = if p == P::Azure { "api_version = \"v\"\n" } else { "" };
    let text = format!(
        "provider = \"{}\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:9\"\napi_key_env = \"{unset}\"\n{azure}",
        p.name()
    );
    let config: ModelConfig = toml::from_str(&text).unwrap();
    match Model::new("m", &config) {
        Err(CallError::MissingKey { variable, .. }) => assert_eq!(variable, unset),
        other => panic!("{other:?}"),
    }

    // A server that is gone: the transport error names no key either.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = Server { url: format!("http://{}", closed.local_addr().unwrap()), ..server };
    drop(closed);
    let error = p.model(&gone, "max_retries = 0").complete(&request()).unwrap_err();
    assert!(matches!(error, CallError::Transport { .. }), "{error:?}");
    keeps_the_key_out(&error, &key);
}

#[test]
fn openai_retries_and_failures() {
    retries_and_failures(P::OpenAi);
}

#[test]
fn azure_openai_retries_and_failures() {
    retries_and_failures(P::Azure);
}

#[test]
fn anthropic_retries_and_failures() {
    retries_and_failures(P::Anthropic);
}

#[test]
fn gemini_retries_and_failures() {
    retries_and_failures(P::Gemini);
}

#[test]
fn a_local_server_gets_no_key() {
    let server = Server::start(|_, _| P::OpenAi.answer());
    let text =
        format!("provider = \"openai\"\nmodel = \"llama\"\nbase_url = \"{}/v1\"", server.url);
    let config: ModelConfig = toml::from_str(&text).unwrap();
    Model::new("local", &config).unwrap().complete(&request()).unwrap();
    assert_eq!(server.seen()[0].header("authorization"), None);
}

#[test]
fn a_slow_answer_times_out() {
    let server = Server::start(|_, _| P::OpenAi.answer().after(Duration::from_millis(2500)));
    let model = P::OpenAi.model(&server, "timeout_seconds = 1");
    let error = model.complete(&request()).unwrap_err();
    assert!(
        matches!(&error, CallError::Transport { message, .. } if message.contains("no answer within 1 s")),
        "{error:?}"
    );
    assert_eq!(server.seen().len(), 1, "a timeout is not retried");
}

#[test]
fn at_most_max_concurrency_requests_are_in_flight() {
    let server = Server::start(|_, _| P::OpenAi.answer().after(Duration::from_millis(80)));
    let model = Arc::new(P::OpenAi.model(&server, "max_concurrency = 2"));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let model = model.clone();
            std::thread::spawn(move || model.complete(&request()).unwrap())
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap().text, "Castling moves the king.");
    }
    assert_eq!(server.seen().len(), 8);
    let most = server.most_at_once.load(Ordering::SeqCst);
    assert!(most <= 2, "{most} requests were in flight at once");
    assert_eq!(most, 2, "two requests do run at once");
}

/// `answer` (a JSON answer or a stream) made to echo the key `seen` was sent with, in the text and
/// in the finish reason.
fn echoing(p: P, answer: &str, seen: &Seen) -> String {
    let key = p.sent_key(seen);
    let reason = p.finish_reason();
    answer
        .replace("moves the king.", &format!("moves the king. Your key is {key}"))
        .replace(&format!("\"{reason}\""), &format!("\"{reason} {key}\""))
}

/// A server that echoes the key in a successful answer: the completion holds no key, streamed
/// or not (so neither the cache, nor a recorded answer, nor any output can).
fn an_answer_that_echoes_the_key_is_scrubbed(p: P) {
    for stream in [false, true] {
        let server = Server::start(move |_, seen| {
            let reply = if stream { Reply::sse(&stream_of(p)) } else { p.answer() };
            Reply { body: echoing(p, &reply.body, seen), ..reply }
        });
        let model = p.model(&server, if stream { "stream = true" } else { "" });
        let completion = model.complete(&request()).unwrap();
        assert_eq!(p.sent_key(&server.seen()[0]), p.key(), "the server had the key to echo");
        assert_eq!(completion.text, "Castling moves the king. Your key is <redacted>");
        assert_eq!(completion.finish_reason, Some(format!("{} <redacted>", p.finish_reason())));
        let recorded = serde_json::to_string(&completion).unwrap();
        assert!(!recorded.contains(&p.key()), "{recorded}");
    }
}

#[test]
fn openai_answer_that_echoes_the_key_is_scrubbed() {
    an_answer_that_echoes_the_key_is_scrubbed(P::OpenAi);
}

#[test]
fn azure_openai_answer_that_echoes_the_key_is_scrubbed() {
    an_answer_that_echoes_the_key_is_scrubbed(P::Azure);
}

#[test]
fn anthropic_answer_that_echoes_the_key_is_scrubbed() {
    an_answer_that_echoes_the_key_is_scrubbed(P::Anthropic);
}

#[test]
fn gemini_answer_that_echoes_the_key_is_scrubbed() {
    an_answer_that_echoes_the_key_is_scrubbed(P::Gemini);
}

#[test]
fn a_stream_that_stalls_times_out_like_an_answer_that_never_comes() {
    let first = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Cast\"}}]}\n\n";
    let server = Server::start(move |_, _| Reply {
        stall: Some(first.len()),
        ..Reply::sse(&format!("{first}{}", stream_of(P::OpenAi)))
    });
    let model = P::OpenAi.model(&server, "stream = true\ntimeout_seconds = 1\nmax_retries = 0");
    let started = Instant::now();
    let error = model.complete(&request()).unwrap_err();
    assert!(
        matches!(&error, CallError::Transport { message, .. }
            if message.ends_with("no answer within 1 s (`timeout_seconds`)")),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert_eq!(server.seen().len(), 1);
}

/// Asserts that `text` holds no control character (ESC, CR, LF, BEL) to reach a terminal or a CI
/// log raw.
fn no_control_characters(text: &str) {
    assert!(!text.chars().any(char::is_control), "{text:?}");
}

#[test]
fn control_characters_a_server_sends_are_escaped_in_every_message() {
    let forged = "bad\u{1b}[2J\r\n::error::forged\u{7}";
    let escaped = "bad\\u{1b}[2J\\u{d}\\u{a}::error::forged\\u{7}";

    let server = Server::start(move |_, _| Reply::json(400, json!({"error": {"message": forged}})));
    let error = P::OpenAi.model(&server, "").complete(&request()).unwrap_err();
    no_control_characters(&error.to_string());
    assert!(error.to_string().ends_with(escaped), "{error}");

    let server = Server::start(move |_, _| Reply::raw(502, "text/plain", forged));
    let error = P::OpenAi.model(&server, "max_retries = 0").complete(&request()).unwrap_err();
    no_control_characters(&error.to_string());
    assert!(error.to_string().contains(escaped), "{error}");

    let stream = format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{}}}}\n\n\
         event: error\ndata: {}\n\n",
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": forged}})
    );
    let server = Server::start(move |_, _| Reply::sse(&stream));
    let model = P::Anthropic.model(&server, "stream = true\nmax_retries = 0");
    let error = model.complete(&request()).unwrap_err();
    no_control_characters(&error.to_string());
    assert!(error.to_string().contains(escaped), "{error}");

    let blocked = json!({"promptFeedback": {"blockReason": forged}});
    let server = Server::start(move |_, _| Reply::json(200, blocked.clone()));
    let error = P::Gemini.model(&server, "").complete(&request()).unwrap_err();
    assert!(matches!(error, CallError::Malformed { .. }), "{error:?}");
    no_control_characters(&error.to_string());
    assert!(error.to_string().contains(escaped), "{error}");

    let answer = json!({"choices": [{"message": {"content": "fine"}, "finish_reason": forged}]});
    let server = Server::start(move |_, _| Reply::json(200, answer.clone()));
    let completion = P::OpenAi.model(&server, "").complete(&request()).unwrap();
    assert_eq!(completion.finish_reason.as_deref(), Some(escaped));
}
