//! `explain`, `completions` and `man`: what needs no project. `explain` prints a code's section of
//! docs/diagnostics.md (embedded at build time); the other two are clap's generators run on the
//! command line's own definition, so they never drift from it.

use super::*;
use clap::CommandFactory;

/// docs/diagnostics.md, as this binary was built with it.
const DIAGNOSTICS_MD: &str = include_str!("../../docs/diagnostics.md");

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A diagnostic code, e.g. `tests/missing-var` (none: list every code)
    #[arg(value_name = "CODE")]
    pub code: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write promptctl.1 and a page per command (promptctl-check.1, …) into this folder instead of printing promptctl.1
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The section of `code` in docs/diagnostics.md: from its `## \`code\`` heading to the next `## `
/// heading outside a fenced block.
pub fn section(code: &str) -> Option<String> {
    let heading = format!("## `{code}`");
    let mut lines = DIAGNOSTICS_MD.lines().skip_while(|line| line.trim_end() != heading);
    let first = lines.next()?;
    let mut out = vec![first];
    let mut in_fence = false;
    for line in lines {
        if line.starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && line.starts_with("## ") {
            break;
        }
        out.push(line);
    }
    while out.last().is_some_and(|line| line.trim().is_empty()) {
        out.pop();
    }
    Some(out.join("\n") + "\n")
}

pub(super) fn explain(args: &ExplainArgs) -> Result<i32> {
    use crate::diagnostic::Code;
    let Some(code) = &args.code else {
        for code in Code::ALL {
            println!("{:<34} {}", code.as_str(), code.summary());
        }
        return Ok(exit::OK);
    };
    let code = code.trim().trim_start_matches("error[").trim_start_matches("warning[");
    let code = code.trim_end_matches(']');
    match Code::parse(code).and_then(|code| section(code.as_str())) {
        Some(text) => {
            print!("{text}");
            Ok(exit::OK)
        }
        None => {
            let hint = crate::diagnostic::did_you_mean(code, Code::ALL.iter().map(|c| c.as_str()))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            eprintln!(
                "error: `{code}` is not a diagnostic code of promptctl{hint} (`promptctl explain` \
                 lists them)"
            );
            Ok(exit::FAILURE)
        }
    }
}

pub(super) fn completions(args: &CompletionsArgs) -> Result<i32> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "promptctl", &mut std::io::stdout());
    Ok(exit::OK)
}

pub(super) fn man(args: &ManArgs) -> Result<i32> {
    let command = Cli::command();
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(command).render(&mut out)?;
            out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write the man pages into `{}`", dir.display()))?;
            println!("wrote the man pages into {}", dir.display());
        }
    }
    Ok(exit::OK)
}
