//! Findings before suppression, and the `promptctl-allow:` comments that suppress them (parsed,
//! validated, applied).

use super::*;

/// A problem before suppressions are applied.
pub(super) struct Finding {
    pub(super) code: Code,
    pub(super) span: Range<usize>,
    pub(super) message: String,
    pub(super) label: String,
    pub(super) help: String,
}

impl Finding {
    pub(super) fn diagnostic(self, file: &str, text: &str) -> Diagnostic {
        Diagnostic::new(self.code, file, self.message)
            .at(text, self.span)
            .label(self.label)
            .help(self.help)
    }
}

/// What starts a suppression inside a comment: a TOML `#` comment (prompt.toml, front matter) or
/// a Handlebars comment `{{!-- … --}}` (template body).
pub(super) const MARKER: &str = "promptctl-allow:";

pub(super) static MARKER_FINDER: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(MARKER));

/// A `promptctl-allow: <code>[, <code>…] reason="…"` comment.
pub(super) struct Suppression {
    pub(super) codes: Vec<Code>,
    /// The 1-based lines it covers: the comment's own lines and the line after it.
    pub(super) lines: Range<u32>,
    /// Every code is suppressible and the reason is not empty.
    pub(super) valid: bool,
    /// The reason given, and the comment's first line (for the audit: `--format json` lists
    /// what it suppressed with them).
    pub(super) reason: String,
    pub(super) line: u32,
}

pub(super) fn is_suppressed(
    suppressions: &[Suppression],
    text: &str,
    code: Code,
    offset: usize,
) -> bool {
    suppressed_by(suppressions, text, code, offset).is_some()
}

/// The valid suppression covering `code` at `offset`, if any.
pub(super) fn suppressed_by<'s>(
    suppressions: &'s [Suppression],
    text: &str,
    code: Code,
    offset: usize,
) -> Option<&'s Suppression> {
    if suppressions.is_empty() {
        return None;
    }
    let line = line_of(text, offset);
    suppressions
        .iter()
        .find(|s| s.valid && s.codes.contains(&code) && s.lines.start <= line && line < s.lines.end)
}

/// Codes that may be suppressed inline: the security codes, except the one about suppressions.
pub(super) fn suppressible(code: Code) -> bool {
    code.as_str().starts_with("security/") && code != Code::SecuritySuppression
}

/// Reads every suppression comment of `text`; returns them and the problems with them.
pub(super) fn parse_suppressions(file: &str, text: &str) -> (Vec<Suppression>, Vec<Diagnostic>) {
    let mut suppressions = Vec::new();
    let mut problems = Vec::new();
    for start in MARKER_FINDER.find_iter(text.as_bytes()) {
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        // Inside a Handlebars comment that is still open here, or after a `#` on the same line.
        let handlebars = text[..start]
            .rfind("{{!")
            .filter(|&open| !text[open..start].contains("}}"))
            .map(|open| {
                let closing = if text[open..].starts_with("{{!--") { "--}}" } else { "}}" };
                text[start..].find(closing).map_or(text.len(), |i| start + i)
            });
        let payload_end = match handlebars {
            Some(end) => end,
            None if text[line_start..start].contains('#') => line_end,
            None => continue,
        };
        let comment_end = handlebars.unwrap_or(line_end);
        let payload = &text[start + MARKER.len()..payload_end];
        let span = start..start + MARKER.len() + payload.trim_end().len();
        let (codes, reason, problem) = parse_payload(payload);
        let mut valid = problem.is_none();
        if let Some((message, help)) = problem {
            problems.push(
                Diagnostic::new(Code::SecuritySuppression, file, message)
                    .at(text, span.clone())
                    .label("not applied")
                    .help(help),
            );
        }
        if valid && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            valid = false;
            let shown = codes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
            problems.push(
                Diagnostic::new(
                    Code::SecuritySuppression,
                    file,
                    format!("the suppression of `{shown}` gives no reason"),
                )
                .at(text, span)
                .label("no reason")
                .help(format!(
                    "say why it is safe, e.g. `promptctl-allow: {shown} reason=\"why this is safe\"`; until then it suppresses nothing"
                )),
            );
        }
        let first = line_of(text, start);
        let last = line_of(text, comment_end);
        let reason = reason.unwrap_or_default().trim().to_string();
        suppressions.push(Suppression {
            codes,
            lines: first..last + 2,
            valid,
            reason,
            line: first,
        });
    }
    (suppressions, problems)
}

/// Parses ` security/secret, security/bidi reason="…"`: the codes, the reason, and a problem
/// (message, help) if the codes are not right.
pub(super) fn parse_payload(
    payload: &str,
) -> (Vec<Code>, Option<String>, Option<(String, String)>) {
    let mut codes = Vec::new();
    let mut rest = payload.trim_start();
    loop {
        let length = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        let word = &rest[..length];
        if word.is_empty() || !word.contains('/') {
            break;
        }
        match Code::parse(word) {
            Some(code) if suppressible(code) => codes.push(code),
            Some(code) => {
                let instead = if crate::check::policy::suppressible(code) {
                    "give it a `[[suppress]]` entry with a reason in the prompt's prompt.toml instead"
                } else {
                    "fix the problem instead"
                };
                return (codes, None, Some((
                    format!("`{word}` cannot be suppressed with `promptctl-allow`"),
                    format!("only `security/*` codes (except `security/suppression`) can be suppressed inline; {instead}"),
                )));
            }
            None => {
                let suggestion = crate::diagnostic::did_you_mean(
                    word,
                    Code::ALL.iter().copied().filter(|c| suppressible(*c)).map(Code::as_str),
                );
                let help = match suggestion {
                    Some(suggestion) => format!("did you mean `{suggestion}`?"),
                    None => format!(
                        "name a `security/*` code, see {}",
                        crate::text::docs("security.md")
                    ),
                };
                return (codes, None, Some((format!("`{word}` is not a diagnostic code"), help)));
            }
        }
        rest = rest[length..].trim_start();
        match rest.strip_prefix(',') {
            Some(after) => rest = after.trim_start(),
            None => break,
        }
    }
    if codes.is_empty() {
        return (
            codes,
            None,
            Some((
                "`promptctl-allow:` names no code".into(),
                "write `promptctl-allow: security/<rule> reason=\"why it is safe\"`".into(),
            )),
        );
    }
    let reason = rest
        .strip_prefix("reason")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('='))
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('"'))
        .and_then(|r| r.find('"').map(|end| r[..end].to_string()));
    (codes, reason, None)
}
