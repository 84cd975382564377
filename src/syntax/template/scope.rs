//! The one Handlebars scope model: which value a path names, as handlebars.js 4.7 decides it. The
//! renderer, the variables rules, the portability rules and the injection lint all keep their
//! frames in a `Scopes` and resolve every path through `Scopes::resolve`, each with its own
//! payload per frame (a JSON value, a declared type, a taint) that it then reads the rest of the
//! path from. Pure and allocation-free per lookup. The `#if` guards and the canonical paths the
//! checkers match them against are modelled once too, beside it (`guards.rs`).
//!
//! The rules (handlebars.js `compiler.js` and `runtime.js`):
//! - a block parameter is looked up first, by its first segment, for any path without `./`,
//!   `this` or `../`, even a data path: `@name` names a block parameter `name` when one is in scope;
//! - `@root` is the root context; `@index`, `@key`, `@first` and `@last` come from the innermost
//!   `#each` iteration, `@../index` from the one around it, and so on (`#each` frames only);
//! - a path without `../` reads the innermost frame's context (`this`);
//! - `../` counts only the frames that changed the context (`level`): handlebars.js pushes a
//!   block's context on `depths` only when it differs (JavaScript `!=`) from the innermost one, so
//!   `{{#with this}}` adds no level. The renderer decides a frame's level by comparing the values,
//!   the checkers statically (`changes_context`).

use super::{Expression, Helper, Path, Segment};

/// A stack of frames, the root context first. `F` is what each user keeps per frame.
#[derive(Debug)]
pub struct Scopes<'t, F> {
    frames: Vec<Frame<'t, F>>,
}

/// One frame: the root, or the body of a block (`#each` once per iteration, `#with`, and the
/// programs of `#if` and `#unless` when a user gives them one).
#[derive(Debug)]
pub struct Frame<'t, F> {
    pub payload: F,
    /// The block parameters this frame binds, by position (`as |item index|`).
    pub params: &'t [String],
    /// Whether `../` counts this frame: its context differs from the one around it.
    pub level: bool,
    /// An `#each` iteration, which defines `@index`, `@key`, `@first` and `@last`.
    pub data: bool,
}

/// What a path names. The indices are frame indices (0 is the root); `rest` is the part of the
/// path that the user still reads from the value found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolution<'p> {
    /// The block parameter at `position` of `frame`'s `as |…|`.
    BlockParam { frame: usize, position: usize, rest: &'p [Segment] },
    /// The context of `frame`: the innermost one, or the one `../` reaches.
    Context { frame: usize, rest: &'p [Segment] },
    /// `@root`.
    Root { rest: &'p [Segment] },
    /// `@name` (other than `@root`), with the `#each` frame it reads from, `None` when there are
    /// too few around (`@index` outside `#each`, or too many `../`).
    Data { name: &'p Segment, frame: Option<usize>, rest: &'p [Segment] },
    /// `../` above the root context: `missing` levels too many.
    AboveRoot { missing: usize, rest: &'p [Segment] },
    /// A data path with no name (`@`), which names nothing.
    Nothing,
}

impl<'t, F> Scopes<'t, F> {
    /// A stack with the root context's frame only.
    pub fn new(root: F) -> Self {
        Scopes { frames: vec![Frame { payload: root, params: &[], level: true, data: false }] }
    }

    pub fn push(&mut self, frame: Frame<'t, F>) {
        self.frames.push(frame);
    }

    /// Pops the innermost frame; never the root's.
    pub fn pop(&mut self) -> Option<Frame<'t, F>> {
        if self.frames.len() > 1 {
            self.frames.pop()
        } else {
            None
        }
    }

    /// The number of frames, the root's included.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Never: the root frame is always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn frame(&self, index: usize) -> &Frame<'t, F> {
        &self.frames[index]
    }

    pub fn frames(&self) -> &[Frame<'t, F>] {
        &self.frames
    }

    /// The innermost frame (`this`).
    pub fn innermost(&self) -> &Frame<'t, F> {
        self.frames.last().expect("the root frame is never popped")
    }

    /// The innermost frame `../` counts: the context a new block's is compared with.
    pub fn innermost_level(&self) -> &Frame<'t, F> {
        self.frames.iter().rev().find(|frame| frame.level).expect("the root frame is a level")
    }

    /// How many frames `../` counts (the root's included).
    pub fn levels(&self) -> usize {
        self.frames.iter().filter(|frame| frame.level).count()
    }

    /// The names of the block parameters in scope, outermost first.
    pub fn param_names(&self) -> impl Iterator<Item = &'t String> + '_ {
        self.frames.iter().flat_map(|frame| frame.params.iter())
    }

    /// Resolves `path` against all frames.
    pub fn resolve<'p>(&self, path: &'p Path) -> Resolution<'p> {
        self.resolve_at(path, self.frames.len())
    }

    /// Resolves `path` against the outermost `visible` frames, as it would have been resolved
    /// where only those were in scope (a guard written further out, a block's argument).
    pub fn resolve_at<'p>(&self, path: &'p Path, visible: usize) -> Resolution<'p> {
        let frames = &self.frames[..visible.clamp(1, self.frames.len())];
        if let Some((frame, position)) = block_param(frames, path) {
            return Resolution::BlockParam { frame, position, rest: &path.segments[1..] };
        }
        let depth = path.depth as usize;
        if path.data {
            let Some((name, rest)) = path.segments.split_first() else {
                return Resolution::Nothing;
            };
            if name.name == "root" {
                return Resolution::Root { rest };
            }
            let frame = nth_from_top(frames, depth, |frame| frame.data);
            return Resolution::Data { name, frame, rest };
        }
        let rest = path.segments.as_slice();
        if depth == 0 {
            return Resolution::Context { frame: frames.len() - 1, rest };
        }
        match nth_from_top(frames, depth, |frame| frame.level) {
            Some(frame) => Resolution::Context { frame, rest },
            None => {
                let levels = frames.iter().filter(|frame| frame.level).count();
                Resolution::AboveRoot { missing: depth + 1 - levels, rest }
            }
        }
    }

    /// Whether `#each` or `#with` over `argument` changes the context, as the checkers tell it
    /// without values: `#each` always does; `#with this` never, nor `#with @root` while no other
    /// level is in scope (the renderer compares the values instead).
    pub fn changes_context(&self, helper: Helper, argument: Option<&Expression>) -> bool {
        helper == Helper::Each
            || !match argument {
                Some(Expression::Path(path)) if path.segments.is_empty() => {
                    path.depth == 0 && !path.data
                }
                Some(Expression::Path(path)) => {
                    path.data
                        && path.segments.len() == 1
                        && path.segments[0].name == "root"
                        && self.levels() == 1
                }
                _ => false,
            }
    }
}

/// The frame and position of the block parameter `path` starts with, innermost first.
fn block_param<F>(frames: &[Frame<F>], path: &Path) -> Option<(usize, usize)> {
    if path.scoped || path.depth > 0 {
        return None;
    }
    let name = &path.segments.first()?.name;
    frames.iter().enumerate().rev().find_map(|(index, frame)| {
        frame.params.iter().position(|param| param == name).map(|position| (index, position))
    })
}

/// The index of the `n`th frame from the innermost (0 the innermost) that `counts`.
fn nth_from_top<F>(
    frames: &[Frame<F>],
    n: usize,
    counts: impl Fn(&Frame<F>) -> bool,
) -> Option<usize> {
    frames
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, frame)| counts(frame))
        .nth(n)
        .map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::template::{parse, Node};

    fn path(source: &str) -> Path {
        let template = parse(&format!("{{{{{source}}}}}")).expect("parses");
        match &template.program.body[0] {
            Node::Mustache(mustache) => mustache.call.head.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn names(resolution: Resolution) -> String {
        let rest = |rest: &[Segment]| {
            rest.iter().map(|segment| segment.name.as_str()).collect::<Vec<_>>().join(".")
        };
        match resolution {
            Resolution::BlockParam { frame, position, rest: r } => {
                format!("param {frame}/{position} {}", rest(r))
            }
            Resolution::Context { frame, rest: r } => format!("context {frame} {}", rest(r)),
            Resolution::Root { rest: r } => format!("root {}", rest(r)),
            Resolution::Data { name, frame, rest: r } => {
                format!("data {} {frame:?} {}", name.name, rest(r))
            }
            Resolution::AboveRoot { missing, .. } => format!("above {missing}"),
            Resolution::Nothing => "nothing".into(),
        }
    }

    #[test]
    fn resolves_as_handlebars_js() {
        let item = vec!["item".to_string(), "i".to_string()];
        let key = vec!["key".to_string()];
        let mut scopes = Scopes::new(());
        // {{#each xs as |item i|}}{{#with this}}{{#each ys as |key|}}
        scopes.push(Frame { payload: (), params: &item, level: true, data: true });
        scopes.push(Frame { payload: (), params: &[], level: false, data: false });
        scopes.push(Frame { payload: (), params: &key, level: true, data: true });
        let resolve = |source: &str| names(scopes.resolve(&path(source)));
        assert_eq!(resolve("item.name"), "param 1/0 name");
        assert_eq!(resolve("i"), "param 1/1 ");
        assert_eq!(resolve("@key.n"), "param 3/0 n");
        assert_eq!(resolve("this.item"), "context 3 item");
        assert_eq!(resolve("../item"), "context 1 item");
        assert_eq!(resolve("../../x"), "context 0 x");
        assert_eq!(resolve("../../../x"), "above 1");
        assert_eq!(resolve("@index"), "data index Some(3) ");
        assert_eq!(resolve("@../index"), "data index Some(1) ");
        assert_eq!(resolve("@../../index"), "data index None ");
        assert_eq!(resolve("@root.a"), "root a");
        assert_eq!(names(scopes.resolve_at(&path("key"), 3)), "context 2 key");
        assert_eq!(scopes.levels(), 3);
        assert_eq!(scopes.param_names().count(), 3);
    }
}
