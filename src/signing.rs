//! minisign keys and signatures. Key files are minisign's own format (the `minisign` crate reads,
//! writes and decrypts them); signatures are minisign's prehashed Ed25519 ("ED": Ed25519 over the
//! BLAKE2b-512 digest of the file, plus a global signature over the trusted comment), so the stock
//! `minisign -V` tool verifies them. Signing is deterministic (RFC 8032 Ed25519, no random nonce,
//! unlike the `minisign` crate's hedged signatures), so the same key and data give the same bytes.
//! The only file I/O here is writing a new key pair.

use crate::text::lowercase_first;
use ct_codecs::{Base64, Decoder, Encoder};
use ed25519_dalek::Signer;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable that holds a secret key file's password.
pub const PASSWORD_VARIABLE: &str = "PROMPTCTL_SIGNING_KEY_PASSWORD";

/// Why a key or a signature cannot be used. `source` names where a key came from (a path, or
/// the environment variable), for messages.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{path}` already exists; keygen never overwrites a key: choose another name, or delete the old key pair first")]
    Exists { path: PathBuf },
    #[error("cannot write `{path}`")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot generate a key pair: {message}")]
    Generate { message: String },
    #[error("{source_name} is not a minisign {what} key: {message}")]
    Malformed { source_name: String, what: &'static str, message: String },
    #[error("the secret key {source_name} is encrypted; set {PASSWORD_VARIABLE} to its password")]
    PasswordNeeded { source_name: String },
    #[error("wrong password for the secret key {source_name} (from {PASSWORD_VARIABLE})")]
    WrongPassword { source_name: String },
    #[error("the signature is not a minisign signature: {message}")]
    MalformedSignature { message: String },
    #[error("the signature does not verify with key {key_id}: {message}")]
    BadSignature { key_id: String, message: String },
}

/// A decrypted secret key.
#[derive(Clone)]
pub struct SecretKey {
    keynum: [u8; 8],
    signing: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.key_id())
    }
}

/// A public key, with the file it came from for messages.
#[derive(Debug, Clone)]
pub struct PublicKey {
    key: minisign::PublicKey,
    pub source_name: String,
}

/// minisign's display form of a key id: the 8 key-number bytes as a little-endian integer in
/// 16 uppercase hex digits, as in `minisign public key 9F1C…`.
pub fn key_id(keynum: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&keynum[..8]);
    format!("{:016X}", u64::from_le_bytes(bytes))
}

impl SecretKey {
    pub fn key_id(&self) -> String {
        key_id(&self.keynum)
    }

    /// The public half, in a minisign `.pub` file's text.
    pub fn public_key_text(&self) -> String {
        let mut bytes = Vec::with_capacity(42);
        bytes.extend_from_slice(b"Ed");
        bytes.extend_from_slice(&self.keynum);
        bytes.extend_from_slice(self.signing.verifying_key().as_bytes());
        format!("untrusted comment: minisign public key {}\n{}\n", self.key_id(), base64(&bytes))
    }
}

impl PublicKey {
    pub fn key_id(&self) -> String {
        key_id(self.key.keynum())
    }
}

fn base64(bytes: &[u8]) -> String {
    Base64::encode_to_string(bytes).unwrap_or_default()
}

/// A new key pair as the texts of its two files, the secret key encrypted with `password` (or not
/// at all, like `minisign -G -W`).
pub fn generate(password: Option<&str>) -> Result<(String, String, String), Error> {
    let generate_error = |error: minisign::PError| Error::Generate { message: error.to_string() };
    let pair = match password {
        Some(password) => minisign::KeyPair::generate_encrypted_keypair(Some(password.to_string())),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(generate_error)?;
    let id = key_id(pair.pk.keynum());
    let comment = format!("promptctl secret key {id}");
    let secret = pair.sk.to_box(Some(&comment)).map_err(generate_error)?.into_string();
    let public = format!("untrusted comment: minisign public key {id}\n{}\n", pair.pk.to_base64());
    Ok((public, secret, id))
}

/// Writes a new key pair; refuses if either file exists. The secret key file is created with
/// mode 0600 (owner read and write only). Returns the key id.
pub fn write_key_pair(
    public_path: &Path,
    secret_path: &Path,
    password: Option<&str>,
) -> Result<String, Error> {
    for path in [public_path, secret_path] {
        if path.exists() {
            return Err(Error::Exists { path: path.to_path_buf() });
        }
    }
    let (public, secret, id) = generate(password)?;
    write_new(secret_path, secret.as_bytes(), 0o600)?;
    write_new(public_path, public.as_bytes(), 0o644)?;
    Ok(id)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let write_error = |source| Error::Write { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists { path: path.to_path_buf() }
        } else {
            write_error(source)
        }
    })?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(write_error)
}

/// Reads a secret key file's text, decrypting it with `password` when it is encrypted.
pub fn read_secret_key(
    text: &str,
    password: Option<&str>,
    source_name: &str,
) -> Result<SecretKey, Error> {
    let malformed = |message: String| Error::Malformed {
        source_name: source_name.to_string(),
        what: "secret",
        message,
    };
    let encoded = text.lines().nth(1).map(str::trim).unwrap_or_default();
    let raw = Base64::decode_to_vec(encoded, None)
        .map_err(|_| malformed("its second line is not base64".into()))?;
    if raw.len() != 158 || &raw[..2] != b"Ed" {
        return Err(malformed(format!(
            "expected 158 bytes starting with `Ed`, found {} bytes",
            raw.len()
        )));
    }
    let encrypted = raw[2..4] != [0, 0];
    let key_box =
        minisign::SecretKeyBox::from_string(text).map_err(|error| malformed(error.to_string()))?;
    let key = if encrypted {
        let Some(password) = password else {
            return Err(Error::PasswordNeeded { source_name: source_name.to_string() });
        };
        key_box.into_secret_key(Some(password.to_string())).map_err(|error| {
            if matches!(error.kind(), minisign::ErrorKind::Verify) {
                Error::WrongPassword { source_name: source_name.to_string() }
            } else {
                malformed(error.to_string())
            }
        })?
    } else {
        key_box.into_unencrypted_secret_key().map_err(|error| malformed(error.to_string()))?
    };
    // sig_alg, kdf_alg, chk_alg (2 each), salt (32), opslimit and memlimit (8 each), then the key
    // number (8), the secret key (seed and public key, 32 each) and the checksum (32).
    let bytes = key.to_bytes();
    let mut keynum = [0u8; 8];
    keynum.copy_from_slice(&bytes[54..62]);
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&bytes[62..94]);
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    if signing.verifying_key().as_bytes()[..] != bytes[94..126] {
        return Err(malformed("its public half does not match its secret half".into()));
    }
    Ok(SecretKey { keynum, signing })
}

/// Reads a public key file's text (`untrusted comment: …` and a base64 line).
pub fn read_public_key(text: &str, source_name: &str) -> Result<PublicKey, Error> {
    let malformed = |message: String| Error::Malformed {
        source_name: source_name.to_string(),
        what: "public",
        message,
    };
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default();
    // A bare base64 key (as `minisign -P` takes it) or a `.pub` file.
    let encoded = if first.starts_with("untrusted comment:") {
        lines.next().unwrap_or_default()
    } else {
        first
    };
    let key =
        minisign::PublicKey::from_base64(encoded).map_err(|error| malformed(error.to_string()))?;
    Ok(PublicKey { key, source_name: source_name.to_string() })
}

/// A minisign signature file's text for `data`: deterministic for the same key and inputs.
/// `trusted_comment` must be one line.
pub fn sign(
    key: &SecretKey,
    data: &[u8],
    trusted_comment: &str,
    untrusted_comment: &str,
) -> String {
    sign_prehashed(key, &prehash(data), trusted_comment, untrusted_comment)
}

/// The digest minisign signs: BLAKE2b-512 of the data.
pub fn prehash(data: &[u8]) -> [u8; 64] {
    use blake2::Digest;
    blake2::Blake2b512::digest(data).into()
}

/// `prehash` of data that arrives in pieces: `update` with each piece in order, then `finish`.
#[derive(Clone, Default)]
pub struct Prehasher(blake2::Blake2b512);

impl Prehasher {
    pub fn update(&mut self, data: &[u8]) {
        blake2::Digest::update(&mut self.0, data);
    }

    pub fn finish(self) -> [u8; 64] {
        blake2::Digest::finalize(self.0).into()
    }
}

/// `sign`, given `prehash(data)`.
pub fn sign_prehashed(
    key: &SecretKey,
    prehash: &[u8; 64],
    trusted_comment: &str,
    untrusted_comment: &str,
) -> String {
    let signature = key.signing.sign(prehash).to_bytes();
    let mut signature_block = Vec::with_capacity(74);
    signature_block.extend_from_slice(b"ED");
    signature_block.extend_from_slice(&key.keynum);
    signature_block.extend_from_slice(&signature);
    let mut signed_comment = signature.to_vec();
    signed_comment.extend_from_slice(trusted_comment.as_bytes());
    let global = key.signing.sign(&signed_comment).to_bytes();
    format!(
        "untrusted comment: {untrusted_comment}\n{}\ntrusted comment: {trusted_comment}\n{}\n",
        base64(&signature_block),
        base64(&global)
    )
}

/// The key id a signature names, without verifying anything.
pub fn signature_key_id(signature: &str) -> Result<String, Error> {
    let signature_box = parse_signature(signature)?;
    Ok(key_id(signature_box.keynum()))
}

fn parse_signature(signature: &str) -> Result<minisign::SignatureBox, Error> {
    minisign::SignatureBox::from_string(signature)
        .map_err(|error| Error::MalformedSignature { message: error.to_string() })
}

/// Verifies `signature` over `data` with `key` (the `minisign` crate's verification, the
/// reference); returns the trusted comment.
pub fn verify(key: &PublicKey, data: &[u8], signature: &str) -> Result<String, Error> {
    let signature_box = parse_signature(signature)?;
    let bad = |message: String| Error::BadSignature { key_id: key.key_id(), message };
    if !signature_box.is_prehashed() {
        return Err(bad(
            "a legacy (not prehashed) signature; sign with promptctl or `minisign -S`".into(),
        ));
    }
    minisign::verify(&key.key, &signature_box, std::io::Cursor::new(data), true, false, false)
        .map_err(|error| bad(lowercase_first(&error.to_string())))?;
    signature_box.trusted_comment().map_err(|error| bad(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        let (_, secret, _) = generate(None).expect("generate");
        read_secret_key(&secret, None, "test key").expect("read")
    }

    #[test]
    fn signatures_are_deterministic_and_verify() {
        let key = key();
        let public = read_public_key(&key.public_key_text(), "test key").expect("public");
        let first = sign(&key, b"data", "seq=1", "promptctl");
        assert_eq!(first, sign(&key, b"data", "seq=1", "promptctl"));
        assert_eq!(verify(&public, b"data", &first).expect("verifies"), "seq=1");
        assert!(matches!(verify(&public, b"dato", &first), Err(Error::BadSignature { .. })));
        let edited = first.replace("seq=1", "seq=2");
        assert!(matches!(verify(&public, b"data", &edited), Err(Error::BadSignature { .. })));
        let other = read_public_key(&self::key().public_key_text(), "other").expect("public");
        assert!(matches!(verify(&other, b"data", &first), Err(Error::BadSignature { .. })));
        assert_eq!(signature_key_id(&first).expect("key id"), key.key_id());
    }

    #[test]
    fn garbage_keys_are_malformed() {
        assert!(matches!(read_public_key("nope", "x"), Err(Error::Malformed { .. })));
        assert!(matches!(read_secret_key("a\nb\n", None, "x"), Err(Error::Malformed { .. })));
    }
}

#[cfg(test)]
mod password_tests {
    use super::*;

    #[test]
    fn encrypted_keys_need_their_password() {
        let (public, secret, id) = generate(Some("correct horse")).expect("generate");
        assert!(matches!(read_secret_key(&secret, None, "k"), Err(Error::PasswordNeeded { .. })));
        assert!(matches!(
            read_secret_key(&secret, Some("wrong"), "k"),
            Err(Error::WrongPassword { .. })
        ));
        let key = read_secret_key(&secret, Some("correct horse"), "k").expect("decrypts");
        assert_eq!(key.key_id(), id);
        assert_eq!(key.public_key_text(), public);
    }
}
