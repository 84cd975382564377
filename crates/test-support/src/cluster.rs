//! A Redis Cluster of three primaries and a replica each on loopback ports (six redis-servers
//! without persistence, joined with `redis-cli --cluster create`), and a manual failover of the
//! primary that serves a key.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::redis::Redis;
use crate::{unique, wait_until, Error};

/// Three primaries, three replicas; stopped when dropped or when this process exits.
pub struct Cluster {
    /// The six servers, primaries first as `redis-cli --cluster create` chose them.
    pub nodes: Vec<Redis>,
    dir: PathBuf,
}

/// `redis-cli -p port args…`: its output, or why it failed.
fn cli(port: u16, args: &[&str]) -> Result<String, Error> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map_err(|error| Error::missing(format!("redis-cli cannot run: {error}")))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Error::failed(format!("redis-cli -p {port} {args:?}: {text}{stderr}")));
    }
    Ok(text)
}

impl Cluster {
    /// Starts the servers and joins them (a few seconds); the error says what is missing.
    pub fn start() -> Result<Cluster, Error> {
        if Command::new("redis-cli").arg("--version").output().is_err() {
            return Err(Error::missing("redis-cli is not installed (apt-get install redis-tools)"));
        }
        let dir = std::env::temp_dir().join(unique("redis-cluster"));
        let mut nodes = Vec::new();
        for index in 0..6 {
            let folder = dir.join(index.to_string());
            std::fs::create_dir_all(&folder)
                .map_err(|error| Error::failed(format!("{}: {error}", folder.display())))?;
            let options = [
                ("--cluster-enabled", "yes".to_string()),
                ("--cluster-config-file", "nodes.conf".to_string()),
                ("--cluster-node-timeout", "1000".to_string()),
                // The bus port, by default the port + 10000, which nothing checked was free (a
                // test's outgoing connection may hold it): one that was free a moment ago.
                ("--cluster-port", crate::free_port().to_string()),
                ("--dir", folder.display().to_string()),
            ];
            nodes.push(Redis::start_with(&options, false)?);
        }
        let mut create = vec!["--cluster".to_string(), "create".to_string()];
        create.extend(nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)));
        create.extend(["--cluster-replicas", "1", "--cluster-yes"].map(String::from));
        let create: Vec<&str> = create.iter().map(String::as_str).collect();
        cli(nodes[0].port, &create)?;
        let cluster = Cluster { nodes, dir };
        cluster.wait_ready()?;
        Ok(cluster)
    }

    /// Every node sees the cluster as ok, and every replica is in sync.
    fn wait_ready(&self) -> Result<(), Error> {
        wait_until("the Redis Cluster", Duration::from_secs(60), || {
            self.nodes.iter().all(|node| {
                let ok = cli(node.port, &["cluster", "info"])
                    .is_ok_and(|info| info.contains("cluster_state:ok"));
                let replication = cli(node.port, &["info", "replication"]).unwrap_or_default();
                ok && (replication.contains("role:master")
                    || replication.contains("master_link_status:up"))
            })
        })
    }

    /// `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/` (three seeds).
    pub fn url(&self) -> String {
        let seeds: Vec<String> =
            self.nodes.iter().take(3).map(|node| format!("127.0.0.1:{}", node.port)).collect();
        format!("redis+cluster://{}/", seeds.join(","))
    }

    /// The ports of the primaries now.
    pub fn primaries(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|node| cli(node.port, &["role"]).is_ok_and(|role| role.starts_with("master")))
            .map(|node| node.port)
            .collect()
    }

    /// Fails over the primary that serves `key` to its replica (`CLUSTER FAILOVER` on the
    /// replica) and waits until the replica is the primary and the cluster is ok; returns the new
    /// primary's port. Panics when it cannot.
    pub fn failover(&self, key: &str) -> u16 {
        let port = self.nodes[0].port;
        let slot: u16 = cli(port, &["cluster", "keyslot", key])
            .unwrap_or_else(|error| panic!("{error}"))
            .trim()
            .parse()
            .expect("a slot number");
        let nodes = cli(port, &["cluster", "nodes"]).unwrap_or_else(|error| panic!("{error}"));
        let lines: Vec<Vec<&str>> =
            nodes.lines().map(|line| line.split(' ').collect::<Vec<_>>()).collect();
        let serves = |fields: &Vec<&str>| {
            fields.iter().skip(8).any(|range| {
                let (low, high) = range.split_once('-').unwrap_or((range, range));
                match (low.parse::<u16>(), high.parse::<u16>()) {
                    (Ok(low), Ok(high)) => (low..=high).contains(&slot),
                    _ => false,
                }
            })
        };
        let primary = lines
            .iter()
            .find(|fields| fields.len() > 8 && fields[2].contains("master") && serves(fields))
            .unwrap_or_else(|| panic!("no primary serves slot {slot}:\n{nodes}"));
        let replica = lines
            .iter()
            .find(|fields| fields.len() > 3 && fields[3] == primary[0])
            .unwrap_or_else(|| panic!("the primary of slot {slot} has no replica:\n{nodes}"));
        let address = replica[1].split(['@', ',']).next().unwrap_or_default();
        let replica_port: u16 =
            address.rsplit_once(':').and_then(|(_, port)| port.parse().ok()).expect("a port");
        cli(replica_port, &["cluster", "failover"]).unwrap_or_else(|error| panic!("{error}"));
        wait_until("the failover", Duration::from_secs(30), || {
            cli(replica_port, &["role"]).is_ok_and(|role| role.starts_with("master"))
        })
        .unwrap_or_else(|error| panic!("{error}"));
        self.wait_ready().unwrap_or_else(|error| panic!("{error}"));
        replica_port
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
