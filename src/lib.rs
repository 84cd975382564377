//! promptctl: prompts as code. Modules are declared in the order data flows through them:
//! configuration and files are read (`config`, `source`), parsed (`syntax`), checked (`check`),
//! and reported (`report`); `cli` drives them.

pub mod check;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod diff;
pub mod lock;
pub mod memo;
pub mod render;
pub mod report;
pub mod seed;
pub mod source;
pub mod syntax;
