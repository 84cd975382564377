//! Writing a bundle: `write` (a whole catalog, in batches) and `write_entries` (entries serialised
//! beside the check), hashing each piece as it is written (sha256 and minisign's BLAKE2b prehash),
//! and signing (`sign`, the trusted comment).

use super::*;

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
    pub fn new(prompt: &catalog::Prompt) -> PromptEntry {
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
pub(super) fn head_json(
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

pub(super) fn write_in_batches(
    catalog: &Catalog,
    provenance: &Provenance,
    key: &SecretKey,
    options: Options,
    out: &mut (dyn std::io::Write + Send),
    batch_size: usize,
) -> std::io::Result<Written> {
    use rayon::prelude::*;
    // `Bundle::prompts` is a map: sorted by name, whatever order the catalog is in.
    let mut prompts: Vec<&catalog::Prompt> = catalog.prompts.iter().collect();
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
pub(super) fn finish(
    mut sink: Sink,
    provenance: &Provenance,
    key: &SecretKey,
) -> std::io::Result<Written> {
    sink.emit(format!("}},\"seq\":{}}}", provenance.seq).as_bytes())?;
    let sha256 = hex::encode(sink.sha256.finalize());
    let comment = comment(FORMAT, provenance.seq, &provenance.git_commit, &sha256);
    let signature =
        signing::sign_prehashed(key, &sink.prehash.finish(), &comment, UNTRUSTED_COMMENT);
    Ok(Written { sha256, signature })
}

/// Where `write` puts the bytes: the output and both digests.
pub(super) struct Sink<'a> {
    pub(super) out: &'a mut (dyn std::io::Write + Send),
    pub(super) sha256: Sha256,
    pub(super) prehash: signing::Prehasher,
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

/// The trusted comment: format, seq, commit and the sha256 of the bundle's bytes, so that
/// `minisign -V` shows what it verified. No times, so that it is reproducible.
pub fn trusted_comment(bundle: &Bundle, sha256: &str) -> String {
    comment(&bundle.format, bundle.seq, &bundle.git_commit, sha256)
}

pub(super) fn comment(format: &str, seq: u64, git_commit: &str, sha256: &str) -> String {
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
