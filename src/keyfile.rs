//! Key files: Ed25519 private keys as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). Written in the
//! RFC 8410 form (PKCS#8 v1, the private key alone), which OpenSSL 3 (`openssl pkey -in FILE
//! -pubout`) and Python's `cryptography` load; read in that form and in PKCS#8 v2 (with the
//! public key, checked against the private one), which earlier versions wrote. Written
//! readable by the owner only.

use anyhow::{anyhow, Context, Result};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use std::io::Write;
use std::path::Path;

/// A new key from the operating system's random source.
pub fn generate() -> SigningKey {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the operating system's random source failed");
    SigningKey::from_bytes(&seed)
}

pub fn read(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        anyhow!(
            "{}: not an Ed25519 private key in PKCS#8 PEM ({e})",
            path.display()
        )
    })
}

/// Write a key; refuses to overwrite an existing file.
pub fn write(path: &Path, key: &SigningKey) -> Result<()> {
    let pem = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
    .map_err(|e| anyhow!("encoding the key: {e}"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| {
        format!(
            "cannot create key file {} (it must not exist yet)",
            path.display()
        )
    })?;
    f.write_all(pem.as_bytes())?;
    f.sync_all()?;
    Ok(())
}
