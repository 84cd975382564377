//! Seed content: the legacy text a migrated prompt must reproduce byte for byte. Extracts the
//! literal from a legacy source (whole file, line range, markers, JSON pointer, TOML key) and
//! undoes the escaping of its language. Pure: the legacy file's text comes in, text or an error
//! with the byte range to blame comes out.

use crate::syntax::prompt::{Extract, Unescape};
use std::ops::Range;

/// Why extraction or unescaping failed; `span` is a byte range of the legacy file (for
/// extraction) or of the extracted literal (for unescaping), when one can be named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError {
    pub message: String,
    pub help: String,
    pub span: Option<Range<usize>>,
}

fn fail(message: String, help: impl Into<String>, span: Option<Range<usize>>) -> SeedError {
    SeedError { message, help: help.into(), span }
}

/// Extracts the literal; returns it with its byte range in `text` (the whole range for JSON and
/// TOML values, whose text is decoded by their parser).
pub fn extract<'t>(
    text: &'t str,
    extract: Option<&Extract>,
) -> Result<(std::borrow::Cow<'t, str>, Range<usize>), SeedError> {
    use std::borrow::Cow;
    match extract {
        None => Ok((Cow::Borrowed(text), 0..text.len())),
        Some(Extract::Between([start, end])) => {
            if start.is_empty() || end.is_empty() {
                return Err(fail(
                    "the `between` markers must not be empty".into(),
                    "give the text just before and just after the literal",
                    None,
                ));
            }
            let mut found = text.match_indices(start.as_str());
            let Some((first, _)) = found.next() else {
                return Err(fail(
                    format!("the start marker {start:?} is not in the file"),
                    "copy the marker from the legacy file exactly, including quotes and spaces",
                    None,
                ));
            };
            if let Some((second, _)) = found.next() {
                return Err(fail(
                    format!("the start marker {start:?} occurs more than once"),
                    "make the marker longer, e.g. include the constant's name, so that it occurs once",
                    Some(second..second + start.len()),
                ));
            }
            let literal_start = first + start.len();
            let Some(length) = text[literal_start..].find(end.as_str()) else {
                return Err(fail(
                    format!("the end marker {end:?} does not occur after the start marker"),
                    "copy the end marker from the legacy file exactly",
                    Some(first..literal_start),
                ));
            };
            let range = literal_start..literal_start + length;
            Ok((Cow::Borrowed(&text[range.clone()]), range))
        }
        Some(Extract::Lines(lines)) => {
            let parsed = lines.split_once('-').and_then(|(a, b)| {
                Some((a.trim().parse::<usize>().ok()?, b.trim().parse::<usize>().ok()?))
            });
            let Some((first, last)) = parsed.filter(|(first, last)| *first >= 1 && first <= last)
            else {
                return Err(fail(
                    format!("`lines = {lines:?}` is not a range like \"12-30\""),
                    "write `lines = \"A-B\"` with 1 ≤ A ≤ B",
                    None,
                ));
            };
            let starts: Vec<usize> = std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
                .filter(|&i| i < text.len())
                .collect();
            let count = starts.len();
            if last > count {
                return Err(fail(format!("`lines = {lines:?}` goes past the end of the file, which has {count} lines"), format!("the last line is {count}"), Some(text.len()..text.len())));
            }
            let start = starts[first - 1];
            let end = if last < count { starts[last] - 1 } else { text.len() };
            // The last line's own line ending is not part of the literal (a `\r` before it either).
            let end = if last < count && text[..end].ends_with('\r') { end - 1 } else { end };
            let end = if last == count && text.ends_with('\n') {
                text.len() - 1 - usize::from(text.ends_with("\r\n"))
            } else {
                end
            };
            Ok((Cow::Borrowed(&text[start..end]), start..end))
        }
        Some(Extract::JsonPointer(pointer)) => {
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            let value: serde_json::Value = serde_json::from_str(text).map_err(|error| {
                fail(
                    format!("the legacy file is not valid JSON: {error}"),
                    "json_pointer needs a JSON file",
                    None,
                )
            })?;
            match value.pointer(pointer) {
                Some(serde_json::Value::String(found)) => {
                    Ok((Cow::Owned(found.clone()), 0..text.len()))
                }
                Some(other) => Err(fail(
                    format!(
                        "the JSON pointer {pointer:?} resolves to {}, not a string",
                        json_kind(other)
                    ),
                    "point at the string that holds the prompt text",
                    None,
                )),
                None => Err(fail(
                    format!("the JSON pointer {pointer:?} resolves to nothing"),
                    "check each `/segment` against the file (arrays are indexed `/0`, `/1`, …)",
                    None,
                )),
            }
        }
        Some(Extract::TomlKey(key)) => {
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            let value: toml::Table = toml::from_str(text).map_err(|error| {
                fail(
                    format!("the legacy file is not valid TOML: {}", error.message()),
                    "toml_key needs a TOML file",
                    None,
                )
            })?;
            let mut current: Option<&toml::Value> = None;
            let mut table = &value;
            for (index, part) in key.split('.').enumerate() {
                current = table.get(part);
                match current {
                    Some(toml::Value::Table(inner)) => table = inner,
                    Some(_) if index + 1 == key.split('.').count() => {}
                    _ => {
                        return Err(fail(
                            format!("the TOML key {key:?} resolves to nothing (no `{part}`)"),
                            "write the dotted path of the string, e.g. `prompts.qa.system`",
                            None,
                        ))
                    }
                }
            }
            match current {
                Some(toml::Value::String(found)) => Ok((Cow::Owned(found.clone()), 0..text.len())),
                Some(other) => Err(fail(
                    format!("the TOML key {key:?} is {}, not a string", other.type_str()),
                    "point at the string that holds the prompt text",
                    None,
                )),
                None => Err(fail(
                    format!("the TOML key {key:?} resolves to nothing"),
                    "write the dotted path of the string",
                    None,
                )),
            }
        }
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Undoes the escaping of the literal's language.
pub fn unescape(literal: &str, mode: Unescape) -> Result<String, SeedError> {
    match mode {
        Unescape::None => Ok(literal.to_string()),
        Unescape::CsharpVerbatim => {
            let mut output = String::with_capacity(literal.len());
            let mut chars = literal.char_indices().peekable();
            while let Some((index, c)) = chars.next() {
                if c == '"' {
                    if chars.peek().map(|(_, next)| *next) == Some('"') {
                        chars.next();
                    } else {
                        return Err(fail(
                            "a lone `\"` in the literal; a C# verbatim string writes a quote as `\"\"`".to_string(),
                            "either the end marker matched too early (inside the literal, e.g. right after a `\"\"`: make it longer) or the literal really ends before this quote",
                            Some(index..index + 1),
                        ));
                    }
                }
                output.push(c);
            }
            Ok(output)
        }
        Unescape::C | Unescape::JsTemplate => backslash_escapes(literal, mode),
    }
}

fn backslash_escapes(literal: &str, mode: Unescape) -> Result<String, SeedError> {
    let js = mode == Unescape::JsTemplate;
    let bytes = literal.as_bytes();
    let mut output = String::with_capacity(literal.len());
    let mut index = 0;
    while index < literal.len() {
        let rest = &literal[index..];
        let Some(c) = rest.chars().next() else { break };
        if js && rest.starts_with("${") {
            return Err(fail(
                "the template literal interpolates `${…}`: its text is computed at run time".to_string(),
                "extract only a constant literal, or import it with `unescape = \"none\"` and model the interpolation as a variable",
                Some(index..index + 2),
            ));
        }
        if js && c == '\r' {
            // A template literal's line terminators are normalised: CRLF and CR both become LF.
            output.push('\n');
            index += if rest.starts_with("\r\n") { 2 } else { 1 };
            continue;
        }
        if c != '\\' {
            output.push(c);
            index += c.len_utf8();
            continue;
        }
        if js && (rest[1..].starts_with("\r\n") || rest[1..].starts_with('\r')) {
            // A line continuation: the backslash and the line terminator vanish.
            index += if rest[1..].starts_with("\r\n") { 3 } else { 2 };
            continue;
        }
        let Some(escaped) = literal[index + 1..].chars().next() else {
            return Err(fail(
                "a dangling backslash at the end of the literal".to_string(),
                "the literal cannot end in a lone `\\`; check the end marker",
                Some(index..index + 1),
            ));
        };
        let mut consumed = 1 + escaped.len_utf8();
        match escaped {
            'n' => output.push('\n'),
            't' => output.push('\t'),
            'r' => output.push('\r'),
            '0' if !bytes.get(index + 2).is_some_and(u8::is_ascii_digit) => output.push('\0'),
            'a' if !js => output.push('\u{7}'),
            'b' => output.push('\u{8}'),
            'f' => output.push('\u{c}'),
            'v' => output.push('\u{b}'),
            '\\' | '"' | '\'' | '/' | '?' => output.push(escaped),
            '`' | '$' if js => output.push(escaped),
            '\n' if js => {}
            'x' => {
                let digits: String = literal[index + 2..]
                    .chars()
                    .take_while(char::is_ascii_hexdigit)
                    .take(if js { 2 } else { 4 })
                    .collect();
                if digits.is_empty() || (js && digits.len() != 2) {
                    return Err(fail(
                        "`\\x` needs hex digits".to_string(),
                        "write `\\x41` or remove the backslash",
                        Some(index..index + 2),
                    ));
                }
                consumed += digits.len();
                output.push(code_point(&digits, index)?);
            }
            'u' => {
                let after = &literal[index + 2..];
                if js && after.starts_with('{') {
                    let Some(close) = after.find('}') else {
                        return Err(fail(
                            "`\\u{` is never closed".to_string(),
                            "write `\\u{1F600}`",
                            Some(index..index + 3),
                        ));
                    };
                    consumed += close + 1;
                    output.push(code_point(&after[1..close], index)?);
                } else {
                    let digits =
                        after.get(..4).filter(|d| d.chars().all(|c| c.is_ascii_hexdigit()));
                    let Some(digits) = digits else {
                        return Err(fail(
                            "`\\u` needs four hex digits".to_string(),
                            "write `\\u00e9`",
                            Some(index..index + 2),
                        ));
                    };
                    consumed += 4;
                    let unit = u32::from_str_radix(digits, 16).unwrap_or(0);
                    if (0xD800..0xDC00).contains(&unit) {
                        // A surrogate pair: `\uD83D\uDE00`.
                        let low = after
                            .get(4..10)
                            .filter(|l| l.starts_with("\\u"))
                            .and_then(|l| u32::from_str_radix(&l[2..], 16).ok())
                            .filter(|l| (0xDC00..0xE000).contains(l));
                        let Some(low) = low else {
                            return Err(fail(
                                format!("`\\u{digits}` is half of a surrogate pair"),
                                "follow it with the low surrogate `\\uDC00`–`\\uDFFF`",
                                Some(index..index + 6),
                            ));
                        };
                        consumed += 6;
                        output.push(
                            char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                                .unwrap_or('\u{fffd}'),
                        );
                    } else {
                        output.push(code_point(digits, index)?);
                    }
                }
            }
            'U' if !js => {
                let digits = literal
                    .get(index + 2..index + 10)
                    .filter(|d| d.chars().all(|c| c.is_ascii_hexdigit()));
                let Some(digits) = digits else {
                    return Err(fail(
                        "`\\U` needs eight hex digits".to_string(),
                        "write `\\U0001F600`",
                        Some(index..index + 2),
                    ));
                };
                consumed += 8;
                output.push(code_point(digits, index)?);
            }
            other if js => output.push(other),
            other => {
                return Err(fail(format!("unknown escape `\\{other}`"), "C-style strings know \\n \\t \\r \\\" \\\\ \\0 \\uXXXX …; check the unescape mode", Some(index..index + 1 + other.len_utf8())));
            }
        }
        index += consumed;
    }
    Ok(output)
}

fn code_point(hex: &str, index: usize) -> Result<char, SeedError> {
    u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).ok_or_else(|| {
        fail(
            format!("`{hex}` is not a Unicode scalar value"),
            "use a valid code point",
            Some(index..index + hex.len() + 2),
        )
    })
}

/// Escapes a literal text for a template body: `{{` must not open a tag.
pub fn escape_for_template(text: &str) -> Result<String, String> {
    if text.contains("\\{{") {
        return Err(
            "the text contains `\\{{`, which a Handlebars template cannot reproduce literally"
                .into(),
        );
    }
    Ok(text.replace("{{", "\\{{"))
}

/// Where a seed error points in the legacy file, as ` (at FILE:LINE:COLUMN)`. `literal_start` is
/// where the extracted literal begins in the file when the literal is a slice of it (whole file,
/// markers, line range), so that unescape errors inside it map to the file too.
pub fn position(
    legacy_path: &str,
    legacy_text: &str,
    span: Option<Range<usize>>,
    literal_start: Option<usize>,
) -> String {
    let Some(span) = span else { return String::new() };
    let shift = literal_start.unwrap_or(0);
    let location =
        crate::diagnostic::Location::in_text(legacy_text, span.start + shift..span.end + shift);
    format!(" (at {legacy_path}:{}:{})", location.start.line, location.start.column)
}

/// Whether the extraction yields a slice of the file (so literal offsets are file offsets).
pub fn is_slice(extract: Option<&Extract>) -> bool {
    matches!(extract, None | Some(Extract::Between(_)) | Some(Extract::Lines(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_unescape(mode: Unescape, input: &str, expect: Result<&str, &str>) {
        match (unescape(input, mode), expect) {
            (Ok(actual), Ok(expected)) => assert_eq!(actual, expected),
            (Err(error), Err(fragment)) => assert!(error.message.contains(fragment), "{error:?}"),
            (actual, expected) => panic!("{input:?}: got {actual:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn unescapes_each_language() {
        check_unescape(
            Unescape::C,
            r#"a\n\t\"q\" \u00e9 \\ \uD83D\uDE00"#,
            Ok("a\n\t\"q\" é \\ 😀"),
        );
        check_unescape(Unescape::C, "end\\", Err("dangling backslash"));
        check_unescape(Unescape::C, r"\q", Err("unknown escape"));
        check_unescape(Unescape::CsharpVerbatim, r#"say ""hi"" \n"#, Ok(r#"say "hi" \n"#));
        check_unescape(Unescape::CsharpVerbatim, r#"say "hi"#, Err("lone"));
        check_unescape(Unescape::JsTemplate, r"a \` \$ \\ \u{1F600} \x41", Ok("a ` $ \\ 😀 A"));
        check_unescape(Unescape::JsTemplate, "x ${y}", Err("interpolates"));
        check_unescape(
            Unescape::JsTemplate,
            "one\r\ntwo\rthree \\\r\nfour",
            Ok("one\ntwo\nthree four"),
        );
        check_unescape(Unescape::None, r"\n", Ok(r"\n"));
    }

    #[track_caller]
    fn check_extract(text: &str, how: Extract, expect: Result<&str, &str>) {
        match (extract(text, Some(&how)), expect) {
            (Ok((actual, _)), Ok(expected)) => assert_eq!(actual, expected),
            (Err(error), Err(fragment)) => assert!(error.message.contains(fragment), "{error:?}"),
            (actual, expected) => panic!("got {actual:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn extracts_each_way() {
        let source = "const A = @\"one\ntwo\";\nconst B = \"x\";\n";
        check_extract(source, Extract::Between(["A = @\"".into(), "\";".into()]), Ok("one\ntwo"));
        check_extract(
            source,
            Extract::Between(["const".into(), ";".into()]),
            Err("more than once"),
        );
        check_extract(
            source,
            Extract::Between(["nope".into(), ";".into()]),
            Err("not in the file"),
        );
        check_extract(source, Extract::Lines("2-3".into()), Ok("two\";\nconst B = \"x\";"));
        check_extract(source, Extract::Lines("2-9".into()), Err("past the end"));
        check_extract(
            r#"{"a": {"b": "text"}, "n": 1}"#,
            Extract::JsonPointer("/a/b".into()),
            Ok("text"),
        );
        check_extract(
            r#"{"a": {"b": "text"}, "n": 1}"#,
            Extract::JsonPointer("/n".into()),
            Err("not a string"),
        );
        check_extract(
            r#"{"a": 1}"#,
            Extract::JsonPointer("/zz".into()),
            Err("resolves to nothing"),
        );
        check_extract("[p]\nq = \"t\"\n", Extract::TomlKey("p.q".into()), Ok("t"));
        check_extract("[p]\nq = 1\n", Extract::TomlKey("p.q".into()), Err("not a string"));
    }
}
