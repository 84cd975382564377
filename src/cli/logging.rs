//! The CLI's logs: `tracing` events on stderr, off unless asked for. `-v` shows promptctl's
//! `info` events, `-vv` `debug`, `-vvv` `trace` (other crates stay at `warn`); `RUST_LOG`, when
//! set, decides instead (an `EnvFilter` directive). Human lines by default, one JSON object per
//! line with `--log-format json`. The standard output is never touched: it stays the command's.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// The format of the log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// The filter `-v` given `verbose` times stands for.
fn directives(verbose: u8) -> &'static str {
    match verbose {
        0 => "off",
        1 => "warn,promptctl=info",
        2 => "warn,promptctl=debug",
        _ => "warn,promptctl=trace",
    }
}

/// Installs the subscriber (once per process; later calls keep the first). A `RUST_LOG` that does
/// not parse is reported and replaced by the `-v` filter.
pub fn init(verbose: u8, format: LogFormat, color: bool) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => {
            EnvFilter::try_new(&value).unwrap_or_else(|error| {
                eprintln!("warning: RUST_LOG `{value}` is not a valid filter ({error}); using -v");
                EnvFilter::new(directives(verbose))
            })
        }
        _ => EnvFilter::new(directives(verbose)),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.with_ansi(color).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_directives_parse() {
        for verbose in 0..5 {
            assert!(EnvFilter::try_new(directives(verbose)).is_ok(), "{verbose}");
        }
    }
}
