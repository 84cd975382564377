//! Comparison, classification and minimisation: `run` renders batches with both engines, explains
//! each difference by a known one or minimises it, and reports.

use super::*;

/// How the two engines disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Both render, to different text.
    Output,
    /// promptctl fails, the other renders.
    PromptctlFails,
    /// promptctl renders, the other fails.
    OtherFails,
}

impl Kind {
    pub(super) fn of(ours: &Outcome, theirs: &Outcome) -> Option<Kind> {
        match (ours, theirs) {
            (Outcome::Rendered(a), Outcome::Rendered(b)) if a != b => Some(Kind::Output),
            (Outcome::Failed(_), Outcome::Rendered(_)) => Some(Kind::PromptctlFails),
            (Outcome::Rendered(_), Outcome::Failed(_)) => Some(Kind::OtherFails),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Output => "different output",
            Kind::PromptctlFails => "promptctl fails, the other renders",
            Kind::OtherFails => "promptctl renders, the other fails",
        }
    }
}

/// A difference, minimised.
#[derive(Clone, Debug)]
pub struct Difference {
    pub kind: Kind,
    /// Where it was found: the case's index in the run.
    pub index: u64,
    pub template: String,
    pub vars: Value,
    pub promptctl: Outcome,
    pub other: Outcome,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "  [{}] case {}\n    template:  {:?}\n    vars:      {}\n    promptctl: {}\n    other:     {}",
            self.kind.as_str(),
            self.index,
            self.template,
            self.vars,
            self.promptctl.shown(),
            self.other.shown()
        )
    }
}

/// The counts of a run.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: u64,
    /// Both rendered the same text.
    pub same_output: u64,
    /// Both failed.
    pub both_failed: u64,
    /// Cases with an unsupported construct that promptctl refused (whatever the other did).
    pub refused: u64,
    /// Unsupported constructs promptctl rendered: a bug.
    pub accepted_unsupported: Vec<Difference>,
    /// Differences explained by a known difference, counted by it, with the first example.
    pub known: BTreeMap<&'static str, (u64, Option<Difference>)>,
    /// Unexplained differences, minimised, grouped by minimised template.
    pub unexplained: BTreeMap<(Kind, String), (u64, Difference)>,
    /// Unexplained differences found after the minimisation budget was spent.
    pub unexplained_not_minimised: u64,
}

impl Report {
    pub fn unexplained_count(&self) -> u64 {
        self.unexplained.values().map(|(count, _)| count).sum::<u64>()
            + self.unexplained_not_minimised
            + self.accepted_unsupported.len() as u64
    }

    pub fn summary(&self, engine: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} cases against {engine}: {} same output, {} both failed, {} unsupported constructs refused, {} known differences, {} unexplained",
            self.cases,
            self.same_output,
            self.both_failed,
            self.refused,
            self.known.values().map(|(count, _)| count).sum::<u64>(),
            self.unexplained_count()
        );
        for (name, (count, example)) in &self.known {
            let _ = writeln!(out, "known `{name}`: {count}");
            if let Some(example) = example {
                let _ = writeln!(out, "{example}");
            }
        }
        for difference in &self.accepted_unsupported {
            let _ = writeln!(out, "UNSUPPORTED CONSTRUCT RENDERED BY PROMPTCTL:\n{difference}");
        }
        for ((_, _), (count, difference)) in &self.unexplained {
            let _ = writeln!(out, "UNEXPLAINED ({count} found):\n{difference}");
        }
        if self.unexplained_not_minimised > 0 {
            let _ =
                writeln!(out, "{} more unexplained, not minimised", self.unexplained_not_minimised);
        }
        out
    }
}

/// Runs `cases` cases of `seed` in batches of `batch`, comparing promptctl with `engine`,
/// minimising at most `minimise` unexplained differences (each costs a round trip per step);
/// `progress` is called after each batch.
pub fn run(
    engine: &mut dyn Engine,
    seed: u64,
    cases: u64,
    batch: usize,
    minimise: usize,
    progress: &mut dyn FnMut(&Report),
) -> Result<Report, String> {
    let mut report = Report::default();
    let mut start = 0u64;
    let mut minimise_budget = minimise;
    while start < cases {
        let end = (start + batch as u64).min(cases);
        let generated: Vec<Case> = (start..end).map(|index| generate(seed, index)).collect();
        let inputs: Vec<(String, Value)> =
            generated.iter().map(|case| (case.template(), case.vars.clone())).collect();
        let theirs = engine.render(&inputs)?;
        let mut differing = Vec::new();
        for (offset, ((case, (template, vars)), other)) in
            generated.iter().zip(&inputs).zip(theirs).enumerate()
        {
            report.cases += 1;
            let index = start + offset as u64;
            let ours = promptctl(template, vars);
            if case.unsupported() {
                if ours.failed() {
                    report.refused += 1;
                } else {
                    report.accepted_unsupported.push(Difference {
                        kind: Kind::of(&ours, &other).unwrap_or(Kind::Output),
                        index,
                        template: template.clone(),
                        vars: vars.clone(),
                        promptctl: ours,
                        other,
                    });
                }
                continue;
            }
            match Kind::of(&ours, &other) {
                None if ours.failed() => report.both_failed += 1,
                None => report.same_output += 1,
                Some(kind) => differing.push((index, case.clone(), kind, ours, other)),
            }
        }
        classify(engine, &mut report, differing, &mut minimise_budget)?;
        progress(&report);
        start = end;
    }
    Ok(report)
}

/// Which known difference explains each difference (the first whose variant agrees), and
/// minimises the rest.
pub(super) fn classify(
    engine: &mut dyn Engine,
    report: &mut Report,
    differing: Vec<(u64, Case, Kind, Outcome, Outcome)>,
    budget: &mut usize,
) -> Result<(), String> {
    let known = engine.known();
    // One batch with every variant of every difference.
    let mut variants: Vec<(usize, Known, (String, Value))> = Vec::new();
    for (position, (_, case, _, _, _)) in differing.iter().enumerate() {
        for &k in known {
            if let Some(variant) = k.variant(case) {
                variants.push((position, k, (variant.template(), variant.vars.clone())));
            }
        }
    }
    // Last, every variant at once: a case can show several known differences.
    for (position, (_, case, _, _, _)) in differing.iter().enumerate() {
        if let Some(all) = all_variants(known, case) {
            variants.push((position, Known::Several, (all.template(), all.vars.clone())));
        }
    }
    let inputs: Vec<(String, Value)> = variants.iter().map(|(_, _, input)| input.clone()).collect();
    let outcomes = if inputs.is_empty() { Vec::new() } else { engine.render(&inputs)? };
    let mut explained: Vec<Option<Known>> = vec![None; differing.len()];
    for ((position, k, (template, vars)), theirs) in variants.iter().zip(&outcomes) {
        if explained[*position].is_some() {
            continue;
        }
        let ours = promptctl(template, vars);
        let (_, case, _, _, _) = &differing[*position];
        if ours.agrees(theirs) && lint_fires(*k, case) {
            explained[*position] = Some(*k);
        }
    }
    for ((index, case, kind, _, _), explanation) in differing.into_iter().zip(explained) {
        if let Some(k) = explanation {
            let first = !report.known.contains_key(k.name());
            let example = match first {
                true => Some(Difference { index, ..minimise(engine, case, kind, Some(k))? }),
                false => None,
            };
            let entry = report.known.entry(k.name()).or_insert((0, example));
            entry.0 += 1;
            continue;
        }
        if *budget == 0 {
            report.unexplained_not_minimised += 1;
            continue;
        }
        *budget -= 1;
        let small = minimise(engine, case, kind, None)?;
        let key = (kind, small.template.clone());
        let entry = report.unexplained.entry(key).or_insert((0, Difference { index, ..small }));
        entry.0 += 1;
    }
    Ok(())
}

/// Whether the lint behind a known difference reports the case (with vars declared as their
/// values' types).
pub(super) fn lint_fires(known: Known, case: &Case) -> bool {
    let code = match known {
        Known::AdjacentNumbers => Code::PortabilityAdjacentNumbers,
        Known::Length => Code::PortabilityLength,
        // Key order and unguarded `#each` depend on declarations the data cannot tell (an
        // object's declared fields, an optional variable).
        _ => return true,
    };
    // An array whose items have different types fits no declaration, so the lint cannot see
    // what it holds.
    (known == Known::AdjacentNumbers && mixed_array(&case.vars))
        || portability_codes(&case.template(), &case.vars).contains(&code)
}

pub(super) fn mixed_array(value: &Value) -> bool {
    let kind = |v: &Value| std::mem::discriminant(v);
    match value {
        Value::Array(items) => {
            items.windows(2).any(|pair| kind(&pair[0]) != kind(&pair[1]))
                || items.iter().any(mixed_array)
        }
        Value::Object(map) => map.values().any(mixed_array),
        _ => false,
    }
}

/// Every one-step simplification of a case: a piece removed, a block replaced by one of its
/// parts, a `~` or a link dropped, a text shortened, a var removed.
pub(super) fn shrink(case: &Case) -> Vec<Case> {
    let mut out = Vec::new();
    let mut pieces_variants = Vec::new();
    shrink_pieces(&case.pieces, &mut pieces_variants);
    for pieces in pieces_variants {
        out.push(Case { pieces, vars: case.vars.clone() });
    }
    let mut vars_variants = Vec::new();
    shrink_value(&case.vars, &mut vars_variants);
    for vars in vars_variants {
        out.push(Case { pieces: case.pieces.clone(), vars });
    }
    out
}

pub(super) fn shrink_value(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            for key in map.keys() {
                let mut smaller = map.clone();
                smaller.shift_remove(key);
                out.push(Value::Object(smaller));
            }
            for (key, v) in map {
                let mut inner = Vec::new();
                shrink_value(v, &mut inner);
                for replacement in inner {
                    let mut changed = map.clone();
                    changed.insert(key.clone(), replacement);
                    out.push(Value::Object(changed));
                }
            }
        }
        Value::Array(items) => {
            for index in 0..items.len() {
                let mut smaller = items.clone();
                smaller.remove(index);
                out.push(Value::Array(smaller));
            }
            for (index, v) in items.iter().enumerate() {
                let mut inner = Vec::new();
                shrink_value(v, &mut inner);
                for replacement in inner {
                    let mut changed = items.clone();
                    changed[index] = replacement;
                    out.push(Value::Array(changed));
                }
            }
        }
        Value::String(text) if !text.is_empty() => out.push(json!("")),
        _ => {}
    }
}

pub(super) fn shrink_pieces(pieces: &[Piece], out: &mut Vec<Vec<Piece>>) {
    for (index, piece) in pieces.iter().enumerate() {
        let replace = |replacement: Vec<Piece>| {
            let mut changed = pieces[..index].to_vec();
            changed.extend(replacement);
            changed.extend_from_slice(&pieces[index + 1..]);
            changed
        };
        out.push(replace(Vec::new()));
        match piece {
            Piece::Text(text) => {
                let chars: Vec<char> = text.chars().collect();
                for cut in 0..chars.len() {
                    let shorter: String = chars
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != cut)
                        .map(|(_, c)| c)
                        .collect();
                    out.push(replace(vec![Piece::Text(shorter)]));
                }
            }
            Piece::Print { expr, style, strip, pad } => {
                let plain = Piece::Print {
                    expr: expr.clone(),
                    style: Style::Double,
                    strip: Strip::default(),
                    pad: false,
                };
                if (*style, *strip, *pad) != (Style::Double, Strip::default(), false) {
                    out.push(replace(vec![plain]));
                }
            }
            Piece::Comment { strip, .. } => {
                if *strip != Strip::default() {
                    out.push(replace(vec![Piece::Comment {
                        body: String::new(),
                        long: false,
                        strip: Strip::default(),
                    }]));
                }
            }
            Piece::Block(block) => {
                out.push(replace(block.body.clone()));
                if let Some(inverse) = &block.inverse {
                    out.push(replace(inverse.body.clone()));
                    let mut without = block.clone();
                    without.inverse = None;
                    out.push(replace(vec![Piece::Block(without)]));
                    let mut plain = block.clone();
                    plain.inverse =
                        Some(Inverse { strip: Strip::default(), caret: false, ..inverse.clone() });
                    if &plain != block {
                        out.push(replace(vec![Piece::Block(plain)]));
                    }
                }
                for (position, link) in block.links.iter().enumerate() {
                    out.push(replace(link.body.clone()));
                    let mut without = block.clone();
                    without.links.remove(position);
                    out.push(replace(vec![Piece::Block(without)]));
                }
                if !block.params.is_empty() {
                    let mut fewer = block.clone();
                    fewer.params.pop();
                    out.push(replace(vec![Piece::Block(fewer)]));
                }
                for strip in [&block.open, &block.close] {
                    if *strip != Strip::default() {
                        let mut plain = block.clone();
                        plain.open = Strip::default();
                        plain.close = Strip::default();
                        out.push(replace(vec![Piece::Block(plain)]));
                        break;
                    }
                }
                let mut inner = Vec::new();
                shrink_pieces(&block.body, &mut inner);
                for body in inner {
                    let mut changed = block.clone();
                    changed.body = body;
                    out.push(replace(vec![Piece::Block(changed)]));
                }
                for position in 0..block.links.len() {
                    let mut inner = Vec::new();
                    shrink_pieces(&block.links[position].body, &mut inner);
                    for body in inner {
                        let mut changed = block.clone();
                        changed.links[position].body = body;
                        out.push(replace(vec![Piece::Block(changed)]));
                    }
                }
                if let Some(inverse) = &block.inverse {
                    let mut inner = Vec::new();
                    shrink_pieces(&inverse.body, &mut inner);
                    for body in inner {
                        let mut changed = block.clone();
                        if let Some(changed_inverse) = &mut changed.inverse {
                            changed_inverse.body = body;
                        }
                        out.push(replace(vec![Piece::Block(changed)]));
                    }
                }
            }
            Piece::Unsupported(_) => {}
        }
    }
}

/// The size a minimisation makes smaller: the template's length, then the vars'.
pub(super) fn size(case: &Case) -> (usize, usize) {
    (case.template().len(), case.vars.to_string().len())
}

/// Shrinks a difference greedily while it stays a difference of the same kind that `known`
/// explains (or, without it, that no known difference of the engine explains); each step renders
/// all candidates in one batch.
pub fn minimise(
    engine: &mut dyn Engine,
    case: Case,
    kind: Kind,
    known: Option<Known>,
) -> Result<Difference, String> {
    let mut current = case;
    for _ in 0..200 {
        let mut candidates = shrink(&current);
        candidates.retain(|candidate| size(candidate) < size(&current) && !candidate.unsupported());
        candidates.sort_by_key(size);
        candidates.dedup_by(|a, b| a.template() == b.template() && a.vars == b.vars);
        if candidates.is_empty() {
            break;
        }
        let inputs: Vec<(String, Value)> =
            candidates.iter().map(|c| (c.template(), c.vars.clone())).collect();
        let outcomes = engine.render(&inputs)?;
        let mut kept = None;
        for ((candidate, (template, vars)), theirs) in candidates.iter().zip(&inputs).zip(&outcomes)
        {
            let ours = promptctl(template, vars);
            if Kind::of(&ours, theirs) != Some(kind) {
                continue;
            }
            let keep = match known {
                Some(k) => explained_by(engine, candidate, k)?,
                None => !explained_quickly(engine, candidate)?,
            };
            if keep {
                kept = Some(candidate.clone());
                break;
            }
        }
        match kept {
            Some(smaller) => current = smaller,
            None => break,
        }
    }
    let template = current.template();
    let theirs = engine.render(&[(template.clone(), current.vars.clone())])?;
    let ours = promptctl(&template, &current.vars);
    Ok(Difference {
        kind,
        index: 0,
        template,
        vars: current.vars,
        promptctl: ours,
        other: theirs.into_iter().next().unwrap_or(Outcome::Failed("no result".into())),
    })
}

/// Whether a known difference explains a candidate (its variant agrees): keeps the minimiser
/// from shrinking an unexplained difference into a known one.
pub(super) fn explained_quickly(engine: &mut dyn Engine, case: &Case) -> Result<bool, String> {
    for &k in engine.known().iter().chain(&[Known::Several]) {
        if explained_by(engine, case, k)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the variant of a known difference agrees, and its lint fires.
pub(super) fn explained_by(engine: &mut dyn Engine, case: &Case, k: Known) -> Result<bool, String> {
    let variant = match k {
        Known::Several => all_variants(engine.known(), case),
        _ => k.variant(case),
    };
    let Some(variant) = variant else { return Ok(false) };
    if !lint_fires(k, case) {
        return Ok(false);
    }
    let template = variant.template();
    let theirs = engine.render(&[(template.clone(), variant.vars.clone())])?;
    Ok(promptctl(&template, &variant.vars).agrees(&theirs[0]))
}
