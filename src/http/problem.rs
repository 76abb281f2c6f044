//! RFC 9457 problem details: every error the API gives is one of these, naming the field.

use crate::ledger::canonical::CanonicalError;
use crate::ledger::event::EventError;
use crate::ledger::state::Refusal;
use crate::store::{ProofRequestError, StoreError, SubmitError, DAMAGE_STEP};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

#[derive(Debug, Serialize, Clone)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a replay: where the event already is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_index: Option<u64>,
    /// Seconds to wait before trying again: sent as the `Retry-After` header.
    #[serde(skip)]
    pub retry_after: Option<u16>,
}

impl Problem {
    pub fn new(status: u16, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:wasteledger:problem:{kind}"),
            title: title.into(),
            status,
            detail: detail.into(),
            field: None,
            existing_index: None,
            retry_after: None,
        }
    }

    /// 503: try again in `secs` seconds (`Retry-After`).
    pub fn unavailable(kind: &str, title: &str, detail: impl Into<String>, secs: u16) -> Self {
        let mut p = Problem::new(503, kind, title, detail);
        p.retry_after = Some(secs);
        p
    }

    pub fn field(mut self, f: impl Into<String>) -> Self {
        self.field = Some(f.into());
        self
    }

    pub fn bad_request(field: Option<&str>, detail: impl Into<String>) -> Self {
        let p = Problem::new(400, "bad-request", "Bad request", detail);
        match field {
            Some(f) => p.field(f),
            None => p,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.title, self.status, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        r.content_type("application/problem+json");
        if let Some(secs) = self.retry_after {
            r.insert_header(("retry-after", secs.to_string()));
        }
        r.json(self)
    }
}

impl From<EventError> for Problem {
    fn from(e: EventError) -> Self {
        let detail = e.to_string();
        match e {
            EventError::Canonical(CanonicalError::Malformed(_)) => {
                Problem::new(400, "malformed-json", "Malformed JSON", detail)
            }
            EventError::Canonical(CanonicalError::NotCanonical { .. }) => {
                Problem::new(400, "not-canonical", "Not canonical JSON", detail).field("(body)")
            }
            EventError::Canonical(CanonicalError::NotAnInteger { field, .. }) => {
                Problem::new(400, "not-an-integer", "Number is not an integer", detail).field(field)
            }
            EventError::Field { field, .. } => {
                Problem::new(400, "bad-field", "Bad field", detail).field(field)
            }
            EventError::BadSignature { index, .. } => {
                Problem::new(422, "bad-signature", "Signature does not verify", detail)
                    .field(format!("signatures[{index}].sig"))
            }
        }
    }
}

impl From<SubmitError> for Problem {
    fn from(e: SubmitError) -> Self {
        let detail = e.to_string();
        match e {
            SubmitError::Replay { index } => {
                let mut p =
                    Problem::new(409, "replay", "Event already in the log", detail).field("event");
                p.existing_index = Some(index);
                p
            }
            SubmitError::Refused(r) => match r {
                Refusal::Field { field, .. } => {
                    Problem::new(422, "refused", "Event refused", detail).field(field)
                }
                Refusal::UnknownKey { .. } => {
                    Problem::new(403, "unknown-key", "Signer not registered", detail)
                        .field("signatures")
                }
                Refusal::RevokedKey { .. } => {
                    Problem::new(403, "revoked-key", "Signer's key revoked", detail)
                        .field("signatures")
                }
                Refusal::ExpiredKey { .. } => {
                    Problem::new(403, "expired-key", "Signer's device key expired", detail)
                        .field("signatures")
                }
                Refusal::NotAuthority { .. } => Problem::new(
                    403,
                    "not-authority",
                    "Needs the authority's signature",
                    detail,
                )
                .field("signatures"),
                Refusal::Signer { field, .. } => Problem::new(
                    403,
                    "wrong-signer",
                    "Not signed by the parties to this step",
                    detail,
                )
                .field(field),
                Refusal::Unknown { field, .. } => Problem::new(
                    422,
                    "unknown-reference",
                    "Refers to something the log does not hold",
                    detail,
                )
                .field(field),
                Refusal::NotHolder { field, .. } => Problem::new(
                    409,
                    "not-holder",
                    "The party does not hold the load",
                    detail,
                )
                .field(field),
                Refusal::State { field, .. } => Problem::new(
                    409,
                    "wrong-state",
                    "Not possible in the current state",
                    detail,
                )
                .field(field),
                Refusal::Rule(_) => Problem::new(422, "refused", "Event refused", detail),
            },
            SubmitError::Signature(e) => e.into(),
            SubmitError::TooLarge { .. } => {
                Problem::new(413, "too-large", "Event too large", detail).field("event")
            }
            SubmitError::TooManyWaiting { .. } => Problem::new(
                409,
                "too-many-pending",
                "Too many hand-overs waiting",
                detail,
            )
            .field("event.manifest"),
            SubmitError::Busy => Problem::unavailable("busy", "Log busy", detail, 1),
            SubmitError::Storage(_) => {
                Problem::unavailable("storage-failed", "Log storage failed", detail, 2)
            }
            SubmitError::Stopped => Problem::new(503, "unavailable", "Log unavailable", detail),
            SubmitError::Damaged(_) => Problem::new(503, "damaged", "Log database damaged", detail),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        tracing::error!("store: {e}");
        if e.is_transient() {
            return Problem::unavailable(
                "storage-failed",
                "Log storage failed",
                format!("the log's storage failed ({e}); what is durable is served again once the store has reopened it, try again shortly"),
                2,
            );
        }
        if let StoreError::Damaged(_) = e {
            return Problem::new(
                500,
                "damaged",
                "Log database damaged",
                format!("{e}. Nothing is served from the damaged part: {DAMAGE_STEP}"),
            );
        }
        Problem::new(500, "store", "Storage error", e.to_string())
    }
}

impl From<ProofRequestError> for Problem {
    fn from(e: ProofRequestError) -> Self {
        match e {
            ProofRequestError::Range { field, detail } => Problem::bad_request(Some(field), detail),
            ProofRequestError::Store(s) => s.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that meets damaged storage names what was found and the operator's step; other
    /// storage errors keep their own type and do not send the operator to `verify`.
    #[test]
    fn damage_found_on_a_read_says_what_and_what_the_operator_runs() {
        let p = Problem::from(StoreError::Damaged(
            "the entries stored from index 12 are not a run of entries: a compressed run cut short"
                .into(),
        ));
        assert_eq!(p.status, 500);
        assert_eq!(p.kind, "urn:wasteledger:problem:damaged");
        assert!(
            p.detail.starts_with("the entries stored from index 12"),
            "{}",
            p.detail
        );
        assert!(
            p.detail
                .contains("stop the server, run `wasteledger verify`"),
            "{}",
            p.detail
        );
        let p = Problem::from(StoreError::Corrupt("entry 3: not JSON".into()));
        assert_eq!(p.kind, "urn:wasteledger:problem:store");
        assert!(!p.detail.contains("wasteledger verify"), "{}", p.detail);
    }
}
