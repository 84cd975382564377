//! Fuzz entry points (docs/fuzzing.md): one function per target of `fuzz/`, each taking arbitrary
//! bytes and driving the library the way the command line does with a file of those bytes. None
//! may panic, abort, hang or exhaust memory on any input; errors and diagnostics are answers.
//! Besides "no crash", some targets assert what must hold between two paths that read the same
//! text (`quick_differential`, `lock`, `review_lock`).
//!
//! Inputs made of several texts separate them with a NUL byte (`\0`), which none of the files read
//! here can usefully hold. The same functions are replayed on the stable toolchain by
//! `tests/it/fuzz_replay.rs` over every kept input of `fuzz/corpus/` and `fuzz/regressions/`.
//!
//! Nothing here recurses on the input's structure: any stack depth spent is the library's.

use crate::check;
use crate::config::{self, Config};
use crate::diagnostic::Diagnostic;
use crate::lock::{self, Lock};
use crate::source::{PromptFiles, SeedSource, SourceFile};
use crate::syntax::prompt::{self, Extract, Unescape};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::OnceLock;

mod eval;
pub use eval::{eval_answer, eval_dataset};

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and corpus folders.
pub const TARGETS: &[&str] = &[
    "template",
    "front_matter",
    "quick_differential",
    "config",
    "lock",
    "bundle",
    "cache_entry",
    "seed",
    "review_lock",
    "secret_rules",
    "eval_dataset",
    "eval_answer",
];

/// Runs the target named `target` on `data`; `false` for an unknown name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "template" => template(data),
        "front_matter" => front_matter(data),
        "quick_differential" => quick_differential(data),
        "config" => config(data),
        "lock" => lock(data),
        "bundle" => bundle(data),
        "cache_entry" => cache_entry(data),
        "seed" => seed(data),
        "review_lock" => review_lock(data),
        "secret_rules" => secret_rules(data),
        "eval_dataset" => eval_dataset(data),
        "eval_answer" => eval_answer(data),
        _ => return false,
    }
    true
}

/// The stack size of rayon's worker threads (the standard library's default), on which `check`
/// and `build` parse and render each prompt: the smallest stack the command line gives them.
pub const STACK_SIZE: usize = 2 * 1024 * 1024;

/// Runs `target` on a new thread with `STACK_SIZE` of stack, as a rayon worker would, so that a
/// recursion too deep for the command line is too deep here too (a stack overflow aborts the
/// process; it is not caught). A panic is raised again on the calling thread.
pub fn on_worker_stack(target: impl FnOnce() + Send) {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("fuzz-target".into())
            .stack_size(STACK_SIZE)
            .spawn_scoped(scope, target)
            .expect("a thread for the target");
        if let Err(panic) = thread.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

/// The parts of an input separated by NUL bytes, at most `n` (the last keeps any further NULs).
fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |&byte| byte == 0).collect()
}

const PROMPT_DIR: &str = "prompts/fuzz";
const MANIFEST: &str = "prompts/fuzz/prompt.toml";
const VERSION: &str = "prompts/fuzz/v1.prompt";
const LEGACY: &str = "legacy/fuzz.txt";
const LOCK_FILE: &str = "prompts.lock";

/// The configuration the checks run with: two environments, the default limits.
fn fuzz_config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        toml::from_str("[environments.production]\n[environments.staging]\n")
            .expect("the fuzzing configuration parses")
    })
}

/// `check` of one prompt folder held in memory, then `build`'s catalog of it, then every
/// diagnostic rendered as the human and JSON outputs do.
fn check_prompt(manifest: Option<&[u8]>, version: &[u8], legacy: Option<&[u8]>) {
    check_prompt_with(fuzz_config(), manifest, version, legacy, &[]);
}

/// `check_prompt` under `config`, with `evals` (path, bytes) as the files of `evals/`.
fn check_prompt_with(
    config: &Config,
    manifest: Option<&[u8]>,
    version: &[u8],
    legacy: Option<&[u8]>,
    evals: &[(&str, &[u8])],
) {
    let files = PromptFiles {
        name: "fuzz".into(),
        dir: PROMPT_DIR.into(),
        manifest: manifest.map(|bytes| SourceFile::new(MANIFEST.into(), bytes.to_vec())),
        versions: vec![(1, SourceFile::new(VERSION.into(), version.to_vec()))],
        snapshots: Vec::new(),
        evals: evals
            .iter()
            .map(|(path, bytes)| SourceFile::new((*path).to_string(), bytes.to_vec()))
            .collect(),
        recorded: Vec::new(),
        seed: legacy.map(|bytes| SeedSource::Read(SourceFile::new(LEGACY.into(), bytes.to_vec()))),
        diagnostics: Vec::new(),
        unreadable: false,
        extras: Vec::new(),
    };
    let outcome =
        check::prompt(config, &Lock::default(), LOCK_FILE, &files, check::Options::default());
    let catalog = crate::catalog::catalog(config, std::slice::from_ref(&files));
    drop(catalog);
    let text_of = |file: &str| -> Option<&[u8]> {
        match file {
            MANIFEST => manifest,
            VERSION => Some(version),
            LEGACY => legacy,
            _ => evals.iter().find(|(path, _)| *path == file).map(|(_, bytes)| *bytes),
        }
    };
    render_diagnostics(&outcome.diagnostics, |file| {
        text_of(file).and_then(|bytes| std::str::from_utf8(bytes).ok())
    });
}

/// Renders diagnostics as `check` prints them (the quoted text with secrets blanked out).
fn render_diagnostics<'a>(diagnostics: &[Diagnostic], text_of: impl Fn(&str) -> Option<&'a str>) {
    for diagnostic in diagnostics {
        let text = text_of(&diagnostic.file).map(check::security::redact);
        let _ = crate::report::human(diagnostic, text.as_deref(), false);
    }
    let _ = crate::report::json(diagnostics);
}

// ---------------------------------------------------------------------------------------------
// template

/// Words that are not variables in a template.
const KEYWORDS: &[&str] = &[
    "if",
    "unless",
    "each",
    "with",
    "else",
    "this",
    "lookup",
    "log",
    "true",
    "false",
    "null",
    "undefined",
    "as",
];

/// The template lexer, parser and renderer. The input is a template body, optionally followed by
/// a NUL and JSON vars. The body is parsed, then rendered with those vars, with no vars, and with
/// vars made up from the words of the body (so that strict rendering gets past its first lookup);
/// then it is checked as the body of a version declaring those vars, with a test rendering them.
pub fn template(data: &[u8]) {
    let parts = parts(data, 2);
    let Ok(body) = std::str::from_utf8(parts[0]) else { return };
    let words = words(body);
    let vars = made_up_vars(&words);
    if let Ok(compiled) = crate::render::Compiled::new(body) {
        let _ = compiled.render(&vars);
        let _ = compiled.render(&Value::Object(Default::default()));
        if let Some(json) =
            parts.get(1).and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
        {
            let _ = crate::render::render(&compiled.template, body, &json);
        }
    }
    let mut front = String::new();
    for (name, value) in vars.as_object().into_iter().flatten() {
        front.push_str(&format!("variables.{name} = {}\n", spec_of(value)));
    }
    let version = format!("+++\n{front}+++\n{body}");
    let manifest = manifest_with_test(&vars);
    check_prompt(Some(manifest.as_bytes()), version.as_bytes(), None);
}

/// Up to 6 distinct identifiers of the text, in order of appearance.
fn words(text: &str) -> Vec<&str> {
    let mut found: Vec<&str> = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() && found.len() < 6 {
        if bytes[at].is_ascii_alphabetic() || bytes[at] == b'_' {
            let start = at;
            while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                at += 1;
            }
            let word = &text[start..at];
            if !KEYWORDS.contains(&word) && !found.contains(&word) {
                found.push(word);
            }
        } else {
            at += 1;
        }
    }
    found
}

/// An object with every word as a key, two levels deep: each word is always the same kind of
/// value (string, integer, boolean, array of two objects, object), a string at the last level.
/// (At most 6 × 4² objects: the render of a random template stays well under a millisecond.)
fn made_up_vars(words: &[&str]) -> Value {
    let mut level = Value::Object(
        words.iter().map(|word| (word.to_string(), Value::String(word.to_string()))).collect(),
    );
    for _ in 0..2 {
        let below = level;
        level = Value::Object(
            words
                .iter()
                .map(|word| {
                    let kind =
                        word.bytes().fold(word.len(), |sum, byte| sum + usize::from(byte)) % 5;
                    let value = match kind {
                        0 => Value::String(word.to_string()),
                        1 => Value::from(word.len() as i64 - 3),
                        2 => Value::Bool(word.len() % 2 == 0),
                        3 => Value::Array(vec![below.clone(), below.clone()]),
                        _ => below.clone(),
                    };
                    (word.to_string(), value)
                })
                .collect(),
        );
    }
    level
}

/// The front-matter spec (an inline table) of a made-up value; made-up values are at most three
/// levels deep, so the recursion is bounded by construction.
fn spec_of(value: &Value) -> String {
    match value {
        Value::String(_) => "{ type = \"string\" }".into(),
        Value::Number(_) => "{ type = \"integer\" }".into(),
        Value::Bool(_) => "{ type = \"boolean\" }".into(),
        Value::Array(items) => match items.first() {
            Some(item) => format!("{{ type = \"array\", items = {} }}", spec_of(item)),
            None => "{ type = \"array\", items = \"string\" }".into(),
        },
        Value::Object(fields) => {
            let fields: Vec<String> =
                fields.iter().map(|(name, value)| format!("{name} = {}", spec_of(value))).collect();
            format!("{{ type = \"object\", fields = {{ {} }} }}", fields.join(", "))
        }
        Value::Null => "{ type = \"string\", required = false }".into(),
    }
}

/// A `prompt.toml` with one test rendering `vars` (made up, so without nulls).
fn manifest_with_test(vars: &Value) -> String {
    fn to_toml(value: &Value) -> toml::Value {
        match value {
            Value::String(text) => toml::Value::String(text.clone()),
            Value::Number(number) => toml::Value::Integer(number.as_i64().unwrap_or_default()),
            Value::Bool(flag) => toml::Value::Boolean(*flag),
            Value::Array(items) => toml::Value::Array(items.iter().map(to_toml).collect()),
            Value::Object(fields) => toml::Value::Table(
                fields.iter().map(|(name, value)| (name.clone(), to_toml(value))).collect(),
            ),
            Value::Null => toml::Value::String(String::new()),
        }
    }
    let mut test = toml::Table::new();
    test.insert("name".into(), "made-up vars".into());
    test.insert("vars".into(), to_toml(vars));
    let mut manifest = toml::Table::new();
    manifest.insert("description".into(), "fuzz".into());
    manifest.insert("test".into(), toml::Value::Array(vec![toml::Value::Table(test)]));
    toml::to_string(&manifest).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// front_matter

/// A version file's front matter and a `prompt.toml`: the input is read as both (one of the two
/// fails at once), directly and through `check` of a prompt whose `prompt.toml`, `v1.prompt` and
/// legacy seed file are all the input.
pub fn front_matter(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(split) = prompt::split_front_matter(VERSION, text) {
            let (front, _) = prompt::read_front_matter(
                VERSION,
                text,
                split.front_matter_offset,
                split.front_matter,
            );
            if let Some(front) = front {
                let _ = prompt::resolve_variables(VERSION, text, &front);
            }
        }
        let _ = prompt::read_manifest(MANIFEST, text);
    }
    check_prompt(Some(data), data, Some(data));
}

// ---------------------------------------------------------------------------------------------
// quick_differential

/// The fast front-matter reader (`syntax::quick`) against the general one: whenever the fast path
/// answers, the general path must read the same front matter, spans included, without a problem.
///
/// The general path is reached through the public `read_front_matter` by quoting the first key of
/// the text (`description = …` becomes `"description" = …`): the same TOML, which the fast path
/// declines (it reads bare keys only). Quoting moves what follows by two bytes, which is undone
/// before spans are compared. The input is a front matter, or a version file (from `+++`).
pub fn quick_differential(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (file, offset, front_matter) = match prompt::split_front_matter(VERSION, text) {
        Ok(split) => (text, split.front_matter_offset, split.front_matter),
        Err(_) => (text, 0, text),
    };
    // The general path, which checks itself against the fast path in debug builds.
    let (through_both, _) = prompt::read_front_matter(VERSION, file, offset, front_matter);
    let Some(quick) = crate::syntax::quick::front_matter(front_matter, offset) else { return };
    assert_eq!(through_both.as_ref(), Some(&quick), "read_front_matter returns the fast answer");
    let Some((key_start, key_end)) = first_key(front_matter) else {
        assert_eq!(quick, prompt::FrontMatter::default(), "no key, no front matter");
        return;
    };
    let quoted = format!(
        "{}\"{}\"{}",
        &front_matter[..key_start],
        &front_matter[key_start..key_end],
        &front_matter[key_end..]
    );
    assert!(
        crate::syntax::quick::front_matter(&quoted, offset).is_none(),
        "the fast path declines a quoted key"
    );
    let quoted_file = format!("{}{quoted}", &file[..offset]);
    let (general, problems) = prompt::read_front_matter(VERSION, &quoted_file, offset, &quoted);
    assert!(
        problems.is_empty(),
        "the general path reports problems in what the fast path read: {problems:?}"
    );
    let general = general.expect("the general path reads what the fast path read");
    assert_eq!(quick, general, "the fast and the general path read different front matter");
    // Spans: the fast path's, and the general path's moved back over the two quotes.
    let back = |at: usize| if at >= offset + key_end + 2 { at - 2 } else { at };
    let spans = |front: &prompt::FrontMatter, map: &dyn Fn(usize) -> usize| {
        front
            .variables
            .iter()
            .map(|(name, spec)| {
                let (name, spec) = (name.span(), spec.span());
                (map(name.start)..map(name.end), map(spec.start)..map(spec.end))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(spans(&quick, &|at| at), spans(&general, &back), "the two paths' spans differ");
}

/// The byte range of the first key of a front matter the fast path read: the bare key at the start
/// of the first line that is neither blank nor a comment.
fn first_key(front_matter: &str) -> Option<(usize, usize)> {
    let mut line_start = 0;
    for line in front_matter.split_inclusive('\n') {
        let trimmed = line.trim_start_matches([' ', '\t']);
        let start = line_start + (line.len() - trimmed.len());
        line_start += line.len();
        let length = trimmed
            .bytes()
            .take_while(|byte| byte.is_ascii_alphanumeric() || *byte == b'_' || *byte == b'-')
            .count();
        if length > 0 {
            return Some((start, start + length));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// config

/// `promptctl.toml`, read by `config::load` from a folder of its own, as the command line does,
/// then the paths and settings every command derives from it. The folder (one per process) is
/// made and removed around each input, one input at a time.
pub fn config(data: &[u8]) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let root = std::env::temp_dir().join(format!("promptctl-fuzz-config-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("a temporary folder");
    std::fs::write(root.join(config::FILE_NAME), data).expect("the temporary promptctl.toml");
    let loaded = config::load(&root);
    let _ = std::fs::remove_dir_all(&root);
    match loaded {
        Ok(project) => {
            let _ = (project.prompts_path(), project.lock_path());
            for (name, environment) in &project.config.environments {
                let _ = environment.is_protected(name);
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// secret_rules

/// A secret rules file in gitleaks' format (`[security] rules`), then, when it parses, its rules
/// run on a text: the input is the rules file, or the rules file, `\0` and the text (else the
/// rules file scans itself). Asserted: every span found is inside the text, on character
/// boundaries, and `redact` with those rules keeps the text's length.
pub fn secret_rules(data: &[u8]) {
    let parts = parts(data, 2);
    let Ok(rules) = std::str::from_utf8(parts[0]) else { return };
    let text = match parts.get(1) {
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => return,
        },
        None => rules,
    };
    let Ok(set) = check::security::rules::RuleSet::parse(rules) else { return };
    for span in set.spans(text) {
        assert!(span.start < span.end && span.end <= text.len(), "{span:?}");
        assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
    }
}

// ---------------------------------------------------------------------------------------------
// lock

/// `prompts.lock`: `Lock::parse` (its line-by-line fast path for the canonical shape, else TOML),
/// `render`, `lock::check` and the one-pass readers `select` and `select_changes` that the review
/// uses. The input is one lock text, or two (base and head) separated by a NUL.
///
/// Asserted: when the TOML parser also reads the text, `parse` agrees with it; `parse` of what
/// `render` wrote gives the same lock; what `select` and `select_changes` answer is what the
/// whole parse holds for the selected prompts, and they keep every rewritten or removed entry.
pub fn lock(data: &[u8]) {
    let parts = parts(data, 2);
    let Ok(base) = std::str::from_utf8(parts[0]) else { return };
    let head = match parts.get(1) {
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => return,
        },
        None => base,
    };
    let (base_lock, base_problems) = Lock::parse(LOCK_FILE, base);
    let (head_lock, _) = Lock::parse(LOCK_FILE, head);
    render_diagnostics(&base_problems, |_| Some(base));
    if let Ok(mut general) = prompt::parse_toml::<Lock>(LOCK_FILE, base, 0, base) {
        general.entries.sort();
        assert!(base_problems.is_empty());
        assert_eq!(base_lock, general, "the canonical reader and TOML read different locks");
    }
    if base_problems.is_empty() {
        let rendered = base_lock.render();
        let (again, problems) = Lock::parse(LOCK_FILE, &rendered);
        assert!(problems.is_empty(), "a rendered lock does not parse: {problems:?}");
        assert_eq!(again, base_lock, "a rendered lock parses into another lock");
    }
    let names = names_of(&base_lock, &head_lock);
    let versions: Vec<(u32, String, String)> = base_lock
        .entries
        .iter()
        .take(16)
        .map(|entry| {
            (entry.version, format!("{PROMPT_DIR}/v{}.prompt", entry.version), entry.sha256.clone())
        })
        .collect();
    for name in names.iter().take(4) {
        let mut diagnostics = Vec::new();
        let activated: Vec<u32> = versions.iter().map(|(number, _, _)| *number).collect();
        lock::check(
            &base_lock,
            LOCK_FILE,
            PROMPT_DIR,
            name,
            &versions,
            &activated,
            &mut diagnostics,
        );
    }
    if let Some(selected) = lock::select(base, &names) {
        assert_eq!(selected, only(&base_lock, &names), "select differs from the whole lock");
    }
    if let Some((base_selected, head_selected)) = lock::select_changes(base, head, &names) {
        assert_eq!(
            only(&base_selected, &names),
            only(&base_lock, &names),
            "select_changes differs from the whole base lock"
        );
        assert_eq!(
            only(&head_selected, &names),
            only(&head_lock, &names),
            "select_changes differs from the whole head lock"
        );
        assert_eq!(
            rewrites(&base_selected, &head_selected),
            rewrites(&base_lock, &head_lock),
            "select_changes loses a rewritten or removed entry"
        );
    }
}

/// Every other prompt name of the two locks (so that some are selected and some not), and one
/// that none has.
fn names_of<'a>(base: &'a Lock, head: &'a Lock) -> BTreeSet<&'a str> {
    let mut all: Vec<&str> =
        base.entries.iter().chain(&head.entries).map(|entry| entry.name.as_str()).collect();
    all.sort_unstable();
    all.dedup();
    let mut names: BTreeSet<&str> = all.into_iter().step_by(2).collect();
    names.insert("no-such-prompt");
    names
}

/// The entries of `lock` for the prompts `names`.
fn only(lock: &Lock, names: &BTreeSet<&str>) -> Lock {
    Lock {
        entries: lock
            .entries
            .iter()
            .filter(|entry| names.contains(entry.name.as_str()))
            .cloned()
            .collect(),
    }
}

/// The base entries that the head rewrites or removes, with what the head has instead.
fn rewrites(base: &Lock, head: &Lock) -> Vec<(lock::Entry, Option<String>)> {
    base.entries
        .iter()
        .filter_map(|entry| match head.get(&entry.name, entry.version) {
            Some(now) if now.sha256 == entry.sha256 => None,
            now => Some((entry.clone(), now.map(|now| now.sha256.clone()))),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// review_lock

/// The review's lock reader, `review::Locks::read`, on a base and a head lock text (separated by a
/// NUL; an empty part is a missing file; one part is the same text on both sides) with some of
/// their prompts changed. Debug builds (the fuzz build keeps debug assertions, and so do the
/// tests) assert inside `read` that it agrees with the whole locks.
pub fn review_lock(data: &[u8]) {
    let parts = parts(data, 2);
    let side = |bytes: &[u8]| -> Result<Option<String>, ()> {
        if bytes.is_empty() {
            return Ok(None);
        }
        std::str::from_utf8(bytes).map(|text| Some(text.to_string())).map_err(|_| ())
    };
    let Ok(base) = side(parts[0]) else { return };
    let head = match parts.get(1) {
        Some(bytes) => match side(bytes) {
            Ok(head) => head,
            Err(()) => return,
        },
        None => base.clone(),
    };
    let parse = |text: &Option<String>| {
        text.as_deref().map_or_else(Lock::default, |text| Lock::parse(LOCK_FILE, text).0)
    };
    let (base_lock, head_lock) = (parse(&base), parse(&head));
    let pairs: Vec<crate::review::Pair> = names_of(&base_lock, &head_lock)
        .into_iter()
        .map(|name| crate::review::Pair { name: name.to_string(), base: None, head: None })
        .collect();
    let _ = crate::review::Locks::read(base.as_deref(), head.as_deref(), &pairs);
    if parts.len() == 1 {
        // The same blob on both sides arrives as the same text.
        let text = base.as_deref();
        let _ = crate::review::Locks::read(text, text, &pairs);
    }
}

// ---------------------------------------------------------------------------------------------
// bundle

/// A key made for fuzzing only (its secret half is below, on purpose): no configuration trusts it.
const FUZZ_SECRET_KEY: &str = "untrusted comment: promptctl secret key 22F022F022F022F0
RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA8CLwIvAi8CJrxr7BhyBkAcM1YvxfbQ8KkB6d3NWbZyp40bMP3If+ihGy9ZP8+0lHb6iTY8YKqNJ4JXed9o5Az1oVoEa2gz4qiB857lZnAhex32/EIwFHR5stU3H3Mj36BVa1vIFNWvI=
";
/// Its public half.
pub const FUZZ_PUBLIC_KEY: &str = "untrusted comment: minisign public key 22F022F022F022F0
RWTwIvAi8CLwIhGy9ZP8+0lHb6iTY8YKqNJ4JXed9o5Az1oVoEa2gz4q
";
/// The time bundles are verified at (2025-06-15).
const NOW: i64 = 1_750_000_000;

fn fuzz_keys() -> &'static (crate::signing::SecretKey, crate::signing::PublicKey) {
    static KEYS: OnceLock<(crate::signing::SecretKey, crate::signing::PublicKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            crate::signing::read_secret_key(FUZZ_SECRET_KEY, None, "fuzz key")
                .expect("the fuzz secret key reads"),
            crate::signing::read_public_key(FUZZ_PUBLIC_KEY, "fuzz key")
                .expect("the fuzz public key reads"),
        )
    })
}

/// Signs `bytes` with the fuzz key as `build` would: the trusted comment names the format, seq and
/// commit the bytes claim (or nothing sensible when they claim none) and their sha256.
pub fn sign_for_fuzzing(bytes: &[u8]) -> String {
    use sha2::Digest;
    let sha256 = hex::encode(sha2::Sha256::digest(bytes));
    let head = memchr::memmem::find(bytes, b",\"prompts\":{").and_then(|end| {
        let mut head = bytes[..end].to_vec();
        head.push(b'}');
        serde_json::from_slice::<crate::bundle::Header>(&head).ok()
    });
    let seq = bytes
        .strip_suffix(b"}")
        .and_then(|rest| {
            let start = memchr::memmem::rfind(rest, b",\"seq\":")? + b",\"seq\":".len();
            std::str::from_utf8(&rest[start..]).ok()?.parse::<u64>().ok()
        })
        .unwrap_or_default();
    let comment = match &head {
        Some(head) => {
            format!("format={} seq={seq} commit={} sha256={sha256}", head.format, head.git_commit)
        }
        None => format!("format= seq={seq} commit= sha256={sha256}"),
    };
    let comment = comment.replace(['\n', '\r'], " ");
    crate::signing::sign(&fuzz_keys().0, bytes, &comment, crate::bundle::UNTRUSTED_COMMENT)
}

/// `bundle::authenticate` and `bundle::verify`, trusting the fuzz key. The input is a bundle's
/// bytes, optionally followed by a NUL and a signature file's text. With a signature, that is
/// checked (and will rarely pass); always, the bytes are also signed here with the fuzz key as
/// `build` would sign them, so that everything after the signature is reached: the layout, the
/// header, expiry and each prompt's checks.
pub fn bundle(data: &[u8]) {
    let parts = parts(data, 2);
    let bytes = parts[0];
    let trusted = std::slice::from_ref(&fuzz_keys().1);
    if let Some(signature) = parts.get(1).and_then(|bytes| std::str::from_utf8(bytes).ok()) {
        let _ = crate::bundle::authenticate(bytes.to_vec(), signature, trusted, NOW);
    }
    let signature = sign_for_fuzzing(bytes);
    match crate::bundle::authenticate(bytes.to_vec(), &signature, trusted, NOW) {
        Ok(verified) => {
            let _ = (verified.header(), verified.seq(), verified.sha256(), verified.dirty());
            let names: Vec<String> = verified.names().map(str::to_string).collect();
            for name in &names {
                let _ = verified.digest(name);
                if let Ok(prompt) = verified.prompt(name) {
                    for version in &prompt.versions {
                        let _ = crate::catalog::contract(&version.variables);
                    }
                }
            }
            let _ = verified.check(names.iter().map(String::as_str));
            let _ = verified.check_all();
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
    if let Err(error) = crate::bundle::verify(bytes.to_vec(), &signature, trusted, NOW) {
        let _ = error.to_string();
    }
}

// ---------------------------------------------------------------------------------------------
// cache_entry

/// The runtime's reading of Redis: an `{prefix}{name}:active` value parsed into a `cache::Entry`
/// (and an activation notice into a `cache::Notice`); an entry's content is compiled as the
/// runtime compiles it and rendered with its own declared variables as vars.
pub fn cache_entry(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = serde_json::from_str::<crate::cache::Notice>(text);
    let Ok(entry) = serde_json::from_str::<crate::cache::Entry>(text) else { return };
    use sha2::Digest;
    let _matches = hex::encode(sha2::Sha256::digest(entry.content.as_bytes())) == entry.sha256;
    // The runtime compiles only content whose sha256 matches, which the fuzzer cannot forge, so
    // every entry's content is compiled here.
    if let Ok(compiled) = crate::render::Compiled::new(entry.content.as_str()) {
        let _ = compiled.render(&entry.variables);
    }
    let _ = crate::catalog::contract(&entry.variables);
    let _ = serde_json::to_string(&entry);
}

// ---------------------------------------------------------------------------------------------
// seed

/// `seed::extract` with every extraction method and `seed::unescape` with every mode, as `check`
/// uses them on a `[seed]`: the input is the legacy file, then (after NULs) up to two arguments
/// for the methods (the markers of `between`; the range of `lines`, the JSON pointer or the TOML
/// key are the first).
pub fn seed(data: &[u8]) {
    let parts = parts(data, 3);
    let Ok(text) = std::str::from_utf8(parts[0]) else { return };
    let argument = |index: usize| {
        parts
            .get(index)
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default()
    };
    let (first, second) = (argument(1), argument(2));
    let methods = [
        None,
        Some(Extract::Between([first.clone(), second.clone()])),
        Some(Extract::Lines(first.clone())),
        Some(Extract::JsonPointer(first.clone())),
        Some(Extract::TomlKey(first.clone())),
    ];
    let modes = [Unescape::None, Unescape::C, Unescape::CsharpVerbatim, Unescape::JsTemplate];
    for method in &methods {
        let method = method.as_ref();
        // Error positions as `check` gives them: inside the file only for a slice of it.
        let in_file =
            |span: Option<std::ops::Range<usize>>| span.filter(|_| crate::seed::is_slice(method));
        match crate::seed::extract(text, method) {
            Ok((literal, range)) => {
                assert!(
                    range.start <= range.end && range.end <= text.len(),
                    "a range outside the file"
                );
                for mode in modes {
                    match crate::seed::unescape(&literal, mode) {
                        Ok(unescaped) => {
                            let _ = crate::seed::escape_for_template(&unescaped);
                        }
                        Err(error) => {
                            let _ = crate::seed::position(
                                LEGACY,
                                text,
                                in_file(error.span),
                                Some(range.start),
                            );
                        }
                    }
                }
            }
            Err(error) => {
                let _ = crate::seed::position(LEGACY, text, in_file(error.span), None);
            }
        }
    }
}
