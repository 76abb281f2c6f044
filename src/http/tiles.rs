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
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use std::collections::HashMap;
use std::sync::Mutex;

/// `serve --public-log`: entry bundles for anyone.
pub(super) struct PublicLog(pub bool);

/// The tiles served lately, kept whole: a tile's bytes never change (a partial tile `.p/W` is
/// a different tile from its full one), so a tile once built from the store is served again
/// without reading it. Two generations of at most [`TileCache::GENERATION`] bytes each: when
/// the young one is full it becomes the old one and the old is dropped, so memory stays under
/// twice that however many tiles are asked for.
#[derive(Default)]
pub(super) struct TileCache(Mutex<Generations>);

#[derive(Default)]
struct Generations {
    young: HashMap<Tile, Bytes>,
    old: HashMap<Tile, Bytes>,
    young_bytes: usize,
}

impl TileCache {
    const GENERATION: usize = 16 << 20;

    fn get(&self, t: &Tile) -> Option<Bytes> {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = g.young.get(t) {
            return Some(b.clone());
        }
        let b = g.old.remove(t)?;
        g.keep(*t, b.clone());
        Some(b)
    }

    fn put(&self, t: Tile, b: Bytes) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).keep(t, b);
    }
}

impl Generations {
    fn keep(&mut self, t: Tile, b: Bytes) {
        if self.young_bytes + b.len() > TileCache::GENERATION {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        self.young_bytes += b.len();
        self.young.insert(t, b);
    }
}

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
    cache: web::Data<TileCache>,
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
    let bytes = match cache.get(&tile) {
        Some(b) => Some(b),
        None => {
            let ledger = ledger.into_inner();
            let built = web::block(move || ledger.tile(tile))
                .await
                .map_err(|e| Problem::new(500, "internal", "Internal error", e.to_string()))??;
            let built = built.map(Bytes::from);
            if let Some(b) = &built {
                cache.put(tile, b.clone());
            }
            built
        }
    }
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
