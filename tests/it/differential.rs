//! Differential testing (src/differential/): random templates of the supported subset with random
//! data, rendered by promptctl and by another engine.
//!
//! - handlebars.js 4 (`noEscape`, `strict`) under node, installed as the conformance test does: a
//!   fixed seed of a few thousand cases; any difference that neither a portability lint nor an open
//!   difference of docs/portability.md explains fails the test. Without node or npm the comparison
//!   is skipped loudly, or fails under `CI=true`. `cargo xtask differential --cases 100000` runs
//!   the long version.
//! - the `handlebars` crate (handlebars-rust, strict mode, no escaping): the same generator, and a
//!   test for every claim the portability lints make about handlebars-rust.
//!
//! `PROMPTCTL_DIFFERENTIAL_CASES=N` changes the number of cases of both runs.

use std::path::Path;

use promptctl::diagnostic::Code;
use promptctl::differential::{self, Engine, HandlebarsJs, Known, Outcome, Report};
use serde_json::{json, Value};

const SEED: u64 = 1;

fn cases() -> u64 {
    std::env::var("PROMPTCTL_DIFFERENTIAL_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3000)
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every name a run reports as known is a lint code that docs/portability.md lists (or `several`,
/// a case that needs the variants of several).
fn assert_documented(report: &Report) {
    let docs = std::fs::read_to_string(manifest_dir().join("docs/portability.md"))
        .expect("read docs/portability.md");
    for name in report.known.keys() {
        assert!(docs.contains(&format!("`{name}`")), "docs/portability.md does not list `{name}`");
        if name.starts_with("portability/") {
            assert!(Code::parse(name).is_some(), "`{name}` is not a lint code");
        }
    }
}

#[test]
fn handlebars_js_agrees_on_random_templates() {
    let Some(prefix) = crate::support::handlebars_js("differential test") else { return };
    let script = manifest_dir().join("tests/differential/render.js");
    let mut engine = HandlebarsJs::start(&script, &prefix).expect("start node");
    assert!(engine.version.starts_with("4."), "handlebars.js {}", engine.version);
    let report = differential::run(&mut engine, SEED, cases(), 1000, 200, &mut |_| {})
        .expect("the differential run");
    let summary = report.summary(&format!("handlebars.js {}", engine.version));
    eprintln!("{summary}");
    // The generator exercises both sides: most cases render, some fail on both.
    assert!(report.same_output > report.cases / 2, "{summary}");
    assert!(report.both_failed > 0 && report.refused > 0, "{summary}");
    assert_documented(&report);
    assert_eq!(report.unexplained_count(), 0, "unexplained differences:\n{summary}");
}

// ------------------------------------------------------------------------------------------------
// handlebars-rust.

/// The `handlebars` crate, configured as a strict, non-escaping consumer would.
struct HandlebarsRust {
    registry: handlebars::Handlebars<'static>,
}

impl HandlebarsRust {
    fn new() -> HandlebarsRust {
        let mut registry = handlebars::Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        HandlebarsRust { registry }
    }

    fn render(&self, template: &str, vars: &Value) -> Outcome {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.registry.render_template(template, vars)
        }));
        match result {
            Ok(Ok(text)) => Outcome::Rendered(text),
            Ok(Err(error)) => {
                Outcome::Failed(error.to_string().lines().next().unwrap_or_default().into())
            }
            Err(_) => Outcome::Failed("panic".into()),
        }
    }
}

impl Engine for HandlebarsRust {
    fn name(&self) -> &'static str {
        "handlebars-rust"
    }

    fn render(&mut self, cases: &[(String, Value)]) -> Result<Vec<Outcome>, String> {
        Ok(cases
            .iter()
            .map(|(template, vars)| HandlebarsRust::render(self, template, vars))
            .collect())
    }

    fn known(&self) -> &'static [Known] {
        &[Known::NumberFormat, Known::KeyOrder, Known::Length, Known::UnguardedEach]
    }
}

#[track_caller]
fn rust(template: &str, vars: Value) -> Outcome {
    HandlebarsRust::new().render(template, &vars)
}

#[track_caller]
fn ours(template: &str, vars: Value) -> Outcome {
    differential::promptctl(template, &vars)
}

fn rendered(text: &str) -> Outcome {
    Outcome::Rendered(text.into())
}

#[test]
fn handlebars_rust_on_random_templates() {
    let mut engine = HandlebarsRust::new();
    // handlebars-rust differs often (docs/portability.md lists how): minimise a few.
    let report = differential::run(&mut engine, SEED, cases(), 1000, 10, &mut |_| {})
        .expect("the differential run");
    let summary = report.summary("handlebars-rust");
    eprintln!("{summary}");
    assert!(report.same_output > report.cases / 4, "{summary}");
    assert_documented(&report);
}

/// `portability/number-format`: handlebars-rust prints serde_json's form of a number.
#[test]
fn handlebars_rust_number_format() {
    assert_eq!(rust("{{x}}", json!({"x": 1.0})), rendered("1.0"));
    assert_eq!(ours("{{x}}", json!({"x": 1.0})), rendered("1"));
    // serde_json's form: `1e21` before serde_json 1.0.150, `1e+21` since (like JavaScript's);
    // `5e-324` and `1e-7` are the same everywhere, `0.000001` is `1e-6` in serde_json.
    for number in [1e21, 1e-7, 1e-6, 0.1 + 0.2, 123_456_789_012_345_680_000.0] {
        assert_eq!(rust("{{x}}", json!({"x": number})), rendered(&json!(number).to_string()));
    }
    assert_eq!(ours("{{x}}", json!({"x": 1e-6})), rendered("0.000001"));
    assert_eq!(ours("{{x}}", json!({"x": 1e21})), rendered("1e+21"));
    // Integers are the same up to 2^53.
    assert_eq!(rust("{{x}}", json!({"x": 9_007_199_254_740_992u64})), rendered("9007199254740992"));
    assert_eq!(rust("{{x}}", json!({"x": -7})), rendered("-7"));
    let codes = differential::portability_codes("{{x}}", &json!({"x": 1.5}));
    assert!(codes.contains(&Code::PortabilityNumberFormat), "{codes:?}");
}

/// `portability/object-iteration`: handlebars-rust iterates the map as serde_json holds it
/// (here in insertion order, since promptctl builds serde_json with `preserve_order`), where
/// handlebars.js puts integer-like keys first; block parameters bind value, key as in
/// handlebars.js.
#[test]
fn handlebars_rust_object_iteration() {
    let template = "{{#each m}}{{@key}}={{this}} {{/each}}";
    let vars = json!({"m": {"b": 1, "10": 2, "2": 3}});
    assert_eq!(rust(template, vars.clone()), rendered("b=1 10=2 2=3 "));
    assert_eq!(ours(template, vars.clone()), rendered("2=3 10=2 b=1 "));
    let params = "{{#each m as |value key|}}{{key}}={{value}} {{/each}}";
    assert_eq!(rust(params, json!({"m": {"a": 1}})), rendered("a=1 "));
    let codes = differential::portability_codes(template, &vars);
    assert!(codes.contains(&Code::PortabilityObjectIteration), "{codes:?}");
}

/// `portability/length`: handlebars-rust has no `.length` of an array.
#[test]
fn handlebars_rust_length() {
    let vars = json!({"xs": ["a", "b"]});
    assert_eq!(ours("{{xs.length}}", vars.clone()), rendered("2"));
    assert!(rust("{{xs.length}}", vars.clone()).failed(), "{:?}", rust("{{xs.length}}", vars));
    let codes = differential::portability_codes("{{xs.length}}", &json!({"xs": ["a"]}));
    assert!(codes.contains(&Code::PortabilityLength), "{codes:?}");
}

/// `portability/unguarded-each`: in strict mode handlebars-rust fails on a missing value given to
/// `#each` or `#with` without `{{else}}`, and renders the `{{else}}` when there is one.
#[test]
fn handlebars_rust_unguarded_each() {
    for block in ["each", "with"] {
        let bare = format!("{{{{#{block} xs}}}}x{{{{/{block}}}}}");
        assert!(rust(&bare, json!({})).failed(), "{bare}: {:?}", rust(&bare, json!({})));
        assert_eq!(ours(&bare, json!({})), rendered(""));
        let guarded = format!("{{{{#{block} xs}}}}x{{{{else}}}}none{{{{/{block}}}}}");
        assert_eq!(rust(&guarded, json!({})), rendered("none"));
        assert_eq!(ours(&guarded, json!({})), rendered("none"));
    }
}

/// `portability/adjacent-numbers` is about handlebars.js only: handlebars-rust joins the outputs.
/// The guard rule relies on `{{#if missing}}` taking `{{else}}` in strict mode, in both.
#[test]
fn handlebars_rust_adjacent_numbers_and_strict_if() {
    assert_eq!(rust("{{a}}{{b}}", json!({"a": 1, "b": 2})), rendered("12"));
    assert_eq!(ours("{{a}}{{b}}", json!({"a": 1, "b": 2})), rendered("12"));
    let guard = "{{#if x}}{{x}}{{else}}none{{/if}}";
    assert_eq!(rust(guard, json!({})), rendered("none"));
    assert_eq!(ours(guard, json!({})), rendered("none"));
    assert!(rust("{{x}}", json!({})).failed());
}

/// docs/portability.md: `{{else if}}` chains, block parameters and the standalone-line rule render
/// the same in handlebars-rust.
#[test]
fn handlebars_rust_chains_params_and_standalone_lines() {
    for (template, vars) in [
        ("{{#if a}}A{{else if b}}B{{else}}C{{/if}}", json!({"a": false, "b": true})),
        ("{{#each xs as |x i|}}{{i}}:{{x}} {{/each}}", json!({"xs": ["p", "q"]})),
        ("{{#with p as |q|}}{{q.n}}{{/with}}", json!({"p": {"n": "N"}})),
        ("a\n{{#if x}}\n  b\n{{/if}}\nc\n", json!({"x": true})),
        ("a\n  {{#each xs}}\n  - {{this}}\n  {{/each}}\nc", json!({"xs": [1, 2]})),
        ("{{#if x}}\n  yes\n{{else}}\n  no\n{{/if}}\n", json!({"x": false})),
        ("{{lookup xs 1}}|{{xs.[0]}}", json!({"xs": ["a", "b"]})),
    ] {
        assert_eq!(rust(template, vars.clone()), ours(template, vars), "{template:?}");
    }
}
