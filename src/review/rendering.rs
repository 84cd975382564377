//! Rendering before and after: each test's and seed's text with both sides, compared, with the
//! words that changed.

use super::*;

/// Renders the served version before and after with each test's vars. A test that exists on one
/// side lends its vars to the other, so both texts come from the same inputs where possible.
pub(super) fn renders(
    base: Option<&SideView>,
    before: Option<&VersionView>,
    head: Option<&SideView>,
    after: Option<&VersionView>,
) -> Vec<Render> {
    let applies = |test: &TestSpec, version: Option<&VersionView>| {
        version.is_some_and(|v| {
            test.version.as_ref().is_none_or(|n| *n.get_ref() == i64::from(v.number))
        })
    };
    let mut names: Vec<String> = Vec::new();
    let mut tests: BTreeMap<String, (Option<&TestSpec>, Option<&TestSpec>)> = BTreeMap::new();
    for test in base.map_or(&[][..], SideView::tests) {
        let test = test.get_ref();
        if applies(test, before) {
            let name = test.name.get_ref().clone();
            if !tests.contains_key(&name) {
                names.push(name.clone());
            }
            tests.entry(name).or_default().0 = Some(test);
        }
    }
    for test in head.map_or(&[][..], SideView::tests) {
        let test = test.get_ref();
        if applies(test, after) {
            let name = test.name.get_ref().clone();
            if !tests.contains_key(&name) {
                names.push(name.clone());
            }
            tests.entry(name).or_default().1 = Some(test);
        }
    }
    let render_one = |version: Option<&VersionView>, test: &TestSpec| -> Option<Rendering> {
        let version = version?;
        let (Some(template), Some(body)) = (&version.template, &version.body) else {
            return Some(Rendering::Error(format!(
                "`{}` does not parse; `promptctl check` says why",
                version.path
            )));
        };
        let vars = check::vars_to_json(&test.vars);
        Some(match crate::render::render(template, body, &vars) {
            Ok(text) => Rendering::Text(security::redact(&text).into_owned()),
            Err(error) => Rendering::Error(error.message),
        })
    };
    let mut renders: Vec<Render> = names
        .iter()
        .map(|name| {
            let (old_test, new_test) = tests[name];
            let before_test = old_test.or(new_test).expect("a test from one side");
            let after_test = new_test.or(old_test).expect("a test from one side");
            let old = render_one(before, before_test);
            let new = render_one(after, after_test);
            compare(Some(name.clone()), old, new, before, after)
        })
        .collect();
    if renders.is_empty() {
        // No test to render with: the template itself is what changes.
        let raw = |version: Option<&VersionView>| {
            version.map(|v| Rendering::Text(v.body.clone().unwrap_or_default()))
        };
        renders.push(compare(None, raw(before), raw(after), before, after));
    }
    renders
}

pub(super) fn compare(
    test: Option<String>,
    before: Option<Rendering>,
    after: Option<Rendering>,
    before_version: Option<&VersionView>,
    after_version: Option<&VersionView>,
) -> Render {
    let old = before.as_ref().map_or("", Rendering::text);
    let new = after.as_ref().map_or("", Rendering::text);
    let label = |version: Option<&VersionView>, side: &str| match version {
        Some(v) => format!("{side} v{}", v.number),
        None => format!("{side} (not served)"),
    };
    let (diff, words, added_lines, removed_lines) = if old == new {
        (String::new(), Vec::new(), 0, 0)
    } else {
        let diff = crate::diff::unified(
            old,
            new,
            &label(before_version, "before"),
            &label(after_version, "after"),
        );
        let (words, added, removed) = word_changes(old, new);
        (diff, words, added, removed)
    };
    Render { test, before, after, diff, words, added_lines, removed_lines }
}

/// At most this many word-level line pairs per render: past that a reader wants the diff.
pub(super) const MAX_WORD_CHANGES: usize = 20;

/// Line pairs (a removed line replaced by an added one) that share most of their words: there a
/// word-level view shows the edit better than two whole lines. Also counts added and removed lines.
pub fn word_changes(old: &str, new: &str) -> (Vec<WordChange>, usize, usize) {
    use similar::{ChangeTag, DiffTag, TextDiff};
    let diff = TextDiff::from_lines(old, new);
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let (mut added, mut removed) = (0, 0);
    let mut pairs = Vec::new();
    for op in diff.ops() {
        let (old_range, new_range) = (op.old_range(), op.new_range());
        match op.tag() {
            DiffTag::Equal => continue,
            DiffTag::Insert => added += new_range.len(),
            DiffTag::Delete => removed += old_range.len(),
            DiffTag::Replace => {
                added += new_range.len();
                removed += old_range.len();
                for (o, n) in old_range.zip(new_range) {
                    pairs.push((o, n));
                }
            }
        }
    }
    let mut changes = Vec::new();
    for (o, n) in pairs {
        if changes.len() == MAX_WORD_CHANGES {
            break;
        }
        let a = crate::diff::make_visible(old_lines.get(o).copied().unwrap_or(""));
        let b = crate::diff::make_visible(new_lines.get(n).copied().unwrap_or(""));
        let words = TextDiff::from_words(a.as_str(), b.as_str());
        if words.ratio() < 0.5 {
            continue;
        }
        let mut segments: Vec<(char, String)> = Vec::new();
        for change in words.iter_all_changes() {
            let tag = match change.tag() {
                ChangeTag::Equal => '=',
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
            };
            match segments.last_mut() {
                Some((last, text)) if *last == tag => text.push_str(change.value()),
                _ => segments.push((tag, change.value().to_string())),
            }
        }
        changes.push(WordChange { line: n + 1, segments });
    }
    (changes, added, removed)
}
