//! The review as text: markdown for a pull-request comment and the job summary (within GitHub's
//! size limit), JSON for machines, and GitHub workflow commands for annotations. Pure. Every text
//! quoted here was redacted by `classify`; this module only arranges and escapes.

use super::{
    Forbidden, Kind, PromptReview, Render, Rendering, Report, Rollout, RolloutState, Served,
};
use crate::diagnostic::{Diagnostic, Severity};
use crate::report::{github_data, github_property};
use std::fmt::Write;

/// The hidden line that identifies the review comment on a pull request.
pub const MARKER: &str = "<!-- promptctl-review -->";

/// GitHub rejects comment bodies longer than this many characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// What `markdown` may include.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// Diffs and the whole rendered texts.
    Full,
    /// Diffs only.
    Diffs,
}

/// The markdown report and whether it had to be shortened.
#[derive(Debug, Clone)]
pub struct Markdown {
    pub text: String,
    pub truncated: bool,
}

/// The whole report, however long.
pub fn markdown_full(report: &Report) -> String {
    let mut out = header(report);
    for section in sections(report, Detail::Full) {
        out.push_str(&section);
    }
    out.push_str(&unchanged_lines(report));
    out
}

/// The report within `limit` characters: first without the whole rendered texts, then with only
/// as many prompts as fit, and a note naming `full_report`, where the whole report was written.
pub fn markdown(report: &Report, limit: usize, full_report: &str) -> Markdown {
    let full = markdown_full(report);
    if full.chars().count() <= limit {
        return Markdown { text: full, truncated: false };
    }
    let head = header(report);
    let unchanged = unchanged_lines(report);
    let sections = sections(report, Detail::Diffs);
    let total = sections.len();
    let note = |shown: usize| {
        format!(
            "\n> [!NOTE]\n> This report is longer than a comment may be: the rendered texts are left out{}. The whole report is in `{}`{}.\n",
            if shown < total {
                format!(" and {shown} of the {total} prompts whose served text changes are shown")
            } else {
                String::new()
            },
            full_report,
            " (the workflow uploads it as the `prompts-review` artifact)"
        )
    };
    let mut out = head;
    let mut used = out.chars().count() + note(0).chars().count() + 16;
    let unchanged_size = unchanged.chars().count();
    let mut shown = 0;
    for section in &sections {
        let size = section.chars().count();
        if used + size + unchanged_size.min(limit / 4) > limit {
            break;
        }
        out.push_str(section);
        used += size;
        shown += 1;
    }
    if used + unchanged_size <= limit {
        out.push_str(&unchanged);
    } else {
        // Too many one-line entries: keep the lines that fit.
        let mut kept = 0;
        for line in unchanged.lines() {
            if used + line.len() + 80 > limit {
                break;
            }
            out.push_str(line);
            out.push('\n');
            used += line.chars().count() + 1;
            kept += 1;
        }
        let _ =
            writeln!(out, "\n… {} more lines in the full report", unchanged.lines().count() - kept);
    }
    out.push_str(&note(shown));
    Markdown { text: out, truncated: true }
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

fn header(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MARKER}\n## Prompt review\n");
    let head = match &report.head.commit {
        Some(commit) => format!("`{}` ({})", escape_code(&report.head.name), short(commit)),
        None => "the working tree".to_string(),
    };
    let _ = writeln!(
        out,
        "Comparing {head} with `{}` at their merge base {}.",
        escape_code(&report.base.name),
        short(&report.merge_base)
    );
    if !report.base_has_prompts {
        out.push_str("The base has no prompts folder: every prompt is new.\n");
    }
    out.push('\n');
    let count = |kind: Kind| report.prompts.iter().filter(|p| p.kinds.contains(&kind)).count();
    let mut facts =
        vec![format!("**{}**", plural(report.prompts.len(), "changed prompt", "changed prompts"))];
    for (kind, one, many) in [
        (Kind::NewPrompt, "new prompt", "new prompts"),
        (Kind::DeletedPrompt, "deleted prompt", "deleted prompts"),
        (Kind::ServedTextChange, "with served text changes", "with served text changes"),
        (
            Kind::BreakingContractChange,
            "with a breaking contract change",
            "with breaking contract changes",
        ),
    ] {
        let n = count(kind);
        if n > 0 {
            facts.push(plural(n, one, many));
        }
    }
    let forbidden = report.forbidden().count();
    if forbidden > 0 {
        facts.push(format!("**{}**", plural(forbidden, "forbidden change", "forbidden changes")));
    }
    facts.push(format!("{} unchanged", report.unchanged));
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    if forbidden > 0 {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> {} to locked versions: locked versions are immutable (they may be served), so this change cannot be published as it is.",
            plural(forbidden, "forbidden change", "forbidden changes")
        );
        for item in report.forbidden() {
            let _ = writeln!(out, "> - {} ({})", prose(&item.message), prose(&item.help));
        }
        out.push('\n');
    }
    out
}

/// One section per prompt whose served text changes.
fn sections(report: &Report, detail: Detail) -> Vec<String> {
    report
        .prompts
        .iter()
        .filter(|prompt| !prompt.served.is_empty())
        .map(|prompt| section(prompt, detail))
        .collect()
}

fn kinds(prompt: &PromptReview) -> String {
    prompt
        .kinds
        .iter()
        .filter(|kind| {
            !matches!(kind, Kind::ContractChange)
                || !prompt.kinds.contains(&Kind::BreakingContractChange)
        })
        .map(|kind| kind.label())
        .collect::<Vec<_>>()
        .join(", ")
}

fn version(number: Option<u32>) -> String {
    number.map_or("none".to_string(), |n| format!("v{n}"))
}

/// The bullet points every prompt has, served text change or not.
fn facts(prompt: &PromptReview) -> String {
    let mut out = String::new();
    for item in &prompt.forbidden {
        let _ = writeln!(out, "- ❌ **Forbidden:** {}", prose(&item.message));
    }
    for new in &prompt.new_versions {
        let served = if new.served_in.is_empty() {
            "not served yet".to_string()
        } else {
            format!("served in {}", new.served_in.join(", "))
        };
        let _ = write!(out, "- New version **v{}**, {served}", new.version);
        match new.compared_with {
            Some(previous) if !new.contract.is_empty() => {
                let _ = write!(out, "; variables against v{previous}: {}", contract(&new.contract));
            }
            Some(previous) => {
                let _ = write!(out, "; same variables as v{previous}");
            }
            None => {}
        }
        out.push('\n');
    }
    if !prompt.activations.is_empty() {
        let moves: Vec<String> = prompt
            .activations
            .iter()
            .map(|a| {
                format!("**{}** {} → **{}**", a.environment, version(a.before), version(a.after))
            })
            .collect();
        let _ = writeln!(out, "- Activation: {}", moves.join("; "));
    }
    for rollout in &prompt.rollouts {
        let _ = writeln!(out, "- Rollout: {}", rollout_line(rollout));
    }
    for edit in &prompt.unlocked_edits {
        let _ = writeln!(
            out,
            "- v{} (not locked) was {}: `{}`",
            edit.version,
            if edit.deleted { "deleted" } else { "edited" },
            edit.file
        );
    }
    for change in &prompt.metadata {
        let _ = writeln!(out, "- {}", field_change(change));
    }
    if !prompt.lints.is_empty() {
        let _ = writeln!(out, "- Lint findings on changed lines:");
        for diagnostic in &prompt.lints {
            let _ = writeln!(out, "  - {}", lint(diagnostic));
        }
    }
    out
}

fn field_change(change: &super::FieldChange) -> String {
    let show = |value: &Option<String>| value.as_deref().map_or("(none)".to_string(), inline_code);
    if change.field == "tests" {
        return format!("Tests: {}", change.after.as_deref().unwrap_or_default());
    }
    format!("{}: {} → {}", capitalise(&change.field), show(&change.before), show(&change.after))
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
}

fn contract(changes: &[super::VariableChange]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "{}`{}` {}",
                if c.breaking { "⚠️ **breaking**: " } else { "" },
                c.variable,
                prose(&c.change)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn lint(diagnostic: &Diagnostic) -> String {
    let severity = match diagnostic.severity {
        Severity::Error => "❌ error",
        Severity::Warning => "⚠️ warning",
    };
    let at = match &diagnostic.location {
        Some(location) => {
            format!("{}:{}:{}", diagnostic.file, location.start.line, location.start.column)
        }
        None => diagnostic.file.clone(),
    };
    let help = diagnostic.help.as_deref().map(|h| format!(" — {}", prose(h))).unwrap_or_default();
    format!(
        "{severity} `{}` at `{at}`: {}{help}",
        diagnostic.code.as_str(),
        prose(&diagnostic.message)
    )
}

fn section(prompt: &PromptReview, detail: Detail) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### `{}`: {}\n", prompt.name, kinds(prompt));
    out.push_str(&facts(prompt));
    for served in &prompt.served {
        out.push('\n');
        served_section(&mut out, served, detail);
    }
    out.push('\n');
    out
}

fn served_section(out: &mut String, served: &Served, detail: Detail) {
    let change = if served.before == served.after {
        format!("{} (edited)", version(served.after))
    } else {
        format!("{} → {}", version(served.before), version(served.after))
    };
    let _ = writeln!(out, "#### {}: {change}\n", served.environments.join(", "));
    if !served.contract.is_empty() {
        let _ = writeln!(out, "- Variables: {}", contract(&served.contract));
    }
    if !served.model.is_empty() {
        let models: Vec<String> = served
            .model
            .iter()
            .map(|c| {
                let show =
                    |v: &Option<String>| v.as_deref().map_or("(unset)".to_string(), inline_code);
                format!("`{}` {} → {}", escape_code(&c.field), show(&c.before), show(&c.after))
            })
            .collect();
        let _ = writeln!(out, "- Model: {}", models.join("; "));
    }
    if served.after.is_none() {
        let _ = writeln!(out, "- No longer served.");
    }
    if !served.contract.is_empty() || !served.model.is_empty() || served.after.is_none() {
        out.push('\n');
    }
    for render in &served.renders {
        render_section(out, render, served, detail);
    }
}

fn render_section(out: &mut String, render: &Render, served: &Served, detail: Detail) {
    let what = match &render.test {
        Some(test) => format!("With the vars of test `{test}`"),
        None => "The template (no test applies, so nothing is rendered)".to_string(),
    };
    let failure = |rendering: &Option<Rendering>| match rendering {
        Some(Rendering::Error(message)) => Some(message.clone()),
        _ => None,
    };
    let mut problems = Vec::new();
    if let Some(message) = failure(&render.before) {
        problems.push(format!("before: does not render ({})", prose(&message)));
    }
    if let Some(message) = failure(&render.after) {
        problems.push(format!("after: does not render ({})", prose(&message)));
    }
    let problems =
        if problems.is_empty() { String::new() } else { format!(" — {}", problems.join("; ")) };
    match (&render.before, &render.after) {
        (None, Some(Rendering::Text(text))) => {
            // Newly served: the text itself is the change.
            let _ = writeln!(out, "{what}, {} reads:{problems}\n", version(served.after));
            out.push_str(&fence("text", text));
            return;
        }
        (Some(Rendering::Text(text)), None) => {
            let _ = writeln!(out, "{what}, {} read:{problems}\n", version(served.before));
            if detail == Detail::Full {
                details(out, "the text no longer served", &fence("text", text));
            }
            return;
        }
        _ => {}
    }
    if render.diff.is_empty() {
        let _ = writeln!(out, "{what}: the text is the same before and after{problems}.\n");
        return;
    }
    let _ = writeln!(
        out,
        "{what}: {} added, {} removed{problems}\n",
        plural(render.added_lines, "line", "lines"),
        plural(render.removed_lines, "line", "lines")
    );
    out.push_str(&fence("diff", &render.diff));
    if !render.words.is_empty() {
        let mut pre = String::from("<pre>\n");
        for change in &render.words {
            let _ = write!(pre, "{:>4} │ ", change.line);
            for (tag, text) in &change.segments {
                let text = html(text);
                match tag {
                    '-' => {
                        let _ = write!(pre, "<del>{text}</del>");
                    }
                    '+' => {
                        let _ = write!(pre, "<ins>{text}</ins>");
                    }
                    _ => pre.push_str(&text),
                }
            }
            pre.push('\n');
        }
        pre.push_str("</pre>\n");
        details(out, "word changes", &pre);
    }
    if detail == Detail::Full {
        for (label, rendering) in [("before", &render.before), ("after", &render.after)] {
            if let Some(Rendering::Text(text)) = rendering {
                let version = if label == "before" { served.before } else { served.after };
                details(
                    out,
                    &format!("{label} ({})", version_label(version)),
                    &fence("text", text),
                );
            }
        }
    }
}

fn version_label(number: Option<u32>) -> String {
    number.map_or("not served".into(), |n| format!("v{n}"))
}

fn details(out: &mut String, summary: &str, body: &str) {
    let _ = writeln!(out, "<details><summary>{}</summary>\n\n{body}\n</details>\n", html(summary));
}

/// Prompts whose served text does not change, one line each.
fn unchanged_lines(report: &Report) -> String {
    let quiet: Vec<&PromptReview> = report.prompts.iter().filter(|p| p.served.is_empty()).collect();
    if quiet.is_empty() {
        return String::new();
    }
    let mut out = String::from("### Served text unchanged\n\n");
    for prompt in quiet {
        let facts = facts(prompt)
            .lines()
            .map(|l| l.trim_start_matches("- ").to_string())
            .collect::<Vec<_>>();
        let extra =
            if facts.is_empty() { String::new() } else { format!(" — {}", facts.join("; ")) };
        let _ = writeln!(out, "- `{}`: {}{extra}", prompt.name, kinds(prompt));
    }
    out.push('\n');
    out
}

/// `text` in a fenced block whose fence is longer than any backtick run inside it.
fn fence(language: &str, text: &str) -> String {
    let longest = longest_run(text, '`');
    let fence = "`".repeat((longest + 1).max(3));
    let newline = if text.ends_with('\n') || text.is_empty() { "" } else { "\n" };
    format!("{fence}{language}\n{text}{newline}{fence}\n\n")
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// A value as inline code, whatever backticks and line breaks it holds.
fn inline_code(text: &str) -> String {
    let text = text.replace('\n', "⏎").replace('\r', "␍");
    let fence = "`".repeat(longest_run(&text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn escape_code(text: &str) -> String {
    text.replace('`', "'")
}

/// Prose from a message: `code spans` kept, the rest escaped so that no text is taken for HTML
/// (which GitHub would hide), a mention or a link.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (index, part) in text.split('`').enumerate() {
        if index > 0 {
            out.push('`');
        }
        if index % 2 == 1 {
            out.push_str(&part.replace('\n', " "));
        } else {
            for c in part.chars() {
                match c {
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '&' => out.push_str("&amp;"),
                    '@' => out.push_str("@\u{200b}"),
                    '*' | '_' | '[' | ']' | '\\' | '|' => {
                        out.push('\\');
                        out.push(c);
                    }
                    '\n' => out.push(' '),
                    c => out.push(c),
                }
            }
        }
    }
    // An odd number of backticks leaves a span open: close it.
    if text.matches('`').count() % 2 == 1 {
        out.push('`');
    }
    out
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `--format json`: the whole report.
pub fn json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// At most this many notices (breaking contracts, activation changes) per run.
const NOTICES: usize = 10;

/// `--format github`: forbidden changes and lint findings on changed lines as error and warning
/// annotations (through the same writer as `check --format github`, with GitHub's caps), then
/// breaking contract changes and activation changes as notices.
pub fn github(report: &Report) -> String {
    let mut diagnostics: Vec<Diagnostic> = report
        .forbidden()
        .map(|item: &Forbidden| {
            Diagnostic::new(item.code(), item.file.clone(), item.message.clone())
                .help(item.help.clone())
        })
        .collect();
    for prompt in &report.prompts {
        diagnostics.extend(prompt.lints.iter().cloned());
    }
    let mut out = crate::report::github(&diagnostics);
    let mut notices = Vec::new();
    for prompt in &report.prompts {
        for served in &prompt.served {
            let environments = served.environments.join(", ");
            let file = served.after_file.as_deref().or(served.before_file.as_deref());
            let properties = |title: &str| {
                let mut properties = Vec::new();
                if let Some(file) = file {
                    properties.push(format!("file={}", github_property(file)));
                }
                properties.push(format!("title={}", github_property(title)));
                properties.join(",")
            };
            if served.breaking() {
                let changes: Vec<String> = served
                    .contract
                    .iter()
                    .filter(|c| c.breaking)
                    .map(|c| format!("`{}` {}", c.variable, c.change))
                    .collect();
                notices.push(format!(
                    "::warning {}::{}",
                    properties("breaking variable-contract change"),
                    github_data(&format!(
                        "`{}` in {environments} ({} → {}): {}; callers must pass the new variables",
                        prompt.name,
                        version(served.before),
                        version(served.after),
                        changes.join("; ")
                    ))
                ));
            }
            if served.before != served.after {
                notices.push(format!(
                    "::notice {}::{}",
                    properties("activation change"),
                    github_data(&format!(
                        "`{}`: {environments} will serve {} instead of {}",
                        prompt.name,
                        version(served.after),
                        version(served.before)
                    ))
                ));
            }
        }
    }
    let total = notices.len();
    for notice in notices.into_iter().take(NOTICES) {
        out.push_str(&notice);
        out.push('\n');
    }
    if total > NOTICES {
        let _ = writeln!(
            out,
            "::notice::{}",
            github_data(&format!(
                "{} more review notices; the job summary has the whole review",
                total - NOTICES
            ))
        );
    }
    out
}

/// `**production**: v4 canary 10 % → 50 % (stable v3)`, or a canary started or ended.
pub fn rollout_line(rollout: &Rollout) -> String {
    let share = |basis_points: u32| crate::rollout::basis_points_display(basis_points);
    let change = match (rollout.before, rollout.after) {
        (Some(before), Some(after)) if before.version == after.version => format!(
            "v{} canary {} → {}",
            after.version,
            share(before.basis_points),
            share(after.basis_points)
        ),
        (before, after) => {
            let show = |state: Option<RolloutState>| {
                state.map_or("no canary".to_string(), |s| {
                    format!("v{} canary {}", s.version, share(s.basis_points))
                })
            };
            format!("{} → {}", show(before), show(after))
        }
    };
    let stable = rollout.stable.map(|v| format!(" (stable v{v})")).unwrap_or_default();
    format!("**{}**: {change}{stable}", rollout.environment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outgrow_the_backticks_inside() {
        assert_eq!(fence("text", "a ``` b"), "````text\na ``` b\n````\n\n");
        assert_eq!(inline_code("a`b"), "``a`b``");
        assert_eq!(inline_code("`x"), "`` `x ``");
        assert_eq!(prose("<rules> in `<rules>` @team"), "&lt;rules&gt; in `<rules>` @\u{200b}team");
    }
}
