//! Small text helpers shared across the crate, each written once: the sha256 hex digest that the
//! lock, the store, the cache and the runtime compare, and the English of diagnostics.

use sha2::{Digest, Sha256};

/// sha256 of `bytes`, lowercase hex: what `content_sha256`, `cache::Entry::sha256` and the lock
/// hold.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes.as_ref()))
}

/// `a` or `an` before `word` (by its first letter, which is enough for type names).
#[cfg(feature = "cli")]
pub fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// `text` with its first character in lower case, to continue a sentence with a parser's message.
#[cfg(feature = "cli")]
pub fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The 1-based line of byte `offset` in `text` (clamped to its end).
#[cfg(feature = "cli")]
pub fn line_of(text: &str, offset: usize) -> u32 {
    let end = offset.min(text.len());
    memchr::memchr_iter(b'\n', &text.as_bytes()[..end]).count() as u32 + 1
}

/// Where promptctl's documentation lives, for the links in messages and SARIF's `helpUri`: the
/// `PROMPTCTL_DOCS_URL` of the build (a fork or a mirror sets it), else the `docs` folder of the
/// repository that Cargo.toml names. A user's repository has no `docs/format.md`; this does.
pub const DOCS_URL: &str = match option_env!("PROMPTCTL_DOCS_URL") {
    Some(url) => url,
    None => concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs"),
};

/// The link to one page of the documentation (`format.md`, `security.md#anchor`).
pub fn docs(page: &str) -> String {
    format!("{DOCS_URL}/{page}")
}

/// `text` with every control character (`char::is_control`: ESC, CR, LF, BEL, …) written as its
/// Rust escape (`\u{1b}`), so that text from elsewhere (a model server's answer) printed to a
/// terminal or a CI log can move no cursor, ring no bell and start no line (`::error::`).
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!((article("integer"), article("string")), ("an", "a"));
        assert_eq!(lowercase_first("Expected a value"), "expected a value");
        assert_eq!((line_of("a\nb\nc", 0), line_of("a\nb\nc", 2), line_of("a", 99)), (1, 2, 1));
        assert_eq!(escape_controls("plain é"), "plain é");
        assert_eq!(
            escape_controls("a\u{1b}[31mb\r\n::error::c\u{7}"),
            "a\\u{1b}[31mb\\u{d}\\u{a}::error::c\\u{7}"
        );
    }
}
