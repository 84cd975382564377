//! The canonical JSON of a bundle: `to_json` through serde (the reference) and `prompt_json`, which
//! writes one prompt's entry byte for byte as serde would, without building the tree.

use super::*;

/// `"name":{…}`: one entry of a bundle's `prompts`, as serde writes a `BundlePrompt`, appended to
/// `out`.
pub(super) fn prompt_json(prompt: &catalog::Prompt, out: &mut String) {
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
    out.push('}');
    if !prompt.canary.is_empty() {
        out.push_str(",\"canary\":{");
        for (index, (environment, canary)) in prompt.canary.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            push_string(out, environment);
            out.push_str(":{\"basis_points\":");
            push_number(out, u64::from(canary.basis_points));
            out.push_str(",\"version\":");
            push_number(out, u64::from(canary.version));
            out.push('}');
        }
        out.push('}');
    }
    out.push_str(",\"description\":");
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
            out.push_str(&catalog::canonical_json(&serde_json::Value::Object(model)));
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
pub(super) enum Specs {
    /// `catalog::Version::variables_json`.
    Full,
    /// What `catalog::contract` hashes: without `description` and `source`.
    Contract,
}

/// `{name: spec}` in canonical JSON, keys sorted by their bytes.
pub(super) fn push_specs(out: &mut String, variables: &[Variable], form: Specs) {
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
pub(super) fn push_spec(out: &mut String, variable: &Variable, top: bool, form: Specs) {
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

pub(super) fn push_number(out: &mut String, number: u64) {
    use std::fmt::Write;
    let _ = write!(out, "{number}");
}

/// A JSON string as `serde_json` writes it: `"`, `\\` and control characters escaped (the short
/// forms `\b \t \n \f \r`, else `\u00xx`), everything else as it is. Templates are long runs of
/// plain text, so it skips eight bytes at a time while none of them needs escaping.
pub(super) fn push_string(out: &mut String, text: &str) {
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
pub(super) fn may_need_escaping(word: u64) -> bool {
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
/// compares both with `catalog::canonical_json`).
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
pub(super) fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
