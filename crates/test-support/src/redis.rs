//! A redis-server of its own on a free loopback port, without persistence, that a test may stop
//! and start again.

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use crate::{free_port, port_open, wait_until, Error, Watchdog};

/// A redis-server without persistence, stopped when dropped or when this process exits.
pub struct Redis {
    /// Its loopback port.
    pub port: u16,
    /// The shell that runs the server and kills it when its stdin closes; `None` while stopped.
    running: Mutex<Option<Watchdog>>,
    /// More of redis-server's options (`--name value`), each quoted for the shell.
    options: String,
    /// Whether the port speaks TLS only.
    tls: bool,
    /// What comes first on the command line (a sentinel's config file and `--sentinel`).
    pub(crate) head: String,
}

/// A redis-server that speaks TLS only ([`Redis::start_tls`]).
#[derive(Debug, Clone)]
pub struct TlsServer<'a> {
    /// The server's certificate (PEM).
    pub cert: &'a std::path::Path,
    /// Its key (PEM).
    pub key: &'a std::path::Path,
    /// The CA of the client certificates it would check (they are not required).
    pub ca: &'a std::path::Path,
}

/// Quotes `text` for `sh`.
pub(crate) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

impl Redis {
    /// Starts a server; the error says whether redis-server is installed.
    pub fn start() -> Result<Redis, Error> {
        if Command::new("redis-server").arg("--version").output().is_err() {
            return Err(Error::missing(
                "redis-server is not installed (apt-get install redis-server)",
            ));
        }
        Redis::start_with(&[], false)
    }

    /// Starts a server on a TLS-only port, with `users` as ACL rules (`alice on >secret ~* &* +@all`;
    /// `default off` locks out the unauthenticated).
    pub fn start_tls(tls: &TlsServer<'_>, users: &[&str]) -> Result<Redis, Error> {
        let mut options = vec![
            ("--tls-cert-file", tls.cert.display().to_string()),
            ("--tls-key-file", tls.key.display().to_string()),
            ("--tls-ca-cert-file", tls.ca.display().to_string()),
            ("--tls-auth-clients", "no".to_string()),
        ];
        options.extend(users.iter().map(|rule| ("--user", rule.to_string())));
        Redis::start_with(&options, true)
    }

    /// Starts a server with `users` as ACL rules, without TLS.
    pub fn start_with_users(users: &[&str]) -> Result<Redis, Error> {
        let options: Vec<_> = users.iter().map(|rule| ("--user", rule.to_string())).collect();
        Redis::start_with(&options, false)
    }

    pub(crate) fn start_with(options: &[(&str, String)], tls: bool) -> Result<Redis, Error> {
        Redis::start_headed(String::new(), options, tls)
    }

    /// A server whose command line starts with `head` (a sentinel's config file and `--sentinel`).
    pub(crate) fn start_headed(
        head: String,
        options: &[(&str, String)],
        tls: bool,
    ) -> Result<Redis, Error> {
        if Command::new("redis-server").arg("--version").output().is_err() {
            return Err(Error::missing(
                "redis-server is not installed (apt-get install redis-server)",
            ));
        }
        let options = options
            .iter()
            .map(|(name, value)| {
                // Each word an argument of its own: redis-server joins them into a config line.
                let words: Vec<String> = value.split_whitespace().map(quote).collect();
                format!("{name} {}", words.join(" "))
            })
            .collect::<Vec<_>>()
            .join(" ");
        let redis = Redis { port: free_port(), running: Mutex::new(None), options, tls, head };
        redis.try_start_again()?;
        Ok(redis)
    }

    fn try_start_again(&self) -> Result<(), Error> {
        let mut running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if running.is_some() {
            return Err(Error::failed(format!("redis on port {} is already running", self.port)));
        }
        let ports = if self.tls {
            format!("--port 0 --tls-port {}", self.port)
        } else {
            format!("--port {}", self.port)
        };
        let log = std::env::temp_dir().join(format!("test-redis-{}.log", self.port));
        *running = Some(Watchdog::spawn(
            &format!(
                "redis-server {} {ports} --bind 127.0.0.1 --save '' --appendonly no --protected-mode no {} >{} 2>&1 & pid=$!; ",
                self.head,
                self.options,
                quote(&log.display().to_string())
            ),
            "kill $pid; wait $pid",
        )?);
        let port = self.port;
        wait_until("redis-server", Duration::from_secs(20), || port_open(port)).map_err(|error| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Error::failed(format!("{error}; its log ends:\n{}", tail.join("\n")))
        })
    }

    /// Starts the (stopped) server again on the same port, empty. Panics when it cannot.
    pub fn start_again(&self) {
        self.try_start_again().unwrap_or_else(|error| panic!("{error}"));
    }

    /// Stops the server and waits until the port is closed. Panics when it stays open.
    pub fn stop(&self) {
        if let Some(mut watchdog) = self.running.lock().unwrap().take() {
            watchdog.fire();
        }
        let port = self.port;
        wait_until("redis-server shutdown", Duration::from_secs(20), || !port_open(port))
            .unwrap_or_else(|error| panic!("{error}"));
    }

    /// `redis://127.0.0.1:{port}/`, or `rediss://…` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let running = self.running.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(mut watchdog) = running.take() {
            watchdog.fire();
        }
    }
}
