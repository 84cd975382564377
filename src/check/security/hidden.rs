//! Hidden and deceptive characters (bidirectional controls, zero-width and tag characters,
//! variation selectors, homoglyph-prone runs), with the Unicode name table the messages show.

use super::*;

/// Whether `bytes` hold anything but printable ASCII, newlines and tabs (the common case, which
/// skips the character walk). Written branch-free per chunk so that it vectorises.
pub(super) fn needs_hidden_scan(bytes: &[u8]) -> bool {
    let odd = |b: u8| {
        u8::from(b >= 0x7f) | (u8::from(b < 0x20) & u8::from(b != b'\n') & u8::from(b != b'\t'))
    };
    let mut chunks = bytes.chunks_exact(32);
    for chunk in &mut chunks {
        if chunk.iter().fold(0u8, |flag, b| flag | odd(*b)) != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(|b| odd(*b) != 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Bidi,
    Invisible,
    Control,
    PrivateUse,
}

impl Class {
    pub(super) fn of(c: char) -> Option<Class> {
        let code = c as u32;
        match code {
            0x0A | 0x09 | 0x0D => None,
            0x00..=0x1F | 0x7F..=0x9F => Some(Class::Control),
            0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069 => Some(Class::Bidi),
            0x00AD
            | 0x034F
            | 0x115F
            | 0x1160
            | 0x180E
            | 0x200B..=0x200D
            | 0x2028
            | 0x2029
            | 0x2060..=0x2064
            | 0x206A..=0x206F
            | 0x3164
            | 0xFEFF
            | 0xFFA0
            | 0xFFF9..=0xFFFB => Some(Class::Invisible),
            0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD => Some(Class::PrivateUse),
            _ => None,
        }
    }

    pub(super) fn code(self) -> Code {
        match self {
            Class::Bidi => Code::SecurityBidi,
            Class::Invisible => Code::SecurityInvisible,
            Class::Control => Code::SecurityControl,
            Class::PrivateUse => Code::SecurityPrivateUse,
        }
    }

    pub(super) fn what(self) -> &'static str {
        match self {
            Class::Bidi => "bidirectional control",
            Class::Invisible => "invisible character",
            Class::Control => "control character",
            Class::PrivateUse => "private-use character",
        }
    }

    pub(super) fn why(self) -> &'static str {
        match self {
            Class::Bidi => "the text displays in another order than the model reads it",
            Class::Invisible => "the model reads it, reviewers cannot see it",
            Class::Control => "terminals and editors may act on it or hide it",
            Class::PrivateUse => "its meaning depends on the font or the program",
        }
    }
}

pub(super) fn is_tag(c: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&c)
}

pub(super) fn is_variation_selector(c: char) -> bool {
    ('\u{FE00}'..='\u{FE0F}').contains(&c) || ('\u{E0100}'..='\u{E01EF}').contains(&c)
}

/// Emoji and the symbols that have an emoji or text presentation (U+FE0E / U+FE0F).
pub(super) fn is_emoji_base(c: char) -> bool {
    matches!(c as u32,
        0xA9 | 0xAE | 0x203C | 0x2049 | 0x2122 | 0x2139 | 0x2194..=0x21AA | 0x2300..=0x23FF
        | 0x24C2 | 0x25A0..=0x25FF | 0x2600..=0x27BF | 0x2934 | 0x2935 | 0x2B00..=0x2BFF
        | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0x1F000..=0x1FAFF)
}

pub(super) fn is_cjk_ideograph(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x2FDF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF)
}

/// Scripts where U+200C / U+200D between letters are ordinary spelling (Arabic, Persian, Syriac,
/// the Indic scripts, Myanmar, Khmer, Mongolian).
pub(super) fn is_joining_script(c: char) -> bool {
    matches!(c as u32,
        0x0600..=0x06FF | 0x0700..=0x074F | 0x0750..=0x077F | 0x08A0..=0x08FF | 0x0900..=0x0DFF
        | 0x1000..=0x109F | 0x1780..=0x17FF | 0x1800..=0x18AF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFE)
}

/// Whether a variation selector after `base` (and before `next`) is an ordinary sequence.
pub(super) fn takes_selector(base: Option<char>, selector: char, next: Option<char>) -> bool {
    let Some(base) = base else { return false };
    match selector {
        '\u{FE0E}' | '\u{FE0F}' => {
            is_emoji_base(base)
                || (matches!(base, '0'..='9' | '#' | '*') && next == Some('\u{20E3}'))
        }
        '\u{FE00}'..='\u{FE0D}' => {
            is_cjk_ideograph(base)
                || base == '0'
                || matches!(base as u32, 0x1000..=0x109F | 0x2000..=0x2BFF | 0xA840..=0xA87F | 0x10AC0..=0x10AFF)
        }
        _ => is_cjk_ideograph(base),
    }
}

/// A zero-width joiner inside an emoji sequence, or a joiner / non-joiner between letters of a
/// script that spells with them.
pub(super) fn joiner_allowed(c: char, previous: Option<char>, next: Option<char>) -> bool {
    let (Some(previous), Some(next)) = (previous, next) else { return false };
    let emoji_side =
        |x: char| is_emoji_base(x) || x == '\u{FE0F}' || ('\u{1F3FB}'..='\u{1F3FF}').contains(&x);
    (c == '\u{200D}' && emoji_side(previous) && is_emoji_base(next))
        || (is_joining_script(previous) && is_joining_script(next))
}

/// `U+1F3F4` + tag letters/digits + `U+E007F`: a subdivision flag (England, Scotland, Wales).
/// Returns the byte length of the tag part.
pub(super) fn flag_tag_sequence(rest: &str) -> Option<usize> {
    let mut length = 0;
    let mut count = 0;
    for c in rest.chars() {
        match c {
            '\u{E0030}'..='\u{E0039}' | '\u{E0061}'..='\u{E007A}' => {
                count += 1;
                length += c.len_utf8();
            }
            '\u{E007F}' if (3..=6).contains(&count) => return Some(length + c.len_utf8()),
            _ => return None,
        }
    }
    None
}

pub(super) fn char_at(text: &str, offset: usize) -> Option<char> {
    text.get(offset..).and_then(|rest| rest.chars().next())
}

/// Walks the characters of `text`, reporting the hidden and deceptive ones; CRLF line endings too,
/// unless `crlf_allowed` (a data file, where they are the format's: RFC 4180's CSV).
pub(super) fn hidden_characters(text: &str, findings: &mut Vec<Finding>, crlf_allowed: bool) {
    let bytes = text.as_bytes();
    if !needs_hidden_scan(bytes) {
        return;
    }
    let mut crlf: Option<(usize, usize)> = None;
    let mut previous: Option<char> = None;
    let mut offset = 0;
    while offset < bytes.len() {
        let byte = bytes[offset];
        if (0x20..0x7f).contains(&byte) || byte == b'\n' || byte == b'\t' {
            previous = Some(byte as char);
            offset += 1;
            continue;
        }
        let Some(c) = char_at(text, offset) else { break };
        let width = c.len_utf8();
        let next = char_at(text, offset + width);
        if c == '\r' {
            if next == Some('\n') {
                let (first, count) = crlf.get_or_insert((offset, 0));
                let _ = first;
                *count += 1;
            } else {
                findings.push(Finding {
                    code: Code::SecurityCarriageReturn,
                    span: offset..offset + 1,
                    message: "carriage return U+000D CARRIAGE RETURN without a line feed: a terminal prints what follows it over what precedes it".into(),
                    label: "lone carriage return".into(),
                    help: "delete it, or replace it with a newline".into(),
                });
            }
            previous = Some(c);
            offset += width;
            continue;
        }
        if c == '\u{FEFF}' && offset == 0 {
            findings.push(Finding {
                code: Code::SecurityBom,
                span: 0..width,
                message: "the file starts with a byte-order mark (U+FEFF ZERO WIDTH NO-BREAK SPACE)".into(),
                label: "byte-order mark".into(),
                help: "save the file as UTF-8 without a byte-order mark (e.g. `sed -i '1s/^\\xEF\\xBB\\xBF//' FILE`); UTF-8 needs none, and the model would read it".into(),
            });
            offset += width;
            continue;
        }
        if c == '\u{1F3F4}' {
            if let Some(length) = flag_tag_sequence(&text[offset + width..]) {
                previous = Some('\u{E007F}');
                offset += width + length;
                continue;
            }
        }
        if is_tag(c) {
            let end = run_end(text, offset, is_tag);
            findings.push(tag_finding(&text[offset..end], offset));
            previous = text[..end].chars().next_back();
            offset = end;
            continue;
        }
        if is_variation_selector(c) {
            let end = run_end(text, offset, is_variation_selector);
            let after = char_at(text, end);
            let single = end == offset + width;
            if !(single && takes_selector(previous, c, after)) {
                findings.push(selector_finding(text, offset, end, previous));
            }
            previous = text[..end].chars().next_back();
            offset = end;
            continue;
        }
        if let Some(class) = Class::of(c) {
            if matches!(c, '\u{200C}' | '\u{200D}') && joiner_allowed(c, previous, next) {
                previous = Some(c);
                offset += width;
                continue;
            }
            let end = run_end(text, offset, |x| {
                Class::of(x) == Some(class) && !matches!(x, '\u{200C}' | '\u{200D}')
            })
            .max(offset + width);
            findings.push(class_finding(class, &text[offset..end], offset));
            previous = text[..end].chars().next_back();
            offset = end;
            continue;
        }
        previous = Some(c);
        offset += width;
    }
    if let Some((first, count)) = crlf.filter(|_| !crlf_allowed) {
        findings.push(Finding {
            code: Code::SecurityCarriageReturn,
            span: first..first + 1,
            message: format!(
                "the file has CRLF line endings: {count} {} with U+000D CARRIAGE RETURN, which the model reads",
                if count == 1 { "line ends" } else { "lines end" }
            ),
            label: "first carriage return".into(),
            help: "convert the file to LF line endings (`sed -i 's/\\r$//' FILE`), and add `* text eol=lf` to .gitattributes so that git does not convert it back".into(),
        });
    }
}

/// The end of the run of characters satisfying `belongs` that starts at `start`.
pub(super) fn run_end(text: &str, start: usize, belongs: impl Fn(char) -> bool) -> usize {
    text[start..].char_indices().find(|(_, c)| !belongs(*c)).map_or(text.len(), |(i, _)| start + i)
}

/// `U+202E RIGHT-TO-LEFT OVERRIDE`.
pub(super) fn describe(c: char) -> String {
    format!("U+{:04X} {}", c as u32, name(c))
}

/// Up to three distinct characters of a run, described.
pub(super) fn describe_run(run: &str) -> String {
    let mut distinct: Vec<char> = Vec::new();
    for c in run.chars() {
        if !distinct.contains(&c) {
            distinct.push(c);
        }
    }
    let mut described: Vec<String> = distinct.iter().take(3).map(|c| describe(*c)).collect();
    if distinct.len() > 3 {
        described.push("…".into());
    }
    described.join(", ")
}

/// How to find and remove a run of characters, and how to keep it on purpose.
pub(super) fn removal_help(run: &str, code: Code) -> String {
    let Some(first) = run.chars().next() else { return String::new() };
    let mut utf8 = [0u8; 4];
    let bytes: Vec<String> =
        first.encode_utf8(&mut utf8).bytes().map(|b| format!("{b:02x}")).collect();
    let escape = |c: char| {
        if (c as u32) <= 0xFFFF {
            format!("\\u{:04X}", c as u32)
        } else {
            format!("\\U{:08X}", c as u32)
        }
    };
    let count = run.chars().count();
    let escaped: String = if count <= 6 {
        run.chars().map(escape).collect()
    } else {
        format!("{}…", escape(first))
    };
    let (it, bytes_of) = if count > 1 {
        ("them", format!("the first is {}", bytes.join(" ")))
    } else {
        ("it", bytes.join(" "))
    };
    format!(
        "delete {it} (UTF-8 bytes: {bytes_of}; most editors do not show {it}); if the text needs {it}, pass {it} in a variable written as `{escaped}` in a TOML string, or suppress with `promptctl-allow: {} reason=\"…\"`",
        code.as_str()
    )
}

pub(super) fn class_finding(class: Class, run: &str, offset: usize) -> Finding {
    let count = run.chars().count();
    let message = if count == 1 {
        format!("{} {}: {}", class.what(), describe_run(run), class.why())
    } else {
        format!("{count} {}s in a row ({}): {}", class.what(), describe_run(run), class.why())
    };
    Finding {
        code: class.code(),
        span: offset..offset + run.len(),
        message,
        label: format!(
            "{} here",
            if count == 1 { class.what().to_string() } else { format!("{}s", class.what()) }
        ),
        help: removal_help(run, class.code()),
    }
}

/// What a run of tag characters spells: U+E0020..U+E007E are ASCII 0x20..0x7E.
pub(super) fn decode_tags(run: &str) -> String {
    run.chars()
        .map(|c| match c as u32 {
            code @ 0xE0020..=0xE007E => char::from((code - 0xE0000) as u8).to_string(),
            code => format!("<U+{code:05X}>"),
        })
        .collect()
}

/// A decoded hidden payload, safe to print: secrets in it are redacted.
pub(super) fn shown_payload(decoded: &str) -> String {
    let mut shown = String::new();
    let mut last = 0;
    for secret in find_secrets(&rules::active(), decoded, None) {
        shown.push_str(&decoded[last..secret.span.start]);
        shown.push_str(&format!("[redacted {} chars]", secret.span.len()));
        last = secret.span.end;
    }
    shown.push_str(&decoded[last..]);
    format!("{shown:?}")
}

pub(super) fn tag_finding(run: &str, offset: usize) -> Finding {
    let count = run.chars().count();
    let decoded = decode_tags(run);
    let first = run.chars().next().map(describe).unwrap_or_default();
    let message = if count == 1 {
        format!("hidden Unicode tag character {first} (it spells {})", shown_payload(&decoded))
    } else {
        format!(
            "{count} hidden Unicode tag characters ({first} …) spell {}",
            shown_payload(&decoded)
        )
    };
    Finding {
        code: Code::SecurityTagCharacters,
        span: offset..offset + run.len(),
        message,
        label: "invisible text".into(),
        help: format!(
            "delete {}: tag characters are invisible, but models read them as text, a known way to smuggle instructions into a prompt",
            if count == 1 { "it" } else { "them" }
        ),
    }
}

/// What a run of variation selectors encodes, one byte per selector (U+FE00..U+FE0F are 0..15,
/// U+E0100..U+E01EF are 16..255), when that is printable UTF-8.
pub(super) fn decode_selectors(run: &str) -> Option<String> {
    let bytes: Vec<u8> = run
        .chars()
        .map(|c| match c as u32 {
            code @ 0xFE00..=0xFE0F => (code - 0xFE00) as u8,
            code => (code - 0xE0100 + 16) as u8,
        })
        .collect();
    let text = String::from_utf8(bytes).ok()?;
    (text.chars().all(|c| !c.is_control() || c == '\n') && !text.trim().is_empty()).then_some(text)
}

pub(super) fn selector_finding(
    text: &str,
    start: usize,
    end: usize,
    previous: Option<char>,
) -> Finding {
    let run = &text[start..end];
    let count = run.chars().count();
    let after = previous.map_or("at the start of the file".to_string(), |p| {
        if p.is_ascii_graphic() {
            format!("after `{p}`")
        } else {
            format!("after U+{:04X}", p as u32)
        }
    });
    let message = if count == 1 {
        format!("variation selector {} {after}, which takes none", describe_run(run))
    } else {
        let payload = decode_selectors(run).or_else(|| {
            // An emoji's own presentation selector may start the run.
            let first = run.chars().next()?;
            let rest = &run[first.len_utf8()..];
            takes_selector(previous, first, None).then(|| decode_selectors(rest)).flatten()
        });
        match payload {
            Some(payload) => format!(
                "{count} variation selectors in a row ({}) {after} hide {count} bytes that read {}",
                describe_run(run),
                shown_payload(&payload)
            ),
            None => format!(
                "{count} variation selectors in a row ({}) {after}: one byte each of hidden data",
                describe_run(run)
            ),
        }
    };
    Finding {
        code: Code::SecurityVariationSelector,
        span: start..end,
        message,
        label: "variation selector".into(),
        help: removal_help(run, Code::SecurityVariationSelector),
    }
}

/// Spans of tag-character and variation-selector runs whose decoded text holds a secret.
pub(super) fn hidden_payload_secrets(text: &str) -> Vec<Range<usize>> {
    // Tag characters and U+E0100.. start with 0xF3 in UTF-8, U+FE00..U+FE0F with 0xEF.
    if memchr::memchr2(0xF3, 0xEF, text.as_bytes()).is_none() {
        return Vec::new();
    }
    let mut spans = Vec::new();
    let mut offset = 0;
    while let Some(c) = char_at(text, offset) {
        let decoded = if is_tag(c) {
            let end = run_end(text, offset, is_tag);
            Some((end, decode_tags(&text[offset..end])))
        } else if is_variation_selector(c) {
            let end = run_end(text, offset, is_variation_selector);
            decode_selectors(&text[offset..end]).map(|decoded| (end, decoded))
        } else {
            None
        };
        match decoded {
            Some((end, decoded)) => {
                if !find_secrets(&rules::active(), &decoded, None).is_empty() {
                    spans.push(offset..end);
                }
                offset = end.max(offset + c.len_utf8());
            }
            None => offset += c.len_utf8(),
        }
    }
    spans
}

/// The Unicode name (or, for controls, the alias) of a character this module reports.
pub(super) fn name(c: char) -> String {
    const C0: [&str; 32] = [
        "NULL",
        "START OF HEADING",
        "START OF TEXT",
        "END OF TEXT",
        "END OF TRANSMISSION",
        "ENQUIRY",
        "ACKNOWLEDGE",
        "BELL",
        "BACKSPACE",
        "CHARACTER TABULATION",
        "LINE FEED",
        "LINE TABULATION",
        "FORM FEED",
        "CARRIAGE RETURN",
        "SHIFT OUT",
        "SHIFT IN",
        "DATA LINK ESCAPE",
        "DEVICE CONTROL ONE",
        "DEVICE CONTROL TWO",
        "DEVICE CONTROL THREE",
        "DEVICE CONTROL FOUR",
        "NEGATIVE ACKNOWLEDGE",
        "SYNCHRONOUS IDLE",
        "END OF TRANSMISSION BLOCK",
        "CANCEL",
        "END OF MEDIUM",
        "SUBSTITUTE",
        "ESCAPE",
        "INFORMATION SEPARATOR FOUR",
        "INFORMATION SEPARATOR THREE",
        "INFORMATION SEPARATOR TWO",
        "INFORMATION SEPARATOR ONE",
    ];
    const C1: [&str; 32] = [
        "PADDING CHARACTER",
        "HIGH OCTET PRESET",
        "BREAK PERMITTED HERE",
        "NO BREAK HERE",
        "INDEX",
        "NEXT LINE",
        "START OF SELECTED AREA",
        "END OF SELECTED AREA",
        "CHARACTER TABULATION SET",
        "CHARACTER TABULATION WITH JUSTIFICATION",
        "LINE TABULATION SET",
        "PARTIAL LINE FORWARD",
        "PARTIAL LINE BACKWARD",
        "REVERSE LINE FEED",
        "SINGLE SHIFT TWO",
        "SINGLE SHIFT THREE",
        "DEVICE CONTROL STRING",
        "PRIVATE USE ONE",
        "PRIVATE USE TWO",
        "SET TRANSMIT STATE",
        "CANCEL CHARACTER",
        "MESSAGE WAITING",
        "START OF GUARDED AREA",
        "END OF GUARDED AREA",
        "START OF STRING",
        "SINGLE GRAPHIC CHARACTER INTRODUCER",
        "SINGLE CHARACTER INTRODUCER",
        "CONTROL SEQUENCE INTRODUCER",
        "STRING TERMINATOR",
        "OPERATING SYSTEM COMMAND",
        "PRIVACY MESSAGE",
        "APPLICATION PROGRAM COMMAND",
    ];
    let code = c as u32;
    let known = match code {
        0x00..=0x1F => C0[code as usize],
        0x7F => "DELETE",
        0x80..=0x9F => C1[(code - 0x80) as usize],
        0xAD => "SOFT HYPHEN",
        0x034F => "COMBINING GRAPHEME JOINER",
        0x061C => "ARABIC LETTER MARK",
        0x115F => "HANGUL CHOSEONG FILLER",
        0x1160 => "HANGUL JUNGSEONG FILLER",
        0x180E => "MONGOLIAN VOWEL SEPARATOR",
        0x200B => "ZERO WIDTH SPACE",
        0x200C => "ZERO WIDTH NON-JOINER",
        0x200D => "ZERO WIDTH JOINER",
        0x200E => "LEFT-TO-RIGHT MARK",
        0x200F => "RIGHT-TO-LEFT MARK",
        0x2028 => "LINE SEPARATOR",
        0x2029 => "PARAGRAPH SEPARATOR",
        0x202A => "LEFT-TO-RIGHT EMBEDDING",
        0x202B => "RIGHT-TO-LEFT EMBEDDING",
        0x202C => "POP DIRECTIONAL FORMATTING",
        0x202D => "LEFT-TO-RIGHT OVERRIDE",
        0x202E => "RIGHT-TO-LEFT OVERRIDE",
        0x2060 => "WORD JOINER",
        0x2061 => "FUNCTION APPLICATION",
        0x2062 => "INVISIBLE TIMES",
        0x2063 => "INVISIBLE SEPARATOR",
        0x2064 => "INVISIBLE PLUS",
        0x2066 => "LEFT-TO-RIGHT ISOLATE",
        0x2067 => "RIGHT-TO-LEFT ISOLATE",
        0x2068 => "FIRST STRONG ISOLATE",
        0x2069 => "POP DIRECTIONAL ISOLATE",
        0x206A => "INHIBIT SYMMETRIC SWAPPING",
        0x206B => "ACTIVATE SYMMETRIC SWAPPING",
        0x206C => "INHIBIT ARABIC FORM SHAPING",
        0x206D => "ACTIVATE ARABIC FORM SHAPING",
        0x206E => "NATIONAL DIGIT SHAPES",
        0x206F => "NOMINAL DIGIT SHAPES",
        0x3164 => "HANGUL FILLER",
        0xFEFF => "ZERO WIDTH NO-BREAK SPACE",
        0xFFA0 => "HALFWIDTH HANGUL FILLER",
        0xFFF9 => "INTERLINEAR ANNOTATION ANCHOR",
        0xFFFA => "INTERLINEAR ANNOTATION SEPARATOR",
        0xFFFB => "INTERLINEAR ANNOTATION TERMINATOR",
        0xE0001 => "LANGUAGE TAG",
        0xE007F => "CANCEL TAG",
        0xE0020 => "TAG SPACE",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    match code {
        0xFE00..=0xFE0F => format!("VARIATION SELECTOR-{}", code - 0xFE00 + 1),
        0xE0100..=0xE01EF => format!("VARIATION SELECTOR-{}", code - 0xE0100 + 17),
        0xE0021..=0xE007E => format!("TAG {}", ascii_name((code - 0xE0000) as u8)),
        0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD => {
            format!("<private-use-{code:04X}>")
        }
        _ => format!("<U+{code:04X}>"),
    }
}

/// The name of a printable ASCII character, as in the names of the tag characters.
pub(super) fn ascii_name(byte: u8) -> String {
    const DIGITS: [&str; 10] =
        ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"];
    match byte {
        b'A'..=b'Z' => format!("LATIN CAPITAL LETTER {}", byte as char),
        b'a'..=b'z' => format!("LATIN SMALL LETTER {}", byte.to_ascii_uppercase() as char),
        b'0'..=b'9' => format!("DIGIT {}", DIGITS[usize::from(byte - b'0')]),
        _ => match byte {
            b'!' => "EXCLAMATION MARK",
            b'"' => "QUOTATION MARK",
            b'#' => "NUMBER SIGN",
            b'$' => "DOLLAR SIGN",
            b'%' => "PERCENT SIGN",
            b'&' => "AMPERSAND",
            b'\'' => "APOSTROPHE",
            b'(' => "LEFT PARENTHESIS",
            b')' => "RIGHT PARENTHESIS",
            b'*' => "ASTERISK",
            b'+' => "PLUS SIGN",
            b',' => "COMMA",
            b'-' => "HYPHEN-MINUS",
            b'.' => "FULL STOP",
            b'/' => "SOLIDUS",
            b':' => "COLON",
            b';' => "SEMICOLON",
            b'<' => "LESS-THAN SIGN",
            b'=' => "EQUALS SIGN",
            b'>' => "GREATER-THAN SIGN",
            b'?' => "QUESTION MARK",
            b'@' => "COMMERCIAL AT",
            b'[' => "LEFT SQUARE BRACKET",
            b'\\' => "REVERSE SOLIDUS",
            b']' => "RIGHT SQUARE BRACKET",
            b'^' => "CIRCUMFLEX ACCENT",
            b'_' => "LOW LINE",
            b'`' => "GRAVE ACCENT",
            b'{' => "LEFT CURLY BRACKET",
            b'|' => "VERTICAL LINE",
            b'}' => "RIGHT CURLY BRACKET",
            b'~' => "TILDE",
            _ => "CHARACTER",
        }
        .to_string(),
    }
}
