//! Case bundles over HTTP. `POST /v1/bundles` takes a signed `evidence.exported` event: the log
//! appends it (durable, like any event; the fold refuses a puller who is not enforcement, an
//! inspector or the authority, and manifests that do not exist), then the bundle is built under
//! a checkpoint that covers it and sent back as a file. `GET /v1/exports` lists the pulls, for
//! those who see everything.

use super::auth::SeenRequests;
use super::domain::{live, require_sees_all, viewer, Viewer};
use super::Problem;
use crate::domain::DomainRules;
use crate::investigate::bundle::Plan;
use crate::ledger::event::SignedEvent;
use crate::store::{Head, Ledger};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/bundles", web::post().to(pull))
        .route("/v1/exports", web::get().to(exports));
}

/// THE SEAM where the bundle's checkpoint is chosen: the note (verbatim, with any cosignature
/// lines) and its size. It must cover `export_index`. For now the head's signed checkpoint,
/// which covers every published entry; `Ledger::cosigned_checkpoint(..)` (witnesses) is to be
/// preferred here once it exists, falling back to the head when no cosigned checkpoint covers
/// the export yet.
fn checkpoint_for_bundle(_ledger: &Ledger, head: &Head, export_index: u64) -> Option<(String, u64)> {
    (export_index < head.size).then(|| (head.checkpoint.clone(), head.size))
}

/// A file name for the case: its reference with anything but letters, digits, `-` and `_`
/// replaced, and the export's index.
fn file_name(case: &str, index: u64) -> String {
    let safe: String = case
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(64)
        .collect();
    format!("case-{safe}-export-{index}.bundle.json")
}

async fn pull(
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let event = SignedEvent::parse(&body)?;
    if event.event_type() != "evidence.exported" {
        return Err(Problem::new(
            422,
            "refused",
            "Event refused",
            format!(
                "field `event.type`: expected evidence.exported (a bundle is pulled with that event), got {:?}",
                event.event_type()
            ),
        )
        .field("event.type"));
    }
    // Durable first: the pull is on the log before anything is handed out.
    let receipt = ledger.submit(event).await?;
    let (plan, note) = {
        let d = live(&rules)?;
        // Under the domain's read lock the published head is the state's own (the sequencer
        // publishes inside the write lock).
        let head = ledger.head();
        let (note, size) = checkpoint_for_bundle(&ledger, &head, receipt.index).ok_or_else(|| {
            Problem::new(
                500,
                "internal",
                "No checkpoint covers the export",
                format!("the export is entry {}; the log's checkpoint has {} entries", receipt.index, head.size),
            )
        })?;
        let plan = Plan::from_domain(&d, receipt.index, size, &ledger.verifier().name)
            .map_err(|e| Problem::new(500, "internal", "Cannot plan the bundle", e.to_string()))?;
        (plan, note)
    };
    let size = plan.size;
    let mut fetch = |i: u64| -> Result<(Vec<u8>, Vec<[u8; 32]>), String> {
        let bytes = ledger
            .entry(i)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("entry {i} is not in the log"))?;
        let proof = ledger.inclusion_proof(i, size).map_err(|e| e.to_string())?;
        Ok((bytes, proof))
    };
    let bundle = plan
        .assemble(ledger.verifier(), &note, &mut fetch)
        .map_err(|e| {
            Problem::new(
                500,
                "internal",
                "Cannot build the bundle",
                format!("the export is in the log as entry {} but its bundle could not be built: {e}", receipt.index),
            )
        })?;
    Ok(HttpResponse::Created()
        .content_type("application/json")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}\"",
                file_name(&bundle.export.case, receipt.index)
            ),
        ))
        .insert_header(("X-Export-Index", receipt.index.to_string()))
        .body(bundle.to_bytes()))
}

async fn exports(
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let v = viewer(&req, &seen, &d)?;
    require_sees_all(&v, "the exports (who pulled which records)")?;
    let reader = match &v {
        Viewer::Authority => json!({"authority": true}),
        Viewer::Party { id, roles } => json!({
            "party": id,
            "name": d.parties.get(id).map(|p| p.name.clone()),
            "roles": roles,
        }),
        _ => json!(null),
    };
    Ok(HttpResponse::Ok().json(json!({"exports": d.exports, "reader": reader})))
}
