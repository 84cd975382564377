//! promptctl: prompts as code. Modules are declared in the order data flows through them:
//! configuration and files are read (`config`, `index`, `source`), parsed (`syntax`), checked
//! (`check`, with `render`, `seed` and `lock`), compiled (`codegen`, `signing`, `bundle`), delivered (`store`, `cache`, `publish`,
//! `webhook`) and served (`runtime`), cached (`memo`) and reported (`diff`, `report`); `cli` drives them. `diagnostic` is the shared
//! vocabulary.

pub mod diagnostic;
pub mod time;
pub mod config;
pub mod index;
pub mod source;
pub mod syntax;
pub mod render;
pub mod seed;
pub mod lock;
pub mod check;
pub mod codegen;
pub mod signing;
pub mod bundle;
pub mod store;
pub mod cache;
pub mod publish;
pub mod webhook;
pub mod runtime;
pub mod memo;
pub mod diff;
pub mod report;
pub mod cli;
