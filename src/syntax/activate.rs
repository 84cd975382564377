//! The table form of an `[activate]` entry in `prompt.toml`: the stable version and, optionally,
//! a canary served to a share of the keys (`{ version = 3, canary = 4, percent = 10 }`,
//! docs/format.md "Canary rollouts"). Pure, as `prompt.rs`.

use super::prompt::CanarySpec;
use super::walk::{get, Reader};
use toml::Spanned;

/// An `[activate]` entry written as a table: `{ version = 3 }` (the same as `3`), or
/// `{ version = 3, canary = 4, percent = 10 }`.
pub(super) fn read_rollout(
    reader: &mut Reader,
    value: &super::walk::Value,
    environment: &str,
) -> Option<(Spanned<i64>, Option<CanarySpec>)> {
    let path = format!("activate.{environment}");
    let table = reader.table(value, &path)?;
    reader.known_keys(table, &["version", "canary", "percent"], &format!("`{path}`"));
    let version = reader
        .required(table, value.span(), "version", &path)
        .and_then(|v| reader.spanned_integer(v, &format_args!("{path}.version")));
    let canary =
        get(table, "canary").map(|v| reader.spanned_integer(v, &format_args!("{path}.canary")));
    let percent =
        get(table, "percent").map(|v| read_percent(reader, v, &format!("{path}.percent")));
    let version = version?;
    match (canary, percent) {
        (None, None) => Some((version, None)),
        (Some(canary), Some(percent)) => {
            Some((version, Some(CanarySpec { version: canary?, basis_points: percent? })))
        }
        (Some(_), None) => {
            reader.error(
                value.span(),
                format!("`{path}` has a canary but no `percent`"),
                "missing `percent`",
                "add the share of traffic the canary gets, e.g. `percent = 10` (0 to 100)",
            );
            None
        }
        (None, Some(_)) => {
            reader.error(
                value.span(),
                format!("`{path}` has a `percent` but no canary"),
                "missing `canary`",
                "add the version that gets that share, e.g. `canary = 4`, or remove `percent`",
            );
            None
        }
    }
}

/// A canary's share: a number from 0 to 100 with at most two decimals, in basis points.
fn read_percent(
    reader: &mut Reader,
    value: &super::walk::Value,
    path: &str,
) -> Option<Spanned<u32>> {
    let number = match value.get_ref() {
        toml::de::DeValue::Integer(integer) => {
            i64::from_str_radix(integer.as_str(), integer.radix()).ok().map(|n| n as f64)
        }
        toml::de::DeValue::Float(float) => float.as_str().replace('_', "").parse::<f64>().ok(),
        _ => None,
    };
    let Some(number) = number else {
        reader.error(
            value.span(),
            format!("`{path}` must be a number from 0 to 100"),
            "expected a number",
            "write the share of traffic as a percentage, e.g. `percent = 10` or `percent = 2.5`",
        );
        return None;
    };
    match crate::rollout::percent_to_basis_points(number) {
        Ok(basis_points) => Some(Spanned::new(reader.span(value.span()), basis_points)),
        Err(problem) => {
            reader.error(
                value.span(),
                format!("`{path}`: {problem}"),
                "not a share",
                "write a percentage from 0 to 100 with at most two decimals, e.g. `percent = 12.5`",
            );
            None
        }
    }
}
