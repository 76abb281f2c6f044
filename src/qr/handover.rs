//! The hand-over code, format 1 (fixtures/qr/FORMAT.md, "Hand-over code"): a `custody.handover`
//! signed by one party, in a form a phone camera reads. The signature covers the canonical JSON
//! of the event body, so the code carries the body's fields in binary and the decoder rebuilds
//! exactly those JSON bytes; a field that has no exact compact form travels verbatim, as
//! canonical JSON, and the encoder checks the round trip before it hands out a code.
//!
//! `WLH1` + unpadded upper-case base32 of:
//! `flags ‖ manifest ‖ from ‖ to ‖ [at] ‖ lines ‖ [vehicle] ‖ [driver or driver_id] ‖ [site] ‖ [place] ‖
//! [rest] ‖ public key (32) ‖ signature (64)`.

use super::token::{put_str, put_uvarint, Reader, MAX_NUMBER};
use super::TokenError;
use crate::ledger::canonical::{check_integers, parse_canonical, to_canonical};
use crate::ledger::event::{EventSignature, PublicKey, SignedEvent};
use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Map, Value};
use std::time::{Duration, UNIX_EPOCH};

/// The text form: this prefix (`1` is the format, and is not a base32 character, so no
/// manifest token begins so), then unpadded upper-case RFC 4648 base32 of the binary.
pub const HANDOVER_PREFIX: &str = "WLH1";
/// The event type a hand-over code carries.
const EVENT_TYPE: &str = "custody.handover";

const F_VEHICLE: u8 = 1 << 0;
const F_DRIVER_HEX: u8 = 1 << 1;
const F_DRIVER_STR: u8 = 1 << 2;
/// Both driver bits: the registered person's id (`driver_id`, 64 hex digits) as 32 bytes. A
/// hand-over names its driver one way or the other, never both.
const F_DRIVER_ID: u8 = F_DRIVER_HEX | F_DRIVER_STR;
const F_SITE: u8 = 1 << 3;
const F_PLACE: u8 = 1 << 4;
const F_AT_SECONDS: u8 = 1 << 5;
const F_AT_MILLIS: u8 = 1 << 6;
const F_REST: u8 = 1 << 7;

/// The longest plate, site or driver string, in UTF-8 bytes.
const MAX_STR: usize = 64;
/// The longest verbatim rest (canonical JSON of the fields with no compact form).
pub const MAX_REST: usize = 512;
/// The most lines.
const MAX_LINES: usize = 64;
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Why a hand-over cannot be put in a code, or a code cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandoverCodeError {
    /// Not a hand-over code, or a structure that does not parse: the field and why.
    #[error("hand-over code: {field}: {detail}")]
    Malformed { field: String, detail: String },
    /// The hand-over cannot travel as a code: the field and why.
    #[error("this hand-over cannot be put in a code: {field}: {detail}")]
    Unencodable { field: String, detail: String },
}

fn malformed(field: impl Into<String>, detail: impl Into<String>) -> HandoverCodeError {
    HandoverCodeError::Malformed {
        field: field.into(),
        detail: detail.into(),
    }
}

fn unencodable(field: impl Into<String>, detail: impl Into<String>) -> HandoverCodeError {
    HandoverCodeError::Unencodable {
        field: field.into(),
        detail: detail.into(),
    }
}

impl From<TokenError> for HandoverCodeError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Malformed { field, detail } => malformed(field, detail),
            other => malformed("code", other.to_string()),
        }
    }
}

/// Whether a scanned payload is a hand-over code (by its prefix; [`decode_handover`] checks
/// the rest).
pub fn is_handover_code(payload: &str) -> bool {
    payload.trim().starts_with(HANDOVER_PREFIX)
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

fn pack_uscc(s: &str) -> Option<[u8; 12]> {
    if s.len() != 18 {
        return None;
    }
    let mut acc: u128 = 0;
    for b in s.bytes() {
        let v = USCC_ALPHABET.iter().position(|&c| c == b)?;
        acc = (acc << 5) | v as u128;
    }
    // 90 bits, left-aligned in 96.
    let bytes = (acc << 6).to_be_bytes();
    Some(bytes[4..].try_into().expect("12 bytes"))
}

fn unpack_uscc(b: &[u8]) -> Option<String> {
    let mut full = [0u8; 16];
    full[4..].copy_from_slice(b);
    let acc = u128::from_be_bytes(full);
    if acc & 0x3f != 0 {
        return None;
    }
    let acc = acc >> 6;
    (0..18)
        .rev()
        .map(|i| {
            USCC_ALPHABET
                .get(((acc >> (5 * i)) & 0x1f) as usize)
                .map(|&c| c as char)
        })
        .collect()
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// `at` as written, from the instant and the form (whole seconds `…:SSZ` or the log's `….mmmZ`).
fn render_at(millis: u64, with_millis: bool) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(millis);
    if with_millis {
        humantime::format_rfc3339_millis(t).to_string()
    } else {
        humantime::format_rfc3339_seconds(t).to_string()
    }
}

/// `at` in compact form, if the string is exactly what [`render_at`] writes for it.
fn compact_at(v: &Value) -> Option<(u8, u64)> {
    let s = v.as_str()?;
    let t = crate::ledger::time::Timestamp::parse(s).ok()?;
    let ms = t.unix_millis();
    if ms % 1000 == 0 && render_at(ms, false) == s {
        Some((F_AT_SECONDS, ms / 1000))
    } else if render_at(ms, true) == s {
        Some((F_AT_MILLIS, ms))
    } else {
        None
    }
}

fn str_field<'a>(ev: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    ev.get(k)
        .and_then(Value::as_str)
        .filter(|s| s.len() <= MAX_STR)
}

fn is_commitment(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A line `{"line": n, "quantity": {"amount": a, "unit": "g"|"ml"}}` exactly, as (n, a, unit).
fn compact_line(v: &Value) -> Option<(u64, u64, u8)> {
    let o = v.as_object()?;
    let q = o.get("quantity")?.as_object()?;
    if o.len() != 2 || q.len() != 2 {
        return None;
    }
    let unit = match q.get("unit")?.as_str()? {
        "g" => b'g',
        "ml" => b'm',
        _ => return None,
    };
    Some((o.get("line")?.as_u64()?, q.get("amount")?.as_u64()?, unit))
}

/// The code of a hand-over signed by one party. Refused, naming the field, when it is not a
/// `custody.handover` with exactly one signature, or when a required field has no compact form
/// (which a hand-over the log takes always has) or the rest is too long.
pub fn encode_handover(ev: &SignedEvent) -> Result<String, HandoverCodeError> {
    if ev.event_type() != EVENT_TYPE {
        return Err(unencodable(
            "event.type",
            format!("expected {EVENT_TYPE}, got {}", ev.event_type()),
        ));
    }
    let [sig] = ev.signatures() else {
        return Err(unencodable(
            "signatures",
            format!(
                "expected the one signature of the party handing over (a half), got {}",
                ev.signatures().len()
            ),
        ));
    };
    let mut rest = ev.event().clone();
    rest.remove("type");
    let mut flags = 0u8;
    let mut body = Vec::with_capacity(160);

    let number = rest
        .remove("manifest")
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|s| s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| unencodable("event.manifest", "expected a 14-digit manifest number"))?;
    put_uvarint(&mut body, number.parse().expect("14 digits fit a u64"));
    for k in ["from", "to"] {
        let packed = rest
            .remove(k)
            .and_then(|v| v.as_str().and_then(pack_uscc))
            .ok_or_else(|| unencodable(format!("event.{k}"), "expected an 18-character USCC"))?;
        body.extend_from_slice(&packed);
    }
    if let Some((f, v)) = rest.get("at").and_then(compact_at) {
        rest.remove("at");
        flags |= f;
        put_uvarint(&mut body, v);
    }
    let lines = rest
        .remove("lines")
        .and_then(|v| {
            v.as_array()
                .filter(|a| a.len() <= MAX_LINES)
                .and_then(|a| a.iter().map(compact_line).collect::<Option<Vec<_>>>())
        })
        .ok_or_else(|| {
            unencodable(
                "event.lines",
                format!("expected at most {MAX_LINES} lines of {{\"line\", \"quantity\": {{\"amount\", \"unit\": g or ml}}}}"),
            )
        })?;
    put_uvarint(&mut body, lines.len() as u64);
    for (line, amount, unit) in lines {
        put_uvarint(&mut body, line);
        put_uvarint(&mut body, amount);
        body.push(unit);
    }
    let mut tail = Vec::new();
    if let Some(v) = str_field(&rest, "vehicle").map(str::to_string) {
        rest.remove("vehicle");
        flags |= F_VEHICLE;
        put_str(&mut tail, &v);
    }
    let driver_id = str_field(&rest, "driver_id")
        .filter(|d| is_commitment(d) && !rest.contains_key("driver"))
        .map(str::to_string);
    if let Some(id) = driver_id {
        flags |= F_DRIVER_ID;
        tail.extend_from_slice(&hex::decode(&id).expect("checked hex"));
        rest.remove("driver_id");
    }
    match str_field(&rest, "driver").map(str::to_string) {
        Some(d) if is_commitment(&d) => {
            flags |= F_DRIVER_HEX;
            tail.extend_from_slice(&hex::decode(&d).expect("checked hex"));
            rest.remove("driver");
        }
        Some(d) => {
            flags |= F_DRIVER_STR;
            put_str(&mut tail, &d);
            rest.remove("driver");
        }
        None => {}
    }
    if let Some(s) = str_field(&rest, "site").map(str::to_string) {
        rest.remove("site");
        flags |= F_SITE;
        put_str(&mut tail, &s);
    }
    let place = rest.get("place").and_then(Value::as_object).and_then(|p| {
        let lat = p.get("lat_e6")?.as_i64()?;
        let lon = p.get("lon_e6")?.as_i64()?;
        (p.len() == 2 && i32::try_from(lat).is_ok() && i32::try_from(lon).is_ok())
            .then_some((lat, lon))
    });
    if let Some((lat, lon)) = place {
        rest.remove("place");
        flags |= F_PLACE;
        put_uvarint(&mut tail, zigzag(lat));
        put_uvarint(&mut tail, zigzag(lon));
    }
    if !rest.is_empty() {
        let verbatim = to_canonical(&Value::Object(rest));
        if verbatim.len() > MAX_REST {
            return Err(unencodable(
                "event",
                format!(
                    "the fields with no compact form take {} bytes as JSON, at most {MAX_REST} fit a code",
                    verbatim.len()
                ),
            ));
        }
        flags |= F_REST;
        put_uvarint(&mut tail, verbatim.len() as u64);
        tail.extend_from_slice(&verbatim);
    }
    let mut bin = Vec::with_capacity(1 + body.len() + tail.len() + 96);
    bin.push(flags);
    bin.extend_from_slice(&body);
    bin.extend_from_slice(&tail);
    bin.extend_from_slice(sig.key.bytes());
    bin.extend_from_slice(&sig.sig.to_bytes());
    let text = format!("{HANDOVER_PREFIX}{}", BASE32_NOPAD.encode(&bin));
    // The code must give back the very bytes that were signed.
    let back = decode_handover(&text)?;
    if back.event_bytes() != ev.event_bytes() {
        return Err(unencodable(
            "event",
            "the code does not give back the signed bytes exactly",
        ));
    }
    Ok(text)
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Read a hand-over code back into the signed event (its one signature not yet checked:
/// [`SignedEvent::verify_signatures`] does that). Strict: one binary has one reading, and
/// anything out of range, truncated or trailing is refused naming the field.
pub fn decode_handover(text: &str) -> Result<SignedEvent, HandoverCodeError> {
    let t = text.trim();
    let b32 = t.strip_prefix(HANDOVER_PREFIX).ok_or_else(|| {
        malformed(
            "text",
            format!("expected a hand-over code starting with {HANDOVER_PREFIX:?}"),
        )
    })?;
    let bin = BASE32_NOPAD.decode(b32.as_bytes()).map_err(|e| {
        malformed(
            "text",
            format!("expected unpadded upper-case RFC 4648 base32 after {HANDOVER_PREFIX:?} ({e})"),
        )
    })?;
    let mut r = Reader { bytes: &bin, at: 0 };
    let flags = r.byte("flags")?;
    if flags & F_AT_SECONDS != 0 && flags & F_AT_MILLIS != 0 {
        return Err(malformed(
            "flags",
            "the time is either in seconds or in milliseconds, not both",
        ));
    }
    let mut ev = Map::new();
    ev.insert("type".into(), json!(EVENT_TYPE));
    let n = r.uvarint("manifest")?;
    if n > MAX_NUMBER {
        return Err(malformed(
            "manifest",
            format!("expected a 14-digit manifest number, got {n}"),
        ));
    }
    ev.insert("manifest".into(), json!(format!("{n:014}")));
    for k in ["from", "to"] {
        let u = unpack_uscc(r.take(12, k)?)
            .ok_or_else(|| malformed(k, "expected 18 characters of the USCC alphabet (5 bits each, values below 31) and 6 zero bits"))?;
        ev.insert(k.into(), json!(u));
    }
    let at_in_range = |ms: Option<u64>, what: u64| {
        ms.filter(|ms| *ms <= crate::ledger::time::MAX_UNIX_MILLIS)
            .ok_or_else(|| malformed("at", format!("{what} is after 9999-12-31T23:59:59.999Z")))
    };
    if flags & F_AT_SECONDS != 0 {
        let s = r.uvarint("at")?;
        let ms = at_in_range(s.checked_mul(1000), s)?;
        ev.insert("at".into(), json!(render_at(ms, false)));
    } else if flags & F_AT_MILLIS != 0 {
        let ms = r.uvarint("at")?;
        ev.insert(
            "at".into(),
            json!(render_at(at_in_range(Some(ms), ms)?, true)),
        );
    }
    let count = r.uvarint("line count")?;
    if count > MAX_LINES as u64 {
        return Err(malformed(
            "line count",
            format!("expected at most {MAX_LINES}, got {count}"),
        ));
    }
    let mut lines = Vec::with_capacity(count as usize);
    for i in 0..count {
        let line = r.uvarint(&format!("line {i} number"))?;
        let amount = r.uvarint(&format!("line {i} amount"))?;
        let unit = match r.byte(&format!("line {i} unit"))? {
            b'g' => "g",
            b'm' => "ml",
            b => {
                return Err(malformed(
                    format!("line {i} unit"),
                    format!("expected 'g' or 'm', got 0x{b:02x}"),
                ))
            }
        };
        lines.push(json!({"line": line, "quantity": {"amount": amount, "unit": unit}}));
    }
    ev.insert("lines".into(), Value::Array(lines));
    if flags & F_VEHICLE != 0 {
        ev.insert("vehicle".into(), json!(r.str_max("vehicle", MAX_STR)?));
    }
    if flags & F_DRIVER_ID == F_DRIVER_ID {
        ev.insert(
            "driver_id".into(),
            json!(hex::encode(r.take(32, "driver_id")?)),
        );
    } else if flags & F_DRIVER_HEX != 0 {
        ev.insert("driver".into(), json!(hex::encode(r.take(32, "driver")?)));
    } else if flags & F_DRIVER_STR != 0 {
        let d = r.str_max("driver", MAX_STR)?;
        if is_commitment(&d) {
            return Err(malformed(
                "driver",
                "a commitment (64 hex digits) is coded as 32 bytes, not as a string",
            ));
        }
        ev.insert("driver".into(), json!(d));
    }
    if flags & F_SITE != 0 {
        ev.insert("site".into(), json!(r.str_max("site", MAX_STR)?));
    }
    if flags & F_PLACE != 0 {
        let mut e6 = |f: &str| -> Result<i32, HandoverCodeError> {
            let v = unzigzag(r.uvarint(f)?);
            i32::try_from(v).map_err(|_| malformed(f, format!("expected a 32-bit value, got {v}")))
        };
        let (lat, lon) = (e6("place lat_e6")?, e6("place lon_e6")?);
        ev.insert("place".into(), json!({"lat_e6": lat, "lon_e6": lon}));
    }
    if flags & F_REST != 0 {
        let n = r.uvarint("rest length")?;
        if n > MAX_REST as u64 {
            return Err(malformed(
                "rest length",
                format!("expected at most {MAX_REST} bytes, got {n}"),
            ));
        }
        let raw = r.take(n as usize, "rest")?;
        let Ok(Value::Object(more)) = parse_canonical(raw) else {
            return Err(malformed(
                "rest",
                "expected a JSON object in canonical form (RFC 8785)",
            ));
        };
        if more.is_empty() {
            return Err(malformed(
                "rest",
                "expected at least one field (an empty rest is left out)",
            ));
        }
        for (k, v) in more {
            if ev.contains_key(&k) {
                return Err(malformed(
                    "rest",
                    format!("field {k:?} is in the binary part already"),
                ));
            }
            ev.insert(k, v);
        }
    }
    let key: [u8; 32] = r.take(32, "public key")?.try_into().expect("32 bytes");
    let sig: [u8; 64] = r.take(64, "signature")?.try_into().expect("64 bytes");
    if r.at != bin.len() {
        return Err(malformed(
            "signature",
            format!("{} trailing byte(s) after the signature", bin.len() - r.at),
        ));
    }
    let ev = Value::Object(ev);
    // Integers as the log reads them (within ±(2^53−1)): what no party could have signed is
    // refused here, not read as a number it never was.
    check_integers(&ev, &mut "event".to_string()).map_err(|e| malformed("event", e.to_string()))?;
    let Value::Object(ev) = ev else {
        unreachable!("built as an object")
    };
    let key = VerifyingKey::from_bytes(&key).map_err(|_| {
        malformed(
            "public key",
            "expected an Ed25519 public key (a curve point)",
        )
    })?;
    SignedEvent::from_parts(
        ev,
        vec![EventSignature {
            key: PublicKey(key),
            sig: Signature::from_bytes(&sig),
        }],
    )
    .map_err(|e| malformed("event", e.to_string()))
}
