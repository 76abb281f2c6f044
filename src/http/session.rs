//! Browser sessions: a signed login exchanged for a short-lived cookie.
//!
//! A page is a navigation, and a navigation cannot carry a signed `Authorization` header, so
//! the web application logs in once: its script signs `POST /app/session` with the device's
//! key exactly as any signed request (`auth.rs`), and the answer sets
//! `wl_session=<32 random bytes, base64url>; HttpOnly; SameSite=Strict; Path=/` (and `Secure`
//! when the server speaks TLS). The cookie then names that key for **reads** only (`GET` and
//! `HEAD`): every write is a signed event, so a stolen or forged session can read what the key
//! could read, never sign anything; SameSite=Strict keeps other sites' pages from sending it.
//!
//! Sessions live in memory (a restart logs everyone out; the page's script logs in again
//! without asking, since the key is on the device), at most [`MAX_SESSIONS`], each for
//! [`SESSION_SECS`]. Only the SHA-256 of a cookie is kept, and the key's party is looked up on
//! every request, so a revoked or expired key stops reading at once.

use crate::ledger::event::PublicKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// The cookie's name.
pub const COOKIE: &str = "wl_session";
/// How long a session lasts (a driver's or a clerk's shift and some).
pub const SESSION_SECS: u64 = 12 * 3600;
/// Most sessions one key holds (a phone and a few browsers); a new one replaces its oldest.
pub const MAX_SESSIONS_PER_KEY: usize = 8;
/// Most sessions held at once; beyond it a login is refused until some expire.
pub const MAX_SESSIONS: usize = 50_000;

struct Session {
    key: PublicKey,
    expires_ms: u64,
}

/// The session cookie's value in a request's `Cookie` headers, if there is one.
pub fn cookie(req: &actix_web::HttpRequest) -> Option<&str> {
    cookie_named(req, COOKIE)
}

/// The value of the request's cookie `name`, if it sent one.
pub fn cookie_named<'a>(req: &'a actix_web::HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The live sessions, by the SHA-256 of their cookie.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions::default()
    }

    /// A new session for `key` at `now_ms`: the cookie's value, or None when full.
    pub fn open(&self, key: PublicKey, now_ms: u64) -> Option<String> {
        let mut token = [0u8; 32];
        getrandom::fill(&mut token).expect("the operating system's random source");
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // One key holds at most a few sessions (its own browsers): a new one replaces its
        // oldest, so no key can fill the table and lock the others out.
        let mine: Vec<([u8; 32], u64)> = map
            .iter()
            .filter(|(_, s)| s.key == key)
            .map(|(id, s)| (*id, s.expires_ms))
            .collect();
        if mine.len() >= MAX_SESSIONS_PER_KEY {
            if let Some((oldest, _)) = mine.iter().min_by_key(|(_, e)| *e) {
                map.remove(oldest);
            }
        }
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires_ms > now_ms);
            if map.len() >= MAX_SESSIONS {
                return None;
            }
        }
        map.insert(
            Sha256::digest(token).into(),
            Session {
                key,
                expires_ms: now_ms + SESSION_SECS * 1000,
            },
        );
        Some(B64URL.encode(token))
    }

    /// The key a cookie's value names, if its session is live at `now_ms`.
    pub fn key(&self, cookie: &str, now_ms: u64) -> Option<PublicKey> {
        let token = B64URL.decode(cookie).ok()?;
        let id: [u8; 32] = Sha256::digest(&token).into();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&id) {
            Some(s) if s.expires_ms > now_ms => Some(s.key),
            Some(_) => {
                map.remove(&id);
                None
            }
            None => None,
        }
    }

    /// End the session a cookie names.
    pub fn close(&self, cookie: &str) {
        if let Ok(token) = B64URL.decode(cookie) {
            let id: [u8; 32] = Sha256::digest(&token).into();
            self.map
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
    }

    /// The `Set-Cookie` value for a new session (`secure`: the request came over TLS).
    pub fn set_cookie(&self, value: &str, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECS}{secure}"
        )
    }

    /// The `Set-Cookie` value that ends a session in the browser.
    pub fn clear_cookie(&self, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn key(b: u8) -> PublicKey {
        PublicKey(SigningKey::from_bytes(&[b; 32]).verifying_key())
    }

    #[test]
    fn a_session_names_its_key_until_it_expires_or_is_closed() {
        let s = Sessions::new();
        let c = s.open(key(1), 1_000).unwrap();
        assert_eq!(s.key(&c, 2_000), Some(key(1)));
        assert_eq!(s.key("not-a-session", 2_000), None);
        assert_eq!(s.key(&c, 1_000 + SESSION_SECS * 1000), None, "expired");
        let c2 = s.open(key(2), 1_000).unwrap();
        s.close(&c2);
        assert_eq!(s.key(&c2, 2_000), None, "closed");
    }

    #[test]
    fn one_key_keeps_only_its_newest_sessions() {
        let s = Sessions::new();
        let first = s.open(key(3), 1_000).unwrap();
        let later: Vec<String> = (0..MAX_SESSIONS_PER_KEY as u64)
            .map(|i| s.open(key(3), 2_000 + i).unwrap())
            .collect();
        assert_eq!(s.key(&first, 3_000), None, "the oldest made room");
        assert!(later.iter().all(|c| s.key(c, 3_000) == Some(key(3))));
        let other = s.open(key(4), 3_000).unwrap();
        assert_eq!(
            s.key(&other, 3_000),
            Some(key(4)),
            "another key is not affected"
        );
    }

    #[test]
    fn the_cookie_is_http_only_same_site_strict_and_secure_under_tls() {
        let plain = Sessions::new().set_cookie("abc", false);
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        assert!(Sessions::new()
            .set_cookie("abc", true)
            .ends_with("; Secure"));
    }
}
