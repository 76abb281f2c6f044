//! The log as C2SP tlog-tiles (`ledger::tiles`): `GET /checkpoint` (the signed note, the same
//! bytes as `/v1/log/checkpoint`), hash tiles `GET /tile/<L>/<N>[.p/<W>]` and entry bundles
//! `GET /tile/entries/<N>[.p/<W>]`, so that any tlog-tiles client, mirror or static cache reads
//! the log without its JSON API. Hash tiles hold no business data and are public; entry bundles
//! follow `/v1/log/entries`'s rule (signed readers who see everything, on a waste log) unless
//! the operator serves a public log (`serve --public-log`).

use super::problem::Problem;
use super::{auth, may_read_entries};
use crate::domain::DomainRules;
use crate::ledger::tiles::Tile;
use crate::store::Ledger;
use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};

/// `serve --public-log`: entry bundles for anyone.
pub(super) struct PublicLog(pub bool);

/// How long a full tile may be kept: it never changes.
const IMMUTABLE: &str = "max-age=31536000, immutable";
/// A partial tile's bytes never change either, but the tile is replaced by its full one, and
/// the checkpoint moves on: both are kept briefly.
const BRIEF: &str = "max-age=5";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/checkpoint", web::get().to(checkpoint))
        .route("/tile/{rest:.*}", web::get().to(tile));
}

async fn checkpoint(ledger: web::Data<Ledger>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, BRIEF))
        .body(ledger.head().checkpoint)
}

async fn tile(
    req: HttpRequest,
    ledger: web::Data<Ledger>,
    seen: web::Data<auth::SeenRequests>,
    rules: Option<web::Data<DomainRules>>,
    public: web::Data<PublicLog>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let tile = Tile::parse(&path).map_err(|e| {
        Problem::bad_request(
            Some("path"),
            format!("path `/tile/{}`: {e} (c2sp.org/tlog-tiles)", path.as_str()),
        )
    })?;
    let entries = matches!(tile, Tile::Entries { .. });
    if entries && !public.0 {
        may_read_entries(&req, &seen, rules.as_ref())?;
    }
    let ledger = ledger.into_inner();
    let bytes = web::block(move || ledger.tile(tile))
        .await
        .map_err(|e| Problem::new(500, "internal", "Internal error", e.to_string()))??
        .ok_or_else(|| {
            Problem::new(
                404,
                "not-found",
                "Not found",
                format!(
                    "/{} is not in the published log: its tree does not hold that many {}",
                    tile.path(),
                    if entries {
                        "entries"
                    } else {
                        "hashes at that level"
                    }
                ),
            )
            .field("path")
        })?;
    let cache = match (tile, entries && !public.0) {
        (Tile::Hashes { width: None, .. } | Tile::Entries { width: None, .. }, false) => {
            format!("public, {IMMUTABLE}")
        }
        (Tile::Hashes { width: None, .. } | Tile::Entries { width: None, .. }, true) => {
            format!("private, {IMMUTABLE}")
        }
        (_, false) => format!("public, {BRIEF}"),
        (_, true) => format!("private, {BRIEF}"),
    };
    Ok(HttpResponse::Ok()
        .content_type(ContentType::octet_stream())
        .insert_header((header::CACHE_CONTROL, cache))
        .body(bytes))
}
