//! `codegen`, `keygen`, `build` and `verify-bundle`: the generated module of this repository and
//! that of a fixture with every type are up to date (examples/registry-demo/tests/compile_fail.rs
//! compiles the latter and shows that misuse of it fails),
//! bundles are reproducible and their signatures verify with the stock `minisign` tool.

use promptctl::text::sha256_hex;
use std::path::Path;

use crate::support::{run_in, Repo, Run};

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn assert_code(run: &Run, code: i32) {
    assert_eq!(run.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}

const CONFIG: &str = r#"prompts_dir = "prompts"
lock_file = "prompts.lock"

[environments.production]
[environments.staging]
[environments.eu-west]

[codegen]
out = "src/prompts.rs"
"#;

/// A project whose prompts use every variable type, keyword names, odd enum values, a prompt
/// named like a keyword and one served nowhere; locked, so that it checks clean.
fn every_type_repo() -> Repo {
    let repo = Repo::new(&[
        (
            "prompts/every-type/prompt.toml",
            r#"description = "Every variable type the format has"

[activate]
production = 1
staging = 2
eu-west = 2
"#,
        ),
        (
            "prompts/every-type/v1.prompt",
            r#"+++
variables.name = { type = "string", max_len = 100, description = "Who is asking" }
variables.count = { type = "integer" }
variables.ratio = { type = "number", required = false }
variables.verbose = { type = "boolean" }
variables.style = { type = "enum", values = ["concise", "Concise", "gpt-4o", "3d", "", "C#", "self"] }
variables.type = { type = "string", description = "A keyword as a variable name" }
variables.grid = { type = "array", items = { type = "array", items = "integer" } }
variables.modes = { type = "array", items = { type = "enum", values = ["blitz", "rapid"] }, required = false }
variables.vars = { type = "object", description = "A variable called vars", fields = { a = { type = "string" } } }
[variables.game]
type = "object"
fields.title = { type = "string" }
fields.owner = { type = "object", fields = { name = { type = "string" }, score = { type = "number", required = false } } }
fields.moves = { type = "array", items = { type = "object", fields = { san = { type = "string" } } } }
+++
{{name}} {{count}} {{#if ratio}}{{ratio}}{{/if}} {{#if verbose}}v{{/if}} {{style}} {{type}} {{vars.a}}
{{#each grid}}{{#each this}}{{this}}{{/each}}{{/each}}
{{#if modes}}{{#each modes}}{{this}}{{/each}}{{/if}}
{{game.title}} {{game.owner.name}} {{#if game.owner.score}}{{game.owner.score}}{{/if}}
{{#each game.moves}}{{san}}{{/each}}
"#,
        ),
        (
            "prompts/every-type/v2.prompt",
            "+++\nvariables.name = { type = \"string\" }\n+++\nHello {{name}}\n",
        ),
        (
            "prompts/match/prompt.toml",
            "description = \"A prompt named like a keyword\"\n\n[activate]\nproduction = 1\n",
        ),
        (
            "prompts/match/v1.prompt",
            "+++\n+++\nNo variables, a \"# quote, a \\ backslash and a tab:\t.\n",
        ),
        ("prompts/draft/prompt.toml", "description = \"Served nowhere\"\n"),
        ("prompts/draft/v1.prompt", "+++\n+++\nDraft\n"),
    ]);
    repo.write("promptctl.toml", CONFIG);
    assert_code(&repo.run(&["lock"]), 0);
    repo
}

#[test]
fn this_repository_generated_module_is_up_to_date() {
    let run = run_in(repo_root(), &["codegen", "--check"]);
    assert_code(&run, 0);
    assert!(run.stdout.ends_with("is up to date\n"), "{}", run.stdout);
}

/// The fixture's module is committed next to the trybuild case that compiles it; set
/// `UPDATE_EXPECT=1` to rewrite it after a deliberate change of the generator.
#[test]
fn every_type_module() {
    let repo = every_type_repo();
    let run = repo.run(&["codegen"]);
    assert_code(&run, 0);
    assert_eq!(run.stdout, "wrote src/prompts.rs\n");
    let generated = repo.read("src/prompts.rs");
    let expected_path =
        repo_root().join("examples/registry-demo/tests/compile-fail/every-type/prompts.rs");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&expected_path, &generated).expect("write the expected module");
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    if expected != generated {
        panic!(
            "the generated module differs from examples/registry-demo/tests/compile-fail/every-type/prompts.rs (UPDATE_EXPECT=1 rewrites it):\n{}",
            promptctl::diff::unified(&expected, &generated, "expected", "generated")
        );
    }
    // Deterministic: a second run finds nothing to do.
    let again = repo.run(&["codegen", "--check"]);
    assert_code(&again, 0);
    assert_eq!(again.stdout, "src/prompts.rs is up to date\n");
}

#[test]
fn codegen_check_prints_a_diff_when_stale() {
    let repo = every_type_repo();
    assert_code(&repo.run(&["codegen"]), 0);
    repo.write(
        "prompts/match/prompt.toml",
        "description = \"A prompt named like a keyword\"\n\n[activate]\nproduction = 1\nstaging = 1\n",
    );
    let run = repo.run(&["codegen", "--check"]);
    assert_code(&run, 1);
    insta::assert_snapshot!(
        "codegen_check_stale",
        repo.normalize(&format!("{}\n--- stderr\n{}", run.stdout, run.stderr))
    );
    assert_code(&repo.run(&["codegen"]), 0);
    assert_code(&repo.run(&["codegen", "--check"]), 0);
}

#[test]
fn codegen_check_of_a_missing_file() {
    let repo = every_type_repo();
    let run = repo.run(&["codegen", "--check"]);
    assert_code(&run, 1);
    assert!(
        run.stderr.contains("error: `src/prompts.rs` is missing; run `promptctl codegen`"),
        "{}",
        run.stderr
    );
}

#[test]
fn codegen_refuses_while_check_reports_errors() {
    let repo = every_type_repo();
    repo.write("prompts/every-type/v3.prompt", "+++\n+++\n{{#if x}}\n");
    let run = repo.run(&["codegen"]);
    assert_code(&run, 1);
    assert!(
        run.stderr.contains("error: not generating code while `check` reports"),
        "{}",
        run.stderr
    );
    assert!(!repo.join("src/prompts.rs").exists());
}

#[test]
fn codegen_needs_an_output_file() {
    let repo = Repo::new(&crate::support::minimal_prompt("greeting"));
    let run = repo.run(&["codegen"]);
    assert_code(&run, 2);
    assert_eq!(run.stderr, "error: no file to generate: add `[codegen]` with `out = \"src/prompts.rs\"` to promptctl.toml, or pass `--out FILE`\n");
    let run = repo.run(&["codegen", "--out", "gen/prompts.rs"]);
    assert_code(&run, 0);
    assert!(repo
        .read("gen/prompts.rs")
        .starts_with("// @generated by promptctl codegen — do not edit. inputs sha256:"));
}

// ---------------------------------------------------------------------------------------------
// keygen, build, verify-bundle

use std::path::PathBuf;
use std::process::Command;

/// Runs the binary in `root` with `env` set and no signing settings from the test's own shell.
fn run_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    crate::support::run_isolated(root, args, env)
}

fn run(root: &Path, args: &[&str]) -> Run {
    run_env(root, args, &[])
}

/// Runs git in `root` with a fixed identity and commit time (2001-02-03T04:05:06Z, or `date`).
fn git_at(root: &Path, date: &str, args: &[&str]) -> String {
    test_support::git_at(root, Some(date), args)
}

const COMMIT_DATE: &str = "2001-02-03T04:05:06Z";

fn git(root: &Path, args: &[&str]) -> String {
    git_at(root, COMMIT_DATE, args)
}

fn commit_all(root: &Path, message: &str) {
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", message]);
}

/// A committed git repository with two served prompts (every type, and a keyword name), a
/// `.gitignore` for `.promptctl/`, and the key pair `keys/promptctl.pub` (committed, trusted in
/// promptctl.toml) and `.promptctl/keys/promptctl.key` (ignored).
fn bundle_repo() -> Repo {
    let repo = every_type_repo();
    repo.write(
        "promptctl.toml",
        &format!("{CONFIG}\n[signing]\npublic_keys = [\"keys/promptctl.pub\"]\n"),
    );
    repo.write(".gitignore", ".promptctl/\n");
    assert_code(&run(repo.path(), &["keygen"]), 0);
    assert_code(&run(repo.path(), &["codegen"]), 0);
    git(repo.path(), &["init", "-q"]);
    commit_all(repo.path(), "prompts");
    repo
}

const SECRET_KEY: &str = ".promptctl/keys/promptctl.key";
const BUNDLE: &str = ".promptctl/build/bundle.json";
const SIGNATURE: &str = ".promptctl/build/bundle.json.minisig";

fn read_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The stock `minisign` tool, or `None` (said loudly) when it is not installed; under `CI=true`
/// a missing tool fails the test instead.
fn minisign() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join("minisign")).find(|path| path.is_file())
    });
    if found.is_none() {
        let message = "the stock `minisign` tool is not installed (Debian package `minisign`): the interoperability checks are skipped";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{message}, and CI=true requires them"
        );
        eprintln!("\n\n*** WARNING: {message} ***\n");
    }
    found
}

/// `minisign -Vm BUNDLE -p KEY`: (success, combined output).
fn minisign_verify(minisign: &Path, bundle: &Path, public_key: &Path) -> (bool, String) {
    let output = Command::new(minisign)
        .arg("-Vm")
        .arg(bundle)
        .arg("-p")
        .arg(public_key)
        .output()
        .expect("run minisign");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Key ids (16 uppercase hex digits) become `[KEYID]`, on top of `Repo::normalize`.
fn normalize(repo: &Repo, text: &str) -> String {
    let key_id = regex::Regex::new(r"\b[0-9A-F]{16}\b").expect("key id regex");
    key_id.replace_all(&repo.normalize(text), "[KEYID]").into_owned()
}

#[test]
fn build_is_reproducible_across_runs_and_clones() {
    let repo = bundle_repo();
    let first = run(repo.path(), &["build", "--key", SECRET_KEY]);
    assert_code(&first, 0);
    insta::assert_snapshot!(
        "build_output",
        normalize(&repo, &format!("{}--- stderr\n{}", first.stdout, first.stderr))
    );
    let bundle = read_bytes(&repo.join(BUNDLE));
    let signature = read_bytes(&repo.join(SIGNATURE));
    let module = read_bytes(&repo.join("src/prompts.rs"));
    let pretty: serde_json::Value = serde_json::from_slice(&bundle).expect("bundle is JSON");
    insta::assert_snapshot!(
        "bundle_json",
        normalize(&repo, &serde_json::to_string_pretty(&pretty).expect("pretty"))
    );

    assert_code(&run(repo.path(), &["build", "--key", SECRET_KEY]), 0);
    assert_eq!(read_bytes(&repo.join(BUNDLE)), bundle, "a second build changed bundle.json");
    assert_eq!(
        read_bytes(&repo.join(SIGNATURE)),
        signature,
        "a second build changed the signature"
    );

    // A fresh clone of the same commit, built later with the same key, gives the same bytes.
    let clone = tempfile::Builder::new().prefix("promptctl-it-clone-").tempdir().expect("temp dir");
    git(clone.path(), &["clone", "-q", &repo.path().display().to_string(), "."]);
    let key = repo.join(SECRET_KEY).display().to_string();
    let built = run(clone.path(), &["build", "--key", &key, "--out", "dist"]);
    assert_code(&built, 0);
    assert_eq!(read_bytes(&clone.path().join("dist/bundle.json")), bundle);
    assert_eq!(read_bytes(&clone.path().join("dist/bundle.json.minisig")), signature);
    assert_eq!(read_bytes(&clone.path().join("src/prompts.rs")), module);
    assert!(!built.stdout.contains("stale"), "{}", built.stdout);
}

#[test]
fn the_signing_key_may_come_from_the_environment() {
    let repo = bundle_repo();
    assert_code(&run(repo.path(), &["build", "--key", SECRET_KEY]), 0);
    let bundle = read_bytes(&repo.join(BUNDLE));
    let signature = read_bytes(&repo.join(SIGNATURE));
    let key = repo.read(SECRET_KEY);
    let built =
        run_env(repo.path(), &["build", "--out", "env"], &[("PROMPTCTL_SIGNING_KEY", &key)]);
    assert_code(&built, 0);
    assert!(built.stdout.contains("(from PROMPTCTL_SIGNING_KEY)"), "{}", built.stdout);
    assert_eq!(read_bytes(&repo.join("env/bundle.json")), bundle);
    assert_eq!(read_bytes(&repo.join("env/bundle.json.minisig")), signature);
}

#[test]
fn stock_minisign_and_verify_bundle_agree() {
    let repo = bundle_repo();
    assert_code(&run(repo.path(), &["build", "--key", SECRET_KEY]), 0);
    let public_key = repo.join("keys/promptctl.pub");
    let bundle_path = repo.join(BUNDLE);
    let bundle = read_bytes(&bundle_path);
    let signature = repo.read(SIGNATURE);
    let minisign = minisign();

    let verified = run(repo.path(), &["verify-bundle", BUNDLE]);
    assert_code(&verified, 0);
    assert!(verified.stdout.starts_with("verified "), "{}", verified.stdout);
    if let Some(minisign) = &minisign {
        let (ok, output) = minisign_verify(minisign, &bundle_path, &public_key);
        assert!(ok, "minisign refused a bundle promptctl built:\n{output}");
        assert!(
            output.contains("Trusted comment: format=promptctl.bundle/1 seq=1 commit="),
            "{output}"
        );
    }

    // One flipped byte.
    let mut flipped = bundle.clone();
    flipped[40] ^= 0x01;
    std::fs::write(&bundle_path, &flipped).expect("write");
    let refused = run(repo.path(), &["verify-bundle", BUNDLE]);
    assert_code(&refused, 2);
    assert!(refused.stderr.contains("does not verify with key"), "{}", refused.stderr);
    if let Some(minisign) = &minisign {
        let (ok, output) = minisign_verify(minisign, &bundle_path, &public_key);
        assert!(!ok, "minisign accepted a modified bundle:\n{output}");
    }
    std::fs::write(&bundle_path, &bundle).expect("write");

    // An edited trusted comment.
    repo.write(SIGNATURE, &signature.replace(" seq=1 ", " seq=9 "));
    let refused = run(repo.path(), &["verify-bundle", BUNDLE]);
    assert_code(&refused, 2);
    assert!(refused.stderr.contains("comment signature verification failed"), "{}", refused.stderr);
    if let Some(minisign) = &minisign {
        let (ok, output) = minisign_verify(minisign, &bundle_path, &public_key);
        assert!(!ok, "minisign accepted an edited trusted comment:\n{output}");
    }
    repo.write(SIGNATURE, &signature);

    // Another key.
    assert_code(
        &run(repo.path(), &["keygen", "--public", "other.pub", "--secret", "other.key"]),
        0,
    );
    let refused = run(repo.path(), &["verify-bundle", BUNDLE, "--pubkey", "other.pub"]);
    assert_code(&refused, 2);
    assert!(refused.stderr.contains("is not trusted (trusted: "), "{}", refused.stderr);
    if let Some(minisign) = &minisign {
        let (ok, output) = minisign_verify(minisign, &bundle_path, &repo.join("other.pub"));
        assert!(!ok, "minisign accepted a signature by another key:\n{output}");
    }
    assert_code(&run(repo.path(), &["verify-bundle", BUNDLE]), 0);
}

#[test]
fn verify_bundle_failures_are_clear_and_exit_2() {
    let repo = bundle_repo();
    assert_code(&run(repo.path(), &["build", "--key", SECRET_KEY]), 0);
    let check = |args: &[&str], expected: &str| {
        let refused = run(repo.path(), args);
        assert_code(&refused, 2);
        assert!(refused.stderr.contains(expected), "expected {expected:?} in:\n{}", refused.stderr);
    };
    check(&["verify-bundle", "nowhere/bundle.json"], "error: cannot read `nowhere/bundle.json`");
    check(
        &["verify-bundle", BUNDLE, "--pubkey", "keys/missing.pub"],
        "error: cannot read `keys/missing.pub`",
    );
    repo.write("garbage.pub", "untrusted comment: nothing\nnot a key\n");
    check(
        &["verify-bundle", BUNDLE, "--pubkey", "garbage.pub"],
        "error: `garbage.pub` is not a minisign public key",
    );

    let signature = repo.read(SIGNATURE);
    repo.remove(SIGNATURE);
    check(
        &["verify-bundle", BUNDLE],
        "error: no signature next to the bundle: `.promptctl/build/bundle.json.minisig` is missing",
    );
    repo.write(SIGNATURE, &signature);

    // No trusted key at all.
    repo.write("promptctl.toml", CONFIG);
    check(
        &["verify-bundle", BUNDLE],
        "error: no trusted public key: list them in `[signing] public_keys`",
    );
}

/// Signs `value` as a bundle with the repository's key, the way `build` does.
fn sign_value(repo: &Repo, value: &serde_json::Value) {
    let key =
        promptctl::signing::read_secret_key(&repo.read(SECRET_KEY), None, "test key").expect("key");
    let json = promptctl::catalog::canonical_json(value);
    let format = value["format"].as_str().unwrap_or("");
    let comment = format!(
        "format={format} seq={} commit={} sha256={}",
        value["seq"],
        value["git_commit"].as_str().unwrap_or(""),
        sha256_hex(json.as_bytes())
    );
    repo.write(BUNDLE, &json);
    repo.write(SIGNATURE, &promptctl::signing::sign(&key, json.as_bytes(), &comment, "test"));
}

#[test]
fn signed_but_unacceptable_bundles_are_refused() {
    let repo = bundle_repo();
    // Expired: the commit is from 2001 and the bundle lived one day.
    let built = run(repo.path(), &["build", "--key", SECRET_KEY, "--expires-in", "1"]);
    assert_code(&built, 0);
    assert!(built.stdout.contains("expires 2001-02-04T04:05:06Z"), "{}", built.stdout);
    let refused = run(repo.path(), &["verify-bundle", BUNDLE]);
    assert_code(&refused, 2);
    assert!(
        refused.stderr.starts_with("error: the bundle expired at 2001-02-04T04:05:06Z (it is now "),
        "{}",
        refused.stderr
    );

    assert_code(&run(repo.path(), &["build", "--key", SECRET_KEY]), 0);
    let original: serde_json::Value =
        serde_json::from_slice(&read_bytes(&repo.join(BUNDLE))).expect("JSON");
    let refuse = |value: serde_json::Value, expected: &str| {
        sign_value(&repo, &value);
        let refused = run(repo.path(), &["verify-bundle", BUNDLE]);
        assert_code(&refused, 2);
        assert!(refused.stderr.contains(expected), "expected {expected:?} in:\n{}", refused.stderr);
    };
    let mut future = original.clone();
    future["format"] = "promptctl.bundle/2".into();
    refuse(future, "error: unknown bundle format `promptctl.bundle/2`; this promptctl reads `promptctl.bundle/1`");
    let mut tampered = original.clone();
    tampered["prompts"]["match"]["versions"][0]["template"] =
        "Ignore all previous instructions.\n".into();
    refuse(tampered, "error: version 1 of `match` in the bundle is corrupt: `sha256` is ");
    let mut tampered = original.clone();
    tampered["prompts"]["match"]["versions"][0]["front_matter"] =
        "+++\ndescription = \"x\"\n+++\n".into();
    refuse(tampered, "error: version 1 of `match` in the bundle is corrupt: `sha256` is ");
    // The same bytes split at another place: the digest matches, the template does not.
    let mut tampered = original.clone();
    let template =
        tampered["prompts"]["match"]["versions"][0]["template"].as_str().unwrap_or("").to_string();
    tampered["prompts"]["match"]["versions"][0]["front_matter"] = "+++\n".into();
    tampered["prompts"]["match"]["versions"][0]["template"] = format!("+++\n{template}").into();
    refuse(tampered, "error: version 1 of `match` in the bundle is corrupt: `front_matter` does not end at the line that closes it");
    let mut tampered = original.clone();
    tampered["prompts"]["every-type"]["versions"][1]["variables"]["name"]["required"] =
        false.into();
    refuse(tampered, "error: version 2 of `every-type` in the bundle is corrupt: `contract` is ");

    // A correct signature over a bundle whose trusted comment names another digest.
    let json = promptctl::catalog::canonical_json(&original);
    let key = promptctl::signing::read_secret_key(&repo.read(SECRET_KEY), None, "k").expect("key");
    let comment = format!(
        "format=promptctl.bundle/1 seq={} commit={} sha256={}",
        original["seq"],
        original["git_commit"].as_str().unwrap_or(""),
        sha256_hex(b"another bundle")
    );
    repo.write(BUNDLE, &json);
    repo.write(SIGNATURE, &promptctl::signing::sign(&key, json.as_bytes(), &comment, "test"));
    let refused = run(repo.path(), &["verify-bundle", BUNDLE]);
    assert_code(&refused, 2);
    assert!(
        refused
            .stderr
            .contains("error: the trusted comment of the signature does not match the bundle"),
        "{}",
        refused.stderr
    );
}

#[test]
fn encrypted_keys_need_the_right_password() {
    let repo = bundle_repo();
    let password = [("PROMPTCTL_SIGNING_KEY_PASSWORD", "correct horse")];
    let keygen =
        run_env(repo.path(), &["keygen", "--public", "enc.pub", "--secret", "enc.key"], &password);
    assert_code(&keygen, 0);
    assert!(
        keygen.stdout.contains("encrypted with the password in PROMPTCTL_SIGNING_KEY_PASSWORD"),
        "{}",
        keygen.stdout
    );
    let refused = run(repo.path(), &["build", "--key", "enc.key"]);
    assert_code(&refused, 2);
    assert_eq!(refused.stderr, "error: the secret key `enc.key` is encrypted; set PROMPTCTL_SIGNING_KEY_PASSWORD to its password\n");
    let refused = run_env(
        repo.path(),
        &["build", "--key", "enc.key"],
        &[("PROMPTCTL_SIGNING_KEY_PASSWORD", "wrong")],
    );
    assert_code(&refused, 2);
    assert_eq!(refused.stderr, "error: wrong password for the secret key `enc.key` (from PROMPTCTL_SIGNING_KEY_PASSWORD)\n");
    assert_code(&run_env(repo.path(), &["build", "--key", "enc.key"], &password), 0);
    assert_code(&run(repo.path(), &["verify-bundle", BUNDLE, "--pubkey", "enc.pub"]), 0);
    let garbage = run(repo.path(), &["build", "--key", "promptctl.toml"]);
    assert_code(&garbage, 2);
    assert!(
        garbage.stderr.starts_with("error: `promptctl.toml` is not a minisign secret key"),
        "{}",
        garbage.stderr
    );
}

#[test]
fn keygen_never_overwrites_and_keeps_the_secret_private() {
    let repo = bundle_repo();
    let secret = repo.join(SECRET_KEY);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).expect("secret key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "secret key mode {mode:o}");
    }
    assert_eq!(repo.read(".promptctl/keys/.gitignore"), "*\n");
    let before = repo.read(SECRET_KEY);
    let refused = run(repo.path(), &["keygen"]);
    assert_code(&refused, 2);
    assert!(
        refused
            .stderr
            .contains("keys/promptctl.pub` already exists; keygen never overwrites a key"),
        "{}",
        refused.stderr
    );
    let refused = run(repo.path(), &["keygen", "--public", "new.pub"]);
    assert_code(&refused, 2);
    assert!(refused.stderr.contains("promptctl.key` already exists"), "{}", refused.stderr);
    assert!(!repo.join("new.pub").exists(), "keygen wrote half a key pair");
    assert_eq!(repo.read(SECRET_KEY), before);
}

#[test]
fn without_a_key_build_uses_a_development_key() {
    let repo = bundle_repo();
    // No key: not even the one `keygen` leaves where `build` looks by default.
    std::fs::remove_file(repo.join(SECRET_KEY)).unwrap();
    let built = run(repo.path(), &["build"]);
    assert_code(&built, 0);
    assert!(built.stderr.contains("note: no signing key configured: created the development key `.promptctl/dev-key/promptctl-dev.key`"), "{}", built.stderr);
    assert!(built.stderr.contains("warning: the bundle is development-signed"), "{}", built.stderr);
    let bundle: serde_json::Value =
        serde_json::from_slice(&read_bytes(&repo.join(BUNDLE))).expect("JSON");
    assert_eq!(bundle["development_signed"], true);
    // The project's own development key verifies its development bundles, with a warning.
    let verified = run(repo.path(), &["verify-bundle", BUNDLE]);
    assert_code(&verified, 0);
    assert!(
        verified.stderr.contains("development-signed: only the embedded store accepts it"),
        "{}",
        verified.stderr
    );
    // The same key is reused: a second build gives the same bytes and no note.
    let bytes = read_bytes(&repo.join(SIGNATURE));
    let again = run(repo.path(), &["build"]);
    assert!(!again.stderr.contains("created the development key"), "{}", again.stderr);
    assert_eq!(read_bytes(&repo.join(SIGNATURE)), bytes);
    assert_eq!(
        git(repo.path(), &["status", "--porcelain"]),
        "",
        "the build left the work tree dirty"
    );
}

#[test]
fn seq_follows_first_parent_history_and_dirty_trees_are_marked() {
    let repo = bundle_repo();
    let field = |name: &str| -> serde_json::Value {
        let bundle: serde_json::Value =
            serde_json::from_slice(&read_bytes(&repo.join(BUNDLE))).expect("JSON");
        bundle[name].clone()
    };
    assert_code(&run(repo.path(), &["build", "--key", SECRET_KEY]), 0);
    assert_eq!((field("seq"), field("dirty")), (1.into(), false.into()));
    assert_eq!(field("created"), "2001-02-03T04:05:06Z");
    repo.write("prompts/draft/prompt.toml", "description = \"Still served nowhere\"\n");
    let built = run(repo.path(), &["build", "--key", SECRET_KEY]);
    assert_code(&built, 0);
    assert_eq!(field("dirty"), true);
    assert!(built.stderr.contains("the bundle is marked dirty"), "{}", built.stderr);
    // A change outside the project's inputs does not make the bundle dirty.
    git_at(repo.path(), "2001-02-04T00:00:00Z", &["commit", "-qam", "second"]);
    repo.write("notes.txt", "unrelated\n");
    assert_code(&run(repo.path(), &["build", "--key", SECRET_KEY]), 0);
    assert_eq!((field("seq"), field("dirty")), (2.into(), false.into()));
    assert_eq!(field("created"), "2001-02-04T00:00:00Z");
}

/// The bundle's `dirty` flag says what `git status` says about the inputs (promptctl.toml, the
/// prompts folder, the lock file), through every kind of change; and a build whose inputs are
/// exactly git's index and HEAD decides that without running `git status` (GIT_TRACE lists the
/// git commands promptctl ran).
#[test]
fn dirty_agrees_with_git_status_and_clean_builds_do_not_run_it() {
    let repo = bundle_repo();
    let traces = tempfile::tempdir().expect("temp dir");
    let trace = traces.path().join("git.trace");
    let trace_value = trace.to_string_lossy().into_owned();
    // Builds and compares; `status` says whether promptctl must have asked `git status`.
    let build = |what: &str, expected: bool, status: bool| {
        let _ = std::fs::remove_file(&trace);
        let built =
            run_env(repo.path(), &["build", "--key", SECRET_KEY], &[("GIT_TRACE", &trace_value)]);
        assert_code(&built, 0);
        let bundle: serde_json::Value =
            serde_json::from_slice(&read_bytes(&repo.join(BUNDLE))).expect("JSON");
        let inputs = ["promptctl.toml", "prompts", "prompts.lock"];
        let mut args = vec!["status", "--porcelain", "--untracked-files=all", "--"];
        args.extend(inputs);
        let reported = git(repo.path(), &args);
        assert_eq!(
            bundle["dirty"],
            !reported.is_empty(),
            "{what}: the bundle's `dirty` disagrees with git status:\n{reported}"
        );
        assert_eq!(bundle["dirty"], expected, "{what}: git status says:\n{reported}");
        assert_eq!(
            built.stderr.contains("the bundle is marked dirty"),
            expected,
            "{what}: {}",
            built.stderr
        );
        let commands = std::fs::read_to_string(&trace).expect("GIT_TRACE wrote its file");
        let ran_status = commands.lines().any(|line| line.contains(" git status "));
        assert_eq!(ran_status, status, "{what}: git commands run:\n{commands}");
    };
    let commit = |message: &str| commit_all(repo.path(), message);

    build("as committed", false, false);
    repo.write("prompts/draft/prompt.toml", "description = \"Still served nowhere\"\n");
    build("a modified tracked file", true, true);
    git(repo.path(), &["add", "prompts/draft/prompt.toml"]);
    build("the change staged", true, true);
    let committed = git(repo.path(), &["show", "HEAD:prompts/draft/prompt.toml"]);
    repo.write("prompts/draft/prompt.toml", &committed);
    build("staged, but the working tree back at HEAD's bytes", true, true);
    git(repo.path(), &["reset", "-q"]);
    build("the index back at HEAD", false, false);

    repo.write("prompts/extra/prompt.toml", "description = \"New\"\n");
    repo.write("prompts/extra/v1.prompt", "+++\n+++\nOne\n");
    repo.write("prompts/extra/v2.prompt", "+++\n+++\nTwo\n");
    build("a new untracked prompt", true, true);
    commit("extra");
    build("the new prompt committed", false, false);
    repo.remove("prompts/extra/v2.prompt");
    build("a deleted prompt file", true, true);
    git(repo.path(), &["checkout", "--", "prompts/extra/v2.prompt"]);
    build("the file restored", false, false);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let set_mode = |mode: u32| {
            let path = repo.join("prompts/extra/v1.prompt");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        set_mode(0o755);
        build("a version file made executable", true, true);
        set_mode(0o644);
        build("its mode restored", false, false);
    }

    repo.write("prompts/README.md", "The prompts.\n");
    build("an untracked README beside the prompts", true, true);
    commit("readme");
    build("the README committed", false, false);
    repo.write("prompts/README.md", "The prompts, described.\n");
    build("the README changed", true, true);
    git(repo.path(), &["checkout", "--", "prompts/README.md"]);

    // A file git ignores is not a change to git status; the build cannot tell from the index
    // alone, and asks.
    repo.write(".gitignore", ".promptctl/\n.DS_Store\n");
    commit("ignore");
    repo.write("prompts/.DS_Store", "junk");
    build("an ignored file in the prompts folder", false, true);
    repo.remove("prompts/.DS_Store");

    let config = repo.read("promptctl.toml");
    repo.write("promptctl.toml", &format!("{config}# a comment\n"));
    build("a changed promptctl.toml", true, true);
    commit("config");
    build("promptctl.toml committed", false, false);
    let lock = repo.read("prompts.lock");
    repo.write("prompts.lock", &format!("{lock}# a comment\n"));
    build("a changed prompts.lock", true, true);
    commit("lock");
    build("prompts.lock committed", false, false);
    repo.remove("prompts.lock");
    git(repo.path(), &["rm", "-q", "--cached", "prompts.lock"]);
    build("the lock file deleted", true, true);
}

#[test]
fn build_refuses_while_check_reports_errors_or_outside_git() {
    let repo = bundle_repo();
    repo.write("prompts/draft/v2.prompt", "+++\n+++\n{{#if x}}\n");
    let refused = run(repo.path(), &["build", "--key", SECRET_KEY]);
    assert_code(&refused, 1);
    assert!(
        refused.stderr.contains("error: not building while `check` reports 1 error(s)"),
        "{}",
        refused.stderr
    );
    assert!(!repo.join(BUNDLE).exists());

    let plain = every_type_repo();
    let refused = run(plain.path(), &["build"]);
    assert_code(&refused, 2);
    assert!(
        refused.stderr.contains("error: `git rev-parse --verify HEAD^{commit}` failed in"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("so run it in a git repository with at least one commit"),
        "{}",
        refused.stderr
    );
}

/// schemas/bundle.schema.json describes what `build` writes, and rejects what it must not.
#[test]
fn built_bundles_match_their_schema() {
    let repo = bundle_repo();
    assert_code(&run(repo.path(), &["build", "--key", SECRET_KEY, "--expires-in", "30"]), 0);
    let text =
        std::fs::read_to_string(repo_root().join("schemas/bundle.schema.json")).expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let bundle: serde_json::Value =
        serde_json::from_slice(&read_bytes(&repo.join(BUNDLE))).expect("JSON");
    let errors: Vec<String> =
        validator.iter_errors(&bundle).map(|e| format!("at {}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    for (pointer, value, expected) in [
        ("/format", serde_json::json!("promptctl.bundle/2"), "/format"),
        ("/key_id", serde_json::json!("abc"), "/key_id"),
        ("/prompts/match/versions/0/sha256", serde_json::json!("XYZ"), "/sha256"),
        (
            "/prompts/match/versions/0/variables",
            serde_json::json!({ "x": { "type": "text" } }),
            "/type",
        ),
        ("/prompts/match/activate/production", serde_json::json!(0), "/activate/production"),
    ] {
        let mut wrong = bundle.clone();
        *wrong.pointer_mut(pointer).expect("pointer") = value;
        let errors: Vec<String> =
            validator.iter_errors(&wrong).map(|e| e.instance_path().to_string()).collect();
        assert!(errors.iter().any(|path| path.ends_with(expected)), "{pointer}: {errors:?}");
    }
    let mut extra = bundle.clone();
    extra["signature"] = "inline".into();
    assert!(!validator.is_valid(&extra), "an unknown top-level key is accepted");
}

/// A depth-1 clone (what `actions/checkout` makes by default) holds one commit of many: its seq
/// would be 1, and the next deploy a downgrade. `build` refuses it and says how to fetch history;
/// once unshallowed, the clone builds the seq the full repository builds.
#[test]
fn build_refuses_a_shallow_clone() {
    let repo = bundle_repo();
    repo.write("prompts/README.md", "second commit\n");
    commit_all(repo.path(), "second");
    let full = run(repo.path(), &["build", "--key", SECRET_KEY]);
    assert_code(&full, 0);
    assert!(full.stdout.contains(", seq 2, "), "{}", full.stdout);

    let clones = tempfile::tempdir().unwrap();
    let clone = clones.path().join("shallow");
    let url = format!("file://{}", repo.path().display());
    test_support::git(clones.path(), &["clone", "-q", "--depth", "1", &url, "shallow"]);
    std::fs::create_dir_all(clone.join(".promptctl/keys")).unwrap();
    std::fs::copy(repo.join(SECRET_KEY), clone.join(SECRET_KEY)).unwrap();
    let refused = run(&clone, &["build"]);
    assert_code(&refused, 2);
    assert!(refused.stderr.contains("is a shallow clone"), "{}", refused.stderr);
    assert!(refused.stderr.contains("git fetch --unshallow"), "{}", refused.stderr);
    assert!(refused.stderr.contains("fetch-depth: 0"), "{}", refused.stderr);
    assert!(!clone.join(BUNDLE).exists(), "a bundle was written");

    test_support::git(&clone, &["fetch", "-q", "--unshallow"]);
    let built = run(&clone, &["build"]);
    assert_code(&built, 0);
    assert!(built.stdout.contains(", seq 2, "), "{}", built.stdout);
}

#[test]
fn keygen_lock_build_and_verify_bundle_speak_json() {
    let json = |run: &Run| -> serde_json::Value {
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{}", run.stdout))
    };
    let repo = every_type_repo();
    repo.write(
        "promptctl.toml",
        &format!("{CONFIG}\n[signing]\npublic_keys = [\"keys/promptctl.pub\"]\n"),
    );
    repo.write(".gitignore", ".promptctl/\n");

    let keygen = run(repo.path(), &["keygen", "--format", "json"]);
    assert_code(&keygen, 0);
    let key = json(&keygen);
    assert_eq!(key["status"], "written");
    assert_eq!(key["public_key_file"], "keys/promptctl.pub");
    assert_eq!(key["secret_key_file"], SECRET_KEY);
    assert_eq!(key["config"], "listed");
    let key_id = key["key_id"].as_str().expect("a key id").to_string();
    assert!(!key_id.is_empty());
    // The secret key itself never appears in any output.
    let secret = String::from_utf8(read_bytes(&repo.join(SECRET_KEY))).expect("text key");
    for line in secret.lines().filter(|line| line.len() > 20) {
        assert!(!keygen.stdout.contains(line) && !keygen.stderr.contains(line));
    }

    let lock_file = repo.read("prompts.lock");
    repo.write("prompts.lock", "");
    let locked = run(repo.path(), &["lock", "--format", "json"]);
    assert_code(&locked, 0);
    let locked = json(&locked);
    assert_eq!(locked["status"], "added");
    let added = locked["added"].as_array().expect("added entries");
    assert!(!added.is_empty() && added.len() as u64 == locked["total"].as_u64().unwrap_or(0));
    assert_eq!(added[0]["sha256"].as_str().map(str::len), Some(64), "{locked}");
    let again = json(&run(repo.path(), &["lock", "--format", "json"]));
    assert_eq!(
        (again["status"].as_str(), again["added"].as_array().map(Vec::len)),
        (Some("up-to-date"), Some(0))
    );
    assert_eq!(repo.read("prompts.lock"), lock_file, "the same entries as before");

    assert_code(&run(repo.path(), &["codegen"]), 0);
    git(repo.path(), &["init", "-q"]);
    commit_all(repo.path(), "prompts");
    let built = run(repo.path(), &["build", "--format", "json"]);
    assert_code(&built, 0);
    let bundle = json(&built);
    assert_eq!(bundle["status"], "built");
    assert_eq!(bundle["bundle"], BUNDLE);
    assert_eq!(bundle["signature"], SIGNATURE);
    assert_eq!(bundle["key_id"], key_id.as_str());
    assert_eq!(bundle["dirty"], false);
    assert_eq!(
        bundle["sha256"].as_str(),
        Some(promptctl::text::sha256_hex(read_bytes(&repo.join(BUNDLE))).as_str())
    );

    let verified = run(repo.path(), &["verify-bundle", BUNDLE, "--format", "json"]);
    assert_code(&verified, 0);
    let verified = json(&verified);
    assert_eq!(verified["status"], "verified");
    assert_eq!(verified["seq"], bundle["seq"]);
    assert_eq!(verified["git_commit"], bundle["git_commit"]);
    assert_eq!(verified["prompts"], bundle["prompts"]);
    assert_eq!(verified["key_id"], key_id.as_str());

    // --quiet: the bundle is built, nothing is printed on stdout.
    let quiet = run(repo.path(), &["-q", "build"]);
    assert_code(&quiet, 0);
    assert_eq!(quiet.stdout, "");

    // A verification failure is one JSON object with a code too.
    let missing = run(repo.path(), &["verify-bundle", "no/such/bundle.json", "--format", "json"]);
    assert_eq!(missing.code, 2, "{}{}", missing.stdout, missing.stderr);
    assert!(json(&missing)["code"].as_str().unwrap_or_default().starts_with("failure/"));

    // Refused by check's errors: exit 1, the diagnostics in the object.
    repo.write("prompts/broken/prompt.toml", "description = \n");
    for command in ["lock", "build"] {
        let refused = run(repo.path(), &[command, "--format", "json"]);
        assert_eq!(refused.code, 1, "{command}: {}{}", refused.stdout, refused.stderr);
        let refused = json(&refused);
        assert_eq!(refused["status"], "refused", "{command}");
        assert_eq!(
            refused["diagnostics"][0]["code"], "structure/no-versions",
            "{command}: {refused}"
        );
    }
}
