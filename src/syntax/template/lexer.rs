//! The lexer: splits the source into text and tags; each tag is parsed into its parts right away
//! (`parse_call`, `Cursor`).

use super::*;

#[derive(Debug)]
pub(super) struct Token {
    pub(super) span: Range<usize>,
    pub(super) kind: TokenKind,
}

#[derive(Debug)]
pub(super) enum TokenKind {
    Text,
    Mustache {
        call: Call,
        strip: Strip,
    },
    Comment {
        strip: Strip,
    },
    Open {
        call: Call,
        block_params: Vec<String>,
        strip: Strip,
    },
    /// `{{else}}` or `{{^}}`.
    Else {
        strip: Strip,
    },
    /// `{{else if cond}}`.
    ElseChain {
        call: Call,
        block_params: Vec<String>,
        strip: Strip,
    },
    Close {
        name: String,
        strip: Strip,
    },
}

pub(super) fn lex(source: &str) -> Result<Vec<Token>, SyntaxError> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut cursor = 0;
    let mut text_start = 0;
    while let Some(found) = memchr::memmem::find(&bytes[cursor..], b"{{") {
        let open = cursor + found;
        // `\{{` is a literal `{{`; `\\{{` is a literal backslash followed by a tag.
        let backslashes = bytes[text_start..open].iter().rev().take_while(|&&b| b == b'\\').count();
        if backslashes >= 1 {
            let text_end = open - 1;
            if text_start < text_end {
                tokens.push(Token { span: text_start..text_end, kind: TokenKind::Text });
            }
            if backslashes == 1 {
                // The escaped text runs to the next `{{` (or the end), as in handlebars.js.
                let next = memchr::memmem::find(&bytes[open + 2..], b"{{")
                    .map_or(bytes.len(), |index| open + 2 + index);
                let mut next = next;
                for _ in 0..2 {
                    if next > open + 2 && bytes[next - 1] == b'\\' {
                        next -= 1;
                    }
                }
                tokens.push(Token { span: open..next, kind: TokenKind::Text });
                text_start = next;
                cursor = next.max(open + 2);
                continue;
            }
            text_start = open;
        }
        if text_start < open {
            tokens.push(Token { span: text_start..open, kind: TokenKind::Text });
        }
        let (end, kind) = lex_tag(source, open)?;
        tokens.push(Token { span: open..end, kind });
        cursor = end;
        text_start = end;
    }
    if text_start < bytes.len() {
        tokens.push(Token { span: text_start..bytes.len(), kind: TokenKind::Text });
    }
    Ok(tokens)
}

/// Lexes the tag that starts at `open` (at `{{`), returning its end and kind.
pub(super) fn lex_tag(source: &str, open: usize) -> Result<(usize, TokenKind), SyntaxError> {
    let bytes = source.as_bytes();
    let rest = &source[open..];
    if rest.starts_with("{{{{") {
        return Err(unsupported(
            open..open + 4,
            "raw blocks `{{{{…}}}}`",
            "write the text literally, escaping `{{` as `\\{{`",
        ));
    }
    // As handlebars.js's lexer: `{{`, an optional `~`, then the sigil (`{`, `!`, `#`, …) with no
    // space in between; the tag ends at the first `}}`, read as `}}}` (or `}~}}`) when a third
    // brace touches it, which only a `{{{` tag may use, and `}}}}` ends no tag at all.
    let mut position = open + 2;
    let mut strip = Strip::default();
    if bytes.get(position) == Some(&b'~') {
        strip.open = true;
        position += 1;
    }
    let triple = bytes.get(position) == Some(&b'{');
    if triple {
        position += 1;
    }
    if !triple && bytes.get(position) == Some(&b'!') {
        return lex_comment(source, open, position + 1, strip);
    }
    let opener = &source[open..position];
    let Some(close_index) = memchr::memmem::find(&bytes[position..], b"}}") else {
        return Err(error(
            open..position,
            format!("`{opener}` is never closed"),
            "unclosed tag",
            Some(format!("add `{}` after the expression", if triple { "}}}" } else { "}}" })),
        ));
    };
    let close_at = position + close_index;
    let tilde = close_at > position && bytes[close_at - 1] == b'~';
    let inner_plain_end = if tilde { close_at - 1 } else { close_at };
    let plain = &source[position..inner_plain_end];
    // `{{else}}` and `{{^}}` are whole tokens: a brace after them is text.
    let inverse = !triple
        && (plain.trim() == "else" || (plain.starts_with('^') && plain[1..].trim().is_empty()));
    let (inner_end, end, unescaped_close) = if tilde {
        let unescaped =
            !inverse && inner_plain_end > position && bytes[inner_plain_end - 1] == b'}';
        (inner_plain_end - usize::from(unescaped), close_at + 2, unescaped)
    } else if inverse {
        (close_at, close_at + 2, false)
    } else if source[close_at..].starts_with("}}}}") {
        return Err(error(
            close_at..close_at + 4,
            "`}}}}` cannot close a tag".into(),
            "four closing braces",
            Some("handlebars.js reads `}}}}` as the end of a raw block; put the extra braces in text after an empty comment, e.g. `{{name}}{{!}}}`".into()),
        ));
    } else if bytes.get(close_at + 2) == Some(&b'}') {
        (close_at, close_at + 3, true)
    } else {
        (close_at, close_at + 2, false)
    };
    if unescaped_close != triple {
        let (closer, help) = if triple {
            ("}}", "close `{{{` with `}}}`".to_string())
        } else {
            (
                "}}}",
                "handlebars.js reads `}}}` as the end of a `{{{…}}}` tag; to print a `}` right after the tag, separate it with an empty comment: `{{name}}{{!}}}`".to_string(),
            )
        };
        return Err(error(
            open..end,
            format!("`{opener}` is closed by `{closer}`"),
            "mismatched braces",
            Some(help),
        ));
    }
    if tilde {
        strip.close = true;
    }
    if bytes.get(position).is_some_and(u8::is_ascii_whitespace) {
        let sigil_at = position + (plain.len() - plain.trim_start().len());
        if let Some(sigil) = source[sigil_at..].chars().next().filter(|c| "#/^&!>*{".contains(*c)) {
            return Err(error(
                position..sigil_at + 1,
                format!("a space between `{opener}` and `{sigil}`"),
                "handlebars.js allows no space here",
                Some(format!("write `{opener}{sigil}` without the space")),
            ));
        }
    }
    let tag_span = open..end;
    let inner = &source[position..inner_end];
    let trimmed_start = position + (inner.len() - inner.trim_start().len());
    let sigil = source[trimmed_start..inner_end].chars().next();
    if triple {
        let call = parse_call(source, trimmed_start, inner_end, &tag_span)?;
        return Ok((end, TokenKind::Mustache { call: call.0, strip }));
    }
    match sigil {
        Some('#') => {
            let after = trimmed_start + 1;
            match bytes.get(after) {
                Some(b'>') => {
                    return Err(unsupported(
                        tag_span,
                        "partial blocks `{{#> …}}`",
                        "inline the partial's text into the prompt",
                    ))
                }
                Some(b'*') => {
                    return Err(unsupported(
                        tag_span,
                        "decorators `{{#* …}}`",
                        "remove the decorator",
                    ))
                }
                _ => {}
            }
            let (call, block_params) = parse_call(source, after, inner_end, &tag_span)?;
            if call.head.simple_name().is_none() {
                return Err(error(
                    call.head.span.clone(),
                    format!("`{}` cannot name a block helper", call.head.original),
                    "not a helper name",
                    Some("use `{{#if …}}`, `{{#unless …}}`, `{{#each …}}` or `{{#with …}}`".into()),
                ));
            }
            Ok((end, TokenKind::Open { call, block_params, strip }))
        }
        Some('/') => {
            let name = source[trimmed_start + 1..inner_end].trim();
            if name.is_empty() {
                return Err(error(
                    tag_span,
                    "`{{/}}` names no block".into(),
                    "missing block name",
                    Some("write `{{/if}}`, `{{/each}}`, …".into()),
                ));
            }
            Ok((end, TokenKind::Close { name: name.to_string(), strip }))
        }
        Some('^') => {
            if source[trimmed_start + 1..inner_end].trim().is_empty() {
                Ok((end, TokenKind::Else { strip }))
            } else {
                Err(unsupported(
                    tag_span,
                    "inverse sections `{{^name}}`",
                    "write `{{#unless name}}…{{/unless}}`",
                ))
            }
        }
        Some('>') => Err(unsupported(
            tag_span,
            "partials `{{> …}}`",
            "inline the partial's text into the prompt",
        )),
        Some('*') => Err(unsupported(tag_span, "decorators `{{* …}}`", "remove the decorator")),
        Some('&') => {
            let (call, _) = parse_call(source, trimmed_start + 1, inner_end, &tag_span)?;
            Ok((end, TokenKind::Mustache { call, strip }))
        }
        None => Err(error(
            tag_span,
            "empty tag `{{}}`".into(),
            "nothing between the braces",
            Some("write a variable name, or `\\{{` for literal braces".into()),
        )),
        _ => {
            let words = &source[trimmed_start..inner_end];
            if words == "else" || words.trim_end() == "else" {
                return Ok((end, TokenKind::Else { strip }));
            }
            if let Some(after) = words.strip_prefix("else") {
                if after.starts_with(char::is_whitespace) {
                    let (call, block_params) =
                        parse_call(source, trimmed_start + 4, inner_end, &tag_span)?;
                    return Ok((end, TokenKind::ElseChain { call, block_params, strip }));
                }
            }
            let (call, block_params) = parse_call(source, trimmed_start, inner_end, &tag_span)?;
            if !block_params.is_empty() {
                return Err(error(
                    tag_span,
                    "block parameters `as |…|` on a tag that is not a block".into(),
                    "not a block",
                    Some("block parameters belong on `{{#each …}}` or `{{#with …}}`".into()),
                ));
            }
            Ok((end, TokenKind::Mustache { call, strip }))
        }
    }
}

pub(super) fn lex_comment(
    source: &str,
    open: usize,
    body: usize,
    mut strip: Strip,
) -> Result<(usize, TokenKind), SyntaxError> {
    let long = source[body..].starts_with("--");
    let terminator = if long { "--" } else { "" };
    // handlebars.js ends a long comment at the first `--}}` counted from its opening `--`, so
    // `{{!--}}` is a whole comment.
    let search_from = body;
    let mut from = search_from;
    loop {
        let Some(index) = memchr::memmem::find(&source.as_bytes()[from..], b"}}") else {
            let (shown, add) = if long { ("{{!--", "--}}") } else { ("{{!", "}}") };
            return Err(error(
                open..open + shown.len(),
                format!("comment `{shown}` is never closed"),
                "unclosed comment",
                Some(format!("add `{add}`")),
            ));
        };
        let close = from + index;
        let mut before = &source[search_from..close];
        let mut tilde = false;
        if before.ends_with('~') {
            before = &before[..before.len() - 1];
            tilde = true;
        }
        if before.ends_with(terminator) {
            strip.close = tilde;
            return Ok((close + 2, TokenKind::Comment { strip }));
        }
        from = close + 2;
    }
}

/// Parses `head param param… [as |a b|]` between `start` and `end`.
pub(super) fn parse_call(
    source: &str,
    start: usize,
    end: usize,
    tag: &Range<usize>,
) -> Result<(Call, Vec<String>), SyntaxError> {
    let mut cursor = Cursor { source, position: start, end };
    cursor.skip_whitespace();
    if cursor.at_end() {
        return Err(error(
            tag.clone(),
            "the tag has no expression".into(),
            "expected a name",
            None,
        ));
    }
    let head = match cursor.expression(tag)? {
        Expression::Path(path) => path,
        Expression::Literal(_, span) => {
            return Err(error(
                span,
                "a literal cannot be printed or called".into(),
                "literal here",
                Some("write the text outside the tag".into()),
            ));
        }
    };
    let mut params = Vec::new();
    let mut block_params = Vec::new();
    loop {
        cursor.skip_whitespace();
        if cursor.at_end() {
            break;
        }
        let after_as = cursor.rest().strip_prefix("as").unwrap_or_default();
        if after_as.starts_with(char::is_whitespace) && after_as.trim_start().starts_with('|') {
            cursor.position += 2;
            cursor.skip_whitespace();
            let pipe = cursor.position;
            cursor.position += 1;
            let Some(close) = cursor.rest().find('|') else {
                return Err(error(
                    pipe..pipe + 1,
                    "block parameters `as |…|` are never closed".into(),
                    "unclosed `|`",
                    Some("add the closing `|`".into()),
                ));
            };
            block_params = cursor.rest()[..close].split_whitespace().map(str::to_string).collect();
            cursor.position += close + 1;
            cursor.skip_whitespace();
            if !cursor.at_end() || block_params.is_empty() {
                return Err(error(
                    pipe..cursor.end,
                    "malformed block parameters".into(),
                    "expected `as |name|` at the end of the tag",
                    None,
                ));
            }
            break;
        }
        params.push(cursor.expression(tag)?);
    }
    Ok((Call { head, params }, block_params))
}

pub(super) struct Cursor<'a> {
    pub(super) source: &'a str,
    pub(super) position: usize,
    pub(super) end: usize,
}

pub(super) fn is_id_char(c: char) -> bool {
    !(c.is_whitespace()
        || matches!(
            c,
            '!' | '"'
                | '#'
                | '%'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | '+'
                | ','
                | '.'
                | '/'
                | ';'
                | '<'
                | '='
                | '>'
                | '@'
                | '['
                | '\\'
                | ']'
                | '^'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
        ))
}

impl<'a> Cursor<'a> {
    pub(super) fn rest(&self) -> &'a str {
        &self.source[self.position..self.end]
    }

    pub(super) fn at_end(&self) -> bool {
        self.position >= self.end
    }

    pub(super) fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.position += rest.len() - rest.trim_start().len();
    }

    pub(super) fn expression(&mut self, tag: &Range<usize>) -> Result<Expression, SyntaxError> {
        let start = self.position;
        let rest = self.rest();
        let first = rest.chars().next().unwrap_or(' ');
        if first == '(' {
            return Err(unsupported(
                start..self.end,
                "sub-expressions `(helper …)`",
                "compute the value in the application and pass it as a variable",
            ));
        }
        if first == '"' || first == '\'' {
            let mut value = String::new();
            let mut chars = rest.char_indices().skip(1);
            while let Some((index, c)) = chars.next() {
                if c == '\\' && rest[index + 1..].starts_with(first) {
                    value.push(first);
                    chars.next();
                } else if c == first {
                    self.position += index + 1;
                    self.expect_separator(tag)?;
                    return Ok(Expression::Literal(Literal::String(value), start..self.position));
                } else {
                    value.push(c);
                }
            }
            return Err(error(
                start..self.end,
                "string literal is never closed".into(),
                "unclosed string",
                Some(format!("add the closing `{first}`")),
            ));
        }
        let word_len = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        let word = &rest[..word_len];
        if let Some(equals) = word.find('=') {
            if word[..equals].chars().all(is_id_char) && equals > 0 {
                return Err(unsupported(
                    start..start + word_len,
                    "hash arguments `key=value`",
                    "pass the value as a variable instead",
                ));
            }
        }
        if let Some(number) = parse_number(word) {
            self.position += word_len;
            return Ok(Expression::Literal(Literal::Number(number), start..self.position));
        }
        let literal = match word {
            "true" => Some(Literal::Boolean(true)),
            "false" => Some(Literal::Boolean(false)),
            "null" => Some(Literal::Null),
            "undefined" => Some(Literal::Undefined),
            _ => None,
        };
        if let Some(literal) = literal {
            self.position += word_len;
            return Ok(Expression::Literal(literal, start..self.position));
        }
        self.path(tag).map(Expression::Path)
    }

    pub(super) fn expect_separator(&self, tag: &Range<usize>) -> Result<(), SyntaxError> {
        match self.rest().chars().next() {
            None => Ok(()),
            Some(c) if c.is_whitespace() => Ok(()),
            Some(_) => Err(error(
                self.position..self.end,
                "unexpected text after an expression".into(),
                "expected a space or the end of the tag",
                Some(format!("check the tag `{}`", &self.source[tag.clone()])),
            )),
        }
    }

    pub(super) fn path(&mut self, tag: &Range<usize>) -> Result<Path, SyntaxError> {
        let start = self.position;
        let mut path = Path {
            span: start..start,
            data: false,
            depth: 0,
            scoped: false,
            segments: Vec::new(),
            original: String::new(),
        };
        if self.rest().starts_with('@') {
            path.data = true;
            self.position += 1;
        }
        loop {
            let rest = self.rest();
            if rest.starts_with("../") {
                path.depth += 1;
                self.position += 3;
            } else if rest.starts_with("./") && path.depth == 0 && path.segments.is_empty() {
                path.scoped = true;
                self.position += 2;
            } else {
                break;
            }
        }
        let mut expect_segment = true;
        let rest = self.rest();
        if rest.starts_with('.')
            && !rest[1..].starts_with(['.', '/'])
            && path.segments.is_empty()
            && !path.data
        {
            let after = &rest[1..];
            if after.is_empty() || after.starts_with(char::is_whitespace) {
                path.scoped = true;
                self.position += 1;
                expect_segment = false;
            }
        }
        loop {
            let segment_start = self.position;
            let rest = self.rest();
            if expect_segment {
                if rest.starts_with('[') {
                    let Some(close) = rest.find(']') else {
                        return Err(error(
                            segment_start..self.end,
                            "`[` is never closed".into(),
                            "unclosed literal segment",
                            Some("add `]`".into()),
                        ));
                    };
                    path.segments.push(Segment {
                        name: rest[1..close].to_string(),
                        span: segment_start..segment_start + close + 1,
                        literal: true,
                    });
                    self.position += close + 1;
                } else {
                    let length = rest.find(|c: char| !is_id_char(c)).unwrap_or(rest.len());
                    if length == 0 {
                        let shown = rest
                            .chars()
                            .next()
                            .map_or("the end of the tag".to_string(), |c| format!("`{c}`"));
                        return Err(error(
                            segment_start
                                ..(segment_start + rest.chars().next().map_or(0, char::len_utf8))
                                    .max(segment_start),
                            format!("expected a name, found {shown}"),
                            "expected a name",
                            Some(format!("check the tag `{}`", &self.source[tag.clone()])),
                        ));
                    }
                    let name = &rest[..length];
                    if name.bytes().all(|b| b.is_ascii_digit()) && !path.segments.is_empty() {
                        return Err(error(
                            segment_start..segment_start + length,
                            format!("`.{name}` is not a valid path segment in Handlebars"),
                            "numeric segment",
                            Some(format!("write `.[{name}]` to index an array")),
                        ));
                    }
                    if name == "this" && path.segments.is_empty() && !path.data {
                        path.scoped = true;
                    } else if name == "this" {
                        return Err(error(
                            segment_start..segment_start + length,
                            "`this` may only start a path".into(),
                            "`this` in the middle of a path",
                            None,
                        ));
                    } else {
                        path.segments.push(Segment {
                            name: name.to_string(),
                            span: segment_start..segment_start + length,
                            literal: false,
                        });
                    }
                    self.position += length;
                }
                expect_segment = false;
            } else if rest.starts_with('.') || rest.starts_with('/') {
                if rest.starts_with("..") {
                    return Err(error(
                        segment_start..segment_start + 2,
                        "`..` may only start a path".into(),
                        "`..` in the middle of a path",
                        None,
                    ));
                }
                self.position += 1;
                expect_segment = true;
            } else {
                break;
            }
        }
        if path.segments.is_empty() && !path.scoped && path.depth == 0 {
            return Err(error(
                start..self.position.max(start + 1),
                "expected a name".into(),
                "expected a name",
                None,
            ));
        }
        self.expect_separator(tag)?;
        path.span = start..self.position;
        path.original = self.source[start..self.position].to_string();
        Ok(path)
    }
}

pub(super) fn parse_number(word: &str) -> Option<f64> {
    let digits = word.strip_prefix('-').unwrap_or(word);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if is_digits(whole) && fraction.is_none_or(is_digits) {
        word.parse().ok()
    } else {
        None
    }
}
