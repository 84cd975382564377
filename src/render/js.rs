//! JavaScript's semantics as handlebars.js relies on them: property reads (`length`, canonical
//! indices, strings by UTF-16 code unit), truthiness (`!value` and `#if`'s), loose equality
//! between contexts, `Number(text)`, `String(value)` and `Number.prototype.toString`, and the
//! order in which `#each` enumerates an object's keys.

use super::*;

/// Copies a borrowed value's reference, clones an owned one (only scalars and `lookup` results).
pub(super) fn share<'a>(value: &Cow<'a, Value>) -> Cow<'a, Value> {
    match value {
        Cow::Borrowed(value) => Cow::Borrowed(*value),
        Cow::Owned(value) => Cow::Owned(value.clone()),
    }
}

pub(super) fn child<'a>(value: Cow<'a, Value>, name: &str) -> Option<Cow<'a, Value>> {
    match value {
        Cow::Borrowed(value) => property(value, name),
        Cow::Owned(value) => property(&value, name).map(|found| Cow::Owned(found.into_owned())),
    }
}

/// A property of a value as JavaScript reads it: an object's field, an array's or a string's
/// element at a canonical index (a string's is one UTF-16 code unit) and their `length`.
pub(super) fn property<'v>(value: &'v Value, name: &str) -> Option<Cow<'v, Value>> {
    match value {
        Value::Object(fields) => fields.get(name).map(Cow::Borrowed),
        Value::Array(items) if name == "length" => Some(Cow::Owned(Value::from(items.len()))),
        Value::Array(items) => array_index(name).and_then(|i| items.get(i)).map(Cow::Borrowed),
        Value::String(text) if name == "length" => {
            Some(Cow::Owned(Value::from(text.encode_utf16().count())))
        }
        Value::String(text) => {
            let unit = text.encode_utf16().nth(array_index(name)?)?;
            // A lone surrogate half cannot be a Rust string; it prints as U+FFFD.
            let character = char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER);
            Some(Cow::Owned(Value::from(character.to_string())))
        }
        _ => None,
    }
}

/// An array index as JavaScript recognises one in a property name: the canonical decimal form of
/// an integer below 2^32 - 1 (`"0"`, `"12"`; not `"01"`, `"+1"` or `"1.0"`).
pub(super) fn array_index(key: &str) -> Option<usize> {
    let canonical = key == "0" || (!key.starts_with('0') && !key.is_empty());
    if !canonical || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index = key.parse::<u32>().ok()?;
    (index < u32::MAX).then_some(index as usize)
}

/// The property name a `lookup` key becomes (JavaScript `ToPropertyKey`).
pub(super) fn property_key(key: Option<&Value>) -> String {
    match key {
        None => "undefined".into(),
        Some(Value::Null) => "null".into(),
        Some(key) => js_string(Some(key)),
    }
}

/// The empty object handlebars.js calls a helper on when the context is null.
pub(super) fn null_context() -> &'static Value {
    static EMPTY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Value::Object(serde_json::Map::new()))
}

/// JavaScript `a == b` for two context values: objects and arrays by identity (contexts are
/// borrowed from the vars, so identity is the address), anything else after JavaScript's
/// conversions (`1 == "1"`, `true == 1`, `["a"] == "a"`, `null` equal only to itself).
pub(super) fn loose_equal(a: &Value, b: &Value) -> bool {
    enum Primitive<'v> {
        Number(f64),
        Text(Cow<'v, str>),
    }
    fn primitive(value: &Value) -> Primitive<'_> {
        match value {
            Value::Bool(flag) => Primitive::Number(if *flag { 1.0 } else { 0.0 }),
            Value::Number(number) => Primitive::Number(number.as_f64().unwrap_or(f64::NAN)),
            Value::String(text) => Primitive::Text(Cow::Borrowed(text)),
            other => Primitive::Text(Cow::Owned(js_string(Some(other)))),
        }
    }
    // The common pairs first, without allocating: a block's context against its parent's.
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Array(_) | Value::Object(_), Value::Array(_) | Value::Object(_)) => {
            std::ptr::eq(a, b)
        }
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Object(_), Value::String(text)) | (Value::String(text), Value::Object(_)) => {
            text == "[object Object]"
        }
        // An object's primitive, "[object Object]", is NaN as a number.
        (Value::Object(_), _) | (_, Value::Object(_)) => false,
        _ => match (primitive(a), primitive(b)) {
            (Primitive::Number(x), Primitive::Number(y)) => x == y,
            (Primitive::Text(x), Primitive::Text(y)) => x == y,
            (Primitive::Number(x), Primitive::Text(y))
            | (Primitive::Text(y), Primitive::Number(x)) => x == js_to_number(&y),
        },
    }
}

/// JavaScript `Number(text)`: surrounding whitespace ignored, empty is 0, decimal literals with
/// an optional sign and exponent, `Infinity`, and unsigned `0x`/`0o`/`0b` integers; else NaN.
pub(super) fn js_to_number(text: &str) -> f64 {
    let text = text.trim_matches(|c: char| crate::syntax::template::is_js_space(c));
    if text.is_empty() {
        return 0.0;
    }
    let (sign, unsigned) = match text.as_bytes()[0] {
        b'+' => (1.0, &text[1..]),
        b'-' => (-1.0, &text[1..]),
        _ => (1.0, text),
    };
    if unsigned == "Infinity" {
        return sign * f64::INFINITY;
    }
    let radix = match unsigned.get(..2) {
        Some("0x" | "0X") => Some(16),
        Some("0o" | "0O") => Some(8),
        Some("0b" | "0B") => Some(2),
        _ => None,
    };
    if let Some(radix) = radix {
        let digits = &unsigned[2..];
        if text.len() != unsigned.len() || digits.is_empty() {
            return f64::NAN;
        }
        return digits
            .chars()
            .try_fold(0.0_f64, |total, c| {
                c.to_digit(radix).map(|digit| total * f64::from(radix) + f64::from(digit))
            })
            .unwrap_or(f64::NAN);
    }
    let bytes = unsigned.as_bytes();
    let mantissa_end = bytes.iter().position(|b| *b == b'e' || *b == b'E').unwrap_or(bytes.len());
    let (mantissa, exponent) = unsigned.split_at(mantissa_end);
    let mantissa_ok = {
        let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
        let dots = mantissa.bytes().filter(|b| *b == b'.').count();
        digits > 0 && dots <= 1 && digits + dots == mantissa.len()
    };
    let exponent_ok = exponent.is_empty() || {
        let body = exponent[1..].strip_prefix(['+', '-']).unwrap_or(&exponent[1..]);
        !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit())
    };
    if !mantissa_ok || !exponent_ok {
        return f64::NAN;
    }
    unsigned.parse::<f64>().map_or(f64::NAN, |n| sign * n)
}

/// The order in which JavaScript enumerates an object's keys: array indices (canonical decimal
/// integers below 2^32 - 1) in numeric order first, then the other keys in insertion order. The
/// package builds serde_json (and toml) with `preserve_order`, so a map's order is the order its
/// JSON or TOML source wrote the keys in, as for handlebars.js.
pub(super) fn js_key_order<T>(mut entries: Vec<(String, T)>) -> Vec<(Value, T)> {
    entries.sort_by_key(|(key, _)| array_index(key).map_or((1, 0), |index| (0, index)));
    entries.into_iter().map(|(key, item)| (Value::from(key), item)).collect()
}

pub(super) fn number_value(number: f64) -> Value {
    if number.fract() == 0.0 && number.abs() < 9e15 {
        Value::from(number as i64)
    } else {
        serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number)
    }
}

/// handlebars.js `isEmpty`: missing, null, false, "", 0 (only with `!value`… see `is_truthy`) and [].
pub(super) fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => true,
        Some(Value::String(text)) => text.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Number(_)) | Some(Value::Bool(true)) | Some(Value::Object(_)) => false,
    }
}

/// JavaScript truthiness (`!!value`): unlike `#if`, an empty array is true.
pub(super) fn js_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        Value::String(text) => !text.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The `#if` helper's test: JavaScript falsiness (0 and NaN included) or an empty array.
pub fn is_truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Number(number)) => number.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        other => !is_empty(other),
    }
}

/// `String(value)` in JavaScript, with missing and null printing as nothing.
pub fn js_string(value: Option<&Value>) -> String {
    let mut output = String::new();
    write_js_string(&mut output, value);
    output
}

pub(super) fn write_js_string(output: &mut String, value: Option<&Value>) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => output.push_str(text),
        Some(Value::Bool(flag)) => output.push_str(if *flag { "true" } else { "false" }),
        Some(Value::Number(number)) => {
            // JavaScript numbers are doubles: an integer beyond 2^53 prints as its nearest double.
            const EXACT: u64 = 1 << 53;
            if let Some(integer) = number.as_i64().filter(|i| i.unsigned_abs() <= EXACT) {
                let _ = write!(output, "{integer}");
            } else {
                output.push_str(&js_number(number.as_f64().unwrap_or(f64::NAN)));
            }
        }
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    output.push(',');
                }
                write_js_string(output, Some(item));
            }
        }
        Some(Value::Object(_)) => output.push_str("[object Object]"),
    }
}

/// `Number.prototype.toString()` (ECMAScript Number::toString): the shortest digits that round-trip,
/// the closest of them to the value and the even one on a tie, positional for 1e-6 ≤ |n| < 1e21 and
/// in exponent form (`1e+21`, `1.5e-7`) outside.
pub fn js_number(number: f64) -> String {
    if number.is_nan() {
        return "NaN".into();
    }
    if number.is_infinite() {
        return if number > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if number == 0.0 {
        return "0".into();
    }
    let (digits, exponent) = shortest_digits(number.abs());
    // The value is 0.DIGITS × 10^point.
    let point = exponent + 1;
    let count = digits.len() as i32;
    let mut text = String::from(if number < 0.0 { "-" } else { "" });
    if count <= point && point <= 21 {
        text.push_str(&digits);
        text.extend(std::iter::repeat_n('0', (point - count) as usize));
    } else if 0 < point && point <= 21 {
        text.push_str(&digits[..point as usize]);
        text.push('.');
        text.push_str(&digits[point as usize..]);
    } else if -6 < point && point <= 0 {
        text.push_str("0.");
        text.extend(std::iter::repeat_n('0', (-point) as usize));
        text.push_str(&digits);
    } else {
        text.push_str(&digits[..1]);
        if count > 1 {
            text.push('.');
            text.push_str(&digits[1..]);
        }
        let sign = if point - 1 < 0 { '-' } else { '+' };
        let _ = write!(text, "e{sign}{}", (point - 1).abs());
    }
    text
}

/// The shortest round-trip digits of a positive finite number and the decimal exponent of the
/// first one. Rust's formatter finds the same digits as JavaScript, except when two candidates
/// are exactly equally close to the value: JavaScript takes the even one (1690060720831323.25
/// prints as `…23.2`), Rust the one away from zero (`…23.3`).
pub(super) fn shortest_digits(magnitude: f64) -> (String, i32) {
    let formatted = format!("{magnitude:e}");
    let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    // A tie needs the spacing of the candidates to be about the spacing of doubles: 15 or more
    // digits. Below that, the closest candidate is unique.
    if digits.len() < 15 {
        return (digits, exponent);
    }
    // Every double has a finite decimal expansion of at most 767 significant digits.
    let exact = format!("{magnitude:.800e}");
    let (exact_mantissa, exact_exponent) = exact.split_once('e').unwrap_or((&exact, "0"));
    if exact_exponent.parse() != Ok(exponent) {
        return (digits, exponent);
    }
    let exact_digits: String = exact_mantissa.chars().filter(char::is_ascii_digit).collect();
    let (lower, tail) = exact_digits.split_at(digits.len());
    let tie = tail.starts_with('5') && tail[1..].bytes().all(|b| b == b'0');
    let Ok(lower) = lower.parse::<u64>() else { return (digits, exponent) };
    if !tie {
        return (digits, exponent);
    }
    let even = if lower % 2 == 0 { lower } else { lower + 1 };
    let candidate = even.to_string();
    let scale = exponent - (digits.len() as i32 - 1);
    let round_trips = format!("{candidate}e{scale}").parse::<f64>() == Ok(magnitude);
    if candidate.len() != digits.len() || !round_trips {
        return (digits, exponent);
    }
    (candidate.trim_end_matches('0').to_string(), exponent)
}
