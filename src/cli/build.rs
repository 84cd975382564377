//! `keygen`, `build` and `verify-bundle`: their arguments, and what they print of the build stage
//! (`pipeline::build`).

use super::*;
use crate::pipeline::build::{self as stage, Build, SIGNING_KEY_VARIABLE};

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// The public key file to write (default: keys/promptctl.pub in the project); commit it and list it in `[signing] public_keys`
    #[arg(long, value_name = "FILE")]
    pub public: Option<PathBuf>,
    /// The secret key file to write (default: .promptctl/keys/promptctl.key in the project, which `build` then signs with); keep it out of git, CI reads it from PROMPTCTL_SIGNING_KEY
    #[arg(long, value_name = "FILE")]
    pub secret: Option<PathBuf>,
    /// Do not add the public key to `[signing] public_keys` of promptctl.toml
    #[arg(long)]
    pub no_config: bool,
    /// `human` lines, or `json`: one object with the key files, the key id and what was done to promptctl.toml (never the key)
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The folder to write bundle.json and bundle.json.minisig to (default: .promptctl/build in the project)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The minisign secret key file to sign with (default: PROMPTCTL_SIGNING_KEY, then `[signing] secret_key`, then keygen's .promptctl/keys/promptctl.key, then a local development key)
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The bundle expires this many days after its commit's time (1 to 36500)
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub expires_in: Option<u32>,
    /// Then publish the bundle to this environment (as `promptctl publish --env ENV` would)
    #[arg(long, value_name = "ENV")]
    pub publish: Option<String>,
    /// `human` lines, or `json`: one object describing the bundle (or the diagnostics that refused it)
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct VerifyBundleArgs {
    /// The bundle: a bundle.json file (its signature is BUNDLE.minisig) or the folder holding it
    pub bundle: PathBuf,
    /// A trusted minisign public key file (repeatable; default: `[signing] public_keys` of promptctl.toml)
    #[arg(long = "pubkey", value_name = "FILE")]
    pub pubkeys: Vec<PathBuf>,
    /// `human` lines, or `json`: one object describing the verified bundle
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

/// Prints `value` as one pretty JSON object on stdout.
pub(super) fn print_json(value: &serde_json::Value) {
    println!("{value:#}");
}

/// The JSON object of a command that `check`'s errors refused: its status and the diagnostics.
pub(super) fn refused_json(run: &crate::pipeline::check::CheckRun) -> serde_json::Value {
    let errors: Vec<Diagnostic> = run.errors().cloned().collect();
    let diagnostics: serde_json::Value =
        serde_json::from_str(&report::json(&errors)).unwrap_or_default();
    serde_json::json!({ "status": "refused", "diagnostics": diagnostics })
}

pub(super) fn keygen(project: &Project, args: &KeygenArgs) -> Result<i32> {
    use crate::pipeline::setup::{self, Trust};
    let request = setup::KeygenRequest {
        public: args.public.clone(),
        secret: args.secret.clone(),
        no_config: args.no_config,
    };
    let pair = setup::keygen(project, &request)?;
    let public = shown(project, &pair.public);
    let secret = shown(project, &pair.secret);
    if args.format == OutputFormat::Json {
        let config = match &pair.config {
            Trust::Added(_) => "added",
            Trust::Listed(_) => "listed",
            Trust::Untouched => "untouched",
        };
        print_json(&serde_json::json!({
            "status": "written",
            "public_key_file": public,
            "secret_key_file": secret,
            "key_id": pair.key_id.to_string(),
            "encrypted": pair.encrypted,
            "config": config,
        }));
        return Ok(exit::OK);
    }
    let variable = crate::signing::PASSWORD_VARIABLE;
    match &pair.config {
        Trust::Added(path) => println!("wrote {public}: public key {}; added `{path}` to `[signing] public_keys` of promptctl.toml: commit both", pair.key_id),
        Trust::Listed(_) => println!("wrote {public}: public key {}; `[signing] public_keys` of promptctl.toml lists it already: commit it", pair.key_id),
        Trust::Untouched => println!("wrote {public}: public key {}; commit it and list it in `[signing] public_keys` of promptctl.toml", pair.key_id),
    }
    let protection = if pair.encrypted {
        format!("encrypted with the password in {variable}")
    } else {
        format!("not encrypted (set {variable} before keygen to encrypt it)")
    };
    println!("wrote {secret}: secret key, mode 0600, {protection}; never commit it: give its contents to CI as {SIGNING_KEY_VARIABLE}, or pass `build --key {secret}`");
    Ok(exit::OK)
}

/// A path for messages: relative to the project root when it is inside it.
pub(super) fn shown(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.root).unwrap_or(path).display().to_string()
}

pub(super) fn build(project: &Project, args: &BuildArgs, color: bool) -> Result<i32> {
    let options = stage::BuildOptions {
        out: args.out.clone(),
        key: args.key.clone(),
        expires_in_days: args.expires_in,
    };
    let built = match stage::build(project, &options)? {
        Build::Refused(run) => {
            if args.format == OutputFormat::Json {
                print_json(&refused_json(&run));
            }
            checking::refuse(&run, color, "building");
            return Ok(exit::ERRORS);
        }
        Build::Built(built) => built,
    };
    let key = &built.key;
    if key.created {
        eprintln!("note: no signing key configured: created the development key {}", key.name);
    }
    if let Some(out) = &built.codegen_written {
        eprintln!("warning: `{out}` was stale: build rewrote it from the prompts; commit it (`promptctl codegen --check` fails until you do)");
    }
    let provenance = &built.provenance;
    if args.format == OutputFormat::Json {
        print_json(&serde_json::json!({
            "status": "built",
            "bundle": shown(project, &built.bundle_path),
            "signature": shown(project, &built.signature_path),
            "prompts": built.prompts,
            "versions": built.versions,
            "seq": provenance.seq,
            "git_commit": provenance.git_commit,
            "dirty": provenance.dirty,
            "sha256": built.sha256,
            "key_id": key.secret.key_id().to_string(),
            "development_signed": key.development,
            "expires": built.expires.as_ref().map(|e| e.to_string()),
            "codegen_rewritten": built.codegen_written,
        }));
    }
    let commit = &provenance.git_commit[..provenance.git_commit.len().min(12)];
    if args.format == OutputFormat::Human && !quiet() {
        println!(
            "built {}: {} prompts, {} versions, seq {}, commit {commit}, sha256 {}",
            shown(project, &built.bundle_path),
            built.prompts,
            built.versions,
            provenance.seq,
            &built.sha256[..12],
        );
        let signature = shown(project, &built.signature_path);
        println!("signed {signature} with key {} ({})", key.secret.key_id(), key.name);
        if let Some(expires) = &built.expires {
            println!("expires {expires}");
        }
    }
    if key.development {
        eprintln!("warning: the bundle is development-signed: only the embedded store accepts it; configure a key (`promptctl keygen`, then `--key`, {SIGNING_KEY_VARIABLE} or `[signing] secret_key`) for deployable bundles");
    }
    if provenance.dirty {
        eprintln!("warning: promptctl.toml, the prompts or the lock file have uncommitted changes: the bundle is marked dirty, and publishing it to production needs `--force`");
    }
    Ok(exit::OK)
}

pub(super) fn verify_bundle(root: Option<&Path>, args: &VerifyBundleArgs) -> Result<i32> {
    let project =
        if args.pubkeys.is_empty() { Some(open_project(root)?) } else { open_project(root).ok() };
    let stage::ReadBundle { path: bundle_path, verified } =
        stage::read_verified(project.as_ref(), &args.bundle, &args.pubkeys, true)?;
    let mut versions = 0;
    for name in verified.names() {
        versions += verified.prompt(name)?.versions.len();
    }
    let header = verified.header();
    if args.format == OutputFormat::Json {
        print_json(&serde_json::json!({
            "status": "verified",
            "bundle": bundle_path.display().to_string(),
            "format": header.format,
            "seq": verified.seq(),
            "git_commit": header.git_commit,
            "prompts": verified.len(),
            "versions": versions,
            "key_id": verified.key_id().to_string(),
            "expires": header.expires.as_ref().map(|e| e.to_string()),
            "dirty": header.dirty,
            "development_signed": verified.development_signed(),
        }));
    } else {
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
    }
    if header.dirty {
        eprintln!("warning: built from uncommitted changes (dirty); publishing it to production needs `--force`");
    }
    if verified.development_signed() {
        eprintln!("warning: development-signed: only the embedded store accepts it");
    }
    Ok(exit::OK)
}
