//! PURE: the web application's static files (`src/web/static/`), embedded in the binary and
//! served at `/app/static/<path>`: no CDN, no build step, nothing fetched at run time. The
//! vendored files keep their licences beside them (`static/vendor/README.md`).

use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One embedded file.
pub struct Asset {
    pub path: &'static str,
    pub mime: &'static str,
    pub bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! assets {
    ($($path:literal => $mime:expr),* $(,)?) => {
        &[$(Asset { path: $path, mime: $mime, bytes: include_bytes!(concat!("static/", $path)) }),*]
    };
}

/// Every file the application serves, by its path under `/app/static/`.
pub static ASSETS: &[Asset] = assets! {
    "app.css" => CSS,
    "wl-app.js" => JS,
    "page-enrol.js" => JS,
    "page-approve.js" => JS,
    "page-handover.js" => JS,
    "page-scan.js" => JS,
    "page-outbox.js" => JS,
    "wl-format.js" => JS,
    "page-issue.js" => JS,
    "page-receive.js" => JS,
    "page-anomalies.js" => JS,
    "page-console.js" => JS,
    "page-search.js" => JS,
    "page-graph.js" => JS,
    "page-list.js" => JS,
    "wl-case.js" => JS,
    "sw.js" => JS,
    "wl-util.js" => JS,
    "wl-canon.js" => JS,
    "wl-db.js" => JS,
    "wl-ed25519.js" => JS,
    "wl-keys.js" => JS,
    "wl-sign.js" => JS,
    "wl-codes.js" => JS,
    "wl-outbox.js" => JS,
    "wl-scan.js" => JS,
    "wl-tlog.js" => JS,
    "page-timeline.js" => JS,
    "page-audit.js" => JS,
    "wl-bundle.js" => JS,
    "page-check.js" => JS,
    "page-cases.js" => JS,
    "vendor/noble-ed25519.js" => JS,
    "vendor/jsQR.js" => JS,
    "vendor/noble-ed25519.LICENSE" => TEXT,
    "vendor/jsQR.LICENSE" => TEXT,
    "vendor/README.md" => TEXT,
    "vendor/leaflet.js" => JS,
    "vendor/leaflet.css" => CSS,
    "vendor/leaflet.LICENSE" => TEXT,
    "page-map.js" => JS,
    "wl-witnesses.js" => JS,
};

/// The file at `path`, if there is one.
pub fn get(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// A short digest of every file: the pages link `?v=` it, and the offline worker names its
/// cache after it, so a new binary's files replace the old ones everywhere.
pub fn version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut h = Sha256::new();
        for a in ASSETS {
            h.update(a.path.as_bytes());
            h.update([0]);
            h.update((a.bytes.len() as u64).to_be_bytes());
            h.update(a.bytes);
        }
        hex::encode(&h.finalize()[..6])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_found_by_its_path_and_the_version_is_stable() {
        for a in ASSETS {
            assert!(std::ptr::eq(get(a.path).unwrap(), a));
            assert!(!a.bytes.is_empty(), "{} is empty", a.path);
        }
        assert!(get("../Cargo.toml").is_none());
        assert_eq!(version(), version());
        assert_eq!(version().len(), 12);
    }
}
