//! `promptctl eval` end to end against a local server that speaks OpenAI's documented wire format
//! (chat completions and embeddings, over real HTTP on loopback): the answers, a judge and a
//! similarity assertion graded, the local cache, `--record` into the repository, `--offline`
//! replay and its `not recorded` status, `--budget`, a failing assertion, `--base` with the
//! before/after table, `review --eval`, and the API key in no output or file.

use crate::support::{run_isolated, Repo, Run};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const KEY: &str = "sk-test-8f1c2d9e7a6b5c4d3e2f1a0b";

/// A tiny OpenAI-compatible server: a rules assistant that knows chess, a judge that passes
/// answers naming the king, and bag-of-words embeddings.
struct Server {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || serve(stream, &counter));
            }
        });
        Server { port, requests }
    }

    fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, counter: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        let mut authorized = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorized = value.trim() == format!("Bearer {KEY}"),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        counter.fetch_add(1, Ordering::SeqCst);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let (status, answer) = if !authorized {
            (401, serde_json::json!({"error": {"message": "no key"}}))
        } else if request_line.starts_with("POST /v1/chat/completions") {
            (200, chat(&body))
        } else if request_line.starts_with("POST /v1/embeddings") {
            (200, embeddings(&body))
        } else {
            (404, serde_json::json!({"error": {"message": "not found"}}))
        };
        let text = answer.to_string();
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            text.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|_| writer.write_all(text.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

fn chat(body: &serde_json::Value) -> serde_json::Value {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let text_of = |role: &str| {
        messages
            .iter()
            .filter(|m| m["role"] == role)
            .filter_map(|m| m["content"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (system, user) = (text_of("system"), text_of("user"));
    let content = if user.starts_with("You grade an answer") {
        let passed = user.contains("king");
        serde_json::json!({"pass": passed, "score": if passed { 0.9 } else { 0.1 }, "reason": "checked the king"})
            .to_string()
    } else if system.contains("Chess") && !system.contains("refuse") {
        "The king moves two squares towards a rook, then the rook crosses over it.".to_string()
    } else {
        "I can't find that in the rulebook.".to_string()
    };
    let words = |text: &str| text.split_whitespace().count();
    serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": words(&system) + words(&user), "completion_tokens": words(&content), "total_tokens": 0},
    })
}

fn embeddings(body: &serde_json::Value) -> serde_json::Value {
    let inputs: Vec<String> = match &body["input"] {
        serde_json::Value::Array(items) => {
            items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect()
        }
        serde_json::Value::String(text) => vec![text.clone()],
        _ => Vec::new(),
    };
    let data: Vec<serde_json::Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let mut vector = vec![0.0f64; 16];
            for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                let hash =
                    word.to_lowercase().bytes().fold(7u32, |h, b| h.wrapping_mul(31) ^ b as u32);
                vector[(hash % 16) as usize] += 1.0;
            }
            serde_json::json!({"object": "embedding", "index": index, "embedding": vector})
        })
        .collect();
    serde_json::json!({"object": "list", "data": data, "usage": {"prompt_tokens": 8, "total_tokens": 8}})
}

fn config(port: u16) -> String {
    format!(
        r#"prompts_dir = "prompts"
lock_file = "prompts.lock"

[environments.production]
[environments.staging]

[models.mini]
provider = "openai"
model = "gpt-4o-mini"
base_url = "http://127.0.0.1:{port}/v1"
api_key_env = "EVAL_TEST_KEY"
parameters = {{ temperature = 0, max_tokens = 200 }}
price = {{ input = 0.15, output = 0.60 }}
max_concurrency = 2

[models.embed]
provider = "openai"
model = "text-embedding-3-small"
base_url = "http://127.0.0.1:{port}/v1"
api_key_env = "EVAL_TEST_KEY"
price = {{ input = 0.02, output = 0 }}

[eval]
judge_model = "mini"
embedding_model = "embed"
"#
    )
}

const RULES_MANIFEST: &str = r#"description = "Answers rules questions"

[activate]
production = 1

[[test]]
name = "chess"
vars = { game = "Chess" }
contains = ["Chess"]

[[eval]]
name = "castling"
model = "mini"
test = "chess"
input = "How does castling work?"
repeat = 2
assert = [
  { contains = "king" },
  { regex = "(?i)\\brook\\b" },
  { max_chars = 500 },
  { similar_to = "The king moves two squares towards a rook.", min = 0.6 },
  { judge = "Names the king" },
  { cost = 0.01 },
  { latency_ms = 60000 },
]

[[eval]]
name = "questions"
model = "mini"
dataset = "evals/questions.jsonl"
assert = [{ not_contains = "I can't find", pass_rate = 0.5 }]
"#;

const RULES_V1: &str =
    "+++\nvariables.game = { type = \"string\" }\n+++\nYou answer questions about the rules of {{game}}.\n";

const JUDGE_MANIFEST: &str = r#"description = "Grades an answer against a rubric"

[[test]]
name = "grades"
vars = { rubric = "Polite", output = "Hello" }
contains = ["Rubric: Polite"]
"#;

const JUDGE_V1: &str = "+++\nvariables.rubric = { type = \"string\" }\nvariables.output = { type = \"string\" }\n+++\nYou grade an answer.\nRubric: {{rubric}}\nAnswer: {{output}}\nReply with a JSON object {\"pass\": true or false, \"score\": 0 to 1, \"reason\": \"…\"}.\n";

fn project(port: u16) -> Repo {
    let repo = Repo::new(&[] as &[(&str, &str)]);
    repo.write("promptctl.toml", &config(port));
    repo.write("prompts/rules/prompt.toml", RULES_MANIFEST);
    repo.write("prompts/rules/v1.prompt", RULES_V1);
    repo.write(
        "prompts/rules/evals/questions.jsonl",
        "{\"vars\": {\"game\": \"Chess\"}, \"input\": \"Can the king castle out of check?\"}\n{\"vars\": {\"game\": \"Go\"}, \"input\": \"What is ko?\"}\n",
    );
    repo.write("prompts/eval-judge/prompt.toml", JUDGE_MANIFEST);
    repo.write("prompts/eval-judge/v1.prompt", JUDGE_V1);
    repo
}

fn eval(repo: &Repo, args: &[&str]) -> Run {
    let mut all = vec!["eval"];
    all.extend_from_slice(args);
    let run = run_isolated(repo.path(), &all, &[("EVAL_TEST_KEY", KEY)]);
    assert!(!run.stdout.contains(KEY) && !run.stderr.contains(KEY), "the key was printed");
    run
}

/// Runs git in the project with a fixed identity; fails the test when git does.
fn git(repo: &Repo, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(repo.path())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn recorded_files(repo: &Repo) -> Vec<std::path::PathBuf> {
    let dir = repo.join("prompts/rules/evals/recorded");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|listing| listing.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn eval_calls_grades_caches_records_and_replays_offline() {
    let server = Server::start();
    let repo = project(server.port);

    let first = eval(&repo, &[]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    // castling: 2 answers, 2 embeddings, 2 verdicts; questions: 2 answers.
    assert_eq!(server.count(), 8, "{}", first.stdout);
    for expected in [
        "| rules | castling | v1 | contains \"king\" | 100 % (2/2)",
        "judge \"Names the king\"",
        "similar_to ≥ 0.6",
        "| rules | questions | v1 | not_contains \"I can't find\" | 50 % (1/2)",
    ] {
        assert!(first.stdout.contains(expected), "{expected}\n{}", first.stdout);
    }

    // The same run again: every answer from the local cache, no call.
    let again = eval(&repo, &["--format", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(server.count(), 8);
    let report: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    crate::support::assert_schema_valid("eval-report.schema.json", &report);
    let castling = &report["evals"][0];
    assert_eq!(castling["eval"], "castling");
    assert_eq!(castling["answered"], 2);
    let judge = castling["asserts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["assertion"].as_str().unwrap().starts_with("judge"))
        .unwrap();
    assert_eq!(judge["mean_score"], 0.9);
    let similar = castling["asserts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["assertion"].as_str().unwrap().starts_with("similar_to"))
        .unwrap();
    assert!(similar["mean_score"].as_f64().unwrap() > 0.6, "{similar}");
    assert_eq!(report["spent"], 0.0);

    // --record writes the answers into the repository; offline, they replay without the local
    // cache, the key or the server.
    let record = eval(&repo, &["--record"]);
    assert_eq!(record.code, 0, "{}", record.stderr);
    let files = recorded_files(&repo);
    assert_eq!(files.len(), 8, "{files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.contains(KEY), "{}", file.display());
        let entry: serde_json::Value = serde_json::from_str(&text).unwrap();
        crate::support::assert_schema_valid("eval-recorded.schema.json", &entry);
    }
    std::fs::remove_dir_all(repo.join(".promptctl/cache/eval")).unwrap();
    let offline = run_isolated(repo.path(), &["eval", "--offline"], &[]);
    assert_eq!(offline.code, 0, "{}\n{}", offline.stdout, offline.stderr);
    assert_eq!(
        offline.stdout,
        first.stdout.replace(&spent_line(&first.stdout), &spent_line(&offline.stdout))
    );
    assert_eq!(server.count(), 8);

    // A changed prompt asks something else: offline, its answers are not recorded (exit 5).
    repo.write("prompts/rules/v2.prompt", &RULES_V1.replace("You answer", "You kindly answer"));
    let changed = run_isolated(repo.path(), &["eval", "--offline", "--version", "2"], &[]);
    assert_eq!(changed.code, 5, "{}\n{}", changed.stdout, changed.stderr);
    assert!(changed.stdout.contains("not recorded"), "{}", changed.stdout);
    assert_eq!(server.count(), 8);

    // A budget smaller than one call's worst case: nothing is called, exit 2.
    let poor = eval(&repo, &["--version", "2", "--budget", "0.00001"]);
    assert_eq!(poor.code, 2, "{}\n{}", poor.stdout, poor.stderr);
    assert!(poor.stdout.contains("the budget stopped the run"), "{}", poor.stdout);
    assert_eq!(server.count(), 8);

    // Without the key, a call fails with the variable's name (exit 2); replayed answers need none.
    let keyless = run_isolated(repo.path(), &["eval", "--version", "2"], &[]);
    assert_eq!(keyless.code, 2, "{}\n{}", keyless.stdout, keyless.stderr);
    assert!(keyless.stdout.contains("EVAL_TEST_KEY"), "{}", keyless.stdout);
    assert!(keyless.stderr.contains("model call(s) failed"), "{}", keyless.stderr);

    // A committed answer that was edited is an error naming the file (check's, before any
    // replay), not a silent miss.
    let edited = &files[0];
    let text = std::fs::read_to_string(edited).unwrap();
    std::fs::write(edited, text.replacen("\"repetition\": ", "\"repetition\": 1", 1)).unwrap();
    let broken = run_isolated(repo.path(), &["eval", "--offline", "--version", "1"], &[]);
    assert_eq!(broken.code, 1, "{}\n{}", broken.stdout, broken.stderr);
    let name = edited.file_name().unwrap().to_string_lossy();
    assert!(broken.stderr.contains(&*name), "{}", broken.stderr);
    assert!(broken.stderr.contains("error[eval/recorded]"), "{}", broken.stderr);
    assert!(broken.stderr.contains("edited or renamed"), "{}", broken.stderr);
}

fn spent_line(stdout: &str) -> String {
    stdout.lines().find(|l| l.starts_with("Spent ")).unwrap_or_default().to_string()
}

#[test]
fn a_required_assertion_under_its_pass_rate_fails_the_run() {
    let server = Server::start();
    let repo = project(server.port);
    repo.write(
        "prompts/rules/prompt.toml",
        &RULES_MANIFEST.replace("{ contains = \"king\" },", "{ contains = \"queen\" },"),
    );
    let run = eval(&repo, &["--eval", "castling", "--format", "github"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("::error title=eval rules/castling::contains \"queen\" passed 0 of 2 calls, needs 100 %"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("chess #1: does not contain \"queen\""), "{}", run.stdout);
}

#[test]
fn base_compares_the_served_versions_and_review_shows_the_table() {
    let server = Server::start();
    let repo = project(server.port);
    let git = |args: &[&str]| git(&repo, args);
    repo.write(".gitignore", ".promptctl/\n");
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);
    // The head serves v2, which refuses: the castling answers lose the king.
    repo.write(
        "prompts/rules/v2.prompt",
        &RULES_V1
            .replace("You answer questions about the rules of", "You refuse every question about"),
    );
    repo.write(
        "prompts/rules/prompt.toml",
        &RULES_MANIFEST.replace("production = 1", "production = 2"),
    );
    let out = repo.join("eval.json");
    let run =
        eval(&repo, &["--base", "HEAD", "--eval", "castling", "--out", out.to_str().unwrap()]);
    // The head's answers fail a required assertion: exit 1.
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("**Model evaluation** (base `HEAD` → head)"), "{}", run.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    crate::support::assert_schema_valid("eval-report.schema.json", &report);
    let sides: Vec<(&str, u64)> = report["evals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["side"].as_str().unwrap(), e["version"].as_u64().unwrap()))
        .collect();
    assert_eq!(sides, [("base", 1), ("head", 2)]);
    let review = run_isolated(
        repo.path(),
        &["review", "--base", "HEAD", "--eval", out.to_str().unwrap()],
        &[],
    );
    assert_eq!(review.code, 0, "{}", review.stderr);
    assert!(
        review.stdout.contains("**Model evaluation** (base `HEAD` → head)"),
        "{}",
        review.stdout
    );
    assert!(
        review
            .stdout
            .contains("| rules | castling | contains \"king\" | v1: 100 % | v2: 0 % | -100 pp |"),
        "{}",
        review.stdout
    );
}

/// This repository's own evals have no recorded answers (none are committed without a real model
/// run): offline, every one is reported `not recorded`, with exit 5, not passed.
#[test]
fn this_repositorys_evals_are_not_recorded_offline() {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = Repo::new(&[] as &[(&str, &str)]);
    for folder in ["prompts", "legacy"] {
        test_support::copy_tree(&source.join(folder), &repo.join(folder)).expect("copy");
    }
    std::fs::copy(source.join("prompts.lock"), repo.join("prompts.lock")).unwrap();
    std::fs::copy(source.join("promptctl.toml"), repo.join("promptctl.toml")).unwrap();
    let run = run_isolated(repo.path(), &["eval", "--offline", "--format", "json"], &[]);
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    crate::support::assert_schema_valid("eval-report.schema.json", &report);
    let evals = report["evals"].as_array().unwrap();
    assert!(!evals.is_empty());
    for eval in evals {
        assert_eq!(eval["answered"], 0, "{eval}");
        assert_eq!(eval["not_recorded"], eval["calls"], "{eval}");
        for assertion in eval["asserts"].as_array().unwrap() {
            assert_eq!(assertion["verdict"], "not-recorded", "{assertion}");
        }
    }
}

#[test]
fn errors_elsewhere_do_not_block_a_named_prompt_and_a_refusal_is_machine_readable() {
    let server = Server::start();
    let repo = project(server.port);
    repo.write(
        "prompts/other/prompt.toml",
        "description = \"Another prompt\"\n\n[[eval]]\nname = \"e\"\nmodel = \"nope\"\nvars = { a = \"b\" }\n",
    );
    repo.write(
        "prompts/other/v1.prompt",
        "+++\nvariables.a = { type = \"string\" }\n+++\nHi {{a}}\n",
    );
    let named = eval(&repo, &["rules", "--eval", "castling"]);
    assert_eq!(named.code, 0, "{}\n{}", named.stdout, named.stderr);
    assert!(named.stdout.contains("| rules | castling |"), "{}", named.stdout);

    let all = eval(&repo, &["--format", "json"]);
    assert_eq!(all.code, 1, "{}\n{}", all.stdout, all.stderr);
    let refused: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    assert_eq!(refused["status"], "refused", "{refused}");
    assert_eq!(refused["diagnostics"][0]["code"], "eval/model", "{refused}");
    assert!(
        all.stderr.contains("not evaluating while `check` reports errors in the prompts"),
        "{}",
        all.stderr
    );
    let github = eval(&repo, &["other", "--format", "github"]);
    assert_eq!(github.code, 1);
    assert!(github.stdout.contains("::error file=prompts/other/prompt.toml"), "{}", github.stdout);
    assert!(github.stderr.contains("errors in other (or the judge prompt"), "{}", github.stderr);

    let unknown = eval(&repo, &["rules", "--base", "HEAD", "--env", "prod"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("there is no environment `prod`"), "{}", unknown.stderr);
}

#[test]
fn record_keeps_the_answers_it_did_not_use_unless_told_to_prune() {
    let server = Server::start();
    let repo = project(server.port);
    repo.write("prompts/rules/v2.prompt", &RULES_V1.replace("You answer", "You kindly answer"));
    let v2 = eval(&repo, &["--record", "--version", "2"]);
    assert_eq!(v2.code, 0, "{}\n{}", v2.stdout, v2.stderr);
    let v2_files = recorded_files(&repo);
    assert_eq!(v2_files.len(), 8, "{v2_files:?}");
    // v2 is gone: its answers are used by no eval now, and a plain --record keeps them.
    std::fs::remove_file(repo.join("prompts/rules/v2.prompt")).unwrap();
    let plain = eval(&repo, &["--record"]);
    assert_eq!(plain.code, 0, "{}\n{}", plain.stdout, plain.stderr);
    let all = recorded_files(&repo);
    assert!(v2_files.iter().all(|file| all.contains(file)), "{all:?}");
    assert!(all.len() > 8, "v1's answers were added: {all:?}");
    assert!(plain.stderr.contains("removed 0"), "{}", plain.stderr);
    // --prune keeps only what this run used: v1's 8 answers (judge verdicts and embeddings of
    // the same answers are the same calls for both versions).
    let pruned = eval(&repo, &["--record", "--prune"]);
    assert_eq!(pruned.code, 0, "{}\n{}", pruned.stdout, pruned.stderr);
    assert_eq!(recorded_files(&repo).len(), 8, "{}", pruned.stderr);
    assert!(pruned.stderr.contains(&format!("removed {}", all.len() - 8)), "{}", pruned.stderr);
    let filtered = eval(&repo, &["--record", "--prune", "--eval", "castling"]);
    assert_eq!(filtered.code, 2, "--prune on a filtered run is refused: {}", filtered.stderr);
}

#[test]
fn base_answers_committed_at_the_base_replay_when_the_working_tree_lacks_them() {
    let server = Server::start();
    let repo = project(server.port);
    let git = |args: &[&str]| git(&repo, args);
    let record = eval(&repo, &["--record", "--eval", "castling"]);
    assert_eq!(record.code, 0, "{}\n{}", record.stdout, record.stderr);
    let recorded = recorded_files(&repo);
    assert_eq!(recorded.len(), 6, "{recorded:?}");
    repo.write(".gitignore", ".promptctl/\n");
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base with its recorded answers"]);
    // The head serves v2, and its tree lost the base's answers (and the local cache is gone).
    repo.write("prompts/rules/v2.prompt", &RULES_V1.replace("You answer", "You kindly answer"));
    repo.write(
        "prompts/rules/prompt.toml",
        &RULES_MANIFEST.replace("production = 1", "production = 2"),
    );
    std::fs::remove_dir_all(repo.join("prompts/rules/evals/recorded")).unwrap();
    std::fs::remove_dir_all(repo.join(".promptctl/cache/eval")).unwrap();
    let calls = server.count();
    let offline = run_isolated(
        repo.path(),
        &["eval", "--offline", "--base", "HEAD", "--eval", "castling", "--format", "json"],
        &[],
    );
    assert_eq!(
        offline.code, 5,
        "the head's v2 is not recorded: {}\n{}",
        offline.stdout, offline.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&offline.stdout).unwrap();
    let base = &report["evals"][0];
    assert_eq!((base["side"].as_str(), base["version"].as_u64()), (Some("base"), Some(1)));
    assert_eq!(
        (base["answered"].as_u64(), base["not_recorded"].as_u64()),
        (Some(2), Some(0)),
        "{base}"
    );
    assert_eq!(report["evals"][1]["not_recorded"], 2, "{report}");
    // Recording with --base writes the base's answers back into the working tree, with no call
    // for them.
    let both = eval(&repo, &["--record", "--base", "HEAD", "--eval", "castling"]);
    assert_eq!(both.code, 0, "{}\n{}", both.stdout, both.stderr);
    let now = recorded_files(&repo);
    assert!(recorded.iter().all(|file| now.contains(file)), "{now:?}");
    // Only v2's two answers are asked: the server answers them as it answered v1, so their
    // embeddings and verdicts are the base's calls, replayed from the base commit.
    assert_eq!(server.count() - calls, 2);
}
