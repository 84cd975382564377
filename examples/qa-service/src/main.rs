//! An example service built on the generated registry (`registry-demo`) and the runtime client:
//! `GET /health`, `GET /prompts/{name}`, `POST /api/v1/agents/qa` (renders `qa-system-prompt`
//! for a question; no LLM is called) and `GET /metrics` (Prometheus text). Configured from the
//! environment (docs/runtime.md), or from the file `QA_SERVICE_ENV_FILE` names, which SIGHUP
//! reloads (`reload`); it never reads Redis or the database on a request. Logs the runtime's
//! events on stderr (`RUST_LOG`, default `info`; `QA_SERVICE_LOG_FORMAT=json` for JSON).

use anyhow::{Context, Result};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use promptctl::runtime::{PromptStore, Rendered, Source};
use registry_demo::prompts::{self, qa_system_prompt};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

mod reload;

/// Where the service listens (`HOST:PORT`).
const ADDRESS_VARIABLE: &str = "QA_SERVICE_ADDR";
const DEFAULT_ADDRESS: &str = "127.0.0.1:8080";
/// Requests are handled by this many threads.
const WORKERS: usize = 4;
/// Larger request bodies are refused.
const MAX_BODY_BYTES: u64 = 64 * 1024;

/// `json` for one JSON object per log line; anything else, human lines.
const LOG_FORMAT_VARIABLE: &str = "QA_SERVICE_LOG_FORMAT";

/// The application's own subscriber: the runtime only emits `tracing` events.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if std::env::var(LOG_FORMAT_VARIABLE).is_ok_and(|format| format == "json") {
        logs.json().flatten_event(true).try_init()
    } else {
        logs.with_ansi(false).try_init()
    };
}

fn main() -> Result<()> {
    init_logs();
    // The recorder goes first: the store registers its read counters when it starts.
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
        )
        .context("histogram buckets")?
        // From a publish to this process serving it: seconds to minutes, not milliseconds.
        .set_buckets_for_metric(
            Matcher::Full(promptctl::runtime::metric::ACTIVATION_LAG.into()),
            &[0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0],
        )
        .context("histogram buckets")?
        .install_recorder()
        .context("cannot install the Prometheus recorder")?;
    let env_file = reload::env_file();
    let options = reload::options(env_file.as_deref())?;
    let store = PromptStore::start(prompts::ALL, options);
    if let Some(file) = env_file {
        reload::on_sighup(file, store.clone())?;
    }
    let address = std::env::var(ADDRESS_VARIABLE).unwrap_or_else(|_| DEFAULT_ADDRESS.into());
    let listener = std::net::TcpListener::bind(&address)
        .with_context(|| format!("cannot listen on `{address}`"))?;
    // tiny_http writes a response in pieces (its buffer holds 1 KiB); with Nagle's algorithm on,
    // the last piece waits for the client's delayed ACK, about 40 ms per request on a kept-alive
    // connection. Accepted sockets inherit TCP_NODELAY from the listening one on Linux.
    socket2::SockRef::from(&listener)
        .set_tcp_nodelay(true)
        .context("cannot set TCP_NODELAY on the listening socket")?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|error| anyhow::anyhow!("cannot serve on `{address}`: {error}"))?;
    let server = Arc::new(server);
    println!("qa-service listening on http://{address} (source: {:?})", store.source());
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let server = server.clone();
            let store = store.clone();
            let prometheus = prometheus.clone();
            std::thread::spawn(move || serve(&server, &store, &prometheus))
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

fn serve(server: &tiny_http::Server, store: &PromptStore, prometheus: &PrometheusHandle) {
    for mut request in server.incoming_requests() {
        let (status, content_type, body) = route(&mut request, store, prometheus);
        let header =
            tiny_http::Header::from_bytes("Content-Type", content_type).expect("a valid header");
        let response =
            tiny_http::Response::from_string(body).with_status_code(status).with_header(header);
        let _ = request.respond(response);
    }
}

type Reply = (u16, &'static str, String);

fn reply(status: u16, body: Value) -> Reply {
    (status, "application/json", format!("{body}\n"))
}

fn error(status: u16, message: &str) -> Reply {
    reply(status, json!({ "error": message }))
}

fn route(
    request: &mut tiny_http::Request,
    store: &PromptStore,
    prometheus: &PrometheusHandle,
) -> Reply {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let method = request.method().clone();
    use tiny_http::Method::{Get, Post};
    match (&method, path.as_str()) {
        (Get, "/health") => health(store),
        (Get, "/metrics") => {
            // The gauges that age with time are set at scrape time.
            store.update_metrics();
            (200, "text/plain; version=0.0.4", prometheus.render())
        }
        (Get, path) if path.starts_with("/prompts/") => prompt(store, &path["/prompts/".len()..]),
        (Post, "/api/v1/agents/qa") => match read_json(request) {
            Ok(body) => qa(store, &body),
            Err(reply) => reply,
        },
        (_, "/health" | "/metrics" | "/api/v1/agents/qa") => error(405, "method not allowed"),
        (_, path) if path.starts_with("/prompts/") => error(405, "method not allowed"),
        _ => error(404, "not found"),
    }
}

fn health(store: &PromptStore) -> Reply {
    let health = store.health();
    let body = json!({
        "status": health.status,
        "features": { "promptDatabase": health.source == Source::Store },
        "prompts": health,
    });
    // 200 even when degraded: the snapshot still serves, so a load balancer must keep sending
    // traffic; `status` tells the monitoring.
    reply(200, body)
}

fn prompt(store: &PromptStore, name: &str) -> Reply {
    match store.get(name) {
        Some(prompt) => reply(
            200,
            json!({
                "name": prompt.name,
                "version": prompt.version,
                "sha256": prompt.sha256,
                "tier": prompt.tier,
                "seq": prompt.seq,
                "activatedAt": prompt.activated_at,
                "text": prompt.content,
            }),
        ),
        None => error(404, &format!("no prompt `{name}`")),
    }
}

fn read_json(request: &mut tiny_http::Request) -> Result<Value, Reply> {
    use std::io::Read;
    let mut body = String::new();
    request
        .as_reader()
        .take(MAX_BODY_BYTES + 1)
        .read_to_string(&mut body)
        .map_err(|_| error(400, "the body is not UTF-8"))?;
    if body.len() as u64 > MAX_BODY_BYTES {
        return Err(error(413, "the body is too large"));
    }
    serde_json::from_str(&body).map_err(|e| error(400, &format!("the body is not JSON: {e}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Question {
    game_id: String,
    query: String,
}

/// `chess` → `Chess`, `tic-tac-toe` → `Tic-Tac-Toe`.
fn game_name(game_id: &str) -> String {
    game_id
        .split('-')
        .map(|word| {
            let mut characters = word.chars();
            match characters.next() {
                Some(first) => first.to_uppercase().chain(characters).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Renders the Q&A system prompt with typed vars for whichever contract the active version has:
/// the registry has a `Vars` type for each version an environment serves.
fn render_qa(
    store: &PromptStore,
    game_name: &str,
) -> Result<Rendered, promptctl::runtime::RenderError> {
    let active_contract = store.get(qa_system_prompt::NAME).map(|prompt| prompt.contract.clone());
    if active_contract.as_deref() == Some(qa_system_prompt::v2::CONTRACT) {
        store.render(&qa_system_prompt::v2::Vars {
            game_name: game_name.to_string(),
            answer_style: qa_system_prompt::v2::AnswerStyle::Concise,
            // This example retrieves nothing; a real service puts its rulebook excerpts here.
            context: format!("[Note] No rule excerpts were retrieved for {game_name}."),
            examples: None,
        })
    } else {
        store.render(&qa_system_prompt::v1::Vars { game_name: game_name.to_string() })
    }
}

fn qa(store: &PromptStore, body: &Value) -> Reply {
    let question: Question = match serde_json::from_value(body.clone()) {
        Ok(question) => question,
        Err(e) => return error(400, &format!("expected {{\"gameId\", \"query\"}}: {e}")),
    };
    let valid_id = !question.game_id.is_empty()
        && question.game_id.len() <= 64
        && question
            .game_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid_id {
        return error(400, "`gameId` must be 1 to 64 characters of a-z, 0-9 and `-`");
    }
    if question.query.trim().is_empty() || question.query.len() > 4000 {
        return error(400, "`query` must be 1 to 4000 characters");
    }
    match render_qa(store, &game_name(&question.game_id)) {
        Ok(rendered) => reply(
            200,
            json!({
                "gameId": question.game_id,
                "prompt": {
                    "name": rendered.prompt.name,
                    "version": rendered.prompt.version,
                    "sha256": rendered.prompt.sha256,
                    "tier": rendered.prompt.tier,
                },
                "messages": [
                    { "role": "system", "content": rendered.text },
                    { "role": "user", "content": question.query },
                ],
            }),
        ),
        Err(e) => error(500, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promptctl::runtime::Options;

    #[test]
    fn game_names() {
        assert_eq!(game_name("chess"), "Chess");
        assert_eq!(game_name("tic-tac-toe"), "Tic-Tac-Toe");
    }

    #[test]
    fn qa_renders_the_embedded_production_version() {
        let store = PromptStore::start(prompts::ALL, Options::default());
        let (status, _, body) = qa(&store, &json!({ "gameId": "chess", "query": "Can I castle?" }));
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["prompt"]["version"], 1);
        assert_eq!(body["prompt"]["tier"], "embedded");
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert!(
            system.starts_with("You are MeepleAI, a board-game rules assistant for Chess."),
            "{system}"
        );
        assert_eq!(body["messages"][1]["content"], "Can I castle?");
        let (status, _, body) = qa(&store, &json!({ "gameId": "Chess!", "query": "?" }));
        assert_eq!(
            (status, body.as_str()),
            (400, "{\"error\":\"`gameId` must be 1 to 64 characters of a-z, 0-9 and `-`\"}\n")
        );
        let (status, _, _) = qa(&store, &json!({ "game": "chess" }));
        assert_eq!(status, 400);
    }

    #[test]
    fn staging_serves_version_2_typed() {
        let options = Options { environment: "staging".into(), ..Options::default() };
        let store = PromptStore::start(prompts::ALL, options);
        let rendered = render_qa(&store, "Go").expect("renders");
        assert_eq!(rendered.prompt.version, 2);
        assert!(rendered.text.contains("Answer style: concise."), "{}", rendered.text);
    }

    #[test]
    fn health_shows_the_feature_flag() {
        let store = PromptStore::start(prompts::ALL, Options::default());
        let (status, _, body) = health(&store);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status, 200);
        assert_eq!(body["features"], json!({ "promptDatabase": false }));
        assert_eq!(body["status"], "ok");
        assert_eq!(body["prompts"]["tiers"]["embedded"]["prompts"], 6);
    }
}
