//! The check result cache: each prompt's diagnostics keyed by the sha256 of everything its check
//! reads (its files, its lock entries, the configuration, the tool's version). A warm `check` of an
//! unchanged repository reads and hashes the files, and re-checks nothing. The cache is advisory: a
//! missing, stale or corrupt file only means work is redone.

use crate::check::policy::{Silenced, SilencedBy};
use crate::config::Project;
use crate::diagnostic::{Code, Diagnostic, Location, Severity};
use crate::lock::Lock;
use crate::source::PromptFiles;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bump when the rules or the stored shape change, so old results are never reused.
const FORMAT: &str = "promptctl-check-cache/2";

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Memo {
    format: String,
    /// Key (hex) → the prompt's diagnostics.
    entries: BTreeMap<String, Vec<StoredDiagnostic>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDiagnostic {
    code: String,
    file: String,
    location: Option<Location>,
    message: String,
    label: Option<String>,
    help: Option<String>,
    note: Option<String>,
    /// The severity, when a `[lints]` level changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    severity: Option<Severity>,
    /// How the lint policy silenced it: `[allowed setting, file]` or `[suppressed reason, at]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    silenced: Option<(bool, String, String)>,
}

impl StoredDiagnostic {
    fn silenced(silenced: &Silenced) -> StoredDiagnostic {
        let mut stored = StoredDiagnostic::from(&silenced.diagnostic);
        stored.silenced = Some(match &silenced.by {
            SilencedBy::Allowed { setting, file } => (true, setting.clone(), file.clone()),
            SilencedBy::Suppressed { reason, at } => (false, reason.clone(), at.clone()),
        });
        stored
    }

    fn from(diagnostic: &Diagnostic) -> StoredDiagnostic {
        StoredDiagnostic {
            severity: (diagnostic.severity != diagnostic.code.severity())
                .then_some(diagnostic.severity),
            silenced: None,
            code: diagnostic.code.as_str().to_string(),
            file: diagnostic.file.clone(),
            location: diagnostic.location.clone(),
            message: diagnostic.message.clone(),
            label: diagnostic.label.clone(),
            help: diagnostic.help.clone(),
            note: diagnostic.note.clone(),
        }
    }

    fn to_diagnostic(&self) -> Option<Diagnostic> {
        let code = Code::parse(&self.code)?;
        let mut diagnostic = Diagnostic::new(code, self.file.clone(), self.message.clone());
        diagnostic.location = self.location.clone();
        diagnostic.label = self.label.clone();
        diagnostic.help = self.help.clone();
        diagnostic.note = self.note.clone();
        if let Some(severity) = self.severity {
            diagnostic.severity = severity;
        }
        Some(diagnostic)
    }
}

pub fn path(project: &Project) -> PathBuf {
    project.root.join(".promptctl").join("cache").join("check.json")
}

impl Memo {
    /// Reads the cache; anything unreadable is an empty cache.
    pub fn load(path: &Path) -> Memo {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Memo>(&bytes).ok())
            .filter(|memo| memo.format == FORMAT)
            .unwrap_or_default()
    }

    /// A prompt's stored result: its diagnostics and what the lint policy silenced.
    pub fn get(&self, key: &str) -> Option<(Vec<Diagnostic>, Vec<Silenced>)> {
        let mut diagnostics = Vec::new();
        let mut silenced = Vec::new();
        for stored in self.entries.get(key)? {
            let diagnostic = stored.to_diagnostic()?;
            match &stored.silenced {
                None => diagnostics.push(diagnostic),
                Some((allowed, first, second)) => {
                    let by = if *allowed {
                        SilencedBy::Allowed { setting: first.clone(), file: second.clone() }
                    } else {
                        SilencedBy::Suppressed { reason: first.clone(), at: second.clone() }
                    };
                    silenced.push(Silenced { diagnostic, by });
                }
            }
        }
        Some((diagnostics, silenced))
    }

    pub fn insert(&mut self, key: String, diagnostics: &[Diagnostic], silenced: &[Silenced]) {
        self.format = FORMAT.to_string();
        let stored = diagnostics
            .iter()
            .map(StoredDiagnostic::from)
            .chain(silenced.iter().map(StoredDiagnostic::silenced))
            .collect();
        self.entries.insert(key, stored);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Writes the cache atomically (temp file + rename), creating `.promptctl/cache/`.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
            let ignore = parent.join("..").join(".gitignore");
            if !ignore.exists() {
                std::fs::write(
                    ignore,
                    "# promptctl's local state: caches, development keys, the embedded store\n*\n",
                )?;
            }
        }
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, serde_json::to_vec(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(&temporary, path)
    }
}

/// The key of one prompt's check: a digest of every input the check reads.
pub fn key(project: &Project, lock: &Lock, prompt: &PromptFiles) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(FORMAT.as_bytes());
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(env!("PROMPTCTL_SOURCE_DIGEST").as_bytes());
    field(&project.config_sha256);
    field(prompt.dir.as_bytes());
    for file in prompt.files() {
        field(file.path.as_bytes());
        field(&file.sha256);
    }
    match &prompt.seed {
        Some(crate::source::SeedSource::Read(file)) => {
            field(file.path.as_bytes());
            field(&file.sha256);
        }
        Some(crate::source::SeedSource::Unavailable { path, reason }) => {
            field(format!("{path}:{reason}").as_bytes())
        }
        None => field(b"no seed"),
    }
    for entry in lock.for_prompt(&prompt.name) {
        field(entry.name.as_bytes());
        field(&entry.version.to_le_bytes());
        field(entry.sha256.as_bytes());
    }
    for diagnostic in &prompt.diagnostics {
        field(diagnostic.code.as_str().as_bytes());
        field(diagnostic.file.as_bytes());
        field(diagnostic.message.as_bytes());
    }
    hex::encode(hasher.finalize())
}
