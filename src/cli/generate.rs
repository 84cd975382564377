//! `codegen`: the typed registry from a clean check.

use super::*;

#[derive(Debug, clap::Args)]
pub struct CodegenArgs {
    /// Compare with the file instead of writing it: print a diff and exit 1 when it is stale
    #[arg(long)]
    pub check: bool,
    /// The file to generate (default: `[codegen] out` of promptctl.toml), relative to the project root
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
}

/// Checks the project and, when it checks clean, reads its catalog; otherwise prints the errors,
/// says why `what` refuses, and returns `None`.
pub(crate) fn checked_catalog(
    project: &Project,
    color: bool,
    what: &str,
) -> Result<Option<crate::catalog::Catalog>> {
    Ok(checked_run(project, color, what, Keep::Catalog)?
        .map(|run| crate::catalog::Catalog::new(&project.config, run.catalog)))
}

/// `check_for_catalog`, refusing (printing the errors, `None`) while it reports errors.
pub(super) fn checked_run(
    project: &Project,
    color: bool,
    what: &str,
    keep: Keep,
) -> Result<Option<CheckRun>> {
    let run = check_for_catalog(project, keep)?;
    let errors: Vec<&Diagnostic> = run.diagnostics.iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        for diagnostic in &errors {
            print!("{}", run.human(diagnostic, color));
        }
        eprintln!(
            "error: not {what} while `check` reports {} error(s); fix them first",
            errors.len()
        );
        return Ok(None);
    }
    // A file the index vouched for may have become unreadable since.
    let unreadable = run.prompts.iter().find_map(|prompt| {
        let problem =
            prompt.diagnostics.iter().find(|d| d.code == diagnostic::Code::SyntaxEncoding)?;
        Some(format!("cannot read `{}`: {}", problem.file, problem.message))
    });
    if let Some(message) = unreadable {
        anyhow::bail!(message);
    }
    Ok(Some(run))
}

pub(super) fn codegen(project: &Project, args: &CodegenArgs, color: bool) -> Result<i32> {
    let Some(out) =
        args.out.clone().or_else(|| project.config.codegen.as_ref().map(|c| c.out.clone()))
    else {
        anyhow::bail!("no file to generate: add `[codegen]` with `out = \"src/prompts.rs\"` to promptctl.toml, or pass `--out FILE`");
    };
    let what = if args.check { "checking generated code" } else { "generating code" };
    let Some(catalog) = checked_catalog(project, color, what)? else { return Ok(exit::ERRORS) };
    let generated = crate::codegen::generate(&catalog);
    let target = project.root.join(&out);
    let current = match std::fs::read(&target) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).with_context(|| format!("cannot read `{out}`")),
    };
    if current.as_deref() == Some(generated.as_str()) {
        println!("{out} is up to date");
        return Ok(exit::OK);
    }
    if args.check {
        let old = current.as_deref().unwrap_or("");
        print!("{}", crate::diff::unified(old, &generated, &out, &format!("{out} (generated)")));
        eprintln!(
            "error: `{out}` is {}; run `promptctl codegen` and commit the result",
            if current.is_some() { "stale" } else { "missing" }
        );
        return Ok(exit::ERRORS);
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(&target, &generated).with_context(|| format!("cannot write `{out}`"))?;
    println!("wrote {out}");
    Ok(exit::OK)
}
