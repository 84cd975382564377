//! `cargo xtask differential`: a long differential run of promptctl's renderer against
//! handlebars.js 4 under node (src/differential/ generates the cases, one node process renders
//! them in batches). Prints the counts, every known difference with an example and every
//! unexplained difference minimised; fails when there is an unexplained one.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use promptctl::differential::{self, HandlebarsJs};

#[derive(clap::Args)]
pub struct Options {
    /// How many cases to generate
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    cases: u64,
    /// The seed: the same seed generates the same cases
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Cases per round trip to node
    #[arg(long, value_name = "B", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
}

pub fn run(workspace_root: &Path, options: &Options) -> Result<()> {
    let target = crate::target_dir(workspace_root);
    let prefix = differential::install_handlebars_js(&target).map_err(|missing| {
        anyhow!("cannot install handlebars.js: {missing} (install Node.js with npm)")
    })?;
    let script = workspace_root.join("tests/differential/render.js");
    let mut engine = HandlebarsJs::start(&script, &prefix).map_err(|e| anyhow!(e))?;
    eprintln!(
        "differential: {} cases, seed {}, batches of {}, against handlebars.js {}",
        options.cases, options.seed, options.batch, engine.version
    );
    let started = Instant::now();
    let report = differential::run(
        &mut engine,
        options.seed,
        options.cases,
        options.batch as usize,
        200,
        &mut |report| {
            eprintln!(
                "  {} cases, {:.0?}: {} unexplained",
                report.cases,
                started.elapsed(),
                report.unexplained_count()
            );
        },
    )
    .map_err(|e| anyhow!(e))?;
    println!("{}", report.summary(&format!("handlebars.js {}", engine.version)));
    println!("seed {}, {:.1?}", options.seed, started.elapsed());
    if report.unexplained_count() > 0 {
        bail!("{} unexplained differences", report.unexplained_count());
    }
    Ok(())
}
