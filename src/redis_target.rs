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
    client: redis::Client,
    shown: String,
}

/// The query parameters promptctl reads itself (the others go to redis-rs).
const OWN_PARAMETERS: [&str; 3] = ["ca", "client_cert", "client_key"];

impl Target {
    /// Parses `url` and loads the certificate files it and `tls` name.
    pub fn open(url: &str, tls: &TlsOptions) -> Result<Target, TargetError> {
        install_provider();
        let shown = crate::store::redact_url(url);
        let bad = |message: String| TargetError::BadUrl { url: shown.clone(), message };
        let parsed = Parsed::new(url).map_err(&bad)?;
        let secure = parsed.scheme == "rediss" || parsed.scheme == "valkeys";
        let ca = tls.ca.clone().or_else(|| parsed.own("ca").map(PathBuf::from));
        let client_cert = parsed.own("client_cert").map(PathBuf::from);
        let client_key = parsed.own("client_key").map(PathBuf::from);
        if !secure {
            if ca.is_some() || client_cert.is_some() || tls.insecure {
                return Err(bad(
                    "a CA file, a client certificate and the insecure opt-in need TLS: use `rediss://`"
                        .into(),
                ));
            }
            let client =
                redis::Client::open(parsed.url.as_str()).map_err(|error| bad(error.to_string()))?;
            return Ok(Target { client, shown });
        }
        let mut base = parsed.url.clone();
        if tls.insecure {
            base.push_str("#insecure");
        }
        let root_cert = match &ca {
            Some(path) => Some(read_pem(path, "CA file", "CERTIFICATE").map_err(&bad)?),
            None => None,
        };
        let client_tls = match (&client_cert, &client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: read_pem(cert, "client certificate", "CERTIFICATE").map_err(&bad)?,
                client_key: read_pem(key, "client key", "PRIVATE KEY").map_err(&bad)?,
            }),
            _ => {
                return Err(bad("`client_cert` and `client_key` go together".into()));
            }
        };
        let client = if root_cert.is_none() && client_tls.is_none() {
            redis::Client::open(base.as_str())
        } else {
            redis::Client::build_with_tls(
                base.as_str(),
                redis::TlsCertificates { client_tls, root_cert },
            )
        }
        .map_err(|error| bad(error.to_string()))?;
        Ok(Target { client, shown })
    }

    /// The URL as shown: no password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// A connection for commands, with `timeout` for connecting, reading and writing.
    pub fn commands(&self, timeout: Duration) -> Result<redis::Connection, TargetError> {
        let connection = self.connect(timeout)?;
        connection.set_read_timeout(Some(timeout)).map_err(|error| self.unreachable(&error))?;
        Ok(connection)
    }

    /// A connection for a notice subscription (`as_pubsub`), authenticated like the commands';
    /// its read timeout is the caller's to set.
    pub fn subscriber(&self, timeout: Duration) -> Result<redis::Connection, TargetError> {
        self.connect(timeout)
    }

    fn connect(&self, timeout: Duration) -> Result<redis::Connection, TargetError> {
        let connection = self
            .client
            .get_connection_with_timeout(timeout)
            .map_err(|error| self.unreachable(&error))?;
        connection.set_write_timeout(Some(timeout)).map_err(|error| self.unreachable(&error))?;
        Ok(connection)
    }

    fn unreachable(&self, error: &redis::RedisError) -> TargetError {
        TargetError::Unreachable { url: self.shown.clone(), message: describe(error) }
    }
}

/// Makes `ring` the process's rustls provider, once (a provider already installed is kept). The
/// same as `crate::tls::install_provider`, here so that the runtime-only build has it too.
fn install_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
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
    scheme: String,
    /// The URL without promptctl's parameters.
    url: String,
    own: Vec<(String, String)>,
}

impl Parsed {
    fn new(url: &str) -> Result<Parsed, String> {
        let Some((scheme, _)) = url.split_once("://") else {
            return Err("not a URL: use `redis://host:port` or `rediss://host:port`".into());
        };
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "redis" | "rediss" | "valkey" | "valkeys") {
            return Err(format!(
                "unknown scheme `{scheme}://`: use `redis://` or `rediss://` (TLS)"
            ));
        }
        let (rest, fragment) = match url.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (url, None),
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
        let url =
            if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        Ok(Parsed { scheme, url, own })
    }

    fn own(&self, key: &str) -> Option<&str> {
        self.own.iter().rev().find(|(k, _)| k == key).map(|(_, value)| value.as_str())
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
    }
}
