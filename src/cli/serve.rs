//! `serve`: its arguments, and the lines it prints around `serve::prepare` and `Prepared::run`
//! (where it listens, on stderr; the server logs through `tracing`).

use super::*;
use crate::serve::{Admin, Limits};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub target: deploy::EnvArgs,
    /// The address to listen on (`127.0.0.1:0`: any free port, printed on stderr)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The largest request body read; larger is a 413
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// How deep the vars of a render may nest (objects and arrays); deeper is a 422
    #[arg(long, value_name = "LEVELS", default_value_t = Limits::default().max_vars_depth)]
    pub max_vars_depth: usize,
    /// The largest rendered text returned; larger is a 422
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_rendered_bytes)]
    pub max_rendered_bytes: usize,
    /// Connections served at once; more are closed at once (and counted in the metrics)
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    pub max_connections: usize,
    /// The longest a request may take, its body included (503 after it; not /v1/watch)
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// How long SIGTERM waits for in-flight requests before exiting
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub shutdown_timeout_ms: u64,
    /// Threads serving requests (default: one per core; 1: a single-threaded runtime)
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Serve the operations page at /ui (prompts, previews, history, rollback with the admin
    /// token)
    #[arg(long)]
    pub ui: bool,
}

pub(super) fn serve(project: Project, args: &ServeArgs) -> Result<i32> {
    if args.max_connections == 0
        || args.max_body_bytes == 0
        || args.request_timeout_ms == 0
        || args.workers == Some(0)
    {
        anyhow::bail!(
            "`--max-connections`, `--max-body-bytes`, `--request-timeout-ms` and `--workers` must be \
             at least 1"
        );
    }
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_vars_depth: args.max_vars_depth,
        max_rendered_bytes: args.max_rendered_bytes,
        max_connections: args.max_connections,
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        header_timeout: Duration::from_millis(args.request_timeout_ms),
        shutdown_timeout: Duration::from_millis(args.shutdown_timeout_ms),
    };
    let admin = Admin::from_env();
    let prepared =
        crate::serve::prepare(project, args.target.target(), limits, admin.clone(), args.ui)?;
    let redis = prepared.redis_shown.clone().unwrap_or_else(|| "no Redis".to_string());
    eprintln!(
        "promptctl serve: {} prompts of `{}` from {} and {redis}; admin endpoints {}",
        prepared.prompts,
        args.target.environment,
        prepared.store_shown,
        match &admin {
            Some(admin) => format!("on (actor `{}`)", admin.actor()),
            None => "off".to_string(),
        }
    );
    let ui = args.ui;
    prepared.run(args.listen, args.workers, |address| {
        eprintln!("promptctl serve: listening on http://{address}");
        if ui {
            eprintln!("promptctl serve: operations page on http://{address}/ui");
        }
    })?;
    eprintln!("promptctl serve: stopped");
    Ok(exit::OK)
}
