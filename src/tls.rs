//! TLS for every client promptctl opens: the GitHub API and webhooks (through reqwest), the
//! PostgreSQL store (`store::pg_tls`) and Redis. rustls with the `ring` provider, so the binary
//! links no system TLS library and builds statically. This file holds what the clients share: the
//! provider, root certificates from a PEM file or the system's store, and the two relaxed
//! verifiers libpq's `sslmode`s need (no verification; the CA chain without the host name).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// Makes `ring` the process's rustls provider, once; a provider already installed (by an
/// application embedding promptctl) is kept.
pub fn install_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The `ring` provider, for configurations that must not depend on the process's default.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How a server's certificate is checked.
#[derive(Debug)]
pub enum Verify {
    /// Not at all: the connection is encrypted, not authenticated (libpq's `require`, `prefer`).
    Nothing,
    /// Signed by one of these roots; the host name is not compared (libpq's `verify-ca`).
    Chain(RootCertStore),
    /// Signed by one of these roots and issued for the host name (`verify-full`, HTTPS).
    Full(RootCertStore),
}

/// A verifier for `verify`; `Err` when the roots hold no usable certificate.
pub fn verifier(verify: Verify) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let provider = provider();
    let webpki = |roots: RootCertStore| {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|error| format!("cannot use the CA certificates: {error}"))
    };
    Ok(match verify {
        Verify::Nothing => Arc::new(Unverified(provider.clone())),
        Verify::Chain(roots) => Arc::new(ChainOnly(webpki(roots)?)),
        Verify::Full(roots) => webpki(roots)?,
    })
}

/// The certificates of a PEM file (a CA bundle), as roots; `Err` names the file and the reason.
pub fn roots_from_file(path: &std::path::Path) -> Result<RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let text = std::fs::read(path).map_err(|error| format!("cannot read `{shown}`: {error}"))?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&text) {
        let certificate = certificate
            .map_err(|error| format!("`{shown}` is not a PEM certificate file: {error}"))?;
        roots
            .add(certificate)
            .map_err(|error| format!("`{shown}` holds a certificate rustls refuses: {error}"))?;
    }
    if roots.is_empty() {
        return Err(format!("`{shown}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"));
    }
    Ok(roots)
}

/// The system's CA certificates (`SSL_CERT_FILE`/`SSL_CERT_DIR`, else the distribution's bundle).
#[cfg(feature = "store-postgres")]
pub fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let reasons: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(format!(
            "the system has no CA certificates to trust{}; install the `ca-certificates` package \
             or give a CA file",
            if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join("; ")) }
        ));
    }
    Ok(roots)
}

/// A sentence on why a handshake was refused, from rustls's error; `host` is the name asked for.
pub fn explain(error: &Error, host: &str, roots: &str) -> String {
    match error {
        Error::InvalidCertificate(CertificateError::UnknownIssuer)
        | Error::InvalidCertificate(CertificateError::BadSignature) => format!(
            "the server `{host}` presented a certificate that is not issued by a CA in {roots}; \
             trust the CA that signed it"
        ),
        Error::InvalidCertificate(CertificateError::NotValidForName)
        | Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => format!(
            "the server `{host}` presented a certificate that is not issued for the name \
             `{host}` ({error}); connect by a name the certificate lists"
        ),
        Error::InvalidCertificate(CertificateError::Expired)
        | Error::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            format!("the server `{host}` presented a certificate that has expired ({error})")
        }
        other => format!("the TLS handshake with `{host}` failed: {other}"),
    }
}

/// Finds rustls's error in a chain of sources (tokio-rustls wraps it in an `io::Error`).
pub fn find_rustls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<Error>() {
            return Some(found);
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if let Some(found) = io.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
                return Some(found);
            }
        }
        current = error.source();
    }
    None
}

/// Accepts any certificate; still checks that the handshake is signed by its key.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// WebPKI's verification with the name check left out: a certificate that fails only because
/// it names another host is accepted.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
