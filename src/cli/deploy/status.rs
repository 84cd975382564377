//! `status`: the repository's activations beside the store's and the cache's
//! (`pipeline::deploy::status`), as a table or JSON.

use super::*;
use crate::pipeline::deploy::StatusRow;

pub(super) fn print_status(rows: &[StatusRow]) {
    let version = |v: Option<i64>| v.map_or("-".to_string(), |v| format!("v{v}"));
    let mut table = vec![[
        "prompt".to_string(),
        "repo".into(),
        "store".into(),
        "published".into(),
        "cache".into(),
        "ttl".into(),
        "notes".into(),
    ]];
    for row in rows {
        table.push([
            row.name.clone(),
            version(row.repository.map(i64::from)),
            version(row.store),
            version(row.published),
            version(row.cache),
            row.cache_ttl_seconds.map_or("-".into(), |t| format!("{t}s")),
            if row.notes.is_empty() { "ok".into() } else { row.notes.join("; ") },
        ]);
    }
    let widths: Vec<usize> =
        (0..7).map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for row in &table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 6 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        println!("{}", line.trim_end());
    }
}

pub fn status(project: &Project, args: &StatusArgs) -> Result<i32> {
    let stage::Report { environment: resolved, status } =
        stage::status(project, &args.target.target())?;
    let cache_state = match &status.cache {
        None => "none",
        Some(Ok(())) => "ok",
        Some(Err(_)) => "unreachable",
    };
    if args.format == OutputFormat::Json {
        let json = serde_json::json!({
            "environment": resolved.name,
            "store": resolved.shown,
            "published": status.published,
            "cache": cache_state,
            "prompts": status.rows,
        });
        println!("{}", serde_json::to_string_pretty(&json).expect("serialisable"));
    } else {
        let never = if status.published { "" } else { ": never published" };
        println!("environment `{}`, store {}{never}", resolved.name, resolved.shown);
        if let Some(Err(error)) = &status.cache {
            println!("cache unreachable, its entries unknown: {error}");
        }
        print_status(&status.rows);
    }
    // The cache's state cannot be vouched for: not a clean bill of health.
    Ok(if matches!(status.cache, Some(Err(_))) { exit::CACHE_STALE } else { exit::OK })
}
