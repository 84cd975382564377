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
}

impl Redis {
    /// Starts a server; the error says whether redis-server is installed.
    pub fn start() -> Result<Redis, Error> {
        if Command::new("redis-server").arg("--version").output().is_err() {
            return Err(Error::missing(
                "redis-server is not installed (apt-get install redis-server)",
            ));
        }
        let redis = Redis { port: free_port(), running: Mutex::new(None) };
        redis.try_start_again()?;
        Ok(redis)
    }

    fn try_start_again(&self) -> Result<(), Error> {
        let mut running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if running.is_some() {
            return Err(Error::failed(format!("redis on port {} is already running", self.port)));
        }
        *running = Some(Watchdog::spawn(
            &format!(
                "redis-server --port {} --bind 127.0.0.1 --save '' --appendonly no --protected-mode no >/dev/null 2>&1 & pid=$!; ",
                self.port
            ),
            "kill $pid; wait $pid",
        )?);
        let port = self.port;
        wait_until("redis-server", Duration::from_secs(20), || port_open(port))
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

    /// `redis://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
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
