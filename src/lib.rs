//! promptctl: prompts as code. Modules are declared in the order data flows through them:
//! configuration and files are read (`config`, `index`, `source`), parsed (`syntax`), checked
//! (`check`, with `render`, `seed` and `lock`), compared with a git base (`review`), compiled
//! (`codegen`, `signing`, `bundle`), delivered (`store`, `cache`, `publish`, `webhook`) and
//! served (`runtime`, with `rollout` assigning keys to a canary), cached (`memo`) and reported (`diff`, `report`, and `github` for the review
//! comment); `pipeline` runs them as the commands' stages and `cli` prints what they return. `diagnostic` is the shared
//! vocabulary.
//!
//! Features: `cli` (default) is the command-line tool; `runtime` (default) is the client that
//! applications link (`default-features = false, features = ["runtime"]` builds it without clap,
//! annotate-snippets, reqwest, git or the signing code); both use `store` (the store and cache).

#[cfg(feature = "cli")]
pub mod diagnostic;
pub(crate) mod time;
pub mod text;
#[cfg(feature = "cli")]
pub mod read;
#[cfg(feature = "cli")]
pub(crate) mod config;
#[cfg(feature = "cli")]
pub(crate) mod index;
#[cfg(feature = "cli")]
pub(crate) mod source;
pub mod syntax;
pub mod render;
pub mod registry;
pub mod rollout;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod differential;
#[cfg(feature = "cli")]
pub(crate) mod seed;
#[cfg(feature = "cli")]
pub mod lock;
#[cfg(feature = "cli")]
pub mod check;
#[cfg(feature = "cli")]
pub(crate) mod git;
#[cfg(feature = "cli")]
pub(crate) mod review;
#[cfg(feature = "cli")]
pub mod catalog;
#[cfg(feature = "cli")]
pub mod codegen;
/// The old path of `registry`, which generated modules name (kept for one release); with the
/// `cli` feature, the code generator too.
#[cfg(not(feature = "cli"))]
pub mod codegen {
    pub use crate::registry as runtime;
}
#[cfg(feature = "cli")]
pub mod signing;
#[cfg(feature = "cli")]
pub mod bundle;
#[cfg(feature = "store")]
pub mod store;
#[cfg(feature = "store")]
pub mod cache;
#[cfg(feature = "store")]
pub mod redis_target;
#[cfg(feature = "cli")]
pub mod publish;
#[cfg(feature = "cli")]
pub mod webhook;
#[cfg(feature = "cli")]
pub mod eval;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "cli")]
pub(crate) mod memo;
#[cfg(feature = "cli")]
pub mod diff;
#[cfg(feature = "cli")]
pub mod report;
#[cfg(feature = "store")]
// What a build without the CLI or PostgreSQL leaves unused.
#[cfg_attr(not(all(feature = "cli", feature = "store-postgres")), allow(dead_code))]
pub(crate) mod tls;
#[cfg(feature = "cli")]
pub mod github;
#[cfg(feature = "cli")]
pub(crate) mod pipeline;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod serve;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod fuzzing;
