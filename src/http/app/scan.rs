//! The driver's pages: `/app/scan` (scan or paste a manifest, container or hand-over code,
//! check it in the browser, countersign a hand-over) and `/app/outbox` (signed events still
//! waiting for the log, and the log's refusals). Both answer without a session: anyone may
//! check a code; only a device key signs, in the browser. The pages carry the words their
//! scripts need offline (`web::app::scan::words`).

use super::{chrome, page};
use crate::domain::DomainRules;
use crate::http::reader::live;
use crate::http::Problem;
use crate::web::app::scan::{words, OutboxPage, ScanPage};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/scan", web::get().to(scan))
        .route("/app/outbox", web::get().to(outbox));
}

async fn scan(req: HttpRequest, rules: web::Data<DomainRules>) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    let party = s.and_then(|s| s.party).map(|p| p.to_string());
    let words = words(&*d, c.lang, party.as_deref());
    drop(d);
    page(&req, ScanPage { c, words }.render())
}

async fn outbox(req: HttpRequest, rules: web::Data<DomainRules>) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    let party = s.and_then(|s| s.party).map(|p| p.to_string());
    let words = words(&*d, c.lang, party.as_deref());
    drop(d);
    page(&req, OutboxPage { c, words }.render())
}
