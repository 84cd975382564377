//! The build stage: the signed bundle (with its provenance from git) and the generated registry,
//! from a clean check; the signing key `build` uses; reading and verifying a bundle for the deploy
//! stage and `verify-bundle`.

use super::check::{self, CheckRun, Gate, Keep};
use crate::bundle::{self, Provenance};
use crate::config::{self, Project};
use crate::source::{self, PromptFiles};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The environment variable holding a secret key file's contents, for CI secret stores.
pub const SIGNING_KEY_VARIABLE: &str = "PROMPTCTL_SIGNING_KEY";
/// Where `build` keeps the development key when no signing key is configured.
pub const DEV_KEY_DIR: &str = ".promptctl/dev-key";
pub const DEV_SECRET_KEY: &str = "promptctl-dev.key";
pub const DEV_PUBLIC_KEY: &str = "promptctl-dev.pub";
/// Where `build` writes and `publish` reads the bundle by default, relative to the project root.
pub const DEFAULT_OUT: &str = ".promptctl/build";

/// What `build` is asked for.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The folder for bundle.json and its signature (default: `DEFAULT_OUT` in the project).
    pub out: Option<PathBuf>,
    /// The secret key file (default: `SIGNING_KEY_VARIABLE`, `[signing] secret_key`, the
    /// development key).
    pub key: Option<PathBuf>,
    pub expires_in_days: Option<u32>,
}

/// What `build` did.
pub enum Build {
    /// The check reports errors: nothing was written.
    Refused(CheckRun),
    Built(Box<Built>),
}

/// A written, signed bundle.
pub struct Built {
    pub bundle_path: PathBuf,
    pub signature_path: PathBuf,
    pub prompts: usize,
    pub versions: usize,
    pub provenance: Provenance,
    /// The sha256 of bundle.json.
    pub sha256: String,
    /// The signing key's id, the key as named for messages, and whether it is the development key.
    pub key: SigningKey,
    /// When the bundle expires (RFC 3339), if it does.
    pub expires: Option<String>,
    /// The generated registry's path (`[codegen] out`), when it was stale and has been rewritten.
    pub codegen_written: Option<String>,
}

/// The key a bundle is signed with.
pub struct SigningKey {
    pub secret: crate::signing::SecretKey,
    /// Where it came from, for messages (a path in backquotes, or the variable).
    pub name: String,
    pub development: bool,
    /// The development key did not exist and has just been created.
    pub created: bool,
}

fn signing_password() -> Option<String> {
    std::env::var(crate::signing::PASSWORD_VARIABLE).ok()
}

/// A key file's text (a minisign key is a few hundred bytes; its path may come from the committed
/// promptctl.toml, so it is read bounded).
pub fn read_key_file(path: &Path) -> Result<String> {
    let bytes = crate::read::read(path, crate::read::KEY_BYTES, "a key file")?;
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("it is not valid UTF-8"))
}

/// The key `build` signs with: `key_file`, else `SIGNING_KEY_VARIABLE`, else `[signing]
/// secret_key`, else the secret key `keygen` writes by default when it exists, else the project's
/// development key (created when missing).
pub fn signing_key(project: &Project, key_file: Option<&Path>) -> Result<SigningKey> {
    let password = signing_password();
    let read_file = |path: &Path, name: &str| -> Result<crate::signing::SecretKey> {
        let text = read_key_file(path)
            .with_context(|| format!("cannot read the secret key `{}`", path.display()))?;
        Ok(crate::signing::read_secret_key(&text, password.as_deref(), name)?)
    };
    let deployable = |secret, name| SigningKey { secret, name, development: false, created: false };
    if let Some(path) = key_file {
        let name = format!("`{}`", path.display());
        return Ok(deployable(read_file(path, &name)?, name));
    }
    if let Ok(text) = std::env::var(SIGNING_KEY_VARIABLE) {
        let name = format!("from {SIGNING_KEY_VARIABLE}");
        let secret = crate::signing::read_secret_key(&text, password.as_deref(), &name)?;
        return Ok(deployable(secret, name));
    }
    if let Some(path) = &project.config.signing.secret_key {
        let name = format!("`{path}` (`[signing] secret_key`)");
        return Ok(deployable(read_file(&project.root.join(path), &name)?, name));
    }
    let default = project.root.join(super::setup::DEFAULT_SECRET_KEY);
    if default.is_file() {
        let name = format!("`{}`", super::setup::DEFAULT_SECRET_KEY);
        return Ok(deployable(read_file(&default, &name)?, name));
    }
    let dir = project.root.join(DEV_KEY_DIR);
    let secret_path = dir.join(DEV_SECRET_KEY);
    let name = format!("`{DEV_KEY_DIR}/{DEV_SECRET_KEY}`");
    let created = !secret_path.exists();
    if created {
        crate::signing::write_key_pair(&dir.join(DEV_PUBLIC_KEY), &secret_path, None)?;
        let _ = std::fs::write(dir.join(".gitignore"), "*\n");
    }
    let text = read_key_file(&secret_path)
        .with_context(|| format!("cannot read the development key {name}"))?;
    let secret = crate::signing::read_secret_key(&text, None, &name)?;
    Ok(SigningKey { secret, name, development: true, created })
}

/// `promptctl build`: checks every prompt and, when the check is clean, writes the signed bundle
/// and (with `[codegen]`) the generated registry when it is stale.
pub fn build(project: &Project, options: &BuildOptions) -> Result<Build> {
    let inputs =
        [config::FILE_NAME, project.config.prompts_dir.as_str(), project.config.lock_file.as_str()];
    // git reads HEAD and its index, and the files beside the prompts are read, while the prompts
    // are checked and read.
    let (gate, head) = std::thread::scope(|scope| {
        let head = scope.spawn(|| (bundle::head(&project.root, &inputs), read_top_inputs(project)));
        // Each prompt's entry of the bundle is serialised as soon as it is checked; the catalog
        // keeps only what the generated module needs, if it is generated.
        let keep = Keep::Bundle { served: project.config.codegen.is_some() };
        let gate = check::gate(project, keep);
        (gate, head.join())
    });
    let mut run = match gate? {
        Gate::Clean(run) => run,
        Gate::Errors(run) => return Ok(Build::Refused(run)),
    };
    let (head, top_inputs) = match head {
        Ok((head, top_inputs)) => (head?, top_inputs),
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let provenance = {
        let extras = top_inputs.zip(read_extras(&run));
        let files = extras.as_ref().map(|(top, extras)| {
            let prompt_files = run.prompts.iter().flat_map(PromptFiles::files);
            prompt_files.chain(top).chain(extras).map(work_file).collect::<Vec<_>>()
        });
        head.provenance(&project.root, &inputs, files.as_deref())?
    };
    let catalog = crate::catalog::Catalog::new(&project.config, std::mem::take(&mut run.catalog));
    let entries = std::mem::take(&mut run.bundle_entries);
    drop(run);
    let key = signing_key(project, options.key.as_deref())?;
    let bundle_options = bundle::Options {
        expires_in_days: options.expires_in_days,
        development_signed: key.development,
    };

    let out = options.out.clone().unwrap_or_else(|| project.root.join(DEFAULT_OUT));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create `{}`", out.display()))?;
    let bundle_path = out.join("bundle.json");
    let signature_path = out.join("bundle.json.minisig");
    let signed = std::fs::File::create(&bundle_path)
        .and_then(|mut file| {
            let environments = &catalog.environments;
            let secret = &key.secret;
            bundle::write_entries(
                &entries,
                environments,
                &provenance,
                secret,
                bundle_options,
                &mut file,
            )
        })
        .with_context(|| format!("cannot write `{}`", bundle_path.display()))?;
    std::fs::write(&signature_path, &signed.signature)
        .with_context(|| format!("cannot write `{}`", signature_path.display()))?;

    let mut codegen_written = None;
    if let Some(codegen) = &project.config.codegen {
        let generated = crate::codegen::generate(&catalog);
        let target = project.root.join(&codegen.out);
        if std::fs::read(&target).ok().as_deref() != Some(generated.as_bytes()) {
            write_creating(&target, generated.as_bytes(), &codegen.out)?;
            codegen_written = Some(codegen.out.clone());
        }
    }
    let built = Built {
        bundle_path,
        signature_path,
        prompts: entries.len(),
        versions: entries.iter().map(|entry| entry.versions).sum(),
        expires: bundle::expires(&provenance, bundle_options),
        provenance,
        sha256: signed.sha256,
        key,
        codegen_written,
    };
    // Hundreds of thousands of allocations: freeing them one by one takes longer than the
    // process's exit, which returns the memory at once.
    std::mem::forget((catalog, entries));
    Ok(Build::Built(Box::new(built)))
}

/// Writes `bytes` to `target` (`shown` in messages), creating its folder first.
fn write_creating(target: &Path, bytes: &[u8], shown: &str) -> Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(target, bytes).with_context(|| format!("cannot write `{shown}`"))
}

/// promptctl.toml and the lock file, read for their git blob ids (`None`: one could not be read;
/// a missing lock file is simply left out).
fn read_top_inputs(project: &Project) -> Option<Vec<source::SourceFile>> {
    let mut files = Vec::new();
    let caps =
        [(crate::read::CONFIG_BYTES, "promptctl.toml"), (crate::read::LOCK_BYTES, "the lock file")];
    for (relative, (limit, what)) in
        [config::FILE_NAME, project.config.lock_file.as_str()].into_iter().zip(caps)
    {
        match source::read_one(&project.root, relative, limit, what) {
            Ok(mut file) => {
                drop(file.take_bytes());
                files.push(file);
            }
            Err(error) if error.is_not_found() => {}
            Err(_) => return None,
        }
    }
    Some(files)
}

/// The entries of the prompts folder that no check read, read now for their git blob ids (`None`:
/// one is a folder, a link or unreadable, so only `git status` can tell whether it is committed).
fn read_extras(run: &CheckRun) -> Option<Vec<source::SourceFile>> {
    let extras = run.extras.iter().chain(run.prompts.iter().flat_map(|prompt| &prompt.extras));
    extras
        .map(|extra| {
            let mut file = extra.read().ok().filter(|_| extra.is_file)?;
            drop(file.take_bytes());
            Some(file)
        })
        .collect()
}

fn work_file(file: &source::SourceFile) -> bundle::WorkFile<'_> {
    bundle::WorkFile { path: &file.path, blob: file.blob, executable: file.executable }
}

/// What `codegen` found.
pub enum Generated {
    /// The check reports errors: nothing was generated.
    Refused(CheckRun),
    /// The output holds the generated code already.
    UpToDate,
    /// Some files differ: written (or removed), unless only checking.
    Changed { files: Vec<FileChange>, written: bool },
}

/// One generated file that differs from what is on disk.
pub struct FileChange {
    /// Relative to the project root, as given (`--out`, joined with the file's name in a folder).
    pub path: String,
    /// What the file holds, `None` when it does not exist.
    pub current: Option<String>,
    /// What it should hold, `None` for a file generated earlier that is no longer generated (a
    /// JSON Schema of a version that no longer exists), which writing removes.
    pub generated: Option<String>,
}

/// `promptctl codegen`: the typed registry (Rust or TypeScript, a file) or the JSON Schemas of the
/// variables (a folder) from a clean check, written to `out` (relative to the project root) unless
/// `check_only`.
pub fn codegen(
    project: &Project,
    lang: crate::codegen::Lang,
    out: &str,
    check_only: bool,
) -> Result<Generated> {
    use crate::codegen::{json_schema, typescript, Lang};
    let run = match check::gate(project, Keep::Catalog)? {
        Gate::Clean(run) => run,
        Gate::Errors(run) => return Ok(Generated::Refused(run)),
    };
    let catalog = crate::catalog::Catalog::new(&project.config, run.catalog);
    let wanted: Vec<(String, String)> = match lang {
        Lang::Rust => vec![(out.to_string(), crate::codegen::generate(&catalog))],
        Lang::Typescript => vec![(out.to_string(), typescript::generate(&catalog))],
        Lang::JsonSchema => {
            let folder = out.trim_end_matches('/');
            let files = json_schema::generate(&catalog);
            files.into_iter().map(|(path, text)| (format!("{folder}/{path}"), text)).collect()
        }
    };
    let mut files = Vec::new();
    for (path, generated) in wanted {
        let current = read_current(&project.root.join(&path), &path)?;
        if current.as_deref() != Some(generated.as_str()) {
            files.push(FileChange { path, current, generated: Some(generated) });
        }
    }
    if lang == Lang::JsonSchema {
        for path in earlier_schemas(project, out)? {
            if !catalog_has(&catalog, out, &path) {
                let current = read_current(&project.root.join(&path), &path)?;
                files.push(FileChange { path, current, generated: None });
            }
        }
    }
    if files.is_empty() {
        return Ok(Generated::UpToDate);
    }
    if !check_only {
        for file in &files {
            let target = project.root.join(&file.path);
            match &file.generated {
                Some(text) => write_creating(&target, text.as_bytes(), &file.path)?,
                None => std::fs::remove_file(&target)
                    .with_context(|| format!("cannot remove `{}`", file.path))?,
            }
        }
    }
    Ok(Generated::Changed { files, written: !check_only })
}

/// A file's text, `None` when it does not exist.
fn read_current(target: &Path, shown: &str) -> Result<Option<String>> {
    match std::fs::read(target) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read `{shown}`")),
    }
}

/// Whether `path` (`{out}/{name}/v{N}.schema.json`) is one the catalog generates.
fn catalog_has(catalog: &crate::catalog::Catalog, out: &str, path: &str) -> bool {
    let folder = out.trim_end_matches('/');
    catalog.prompts.iter().any(|prompt| {
        prompt.versions.iter().any(|version| {
            path == format!("{folder}/{}", crate::codegen::json_schema::path(prompt, version))
        })
    })
}

/// The files of the folder `out` that an earlier `codegen --lang json-schema` wrote
/// (`*/*.schema.json` carrying its marker), as `{out}/{name}/{file}`, sorted.
fn earlier_schemas(project: &Project, out: &str) -> Result<Vec<String>> {
    let folder = out.trim_end_matches('/');
    let root = project.root.join(folder);
    let mut found = Vec::new();
    let prompts = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(error) => return Err(error).with_context(|| format!("cannot read `{folder}`")),
    };
    for prompt in prompts {
        let prompt = prompt.with_context(|| format!("cannot read `{folder}`"))?;
        if !prompt.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        let name = prompt.file_name().to_string_lossy().into_owned();
        let files = std::fs::read_dir(prompt.path())
            .with_context(|| format!("cannot read `{folder}/{name}`"))?;
        for file in files {
            let file = file.with_context(|| format!("cannot read `{folder}/{name}`"))?;
            let file_name = file.file_name().to_string_lossy().into_owned();
            if !file_name.ends_with(".schema.json")
                || !file.file_type().is_ok_and(|kind| kind.is_file())
            {
                continue;
            }
            let generated = crate::read::read(&file.path(), crate::read::OTHER_BYTES, "a schema")
                .is_ok_and(|bytes| {
                    let marker = crate::codegen::json_schema::MARKER.as_bytes();
                    bytes.windows(marker.len()).any(|window| window == marker)
                });
            if generated {
                found.push(format!("{folder}/{name}/{file_name}"));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Reads a bundle (a bundle.json file, or the folder holding it) and its signature, and verifies
/// them with the given public keys, or else the keys `promptctl.toml` trusts (and, for a bundle
/// that says it is development-signed, this project's development key). `every_prompt` checks
/// every prompt now; otherwise they are checked when used (`bundle::authenticate`).
pub fn read_verified(
    project: Option<&Project>,
    bundle: &Path,
    pubkeys: &[PathBuf],
    every_prompt: bool,
) -> Result<ReadBundle> {
    use crate::bundle::Error;
    let bundle_path =
        if bundle.is_dir() { bundle.join("bundle.json") } else { bundle.to_path_buf() };
    let mut signature_path = bundle_path.clone().into_os_string();
    signature_path.push(".minisig");
    let signature_path = PathBuf::from(signature_path);
    let bytes = std::fs::read(&bundle_path)
        .map_err(|source| Error::Read { path: bundle_path.clone(), source })?;
    let signature = match std::fs::read_to_string(&signature_path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::SignatureMissing { path: signature_path }.into())
        }
        Err(source) => return Err(Error::Read { path: signature_path, source }.into()),
    };
    let read_key = |path: &Path, shown: String| -> Result<crate::signing::PublicKey> {
        let text =
            read_key_file(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        Ok(crate::signing::read_public_key(&text, &shown)?)
    };
    let mut trusted = Vec::new();
    if pubkeys.is_empty() {
        if let Some(project) = project {
            for path in &project.config.signing.public_keys {
                trusted.push(read_key(&project.root.join(path), format!("`{path}`"))?);
            }
        }
    } else {
        for path in pubkeys {
            trusted.push(read_key(path, format!("`{}`", path.display()))?);
        }
    }
    // A development-signed bundle also verifies with this project's own development key: trusted
    // when the signature names it, and then only for a bundle that says it is development-signed.
    let signed_by = crate::signing::signature_key_id(&signature).ok();
    let mut development_key = None;
    if let Some(project) = project {
        let path = project.root.join(DEV_KEY_DIR).join(DEV_PUBLIC_KEY);
        if path.is_file() {
            let key = read_key(&path, format!("`{DEV_KEY_DIR}/{DEV_PUBLIC_KEY}`"))?;
            if signed_by.as_deref() == Some(key.key_id().as_str())
                && !trusted
                    .iter()
                    .any(|trusted: &crate::signing::PublicKey| trusted.key_id() == key.key_id())
            {
                development_key = Some(key.key_id());
                trusted.push(key);
            }
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    let verified = if every_prompt {
        bundle::verify(bytes, &signature, &trusted, now)?
    } else {
        bundle::authenticate(bytes, &signature, &trusted, now)?
    };
    if development_key.is_some() && !verified.development_signed() {
        anyhow::bail!(
            "`{}` is signed with the development key but does not say it is development-signed; rebuild it with `promptctl build`",
            bundle_path.display()
        );
    }
    Ok(ReadBundle { path: bundle_path, verified })
}

/// A bundle read and verified, and the path of its bundle.json.
pub struct ReadBundle {
    pub path: PathBuf,
    pub verified: bundle::Verified,
}
