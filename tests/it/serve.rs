//! `promptctl serve` as a separate process over real HTTP on loopback, following a real
//! PostgreSQL store and Redis cache (`test-support`): the read endpoints, ETags, renders checked
//! against the contract (422 with problems), the watch stream through a publish and a rollback,
//! the admin endpoints and their token, health and metrics, limits, and a graceful shutdown that
//! finishes a request in flight.

use crate::runtime::{ok, promptctl, wait, Project};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use test_support::{free_port, shared_postgres, shared_redis, unique, KillOnDrop};

/// One response: status, headers (lowercase names), body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One HTTP/1.1 request with `Connection: close`.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    try_request(port, method, path, headers, body).expect("the request")
}

pub(crate) fn try_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Reply, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    stream.write_all(body.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    parse(&response)
}

fn parse(response: &str) -> Result<Reply, String> {
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no header end")?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line: {head}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Ok(Reply { status, headers, body: body.to_string() })
}

/// A running `promptctl serve`, killed when dropped.
pub(crate) struct Serve {
    pub(crate) child: KillOnDrop,
    pub(crate) port: u16,
}

impl Serve {
    pub(crate) fn start(root: &Path, log: &Path, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut command = Command::new(crate::support::binary());
        for (name, _) in std::env::vars() {
            if name.starts_with("PROMPTCTL_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        let log = std::fs::File::create(log).expect("create the log");
        let child = command
            .arg("--root")
            .arg(root)
            .args(["serve", "--listen", &listen])
            .args(args)
            .env("PROMPTCTL_RECONNECT_MAX_MS", "200")
            .env("PROMPTCTL_DEGRADED_POLL_MS", "200")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start promptctl serve");
        let serve = Serve { child: KillOnDrop(child), port };
        wait("serve to listen", || try_request(port, "GET", "/v1/prompts", &[], "").is_ok());
        serve
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        request(self.port, "GET", path, &[], "")
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Reply {
        request(self.port, "POST", path, &[], &body.to_string())
    }

    fn terminate(&mut self) {
        let pid = self.child.0.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(status.success());
    }
}

/// Reads a `/v1/watch` stream on a thread; each `activation` event's data as JSON.
fn watch(port: u16) -> mpsc::Receiver<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(stream, "GET /v1/watch HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let (sender, receiver) = mpsc::channel();
    let (ready, started) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut event = String::new();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            // Chunked framing: the size lines are not events; the event lines are whole.
            let text = line.trim_end().to_string();
            line.clear();
            if text.starts_with(": watching") {
                let _ = ready.send(());
            } else if let Some(name) = text.strip_prefix("event: ") {
                event = name.to_string();
            } else if let Some(data) = text.strip_prefix("data: ") {
                if event == "activation" {
                    let _ = sender.send(serde_json::from_str(data).expect("event JSON"));
                }
            }
        }
    });
    started.recv_timeout(Duration::from_secs(60)).expect("the watch stream starts");
    receiver
}

fn next_event(events: &mpsc::Receiver<Value>, name: &str) -> Value {
    loop {
        let event = events.recv_timeout(Duration::from_secs(60)).expect("an activation event");
        if event["name"] == name {
            return event;
        }
    }
}

fn problems(reply: &Reply) -> Vec<(String, String)> {
    assert_eq!(reply.status, 422, "{}", reply.body);
    reply.json()["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            assert!(!p["message"].as_str().unwrap().is_empty());
            (p["code"].as_str().unwrap().to_string(), p["path"].as_str().unwrap().to_string())
        })
        .collect()
}

/// `schemas/serve.openapi.json`.
fn openapi() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/serve.openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read the OpenAPI document"))
        .expect("the OpenAPI document is JSON")
}

/// The violations of the OpenAPI document's schema `name` (its `components.schemas`, a JSON
/// Schema 2020-12 dialect) by `value`.
fn violations(name: &str, value: &Value) -> Vec<String> {
    let document = openapi();
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document["components"],
        "$ref": format!("#/components/schemas/{name}"),
    });
    let validator = jsonschema::validator_for(&root).expect("the schema compiles");
    validator.iter_errors(value).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

/// Asserts that `value` conforms to the OpenAPI document's schema `name`.
#[track_caller]
fn conforms(name: &str, value: &Value) {
    let errors = violations(name, value);
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{value:#}");
}

#[test]
fn the_openapi_document_describes_every_route_and_only_those() {
    let document = openapi();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1."), "OpenAPI 3.1");
    assert_eq!(document["jsonSchemaDialect"], "https://json-schema.org/draft/2020-12/schema");
    assert!(!document["info"]["title"].as_str().unwrap_or_default().is_empty());
    assert!(!document["info"]["version"].as_str().unwrap_or_default().is_empty());
    let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        assert!(path.starts_with('/'), "{path}");
        let item = item.as_object().unwrap();
        for key in item.keys() {
            assert!(methods.contains(&key.as_str()) || key == "parameters", "{path}: `{key}`");
        }
        // Every `{parameter}` of the path is declared as a path parameter.
        let declared: Vec<&str> = item
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(['{', '}']);
            assert!(declared.contains(&name), "{path}: `{name}` is not declared");
        }
        for (method, operation) in item.iter().filter(|(k, _)| methods.contains(&k.as_str())) {
            documented.insert((method.to_uppercase(), path.clone()));
            assert!(operation["operationId"].is_string(), "{method} {path}: operationId");
            assert!(operation["summary"].is_string(), "{method} {path}: summary");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(responses.keys().any(|code| code.starts_with('2')), "{method} {path}: no 2xx");
            for (code, response) in responses {
                assert!(code.len() == 3 && code.parse::<u16>().is_ok(), "{method} {path}: {code}");
                assert!(response["description"].is_string(), "{method} {path} {code}");
            }
        }
    }
    let served: std::collections::BTreeSet<(String, String)> = promptctl::serve::ROUTES
        .iter()
        .map(|route| (route.method.to_string(), route.path.to_string()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "routes the document lacks: {undocumented:?}");
    assert!(unserved.is_empty(), "documented routes the server lacks: {unserved:?}");
    // Every `$ref` resolves, and every schema is a valid JSON Schema (2020-12).
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = &reference[..reference.find('"').unwrap()];
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(document.pointer(pointer).is_some(), "`{target}` does not resolve");
    }
    // The response schemas are strict enough to tell a wrong body.
    assert!(!violations("Rendered", &json!({"name": "a", "version": 1, "text": "t"})).is_empty());
    assert!(!violations("PromptVersion", &json!({"name": "a"})).is_empty());
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        let mut schema = schema.clone();
        schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!("components.schemas.{name} is not a valid JSON Schema: {e}");
        }
    }
}

const TOKEN: &str = "s3cret-admin-token";
const WRONG: &str = "wrong-token-never-logged";

#[test]
fn serves_renders_watches_and_rolls_back_over_http() {
    let (Some(redis), Some(postgres)) = (shared_redis(), shared_postgres()) else { return };
    let prefix = format!("{}:", unique("serve"));
    let project = Project::new(&postgres.database(), &redis.url(), &prefix);
    project.publish_qa(1);
    let log = project.path().join("serve.log");
    let serve = Serve::start(
        project.path(),
        &log,
        &["--env", "production", "--max-body-bytes", "4096", "--max-vars-depth", "4"],
        &[("PROMPTCTL_ADMIN_TOKEN", TOKEN), ("PROMPTCTL_ADMIN_ACTOR", "ops-bot")],
    );
    wait("the store's text to be served", || {
        serve.get("/v1/prompts/qa-system-prompt").json()["tier"] == "redis"
    });
    let health = serve.get("/health");
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["source"], "store");
    conforms("Health", &health.json());

    // The list and one prompt, with its ETag.
    let list = serve.get("/v1/prompts").json();
    conforms("PromptList", &list);
    let names: Vec<&str> =
        list["prompts"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"qa-system-prompt") && names.contains(&"tech-lead"), "{names:?}");
    let reply = serve.get("/v1/prompts/qa-system-prompt");
    assert_eq!(reply.status, 200);
    let prompt = reply.json();
    conforms("PromptVersion", &prompt);
    let sha256 = prompt["sha256"].as_str().unwrap().to_string();
    assert_eq!(promptctl::text::sha256_hex(prompt["content"].as_str().unwrap()), sha256);
    assert_eq!(reply.headers["etag"], format!("\"{sha256}\""));
    assert_eq!(prompt["version"], 1);
    assert_eq!(prompt["variables"]["game_name"]["type"], "string");
    assert_eq!(prompt["model"]["name"], "gpt-4o-mini");
    assert!(prompt["activated_at"].is_string() && prompt["seq"].is_i64(), "{prompt}");
    let etag = format!("\"{sha256}\"");
    let cached =
        request(serve.port, "GET", "/v1/prompts/qa-system-prompt", &[("If-None-Match", &etag)], "");
    assert_eq!((cached.status, cached.body.as_str()), (304, ""));
    let other = request(
        serve.port,
        "GET",
        "/v1/prompts/qa-system-prompt",
        &[("If-None-Match", "\"0000\"")],
        "",
    );
    assert_eq!(other.status, 200);

    // Stored versions.
    let v2 = serve.get("/v1/prompts/qa-system-prompt/versions/2");
    assert_eq!(v2.status, 200, "{}", v2.body);
    conforms("PromptVersion", &v2.json());
    assert_eq!(
        (v2.json()["version"].clone(), v2.json()["active"].clone()),
        (json!(2), json!(false))
    );
    assert_eq!(serve.get("/v1/prompts/qa-system-prompt/versions/9").status, 404);
    assert_eq!(serve.get("/v1/prompts/qa-system-prompt/versions/x").status, 400);
    assert_eq!(serve.get("/v1/prompts/no-such-prompt").status, 404);

    // Renders: byte for byte `promptctl render`'s text; vars checked first.
    let rendered =
        serve.post("/v1/prompts/qa-system-prompt/render", &json!({"vars": {"game_name": "Chess"}}));
    assert_eq!(rendered.status, 200, "{}", rendered.body);
    conforms("Rendered", &rendered.json());
    let cli = ok(promptctl(
        project.path(),
        &["render", "qa-system-prompt@1", "--var", "game_name=Chess"],
    ));
    assert_eq!(rendered.json()["text"].as_str().unwrap(), cli.stdout);
    assert_eq!(rendered.json()["sha256"], sha256.as_str());
    let missing = serve.post("/v1/prompts/qa-system-prompt/render", &json!({"vars": {}}));
    assert_eq!(problems(&missing), [("render/missing-var".into(), "game_name".into())]);
    assert!(!missing.body.contains("MeepleAI"), "no half-rendered text: {}", missing.body);
    conforms("Error", &missing.json());
    let mistyped = serve.post(
        "/v1/prompts/qa-system-prompt/render",
        &json!({"vars": {"game_name": 7, "gmae": "x"}}),
    );
    assert_eq!(
        problems(&mistyped),
        [("render/type".into(), "game_name".into()), ("render/unknown-var".into(), "gmae".into())]
    );
    // Version 2 (stored, not active): a nested problem has its path.
    let nested = serve.post(
        "/v1/prompts/qa-system-prompt/render",
        &json!({"version": 2, "vars": {"game_name": "Go", "answer_style": "concise", "context": "c",
            "examples": [{"question": "q", "answer": "a"}, {"question": "q"}]}}),
    );
    assert_eq!(problems(&nested), [("render/type".into(), "examples[1].answer".into())]);
    let v2_text = serve.post(
        "/v1/prompts/qa-system-prompt/render",
        &json!({"version": 2, "vars": {"game_name": "Go", "answer_style": "concise", "context": "c"}}),
    );
    assert_eq!(v2_text.status, 200, "{}", v2_text.body);
    assert_eq!(v2_text.json()["version"], 2);
    // Bad requests and limits.
    let bad = request(serve.port, "POST", "/v1/prompts/qa-system-prompt/render", &[], "{");
    assert_eq!((bad.status, bad.json()["code"].clone()), (400, json!("bad-json")));
    let large = serve.post(
        "/v1/prompts/qa-system-prompt/render",
        &json!({"vars": {"game_name": "x".repeat(5000)}}),
    );
    assert_eq!(large.status, 413, "{}", large.body);
    let deep = serve.post(
        "/v1/prompts/qa-system-prompt/render",
        &json!({"vars": {"game_name": [[[[["deep"]]]]]}}),
    );
    assert_eq!(problems(&deep), [("vars-too-deep".into(), String::new())]);
    assert_eq!(serve.get("/v1/nothing").status, 404);
    let wrong_method = request(serve.port, "DELETE", "/v1/prompts", &[], "");
    assert_eq!((wrong_method.status, wrong_method.headers["allow"].as_str()), (405, "GET"));

    // The watch stream: one event per activation applied.
    let events = watch(serve.port);
    project.publish_qa(2);
    let event = next_event(&events, "qa-system-prompt");
    assert_eq!((event["version"].clone(), event["previous"].clone()), (json!(2), json!(1)));
    conforms("ActivationEvent", &event);
    assert_eq!(serve.get("/v1/prompts/qa-system-prompt").json()["version"], 2);

    // Admin: the token, in constant time; failures counted and logged without the token.
    let history = "/v1/prompts/qa-system-prompt/history";
    assert_eq!(serve.get(history).status, 401);
    let auth = format!("Bearer {WRONG}");
    assert_eq!(request(serve.port, "GET", history, &[("Authorization", &auth)], "").status, 401);
    let good = format!("Bearer {TOKEN}");
    let rollback = request(
        serve.port,
        "POST",
        "/v1/prompts/qa-system-prompt/rollback",
        &[("Authorization", &good)],
        &json!({"to": 1, "reason": "v2 answers too long"}).to_string(),
    );
    assert_eq!(rollback.status, 200, "{}", rollback.body);
    assert_eq!(rollback.json()["actor"], "ops-bot");
    conforms("RolledBack", &rollback.json());
    let event = next_event(&events, "qa-system-prompt");
    assert_eq!((event["version"].clone(), event["previous"].clone()), (json!(1), json!(2)));
    let read = request(serve.port, "GET", history, &[("Authorization", &good)], "");
    assert_eq!(read.status, 200, "{}", read.body);
    conforms("History", &read.json());
    let newest = &read.json()["activations"][0];
    assert_eq!(
        (&newest["action"], &newest["actor"], &newest["reason"], &newest["version"]),
        (&json!("rollback"), &json!("ops-bot"), &json!("v2 answers too long"), &json!(1))
    );
    // The CLI's history shows the same audited rollback.
    let cli =
        ok(promptctl(project.path(), &["history", "--env", "production", "qa-system-prompt"]));
    assert!(
        cli.stdout.contains("ops-bot") && cli.stdout.contains("v2 answers too long"),
        "{}",
        cli.stdout
    );

    let metrics = serve.get("/metrics").body;
    for line in [
        "promptctl_serve_admin_auth_failures_total 2",
        "promptctl_serve_requests_total{route=\"/v1/prompts/{name}/render\",status=\"422\"} 4",
        "promptctl_runtime_hits_total{tier=\"redis\"}",
        "promptctl_runtime_subscribed 1",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("admin request refused"), "{logged}");
    assert!(!logged.contains(WRONG) && !logged.contains(TOKEN), "{logged}");
}

#[test]
fn health_is_503_while_no_tier_answers_and_admin_is_off_without_a_token() {
    let project = Project::new(
        "postgres://nobody:pw-never-shown@127.0.0.1:1/none",
        "redis://:redis-pw-never-shown@127.0.0.1:1/",
        "p:",
    );
    let log = project.path().join("serve.log");
    let serve = Serve::start(project.path(), &log, &["--env", "production"], &[]);
    // The embedded texts serve; the health says the store cannot be followed.
    let prompt = serve.get("/v1/prompts/qa-system-prompt");
    assert_eq!((prompt.status, prompt.json()["tier"].clone()), (200, json!("embedded")));
    wait("a tier to be reported down", || {
        serve.get("/health").json()["tiers"]["redis"]["status"] == "down"
    });
    let health = serve.get("/health");
    assert_eq!(health.status, 503, "{}", health.body);
    assert_eq!(health.json()["tiers"]["db"]["status"], "down", "{}", health.body);
    assert_eq!(serve.get("/v1/prompts/qa-system-prompt/history").status, 404);
    let rollback =
        serve.post("/v1/prompts/qa-system-prompt/rollback", &json!({"to": 1, "reason": "x"}));
    assert_eq!(rollback.status, 404);
    // The operations page is off without `--ui`.
    assert_eq!(serve.get("/ui").status, 404);
    assert_eq!(serve.get("/ui/app.js").status, 404);
    let metrics = serve.get("/metrics").body;
    assert!(metrics.contains("promptctl_runtime_tier_up{tier=\"redis\"} 0"), "{metrics}");
    let logged = std::fs::read_to_string(&log).unwrap();
    for output in [&health.body, &metrics, &logged] {
        assert!(!output.contains("never-shown"), "a password in:\n{output}");
    }
}

#[test]
fn sigterm_finishes_the_request_in_flight() {
    let project = Project::new("postgres://nobody@127.0.0.1:1/none", "redis://127.0.0.1:1/", "p:");
    let log = project.path().join("serve.log");
    // A long shutdown timeout: the process exits before it only when every connection closed,
    // the watch stream's included.
    let mut serve = Serve::start(
        project.path(),
        &log,
        &["--env", "production", "--shutdown-timeout-ms", "600000"],
        &[],
    );
    let events = watch(serve.port);
    let body = json!({"vars": {"game_name": "Chess"}}).to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "POST /v1/prompts/qa-system-prompt/render HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..5]
    )
    .unwrap();
    stream.flush().unwrap();
    // The request is in flight (its body half sent) when SIGTERM arrives.
    wait("the request to be counted in flight", || {
        request(serve.port, "GET", "/metrics", &[], "")
            .body
            .contains("promptctl_serve_connections 3")
    });
    serve.terminate();
    wait("the listener to close", || TcpStream::connect(("127.0.0.1", serve.port)).is_err());
    stream.write_all(&body.as_bytes()[5..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let reply = parse(&response).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.json()["text"].as_str().unwrap().contains("assistant for Chess."));
    // The watch stream ended (its reader saw the end and dropped its sender).
    assert_eq!(
        events.recv_timeout(Duration::from_secs(60)),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    let status = serve.child.0.wait().unwrap();
    assert!(status.success(), "{status:?}: {}", std::fs::read_to_string(&log).unwrap());
}

#[test]
fn limits_close_extra_connections_time_out_slow_requests_and_cap_rendered_text() {
    let project = Project::new("postgres://nobody@127.0.0.1:1/none", "redis://127.0.0.1:1/", "p:");
    let log = project.path().join("serve.log");
    let serve = Serve::start(
        project.path(),
        &log,
        &[
            "--env",
            "production",
            "--max-connections",
            "1",
            "--request-timeout-ms",
            "3000",
            "--max-rendered-bytes",
            "100",
        ],
        &[],
    );
    // The rendered text of qa-system-prompt is over 100 bytes: refused, not cut.
    // With one connection allowed, the previous one may not be released yet: retry until served.
    let retrying = |method: &str, path: &str, body: &str| {
        let mut reply = None;
        wait("a connection to be served", || {
            reply = try_request(serve.port, method, path, &[], body).ok();
            reply.is_some()
        });
        reply.unwrap()
    };
    let vars = json!({"vars": {"game_name": "Go"}}).to_string();
    let large = retrying("POST", "/v1/prompts/qa-system-prompt/render", &vars);
    assert_eq!((large.status, large.json()["code"].clone()), (422, json!("rendered-too-large")));
    assert!(!large.body.contains("MeepleAI"), "{}", large.body);
    // While one connection is open (accepted first: the listener accepts in order), a second is
    // closed at once, without an answer.
    let mut held = None;
    wait("a kept-alive connection to be served", || {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", serve.port)) else { return false };
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        if write!(stream, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
            return false;
        }
        // The answer's head is enough: the connection is being served, so it holds the permit.
        let mut head = [0u8; 9];
        let served = stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 ";
        held = served.then_some(stream);
        served
    });
    let mut extra = TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let _ = write!(extra, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut answer = Vec::new();
    let _ = extra.read_to_end(&mut answer);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    drop(held);
    wait("the held connection to be released", || {
        try_request(serve.port, "GET", "/v1/prompts", &[], "")
            .is_ok_and(|reply| reply.status == 200)
    });
    // A request whose body never completes is answered 503 at the request timeout.
    let mut head = [0u8; 12];
    wait("a slow request to be answered", || {
        let Ok(mut slow) = TcpStream::connect(("127.0.0.1", serve.port)) else { return false };
        slow.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let sent = write!(
            slow,
            "POST /v1/prompts/qa-system-prompt/render HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{{\"vars\""
        );
        // A reset: the previous connection was not released yet.
        sent.is_ok() && slow.read_exact(&mut head).is_ok()
    });
    assert_eq!(&head, b"HTTP/1.1 503");
    wait("the slow connection to be released", || {
        try_request(serve.port, "GET", "/v1/prompts", &[], "")
            .is_ok_and(|reply| reply.status == 200)
    });
    let metrics = retrying("GET", "/metrics", "").body;
    let rejected = metrics
        .lines()
        .find_map(|line| line.strip_prefix("promptctl_serve_rejected_connections_total "))
        .and_then(|value| value.parse::<u64>().ok())
        .expect("the rejected connections");
    assert!(rejected >= 1, "{metrics}");
    assert!(metrics.contains("route=\"/v1/prompts/{name}/render\",status=\"503\""), "{metrics}");
}
