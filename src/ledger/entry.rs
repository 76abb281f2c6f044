//! Log entries: what the log stores, hashes and serves, as one canonical JSON object:
//! `{"event":{...},"index":N,"prev":"<base64 leaf hash of entry N-1>","signatures":[...],"time":"..."}`.
//! Entry 0 has `prev` = 32 zero bytes. The leaf hash is SHA-256(0x00 || these bytes).

use super::canonical::{parse_canonical, Scan};
use super::event::{
    parse_signatures, scan_event, scan_signatures, signatures_from_text, EventError, SignedEvent,
};
use super::merkle::Hash;
use super::time::Timestamp;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;

const EVENT_KEY: &[u8] = b"{\"event\":";
const INDEX_KEY: &[u8] = b",\"index\":";

/// An entry decoded from its bytes: its position, chain link, time and the signed event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub index: u64,
    pub prev: Hash,
    pub time: Timestamp,
    pub event: SignedEvent,
}

/// The canonical bytes of an entry, from borrowed parts (the sequencer formats the time once
/// per batch). Built by splicing already-canonical parts in RFC 8785 key order
/// (event < index < prev < signatures < time); a test checks this equals full JCS. Base64 and
/// the time need no escaping, and in each signature `key` sorts before `sig`.
pub fn encode(index: u64, prev: &Hash, time: &str, event: &SignedEvent) -> Vec<u8> {
    let ev = event.event_bytes();
    let sigs = event.signatures();
    let mut out = Vec::with_capacity(ev.len() + sigs.len() * 150 + 140);
    out.extend_from_slice(b"{\"event\":");
    out.extend_from_slice(ev);
    out.extend_from_slice(b",\"index\":");
    out.extend_from_slice(index.to_string().as_bytes());
    out.extend_from_slice(b",\"prev\":\"");
    out.extend_from_slice(B64.encode(prev).as_bytes());
    out.extend_from_slice(b"\",\"signatures\":[");
    for (i, s) in sigs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":\"");
        out.extend_from_slice(B64.encode(s.key.bytes()).as_bytes());
        out.extend_from_slice(b"\",\"sig\":\"");
        out.extend_from_slice(B64.encode(s.sig.to_bytes()).as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"],\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

impl Entry {
    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode(self.index, &self.prev, &self.time.to_string(), &self.event)
    }

    /// Decode stored or served bytes; they must be canonical and complete.
    pub fn decode(bytes: &[u8]) -> Result<Self, EventError> {
        // Entries are read in one pass over their bytes; where that pass is not sure, or the
        // entry is wrong, the full parse decides and names the field.
        match Self::decode_in_one_pass(bytes) {
            Some(entry) => Ok(entry),
            None => Self::decode_parsed(bytes),
        }
    }

    /// [`Entry::decode`] in one pass ([`Scan`]), the event's JSON value left to be built when
    /// it is asked for. None where the scan is not sure, or the entry is not one [`Entry::
    /// decode_parsed`] would return (a property test holds the two to the same answers).
    fn decode_in_one_pass(bytes: &[u8]) -> Option<Self> {
        let mut scan = Scan::new(bytes)?;
        let mut fields = 0;
        let (mut event, mut index, mut prev, mut signatures, mut time) =
            (None, None, None, None, None);
        scan.object(0, |s, key| {
            fields += 1;
            match key {
                "event" => event = Some(scan_event(s)?),
                "index" => index = Some(u64::try_from(s.integer()?).ok()?),
                "prev" => prev = Some(Hash::try_from(B64.decode(s.string()?).ok()?).ok()?),
                "signatures" => signatures = Some(scan_signatures(s)?),
                "time" => time = Some(Timestamp::parse_exact(s.string()?).ok()?),
                _ => return None,
            }
            Some(())
        })?;
        let (span, event_type) = event?;
        if !scan.done() || fields != 5 {
            return None;
        }
        Some(Entry {
            index: index?,
            prev: prev?,
            time: time?,
            event: SignedEvent::from_checked_bytes(
                bytes[span].to_vec(),
                event_type,
                signatures_from_text(&signatures?)?,
            ),
        })
    }

    /// [`Entry::decode`] through a JSON value of the whole entry: every fault named.
    fn decode_parsed(bytes: &[u8]) -> Result<Self, EventError> {
        let bad = |f: &str, e: &str| EventError::Field {
            field: f.into(),
            expected: e.into(),
        };
        let Value::Object(mut top) = parse_canonical(bytes)? else {
            return Err(bad("(entry)", "a JSON object"));
        };
        if top.len() != 5 {
            return Err(bad(
                "(entry)",
                "exactly the fields event, index, prev, signatures, time",
            ));
        }
        let index = top
            .get("index")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("index", "a non-negative integer"))?;
        let prev: Hash = top
            .get("prev")
            .and_then(Value::as_str)
            .and_then(|s| B64.decode(s).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("prev", "base64 of a 32-byte hash"))?;
        let time = top
            .get("time")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("time", "an RFC 3339 time"))
            .and_then(|s| Timestamp::parse_exact(s).map_err(|e| bad("time", &e)))?;
        let Some(Value::Array(sigs)) = top.remove("signatures") else {
            return Err(bad("signatures", "an array"));
        };
        let Some(Value::Object(event)) = top.remove("event") else {
            return Err(bad("event", "a JSON object"));
        };
        let signatures = parse_signatures(&sigs)?;
        // The bytes are canonical, so the event's canonical bytes are the span between
        // `{"event":` and the top-level `,"index":`, the last one (only base64 strings, the
        // time and signature objects follow it).
        let end = bytes
            .windows(INDEX_KEY.len())
            .rposition(|w| w == INDEX_KEY)
            .ok_or_else(|| bad("index", "a top-level index field"))?;
        let event = SignedEvent::from_canonical_parts(
            event,
            bytes[EVENT_KEY.len()..end].to_vec(),
            signatures,
        )?;
        Ok(Entry {
            index,
            prev,
            time,
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::canonical::tests::{has_key_at_or_above_e000, mutate};
    use crate::ledger::canonical::to_canonical;
    use crate::ledger::event::tests::{same_event, signed_event};
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;
    use serde_json::json;

    /// Entries of every shape the log may hold: any signed event, any index, link and time.
    fn entry_bytes() -> impl Strategy<Value = (Vec<u8>, Value)> {
        (
            signed_event(),
            any::<u64>(),
            any::<[u8; 32]>(),
            0u64..4_102_444_800_000,
        )
            .prop_map(|((event, body), index, prev, ms)| {
                let e = Entry {
                    index: index >> 11,
                    prev,
                    time: Timestamp::from_unix_millis(ms),
                    event,
                };
                (e.encode(), body)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        /// The one-pass decoding returns exactly what the full parse returns, body included,
        /// for every entry it does not decline; it declines only entries with an escape or a
        /// key at or above U+E000; and changed bytes it accepts, the full parse accepts alike.
        #[test]
        fn decoding_in_one_pass_answers_as_the_full_parse(
            (bytes, body) in entry_bytes(), at in any::<usize>(), how in any::<u8>(), with in any::<u8>()
        ) {
            let parsed = Entry::decode_parsed(&bytes).expect("an encoded entry decodes");
            let plain = !bytes.contains(&b'\\') && !has_key_at_or_above_e000(&body);
            match Entry::decode_in_one_pass(&bytes) {
                Some(quick) => {
                    prop_assert!(plain);
                    // Members read from the bytes (no value built yet) and from the value.
                    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
                    let probe = [keys[0], keys[keys.len() / 2], keys[keys.len() - 1], "a"];
                    let from_bytes = quick.event.top_level_strs(probe);
                    prop_assert_eq!(from_bytes, parsed.event.top_level_strs(probe));
                    same_event(&quick.event, &parsed.event)?;
                    prop_assert_eq!(quick, parsed);
                }
                None => prop_assert!(!plain, "declined a plain entry"),
            }
            let changed = mutate(&bytes, at, how, with);
            if let Some(quick) = Entry::decode_in_one_pass(&changed) {
                let parsed = Entry::decode_parsed(&changed);
                prop_assert!(parsed.is_ok(), "{}: {:?}", String::from_utf8_lossy(&changed), parsed);
                let parsed = parsed.unwrap();
                same_event(&quick.event, &parsed.event)?;
                prop_assert_eq!(quick, parsed);
            }
        }
    }

    #[test]
    fn a_wrong_entry_declined_by_the_one_pass_is_named_by_the_parse() {
        let k = SigningKey::from_bytes(&[7; 32]);
        let event = SignedEvent::sign(json!({"type": "note", "n": 1}), &[&k]).unwrap();
        let e = Entry {
            index: 3,
            prev: [1; 32],
            time: Timestamp::from_unix_millis(5),
            event,
        };
        let good = String::from_utf8(e.encode()).unwrap();
        for (bad, names) in [
            (good.replace("\"index\":3", "\"index\":-3"), "index"),
            (
                good.replace("\"type\":\"note\"", "\"type\":\"\""),
                "event.type",
            ),
            (
                good.replace("\"type\":\"note\"", "\"type\":7"),
                "event.type",
            ),
            (good.replace("\"n\":1", "\"n\":1.5"), "event.n"),
            (good.replace("\"time\":\"", "\"time\":\"x"), "time"),
        ] {
            assert!(Entry::decode_in_one_pass(bad.as_bytes()).is_none(), "{bad}");
            let err = Entry::decode(bad.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(names), "{bad}: {err}");
        }
    }

    #[test]
    fn spliced_encoding_is_exactly_jcs_and_decodes_back() {
        let k = SigningKey::from_bytes(&[7; 32]);
        let event = SignedEvent::sign(
            json!({"type": "note", "z": "é\u{1f600}", "a": [1, 2]}),
            &[&k],
        )
        .unwrap();
        let e = Entry {
            index: 42,
            prev: [9; 32],
            time: Timestamp::from_unix_millis(1_795_878_245_123),
            event,
        };
        let bytes = e.encode();
        let full = json!({
            "event": e.event.event(), "index": 42, "prev": B64.encode([9u8; 32]),
            "signatures": e.event.signatures_json(), "time": "2026-11-28T15:04:05.123Z"
        });
        assert_eq!(bytes, to_canonical(&full));
        assert_eq!(Entry::decode(&bytes).unwrap(), e);
    }

    #[test]
    fn a_changed_byte_does_not_decode_to_the_same_entry() {
        let k = SigningKey::from_bytes(&[7; 32]);
        let event = SignedEvent::sign(json!({"type": "note"}), &[&k]).unwrap();
        let e = Entry {
            index: 1,
            prev: [0; 32],
            time: Timestamp::from_unix_millis(0),
            event,
        };
        let mut bytes = e.encode();
        let pos = bytes.iter().position(|&b| b == b'1').unwrap();
        bytes[pos] = b'2';
        assert_ne!(Entry::decode(&bytes).map(|d| d.index), Ok(1));
        bytes.insert(0, b' ');
        assert!(Entry::decode(&bytes).is_err());
    }
}
