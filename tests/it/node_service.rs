//! `examples/node-service` (JavaScript, Node's `http` and `fetch`) against a real `promptctl serve`
//! following a real PostgreSQL store and Redis cache (`test-support`): it renders through the
//! sidecar, learns a publish from `GET /v1/watch` (v2 served within 1 s of the publish, the time
//! printed), and when the sidecar is killed keeps serving the same text from the TypeScript
//! registry that `promptctl codegen --lang typescript` generated (compiled with the pinned `tsc`,
//! rendered with handlebars.js), while a client loop counts every failed request: none.

use crate::runtime::{ok, promptctl, Project};
use crate::serve::{try_request, Serve};
use crate::typescript::{node_tools, tsc, work_dir};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use test_support::{free_port, shared_postgres, shared_redis, unique, KillOnDrop};

/// What the issue allows between a publish and the node service serving it.
const BOUND: Duration = Duration::from_secs(1);

/// Every field the application has; each version takes the ones its contract declares.
fn data() -> Value {
    json!({"game_name": "Chess", "answer_style": "concise", "context": "[Setup §1] White moves first."})
}

/// One answer of the node service, as the client loop saw it.
#[derive(Debug, Clone)]
struct Answer {
    sent: Instant,
    received: Instant,
    result: Result<(u16, Value), String>,
}

impl Answer {
    fn ok(&self) -> Option<&Value> {
        match &self.result {
            Ok((200, body)) => Some(body),
            _ => None,
        }
    }
}

fn ask(port: u16) -> Answer {
    let sent = Instant::now();
    let body = data().to_string();
    let result =
        try_request(port, "POST", "/render/qa-system-prompt", &[], &body).and_then(|reply| {
            serde_json::from_str(&reply.body)
                .map(|json| (reply.status, json))
                .map_err(|e| format!("{e}: {}", reply.body))
        });
    Answer { sent, received: Instant::now(), result }
}

#[test]
fn node_service_follows_the_sidecar_and_falls_back_to_the_typescript_registry() {
    let Some(tools) = node_tools("node service test") else { return };
    let (Some(redis), Some(postgres)) = (shared_redis(), shared_postgres()) else { return };
    let prefix = format!("{}:", unique("node"));
    let project = Project::new(&postgres.database(), &redis.url(), &prefix);
    project.publish_qa(1);
    let log = project.path().join("serve.log");
    let mut serve = Serve::start(project.path(), &log, &["--env", "production"], &[]);
    crate::runtime::wait("the store's text to be served", || {
        serve.get("/v1/prompts/qa-system-prompt").json()["tier"] == "redis"
    });

    // The registry of the project's prompts, compiled with the pinned tsc.
    let work = work_dir(&tools);
    let registry = work.path().join("registry.ts");
    ok(promptctl(
        project.path(),
        &["codegen", "--lang", "typescript", "--out", registry.to_str().unwrap()],
    ));
    let compiled = tsc(&tools, work.path(), &["--strict", "--outDir", "dist", "registry.ts"]);
    assert_eq!(compiled.code, 0, "tsc:\n{}{}", compiled.stdout, compiled.stderr);
    let script = work.path().join("server.mjs");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node-service/server.mjs");
    std::fs::copy(example, &script).expect("copy the example");

    let port = free_port();
    let node_log = work.path().join("node.log");
    let node = Command::new("node")
        .arg(&script)
        .current_dir(work.path())
        .env("SIDECAR_URL", format!("http://127.0.0.1:{}", serve.port))
        .env("PROMPTS_REGISTRY", "dist/registry.js")
        .env("PROMPTS_ENV", "production")
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&node_log).unwrap())
        .stderr(std::fs::File::create(&node_log).unwrap())
        .spawn()
        .expect("run node");
    let mut node = KillOnDrop(node);
    let node_said = || std::fs::read_to_string(&node_log).unwrap_or_default();
    crate::runtime::wait("the node service to render through the sidecar", || {
        if let Ok(Some(status)) = node.0.try_wait() {
            panic!("the node service exited ({status}):\n{}", node_said());
        }
        ask(port).ok().is_some_and(|body| body["source"] == "sidecar" && body["version"] == 1)
    });
    // The sidecar's own render of the same vars, for the texts the node service must give.
    let expected = |version: u32, vars: Value| {
        let reply = serve.post(
            "/v1/prompts/qa-system-prompt/render",
            &json!({"version": version, "vars": vars}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["text"].as_str().unwrap().to_string()
    };
    let v1_text = expected(1, json!({"game_name": "Chess"}));
    let v2_text = expected(2, data());
    assert_ne!(v1_text, v2_text);

    // The client loop, through everything that follows.
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (answers, stop) = (answers.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let answer = ask(port);
                answers.lock().unwrap().push(answer);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    // Publish v2: the node service learns it from the watch stream.
    project.build_qa(2);
    let started = Instant::now();
    ok(promptctl(project.path(), &["publish", "--env", "production"]));
    let published = Instant::now();
    crate::runtime::wait("the node service to serve v2", || {
        answers.lock().unwrap().iter().any(|a| a.ok().is_some_and(|body| body["version"] == 2))
    });
    let first_v2 = answers
        .lock()
        .unwrap()
        .iter()
        .find(|a| a.ok().is_some_and(|body| body["version"] == 2))
        .map(|a| a.received)
        .unwrap();
    // Printed from the start of `promptctl publish` (its process start, store transaction, cache
    // write and notice included); the bound is checked from its return, when the activation is
    // committed (a loaded CI machine can spend most of a second starting the publish itself).
    let latency = first_v2.duration_since(started);
    let after_commit = first_v2.saturating_duration_since(published);
    let relative = if first_v2 >= published {
        format!("{} ms after it returned", (first_v2 - published).as_millis())
    } else {
        format!("{} ms before it returned", (published - first_v2).as_millis())
    };
    println!(
        "node service: v2 served {} ms after `promptctl publish` started ({relative}; bound {} ms)",
        latency.as_millis(),
        BOUND.as_millis()
    );
    assert!(after_commit <= BOUND, "v2 served {after_commit:?} after the publish returned");
    std::thread::sleep(Duration::from_millis(500));

    // The sidecar dies: the registry answers, with the version the watch said and the same text.
    serve.child.0.kill().expect("kill the sidecar");
    serve.child.0.wait().expect("reap the sidecar");
    let killed = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    client.join().expect("the client loop");
    let answers = answers.lock().unwrap().clone();

    let failed: Vec<&Answer> = answers.iter().filter(|a| a.ok().is_none()).collect();
    assert!(failed.is_empty(), "failed requests: {failed:#?}\nnode service:\n{}", node_said());
    let bodies = |from: Instant, to: Instant| -> Vec<&Value> {
        answers
            .iter()
            .filter(|a| a.sent >= from && a.received <= to)
            .filter_map(Answer::ok)
            .collect()
    };
    let before = bodies(answers[0].sent, started);
    let between = bodies(first_v2, killed);
    let after = bodies(killed, Instant::now());
    println!(
        "node service: {} requests, 0 failed ({} on v1 before the publish, {} on v2 through the sidecar, {} after the sidecar was killed)",
        answers.len(),
        before.len(),
        between.len(),
        after.len()
    );
    assert!(before.len() >= 5 && between.len() >= 5 && after.len() >= 20, "too few requests");
    for body in &before {
        assert_eq!((&body["version"], &body["source"]), (&json!(1), &json!("sidecar")), "{body}");
        assert_eq!(body["text"].as_str(), Some(v1_text.as_str()));
    }
    // Once v2 is served, v1 never comes back.
    for body in &between {
        assert_eq!((&body["version"], &body["source"]), (&json!(2), &json!("sidecar")), "{body}");
        assert_eq!(body["text"].as_str(), Some(v2_text.as_str()));
    }
    // The sidecar is gone: every answer is the registry's, with the version the watch said and
    // the text the sidecar rendered for it.
    for body in &after {
        assert_eq!((&body["version"], &body["source"]), (&json!(2), &json!("registry")), "{body}");
        assert_eq!(body["text"].as_str(), Some(v2_text.as_str()), "the registry renders as serve");
    }
    let said = node_said();
    assert!(said.contains("rendering from the registry"), "{said}");
    let _ = node.0.kill();
}
