//! Parsing with spans: TOML files and front matter (`prompt`, with the fast path `quick` for the
//! common front matter), Handlebars templates (`template`).
//! Pure: text in, trees and diagnostics out.

pub mod prompt;
pub mod quick;
pub mod template;
pub mod walk;
