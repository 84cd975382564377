//! Differential testing of the renderer: a deterministic generator of random templates in the
//! supported subset (docs/format.md) with random data, and a comparison of promptctl's output with
//! another engine's (handlebars.js under node, or the `handlebars` crate in the tests). A
//! difference is minimised (the shortest template and vars that still show it) and classified:
//! explained by a portability lint or a documented exception (docs/portability.md), or not.
//!
//! Used by `tests/it/differential.rs` (a fixed seed in the test suite) and by
//! `cargo xtask differential` (long runs). Not part of the product: hidden from the docs.

use crate::check::portability;
use crate::check::variables::Site;
use crate::diagnostic::Code;
use crate::render::Compiled;
use crate::syntax::prompt::{Type, Variable};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

mod compare;
mod engines;
mod generate;
mod known;

pub use compare::*;
pub use engines::*;
pub use generate::*;
pub use known::*;

// ------------------------------------------------------------------------------------------------
// The random source.

/// splitmix64: small, fast, and the same sequence on every platform.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ------------------------------------------------------------------------------------------------
// The generated template: a tree, so that it can be minimised piece by piece.

/// `~` on the two sides of a tag.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Strip {
    pub open: bool,
    pub close: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Text(String),
    /// `{{expr}}`, `{{{expr}}}` or `{{&expr}}`; `pad` puts spaces inside the braces.
    Print {
        expr: String,
        style: Style,
        strip: Strip,
        pad: bool,
    },
    Comment {
        body: String,
        long: bool,
        strip: Strip,
    },
    Block(Block),
    /// Outside the supported subset (a partial, a raw block, a hash argument…): promptctl must
    /// refuse it.
    Unsupported(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    Double,
    Triple,
    Ampersand,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub helper: &'static str,
    pub arg: String,
    pub params: Vec<String>,
    pub open: Strip,
    pub body: Vec<Piece>,
    /// `{{else if …}}` links.
    pub links: Vec<Link>,
    pub inverse: Option<Inverse>,
    pub close: Strip,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub helper: &'static str,
    pub arg: String,
    pub strip: Strip,
    pub body: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Inverse {
    pub strip: Strip,
    /// `{{^}}` instead of `{{else}}`.
    pub caret: bool,
    pub body: Vec<Piece>,
}

/// One generated case.
#[derive(Clone, Debug)]
pub struct Case {
    pub pieces: Vec<Piece>,
    pub vars: Value,
}

impl Case {
    pub fn template(&self) -> String {
        let mut out = String::new();
        write_pieces(&mut out, &self.pieces);
        out
    }

    /// Whether the case holds a construct outside the supported subset.
    pub fn unsupported(&self) -> bool {
        fn any(pieces: &[Piece]) -> bool {
            pieces.iter().any(|piece| match piece {
                Piece::Unsupported(_) => true,
                Piece::Block(block) => {
                    any(&block.body)
                        || block.links.iter().any(|link| any(&link.body))
                        || block.inverse.as_ref().is_some_and(|inverse| any(&inverse.body))
                }
                _ => false,
            })
        }
        any(&self.pieces)
    }
}

fn tag(out: &mut String, strip: Strip, inner: &str) {
    out.push_str("{{");
    if strip.open {
        out.push('~');
    }
    out.push_str(inner);
    if strip.close {
        out.push('~');
    }
    out.push_str("}}");
}

fn call(helper: &str, arg: &str, params: &[String]) -> String {
    let mut text = format!("{helper} {arg}");
    if !params.is_empty() {
        let _ = write!(text, " as |{}|", params.join(" "));
    }
    text
}

fn write_pieces(out: &mut String, pieces: &[Piece]) {
    for piece in pieces {
        match piece {
            Piece::Text(text) | Piece::Unsupported(text) => out.push_str(text),
            Piece::Print { expr, style, strip, pad } => {
                let expr = if *pad { format!(" {expr} ") } else { expr.clone() };
                match style {
                    Style::Double => tag(out, *strip, &expr),
                    Style::Ampersand => tag(out, *strip, &format!("&{expr}")),
                    Style::Triple => tag(out, *strip, &format!("{{{expr}}}")),
                }
            }
            Piece::Comment { body, long, strip } => {
                if *long {
                    tag(out, *strip, &format!("!--{body}--"));
                } else {
                    tag(out, *strip, &format!("!{body}"));
                }
            }
            Piece::Block(block) => {
                tag(
                    out,
                    block.open,
                    &format!("#{}", call(block.helper, &block.arg, &block.params)),
                );
                write_pieces(out, &block.body);
                for link in &block.links {
                    tag(out, link.strip, &format!("else {}", call(link.helper, &link.arg, &[])));
                    write_pieces(out, &link.body);
                }
                if let Some(inverse) = &block.inverse {
                    tag(out, inverse.strip, if inverse.caret { "^" } else { "else" });
                    write_pieces(out, &inverse.body);
                }
                tag(out, block.close, &format!("/{}", block.helper));
            }
        }
    }
}
