//! Case bundles over HTTP. `POST /v1/bundles` takes a signed `evidence.exported` event: the log
//! appends it (durable, like any event; the fold refuses a puller who is not enforcement, an
//! inspector or the authority, and manifests that do not exist), then the bundle is built under
//! a checkpoint that covers it and sent back as a file. `GET /v1/exports` lists the pulls, for
//! those who see everything.

use super::auth::SeenRequests;
use super::reader::{live, long_off_worker, require_sees_all, viewer, Viewer};
use super::witness::TrustedWitnesses;
use super::Problem;
use crate::domain::DomainRules;
use crate::investigate::bundle::{Bundle, Plan, PlanError};
use crate::ledger::cosignature::WitnessKey;
use crate::ledger::event::{SignedEvent, MAX_EVENT_BYTES};
use crate::store::{Head, Ledger};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/bundles")
            // The body is one signed event: larger is refused before it is read (413).
            .app_data(web::PayloadConfig::new(MAX_EVENT_BYTES))
            .route(web::post().to(pull)),
    )
    .route("/v1/bundles/{index}", web::get().to(again))
    .route("/v1/exports", web::get().to(exports));
}

/// Where the bundle's checkpoint is chosen: the note (verbatim, with any cosignature lines) and
/// its size, covering `export_index`. The newest checkpoint a trusted witness cosigned, when
/// one covers the export (a bundle fetched again with `GET /v1/bundles/{index}` after the
/// witnesses caught up), else the head's signed checkpoint.
fn checkpoint_for_bundle(
    ledger: &Ledger,
    head: &Head,
    export_index: u64,
    witnesses: &[WitnessKey],
) -> Result<Option<(String, u64)>, Problem> {
    if !witnesses.is_empty() {
        let cosigned = ledger
            .cosigned_checkpoint(export_index + 1, 1, witnesses)
            .map_err(|e| {
                Problem::new(500, "internal", "Cannot read cosignatures", e.to_string())
            })?;
        if let Some(note) = cosigned {
            let size = note
                .lines()
                .nth(1)
                .and_then(|l| l.parse::<u64>().ok())
                .ok_or_else(|| {
                    Problem::new(500, "internal", "Bad cosigned checkpoint", "no size line")
                })?;
            return Ok(Some((note, size)));
        }
    }
    Ok((export_index < head.size).then(|| (head.checkpoint.clone(), head.size)))
}

/// A file name for the case: its reference with anything but letters, digits, `-` and `_`
/// replaced, and the export's index.
fn file_name(case: &str, index: u64) -> String {
    let safe: String = case
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("case-{safe}-export-{index}.bundle.json")
}

async fn pull(
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    trusted: web::Data<TrustedWitnesses>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    super::limits::content_type(&req, "application/json")?;
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
    let index = receipt.index;
    let bundle = long_off_worker(move || build(&ledger, &rules, &trusted.0, index))
        .await
        .map_err(|mut p| {
            p.detail = format!(
                "the export is in the log as entry {index} but its bundle could not be built ({}); fetch it again with GET /v1/bundles/{index}",
                p.detail
            );
            p
        })?;
    Ok(answer(HttpResponse::Created(), &bundle))
}

/// The bundle of export `index`, under the checkpoint the seam chooses now.
fn build(
    ledger: &Ledger,
    rules: &DomainRules,
    witnesses: &[WitnessKey],
    index: u64,
) -> Result<Bundle, Problem> {
    let (plan, note) = {
        let d = live(rules)?;
        // The state read after the head is at least as new as it (a batch's state is readable
        // only once its head is published, under the commit gate); the plan leaves out what
        // lies past the checkpoint chosen.
        let head = ledger.head();
        let (note, size) =
            checkpoint_for_bundle(ledger, &head, index, witnesses)?.ok_or_else(|| {
                Problem::new(
                    500,
                    "internal",
                    "No checkpoint covers the export",
                    format!(
                        "the export is entry {index}; the log's checkpoint has {} entries",
                        head.size
                    ),
                )
            })?;
        let plan =
            Plan::from_domain(&*d, index, size, &ledger.verifier().name).map_err(|e| match e {
                PlanError::NoSuchExport(_) => Problem::new(
                    404,
                    "unknown-export",
                    "Not found",
                    format!("entry {index} is not an evidence.exported entry of this log"),
                )
                .field("index"),
                e => Problem::new(500, "internal", "Cannot plan the bundle", e.to_string()),
            })?;
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
    plan.assemble(ledger.verifier(), &note, &mut fetch)
        .map_err(|e| Problem::new(500, "internal", "Cannot build the bundle", e.to_string()))
}

fn answer(mut status: actix_web::HttpResponseBuilder, bundle: &Bundle) -> HttpResponse {
    status
        .content_type("application/json")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}\"",
                file_name(&bundle.export.case, bundle.export.index)
            ),
        ))
        .insert_header(("X-Export-Index", bundle.export.index.to_string()))
        .body(bundle.to_bytes())
}

/// The bundle of an export already on the log, again (a lost answer, a later checkpoint): for
/// signed readers who see everything (they may read every entry anyway). Not a new pull.
async fn again(
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    trusted: web::Data<TrustedWitnesses>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    {
        let d = live(&rules)?;
        let v = viewer(&req, &seen, &*d)?;
        require_sees_all(&v, "case bundles")?;
    }
    let index: u64 = path.parse().map_err(|_| {
        Problem::bad_request(
            Some("index"),
            format!(
                "path `index`: expected the export's log index, got {:?}",
                path.as_str()
            ),
        )
    })?;
    let bundle = long_off_worker(move || build(&ledger, &rules, &trusted.0, index)).await?;
    Ok(answer(HttpResponse::Ok(), &bundle))
}

async fn exports(
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let v = viewer(&req, &seen, &*d)?;
    require_sees_all(&v, "the exports (who pulled which records)")?;
    let reader = match &v {
        Viewer::Authority => json!({"authority": true}),
        Viewer::Party { id, roles } => json!({
            "party": id,
            "name": d.party(id).map(|p| p.name.clone()),
            "roles": roles,
        }),
        _ => json!(null),
    };
    Ok(HttpResponse::Ok().json(json!({"exports": d.exports(), "reader": reader})))
}
