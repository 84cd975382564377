//! Values against declared types: TOML values as the JSON templates render with, and the type
//! check of a value against a variable's declaration (a test's vars, `render`'s and `serve`'s).

use super::prompt::{Type, Variable};
use crate::text::article;

/// Converts a TOML value into the JSON value templates render with.
pub fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(text) => serde_json::Value::from(text.as_str()),
        toml::Value::Integer(integer) => serde_json::Value::from(*integer),
        toml::Value::Float(float) => serde_json::Number::from_f64(*float)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        toml::Value::Boolean(flag) => serde_json::Value::from(*flag),
        toml::Value::Datetime(datetime) => serde_json::Value::from(datetime.to_string()),
        toml::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(toml_to_json).collect())
        }
        toml::Value::Table(table) => serde_json::Value::Object(
            table.iter().map(|(key, value)| (key.clone(), toml_to_json(value))).collect(),
        ),
    }
}

/// Checks a value against a variable's type; returns the first problem as a message.
pub fn type_check(variable: &Variable, value: &toml::Value, path: &str) -> Result<(), String> {
    type_check_at(variable, value, path).map_err(|(_, message)| message)
}

/// `type_check`, with the path of the value at fault (`key`, `key.field`, `key[2]`) beside the
/// message: what `serve` reports as a problem's `path`.
pub fn type_check_at(
    variable: &Variable,
    value: &toml::Value,
    path: &str,
) -> Result<(), (String, String)> {
    let at = |message: String| (path.to_string(), message);
    match (&variable.ty, value) {
        (Type::String { max_len }, toml::Value::String(text)) => {
            let length = text.chars().count() as u64;
            match max_len {
                Some(max) if length > *max => Err(at(format!(
                    "`{path}` has {length} characters, more than its `max_len` of {max}"
                ))),
                _ => Ok(()),
            }
        }
        (Type::Integer, toml::Value::Integer(_)) => Ok(()),
        (Type::Number, toml::Value::Float(float)) if !float.is_finite() => Err(at(format!(
            "`{path}` is `{float}`, which JSON cannot carry: an application never passes it, and \
             it would render as nothing here but as `NaN` or `Infinity` in handlebars.js"
        ))),
        (Type::Number, toml::Value::Integer(_) | toml::Value::Float(_)) => Ok(()),
        (Type::Boolean, toml::Value::Boolean(_)) => Ok(()),
        (Type::Enum(values), toml::Value::String(text)) => {
            if values.contains(text) {
                Ok(())
            } else {
                Err(at(format!(
                    "`{path}` is \"{text}\", not one of the enum's values: {}",
                    values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
                )))
            }
        }
        (Type::Array(item), toml::Value::Array(items)) => {
            for (index, element) in items.iter().enumerate() {
                type_check_at(item, element, &format!("{path}[{index}]"))?;
            }
            Ok(())
        }
        (Type::Object(fields), toml::Value::Table(table)) => {
            for field in fields {
                match table.get(&field.name) {
                    Some(element) => {
                        type_check_at(field, element, &format!("{path}.{}", field.name))?
                    }
                    None if field.required => {
                        return Err((
                            format!("{path}.{}", field.name),
                            format!("`{path}` lacks its required field `{}`", field.name),
                        ))
                    }
                    None => {}
                }
            }
            for key in table.keys() {
                if !fields.iter().any(|field| &field.name == key) {
                    let hint = crate::diagnostic::did_you_mean(
                        key,
                        fields.iter().map(|f| f.name.as_str()),
                    )
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                    return Err((
                        format!("{path}.{key}"),
                        format!(
                            "`{path}` has a field `{key}` that the object does not declare{hint}"
                        ),
                    ));
                }
            }
            Ok(())
        }
        (ty, value) => Err(at(format!(
            "`{path}` must be {} {}, found {} {}",
            article(ty.name()),
            ty.name(),
            article(value.type_str()),
            value.type_str()
        ))),
    }
}
