//! Tests of the token format, rendering and decoding. The vectors file is checked here; to
//! regenerate it after a deliberate format change: `UPDATE_QR_VECTORS=1 cargo test --lib qr::`.

use super::token::put_uvarint;
use super::*;
use crate::domain::codes::{CwType, ManifestNumber, Quantity, Unit, Uscc, WasteCode};
use crate::domain::events::{Container, Form, Line, Stream};
use crate::domain::model::{Manifest, Status, Version};
use crate::ledger::note::NoteVerifier;
use crate::ledger::time::Timestamp;
use data_encoding::BASE32_NOPAD;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const LOG: &str = "kunshan.wasteledger/log";
const OTHER_LOG: &str = "suzhou.wasteledger/log";
/// Test keys: fixed seeds, never used outside tests and the published vectors.
const LOG_SEED: [u8; 32] = [0x11; 32];
const OTHER_SEED: [u8; 32] = [0x22; 32];
const BASE: &str = "https://wl.ks.example";

fn log_key() -> SigningKey {
    SigningKey::from_bytes(&LOG_SEED)
}

fn other_key() -> SigningKey {
    SigningKey::from_bytes(&OTHER_SEED)
}

fn verifier() -> NoteVerifier {
    NoteVerifier::new(LOG, log_key().verifying_key()).unwrap()
}

fn issue_time_s() -> u64 {
    Timestamp::parse("2026-11-28T08:30:00Z")
        .unwrap()
        .unix_millis()
        / 1000
}

fn hw(code: &str, grams: u64) -> TokenLine {
    TokenLine {
        what: LineWhat::HwCode(WasteCode::parse(code).unwrap()),
        quantity: Quantity::new(grams, Unit::G),
    }
}

/// A realistic two-line hazardous manifest: the demo's waste oil and contaminated packaging.
fn manifest_body() -> TokenBody {
    TokenBody {
        kind: TokenKind::Manifest,
        number: ManifestNumber::parse("20263205000123").unwrap(),
        version: 1,
        stream: Stream::Hazardous,
        issue_index: 250_000,
        issued_at_s: issue_time_s(),
        generator: Uscc::parse("91320583MA1MXK7P33").unwrap(),
        destination: "KS-HQ-TRANSFER".into(),
        lines: vec![hw("900-249-08", 336_000), hw("900-041-49", 84_000)],
    }
}

fn container_body() -> TokenBody {
    TokenBody {
        kind: TokenKind::Container {
            line: 0,
            id: "HC-D-0301".into(),
        },
        ..manifest_body()
    }
}

fn construction_body() -> TokenBody {
    TokenBody {
        kind: TokenKind::Manifest,
        number: ManifestNumber::parse("20263205000456").unwrap(),
        version: 2,
        stream: Stream::Construction,
        issue_index: 251_234,
        issued_at_s: issue_time_s() + 3600,
        generator: Uscc::parse("91320583MA1Q4T8L6P").unwrap(),
        destination: "KS-CJ-BACHENG".into(),
        lines: vec![
            TokenLine {
                what: LineWhat::Cw(CwType::ExcavatedSoil),
                quantity: Quantity::new(31_500_000, Unit::G),
            },
            TokenLine {
                what: LineWhat::Cw(CwType::Slurry),
                quantity: Quantity::new(8_000_000, Unit::Ml),
            },
        ],
    }
}

fn signed(body: &TokenBody) -> String {
    sign(body, LOG, &log_key()).unwrap()
}

/// The binary form of a token text.
fn raw(text: &str) -> Vec<u8> {
    BASE32_NOPAD
        .decode(text.strip_prefix("WL").unwrap().as_bytes())
        .unwrap()
}

fn text(bin: &[u8]) -> String {
    format!("WL{}", BASE32_NOPAD.encode(bin))
}

fn uvarint_len(v: u64) -> usize {
    let mut b = Vec::new();
    put_uvarint(&mut b, v);
    b.len()
}

/// The verdict in a word, for comparing outcomes.
fn verdict(r: &Result<TokenBody, TokenError>) -> String {
    match r {
        Ok(_) => "valid".into(),
        Err(TokenError::Malformed { field, .. }) => format!("malformed: {field}"),
        Err(TokenError::UnknownVersion { .. }) => "unknown_version".into(),
        Err(TokenError::OtherLog { .. }) => "other_log".into(),
        Err(TokenError::BadSignature { .. }) => "bad_signature".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn manifest_container_and_construction_tokens_sign_and_verify() {
    for body in [manifest_body(), container_body(), construction_body()] {
        let t = signed(&body);
        assert!(t.starts_with("WL"));
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "{t} is all in QR's alphanumeric set"
        );
        assert_eq!(verify(&t, &verifier()).unwrap(), body);
        // Signing is deterministic: one body, one token.
        assert_eq!(signed(&body), t);
    }
    assert_ne!(signed(&manifest_body()), signed(&container_body()));
}

#[test]
fn varints_round_trip_at_their_edges() {
    for v in [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        u64::from(u32::MAX),
        u64::MAX,
    ] {
        let body = TokenBody {
            issue_index: v,
            issued_at_s: v,
            lines: vec![hw("900-249-08", v)],
            ..manifest_body()
        };
        let got = verify(&signed(&body), &verifier()).unwrap();
        assert_eq!(got, body, "value {v}");
    }
    let mut b = Vec::new();
    put_uvarint(&mut b, 300);
    assert_eq!(b, [0xac, 0x02]);
    put_uvarint(&mut b, u64::MAX);
    assert_eq!(b.len(), 2 + 10);
}

#[test]
fn body_json_is_readable() {
    let v = serde_json::to_value(container_body()).unwrap();
    assert_eq!(
        v,
        json!({
            "kind": {"type": "container", "line": 0, "id": "HC-D-0301"},
            "number": "20263205000123",
            "version": 1,
            "stream": "hazardous",
            "issue_index": 250000,
            "issued_at_s": issue_time_s(),
            "generator": "91320583MA1MXK7P33",
            "destination": "KS-HQ-TRANSFER",
            "lines": [
                {"code": "900-249-08", "quantity": {"amount": 336000, "unit": "g"}},
                {"code": "900-041-49", "quantity": {"amount": 84000, "unit": "g"}}
            ]
        })
    );
    let c = serde_json::to_value(construction_body()).unwrap();
    assert_eq!(c["kind"], json!({"type": "manifest"}));
    assert_eq!(c["lines"][1]["cw_type"], "slurry");
}

fn fold_manifest() -> Manifest {
    let line = |code: &str, ids: &[&str], grams| Line {
        code: Some(WasteCode::parse(code).unwrap()),
        cw_type: None,
        name: "waste".into(),
        form: Form::Liquid,
        hazards: vec![],
        containers: ids
            .iter()
            .map(|id| Container {
                id: id.to_string(),
                packaging: "200 L steel drum".into(),
                quantity: None,
            })
            .collect(),
        quantity: Quantity::new(grams, Unit::G),
        components: None,
        hazardous_components: None,
        precautions: None,
    };
    let issuer = Uscc::parse("91320583MA1MXK7P33").unwrap();
    let time = Timestamp::from_unix_millis(issue_time_s() * 1000 + 789);
    Manifest {
        number: ManifestNumber::parse("20263205000123").unwrap(),
        reference: Some("HC-FW-0412".into()),
        stream: Stream::Hazardous,
        issuer: issuer.clone(),
        origin: "KS-HC-ETDZ".into(),
        issued_at: time,
        issue_index: 250_000,
        status: Status::Issued,
        holder: issuer.clone(),
        vehicle: None,
        versions: vec![
            Version {
                version: 1,
                index: 250_000,
                time,
                destination: "KS-OLD".into(),
                haulers: vec![],
                lines: vec![line("900-249-08", &["HC-D-0301"], 1)],
                reason: None,
            },
            Version {
                version: 2,
                index: 250_010,
                time,
                destination: "KS-HQ-TRANSFER".into(),
                haulers: vec![],
                lines: vec![
                    line("900-249-08", &["HC-D-0301", "HC-D-0302"], 336_000),
                    line("900-041-49", &["HC-B-0117"], 84_000),
                ],
                reason: Some("second drum".into()),
            },
        ]
        .into_iter()
        .map(std::sync::Arc::new)
        .collect(),
        quantities: vec![],
        in_transit_since: None,
        in_transit_index: None,
        return_to: None,
        delivered_at: None,
        accepted: vec![],
        rejected: vec![],
        rejection: None,
        treated: vec![],
        sources: vec![],
        onward: vec![],
        steps: vec![],
        flags: vec![],
        parties: BTreeSet::from([issuer]),
        vehicles: BTreeSet::new(),
    }
}

#[test]
fn of_manifest_takes_the_current_version_and_checks_the_container() {
    let m = fold_manifest();
    let b = TokenBody::of_manifest(&m, None).unwrap();
    assert_eq!(
        b,
        TokenBody {
            version: 2,
            ..manifest_body()
        },
        "the current version, the issuing entry's index and time (whole seconds)"
    );
    let c = TokenBody::of_manifest(&m, Some((0, "HC-D-0302"))).unwrap();
    assert_eq!(
        c.kind,
        TokenKind::Container {
            line: 0,
            id: "HC-D-0302".into()
        }
    );
    let e = TokenBody::of_manifest(&m, Some((1, "HC-D-0302"))).unwrap_err();
    assert_eq!(e.field, "container id");
    assert!(e.detail.contains("not on line 1"), "{e}");
    let e = TokenBody::of_manifest(&m, Some((2, "HC-D-0302"))).unwrap_err();
    assert_eq!(e.field, "container line");
}

#[test]
fn bodies_that_break_the_rules_are_not_signed() {
    let cases: Vec<(TokenBody, &str)> = vec![
        (
            TokenBody {
                lines: vec![],
                ..manifest_body()
            },
            "lines",
        ),
        (
            TokenBody {
                lines: vec![hw("900-249-08", 1); 17],
                ..manifest_body()
            },
            "lines",
        ),
        (
            TokenBody {
                version: 0,
                ..manifest_body()
            },
            "version",
        ),
        (
            TokenBody {
                destination: "x".repeat(65),
                ..manifest_body()
            },
            "destination",
        ),
        (
            TokenBody {
                stream: Stream::Construction,
                ..manifest_body()
            },
            "line 0",
        ),
        (
            TokenBody {
                kind: TokenKind::Container {
                    line: 2,
                    id: "A".into(),
                },
                ..manifest_body()
            },
            "container line",
        ),
        (
            TokenBody {
                kind: TokenKind::Container {
                    line: 0,
                    id: "é".repeat(33),
                },
                ..manifest_body()
            },
            "container id",
        ),
    ];
    for (body, field) in cases {
        assert_eq!(sign(&body, LOG, &log_key()).unwrap_err().field, field);
    }
    // The limits themselves are allowed.
    let full = TokenBody {
        destination: "x".repeat(64),
        lines: vec![hw("900-249-08", 1); 16],
        ..manifest_body()
    };
    assert_eq!(verify(&signed(&full), &verifier()).unwrap(), full);
}

// ---------------------------------------------------------------------------------------------
// Verdicts
// ---------------------------------------------------------------------------------------------

#[test]
fn a_token_of_another_key_or_log_names_both_key_ids() {
    let body = manifest_body();
    let want = hex::encode(verifier().id());
    // Another key under this log's name (a forger's own key): another key id.
    let forged = sign(&body, LOG, &other_key()).unwrap();
    // This log's key under another name, and another log altogether.
    let renamed = sign(&body, OTHER_LOG, &log_key()).unwrap();
    let other = sign(&body, OTHER_LOG, &other_key()).unwrap();
    for t in [forged, renamed, other] {
        let e = verify(&t, &verifier()).unwrap_err();
        let TokenError::OtherLog { seen, expected, .. } = &e else {
            panic!("expected OtherLog, got {e:?}");
        };
        assert_eq!(*expected, verifier().id());
        assert_eq!(*seen, raw(&t)[raw(&t).len() - 68..][..4]);
        let msg = e.to_string();
        assert!(
            msg.contains(&want) && msg.contains(&hex::encode(seen)),
            "{msg}"
        );
    }
    // The other log's own verifier accepts its token.
    let v = NoteVerifier::new(OTHER_LOG, other_key().verifying_key()).unwrap();
    assert_eq!(
        verify(&sign(&body, OTHER_LOG, &other_key()).unwrap(), &v).unwrap(),
        body
    );
}

#[test]
fn an_altered_signature_or_body_is_a_bad_signature() {
    let t = signed(&manifest_body());
    let bin = raw(&t);
    // Same key id, one bit of the signature flipped (in S, and in R).
    for at in [bin.len() - 1, bin.len() - 64] {
        let mut b = bin.clone();
        b[at] ^= 0x01;
        assert_eq!(verdict(&verify(&text(&b), &verifier())), "bad_signature");
    }
    // A signature by another key, carrying this log's key id.
    let forged = raw(&sign(&manifest_body(), LOG, &other_key()).unwrap());
    let mut b = bin.clone();
    let n = b.len();
    b[n - 64..].copy_from_slice(&forged[n - 64..]);
    let e = verify(&text(&b), &verifier()).unwrap_err();
    assert_eq!(verdict(&Err(e.clone())), "bad_signature");
    assert!(e.to_string().contains("forged or altered"), "{e}");
    // One bit of the body flipped: the issue index's lowest bit (still a valid structure).
    let at = 2 + uvarint_len(20263205000123) + 1 + 1;
    let mut b = bin.clone();
    b[at] ^= 0x01;
    let d = decode(&text(&b)).unwrap();
    assert_eq!(
        d.body.issue_index, 250_001,
        "the altered field still parses"
    );
    assert_eq!(verdict(&verify(&text(&b), &verifier())), "bad_signature");
    // A declared quantity changed.
    let mut more = manifest_body();
    more.lines[0].quantity.amount += 1;
    let mut b = more.encode().unwrap();
    b.extend_from_slice(&bin[bin.len() - 68..]);
    assert_eq!(verdict(&verify(&text(&b), &verifier())), "bad_signature");
}

#[test]
fn truncated_trailing_unknown_version_and_garbage_each_get_their_verdict() {
    let t = signed(&container_body());
    let bin = raw(&t);
    let v = verifier();
    // Truncated: one byte short, half, or the signature cut off.
    assert_eq!(
        verdict(&verify(&text(&bin[..bin.len() - 1]), &v)),
        "malformed: signature"
    );
    let e = verify(&text(&bin[..30]), &v).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    // A cut in the text rather than the bytes: 238 base32 characters are no whole number of
    // bytes (a cut to 239 can be 149 whole bytes: then it is truncated in the signature).
    assert_eq!(t.len(), 2 + 240);
    assert_eq!(verdict(&verify(&t[..t.len() - 2], &v)), "malformed: text");
    // Trailing bytes.
    let mut b = bin.clone();
    b.push(0);
    let e = verify(&text(&b), &v).unwrap_err();
    assert_eq!(verdict(&Err(e.clone())), "malformed: signature");
    assert!(e.to_string().contains("1 trailing byte"), "{e}");
    // Unknown version: says what it saw and what it supports.
    let mut b = bin.clone();
    b[0] = 2;
    let e = verify(&text(&b), &v).unwrap_err();
    assert_eq!(
        e,
        TokenError::UnknownVersion {
            seen: 2,
            supported: 1
        }
    );
    assert!(e.to_string().contains("version 2") && e.to_string().contains("version 1"));
    // Garbage, lower case, padding, empty.
    for g in [
        "",
        "hello",
        "WL",
        "WL0189",
        "wl",
        "WLMFRGG===",
        "https://wl.ks.example/m/42",
    ] {
        let r = verify(g, &v);
        assert!(
            matches!(r, Err(TokenError::Malformed { .. })),
            "{g:?} gave {r:?}"
        );
    }
    assert_eq!(verdict(&verify(&t.to_lowercase(), &v)), "malformed: text");
    assert_eq!(verdict(&verify(&format!("{t}="), &v)), "malformed: text");
}

#[test]
fn structure_errors_name_the_field() {
    let body = manifest_body().encode().unwrap();
    let sig = [0u8; 68];
    let with = |b: &[u8]| {
        let mut b = b.to_vec();
        b.extend_from_slice(&sig);
        verify(&text(&b), &verifier()).unwrap_err().to_string()
    };
    // The last byte of a manifest body is the last line's unit.
    let mut b = body.clone();
    *b.last_mut().unwrap() = b'x';
    assert_eq!(
        with(&b),
        "token: line 1 unit: expected 'g' or 'm', got 0x78"
    );
    // Kind, stream.
    let mut b = body.clone();
    b[1] = b'X';
    assert_eq!(
        with(&b),
        "token: kind: expected 'M' (manifest) or 'C' (container), got 0x58"
    );
    let n = uvarint_len(20263205000123);
    let mut b = body.clone();
    b[2 + n + 1] = b'Q';
    assert!(
        with(&b).starts_with("token: stream: expected 'H'"),
        "{}",
        with(&b)
    );
    // A non-minimal varint for the manifest version (1 written as 0x81 0x00).
    let mut b = body[..2 + n].to_vec();
    b.extend_from_slice(&[0x81, 0x00]);
    b.extend_from_slice(&body[2 + n + 1..]);
    assert_eq!(
        with(&b),
        "token: manifest version: bad varint: not minimally encoded (a trailing 0x00 group)"
    );
    // A varint past 64 bits for the manifest number.
    let mut b = body[..2].to_vec();
    b.extend_from_slice(&[0xff; 9]);
    b.push(0x02);
    b.extend_from_slice(&body[2 + n..]);
    assert_eq!(
        with(&b),
        "token: number: bad varint: it does not fit 64 bits"
    );
    // A manifest number of 15 digits, and one whose serial is 000000.
    for (num, want) in [
        (
            100_000_000_000_000u64,
            "token: number: expected a 14-digit manifest number",
        ),
        (
            20_263_205_000_000,
            "token: number: expected a 14-digit manifest number",
        ),
    ] {
        let mut b = body[..2].to_vec();
        put_uvarint(&mut b, num);
        b.extend_from_slice(&body[2 + n..]);
        assert!(with(&b).starts_with(want), "{}", with(&b));
    }
    // A construction type out of range, and a waste code in a construction token.
    let cb = construction_body().encode().unwrap();
    // The first line's kind byte: after the destination and the line count.
    let dest = b"KS-CJ-BACHENG";
    let at = cb.windows(dest.len()).position(|w| w == dest).unwrap() + dest.len() + 1;
    assert_eq!(cb[at], b'T');
    let mut b = cb.clone();
    b[at + 1] = 5;
    assert!(
        with(&b).starts_with("token: line 0 type: expected 0 to 4"),
        "{}",
        with(&b)
    );
    let mut b = cb[..at].to_vec();
    b.push(b'W');
    b.extend_from_slice(&90024908u32.to_be_bytes());
    b.extend_from_slice(&cb[at + 2..]);
    assert!(
        with(&b).starts_with("token: line 0 kind: a construction-stream token carries"),
        "{}",
        with(&b)
    );
    // A bad USCC (check character).
    let mut b = body.clone();
    let g = b
        .windows(18)
        .position(|w| w == b"91320583MA1MXK7P33")
        .unwrap();
    b[g + 17] = b'4';
    assert!(
        with(&b).starts_with("token: generator: expected"),
        "{}",
        with(&b)
    );
    // A container line that is not on the token.
    let cb = container_body().encode().unwrap();
    let mut b = cb.clone();
    let at = cb.len() - 1 - "HC-D-0301".len() - 1;
    assert_eq!(b[at], 0, "the container line index");
    b[at] = 2;
    assert_eq!(
        with(&b),
        "token: container line: expected a line index below 2, got 2"
    );
}

/// The decoding rules of fixtures/qr/FORMAT.md not covered above, one breach each (a rule
/// whose breach is not refused would pass as a genuine token's structure).
#[test]
fn every_other_decoding_rule_of_the_format_refuses_its_breach() {
    let body = manifest_body().encode().unwrap();
    let with = |b: &[u8]| {
        let mut b = b.to_vec();
        b.extend_from_slice(&[0u8; 68]);
        verify(&text(&b), &verifier()).unwrap_err().to_string()
    };
    let splice = |at: usize, len: usize, new: &[u8]| {
        let mut b = body[..at].to_vec();
        b.extend_from_slice(new);
        b.extend_from_slice(&body[at + len..]);
        b
    };
    // Manifest version: at least 1, within u32.
    let n = uvarint_len(20263205000123);
    assert_eq!(body[2 + n], 1);
    assert_eq!(
        with(&splice(2 + n, 1, &[0])),
        "token: manifest version: expected a version from 1, got 0"
    );
    let mut big = Vec::new();
    put_uvarint(&mut big, 1 << 32);
    assert_eq!(
        with(&splice(2 + n, 1, &big)),
        "token: manifest version: expected at most 4294967295, got 4294967296"
    );
    // Generator: 18 ASCII characters.
    let g = body
        .windows(18)
        .position(|w| w == b"91320583MA1MXK7P33")
        .unwrap();
    let b = splice(g, 2, "é".as_bytes());
    assert_eq!(with(&b), "token: generator: expected 18 ASCII characters");
    // Destination: at most 64 bytes of UTF-8.
    let d = g + 18;
    assert_eq!(body[d], 14, "the destination's length");
    let long = [&[65u8][..], &[b'X'; 65]].concat();
    assert_eq!(
        with(&splice(d, 15, &long)),
        "token: destination length: expected at most 64 bytes, got 65"
    );
    let mut b = body.clone();
    b[d + 1] = 0xff;
    assert_eq!(with(&b), "token: destination: expected UTF-8 text");
    // Line count: 1 to 16.
    let c = d + 15;
    assert_eq!(body[c], 2, "the line count");
    for k in [0u8, 17] {
        let mut b = body.clone();
        b[c] = k;
        assert_eq!(
            with(&b),
            format!("token: line count: expected 1 to 16, got {k}")
        );
    }
    // A line's kind: 'W' or 'T', and 'W' only on a hazardous token.
    let l = c + 1;
    assert_eq!(body[l], b'W');
    let mut b = body.clone();
    b[l] = b'Q';
    assert_eq!(
        with(&b),
        "token: line 0 kind: expected 'W' (waste code) or 'T' (construction-waste type), got 0x51"
    );
    assert_eq!(
        with(&splice(l, 5, &[b'T', 0])),
        "token: line 0 kind: a hazardous-stream token carries waste codes ('W'), got a construction-waste type ('T')"
    );
    // A waste code: at most 8 digits, and its category exists (HW41 does not).
    assert_eq!(
        with(&splice(l + 1, 4, &100_000_000u32.to_be_bytes())),
        "token: line 0 code: expected 8 decimal digits, got 100000000"
    );
    assert!(
        with(&splice(l + 1, 4, &90_024_941u32.to_be_bytes()))
            .starts_with("token: line 0 code: expected a hazardous waste code whose last two digits are a category"),
        "{}",
        with(&splice(l + 1, 4, &90_024_941u32.to_be_bytes()))
    );
    // Text: the base32's unused trailing bits must be zero (one token, one text).
    let t = signed(&manifest_body());
    assert_ne!(raw(&t).len() * 8 % 5, 0, "the text has unused bits");
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let last = ALPHABET.find(t.chars().last().unwrap()).unwrap();
    let flipped = format!(
        "{}{}",
        &t[..t.len() - 1],
        &ALPHABET[(last ^ 1)..=(last ^ 1)]
    );
    assert_eq!(verdict(&verify(&flipped, &verifier())), "malformed: text");
    // Strict Ed25519: the same signature with S + L (the group order), which a lax verifier
    // accepts as the same S, is refused.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut bin = raw(&t);
    let s_at = bin.len() - 32;
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(bin[s_at + i]) + u16::from(L[i]) + carry;
        bin[s_at + i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    assert_eq!(verdict(&verify(&text(&bin), &verifier())), "bad_signature");
}

// ---------------------------------------------------------------------------------------------
// Payloads and QR codes
// ---------------------------------------------------------------------------------------------

#[test]
fn payload_token_takes_a_bare_token_or_the_last_segment_of_a_url() {
    let t = signed(&manifest_body());
    let url = url_payload(BASE, &t);
    assert_eq!(url, format!("{BASE}/m/{t}"));
    assert_eq!(url_payload(&format!("{BASE}/"), &t), url);
    for p in [
        t.clone(),
        format!(" {t}\n"),
        url.clone(),
        format!("{url}?src=label"),
        format!("{url}#top"),
        format!("{url}/"),
        format!("HTTPS://WL.KS.EXAMPLE/M/{t}"),
    ] {
        assert_eq!(payload_token(&p).unwrap(), t, "{p:?}");
    }
    for p in [
        "".to_string(),
        "hello".into(),
        "https://wl.ks.example/m/20263205000123".into(),
        format!("{BASE}/m/{}", t.to_lowercase()),
        format!("{t}?x=1"),
        format!("{BASE}/m/{t}x"),
        "WL".into(),
    ] {
        let e = payload_token(&p).unwrap_err();
        assert!(
            matches!(&e, TokenError::Malformed { field, .. } if field == "payload"),
            "{p:?}: {e:?}"
        );
    }
    assert_eq!(verify_payload(&url, &verifier()).unwrap(), manifest_body());
}

#[test]
fn rendered_png_decodes_and_verifies_bare_and_as_url() {
    for (body, url) in [
        (manifest_body(), false),
        (container_body(), true),
        (construction_body(), true),
    ] {
        let t = signed(&body);
        let payload = if url {
            url_payload(BASE, &t)
        } else {
            t.clone()
        };
        let png_bytes = png(&payload, 4).unwrap();
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        let found = decode_image(&png_bytes).unwrap();
        assert_eq!(found, vec![payload.clone()]);
        assert_eq!(verify_payload(&found[0], &verifier()).unwrap(), body);
        // The image is the code plus a 4-module quiet zone on each side, 4 px a module.
        let img = image::load_from_memory(&png_bytes).unwrap();
        let modules = 17 + 4 * qr_version(&payload).unwrap() as u32;
        assert_eq!(img.width(), (modules + 8) * 4);
        let s = svg(&payload).unwrap();
        assert!(s.contains("<svg") && s.contains("viewBox"), "{s}");
    }
}

/// A phone's photo of the code of `payload`, roughly: scaled to 70% (modules no longer whole
/// pixels), low contrast, deterministic noise, JPEG.
pub(super) fn rough_photo(payload: &str) -> Vec<u8> {
    let img = image::load_from_memory(&png(payload, 6).unwrap())
        .unwrap()
        .to_luma8();
    let (w, h) = (img.width() * 7 / 10, img.height() * 7 / 10);
    let mut small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    let mut seed: u32 = 12345;
    for p in small.pixels_mut() {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let noise = (seed >> 16) % 41;
        p.0[0] = (40 + u32::from(p.0[0]) * 160 / 255 + noise) as u8;
    }
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(small)
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    jpeg.into_inner()
}

#[test]
fn a_scaled_noisy_jpeg_photo_still_decodes() {
    let t = signed(&container_body());
    let payload = url_payload(BASE, &t);
    let found = decode_image(&rough_photo(&payload)).unwrap();
    assert_eq!(found, vec![payload.clone()]);
    assert_eq!(
        verify_payload(&found[0], &verifier()).unwrap(),
        container_body()
    );
}

#[test]
fn images_without_a_code_are_refused_clearly() {
    assert!(matches!(
        decode_image(b"not an image"),
        Err(ScanError::NotAnImage(_))
    ));
    let blank = image::GrayImage::from_pixel(200, 120, image::Luma([255]));
    let mut b = std::io::Cursor::new(Vec::new());
    blank.write_to(&mut b, image::ImageFormat::Png).unwrap();
    let e = decode_image(b.get_ref()).unwrap_err();
    assert_eq!(
        e,
        ScanError::NoCode {
            width: 200,
            height: 120
        }
    );
    assert_eq!(e.to_string(), "image: no QR code found (200x120 pixels)");
}

/// The QR versions FORMAT.md states, measured: a realistic two-line manifest token, bare, and a
/// container token behind a URL.
#[test]
fn realistic_tokens_fit_the_stated_qr_versions() {
    let m = signed(&manifest_body());
    let c = url_payload(BASE, &signed(&container_body()));
    let (vm, vc) = (qr_version(&m).unwrap(), qr_version(&c).unwrap());
    let mu = url_payload(BASE, &m);
    let vmu = qr_version(&mu).unwrap();
    let cb = signed(&container_body());
    let vcb = qr_version(&cb).unwrap();
    println!(
        "manifest token: {} bytes, {} chars, version {vm}; as URL {} chars, version {vmu}",
        raw(&m).len(),
        m.len(),
        mu.len()
    );
    println!(
        "container token: {} bytes, {} chars, version {vcb}; as URL {} chars, version {vc}",
        raw(&cb).len(),
        cb.len(),
        c.len()
    );
    assert_eq!((vm, vmu, vcb, vc), (9, 9, 9, 10));
    // The other levels, for the choice FORMAT.md explains.
    let at = |p: &str, l| match qrcode::QrCode::with_error_correction_level(p, l)
        .unwrap()
        .version()
    {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
    };
    use qrcode::EcLevel::{H, L, Q};
    let others = [L, Q, H].map(|l| (at(&m, l), at(&c, l)));
    println!("L, Q, H (manifest bare, container URL): {others:?}");
    assert_eq!(others, [(8, 8), (11, 12), (12, 15)]);
    // The largest token: 16 lines with amounts of tonnes, a 64-byte destination and container.
    let big = TokenBody {
        kind: TokenKind::Container {
            line: 15,
            id: "C".repeat(64),
        },
        destination: "D".repeat(64),
        lines: vec![hw("900-249-08", 99_000_000); 16],
        ..manifest_body()
    };
    let b = url_payload(BASE, &signed(&big));
    println!(
        "largest: {} chars as URL, version {}",
        b.len(),
        qr_version(&b).unwrap()
    );
    assert_eq!(qr_version(&b).unwrap(), 17);
    assert_eq!(raw(&m).len(), 139);
    assert_eq!(raw(&cb).len(), 150);
}

// ---------------------------------------------------------------------------------------------
// The published vectors
// ---------------------------------------------------------------------------------------------

fn vector(name: &str, body: &TokenBody, payload_base: Option<&str>) -> Value {
    let t = signed(body);
    let bin = raw(&t);
    let n = bin.len();
    json!({
        "name": name,
        "body": body,
        "body_hex": hex::encode(&bin[..n - 68]),
        "key_id_hex": hex::encode(&bin[n - 68..n - 64]),
        "signature_hex": hex::encode(&bin[n - 64..]),
        "token": t,
        "payload": payload_base.map_or(t.clone(), |b| url_payload(b, &t)),
    })
}

fn invalid(name: &str, token: String, verdict: &str) -> Value {
    json!({"name": name, "token": token, "verdict": verdict})
}

fn vectors() -> Value {
    let m = signed(&manifest_body());
    let bin = raw(&m);
    let n = bin.len();
    let mut bad_sig = bin.clone();
    bad_sig[n - 1] ^= 1;
    let mut bad_body = bin.clone();
    bad_body[2 + uvarint_len(20263205000123) + 2] ^= 1;
    let mut v2 = bin.clone();
    v2[0] = 2;
    let mut trailing = bin.clone();
    trailing.push(0);
    let signer = |seed: &[u8; 32], name: &str| {
        let k = SigningKey::from_bytes(seed);
        json!({
            "name": name,
            "ed25519_seed_hex": hex::encode(seed),
            "verifier_key": NoteVerifier::new(name, k.verifying_key()).unwrap().to_string(),
            "key_id_hex": hex::encode(crate::ledger::note::key_id(name, &k.verifying_key())),
        })
    };
    json!({
        "description": "wasteledger QR manifest tokens, format v1 (fixtures/qr/FORMAT.md). TEST KEYS ONLY. Generated and re-checked by src/qr/tests.rs; regenerate with UPDATE_QR_VECTORS=1 cargo test --lib qr::",
        "signing_context": String::from_utf8(SIGNING_CONTEXT.to_vec()).unwrap(),
        "log": signer(&LOG_SEED, LOG),
        "other_log": signer(&OTHER_SEED, OTHER_LOG),
        "valid": [
            vector("hazardous manifest, two lines, bare token", &manifest_body(), None),
            vector("container label on line 0, URL payload", &container_body(), Some(BASE)),
            vector("construction manifest, version 2, grams and millilitres", &construction_body(), Some(BASE)),
        ],
        "invalid": [
            invalid("signature bit flipped", text(&bad_sig), "bad_signature"),
            invalid("issue index bit flipped", text(&bad_body), "bad_signature"),
            invalid("signed by the other log", sign(&manifest_body(), OTHER_LOG, &other_key()).unwrap(), "other_log"),
            invalid("format version 2", text(&v2), "unknown_version"),
            invalid("truncated by one byte", text(&bin[..n - 1]), "malformed: signature"),
            invalid("one trailing byte", text(&trailing), "malformed: signature"),
            invalid("lower-case text", m.to_lowercase(), "malformed: text"),
        ],
    })
}

#[test]
fn the_vectors_file_is_current_and_verifies() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/qr/vectors.json");
    let want = vectors();
    if std::env::var_os("UPDATE_QR_VECTORS").is_some() {
        let mut s = serde_json::to_string_pretty(&want).unwrap();
        s.push('\n');
        std::fs::write(path, s).unwrap();
    }
    let contents = std::fs::read_to_string(path).expect("fixtures/qr/vectors.json");
    let file: Value = serde_json::from_str(&contents).unwrap();
    // Checked from the file alone, as another implementation would.
    let log = NoteVerifier::parse(file["log"]["verifier_key"].as_str().unwrap()).unwrap();
    assert_eq!(hex::encode(log.id()), file["log"]["key_id_hex"]);
    for v in file["valid"].as_array().unwrap() {
        let t = v["token"].as_str().unwrap();
        assert_eq!(payload_token(v["payload"].as_str().unwrap()).unwrap(), t);
        let body = verify_payload(v["payload"].as_str().unwrap(), &log).unwrap();
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            v["body"],
            "{}",
            v["name"]
        );
        let bin = raw(t);
        let want_hex = format!(
            "{}{}{}",
            v["body_hex"].as_str().unwrap(),
            v["key_id_hex"].as_str().unwrap(),
            v["signature_hex"].as_str().unwrap()
        );
        assert_eq!(hex::encode(&bin), want_hex, "{}", v["name"]);
    }
    for v in file["invalid"].as_array().unwrap() {
        let got = verify(v["token"].as_str().unwrap(), &log);
        assert_eq!(verdict(&got), v["verdict"], "{}", v["name"]);
    }
    assert!(file["valid"].as_array().unwrap().len() >= 3);
    // And the file is what this code generates now: the format has not drifted.
    assert_eq!(
        file, want,
        "fixtures/qr/vectors.json is stale: regenerate with UPDATE_QR_VECTORS=1 cargo test --lib qr:: if the change is deliberate"
    );
}
