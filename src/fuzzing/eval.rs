//! The fuzz targets of `promptctl eval`'s inputs (docs/fuzzing.md): `[[eval]]` entries with
//! their datasets, and a model server's answers.

use super::{check_prompt_with, parts, Config};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// eval_dataset

const JSONL: &str = "prompts/fuzz/evals/cases.jsonl";
const CSV: &str = "prompts/fuzz/evals/cases.csv";

/// A version whose contract has a variable of every type, for the datasets' cases to check
/// against.
const EVAL_VERSION: &str = r#"+++
variables.game = { type = "string", max_len = 200 }
variables.turns = { type = "integer", required = false }
variables.ratio = { type = "number", required = false }
variables.strict = { type = "boolean", required = false }
variables.tags = { type = "array", items = "string", required = false }
variables.player = { type = "object", required = false, fields = { name = { type = "string" } } }
+++
Explain {{game}}.{{#if turns}} {{turns}} turns.{{/if}}{{#each tags}} #{{this}}{{/each}}{{#if player}} For {{player.name}}.{{/if}}
"#;

/// The configuration the eval checks run with: `fuzz_config` and a chat, an embeddings and a
/// judge model.
fn eval_config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        toml::from_str(
            "[environments.production]\n[environments.staging]\n[models.mini]\nprovider = \"openai\"\nmodel = \"m\"\nprice = { input = 1, output = 2 }\n[models.embed]\nprovider = \"gemini\"\nmodel = \"e\"\n[eval]\njudge_model = \"mini\"\nembedding_model = \"embed\"\n",
        )
        .expect("the eval fuzzing configuration parses")
    })
}

/// `[[eval]]` entries and their datasets: the input is a `prompt.toml`, then (after NULs) the
/// texts of `evals/cases.jsonl` and `evals/cases.csv`, which its evals may name. The prompt folder
/// (with a version declaring a variable of every type) is checked as `check` does, under a
/// configuration with models (every case of a dataset an eval names is typed and checked against
/// the version's contract, and rendered); both datasets are also read directly.
pub fn eval_dataset(data: &[u8]) {
    let parts = parts(data, 3);
    let jsonl = parts.get(1).copied().unwrap_or_default();
    let csv = parts.get(2).copied().unwrap_or_default();
    check_prompt_with(
        eval_config(),
        Some(parts[0]),
        EVAL_VERSION.as_bytes(),
        None,
        &[(JSONL, jsonl), (CSV, csv)],
    );
    // Read directly too, whether the manifest names them or not (`check` types and checks the
    // cases of the datasets its evals name against the version's contract).
    for (file, bytes) in [(JSONL, jsonl), (CSV, csv)] {
        if let Ok(text) = std::str::from_utf8(bytes) {
            if let Ok(cases) = crate::syntax::dataset::parse_dataset(file, text) {
                assert!(cases.len() <= text.len() + 1, "more cases than the dataset has bytes");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// eval_answer

/// A model server's answer, read as every provider reads one and graded as the assertions grade
/// it: `eval::provider::fuzz_answer`, where the readers are.
pub fn eval_answer(data: &[u8]) {
    crate::eval::provider::fuzz_answer(data);
}
