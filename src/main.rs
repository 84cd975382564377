//! The `promptctl` binary: parse, run, print the error chain, exit with the documented code.

use clap::Parser as _;

/// A check allocates many small strings and trees per prompt on every core; mimalloc's per-thread
/// heaps make that about a tenth cheaper than the system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_t`, mimalloc.h; libmimalloc-sys
/// has no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // A command lives for seconds and frees big buffers (a bundle of tens of megabytes, its parse,
    // a catalog) while it allocates the next ones. mimalloc returns freed memory to the OS after
    // 10 ms by default, and the kernel then zeroes every page again on its next use: up to a
    // second of system time in a first publish of 10,000 prompts (BENCHMARKS.md). Keep freed
    // memory until exit instead.
    // The one `unsafe` of the package (the lint denies it everywhere else).
    // SAFETY: sets one of mimalloc's options, which it reads atomically; no memory is involved.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1)
    };
    let cli = match promptctl::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // A usage error under `--format json` is still one JSON object on stdout for the
            // script that reads it; help and version requests, and everything else, as clap does.
            let usage = !matches!(
                error.kind(),
                clap::error::ErrorKind::DisplayHelp
                    | clap::error::ErrorKind::DisplayVersion
                    | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            );
            if usage && promptctl::cli::asks_for_json(std::env::args_os().skip(1)) {
                print!("{}", promptctl::cli::usage_failure_json(&error.to_string()));
            }
            error.exit()
        }
    };
    let json = cli.json_output();
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
                if json {
                    // Under `--format json` a script reads stdout: it gets one object with a code.
                    print!("{}", promptctl::cli::failure_json(&error));
                }
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
