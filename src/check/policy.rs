//! The lint policy: levels (`[lints]` in promptctl.toml and in a prompt.toml) and the reasoned
//! suppressions of a prompt.toml (`[[suppress]]`), applied to one prompt's diagnostics after every
//! rule ran. A level changes a code's severity (`warn`, `deny`) or silences it (`allow`); a
//! suppression silences one code in the prompt's files (optionally one version, one line) without
//! editing them, so a locked version never changes to silence a lint. Nothing silenced is lost: it
//! is kept apart (`Silenced`), counted in the summary and listed by `--format json`.
//! `NEVER_ALLOWED` lists the codes no level can lower (docs/diagnostics.md holds the same table).

use crate::diagnostic::{did_you_mean, Code, Diagnostic, Severity};
use crate::syntax::lints::SuppressSpec;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// A lint level, as clippy's: `allow` silences, `warn` reports a warning, `deny` an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Allow,
    Warn,
    Deny,
}

impl Level {
    pub const NAMES: [&'static str; 3] = ["allow", "warn", "deny"];

    pub fn parse(text: &str) -> Option<Level> {
        match text {
            "allow" => Some(Level::Allow),
            "warn" => Some(Level::Warn),
            "deny" => Some(Level::Deny),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Level::NAMES[self as usize]
    }
}

/// The codes that no `[lints]` level can set to `allow` or `warn`: they stay errors. The flag says
/// whether one finding can still be suppressed, with a reason, by a `[[suppress]]` entry of its
/// prompt.toml (or, for `security/*`, a `promptctl-allow:` comment); the text says why.
/// docs/diagnostics.md lists the same codes in "Lint levels and suppressions" (a test compares).
pub const NEVER_ALLOWED: &[(Code, bool, &str)] = {
    const PARSE: &str = "the file cannot be read, so nothing else in it can be checked";
    const RENDER: &str = "the template fails to render, or its contract means nothing";
    const TEST: &str = "a test is an assertion written in prompt.toml: change or remove the test";
    const LAYOUT: &str = "`build` and the runtime rely on the prompt's layout";
    const SEED: &str = "the seed is a claim written in prompt.toml: change or remove `[seed]`";
    const LOCK: &str = "a locked version is immutable: restore it";
    const EVAL: &str = "an eval is a claim written in prompt.toml: change or remove the `[[eval]]`";
    &[
        (Code::SyntaxToml, false, PARSE),
        (Code::SyntaxFrontMatter, false, PARSE),
        (Code::SyntaxTemplate, false, PARSE),
        (Code::SyntaxUnsupported, false, PARSE),
        (Code::SyntaxNesting, false, PARSE),
        (Code::SyntaxEncoding, false, PARSE),
        (Code::VariablesUndeclared, false, RENDER),
        (Code::VariablesFieldOnScalar, false, RENDER),
        (Code::VariablesNotScalar, false, RENDER),
        (Code::VariablesNotIterable, false, RENDER),
        (Code::VariablesUnknownHelper, false, RENDER),
        (Code::VariablesHelperArgs, false, RENDER),
        (Code::VariablesScope, false, RENDER),
        (Code::VariablesInvalidSpec, false, RENDER),
        (Code::TestsUnknownVar, false, TEST),
        (Code::TestsMissingVar, false, TEST),
        (Code::TestsType, false, TEST),
        (Code::TestsRender, false, TEST),
        (Code::TestsContains, false, TEST),
        (Code::TestsNotContains, false, TEST),
        (Code::TestsMaxChars, false, TEST),
        (Code::TestsSnapshot, false, TEST),
        (Code::TestsUnknownVersion, false, TEST),
        (Code::TestsDuplicateName, false, TEST),
        (Code::RenderUnknownVar, false, RENDER),
        (Code::RenderMissingVar, false, RENDER),
        (Code::RenderType, false, RENDER),
        (Code::RenderFailed, false, RENDER),
        (Code::StructureName, false, LAYOUT),
        (Code::StructureVersionFile, false, LAYOUT),
        (Code::StructureVersionGap, false, LAYOUT),
        (Code::StructureNoVersions, false, LAYOUT),
        (Code::StructureMissingManifest, false, LAYOUT),
        (Code::StructureActivation, false, LAYOUT),
        (Code::StructureUnknownEnvironment, false, LAYOUT),
        (Code::StructureCanary, false, LAYOUT),
        (Code::StructureSizeLimit, false, LAYOUT),
        (Code::StructureEmptyTemplate, false, LAYOUT),
        (Code::StructureFileType, false, LAYOUT),
        (Code::StructureSymlink, false, LAYOUT),
        (Code::SeedFile, false, SEED),
        (Code::SeedExtract, false, SEED),
        (Code::SeedUnescape, false, SEED),
        (Code::SeedVersion, false, SEED),
        (Code::SeedDrift, false, SEED),
        (Code::SecuritySecret, true, "a credential needs an explicit, audited suppression of that one finding, with a reason"),
        (Code::SecurityTagCharacters, true, "hidden ASCII text needs an explicit, audited suppression of that one finding, with a reason"),
        (Code::SecuritySuppression, false, "a suppression without a reason is the audit trail missing"),
        (Code::LockModified, false, LOCK),
        (Code::LockDeleted, false, LOCK),
        (Code::LockRenamed, false, LOCK),
        (Code::EvalInvalid, false, EVAL),
        (Code::EvalDuplicateName, false, EVAL),
        (Code::EvalModel, false, EVAL),
        (Code::EvalVersion, false, EVAL),
        (Code::EvalTest, false, EVAL),
        (Code::EvalDataset, false, EVAL),
        (Code::EvalCase, false, EVAL),
        (Code::EvalAssert, false, EVAL),
        (Code::EvalJudge, false, EVAL),
        (Code::EvalRecorded, false, "a recorded answer that does not replay records nothing: record it again"),
        (Code::LintsInvalid, false, "an invalid policy would silently apply another one"),
    ]
};

/// Whether `code` is in `NEVER_ALLOWED`, and if so whether a `[[suppress]]` entry may silence one
/// finding of it, and why it cannot be allowed.
pub fn never_allowed(code: Code) -> Option<(bool, &'static str)> {
    NEVER_ALLOWED.iter().find(|(c, _, _)| *c == code).map(|(_, s, why)| (*s, *why))
}

/// Whether a `[[suppress]]` entry may silence `code`: every code a level can allow, and the
/// never-allowed ones flagged so, except the `lints/*` codes about suppressions themselves.
pub fn suppressible(code: Code) -> bool {
    code.as_str().split('/').next() != Some("lints")
        && never_allowed(code).is_none_or(|(suppressible, _)| suppressible)
}

/// The groups: the part of the codes before `/` (`syntax`, `variables`, …), in code order.
pub fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for code in Code::ALL {
        let group = code.as_str().split('/').next().unwrap_or_default();
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

/// The key that sets every code at once, the least specific.
pub const ALL: &str = "all";

/// What a `[lints]` key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    All,
    Group(&'static str),
    Code(Code),
}

impl Target {
    fn parse(key: &str) -> Result<Target, (String, String)> {
        if key == ALL {
            return Ok(Target::All);
        }
        let groups = groups();
        if let Some(group) = groups.iter().find(|group| **group == key) {
            return Ok(Target::Group(group));
        }
        if let Some(code) = Code::parse(key) {
            return Ok(Target::Code(code));
        }
        let candidates = Code::ALL.iter().map(|c| c.as_str()).chain(groups).chain([ALL]);
        let help = match did_you_mean(key, candidates) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => format!(
                "a key is a code (`portability/length`), a group ({}) or `all`; `promptctl explain CODE` describes each code",
                groups_list()
            ),
        };
        Err((format!("`{key}` is not a diagnostic code or group"), help))
    }

    /// How specific it is: a code over a group over `all`.
    fn rank(self) -> u8 {
        match self {
            Target::Code(_) => 2,
            Target::Group(_) => 1,
            Target::All => 0,
        }
    }

    fn covers(self, code: Code) -> bool {
        match self {
            Target::All => true,
            Target::Group(group) => code.as_str().split('/').next() == Some(group),
            Target::Code(own) => own == code,
        }
    }
}

fn groups_list() -> String {
    groups().iter().map(|g| format!("`{g}`")).collect::<Vec<_>>().join(", ")
}

/// One valid `key = "level"` of a `[lints]` table.
#[derive(Debug, Clone)]
struct Setting {
    target: Target,
    key: String,
    level: Level,
}

/// A problem with a `[lints]` table or a `[[suppress]]` entry: where (a span of its file), what,
/// and what to do.
#[derive(Debug, Clone)]
pub struct Problem {
    pub span: Range<usize>,
    pub message: String,
    pub help: String,
}

/// One `[lints]` table, validated: the settings that apply, and where they are written.
#[derive(Debug, Clone, Default)]
pub struct Levels {
    settings: Vec<Setting>,
    /// The file the table is in, for the notes that say why a severity changed.
    origin: String,
    /// What was wrong with the table; the settings concerned are left out.
    pub problems: Vec<Problem>,
}

impl Levels {
    /// Reads `key = "level"` entries (with their spans) of the `[lints]` table of `origin`.
    pub fn parse(origin: &str, entries: &[(Spanned<String>, Spanned<String>)]) -> Levels {
        let mut levels = Levels { origin: origin.to_string(), ..Levels::default() };
        for (key, value) in entries {
            let target = match Target::parse(key.get_ref()) {
                Ok(target) => target,
                Err((message, help)) => {
                    levels.problems.push(Problem { span: key.span(), message, help });
                    continue;
                }
            };
            let Some(level) = Level::parse(value.get_ref()) else {
                let help = match did_you_mean(value.get_ref(), Level::NAMES) {
                    Some(suggestion) => format!("did you mean `\"{suggestion}\"`?"),
                    None => "a level is `\"allow\"`, `\"warn\"` or `\"deny\"`".into(),
                };
                levels.problems.push(Problem {
                    span: value.span(),
                    message: format!("`{}` is not a lint level", value.get_ref()),
                    help,
                });
                continue;
            };
            if level != Level::Deny {
                if let Some(problem) = refused(target, key.get_ref(), level) {
                    levels.problems.push(Problem { span: value.span(), ..problem });
                    continue;
                }
            }
            levels.settings.push(Setting { target, key: key.get_ref().clone(), level });
        }
        levels
    }

    /// The most specific setting that applies to `code`, if any. A never-allowed code takes only
    /// `deny` (a no-op: they are errors), so a group's or `all`'s `allow` passes it by.
    fn setting(&self, code: Code) -> Option<&Setting> {
        let fixed = never_allowed(code).is_some();
        self.settings
            .iter()
            .filter(|s| s.target.covers(code) && !(fixed && s.level != Level::Deny))
            .max_by_key(|s| s.target.rank())
    }
}

/// Why `level` (`allow` or `warn`) cannot be set on `target`, if it cannot.
fn refused(target: Target, key: &str, level: Level) -> Option<Problem> {
    let level = level.as_str();
    match target {
        Target::Code(code) => {
            let (suppressible, why) = never_allowed(code)?;
            let help = if suppressible {
                format!("{why}: add `[[suppress]]` with `code = \"{key}\"`, the `version` and `line` of the finding and a `reason` to its prompt.toml")
            } else {
                format!("{why}; see `promptctl explain {key}`")
            };
            Some(Problem {
                span: 0..0,
                message: format!("`{key}` can never be set to `{level}`"),
                help,
            })
        }
        Target::Group(group) => {
            let any = Code::ALL.iter().any(|c| target.covers(*c) && never_allowed(*c).is_none());
            (!any).then(|| Problem {
                span: 0..0,
                message: format!("no code of the group `{group}` can be set to `{level}`"),
                help: "these codes are errors that must be fixed; docs/diagnostics.md lists the codes no level can lower".into(),
            })
        }
        Target::All => None,
    }
}

/// `[lints]` of promptctl.toml as deserialized: the entries with their spans, read into `Levels`
/// by `config::load` (which refuses a file with problems) and by whatever else reads a
/// `Config` (which leaves the invalid entries out).
#[derive(Debug, Clone, Default)]
pub struct ProjectLints(pub Levels);

impl<'de> Deserialize<'de> for ProjectLints {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = BTreeMap::<Spanned<String>, Spanned<String>>::deserialize(deserializer)?;
        let mut entries: Vec<_> = entries.into_iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        Ok(ProjectLints(Levels::parse(crate::config::FILE_NAME, &entries)))
    }
}

/// How a diagnostic was silenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SilencedBy {
    /// A level of `allow`: the setting as written (`portability = "allow"`) and its file.
    Allowed { setting: String, file: String },
    /// A `[[suppress]]` entry: its reason, and where it is (`prompts/x/prompt.toml:12`).
    Suppressed { reason: String, at: String },
}

/// A diagnostic that the policy silenced: not printed, not counted as an error or a warning, but
/// counted in the summary and listed by `--format json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silenced {
    pub diagnostic: Diagnostic,
    pub by: SilencedBy,
}

/// A prompt's files, as the suppressions of its prompt.toml address them.
pub struct PromptScope<'a> {
    /// (number, path) of every version file.
    pub versions: Vec<(u32, &'a str)>,
    /// The prompt.toml: its path, its text, and its `[lints]` and `[[suppress]]` entries (`None`
    /// when it is missing or does not parse).
    pub manifest: Option<ManifestLints<'a>>,
}

pub struct ManifestLints<'a> {
    pub path: &'a str,
    pub text: &'a str,
    pub lints: &'a [(Spanned<String>, Spanned<String>)],
    pub suppress: &'a [Spanned<SuppressSpec>],
}

/// A valid `[[suppress]]` entry.
struct Suppression<'a> {
    code: Code,
    /// The file it is limited to (`version`), or none: every file of the prompt.
    file: Option<&'a str>,
    line: Option<u32>,
    reason: &'a str,
    span: Range<usize>,
    used: bool,
}

/// Applies the project's levels, then the prompt's own `[lints]` and `[[suppress]]`, to the
/// diagnostics of one prompt: returns the silenced ones and leaves the others, with their
/// severities set, in `diagnostics` (with the problems of the prompt's tables added).
pub fn apply(
    project: &Levels,
    scope: &PromptScope,
    is_root_cause: impl Fn(Code) -> bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Silenced> {
    let mut own = Levels::default();
    let mut suppressions = Vec::new();
    if let Some(manifest) = &scope.manifest {
        own = Levels::parse(manifest.path, manifest.lints);
        for problem in std::mem::take(&mut own.problems) {
            diagnostics.push(invalid(manifest, problem.span, problem.message, problem.help));
        }
        suppressions = read_suppressions(manifest, scope, diagnostics);
    }
    let mut silenced = Vec::new();
    let mut kept = Vec::with_capacity(diagnostics.len());
    for diagnostic in diagnostics.drain(..) {
        if let Some(found) = suppressions.iter_mut().find(|s| s.matches(&diagnostic)) {
            found.used = true;
            let manifest = scope.manifest.as_ref().map_or("", |m| m.path);
            let line = crate::text::line_of(
                scope.manifest.as_ref().map_or("", |m| m.text),
                found.span.start,
            );
            let by = SilencedBy::Suppressed {
                reason: found.reason.to_string(),
                at: format!("{manifest}:{line}"),
            };
            silenced.push(Silenced { diagnostic, by });
            continue;
        }
        match leveled(diagnostic, &own, project) {
            Leveled::Kept(diagnostic) => kept.push(diagnostic),
            Leveled::Allowed(allowed) => silenced.push(allowed),
        }
    }
    *diagnostics = kept;
    if let Some(manifest) = &scope.manifest {
        for suppression in suppressions.iter().filter(|s| !s.used) {
            // A version that does not parse, or was edited after it was locked, reports only that:
            // its suppressions wait until it is fixed.
            let blocked = diagnostics.iter().any(|d| {
                is_root_cause(d.code)
                    && suppression.file.is_none_or(|file| d.file == file)
                    && d.file != manifest.path
            });
            if blocked {
                continue;
            }
            let unused = Diagnostic::new(
                Code::LintsUnusedSuppression,
                manifest.path,
                format!(
                    "this suppression of `{}` matches no diagnostic",
                    suppression.code.as_str()
                ),
            )
            .at(manifest.text, suppression.span.clone())
            .label("suppresses nothing")
            .help("delete it, or correct its `version` and `line` if the finding moved");
            // The warning about suppressions takes the levels too (never a suppression).
            match leveled(unused, &own, project) {
                Leveled::Kept(unused) => diagnostics.push(unused),
                Leveled::Allowed(allowed) => silenced.push(allowed),
            }
        }
    }
    silenced
}

/// `diagnostic` at the level the prompt's settings (`own`), else the project's, give its code:
/// with its severity set (and a note saying which setting changed it), or silenced by `allow`.
fn leveled(mut diagnostic: Diagnostic, own: &Levels, project: &Levels) -> Leveled {
    let found = own
        .setting(diagnostic.code)
        .map(|s| (s, &own.origin))
        .or_else(|| project.setting(diagnostic.code).map(|s| (s, &project.origin)));
    let Some((setting, origin)) = found else { return Leveled::Kept(diagnostic) };
    let written = format!("{} = \"{}\"", quoted_key(&setting.key), setting.level.as_str());
    let severity = match setting.level {
        Level::Allow => {
            let by = SilencedBy::Allowed { setting: written, file: origin.clone() };
            return Leveled::Allowed(Silenced { diagnostic, by });
        }
        Level::Warn => Severity::Warning,
        Level::Deny => Severity::Error,
    };
    if severity != diagnostic.severity {
        diagnostic.severity = severity;
        let what = if severity == Severity::Error { "an error" } else { "a warning" };
        add_note(&mut diagnostic, format!("made {what} by `{written}` in `[lints]` of {origin}"));
    }
    Leveled::Kept(diagnostic)
}

/// What `leveled` made of a diagnostic.
enum Leveled {
    Kept(Diagnostic),
    Allowed(Silenced),
}

/// A `[lints]` key as TOML needs it written: codes hold `/`, so they are quoted.
fn quoted_key(key: &str) -> String {
    if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        key.to_string()
    } else {
        format!("\"{key}\"")
    }
}

fn add_note(diagnostic: &mut Diagnostic, note: String) {
    let note = match diagnostic.note.take() {
        Some(existing) => format!("{existing}\n{note}"),
        None => note,
    };
    diagnostic.note = Some(crate::diagnostic::bounded(note, crate::diagnostic::MAX_NOTE_LINES));
}

fn invalid(
    manifest: &ManifestLints,
    span: Range<usize>,
    message: String,
    help: String,
) -> Diagnostic {
    Diagnostic::new(Code::LintsInvalid, manifest.path, message)
        .at(manifest.text, span)
        .label("not applied")
        .help(help)
}

impl Suppression<'_> {
    fn matches(&self, diagnostic: &Diagnostic) -> bool {
        diagnostic.code == self.code
            && self.file.is_none_or(|file| diagnostic.file == file)
            && self.line.is_none_or(|line| {
                diagnostic
                    .location
                    .as_ref()
                    .is_some_and(|l| l.start.line <= line && line <= l.end.line)
            })
    }
}

/// The valid `[[suppress]]` entries; a problem with one is a `lints/invalid` and leaves it out.
fn read_suppressions<'a>(
    manifest: &ManifestLints<'a>,
    scope: &PromptScope<'a>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Suppression<'a>> {
    let mut valid = Vec::new();
    for entry in manifest.suppress {
        let spec = entry.get_ref();
        let name = spec.code.get_ref();
        let code = match Code::parse(name) {
            Some(code) if suppressible(code) => code,
            Some(code) => {
                let why = never_allowed(code)
                    .map_or("it is about the lint policy itself".to_string(), |(_, why)| {
                        format!("{why}; see `promptctl explain {name}`")
                    });
                let message = format!("`{name}` cannot be suppressed");
                diagnostics.push(invalid(manifest, spec.code.span(), message, why));
                continue;
            }
            None => {
                let candidates = Code::ALL.iter().copied().filter(|c| suppressible(*c));
                let help = match did_you_mean(name, candidates.map(Code::as_str)) {
                    Some(suggestion) => format!("did you mean `{suggestion}`?"),
                    None => "name the code the diagnostic shows, e.g. `portability/length`".into(),
                };
                let message = format!("`{name}` is not a diagnostic code");
                diagnostics.push(invalid(manifest, spec.code.span(), message, help));
                continue;
            }
        };
        let reason = spec.reason.as_ref().map(|r| r.get_ref().trim()).unwrap_or_default();
        if reason.is_empty() {
            let span = spec.reason.as_ref().map_or(entry.span(), |r| r.span());
            let message = format!("the suppression of `{name}` gives no reason");
            let help =
                "say why it is safe, e.g. `reason = \"…\"`; until then it suppresses nothing";
            diagnostics.push(invalid(manifest, span, message, help.into()));
            continue;
        }
        let file = match &spec.version {
            None => None,
            Some(version) => {
                let number = *version.get_ref();
                match scope.versions.iter().find(|(n, _)| i64::from(*n) == number) {
                    Some((_, path)) => Some(*path),
                    None => {
                        let latest = scope.versions.iter().map(|(n, _)| *n).max().unwrap_or(0);
                        let message =
                            format!("the suppression names version {number}, which does not exist");
                        let help = format!(
                            "the versions are 1..{latest}; leave `version` out to cover them all"
                        );
                        diagnostics.push(invalid(manifest, version.span(), message, help));
                        continue;
                    }
                }
            }
        };
        let line = match &spec.line {
            None => None,
            Some(line) => match u32::try_from(*line.get_ref()) {
                Ok(number) if number >= 1 => Some(number),
                _ => {
                    let message = format!("line {} does not exist", line.get_ref());
                    let help =
                        "lines are numbered from 1, as in the diagnostic's `file:line:column`";
                    diagnostics.push(invalid(manifest, line.span(), message, help.into()));
                    continue;
                }
            },
        };
        valid.push(Suppression { code, file, line, reason, span: entry.span(), used: false });
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> Vec<(Spanned<String>, Spanned<String>)> {
        pairs
            .iter()
            .map(|(k, v)| (Spanned::new(0..1, k.to_string()), Spanned::new(2..3, v.to_string())))
            .collect()
    }

    #[test]
    fn the_most_specific_setting_wins() {
        let levels = Levels::parse(
            "promptctl.toml",
            &entries(&[("all", "deny"), ("portability", "allow"), ("portability/length", "warn")]),
        );
        assert!(levels.problems.is_empty());
        let level = |code| levels.setting(code).map(|s| s.level);
        assert_eq!(level(Code::PortabilityLength), Some(Level::Warn));
        assert_eq!(level(Code::PortabilityNumberFormat), Some(Level::Allow));
        assert_eq!(level(Code::VariablesUnused), Some(Level::Deny));
        // A never-allowed code ignores a group's `allow`.
        let security = Levels::parse("p", &entries(&[("security", "allow")]));
        assert!(security.problems.is_empty());
        assert!(security.setting(Code::SecuritySecret).is_none());
        assert_eq!(security.setting(Code::SecurityBom).map(|s| s.level), Some(Level::Allow));
    }

    #[test]
    fn problems_are_reported() {
        let levels = Levels::parse(
            "p",
            &entries(&[
                ("portabilty", "allow"),
                ("security/secret", "allow"),
                ("syntax", "warn"),
                ("lock", "deny"),
                ("variables", "alow"),
            ]),
        );
        let messages: Vec<&str> = levels.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`portabilty` is not a diagnostic code or group",
                "`security/secret` can never be set to `allow`",
                "no code of the group `syntax` can be set to `warn`",
                "`alow` is not a lint level",
            ]
        );
        assert_eq!(levels.problems[0].help, "did you mean `portability`?");
        assert_eq!(levels.settings.len(), 1);
    }

    #[test]
    fn never_allowed_codes_are_errors_and_listed_once() {
        for (index, (code, _, _)) in NEVER_ALLOWED.iter().enumerate() {
            assert_eq!(code.severity(), Severity::Error, "{}", code.as_str());
            assert!(!NEVER_ALLOWED[..index].iter().any(|(c, _, _)| c == code));
        }
        assert!(suppressible(Code::SecuritySecret));
        assert!(suppressible(Code::PortabilityLength));
        assert!(!suppressible(Code::LockModified));
        assert!(!suppressible(Code::LintsUnusedSuppression));
    }
}
