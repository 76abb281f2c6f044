//! Who is reading: requests signed with the party's own Ed25519 key.
//!
//! ```text
//! Authorization: WL-Ed25519 key=<base64 public key>,time=<RFC 3339 UTC>,nonce=<base64>,sig=<base64 signature>
//! signature over: "wasteledger/v1/request\n" + METHOD + "\n" + path-and-query + "\n" + time
//!                 + "\n" + nonce + "\n" + hex(SHA-256(body))   (the body is empty for a GET)
//! ```
//! The time must be within [`WINDOW_SECS`] of the server's clock, and a signature is accepted
//! once: the server remembers those it saw inside the window, so a captured request cannot be
//! replayed, not even across a restart (see [`SeenRequests`]). The nonce (16 to 64 random bytes, base64) keeps two identical requests made in the
//! same millisecond apart (Ed25519 signatures are deterministic). No header means an anonymous
//! reader.

use super::Problem;
use crate::ledger::event::PublicKey;
use crate::ledger::time::Timestamp;
use crate::store::{Ledger, Remembered};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey};
use std::collections::HashMap;

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

pub use crate::store::MAX_SEEN;

/// Signatures seen inside the window, remembered by the store beside the log
/// (`Ledger::remember_request`): a hash of each is written and fsync'd with its expiry before
/// the request is answered, and reloaded at start, so a request captured before a restart is
/// refused after it. The fsync per new signed request is the price (concurrent requests share
/// flushes); it was measured against a memory-only check (README, Reliability).
///
/// Refusing requests dated before the server's last start would be cheaper but not as safe:
/// a client may date a request up to [`WINDOW_SECS`] ahead of the server's clock, so a request
/// captured before a restart can be dated after it; and clients whose clocks lag would be
/// refused for up to the window after every restart.
pub struct SeenRequests {
    ledger: Ledger,
}

impl SeenRequests {
    pub fn new(ledger: Ledger) -> Self {
        SeenRequests { ledger }
    }

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
        use sha2::Digest;
        let hash: [u8; 32] = sha2::Sha256::digest(sig).into();
        let now_s = now.unix_millis() / 1000;
        // Kept past the window on both sides of its time, whatever the clock did meanwhile.
        match self
            .ledger
            .remember_request(&hash, now_s + 2 * WINDOW_SECS, now_s)?
        {
            Remembered::First => Ok(Some(key)),
            Remembered::Replay => {
                Err(bad("this signed request was used already (a replay)".into()))
            }
            Remembered::Full => Err(Problem::unavailable(
                "busy",
                "Too many signed requests",
                format!(
                    "more than {MAX_SEEN} signed requests in the last {} s; try again shortly",
                    2 * WINDOW_SECS
                ),
                5,
            )),
        }
    }
}
