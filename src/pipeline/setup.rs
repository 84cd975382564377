//! Setting a project up: `keygen` (a key pair, trusted in promptctl.toml).

use crate::config::{self, Project};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Where `keygen` writes the public key by default, relative to the project root (committed).
pub const DEFAULT_PUBLIC_KEY: &str = "keys/promptctl.pub";
/// Where `keygen` writes the secret key by default, relative to the project root (git-ignored);
/// `build` signs with it when no other key is given.
pub const DEFAULT_SECRET_KEY: &str = ".promptctl/keys/promptctl.key";

/// What `keygen` is asked for.
#[derive(Debug, Clone, Default)]
pub struct KeygenRequest {
    pub public: Option<PathBuf>,
    pub secret: Option<PathBuf>,
    /// Leave promptctl.toml alone.
    pub no_config: bool,
}

/// A written key pair.
pub struct KeyPair {
    pub key_id: String,
    pub public: PathBuf,
    pub secret: PathBuf,
    /// The secret key is encrypted with the password of `signing::PASSWORD_VARIABLE`.
    pub encrypted: bool,
    /// What became of `[signing] public_keys`.
    pub config: Trust,
}

/// Whether promptctl.toml trusts the new public key.
#[derive(Debug, PartialEq, Eq)]
pub enum Trust {
    /// Added to `[signing] public_keys` (the path as written).
    Added(String),
    /// Listed already.
    Listed(String),
    /// `--no-config`, or the key is outside the project (a path promptctl.toml cannot name).
    Untouched,
}

/// `promptctl keygen`: writes a minisign key pair (never over an existing file; the secret key
/// mode 0600, in a folder git ignores when the folder is new) and adds the public key to
/// `[signing] public_keys`, keeping promptctl.toml's comments and layout.
pub fn keygen(project: &Project, request: &KeygenRequest) -> Result<KeyPair> {
    let public = request.public.clone().unwrap_or_else(|| project.root.join(DEFAULT_PUBLIC_KEY));
    let secret = request.secret.clone().unwrap_or_else(|| project.root.join(DEFAULT_SECRET_KEY));
    let secret_dir_existed =
        secret.parent().is_none_or(|dir| dir.as_os_str().is_empty() || dir.exists());
    let password = std::env::var(crate::signing::PASSWORD_VARIABLE).ok();
    let key_id = crate::signing::write_key_pair(&public, &secret, password.as_deref())?;
    if !secret_dir_existed {
        if let Some(dir) = secret.parent() {
            // The folder is new and holds a secret: keep all of it out of git.
            let _ = std::fs::write(dir.join(".gitignore"), "*\n");
        }
    }
    let config = if request.no_config { Trust::Untouched } else { trust(project, &public)? };
    Ok(KeyPair { key_id, public, secret, encrypted: password.is_some(), config })
}

/// Adds `public` to `[signing] public_keys` of promptctl.toml.
fn trust(project: &Project, public: &Path) -> Result<Trust> {
    let absolute = std::path::absolute(public).unwrap_or_else(|_| public.to_path_buf());
    let root = std::path::absolute(&project.root).unwrap_or_else(|_| project.root.clone());
    let Ok(relative) = absolute.strip_prefix(&root) else { return Ok(Trust::Untouched) };
    let relative = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let path = project.root.join(config::FILE_NAME);
    let bytes = crate::read::read(&path, crate::read::CONFIG_BYTES, "promptctl.toml")
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("`{}` is not valid UTF-8", path.display()))?;
    match config::with_public_key(&text, &relative) {
        Ok(Some(edited)) => {
            std::fs::write(&path, edited)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            Ok(Trust::Added(relative))
        }
        Ok(None) => Ok(Trust::Listed(relative)),
        Err(message) => anyhow::bail!(
            "the key pair is written, but `{}` cannot list it: {message}; add `\"{relative}\"` to `[signing] public_keys` by hand",
            path.display()
        ),
    }
}

/// Where `schema --write` and `init` put the JSON Schemas, relative to the project root; the
/// `#:schema` lines promptctl writes point there.
pub const SCHEMAS_DIR: &str = "schemas";

/// The JSON Schemas of the files a project holds (and of `bundle.json`), as this build knows
/// them: file name and text.
pub const SCHEMAS: [(&str, &str); 4] = [
    ("promptctl.schema.json", include_str!("../../schemas/promptctl.schema.json")),
    ("prompt.schema.json", include_str!("../../schemas/prompt.schema.json")),
    ("front-matter.schema.json", include_str!("../../schemas/front-matter.schema.json")),
    ("bundle.schema.json", include_str!("../../schemas/bundle.schema.json")),
];

/// The files a setup command wrote, and those it left as they were (it never overwrites), as
/// paths relative to the project root.
#[derive(Debug, Default)]
pub struct Written {
    pub written: Vec<String>,
    pub skipped: Vec<String>,
}

impl Written {
    /// Writes `text` to `root/relative` unless a file is there; creates folders as needed.
    fn file(&mut self, root: &Path, relative: &str, text: &str) -> Result<()> {
        let path = root.join(relative);
        if path.exists() || path.is_symlink() {
            self.skipped.push(relative.to_string());
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write `{relative}`"))?;
        self.written.push(relative.to_string());
        Ok(())
    }
}

/// `promptctl schema --write DIR`: the JSON Schemas into `dir` (relative to `root` when it is
/// relative), each unless a file of that name is there.
pub fn write_schemas(root: &Path, dir: &Path) -> Result<Written> {
    let mut written = Written::default();
    let shown = dir.to_string_lossy().trim_end_matches('/').to_string();
    for (name, text) in SCHEMAS {
        written.file(root, &format!("{shown}/{name}"), text)?;
    }
    Ok(written)
}

/// The `#:schema` line of a prompt.toml in `project`'s prompts folder, when the project holds
/// the schema where `schema --write` puts it (otherwise the line would point at nothing).
pub fn manifest_schema_line(root: &Path, prompts_dir: &str) -> Option<String> {
    if !root.join(SCHEMAS_DIR).join("prompt.schema.json").is_file() {
        return None;
    }
    let depth = prompts_dir.split('/').filter(|part| !part.is_empty() && *part != ".").count() + 1;
    Some(format!("#:schema {}{SCHEMAS_DIR}/prompt.schema.json\n", "../".repeat(depth)))
}

/// Which CI `init` sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    Github,
    None,
}

/// What `init` did.
pub struct Initialised {
    pub files: Written,
    /// `.promptctl/` was added to `.gitignore` (false: it was there).
    pub gitignore: bool,
    /// The folder is inside a git repository.
    pub git: bool,
    /// The example prompt written, if the prompts folder had none.
    pub example: Option<String>,
}

/// The example prompt `init` writes into an empty prompts folder.
const EXAMPLE: &str = "greeting";

/// `promptctl init`: puts the folder `root` under promptctl: promptctl.toml (commented, with
/// production and staging), the JSON Schemas, an example prompt with a variable, a test and its
/// snapshot (only into an empty prompts folder), the lock file, `.promptctl/` in `.gitignore`
/// and, for `Ci::Github`, a workflow that uses promptctl's GitHub Action. Never overwrites a file;
/// running it again changes nothing.
pub fn init(root: &Path, ci: Ci) -> Result<Initialised> {
    let mut files = Written::default();
    files.file(root, config::FILE_NAME, CONFIG_TEMPLATE)?;
    let project = config::load(root)?;
    let schemas = write_schemas(root, Path::new(SCHEMAS_DIR))?;
    files.written.extend(schemas.written);
    files.skipped.extend(schemas.skipped);
    let prompts = project.prompts_path();
    let empty = match std::fs::read_dir(&prompts) {
        Ok(entries) => !entries.flatten().any(|entry| entry.path().join("prompt.toml").exists()),
        Err(_) => true,
    };
    let mut example = None;
    let prompts_dir = project.config.prompts_dir.trim_end_matches('/').to_string();
    if empty {
        let dir = format!("{prompts_dir}/{EXAMPLE}");
        let schema = manifest_schema_line(root, &prompts_dir).unwrap_or_default();
        files.file(root, &format!("{dir}/prompt.toml"), &format!("{schema}{EXAMPLE_MANIFEST}"))?;
        files.file(root, &format!("{dir}/v1.prompt"), EXAMPLE_V1)?;
        // The test's snapshot, rendered by the check itself.
        let options = crate::check::Options { bless: true };
        let run = super::check::check(&project, &[root.join(&dir)], options, false)?;
        files.written.extend(run.snapshot_writes.into_iter().map(|(path, _)| path));
        example = Some(EXAMPLE.to_string());
    }
    let lock_file = project.config.lock_file.clone();
    files.file(root, &lock_file, &crate::lock::Lock::default().render())?;
    let gitignore = ignore_promptctl(root)?;
    if ci == Ci::Github {
        files.file(root, ".github/workflows/prompts.yml", WORKFLOW_TEMPLATE)?;
    }
    let git = root.ancestors().any(|folder| folder.join(".git").exists());
    Ok(Initialised { files, gitignore, git, example })
}

/// Adds `.promptctl/` (caches, build output, the embedded stores, secret keys) to `.gitignore`
/// unless a line ignores it already; true when added.
fn ignore_promptctl(root: &Path) -> Result<bool> {
    let path = root.join(".gitignore");
    let current = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error).context("cannot read `.gitignore`"),
    };
    let ignored = current
        .lines()
        .map(str::trim)
        .any(|line| matches!(line, ".promptctl" | ".promptctl/" | "/.promptctl" | "/.promptctl/"));
    if ignored {
        return Ok(false);
    }
    let mut text = current;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(
        "# promptctl: caches, build output, embedded stores and secret keys\n.promptctl/\n",
    );
    std::fs::write(&path, text).context("cannot write `.gitignore`")?;
    Ok(true)
}

const CONFIG_TEMPLATE: &str = r#"#:schema schemas/promptctl.schema.json
# promptctl's configuration: https://github.com/promptctl/promptctl/blob/main/docs/format.md

# One folder per prompt: prompt.toml (description, activations, tests) and its versions
# v1.prompt, v2.prompt, … A published version is never edited: add the next one.
prompts_dir = "prompts"
# The sha256 of every version; `promptctl lock` adds entries and never rewrites one.
lock_file = "prompts.lock"

# Where prompts are published. Each environment has a store: by default an embedded SQLite file
# under .promptctl/store/, or a PostgreSQL database:
#   database = "env:DATABASE_URL"
# and, optionally, a Redis cache that running services follow within milliseconds:
#   redis = "env:REDIS_URL"
# `production` is protected: a bundle built from uncommitted changes needs `--force`.
[environments.production]

[environments.staging]

# Bundles are signed with minisign. `promptctl keygen` writes a key pair and lists the public key
# here; CI signs with the secret key's contents in PROMPTCTL_SIGNING_KEY.
# [signing]
# public_keys = ["keys/promptctl.pub"]

# A typed Rust module of the served prompts (for Rust services):
# [codegen]
# out = "src/prompts.rs"
"#;

const EXAMPLE_MANIFEST: &str = r#"description = "Greets a user by name: an example to copy, or delete"

# The version each environment serves.
[activate]
production = 1
staging = 1

# Offline tests: rendered on every `promptctl check`.
[[test]]
name = "greets-ada"
vars = { name = "Ada", product = "promptctl" }
contains = ["Hello, Ada!"]
snapshot = true
"#;

const EXAMPLE_V1: &str = r#"+++
description = "First version"
variables.name = { type = "string", max_len = 100, description = "The user's first name" }
variables.product = { type = "string", max_len = 100, description = "The product the user signed up for" }
model = { name = "gpt-4o-mini", temperature = 0.3 }
+++
You are the onboarding assistant of {{product}}.
Start with "Hello, {{name}}!" and then explain, in three short sentences, how to get started.
"#;

const WORKFLOW_TEMPLATE: &str = r#"# Written by `promptctl init`: checks and reviews prompt changes on pull requests, and publishes
# them from the default branch. The signing key's contents go into the PROMPTCTL_SIGNING_KEY
# secret of the `prompt-signing` environment (`promptctl keygen`, then copy
# .promptctl/keys/promptctl.key); the store URL into PROMPTCTL_DATABASE_URL.
#
# Model evaluation (docs/eval.md): every pull request replays the answers recorded in
# prompts/*/evals/recorded/ (`eval --offline`: no key, no cost); the `eval` label or a manual run
# calls the models with the keys of the `model-keys` environment and uploads the answers it
# recorded, for a maintainer to commit.
name: prompts
on:
  pull_request:
    types: [opened, synchronize, reopened, labeled]
  push:
    branches: [main]
  workflow_dispatch:
permissions:
  contents: read
jobs:
  check:
    if: github.event_name == 'pull_request' && github.event.action != 'labeled'
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions:
      contents: read
      pull-requests: write
    steps:
      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0
        with:
          fetch-depth: 0
          persist-credentials: false
      - uses: promptctl/promptctl@v0
        with:
          command: check --format github
      - id: eval
        run: |
          status=0
          promptctl eval --offline --base "origin/$BASE_REF" --format github \
            --out .promptctl/eval.json || status=$?
          if [ "$status" -eq 5 ]; then
            echo "::notice::some eval answers are not recorded; add the 'eval' label to record them"
            status=0
          fi
          echo "status=$status" >> "$GITHUB_OUTPUT"
        env:
          BASE_REF: ${{ github.base_ref }}
      - run: |
          eval_args=()
          if [ -f .promptctl/eval.json ]; then eval_args=(--eval .promptctl/eval.json); fi
          promptctl review --base "origin/$BASE_REF" --post-comment "${eval_args[@]}"
        env:
          BASE_REF: ${{ github.base_ref }}
          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
      - if: steps.eval.outputs.status != '0'
        run: exit 1
  eval:
    if: github.event_name == 'workflow_dispatch' || (github.event_name == 'pull_request' && contains(github.event.pull_request.labels.*.name, 'eval'))
    runs-on: ubuntu-latest
    timeout-minutes: 60
    environment: model-keys
    steps:
      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0
        with:
          fetch-depth: 0
          persist-credentials: false
      - uses: promptctl/promptctl@v0
        with:
          command: eval --record --budget 2 --format github --out eval.json
        env:
          OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}
          ANTHROPIC_API_KEY: ${{ secrets.ANTHROPIC_API_KEY }}
          GEMINI_API_KEY: ${{ secrets.GEMINI_API_KEY }}
      - if: always()
        uses: actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2
        with:
          name: eval-recorded-answers
          path: |
            eval.json
            prompts/*/evals/recorded/
          if-no-files-found: ignore
  publish:
    if: github.event_name == 'push'
    runs-on: ubuntu-latest
    timeout-minutes: 15
    environment: prompt-signing
    steps:
      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0
        with:
          fetch-depth: 0
          persist-credentials: false
      - uses: promptctl/promptctl@v0
        with:
          command: build --publish production
        env:
          PROMPTCTL_SIGNING_KEY: ${{ secrets.PROMPTCTL_SIGNING_KEY }}
          PROMPTCTL_DATABASE_URL: ${{ secrets.PROMPTCTL_DATABASE_URL }}
"#;

/// What `new` did.
pub enum Created {
    /// The name breaks the rule: `check`'s `structure/name` diagnostic.
    BadName(crate::diagnostic::Diagnostic),
    /// A new prompt folder: v1, and a test.
    Prompt { dir: String, files: Written },
    /// The next version of an existing prompt: v(N+1) copied from vN, a test for it, staging
    /// pointed at it.
    Next { dir: String, from: u32, to: u32, test: String, files: Written },
}

/// `promptctl new NAME`: a new prompt folder with v1 (a variable, served nowhere yet but
/// staging) and a test.
pub fn new_prompt(project: &Project, name: &str, description: Option<&str>) -> Result<Created> {
    let prompts_dir = project.config.prompts_dir.trim_end_matches('/');
    let dir = format!("{prompts_dir}/{name}");
    if let Some(diagnostic) = crate::check::name_diagnostic(&dir, name) {
        return Ok(Created::BadName(diagnostic));
    }
    if project.root.join(&dir).exists() {
        anyhow::bail!("prompt `{name}` already exists at `{dir}`; `promptctl new {name} --next` adds its next version");
    }
    let description = description.unwrap_or("TODO: what this prompt is for");
    let schema = manifest_schema_line(&project.root, prompts_dir).unwrap_or_default();
    let manifest = format!(
        "{schema}description = {}\n\n# The version each environment serves; add `production = 1` once it is reviewed.\n[activate]\nstaging = 1\n\n[[test]]\nname = \"v1-example\"\nversion = 1\nvars = {{ topic = \"prompts as code\" }}\ncontains = [\"prompts as code\"]\n",
        crate::lock::toml_string(description)
    );
    let version = "+++\ndescription = \"First version\"\nvariables.topic = { type = \"string\", max_len = 200, description = \"What the user asks about\" }\n+++\nYou are a helpful assistant. Answer the user's question about {{topic}} in three sentences.\n";
    let mut files = Written::default();
    files.file(&project.root, &format!("{dir}/prompt.toml"), &manifest)?;
    files.file(&project.root, &format!("{dir}/v1.prompt"), version)?;
    Ok(Created::Prompt { dir, files })
}

/// `promptctl new NAME --next`: copies the latest version vN of prompt NAME to v(N+1), front matter
/// included; adds a test for v(N+1) from the latest test's vars (that of vN, else the last one);
/// points `staging` at v(N+1). prompt.toml keeps its comments and layout.
pub fn next_version(project: &Project, name: &str) -> Result<Created> {
    use toml_edit::{value, DocumentMut, Item};
    let prompts_dir = project.config.prompts_dir.trim_end_matches('/');
    let dir = format!("{prompts_dir}/{name}");
    if let Some(diagnostic) = crate::check::name_diagnostic(&dir, name) {
        return Ok(Created::BadName(diagnostic));
    }
    let folder = project.root.join(&dir);
    let manifest_path = folder.join("prompt.toml");
    if !manifest_path.is_file() {
        anyhow::bail!(
            "no prompt `{name}` (no `{dir}/prompt.toml`); `promptctl new {name}` creates it"
        );
    }
    let latest = std::fs::read_dir(&folder)
        .with_context(|| format!("cannot list `{dir}`"))?
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name();
            let number = file.to_str()?.strip_prefix('v')?.strip_suffix(".prompt")?;
            number.parse::<u32>().ok().filter(|n| *n > 0 && number == n.to_string())
        })
        .max()
        .ok_or_else(|| anyhow::anyhow!("`{dir}` has no version file (v1.prompt) to copy"))?;
    let next = latest + 1;
    let version_bytes = crate::read::read(
        &folder.join(format!("v{latest}.prompt")),
        crate::read::TEXT_BYTES,
        "a version file",
    )
    .with_context(|| format!("cannot read `{dir}/v{latest}.prompt`"))?;
    let manifest_bytes =
        crate::read::read(&manifest_path, crate::read::MANIFEST_BYTES, "a prompt.toml")
            .with_context(|| format!("cannot read `{dir}/prompt.toml`"))?;
    let manifest_text = String::from_utf8(manifest_bytes)
        .map_err(|_| anyhow::anyhow!("`{dir}/prompt.toml` is not valid UTF-8"))?;
    let mut document: DocumentMut =
        manifest_text.parse().map_err(|error: toml_edit::TomlError| {
            anyhow::anyhow!(
                "`{dir}/prompt.toml` is not valid TOML ({}); `promptctl check` shows where",
                error.message().lines().next().unwrap_or("invalid")
            )
        })?;
    // The new test: a copy of vN's last test (else the last test), for v(N+1).
    let mut test_name = format!("v{next}");
    if let Some(tests) = document.get_mut("test").and_then(Item::as_array_of_tables_mut) {
        let names: Vec<String> = tests
            .iter()
            .filter_map(|test| test.get("name").and_then(Item::as_str).map(str::to_string))
            .collect();
        let of_latest = tests.iter().filter(|test| {
            test.get("version").and_then(Item::as_integer) == Some(i64::from(latest))
        });
        let of_latest = of_latest.last();
        let template = of_latest.or_else(|| tests.iter().last()).cloned();
        if let Some(template) = template.as_ref().filter(|test| !test.contains_key("version")) {
            // A test without `version` renders every activated version: v(N+1) too, once staging
            // serves it. No copy needed.
            test_name = template.get("name").and_then(Item::as_str).unwrap_or("test").to_string();
        } else if let Some(template) = template {
            let base = template.get("name").and_then(Item::as_str).unwrap_or("test");
            let base = base.strip_suffix(&format!("-v{latest}")).unwrap_or(base);
            test_name = format!("{base}-v{next}");
            while names.contains(&test_name) {
                test_name.push_str("-next");
            }
            let mut test = template;
            test.insert("name", value(test_name.clone()));
            test.insert("version", value(i64::from(next)));
            tests.push(test);
        }
    }
    let activate = document
        .entry("activate")
        .or_insert_with(|| Item::Table(toml_edit::Table::new()))
        .as_table_like_mut()
        .ok_or_else(|| anyhow::anyhow!("`[activate]` of `{dir}/prompt.toml` is not a table"))?;
    activate.insert("staging", value(i64::from(next)));
    let mut files = Written::default();
    let version_text = String::from_utf8(version_bytes)
        .map_err(|_| anyhow::anyhow!("`{dir}/v{latest}.prompt` is not valid UTF-8"))?;
    files.file(&project.root, &format!("{dir}/v{next}.prompt"), &version_text)?;
    if files.written.is_empty() {
        anyhow::bail!("`{dir}/v{next}.prompt` exists already");
    }
    std::fs::write(&manifest_path, document.to_string())
        .with_context(|| format!("cannot write `{dir}/prompt.toml`"))?;
    files.written.push(format!("{dir}/prompt.toml"));
    // A copied snapshot test needs its snapshot: the check renders it.
    let options = crate::check::Options { bless: true };
    let run = super::check::check(project, &[folder], options, false)?;
    files.written.extend(run.snapshot_writes.into_iter().map(|(path, _)| path));
    Ok(Created::Next { dir, from: latest, to: next, test: test_name, files })
}
