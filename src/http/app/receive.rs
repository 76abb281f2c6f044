//! The gate office's list (`GET /app/incoming`): loads heading to the signed-in party's sites
//! and loads it holds, from the same domain state as the API (`web::app::receive::incoming`).
//! The manifest page's gate actions (`m-receive.html`) are filled by `web::app::manifest::view`;
//! what they sign goes to `POST /v1/events` from the browser.

use super::{chrome, page, to_home};
use crate::domain::DomainRules;
use crate::http::reader::{live, now};
use crate::http::Problem;
use crate::web::app::receive::{incoming, IncomingPage};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/incoming", web::get().to(incoming_page));
}

/// `GET /app/incoming`: heading here, and held here, each newest first.
async fn incoming_page(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    let Some(party) = s.and_then(|s| s.party) else {
        drop(d);
        return Ok(to_home());
    };
    let (heading, held) = incoming(&*d, &party, c.lang, now(&req));
    drop(d);
    page(&req, IncomingPage { c, heading, held }.render())
}
