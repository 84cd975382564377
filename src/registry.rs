//! The API that generated registries (`promptctl codegen`) and the runtime client call: the
//! static table of served prompts (`Entry`, `EntryVersion`), the `Typed` contract of generated
//! `Vars` types, and parsing and rendering with the engine `check` uses. Its shape is part of the
//! generated modules' API; `codegen::runtime` is its old path. Compiled in every build (the
//! `runtime` feature alone included).
#![warn(missing_docs)]

/// The engine's compiled template and its error, as generated code names them.
pub use crate::render::{Compiled, RenderError};
/// The serde generated `Vars` types derive with (`#[serde(crate = …)]`).
pub use ::serde;
/// JSON values, for untyped rendering.
pub use ::serde_json;

/// A served prompt.
#[derive(Debug)]
pub struct Entry {
    /// The prompt's name (its folder under `prompts/`).
    pub name: &'static str,
    /// The `description` of its `prompt.toml`.
    pub description: &'static str,
    /// Environment to version, sorted by environment.
    pub activate: &'static [(&'static str, u32)],
    /// The activated versions, sorted by number.
    pub versions: &'static [EntryVersion],
}

/// An activated version of a served prompt.
#[derive(Debug)]
pub struct EntryVersion {
    /// The version number.
    pub version: u32,
    /// The sha256 of the template, hex.
    pub sha256: &'static str,
    /// The fingerprint of the variable contract (`catalog::contract`).
    pub contract: &'static str,
    /// The template text.
    pub template: &'static str,
    /// Renders with untyped vars.
    pub render: fn(&serde_json::Value) -> Result<String, RenderError>,
}

impl Entry {
    /// Version `number`, if some environment activates it.
    pub fn version(&self, number: u32) -> Option<&'static EntryVersion> {
        self.versions.iter().find(|version| version.version == number)
    }

    /// The version that `environment` serves.
    pub fn active(&self, environment: &str) -> Option<&'static EntryVersion> {
        let (_, number) = self.activate.iter().find(|(name, _)| *name == environment)?;
        self.version(*number)
    }
}

/// What the runtime client (`runtime::PromptStore::render`) knows of a generated `Vars`
/// type: which prompt and version it belongs to and the fingerprint of its variable
/// contract. A text with another contract is never rendered with these vars.
pub trait Typed: serde::Serialize {
    /// The prompt's name.
    const NAME: &'static str;
    /// The version whose contract the type follows.
    const VERSION: u32;
    /// The fingerprint of that contract.
    const CONTRACT: &'static str;
}

/// Parses a template that `promptctl check` accepted when the module was generated.
pub fn compile(name: &str, version: u32, template: &str) -> Compiled {
    Compiled::new(template).unwrap_or_else(|error| {
        panic!("the template of `{name}` v{version} does not parse ({}); regenerate the module with `promptctl codegen`", error.message)
    })
}

/// Renders `compiled` with `vars` serialised to JSON.
pub fn render<T: serde::Serialize>(compiled: &Compiled, vars: &T) -> Result<String, RenderError> {
    let vars = serde_json::to_value(vars)
        .map_err(|error| RenderError { message: error.to_string(), span: 0..0 })?;
    compiled.render(&vars)
}

/// `name` in `all`, which is sorted by name.
pub fn lookup(all: &'static [Entry], name: &str) -> Option<&'static Entry> {
    all.binary_search_by(|entry| entry.name.cmp(name)).ok().map(|index| &all[index])
}
