//! The only module that knows actix-web: the public log API (README, "Log API"), errors as RFC 9457
//! problem details naming the field at fault.

mod app;
pub mod auth;
mod bundle;
mod domain;
pub mod investigate;
pub use investigate::ScanHook;
pub use reader::runs_below_the_writer;
mod qr;
mod reader;
mod search;
mod tiles;
mod track;
pub mod witness;
pub use crate::store::MAX_PENDING_PER_MANIFEST;
mod limits;
mod problem;
pub mod session;
mod tls;

pub use limits::{bind, Limits};
pub use tls::{secure, Tls, TlsError};

pub use problem::Problem;

use crate::domain::DomainRules;
use crate::ledger::event::{SignedEvent, MAX_EVENT_BYTES};
use crate::store::{Ledger, Taken};
use actix_web::dev::Server;
use actix_web::http::header::ContentType;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD as B64;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use futures_util::StreamExt;
use serde_json::json;
use std::collections::HashMap;
use std::net::TcpListener;

/// Most entries served by one range request.
pub const MAX_RANGE: u64 = 1000;

/// Most bytes of entries one range answer holds (it stops before the entry that would pass
/// it; one entry is always served): a client continues from the last index served + 1.
pub const MAX_RANGE_BYTES: usize = 1 << 20;

/// Entries read from the store at once while a range answer is written.
const ENTRIES_PER_RUN: u64 = 16;

/// The server's workers unless told otherwise: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// How the server is run: worker threads, the URL phones reach it at, the witnesses it
/// trusts, what one client may hold of it, and HTTPS.
#[derive(Clone, Debug)]
pub struct Options {
    pub workers: usize,
    /// QR codes then carry `URL/m/TOKEN`.
    pub public_url: Option<String>,
    /// Their cosignatures are taken and served.
    pub witnesses: Vec<crate::ledger::cosignature::WitnessKey>,
    pub limits: Limits,
    /// Serve HTTPS with this certificate and key (else plain HTTP). Handlers tell which by
    /// [`secure`].
    pub tls: Option<Tls>,
    /// The log's entries are public: the tiles' entry bundles are served to anyone (else, on a
    /// waste log, to signed readers who see everything, as `/v1/log/entries`).
    pub public_log: bool,
    /// The console map's base tiles (`{z}`, `{x}`, `{y}` in a URL template); none: the map
    /// draws its vector layers only.
    pub tile_url: Option<String>,
    /// Called as each full detector scan starts (tests hold a scan open with it).
    pub scan_hook: Option<investigate::ScanHook>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 2,
            public_url: None,
            witnesses: Vec::new(),
            limits: Limits::default(),
            tls: None,
            public_log: false,
            tile_url: None,
            scan_hook: None,
        }
    }
}

/// Build the server on an already bound listener (port 0 in tests). Run it with `.await`.
/// With `domain`, the domain's routes (manifests, registry, pending hand-overs) are served too.
pub fn server(
    ledger: Ledger,
    domain: Option<DomainRules>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<Server> {
    let opts = Options {
        workers,
        ..Options::default()
    };
    server_with_options(ledger, domain, listener, opts)
}

/// [`server`], with the URL phones reach it at (QR codes then carry `URL/m/TOKEN`).
pub fn server_with(
    ledger: Ledger,
    domain: Option<DomainRules>,
    listener: TcpListener,
    workers: usize,
    public_url: Option<String>,
) -> std::io::Result<Server> {
    let opts = Options {
        workers,
        public_url,
        ..Options::default()
    };
    server_with_options(ledger, domain, listener, opts)
}

/// [`server_with`], with the witnesses the log trusts (their cosignatures are taken and served).
pub fn server_with_witnesses(
    ledger: Ledger,
    domain: Option<DomainRules>,
    listener: TcpListener,
    workers: usize,
    public_url: Option<String>,
    witnesses: Vec<crate::ledger::cosignature::WitnessKey>,
) -> std::io::Result<Server> {
    let opts = Options {
        workers,
        public_url,
        witnesses,
        ..Options::default()
    };
    server_with_options(ledger, domain, listener, opts)
}

/// The server with every option given.
pub fn server_with_options(
    ledger: Ledger,
    domain: Option<DomainRules>,
    listener: TcpListener,
    opts: Options,
) -> std::io::Result<Server> {
    let Options {
        workers,
        public_url,
        witnesses,
        limits,
        tls,
        public_log,
        tile_url,
        scan_hook,
    } = opts;
    let workers = workers.max(1);
    let data = web::Data::new(ledger.clone());
    let trusted = web::Data::new(witness::TrustedWitnesses(witnesses));
    let domain = domain.map(web::Data::new);
    let seen = web::Data::new(auth::SeenRequests::new(ledger.clone()));
    let scans = web::Data::new(investigate::ScanCache::new(scan_hook));
    let public = web::Data::new(qr::PublicUrl(public_url));
    let body_timeout = limits::BodyTimeout(limits.body_timeout);
    let routes = web::Data::new(RouteTable::from_openapi());
    let sessions = web::Data::new(session::Sessions::new());
    let base_tiles = web::Data::new(app::console_map::TileUrl(tile_url));
    let watched = limits.clone();
    let tile_cache = web::Data::new(tiles::TileCache::default());
    let server = HttpServer::new(move || {
        let app = App::new()
            .wrap(actix_web::middleware::from_fn(limits::guard))
            .app_data(body_timeout)
            .app_data(data.clone())
            .app_data(seen.clone())
            .app_data(trusted.clone());
        let app = match &domain {
            Some(d) => app
                .app_data(d.clone())
                .app_data(public.clone())
                .configure(domain::routes)
                .app_data(scans.clone())
                .configure(investigate::routes)
                .configure(search::routes)
                .configure(qr::routes)
                .configure(bundle::routes)
                .configure(track::routes)
                .app_data(sessions.clone())
                .app_data(base_tiles.clone())
                .configure(app::routes),
            None => app,
        };
        app.app_data(web::Data::new(tiles::PublicLog(public_log)))
            .app_data(tile_cache.clone())
            .configure(tiles::routes)
            .route("/v1/log/checkpoint", web::get().to(checkpoint))
            .route("/v1/log/key", web::get().to(key))
            .route("/v1/log/entries/{index}", web::get().to(entry))
            .route("/v1/log/entries", web::get().to(entries))
            .route("/v1/log/proof/inclusion", web::get().to(inclusion))
            .route("/v1/log/proof/consistency", web::get().to(consistency))
            .route("/v1/events", web::post().to(submit))
            .configure(witness::log_routes)
            .app_data(routes.clone())
            .default_service(web::to(no_route))
    })
    .workers(workers)
    .on_connect(move |conn, ext| limits::watch(conn, ext, &watched))
    .client_request_timeout(limits.header_timeout)
    .client_disconnect_timeout(limits.disconnect_timeout)
    .keep_alive(limits.keep_alive)
    .max_connections(limits.per_worker(workers));
    let server = match tls {
        // The handshake is bounded like the first request head.
        Some(tls) => server
            .tls_handshake_timeout(limits.header_timeout)
            .listen_rustls_0_23(listener, (*tls.config).clone())?,
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

/// The API's paths and their methods, as the OpenAPI document lists them: a request no route
/// took is told 405 (with `Allow`) when its path is the API's under another method, else 404.
struct RouteTable(Vec<(actix_web::dev::ResourceDef, Vec<String>)>);

impl RouteTable {
    fn from_openapi() -> RouteTable {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("openapi.json")).expect("openapi.json is JSON");
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        RouteTable(
            paths
                .into_iter()
                .map(|(path, ops)| {
                    let methods = ops
                        .as_object()
                        .map(|o| {
                            o.keys()
                                .filter(|m| {
                                    ["get", "post", "put", "patch", "delete"].contains(&m.as_str())
                                })
                                .map(|m| m.to_uppercase())
                                .collect()
                        })
                        .unwrap_or_default();
                    (actix_web::dev::ResourceDef::new(path), methods)
                })
                .collect(),
        )
    }
}

async fn no_route(req: HttpRequest, table: web::Data<RouteTable>) -> Result<HttpResponse, Problem> {
    let method = req.method().as_str();
    let allowed: Vec<&str> = table
        .0
        .iter()
        .filter(|(def, _)| def.is_match(req.path()))
        .flat_map(|(_, m)| m.iter().map(String::as_str))
        .collect();
    if allowed.is_empty() || allowed.contains(&method) {
        return Err(Problem::new(
            404,
            "not-found",
            "Not found",
            format!("no route for {method} {}", req.path()),
        ));
    }
    let allow = allowed.join(", ");
    let p = Problem::new(
        405,
        "method-not-allowed",
        "Method not allowed",
        format!("{} takes {allow}, not {method}", req.path()),
    );
    let mut res = actix_web::ResponseError::error_response(&p);
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    Ok(res)
}

/// Query parameters, each given at most once (a repeated one is refused, not silently taken
/// once): `q.get(name)`.
pub(crate) struct Params(HashMap<String, String>);

impl std::ops::Deref for Params {
    type Target = HashMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Params {
    fn parse(query: &str) -> Result<Params, Problem> {
        let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
            .map_err(|e| Problem::bad_request(None, format!("the query string: {e}")))?
            .into_inner();
        let mut map = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            if map.contains_key(&k) {
                return Err(Problem::bad_request(
                    Some(&k),
                    format!("query parameter `{k}` is given more than once; give it once"),
                ));
            }
            map.insert(k, v);
        }
        Ok(Params(map))
    }
}

/// An opaque page cursor (`next` in an answer, `cursor` in the request after): base64url,
/// unpadded, of a position only the server reads.
pub(crate) fn cursor(position: &str) -> String {
    B64URL.encode(position)
}

impl Params {
    /// The `cursor` parameter read back through `parse` (a position [`cursor`] wrote); anything
    /// else is a 400 naming `cursor`.
    pub(crate) fn cursor<T>(
        &self,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, Problem> {
        self.get("cursor")
            .map(|s| {
                B64URL
                    .decode(s)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|t| parse(&t))
                    .ok_or_else(|| {
                        Problem::bad_request(
                            Some("cursor"),
                            format!("query parameter `cursor`: expected the `next` of an earlier answer, got {s:?}"),
                        )
                    })
            })
            .transpose()
    }
}

impl actix_web::FromRequest for Params {
    type Error = Problem;
    type Future = std::future::Ready<Result<Params, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Params::parse(req.query_string()))
    }
}

/// A query parameter that must be a non-negative integer; `default` when absent (if allowed).
fn param(q: &Params, name: &str, default: Option<u64>) -> Result<u64, Problem> {
    match (q.get(name), default) {
        (Some(v), _) => v.parse().map_err(|_| {
            Problem::bad_request(
                Some(name),
                format!("query parameter `{name}`: expected a non-negative integer, got {v:?}"),
            )
        }),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(Problem::bad_request(
            Some(name),
            format!("query parameter `{name}` is required"),
        )),
    }
}

async fn checkpoint(ledger: web::Data<Ledger>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body(ledger.head().checkpoint)
}

async fn key(ledger: web::Data<Ledger>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body(format!("{}\n", ledger.verifier()))
}

/// On a waste log, entries carry quantities, parties' business and personal commitments: they
/// are served to signed readers who may see everything (inspectors, enforcement, auditors, the
/// authority). A bare log's entries are public. Checkpoints and proofs are always public.
fn may_read_entries(
    req: &HttpRequest,
    seen: &auth::SeenRequests,
    rules: Option<&web::Data<DomainRules>>,
) -> Result<(), Problem> {
    let Some(rules) = rules else { return Ok(()) };
    // The registry as stored: after a failed write it may hold that batch's registrations (the
    // authority's) until the database is reopened; the log's own reads go on meanwhile.
    let d = rules.read();
    if d.is_bare() {
        return Ok(());
    }
    let who = reader::viewer(req, seen, &*d)?;
    reader::require_sees_all(&who, "the log's entries")
}

async fn entry(
    req: HttpRequest,
    ledger: web::Data<Ledger>,
    seen: web::Data<auth::SeenRequests>,
    rules: Option<web::Data<DomainRules>>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    may_read_entries(&req, &seen, rules.as_ref())?;
    let raw = path.into_inner();
    let index: u64 = raw.parse().map_err(|_| {
        Problem::bad_request(
            Some("index"),
            format!("path `index`: expected a non-negative integer, got {raw:?}"),
        )
    })?;
    match ledger.entry(index)? {
        Some(bytes) => Ok(HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(bytes)),
        None => Err(Problem::new(
            404,
            "no-such-entry",
            "No such entry",
            format!("entry {index} is not in the log (size {})", ledger.size()),
        )
        .field("index")),
    }
}

/// Entries `[start, end)` as newline-delimited JSON, each line the exact entry bytes and a
/// newline, streamed: read from the store a few at a time as the answer is written. The
/// answer stops early, at a whole entry, before it would pass [`MAX_RANGE_BYTES`] (one entry is
/// always served) or at the end of the published log: a client counts the lines and
/// continues from `start` + that count. An answer whose last line lacks its newline was cut by
/// a failure, not by a bound.
async fn entries(
    req: HttpRequest,
    ledger: web::Data<Ledger>,
    seen: web::Data<auth::SeenRequests>,
    rules: Option<web::Data<DomainRules>>,
    q: Params,
) -> Result<HttpResponse, Problem> {
    may_read_entries(&req, &seen, rules.as_ref())?;
    let start = param(&q, "start", None)?;
    let end = param(&q, "end", None)?;
    if end <= start || end - start > MAX_RANGE {
        return Err(Problem::bad_request(
            Some("end"),
            format!("query parameter `end`: expected start < end <= start + {MAX_RANGE}, got start {start} end {end}"),
        ));
    }
    // The published log when the request came: later runs do not see entries appended since.
    let end = end.min(ledger.size());
    let ledger = ledger.into_inner();
    // (next index, bytes sent so far, failed)
    let body = futures_util::stream::unfold((start, 0usize, false), move |(next, sent, failed)| {
        let ledger = ledger.clone();
        async move {
            if next >= end || failed {
                return None;
            }
            let run = match ledger.entries(next, (next + ENTRIES_PER_RUN).min(end)) {
                Ok(run) => run,
                Err(e) => {
                    tracing::error!("store, serving entries from {next}: {e}");
                    return Some((Err(std::io::Error::other(e)), (next, sent, true)));
                }
            };
            let mut chunk = Vec::new();
            let mut taken = 0u64;
            let mut cut = false;
            for e in run {
                if sent + chunk.len() > 0 && sent + chunk.len() + e.len() + 1 > MAX_RANGE_BYTES {
                    cut = true;
                    break;
                }
                chunk.extend_from_slice(&e);
                chunk.push(b'\n');
                taken += 1;
            }
            if taken == 0 {
                return None;
            }
            // The byte bound ends the answer.
            let next = if cut { end } else { next + taken };
            let sent = sent + chunk.len();
            Some((Ok(web::Bytes::from(chunk)), (next, sent, false)))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(body))
}

fn b64_list(hashes: &[[u8; 32]]) -> Vec<String> {
    hashes.iter().map(|h| B64.encode(h)).collect()
}

async fn inclusion(ledger: web::Data<Ledger>, q: Params) -> Result<HttpResponse, Problem> {
    let size = param(&q, "size", Some(ledger.size()))?;
    let index = param(&q, "index", None)?;
    let hashes = ledger.inclusion_proof(index, size)?;
    let leaf = ledger.leaf_hash(index)?;
    Ok(HttpResponse::Ok().json(json!({
        "index": index, "size": size, "leaf_hash": B64.encode(leaf), "hashes": b64_list(&hashes)
    })))
}

async fn consistency(ledger: web::Data<Ledger>, q: Params) -> Result<HttpResponse, Problem> {
    let to = param(&q, "to", Some(ledger.size()))?;
    let from = param(&q, "from", None)?;
    let hashes = ledger.consistency_proof(from, to)?;
    Ok(HttpResponse::Ok().json(json!({"from": from, "to": to, "hashes": b64_list(&hashes)})))
}

/// Take one signed event; answer only once it is durable.
async fn submit(
    ledger: web::Data<Ledger>,
    req: HttpRequest,
    mut body: web::Payload,
) -> Result<HttpResponse, Problem> {
    limits::content_type(&req, "application/json")?;
    let too_big = |n: usize| {
        Problem::new(
            413,
            "too-large",
            "Event too large",
            format!("the body is {n} bytes or more; at most {MAX_EVENT_BYTES} are accepted"),
        )
        .field("(body)")
    };
    if let Some(len) = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
    {
        if len > MAX_EVENT_BYTES {
            return Err(too_big(len));
        }
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| Problem::bad_request(None, format!("reading the body: {e}")))?;
        if bytes.len() + chunk.len() > MAX_EVENT_BYTES {
            return Err(too_big(bytes.len() + chunk.len()));
        }
        bytes.extend_from_slice(&chunk);
    }
    let event = SignedEvent::parse(&bytes)?;
    // A hand-over signed by one party only waits beside the log for the other.
    let receipt = match ledger.submit_or_wait(event).await? {
        Taken::Logged(r) => r,
        Taken::Waiting(w) => {
            return Ok(HttpResponse::Accepted().json(json!({
                "pending": hex::encode(w.hash),
                "waiting_for": w.waiting_for,
                "detail": format!("signed by one party; waiting for the countersignature of {}", w.waiting_for),
            })))
        }
    };
    let mut answer = json!({
        "index": receipt.index,
        "leaf_hash": B64.encode(receipt.leaf_hash),
        "tree_size": receipt.tree_size,
    });
    if !receipt.created.is_empty() {
        answer["manifests"] = json!(receipt.created);
    }
    Ok(HttpResponse::Created().json(answer))
}
