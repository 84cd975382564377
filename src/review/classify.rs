//! Classification: each changed prompt folder's two sides (views of their files), what kind of
//! change it is, what is forbidden (edits of locked versions), and the diagnostics of the new side.

use super::*;

/// One version file as the review sees it: digest of the raw bytes, everything else parsed from
/// the redacted text.
pub(super) struct VersionView {
    pub(super) number: u32,
    pub(super) path: String,
    pub(super) sha256: String,
    pub(super) body: Option<String>,
    pub(super) template: Option<Template>,
    pub(super) variables: Option<Vec<Variable>>,
    pub(super) model: Option<toml::Table>,
}

/// One side of one prompt.
pub(super) struct SideView {
    pub(super) manifest: Option<Manifest>,
    pub(super) versions: BTreeMap<u32, VersionView>,
}

impl SideView {
    pub(super) fn activation(&self, environment: &str) -> Option<u32> {
        let manifest = self.manifest.as_ref()?;
        let (_, version) = manifest.activate.iter().find(|(e, _)| e.get_ref() == environment)?;
        u32::try_from(*version.get_ref()).ok()
    }

    /// The canary an environment rolls out: version and share in basis points.
    pub(super) fn canary(&self, environment: &str) -> Option<(u32, u32)> {
        let manifest = self.manifest.as_ref()?;
        let canary = manifest.canary.get(environment)?.get_ref();
        Some((u32::try_from(*canary.version.get_ref()).ok()?, *canary.basis_points.get_ref()))
    }

    pub(super) fn served_in(&self, number: u32, environments: &[String]) -> Vec<String> {
        environments.iter().filter(|e| self.activation(e) == Some(number)).cloned().collect()
    }

    pub(super) fn tests(&self) -> &[toml::Spanned<TestSpec>] {
        self.manifest.as_ref().map_or(&[], |m| m.tests.as_slice())
    }
}

/// Redacted UTF-8 text of a file (lossy for invalid bytes: it is only shown).
pub(super) fn shown_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    security::redact(&text).into_owned()
}

pub(super) fn view(folder: &Folder) -> SideView {
    let mut side = SideView { manifest: None, versions: BTreeMap::new() };
    for (name, bytes) in &folder.files {
        let path = format!("{}/{name}", folder.dir);
        if name == "prompt.toml" {
            side.manifest = prompt::read_manifest(&path, &shown_text(bytes)).0;
        } else if let Some(number) = crate::source::version_number(name) {
            side.versions.insert(number, version_view(number, path, bytes));
        }
    }
    side
}

pub(super) fn version_view(number: u32, path: String, bytes: &[u8]) -> VersionView {
    let mut version = VersionView {
        number,
        sha256: sha256_hex(bytes),
        body: None,
        template: None,
        variables: None,
        model: None,
        path,
    };
    let text = shown_text(bytes);
    let Ok(split) = prompt::split_front_matter(&version.path, &text) else { return version };
    let (front, _) = prompt::read_front_matter(
        &version.path,
        &text,
        split.front_matter_offset,
        split.front_matter,
    );
    if let Some(front) = front {
        version.variables = Some(prompt::resolve_variables(&version.path, &text, &front).0);
        version.model = front.model;
    }
    version.template = template::parse(split.body).ok();
    version.body = Some(split.body.to_string());
    version
}

/// Classifies every changed prompt of `input`.
pub fn classify(input: &Input) -> Report {
    classify_with(input, &input.locks)
}

pub(super) fn classify_with(input: &Input, locks: &Locks) -> Report {
    let mut environments: BTreeSet<String> =
        input.head_config.environments.keys().cloned().collect();
    environments.extend(input.base_config.environments.keys().cloned());
    let environments: Vec<String> = environments.into_iter().collect();
    let (base_lock, head_lock, same_lock) = (&locks.base, &locks.head, locks.same);
    // Where each head version's bytes are, to tell a rename from a deletion across folders.
    let mut head_blobs: BTreeMap<String, (String, u32, String)> = BTreeMap::new();
    for pair in &input.pairs {
        let Some(head) = &pair.head else { continue };
        for (name, bytes) in &head.files {
            if let Some(number) = crate::source::version_number(name) {
                head_blobs.entry(sha256_hex(bytes)).or_insert((
                    pair.name.clone(),
                    number,
                    format!("{}/{name}", head.dir),
                ));
            }
        }
    }
    let context = Context {
        input,
        environments: &environments,
        base_lock,
        head_lock,
        head_blobs: &head_blobs,
    };
    let prompts: Vec<PromptReview> =
        input.pairs.par_iter().map(|pair| context.prompt(pair)).collect();
    let lock_rewrites = if same_lock {
        Vec::new()
    } else {
        lock_rewrites(base_lock, head_lock, &input.head_config.lock_file)
    };
    Report {
        format: FORMAT,
        base: input.base.clone(),
        merge_base: input.merge_base.clone(),
        head: input.head.clone(),
        base_has_prompts: input.base_has_prompts,
        prompts,
        unchanged: input.unchanged,
        lock_rewrites,
    }
}

pub(super) struct Context<'a> {
    pub(super) input: &'a Input,
    pub(super) environments: &'a [String],
    pub(super) base_lock: &'a Lock,
    pub(super) head_lock: &'a Lock,
    pub(super) head_blobs: &'a BTreeMap<String, (String, u32, String)>,
}

impl Context<'_> {
    pub(super) fn prompt(&self, pair: &Pair) -> PromptReview {
        let base = pair.base.as_ref().map(view);
        let head = pair.head.as_ref().map(view);
        let mut review = PromptReview {
            name: pair.name.clone(),
            kinds: Vec::new(),
            new_versions: Vec::new(),
            unlocked_edits: Vec::new(),
            forbidden: Vec::new(),
            activations: Vec::new(),
            rollouts: Vec::new(),
            metadata: Vec::new(),
            served: Vec::new(),
            lints: Vec::new(),
        };
        self.versions(pair, base.as_ref(), head.as_ref(), &mut review);
        for environment in self.environments {
            let before = base.as_ref().and_then(|b| b.activation(environment));
            let after = head.as_ref().and_then(|h| h.activation(environment));
            if before != after {
                review.activations.push(Activation {
                    environment: environment.clone(),
                    before,
                    after,
                });
            }
            let canary_before = base.as_ref().and_then(|b| b.canary(environment));
            let canary_after = head.as_ref().and_then(|h| h.canary(environment));
            if canary_before != canary_after {
                let state = |canary: Option<(u32, u32)>| {
                    canary.map(|(version, basis_points)| RolloutState { version, basis_points })
                };
                review.rollouts.push(Rollout {
                    environment: environment.clone(),
                    stable: after.or(before),
                    before: state(canary_before),
                    after: state(canary_after),
                });
            }
        }
        if let (Some(base), Some(head)) = (&base, &head) {
            review.metadata = metadata(base, head);
        }
        review.served = self.served(base.as_ref(), head.as_ref());
        if let Some(head_folder) = &pair.head {
            review.lints = self.lints(&pair.name, pair.base.as_ref(), head_folder);
        }

        let mut kinds = BTreeSet::new();
        match (&pair.base, &pair.head) {
            (None, Some(_)) => {
                kinds.insert(Kind::NewPrompt);
            }
            (Some(_), None) => {
                kinds.insert(Kind::DeletedPrompt);
            }
            _ => {}
        }
        let flags = [
            (Kind::Forbidden, !review.forbidden.is_empty()),
            (Kind::NewVersion, !review.new_versions.is_empty() && pair.base.is_some()),
            (
                Kind::ActivationChange,
                (!review.activations.is_empty() || !review.rollouts.is_empty())
                    && pair.base.is_some(),
            ),
            (Kind::ServedTextChange, !review.served.is_empty()),
            (Kind::BreakingContractChange, review.served.iter().any(Served::breaking)),
            (
                Kind::ContractChange,
                review.served.iter().any(|s| !s.contract.is_empty() && !s.breaking()),
            ),
            (Kind::ModelChange, review.served.iter().any(|s| !s.model.is_empty())),
            (Kind::MetadataChange, !review.metadata.is_empty()),
            (Kind::UnlockedEdit, !review.unlocked_edits.is_empty()),
            (Kind::LintFindings, !review.lints.is_empty()),
        ];
        kinds.extend(flags.into_iter().filter(|(_, on)| *on).map(|(kind, _)| kind));
        review.kinds = kinds.into_iter().collect();
        review
    }

    /// New versions, and what happened to the base's versions: locked ones are immutable.
    pub(super) fn versions(
        &self,
        pair: &Pair,
        base: Option<&SideView>,
        head: Option<&SideView>,
        review: &mut PromptReview,
    ) {
        let name = &pair.name;
        if let Some(head) = head {
            for (number, version) in &head.versions {
                if base.is_some_and(|b| b.versions.contains_key(number)) {
                    continue;
                }
                let previous = head.versions.range(..*number).next_back().map(|(_, v)| v);
                let contract = match previous {
                    Some(previous) => contract_changes(
                        previous.variables.as_deref().unwrap_or(&[]),
                        version.variables.as_deref().unwrap_or(&[]),
                    ),
                    None => Vec::new(),
                };
                review.new_versions.push(NewVersion {
                    version: *number,
                    served_in: head.served_in(*number, self.environments),
                    compared_with: previous.map(|p| p.number),
                    contract,
                });
            }
        }
        let Some(base) = base else { return };
        let next_free = head
            .and_then(|h| h.versions.keys().next_back().copied())
            .max(base.versions.keys().next_back().copied())
            .unwrap_or(0)
            + 1;
        for (number, before) in &base.versions {
            let after = head.and_then(|h| h.versions.get(number));
            if after.is_some_and(|a| a.sha256 == before.sha256) {
                continue;
            }
            let Some(entry) = self.base_lock.get(name, *number) else {
                if head.is_none() {
                    // The whole prompt is gone: that is the change, not each version.
                    continue;
                }
                review.unlocked_edits.push(UnlockedEdit {
                    version: *number,
                    file: before.path.clone(),
                    deleted: after.is_none(),
                });
                continue;
            };
            let lock_file = &self.input.head_config.lock_file;
            let forbidden = match after {
                Some(after) => Forbidden {
                    prompt: name.clone(),
                    version: *number,
                    kind: ForbiddenKind::Edited,
                    file: after.path.clone(),
                    message: format!(
                        "version {number} of `{name}` is locked and was edited (lock sha256:{}, base sha256:{}, head sha256:{})",
                        lock::short(&entry.sha256),
                        lock::short(&before.sha256),
                        lock::short(&after.sha256)
                    ),
                    help: format!(
                        "a locked version is immutable: restore `{}` from the base branch and put the change in a new version, v{next_free}.prompt",
                        after.path
                    ),
                },
                None => match self.head_blobs.get(&before.sha256) {
                    Some((to_prompt, to_version, to_path)) => Forbidden {
                        prompt: name.clone(),
                        version: *number,
                        kind: ForbiddenKind::Renamed,
                        file: to_path.clone(),
                        message: format!(
                            "version {number} of `{name}` is locked and was renamed to `{to_path}` (v{to_version} of `{to_prompt}`)"
                        ),
                        help: format!(
                            "names and version numbers are part of the lock: move the file back to `{}`; a copy under a new name needs its own new version",
                            before.path
                        ),
                    },
                    None => Forbidden {
                        prompt: name.clone(),
                        version: *number,
                        kind: ForbiddenKind::Deleted,
                        file: before.path.clone(),
                        message: format!(
                            "version {number} of `{name}` is locked and was deleted (lock sha256:{})",
                            lock::short(&entry.sha256)
                        ),
                        help: format!(
                            "a locked version may be served and must stay reproducible (see `{lock_file}`): restore `{}`; to retire a prompt, stop activating it instead",
                            before.path
                        ),
                    },
                },
            };
            review.forbidden.push(forbidden);
        }
    }

    /// Groups the environments by how their served version changes, and renders the groups whose
    /// served text changes.
    pub(super) fn served(&self, base: Option<&SideView>, head: Option<&SideView>) -> Vec<Served> {
        type Key = (Option<u32>, Option<String>, Option<u32>, Option<String>);
        let mut groups: BTreeMap<Key, Vec<String>> = BTreeMap::new();
        // Each environment, then each environment's canary (shown as `production (canary)`).
        let sides = self
            .environments
            .iter()
            .map(|environment| (environment.clone(), false))
            .chain(self.environments.iter().map(|environment| (environment.clone(), true)));
        for (environment, canary) in sides {
            let number_of = |side: &SideView| {
                if canary {
                    side.canary(&environment).map(|(version, _)| version)
                } else {
                    side.activation(&environment)
                }
            };
            let before = base.and_then(|b| {
                let number = number_of(b)?;
                Some((number, b.versions.get(&number)?))
            });
            let after = head.and_then(|h| {
                let number = number_of(h)?;
                Some((number, h.versions.get(&number)?))
            });
            let environment =
                if canary { format!("{environment} (canary)") } else { environment.clone() };
            let before_sha = before.map(|(_, v)| v.sha256.clone());
            let after_sha = after.map(|(_, v)| v.sha256.clone());
            if before_sha == after_sha {
                continue;
            }
            groups
                .entry((before.map(|(n, _)| n), before_sha, after.map(|(n, _)| n), after_sha))
                .or_default()
                .push(environment);
        }
        groups
            .into_iter()
            .map(|((before, _, after, _), environments)| {
                let before_version = before.and_then(|n| base?.versions.get(&n));
                let after_version = after.and_then(|n| head?.versions.get(&n));
                let model = match (before_version, after_version) {
                    (Some(b), Some(a)) => model_changes(b.model.as_ref(), a.model.as_ref()),
                    _ => Vec::new(),
                };
                let contract = match (before_version, after_version) {
                    (Some(b), Some(a)) => contract_changes(
                        b.variables.as_deref().unwrap_or(&[]),
                        a.variables.as_deref().unwrap_or(&[]),
                    ),
                    _ => Vec::new(),
                };
                let renders = renders(base, before_version, head, after_version);
                Served {
                    environments,
                    before,
                    after,
                    before_file: before_version.map(|v| v.path.clone()),
                    after_file: after_version.map(|v| v.path.clone()),
                    model,
                    contract,
                    renders,
                }
            })
            .collect()
    }

    /// The head's lint findings that sit on changed lines of changed files, or that the base did
    /// not have. Lock findings are left out: the review judges locked versions against the base.
    pub(super) fn lints(
        &self,
        name: &str,
        base: Option<&Folder>,
        head: &Folder,
    ) -> Vec<Diagnostic> {
        let is_lock_rule =
            |code: Code| matches!(code, Code::LockModified | Code::LockDeleted | Code::LockRenamed);
        let head_findings = lint(&self.input.head_config, self.head_lock, name, head);
        if head_findings.is_empty() {
            return Vec::new();
        }
        let base_findings: BTreeSet<(Code, String, String)> = base
            .map(|folder| lint(&self.input.base_config, self.base_lock, name, folder))
            .unwrap_or_default()
            .into_iter()
            .map(|d| (d.code, d.file, d.message))
            .collect();
        let changed = changed_lines(base, head);
        head_findings
            .into_iter()
            .filter(|d| !is_lock_rule(d.code))
            .filter(|d| {
                let on_changed_line = match (changed.get(&d.file), &d.location) {
                    (Some(ChangedLines::All), _) => true,
                    (Some(ChangedLines::Some(lines)), Some(location)) => {
                        lines.range(location.start.line..=location.end.line).next().is_some()
                    }
                    (Some(ChangedLines::Some(_)), None) => true,
                    (None, _) => false,
                };
                on_changed_line
                    || !base_findings.contains(&(d.code, d.file.clone(), d.message.clone()))
            })
            .collect()
    }
}

/// `check`'s rules over one side of one prompt, from the bytes git gave.
pub(super) fn lint(config: &Config, lock: &Lock, name: &str, folder: &Folder) -> Vec<Diagnostic> {
    let mut files = PromptFiles {
        name: name.to_string(),
        dir: folder.dir.clone(),
        manifest: None,
        versions: Vec::new(),
        snapshots: Vec::new(),
        evals: Vec::new(),
        recorded: Vec::new(),
        seed: folder.seed.clone(),
        diagnostics: Vec::new(),
        unreadable: false,
        extras: Vec::new(),
    };
    for (file_name, bytes) in &folder.files {
        let file = SourceFile::new(format!("{}/{file_name}", folder.dir), bytes.clone());
        if file_name == "prompt.toml" {
            files.manifest = Some(file);
        } else if let Some(number) = crate::source::version_number(file_name) {
            files.versions.push((number, file));
        } else if file_name.starts_with("snapshots/") {
            files.snapshots.push(file);
        } else if file_name.starts_with("evals/") {
            files.evals.push(file);
        }
    }
    files.versions.sort_by_key(|(number, _)| *number);
    let mut diagnostics =
        check::prompt(config, lock, &config.lock_file, &files, check::Options::default())
            .diagnostics;
    crate::diagnostic::sort(&mut diagnostics);
    diagnostics
}

pub(super) enum ChangedLines {
    All,
    /// 1-based line numbers of the head file that are new or changed.
    Some(BTreeSet<u32>),
}

/// For every file of the head folder that differs from the base: which of its lines changed.
pub(super) fn changed_lines(
    base: Option<&Folder>,
    head: &Folder,
) -> BTreeMap<String, ChangedLines> {
    let mut changed = BTreeMap::new();
    for (name, bytes) in &head.files {
        let path = format!("{}/{name}", head.dir);
        let Some(before) = base.and_then(|b| b.files.get(name)) else {
            changed.insert(path, ChangedLines::All);
            continue;
        };
        if before == bytes {
            continue;
        }
        let old = String::from_utf8_lossy(before);
        let new = String::from_utf8_lossy(bytes);
        let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
        let mut lines = BTreeSet::new();
        for op in diff.ops() {
            if op.tag() != similar::DiffTag::Equal {
                let range = op.new_range();
                lines.extend((range.start..range.end.max(range.start + 1)).map(|i| i as u32 + 1));
            }
        }
        changed.insert(path, ChangedLines::Some(lines));
    }
    changed
}
