//! `bundle.json` and its signature (docs/bundle.md): assembling a bundle from the catalog and the
//! commit it was built from, its canonical JSON, the trusted comment, and verification. A bundle
//! whose signature and layout passed is a `Verified`, which only `authenticate` and `verify`
//! make; its prompts are checked on first use. Assembling, signing and verifying are pure;
//! reading the commit's provenance from git (`head`, `Head::provenance`) is the only I/O.

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
    #[error("the bundle breaks a rule of its format: {message}; `promptctl build` never writes such a bundle")]
    Invalid { message: String },
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

/// A bundle whose signature (with a trusted key), trusted comment, format, header, layout and
/// expiry were checked. Its prompts are checked when first asked for (`prompt`, `check`): each
/// one's JSON is parsed, compared with its canonical form, and its versions' digests, front
/// matter and contract are recomputed. Only `authenticate` and `verify` make one, so a function
/// that takes a `Verified` cannot be handed an unsigned or tampered bundle, and cannot read a
/// prompt that did not pass its checks.
///
/// Checking per prompt lets `publish` skip the prompts whose JSON is byte for byte what the store
/// recorded when it last published them (by `digest`): a bundle with one changed prompt of 10,000
/// costs the signature's hash of every byte plus the checks of one prompt.
#[derive(Debug)]
pub struct Verified {
    bytes: Vec<u8>,
    header: Header,
    seq: u64,
    /// Sorted by name (the canonical order).
    entries: Vec<Entry>,
    sha256: String,
}

/// One prompt of a bundle: its name, where its JSON value lies, and its checks once done.
#[derive(Debug)]
struct Entry {
    name: String,
    value: std::ops::Range<usize>,
    digest: u128,
    checked: std::sync::OnceLock<Result<BundlePrompt, Problem>>,
}

/// Why one prompt of a bundle failed its checks (kept with the entry, reported as an `Error`).
#[derive(Debug, Clone)]
enum Problem {
    Malformed(String),
    NotCanonical,
    Integrity { version: u32, message: String },
    Invalid(String),
}

impl Problem {
    fn error(&self, prompt: &str) -> Error {
        match self {
            Problem::Malformed(message) => {
                Error::Malformed { message: format!("prompt `{prompt}`: {message}") }
            }
            Problem::NotCanonical => Error::NotCanonical,
            Problem::Integrity { version, message } => Error::Integrity {
                prompt: prompt.to_string(),
                version: *version,
                message: message.clone(),
            },
            Problem::Invalid(message) => {
                Error::Invalid { message: format!("prompt `{prompt}`: {message}") }
            }
        }
    }
}

impl Verified {
    /// The fields before `prompts`.
    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn git_commit(&self) -> &str {
        &self.header.git_commit
    }

    /// sha256 of the bundle's bytes, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn key_id(&self) -> &str {
        &self.header.key_id
    }

    pub fn development_signed(&self) -> bool {
        self.header.development_signed
    }

    pub fn dirty(&self) -> bool {
        self.header.dirty
    }

    pub fn environments(&self) -> &[String] {
        &self.header.environments
    }

    /// The number of prompts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The prompts' names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|entry| entry.name.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entry(name).is_some()
    }

    /// A digest of the prompt's JSON bytes (xxh3-128, hex): equal digests, equal prompts. Used to
    /// recognise a prompt already published from a verified bundle; the bytes themselves are
    /// authenticated by the signature.
    pub fn digest(&self, name: &str) -> Option<String> {
        self.entry(name).map(|entry| format!("{:032x}", entry.digest))
    }

    /// The prompt, checked (on first use).
    pub fn prompt(&self, name: &str) -> Result<&BundlePrompt, Error> {
        let Some(entry) = self.entry(name) else {
            return Err(Error::Malformed { message: format!("the bundle has no prompt `{name}`") });
        };
        entry
            .checked
            .get_or_init(|| check_entry(&self.bytes, entry, &self.header.environments))
            .as_ref()
            .map_err(|problem| problem.error(&entry.name))
    }

    /// Checks the named prompts (in parallel); the first failure in name order is the error.
    pub fn check<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
        use rayon::prelude::*;
        let mut wanted: Vec<&str> = names.into_iter().collect();
        wanted.sort_unstable();
        wanted.dedup();
        let failures: Vec<Error> =
            wanted.par_iter().filter_map(|name| self.prompt(name).err()).collect();
        failures.into_iter().next().map_or(Ok(()), Err)
    }

    /// Checks every prompt.
    pub fn check_all(&self) -> Result<(), Error> {
        use rayon::prelude::*;
        let failures: Vec<Error> =
            self.entries.par_iter().filter_map(|entry| self.prompt(&entry.name).err()).collect();
        failures.into_iter().next().map_or(Ok(()), Err)
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|entry| entry.name.as_str().cmp(name))
            .ok()
            .map(|index| &self.entries[index])
    }
}

/// Verifies a bundle's bytes against its signature file's text with the `trusted` keys, at `now`
/// (seconds since the Unix epoch), every prompt included.
pub fn verify(
    bytes: Vec<u8>,
    signature: &str,
    trusted: &[PublicKey],
    now: i64,
) -> Result<Verified, Error> {
    let verified = authenticate(bytes, signature, trusted, now)?;
    verified.check_all()?;
    Ok(verified)
}

/// Verifies everything of a bundle but its prompts' contents, which `Verified` checks on first
/// use: the signature over every byte with a trusted key, the trusted comment, the format, the
/// canonical header and layout (sorted names, no whitespace), the signing key's id and expiry.
pub fn authenticate(
    bytes: Vec<u8>,
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
    // The signature's hash and the sha256 each read every byte: side by side, and the layout
    // beside the sha256.
    let (signed, (sha256, layout)) = rayon::join(
        || signing::verify(key, &bytes, signature),
        || rayon::join(|| hex::encode(Sha256::digest(&bytes)), || layout(&bytes)),
    );
    let signed = signed?;
    let (header, seq, entries) = layout?;
    let expected = comment(&header.format, seq, &header.git_commit, &sha256);
    if signed != expected {
        return Err(Error::TrustedComment {
            message: format!("signed `{signed}`, the bundle gives `{expected}`"),
        });
    }
    if header.key_id != signed_by {
        return Err(Error::KeyMismatch { claimed: header.key_id.clone(), actual: signed_by });
    }
    if let Some(expires) = &header.expires {
        let Some(expiry) = parse_rfc3339(expires) else {
            return Err(Error::Malformed {
                message: format!("`expires` is not a UTC time: `{expires}`"),
            });
        };
        if now >= expiry {
            return Err(Error::Expired { expires: expires.clone(), now: rfc3339(now) });
        }
    }
    Ok(Verified { bytes, header, seq, entries, sha256 })
}

/// Whether `bytes` are exactly the canonical JSON of `value`, compared while serialising.
fn is_canonical<T: Serialize + ?Sized>(value: &T, bytes: &[u8]) -> bool {
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
    serde_json::to_writer(&mut compare, value).is_ok() && compare.rest.is_empty()
}

/// The fields of a bundle that come before `prompts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub created: String,
    pub development_signed: bool,
    pub dirty: bool,
    pub environments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub format: String,
    pub git_commit: String,
    pub key_id: String,
}

const PROMPTS_KEY: &[u8] = b",\"prompts\":{";

/// The header of a bundle's bytes and where it ends (at `,"prompts":{`), read from its first
/// bytes without looking at the rest.
fn header(bytes: &[u8]) -> Option<(Header, usize)> {
    let end = memchr::memmem::find(bytes, PROMPTS_KEY)?;
    let mut head = bytes[..end].to_vec();
    head.push(b'}');
    Some((serde_json::from_slice(&head).ok()?, end))
}

/// Splits canonical bundle bytes into the header, the prompts (name and the range of each one's
/// JSON value, with its digest) and seq, checking everything between the prompts' values: the
/// header's canonical form, the names' order and escaping, and the separators. A prompt's value is
/// found by matching braces outside strings; it is parsed only when the prompt is checked.
/// Anything unexpected is reported by a full parse of the document, which names the place.
fn layout(bytes: &[u8]) -> Result<(Header, u64, Vec<Entry>), Error> {
    let Some((header, head_end)) = header(bytes) else { return Err(not_a_bundle(bytes)) };
    if header.format != FORMAT {
        return Err(Error::UnknownFormat { found: header.format });
    }
    let canonical_head = serde_json::to_vec(&header).expect("serialisable");
    if canonical_head[..canonical_head.len() - 1] != bytes[..head_end] {
        return Err(Error::NotCanonical);
    }
    let mut at = head_end + PROMPTS_KEY.len();
    let mut entries: Vec<Entry> = Vec::new();
    loop {
        match bytes.get(at) {
            Some(b'}') => {
                at += 1;
                break;
            }
            Some(b',') if !entries.is_empty() => at += 1,
            Some(b'"') if entries.is_empty() => {}
            _ => return Err(not_a_bundle(bytes)),
        }
        if bytes.get(at) != Some(&b'"') {
            return Err(not_a_bundle(bytes));
        }
        let Some(key_end) = string_end(bytes, at) else { return Err(not_a_bundle(bytes)) };
        let Ok(name) = serde_json::from_slice::<String>(&bytes[at..key_end]) else {
            return Err(not_a_bundle(bytes));
        };
        if serde_json::to_vec(&name).expect("serialisable") != bytes[at..key_end]
            || entries.last().is_some_and(|last| last.name >= name)
        {
            return Err(Error::NotCanonical);
        }
        if !crate::check::is_valid_name(&name) {
            // Shown escaped and cut: a name can hold a newline or megabytes.
            let shown: String = format!("{name:?}").chars().take(80).collect();
            return Err(Error::Invalid {
                message: format!("the prompt name {shown} is not a valid prompt name (lowercase letters, digits and `-`, starting with a letter, at most 64)"),
            });
        }
        at = key_end;
        if bytes.get(at) != Some(&b':') || bytes.get(at + 1) != Some(&b'{') {
            return Err(not_a_bundle(bytes));
        }
        at += 1;
        let Some(end) = object_end(bytes, at) else { return Err(not_a_bundle(bytes)) };
        entries.push(Entry {
            name,
            value: at..end,
            digest: 0,
            checked: std::sync::OnceLock::new(),
        });
        at = end;
    }
    let Some(digits) =
        bytes[at..].strip_prefix(b",\"seq\":").and_then(|rest| rest.strip_suffix(b"}"))
    else {
        return Err(not_a_bundle(bytes));
    };
    let Some(seq) = std::str::from_utf8(digits).ok().and_then(|text| text.parse::<u64>().ok())
    else {
        return Err(not_a_bundle(bytes));
    };
    if seq.to_string().as_bytes() != digits {
        return Err(Error::NotCanonical);
    }
    if i64::try_from(seq).is_err() {
        return Err(Error::Invalid {
            message: format!("`seq` is {seq}, above the largest the store keeps ({})", i64::MAX),
        });
    }
    {
        use rayon::prelude::*;
        entries.par_iter_mut().for_each(|entry| {
            entry.digest = xxhash_rust::xxh3::xxh3_128(&bytes[entry.value.clone()]);
        });
    }
    Ok((header, seq, entries))
}

/// The end (one past the closing quote) of the JSON string that starts at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        let quote = at + memchr::memchr(b'"', bytes.get(at..)?)?;
        let backslashes = bytes[at..quote].iter().rev().take_while(|&&byte| byte == b'\\').count();
        if backslashes % 2 == 0 {
            return Some(quote + 1);
        }
        at = quote + 1;
    }
}

/// The end (one past the closing brace) of the JSON object that starts at `start`.
fn object_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = start;
    loop {
        let found = at + memchr::memchr3(b'"', b'{', b'}', bytes.get(at..)?)?;
        match bytes[found] {
            b'"' => at = string_end(bytes, found)?,
            b'{' => {
                depth += 1;
                at = found + 1;
            }
            _ => {
                depth = depth.checked_sub(1)?;
                at = found + 1;
                if depth == 0 {
                    return Some(at);
                }
            }
        }
    }
}

/// The error for bytes that do not have a bundle's canonical layout, from a full parse: an
/// unknown format when its `format` says so, malformed (with serde's place) when it is not a
/// bundle, and not canonical when it is one in another form.
fn not_a_bundle(bytes: &[u8]) -> Error {
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        format: Option<serde_json::Value>,
    }
    let unknown_format = |found: &str| Error::UnknownFormat { found: found.to_string() };
    match serde_json::from_slice::<Bundle>(bytes) {
        Ok(bundle) if bundle.format == FORMAT => Error::NotCanonical,
        Ok(bundle) => unknown_format(&bundle.format),
        Err(error) => match serde_json::from_slice::<Head>(bytes) {
            Ok(Head { format: Some(serde_json::Value::String(format)) }) if format != FORMAT => {
                unknown_format(&format)
            }
            Ok(Head { format: None }) => unknown_format(""),
            _ => Error::Malformed { message: error.to_string() },
        },
    }
}

/// One prompt's checks: its JSON parses into a `BundlePrompt`, is in canonical form, keeps the
/// format's rules (versions numbered 1..N, activations of environments the bundle names and of
/// versions it holds, templates within the size cap that parse), and each version's digests hold.
fn check_entry(
    bytes: &[u8],
    entry: &Entry,
    environments: &[String],
) -> Result<BundlePrompt, Problem> {
    let value = &bytes[entry.value.clone()];
    let prompt: BundlePrompt =
        serde_json::from_slice(value).map_err(|error| Problem::Malformed(error.to_string()))?;
    if !is_canonical(&prompt, value) {
        return Err(Problem::NotCanonical);
    }
    if prompt.versions.is_empty() {
        return Err(Problem::Invalid("it has no version".into()));
    }
    for (index, version) in prompt.versions.iter().enumerate() {
        if version.version as usize != index + 1 {
            return Err(Problem::Invalid(format!(
                "its versions are not numbered 1 to {} in order (found {} at position {})",
                prompt.versions.len(),
                version.version,
                index + 1
            )));
        }
        if version.template.len() as u64 > crate::config::MAX_TEMPLATE_BYTES_CAP {
            return Err(Problem::Invalid(format!(
                "the template of version {} is {} bytes, over the cap of {} bytes",
                version.version,
                version.template.len(),
                crate::config::MAX_TEMPLATE_BYTES_CAP
            )));
        }
        if let Err(error) = crate::syntax::template::parse(&version.template) {
            return Err(Problem::Invalid(format!(
                "the template of version {} does not parse: {}",
                version.version, error.message
            )));
        }
    }
    for (environment, version) in &prompt.activate {
        if !environments.contains(environment) {
            return Err(Problem::Invalid(format!(
                "it activates a version in `{environment}`, an environment the bundle does not list"
            )));
        }
        if *version == 0 || *version as usize > prompt.versions.len() {
            return Err(Problem::Invalid(format!(
                "it activates version {version} in `{environment}`, which it does not hold"
            )));
        }
    }
    for version in &prompt.versions {
        match check_version(&entry.name, version) {
            Ok(()) => {}
            Err(Error::Integrity { version, message, .. }) => {
                return Err(Problem::Integrity { version, message })
            }
            Err(other) => return Err(Problem::Malformed(other.to_string())),
        }
    }
    Ok(prompt)
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

    /// A signed bundle of `catalog()` with real digests, its key, and the trusted public key.
    fn signed_bundle() -> (Bundle, SecretKey, PublicKey) {
        let (_, secret, _) = signing::generate(None).expect("generate");
        let key = signing::read_secret_key(&secret, None, "test key").expect("read");
        let public = signing::read_public_key(&key.public_key_text(), "test key").expect("public");
        let mut catalog = catalog();
        for prompt in &mut catalog.prompts {
            for version in &mut prompt.versions {
                let mut hasher = Sha256::new();
                hasher.update(version.front_matter.as_bytes());
                hasher.update(version.template.as_bytes());
                version.sha256 = hex::encode(hasher.finalize());
            }
        }
        let provenance = Provenance {
            seq: 7,
            git_commit: "cd".repeat(20),
            commit_time: 981_173_106,
            dirty: false,
        };
        let options = Options { expires_in_days: None, development_signed: false };
        (assemble(&catalog, &provenance, &key.key_id(), options), key, public)
    }

    /// Signs `json` as `build` would sign a bundle with that format, seq and commit.
    fn sign_json(json: &str, bundle: &Bundle, key: &SecretKey) -> String {
        let sha256 = hex::encode(Sha256::digest(json.as_bytes()));
        signing::sign(key, json.as_bytes(), &trusted_comment(bundle, &sha256), UNTRUSTED_COMMENT)
    }

    fn authentic(
        json: &str,
        bundle: &Bundle,
        key: &SecretKey,
        public: &PublicKey,
    ) -> Result<Verified, Error> {
        let signature = sign_json(json, bundle, key);
        authenticate(json.as_bytes().to_vec(), &signature, std::slice::from_ref(public), 0)
    }

    #[test]
    fn a_bundle_is_split_into_its_prompts_without_parsing_them() {
        let (bundle, key, public) = signed_bundle();
        let json = to_json(&bundle);
        let verified = authentic(&json, &bundle, &key, &public).expect("authentic");
        assert_eq!(verified.names().collect::<Vec<_>>(), ["b-prompt", "chess", "qa"]);
        assert_eq!(verified.seq(), 7);
        assert_eq!(verified.header().git_commit, "cd".repeat(20));
        // Each prompt's value is exactly its canonical JSON, whatever its strings hold (quotes,
        // backslashes, braces in the template and descriptions).
        for (name, prompt) in &bundle.prompts {
            assert_eq!(verified.prompt(name).expect("checks"), prompt);
            let entry = verified.entry(name).expect("entry");
            assert_eq!(&json.as_bytes()[entry.value.clone()], serde_json::to_vec(prompt).unwrap());
        }
        verified.check_all().expect("every prompt checks");
        assert!(verify(
            json.as_bytes().to_vec(),
            &sign_json(&json, &bundle, &key),
            std::slice::from_ref(&public),
            0
        )
        .is_ok());

        // The digest follows the prompt's bytes, and only them.
        let mut changed = bundle.clone();
        changed.prompts.get_mut("chess").unwrap().description.push('!');
        let other = authentic(&to_json(&changed), &changed, &key, &public).expect("authentic");
        assert_eq!(other.digest("qa"), verified.digest("qa"));
        assert_eq!(other.digest("b-prompt"), verified.digest("b-prompt"));
        assert_ne!(other.digest("chess"), verified.digest("chess"));
        assert_eq!(verified.digest("nope"), None);
    }

    #[test]
    fn bytes_that_are_not_the_canonical_layout_are_refused() {
        let (bundle, key, public) = signed_bundle();
        let json = to_json(&bundle);
        let refused = |text: &str| match authentic(text, &bundle, &key, &public) {
            Ok(verified) => verified.check_all().expect_err("refused"),
            Err(error) => error,
        };
        let pretty = serde_json::to_string_pretty(&bundle).unwrap();
        assert!(matches!(refused(&pretty), Error::NotCanonical), "{}", refused(&pretty));
        // Prompts out of order, and twice.
        let chess =
            format!("\"chess\":{}", serde_json::to_string(&bundle.prompts["chess"]).unwrap());
        let qa = format!("\"qa\":{}", serde_json::to_string(&bundle.prompts["qa"]).unwrap());
        let swapped = json.replace(&format!("{chess},{qa}"), &format!("{qa},{chess}"));
        assert_ne!(swapped, json);
        assert!(matches!(refused(&swapped), Error::NotCanonical));
        let twice = json.replace(&qa, &format!("{qa},{qa}"));
        assert!(matches!(refused(&twice), Error::NotCanonical));
        // Whitespace inside one prompt: the others still check, that one does not.
        let spaced = json.replacen("\"activate\":{", "\"activate\": {", 1);
        let verified = authentic(&spaced, &bundle, &key, &public).expect("the layout holds");
        assert!(matches!(verified.prompt("b-prompt"), Err(Error::NotCanonical)));
        assert!(verified.prompt("qa").is_ok());
        // An unknown field in a prompt, at the top level, a seq with a leading zero, a cut.
        let extra = json.replacen("\"activate\":{", "\"activatf\":1,\"activate\":{", 1);
        let error = refused(&extra);
        assert!(
            error.to_string().contains("prompt `b-prompt`: unknown field `activatf`"),
            "{error}"
        );
        let top = json.replacen("{\"created\"", "{\"a\":1,\"created\"", 1);
        assert!(matches!(refused(&top), Error::Malformed { .. }), "{}", refused(&top));
        let zero = json.replace(",\"seq\":7}", ",\"seq\":07}");
        assert!(matches!(refused(&zero), Error::Malformed { .. } | Error::NotCanonical));
        for cut in [json.len() - 1, json.len() / 2, 40] {
            assert!(matches!(refused(&json[..cut]), Error::Malformed { .. }), "cut at {cut}");
        }
        let future = json.replace(FORMAT, "promptctl.bundle/2");
        let mut newer = bundle.clone();
        newer.format = "promptctl.bundle/2".into();
        let signature = sign_json(&future, &newer, &key);
        let error = authenticate(future.into_bytes(), &signature, std::slice::from_ref(&public), 0)
            .unwrap_err();
        assert!(matches!(error, Error::UnknownFormat { .. }), "{error}");
    }

    #[test]
    fn bundles_build_never_makes_are_refused_even_signed() {
        let (bundle, key, public) = signed_bundle();
        let refused = |bundle: &Bundle| {
            let json = to_json(bundle);
            let error = match authentic(&json, bundle, &key, &public) {
                Ok(verified) => verified.check_all().expect_err("refused"),
                Err(error) => error,
            };
            assert!(matches!(error, Error::Invalid { .. }), "{error}");
            assert!(!error.to_string().contains('\n'), "a newline reaches the logs: {error}");
            error.to_string()
        };
        // Names outside the pattern: they would reach SQL rows, Redis keys and CI logs.
        for name in ["a\nb", "_revision", "", "Qa", "a*", "a\"b", &"a".repeat(5_000)] {
            let mut odd = bundle.clone();
            let prompt = odd.prompts["qa"].clone();
            odd.prompts.insert(name.to_string(), prompt);
            let message = refused(&odd);
            assert!(message.contains("is not a valid prompt name"), "{message}");
            assert!(message.len() < 400, "{message}");
        }
        let with = |change: &dyn Fn(&mut BundlePrompt)| {
            let mut odd = bundle.clone();
            change(odd.prompts.get_mut("qa").unwrap());
            for version in &mut odd.prompts.get_mut("qa").unwrap().versions {
                let mut hasher = Sha256::new();
                hasher.update(version.front_matter.as_bytes());
                hasher.update(version.template.as_bytes());
                version.sha256 = hex::encode(hasher.finalize());
            }
            refused(&odd)
        };
        let message = with(&|prompt| prompt.versions[1] = prompt.versions[0].clone());
        assert!(message.contains("not numbered 1 to 2"), "{message}");
        let message = with(&|prompt| prompt.versions[0].version = 0);
        assert!(message.contains("not numbered 1 to 2"), "{message}");
        let message = with(&|prompt| prompt.versions.clear());
        assert!(message.contains("no version"), "{message}");
        let message = with(&|prompt| prompt.versions[1].template = "{{#if x}}".into());
        assert!(message.contains("version 2 does not parse"), "{message}");
        let deep = format!("{}x{}", "{{#if x}}".repeat(1_500), "{{/if}}".repeat(1_500));
        let message = with(&|prompt| prompt.versions[1].template = deep.clone());
        assert!(message.contains("blocks nest more than 64 deep"), "{message}");
        let huge = "x".repeat(crate::config::MAX_TEMPLATE_BYTES_CAP as usize + 1);
        let message = with(&|prompt| prompt.versions[0].template = huge.clone());
        assert!(message.contains("over the cap"), "{message}");
        let message = with(&|prompt| {
            prompt.activate.insert("production".into(), 5);
        });
        assert!(message.contains("activates version 5 in `production`"), "{message}");
        let message = with(&|prompt| {
            prompt.activate.insert("nowhere".into(), 1);
        });
        assert!(
            message.contains("`nowhere`, an environment the bundle does not list"),
            "{message}"
        );
        // A seq the store cannot keep (it once became -1, voiding the downgrade guard).
        let mut far = bundle.clone();
        far.seq = i64::MAX as u64 + 1;
        let message = refused(&far);
        assert!(message.contains("above the largest the store keeps"), "{message}");
    }

    #[test]
    fn json_strings_and_objects_end_where_json_says() {
        // `"a\\"` ends after its fourth byte's quote; `"a\"b\\\"c"`: escaped quotes inside.
        let text = br#""a\\"x"#;
        assert_eq!(string_end(text, 0), Some(5));
        let text = br#""a\"b\\\"c"x"#;
        assert_eq!(string_end(text, 0), Some(11));
        assert_eq!(string_end(br#""a\"x"#, 0), None);
        assert_eq!(string_end(br#""open"#, 0), None);
        let text = br#"{"a":{"}":"{"},"b":[{}]}tail"#;
        assert_eq!(object_end(text, 0), Some(text.len() - 4));
        assert_eq!(object_end(br#"{"a":{"b":1}"#, 0), None);
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
