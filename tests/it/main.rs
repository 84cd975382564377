//! The integration tests: one binary, a module per stage. `support` builds projects in temporary
//! folders and runs the real `promptctl` binary against them; the real PostgreSQL and
//! redis-server, git and tree copies come from the `test-support` crate (crates/test-support).

mod support;

mod adoption;
mod architecture;
mod build;
mod check;
mod conformance;
mod differential;
mod docs;
mod fleet;
mod formats;
mod fuzz_replay;
mod hardening;
mod github;
mod schemas;
mod security;
mod setup;
mod index;
mod publish;
mod review;
mod runtime;
mod seed;
