//! What changed in a prompt's contract and metadata: descriptions, model settings, variables
//! (added, removed, retyped, made required).

use super::*;

pub(super) fn metadata(base: &SideView, head: &SideView) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let (Some(before), Some(after)) = (&base.manifest, &head.manifest) else { return changes };
    let mut field = |name: &str, old: String, new: String| {
        if old != new {
            changes.push(FieldChange {
                field: name.to_string(),
                before: Some(old).filter(|s| !s.is_empty()),
                after: Some(new).filter(|s| !s.is_empty()),
            });
        }
    };
    field("description", before.description.clone(), after.description.clone());
    field("owners", before.owners.join(", "), after.owners.join(", "));
    field("tags", before.tags.join(", "), after.tags.join(", "));
    // Tests are compared by what they hold, not where it sits in the file.
    let tests = |side: &SideView| -> BTreeMap<String, String> {
        side.tests()
            .iter()
            .map(|test| {
                let spec = test.get_ref();
                let fingerprint = serde_json::json!({
                    "version": spec.version.as_ref().map(|v| *v.get_ref()),
                    "vars": check::vars_to_json(&spec.vars),
                    "contains": spec.contains,
                    "not_contains": spec.not_contains,
                    "max_chars": spec.max_chars.as_ref().map(|v| *v.get_ref()),
                    "snapshot": spec.snapshot,
                });
                (spec.name.get_ref().clone(), fingerprint.to_string())
            })
            .collect()
    };
    let (old_tests, new_tests) = (tests(base), tests(head));
    let mut words = Vec::new();
    for (name, text) in &new_tests {
        match old_tests.get(name) {
            None => words.push(format!("added `{name}`")),
            Some(old) if old != text => words.push(format!("changed `{name}`")),
            Some(_) => {}
        }
    }
    for name in old_tests.keys().filter(|name| !new_tests.contains_key(*name)) {
        words.push(format!("removed `{name}`"));
    }
    if !words.is_empty() {
        changes.push(FieldChange {
            field: "tests".into(),
            before: None,
            after: Some(words.join(", ")),
        });
    }
    changes
}

/// `model` settings, flattened to dotted keys, compared key by key.
pub(super) fn model_changes(
    before: Option<&toml::Table>,
    after: Option<&toml::Table>,
) -> Vec<FieldChange> {
    pub(super) fn flatten(prefix: &str, table: &toml::Table, into: &mut BTreeMap<String, String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            match value {
                toml::Value::Table(inner) => flatten(&path, inner, into),
                other => {
                    into.insert(path, other.to_string());
                }
            }
        }
    }
    let (mut old, mut new) = (BTreeMap::new(), BTreeMap::new());
    if let Some(table) = before {
        flatten("", table, &mut old);
    }
    if let Some(table) = after {
        flatten("", table, &mut new);
    }
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|key| old.get(*key) != new.get(*key))
        .map(|key| FieldChange {
            field: key.clone(),
            before: old.get(key).cloned(),
            after: new.get(key).cloned(),
        })
        .collect()
}

/// A type in words: `string (max_len 200)`, `array of string`, `enum "a" | "b"`, …
pub fn describe(ty: &Type) -> String {
    match ty {
        Type::String { max_len: Some(max) } => format!("string (max_len {max})"),
        Type::String { max_len: None } => "string".into(),
        Type::Integer => "integer".into(),
        Type::Number => "number".into(),
        Type::Boolean => "boolean".into(),
        Type::Enum(values) => format!(
            "enum {}",
            values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(" | ")
        ),
        Type::Array(item) => format!("array of {}", describe(&item.ty)),
        Type::Object(fields) => format!(
            "object {{ {} }}",
            fields
                .iter()
                .map(|f| format!(
                    "{}{}: {}",
                    f.name,
                    if f.required { "" } else { "?" },
                    describe(&f.ty)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Whether two types accept the same values (spans and descriptions aside).
pub(super) fn same_type(a: &Type, b: &Type) -> bool {
    match (a, b) {
        (Type::Array(x), Type::Array(y)) => same_type(&x.ty, &y.ty),
        (Type::Object(x), Type::Object(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|(f, g)| {
                    f.name == g.name && f.required == g.required && same_type(&f.ty, &g.ty)
                })
        }
        _ => a == b,
    }
}

/// What a caller must change: removing or retyping a variable, adding a required one or making one
/// required breaks callers; the rest does not.
pub fn contract_changes(before: &[Variable], after: &[Variable]) -> Vec<VariableChange> {
    let mut changes = Vec::new();
    let mut push = |variable: &str, change: String, breaking: bool| {
        changes.push(VariableChange { variable: variable.to_string(), change, breaking });
    };
    for old in before {
        let Some(new) = after.iter().find(|v| v.name == old.name) else {
            push(&old.name, format!("removed (was {})", describe(&old.ty)), true);
            continue;
        };
        if !same_type(&old.ty, &new.ty) {
            match (&old.ty, &new.ty) {
                (Type::String { max_len: a }, Type::String { max_len: b }) => {
                    let tighter = match (a, b) {
                        (_, None) => false,
                        (None, Some(_)) => true,
                        (Some(a), Some(b)) => b < a,
                    };
                    let show = |m: &Option<u64>| m.map_or("none".to_string(), |m| m.to_string());
                    push(&old.name, format!("max_len {} → {}", show(a), show(b)), tighter);
                }
                (Type::Enum(a), Type::Enum(b)) => {
                    let removed: Vec<&String> = a.iter().filter(|v| !b.contains(v)).collect();
                    let added: Vec<&String> = b.iter().filter(|v| !a.contains(v)).collect();
                    let list = |values: &[&String]| {
                        values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
                    };
                    let mut words = Vec::new();
                    if !added.is_empty() {
                        words.push(format!("values added: {}", list(&added)));
                    }
                    if !removed.is_empty() {
                        words.push(format!("values removed: {}", list(&removed)));
                    }
                    if words.is_empty() {
                        words.push("values reordered".into());
                    }
                    push(&old.name, words.join("; "), !removed.is_empty());
                }
                _ => push(
                    &old.name,
                    format!("retyped: {} → {}", describe(&old.ty), describe(&new.ty)),
                    true,
                ),
            }
        }
        match (old.required, new.required) {
            (false, true) => push(&old.name, "now required".into(), true),
            (true, false) => push(&old.name, "now optional".into(), false),
            _ => {}
        }
        match (old.user_source, new.user_source) {
            (false, true) => push(&old.name, "now marked `source = \"user\"`".into(), false),
            (true, false) => push(&old.name, "no longer marked `source = \"user\"`".into(), false),
            _ => {}
        }
    }
    for new in after.iter().filter(|v| !before.iter().any(|o| o.name == v.name)) {
        let required = if new.required { "required" } else { "optional" };
        push(&new.name, format!("added ({required} {})", describe(&new.ty)), new.required);
    }
    changes
}
