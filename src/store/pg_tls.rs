//! TLS to PostgreSQL as libpq reads the connection URL: `sslmode` (`disable`, `allow`, `prefer`,
//! `require`, `verify-ca`, `verify-full`), `sslrootcert` (a PEM file, or `system` for the system's
//! CAs), and a client certificate (`sslcert` with `sslkey`), also from `PGSSLMODE`,
//! `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY` when the URL does not set them. The `postgres`
//! client knows only `disable`/`prefer`/`require` and refuses the other parameters, so `prepare`
//! takes them out of the URL and turns them into a rustls configuration and the connection
//! attempts libpq would make (docs/deploy.md, "TLS to PostgreSQL").

use crate::tls::{self, Verify};
use std::path::{Path, PathBuf};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`; `prefer` is libpq's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Allow => "allow",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }

    fn parse(text: &str) -> Option<Mode> {
        Some(match text {
            "disable" => Mode::Disable,
            "allow" => Mode::Allow,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            _ => return None,
        })
    }
}

/// One connection attempt: the URL for the `postgres` client and its TLS connector.
pub struct Attempt {
    pub url: String,
    pub tls: MakeRustlsConnect,
    /// Whether this attempt encrypts (a failure of an encrypted attempt may fall back).
    pub encrypted: bool,
}

/// What `connect` tries, in order, and how to explain a refused handshake.
pub struct Prepared {
    pub attempts: Vec<Attempt>,
    pub mode: Mode,
    /// The host the certificate must name (the URL's host, even with `hostaddr`).
    pub host: String,
    /// Where the trusted CAs come from, for messages (`sslrootcert=…`).
    pub roots: String,
}

/// The TLS parameters of a URL.
#[derive(Debug, Default)]
struct Settings {
    mode: Option<String>,
    root_cert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

/// Splits the URL into the `postgres` client's URL (without the TLS parameters) and them.
fn split(url: &str) -> (String, Settings) {
    let mut settings = Settings::default();
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), settings);
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "sslmode" => settings.mode = Some(value),
            "sslrootcert" => settings.root_cert = Some(value),
            "sslcert" => settings.cert = Some(value),
            "sslkey" => settings.key = Some(value),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    (url, settings)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host of a `postgres://` URL (`host=` in the query wins, as in libpq).
fn host_of(url: &str) -> String {
    if let Some(query) = url.split_once('?').map(|(_, query)| query) {
        for pair in query.split('&') {
            if let Some(value) = pair.strip_prefix("host=") {
                return percent_decode(value);
            }
        }
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split([':', ',']).next().unwrap_or("")
    };
    if host.is_empty() {
        "localhost".into()
    } else {
        percent_decode(host)
    }
}

fn with_mode(url: &str, mode: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode={mode}")
}

fn home_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(&std::env::var_os("HOME")?).join(".postgresql").join(name);
    path.is_file().then_some(path)
}

/// The trusted roots of `verify-ca`/`verify-full` (or of `require` with `sslrootcert`).
fn roots(root_cert: Option<&str>, mode: Mode) -> Result<(rustls::RootCertStore, String), String> {
    match root_cert {
        Some("system") => Ok((tls::system_roots()?, "the system's CA certificates".into())),
        Some(file) => Ok((tls::roots_from_file(Path::new(file))?, format!("sslrootcert `{file}`"))),
        None => match home_file("root.crt") {
            Some(path) => {
                let shown = format!("`{}`", path.display());
                Ok((tls::roots_from_file(&path)?, shown))
            }
            None => Err(format!(
                "sslmode={} checks the server's certificate, but no CA is given: add \
                 `sslrootcert=FILE` (your provider's CA bundle) or `sslrootcert=system` (the \
                 system's CAs) to the URL, or create ~/.postgresql/root.crt",
                mode.as_str()
            )),
        },
    }
}

/// The client certificate and key, checked as libpq does (a key others can read is refused).
fn client_auth(
    cert: Option<&str>,
    key: Option<&str>,
) -> Result<
    Option<(
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    )>,
    String,
> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => return Err("`sslcert` is set without `sslkey`; give both".into()),
        (None, Some(_)) => return Err("`sslkey` is set without `sslcert`; give both".into()),
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("sslcert `{cert}`: {error}"))?;
    if certs.is_empty() {
        return Err(format!("sslcert `{cert}` holds no PEM certificate"));
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata =
            std::fs::metadata(key).map_err(|error| format!("sslkey `{key}`: {error}"))?;
        if metadata.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "sslkey `{key}` can be read by other users; make it private (chmod 600), as libpq \
                 requires"
            ));
        }
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|error| format!("sslkey `{key}` is not a PEM private key: {error}"))?;
    Ok(Some((certs, private)))
}

fn connector(
    verify: Verify,
    client: Option<&(
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    )>,
) -> Result<MakeRustlsConnect, String> {
    let verifier = tls::verifier(verify)?;
    let builder = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS: {error}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs.clone(), key.clone_key())
            .map_err(|error| format!("sslcert/sslkey cannot be used: {error}"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The attempts for `url`; `Err` is a message for the user (no secret in it).
pub fn prepare(url: &str) -> Result<Prepared, String> {
    let (base, mut settings) = split(url);
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    settings.mode = settings.mode.or_else(|| env("PGSSLMODE"));
    settings.root_cert = settings.root_cert.or_else(|| env("PGSSLROOTCERT"));
    settings.cert = settings.cert.or_else(|| env("PGSSLCERT"));
    settings.key = settings.key.or_else(|| env("PGSSLKEY"));
    let mode = match settings.mode.as_deref() {
        None => Mode::Prefer,
        Some(text) => Mode::parse(text).ok_or_else(|| {
            format!(
                "sslmode `{text}` is not one of disable, allow, prefer, require, verify-ca, \
                 verify-full"
            )
        })?,
    };
    let client = client_auth(settings.cert.as_deref(), settings.key.as_deref())?;
    let unverified = || connector(Verify::Nothing, client.as_ref());
    let mut roots_shown = "no CA (the certificate is not checked)".to_string();
    let encrypted = |tls: MakeRustlsConnect, mode: &str| Attempt {
        url: with_mode(&base, mode),
        tls,
        encrypted: true,
    };
    let plain = || -> Result<Attempt, String> {
        Ok(Attempt { url: with_mode(&base, "disable"), tls: unverified()?, encrypted: false })
    };
    let attempts = match mode {
        Mode::Disable => vec![plain()?],
        Mode::Allow => vec![plain()?, encrypted(unverified()?, "require")],
        Mode::Prefer => vec![encrypted(unverified()?, "prefer"), plain()?],
        Mode::Require if settings.root_cert.is_none() => vec![encrypted(unverified()?, "require")],
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => {
            let (roots, shown) = roots(settings.root_cert.as_deref(), mode)?;
            roots_shown = shown;
            let verify =
                if mode == Mode::VerifyFull { Verify::Full(roots) } else { Verify::Chain(roots) };
            vec![encrypted(connector(verify, client.as_ref())?, "require")]
        }
    };
    Ok(Prepared { attempts, mode, host: host_of(&base), roots: roots_shown })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_parameters_leave_the_url() {
        let (url, settings) = split(
            "postgres://u:p@db.example.com:5432/app?sslmode=verify-full&connect_timeout=3&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(url, "postgres://u:p@db.example.com:5432/app?connect_timeout=3");
        assert_eq!(settings.mode.as_deref(), Some("verify-full"));
        assert_eq!(settings.root_cert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(host_of(&url), "db.example.com");
        assert_eq!(host_of("postgres://u@[::1]:5432/app"), "::1");
        assert_eq!(host_of("postgres:///app?host=/run/postgresql"), "/run/postgresql");
        assert_eq!(with_mode("postgres://h/db", "require"), "postgres://h/db?sslmode=require");
    }

    #[test]
    fn an_unknown_mode_and_a_lone_key_are_refused() {
        let error = prepare("postgres://h/db?sslmode=verify_full").err().unwrap();
        assert!(error.contains("`verify_full` is not one of"), "{error}");
        let error = prepare("postgres://h/db?sslmode=require&sslkey=/k.pem").err().unwrap();
        assert!(error.contains("without `sslcert`"), "{error}");
        let error = prepare("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem")
            .err()
            .unwrap();
        assert!(error.contains("cannot read `/nonexistent/ca.pem`"), "{error}");
    }

    #[test]
    fn prefer_falls_back_to_plain_and_allow_the_other_way() {
        let prefer = prepare("postgres://h/db").ok().unwrap();
        assert_eq!(prefer.mode, Mode::Prefer);
        let order: Vec<bool> = prefer.attempts.iter().map(|a| a.encrypted).collect();
        assert_eq!(order, [true, false]);
        let allow = prepare("postgres://h/db?sslmode=allow").ok().unwrap();
        let order: Vec<bool> = allow.attempts.iter().map(|a| a.encrypted).collect();
        assert_eq!(order, [false, true]);
        assert_eq!(allow.attempts[0].url, "postgres://h/db?sslmode=disable");
    }
}
