//! `history`: the store's activations (and with `--audit` its audit log), newest first, as lines
//! or JSON (`pipeline::deploy::history`).

use super::*;
use crate::store::format_time;

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Only this prompt (default: every prompt)
    pub name: Option<String>,
    #[command(flatten)]
    pub target: EnvArgs,
    /// At most this many entries (of each kind)
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: u32,
    /// Also list the audit log: every change of the store (versions stored, activations,
    /// deployments), with its details
    #[arg(long)]
    pub audit: bool,
    /// `human`: a line per entry; `json`: an object with `activations` (and `audit`)
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

pub fn history(project: &Project, args: &HistoryArgs) -> Result<i32> {
    let stage::History { environment, activations, audit, empty_store } = stage::history(
        project,
        &args.target.target(),
        args.name.as_deref(),
        args.limit,
        args.audit,
    )?;
    if args.format == OutputFormat::Json {
        let mut json = serde_json::json!({
            "environment": environment.name,
            "store": environment.shown,
            "activations": activations,
        });
        if args.audit {
            json["audit"] = serde_json::to_value(&audit)?;
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(exit::OK);
    }
    println!("environment `{}`, store {}", environment.name, environment.shown);
    if empty_store {
        println!("never published: no history");
        return Ok(exit::OK);
    }
    if activations.is_empty() {
        println!("no activations");
    }
    for entry in &activations {
        let from = entry.previous.map_or("(none)".to_string(), |v| format!("v{v}"));
        let mut line = format!(
            "{}  {}  {:<8}  {from} → v{}  by {}",
            format_time(entry.at),
            entry.prompt,
            entry.action,
            entry.version,
            entry.actor
        );
        if let (Some(canary), Some(basis_points)) = (entry.canary, entry.canary_basis_points) {
            line.push_str(&format!(
                " + v{canary} canary {}",
                crate::rollout::basis_points_display(basis_points as u32)
            ));
        }
        if let Some(seq) = entry.bundle_seq {
            line.push_str(&format!("  seq {seq}"));
        }
        if let Some(commit) = &entry.git_commit {
            line.push_str(&format!("  commit {}", &commit[..commit.len().min(12)]));
        }
        if let Some(reason) = &entry.reason {
            line.push_str(&format!("  reason: {}", reason.replace('\n', " ")));
        }
        println!("{line}");
    }
    if args.audit {
        println!("audit log:");
        for entry in &audit {
            let subject = match (&entry.prompt, entry.version) {
                (Some(prompt), Some(version)) => format!("{prompt} v{version}"),
                (Some(prompt), None) => prompt.clone(),
                _ => "(store)".to_string(),
            };
            println!(
                "{}  {subject}  {}  by {}  {}",
                format_time(entry.at),
                entry.action,
                entry.actor,
                entry.details
            );
        }
    }
    Ok(exit::OK)
}
