//! The token format v1 (fixtures/qr/FORMAT.md): the binary body, the log's Ed25519 signature
//! over a domain-separated message, and the text form `WL` + base32.

use super::{
    check_line_stream, BodyError, LineWhat, TokenBody, TokenKind, TokenLine, MAX_LINES, MAX_STR,
};
use crate::domain::codes::{CwType, ManifestNumber, Quantity, Unit, Uscc, WasteCode};
use crate::domain::events::Stream;
use crate::ledger::note::{key_id, NoteVerifier};
use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signature, Signer, SigningKey};

/// The format version this code writes and reads.
pub const FORMAT_VERSION: u8 = 0x01;
/// What the log signs: these bytes, then the body.
pub const SIGNING_CONTEXT: &[u8] = b"wasteledger/v1/qr-token\n";
/// The text form: this prefix, then unpadded upper-case RFC 4648 base32 of the binary.
pub const TEXT_PREFIX: &str = "WL";

const KIND_MANIFEST: u8 = b'M';
const KIND_CONTAINER: u8 = b'C';
const STREAM_HAZARDOUS: u8 = b'H';
const STREAM_CONSTRUCTION: u8 = b'C';
const LINE_CODE: u8 = b'W';
const LINE_TYPE: u8 = b'T';
const UNIT_G: u8 = b'g';
const UNIT_ML: u8 = b'm';
const KEY_ID_LEN: usize = 4;
const SIG_LEN: usize = 64;
/// The largest manifest number: 14 nines.
pub(super) const MAX_NUMBER: u64 = 99_999_999_999_999;
/// The largest waste code: 8 digits.
const MAX_CODE: u32 = 99_999_999;

/// Why a token was refused. A scanner shows these verdicts as they are.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all, not base32, or a structure that does not parse: the field and why.
    #[error("token: {field}: {detail}")]
    Malformed { field: String, detail: String },
    /// A token of another format version.
    #[error(
        "token: format version {seen} is not supported (this reader supports version {supported})"
    )]
    UnknownVersion { seen: u8, supported: u8 },
    /// Signed by a key other than this log's (another log, or a key that is not the log's).
    #[error(
        "token: signed by key id {}, not by the log {log}'s key id {}: a token of another log, or not of a log at all",
        hex::encode(seen), hex::encode(expected)
    )]
    OtherLog {
        seen: [u8; 4],
        expected: [u8; 4],
        log: String,
    },
    /// The key id is this log's but the signature does not verify: forged or altered.
    #[error("token: the signature does not verify under the log {log}'s key: the token is forged or altered")]
    BadSignature { log: String },
}

fn malformed(field: impl Into<String>, detail: impl Into<String>) -> TokenError {
    TokenError::Malformed {
        field: field.into(),
        detail: detail.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

pub(super) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

impl TokenBody {
    /// The binary body (fields 1 to 12 of FORMAT.md), after [`TokenBody::check`].
    pub fn encode(&self) -> Result<Vec<u8>, BodyError> {
        self.check()?;
        let mut out = Vec::with_capacity(96);
        out.push(FORMAT_VERSION);
        out.push(match self.kind {
            TokenKind::Manifest => KIND_MANIFEST,
            TokenKind::Container { .. } => KIND_CONTAINER,
        });
        put_uvarint(
            &mut out,
            self.number.as_str().parse().expect("14 digits fit a u64"),
        );
        put_uvarint(&mut out, self.version.into());
        out.push(match self.stream {
            Stream::Hazardous => STREAM_HAZARDOUS,
            Stream::Construction => STREAM_CONSTRUCTION,
        });
        put_uvarint(&mut out, self.issue_index);
        put_uvarint(&mut out, self.issued_at_s);
        out.extend_from_slice(self.generator.as_str().as_bytes());
        put_str(&mut out, &self.destination);
        put_uvarint(&mut out, self.lines.len() as u64);
        for l in &self.lines {
            match &l.what {
                LineWhat::HwCode(c) => {
                    out.push(LINE_CODE);
                    let digits: u32 = c.as_str().replace('-', "").parse().expect("8 digits");
                    out.extend_from_slice(&digits.to_be_bytes());
                }
                LineWhat::Cw(t) => {
                    out.push(LINE_TYPE);
                    out.push(cw_byte(*t));
                }
            }
            put_uvarint(&mut out, l.quantity.amount);
            out.push(match l.quantity.unit {
                Unit::G => UNIT_G,
                Unit::Ml => UNIT_ML,
            });
        }
        if let TokenKind::Container { line, id } = &self.kind {
            put_uvarint(&mut out, (*line).into());
            put_str(&mut out, id);
        }
        Ok(out)
    }
}

fn cw_byte(t: CwType) -> u8 {
    match t {
        CwType::ExcavatedSoil => 0,
        CwType::Slurry => 1,
        CwType::SiteWaste => 2,
        CwType::Demolition => 3,
        CwType::Renovation => 4,
    }
}

/// The message the log signs: the signing context, then the body.
fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_CONTEXT.len() + body.len());
    m.extend_from_slice(SIGNING_CONTEXT);
    m.extend_from_slice(body);
    m
}

/// Sign a token body with the log's key and return its text form (`WL…`). `log_name` is the
/// log's name (its checkpoint origin): with the key it makes the key id a verifier matches.
/// Refused only if the body breaks a rule of [`TokenBody::check`].
pub fn sign(body: &TokenBody, log_name: &str, key: &SigningKey) -> Result<String, BodyError> {
    let mut bin = body.encode()?;
    let sig = key.sign(&signed_message(&bin));
    bin.extend_from_slice(&key_id(log_name, &key.verifying_key()));
    bin.extend_from_slice(&sig.to_bytes());
    Ok(format!("{TEXT_PREFIX}{}", BASE32_NOPAD.encode(&bin)))
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], TokenError> {
        let left = self.bytes.len() - self.at;
        if left < n {
            return Err(malformed(
                field,
                format!("the token ends here (truncated): {n} byte(s) needed, {left} left"),
            ));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    pub(super) fn byte(&mut self, field: &str) -> Result<u8, TokenError> {
        Ok(self.take(1, field)?[0])
    }

    /// Unsigned LEB128, minimally encoded, at most 10 bytes, within 64 bits.
    pub(super) fn uvarint(&mut self, field: &str) -> Result<u64, TokenError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte(field)?;
            if i == 9 && b > 1 {
                return Err(malformed(field, "bad varint: it does not fit 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(malformed(
                        field,
                        "bad varint: not minimally encoded (a trailing 0x00 group)",
                    ));
                }
                return Ok(v);
            }
        }
        unreachable!("the tenth byte either ends the varint or is refused")
    }

    pub(super) fn uvarint_u32(&mut self, field: &str) -> Result<u32, TokenError> {
        let v = self.uvarint(field)?;
        u32::try_from(v)
            .map_err(|_| malformed(field, format!("expected at most {}, got {v}", u32::MAX)))
    }

    fn str(&mut self, field: &str) -> Result<String, TokenError> {
        self.str_max(field, MAX_STR)
    }

    /// A str of at most `max` bytes.
    pub(super) fn str_max(&mut self, field: &str, max: usize) -> Result<String, TokenError> {
        let n = self.uvarint(&format!("{field} length"))?;
        if n > max as u64 {
            return Err(malformed(
                format!("{field} length"),
                format!("expected at most {max} bytes, got {n}"),
            ));
        }
        let raw = self.take(n as usize, field)?;
        String::from_utf8(raw.to_vec()).map_err(|_| malformed(field, "expected UTF-8 text"))
    }
}

fn expected_byte(field: &str, what: &str, got: u8) -> TokenError {
    malformed(field, format!("expected {what}, got 0x{got:02x}"))
}

/// A token read and parsed, its signature not yet checked: for display as "unverified" and for
/// diagnosis. [`verify`] is `decode` followed by the key id and signature checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub body: TokenBody,
    /// The body bytes exactly as read (what the signature covers after the context).
    pub body_bytes: Vec<u8>,
    pub key_id: [u8; 4],
    pub signature: [u8; 64],
}

impl Decoded {
    /// Check the key id and the signature against the log's verifier key.
    pub fn verify(self, log: &NoteVerifier) -> Result<TokenBody, TokenError> {
        let expected = log.id();
        if self.key_id != expected {
            return Err(TokenError::OtherLog {
                seen: self.key_id,
                expected,
                log: log.name.clone(),
            });
        }
        log.key
            .verify_strict(
                &signed_message(&self.body_bytes),
                &Signature::from_bytes(&self.signature),
            )
            .map_err(|_| TokenError::BadSignature {
                log: log.name.clone(),
            })?;
        Ok(self.body)
    }
}

/// Read a token's text form and parse it, without checking the signature.
pub fn decode(text: &str) -> Result<Decoded, TokenError> {
    let b32 = text.strip_prefix(TEXT_PREFIX).ok_or_else(|| {
        malformed(
            "text",
            format!(
                "expected a token starting with {TEXT_PREFIX:?}, got {:?}",
                shorten(text)
            ),
        )
    })?;
    let bin = BASE32_NOPAD.decode(b32.as_bytes()).map_err(|e| {
        malformed(
            "text",
            format!("expected unpadded upper-case RFC 4648 base32 after {TEXT_PREFIX:?} ({e})"),
        )
    })?;
    decode_binary(&bin)
}

/// Parse the binary form: body, key id, signature, and nothing after.
pub fn decode_binary(bin: &[u8]) -> Result<Decoded, TokenError> {
    let mut r = Reader { bytes: bin, at: 0 };
    let version = r.byte("version")?;
    if version != FORMAT_VERSION {
        return Err(TokenError::UnknownVersion {
            seen: version,
            supported: FORMAT_VERSION,
        });
    }
    let kind = r.byte("kind")?;
    if kind != KIND_MANIFEST && kind != KIND_CONTAINER {
        return Err(expected_byte(
            "kind",
            "'M' (manifest) or 'C' (container)",
            kind,
        ));
    }
    let n = r.uvarint("number")?;
    if n > MAX_NUMBER {
        return Err(malformed(
            "number",
            format!("expected a 14-digit manifest number, got {n}"),
        ));
    }
    let number = ManifestNumber::parse(&format!("{n:014}"))
        .map_err(|e| malformed("number", e.to_string()))?;
    let version = r.uvarint_u32("manifest version")?;
    if version == 0 {
        return Err(malformed(
            "manifest version",
            "expected a version from 1, got 0",
        ));
    }
    let stream = match r.byte("stream")? {
        STREAM_HAZARDOUS => Stream::Hazardous,
        STREAM_CONSTRUCTION => Stream::Construction,
        b => {
            return Err(expected_byte(
                "stream",
                "'H' (hazardous) or 'C' (construction)",
                b,
            ))
        }
    };
    let issue_index = r.uvarint("issue index")?;
    let issued_at_s = r.uvarint("issue time")?;
    let raw = r.take(18, "generator")?;
    let generator = std::str::from_utf8(raw)
        .ok()
        .filter(|s| s.is_ascii())
        .ok_or_else(|| malformed("generator", "expected 18 ASCII characters"))
        .and_then(|s| Uscc::parse(s).map_err(|e| malformed("generator", e.to_string())))?;
    let destination = r.str("destination")?;
    let count = r.uvarint("line count")?;
    if count == 0 || count > MAX_LINES as u64 {
        return Err(malformed(
            "line count",
            format!("expected 1 to {MAX_LINES}, got {count}"),
        ));
    }
    let mut lines = Vec::with_capacity(count as usize);
    for i in 0..count {
        let what = match r.byte(&format!("line {i} kind"))? {
            LINE_CODE => {
                let f = format!("line {i} code");
                let d = u32::from_be_bytes(r.take(4, &f)?.try_into().expect("4 bytes"));
                if d > MAX_CODE {
                    return Err(malformed(f, format!("expected 8 decimal digits, got {d}")));
                }
                let s = format!("{d:08}");
                let text = format!("{}-{}-{}", &s[..3], &s[3..6], &s[6..]);
                LineWhat::HwCode(WasteCode::parse(&text).map_err(|e| malformed(f, e.to_string()))?)
            }
            LINE_TYPE => {
                let f = format!("line {i} type");
                let b = r.byte(&f)?;
                LineWhat::Cw(*CwType::ALL.get(b as usize).ok_or_else(|| {
                    expected_byte(
                        &f,
                        "0 to 4 (excavated_soil, slurry, site_waste, demolition, renovation)",
                        b,
                    )
                })?)
            }
            b => {
                return Err(expected_byte(
                    &format!("line {i} kind"),
                    "'W' (waste code) or 'T' (construction-waste type)",
                    b,
                ))
            }
        };
        check_line_stream(stream, &what).map_err(|d| malformed(format!("line {i} kind"), d))?;
        let amount = r.uvarint(&format!("line {i} amount"))?;
        let unit = match r.byte(&format!("line {i} unit"))? {
            UNIT_G => Unit::G,
            UNIT_ML => Unit::Ml,
            b => return Err(expected_byte(&format!("line {i} unit"), "'g' or 'm'", b)),
        };
        lines.push(TokenLine {
            what,
            quantity: Quantity::new(amount, unit),
        });
    }
    let kind = if kind == KIND_CONTAINER {
        let line = r.uvarint_u32("container line")?;
        if line as u64 >= count {
            return Err(malformed(
                "container line",
                format!("expected a line index below {count}, got {line}"),
            ));
        }
        let id = r.str("container id")?;
        TokenKind::Container { line, id }
    } else {
        TokenKind::Manifest
    };
    let body_bytes = bin[..r.at].to_vec();
    let key_id: [u8; KEY_ID_LEN] = r.take(KEY_ID_LEN, "key id")?.try_into().expect("4 bytes");
    let signature: [u8; SIG_LEN] = r.take(SIG_LEN, "signature")?.try_into().expect("64 bytes");
    if r.at != bin.len() {
        return Err(malformed(
            "signature",
            format!("{} trailing byte(s) after the signature", bin.len() - r.at),
        ));
    }
    let body = TokenBody {
        kind,
        number,
        version,
        stream,
        issue_index,
        issued_at_s,
        generator,
        destination,
        lines,
    };
    Ok(Decoded {
        body,
        body_bytes,
        key_id,
        signature,
    })
}

/// Read a token's text form, check that the log signed it, and return what it says.
pub fn verify(text: &str, log: &NoteVerifier) -> Result<TokenBody, TokenError> {
    decode(text)?.verify(log)
}

/// [`payload_token`] then [`verify`]: what a scanner does with a code's content.
pub fn verify_payload(payload: &str, log: &NoteVerifier) -> Result<TokenBody, TokenError> {
    verify(payload_token(payload)?, log)
}

// ---------------------------------------------------------------------------------------------
// QR payloads
// ---------------------------------------------------------------------------------------------

/// The URL form of a token: `{public_base}/m/{token}` (a trailing `/` of the base is dropped).
pub fn url_payload(public_base: &str, token: &str) -> String {
    format!("{}/m/{token}", public_base.trim_end_matches('/'))
}

/// The token in a QR payload: the payload itself when it is a bare token, or the last path
/// segment of a URL (query and fragment ignored) when that starts with `WL`. Only the shape is
/// checked here; [`verify`] checks the rest.
pub fn payload_token(payload: &str) -> Result<&str, TokenError> {
    let p = payload.trim();
    let no_suffix = p.split(['?', '#']).next().unwrap_or("");
    let last = no_suffix
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    let is_token = |s: &str| {
        s.len() > TEXT_PREFIX.len()
            && s.starts_with(TEXT_PREFIX)
            && s[TEXT_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    };
    if is_token(last) && (last.len() == p.len() || no_suffix.contains('/')) {
        return Ok(last);
    }
    Err(malformed(
        "payload",
        format!(
            "expected a token (WL followed by upper-case base32) or a URL whose last path segment is one, such as https://host/m/WL…, got {:?}",
            shorten(p)
        ),
    ))
}

fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}
