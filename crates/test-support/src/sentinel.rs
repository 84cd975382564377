//! A Redis Sentinel setup on loopback ports: a primary, its replica, and three sentinels that
//! monitor them as `mymaster` (quorum 2, a one-second down-after), and `SENTINEL failover`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::redis::{quote, Redis};
use crate::{unique, wait_until, Error};

/// The name the sentinels know the primary by.
pub const MASTER_NAME: &str = "mymaster";

/// A primary, a replica and three sentinels; stopped when dropped or when this process exits.
pub struct Sentinel {
    /// The primary and the replica, as started (a failover swaps their roles).
    pub data: Vec<Redis>,
    /// The sentinels.
    pub sentinels: Vec<Redis>,
    dir: PathBuf,
}

fn cli(port: u16, args: &[&str]) -> Result<String, Error> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map_err(|error| Error::missing(format!("redis-cli cannot run: {error}")))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(Error::failed(format!("redis-cli -p {port} {args:?}: {text}")));
    }
    Ok(text)
}

impl Sentinel {
    /// Starts the servers and waits until the sentinels know the replica.
    pub fn start() -> Result<Sentinel, Error> {
        if Command::new("redis-cli").arg("--version").output().is_err() {
            return Err(Error::missing("redis-cli is not installed (apt-get install redis-tools)"));
        }
        let dir = std::env::temp_dir().join(unique("redis-sentinel"));
        std::fs::create_dir_all(&dir)
            .map_err(|error| Error::failed(format!("{}: {error}", dir.display())))?;
        let primary = Redis::start_with(&[], false)?;
        let replica =
            Redis::start_with(&[("--replicaof", format!("127.0.0.1 {}", primary.port))], false)?;
        let mut sentinels = Vec::new();
        for index in 0..3 {
            let config = dir.join(format!("sentinel-{index}.conf"));
            std::fs::write(
                &config,
                format!(
                    "sentinel monitor {MASTER_NAME} 127.0.0.1 {} 2\nsentinel down-after-milliseconds {MASTER_NAME} 1000\nsentinel failover-timeout {MASTER_NAME} 10000\n",
                    primary.port
                ),
            )
            .map_err(|error| Error::failed(format!("{}: {error}", config.display())))?;
            let head = format!("{} --sentinel", quote(&config.display().to_string()));
            sentinels.push(Redis::start_headed(head, &[], false)?);
        }
        let sentinel = Sentinel { data: vec![primary, replica], sentinels, dir };
        sentinel.wait_ready()?;
        Ok(sentinel)
    }

    /// The replica is in sync and every sentinel knows it and the other sentinels.
    fn wait_ready(&self) -> Result<(), Error> {
        wait_until("the Sentinel setup", Duration::from_secs(60), || {
            let primary = self.primary_port();
            let in_sync = self.data.iter().filter(|node| Some(node.port) != primary).all(|node| {
                cli(node.port, &["info", "replication"])
                    .is_ok_and(|info| info.contains("master_link_status:up"))
            });
            in_sync
                && self.sentinels.iter().all(|sentinel| {
                    cli(sentinel.port, &["sentinel", "master", MASTER_NAME]).is_ok_and(|info| {
                        let lines: Vec<&str> = info.lines().collect();
                        let field = |name: &str| {
                            lines
                                .iter()
                                .position(|line| *line == name)
                                .and_then(|at| lines.get(at + 1))
                                .map(|value| value.to_string())
                        };
                        field("num-slaves").as_deref() == Some("1")
                            && field("num-other-sentinels").as_deref() == Some("2")
                            && field("flags").as_deref() == Some("master")
                    })
                })
        })
    }

    /// The primary's port as the first sentinel reports it.
    pub fn primary_port(&self) -> Option<u16> {
        let reply =
            cli(self.sentinels[0].port, &["sentinel", "get-master-addr-by-name", MASTER_NAME])
                .ok()?;
        reply.lines().nth(1)?.trim().parse().ok()
    }

    /// `redis+sentinel://127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/mymaster`.
    pub fn url(&self) -> String {
        let nodes: Vec<String> =
            self.sentinels.iter().map(|node| format!("127.0.0.1:{}", node.port)).collect();
        format!("redis+sentinel://{}/{MASTER_NAME}", nodes.join(","))
    }

    /// `SENTINEL failover` and waits until the replica is the primary, every sentinel says so and
    /// the old primary follows it; returns the new primary's port. Panics when it cannot.
    pub fn failover(&self) -> u16 {
        let before = self.primary_port().expect("a primary");
        cli(self.sentinels[0].port, &["sentinel", "failover", MASTER_NAME])
            .unwrap_or_else(|error| panic!("{error}"));
        let mut after = before;
        wait_until("the Sentinel failover", Duration::from_secs(30), || {
            after = self.primary_port().unwrap_or(before);
            after != before && cli(after, &["role"]).is_ok_and(|role| role.starts_with("master"))
        })
        .unwrap_or_else(|error| panic!("{error}"));
        self.wait_ready().unwrap_or_else(|error| panic!("{error}"));
        after
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        self.sentinels.clear();
        self.data.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
