//! Known differences: each a portability lint, with the variant of a case without the construct on
//! which the engines agree again.

use super::*;

/// A known difference: a portability lint (or a documented exception) that explains it, shown by a
/// variant of the case without the construct, on which the two engines agree again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Known {
    /// handlebars.js adds two numbers printed side by side (`portability/adjacent-numbers`).
    /// Variant: a `|` after every mustache and block.
    AdjacentNumbers,
    /// Object keys enumerated in another order (`portability/object-iteration`). Variant: every
    /// object's keys in JavaScript's order.
    KeyOrder,
    /// Fractional and large numbers print differently (`portability/number-format`). Variant:
    /// every number that is not a safe integer as the string JavaScript prints.
    NumberFormat,
    /// `.length` is JavaScript only (`portability/length`). Variant: `.length` read as `.[0]`.
    Length,
    /// `#each`/`#with` without `{{else}}` on a missing value fails in strict mode
    /// (`portability/unguarded-each`). Variant: an `{{else}}` on every `#each` and `#with`.
    UnguardedEach,
    /// Several of the others in one case. Variant: all of theirs at once.
    Several,
}

impl Known {
    /// The lint code, or the exception's name in docs/portability.md.
    pub fn name(self) -> &'static str {
        match self {
            Known::AdjacentNumbers => "portability/adjacent-numbers",
            Known::KeyOrder => "portability/object-iteration",
            Known::NumberFormat => "portability/number-format",
            Known::Length => "portability/length",
            Known::UnguardedEach => "portability/unguarded-each",
            Known::Several => "several",
        }
    }

    /// The variant of `case` without the construct, or `None` when it has none.
    pub fn variant(self, case: &Case) -> Option<Case> {
        let mut variant = case.clone();
        let changed = match self {
            Known::AdjacentNumbers => {
                map_pieces(&mut variant.pieces, &mut |pieces| {
                    let mut out = Vec::new();
                    for piece in pieces.drain(..) {
                        let separate = matches!(piece, Piece::Print { .. } | Piece::Block(_));
                        out.push(piece);
                        if separate {
                            out.push(Piece::Text("|".into()));
                        }
                    }
                    *pieces = out;
                });
                true
            }
            Known::KeyOrder => {
                variant.vars = sort_keys(&case.vars);
                variant.vars != case.vars || keys_differ(&variant.vars, &case.vars)
            }
            Known::NumberFormat => {
                variant.vars = numbers_as_strings(&case.vars);
                variant.vars != case.vars
            }
            Known::Length => {
                let mut changed = false;
                map_exprs(&mut variant.pieces, &mut |expr| {
                    if expr.contains(".length") {
                        *expr = expr.replace(".length", ".[0]");
                        changed = true;
                    }
                });
                changed
            }
            Known::UnguardedEach => {
                let mut changed = false;
                map_blocks(&mut variant.pieces, &mut |block| {
                    if matches!(block.helper, "each" | "with") && block.inverse.is_none() {
                        block.inverse = Some(Inverse {
                            strip: Strip::default(),
                            caret: false,
                            body: Vec::new(),
                        });
                        changed = true;
                    }
                });
                changed
            }
            Known::Several => return None,
        };
        changed.then_some(variant)
    }
}

/// The variants of all `known` differences applied one after the other, when two or more apply.
pub(super) fn all_variants(known: &[Known], case: &Case) -> Option<Case> {
    let mut current = case.clone();
    let mut applied = 0;
    for &k in known {
        if let Some(variant) = k.variant(&current) {
            current = variant;
            applied += 1;
        }
    }
    (applied >= 2).then_some(current)
}

pub(super) fn keys_differ(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            !x.keys().eq(y.keys()) || x.values().zip(y.values()).any(|(a, b)| keys_differ(a, b))
        }
        (Value::Array(x), Value::Array(y)) => x.iter().zip(y).any(|(a, b)| keys_differ(a, b)),
        _ => false,
    }
}

/// Every object's keys in JavaScript's enumeration order.
pub fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<String> = map.keys().cloned().collect();
            js_order(&mut keys);
            Value::Object(
                keys.into_iter().map(|key| (key.clone(), sort_keys(&map[&key]))).collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// Whether any object lists its keys in another order than JavaScript enumerates them.
pub fn unsorted_keys(value: &Value) -> bool {
    keys_differ(value, &sort_keys(value))
}

pub(super) fn numbers_as_strings(value: &Value) -> Value {
    match value {
        Value::Number(number) => {
            let safe = number.as_i64().is_some_and(|i| i.unsigned_abs() <= 1 << 53);
            if safe {
                value.clone()
            } else {
                Value::String(crate::render::js_string(Some(value)))
            }
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), numbers_as_strings(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_strings).collect()),
        other => other.clone(),
    }
}

pub(super) fn map_pieces(pieces: &mut Vec<Piece>, f: &mut dyn FnMut(&mut Vec<Piece>)) {
    f(pieces);
    for piece in pieces.iter_mut() {
        if let Piece::Block(block) = piece {
            map_pieces(&mut block.body, f);
            for link in &mut block.links {
                map_pieces(&mut link.body, f);
            }
            if let Some(inverse) = &mut block.inverse {
                map_pieces(&mut inverse.body, f);
            }
        }
    }
}

pub(super) fn map_blocks(pieces: &mut [Piece], f: &mut dyn FnMut(&mut Block)) {
    for piece in pieces.iter_mut() {
        if let Piece::Block(block) = piece {
            f(block);
            map_blocks(&mut block.body, f);
            for link in &mut block.links {
                map_blocks(&mut link.body, f);
            }
            if let Some(inverse) = &mut block.inverse {
                map_blocks(&mut inverse.body, f);
            }
        }
    }
}

pub(super) fn map_exprs(pieces: &mut [Piece], f: &mut dyn FnMut(&mut String)) {
    for piece in pieces.iter_mut() {
        match piece {
            Piece::Print { expr, .. } => f(expr),
            Piece::Block(block) => {
                f(&mut block.arg);
                map_exprs(&mut block.body, f);
                for link in &mut block.links {
                    f(&mut link.arg);
                    map_exprs(&mut link.body, f);
                }
                if let Some(inverse) = &mut block.inverse {
                    map_exprs(&mut inverse.body, f);
                }
            }
            _ => {}
        }
    }
}

/// The portability codes `check` reports on a template, each top-level var declared as the type
/// of its value (null and mixed arrays as optional strings).
pub fn portability_codes(template: &str, vars: &Value) -> Vec<Code> {
    let Ok(compiled) = Compiled::new(template) else { return Vec::new() };
    let variables: Vec<Variable> = match vars {
        Value::Object(map) => map.iter().map(|(name, value)| declare(name, value)).collect(),
        _ => Vec::new(),
    };
    let site = Site { file: "case", text: template, body_offset: 0 };
    portability::check(&site, &compiled.template, &variables).iter().map(|d| d.code).collect()
}

pub(super) fn declare(name: &str, value: &Value) -> Variable {
    let (ty, required) = match value {
        Value::Null => (Type::String { max_len: None }, false),
        Value::String(_) => (Type::String { max_len: None }, true),
        Value::Bool(_) => (Type::Boolean, true),
        Value::Number(number) if number.is_i64() || number.is_u64() => (Type::Integer, true),
        Value::Number(_) => (Type::Number, true),
        Value::Array(items) => (
            Type::Array(Box::new(match items.first() {
                Some(first) => declare("item", first),
                None => declare("item", &Value::String(String::new())),
            })),
            true,
        ),
        Value::Object(fields) => {
            (Type::Object(fields.iter().map(|(name, value)| declare(name, value)).collect()), true)
        }
    };
    Variable {
        name: name.to_string(),
        ty,
        required,
        description: None,
        user_source: false,
        span: 0..0,
    }
}
