//! Signed events: the body exactly as the parties signed it, and their Ed25519 signatures.
//!
//! Wire form (what `POST /v1/events` takes), RFC 8785 canonical:
//! `{"event":{...,"type":"..."},"signatures":[{"key":"<base64 public key>","sig":"<base64>"}]}`.
//! Each signature is Ed25519 over `wasteledger/v1/event\n` followed by the canonical event bytes.

use super::canonical::{parse_canonical, to_canonical, CanonicalError};
use super::merkle::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

/// Domain separation: an event signature can never be taken for any other signature of ours.
pub const EVENT_SIGNATURE_CONTEXT: &[u8] = b"wasteledger/v1/event\n";

const EVENT_KEY: &[u8] = b"{\"event\":";
const SIGNATURES_KEY: &[u8] = b",\"signatures\":";

/// Largest event accepted, in bytes of canonical JSON (the HTTP body limit is set from it).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Most signatures on one event (the parties to one step are few).
pub const MAX_SIGNATURES: usize = 8;

/// An Ed25519 public key, written as base64 of its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub VerifyingKey);

impl PublicKey {
    pub fn parse(field: &str, s: &str) -> Result<Self, EventError> {
        let bad = |why: &str| EventError::Field {
            field: field.to_string(),
            expected: format!("base64 of a 32-byte Ed25519 public key ({why})"),
        };
        let bytes = B64.decode(s).map_err(|_| bad("not base64"))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| bad("wrong length"))?;
        decompress_cached(&arr)
            .map(PublicKey)
            .ok_or_else(|| bad("not a curve point"))
    }

    /// A key as people and URLs carry it: standard base64 or base64url, padded or not (what
    /// is signed always writes standard base64, padded: [`PublicKey::parse`]).
    pub fn parse_any_base64(field: &str, s: &str) -> Result<Self, EventError> {
        let mut std: String = s
            .trim()
            .trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                c => c,
            })
            .collect();
        while !std.len().is_multiple_of(4) {
            std.push('=');
        }
        Self::parse(field, &std)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// A key from its 32 bytes (None: not a curve point).
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        decompress_cached(bytes).map(PublicKey)
    }

    /// Weak (small-order) keys would let anyone forge; they are never registered.
    pub fn is_weak(&self) -> bool {
        self.0.is_weak()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&B64.encode(self.0.as_bytes()))
    }
}

/// As it is written in events: standard base64, padded.
impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        PublicKey::parse("key", &s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// Decompressing a public key costs about as much as half a signature check, and a log is
/// signed by few keys over and over: keep the recently seen ones per thread (bounded).
fn decompress_cached(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    const MAX_CACHED: usize = 4096;
    thread_local! {
        static KEYS: RefCell<HashMap<[u8; 32], VerifyingKey>> = RefCell::new(HashMap::new());
    }
    KEYS.with(|cache| {
        if let Some(k) = cache.borrow().get(bytes) {
            return Some(*k);
        }
        let key = VerifyingKey::from_bytes(bytes).ok()?;
        let mut cache = cache.borrow_mut();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(*bytes, key);
        Some(key)
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSignature {
    pub key: PublicKey,
    pub sig: Signature,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EventError {
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    #[error("field `{field}`: expected {expected}")]
    Field { field: String, expected: String },
    #[error("signatures[{index}]: the signature by key {key} does not verify over this event")]
    BadSignature { index: usize, key: String },
}

fn field(field: impl Into<String>, expected: impl Into<String>) -> EventError {
    EventError::Field {
        field: field.into(),
        expected: expected.into(),
    }
}

/// A parsed, canonical event with its signatures. Signatures are not checked by parsing;
/// [`SignedEvent::verify_signatures`] or [`verify_all`] does that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedEvent {
    event: Map<String, Value>,
    event_bytes: Vec<u8>,
    signatures: Vec<EventSignature>,
}

impl SignedEvent {
    /// Parse the wire form; it must be canonical, and every field must have its expected shape.
    pub fn parse(bytes: &[u8]) -> Result<Self, EventError> {
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(field(
                "(body)",
                format!("at most {MAX_EVENT_BYTES} bytes, got {}", bytes.len()),
            ));
        }
        let value = parse_canonical(bytes)?;
        let Value::Object(mut top) = value else {
            return Err(field(
                "(body)",
                "a JSON object with `event` and `signatures`",
            ));
        };
        if let Some(extra) = top.keys().find(|k| *k != "event" && *k != "signatures") {
            return Err(field(
                extra.clone(),
                "no such field; a signed event has only `event` and `signatures`",
            ));
        }
        let event = match top.remove("event") {
            Some(Value::Object(map)) => map,
            Some(_) => return Err(field("event", "a JSON object")),
            None => {
                return Err(field(
                    "event",
                    "the event body (a JSON object); it is missing",
                ))
            }
        };
        let sigs = match top.remove("signatures") {
            Some(Value::Array(a)) => a,
            Some(_) => return Err(field("signatures", "an array of {\"key\",\"sig\"}")),
            None => return Err(field("signatures", "at least one signature; it is missing")),
        };
        check_type(&event)?;
        let signatures = parse_signatures(&sigs)?;
        // Canonical bytes are `{"event":<event>,"signatures":[...]}`; the array holds only
        // base64 strings, so the last `,"signatures":` ends the event's own canonical bytes.
        let end = bytes
            .windows(SIGNATURES_KEY.len())
            .rposition(|w| w == SIGNATURES_KEY)
            .ok_or_else(|| field("signatures", "a top-level signatures field"))?;
        Self::from_canonical_parts(event, bytes[EVENT_KEY.len()..end].to_vec(), signatures)
    }

    pub(crate) fn from_parts(
        event: Map<String, Value>,
        signatures: Vec<EventSignature>,
    ) -> Result<Self, EventError> {
        let event_bytes = to_canonical(&event);
        Self::from_canonical_parts(event, event_bytes, signatures)
    }

    /// `event_bytes` must be the canonical form of `event` (the caller has checked it).
    pub(crate) fn from_canonical_parts(
        event: Map<String, Value>,
        event_bytes: Vec<u8>,
        signatures: Vec<EventSignature>,
    ) -> Result<Self, EventError> {
        check_type(&event)?;
        debug_assert_eq!(event_bytes, to_canonical(&event));
        Ok(SignedEvent {
            event,
            event_bytes,
            signatures,
        })
    }

    /// Sign an event body with one or more keys (the parties to that step).
    pub fn sign(event: Value, keys: &[&SigningKey]) -> Result<Self, EventError> {
        let Value::Object(map) = event else {
            return Err(field("event", "a JSON object"));
        };
        super::canonical::check_integers(&Value::Object(map.clone()), &mut "event".to_string())?;
        let mut ev = Self::from_parts(map, Vec::new())?;
        for k in keys {
            ev.add_signature(k);
        }
        Ok(ev)
    }

    /// Countersign: the second party adds its signature to what the first signed.
    pub fn add_signature(&mut self, key: &SigningKey) {
        let pk = PublicKey(key.verifying_key());
        self.signatures.retain(|s| s.key != pk);
        let sig = key.sign(&self.signing_message());
        self.signatures.push(EventSignature { key: pk, sig });
    }

    pub fn event(&self) -> &Map<String, Value> {
        &self.event
    }

    pub fn event_type(&self) -> &str {
        self.event["type"].as_str().expect("checked at parse")
    }

    /// The canonical bytes of the event body: what each party signed (after the context).
    pub fn event_bytes(&self) -> &[u8] {
        &self.event_bytes
    }

    pub fn signatures(&self) -> &[EventSignature] {
        &self.signatures
    }

    pub fn signers(&self) -> impl Iterator<Item = &PublicKey> {
        self.signatures.iter().map(|s| &s.key)
    }

    /// SHA-256 of the canonical event body: the same event submitted twice is a replay.
    pub fn event_hash(&self) -> Hash {
        Sha256::digest(&self.event_bytes).into()
    }

    pub fn signing_message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(EVENT_SIGNATURE_CONTEXT.len() + self.event_bytes.len());
        m.extend_from_slice(EVENT_SIGNATURE_CONTEXT);
        m.extend_from_slice(&self.event_bytes);
        m
    }

    /// `verify_strict` for every signature; names the first that fails.
    pub fn verify_signatures(&self) -> Result<(), EventError> {
        if self.signatures.is_empty() {
            return Err(field("signatures", "at least one signature"));
        }
        let msg = self.signing_message();
        for (index, s) in self.signatures.iter().enumerate() {
            s.key
                .0
                .verify_strict(&msg, &s.sig)
                .map_err(|_| EventError::BadSignature {
                    index,
                    key: s.key.to_string(),
                })?;
        }
        Ok(())
    }

    pub fn signatures_json(&self) -> Value {
        Value::Array(
            self.signatures
                .iter()
                .map(|s| json!({"key": s.key.to_string(), "sig": B64.encode(s.sig.to_bytes())}))
                .collect(),
        )
    }

    /// The wire form, canonical.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_canonical(&json!({"event": self.event, "signatures": self.signatures_json()}))
    }
}

fn check_type(event: &Map<String, Value>) -> Result<(), EventError> {
    match event.get("type") {
        Some(Value::String(t)) if !t.is_empty() => Ok(()),
        _ => Err(field(
            "event.type",
            "a non-empty string naming the kind of event",
        )),
    }
}

pub(crate) fn parse_signatures(sigs: &[Value]) -> Result<Vec<EventSignature>, EventError> {
    if sigs.is_empty() {
        return Err(field("signatures", "at least one signature"));
    }
    if sigs.len() > MAX_SIGNATURES {
        return Err(field(
            "signatures",
            format!("at most {MAX_SIGNATURES} signatures, got {}", sigs.len()),
        ));
    }
    let mut out: Vec<EventSignature> = Vec::with_capacity(sigs.len());
    for (i, s) in sigs.iter().enumerate() {
        let obj = s.as_object().filter(|o| o.len() == 2).ok_or_else(|| {
            field(
                format!("signatures[{i}]"),
                "an object with exactly `key` and `sig`",
            )
        })?;
        let key_s = obj.get("key").and_then(Value::as_str).ok_or_else(|| {
            field(
                format!("signatures[{i}].key"),
                "base64 of a 32-byte Ed25519 public key",
            )
        })?;
        let key = PublicKey::parse(&format!("signatures[{i}].key"), key_s)?;
        let sig_s = obj.get("sig").and_then(Value::as_str).ok_or_else(|| {
            field(
                format!("signatures[{i}].sig"),
                "base64 of a 64-byte Ed25519 signature",
            )
        })?;
        let sig_b: [u8; 64] = B64
            .decode(sig_s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                field(
                    format!("signatures[{i}].sig"),
                    "base64 of a 64-byte Ed25519 signature",
                )
            })?;
        if out.iter().any(|o| o.key == key) {
            return Err(field(
                format!("signatures[{i}].key"),
                "each key signs once; this key already signed",
            ));
        }
        out.push(EventSignature {
            key,
            sig: Signature::from_bytes(&sig_b),
        });
    }
    Ok(out)
}

/// An event whose every signature has been checked. Only the sequencer takes these, so an
/// unchecked event cannot reach the log by mistake.
#[derive(Clone, Debug)]
pub struct VerifiedEvent(SignedEvent);

impl VerifiedEvent {
    pub fn check(event: SignedEvent) -> Result<Self, EventError> {
        event.verify_signatures()?;
        Ok(VerifiedEvent(event))
    }

    /// Check many at once, in parallel and in batches.
    pub fn check_all(events: Vec<SignedEvent>) -> Vec<Result<Self, EventError>> {
        let refs: Vec<&SignedEvent> = events.iter().collect();
        let results = verify_all(&refs);
        events
            .into_iter()
            .zip(results)
            .map(|(e, r)| r.map(|()| VerifiedEvent(e)))
            .collect()
    }

    pub fn event(&self) -> &SignedEvent {
        &self.0
    }
}

/// Check the signatures of many events with `verify_strict`, spread over the machine's cores.
///
/// Not Ed25519 batch verification: `verify_batch` is cofactorless with random weights, so it
/// accepts, some of the time, a signature whose R carries a small torsion component, which
/// `verify_strict` always refuses. A signer could then get into the log an entry that the log's
/// own audit, and any strict outside verifier, would refuse. Acceptance and audit must agree
/// exactly, so both use `verify_strict`.
pub fn verify_all(events: &[&SignedEvent]) -> Vec<Result<(), EventError>> {
    super::parallel::par_chunks(events, 16, |part| {
        part.iter().map(|e| e.verify_signatures()).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn sign_parse_verify_round_trip() {
        let ev =
            SignedEvent::sign(json!({"type": "note", "text": "水"}), &[&key(1), &key(2)]).unwrap();
        let bytes = ev.to_bytes();
        let back = SignedEvent::parse(&bytes).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.verify_signatures(), Ok(()));
        assert_eq!(verify_all(&[&back, &back]), vec![Ok(()), Ok(())]);
    }

    #[test]
    fn a_signature_over_other_bytes_is_named() {
        let a = SignedEvent::sign(json!({"type": "note", "n": 1}), &[&key(1)]).unwrap();
        let b = SignedEvent::sign(json!({"type": "note", "n": 2}), &[&key(1)]).unwrap();
        let mut forged = a.clone();
        forged.signatures = b.signatures.clone();
        assert_eq!(
            forged.verify_signatures(),
            Err(EventError::BadSignature {
                index: 0,
                key: PublicKey(key(1).verifying_key()).to_string()
            })
        );
        let res = verify_all(&[&a, &forged, &b]);
        assert!(res[0].is_ok() && res[1].is_err() && res[2].is_ok());
    }

    #[test]
    fn shape_errors_name_the_field() {
        let err = |b: &[u8]| SignedEvent::parse(b).unwrap_err().to_string();
        assert!(err(br#"{"signatures":[]}"#).contains("`event`"));
        assert!(err(br#"{"event":{"type":"x"},"signatures":[]}"#).contains("`signatures`"));
        assert!(err(br#"{"event":{"a":1},"signatures":[]}"#).contains("`event.type`"));
        assert!(
            err(br#"{"event":{"type":"x"},"signatures":[{"key":"AAAA","sig":"AAAA"}]}"#)
                .contains("`signatures[0].key`")
        );
        assert!(err(br#"{"event":{"type":"x"},"extra":1,"signatures":[]}"#).contains("`extra`"));
    }
}
