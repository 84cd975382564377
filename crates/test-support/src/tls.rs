//! Certificates for the TLS tests, generated once per process with rcgen into a temporary folder:
//! a CA, a server certificate it signed for `localhost` and `127.0.0.1`, one it signed for another
//! name only (the wrong-hostname case), a client certificate for mutual TLS, and a second CA that
//! signed none of them (the wrong-CA case). Keys are PKCS#8 PEM files readable only by their owner
//! (PostgreSQL refuses a key others can read).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The name `Certs::misnamed_cert` is issued for (and nothing else).
pub const OTHER_NAME: &str = "elsewhere.invalid";

/// PEM files of one test process's certificates (see the module's text).
#[derive(Debug)]
pub struct Certs {
    /// The folder that holds them.
    pub dir: PathBuf,
    /// The CA that signed the server and client certificates.
    pub ca: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
    /// The server's certificate for `localhost` and `127.0.0.1`.
    pub server_cert: PathBuf,
    /// Its key.
    pub server_key: PathBuf,
    /// A server certificate for `OTHER_NAME` only, signed by `ca`.
    pub misnamed_cert: PathBuf,
    /// Its key.
    pub misnamed_key: PathBuf,
    /// A client certificate (common name `promptctl`) signed by `ca`.
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
}

/// This process's certificates, generated on first use.
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| generate().expect("generate the test certificates"))
}

fn ca(name: &str) -> Result<(String, Issuer<'static, KeyPair>), rcgen::Error> {
    let mut params = CertificateParams::new(Vec::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    let key = KeyPair::generate()?;
    let certificate = params.self_signed(&key)?;
    Ok((certificate.pem(), Issuer::new(params, key)))
}

fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String), rcgen::Error> {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate()?;
    let certificate = params.signed_by(&key, issuer)?;
    Ok((certificate.pem(), key.serialize_pem()))
}

fn write(dir: &Path, name: &str, text: &str, private: bool) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    fs::write(&path, text)?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(path)
}

fn generate() -> Result<Certs, Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("promptctl-tls-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let (ca_pem, issuer) = ca("promptctl test CA")?;
    let (other_pem, _) = ca("promptctl unrelated CA")?;
    let (server, server_key) = leaf(
        &issuer,
        "localhost",
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (misnamed, misnamed_key) =
        leaf(&issuer, OTHER_NAME, &[OTHER_NAME], ExtendedKeyUsagePurpose::ServerAuth)?;
    let (client, client_key) =
        leaf(&issuer, "promptctl", &["promptctl"], ExtendedKeyUsagePurpose::ClientAuth)?;
    Ok(Certs {
        ca: write(&dir, "ca.pem", &ca_pem, false)?,
        other_ca: write(&dir, "other-ca.pem", &other_pem, false)?,
        server_cert: write(&dir, "server.pem", &server, false)?,
        server_key: write(&dir, "server.key", &server_key, true)?,
        misnamed_cert: write(&dir, "misnamed.pem", &misnamed, false)?,
        misnamed_key: write(&dir, "misnamed.key", &misnamed_key, true)?,
        client_cert: write(&dir, "client.pem", &client, false)?,
        client_key: write(&dir, "client.key", &client_key, true)?,
        dir,
    })
}
