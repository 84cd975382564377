//! Where a Redis URL points and how promptctl reaches it, for the CLI's cache (`cache::Cache`) and
//! the runtime's refresher alike, so that both accept the same URLs and behave the same:
//!
//! - `redis://[user:password@]host:port[/db]`: plain TCP, with an ACL user and password (or a
//!   password alone, `redis://:password@host`), which the notice subscription uses too;
//! - `rediss://…`: TLS (rustls, `ring`), the server's certificate checked against the system's
//!   roots, or against the CA file of `TlsOptions::ca` (`--redis-ca`, `PROMPTCTL_REDIS_CA`) or of
//!   the URL's `?ca=FILE`; a client certificate for mutual TLS with `?client_cert=FILE&client_key=FILE`.
//!
//! Not checking the certificate at all is `TlsOptions::insecure`, an explicit opt-in of the
//! caller (`--redis-insecure`, `PROMPTCTL_REDIS_INSECURE`) that the caller announces as a warning;
//! a URL cannot ask for it (redis-rs's `#insecure` fragment is refused).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How TLS connections are checked, beside what the URL says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file of the CA certificates to trust instead of the system's.
    pub ca: Option<PathBuf>,
    /// Accept any certificate (no CA, no hostname check): an explicit opt-in, to be warned about.
    pub insecure: bool,
}

/// The warning a caller prints (CLI) or logs (runtime) when `TlsOptions::insecure` is set.
pub const INSECURE_WARNING: &str = "the Redis server's TLS certificate is not checked (insecure opt-in): anyone on the network path can read and change the cache";

/// A Redis URL that cannot be used, or a Redis that cannot be reached; the URL as shown has no
/// password.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetError {
    #[error("Redis URL `{url}`: {message}")]
    BadUrl { url: String, message: String },
    #[error("cannot reach Redis at `{url}`: {message}")]
    Unreachable { url: String, message: String },
}

/// One Redis deployment, ready to open connections.
#[derive(Debug, Clone)]
pub struct Target {
    kind: Kind,
    shown: String,
}

#[derive(Debug, Clone)]
enum Kind {
    /// One server (`redis://`, `rediss://`).
    Node(redis::Client),
    /// A Redis Cluster (`redis+cluster://`): its seed nodes, each a client with the URL's
    /// credentials and TLS settings (the subscription's candidates), and the certificates the
    /// cluster client is built with.
    Cluster { seeds: Vec<String>, nodes: Vec<redis::Client>, certs: Option<Certificates> },
    /// A primary that Redis Sentinel names (`redis+sentinel://`): asked again on every connect,
    /// so that a connection after a failover reaches the new primary.
    Sentinel(SharedSentinel),
}

/// The Sentinel client, shared by the clones of a `Target` (it keeps its connections to the
/// sentinels).
#[derive(Clone)]
struct SharedSentinel(std::sync::Arc<std::sync::Mutex<redis::sentinel::SentinelClient>>);

impl std::fmt::Debug for SharedSentinel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SentinelClient")
    }
}

/// The certificate bytes of `TlsCertificates`, kept to build clients from.
#[derive(Clone)]
struct Certificates {
    root_cert: Option<Vec<u8>>,
    client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Certificates")
    }
}

impl Certificates {
    fn tls(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self.client.as_ref().map(|(cert, key)| redis::ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            root_cert: self.root_cert.clone(),
        }
    }
}

/// The query parameters promptctl reads itself (the others go to redis-rs).
const OWN_PARAMETERS: [&str; 3] = ["ca", "client_cert", "client_key"];

/// How many times a cluster command follows a redirection or retries a node that failed over.
const CLUSTER_RETRIES: u32 = 6;

impl Target {
    /// Parses `url` and loads the certificate files it and `tls` name.
    pub fn open(url: &str, tls: &TlsOptions) -> Result<Target, TargetError> {
        crate::tls::install_provider();
        let shown = crate::store::redact_url(url);
        let bad = |message: String| TargetError::BadUrl { url: shown.clone(), message };
        let parsed = Parsed::new(url).map_err(&bad)?;
        let secure = parsed.secure();
        let ca = tls.ca.clone().or_else(|| parsed.own("ca").map(PathBuf::from));
        let client_cert = parsed.own("client_cert").map(PathBuf::from);
        let client_key = parsed.own("client_key").map(PathBuf::from);
        if !secure && (ca.is_some() || client_cert.is_some() || tls.insecure) {
            return Err(bad(
                "a CA file, a client certificate and the insecure opt-in need TLS: use `rediss://`"
                    .into(),
            ));
        }
        let root_cert = match &ca {
            Some(path) => Some(read_pem(path, "CA file", "CERTIFICATE").map_err(&bad)?),
            None => None,
        };
        let client = match (&client_cert, &client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((
                read_pem(cert, "client certificate", "CERTIFICATE").map_err(&bad)?,
                read_pem(key, "client key", "PRIVATE KEY").map_err(&bad)?,
            )),
            _ => return Err(bad("`client_cert` and `client_key` go together".into())),
        };
        let certs =
            (root_cert.is_some() || client.is_some()).then_some(Certificates { root_cert, client });
        let fragment = if tls.insecure { "#insecure" } else { "" };
        let node = |url: &str| -> Result<redis::Client, TargetError> {
            let url = format!("{url}{fragment}");
            match &certs {
                None => redis::Client::open(url.as_str()),
                Some(certs) => redis::Client::build_with_tls(url.as_str(), certs.tls()),
            }
            .map_err(|error| bad(error.to_string()))
        };
        let kind = match parsed.topology {
            Topology::Node => Kind::Node(node(&parsed.url)?),
            Topology::Cluster => {
                let seeds = parsed.seeds().map_err(&bad)?;
                let nodes = seeds.iter().map(|seed| node(seed)).collect::<Result<_, _>>()?;
                let seeds = seeds.into_iter().map(|seed| format!("{seed}{fragment}")).collect();
                let target = Kind::Cluster { seeds, nodes, certs };
                // Checked now, so that a bad URL is reported as one.
                cluster_client(&target, Duration::from_secs(1)).map_err(|e| bad(e.to_string()))?;
                target
            }
            Topology::Sentinel => {
                let client =
                    sentinel_client(&parsed, tls.insecure, certs.as_ref()).map_err(&bad)?;
                Kind::Sentinel(SharedSentinel(std::sync::Arc::new(std::sync::Mutex::new(client))))
            }
        };
        Ok(Target { kind, shown })
    }

    /// The URL as shown: no password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.kind, Kind::Cluster { .. })
    }

    /// A connection for commands, with `timeout` for connecting, reading and writing.
    pub fn commands(&self, timeout: Duration) -> Result<Commands, TargetError> {
        match &self.kind {
            Kind::Node(client) => {
                let connection = self.connect(client, timeout)?;
                connection
                    .set_read_timeout(Some(timeout))
                    .map_err(|error| self.unreachable(&error))?;
                Ok(Commands::Node(connection))
            }
            Kind::Cluster { .. } => {
                let client =
                    cluster_client(&self.kind, timeout).map_err(|e| self.unreachable(&e))?;
                let connection = client.get_connection().map_err(|e| self.unreachable(&e))?;
                Ok(Commands::Cluster(Box::new(connection)))
            }
            Kind::Sentinel(sentinel) => {
                let client = self.primary(sentinel)?;
                let connection = self.connect(&client, timeout)?;
                connection
                    .set_read_timeout(Some(timeout))
                    .map_err(|error| self.unreachable(&error))?;
                Ok(Commands::Node(connection))
            }
        }
    }

    /// A connection for a notice subscription (`as_pubsub`), authenticated like the commands';
    /// its read timeout is the caller's to set. In a cluster, the first seed node that answers:
    /// Redis Cluster forwards every `PUBLISH` to every node.
    pub fn subscriber(&self, timeout: Duration) -> Result<redis::Connection, TargetError> {
        match &self.kind {
            Kind::Node(client) => self.connect(client, timeout),
            Kind::Cluster { nodes, .. } => {
                let mut last = None;
                for client in nodes {
                    match self.connect(client, timeout) {
                        Ok(connection) => return Ok(connection),
                        Err(error) => last = Some(error),
                    }
                }
                Err(last.expect("a cluster URL has a seed"))
            }
            // The primary: a replica would hear the notices too (replication forwards them), but
            // the primary is where the commands go.
            Kind::Sentinel(sentinel) => self.connect(&self.primary(sentinel)?, timeout),
        }
    }

    /// The client of the primary the sentinels name now.
    fn primary(&self, sentinel: &SharedSentinel) -> Result<redis::Client, TargetError> {
        let mut sentinel = sentinel.0.lock().unwrap_or_else(|poison| poison.into_inner());
        sentinel.get_client().map_err(|error| TargetError::Unreachable {
            url: self.shown.clone(),
            message: format!("no primary from the sentinels: {}", describe(&error)),
        })
    }

    fn connect(
        &self,
        client: &redis::Client,
        timeout: Duration,
    ) -> Result<redis::Connection, TargetError> {
        let connection = client
            .get_connection_with_timeout(timeout)
            .map_err(|error| self.unreachable(&error))?;
        connection.set_write_timeout(Some(timeout)).map_err(|error| self.unreachable(&error))?;
        Ok(connection)
    }

    fn unreachable(&self, error: &redis::RedisError) -> TargetError {
        TargetError::Unreachable { url: self.shown.clone(), message: describe(error) }
    }
}

/// The Sentinel client of a `redis+sentinel://[user:password@]host:port,…/MASTER[/DB]` URL.
fn sentinel_client(
    parsed: &Parsed,
    insecure: bool,
    certs: Option<&Certificates>,
) -> Result<redis::sentinel::SentinelClient, String> {
    use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
    let (userinfo, hosts, tail) = parsed.authority();
    let path = tail.split('?').next().unwrap_or_default();
    let mut segments = path.split('/').filter(|segment| !segment.is_empty());
    let usage = "a Sentinel URL names the sentinels and the primary: `redis+sentinel://host1:26379,host2:26379/mymaster`";
    let master = segments.next().ok_or_else(|| usage.to_string())?;
    let db = match segments.next() {
        Some(db) => {
            Some(db.parse::<i64>().map_err(|_| format!("`{db}` is not a database number"))?)
        }
        None => None,
    };
    let mut sentinels = Vec::new();
    for host in hosts.split(',').map(str::trim).filter(|host| !host.is_empty()) {
        let bad_port =
            |port: &str| port.parse::<u16>().map_err(|_| format!("`{host}`: a bad port"));
        let (name, port) = match host.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
            Some((v6, "")) => (v6, 26379),
            Some((v6, after)) => (v6, bad_port(after.trim_start_matches(':'))?),
            None => match host.rsplit_once(':') {
                Some((name, port)) => (name, bad_port(port)?),
                None => (host, 26379),
            },
        };
        let name = name.to_string();
        sentinels.push(if parsed.secure() {
            redis::ConnectionAddr::TcpTls { host: name, port, insecure, tls_params: None }
        } else {
            redis::ConnectionAddr::Tcp(name, port)
        });
    }
    if sentinels.is_empty() {
        return Err(usage.into());
    }
    let mut builder = SentinelClientBuilder::new(sentinels, master, SentinelServerType::Master)
        .map_err(|error| error.to_string())?;
    let userinfo = userinfo.trim_end_matches('@');
    if !userinfo.is_empty() {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        if !user.is_empty() {
            builder = builder.set_client_to_redis_username(percent_decode(user)?);
        }
        if !password.is_empty() {
            builder = builder.set_client_to_redis_password(percent_decode(password)?);
        }
    }
    if let Some(db) = db {
        builder = builder.set_client_to_redis_db(db);
    }
    if parsed.secure() {
        let mode = if insecure { redis::TlsMode::Insecure } else { redis::TlsMode::Secure };
        builder = builder.set_client_to_redis_tls_mode(mode).set_client_to_sentinel_tls_mode(mode);
        if let Some(certs) = certs {
            builder = builder
                .set_client_to_redis_certificates(certs.tls())
                .set_client_to_sentinel_certificates(certs.tls());
        }
    }
    builder.build().map_err(|error| error.to_string())
}

fn cluster_client(
    kind: &Kind,
    timeout: Duration,
) -> redis::RedisResult<redis::cluster::ClusterClient> {
    let Kind::Cluster { seeds, certs, .. } = kind else { unreachable!("a cluster") };
    let mut builder = redis::cluster::ClusterClientBuilder::new(seeds.iter().map(String::as_str))
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(CLUSTER_RETRIES)
        .min_retry_wait(20)
        .max_retry_wait(400);
    if let Some(certs) = certs {
        builder = builder.certs(certs.tls());
    }
    builder.build()
}

/// A connection for commands: to one server, or to a cluster (which routes each command to the
/// node of its key's slot and follows redirections).
pub enum Commands {
    /// One server.
    Node(redis::Connection),
    /// A Redis Cluster.
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl Commands {
    /// Whether this is a Redis Cluster (no command may span slots).
    pub fn is_cluster(&self) -> bool {
        matches!(self, Commands::Cluster(_))
    }

    /// Runs `commands` in one round trip (a cluster: one per node), replies in order.
    pub fn pipeline<T: redis::FromRedisValue>(
        &mut self,
        commands: impl IntoIterator<Item = redis::Cmd>,
    ) -> redis::RedisResult<T> {
        match self {
            Commands::Node(connection) => {
                let mut pipe = redis::pipe();
                for command in commands {
                    pipe.add_command(command);
                }
                pipe.query(connection)
            }
            Commands::Cluster(connection) => {
                let mut pipe = redis::cluster::cluster_pipe();
                for command in commands {
                    pipe.add_command(command);
                }
                pipe.query(connection)
            }
        }
    }

    /// Runs keyless `commands` (`PUBLISH`): one round trip to one server; in a cluster, one
    /// command at a time, each to some node (a cluster forwards each `PUBLISH` to every node).
    pub fn keyless(&mut self, commands: Vec<redis::Cmd>) -> redis::RedisResult<()> {
        match self {
            Commands::Node(_) => self.pipeline(commands),
            Commands::Cluster(connection) => {
                for command in commands {
                    command.query::<redis::Value>(&mut **connection)?;
                }
                Ok(())
            }
        }
    }

    /// Every key matching `pattern` (`SCAN … MATCH … COUNT batch`; in a cluster, on every
    /// primary). May hold a key twice.
    pub fn scan(&mut self, pattern: &str, batch: usize) -> redis::RedisResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut scan =
            |connection: &mut dyn FnMut(u64) -> redis::RedisResult<(u64, Vec<String>)>| {
                let mut cursor = 0;
                loop {
                    let (next, found) = connection(cursor)?;
                    keys.extend(found);
                    cursor = next;
                    if cursor == 0 {
                        return Ok::<(), redis::RedisError>(());
                    }
                }
            };
        let command = |cursor: u64| {
            let mut command = redis::cmd("SCAN");
            command.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(batch);
            command
        };
        match self {
            Commands::Node(connection) => {
                scan(&mut |cursor| command(cursor).query(connection))?;
            }
            Commands::Cluster(connection) => {
                use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
                let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut **connection)?;
                for (host, port) in primaries(&nodes) {
                    let route = || {
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port,
                        })
                    };
                    scan(&mut |cursor| {
                        let value = connection.route_command(&command(cursor), route())?;
                        Ok(redis::from_redis_value(value)?)
                    })?;
                }
            }
        }
        Ok(keys)
    }
}

/// The primaries' addresses in a `CLUSTER NODES` reply (those not marked failed).
fn primaries(nodes: &str) -> Vec<(String, u16)> {
    let mut found = Vec::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(address), Some(flags)) = (fields.get(1), fields.get(2)) else { continue };
        let flags: Vec<&str> = flags.split(',').collect();
        if !flags.contains(&"master") || flags.contains(&"fail") || flags.contains(&"noaddr") {
            continue;
        }
        let address = address.split(['@', ',']).next().unwrap_or_default();
        if let Some((host, port)) = address.rsplit_once(':') {
            if let Ok(port) = port.parse() {
                found.push((host.trim_matches(['[', ']']).to_string(), port));
            }
        }
    }
    found
}

impl redis::ConnectionLike for Commands {
    fn req_packed_command(&mut self, command: &[u8]) -> redis::RedisResult<redis::Value> {
        match self {
            Commands::Node(connection) => connection.req_packed_command(command),
            Commands::Cluster(connection) => connection.req_packed_command(command),
        }
    }

    fn req_packed_commands(
        &mut self,
        command: &[u8],
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        match self {
            Commands::Node(connection) => connection.req_packed_commands(command, offset, count),
            Commands::Cluster(connection) => connection.req_packed_commands(command, offset, count),
        }
    }

    fn req_command(&mut self, command: &redis::Cmd) -> redis::RedisResult<redis::Value> {
        match self {
            Commands::Node(connection) => connection.req_command(command),
            Commands::Cluster(connection) => connection.req_command(command),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Commands::Node(connection) => connection.get_db(),
            Commands::Cluster(connection) => connection.get_db(),
        }
    }

    fn supports_pipelining(&self) -> bool {
        match self {
            Commands::Node(connection) => connection.supports_pipelining(),
            Commands::Cluster(connection) => connection.supports_pipelining(),
        }
    }

    fn check_connection(&mut self) -> bool {
        match self {
            Commands::Node(connection) => connection.check_connection(),
            Commands::Cluster(connection) => connection.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Commands::Node(connection) => connection.is_open(),
            Commands::Cluster(connection) => connection.is_open(),
        }
    }
}

/// A Redis error as users read it: TLS failures say what was wrong with the certificate.
pub fn describe(error: &redis::RedisError) -> String {
    let text = error.to_string();
    let reason = if error.kind() == redis::ErrorKind::AuthenticationFailed {
        Some("the user name or password is refused (check the URL's `user:password@`)")
    } else if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        Some("the server's certificate is not signed by a trusted CA (check `--redis-ca`)")
    } else if text.contains("NotValidForName") || text.contains("not valid for name") {
        Some("the server's certificate is not issued for this host name")
    } else if text.contains("Expired") {
        Some("the server's certificate has expired")
    } else if text.contains("InvalidContentType") || text.contains("CorruptMessage") {
        Some("the server does not speak TLS (use `redis://`?)")
    } else {
        None
    };
    match reason {
        Some(reason) if error.kind() == redis::ErrorKind::AuthenticationFailed => {
            format!("{reason} ({text})")
        }
        Some(reason) => format!("TLS: {reason} ({text})"),
        None => text,
    }
}

fn read_pem(path: &Path, what: &str, kind: &str) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path)
        .map_err(|error| format!("cannot read the {what} `{}`: {error}", path.display()))?;
    let marker = format!("-----BEGIN {kind}");
    let text = String::from_utf8_lossy(&bytes);
    let found = text.contains(&marker)
        || (kind == "PRIVATE KEY"
            && (text.contains("-----BEGIN RSA PRIVATE KEY")
                || text.contains("-----BEGIN EC PRIVATE KEY")));
    if !found {
        return Err(format!("the {what} `{}` holds no PEM {kind}", path.display()));
    }
    Ok(bytes)
}

/// A URL split into the part redis-rs reads and promptctl's own query parameters.
struct Parsed {
    /// `redis` or `rediss` (`valkey`, `valkeys`): the scheme of one node.
    scheme: String,
    topology: Topology,
    /// The URL with the node's scheme, without promptctl's parameters.
    url: String,
    own: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topology {
    Node,
    Cluster,
    Sentinel,
}

impl Parsed {
    fn new(url: &str) -> Result<Parsed, String> {
        let Some((scheme, after)) = url.split_once("://") else {
            return Err("not a URL: use `redis://host:port` or `rediss://host:port`".into());
        };
        let lowered = scheme.to_ascii_lowercase();
        let (node, topology) = match lowered.split_once('+') {
            None => (lowered.as_str(), Topology::Node),
            Some((node, "cluster")) => (node, Topology::Cluster),
            Some((node, "sentinel")) => (node, Topology::Sentinel),
            Some(_) => (lowered.as_str(), Topology::Node),
        };
        if !matches!(node, "redis" | "rediss" | "valkey" | "valkeys") {
            return Err(format!(
                "unknown scheme `{scheme}://`: use `redis://`, `rediss://` (TLS) or `redis+cluster://`, `redis+sentinel://` (`rediss+…` with TLS)"
            ));
        }
        let (rest, fragment) = match after.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (after, None),
        };
        if fragment.is_some() {
            return Err(
                "a URL fragment (`#…`) is not accepted; not checking certificates is `--redis-insecure` (PROMPTCTL_REDIS_INSECURE=true)"
                    .into(),
            );
        }
        let (base, query) = match rest.split_once('?') {
            Some((base, query)) => (base, query),
            None => (rest, ""),
        };
        let mut kept = Vec::new();
        let mut own = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if OWN_PARAMETERS.contains(&key) {
                own.push((key.to_string(), percent_decode(value)?));
            } else {
                kept.push(pair);
            }
        }
        let url = if kept.is_empty() {
            format!("{node}://{base}")
        } else {
            format!("{node}://{base}?{}", kept.join("&"))
        };
        Ok(Parsed { scheme: node.to_string(), topology, url, own })
    }

    fn secure(&self) -> bool {
        self.scheme == "rediss" || self.scheme == "valkeys"
    }

    fn own(&self, key: &str) -> Option<&str> {
        self.own.iter().rev().find(|(k, _)| k == key).map(|(_, value)| value.as_str())
    }

    /// The user information (with its `@`, or empty), the hosts and what follows them.
    fn authority(&self) -> (&str, &str, &str) {
        let after = &self.url[self.scheme.len() + 3..];
        let end = after.find(['/', '?']).unwrap_or(after.len());
        let (authority, tail) = after.split_at(end);
        match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..], tail),
            None => ("", authority, tail),
        }
    }

    /// A cluster URL's seed nodes (`user:password@host1:port1,host2:port2/…`), each as the URL of
    /// one node with the same credentials, path and query.
    fn seeds(&self) -> Result<Vec<String>, String> {
        let (userinfo, hosts, tail) = self.authority();
        let seeds: Vec<String> = hosts
            .split(',')
            .filter(|host| !host.trim().is_empty())
            .map(|host| format!("{}://{userinfo}{}{tail}", self.scheme, host.trim()))
            .collect();
        if seeds.is_empty() {
            return Err(
                "a cluster URL names its seed nodes: `redis+cluster://host1:port1,host2:port2/`"
                    .into(),
            );
        }
        Ok(seeds)
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("bad percent escape in `{text}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{text}` is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(url: &str, tls: &TlsOptions) -> String {
        match Target::open(url, tls) {
            Ok(_) => "ok".into(),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn urls() {
        let none = TlsOptions::default();
        assert_eq!(error("redis://u:secret@127.0.0.1:1/0", &none), "ok");
        assert_eq!(error("rediss://u:secret@127.0.0.1:1/", &none), "ok");
        let message = error("rediss://u:secret@127.0.0.1:1/#insecure", &none);
        assert!(message.contains("--redis-insecure"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        let message = error("http://u:secret@host/", &none);
        assert!(message.contains("unknown scheme `http://`"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        let ca = TlsOptions { ca: Some("/nonexistent/ca.pem".into()), insecure: false };
        let message = error("redis://u:secret@127.0.0.1:1/", &ca);
        assert!(message.contains("use `rediss://`"), "{message}");
        let message = error("rediss://u:secret@127.0.0.1:1/", &ca);
        assert!(message.contains("cannot read the CA file `/nonexistent/ca.pem`"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        let message = error("rediss://127.0.0.1:1/?ca=%2Fnonexistent%2Fother.pem", &none);
        assert!(message.contains("`/nonexistent/other.pem`"), "{message}");
        let message = error("rediss://127.0.0.1:1/?client_cert=x.pem", &none);
        assert!(message.contains("go together"), "{message}");
        let message = error("redis+sentinel://u:secret@127.0.0.1:1/", &none);
        assert!(message.contains("names the sentinels and the primary"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        assert_eq!(error("rediss+sentinel://u:secret@127.0.0.1:1,[::1]/mymaster/2", &none), "ok");
        let message = error("redis+sentinel://127.0.0.1:x/mymaster", &none);
        assert!(message.contains("a bad port"), "{message}");
        let message = error("redis+replica://127.0.0.1/", &none);
        assert!(message.contains("unknown scheme"), "{message}");
        let message = error("redis+cluster://u:secret@/", &none);
        assert!(message.contains("seed nodes"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn cluster_seeds() {
        let parsed = Parsed::new("rediss+cluster://u:p@a:1, b:2/?ca=x.pem&protocol=resp3").unwrap();
        assert_eq!(parsed.topology, Topology::Cluster);
        assert!(parsed.secure());
        assert_eq!(parsed.own("ca"), Some("x.pem"));
        assert_eq!(
            parsed.seeds().unwrap(),
            ["rediss://u:p@a:1/?protocol=resp3", "rediss://u:p@b:2/?protocol=resp3"]
        );
        assert_eq!(
            Parsed::new("redis+cluster://h:7000").unwrap().seeds().unwrap(),
            ["redis://h:7000"]
        );
    }

    #[test]
    fn cluster_primaries() {
        let nodes = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001,host.example master - 0 0 2 connected 5461-10922
c3 127.0.0.1:7002@17002 master,fail - 0 0 3 connected
d4 127.0.0.1:7003@17003 slave a1 0 0 1 connected
e5 [::1]:7004@17004 master - 0 0 4 connected 10923-16383
";
        assert_eq!(
            primaries(nodes),
            [
                ("127.0.0.1".to_string(), 7000),
                ("127.0.0.1".to_string(), 7001),
                ("::1".to_string(), 7004)
            ]
        );
    }
}
