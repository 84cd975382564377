//! The front matter of a version file as written (`FrontMatter`, `RawVariable`, `RawItems`),
//! before `prompt::resolve_variables` gives the variables their types: what both readers produce,
//! the general one (`prompt`, through the TOML parser and `walk`) and the fast one (`quick`).
//! Plain data, so that neither reader depends on the other for it.

use std::collections::BTreeMap;
use toml::Spanned;

/// The front matter of a version file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrontMatter {
    pub description: Option<String>,
    pub variables: BTreeMap<Spanned<String>, Spanned<RawVariable>>,
    pub model: Option<toml::Table>,
}

/// A variable spec as written; `resolve_variables` turns it into a `Variable`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawVariable {
    pub kind: String,
    pub required: Option<bool>,
    pub description: Option<String>,
    pub max_len: Option<i64>,
    pub source: Option<String>,
    pub values: Option<Vec<String>>,
    pub items: Option<RawItems>,
    pub fields: Option<BTreeMap<String, RawVariable>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RawItems {
    Name(String),
    Spec(Box<RawVariable>),
}
