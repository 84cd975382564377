//! Parsing with spans: TOML files and front matter (`prompt`), Handlebars templates (`template`).
//! Pure: text in, trees and diagnostics out.

pub mod prompt;
pub mod template;
pub mod walk;
