//! PostgreSQL of its own: initdb and pg_ctl of the newest `/usr/lib/postgresql/*/bin` in a
//! temporary folder, on a free loopback port, as the `postgres` user (runuser) when this process
//! is root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{free_port, is_root, port_open, unique, wait_until, Error, Watchdog};

/// The server settings of [`Postgres::start`]: no durability (a test's data outlives nothing),
/// and room for the tests' many connections.
const FAST: &[&str] =
    &["fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200"];

/// A PostgreSQL server in a temporary folder, stopped (and the folder removed) when dropped or when
/// this process exits.
pub struct Postgres {
    /// Its loopback port.
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    settings: &'static [&'static str],
    /// `ssl=on` with these files: see [`Postgres::start_tls`].
    tls: Option<Tls>,
    as_postgres: bool,
    watchdog: Watchdog,
}

/// The certificate files of a TLS-only server.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA whose client certificates the server accepts.
    pub client_ca: PathBuf,
}

/// The role that logs in with a password over TLS ([`Postgres::start_tls`]).
pub const TLS_USER: &str = "app";
/// Its password.
pub const TLS_PASSWORD: &str = "s3cret-tls-Passw0rd";
/// The role that logs in with a client certificate (its common name) and no password.
pub const CERT_USER: &str = "promptctl";

/// The `bin` folder of the newest PostgreSQL with initdb and pg_ctl.
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

impl Postgres {
    /// Starts a server for tests: fsync, synchronous commit and full page writes off.
    pub fn start() -> Result<Postgres, Error> {
        Postgres::start_with(FAST)
    }

    /// Starts a server with PostgreSQL's default durability (what a benchmark of writes needs).
    pub fn start_durable() -> Result<Postgres, Error> {
        Postgres::start_with(&[])
    }

    /// Starts a server that accepts TLS connections only (as a managed database that forces
    /// TLS): `postgres` with no password, [`TLS_USER`] with [`TLS_PASSWORD`] (SCRAM), and
    /// [`CERT_USER`] with a client certificate signed by `tls.client_ca`; a plain TCP connection is
    /// refused by `pg_hba.conf`.
    pub fn start_tls(tls: Tls) -> Result<Postgres, Error> {
        Postgres::start_with_tls(FAST, Some(tls))
    }

    fn start_with(settings: &'static [&'static str]) -> Result<Postgres, Error> {
        Postgres::start_with_tls(settings, None)
    }

    fn start_with_tls(
        settings: &'static [&'static str],
        tls: Option<Tls>,
    ) -> Result<Postgres, Error> {
        let bin = postgres_bin().ok_or_else(|| {
            Error::missing(
                "PostgreSQL (initdb, pg_ctl under /usr/lib/postgresql/*/bin) is not installed",
            )
        })?;
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(unique("promptctl-pg"));
        std::fs::create_dir_all(&dir)
            .map_err(|error| Error::failed(format!("cannot create {}: {error}", dir.display())))?;
        if as_postgres {
            let chown = Command::new("chown").arg("postgres:postgres").arg(&dir).status();
            if !chown.is_ok_and(|status| status.success()) {
                return Err(Error::failed(format!("chown postgres {} failed", dir.display())));
            }
        }
        let pg_ctl = bin.join("pg_ctl");
        let watchdog = Watchdog::spawn(
            "",
            &format!(
                "{} '{}' -D '{}/data' stop -m immediate >/dev/null 2>&1; rm -rf '{}'",
                if as_postgres { "runuser -u postgres --" } else { "" },
                pg_ctl.display(),
                dir.display(),
                dir.display()
            ),
        )?;
        let server = Postgres { port: free_port(), dir, bin, settings, tls, as_postgres, watchdog };
        let data = server.dir.join("data");
        server.run(
            &server.bin.join("initdb"),
            &["-D", path_str(&data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
        )?;
        if let Some(tls) = &server.tls {
            server.configure_tls(&data, tls)?;
        }
        server.try_start_again()?;
        if server.tls.is_some() {
            let password = format!(
                "SET password_encryption = 'scram-sha-256'; CREATE ROLE {TLS_USER} LOGIN \
                 SUPERUSER PASSWORD '{TLS_PASSWORD}'; CREATE ROLE {CERT_USER} LOGIN SUPERUSER"
            );
            let output = server
                .psql("postgres")
                .args(["-c", &password])
                .output()
                .map_err(|error| Error::failed(format!("cannot run psql: {error}")))?;
            if !output.status.success() {
                return Err(Error::failed(format!(
                    "cannot create the TLS roles: {}",
                    String::from_utf8_lossy(&output.stderr)
                )));
            }
        }
        Ok(server)
    }

    /// Copies the certificate files into the data folder (the server reads them as `postgres`,
    /// and refuses a key others can read), turns `ssl` on and allows TLS connections only.
    fn configure_tls(&self, data: &Path, tls: &Tls) -> Result<(), Error> {
        let failed = |what: &str, error: std::io::Error| {
            Error::failed(format!("TLS setup of PostgreSQL: {what}: {error}"))
        };
        for (from, name) in
            [(&tls.cert, "server.crt"), (&tls.key, "server.key"), (&tls.client_ca, "client-ca.crt")]
        {
            let to = data.join(name);
            std::fs::copy(from, &to).map_err(|error| failed(name, error))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
                .map_err(|error| failed(name, error))?;
            if self.as_postgres {
                let chown = Command::new("chown").arg("postgres:postgres").arg(&to).status();
                if !chown.is_ok_and(|status| status.success()) {
                    return Err(Error::failed(format!("chown postgres {} failed", to.display())));
                }
            }
        }
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .map_err(|error| failed("postgresql.conf", error))?;
        use std::io::Write;
        writeln!(
            conf,
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             ssl_ca_file = 'client-ca.crt'"
        )
        .map_err(|error| failed("postgresql.conf", error))?;
        // Local (socket) administration stays open; over TCP, TLS or nothing.
        let hba = format!(
            "local all all trust\nhostnossl all all all reject\n\
             hostssl all postgres all trust\nhostssl all {TLS_USER} all scram-sha-256\n\
             hostssl all {CERT_USER} all cert\n"
        );
        std::fs::write(data.join("pg_hba.conf"), hba).map_err(|error| failed("pg_hba.conf", error))
    }

    /// Runs one of PostgreSQL's programs in the server's folder, as `postgres` when root.
    fn run(&self, program: &Path, args: &[&str]) -> Result<(), Error> {
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        let output =
            command.args(args).current_dir(&self.dir).output().map_err(|error| {
                Error::failed(format!("cannot run {}: {error}", program.display()))
            })?;
        if !output.status.success() {
            return Err(Error::failed(format!(
                "{} {args:?} failed: {}{}",
                program.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(())
    }

    fn try_start_again(&self) -> Result<(), Error> {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let mut options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.display());
        for setting in self.settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        self.run(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        wait_until("PostgreSQL", Duration::from_secs(30), || port_open(self.port))
    }

    /// Starts the (stopped) server again on the same port and data. Panics when it cannot.
    pub fn start_again(&self) {
        self.try_start_again().unwrap_or_else(|error| panic!("{error}"));
    }

    /// Stops the server (fast shutdown: open connections are closed). Panics when it cannot.
    pub fn stop(&self) {
        let data = self.dir.join("data");
        self.run(&self.bin.join("pg_ctl"), &["-D", path_str(&data), "-m", "fast", "-w", "stop"])
            .unwrap_or_else(|error| panic!("{error}"));
    }

    /// The URL of `database` on this server, as user `postgres` (trust authentication).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// `psql` (of the same installation) connected to `database` as `postgres`, stopping at the
    /// first error, its standard output discarded; the caller adds `-c` or `-f`.
    pub fn psql(&self, database: &str) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        // On a TLS-only server psql's default `sslmode=prefer` encrypts.
        command
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &self.port.to_string(), "-d", database])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }

    /// Creates the empty database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, Error> {
        let output = self
            .psql("postgres")
            .args(["-c", &format!("CREATE DATABASE {name}")])
            .output()
            .map_err(|error| Error::failed(format!("cannot run psql: {error}")))?;
        if !output.status.success() {
            return Err(Error::failed(format!(
                "cannot create database {name}: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(self.url(name))
    }

    /// Creates an empty database of a unique name and returns its URL. Panics when it cannot.
    pub fn database(&self) -> String {
        self.create_database(&unique("t")).unwrap_or_else(|error| panic!("{error}"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.watchdog.fire();
    }
}

/// The server's paths are made of the temporary folder and ASCII names.
fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary folder")
}
