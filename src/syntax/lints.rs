//! The lint tables of `prompt.toml`: `[lints]` (a level per code or group) and `[[suppress]]`
//! (one reasoned suppression of a code, optionally in one version and on one line). Read with
//! their spans; what the codes and levels mean is checked by `check::policy`.

use super::walk::{get, Reader, Value};
use toml::Spanned;

/// One `[[suppress]]` table. Every key is kept as written (with its span), so that `check` can
/// point at the part that is wrong.
#[derive(Debug, Clone)]
pub struct SuppressSpec {
    pub code: Spanned<String>,
    pub version: Option<Spanned<i64>>,
    pub line: Option<Spanned<i64>>,
    pub reason: Option<Spanned<String>>,
}

/// `[lints]`: each `key = "level"` with the spans of the key and the value.
pub(super) fn read_lints(
    reader: &mut Reader,
    value: &Value,
) -> Option<Vec<(Spanned<String>, Spanned<String>)>> {
    let table = reader.table(value, &"lints")?;
    let mut levels = Vec::new();
    for (key, level) in table.iter() {
        let level = reader.spanned_string(level, &format_args!("lints.{}", key.get_ref()))?;
        levels.push((Spanned::new(reader.span(key.span()), key.get_ref().to_string()), level));
    }
    Some(levels)
}

/// `[[suppress]]`: every table of the array.
pub(super) fn read_suppress(
    reader: &mut Reader,
    value: &Value,
) -> Option<Vec<Spanned<SuppressSpec>>> {
    let toml::de::DeValue::Array(items) = value.get_ref() else {
        reader.error(
            value.span(),
            "`suppress` must be an array of tables: write each suppression as `[[suppress]]`"
                .into(),
            "expected [[suppress]]",
            &format!("see {}", crate::text::docs("format.md")),
        );
        return None;
    };
    let mut suppressions = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let path = format_args!("suppress[{index}]");
        let table = reader.table(item, &path)?;
        reader.known_keys(table, &["code", "version", "line", "reason"], "a [[suppress]] table");
        let code = reader.required(table, item.span(), "code", "a [[suppress]] table")?;
        let code = reader.spanned_string(code, &format_args!("{path}.code"))?;
        let mut number = |key: &str| match get(table, key) {
            Some(value) => reader.spanned_integer(value, &format_args!("{path}.{key}")).map(Some),
            None => Some(None),
        };
        let version = number("version")?;
        let line = number("line")?;
        let reason = match get(table, "reason") {
            Some(value) => Some(reader.spanned_string(value, &format_args!("{path}.reason"))?),
            None => None,
        };
        let spec = SuppressSpec { code, version, line, reason };
        suppressions.push(Spanned::new(reader.span(item.span()), spec));
    }
    Some(suppressions)
}
