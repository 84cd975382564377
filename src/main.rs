//! The `promptctl` binary: parse, run, print the error chain, exit with the documented code.

use clap::Parser;

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
