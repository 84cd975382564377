//! Diagnostics as data: problems found in user files, with a stable code, a severity and a span.
//! This module only describes them; rendering lives in `report`, and nothing here does I/O.

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How bad a diagnostic is. Errors make `check` exit 1; warnings are printed and exit 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($($variant:ident => $text:literal, $severity:ident, $summary:literal;)*) => {
        /// The stable identifier of a rule. The string form (`variables/undeclared`) is a contract:
        /// it appears in JSON output, in suppressions and in `docs/diagnostics.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($variant,)* }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }

            /// The severity this rule reports with.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity,)* }
            }

            /// One line saying what the rule is about, for listings and SARIF rule help.
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary,)* }
            }

            pub fn parse(text: &str) -> Option<Code> {
                match text { $($text => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    SyntaxToml => "syntax/toml", Error, "a TOML file (prompt.toml, front matter, prompts.lock) does not parse or has an unknown key or a wrong type";
    SyntaxFrontMatter => "syntax/front-matter", Error, "a version file does not start with a `+++` line or its front matter is never closed";
    SyntaxTemplate => "syntax/template", Error, "a Handlebars template does not parse";
    SyntaxUnsupported => "syntax/unsupported", Error, "a Handlebars construct outside the portable subset promptctl renders";
    SyntaxNesting => "syntax/nesting", Error, "blocks in a template, or tables and arrays in a TOML file, nest deeper than the limit every walk over them is bounded by";
    SyntaxEncoding => "syntax/encoding", Error, "a file is not valid UTF-8";
    VariablesUndeclared => "variables/undeclared", Error, "a template uses a variable or field that its front matter does not declare";
    VariablesUnused => "variables/unused", Warning, "a declared variable is never used by the template";
    VariablesFieldOnScalar => "variables/field-on-scalar", Error, "a field or index is read from a string, number, boolean or enum";
    VariablesNotScalar => "variables/not-scalar", Error, "an array or object is printed directly instead of iterated";
    VariablesNotIterable => "variables/not-iterable", Error, "`#each` is given something that is not an array or object, or `#with` something that is not an object";
    VariablesUnknownHelper => "variables/unknown-helper", Error, "a helper that does not exist is called";
    VariablesHelperArgs => "variables/helper-args", Error, "a helper is called with the wrong number of arguments";
    VariablesScope => "variables/scope", Error, "`../`, `@index`, `@key`, `@first` or `@last` used where no enclosing block provides it";
    VariablesInvalidSpec => "variables/invalid-spec", Error, "a variable's type declaration is incomplete or contradictory";
    VariablesUnguardedOptional => "variables/unguarded-optional", Warning, "an optional variable is printed without an `#if` guard, so rendering fails when it is absent";
    TestsUnknownVar => "tests/unknown-var", Error, "a test passes a variable the version does not declare";
    TestsMissingVar => "tests/missing-var", Error, "a test does not pass a required variable";
    TestsType => "tests/type", Error, "a test passes a value of the wrong type, or one that breaks `max_len` or an enum's values";
    TestsRender => "tests/render", Error, "a test's template fails to render in strict mode";
    TestsContains => "tests/contains", Error, "the rendered text lacks a string listed in `contains`";
    TestsNotContains => "tests/not-contains", Error, "the rendered text holds a string listed in `not_contains`";
    TestsMaxChars => "tests/max-chars", Error, "the rendered text is longer than `max_chars`";
    TestsSnapshot => "tests/snapshot", Error, "the rendered text differs from its snapshot, or the snapshot is missing";
    TestsUnknownVersion => "tests/unknown-version", Error, "a test targets a version that does not exist";
    TestsDuplicateName => "tests/duplicate-name", Error, "two tests of one prompt have the same name";
    RenderUnknownVar => "render/unknown-var", Error, "`promptctl render` is given a variable the version does not declare";
    RenderMissingVar => "render/missing-var", Error, "`promptctl render` is not given a required variable";
    RenderType => "render/type", Error, "`promptctl render` is given a value of the wrong type for its declaration";
    RenderFailed => "render/failed", Error, "the version fails to render in strict mode with the given vars";
    StructureName => "structure/name", Error, "a prompt folder's name is not a valid prompt name";
    StructureVersionFile => "structure/version-file", Error, "a file in a prompt folder is not `prompt.toml` or a `v<N>.prompt` version";
    StructureVersionGap => "structure/version-gap", Error, "versions are not numbered 1..N without gaps";
    StructureNoVersions => "structure/no-versions", Error, "a prompt has no version file";
    StructureMissingManifest => "structure/missing-manifest", Error, "a prompt folder has no `prompt.toml`";
    StructureActivation => "structure/activation", Error, "an environment activates a version that does not exist";
    StructureUnknownEnvironment => "structure/unknown-environment", Error, "`[activate]` names an environment that `promptctl.toml` does not declare";
    StructureCanary => "structure/canary", Error, "an `[activate]` canary names the version its environment already serves, or a version that does not exist";
    StructureCanaryContract => "structure/canary-contract", Error, "a canary's variables break callers of the stable version: a variable removed, retyped or newly required";
    StructureSizeLimit => "structure/size-limit", Error, "a template body is larger than `max_template_bytes`, or a file larger than the limit for its kind";
    StructureEmptyTemplate => "structure/empty-template", Error, "a template body is empty or only whitespace";
    StructureFileType => "structure/file-type", Error, "a path promptctl reads is a FIFO, a device, a socket or a folder instead of a regular file";
    StructureSymlink => "structure/symlink", Error, "a symbolic link points outside the repository";
    SeedFile => "seed/file", Error, "the legacy file of `[seed]` is missing, unreadable, not UTF-8 or outside the repository";
    SeedExtract => "seed/extract", Error, "the `[seed]` extraction (markers, line range, JSON pointer, TOML key) does not find exactly one text";
    SeedUnescape => "seed/unescape", Error, "the extracted literal has an escape its language does not allow";
    SeedVersion => "seed/version", Error, "`[seed]` names a version that does not exist";
    SeedDrift => "seed/drift", Error, "the seed version, rendered with the seed vars, differs from the legacy text";
    SecuritySecret => "security/secret", Error, "a file holds what looks like a credential: an API key, a token, a private key or a high-entropy password";
    SecurityBidi => "security/bidi", Error, "a bidirectional control character makes the text display in another order than the model reads it";
    SecurityInvisible => "security/invisible", Error, "a zero-width or otherwise invisible character hides in the text";
    SecurityTagCharacters => "security/tag-characters", Error, "invisible Unicode tag characters carry hidden ASCII text";
    SecurityVariationSelector => "security/variation-selector", Error, "a variation selector follows a character that takes none, or several follow each other (a channel for hidden bytes)";
    SecurityControl => "security/control", Error, "a C0 or C1 control character other than newline and tab";
    SecurityPrivateUse => "security/private-use", Error, "a private-use character, whose meaning depends on the font or the program";
    SecurityCarriageReturn => "security/carriage-return", Error, "a carriage return (CRLF line endings or a lone CR)";
    SecurityBom => "security/bom", Error, "a file starts with a byte-order mark";
    SecurityInjection => "security/injection", Error, "user-sourced variables are interpolated and none of them is inside a delimiter (a tag pair or a fenced block)";
    SecurityInjectionUndelimited => "security/injection-undelimited", Warning, "a user-sourced variable is interpolated outside a delimiter, while others are delimited";
    SecuritySuppression => "security/suppression", Error, "a `promptctl-allow` comment has no reason or names a code it cannot suppress";
    LockModified => "lock/modified", Error, "a locked version's bytes changed";
    LockDeleted => "lock/deleted", Error, "a locked version's file was deleted";
    LockRenamed => "lock/renamed", Error, "a locked version's file was moved or renamed";
    LockUnlocked => "lock/unlocked", Warning, "an activated version is not yet recorded in `prompts.lock`";
    PortabilityAdjacentNumbers => "portability/adjacent-numbers", Warning, "two numbers are printed with nothing between them, which handlebars.js adds up instead of joining";
    PortabilityNumberFormat => "portability/number-format", Warning, "a `number` is printed, and Handlebars implementations format fractions and large numbers differently";
    PortabilityObjectIteration => "portability/object-iteration", Warning, "`#each` iterates an object, whose key order differs between Handlebars implementations";
    PortabilityLength => "portability/length", Warning, "`.length` is a JavaScript property that other Handlebars implementations do not have";
    PortabilityUnguardedEach => "portability/unguarded-each", Warning, "`#each` or `#with` without `{{else}}` is given an optional value, which some implementations reject in strict mode when it is absent";
    EvalInvalid => "eval/invalid", Error, "an `[[eval]]` table is contradictory or out of range: two case sources, `repeat` below 1, an assertion with no kind or two, a threshold outside 0–1";
    EvalDuplicateName => "eval/duplicate-name", Error, "two `[[eval]]` tables of one prompt have the same name";
    EvalModel => "eval/model", Error, "an eval or assertion names a model `[models]` does not declare, an embeddings model whose provider has no embeddings API, or none can be resolved";
    EvalVersion => "eval/version", Error, "an eval names a version that does not exist";
    EvalTest => "eval/test", Error, "an eval's `test` names no `[[test]]` of the prompt";
    EvalDataset => "eval/dataset", Error, "an eval's dataset is missing, too large, or has a row that does not parse";
    EvalCase => "eval/case", Error, "a case of an eval passes vars that do not type-check against a version's contract, or do not render";
    EvalAssert => "eval/assert", Error, "an assertion's regex does not compile, or its JSON Schema file is missing or not a schema";
    EvalJudge => "eval/judge", Error, "the judge prompt of a `judge` assertion does not exist or does not declare `rubric` and `output`";
    EvalRecorded => "eval/recorded", Error, "a recorded answer of `evals/recorded/` is not an answer file, or its key is not the one its name is the digest of (it was edited or renamed)";
    LintsInvalid => "lints/invalid", Error, "a `[lints]` level or a `[[suppress]]` entry of prompt.toml is invalid: an unknown code or group, a level other than allow, warn or deny, a code that can never be allowed, or a suppression without a reason";
    LintsUnusedSuppression => "lints/unused-suppression", Warning, "a `[[suppress]]` entry of prompt.toml matches no diagnostic, so it silences nothing";
}

/// A 1-based line and column (columns count Unicode scalar values, as editors do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// Where a diagnostic points: a byte range in a file plus its line/column form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub bytes: Range<usize>,
    pub start: Position,
    pub end: Position,
}

impl Location {
    /// Computes line and column of a byte range in `text`. Offsets past the end are clamped, and
    /// an offset inside a multi-byte character is moved back to its start.
    pub fn in_text(text: &str, bytes: Range<usize>) -> Location {
        let start = clamp_to_char(text, bytes.start);
        let end = clamp_to_char(text, bytes.end.max(start));
        Location { start: position(text, start), end: position(text, end), bytes: start..end }
    }
}

fn clamp_to_char(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fn position(text: &str, offset: usize) -> Position {
    let before = &text[..offset];
    let line = memchr::memchr_iter(b'\n', before.as_bytes()).count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    Position { line: line as u32, column: column as u32 }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    /// Path relative to the repository root, with `/` separators.
    pub file: String,
    /// `None` for problems about a whole file (a missing file, an unreadable one).
    pub location: Option<Location>,
    pub message: String,
    /// The short text under the caret in the human rendering.
    pub label: Option<String>,
    /// What to do about it.
    pub help: Option<String>,
    /// A longer attachment printed after the snippet (a diff, for instance).
    pub note: Option<String>,
}

/// The most bytes of one line of a message, label, help or note: longer lines (a quoted template
/// line of megabytes, say) are cut, so that no input makes a diagnostic large in any format.
pub const MAX_LINE_BYTES: usize = 400;
/// The most lines of a note (a diff); a message, label or help keeps at most 8.
pub const MAX_NOTE_LINES: usize = 200;

/// `text` with each line cut to `MAX_LINE_BYTES` and at most `max_lines` lines, saying what was
/// left out. Text within the bounds is returned as is.
pub fn bounded(text: String, max_lines: usize) -> String {
    let within = text.len() <= MAX_LINE_BYTES
        || (text.lines().count() <= max_lines && text.lines().all(|l| l.len() <= MAX_LINE_BYTES));
    if within {
        return text;
    }
    let mut out = String::with_capacity(MAX_LINE_BYTES * max_lines.min(16));
    let total = text.lines().count();
    for (index, line) in text.lines().enumerate() {
        if index == max_lines {
            out.push_str(&format!("… {} more lines\n", total - max_lines));
            break;
        }
        if line.len() > MAX_LINE_BYTES {
            let cut = clamp_to_char(line, MAX_LINE_BYTES);
            out.push_str(&line[..cut]);
            out.push_str(&format!("… ({} more bytes)", line.len() - cut));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !text.ends_with('\n') {
        out.pop();
    }
    out
}

/// The most lines of a message, label or help.
const MAX_TEXT_LINES: usize = 8;

impl Diagnostic {
    pub fn new(code: Code, file: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            file: file.into(),
            location: None,
            message: bounded(message.into(), MAX_TEXT_LINES),
            label: None,
            help: None,
            note: None,
        }
    }

    /// Points the diagnostic at `bytes` of `text` (the whole file's text).
    pub fn at(mut self, text: &str, bytes: Range<usize>) -> Diagnostic {
        self.location = Some(Location::in_text(text, bytes));
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(bounded(label.into(), MAX_TEXT_LINES));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(bounded(help.into(), MAX_TEXT_LINES));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.note = Some(bounded(note.into(), MAX_NOTE_LINES));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Orders diagnostics for output: by file, then position, then code.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        let a_key = (&a.file, a.location.as_ref().map(|l| l.start), a.code, &a.message);
        let b_key = (&b.file, b.location.as_ref().map(|l| l.start), b.code, &b.message);
        a_key.cmp(&b_key)
    });
}

/// "did you mean" for a misspelled name: the closest candidate that a typo could have produced,
/// or `None`. A candidate qualifies when it differs only in case, when the name is a prefix of it
/// (at least 3 characters: `prod` for `production`), or when their edit distance (insertions,
/// deletions, substitutions and swaps of two neighbours) is at most a third of the name's length
/// (at least 1), the threshold rustc uses. A different word sharing a suffix is not a typo:
/// `player_name` is 4 edits from `game_name`, over its threshold of 3.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let length = name.chars().count();
    if length == 0 {
        return None;
    }
    let threshold = length.max(3) / 3;
    candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .filter_map(|candidate| {
            let distance = if candidate.eq_ignore_ascii_case(name) {
                0
            } else if length >= 3 && candidate.starts_with(name) {
                1
            } else {
                strsim::osa_distance(name, candidate)
            };
            (distance <= threshold).then_some((distance, candidate))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "ab\ncé{{x}}\n";
        let location = Location::in_text(text, 6..11);
        assert_eq!(location.start, Position { line: 2, column: 3 });
        assert_eq!(location.end, Position { line: 2, column: 8 });
        let past_end = Location::in_text(text, 100..200);
        assert_eq!(past_end.start, Position { line: 3, column: 1 });
    }

    #[test]
    fn codes_round_trip() {
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(*code));
        }
    }

    #[test]
    fn suggestions_need_similarity() {
        assert_eq!(did_you_mean("gme_name", ["game_name", "context"]), Some("game_name"));
        assert_eq!(did_you_mean("zzz", ["game_name", "context"]), None);
        // A new variable that shares a word with a declared one is not a typo of it.
        assert_eq!(did_you_mean("player_name", ["game_name", "name"]), None);
        assert_eq!(did_you_mean("user_id", ["user_name"]), None);
        for (typo, meant) in [
            ("plaec", "place"),
            ("nick_name", "nickname"),
            ("iff", "if"),
            ("owner", "owners"),
            ("prod", "production"),
            ("prodution", "production"),
            ("nmae", "name"),
            ("strng", "string"),
            ("test/type", "tests/type"),
            ("Name", "name"),
        ] {
            assert_eq!(did_you_mean(typo, [meant, "unrelated"]), Some(meant), "{typo}");
        }
        // The closest wins, and the name itself is never suggested.
        assert_eq!(did_you_mean("gret", ["great", "greet", "gret"]), Some("great"));
        assert_eq!(did_you_mean("ab", ["abc"]), Some("abc"));
        assert_eq!(did_you_mean("", ["a"]), None);
    }
}
