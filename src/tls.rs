//! TLS for every client promptctl opens (the GitHub API, webhooks): rustls with the `ring`
//! provider, so the binary links no system TLS library and builds statically. Certificates come
//! from the system's store (rustls-platform-verifier, through reqwest).

/// Makes `ring` the process's rustls provider, once; a provider already installed (by an
/// application embedding promptctl) is kept.
pub fn install_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
