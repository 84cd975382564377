//! Parsing with spans: TOML files and front matter (`prompt`, with the fast path `quick` for the
//! common front matter), Handlebars templates (`template`).
//! Pure: text in, trees and diagnostics out.

#[cfg(feature = "cli")]
pub mod prompt;
#[cfg(feature = "cli")]
pub mod quick;
pub mod template;
#[cfg(feature = "cli")]
pub mod walk;
