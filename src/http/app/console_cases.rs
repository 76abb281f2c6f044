//! The console's cases and bundles: `/app/check` (a bundle file checked in the browser, no
//! session needed: anyone handed a bundle may check it) and `/app/cases` (pull a case bundle,
//! the exports, a printable case summary; the pull and the exports list are signed by the
//! page's script with the device's key, so a session cookie reads nothing more than before).

use super::{chrome, page};
use crate::domain::events::Role;
use crate::domain::DomainRules;
use crate::http::reader::live;
use crate::http::Problem;
use crate::store::Ledger;
use crate::web::app::console_cases::{words, CasesPage, CheckPage};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::{Map, Value};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/check", web::get().to(check))
        .route("/app/cases", web::get().to(cases));
}

async fn check(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
    ledger: web::Data<Ledger>,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, _) = chrome(&req, &*d)?;
    drop(d);
    let log_key = ledger.verifier().to_string();
    let words = words(c.lang, &log_key, None, Value::Null);
    page(&req, CheckPage { c, log_key, words }.render())
}

async fn cases(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
    ledger: web::Data<Ledger>,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    let party = s
        .as_ref()
        .and_then(|s| s.party.as_ref())
        .map(|p| p.to_string());
    let may_pull = s.as_ref().is_some_and(|s| {
        s.roles
            .iter()
            .any(|r| matches!(r, Role::Inspector | Role::Enforcement))
    });
    // Names by USCC, for the exports list and the summary (the parties' register is public).
    let names: Map<String, Value> = d
        .parties()
        .iter()
        .map(|p| (p.id.to_string(), Value::String(p.name.clone())))
        .collect();
    drop(d);
    let log_key = ledger.verifier().to_string();
    let words = words(c.lang, &log_key, party.as_deref(), Value::Object(names));
    page(
        &req,
        CasesPage {
            c,
            log_key,
            may_pull,
            words,
        }
        .render(),
    )
}
