//! Gives the binary a digest of its own source, so that the check result cache of a development
//! build never reuses results computed by a build whose rules differed.

use sha2::{Digest, Sha256};
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src");
    let mut files = Vec::new();
    collect(Path::new("src"), &mut files);
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(file).unwrap_or_default());
    }
    println!("cargo:rustc-env=PROMPTCTL_SOURCE_DIGEST={}", hex::encode(hasher.finalize()));
}

fn collect(folder: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "toml") {
            // `.toml`: the rules embedded with `include_str!` (src/check/security/builtin.toml).
            files.push(path);
        }
    }
}
