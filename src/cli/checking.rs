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
    deny_warnings: bool,
    color: bool,
) -> Result<i32> {
    let mut run = pipeline::check::check(project, paths, options, use_cache)?;
    if deny_warnings {
        run.deny_warnings();
    }
    if !quiet() {
        for (path, _) in &run.snapshot_writes {
            eprintln!("wrote snapshot {path}");
        }
    }
    print_diagnostics(&run, format, color)?;
    Ok(if run.errors().next().is_some() { exit::ERRORS } else { exit::OK })
}

/// Prints a check's diagnostics: the machine formats on stdout, the human one (diagnostics, the
/// `promptctl explain` hint and the summary line) on stderr, as rustc and cargo do.
pub(super) fn print_diagnostics(run: &CheckRun, format: Format, color: bool) -> Result<()> {
    match format {
        Format::Json => print_stdout(&report::json_with_silenced(&run.diagnostics, &run.silenced)),
        Format::Github => print_stdout(&report::github(&run.diagnostics)),
        Format::Sarif => {
            print_stdout(&report::sarif_with_silenced(&run.diagnostics, &run.silenced))
        }
        Format::Human => {
            let stderr = std::io::stderr();
            let mut err = std::io::BufWriter::new(stderr.lock());
            for diagnostic in &run.diagnostics {
                err.write_all(human(run, diagnostic, color).as_bytes())?;
            }
            err.write_all(report::explain_hint(&run.diagnostics).as_bytes())?;
            if !quiet() {
                let versions = run.prompts.iter().map(|p| p.versions.len()).sum();
                err.write_all(
                    report::summary(&run.diagnostics, &run.silenced, run.prompts.len(), versions)
                        .as_bytes(),
                )?;
            }
            err.flush()?;
            Ok(())
        }
    }
}

fn print_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Prints the errors of a check (on stderr) and why `what` refuses.
pub(super) fn refuse(run: &CheckRun, color: bool, what: &str) {
    let errors: Vec<&Diagnostic> = run.errors().collect();
    for diagnostic in &errors {
        eprint!("{}", human(run, diagnostic, color));
    }
    eprint!("{}", report::explain_hint(errors.iter().copied()));
    eprintln!("error: not {what} while `check` reports {} error(s); fix them first", errors.len());
}

pub(super) fn lock(project: &Project, format: OutputFormat, color: bool) -> Result<i32> {
    let lock_file = &project.config.lock_file;
    let locked = pipeline::check::lock(project)?;
    if format == OutputFormat::Json {
        let value = match &locked {
            Locked::Refused(run) => super::build::refused_json(run),
            Locked::UpToDate { total } => serde_json::json!({
                "status": "up-to-date", "lock_file": lock_file, "total": total, "added": [],
            }),
            Locked::Added { added, total } => serde_json::json!({
                "status": "added",
                "lock_file": lock_file,
                "total": total,
                "added": added.iter().map(|entry| serde_json::json!({
                    "name": entry.name, "version": entry.version, "sha256": entry.sha256,
                })).collect::<Vec<_>>(),
            }),
        };
        super::build::print_json(&value);
    }
    let human = format == OutputFormat::Human && !quiet();
    match locked {
        Locked::Refused(run) => {
            refuse(&run, color, "locking");
            Ok(exit::ERRORS)
        }
        Locked::UpToDate { total } => {
            if human {
                println!("{lock_file} is up to date ({total} locked versions)");
            }
            Ok(exit::OK)
        }
        Locked::Added { added, total } => {
            if human {
                for entry in &added {
                    let short = lock::short(&entry.sha256);
                    println!("locked {} v{} sha256:{short}", entry.name, entry.version);
                }
                println!("{lock_file}: {} new, {total} locked versions in all", added.len());
            }
            Ok(exit::OK)
        }
    }
}
