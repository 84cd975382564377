//! `bundle.json` and its signature (docs/bundle.md): assembling a bundle from the catalog and the
//! commit it was built from, its canonical JSON, the trusted comment, and verification. A bundle
//! that passed every check is a `Verified`, which only `verify` makes. Assembling, signing and
//! verifying are pure; reading the commit's provenance from git (`head`, `Head::provenance`) is
//! the only I/O.

use crate::codegen::{self, Catalog};
use crate::signing::{self, PublicKey, SecretKey};
use crate::syntax::prompt::{Type, Variable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The format of `bundle.json` this version of promptctl writes and reads.
pub const FORMAT: &str = "promptctl.bundle/1";

/// The untrusted comment of every signature (minisign shows it, nobody should trust it).
pub const UNTRUSTED_COMMENT: &str = "promptctl bundle signature";

// Fields are declared in the byte order of their names: serde writes them in declaration order,
// so `to_json` is canonical without sorting (a test compares it with `codegen::canonical_json`).

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// The commit's time (RFC 3339, UTC), so that a rebuild of the same commit is identical.
    pub created: String,
    /// Signed with a local development key, not a configured one.
    pub development_signed: bool,
    /// The project's files had uncommitted changes when it was built.
    pub dirty: bool,
    /// The environments of `promptctl.toml`, sorted.
    pub environments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub format: String,
    pub git_commit: String,
    /// The id of the key that signed it (16 uppercase hex digits, as minisign shows it).
    pub key_id: String,
    pub prompts: BTreeMap<String, BundlePrompt>,
    /// The first-parent commit count of `git_commit`: increases along the deploy branch.
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePrompt {
    /// Environment to the version it serves.
    pub activate: BTreeMap<String, u32>,
    pub description: String,
    /// Every version, sorted by number.
    pub versions: Vec<BundleVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleVersion {
    /// The variable-contract fingerprint (`codegen::contract` of `variables`).
    pub contract: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The version file up to and including its closing `+++` line.
    pub front_matter: String,
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "sorted_option")]
    pub model: Option<serde_json::Value>,
    /// sha256 of `front_matter` followed by `template`: the version file, as in `prompts.lock`.
    pub sha256: String,
    /// The template: the rest of the version file.
    pub template: String,
    /// The variable specs, keyed by name, in the front matter's shape.
    #[serde(serialize_with = "sorted")]
    pub variables: serde_json::Value,
    pub version: u32,
}

/// Serialises a JSON value with object keys sorted, whatever map type `serde_json` uses.
struct Sorted<'a>(&'a serde_json::Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                let mut output = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    output.serialize_entry(key, &Sorted(value))?;
                }
                output.end()
            }
            serde_json::Value::Array(items) => {
                let mut output = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    output.serialize_element(&Sorted(item))?;
                }
                output.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

fn sorted<S: serde::Serializer>(
    value: &serde_json::Value,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    Sorted(value).serialize(serializer)
}

fn sorted_option<S: serde::Serializer>(
    value: &Option<serde_json::Value>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.serialize_some(&Sorted(value)),
        None => serializer.serialize_none(),
    }
}

/// Where a bundle comes from: the commit and the state of the work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub seq: u64,
    pub git_commit: String,
    /// The committer time, in seconds since the Unix epoch.
    pub commit_time: i64,
    pub dirty: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The bundle expires this many days after its commit's time.
    pub expires_in_days: Option<u32>,
    pub development_signed: bool,
}

/// Operational failures of building and verifying bundles.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run `git` in `{root}`; install git, or build from a git checkout")]
    GitMissing { root: PathBuf, source: std::io::Error },
    #[error("`git {command}` failed in `{root}`: {message}; `build` takes seq, commit and time from HEAD, so run it in a git repository with at least one commit")]
    Git { root: PathBuf, command: String, message: String },
    #[error("cannot read `{path}`")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("no signature next to the bundle: `{path}` is missing; build with `promptctl build`, or copy the `.minisig` file along with the bundle")]
    SignatureMissing { path: PathBuf },
    #[error("no trusted public key: list them in `[signing] public_keys` of promptctl.toml, or pass `--pubkey FILE`")]
    NoTrustedKeys,
    #[error("the bundle is signed by key {key_id}, which is not trusted (trusted: {trusted}); pass its public key with `--pubkey FILE` if you trust it")]
    UntrustedKey { key_id: String, trusted: String },
    #[error(transparent)]
    Key(#[from] signing::Error),
    #[error("the trusted comment of the signature does not match the bundle: {message}")]
    TrustedComment { message: String },
    #[error("the bundle is not valid JSON of a bundle: {message}")]
    Malformed { message: String },
    #[error("unknown bundle format `{found}`; this promptctl reads `{FORMAT}`: upgrade promptctl")]
    UnknownFormat { found: String },
    #[error("the bundle is not in canonical form (sorted keys, no whitespace); it was not written by `promptctl build`")]
    NotCanonical,
    #[error("the bundle names key {claimed} but is signed by key {actual}")]
    KeyMismatch { claimed: String, actual: String },
    #[error("the bundle expired at {expires} (it is now {now}); build a new one")]
    Expired { expires: String, now: String },
    #[error("version {version} of `{prompt}` in the bundle is corrupt: {message}")]
    Integrity { prompt: String, version: u32, message: String },
}

/// Builds the bundle of `catalog` (pure).
pub fn assemble(
    catalog: &Catalog,
    provenance: &Provenance,
    key_id: &str,
    options: Options,
) -> Bundle {
    use rayon::prelude::*;
    let prompts: Vec<(String, BundlePrompt)> = catalog
        .prompts
        .par_iter()
        .map(|prompt| {
            let versions = prompt
                .versions
                .iter()
                .map(|version| {
                    let variables = version.variables_json();
                    (version, codegen::contract(&variables), variables)
                })
                .map(|(version, contract, variables)| BundleVersion {
                    version: version.number,
                    description: version.description.clone(),
                    sha256: version.sha256.clone(),
                    contract,
                    front_matter: version.front_matter.clone(),
                    template: version.template.clone(),
                    variables,
                    model: version.model.as_ref().map(|model| {
                        crate::syntax::prompt::toml_to_json(&toml::Value::Table(model.clone()))
                    }),
                })
                .collect();
            let entry = BundlePrompt {
                description: prompt.description.clone(),
                activate: prompt.activate.clone(),
                versions,
            };
            (prompt.name.clone(), entry)
        })
        .collect();
    Bundle {
        format: FORMAT.to_string(),
        seq: provenance.seq,
        git_commit: provenance.git_commit.clone(),
        created: rfc3339(provenance.commit_time),
        expires: expires(provenance, options),
        key_id: key_id.to_string(),
        dirty: provenance.dirty,
        development_signed: options.development_signed,
        environments: catalog.environments.clone(),
        prompts: prompts.into_iter().collect(),
    }
}

/// When a bundle built from `provenance` with `options` expires (RFC 3339), if it does.
pub fn expires(provenance: &Provenance, options: Options) -> Option<String> {
    options.expires_in_days.map(|days| rfc3339(provenance.commit_time + i64::from(days) * 86_400))
}

/// What `write` signed: the sha256 (hex) of the bytes it wrote and the signature file's text.
#[derive(Debug, Clone)]
pub struct Written {
    pub sha256: String,
    pub signature: String,
}

/// Writes the signed bundle of `catalog` to `out`: the same bytes as `sign(&assemble(…), key)`
/// (a test compares them), written straight from the catalog as canonical JSON, without the
/// `Bundle` tree, its JSON values or the whole text in memory. Prompts are written in batches:
/// each prompt of a batch in parallel into its own pre-sized buffer (keys in the byte order of
/// their names, as `Bundle`'s fields are declared), while the previous batch is hashed (sha256
/// and minisign's BLAKE2b prehash, side by side) and handed to `out`. Pure but for `out`.
pub fn write(
    catalog: &Catalog,
    provenance: &Provenance,
    key: &SecretKey,
    options: Options,
    out: &mut (dyn std::io::Write + Send),
) -> std::io::Result<Written> {
    // About 2 MB of JSON per batch: large enough to keep both cores busy, small enough that the
    // bundle is never in memory as a whole.
    write_in_batches(catalog, provenance, key, options, out, 256)
}

/// One prompt's entry of `bundle.json`'s `prompts` (`"name":{…}`), serialised as `write` would,
/// so that `build` can serialise each prompt as soon as it is checked and keep only its JSON.
#[derive(Debug, Clone)]
pub struct PromptEntry {
    pub name: String,
    pub json: String,
    /// How many versions it holds.
    pub versions: usize,
}

impl PromptEntry {
    pub fn new(prompt: &codegen::Prompt) -> PromptEntry {
        // Serialised into a reused buffer, then copied at its exact size: the entries of a large
        // repository stay in memory until the bundle is written.
        thread_local! {
            static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        let json = SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            prompt_json(prompt, scratch);
            scratch.as_str().to_owned()
        });
        PromptEntry { name: prompt.name.clone(), json, versions: prompt.versions.len() }
    }
}

/// Writes the signed bundle of prompts already serialised (`PromptEntry`, in any order) in a
/// project with `environments` (sorted): the bytes `write` writes for the catalog they came from.
pub fn write_entries(
    entries: &[PromptEntry],
    environments: &[String],
    provenance: &Provenance,
    key: &SecretKey,
    options: Options,
    out: &mut (dyn std::io::Write + Send),
) -> std::io::Result<Written> {
    let mut sorted: Vec<&PromptEntry> = entries.iter().collect();
    if !sorted.is_sorted_by(|a, b| a.name <= b.name) {
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let head = head_json(environments, provenance, key, options);
    let mut sink = Sink { out, sha256: Sha256::new(), prehash: signing::Prehasher::default() };
    sink.emit(head.as_bytes())?;
    let mut joined = String::new();
    let mut pieces: Vec<&str> = Vec::new();
    let mut first = true;
    // About 2 MB at a time: few system calls, little memory.
    for entry in sorted {
        pieces.push(&entry.json);
        if pieces.iter().map(|piece| piece.len()).sum::<usize>() >= 2 << 20 {
            sink.emit_pieces(&pieces, first, &mut joined)?;
            pieces.clear();
            first = false;
        }
    }
    sink.emit_pieces(&pieces, first, &mut joined)?;
    finish(sink, provenance, key)
}

/// Everything of the bundle's JSON before the first prompt: `{"created":…,"prompts":{`.
fn head_json(
    environments: &[String],
    provenance: &Provenance,
    key: &SecretKey,
    options: Options,
) -> String {
    let mut head = String::with_capacity(512);
    head.push_str("{\"created\":");
    push_string(&mut head, &rfc3339(provenance.commit_time));
    head.push_str(",\"development_signed\":");
    head.push_str(if options.development_signed { "true" } else { "false" });
    head.push_str(",\"dirty\":");
    head.push_str(if provenance.dirty { "true" } else { "false" });
    head.push_str(",\"environments\":[");
    for (index, environment) in environments.iter().enumerate() {
        if index > 0 {
            head.push(',');
        }
        push_string(&mut head, environment);
    }
    head.push(']');
    if let Some(expires) = expires(provenance, options) {
        head.push_str(",\"expires\":");
        push_string(&mut head, &expires);
    }
    head.push_str(",\"format\":");
    push_string(&mut head, FORMAT);
    head.push_str(",\"git_commit\":");
    push_string(&mut head, &provenance.git_commit);
    head.push_str(",\"key_id\":");
    push_string(&mut head, &key.key_id());
    head.push_str(",\"prompts\":{");
    head
}

fn write_in_batches(
    catalog: &Catalog,
    provenance: &Provenance,
    key: &SecretKey,
    options: Options,
    out: &mut (dyn std::io::Write + Send),
    batch_size: usize,
) -> std::io::Result<Written> {
    use rayon::prelude::*;
    // `Bundle::prompts` is a map: sorted by name, whatever order the catalog is in.
    let mut prompts: Vec<&codegen::Prompt> = catalog.prompts.iter().collect();
    if !prompts.is_sorted_by(|a, b| a.name <= b.name) {
        prompts.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let head = head_json(&catalog.environments, provenance, key, options);
    let mut sink = Sink { out, sha256: Sha256::new(), prehash: signing::Prehasher::default() };
    sink.emit(head.as_bytes())?;
    let mut pending: Vec<String> = Vec::new();
    let mut joined = String::new();
    for (index, batch) in prompts.chunks(batch_size).enumerate() {
        let (written, produced) = rayon::join(
            || sink.emit_pieces(&pending, index == 1, &mut joined),
            || {
                batch
                    .par_iter()
                    .map(|prompt| {
                        let mut json = String::new();
                        prompt_json(prompt, &mut json);
                        json
                    })
                    .collect::<Vec<String>>()
            },
        );
        written?;
        pending = produced;
    }
    let first = prompts.len() <= batch_size;
    sink.emit_pieces(&pending, first, &mut joined)?;
    finish(sink, provenance, key)
}

/// Writes the end of the bundle and signs what was written.
fn finish(mut sink: Sink, provenance: &Provenance, key: &SecretKey) -> std::io::Result<Written> {
    sink.emit(format!("}},\"seq\":{}}}", provenance.seq).as_bytes())?;
    let sha256 = hex::encode(sink.sha256.finalize());
    let comment = comment(FORMAT, provenance.seq, &provenance.git_commit, &sha256);
    let signature =
        signing::sign_prehashed(key, &sink.prehash.finish(), &comment, UNTRUSTED_COMMENT);
    Ok(Written { sha256, signature })
}

/// Where `write` puts the bytes: the output and both digests.
struct Sink<'a> {
    out: &'a mut (dyn std::io::Write + Send),
    sha256: Sha256,
    prehash: signing::Prehasher,
}

impl Sink<'_> {
    /// Hashes and writes `bytes`: the BLAKE2b prehash (the slower) beside sha256 and the write.
    fn emit(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let (sha256, prehash, out) = (&mut self.sha256, &mut self.prehash, &mut self.out);
        let (written, ()) = rayon::join(
            || {
                sha256.update(bytes);
                out.write_all(bytes)
            },
            || prehash.update(bytes),
        );
        written
    }

    /// The pieces, separated by commas (and preceded by one unless `first`), in one buffer.
    fn emit_pieces(
        &mut self,
        pieces: &[impl AsRef<str>],
        first: bool,
        joined: &mut String,
    ) -> std::io::Result<()> {
        if pieces.is_empty() {
            return Ok(());
        }
        joined.clear();
        for (index, piece) in pieces.iter().enumerate() {
            if index > 0 || !first {
                joined.push(',');
            }
            joined.push_str(piece.as_ref());
        }
        let bytes = std::mem::take(joined);
        let result = self.emit(bytes.as_bytes());
        *joined = bytes;
        result
    }
}

/// `"name":{…}`: one entry of a bundle's `prompts`, as serde writes a `BundlePrompt`, appended to
/// `out`.
fn prompt_json(prompt: &codegen::Prompt, out: &mut String) {
    let texts: usize = prompt
        .versions
        .iter()
        .map(|version| version.front_matter.len() + version.template.len())
        .sum();
    // Escaping adds a little (a `\n` per line); the rest is about 600 bytes per version.
    out.reserve(texts + texts / 16 + 1024 * (prompt.versions.len() + 1));
    push_string(out, &prompt.name);
    out.push_str(":{\"activate\":{");
    for (index, (environment, version)) in prompt.activate.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        push_string(out, environment);
        out.push(':');
        push_number(out, u64::from(*version));
    }
    out.push_str("},\"description\":");
    push_string(out, &prompt.description);
    out.push_str(",\"versions\":[");
    let mut scratch = String::new();
    for (index, version) in prompt.versions.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        // The contract: sha256 of the canonical JSON of the specs without their documentation.
        scratch.clear();
        push_specs(&mut scratch, &version.variables, Specs::Contract);
        out.push_str("{\"contract\":\"");
        out.push_str(&hex::encode(Sha256::digest(scratch.as_bytes())));
        out.push('"');
        if let Some(description) = &version.description {
            out.push_str(",\"description\":");
            push_string(out, description);
        }
        out.push_str(",\"front_matter\":");
        push_string(out, &version.front_matter);
        if let Some(model) = &version.model {
            let model: serde_json::Map<String, serde_json::Value> = model
                .iter()
                .map(|(key, value)| (key.clone(), crate::syntax::prompt::toml_to_json(value)))
                .collect();
            out.push_str(",\"model\":");
            out.push_str(&codegen::canonical_json(&serde_json::Value::Object(model)));
        }
        out.push_str(",\"sha256\":");
        push_string(out, &version.sha256);
        out.push_str(",\"template\":");
        push_string(out, &version.template);
        out.push_str(",\"variables\":");
        push_specs(out, &version.variables, Specs::Full);
        out.push_str(",\"version\":");
        push_number(out, u64::from(version.number));
        out.push('}');
    }
    out.push_str("]}");
}

/// Which form of the variable specs `push_specs` writes.
#[derive(Clone, Copy, PartialEq)]
enum Specs {
    /// `codegen::Version::variables_json`.
    Full,
    /// What `codegen::contract` hashes: without `description` and `source`.
    Contract,
}

/// `{name: spec}` in canonical JSON, keys sorted by their bytes.
fn push_specs(out: &mut String, variables: &[Variable], form: Specs) {
    let mut sorted: Vec<&Variable> = variables.iter().collect();
    sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    sorted.dedup_by(|a, b| a.name == b.name);
    out.push('{');
    for (index, variable) in sorted.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        push_string(out, &variable.name);
        out.push(':');
        push_spec(out, variable, true, form);
    }
    out.push('}');
}

/// One spec as `codegen` shapes it (`required` only at the top of a declaration, not for
/// `items`), its keys in byte order: description, fields, items, max_len, required, source,
/// type, values.
fn push_spec(out: &mut String, variable: &Variable, top: bool, form: Specs) {
    out.push('{');
    let mut first = true;
    let mut key = |out: &mut String, name: &str| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
    };
    if let (Some(description), Specs::Full) = (&variable.description, form) {
        key(out, "description");
        push_string(out, description);
    }
    match &variable.ty {
        Type::Object(fields) => {
            key(out, "fields");
            push_specs(out, fields, form);
        }
        Type::Array(item) => {
            key(out, "items");
            push_spec(out, item, false, form);
        }
        Type::String { max_len: Some(max_len) } => {
            key(out, "max_len");
            push_number(out, *max_len);
        }
        _ => {}
    }
    if top {
        key(out, "required");
        out.push_str(if variable.required { "true" } else { "false" });
    }
    if variable.user_source && form == Specs::Full {
        key(out, "source");
        out.push_str("\"user\"");
    }
    key(out, "type");
    out.push('"');
    out.push_str(variable.ty.name());
    out.push('"');
    if let Type::Enum(values) = &variable.ty {
        key(out, "values");
        out.push('[');
        for (index, value) in values.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            push_string(out, value);
        }
        out.push(']');
    }
    out.push('}');
}

fn push_number(out: &mut String, number: u64) {
    use std::fmt::Write;
    let _ = write!(out, "{number}");
}

/// A JSON string as `serde_json` writes it: `"`, `\\` and control characters escaped (the short
/// forms `\b \t \n \f \r`, else `\u00xx`), everything else as it is. Templates are long runs of
/// plain text, so it skips eight bytes at a time while none of them needs escaping.
fn push_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(text.len() + 2);
    out.push('"');
    let bytes = text.as_bytes();
    let (mut start, mut index) = (0, 0);
    while index < bytes.len() {
        if let Some(word) = bytes.get(index..index + 8) {
            let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
            if !may_need_escaping(word) {
                index += 8;
                continue;
            }
        }
        let byte = bytes[index];
        index += 1;
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        // Escaped bytes are ASCII, so both ends of the run are character boundaries.
        out.push_str(&text[start..index - 1]);
        start = index;
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Whether any of the eight bytes of `word` is below 0x20, `"` or `\\` (never false when one is;
/// the exact bytes are then looked at one by one).
fn may_need_escaping(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x;
    (below_space | zero_byte(quote) | zero_byte(backslash)) & HIGH != 0
}

/// The canonical JSON of a bundle: the bytes that are signed. The prompts are serialised in
/// parallel and spliced into the rest, which gives the same bytes as serialising it whole (a test
/// compares both with `codegen::canonical_json`).
pub fn to_json(bundle: &Bundle) -> String {
    use rayon::prelude::*;
    let frame = json(&Bundle {
        created: bundle.created.clone(),
        development_signed: bundle.development_signed,
        dirty: bundle.dirty,
        environments: bundle.environments.clone(),
        expires: bundle.expires.clone(),
        format: bundle.format.clone(),
        git_commit: bundle.git_commit.clone(),
        key_id: bundle.key_id.clone(),
        prompts: BTreeMap::new(),
        seq: bundle.seq,
    });
    let prompts: Vec<String> = bundle
        .prompts
        .par_iter()
        .map(|(name, prompt)| format!("{}:{}", json(name), json(prompt)))
        .collect();
    // Outside strings (where `"` is escaped) this occurs only as the key itself.
    const EMPTY: &str = "\"prompts\":{}";
    match frame.rfind(EMPTY) {
        Some(at) => format!(
            "{}\"prompts\":{{{}}}{}",
            &frame[..at],
            prompts.join(","),
            &frame[at + EMPTY.len()..]
        ),
        None => json(bundle),
    }
}

/// Serialising strings, maps and the bundle's structs cannot fail.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The trusted comment: format, seq, commit and the sha256 of the bundle's bytes, so that
/// `minisign -V` shows what it verified. No times, so that it is reproducible.
pub fn trusted_comment(bundle: &Bundle, sha256: &str) -> String {
    comment(&bundle.format, bundle.seq, &bundle.git_commit, sha256)
}

fn comment(format: &str, seq: u64, git_commit: &str, sha256: &str) -> String {
    format!("format={format} seq={seq} commit={git_commit} sha256={sha256}")
}

/// A signed bundle: its bytes, their sha256 (hex) and the signature file's text.
#[derive(Debug, Clone)]
pub struct Signed {
    pub json: String,
    pub sha256: String,
    pub signature: String,
}

/// Serialises and signs `bundle` (pure and deterministic).
pub fn sign(bundle: &Bundle, key: &SecretKey) -> Signed {
    let json = to_json(bundle);
    let (sha256, prehash) = rayon::join(
        || hex::encode(Sha256::digest(json.as_bytes())),
        || signing::prehash(json.as_bytes()),
    );
    let comment = trusted_comment(bundle, &sha256);
    let signature = signing::sign_prehashed(key, &prehash, &comment, UNTRUSTED_COMMENT);
    Signed { json, sha256, signature }
}

/// A bundle whose signature, trusted comment, format, expiry and every version's digests were
/// checked. Only `verify` makes one, so a function that takes a `Verified` cannot be handed an
/// unchecked bundle.
#[derive(Debug, Clone)]
pub struct Verified {
    bundle: Bundle,
    sha256: String,
}

impl Verified {
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// sha256 of `bytes`, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn key_id(&self) -> &str {
        &self.bundle.key_id
    }

    pub fn development_signed(&self) -> bool {
        self.bundle.development_signed
    }
}

/// Verifies a bundle's bytes against its signature file's text with the `trusted` keys, at
/// `now` (seconds since the Unix epoch).
pub fn verify(
    bytes: &[u8],
    signature: &str,
    trusted: &[PublicKey],
    now: i64,
) -> Result<Verified, Error> {
    if trusted.is_empty() {
        return Err(Error::NoTrustedKeys);
    }
    let signed_by = signing::signature_key_id(signature)?;
    let Some(key) = trusted.iter().find(|key| key.key_id() == signed_by) else {
        let names: Vec<String> =
            trusted.iter().map(|key| format!("{} ({})", key.key_id(), key.source_name)).collect();
        return Err(Error::UntrustedKey { key_id: signed_by, trusted: names.join(", ") });
    };
    // The signature (a hash of every byte) and the parse are independent: run them side by side.
    // The signature (a hash of every byte) and the parse are independent: run them side by side.
    let (comment, parsed) = rayon::join(|| signing::verify(key, bytes, signature), || parse(bytes));
    let comment = comment?;
    let bundle = parsed?;
    // Canonical: the bytes are exactly what `to_json` writes for what they parse into.
    let (canonical, (sha256, problem)) = rayon::join(
        || is_canonical(&bundle, bytes),
        || rayon::join(|| hex::encode(Sha256::digest(bytes)), || check_versions(&bundle)),
    );
    if !canonical {
        return Err(Error::NotCanonical);
    }
    let expected = trusted_comment(&bundle, &sha256);
    if comment != expected {
        return Err(Error::TrustedComment {
            message: format!("signed `{comment}`, the bundle gives `{expected}`"),
        });
    }
    if bundle.key_id != signed_by {
        return Err(Error::KeyMismatch { claimed: bundle.key_id.clone(), actual: signed_by });
    }
    if let Some(expires) = &bundle.expires {
        let Some(expiry) = parse_rfc3339(expires) else {
            return Err(Error::Malformed {
                message: format!("`expires` is not a UTC time: `{expires}`"),
            });
        };
        if now >= expiry {
            return Err(Error::Expired { expires: expires.clone(), now: rfc3339(now) });
        }
    }
    if let Some(problem) = problem {
        return Err(problem);
    }
    Ok(Verified { bundle, sha256 })
}

/// The first version (in name order) whose digests or front matter do not hold.
fn check_versions(bundle: &Bundle) -> Option<Error> {
    use rayon::prelude::*;
    let problems: Vec<Error> = bundle
        .prompts
        .par_iter()
        .filter_map(|(name, prompt)| {
            prompt.versions.iter().find_map(|version| check_version(name, version).err())
        })
        .collect();
    problems.into_iter().next()
}

/// Whether `bytes` are exactly the canonical JSON of `bundle`, compared while serialising, without
/// writing the JSON out.
fn is_canonical(bundle: &Bundle, bytes: &[u8]) -> bool {
    struct Compare<'a> {
        rest: &'a [u8],
    }
    impl std::io::Write for Compare<'_> {
        fn write(&mut self, written: &[u8]) -> std::io::Result<usize> {
            match self.rest.strip_prefix(written) {
                Some(rest) => {
                    self.rest = rest;
                    Ok(written.len())
                }
                None => Err(std::io::Error::other("differs")),
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut compare = Compare { rest: bytes };
    serde_json::to_writer(&mut compare, bundle).is_ok() && compare.rest.is_empty()
}

/// The fields of a canonical bundle that come before `prompts`, read from its first bytes
/// without parsing the rest. Only meaningful for bytes already known to be a verified bundle
/// (same sha256): `publish` uses it to recognise a bundle it has already published.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Header {
    pub created: String,
    pub development_signed: bool,
    pub dirty: bool,
    pub environments: Vec<String>,
    #[serde(default)]
    pub expires: Option<String>,
    pub format: String,
    pub git_commit: String,
    pub key_id: String,
}

pub fn header(bytes: &[u8]) -> Option<Header> {
    let end = memchr::memmem::find(bytes, b",\"prompts\":{")?;
    let mut head = bytes[..end].to_vec();
    head.push(b'}');
    serde_json::from_slice(&head).ok()
}

/// Parses a bundle's bytes straight into `Bundle` (no intermediate JSON tree: a bundle of
/// 10,000 prompts is tens of megabytes). A document that does not fit is reported as an unknown
/// format when its `format` says so, and as malformed otherwise.
fn parse(bytes: &[u8]) -> Result<Bundle, Error> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        format: Option<serde_json::Value>,
    }
    let unknown_format = |found: &str| Error::UnknownFormat { found: found.to_string() };
    match serde_json::from_slice::<Bundle>(bytes) {
        Ok(bundle) if bundle.format == FORMAT => Ok(bundle),
        Ok(bundle) => Err(unknown_format(&bundle.format)),
        Err(error) => match serde_json::from_slice::<Head>(bytes) {
            Ok(Head { format: Some(serde_json::Value::String(format)) }) if format != FORMAT => {
                Err(unknown_format(&format))
            }
            Ok(Head { format: None }) => Err(unknown_format("")),
            _ => Err(Error::Malformed { message: error.to_string() }),
        },
    }
}

/// A version's digests and template agree with its source.
fn check_version(name: &str, version: &BundleVersion) -> Result<(), Error> {
    let corrupt = |message: String| Error::Integrity {
        prompt: name.to_string(),
        version: version.version,
        message,
    };
    let mut hasher = Sha256::new();
    hasher.update(version.front_matter.as_bytes());
    hasher.update(version.template.as_bytes());
    let actual = hex::encode(hasher.finalize());
    if actual != version.sha256 {
        return Err(corrupt(format!(
            "`sha256` is {} but `front_matter` and `template` hash to {actual}",
            version.sha256
        )));
    }
    // The split must fall where the file's own front matter ends. The common case, a whole front
    // matter up to and including the newline of its closing line, needs no copy of the file; any
    // other is judged on the file as a whole.
    let path = format!("{name}/v{}.prompt", version.version);
    let whole = crate::syntax::prompt::split_front_matter(&path, &version.front_matter)
        .is_ok_and(|split| split.body_offset == version.front_matter.len())
        && version.front_matter.ends_with('\n');
    if !whole {
        let source = format!("{}{}", version.front_matter, version.template);
        let offset = crate::syntax::prompt::split_front_matter(&path, &source)
            .map(|split| split.body_offset)
            .map_err(|_| corrupt("`front_matter` is not a `+++` front matter".into()))?;
        if offset != version.front_matter.len() {
            return Err(corrupt("`front_matter` does not end at the line that closes it".into()));
        }
    }
    let contract = codegen::contract(&version.variables);
    if contract != version.contract {
        return Err(corrupt(format!(
            "`contract` is {} but `variables` give {contract}",
            version.contract
        )));
    }
    Ok(())
}

pub use crate::time::{parse_rfc3339, rfc3339};

/// What git says about HEAD, read beside the check: the provenance but for `dirty`, and what
/// git's index holds under the inputs, against which `provenance` compares the files the build
/// read.
#[derive(Debug)]
pub struct Head {
    pub seq: u64,
    pub git_commit: String,
    /// The committer time, in seconds since the Unix epoch.
    pub commit_time: i64,
    /// The index's files under the inputs, when the index equals HEAD there; `None` when it
    /// does not, or git could not list it: then only `git status` can tell.
    index: Option<Tracked>,
}

/// The files of git's index (`git ls-files --stage`), by path: a regular file's execute bit and
/// blob id. Any other entry (a symbolic link, a submodule, a conflict) makes the whole `None`.
#[derive(Debug, Default)]
struct Tracked {
    positions: std::collections::HashMap<String, usize>,
    files: Vec<(bool, [u8; 20])>,
}

/// A file of the working tree under the inputs, as the build read it.
#[derive(Debug, Clone, Copy)]
pub struct WorkFile<'a> {
    /// Relative to the project root, `/`-separated.
    pub path: &'a str,
    /// The git blob id of the bytes read (`source::git_blob_id`).
    pub blob: [u8; 20],
    pub executable: bool,
}

/// Runs git in `root` (English messages); the error names the command.
fn git(root: &Path, args: &[&str]) -> Result<std::process::Output, Error> {
    std::process::Command::new("git")
        .args(args)
        .current_dir(root)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| Error::GitMissing { root: root.to_path_buf(), source })
}

/// `git ARGS` that must succeed: its output, trimmed.
fn git_text(root: &Path, args: &[&str]) -> Result<String, Error> {
    let output = git(root, args)?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
        let message = message.strip_prefix("fatal: ").unwrap_or(&message).to_string();
        return Err(Error::Git { root: root.to_path_buf(), command: args.join(" "), message });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Reads seq, commit and commit time of HEAD, and git's index under `paths` (relative to `root`,
/// the files the bundle is built from). None of it looks at the working tree.
pub fn head(root: &Path, paths: &[&str]) -> Result<Head, Error> {
    let parse_error = |command: &str, text: &str| Error::Git {
        root: root.to_path_buf(),
        command: command.to_string(),
        message: format!("unexpected output `{text}`"),
    };
    let git_commit = git_text(root, &["rev-parse", "--verify", "HEAD^{commit}"])?;
    let count = git_text(root, &["rev-list", "--first-parent", "--count", "HEAD"])?;
    let seq = count.parse().map_err(|_| parse_error("rev-list", &count))?;
    let time = git_text(root, &["show", "-s", "--format=%ct", "HEAD"])?;
    let commit_time = time.parse().map_err(|_| parse_error("show", &time))?;
    Ok(Head { seq, git_commit, commit_time, index: index_if_head(root, paths) })
}

/// The index's files under `paths`, if the index has exactly HEAD's files there (a staged change
/// is for `git status` to report). Any failure is `None`: `git status` decides then.
fn index_if_head(root: &Path, paths: &[&str]) -> Option<Tracked> {
    let with_paths = |args: &[&'static str]| -> Vec<&str> {
        let mut args = args.to_vec();
        args.push("--");
        args.extend_from_slice(paths);
        args
    };
    // Exit code 0: no difference; 1: some; anything else: git could not tell.
    let staged = git(root, &with_paths(&["diff-index", "--cached", "--quiet", "HEAD"])).ok()?;
    if staged.status.code() != Some(0) {
        return None;
    }
    let listed = git(root, &with_paths(&["ls-files", "--stage", "-z"])).ok()?;
    if !listed.status.success() {
        return None;
    }
    parse_stage(&listed.stdout)
}

/// `git ls-files --stage -z` output: `<mode> <object> <stage>\t<path>\0` per entry. Only regular
/// files at stage 0 (no conflict) with a SHA-1 id are understood; anything else is `None`.
fn parse_stage(output: &[u8]) -> Option<Tracked> {
    let text = std::str::from_utf8(output).ok()?;
    let mut tracked = Tracked::default();
    for record in text.split_terminator('\0') {
        let (fields, path) = record.split_once('\t')?;
        let mut fields = fields.split(' ');
        let (mode, blob, stage) = (fields.next()?, fields.next()?, fields.next()?);
        let executable = match mode {
            "100644" => false,
            "100755" => true,
            _ => return None,
        };
        let mut id = [0; 20];
        hex::decode_to_slice(blob, &mut id).ok()?;
        if stage != "0" || fields.next().is_some() {
            return None;
        }
        let position = tracked.files.len();
        if tracked.positions.insert(path.to_string(), position).is_some() {
            return None;
        }
        tracked.files.push((executable, id));
    }
    Some(tracked)
}

/// Whether the files the build read are exactly the index's files under the inputs, byte for
/// byte and mode for mode: every read file is in the index with the same blob id and execute
/// bit, and every file of the index was read. Pure; `false` means "ask `git status`", not
/// "dirty": a file that git's filters rewrite (line endings, LFS), a file git ignores or
/// `core.fileMode = false` can make the two differ while `git status` sees nothing.
fn matches_index(index: &Tracked, files: &[WorkFile]) -> bool {
    let mut seen = vec![false; index.files.len()];
    let mut unseen = index.files.len();
    for file in files {
        let Some(&position) = index.positions.get(file.path) else { return false };
        if index.files[position] != (file.executable, file.blob) {
            return false;
        }
        if !std::mem::replace(&mut seen[position], true) {
            unseen -= 1;
        }
    }
    unseen == 0
}

impl Head {
    /// The provenance, with `dirty` from the files the build read (`files`; `None` when some
    /// entry under the inputs could not be read as a file): when they are exactly the files of
    /// git's index and the index is HEAD's, the inputs are committed; otherwise `git status`
    /// decides, so that the bundle is marked dirty only when git reports changes (to
    /// promptctl.toml, the prompts folder or the lock file, untracked files included).
    pub fn provenance(
        self,
        root: &Path,
        paths: &[&str],
        files: Option<&[WorkFile]>,
    ) -> Result<Provenance, Error> {
        let committed = match (&self.index, files) {
            (Some(index), Some(files)) => matches_index(index, files),
            _ => false,
        };
        let dirty = !committed && status_reports_changes(root, paths)?;
        Ok(Provenance {
            seq: self.seq,
            git_commit: self.git_commit,
            commit_time: self.commit_time,
            dirty,
        })
    }
}

/// Whether `git status` reports changes to `paths`, untracked files included.
fn status_reports_changes(root: &Path, paths: &[&str]) -> Result<bool, Error> {
    let mut status = vec!["status", "--porcelain", "--untracked-files=all", "--"];
    status.extend_from_slice(paths);
    Ok(!git_text(root, &status)?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_is_canonical() {
        let version = BundleVersion {
            contract: "c".into(),
            description: Some("d".into()),
            front_matter: "+++\n+++\n".into(),
            model: Some(
                serde_json::json!({ "z": 1, "a": { "y": [2.5, { "b": 1, "a": 0 }], "x": null } }),
            ),
            sha256: "s".into(),
            template: "t".into(),
            variables: serde_json::json!({ "b": { "type": "string" }, "a": { "type": "integer" } }),
            version: 1,
        };
        let bundle = Bundle {
            created: "2001-02-03T04:05:06Z".into(),
            development_signed: true,
            dirty: false,
            environments: vec!["production".into()],
            expires: Some("2001-02-04T04:05:06Z".into()),
            format: FORMAT.into(),
            git_commit: "0".repeat(40),
            key_id: "0123456789ABCDEF".into(),
            prompts: BTreeMap::from([(
                "p".to_string(),
                BundlePrompt {
                    activate: BTreeMap::from([("production".to_string(), 1)]),
                    description: "x".into(),
                    versions: vec![version],
                },
            )]),
            seq: 7,
        };
        let json = to_json(&bundle);
        let value = serde_json::to_value(&bundle).expect("value");
        assert_eq!(json, codegen::canonical_json(&value));
        assert_eq!(json, serde_json::to_string(&bundle).expect("whole"));
        assert_eq!(serde_json::from_str::<Bundle>(&json).expect("reads back"), bundle);
    }

    fn variable(name: &str, ty: Type) -> Variable {
        Variable {
            name: name.into(),
            ty,
            required: name.len() % 2 == 0,
            description: (name.len() % 3 != 0).then(|| format!("the \"{name}\"\tvariable ünïcode")),
            user_source: name.starts_with('u'),
            span: 0..0,
        }
    }

    /// A catalog with every type, nesting, a model, texts that need escaping, and a prompt out of
    /// order.
    fn catalog() -> Catalog {
        let item = variable(
            "item",
            Type::Object(vec![
                variable("zeta", Type::Number),
                variable("alpha", Type::Enum(vec!["b".into(), "a\"q".into()])),
            ]),
        );
        let variables = vec![
            variable("user_text", Type::String { max_len: Some(4000) }),
            variable("a", Type::Integer),
            variable("Bee", Type::Boolean),
            variable("list", Type::Array(Box::new(item))),
            variable("names", Type::Array(Box::new(variable("n", Type::String { max_len: None })))),
            variable("obj", Type::Object(vec![variable("inner", Type::String { max_len: None })])),
        ];
        let model: toml::Table = toml::from_str(
            "name = \"gpt\"\ntemperature = 0.25\nz = [1, 2.5e300, \"x\"]\n[params]\nb = true\na = 1979-05-27T07:32:00Z\n",
        )
        .expect("model");
        let version = |number: u32, model: Option<toml::Table>| codegen::Version {
            number,
            description: (number == 1).then(|| "first \u{1} \u{7f} \\ / \u{2028}".to_string()),
            front_matter: format!("+++\ndescription = \"v{number}\"\n+++\n"),
            template: "Hello {{user_text}}\r\n\u{8}\u{c}\"quoted\" \\ back\n\u{1f}😀\n".into(),
            sha256: format!("{number:064}"),
            variables: variables.clone(),
            model,
        };
        let prompt = |name: &str| codegen::Prompt {
            name: name.into(),
            description: format!("{name}: \"described\"\n"),
            activate: BTreeMap::from([("staging".to_string(), 2), ("production".to_string(), 1)]),
            versions: vec![version(1, Some(model.clone())), version(2, None)],
        };
        Catalog {
            environments: vec!["production".into(), "staging".into()],
            prompts: vec![prompt("qa"), prompt("b-prompt"), prompt("chess")],
        }
    }

    #[test]
    fn build_writes_the_bytes_of_sign_and_assemble() {
        let (_, secret, _) = signing::generate(None).expect("generate");
        let key = signing::read_secret_key(&secret, None, "test key").expect("read");
        let catalog = catalog();
        for (dirty, options) in [
            (false, Options { expires_in_days: None, development_signed: false }),
            (true, Options { expires_in_days: Some(30), development_signed: true }),
        ] {
            let provenance = Provenance {
                seq: 42,
                git_commit: "ab".repeat(20),
                commit_time: 981_173_106,
                dirty,
            };
            let reference = sign(&assemble(&catalog, &provenance, &key.key_id(), options), &key);
            for batch_size in [1, 2, 3, 256] {
                let mut bytes = Vec::new();
                let written =
                    write_in_batches(&catalog, &provenance, &key, options, &mut bytes, batch_size)
                        .expect("write");
                assert_eq!(String::from_utf8(bytes).expect("utf-8"), reference.json);
                assert_eq!(written.sha256, reference.sha256);
                assert_eq!(written.signature, reference.signature);
            }
            // Entries serialised one by one, in any order, give the same bytes.
            let mut entries: Vec<PromptEntry> =
                catalog.prompts.iter().map(PromptEntry::new).collect();
            entries.reverse();
            let mut bytes = Vec::new();
            let written = write_entries(
                &entries,
                &catalog.environments,
                &provenance,
                &key,
                options,
                &mut bytes,
            )
            .expect("write");
            assert_eq!(String::from_utf8(bytes).expect("utf-8"), reference.json);
            assert_eq!(written.signature, reference.signature);
            let value: serde_json::Value = serde_json::from_str(&reference.json).expect("json");
            assert_eq!(reference.json, codegen::canonical_json(&value));
        }
    }

    #[test]
    fn the_index_vouches_only_for_exactly_its_files() {
        let blob = |text: &str| crate::source::git_blob_id(text.as_bytes());
        // `git hash-object` of an empty file and of "hello\n".
        assert_eq!(hex::encode(blob("")), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(hex::encode(blob("hello\n")), "ce013625030ba8dba906f756967f9e9ca394464a");
        let listed = parse_stage(
            b"100644 ce013625030ba8dba906f756967f9e9ca394464a 0\tprompts/a/v1.prompt\0\
              100755 e69de29bb2d1d6434b8b29ae775ad8c2e48c5391 0\tprompts/a tab\tname.txt\0",
        )
        .expect("parses");
        assert_eq!(listed.positions.get("prompts/a tab\tname.txt"), Some(&1));
        let file = |path, text, executable| WorkFile { path, blob: blob(text), executable };
        let exact = [
            file("prompts/a/v1.prompt", "hello\n", false),
            file("prompts/a tab\tname.txt", "", true),
        ];
        assert!(matches_index(&listed, &exact));
        // The same file twice (a lock file inside the prompts folder, say) is one file.
        assert!(matches_index(&listed, &[exact[0], exact[1], exact[0]]));
        let cases: [(&str, Vec<WorkFile>); 5] = [
            ("changed bytes", vec![file("prompts/a/v1.prompt", "hello", false), exact[1]]),
            ("changed mode", vec![file("prompts/a/v1.prompt", "hello\n", true), exact[1]]),
            ("a file the index lacks", vec![exact[0], exact[1], file("prompts/b", "", false)]),
            ("a file of the index not read", vec![exact[0], exact[0]]),
            (
                "two readings of one path",
                vec![exact[0], exact[1], file("prompts/a/v1.prompt", "", false)],
            ),
        ];
        for (what, files) in cases {
            assert!(!matches_index(&listed, &files), "{what}");
        }
        // A conflict (stages 1–3), a symbolic link, a SHA-256 repository's ids or output that
        // is not git's: for git status to judge.
        for output in [
            &b"100644 ce013625030ba8dba906f756967f9e9ca394464a 2\tprompts/a/v1.prompt\0"[..],
            b"120000 ce013625030ba8dba906f756967f9e9ca394464a 0\tprompts/a/v1.prompt\0",
            b"100644 ce013625030ba8dba906f756967f9e9ca394464ace013625030ba8dba906f756 0\tp\0",
            b"garbage\0",
        ] {
            assert!(parse_stage(output).is_none(), "{}", String::from_utf8_lossy(output));
        }
        assert!(parse_stage(b"").is_some_and(|empty| matches_index(&empty, &[])));
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        let mut every: String = (0u32..0x80).filter_map(char::from_u32).collect();
        every.push_str("é€😀\u{2028}\u{feff}");
        let mut texts: Vec<String> =
            [every.as_str(), "", "plain", "\"", "\\", "a\nb"].map(String::from).to_vec();
        // Every special byte at every position of strings around the eight-byte steps.
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}', 'é', ' ', '\u{7f}'] {
            for length in 0..20 {
                for at in 0..length {
                    let mut text: Vec<char> =
                        "abcdefghij😀klmnopqrst".chars().take(length).collect();
                    text[at] = special;
                    texts.push(text.into_iter().collect());
                }
            }
        }
        for text in &texts {
            let mut ours = String::new();
            push_string(&mut ours, text);
            assert_eq!(ours, serde_json::to_string(text).expect("serde_json"), "{text:?}");
        }
    }

    #[test]
    fn times_round_trip() {
        for (seconds, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (981_173_106, "2001-02-03T04:05:06Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
        ] {
            assert_eq!(rfc3339(seconds), text);
            assert_eq!(parse_rfc3339(text), Some(seconds));
        }
        for bad in
            ["2001-02-30T00:00:00Z", "2001-02-03 04:05:06Z", "2001-02-03T04:05:06+01:00", "x"]
        {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
