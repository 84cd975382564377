//! What promptctl's integration tests (`tests/it`) and its development tasks (`xtask`) share: real
//! PostgreSQL and redis-server instances on free loopback ports ([`Postgres`], [`Redis`]), git run
//! with a fixed identity ([`Git`]), tree copies ([`copy_tree`]) and a child process killed when
//! its guard drops ([`KillOnDrop`]), and a real language model behind an OpenAI-compatible server
//! ([`local_model::LocalModel`]).
//!
//! Starting a server returns a [`Result`] whose error says whether the binary is missing
//! ([`Error::is_missing`]); [`or_skip`] turns that into the tests' policy: a loud skip on a
//! developer's machine, a failure under `CI=true`. [`shared_postgres`] and [`shared_redis`] are
//! the one instance of each that every test of a process shares (each test takes its own database,
//! [`postgres_database`], and its own key prefix, [`unique`]).
//!
//! Standard library only, but for the `tls` feature ([`tls::certs`], rcgen), which only the
//! integration tests ask for. Not published; internal to the workspace.

mod cluster;
mod git;
pub mod local_model;
mod postgres;
mod redis;
mod sentinel;
#[cfg(feature = "tls")]
pub mod tls;

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use cluster::Cluster;
pub use git::{git, git_at, Git};
pub use postgres::{Postgres, Tls as PostgresTls, CERT_USER, TLS_PASSWORD, TLS_USER};
pub use redis::{Redis, TlsServer};
pub use sentinel::{Sentinel, MASTER_NAME};

/// Why a server (or git) could not be run: its binary is missing, or it failed.
#[derive(Debug)]
pub struct Error {
    message: String,
    missing: bool,
}

impl Error {
    fn missing(message: impl Into<String>) -> Error {
        Error { message: message.into(), missing: true }
    }

    fn failed(message: impl Into<String>) -> Error {
        Error { message: message.into(), missing: false }
    }

    /// The program is not installed (as opposed to: it ran and failed).
    pub fn is_missing(&self) -> bool {
        self.missing
    }
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// `CI` is `true` or `1`: server-backed tests must run, never skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// The tests' policy for a server they need: started, it is returned; a missing binary is a loud
/// skip (`None`) on a developer's machine and a failure under `CI=true` (`cargo xtask verify` installs it);
/// any other error fails the test.
pub fn or_skip<T>(started: Result<T, Error>) -> Option<T> {
    match started {
        Ok(server) => Some(server),
        Err(error) if error.is_missing() && !in_ci() => {
            eprintln!(
                "\n*** SKIPPED: {error}; this test needs it (CI fails instead of skipping) ***\n"
            );
            None
        }
        Err(error) if error.is_missing() => {
            panic!("CI=true but {error}; `cargo xtask verify` installs it")
        }
        Err(error) => panic!("{error}"),
    }
}

/// The PostgreSQL server shared by the tests of this process (`None` after [`or_skip`]'s notice).
pub fn shared_postgres() -> Option<&'static Postgres> {
    static SHARED: OnceLock<Option<Postgres>> = OnceLock::new();
    SHARED.get_or_init(|| or_skip(Postgres::start())).as_ref()
}

/// A fresh database in the shared PostgreSQL server: its URL.
pub fn postgres_database() -> Option<String> {
    shared_postgres().map(Postgres::database)
}

/// The redis-server shared by the tests of this process (tests use distinct key prefixes).
pub fn shared_redis() -> Option<&'static Redis> {
    static SHARED: OnceLock<Option<Redis>> = OnceLock::new();
    SHARED.get_or_init(|| or_skip(Redis::start())).as_ref()
}

/// The Redis Cluster shared by the tests of this process (tests use distinct key prefixes).
pub fn shared_cluster() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
    SHARED.get_or_init(|| or_skip(Cluster::start())).as_ref()
}

/// The Sentinel setup shared by the tests of this process (tests use distinct key prefixes).
pub fn shared_sentinel() -> Option<&'static Sentinel> {
    static SHARED: OnceLock<Option<Sentinel>> = OnceLock::new();
    SHARED.get_or_init(|| or_skip(Sentinel::start())).as_ref()
}

/// A name unique to this process and call: databases, key prefixes, temporary folders.
pub fn unique(stem: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("{stem}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A loopback port that was free a moment ago (bound, read, released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.local_addr().expect("the bound address").port()
}

/// Something accepts connections on `port` of 127.0.0.1.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Polls `ready` every 20 ms until it holds; an error naming `what` after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<(), Error> {
    let started = Instant::now();
    while !ready() {
        if started.elapsed() > timeout {
            return Err(Error::failed(format!("{what} did not become ready within {timeout:?}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The process runs as root (CI does): PostgreSQL must then run as the `postgres` user.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// A shell that runs `cleanup` when this process's end of its stdin closes: when [`fire`] is
/// called, or when the process exits however it exits (a panic, or statics that never drop).
///
/// [`fire`]: Watchdog::fire
struct Watchdog {
    stdin: Option<ChildStdin>,
    child: Child,
}

impl Watchdog {
    /// `sh -c "{start}read _ignored; {cleanup}"`: `start` runs at once (a server in the
    /// background, say), `cleanup` once stdin has a line or is closed.
    fn spawn(start: &str, cleanup: &str) -> Result<Watchdog, Error> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("{start}read _ignored; {cleanup}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| Error::failed(format!("cannot spawn the watchdog shell: {error}")))?;
        let stdin = child.stdin.take();
        Ok(Watchdog { stdin, child })
    }

    /// Runs the cleanup now and waits for it.
    fn fire(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.child.wait();
    }
}

/// A child process killed (and reaped) when the guard drops: a service a test or bench started.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Copies the tree under `from` to `to`: folders created, files copied (links followed).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let context = |error: std::io::Error, path: &Path| {
        std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
    };
    std::fs::create_dir_all(to).map_err(|error| context(error, to))?;
    for entry in std::fs::read_dir(from).map_err(|error| context(error, from))? {
        let entry = entry.map_err(|error| context(error, from))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if std::fs::metadata(&source).map_err(|error| context(error, &source))?.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).map_err(|error| context(error, &source))?;
        }
    }
    Ok(())
}
