//! `diff`: its arguments, and what it prints of `pipeline::diff`: a coloured unified diff and the
//! word-level changes, or JSON, or Markdown for a comment.

use super::render::{check_errors, refused, VarsArgs};
use super::*;
use crate::pipeline::diff::{Compared, Diff};

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The prompt
    pub name: String,
    /// Side A: a version (`2`, `v2`) or an environment's activation (`@production`)
    #[arg(value_name = "A")]
    pub a: String,
    /// Side B: a version or an environment's activation
    #[arg(value_name = "B")]
    pub b: String,
    /// Read side A (a version number) from this git revision instead of the working tree
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    #[command(flatten)]
    pub vars: VarsArgs,
    /// `human`: a coloured diff; `json`: both texts, the diff and the word changes; `markdown`: for a comment
    #[arg(short, long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
    /// Exit 1 when the rendered texts differ (as `git diff --exit-code`)
    #[arg(long)]
    pub exit_code: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Human,
    Json,
    Markdown,
}

pub(super) fn diff(project: &Project, args: &DiffArgs, color: bool) -> Result<i32> {
    let inputs = pipeline::render::Inputs { shared: true, ..args.vars.inputs()? };
    let compared = match pipeline::diff::diff(
        project,
        &args.name,
        &args.a,
        &args.b,
        args.rev.as_deref(),
        &inputs,
    )? {
        Diff::Compared(compared) => compared,
        Diff::Refused { diagnostics, text } => return Ok(refused(&diagnostics, &text, color)),
        Diff::Errors(run) => return Ok(check_errors(&run, color, "comparing")),
    };
    let text = match args.format {
        DiffFormat::Json => serde_json::to_string_pretty(&compared)? + "\n",
        DiffFormat::Markdown => markdown(&compared),
        DiffFormat::Human => human(&compared, color),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    let differ = !compared.diff.is_empty();
    Ok(if args.exit_code && differ { exit::ERRORS } else { exit::OK })
}

fn title(compared: &Compared) -> String {
    let side = |side: &crate::pipeline::diff::Side| match side.from.as_str() {
        "working tree" => format!("v{}", side.version),
        rev => format!("v{} at {rev}", side.version),
    };
    let vars = match &compared.test {
        Some(test) => format!(", with the vars of test `{test}`"),
        None => String::new(),
    };
    format!("{}: {} → {}{vars}", compared.name, side(&compared.a), side(&compared.b))
}

fn human(compared: &Compared, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let mut out = format!("{}\n", paint("1", &title(compared)));
    if compared.diff.is_empty() {
        out.push_str("the rendered texts are identical\n");
        return out;
    }
    out.push_str(&format!(
        "{} added, {} removed\n\n",
        plural(compared.added_lines, "line"),
        plural(compared.removed_lines, "line")
    ));
    for line in compared.diff.lines() {
        let painted = if line.starts_with("+++") || line.starts_with("---") {
            paint("1", line)
        } else if line.starts_with('+') {
            paint("32", line)
        } else if line.starts_with('-') {
            paint("31", line)
        } else if line.starts_with("@@") {
            paint("36", line)
        } else {
            line.to_string()
        };
        out.push_str(&painted);
        out.push('\n');
    }
    if !compared.words.is_empty() {
        out.push_str("\nchanged words:\n");
        for change in &compared.words {
            let mut line = format!("  line {}: ", change.line);
            for (tag, text) in &change.segments {
                line.push_str(&match tag {
                    '-' if color => paint("31;9", text),
                    '+' if color => paint("32;4", text),
                    '-' => format!("[-{text}-]"),
                    '+' => format!("{{+{text}+}}"),
                    _ => text.clone(),
                });
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn markdown(compared: &Compared) -> String {
    let mut out = format!(
        "### {}\n\n",
        title(compared).replacen(&compared.name, &format!("`{}`", compared.name), 1)
    );
    if compared.diff.is_empty() {
        out.push_str("The rendered texts are identical.\n");
        return out;
    }
    out.push_str(&format!(
        "{} added, {} removed\n\n",
        plural(compared.added_lines, "line"),
        plural(compared.removed_lines, "line")
    ));
    let fence = if compared.diff.contains("```") { "````" } else { "```" };
    out.push_str(&format!("{fence}diff\n{}{fence}\n", compared.diff));
    out
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("1 {word}")
    } else {
        format!("{count} {word}s")
    }
}
