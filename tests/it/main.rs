//! The integration tests: one binary, a module per stage. `support` builds projects in temporary
//! folders and runs the real `promptctl` binary against them.

mod support;

mod check;
mod docs;
mod schemas;
mod index;
mod seed;
