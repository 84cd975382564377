//! Renders diagnostics for people (annotate-snippets, the renderer rustc and cargo use) and for
//! machines (`--format json`). Pure: takes the file texts, returns strings.

use crate::diagnostic::{Diagnostic, Severity};
use annotate_snippets::{Level, Renderer, Snippet};
use serde::Serialize;

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
        }
    }
}

pub fn json(diagnostics: &[Diagnostic]) -> String {
    let shaped: Vec<JsonDiagnostic> = diagnostics.iter().map(JsonDiagnostic::from).collect();
    let mut text = serde_json::to_string_pretty(&shaped).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

/// Renders one diagnostic like rustc does. `source` returns a file's text by its relative path.
pub fn human<'s>(
    diagnostic: &Diagnostic,
    source: impl Fn(&str) -> Option<&'s str>,
    color: bool,
) -> String {
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    let level = match diagnostic.severity {
        Severity::Error => Level::Error,
        Severity::Warning => Level::Warning,
    };
    let code = diagnostic.code.as_str();
    let mut message = level.title(&diagnostic.message).id(code);
    let text = source(&diagnostic.file);
    let origin;
    match (&diagnostic.location, text) {
        (Some(location), Some(text)) if location.bytes.end <= text.len() => {
            let label = diagnostic.label.as_deref().unwrap_or("");
            let span = visible_span(text, location.bytes.clone());
            message = message.snippet(
                Snippet::source(text)
                    .line_start(1)
                    .origin(&diagnostic.file)
                    .fold(true)
                    .annotation(level.span(span).label(label)),
            );
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

/// The last line of human output.
pub fn summary(diagnostics: &[Diagnostic], prompts: usize, versions: usize) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let checked =
        format!("{prompts} prompt{}, {versions} version{}", plural(prompts), plural(versions));
    match (errors, warnings) {
        (0, 0) => format!("checked {checked}: no problems\n"),
        (0, w) => format!("checked {checked}: {w} warning{}\n", plural(w)),
        (e, 0) => format!("checked {checked}: {e} error{}\n", plural(e)),
        (e, w) => format!("checked {checked}: {e} error{}, {w} warning{}\n", plural(e), plural(w)),
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
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
