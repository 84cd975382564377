//! `check` and `lock`: run the check stage (`pipeline::check`) and print what it found.

use super::*;
use crate::pipeline::check::{CheckRun, Locked};

/// A diagnostic in the human format. The file it quotes is shown with every secret blanked out,
/// whatever the diagnostic is about: no output of promptctl ever prints a secret.
pub(super) fn human(run: &CheckRun, diagnostic: &Diagnostic, color: bool) -> String {
    let text = run.source(&diagnostic.file).map(crate::check::security::redact);
    report::human(diagnostic, text.as_deref(), color)
}

pub(super) fn check(
    project: &Project,
    paths: &[PathBuf],
    format: Format,
    options: Options,
    use_cache: bool,
    color: bool,
) -> Result<i32> {
    let run = pipeline::check::check(project, paths, options, use_cache)?;
    for (path, _) in &run.snapshot_writes {
        eprintln!("wrote snapshot {path}");
    }
    print_diagnostics(&run, format, color)?;
    Ok(if run.errors().next().is_some() { exit::ERRORS } else { exit::OK })
}

pub(super) fn print_diagnostics(run: &CheckRun, format: Format, color: bool) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Json => out.write_all(report::json(&run.diagnostics).as_bytes())?,
        Format::Github => out.write_all(report::github(&run.diagnostics).as_bytes())?,
        Format::Sarif => out.write_all(report::sarif(&run.diagnostics).as_bytes())?,
        Format::Human => {
            for diagnostic in &run.diagnostics {
                out.write_all(human(run, diagnostic, color).as_bytes())?;
            }
            let versions = run.prompts.iter().map(|p| p.versions.len()).sum();
            out.write_all(
                report::summary(&run.diagnostics, run.prompts.len(), versions).as_bytes(),
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Prints the errors of a check and why `what` refuses.
pub(super) fn refuse(run: &CheckRun, color: bool, what: &str) {
    let errors: Vec<&Diagnostic> = run.errors().collect();
    for diagnostic in &errors {
        print!("{}", human(run, diagnostic, color));
    }
    eprintln!("error: not {what} while `check` reports {} error(s); fix them first", errors.len());
}

pub(super) fn lock(project: &Project, color: bool) -> Result<i32> {
    let lock_file = &project.config.lock_file;
    match pipeline::check::lock(project)? {
        Locked::Refused(run) => {
            refuse(&run, color, "locking");
            Ok(exit::ERRORS)
        }
        Locked::UpToDate { total } => {
            println!("{lock_file} is up to date ({total} locked versions)");
            Ok(exit::OK)
        }
        Locked::Added { added, total } => {
            for entry in &added {
                let short = lock::short(&entry.sha256);
                println!("locked {} v{} sha256:{short}", entry.name, entry.version);
            }
            println!("{lock_file}: {} new, {total} locked versions in all", added.len());
            Ok(exit::OK)
        }
    }
}
