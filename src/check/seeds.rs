//! The `[seed]` check: the version rendered with the seed's vars against the legacy hard-coded text
//! it replaces, byte for byte.

use super::*;

/// The seed rule: the seed version, rendered with the seed vars, equals the legacy text.
pub(super) fn check_seed(
    files: &PromptFiles,
    seed: &Spanned<prompt::SeedSpec>,
    text: &str,
    path: &str,
    versions: &[Version],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let spec = seed.get_ref();
    let file_span = spec.file.span();
    let number = *spec.version.get_ref();
    let Some(version) = versions.iter().find(|v| i64::from(v.number) == number) else {
        let existing =
            versions.iter().map(|v| format!("v{}", v.number)).collect::<Vec<_>>().join(", ");
        diagnostics.push(
            Diagnostic::new(
                Code::SeedVersion,
                path,
                format!(
                    "`[seed]` names version {number} of `{}`, which does not exist",
                    files.name
                ),
            )
            .at(text, spec.version.span())
            .label("no such version")
            .help(if existing.is_empty() {
                "add v1.prompt".to_string()
            } else {
                format!("the seed is normally v1, the imported text; versions: {existing}")
            }),
        );
        return;
    };
    let legacy = match &files.seed {
        Some(crate::source::SeedSource::Read(file)) => file,
        Some(crate::source::SeedSource::Unavailable { path: legacy_path, reason }) => {
            diagnostics.push(
                Diagnostic::new(Code::SeedFile, path, format!("cannot use the legacy file `{legacy_path}`: {reason}"))
                    .at(text, file_span)
                    .label("legacy file")
                    .help("keep the legacy source in the repository (e.g. under legacy/) and name it relative to the repository root"),
            );
            return;
        }
        None => return,
    };
    let Ok(legacy_text) = std::str::from_utf8(legacy.bytes()) else {
        diagnostics.push(
            Diagnostic::new(
                Code::SeedFile,
                path,
                format!("the legacy file `{}` is not valid UTF-8", legacy.path),
            )
            .at(text, file_span)
            .label("legacy file")
            .help(
                "convert the legacy file to UTF-8 (`iconv -f windows-1252 -t utf-8`) and commit it",
            ),
        );
        return;
    };
    let extract_span = spec.extract.as_ref().map_or(file_span.clone(), |e| e.span());
    let extract = spec.extract.as_ref().map(Spanned::get_ref);
    let (literal, literal_range) = match crate::seed::extract(legacy_text, extract) {
        Ok(found) => found,
        Err(error) => {
            diagnostics.push(
                Diagnostic::new(
                    Code::SeedExtract,
                    path,
                    format!(
                        "seed extraction from `{}`: {}{}",
                        legacy.path,
                        error.message,
                        crate::seed::position(
                            &legacy.path,
                            legacy_text,
                            error.span.clone().filter(|_| crate::seed::is_slice(extract)),
                            None
                        )
                    ),
                )
                .at(text, extract_span)
                .label("extraction")
                .help(error.help),
            );
            return;
        }
    };
    let mode = spec.unescape.as_ref().map_or(prompt::Unescape::None, |m| *m.get_ref());
    let expected = match crate::seed::unescape(&literal, mode) {
        Ok(expected) => expected,
        Err(error) => {
            let span = spec.unescape.as_ref().map_or(extract_span, |m| m.span());
            diagnostics.push(
                Diagnostic::new(
                    Code::SeedUnescape,
                    path,
                    format!(
                        "cannot unescape the literal from `{}`: {}{}",
                        legacy.path,
                        error.message,
                        crate::seed::position(
                            &legacy.path,
                            legacy_text,
                            error.span.clone().filter(|_| crate::seed::is_slice(extract)),
                            Some(literal_range.start)
                        )
                    ),
                )
                .at(text, span)
                .label("unescape mode")
                .help(error.help),
            );
            return;
        }
    };
    let (Some(variables), Some(template), Some(body)) =
        (&version.variables, &version.template, version.body)
    else {
        return;
    };
    let what = format!("the seed (v{number})");
    let site = RenderSite { path, text, whole: seed.span(), span: seed.span(), label: "seed" };
    let Some(rendered) =
        render_with(version, variables, template, body, &spec.vars, &what, site, diagnostics)
    else {
        return;
    };
    if rendered != expected {
        let (line, column) = first_difference(&expected, &rendered);
        diagnostics.push(
            Diagnostic::new(
                Code::SeedDrift,
                path,
                format!("v{number} of `{}` does not reproduce the legacy text of `{}` (first difference at line {line}, column {column} of the text)", files.name, legacy.path),
            )
            .at(text, file_span)
            .label("legacy text")
            .help(format!("make {} render exactly the legacy text (the diff marks tabs →, trailing spaces ·, CR ␍, non-breaking spaces ⍽), or fix the extraction", version.path))
            .note(crate::diff::unified(&expected, &rendered, &format!("legacy {}", legacy.path), &format!("rendered {}", version.path))),
        );
    }
}

/// The 1-based line and column (in characters) where two texts first differ.
pub(super) fn first_difference(expected: &str, actual: &str) -> (usize, usize) {
    let common = expected
        .char_indices()
        .zip(actual.chars())
        .find(|((_, a), b)| a != b)
        .map_or(expected.len().min(actual.len()), |((index, _), _)| index);
    let common = if actual.is_char_boundary(common) { common } else { 0 };
    let before = &expected[..common.min(expected.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
