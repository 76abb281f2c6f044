//! Who is reading: requests signed with the party's own Ed25519 key.
//!
//! ```text
//! Authorization: WL-Ed25519 key=<base64 public key>,time=<RFC 3339 UTC>,nonce=<base64>,sig=<base64 signature>
//! signature over: "wasteledger/v1/request\n" + METHOD + "\n" + path-and-query + "\n" + time
//!                 + "\n" + nonce + "\n" + hex(SHA-256(body))   (the body is empty for a GET)
//! ```
//! The time must be within [`WINDOW_SECS`] of the server's clock, and a signature is accepted
//! once: the server remembers those it saw inside the window, so a captured request cannot be
//! replayed. The nonce (16 to 64 random bytes, base64) keeps two identical requests made in the
//! same millisecond apart (Ed25519 signatures are deterministic). No header means an anonymous
//! reader.

use super::Problem;
use crate::ledger::event::PublicKey;
use crate::ledger::time::Timestamp;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

pub const WINDOW_SECS: u64 = 300;
pub const SCHEME: &str = "WL-Ed25519";

/// The message a reader signs.
pub fn message(
    method: &str,
    path_and_query: &str,
    time: &str,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    use sha2::Digest;
    let body_hash = hex::encode(sha2::Sha256::digest(body));
    format!("wasteledger/v1/request\n{method}\n{path_and_query}\n{time}\n{nonce}\n{body_hash}")
        .into_bytes()
}

/// The `Authorization` header value for a request (clients use this).
pub fn header(
    key: &SigningKey,
    method: &str,
    path_and_query: &str,
    time: Timestamp,
    body: &[u8],
) -> String {
    let t = time.to_string();
    let mut n = [0u8; 16];
    getrandom::fill(&mut n).expect("the operating system's random source");
    let nonce = B64.encode(n);
    let sig = key.sign(&message(method, path_and_query, &t, &nonce, body));
    format!(
        "{SCHEME} key={},time={t},nonce={nonce},sig={}",
        B64.encode(key.verifying_key().as_bytes()),
        B64.encode(sig.to_bytes())
    )
}

/// Most signed requests remembered at once (about 100 bytes each): beyond it the server
/// answers 503 rather than forget one inside its window.
pub const MAX_SEEN: usize = 1_000_000;

/// Signatures seen inside the window, and the order they stop mattering in (oldest first).
/// The memory does not survive a restart: a request captured in the window before a restart
/// could be replayed once after it. Signed requests are reads, and the personal-data writes
/// are idempotent (a lodge is refused twice, an erasure once done stays done), so the server
/// does not refuse requests dated before its start: clients' clocks may lag by the window.
#[derive(Default)]
pub struct SeenRequests {
    seen: Mutex<Seen>,
}

#[derive(Default)]
pub struct Seen {
    sigs: HashSet<[u8; 64]>,
    expiry: VecDeque<(u64, [u8; 64])>,
}

impl SeenRequests {
    /// Check a request's `Authorization` header; the key that signed it, or None if anonymous.
    pub fn check(
        &self,
        header: Option<&str>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Option<PublicKey>, Problem> {
        let Some(h) = header else { return Ok(None) };
        let bad = |d: String| {
            Problem::new(401, "unauthenticated", "Request signature refused", d)
                .field("Authorization")
        };
        let rest = h
            .strip_prefix(SCHEME)
            .map(str::trim)
            .ok_or_else(|| bad(format!("expected the scheme {SCHEME}")))?;
        let mut parts: HashMap<&str, &str> = HashMap::new();
        for kv in rest.split(',') {
            let (k, v) = kv
                .trim()
                .split_once('=')
                .ok_or_else(|| bad(format!("expected key=,time=,nonce=,sig=, got {kv:?}")))?;
            parts.insert(k, v);
        }
        let get = |k: &str| {
            parts
                .get(k)
                .copied()
                .ok_or_else(|| bad(format!("`{k}=` is missing")))
        };
        let key = PublicKey::parse("key", get("key")?).map_err(|e| bad(e.to_string()))?;
        let time_s = get("time")?;
        let time = Timestamp::parse(time_s).map_err(|e| bad(format!("time: {e}")))?;
        let skew = now.unix_millis().abs_diff(time.unix_millis()) / 1000;
        if skew > WINDOW_SECS {
            return Err(bad(format!(
                "time {time_s} is {skew} s from the server's clock ({now}); at most {WINDOW_SECS} s"
            )));
        }
        let nonce = get("nonce")?;
        match B64.decode(nonce) {
            Ok(n) if (16..=64).contains(&n.len()) => {}
            _ => return Err(bad("nonce: expected base64 of 16 to 64 random bytes".into())),
        }
        let sig: [u8; 64] = B64
            .decode(get("sig")?)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("sig: expected base64 of 64 bytes".into()))?;
        key.0
            .verify_strict(
                &message(method, path_and_query, time_s, nonce, body),
                &Signature::from_bytes(&sig),
            )
            .map_err(|_| {
                bad(format!(
                    "the signature does not verify for {method} {path_and_query} at {time_s}"
                ))
            })?;
        let mut seen = self.seen.lock().expect("seen lock");
        let now_s = now.unix_millis() / 1000;
        while let Some(&(until, old)) = seen.expiry.front() {
            if until >= now_s {
                break;
            }
            seen.expiry.pop_front();
            seen.sigs.remove(&old);
        }
        if seen.sigs.len() >= MAX_SEEN && !seen.sigs.contains(&sig) {
            return Err(Problem::new(
                503,
                "busy",
                "Too many signed requests",
                format!(
                    "more than {MAX_SEEN} signed requests in the last {} s; try again shortly",
                    2 * WINDOW_SECS
                ),
            ));
        }
        if !seen.sigs.insert(sig) {
            return Err(bad("this signed request was used already (a replay)".into()));
        }
        // Kept past the window on both sides of its time, whatever the clock did meanwhile.
        seen.expiry.push_back((now_s + 2 * WINDOW_SECS, sig));
        Ok(Some(key))
    }
}
