//! Witnesses over HTTP. The log side: `POST /v1/log/cosignatures` (take a cosigned checkpoint
//! from a trusted witness), `GET /v1/log/checkpoint/cosigned[?quorum=k]`, `GET /v1/log/witnesses`.
//! The witness side: a C2SP tlog-witness server, `POST /add-checkpoint`.

use super::Problem;
use crate::ledger::cosignature::WitnessKey;
use crate::store::{CosignatureRefusal, Ledger};
use crate::witness::Refusal;
use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::json;
use std::net::TcpListener;
use std::sync::Arc;

/// Largest cosigned note or add-checkpoint body taken (a checkpoint, 63 proof lines and a few
/// dozen signature lines fit many times over).
pub const MAX_NOTE_BYTES: usize = 64 << 10;

/// The witnesses this log trusts (`serve --witness`).
#[derive(Clone, Debug, Default)]
pub struct TrustedWitnesses(pub Vec<WitnessKey>);

pub(super) fn log_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/log/cosignatures")
            .app_data(web::PayloadConfig::new(MAX_NOTE_BYTES))
            .route(web::post().to(take_cosignatures)),
    )
    .route("/v1/log/checkpoint/cosigned", web::get().to(cosigned))
    .route("/v1/log/witnesses", web::get().to(witnesses));
}

impl From<CosignatureRefusal> for Problem {
    fn from(e: CosignatureRefusal) -> Self {
        let detail = e.to_string();
        match e {
            CosignatureRefusal::Malformed(_) => {
                Problem::new(400, "malformed-note", "Malformed note", detail).field("(body)")
            }
            CosignatureRefusal::NotSigned(_) => {
                Problem::new(403, "not-signed-by-log", "Not signed by this log", detail)
            }
            CosignatureRefusal::NoSuchSize { .. } | CosignatureRefusal::OtherRoot { .. } => {
                Problem::new(
                    409,
                    "not-this-logs-tree",
                    "Not a tree head of this log",
                    detail,
                )
            }
            CosignatureRefusal::NoTrustedCosignature(_) => Problem::new(
                403,
                "untrusted-witness",
                "No trusted witness cosigned",
                detail,
            ),
            CosignatureRefusal::Invalid(_) => Problem::new(
                422,
                "bad-cosignature",
                "Cosignature does not verify",
                detail,
            ),
            CosignatureRefusal::Store(s) => s.into(),
        }
    }
}

fn text_body(body: &[u8]) -> Result<&str, Problem> {
    std::str::from_utf8(body)
        .map_err(|_| Problem::bad_request(Some("(body)"), "the body is not UTF-8 text"))
}

async fn take_cosignatures(
    ledger: web::Data<Ledger>,
    trusted: web::Data<TrustedWitnesses>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let note = text_body(&body)?.to_string();
    let kept = web::block(move || ledger.accept_cosignatures(&note, &trusted.0))
        .await
        .map_err(|e| Problem::new(500, "internal", "Internal error", e.to_string()))??;
    Ok(HttpResponse::Ok().json(json!({
        "size": kept.size,
        "root": B64.encode(kept.root),
        "kept": kept.witnesses,
        "ignored": kept.ignored,
    })))
}

async fn cosigned(
    ledger: web::Data<Ledger>,
    trusted: web::Data<TrustedWitnesses>,
    q: super::Params,
) -> Result<HttpResponse, Problem> {
    let quorum = super::param(&q, "quorum", Some(1))?;
    let n = trusted.0.len();
    if quorum == 0 || quorum as usize > n.max(1) {
        return Err(Problem::bad_request(
            Some("quorum"),
            format!("query parameter `quorum`: expected 1 to {} (the witnesses this log trusts), got {quorum}", n.max(1)),
        ));
    }
    let found = web::block(move || ledger.cosigned_checkpoint(0, quorum as usize, &trusted.0))
        .await
        .map_err(|e| Problem::new(500, "internal", "Internal error", e.to_string()))??;
    match found {
        Some(note) => Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(note)),
        None => Err(Problem::new(
            404,
            "no-cosigned-checkpoint",
            "No cosigned checkpoint",
            format!(
                "no checkpoint of this log carries cosignatures of {quorum} of the {n} witnesses it trusts"
            ),
        )),
    }
}

async fn witnesses(trusted: web::Data<TrustedWitnesses>) -> HttpResponse {
    let body: String = trusted.0.iter().map(|w| format!("{w}\n")).collect();
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

/// What the witness service says to an add-checkpoint request.
#[derive(Debug)]
pub enum WitnessError {
    /// The tlog-witness refusal (with the witness's size for a 409).
    Refused(Refusal, u64),
    /// The state could not be persisted: nothing was cosigned.
    Internal(String),
}

/// The witness's add-checkpoint: checks, persists, and returns the cosignature lines.
pub type AddCheckpointFn = Arc<dyn Fn(&[u8]) -> Result<String, WitnessError> + Send + Sync>;

/// A tlog-witness server (`POST /add-checkpoint`) on an already bound listener.
pub fn witness_server(
    add: AddCheckpointFn,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<Server> {
    let add = web::Data::new(add);
    Ok(HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(super::limits::guard))
            .app_data(add.clone())
            .app_data(web::PayloadConfig::new(MAX_NOTE_BYTES))
            .route("/add-checkpoint", web::post().to(add_checkpoint))
            .default_service(web::to(|req: HttpRequest| async move {
                Err::<HttpResponse, _>(Problem::new(
                    404,
                    "not-found",
                    "Not found",
                    format!("no route for {} {}", req.method(), req.path()),
                ))
            }))
    })
    .workers(workers.max(1))
    .listen(listener)?
    .run())
}

async fn add_checkpoint(
    add: web::Data<AddCheckpointFn>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let add = add.get_ref().clone();
    let answer = web::block(move || add(&body))
        .await
        .map_err(|e| Problem::new(500, "internal", "Internal error", e.to_string()))?;
    match answer {
        Ok(lines) => Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(lines)),
        Err(WitnessError::Refused(r, size)) => {
            let status = r.status();
            if status == 409 {
                // tlog-witness: the body is the size of the latest cosigned checkpoint.
                return Ok(HttpResponse::Conflict()
                    .content_type("text/x.tlog.size")
                    .insert_header(("x-wasteledger-refusal", r.to_string()))
                    .body(format!("{size}\n")));
            }
            let kind = match &r {
                Refusal::BadRequest(_) => "bad-request",
                Refusal::UnknownLog(_) => "unknown-log",
                Refusal::NotSigned(_) => "not-signed-by-log",
                Refusal::Halted { .. } => "log-halted",
                Refusal::RolledBack { .. } => "roll-back",
                Refusal::BadProof { .. } => "bad-consistency-proof",
                Refusal::Conflict { .. } | Refusal::Fork { .. } => "conflict",
            };
            Err(Problem::new(status, kind, "Not cosigned", r.to_string()))
        }
        Err(WitnessError::Internal(e)) => Err(Problem::new(
            500,
            "state-not-persisted",
            "Witness state not persisted",
            format!("nothing was cosigned: {e}"),
        )),
    }
}
