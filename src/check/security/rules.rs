//! Secret rules written as data, in gitleaks' TOML format: the built-in table (`builtin.toml`,
//! embedded) and a project's own rules file (`[security] rules = "FILE"` in promptctl.toml, read by
//! `config` and handed here as text). Parsing never panics: a file that is not TOML, names an
//! unknown key or holds a regex that does not compile (or is over the size limit) is a
//! `RulesError` with its line and column.
//!
//! Behaviour follows gitleaks: a rule runs when one of its `keywords` occurs in the text (any case;
//! no keywords: always), its `regex` is searched in the whole text, the secret is the capture group
//! `secretGroup` (else the first non-empty group, else the whole match), it must have more Shannon
//! entropy than `entropy`, and no allowlist of the rule or of the file may match it.

use super::secrets::{entropy, is_placeholder, Rule, Secret};
use aho_corasick::AhoCorasick;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use std::sync::{Arc, LazyLock, RwLock};
use toml::Spanned;

/// The built-in rules kept as data (the others, whose checks are code, are `secrets::Rule`).
const BUILTIN: &str = include_str!("builtin.toml");

/// At most this many rules in a file, and this many bytes of compiled program per regex.
pub const MAX_RULES: usize = 1000;
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// At most this many matches of one rule in one text are looked at.
const MAX_MATCHES: usize = 1000;

/// A rules file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    #[allow(dead_code)]
    title: Option<String>,
    #[serde(default, rename = "minVersion")]
    #[allow(dead_code)]
    min_version: Option<String>,
    #[serde(default)]
    extend: Option<RawExtend>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    allowlist: Option<RawAllowlist>,
    #[serde(default)]
    allowlists: Vec<RawAllowlist>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtend {
    #[serde(default, rename = "useDefault")]
    use_default: bool,
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default, rename = "url")]
    url: Option<Spanned<String>>,
    #[serde(default, rename = "disabledRules")]
    disabled_rules: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    regex: Option<Spanned<String>>,
    #[serde(default, rename = "secretGroup")]
    secret_group: Option<Spanned<usize>>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    tags: Vec<String>,
    #[serde(default, rename = "skipReport")]
    #[allow(dead_code)]
    skip_report: bool,
    #[serde(default)]
    allowlist: Option<RawAllowlist>,
    #[serde(default)]
    allowlists: Vec<RawAllowlist>,
    #[serde(default)]
    required: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowlist {
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    condition: Option<Spanned<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    commits: Vec<String>,
    #[serde(default)]
    paths: Vec<Spanned<String>>,
    #[serde(default, rename = "regexTarget")]
    regex_target: Option<Spanned<String>>,
    #[serde(default)]
    regexes: Vec<Spanned<String>>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default, rename = "targetRules")]
    target_rules: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Secret,
    Match,
    Line,
}

#[derive(Debug, Clone)]
struct Allowlist {
    /// `condition = "AND"`: every kind of check listed must match, instead of any.
    all: bool,
    paths: Vec<Regex>,
    target: Target,
    regexes: Vec<Regex>,
    /// Lower case; a secret containing one is allowed.
    stopwords: Vec<String>,
    /// For a file-wide allowlist, the rules it applies to (empty: all).
    target_rules: Vec<String>,
}

/// One rule of the table.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    pub description: String,
    regex: Regex,
    secret_group: usize,
    entropy: Option<f64>,
    path: Option<Regex>,
    keywords: Vec<String>,
    allowlists: Vec<Allowlist>,
    /// Ours: documentation placeholders (`is_placeholder`) are never secrets.
    pub builtin: bool,
}

/// The rules a check runs: which coded rules are on, and the table.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// The coded rules (`secrets::Rule`) turned off, by id.
    disabled: Vec<String>,
    pub listed: Vec<Listed>,
    /// Every keyword of `listed`, lower case, any case matched; `keyword_rules[i]` the rule of
    /// pattern `i`.
    keywords: Option<AhoCorasick>,
    keyword_rules: Vec<usize>,
    /// The rules without keywords, which always run.
    unkeyed: Vec<usize>,
    allowlists: Vec<Allowlist>,
}

static DEFAULT: LazyLock<Arc<RuleSet>> = LazyLock::new(|| {
    Arc::new(RuleSet::parse_with(BUILTIN, None, true).expect("the built-in rules parse"))
});

static ACTIVE: RwLock<Option<Arc<RuleSet>>> = RwLock::new(None);

/// Makes `rules` the rules of every later check and redaction in this process (one project per
/// process: `config::load` calls it with the project's rules file).
pub fn activate(rules: Arc<RuleSet>) {
    *ACTIVE.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(rules);
}

/// The rules in force: the project's, or the built-in ones.
pub fn active() -> Arc<RuleSet> {
    let active = ACTIVE.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    active.unwrap_or_else(|| DEFAULT.clone())
}

impl RuleSet {
    /// The built-in rules.
    pub fn builtin() -> Arc<RuleSet> {
        DEFAULT.clone()
    }

    /// A rules file in gitleaks' format. Without `[extend] useDefault = true` its rules replace
    /// the built-in ones, as in gitleaks.
    pub fn parse(text: &str) -> Result<RuleSet, RulesError> {
        RuleSet::parse_with(text, Some(&DEFAULT), false)
    }

    fn parse_with(
        text: &str,
        defaults: Option<&RuleSet>,
        builtin: bool,
    ) -> Result<RuleSet, RulesError> {
        let at = |span: std::ops::Range<usize>, message: String| {
            let location = crate::diagnostic::Location::in_text(text, span);
            RulesError { line: location.start.line, column: location.start.column, message }
        };
        let raw: RawFile = toml::from_str(text).map_err(|error| {
            let message = error.message().lines().next().unwrap_or("invalid TOML").to_string();
            at(error.span().unwrap_or(0..0), message)
        })?;
        let mut set = RuleSet {
            disabled: Vec::new(),
            listed: Vec::new(),
            keywords: None,
            keyword_rules: Vec::new(),
            unkeyed: Vec::new(),
            allowlists: Vec::new(),
        };
        let extend = raw.extend.unwrap_or(RawExtend {
            use_default: false,
            path: None,
            url: None,
            disabled_rules: Vec::new(),
        });
        if let Some(path) = extend.path.as_ref().or(extend.url.as_ref()) {
            return Err(at(
                path.span(),
                "`[extend] path` and `url` are not supported: copy the rules into this file, or use `useDefault = true` for promptctl's built-in rules".into(),
            ));
        }
        match defaults {
            Some(defaults) if extend.use_default => {
                set.listed = defaults.listed.clone();
                set.allowlists = defaults.allowlists.clone();
            }
            Some(_) => set.disabled = Rule::CODED.iter().map(|r| r.id().to_string()).collect(),
            None => {}
        }
        for id in &extend.disabled_rules {
            set.listed.retain(|rule| &rule.id != id);
            set.disabled.push(id.clone());
        }
        if raw.rules.len() > MAX_RULES {
            return Err(at(
                0..0,
                format!("{} rules, over the limit of {MAX_RULES}", raw.rules.len()),
            ));
        }
        for raw_rule in raw.rules {
            let id = raw_rule.id.get_ref().trim().to_string();
            if id.is_empty() {
                return Err(at(raw_rule.id.span(), "a rule's `id` is empty".into()));
            }
            if let Some(required) = &raw_rule.required {
                return Err(at(
                    required.span(),
                    format!(
                        "rule `{id}`: composite rules (`[[rules.required]]`) are not supported"
                    ),
                ));
            }
            // A rule without a regex only names files (gitleaks' path-only rules): nothing here
            // to find in a text.
            let Some(pattern) = &raw_rule.regex else { continue };
            let regex = compile(pattern, &at, &id)?;
            let groups = regex.captures_len() - 1;
            let secret_group = match &raw_rule.secret_group {
                Some(group) if *group.get_ref() > groups => {
                    return Err(at(
                        group.span(),
                        format!(
                            "rule `{id}`: `secretGroup` is {}, but the regex has {groups} capture group{}",
                            group.get_ref(),
                            if groups == 1 { "" } else { "s" }
                        ),
                    ))
                }
                Some(group) => *group.get_ref(),
                None => 0,
            };
            if raw_rule.entropy.is_some_and(|e| !e.is_finite() || e < 0.0) {
                return Err(at(
                    raw_rule.id.span(),
                    format!("rule `{id}`: `entropy` must be a non-negative number"),
                ));
            }
            let path = raw_rule.path.as_ref().map(|p| compile(p, &at, &id)).transpose()?;
            let mut allowlists = Vec::new();
            for list in raw_rule.allowlist.iter().chain(&raw_rule.allowlists) {
                allowlists.push(allowlist(list, &at, &id)?);
            }
            let rule = Listed {
                description: raw_rule.description.clone().unwrap_or_else(|| id.clone()),
                id,
                regex,
                secret_group,
                entropy: raw_rule.entropy,
                path,
                keywords: raw_rule.keywords.iter().map(|k| k.to_lowercase()).collect(),
                allowlists,
                builtin,
            };
            // A rule with the id of a built-in one replaces it.
            set.listed.retain(|other| other.id != rule.id);
            if Rule::CODED.iter().any(|coded| coded.id() == rule.id) {
                set.disabled.push(rule.id.clone());
            }
            set.listed.push(rule);
        }
        for list in raw.allowlist.iter().chain(&raw.allowlists) {
            set.allowlists.push(allowlist(list, &at, "the file-wide allowlist")?);
        }
        set.index();
        Ok(set)
    }

    fn index(&mut self) {
        let mut keywords = Vec::new();
        self.keyword_rules.clear();
        self.unkeyed.clear();
        for (index, rule) in self.listed.iter().enumerate() {
            if rule.keywords.is_empty() {
                self.unkeyed.push(index);
            }
            for keyword in rule.keywords.iter().filter(|k| !k.is_empty()) {
                keywords.push(keyword.clone());
                self.keyword_rules.push(index);
            }
        }
        self.keywords = AhoCorasick::builder().ascii_case_insensitive(true).build(&keywords).ok();
    }

    /// Whether the coded rule `rule` runs.
    pub(super) fn enabled(&self, rule: Rule) -> bool {
        !self.disabled.iter().any(|id| id == rule.id())
    }

    /// The findings of the table's rules in `text` (of the file at `path`, when known: without a
    /// path, path filters and path allowlists do not apply, so that redaction blanks more, not
    /// less).
    pub(super) fn find(&self, text: &str, path: Option<&str>) -> Vec<Secret> {
        let mut candidates = vec![false; self.listed.len()];
        for &index in &self.unkeyed {
            candidates[index] = true;
        }
        if let Some(keywords) = &self.keywords {
            for hit in keywords.find_overlapping_iter(text) {
                candidates[self.keyword_rules[hit.pattern().as_usize()]] = true;
            }
        }
        let mut found = Vec::new();
        for (index, rule) in self.listed.iter().enumerate() {
            if !candidates[index] {
                continue;
            }
            if let (Some(filter), Some(path)) = (&rule.path, path) {
                if !filter.is_match(path) {
                    continue;
                }
            }
            // The next search starts where the secret ends, not the match: a boundary the match
            // consumed after one secret (`gsk_… gsk_…`) can start the next.
            let mut at = 0;
            for _ in 0..MAX_MATCHES {
                let Some(captures) = rule.regex.captures_at(text, at) else { break };
                let Some(whole) = captures.get(0) else { break };
                let secret = if rule.secret_group > 0 {
                    captures.get(rule.secret_group)
                } else {
                    captures.iter().skip(1).flatten().find(|m| !m.is_empty()).or(Some(whole))
                };
                let secret = secret.filter(|m| !m.is_empty());
                let next = secret.map_or(whole.end(), |m| m.end());
                at = if next > at {
                    next
                } else {
                    match text[at..].chars().next() {
                        Some(c) => at + c.len_utf8(),
                        None => break,
                    }
                };
                let Some(secret) = secret else { continue };
                let value = secret.as_str();
                if rule.entropy.is_some_and(|minimum| entropy(value) <= minimum) {
                    continue;
                }
                if rule.builtin && is_placeholder(value) {
                    continue;
                }
                let line = line_around(text, whole.start(), whole.end());
                let allowed = |list: &Allowlist| list.allows(value, whole.as_str(), line, path);
                if rule.allowlists.iter().any(allowed)
                    || self.allowlists.iter().any(|list| {
                        (list.target_rules.is_empty() || list.target_rules.contains(&rule.id))
                            && allowed(list)
                    })
                {
                    continue;
                }
                found.push(Secret {
                    rule: Rule::Listed(index),
                    span: secret.start()..secret.end(),
                    shown: 0,
                    key: None,
                });
            }
        }
        found
    }
}

impl RuleSet {
    /// The byte ranges the rules (coded and listed) find in `text`, for the fuzz target.
    pub fn spans(&self, text: &str) -> Vec<std::ops::Range<usize>> {
        super::secrets::find_secrets(self, text, None).into_iter().map(|s| s.span).collect()
    }
}

fn line_around(text: &str, start: usize, end: usize) -> &str {
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    &text[line_start..line_end]
}

impl Allowlist {
    fn allows(&self, secret: &str, matched: &str, line: &str, path: Option<&str>) -> bool {
        let target = match self.target {
            Target::Secret => secret,
            Target::Match => matched,
            Target::Line => line,
        };
        let lower = secret.to_lowercase();
        let mut checks = Vec::with_capacity(3);
        if !self.paths.is_empty() {
            checks.push(path.is_some_and(|p| self.paths.iter().any(|r| r.is_match(p))));
        }
        if !self.regexes.is_empty() {
            checks.push(self.regexes.iter().any(|r| r.is_match(target)));
        }
        if !self.stopwords.is_empty() {
            checks.push(self.stopwords.iter().any(|word| lower.contains(word.as_str())));
        }
        if checks.is_empty() {
            return false;
        }
        if self.all {
            checks.iter().all(|c| *c)
        } else {
            checks.iter().any(|c| *c)
        }
    }
}

fn compile(
    pattern: &Spanned<String>,
    at: &impl Fn(std::ops::Range<usize>, String) -> RulesError,
    owner: &str,
) -> Result<Regex, RulesError> {
    RegexBuilder::new(pattern.get_ref())
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(100)
        .build()
        .map_err(|error| {
            let detail = match error {
                regex::Error::CompiledTooBig(limit) => {
                    format!("the regex compiles to more than {limit} bytes")
                }
                regex::Error::Syntax(message) => {
                    message.lines().rev().find(|line| line.starts_with("error:")).map_or_else(
                        || "invalid regex".to_string(),
                        |l| l["error:".len()..].trim().to_string(),
                    )
                }
                _ => "invalid regex".to_string(),
            };
            let owner = if owner.starts_with("the ") {
                owner.to_string()
            } else {
                format!("rule `{owner}`")
            };
            at(pattern.span(), format!("{owner}: {detail}"))
        })
}

fn allowlist(
    raw: &RawAllowlist,
    at: &impl Fn(std::ops::Range<usize>, String) -> RulesError,
    owner: &str,
) -> Result<Allowlist, RulesError> {
    let all = match &raw.condition {
        None => false,
        Some(c) if c.get_ref().eq_ignore_ascii_case("or") => false,
        Some(c) if c.get_ref().eq_ignore_ascii_case("and") => true,
        Some(c) => {
            return Err(at(
                c.span(),
                format!("`condition` is `{}`: write \"OR\" or \"AND\"", c.get_ref()),
            ))
        }
    };
    let target = match raw.regex_target.as_ref().map(|t| (t.get_ref().as_str(), t.span())) {
        None | Some(("secret", _)) => Target::Secret,
        Some(("match", _)) => Target::Match,
        Some(("line", _)) => Target::Line,
        Some((other, span)) => {
            return Err(at(
                span,
                format!("`regexTarget` is `{other}`: write \"secret\", \"match\" or \"line\""),
            ))
        }
    };
    Ok(Allowlist {
        all,
        paths: raw.paths.iter().map(|p| compile(p, at, owner)).collect::<Result<_, _>>()?,
        target,
        regexes: raw.regexes.iter().map(|r| compile(r, at, owner)).collect::<Result<_, _>>()?,
        stopwords: raw
            .stopwords
            .iter()
            .map(|w| w.to_lowercase())
            .filter(|w| !w.is_empty())
            .collect(),
        target_rules: raw.target_rules.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::secrets::find_secrets;
    use super::*;

    fn error(text: &str) -> (u32, u32, String) {
        let error = RuleSet::parse(text).expect_err(text);
        (error.line, error.column, error.message)
    }

    /// (rule id, secret) of every finding.
    fn found(rules: &RuleSet, text: &str, path: Option<&str>) -> Vec<(String, String)> {
        find_secrets(rules, text, path)
            .into_iter()
            .map(|secret| {
                let id = match secret.rule {
                    Rule::Listed(index) => rules.listed[index].id.clone(),
                    coded => coded.id().to_string(),
                };
                (id, text[secret.span].to_string())
            })
            .collect()
    }

    #[test]
    fn the_builtin_rules_parse_and_have_unique_ids() {
        let rules = RuleSet::builtin();
        assert!(rules.listed.len() >= 20, "{} listed rules", rules.listed.len());
        let mut ids: Vec<&str> = rules.listed.iter().map(|r| r.id.as_str()).collect();
        ids.extend(Rule::CODED.iter().map(|r| r.id()));
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "duplicate ids");
        assert!(rules.listed.iter().all(|r| r.builtin));
    }

    #[test]
    fn bad_rule_files_are_errors_at_their_line() {
        let cases: &[(&str, (u32, u32, &str))] = &[
            ("[[rules]\nid = 1", (1, 9, "unclosed array table")),
            ("[[rules]]\nid = \"a\"\nregex = '''(?P<x'''\n", (3, 9, "rule `a`:")),
            ("[[rules]]\nid = \"a\"\nregex = 'a'\nsecretGroup = 2\n", (4, 15, "rule `a`: `secretGroup` is 2, but the regex has 0 capture groups")),
            ("[[rules]]\nid = \"a\"\nregex = '(b)'\nkeyword = [\"b\"]\n", (4, 1, "unknown field `keyword`")),
            ("[[rules]]\ndescription = \"no id\"\n", (1, 1, "missing field `id`")),
            ("[[rules]]\nid = \" \"\n", (2, 6, "a rule's `id` is empty")),
            ("[extend]\npath = \"other.toml\"\n", (2, 8, "`[extend] path` and `url` are not supported")),
            ("[[rules]]\nid = \"a\"\nregex = 'a'\n[[rules.allowlists]]\ncondition = \"XOR\"\n", (5, 13, "`condition` is `XOR`")),
            ("[[rules]]\nid = \"a\"\nregex = 'a'\n[[rules.allowlists]]\nregexTarget = \"file\"\n", (5, 15, "`regexTarget` is `file`")),
            ("[[rules]]\nid = \"a\"\nregex = 'a'\n[[rules.required]]\nid = \"b\"\n", (4, 1, "rule `a`: composite rules")),
            ("[[rules]]\nid = \"a\"\nregex = 'a{1000}{1000}'\n", (3, 9, "rule `a`: the regex compiles to more than")),
            ("[[rules]]\nid = \"a\"\nregex = 'a'\nentropy = -1.0\n", (2, 6, "rule `a`: `entropy` must be")),
            ("[allowlist]\nregexes = ['(']\n", (2, 12, "the file-wide allowlist:")),
        ];
        let mut wrong = Vec::new();
        for (text, (line, column, start)) in cases {
            let (l, c, message) = error(text);
            if !message.starts_with(start) || (l, c) != (*line, *column) {
                wrong.push(format!("{text:?}: {l}:{c}: {message}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn odd_inputs_never_panic() {
        for text in [
            "",
            "\u{0}",
            "rules = 3",
            "[[rules]]\nid = \"\u{1F600}\"\nregex = '\\p{Greek}+'",
            "[extend]\nuseDefault = \"yes\"",
        ] {
            let _ = RuleSet::parse(text);
        }
        let too_many = "[[rules]]\nid = \"a\"\n".repeat(MAX_RULES + 1);
        assert!(error(&too_many).2.contains("over the limit"));
    }

    const FILE: &str = r#"
title = "team rules"

[[rules]]
id = "acme-token"
description = "ACME internal token"
regex = '''acme_(?:live|test)_([0-9A-Za-z]{24})'''
keywords = ["acme_"]
entropy = 3.0
secretGroup = 1
[[rules.allowlists]]
stopwords = ["fixture"]
[[rules.allowlists]]
regexTarget = "line"
regexes = ['''#\s*not a secret''']

[[rules]]
id = "path-only"
path = '''\.p12$'''

[[rules]]
id = "build-key"
regex = '''BK-[0-9]{6}'''
path = '''^prompts/ops/'''

[allowlist]
paths = ['''^prompts/fixtures/''']
"#;

    #[test]
    fn a_team_file_replaces_the_builtin_rules_unless_it_extends_them() {
        let key = "acme_live_Q7vT2mXk9LpR4sWz8HnB3cYd";
        let github = "ghp_R7x2Kq9Lm4Np8Tv3Wb6Yc1Zd5Fh0Gj2Hs7Ak4Dl";
        let text = format!("token: {key}\nother: {github}\n");
        let alone = RuleSet::parse(FILE).expect("parses");
        assert_eq!(found(&alone, &text, None), [("acme-token".into(), key[10..].to_string())]);
        let extended = RuleSet::parse(&format!("{FILE}\n[extend]\nuseDefault = true\n")).unwrap();
        assert_eq!(
            found(&extended, &text, None),
            [("acme-token".into(), key[10..].to_string()), ("github-token".into(), github.into())]
        );
        let disabled = RuleSet::parse(&format!(
            "{FILE}\n[extend]\nuseDefault = true\ndisabledRules = [\"github-token\", \"groq-api-key\"]\n"
        ))
        .unwrap();
        assert_eq!(found(&disabled, &text, None).len(), 1);
        assert!(disabled.listed.iter().all(|r| r.id != "groq-api-key"));
    }

    #[test]
    fn keywords_entropy_paths_and_allowlists() {
        let rules = RuleSet::parse(FILE).unwrap();
        let find = |text: &str, path: Option<&str>| found(&rules, text, path).len();
        assert_eq!(find("acme_live_Q7vT2mXk9LpR4sWz8HnB3cYd", None), 1);
        // Keywords match in any case; the regex decides.
        assert_eq!(find("ACME_live_Q7vT2mXk9LpR4sWz8HnB3cYd", None), 0);
        // Entropy at or under the rule's is not a secret.
        assert_eq!(find("acme_live_aaaaaaaaaaaaaaaaaaaaaaaa", None), 0);
        // The rule's allowlists: a stopword in the secret, a regex on the line.
        assert_eq!(find("acme_live_Q7vT2mXk9FixtureB3cYd6FjA", None), 0);
        assert_eq!(find("acme_live_Q7vT2mXk9LpR4sWz8HnB3cYd # not a secret", None), 0);
        // The file-wide allowlist of paths, which redaction (no path) ignores.
        assert_eq!(
            find("acme_live_Q7vT2mXk9LpR4sWz8HnB3cYd", Some("prompts/fixtures/v1.prompt")),
            0
        );
        assert_eq!(find("acme_live_Q7vT2mXk9LpR4sWz8HnB3cYd", Some("prompts/a/v1.prompt")), 1);
        // A rule's path: only those files, but always redacted.
        assert_eq!(find("BK-123456", Some("prompts/ops/v1.prompt")), 1);
        assert_eq!(find("BK-123456", Some("prompts/a/v1.prompt")), 0);
        assert_eq!(find("BK-123456", None), 1);
    }

    #[test]
    fn a_boundary_after_one_secret_can_start_the_next() {
        let rules = RuleSet::parse(
            "[[rules]]\nid = \"tok\"\nregex = '(?:^|[^a-z_])(tok_[0-9]{4})(?:[^a-z_0-9]|$)'\n",
        )
        .unwrap();
        let secrets: Vec<String> =
            found(&rules, "tok_1234 tok_5678,tok_9012", None).into_iter().map(|f| f.1).collect();
        assert_eq!(secrets, ["tok_1234", "tok_5678", "tok_9012"]);
        // Empty matches move on by a character, multi-byte ones included.
        let empty = RuleSet::parse("[[rules]]\nid = \"e\"\nregex = 'x*'\n").unwrap();
        assert_eq!(found(&empty, "é€ xx", None), [("e".to_string(), "xx".to_string())]);
    }
}

#[cfg(test)]
mod corpus {
    use super::super::secrets::find_secrets;
    use super::*;

    const SECRETS: &str = include_str!("../../../tests/security/secrets.txt");
    const LOOKALIKES: &str = include_str!("../../../tests/security/lookalikes.txt");

    /// Every built-in rule, coded or listed, finds one of the corpus' planted secrets at its
    /// exact span; no look-alike is found by any (the end-to-end test runs the same files
    /// through every output format).
    #[test]
    fn every_builtin_rule_finds_a_planted_secret() {
        let rules = RuleSet::builtin();
        let mut covered: Vec<String> = Vec::new();
        for line in SECRETS.lines().filter(|line| !line.trim().is_empty()) {
            let line = line.replace('¦', "");
            let text = line.replace(['⟦', '⟧'], "");
            let mut expected = Vec::new();
            let mut rest = line.as_str();
            while let Some(open) = rest.find('⟦') {
                let close = rest.find('⟧').expect("closed");
                expected.push(rest[open + '⟦'.len_utf8()..close].to_string());
                rest = &rest[close + '⟧'.len_utf8()..];
            }
            let found = find_secrets(&rules, &text, None);
            let values: Vec<&str> = found.iter().map(|s| &text[s.span.clone()]).collect();
            assert_eq!(values, expected, "in {text}");
            for secret in found {
                covered.push(match secret.rule {
                    Rule::Listed(index) => rules.listed[index].id.clone(),
                    coded => coded.id().to_string(),
                });
            }
        }
        let ids = rules.listed.iter().map(|r| r.id.clone());
        let all: Vec<String> = Rule::CODED.iter().map(|r| r.id().to_string()).chain(ids).collect();
        let missing: Vec<&String> = all.iter().filter(|id| !covered.contains(id)).collect();
        assert!(missing.is_empty(), "no planted secret for {missing:?}");
        for line in LOOKALIKES.lines() {
            let found = find_secrets(&rules, line, None);
            assert!(found.is_empty(), "look-alike flagged: {line}");
        }
    }
}
