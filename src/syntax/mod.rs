//! Parsing with spans: TOML files and front matter (`prompt`, with the fast path `quick` for the
//! common front matter, both producing `raw`), Handlebars templates (`template`, the only part
//! the runtime needs). Pure: text in, trees and diagnostics out.

#[cfg(feature = "cli")]
mod activate;
#[cfg(feature = "cli")]
pub mod lints;
#[cfg(feature = "cli")]
pub mod dataset;
#[cfg(feature = "cli")]
pub mod eval;
#[cfg(feature = "cli")]
pub mod prompt;
#[cfg(feature = "cli")]
pub mod quick;
#[cfg(feature = "cli")]
pub mod raw;
pub mod template;
#[cfg(feature = "cli")]
pub mod values;
#[cfg(feature = "cli")]
pub mod walk;
