//! Signed events: the body exactly as the parties signed it, and their Ed25519 signatures.
//!
//! Wire form (what `POST /v1/events` takes), RFC 8785 canonical:
//! `{"event":{...,"type":"..."},"signatures":[{"key":"<base64 public key>","sig":"<base64>"}]}`.
//! Each signature is Ed25519 over `wasteledger/v1/event\n` followed by the canonical event bytes.

use super::canonical::{parse_canonical, to_canonical, CanonicalError, Scan};
use super::merkle::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::OnceLock;
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
///
/// The body's JSON value is built from its bytes when first asked for ([`SignedEvent::event`]):
/// an entry read back for an audit has had its bytes checked canonical in one pass
/// ([`super::canonical::Scan`]), and a fold that does not read its body never builds it.
/// Equal events are equal bytes and signatures.
#[derive(Clone, Debug)]
pub struct SignedEvent {
    event: OnceLock<Map<String, Value>>,
    event_type: Box<str>,
    event_bytes: Vec<u8>,
    signatures: Vec<EventSignature>,
    prepared: Prepared,
}

/// What a fold worked out from an event before the event reached it, on a thread beside the
/// serial one (the checks of its signatures: `Rules::prepares`, `Fold::prepares`), for the
/// fold's `admit` to take instead of working it out there ([`SignedEvent::prepare`],
/// [`SignedEvent::take_prepared`]). Only ever a pure function of the event's bytes, so taking
/// it or working it out again gives the same. A copy of the event starts without it.
#[derive(Default)]
struct Prepared(std::sync::Mutex<Option<Box<dyn std::any::Any + Send>>>);

impl Clone for Prepared {
    fn clone(&self) -> Self {
        Prepared::default()
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prepared")
    }
}

impl PartialEq for SignedEvent {
    fn eq(&self, other: &Self) -> bool {
        self.event_bytes == other.event_bytes && self.signatures == other.signatures
    }
}

impl Eq for SignedEvent {}

impl SignedEvent {
    /// Parse the wire form; it must be canonical, and every field must have its expected shape.
    pub fn parse(bytes: &[u8]) -> Result<Self, EventError> {
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(field(
                "(body)",
                format!("at most {MAX_EVENT_BYTES} bytes, got {}", bytes.len()),
            ));
        }
        // Checked in one pass, the body's value left to be built where it is read (few
        // events' are); where the pass is not sure, or the event is wrong, the full parse
        // decides and names the field.
        match Self::parse_in_one_pass(bytes) {
            Some(event) => Ok(event),
            None => Self::parse_parsed(bytes),
        }
    }

    /// [`SignedEvent::parse`] in one pass ([`Scan`]), the body's value not built. None where
    /// the pass is not sure, or the event is not one [`SignedEvent::parse_parsed`] returns.
    fn parse_in_one_pass(bytes: &[u8]) -> Option<Self> {
        let mut scan = Scan::new(bytes)?;
        let mut fields = 0;
        let (mut event, mut signatures) = (None, None);
        scan.object(0, |s, key| {
            fields += 1;
            match key {
                "event" => event = Some(scan_event(s)?),
                "signatures" => signatures = Some(scan_signatures(s)?),
                _ => return None,
            }
            Some(())
        })?;
        let (span, event_type) = event?;
        if !scan.done() || fields != 2 {
            return None;
        }
        Some(Self::from_checked_bytes(
            bytes[span].to_vec(),
            event_type,
            signatures_from_text(&signatures?)?,
        ))
    }

    /// [`SignedEvent::parse`] through a JSON value of the whole: every fault named.
    fn parse_parsed(bytes: &[u8]) -> Result<Self, EventError> {
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
        let event_type = check_type(&event)?.into();
        debug_assert_eq!(event_bytes, to_canonical(&event));
        Ok(SignedEvent {
            event: OnceLock::from(event),
            event_type,
            event_bytes,
            signatures,
            prepared: Prepared::default(),
        })
    }

    /// An event from the canonical bytes of its body, already checked (by
    /// [`super::canonical::Scan`]) to be canonical JSON, an object, whose `type` is
    /// `event_type`, a non-empty string: its value is built when first asked for.
    pub(crate) fn from_checked_bytes(
        event_bytes: Vec<u8>,
        event_type: &str,
        signatures: Vec<EventSignature>,
    ) -> Self {
        debug_assert!(!event_type.is_empty());
        SignedEvent {
            event: OnceLock::new(),
            event_type: event_type.into(),
            event_bytes,
            signatures,
            prepared: Prepared::default(),
        }
    }

    /// Sign an event body with one or more keys (the parties to that step).
    pub fn sign(event: Value, keys: &[&SigningKey]) -> Result<Self, EventError> {
        if !event.is_object() {
            return Err(field("event", "a JSON object"));
        }
        super::canonical::check_integers(&event, &mut "event".to_string())?;
        let Value::Object(map) = event else {
            unreachable!("an object, checked above")
        };
        let mut ev = Self::from_parts(map, Vec::new())?;
        for k in keys {
            ev.add_signature(k);
        }
        // As a parsed event: the bytes, the body's value built where it is read. Freed here,
        // on the signer's thread, not where the event is stored.
        ev.event.take();
        Ok(ev)
    }

    /// Countersign: the second party adds its signature to what the first signed.
    pub fn add_signature(&mut self, key: &SigningKey) {
        let pk = PublicKey(key.verifying_key());
        self.signatures.retain(|s| s.key != pk);
        let sig = key.sign(&self.signing_message());
        self.signatures.push(EventSignature { key: pk, sig });
    }

    /// The body as a JSON object.
    pub fn event(&self) -> &Map<String, Value> {
        self.event
            .get_or_init(|| match serde_json::from_slice(&self.event_bytes) {
                Ok(Value::Object(map)) => map,
                _ => unreachable!(
                    "an event's bytes are checked to be a canonical object when it is made"
                ),
            })
    }

    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// Members of the body's top level as `self.event().get(key)` tells them, each as a
    /// string: None where absent, `Some(None)` where not a string. Read in one pass over the
    /// bytes while the body's value is not built (an audit's entries), else from the value.
    pub fn top_level_strs<const N: usize>(&self, keys: [&str; N]) -> [Option<Option<&str>>; N] {
        if self.event.get().is_none() {
            if let Some(found) = top_level_strs_in(&self.event_bytes, keys) {
                return found;
            }
        }
        let ev = self.event();
        keys.map(|k| ev.get(k).map(Value::as_str))
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

    /// Keep what `f` works out from this event, for [`SignedEvent::take_prepared`] (nothing
    /// if something is kept already). `f` must depend on the event's bytes alone.
    pub fn prepare<T: std::any::Any + Send>(&self, f: impl FnOnce(&SignedEvent) -> T) {
        let mut slot = self.prepared.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(Box::new(f(self)));
        }
    }

    /// The body's value as the sequencer needs it: built where the log's own checks read it
    /// ([`LogState::reads_body`](super::state::LogState::reads_body)), freed if it was built
    /// otherwise. Done where the signatures are checked, so that the serial stage neither
    /// builds it nor frees it; whoever reads it later gets it built anew from the bytes.
    fn body_for_the_log(&mut self) {
        if super::state::LogState::reads_body(&self.event_type) {
            self.event();
        } else {
            self.event.take();
        }
    }

    /// What [`SignedEvent::prepare`] kept, if it is a `T`, taken (a second take finds none).
    pub fn take_prepared<T: std::any::Any>(&self) -> Option<T> {
        let mut slot = self.prepared.0.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take()?.downcast::<T>() {
            Ok(t) => Some(*t),
            Err(other) => {
                *slot = Some(other);
                None
            }
        }
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
        to_canonical(&json!({"event": self.event(), "signatures": self.signatures_json()}))
    }
}

fn check_type(event: &Map<String, Value>) -> Result<&str, EventError> {
    match event.get("type") {
        Some(Value::String(t)) if !t.is_empty() => Ok(t),
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
        let sig = signature_from_base64(sig_s).ok_or_else(|| {
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
        out.push(EventSignature { key, sig });
    }
    Ok(out)
}

/// [`SignedEvent::top_level_strs`] from the body's bytes (None: the one-pass scan is not sure,
/// such as a string with an escape).
fn top_level_strs_in<'a, const N: usize>(
    bytes: &'a [u8],
    keys: [&str; N],
) -> Option<[Option<Option<&'a str>>; N]> {
    let mut found = [None; N];
    let mut scan = Scan::new(bytes)?;
    scan.object(0, |s, k| {
        let member = if s.at_string() {
            Some(s.string()?)
        } else {
            // The body's bytes were checked canonical when the event was made.
            s.skip_checked()?;
            None
        };
        for (i, _) in keys.iter().enumerate().filter(|(_, w)| **w == k) {
            found[i] = Some(member);
        }
        Some(())
    })?;
    scan.done().then_some(found)
}

/// The value of an `event` member in one pass: where its bytes are, and its type (a non-empty
/// string); None where the scan is not sure, or it is not such an object.
pub(crate) fn scan_event<'a>(s: &mut Scan<'a>) -> Option<(std::ops::Range<usize>, &'a str)> {
    let start = s.at();
    let mut event_type = None;
    s.object(1, |s, k| match k {
        "type" => s.string().map(|t| event_type = Some(t)),
        _ => s.value(2),
    })?;
    Some((start..s.at(), event_type.filter(|t| !t.is_empty())?))
}

/// The value of a `signatures` member in one pass: each signature's `key` and `sig` as
/// written, in order ([`signatures_from_text`] reads them); None where the scan is not sure,
/// or it is not an array of objects of exactly those two strings.
pub(crate) fn scan_signatures<'a>(s: &mut Scan<'a>) -> Option<Vec<(&'a str, &'a str)>> {
    let mut out = Vec::with_capacity(2);
    s.array(1, |s| {
        let (mut key, mut sig) = (None, None);
        s.object(2, |s, k| match k {
            "key" => s.string().map(|t| key = Some(t)),
            "sig" => s.string().map(|t| sig = Some(t)),
            _ => None,
        })?;
        out.push((key?, sig?));
        Some(())
    })?;
    Some(out)
}

/// A signature as events write it: standard base64 of its 64 bytes.
fn signature_from_base64(s: &str) -> Option<Signature> {
    let bytes: [u8; 64] = B64.decode(s).ok()?.try_into().ok()?;
    Some(Signature::from_bytes(&bytes))
}

/// The signatures of an entry as [`parse_signatures`] reads them, from each one's `key` and
/// `sig` as written, in order; None wherever it would refuse them (the caller then parses the
/// whole entry again, and the error names the field).
pub(crate) fn signatures_from_text(pairs: &[(&str, &str)]) -> Option<Vec<EventSignature>> {
    if pairs.is_empty() || pairs.len() > MAX_SIGNATURES {
        return None;
    }
    let mut out: Vec<EventSignature> = Vec::with_capacity(pairs.len());
    for (key, sig) in pairs {
        let key = PublicKey::parse("signatures[].key", key).ok()?;
        if out.iter().any(|o| o.key == key) {
            return None;
        }
        let sig = signature_from_base64(sig)?;
        out.push(EventSignature { key, sig });
    }
    Some(out)
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

    /// [`VerifiedEvent::check`] on the way to the sequencer: `prepare` (`Rules::prepares`)
    /// runs once the signatures verify, and the body's value is made what the sequencer
    /// needs ([`SignedEvent::body_for_the_log`]), here beside the check.
    pub fn check_preparing(
        mut event: SignedEvent,
        prepare: super::state::Prepare,
    ) -> Result<Self, EventError> {
        event.verify_signatures()?;
        prepare(&event);
        event.body_for_the_log();
        Ok(VerifiedEvent(event))
    }

    /// [`VerifiedEvent::check_preparing`] of many at once, spread over the cores.
    pub fn check_all(
        events: Vec<SignedEvent>,
        prepare: super::state::Prepare,
    ) -> Vec<Result<Self, EventError>> {
        super::parallel::par_map_owned(events, 16, |e| Self::check_preparing(e, prepare))
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
pub(crate) mod tests {
    use super::*;
    use crate::ledger::canonical::tests::{has_key_at_or_above_e000, json_value, mutate};
    use proptest::prelude::*;

    pub(crate) fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    /// Signed events of every shape: bodies of any JSON (escapes, keys on both sides of
    /// U+E000), types with escapes, one to three signatures; with the body as a value.
    pub(crate) fn signed_event() -> impl Strategy<Value = (SignedEvent, Value)> {
        let kind = "[a-z.\"\\\u{1}\u{e9}\u{e000}]{1,6}";
        let body =
            prop::collection::btree_map("[a-z\u{e9}\u{e000}\u{1f600}\"]{1,4}", json_value(), 0..5);
        (body, kind, 1u8..4).prop_map(|(body, kind, signers)| {
            let mut body: Map<String, Value> = body.into_iter().collect();
            body.insert("type".into(), Value::String(kind));
            let keys: Vec<SigningKey> = (1..=signers).map(key).collect();
            let refs: Vec<&SigningKey> = keys.iter().collect();
            let body = Value::Object(body);
            let event = SignedEvent::sign(body.clone(), &refs).expect("a valid body");
            (event, body)
        })
    }

    /// An event read in one pass alike in all a reader sees to the same read by the full parse.
    pub(crate) fn same_event(
        quick: &SignedEvent,
        parsed: &SignedEvent,
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(quick.event(), parsed.event());
        prop_assert_eq!(quick.event_type(), parsed.event_type());
        prop_assert_eq!(quick, parsed);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        /// The intake's one-pass parse returns exactly what the full parse returns for every
        /// event it does not decline; it declines only events with an escape or a key at or
        /// above U+E000; and changed bytes it accepts, the full parse accepts alike.
        #[test]
        fn parsing_in_one_pass_answers_as_the_full_parse(
            (event, body) in signed_event(), at in any::<usize>(), how in any::<u8>(), with in any::<u8>()
        ) {
            let bytes = event.to_bytes();
            let plain = !bytes.contains(&b'\\') && !has_key_at_or_above_e000(&body);
            let parsed = SignedEvent::parse_parsed(&bytes).expect("a signed event parses");
            prop_assert_eq!(&parsed, &event);
            match SignedEvent::parse_in_one_pass(&bytes) {
                Some(quick) => {
                    prop_assert!(plain);
                    same_event(&quick, &parsed)?;
                }
                None => prop_assert!(!plain, "declined a plain event"),
            }
            let changed = mutate(&bytes, at, how, with);
            if let Some(quick) = SignedEvent::parse_in_one_pass(&changed) {
                let parsed = SignedEvent::parse_parsed(&changed);
                prop_assert!(parsed.is_ok(), "{}: {:?}", String::from_utf8_lossy(&changed), parsed);
                same_event(&quick, &parsed.unwrap())?;
            }
        }
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
    fn what_is_prepared_is_taken_once_only_where_it_checks_and_not_copied() {
        let a = SignedEvent::sign(json!({"type": "note", "n": 1}), &[&key(1)]).unwrap();
        let forged = {
            let mut f = a.clone();
            f.event_bytes = br#"{"n":2,"type":"note"}"#.to_vec();
            f
        };
        let len = |e: &SignedEvent| e.event_bytes().len();
        let checked = VerifiedEvent::check_all(vec![a.clone(), forged], |e| {
            e.prepare(|e| e.event_bytes().len())
        });
        let (ok, bad) = (checked[0].as_ref().unwrap(), &checked[1]);
        assert!(bad.is_err(), "the forged event is refused");
        let copy = ok.event().clone();
        assert_eq!(
            copy.take_prepared::<usize>(),
            None,
            "a copy starts without it"
        );
        assert_eq!(
            ok.event().take_prepared::<u32>(),
            None,
            "another type is not it"
        );
        assert_eq!(ok.event().take_prepared::<usize>(), Some(len(&a)));
        assert_eq!(ok.event().take_prepared::<usize>(), None, "taken once");
        a.prepare(|_| 1usize);
        a.prepare(|_| 2usize);
        assert_eq!(a.take_prepared::<usize>(), Some(1), "the first kept");
    }

    /// A checked event goes on to the sequencer with its body's value built where the log's
    /// own checks read it (`key.*`, `log.*`) and freed otherwise; whoever reads it still gets
    /// the same body.
    #[test]
    fn a_checked_event_holds_its_body_only_where_the_log_reads_it() {
        let note = json!({"type": "note", "n": 1, "who": "甲"});
        let add = json!({"type": "key.added", "key": "k", "holder": "h"});
        let signed = |b: &Value| SignedEvent::sign(b.clone(), &[&key(1)]).unwrap();
        let parsed = SignedEvent::parse(&signed(&note).to_bytes()).unwrap();
        assert!(
            parsed.event.get().is_none(),
            "parsing does not build the body"
        );
        assert!(
            signed(&add).event.get().is_none(),
            "nor does signing keep it"
        );
        let read = signed(&note);
        read.event();
        let checked = VerifiedEvent::check_all(vec![read, signed(&add), parsed], |_| {});
        let held = |k: usize| checked[k].as_ref().unwrap().event().event.get().is_some();
        assert!(!held(0), "a body built before is freed beside the check");
        assert!(held(1), "a key.* body is built there for the log's checks");
        assert!(!held(2));
        for (k, body) in [(0, &note), (1, &add), (2, &note)] {
            let e = checked[k].as_ref().unwrap().event();
            assert_eq!(
                &Value::Object(e.event().clone()),
                body,
                "event {k} reads the same"
            );
        }
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
