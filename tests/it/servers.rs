//! The test harness's real servers: PostgreSQL (initdb + pg_ctl in a temporary folder, run as the
//! `postgres` user when the tests run as root, as CI does) and redis-server, on free loopback
//! ports. One shared instance of each serves every test (each test gets its own database and its
//! own key prefix); `Postgres::start` and `Redis::start` give a test an instance of its own that
//! it may stop and start. Every server is stopped and its folder removed when the test process
//! exits, even when it panics: a watchdog shell waits for its stdin (held by this process) to
//! close. When the binaries are missing, the tests that need them say so loudly and return; under
//! `CI=true` they fail instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// Reports a missing server: a failure under CI, a loud skip elsewhere.
fn missing(what: &str) -> Option<std::convert::Infallible> {
    if in_ci() {
        panic!("CI=true but {what}; .ci/run installs it");
    }
    eprintln!("\n*** SKIPPED: {what}; this test needs it (CI fails instead of skipping) ***\n");
    None
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// A unique name for this process and call: databases, key prefixes.
pub fn unique(stem: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("{stem}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A shell that runs `cleanup` when this process's end of its stdin closes.
struct Watchdog {
    stdin: Option<ChildStdin>,
    child: Child,
}

impl Watchdog {
    fn spawn(cleanup: &str) -> Watchdog {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("read _ignored; {cleanup}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the watchdog shell");
        let stdin = child.stdin.take();
        Watchdog { stdin, child }
    }

    /// Runs the cleanup now and waits for it.
    fn fire(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        if started.elapsed() > timeout {
            panic!("{what} did not become ready within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

fn postgres_bin() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    candidates.sort_by_key(|bin| {
        bin.parent()
            .and_then(|version| version.file_name())
            .and_then(|name| name.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    candidates.pop()
}

/// A PostgreSQL server of its own, in a temporary folder.
pub struct Postgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    watchdog: Watchdog,
}

impl Postgres {
    /// Starts a server; None (after a loud notice) when PostgreSQL is not installed outside CI.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = postgres_bin() else {
            missing(
                "PostgreSQL (initdb, pg_ctl under /usr/lib/postgresql/*/bin) is not installed",
            )?;
            unreachable!()
        };
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(unique("promptctl-pg"));
        std::fs::create_dir_all(&dir).expect("create the PostgreSQL folder");
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown postgres {}", dir.display());
        }
        let port = free_port();
        let pg_ctl = bin.join("pg_ctl");
        let stop = format!(
            "{} '{}' -D '{}/data' stop -m immediate >/dev/null 2>&1; rm -rf '{}'",
            if as_postgres { "runuser -u postgres --" } else { "" },
            pg_ctl.display(),
            dir.display(),
            dir.display()
        );
        let watchdog = Watchdog::spawn(&stop);
        let server = Postgres { port, dir, bin, as_postgres, watchdog };
        let data = server.dir.join("data");
        server.run(
            &server.bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        server.start_again();
        Some(server)
    }

    fn run(&self, program: &Path, args: &[&str]) {
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        let output = command
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()));
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the (stopped) server again on the same port and data.
    pub fn start_again(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        self.run(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        wait_until("PostgreSQL", Duration::from_secs(30), || port_open(self.port));
    }

    /// Stops the server (fast shutdown: open connections are closed).
    pub fn stop(&self) {
        let data = self.dir.join("data");
        self.run(
            &self.bin.join("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn database(&self) -> String {
        let name = unique("t");
        let mut admin = promptctl::store::open(
            &promptctl::store::Location::parse(&self.url("postgres"), Path::new("/")).unwrap(),
        )
        .expect("connect to the test PostgreSQL");
        admin.batch(&format!("CREATE DATABASE {name}")).expect("create a test database");
        self.url(&name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.watchdog.fire();
    }
}

/// The PostgreSQL server shared by the tests of this process.
pub fn postgres() -> Option<&'static Postgres> {
    static SHARED: OnceLock<Option<Postgres>> = OnceLock::new();
    SHARED.get_or_init(Postgres::start).as_ref()
}

/// A fresh database in the shared server.
pub fn postgres_database() -> Option<String> {
    postgres().map(Postgres::database)
}

// ---------------------------------------------------------------------------------------------
// Redis

/// A redis-server of its own, without persistence.
pub struct Redis {
    pub port: u16,
    running: Mutex<Option<Watchdog>>,
}

impl Redis {
    /// Starts a server; None (after a loud notice) when redis-server is not installed outside CI.
    pub fn start() -> Option<Redis> {
        if Command::new("redis-server").arg("--version").output().is_err() {
            missing("redis-server is not installed (apt-get install redis-server)")?;
        }
        let redis = Redis { port: free_port(), running: Mutex::new(None) };
        redis.start_again();
        Some(redis)
    }

    /// Starts the (stopped) server again on the same port, empty.
    pub fn start_again(&self) {
        let mut running = self.running.lock().unwrap();
        assert!(running.is_none(), "redis on port {} is already running", self.port);
        let command = format!(
            "redis-server --port {} --bind 127.0.0.1 --save '' --appendonly no --protected-mode no >/dev/null 2>&1 & pid=$!; read _ignored; kill $pid; wait $pid",
            self.port
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let stdin = child.stdin.take();
        *running = Some(Watchdog { stdin, child });
        let port = self.port;
        wait_until("redis-server", Duration::from_secs(20), || port_open(port));
    }

    /// Stops the server and waits until the port is closed.
    pub fn stop(&self) {
        if let Some(mut watchdog) = self.running.lock().unwrap().take() {
            watchdog.fire();
        }
        let port = self.port;
        wait_until("redis-server shutdown", Duration::from_secs(20), || !port_open(port));
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.running.lock().unwrap().take() {
            watchdog.fire();
        }
    }
}

/// The redis-server shared by the tests of this process (tests use distinct key prefixes).
pub fn redis() -> Option<&'static Redis> {
    static SHARED: OnceLock<Option<Redis>> = OnceLock::new();
    SHARED.get_or_init(Redis::start).as_ref()
}

/// A Redis client connection for assertions.
pub fn redis_connection(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
        .expect("connect to the test redis-server")
}

#[test]
fn owned_servers_stop_and_start_on_the_same_port() {
    let Some(redis) = Redis::start() else { return };
    let mut connection = redis_connection(&redis.url());
    redis::cmd("SET").arg("k").arg("v").query::<()>(&mut connection).unwrap();
    redis.stop();
    assert!(!port_open(redis.port));
    redis.start_again();
    let mut connection = redis_connection(&redis.url());
    let value: Option<String> = redis::cmd("GET").arg("k").query(&mut connection).unwrap();
    assert_eq!(value, None, "a restarted redis-server starts empty (no persistence)");

    let Some(postgres) = Postgres::start() else { return };
    let url = postgres.database();
    let location = promptctl::store::Location::parse(&url, Path::new("/")).unwrap();
    promptctl::store::open(&location).unwrap().batch("CREATE TABLE kept (x int)").unwrap();
    postgres.stop();
    assert!(promptctl::store::open(&location).is_err());
    postgres.start_again();
    let mut store = promptctl::store::open(&location).unwrap();
    assert!(store.query("SELECT COUNT(*) FROM kept", &[]).unwrap()[0].int(0).is_ok());
}
