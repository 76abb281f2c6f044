//! The hand-over's routes for the manifest page (`page-handover.js`): a half-signed hand-over
//! from the pending tree, as JSON with its hand-over code (`WLH1…`), and as that code drawn for
//! the other party's phone to scan. Served only to the two parties the half names, by their
//! session (a page's GET carries the cookie): the half holds quantities, parties and the truck.

use super::super::auth::SeenRequests;
use super::super::reader::{live, viewer, Viewer};
use super::super::Problem;
use crate::domain::access::Access;
use crate::domain::DomainRules;
use crate::ledger::event::SignedEvent;
use crate::store::Ledger;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/pending/{hash}", web::get().to(pending_json))
        .route("/app/pending/{hash}/qr.svg", web::get().to(pending_qr));
}

/// The half `hash` names, if the signed-in party is its giver or taker; with where it is
/// (`Some(index)` once the completed hand-over is in the log).
fn half(
    req: &HttpRequest,
    ledger: &Ledger,
    rules: &DomainRules,
    seen: &SeenRequests,
    hash: &str,
) -> Result<(SignedEvent, Option<u64>), Problem> {
    let bytes: [u8; 32] = hex::decode(hash)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Problem::bad_request(Some("hash"), "path `hash`: expected 64 hex digits"))?;
    let who = viewer(req, seen, &*live(rules)?)?;
    let Viewer::Party { id, .. } = who else {
        return Err(Problem::new(
            401,
            "unauthenticated",
            "Sign in",
            "a half-signed hand-over is shown to its two parties: sign in on this device first",
        )
        .field("Authorization"));
    };
    let not_found = || {
        Problem::new(
            404,
            "not-found",
            "Not found",
            format!("no pending hand-over {hash} for {id}"),
        )
        .field("hash")
    };
    let ev = ledger
        .pending_by_hash(&bytes)?
        .and_then(|b| SignedEvent::parse(&b).ok())
        .ok_or_else(not_found)?;
    let side = |k: &str| ev.event().get(k).and_then(Value::as_str);
    // Its two parties only (here even those who see everything go by the API's route).
    if !Access::Party(id.clone()).may_see_handover(side("from"), side("to")) {
        // The same answer as for no half at all: a hash tells no one else anything.
        return Err(not_found());
    }
    let done = ledger.event_index(&bytes)?;
    Ok((ev, done))
}

fn code_of(ev: &SignedEvent) -> Result<String, Problem> {
    crate::qr::encode_handover(ev).map_err(|e| {
        Problem::new(
            422,
            "unencodable",
            "Cannot be shown as a code",
            e.to_string(),
        )
        .field("event")
    })
}

/// `GET /app/pending/{hash}`: the half, its hand-over code, and whether the log has the
/// completed hand-over (`completed`, `completed_index`): what the page polls.
async fn pending_json(
    req: HttpRequest,
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (ev, done) = half(&req, &ledger, &rules, &seen, &path)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "hash": path.as_str(),
            "completed": done.is_some(),
            "completed_index": done,
            "code": code_of(&ev)?,
            "signed_by": ev.signers().map(|k| k.to_string()).collect::<Vec<_>>(),
            "event": Value::Object(ev.event().clone()),
        })))
}

/// `GET /app/pending/{hash}/qr.svg`: the half's hand-over code as a QR code.
async fn pending_qr(
    req: HttpRequest,
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (ev, _) = half(&req, &ledger, &rules, &seen, &path)?;
    super::super::qr::svg_answer(&code_of(&ev)?)
}
