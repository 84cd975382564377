//! The integration tests: one binary, a module per stage. `support` builds projects in temporary
//! folders and runs the real `promptctl` binary against them; the real PostgreSQL and
//! redis-server, git and tree copies come from the `test-support` crate (crates/test-support).

mod support;

mod adoption;
mod architecture;
mod build;
mod canary;
mod check;
mod conformance;
mod diff;
mod eval_local_model;
mod eval_run;
mod evals_check;
mod differential;
mod eval_providers;
mod docs;
mod explain;
mod failures;
mod fleet;
mod formats;
mod fuzz_replay;
mod hardening;
mod history;
mod github;
mod schemas;
mod security;
mod setup;
mod tour;
mod index;
mod lints;
mod monitoring;
mod node_service;
mod postgres_tls;
mod publish;
mod redis_cluster;
mod redis_tls;
mod render;
mod review;
mod runtime;
mod seed;
mod serve;
mod serve_ui;
mod typescript;
