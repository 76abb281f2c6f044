//! The console's pages that check the log in the browser: `/app/m/{number}/timeline` (a
//! manifest's events, each verified by `page-timeline.js`) and `/app/audit` (the log's
//! checkpoint, witnesses and consistency with what this browser saw before, `page-audit.js`).
//! The pages carry the server's words; the scripts fetch the bytes and proofs and decide.

use super::{chrome, full_manifest, page, to_home};
use crate::domain::DomainRules;
use crate::http::auth::SeenRequests;
use crate::http::reader::live;
use crate::http::Problem;
use crate::ledger::entry::Entry;
use crate::store::Ledger;
use crate::web::app::timeline::{self, AuditPage, TimelinePage};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/m/{number}/timeline", web::get().to(timeline_page))
        .route("/app/audit", web::get().to(audit_page));
}

/// `GET /app/m/{number}/timeline`: for whoever may read the manifest in full.
async fn timeline_page(
    req: HttpRequest,
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let Some((number, json)) = full_manifest(&req, &ledger, &rules, &seen, &path)? else {
        return Ok(to_home());
    };
    // The keys that signed each step's entry, as the log holds them (the script checks them).
    let steps: Vec<u64> = json["steps"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["index"].as_u64()).collect())
        .unwrap_or_default();
    let mut signers = Vec::with_capacity(steps.len());
    for i in steps {
        let keys = ledger
            .entry(i)?
            .and_then(|b| Entry::decode(&b).ok())
            .map(|e| e.event.signatures().iter().map(|s| s.key).collect())
            .unwrap_or_default();
        signers.push(keys);
    }
    let d = live(&rules)?;
    let (c, _) = chrome(&req, &*d)?;
    let Some(m) = d.manifest(&number) else {
        return Ok(to_home());
    };
    let empty = Vec::new();
    let t = timeline::view(
        &*d,
        &m,
        json["events"].as_array().unwrap_or(&empty),
        &signers,
        json["pending"].as_array().unwrap_or(&empty),
        c.lang,
    );
    drop(d);
    page(&req, TimelinePage { c, t }.render())
}

/// `GET /app/audit`: the checkpoint and witnesses are public; the page is for everyone.
async fn audit_page(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, _) = chrome(&req, &*d)?;
    drop(d);
    page(&req, AuditPage { c }.render())
}
