//! The `promptctl` binary: parse, run, print the error chain, exit with the documented code.

use clap::Parser;

/// A check allocates many small strings and trees per prompt on every core; mimalloc's per-thread
/// heaps make that about a tenth cheaper than the system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = promptctl::cli::Cli::parse();
    let code = match promptctl::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            // A closed pipe (`promptctl check | head`) is not a failure.
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                0
            } else {
                eprintln!("error: {error}");
                for cause in error.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
                promptctl::cli::exit::FAILURE
            }
        }
    };
    std::process::exit(code);
}
