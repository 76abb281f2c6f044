//! HTTPS: a certificate chain and its private key, read from PEM files into a rustls server
//! configuration (ring provider). `serve --tls-cert --tls-key`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded certificate and key: what [`super::server_with_options`] serves HTTPS with.
#[derive(Clone)]
pub struct Tls {
    pub(super) config: Arc<rustls::ServerConfig>,
    cert: PathBuf,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("cert", &self.cert).finish()
    }
}

/// Why the certificate or key could not be used: names the flag, the file and what was expected.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

const KEY_KINDS: &str = "a PEM private key (PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)";

impl Tls {
    /// Read the certificate chain (the server's certificate first) and its private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let read = |flag: &str, path: &Path| {
            std::fs::read(path)
                .map_err(|e| TlsError(format!("--{flag} {}: cannot read it: {e}", path.display())))
        };
        let cert_pem = read("tls-cert", cert)?;
        let key_pem = read("tls-key", key)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                TlsError(format!(
                    "--tls-cert {}: expected PEM certificates: {e}",
                    cert.display()
                ))
            })?;
        if chain.is_empty() {
            return Err(TlsError(format!(
                "--tls-cert {}: no CERTIFICATE block (expected the server's PEM certificate, then its chain){}",
                cert.display(),
                swapped(&cert_pem, "PRIVATE KEY"),
            )));
        }
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            use rustls::pki_types::pem::Error;
            TlsError(match e {
                Error::NoItemsFound => format!(
                    "--tls-key {}: no PRIVATE KEY block (expected {KEY_KINDS}){}",
                    key.display(),
                    swapped(&key_pem, "CERTIFICATE"),
                ),
                e => format!("--tls-key {}: expected {KEY_KINDS}: {e}", key.display()),
            })
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| {
                TlsError(match e {
                    rustls::Error::InconsistentKeys(_) => format!(
                        "--tls-key {}: it is not the private key of the certificate in {}",
                        key.display(),
                        cert.display()
                    ),
                    e => format!(
                        "--tls-key {} with --tls-cert {}: {e}",
                        key.display(),
                        cert.display()
                    ),
                })
            })?;
        Ok(Tls {
            config: Arc::new(config),
            cert: cert.to_path_buf(),
        })
    }
}

/// A hint when a file holds the other flag's block (the two files given the wrong way round).
fn swapped(pem: &[u8], other: &str) -> String {
    let text = String::from_utf8_lossy(pem);
    if text.contains(&format!("-----BEGIN {other}")) || text.contains(&format!(" {other}-----")) {
        format!("; it holds a {other} block: are --tls-cert and --tls-key swapped?")
    } else {
        String::new()
    }
}

/// Whether the request came over HTTPS (set by the server per listener, not read from any
/// header): cookies then carry `Secure`.
pub fn secure(req: &actix_web::HttpRequest) -> bool {
    req.app_config().secure()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn missing_blocks_name_the_flag_the_file_and_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        let key = file(
            dir.path(),
            "k.pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        let empty = file(dir.path(), "empty.pem", "not pem\n");
        let e = Tls::from_pem_files(&empty, &key).unwrap_err().0;
        assert!(e.starts_with("--tls-cert "), "{e}");
        assert!(
            e.contains("empty.pem") && e.contains("no CERTIFICATE block"),
            "{e}"
        );
        // The key file where the certificate belongs: the swap is named.
        let e = Tls::from_pem_files(&key, &key).unwrap_err().0;
        assert!(e.contains("swapped"), "{e}");
        let cert = file(
            dir.path(),
            "c.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let e = Tls::from_pem_files(&cert, &empty).unwrap_err().0;
        assert!(e.starts_with("--tls-key "), "{e}");
        assert!(
            e.contains("empty.pem") && e.contains("no PRIVATE KEY block"),
            "{e}"
        );
        let missing = dir.path().join("absent.pem");
        let e = Tls::from_pem_files(&cert, &missing).unwrap_err().0;
        assert!(e.contains("absent.pem") && e.contains("cannot read"), "{e}");
    }
}
