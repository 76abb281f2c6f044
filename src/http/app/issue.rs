//! `GET /app/issue`: the generator's form for a new manifest (`web::app::issue`), filled from
//! the live registry and the catalog; the page's script signs `manifest.issued` and posts it
//! to `POST /v1/events`, which answers the number the log allocated (`manifests`).

use super::super::reader::{live, now};
use super::super::Problem;
use crate::domain::DomainRules;
use crate::web::app::issue::{self, IssuePage};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/issue", web::get().to(issue_page));
}

/// The form for the signed-in generator; anyone else signed in is told they cannot issue, and
/// a browser not signed in goes home, where it signs in.
async fn issue_page(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, s) = super::chrome(&req, &*d)?;
    let Some(s) = s else {
        drop(d);
        return Ok(super::to_home());
    };
    let v = issue::view(&*d, s.party.as_ref(), c.lang, now(&req));
    drop(d);
    super::page(&req, IssuePage { c, v }.render())
}
