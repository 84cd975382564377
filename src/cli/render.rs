//! `render`: its arguments, and what it prints of `pipeline::render`: the text alone on standard
//! output (or a JSON object), the diagnostics on standard error.

use super::*;
use crate::pipeline::render::{Inputs, Render};
use std::io::Read;

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The prompt and version: NAME (its newest version), NAME@N, or NAME@ENV (the version prompt.toml activates in ENV)
    #[arg(value_name = "NAME[@VERSION|@ENV]")]
    pub target: String,
    #[command(flatten)]
    pub vars: VarsArgs,
    /// `text`: the rendered text only; `json`: name, version, sha256 and text
    #[arg(short, long, value_enum, default_value_t = RenderFormat::Text)]
    pub format: RenderFormat,
}

/// Where the vars come from, for `render` and `diff`.
#[derive(Debug, clap::Args)]
pub struct VarsArgs {
    /// Take the vars of this `[[test]]` of the prompt first
    #[arg(long, value_name = "NAME")]
    pub test: Option<String>,
    /// A JSON or TOML file of vars (`-`: standard input), applied after `--test`
    #[arg(long, value_name = "FILE")]
    pub vars: Option<PathBuf>,
    /// Set a var, applied last (dotted keys for nested objects; typed by the contract: `n=3`, `tags=["a"]`)
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub assignments: Vec<String>,
}

impl VarsArgs {
    /// The inputs of the render stage, with the vars file (or standard input) read.
    pub(super) fn inputs(&self) -> Result<Inputs> {
        let document = match &self.vars {
            None => None,
            Some(path) if path.as_os_str() == "-" => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the vars from standard input")?;
                Some(("-".to_string(), text))
            }
            Some(path) => {
                let shown = path.display().to_string();
                let bytes = crate::read::read(path, crate::read::CONFIG_BYTES, "a vars file")
                    .with_context(|| format!("cannot read the vars file `{shown}`"))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| anyhow::anyhow!("the vars file `{shown}` is not UTF-8"))?;
                Some((shown, text))
            }
        };
        Ok(Inputs {
            test: self.test.clone(),
            document,
            assignments: self.assignments.clone(),
            shared: false,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    Text,
    Json,
}

pub(super) fn render(project: &Project, args: &RenderArgs, color: bool) -> Result<i32> {
    let inputs = args.vars.inputs()?;
    match pipeline::render::render(project, &args.target, &inputs)? {
        Render::Rendered(rendered) => {
            let mut out = std::io::stdout().lock();
            match args.format {
                RenderFormat::Text => out.write_all(rendered.text.as_bytes())?,
                RenderFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &rendered)?;
                    out.write_all(b"\n")?;
                }
            }
            out.flush()?;
            Ok(exit::OK)
        }
        Render::Refused { diagnostics, text } => {
            let text = crate::check::security::redact(&text);
            for diagnostic in &diagnostics {
                eprint!("{}", report::human(diagnostic, Some(&text), color));
            }
            eprint!("{}", report::explain_hint(&diagnostics));
            Ok(exit::ERRORS)
        }
        Render::Errors(run) => {
            for diagnostic in run.errors() {
                eprint!("{}", checking::human(&run, diagnostic, color));
            }
            eprint!("{}", report::explain_hint(run.errors()));
            eprintln!(
                "error: not rendering while `check` reports errors in this prompt; fix them first"
            );
            Ok(exit::ERRORS)
        }
    }
}

/// Prints diagnostics about a version file (its text with secrets blanked) on standard error.
pub(super) fn refused(diagnostics: &[Diagnostic], text: &str, color: bool) -> i32 {
    let text = crate::check::security::redact(text);
    for diagnostic in diagnostics {
        eprint!("{}", report::human(diagnostic, Some(&text), color));
    }
    eprint!("{}", report::explain_hint(diagnostics));
    exit::ERRORS
}

/// Prints the errors of a check on standard error and why `what` refuses.
pub(super) fn check_errors(run: &crate::pipeline::check::CheckRun, color: bool, what: &str) -> i32 {
    for diagnostic in run.errors() {
        eprint!("{}", checking::human(run, diagnostic, color));
    }
    eprint!("{}", report::explain_hint(run.errors()));
    eprintln!("error: not {what} while `check` reports errors in this prompt; fix them first");
    exit::ERRORS
}
