//! `eval`: its arguments, and what it prints of `pipeline::eval`: the results table (human,
//! markdown, GitHub annotations and markdown, or the JSON report `review --eval` reads), and the
//! exit code (docs/eval.md).

use super::*;
use crate::eval::report::{self as eval_report, Report};
use crate::pipeline::eval::{Evaluated, Request};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Prompts to evaluate (default: every prompt with `[[eval]]` entries)
    pub names: Vec<String>,
    /// Only the evals of this name
    #[arg(long, value_name = "NAME")]
    pub eval: Option<String>,
    /// The version to evaluate: N, or @ENV (the version prompt.toml activates in ENV); default: each eval's versions
    #[arg(long, value_name = "N|@ENV", conflicts_with = "base")]
    pub version: Option<String>,
    /// Evaluate the version this git revision's prompt.toml serves in --env, and the working tree's, and report the delta
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// The environment whose activations --base compares
    #[arg(long, value_name = "ENV", default_value = "production")]
    pub env: String,
    /// Call no model: answers come only from the recorded responses and the local cache; a miss is `not recorded` (exit 5)
    #[arg(long)]
    pub offline: bool,
    /// Write the answers each prompt's evals used into its `evals/recorded/` folder (commit them: CI replays them)
    #[arg(long, conflicts_with = "offline")]
    pub record: bool,
    /// With --record: also remove the recorded answers of the evaluated prompts that this run did not use (answers a `--base` run recorded for the base's version included)
    #[arg(long, requires = "record", conflicts_with_all = ["eval", "version", "base"])]
    pub prune: bool,
    /// Stop before a call whose worst-case cost would take this run's spending over USD
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// `human` (tables), `json` (the report `review --eval` reads), `markdown`, or `github` (annotations, then markdown)
    #[arg(short, long, value_enum, default_value_t = EvalFormat::Human)]
    pub format: EvalFormat,
    /// Also write the JSON report to FILE, whatever --format prints (for `review --eval FILE`)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalFormat {
    Human,
    Json,
    Markdown,
    Github,
}

pub(super) fn eval(project: &Project, args: &EvalArgs, color: bool) -> Result<i32> {
    if let Some(budget) = args.budget {
        if !budget.is_finite() || budget < 0.0 {
            anyhow::bail!("`--budget` must be a positive amount of USD, not {budget}");
        }
    }
    let request = Request {
        names: args.names.clone(),
        eval: args.eval.clone(),
        version: args.version.clone(),
        base: args.base.clone(),
        env: args.env.clone(),
        options: crate::eval::run::Options { offline: args.offline, budget: args.budget },
        record: args.record,
        prune: args.prune,
    };
    let (report, recorded) = match pipeline::eval::eval(project, &request)? {
        Evaluated::Done { report, recorded } => (report, recorded),
        Evaluated::Nothing => {
            // An empty report, so that a workflow's `review --eval FILE` finds one.
            if let Some(out) = &args.out {
                write_report(out, &Report::default())?;
            }
            if !quiet() {
                eprintln!("no prompt has an [[eval]]: nothing to evaluate (docs/eval.md says how to write one)");
            }
            return Ok(exit::OK);
        }
        Evaluated::Errors(run) => {
            // Machine-readable formats say why there is no report where a report would be.
            match args.format {
                EvalFormat::Json => super::build::print_json(&super::build::refused_json(&run)),
                EvalFormat::Github => {
                    let errors: Vec<crate::diagnostic::Diagnostic> =
                        run.errors().cloned().collect();
                    print!("{}", crate::report::github(&errors));
                }
                EvalFormat::Human | EvalFormat::Markdown => {}
            }
            for diagnostic in run.errors() {
                eprint!("{}", checking::human(&run, diagnostic, color));
            }
            eprint!("{}", crate::report::explain_hint(run.errors()));
            let scope = if args.names.is_empty() {
                "the prompts".to_string()
            } else {
                format!("{} (or the judge prompt, or promptctl.toml)", args.names.join(", "))
            };
            eprintln!(
                "error: not evaluating while `check` reports errors in {scope}; fix them first"
            );
            return Ok(exit::ERRORS);
        }
    };
    if let Some(out) = &args.out {
        write_report(out, &report)?;
    }
    let mut stdout = std::io::stdout().lock();
    match args.format {
        EvalFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            stdout.write_all(b"\n")?;
        }
        EvalFormat::Markdown | EvalFormat::Human => {
            stdout.write_all(eval_report::markdown(&report).as_bytes())?
        }
        EvalFormat::Github => stdout.write_all(eval_report::github(&report).as_bytes())?,
    }
    stdout.flush()?;
    if report.broken() {
        // The table says which; stderr says that the run failed, as every command does.
        let failed: u32 = report.evals.iter().map(|e| e.failed).sum();
        if failed > 0 {
            eprintln!("error: {failed} model call(s) failed; the table lists why");
        }
        if report.stopped_by_budget {
            eprintln!("error: the budget stopped the run before a call that could have passed it");
        }
    }
    if !quiet() {
        for (dir, written, removed) in &recorded {
            eprintln!("recorded {written} answer(s) into `{dir}`, removed {removed}");
        }
    }
    Ok(exit_code(&report))
}

fn write_report(out: &Path, report: &Report) -> Result<()> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    std::fs::write(out, text).with_context(|| format!("cannot write `{}`", out.display()))
}

/// 2 when a call failed or the budget stopped the run, 1 when a required assertion is under its
/// pass rate, 5 when answers were not recorded, else 0.
pub fn exit_code(report: &Report) -> i32 {
    if report.broken() {
        exit::FAILURE
    } else if report.failed() {
        exit::ERRORS
    } else if report.not_recorded() {
        exit::NOT_RECORDED
    } else {
        exit::OK
    }
}
