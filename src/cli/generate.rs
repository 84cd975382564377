//! `codegen`: its arguments, and what it prints of the typed registry (Rust or TypeScript) or the
//! JSON Schemas of the variables that `pipeline::build::codegen` generates from a clean check.

use super::*;
use crate::codegen::Lang;
use crate::pipeline::build::Generated;

#[derive(Debug, clap::Args)]
pub struct CodegenArgs {
    /// Compare with the output instead of writing it: print a diff and exit 1 when it is stale
    #[arg(long)]
    pub check: bool,
    /// What to generate: the Rust module, the TypeScript module, or one JSON Schema of the
    /// variables per prompt version (a folder)
    #[arg(long, value_enum, default_value_t = LangArg::Rust)]
    pub lang: LangArg,
    /// The file (for `--lang json-schema`, the folder) to generate, relative to the project root
    /// (default for Rust: `[codegen] out` of promptctl.toml)
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
}

/// `--lang`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LangArg {
    Rust,
    Typescript,
    JsonSchema,
}

pub(super) fn codegen(project: &Project, args: &CodegenArgs, color: bool) -> Result<i32> {
    let lang = match args.lang {
        LangArg::Rust => Lang::Rust,
        LangArg::Typescript => Lang::Typescript,
        LangArg::JsonSchema => Lang::JsonSchema,
    };
    let out = match (lang, &args.out) {
        (_, Some(out)) => out.clone(),
        (Lang::Rust, None) => match &project.config.codegen {
            Some(codegen) => codegen.out.clone(),
            None => anyhow::bail!("no file to generate: add `[codegen]` with `out = \"src/prompts.rs\"` to promptctl.toml, or pass `--out FILE`"),
        },
        (Lang::Typescript, None) => {
            anyhow::bail!("no file to generate: pass `--out FILE` (e.g. `--out src/prompts.ts`)")
        }
        (Lang::JsonSchema, None) => {
            anyhow::bail!("no folder to generate: pass `--out DIR` (e.g. `--out schemas/prompts`)")
        }
    };
    match pipeline::build::codegen(project, lang, &out, args.check)? {
        Generated::Refused(run) => {
            let what = if args.check { "checking generated code" } else { "generating code" };
            checking::refuse(&run, color, what);
            Ok(exit::ERRORS)
        }
        Generated::UpToDate => {
            if !quiet() {
                println!("{out} is up to date");
            }
            Ok(exit::OK)
        }
        Generated::Changed { files, written: false } => {
            for file in &files {
                let old = file.current.as_deref().unwrap_or("");
                let new = file.generated.as_deref().unwrap_or("");
                let path = &file.path;
                print!("{}", crate::diff::unified(old, new, path, &format!("{path} (generated)")));
            }
            for file in &files {
                let state = match (&file.current, &file.generated) {
                    (None, _) => "missing",
                    (Some(_), None) => "no longer generated",
                    (Some(_), Some(_)) => "stale",
                };
                eprintln!(
                    "error: `{}` is {state}; run `promptctl codegen{}` and commit the result",
                    file.path,
                    lang_flag(args.lang)
                );
            }
            Ok(exit::ERRORS)
        }
        Generated::Changed { files, written: true } => {
            for file in files.iter().filter(|_| !quiet()) {
                let verb = if file.generated.is_some() { "wrote" } else { "removed" };
                println!("{verb} {}", file.path);
            }
            Ok(exit::OK)
        }
    }
}

/// The `--lang` argument to repeat in a hint (nothing for the default).
fn lang_flag(lang: LangArg) -> &'static str {
    match lang {
        LangArg::Rust => "",
        LangArg::Typescript => " --lang typescript",
        LangArg::JsonSchema => " --lang json-schema",
    }
}
