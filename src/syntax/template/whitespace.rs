//! Whitespace control, ported from handlebars.js (compiler/whitespace-control.js): `~` strips all
//! whitespace on its side; a block, `{{else}}` or comment tag alone on its line removes the line.

use super::*;

pub(super) struct Whitespace<'a> {
    pub(super) source: &'a str,
    pub(super) root_seen: bool,
}

pub(super) struct StripInfo {
    pub(super) open: bool,
    pub(super) close: bool,
    pub(super) open_standalone: bool,
    pub(super) close_standalone: bool,
    pub(super) inline_standalone: bool,
}

impl Whitespace<'_> {
    pub(super) fn program(&mut self, program: &mut Program) {
        let is_root = !self.root_seen;
        self.root_seen = true;
        for index in 0..program.body.len() {
            let Some(strip) = self.statement(&mut program.body[index]) else { continue };
            let prev_whitespace = self.is_prev_whitespace(&program.body, Some(index), is_root);
            let next_whitespace = self.is_next_whitespace(&program.body, Some(index), is_root);
            let open_standalone = strip.open_standalone && prev_whitespace;
            let close_standalone = strip.close_standalone && next_whitespace;
            let inline_standalone = strip.inline_standalone && prev_whitespace && next_whitespace;
            if strip.close {
                self.omit_right(&mut program.body, Some(index), true);
            }
            if strip.open {
                self.omit_left(&mut program.body, Some(index), true);
            }
            if inline_standalone {
                self.omit_right(&mut program.body, Some(index), false);
                self.omit_left(&mut program.body, Some(index), false);
            }
            if open_standalone {
                if let Node::Block(block) = &mut program.body[index] {
                    self.omit_right(&mut block.program.body, None, false);
                }
                self.omit_left(&mut program.body, Some(index), false);
            }
            if close_standalone {
                self.omit_right(&mut program.body, Some(index), false);
                if let Node::Block(block) = &mut program.body[index] {
                    let inner = match block.inverse.as_mut() {
                        Some(inverse) => inverse,
                        None => &mut block.program,
                    };
                    self.omit_left(&mut inner.body, None, false);
                }
            }
        }
    }

    pub(super) fn statement(&mut self, node: &mut Node) -> Option<StripInfo> {
        match node {
            Node::Text(_) => None,
            Node::Mustache(mustache) => Some(StripInfo {
                open: mustache.strip.open,
                close: mustache.strip.close,
                open_standalone: false,
                close_standalone: false,
                inline_standalone: false,
            }),
            Node::Comment(comment) => Some(StripInfo {
                open: comment.strip.open,
                close: comment.strip.close,
                open_standalone: false,
                close_standalone: false,
                inline_standalone: true,
            }),
            Node::Block(block) => Some(self.block(block)),
        }
    }

    pub(super) fn block(&mut self, block: &mut Block) -> StripInfo {
        self.program(&mut block.program);
        if let Some(inverse) = block.inverse.as_mut() {
            self.program(inverse);
        }
        let has_inverse = block.inverse.is_some();
        let open_standalone = self.is_next_whitespace(&block.program.body, None, false);
        let close_standalone = {
            let first_inverse_body = match block.inverse.as_ref() {
                Some(inverse) if inverse.chained => chained_first(inverse).map(|p| &p.body),
                Some(inverse) => Some(&inverse.body),
                None => None,
            };
            self.is_prev_whitespace(first_inverse_body.unwrap_or(&block.program.body), None, false)
        };
        let info = StripInfo {
            open: block.open_strip.open,
            close: block.close_strip.close,
            open_standalone,
            close_standalone,
            inline_standalone: false,
        };
        if block.open_strip.close {
            self.omit_right(&mut block.program.body, None, true);
        }
        if has_inverse {
            let inverse_strip = block.inverse_strip;
            if inverse_strip.open {
                self.omit_left(&mut block.program.body, None, true);
            }
            let program_prev_whitespace = self.is_prev_whitespace(&block.program.body, None, false);
            let Some(inverse) = block.inverse.as_mut() else { return info };
            if inverse_strip.close {
                self.omit_right(&mut first_inverse_mut(inverse).body, None, true);
            }
            if block.close_strip.open {
                self.omit_left(&mut last_inverse_mut(inverse).body, None, true);
            }
            let first_next_whitespace =
                self.is_next_whitespace(&first_inverse_mut(inverse).body, None, false);
            if program_prev_whitespace && first_next_whitespace {
                self.omit_left(&mut block.program.body, None, false);
                self.omit_right(&mut first_inverse_mut(inverse).body, None, false);
            }
        } else if block.close_strip.open {
            self.omit_left(&mut block.program.body, None, true);
        }
        info
    }

    pub(super) fn original<'b>(&'b self, text: &Text) -> &'b str {
        &self.source[text.original.clone()]
    }

    /// handlebars.js `isPrevWhitespace`: the text before statement `index` (or the end of `body`)
    /// ends with a newline and only whitespace after it.
    pub(super) fn is_prev_whitespace(
        &self,
        body: &[Node],
        index: Option<usize>,
        is_root: bool,
    ) -> bool {
        let index = index.unwrap_or(body.len());
        if index == 0 {
            return is_root;
        }
        let Node::Text(prev) = &body[index - 1] else { return false };
        let has_sibling = index >= 2;
        let original = self.original(prev);
        let trailing = original.trim_end_matches(is_js_space);
        let whitespace = &original[trailing.len()..];
        if whitespace.contains('\n') {
            return true;
        }
        !has_sibling && is_root && trailing.is_empty()
    }

    /// handlebars.js `isNextWhitespace`: the text after statement `index` (or the start of `body`)
    /// starts with whitespace up to and including a newline.
    pub(super) fn is_next_whitespace(
        &self,
        body: &[Node],
        index: Option<usize>,
        is_root: bool,
    ) -> bool {
        let next_index = index.map_or(0, |i| i + 1);
        let Some(next) = body.get(next_index) else { return is_root };
        let Node::Text(next) = next else { return false };
        let has_sibling = body.len() > next_index + 1;
        let original = self.original(next);
        let leading = original.trim_start_matches(is_js_space);
        let whitespace = &original[..original.len() - leading.len()];
        if whitespace.contains('\n') {
            return true;
        }
        !has_sibling && is_root && leading.is_empty()
    }

    /// handlebars.js `omitRight`: strips the start of the text after statement `index`.
    pub(super) fn omit_right(&self, body: &mut [Node], index: Option<usize>, multiple: bool) {
        let target = index.map_or(0, |i| i + 1);
        let Some(Node::Text(text)) = body.get_mut(target) else { return };
        if !multiple && text.right_stripped {
            return;
        }
        let value = &self.source[text.value.clone()];
        let removed = if multiple {
            value.len() - value.trim_start_matches(is_js_space).len()
        } else {
            // `/^[ \t]*\r?\n?/`: a lone `\r` goes too.
            let tabs = value.len() - value.trim_start_matches([' ', '\t']).len();
            let after = &value[tabs..];
            let cr = usize::from(after.starts_with('\r'));
            tabs + cr + usize::from(after[cr..].starts_with('\n'))
        };
        text.value.start += removed;
        text.right_stripped = removed > 0;
    }

    /// handlebars.js `omitLeft`: strips the end of the text before statement `index`.
    pub(super) fn omit_left(
        &self,
        body: &mut [Node],
        index: Option<usize>,
        multiple: bool,
    ) -> bool {
        let target = match index {
            Some(0) => return false,
            Some(i) => i - 1,
            None if body.is_empty() => return false,
            None => body.len() - 1,
        };
        let Some(Node::Text(text)) = body.get_mut(target) else { return false };
        if !multiple && text.left_stripped {
            return false;
        }
        let value = &self.source[text.value.clone()];
        let kept = if multiple {
            value.trim_end_matches(is_js_space)
        } else {
            value.trim_end_matches([' ', '\t'])
        };
        let removed = value.len() - kept.len();
        text.value.end -= removed;
        text.left_stripped = removed > 0;
        text.left_stripped
    }
}

/// JavaScript's `\s`: Unicode `White_Space` without U+0085 (NEXT LINE), with U+FEFF.
pub fn is_js_space(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

pub(super) fn chained_first(inverse: &Program) -> Option<&Program> {
    match inverse.body.first() {
        Some(Node::Block(block)) => Some(&block.program),
        _ => None,
    }
}

pub(super) fn first_inverse_mut(inverse: &mut Program) -> &mut Program {
    if inverse.chained && matches!(inverse.body.first(), Some(Node::Block(_))) {
        let Some(Node::Block(block)) = inverse.body.first_mut() else {
            unreachable!("checked above")
        };
        return &mut block.program;
    }
    inverse
}

/// handlebars.js walks `lastInverse` down `.program` of the last chained block, not its inverse.
pub(super) fn last_inverse_mut(inverse: &mut Program) -> &mut Program {
    if inverse.chained && matches!(inverse.body.last(), Some(Node::Block(_))) {
        let Some(Node::Block(block)) = inverse.body.last_mut() else {
            unreachable!("checked above")
        };
        return last_inverse_mut(&mut block.program);
    }
    inverse
}
