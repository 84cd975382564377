//! Verification: `authenticate` (signature, trusted comment, canonical header and layout, expiry)
//! and `verify` (that and every prompt), the only ways to a `Verified`; a prompt's own checks run
//! on its first read.

use super::*;

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
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) value: std::ops::Range<usize>,
    pub(super) digest: u128,
    pub(super) checked: std::sync::OnceLock<Result<BundlePrompt, Problem>>,
}

/// Why one prompt of a bundle failed its checks (kept with the entry, reported as an `Error`).
#[derive(Debug, Clone)]
pub(super) enum Problem {
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

    pub(super) fn entry(&self, name: &str) -> Option<&Entry> {
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
pub(super) fn is_canonical<T: Serialize + ?Sized>(value: &T, bytes: &[u8]) -> bool {
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

pub(super) const PROMPTS_KEY: &[u8] = b",\"prompts\":{";

/// The header of a bundle's bytes and where it ends (at `,"prompts":{`), read from its first
/// bytes without looking at the rest.
pub(super) fn header(bytes: &[u8]) -> Option<(Header, usize)> {
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
pub(super) fn layout(bytes: &[u8]) -> Result<(Header, u64, Vec<Entry>), Error> {
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
pub(super) fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
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
pub(super) fn object_end(bytes: &[u8], start: usize) -> Option<usize> {
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
pub(super) fn not_a_bundle(bytes: &[u8]) -> Error {
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
pub(super) fn check_entry(
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
    for (environment, canary) in &prompt.canary {
        let Some(stable) = prompt.activate.get(environment) else {
            return Err(Problem::Invalid(format!(
                "it has a canary in `{environment}` but no version activated there"
            )));
        };
        if canary.version == 0 || canary.version as usize > prompt.versions.len() {
            return Err(Problem::Invalid(format!(
                "its canary in `{environment}` is version {}, which it does not hold",
                canary.version
            )));
        }
        if canary.version == *stable || canary.basis_points > crate::rollout::BUCKETS {
            return Err(Problem::Invalid(format!(
                "its canary in `{environment}` (v{} at {} basis points beside v{stable}) is not a rollout",
                canary.version, canary.basis_points
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
pub(super) fn check_version(name: &str, version: &BundleVersion) -> Result<(), Error> {
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
    let contract = catalog::contract(&version.variables);
    if contract != version.contract {
        return Err(corrupt(format!(
            "`contract` is {} but `variables` give {contract}",
            version.contract
        )));
    }
    Ok(())
}
