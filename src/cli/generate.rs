//! `codegen`: its arguments, and what it prints of the typed registry `pipeline::build::codegen`
//! generates from a clean check.

use super::*;
use crate::pipeline::build::Generated;

#[derive(Debug, clap::Args)]
pub struct CodegenArgs {
    /// Compare with the file instead of writing it: print a diff and exit 1 when it is stale
    #[arg(long)]
    pub check: bool,
    /// The file to generate (default: `[codegen] out` of promptctl.toml), relative to the project root
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
}

pub(super) fn codegen(project: &Project, args: &CodegenArgs, color: bool) -> Result<i32> {
    let Some(out) =
        args.out.clone().or_else(|| project.config.codegen.as_ref().map(|c| c.out.clone()))
    else {
        anyhow::bail!("no file to generate: add `[codegen]` with `out = \"src/prompts.rs\"` to promptctl.toml, or pass `--out FILE`");
    };
    match pipeline::build::codegen(project, &out, args.check)? {
        Generated::Refused(run) => {
            let what = if args.check { "checking generated code" } else { "generating code" };
            checking::refuse(&run, color, what);
            Ok(exit::ERRORS)
        }
        Generated::UpToDate => {
            println!("{out} is up to date");
            Ok(exit::OK)
        }
        Generated::Changed { current, generated, written: false } => {
            let old = current.as_deref().unwrap_or("");
            print!(
                "{}",
                crate::diff::unified(old, &generated, &out, &format!("{out} (generated)"))
            );
            eprintln!(
                "error: `{out}` is {}; run `promptctl codegen` and commit the result",
                if current.is_some() { "stale" } else { "missing" }
            );
            Ok(exit::ERRORS)
        }
        Generated::Changed { written: true, .. } => {
            println!("wrote {out}");
            Ok(exit::OK)
        }
    }
}
