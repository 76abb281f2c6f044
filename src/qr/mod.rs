//! PURE: signed manifest tokens, their QR codes, and reading codes back from photos.
//!
//! A token is the face of a manifest (or of one container on it): the manifest number and
//! version, stream, generator, destination, issue time and the log index of the issuing entry,
//! and each line's waste code or construction-waste type with its declared quantity, signed by
//! the log's key so that a scanner holding only the log's verifier key (`GET /v1/log/key`)
//! checks it offline. The byte layout, the text and URL forms and the QR choices are a contract
//! for other implementations: `fixtures/qr/FORMAT.md`, with vectors in `fixtures/qr/vectors.json`.
//!
//! Like `domain/` and `ledger/`, this module does no I/O: bytes in, bytes out.
//!
//! - `token`: the binary body, `sign`, `decode`, `verify`, the text form and `payload_token`.
//! - `handover`: the hand-over code (`WLH1…`): a hand-over signed by one party, its canonical
//!   JSON body carried field by field in binary and rebuilt byte for byte by the decoder.
//! - `render`: `svg`, `png` and `terminal` (error-correction level M, 4-module quiet zone), and
//!   `decode_image` (rqrr) for PNG or JPEG photos.

mod handover;
mod render;
mod token;

#[cfg(test)]
mod handover_tests;
#[cfg(test)]
mod tests;

pub use handover::{
    decode_handover, encode_handover, is_handover_code, HandoverCodeError, HANDOVER_PREFIX,
    MAX_REST,
};
pub use render::{decode_image, png, qr_version, svg, terminal, RenderError, ScanError, EC_LEVEL};
pub use token::{
    decode, decode_binary, payload_token, sign, url_payload, verify, verify_payload, Decoded,
    TokenError, FORMAT_VERSION, SIGNING_CONTEXT, TEXT_PREFIX,
};

use crate::domain::codes::{CwType, ManifestNumber, Quantity, Uscc, WasteCode};
use crate::domain::events::Stream;
use crate::domain::model::Manifest;
use crate::ledger::time::Timestamp;
use serde::Serialize;

/// The most lines a token carries.
pub const MAX_LINES: usize = 16;
/// The longest string (destination site id, container id), in UTF-8 bytes.
pub const MAX_STR: usize = 64;

/// What a token stands for: a whole manifest, or one container on one of its lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TokenKind {
    Manifest,
    /// A container label ("one item, one code"): the line (0-based) and the container's id.
    Container {
        line: u32,
        id: String,
    },
}

/// What a line carries: a hazardous waste code, or a construction-waste type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum LineWhat {
    #[serde(rename = "code")]
    HwCode(WasteCode),
    #[serde(rename = "cw_type")]
    Cw(CwType),
}

/// One line of the token: its waste and declared quantity. JSON:
/// `{"code": "900-249-08", "quantity": {"amount": 336000, "unit": "g"}}` or
/// `{"cw_type": "excavated_soil", "quantity": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenLine {
    #[serde(flatten)]
    pub what: LineWhat,
    pub quantity: Quantity,
}

/// The signed content of a token (format v1). Every field is a domain type that can only hold
/// a valid value; the rules across fields (1 to 16 lines, strings of at most 64 bytes, a version
/// from 1, line kinds that match the stream, a container line that exists) are checked by
/// [`TokenBody::check`], by [`sign`] and by the decoder. Serialises to JSON for display.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenBody {
    pub kind: TokenKind,
    pub number: ManifestNumber,
    /// The manifest's version: 1 as issued, +1 for each correction.
    pub version: u32,
    pub stream: Stream,
    /// The log index of the entry that issued the manifest.
    pub issue_index: u64,
    /// The log time of that entry, whole seconds since the Unix epoch.
    pub issued_at_s: u64,
    /// The party that issued the manifest (the generator, or the station for an outgoing load).
    pub generator: Uscc,
    /// The destination site id.
    pub destination: String,
    pub lines: Vec<TokenLine>,
}

/// Why a token body cannot be built or signed: the field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("token body: {field}: {detail}")]
pub struct BodyError {
    pub field: String,
    pub detail: String,
}

impl BodyError {
    pub(crate) fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        BodyError {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

impl TokenBody {
    /// The token of the current version of a manifest, or of one of its containers
    /// (`Some((line, container id))`): refused if that container is not on that line.
    pub fn of_manifest(
        m: &Manifest,
        container: Option<(u32, &str)>,
    ) -> Result<TokenBody, BodyError> {
        let v = m.current();
        let lines = v
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let what = match (&l.code, &l.cw_type) {
                    (Some(c), None) => LineWhat::HwCode(c.clone()),
                    (None, Some(t)) => LineWhat::Cw(*t),
                    _ => return Err(BodyError::new(
                        format!("line {i}"),
                        "expected a waste code or a construction-waste type, not both or neither",
                    )),
                };
                Ok(TokenLine {
                    what,
                    quantity: l.quantity,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let kind = match container {
            None => TokenKind::Manifest,
            Some((line, id)) => {
                let l = v.lines.get(line as usize).ok_or_else(|| {
                    BodyError::new(
                        "container line",
                        format!(
                            "manifest {} (version {}) has {} line(s), there is no line {line}",
                            m.number,
                            v.version,
                            v.lines.len()
                        ),
                    )
                })?;
                if !l.containers.iter().any(|c| c.id == id) {
                    return Err(BodyError::new(
                        "container id",
                        format!(
                            "container {id:?} is not on line {line} of manifest {} (version {}); its containers are {:?}",
                            m.number,
                            v.version,
                            l.containers.iter().map(|c| c.id.as_str()).collect::<Vec<_>>()
                        ),
                    ));
                }
                TokenKind::Container {
                    line,
                    id: id.to_string(),
                }
            }
        };
        let body = TokenBody {
            kind,
            number: m.number.clone(),
            version: v.version,
            stream: m.stream,
            issue_index: m.issue_index,
            issued_at_s: m.issued_at.unix_millis() / 1000,
            generator: m.issuer.clone(),
            destination: v.destination.clone(),
            lines,
        };
        body.check()?;
        Ok(body)
    }

    /// The rules across fields that the types alone do not keep.
    pub fn check(&self) -> Result<(), BodyError> {
        if self.version == 0 {
            return Err(BodyError::new(
                "version",
                "expected a manifest version from 1, got 0",
            ));
        }
        if self.destination.len() > MAX_STR {
            return Err(BodyError::new(
                "destination",
                format!(
                    "expected at most {MAX_STR} bytes, got {}",
                    self.destination.len()
                ),
            ));
        }
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            return Err(BodyError::new(
                "lines",
                format!("expected 1 to {MAX_LINES} lines, got {}", self.lines.len()),
            ));
        }
        for (i, l) in self.lines.iter().enumerate() {
            check_line_stream(self.stream, &l.what)
                .map_err(|d| BodyError::new(format!("line {i}"), d))?;
        }
        if let TokenKind::Container { line, id } = &self.kind {
            if *line as usize >= self.lines.len() {
                return Err(BodyError::new(
                    "container line",
                    format!(
                        "expected a line index below {}, got {line}",
                        self.lines.len()
                    ),
                ));
            }
            if id.len() > MAX_STR {
                return Err(BodyError::new(
                    "container id",
                    format!("expected at most {MAX_STR} bytes, got {}", id.len()),
                ));
            }
        }
        Ok(())
    }

    /// The issue time as a timestamp (whole seconds).
    pub fn issued_at(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.issued_at_s.saturating_mul(1000))
    }
}

/// A hazardous manifest carries waste codes only, a construction one types only.
pub(crate) fn check_line_stream(stream: Stream, what: &LineWhat) -> Result<(), String> {
    match (stream, what) {
        (Stream::Hazardous, LineWhat::HwCode(_)) | (Stream::Construction, LineWhat::Cw(_)) => {
            Ok(())
        }
        (Stream::Hazardous, LineWhat::Cw(_)) => {
            Err("a hazardous-stream token carries waste codes ('W'), got a construction-waste type ('T')".into())
        }
        (Stream::Construction, LineWhat::HwCode(_)) => {
            Err("a construction-stream token carries construction-waste types ('T'), got a waste code ('W')".into())
        }
    }
}
