//! Entry point of `cargo xtask`: parses the command line and hands over to one task module
//! (`verify`, `bench`, whose `--runtime` part is in `serve`, `fuzz`); it owns no task logic itself.

mod bench;
mod bench_publish;
mod bench_serve;
mod bench_storm;
mod child;
mod differential;
mod fuzz;
mod review_bench;
mod serve;
mod setup;
mod synth;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Development tasks of the promptctl workspace")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the checks of CI (fmt, clippy, tests, `promptctl check`), stopping at the first failure;
    /// first installs what the tests need when it is missing (Debian packages, pinned tools)
    Verify,
    /// Only the first step of `verify`: install what the tests need when it is missing
    Setup,
    /// Serve the real local model the eval test uses (SmolLM2-135M-Instruct behind an
    /// OpenAI-compatible server on loopback; `setup` installs it) until interrupted, printing a
    /// `[models.local]` table to try `promptctl eval` with
    LocalModel,
    /// Time `promptctl check` (against an in-process read+hash floor) and `build` on synthetic
    /// repositories (or, with `--review`, `promptctl review`; with `--runtime`, the runtime client
    /// against per-request Redis reads; with `--serve`, `promptctl serve` under load beside
    /// `redis-benchmark`)
    Bench(bench::Options),
    /// Time `promptctl publish` into a real PostgreSQL and Redis beside a `psql \copy` floor
    BenchPublish(bench_publish::Options),
    /// Run a cargo-fuzz target of `fuzz/` (nightly) for `--time S` seconds, or `--list` them
    Fuzz(fuzz::Options),
    /// Compare promptctl's renderer with handlebars.js on random templates and data
    /// (`--cases 100000 --seed S`); fails on a difference no portability lint explains
    Differential(differential::Options),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Verify => verify::run(&workspace_root()),
        Task::Setup => setup::run(&workspace_root()),
        Task::LocalModel => setup::serve_local_model(&workspace_root()),
        Task::Bench(options) => bench::run(&workspace_root(), &options),
        Task::BenchPublish(options) => bench_publish::run(&workspace_root(), &options),
        Task::Fuzz(options) => fuzz::run(&workspace_root(), &options),
        Task::Differential(options) => differential::run(&workspace_root(), &options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// How the benches run git: as `bench`, with the settings of `test_support::Git` (no automatic
/// `gc` in the background of a timed run, none of the machine's configuration).
const BENCH_GIT: test_support::Git<'static> =
    test_support::Git::new("bench", "bench@example.invalid");

/// The workspace root: the parent of this crate's manifest directory, whatever the working folder.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// `target/` of the workspace, honouring `CARGO_TARGET_DIR` the way cargo does.
fn target_dir(workspace_root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root.join(dir),
        None => workspace_root.join("target"),
    }
}

/// The cargo running this xtask (`cargo run` sets `CARGO`): nested builds use the same toolchain.
fn cargo() -> std::process::Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    std::process::Command::new(cargo)
}
