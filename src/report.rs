//! Renders diagnostics for people (annotate-snippets, the renderer rustc and cargo use) and for
//! machines (`--format json`, GitHub workflow commands, SARIF 2.1.0). Pure: takes the file texts,
//! returns strings. The machine formats carry messages and help, never file contents or notes
//! (which may quote the files), so a redacted message is all that leaves.

use crate::check::policy::{Silenced, SilencedBy};
use crate::diagnostic::{Code, Diagnostic, Severity};
use annotate_snippets::{Level, Renderer, Snippet};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// One diagnostic in the `--format json` shape. The field names are a contract (docs/diagnostics.md).
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic<'a> {
    pub code: &'a str,
    pub severity: Severity,
    pub file: &'a str,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub end_line: Option<u32>,
    pub end_column: Option<u32>,
    pub message: &'a str,
    pub help: Option<&'a str>,
    pub note: Option<&'a str>,
    /// Only on what the lint policy silenced (`check --format json` lists those after the others).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<JsonSuppressed<'a>>,
}

/// How a diagnostic was silenced: `{"kind": "allowed", "by": "portability = \"allow\"", "file":
/// "promptctl.toml"}` or `{"kind": "suppressed", "reason": "…", "by": "prompts/x/prompt.toml:7"}`.
#[derive(Debug, Serialize)]
pub struct JsonSuppressed<'a> {
    pub kind: &'static str,
    pub by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

impl<'a> From<&'a Diagnostic> for JsonDiagnostic<'a> {
    fn from(diagnostic: &'a Diagnostic) -> Self {
        let location = diagnostic.location.as_ref();
        JsonDiagnostic {
            code: diagnostic.code.as_str(),
            severity: diagnostic.severity,
            file: &diagnostic.file,
            line: location.map(|l| l.start.line),
            column: location.map(|l| l.start.column),
            end_line: location.map(|l| l.end.line),
            end_column: location.map(|l| l.end.column),
            message: &diagnostic.message,
            help: diagnostic.help.as_deref(),
            note: diagnostic.note.as_deref(),
            suppressed: None,
        }
    }
}

pub fn json(diagnostics: &[Diagnostic]) -> String {
    json_with_silenced(diagnostics, &[])
}

/// `json`, followed by what the lint policy silenced, each with its `suppressed` object.
pub fn json_with_silenced(diagnostics: &[Diagnostic], silenced: &[Silenced]) -> String {
    let silenced = silenced.iter().map(|silenced| {
        let mut shaped = JsonDiagnostic::from(&silenced.diagnostic);
        shaped.suppressed = Some(match &silenced.by {
            SilencedBy::Allowed { setting, file } => {
                JsonSuppressed { kind: "allowed", by: setting, file: Some(file), reason: None }
            }
            SilencedBy::Suppressed { reason, at } => {
                JsonSuppressed { kind: "suppressed", by: at, file: None, reason: Some(reason) }
            }
        });
        shaped
    });
    let shaped: Vec<JsonDiagnostic> =
        diagnostics.iter().map(JsonDiagnostic::from).chain(silenced).collect();
    let mut text = serde_json::to_string_pretty(&shaped).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

/// GitHub Actions shows at most this many annotations of each severity per step.
pub const GITHUB_ANNOTATIONS_PER_SEVERITY: usize = 10;

/// `--format github`: one workflow command per diagnostic (`::error file=…,line=…::message`),
/// which GitHub Actions turns into annotations on the pull request. At most
/// `GITHUB_ANNOTATIONS_PER_SEVERITY` errors and as many warnings; one `::notice::` says how many
/// more there are.
pub fn github(diagnostics: &[Diagnostic]) -> String {
    let mut output = String::new();
    let (mut errors, mut warnings) = (0, 0);
    let mut left = (0, 0);
    for diagnostic in diagnostics {
        let (shown, skipped, command) = match diagnostic.severity {
            Severity::Error => (&mut errors, &mut left.0, "error"),
            Severity::Warning => (&mut warnings, &mut left.1, "warning"),
        };
        if *shown == GITHUB_ANNOTATIONS_PER_SEVERITY {
            *skipped += 1;
            continue;
        }
        *shown += 1;
        let mut properties = vec![format!("file={}", github_property(&diagnostic.file))];
        if let Some(location) = &diagnostic.location {
            properties.push(format!("line={}", location.start.line));
            properties.push(format!("endLine={}", location.end.line));
            // Columns only mean something on one line; GitHub's end column is inclusive.
            if location.start.line == location.end.line {
                let end = location.end.column.saturating_sub(1).max(location.start.column);
                properties.push(format!("col={}", location.start.column));
                properties.push(format!("endColumn={end}"));
            }
        }
        properties.push(format!("title={}", github_property(diagnostic.code.as_str())));
        let mut message = diagnostic.message.clone();
        if let Some(help) = &diagnostic.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        output.push_str(&format!(
            "::{command} {}::{}\n",
            properties.join(","),
            github_data(&message)
        ));
    }
    if left != (0, 0) {
        let count = |n: usize, what: &str| format!("{n} {what}{}", plural(n));
        let detail = match left {
            (0, w) => count(w, "warning"),
            (e, 0) => count(e, "error"),
            (e, w) => format!("{} and {}", count(e, "error"), count(w, "warning")),
        };
        let message = format!("{detail} more not shown as annotations (GitHub shows {GITHUB_ANNOTATIONS_PER_SEVERITY} per severity); run `promptctl check` to see all");
        output.push_str(&format!("::notice::{}\n", github_data(&message)));
    }
    output
}

/// The escaping of a workflow command's message (`toCommandValue` and `escapeData` in
/// @actions/core).
pub fn github_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// The escaping of a workflow command's property value (`escapeProperty` in @actions/core).
pub fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Where the documentation of a code lives, for SARIF's `helpUri`.
pub fn help_uri(code: Code) -> String {
    // GitHub's heading anchors: lowercase, punctuation other than `-` and `_` removed.
    let anchor: String =
        code.as_str().chars().filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_').collect();
    crate::text::docs(&format!("diagnostics.md#{anchor}"))
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// `--format sarif`: a SARIF 2.1.0 log with one run, every rule of `Code::ALL` and one result per
/// diagnostic, for GitHub code scanning and other SARIF viewers. Paths are relative to
/// `%SRCROOT%`, the repository root; columns count Unicode scalar values (`unicodeCodePoints`).
/// `partialFingerprints` hash the code, the file and the message (not the line, so that an alert
/// survives lines added above it), numbered when one file has the same message twice.
pub fn sarif(diagnostics: &[Diagnostic]) -> String {
    sarif_with_silenced(diagnostics, &[])
}

/// `sarif`, with what the lint policy silenced as results carrying SARIF `suppressions` (`external`
/// for a `[lints]` level, `inSource` for a `[[suppress]]` entry or a `promptctl-allow:` comment,
/// both in the prompt's folder), whose `justification` is the setting or the reason.
pub fn sarif_with_silenced(diagnostics: &[Diagnostic], silenced: &[Silenced]) -> String {
    let rules: Vec<serde_json::Value> = Code::ALL
        .iter()
        .map(|code| {
            json!({
                "id": code.as_str(),
                "shortDescription": { "text": code.summary() },
                "helpUri": help_uri(*code),
                "defaultConfiguration": { "level": sarif_level(code.severity()) },
            })
        })
        .collect();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let results: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|diagnostic| (diagnostic, None))
        .chain(silenced.iter().map(|s| (&s.diagnostic, Some(&s.by))))
        .map(|(diagnostic, by)| {
            let mut hasher = Sha256::new();
            for part in [diagnostic.code.as_str(), &diagnostic.file, &diagnostic.message] {
                hasher.update(part.as_bytes());
                hasher.update([0]);
            }
            let digest = hex::encode(&hasher.finalize()[..16]);
            let occurrence = seen.entry(digest.clone()).or_insert(0);
            *occurrence += 1;
            let mut physical = json!({
                "artifactLocation": { "uri": sarif_uri(&diagnostic.file), "uriBaseId": "%SRCROOT%" },
            });
            if let Some(location) = &diagnostic.location {
                physical["region"] = json!({
                    "startLine": location.start.line,
                    "startColumn": location.start.column,
                    "endLine": location.end.line,
                    "endColumn": location.end.column,
                });
            }
            let mut message = diagnostic.message.clone();
            if let Some(help) = &diagnostic.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            let rule_index = Code::ALL.iter().position(|code| *code == diagnostic.code);
            let mut result = json!({
                "ruleId": diagnostic.code.as_str(),
                "ruleIndex": rule_index,
                "level": sarif_level(diagnostic.severity),
                "message": { "text": message },
                "locations": [{ "physicalLocation": physical }],
                "partialFingerprints": { "promptctl/v1": format!("{digest}:{occurrence}") },
            });
            if let Some(by) = by {
                let (kind, justification) = match by {
                    SilencedBy::Allowed { setting, file } => {
                        ("external", format!("`{setting}` in `[lints]` of {file}"))
                    }
                    SilencedBy::Suppressed { reason, at } => ("inSource", format!("{reason} ({at})")),
                };
                result["suppressions"] = json!([{ "kind": kind, "justification": justification }]);
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "promptctl",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&log).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// A relative path as a URI reference: `/`-separated, with the characters a URI path does not
/// allow percent-encoded, and `:` too (`a:b.txt` would read as a URI with the scheme `a`).
fn sarif_uri(path: &str) -> String {
    let mut uri = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=@".contains(&byte) {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// Renders one diagnostic like rustc does. `text` is the text of `diagnostic.file`, already with
/// secrets blanked out (`check::security::redact`); without it, only the position is shown.
pub fn human(diagnostic: &Diagnostic, text: Option<&str>, color: bool) -> String {
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    let level = match diagnostic.severity {
        Severity::Error => Level::Error,
        Severity::Warning => Level::Warning,
    };
    let code = diagnostic.code.as_str();
    let mut message = level.title(&diagnostic.message).id(code);
    let origin;
    let excerpt;
    let mut located = None;
    match (&diagnostic.location, text) {
        (Some(location), Some(text)) if location.bytes.end <= text.len() => {
            let label = diagnostic.label.as_deref().unwrap_or("");
            if text.len() <= WHOLE_TEXT_BYTES {
                let span = visible_span(text, location.bytes.clone());
                message = message.snippet(
                    Snippet::source(text)
                        .line_start(1)
                        .origin(&diagnostic.file)
                        .fold(true)
                        .annotation(level.span(span).label(label)),
                );
            } else {
                // A large file: only a window of the span's first line is handed to the renderer,
                // which then knows neither the file nor the column; the position line is added
                // to its output below.
                let (source, span) = window(text, location);
                excerpt = source;
                message = message.snippet(
                    Snippet::source(&excerpt)
                        .line_start(location.start.line as usize)
                        .annotation(level.span(span).label(label)),
                );
                located = Some(location);
            }
        }
        (Some(location), _) => {
            origin =
                format!("{}:{}:{}", diagnostic.file, location.start.line, location.start.column);
            message = message.footer(Level::Note.title(&origin));
        }
        (None, _) => {
            origin = format!("in {}", diagnostic.file);
            message = message.footer(Level::Note.title(&origin));
        }
    }
    if let Some(help) = &diagnostic.help {
        message = message.footer(Level::Help.title(help));
    }
    let mut output = renderer.render(message).to_string();
    if let Some(location) = located {
        // rustc's layout: ` --> file:line:column` under the title, indented by the width of the
        // line numbers.
        let indent = " ".repeat(location.start.line.to_string().len());
        let position = format!(
            "{indent}--> {}:{}:{}",
            diagnostic.file, location.start.line, location.start.column
        );
        if let Some(title_end) = output.find('\n') {
            output.insert_str(title_end + 1, &format!("{position}\n"));
        }
    }
    output.push('\n');
    if let Some(note) = &diagnostic.note {
        for line in note.lines() {
            output.push_str("  | ");
            output.push_str(line);
            output.push('\n');
        }
    }
    output.push('\n');
    output
}

/// The line after a run's human diagnostics that names `promptctl explain` for the codes it
/// reported (each once, in the order they first appear), as rustc names `rustc --explain`; empty
/// when there were none.
pub fn explain_hint<'a>(diagnostics: impl IntoIterator<Item = &'a Diagnostic>) -> String {
    let mut codes: Vec<&str> = Vec::new();
    for diagnostic in diagnostics {
        let code = diagnostic.code.as_str();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    match codes.as_slice() {
        [] => String::new(),
        [code] => format!("= help: for more about `{code}`, run `promptctl explain {code}`\n"),
        codes => format!(
            "= help: for more about a code, run `promptctl explain CODE` ({})\n",
            codes.join(", ")
        ),
    }
}

/// The last line of human output. What the lint policy silenced is counted, so that nothing is
/// hidden without a trace: `checked …: 1 warning (2 allowed by [lints], 1 suppressed)`.
pub fn summary(
    diagnostics: &[Diagnostic],
    silenced: &[Silenced],
    prompts: usize,
    versions: usize,
) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let checked =
        format!("{prompts} prompt{}, {versions} version{}", plural(prompts), plural(versions));
    let found = match (errors, warnings) {
        (0, 0) => "no problems".to_string(),
        (0, w) => format!("{w} warning{}", plural(w)),
        (e, 0) => format!("{e} error{}", plural(e)),
        (e, w) => format!("{e} error{}, {w} warning{}", plural(e), plural(w)),
    };
    let allowed = silenced.iter().filter(|s| matches!(s.by, SilencedBy::Allowed { .. })).count();
    let suppressed = silenced.len() - allowed;
    let mut quiet = Vec::new();
    if allowed > 0 {
        quiet.push(format!("{allowed} allowed by [lints]"));
    }
    if suppressed > 0 {
        quiet.push(format!("{suppressed} suppressed"));
    }
    if quiet.is_empty() {
        format!("checked {checked}: {found}\n")
    } else {
        format!("checked {checked}: {found} ({})\n", quiet.join(", "))
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// Up to this size a file is handed whole to the renderer, which shows only the lines around the
/// span and cuts long lines itself; a larger one only as `window`, so that rendering costs the
/// same whatever the file's size.
const WHOLE_TEXT_BYTES: usize = 64 << 10;
/// The bytes of the span's line `window` keeps, about half of them before the span.
const WINDOW_BYTES: usize = 160;

/// A part of the first line of `location` in `text`: at most `WINDOW_BYTES` around the start of
/// the span, with `...` where the line goes on; and the span within it (cut at the window's end).
fn window(text: &str, location: &crate::diagnostic::Location) -> (String, std::ops::Range<usize>) {
    let floor = |mut offset: usize| {
        offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    };
    let start = location.bytes.start;
    let line_start = text[..start].rfind('\n').map_or(0, |index| index + 1);
    let line_end =
        memchr::memchr(b'\n', &text.as_bytes()[start..]).map_or(text.len(), |i| start + i);
    let from = floor(start.saturating_sub(WINDOW_BYTES / 2).max(line_start));
    let to = floor((from + WINDOW_BYTES).min(line_end)).max(start);
    let before = if from > line_start { "..." } else { "" };
    let after = if to < line_end { "..." } else { "" };
    let source = format!("{before}{}{after}", &text[from..to]);
    let span_start = before.len() + start - from;
    let span_end = before.len() + location.bytes.end.clamp(start, to) - from;
    let span = visible_span(&source, span_start..span_end);
    (source, span)
}

/// An empty span renders as nothing; widen it to the character under it, or the one before it
/// when it sits at a line end or at the end of the file.
fn visible_span(text: &str, span: std::ops::Range<usize>) -> std::ops::Range<usize> {
    if !span.is_empty() {
        return span;
    }
    // The character under the span (a line ending included, so that the column stays right),
    // else the one before it at the end of the file.
    match text[span.start..].chars().next() {
        Some(next) => span.start..span.start + next.len_utf8(),
        None => match text[..span.start].chars().next_back() {
            Some(previous) if previous != '\n' => span.start - previous.len_utf8()..span.start,
            _ => span,
        },
    }
}
