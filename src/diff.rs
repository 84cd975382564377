//! Unified diffs of texts a model reads, with invisible differences made visible: trailing spaces,
//! tabs, carriage returns, non-breaking spaces and a missing final newline. Pure.

use similar::{ChangeTag, TextDiff};
use std::fmt::Write;

/// A unified diff of `old` and `new` with three lines of context.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let mut output = String::new();
    let _ = writeln!(output, "--- {old_name}\n+++ {new_name}");
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let _ = writeln!(output, "@@ -{} +{} @@", hunk_range(&old_range), hunk_range(&new_range));
        for op in &group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                    ChangeTag::Equal => ' ',
                };
                let line = change.value();
                let visible =
                    if change.tag() == ChangeTag::Equal { plain(line) } else { make_visible(line) };
                let _ = writeln!(output, "{sign}{visible}");
                if change.missing_newline() {
                    output.push_str("\\ No newline at end of text\n");
                }
            }
        }
    }
    output
}

fn hunk_range(range: &std::ops::Range<usize>) -> String {
    let length = range.end - range.start;
    let start = if length == 0 { range.start } else { range.start + 1 };
    format!("{start},{length}")
}

fn plain(line: &str) -> String {
    line.strip_suffix('\n').unwrap_or(line).to_string()
}

/// Shows what an eye cannot see in a changed line: `→` for a tab, `␍` for CR, `·` for a trailing
/// space, `⍽` for a non-breaking space and `⟨U+XXXX⟩` for other invisible characters.
pub fn make_visible(line: &str) -> String {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let trailing_start = line.trim_end_matches([' ', '\r']).len();
    let mut output = String::with_capacity(line.len() + 8);
    for (index, c) in line.char_indices() {
        match c {
            '\t' => output.push('→'),
            '\r' => output.push('␍'),
            ' ' if index >= trailing_start => output.push('·'),
            '\u{a0}' => output.push('⍽'),
            c if c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}') =>
            {
                let _ = write!(output, "⟨U+{:04X}⟩", c as u32);
            }
            c => output.push(c),
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_differences_show() {
        let diff = unified("a\nb\nc", "a\nb \nc\r\n", "legacy", "rendered");
        assert!(diff.contains("+b·\n"), "{diff}");
        assert!(diff.contains("+c␍\n"), "{diff}");
        assert!(diff.contains("-c\n\\ No newline at end of text"), "{diff}");
        assert_eq!(make_visible("x\ty\u{a0}z"), "x→y⍽z");
    }
}
