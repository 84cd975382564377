//! Secrets: a keyword prefilter (one Aho-Corasick pass), then a rule's anchored regex at each
//! keyword hit, then the rule's checks (entropy, length, allowlist) on what it matched.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    OpenAi,
    Anthropic,
    Google,
    AwsAccessKey,
    AwsSecretKey,
    GitHub,
    Slack,
    Stripe,
    PrivateKey,
    Jwt,
    Generic,
    /// A rule of the table (`rules::RuleSet::listed`), by index.
    Listed(usize),
}

impl Rule {
    /// The rules whose checks are code, in the order they are tried.
    pub(super) const CODED: [Rule; 11] = [
        Rule::OpenAi,
        Rule::Anthropic,
        Rule::Google,
        Rule::AwsAccessKey,
        Rule::AwsSecretKey,
        Rule::GitHub,
        Rule::Slack,
        Rule::Stripe,
        Rule::PrivateKey,
        Rule::Jwt,
        Rule::Generic,
    ];

    /// The rule's id, as gitleaks names its counterpart (what `[extend] disabledRules` lists).
    pub(super) fn id(self) -> &'static str {
        match self {
            Rule::OpenAi => "openai-api-key",
            Rule::Anthropic => "anthropic-api-key",
            Rule::Google => "gcp-api-key",
            Rule::AwsAccessKey => "aws-access-token",
            Rule::AwsSecretKey => "aws-secret-access-key",
            Rule::GitHub => "github-token",
            Rule::Slack => "slack-token",
            Rule::Stripe => "stripe-access-token",
            Rule::PrivateKey => "private-key",
            Rule::Jwt => "jwt",
            Rule::Generic => "generic-api-key",
            Rule::Listed(_) => "",
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Rule::OpenAi => "OpenAI API key",
            Rule::Anthropic => "Anthropic API key",
            Rule::Google => "Google API key",
            Rule::AwsAccessKey => "AWS access key id",
            Rule::AwsSecretKey => "AWS secret access key",
            Rule::GitHub => "GitHub token",
            Rule::Slack => "Slack token",
            Rule::Stripe => "Stripe live key",
            Rule::PrivateKey => "PEM private key",
            Rule::Jwt => "JSON Web Token",
            Rule::Generic => "high-entropy secret",
            Rule::Listed(_) => "secret",
        }
    }
}

/// Token prefixes, matched as they are written.
pub(super) const PREFIXES: &[(&str, Rule)] = &[
    ("sk-", Rule::OpenAi),
    ("AIza", Rule::Google),
    ("AKIA", Rule::AwsAccessKey),
    ("ASIA", Rule::AwsAccessKey),
    ("ABIA", Rule::AwsAccessKey),
    ("ACCA", Rule::AwsAccessKey),
    ("ghp_", Rule::GitHub),
    ("gho_", Rule::GitHub),
    ("ghs_", Rule::GitHub),
    ("ghu_", Rule::GitHub),
    ("ghr_", Rule::GitHub),
    ("github_pat_", Rule::GitHub),
    ("xox", Rule::Slack),
    ("sk_live_", Rule::Stripe),
    ("rk_live_", Rule::Stripe),
    ("-----BEGIN", Rule::PrivateKey),
    ("eyJ", Rule::Jwt),
];

/// Words that name a secret, matched in lower case, upper case and capitalised (`apiKey`,
/// `API_KEY`, `api_key`): three spellings instead of case-insensitive matching keep the automaton
/// small enough for the SIMD prefilter, which is what keeps this pass cheap.
pub(super) const WORDS: &[(&str, Rule)] = &[
    ("aws", Rule::AwsSecretKey),
    ("key", Rule::Generic),
    ("token", Rule::Generic),
    ("secret", Rule::Generic),
    ("password", Rule::Generic),
    ("passwd", Rule::Generic),
    ("pwd", Rule::Generic),
    ("credential", Rule::Generic),
];

pub(super) struct Patterns {
    pub(super) keywords: AhoCorasick,
    /// The rule of each keyword of `keywords`, by pattern index.
    pub(super) rules: Vec<Rule>,
    pub(super) openai: Regex,
    pub(super) anthropic: Regex,
    pub(super) google: Regex,
    pub(super) aws_access_key: Regex,
    pub(super) aws_secret_key: Regex,
    pub(super) github: Regex,
    pub(super) github_pat: Regex,
    pub(super) slack: Regex,
    pub(super) stripe: Regex,
    pub(super) private_key: Regex,
    pub(super) jwt: Regex,
    pub(super) generic: Regex,
}

pub(super) static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let regex = |pattern: &str| Regex::new(pattern).expect("the secret patterns are valid");
    let mut keywords: Vec<String> = Vec::new();
    let mut rules = Vec::new();
    for (prefix, rule) in PREFIXES {
        keywords.push(prefix.to_string());
        rules.push(*rule);
    }
    for (word, rule) in WORDS {
        let mut capitalised = word.to_string();
        capitalised[..1].make_ascii_uppercase();
        for spelling in [word.to_string(), word.to_ascii_uppercase(), capitalised] {
            keywords.push(spelling);
            rules.push(*rule);
        }
    }
    Patterns {
        keywords: AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&keywords)
            .expect("the secret keywords build an automaton"),
        rules,
        openai: regex(r"^sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,}"),
        anthropic: regex(r"^sk-ant-[a-z0-9]{2,16}-[A-Za-z0-9_-]{32,}"),
        google: regex(r"^AIza[0-9A-Za-z_-]{35}"),
        aws_access_key: regex(r"^(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}"),
        aws_secret_key: regex(r"(?:^|[^A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"),
        github: regex(r"^gh[pousr]_[A-Za-z0-9]{36,251}"),
        github_pat: regex(r"^github_pat_[A-Za-z0-9_]{50,255}"),
        slack: regex(r"^xox[baprs]-[0-9A-Za-z-]{10,250}"),
        stripe: regex(r"^[sr]k_live_[0-9A-Za-z]{20,247}"),
        private_key: regex(r"^-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"),
        jwt: regex(r"^eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"),
        generic: regex(
            r#"^(?i:key|token|secret|password|passwd|pwd|credential)([A-Za-z0-9_.-]*)["']?[ \t]*(?:=|:=|=>|:)[ \t]*(?:"([!#-\[\]-z|~]{12,256})"|'([!-&(-\[\]-z|~]{12,256})'|([A-Za-z0-9_\-+/=.~!@$%^&*]{12,256}))"#,
        ),
    }
});

/// One secret: where it is and how much of its start may be shown.
#[derive(Debug, Clone)]
pub(super) struct Secret {
    pub(super) rule: Rule,
    pub(super) span: Range<usize>,
    /// Bytes of a fixed, public prefix (`sk-p`, `ghp_`, `AKIA`) the message may show: at most 4,
    /// and 0 when the secret has no such prefix.
    pub(super) shown: usize,
    /// For an assignment, the name it is assigned to (`OPENAI_API_KEY`).
    pub(super) key: Option<Range<usize>>,
}

impl Secret {
    pub(super) fn finding(&self, text: &str, rules: &RuleSet) -> Finding {
        let value = &text[self.span.clone()];
        let shown = &value[..self.shown.min(4).min(value.len())];
        let hidden = value[shown.len()..].chars().count();
        let redacted = if shown.is_empty() {
            format!("[redacted {hidden} chars]")
        } else {
            format!("{shown}…[redacted {hidden} chars]")
        };
        let message = match &self.key {
            Some(key) if self.rule == Rule::Generic => format!(
                "`{}` is assigned a high-entropy value that looks like a secret ({redacted})",
                &text[key.clone()]
            ),
            _ if matches!(self.rule, Rule::Listed(_)) => match self.rule.listed(rules) {
                Some(rule) if rule.builtin => format!("possible {} ({redacted})", rule.description),
                Some(rule) => format!("secret matched by rule `{}` ({redacted})", rule.id),
                None => format!("possible secret ({redacted})"),
            },
            _ => format!("possible {} ({redacted})", self.rule.name()),
        };
        Finding {
            code: Code::SecuritySecret,
            span: self.span.clone(),
            message,
            label: "secret (redacted in every output)".into(),
            help: "remove it and revoke it, since it stays in the git history; give credentials to the application at run time, never in prompt files. A revoked value kept on purpose can be suppressed with `promptctl-allow: security/secret reason=\"…\"` in a comment on the line before, or, in a locked version, with a `[[suppress]]` entry of its prompt.toml".into(),
        }
    }
}

impl Rule {
    pub(super) fn listed(self, rules: &RuleSet) -> Option<&Listed> {
        match self {
            Rule::Listed(index) => rules.listed.get(index),
            _ => None,
        }
    }
}

/// Every secret in `text` (of the file at `path`, when known), sorted, without overlaps: the
/// table's rules first, then the coded ones, a specific rule winning over the generic one.
pub(super) fn find_secrets(rules: &RuleSet, text: &str, path: Option<&str>) -> Vec<Secret> {
    let patterns = &*PATTERNS;
    let mut specific: Vec<Secret> = Vec::new();
    for secret in rules.find(text, path) {
        if !specific.iter().any(|s| overlaps(&s.span, &secret.span)) {
            specific.push(secret);
        }
    }
    let mut generic: Vec<Secret> = Vec::new();
    for hit in patterns.keywords.find_iter(text) {
        let start = hit.start();
        let rule = patterns.rules[hit.pattern().as_usize()];
        let rule = if rule == Rule::OpenAi && text[start..].starts_with("sk-ant-") {
            Rule::Anthropic
        } else {
            rule
        };
        if !rules.enabled(rule) {
            continue;
        }
        // A keyword inside a secret already found (`key` in a PEM body) starts nothing. (The AWS
        // secret rule finds its value after its keyword, so findings are not in keyword order.)
        if specific.iter().any(|secret| secret.span.contains(&start)) {
            continue;
        }
        let found = match rule {
            Rule::Generic => {
                if let Some(secret) = generic_assignment(text, start) {
                    generic.push(secret);
                }
                continue;
            }
            Rule::AwsSecretKey => aws_secret_key(text, hit.end()),
            _ if !left_boundary(text, start) => None,
            Rule::Anthropic => anthropic(text, start),
            Rule::OpenAi => openai(text, start),
            Rule::Google => token(text, start, rule, &patterns.google, 4, true),
            Rule::AwsAccessKey => token(text, start, rule, &patterns.aws_access_key, 4, true)
                .filter(|secret| !text[secret.span.clone()].contains("EXAMPLE")),
            Rule::GitHub if text[start..].starts_with("github_pat_") => {
                token(text, start, rule, &patterns.github_pat, 11, false)
            }
            Rule::GitHub => token(text, start, rule, &patterns.github, 4, false),
            Rule::Slack => token(text, start, rule, &patterns.slack, 5, false)
                .filter(|secret| has_digit(&text[secret.span.clone()])),
            Rule::Stripe => token(text, start, rule, &patterns.stripe, 8, false),
            Rule::PrivateKey => private_key(text, start),
            Rule::Jwt => jwt(text, start),
            Rule::Listed(_) => None,
        };
        if let Some(secret) = found {
            if !specific.iter().any(|s| overlaps(&s.span, &secret.span)) {
                specific.push(secret);
            }
        }
    }
    for secret in generic {
        if !specific.iter().any(|s| overlaps(&s.span, &secret.span)) {
            specific.push(secret);
        }
    }
    specific.sort_by_key(|secret| secret.span.start);
    specific
}

pub(super) fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

pub(super) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// A token starts a word: `task-list` does not hold an `sk-` key.
pub(super) fn left_boundary(text: &str, start: usize) -> bool {
    start == 0 || !is_token_byte(text.as_bytes()[start - 1])
}

/// A fixed-prefix token: `pattern` anchored at `start`, not followed by another token byte when
/// `exact` (fixed-length formats), with a random-looking part after its `prefix` bytes.
pub(super) fn token(
    text: &str,
    start: usize,
    rule: Rule,
    pattern: &Regex,
    prefix: usize,
    exact: bool,
) -> Option<Secret> {
    let found = pattern.find(&text[start..])?;
    let end = start + found.end();
    if exact && text.as_bytes().get(end).is_some_and(|b| is_token_byte(*b)) {
        return None;
    }
    let random = &text[start + prefix.min(found.len())..end];
    if entropy(random) < 3.0 || is_placeholder(random) {
        return None;
    }
    Some(Secret { rule, span: start..end, shown: prefix.min(4), key: None })
}

pub(super) fn openai(text: &str, start: usize) -> Option<Secret> {
    let found = PATTERNS.openai.find(&text[start..])?;
    let value = found.as_str();
    let prefix = ["sk-proj-", "sk-svcacct-", "sk-admin-"]
        .iter()
        .find(|p| value.starts_with(**p))
        .map_or(3, |p| p.len());
    let random = &value[prefix..];
    if random.len() < 20 || entropy(random) < 3.5 || !has_digit(random) || is_placeholder(random) {
        return None;
    }
    Some(Secret {
        rule: Rule::OpenAi,
        span: start..start + found.end(),
        shown: prefix.min(4),
        key: None,
    })
}

pub(super) fn anthropic(text: &str, start: usize) -> Option<Secret> {
    let found = PATTERNS.anthropic.find(&text[start..])?;
    let value = found.as_str();
    let random = &value[value[7..].find('-').map_or(7, |i| 8 + i)..];
    if entropy(random) < 3.5 || is_placeholder(random) {
        return None;
    }
    Some(Secret { rule: Rule::Anthropic, span: start..start + found.end(), shown: 4, key: None })
}

/// A 40-character base64 run on the rest of a line that mentions AWS.
pub(super) fn aws_secret_key(text: &str, after_keyword: usize) -> Option<Secret> {
    let line_end = text[after_keyword..].find('\n').map_or(text.len(), |i| after_keyword + i);
    let mut window_end = line_end.min(after_keyword + 256);
    while !text.is_char_boundary(window_end) {
        window_end -= 1;
    }
    let window = &text[after_keyword..window_end];
    PATTERNS.aws_secret_key.captures_iter(window).find_map(|captures| {
        let value = captures.get(1)?;
        let candidate = value.as_str();
        let plausible = candidate.bytes().any(|b| b.is_ascii_uppercase())
            && candidate.bytes().any(|b| b.is_ascii_lowercase())
            && has_digit(candidate)
            && entropy(candidate) >= 4.0
            && !candidate.contains("EXAMPLE")
            && !is_placeholder(candidate);
        plausible.then(|| Secret {
            rule: Rule::AwsSecretKey,
            span: after_keyword + value.start()..after_keyword + value.end(),
            shown: 0,
            key: None,
        })
    })
}

/// `-----BEGIN … PRIVATE KEY-----`, its base64 body (raw lines or `\n` escapes inside a string)
/// and its `-----END … -----` line.
pub(super) fn private_key(text: &str, start: usize) -> Option<Secret> {
    let header = PATTERNS.private_key.find(&text[start..])?;
    let body_start = start + header.end();
    let mut window_end = text.len().min(body_start + 32 * 1024);
    while !text.is_char_boundary(window_end) {
        window_end -= 1;
    }
    let window = &text[body_start..window_end];
    let (body, end) = match window.find("-----END") {
        Some(at) => {
            let footer = &window[at + 8..];
            let close = footer.find("-----").filter(|&i| !footer[..i].contains('\n'));
            let end = close.map_or(body_start + at + 8, |i| body_start + at + 8 + i + 5);
            (&window[..at], end)
        }
        None => {
            let length = window
                .find(|c: char| {
                    !(c.is_ascii_alphanumeric()
                        || matches!(c, '+' | '/' | '=' | '\\')
                        || c.is_whitespace())
                })
                .unwrap_or(window.len());
            (&window[..length], body_start + length)
        }
    };
    let base64: String = body
        .replace("\\n", "\n")
        .replace("\\r", "\n")
        .lines()
        .filter(|line| !line.contains(':'))
        .flat_map(|line| line.chars())
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    if base64.len() < 64 || entropy(&base64) < 4.0 || is_placeholder(&base64) {
        return None;
    }
    Some(Secret { rule: Rule::PrivateKey, span: start..end, shown: 0, key: None })
}

/// The base64url JSON header of a JWT names its algorithm.
pub(super) fn jwt(text: &str, start: usize) -> Option<Secret> {
    let found = PATTERNS.jwt.find(&text[start..])?;
    let value = found.as_str();
    let header = value.split('.').next()?;
    let decoded = base64url_decode(header)?;
    let json: serde_json::Value = serde_json::from_slice(&decoded).ok()?;
    json.as_object()?.get("alg")?;
    // The example token of jwt.io and RFC-style documentation.
    if value.ends_with("SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c") {
        return None;
    }
    Some(Secret { rule: Rule::Jwt, span: start..start + found.end(), shown: 0, key: None })
}

pub(super) fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in input.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `api_key = "…"`, `password: …`, `"client_secret": "…"` with a value that looks random.
pub(super) fn generic_assignment(text: &str, start: usize) -> Option<Secret> {
    let captures = PATTERNS.generic.captures(&text[start..])?;
    let value = captures.get(2).or_else(|| captures.get(3)).or_else(|| captures.get(4))?;
    if !plausible_generic(value.as_str()) {
        return None;
    }
    let bytes = text.as_bytes();
    let mut key_start = start;
    while key_start > 0
        && (bytes[key_start - 1].is_ascii_alphanumeric()
            || matches!(bytes[key_start - 1], b'_' | b'.' | b'-'))
    {
        key_start -= 1;
    }
    let key_end = captures.get(1).map_or(start, |tail| start + tail.end());
    Some(Secret {
        rule: Rule::Generic,
        span: start + value.start()..start + value.end(),
        shown: 0,
        key: Some(key_start..key_end),
    })
}

pub(super) fn plausible_generic(value: &str) -> bool {
    value.len() >= 12
        && value.bytes().any(|b| b.is_ascii_alphabetic())
        && has_digit(value)
        && !value.bytes().all(|b| b.is_ascii_hexdigit())
        && !is_uuid(value)
        && !is_placeholder(value)
        && !value.starts_with(['$', '%', '/', '<'])
        && !value.starts_with("./")
        && !value.contains("://")
        && !value.contains("env.")
        && !is_identifier_like(value)
        && !has_file_extension(value)
        && !is_base64_of_text(value)
        && entropy(value) >= 3.3
}

/// `SGVsbG8sIHdvcmxkIQ==`: base64 that decodes to readable text is an encoded message, not a key
/// (random key material does not decode to printable UTF-8 with spaces).
pub(super) fn is_base64_of_text(value: &str) -> bool {
    base64url_decode(value).and_then(|bytes| String::from_utf8(bytes).ok()).is_some_and(|text| {
        text.contains(' ') && text.chars().all(|c| !c.is_control() || c == '\n' || c == '\t')
    })
}

/// `session_cookie_v2`, `MY_API_KEY_2`: names, not secrets.
pub(super) fn is_identifier_like(value: &str) -> bool {
    let words: Vec<&str> = value.split(['_', '-', '.']).collect();
    words.len() > 1
        && words.iter().all(|word| {
            !word.is_empty()
                && (word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    || word.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
                && word.bytes().filter(u8::is_ascii_digit).count() <= 4
        })
}

pub(super) fn has_file_extension(value: &str) -> bool {
    value.rsplit_once('.').is_some_and(|(stem, extension)| {
        !stem.is_empty()
            && (2..=4).contains(&extension.len())
            && extension.bytes().all(|b| b.is_ascii_lowercase())
    })
}

pub(super) fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

pub(super) fn has_digit(value: &str) -> bool {
    value.bytes().any(|b| b.is_ascii_digit())
}

/// Documentation placeholders: `sk-xxxx…`, `your-api-key`, `EXAMPLE`, `abcdef123456`.
pub(super) fn is_placeholder(value: &str) -> bool {
    const WORDS: &[&str] = &[
        "example",
        "xxxx",
        "your",
        "placeholder",
        "redacted",
        "dummy",
        "sample",
        "changeme",
        "change_me",
        "replace",
        "insert",
        "abcdef",
        "123456",
        "qwerty",
        "0000000",
        "****",
        "....",
    ];
    let lower = value.to_ascii_lowercase();
    WORDS.iter().any(|word| lower.contains(word))
}

/// Shannon entropy in bits per character.
pub(super) fn entropy(value: &str) -> f64 {
    let mut counts = [0u32; 256];
    for byte in value.bytes() {
        counts[usize::from(byte)] += 1;
    }
    let length = value.len() as f64;
    if length == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|count| **count > 0)
        .map(|count| {
            let p = f64::from(*count) / length;
            -p * p.log2()
        })
        .sum()
}
