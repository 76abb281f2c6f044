//! The console's linked search (`/app/search`) and graph (`/app/graph?manifest=N`): shells
//! rendered for whoever is signed in (others are sent home, where the device signs in). What
//! they show comes from `GET /v1/search` and `GET /v1/manifests/{n}/graph`, asked by the page's
//! script with requests signed by the device's key; the API decides what the reader may see
//! (the bureau everything, a party its own manifests).

use super::{chrome, page, query, to_home};
use crate::domain::DomainRules;
use crate::http::reader::live;
use crate::http::Problem;
use crate::web::app::console_search::{names, registry, GraphPage, SearchPage};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/search", web::get().to(search_page))
        .route("/app/graph", web::get().to(graph_page));
}

async fn search_page(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    if s.is_none() {
        return Ok(to_home());
    }
    let (parties, sites) = registry(&*d);
    let names = names(&*d, c.lang);
    drop(d);
    page(
        &req,
        SearchPage {
            c,
            parties,
            sites,
            names,
        }
        .render(),
    )
}

async fn graph_page(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
) -> Result<HttpResponse, Problem> {
    let number = query(&req, "manifest").ok_or_else(|| {
        Problem::bad_request(
            Some("manifest"),
            "query parameter `manifest`: the number of the load at the centre (14 digits)",
        )
    })?;
    let number = crate::domain::codes::ManifestNumber::parse(&number).map_err(|e| {
        Problem::bad_request(Some("manifest"), format!("query parameter `manifest`: {e}"))
    })?;
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    if s.is_none() {
        return Ok(to_home());
    }
    let names = names(&*d, c.lang);
    drop(d);
    page(
        &req,
        GraphPage {
            c,
            number: number.to_string(),
            names,
        }
        .render(),
    )
}
