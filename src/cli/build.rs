//! `keygen`, `build` and `verify-bundle`: signing keys, the signed bundle (with its provenance from
//! git), and its verification.

use super::*;

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// The public key file to write (default: keys/promptctl.pub in the project); commit it and list it in `[signing] public_keys`
    #[arg(long, value_name = "FILE")]
    pub public: Option<PathBuf>,
    /// The secret key file to write (default: .promptctl/keys/promptctl.key in the project); keep it out of git, CI reads it from PROMPTCTL_SIGNING_KEY
    #[arg(long, value_name = "FILE")]
    pub secret: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The folder to write bundle.json and bundle.json.minisig to (default: .promptctl/build in the project)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The minisign secret key file to sign with (default: PROMPTCTL_SIGNING_KEY, then `[signing] secret_key`, then a local development key)
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The bundle expires this many days after its commit's time (1 to 36500)
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub expires_in: Option<u32>,
    /// Then publish the bundle to this environment (as `promptctl publish --env ENV` would)
    #[arg(long, value_name = "ENV")]
    pub publish: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyBundleArgs {
    /// The bundle: a bundle.json file (its signature is BUNDLE.minisig) or the folder holding it
    pub bundle: PathBuf,
    /// A trusted minisign public key file (repeatable; default: `[signing] public_keys` of promptctl.toml)
    #[arg(long = "pubkey", value_name = "FILE")]
    pub pubkeys: Vec<PathBuf>,
}

/// The environment variable holding a secret key file's contents, for CI secret stores.
pub(super) const SIGNING_KEY_VARIABLE: &str = "PROMPTCTL_SIGNING_KEY";
/// Where `build` keeps the development key when no signing key is configured.
pub(super) const DEV_KEY_DIR: &str = ".promptctl/dev-key";
pub(super) const DEV_SECRET_KEY: &str = "promptctl-dev.key";
pub(super) const DEV_PUBLIC_KEY: &str = "promptctl-dev.pub";

pub(super) fn signing_password() -> Option<String> {
    std::env::var(crate::signing::PASSWORD_VARIABLE).ok()
}

pub(super) fn keygen(project: &Project, args: &KeygenArgs) -> Result<i32> {
    let public_path =
        args.public.clone().unwrap_or_else(|| project.root.join("keys/promptctl.pub"));
    let secret_path =
        args.secret.clone().unwrap_or_else(|| project.root.join(".promptctl/keys/promptctl.key"));
    let secret_dir_existed =
        secret_path.parent().is_none_or(|dir| dir.as_os_str().is_empty() || dir.exists());
    let password = signing_password();
    let key_id = crate::signing::write_key_pair(&public_path, &secret_path, password.as_deref())?;
    if !secret_dir_existed {
        if let Some(dir) = secret_path.parent() {
            // The folder is new and holds a secret: keep all of it out of git.
            let _ = std::fs::write(dir.join(".gitignore"), "*\n");
        }
    }
    let public = shown(project, &public_path);
    let secret = shown(project, &secret_path);
    println!("wrote {public}: public key {key_id}; commit it and list it in `[signing] public_keys` of promptctl.toml");
    let protection = if password.is_some() {
        format!("encrypted with the password in {}", crate::signing::PASSWORD_VARIABLE)
    } else {
        format!(
            "not encrypted (set {} before keygen to encrypt it)",
            crate::signing::PASSWORD_VARIABLE
        )
    };
    println!("wrote {secret}: secret key, mode 0600, {protection}; never commit it: give its contents to CI as {SIGNING_KEY_VARIABLE}, or pass `build --key {secret}`");
    Ok(exit::OK)
}

/// A path for messages: relative to the project root when it is inside it.
pub(super) fn shown(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.root).unwrap_or(path).display().to_string()
}

/// A key file's text (a minisign key is a few hundred bytes; its path may come from the committed
/// promptctl.toml, so it is read bounded).
pub(super) fn read_key_file(path: &Path) -> Result<String> {
    let bytes = crate::read::read(path, crate::read::KEY_BYTES, "a key file")?;
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("it is not valid UTF-8"))
}

/// The key `build` signs with, where it came from, and whether it is the development key.
pub(super) fn signing_key(
    project: &Project,
    key_file: Option<&Path>,
) -> Result<(crate::signing::SecretKey, String, bool)> {
    let password = signing_password();
    let read_file = |path: &Path, name: String| -> Result<crate::signing::SecretKey> {
        let text = read_key_file(path)
            .with_context(|| format!("cannot read the secret key `{}`", path.display()))?;
        Ok(crate::signing::read_secret_key(&text, password.as_deref(), &name)?)
    };
    if let Some(path) = key_file {
        let name = format!("`{}`", path.display());
        return Ok((read_file(path, name.clone())?, name, false));
    }
    if let Ok(text) = std::env::var(SIGNING_KEY_VARIABLE) {
        let name = format!("from {SIGNING_KEY_VARIABLE}");
        return Ok((
            crate::signing::read_secret_key(&text, password.as_deref(), &name)?,
            name,
            false,
        ));
    }
    if let Some(path) = &project.config.signing.secret_key {
        let name = format!("`{path}` (`[signing] secret_key`)");
        return Ok((read_file(&project.root.join(path), name.clone())?, name, false));
    }
    let dir = project.root.join(DEV_KEY_DIR);
    let secret_path = dir.join(DEV_SECRET_KEY);
    let name = format!("`{DEV_KEY_DIR}/{DEV_SECRET_KEY}`");
    if !secret_path.exists() {
        crate::signing::write_key_pair(&dir.join(DEV_PUBLIC_KEY), &secret_path, None)?;
        let _ = std::fs::write(dir.join(".gitignore"), "*\n");
        eprintln!("note: no signing key configured: created the development key {name}");
    }
    let text = read_key_file(&secret_path)
        .with_context(|| format!("cannot read the development key {name}"))?;
    Ok((crate::signing::read_secret_key(&text, None, &name)?, name, true))
}

pub(super) fn build(project: &Project, args: &BuildArgs, color: bool) -> Result<i32> {
    use crate::bundle;
    let inputs =
        [config::FILE_NAME, project.config.prompts_dir.as_str(), project.config.lock_file.as_str()];
    // git reads HEAD and its index, and the files beside the prompts are read, while the prompts
    // are checked and read.
    let (run, head) = std::thread::scope(|scope| {
        let head = scope.spawn(|| (bundle::head(&project.root, &inputs), read_top_inputs(project)));
        // Each prompt's entry of the bundle is serialised as soon as it is checked; the catalog
        // keeps only what the generated module needs, if it is generated.
        let keep = Keep::Bundle { served: project.config.codegen.is_some() };
        let run = checked_run(project, color, "building", keep);
        (run, head.join())
    });
    let Some(mut run) = run? else {
        return Ok(exit::ERRORS);
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
    let (key, key_name, development_signed) = signing_key(project, args.key.as_deref())?;
    let options = bundle::Options { expires_in_days: args.expires_in, development_signed };

    let out = args.out.clone().unwrap_or_else(|| project.root.join(".promptctl/build"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create `{}`", out.display()))?;
    let bundle_path = out.join("bundle.json");
    let signature_path = out.join("bundle.json.minisig");
    let signed = std::fs::File::create(&bundle_path)
        .and_then(|mut file| {
            let environments = &catalog.environments;
            bundle::write_entries(&entries, environments, &provenance, &key, options, &mut file)
        })
        .with_context(|| format!("cannot write `{}`", bundle_path.display()))?;
    std::fs::write(&signature_path, &signed.signature)
        .with_context(|| format!("cannot write `{}`", signature_path.display()))?;

    if let Some(codegen) = &project.config.codegen {
        let generated = crate::codegen::generate(&catalog);
        let target = project.root.join(&codegen.out);
        if std::fs::read(&target).ok().as_deref() != Some(generated.as_bytes()) {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create `{}`", parent.display()))?;
            }
            std::fs::write(&target, &generated)
                .with_context(|| format!("cannot write `{}`", codegen.out))?;
            println!("wrote {} (it was stale: commit it)", codegen.out);
        }
    }

    let versions: usize = entries.iter().map(|entry| entry.versions).sum();
    let commit = &provenance.git_commit[..provenance.git_commit.len().min(12)];
    println!(
        "built {}: {} prompts, {versions} versions, seq {}, commit {commit}, sha256 {}",
        shown(project, &bundle_path),
        entries.len(),
        provenance.seq,
        &signed.sha256[..12],
    );
    println!("signed {} with key {} ({key_name})", shown(project, &signature_path), key.key_id());
    if let Some(expires) = &bundle::expires(&provenance, options) {
        println!("expires {expires}");
    }
    if development_signed {
        eprintln!("warning: the bundle is development-signed: only the embedded store accepts it; configure a key (`promptctl keygen`, then `--key`, {SIGNING_KEY_VARIABLE} or `[signing] secret_key`) for deployable bundles");
    }
    if provenance.dirty {
        eprintln!("warning: promptctl.toml, the prompts or the lock file have uncommitted changes: the bundle is marked dirty, and publishing it to production needs `--force`");
    }
    // Hundreds of thousands of allocations: freeing them one by one takes longer than the
    // process's exit, which returns the memory at once.
    std::mem::forget((catalog, entries));
    Ok(exit::OK)
}

/// promptctl.toml and the lock file, read for their git blob ids (`None`: one could not be read;
/// a missing lock file is simply left out).
pub(super) fn read_top_inputs(project: &Project) -> Option<Vec<source::SourceFile>> {
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
pub(super) fn read_extras(run: &CheckRun) -> Option<Vec<source::SourceFile>> {
    let extras = run.extras.iter().chain(run.prompts.iter().flat_map(|prompt| &prompt.extras));
    extras
        .map(|extra| {
            let mut file = extra.read().ok().filter(|_| extra.is_file)?;
            drop(file.take_bytes());
            Some(file)
        })
        .collect()
}

pub(super) fn work_file(file: &source::SourceFile) -> crate::bundle::WorkFile<'_> {
    crate::bundle::WorkFile { path: &file.path, blob: file.blob, executable: file.executable }
}

/// Reads a bundle (a bundle.json file, or the folder holding it) and its signature, and verifies
/// them with the given public keys, or else the keys `promptctl.toml` trusts (and, for a bundle
/// that says it is development-signed, this project's development key). `every_prompt` checks
/// every prompt now; otherwise they are checked when used (`bundle::authenticate`).
pub(crate) fn read_verified(
    project: Option<&Project>,
    bundle: &Path,
    pubkeys: &[PathBuf],
    every_prompt: bool,
) -> Result<(PathBuf, crate::bundle::Verified)> {
    use crate::bundle::{self, Error};
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
    Ok((bundle_path, verified))
}

pub(super) fn verify_bundle(root: Option<&Path>, args: &VerifyBundleArgs) -> Result<i32> {
    let project =
        if args.pubkeys.is_empty() { Some(open_project(root)?) } else { open_project(root).ok() };
    let (bundle_path, verified) =
        read_verified(project.as_ref(), &args.bundle, &args.pubkeys, true)?;
    let mut versions = 0;
    for name in verified.names() {
        versions += verified.prompt(name)?.versions.len();
    }
    let header = verified.header();
    println!(
        "verified {}: format {}, seq {}, commit {}, {} prompts, {versions} versions, signed by key {}",
        bundle_path.display(),
        header.format,
        verified.seq(),
        header.git_commit,
        verified.len(),
        verified.key_id()
    );
    if let Some(expires) = &header.expires {
        println!("expires {expires}");
    }
    if header.dirty {
        eprintln!("warning: built from uncommitted changes (dirty); publishing it to production needs `--force`");
    }
    if verified.development_signed() {
        eprintln!("warning: development-signed: only the embedded store accepts it");
    }
    Ok(exit::OK)
}
