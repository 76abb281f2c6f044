//! The web application's routes (`/app/...`): pages rendered by `web::app` from the same
//! reads as the JSON API, the static files of `web::assets`, and the signed login that gives a
//! browser its session (`session.rs`). Every write a page makes is a signed event posted to
//! `POST /v1/events` by the page's script; nothing here writes to the log.
//!
//! These are pages for people, not the API: they are not in `openapi.json` (its tests skip
//! paths under `/app`), and the browser tests (`tests/it/app*.rs`) drive them.

mod console_audit;
pub(super) mod console_map;
mod console_search;
mod handover;

use super::auth::SeenRequests;
use super::reader::{live, now, page_lang, query, session_key};
use super::session::{self, Sessions};
use super::Problem;
use crate::domain::events::PersonRole;
use crate::domain::query::DomainQuery;
use crate::domain::DomainRules;
use crate::store::Ledger;
use crate::web::app::{self as pages, manifest, Chrome, Lang, Who};
use crate::web::assets;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::json;

mod console_cases;
mod console_queue;
mod issue;
mod receive;
mod scan;

pub fn routes(cfg: &mut web::ServiceConfig) {
    issue::routes(cfg);
    cfg.route("/app", web::get().to(home))
        .route("/app/static/{path:.*}", web::get().to(asset))
        .route("/app/session", web::post().to(login))
        .route("/app/session", web::delete().to(logout))
        .route("/app/enrol", web::get().to(enrol))
        .route("/app/loads", web::get().to(loads))
        .route("/app/m/{number}", web::get().to(manifest_page))
        .route("/app/approve", web::get().to(approve))
        .route("/app/qr.svg", web::get().to(qr_svg))
        .route("/app/sw.js", web::get().to(worker))
        .route("/app/i18n.json", web::get().to(words))
        .route("/app/manifest.webmanifest", web::get().to(manifest))
        .configure(scan::routes)
        .configure(receive::routes)
        .configure(console_audit::routes)
        .configure(console_map::routes);
    handover::routes(cfg);
    console_cases::routes(cfg);
    console_queue::routes(cfg);
    console_search::routes(cfg);
}

/// This page's path and query with `lang` set to the other language.
fn switch_href(req: &HttpRequest, lang: Lang) -> String {
    let other = match lang {
        Lang::Zh => "en",
        Lang::En => "zh",
    };
    let mut pairs: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
    pairs.retain(|(k, _)| k != "lang");
    pairs.push(("lang".into(), other.into()));
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect();
    format!("{}?{}", req.path(), q.join("&"))
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What the app knows about the key a session names.
pub(super) struct Signed {
    /// The party signed in (None: the authority).
    pub party: Option<crate::domain::codes::Uscc>,
    pub who: Who,
    /// The key may approve devices (a party's registered key, or the authority).
    pub may_delegate: bool,
    pub roles: Vec<crate::domain::events::Role>,
}

impl Signed {
    /// What the one signed in may see (the authority when no party).
    pub fn access(&self) -> crate::domain::access::Access {
        match &self.party {
            None => crate::domain::access::Access::All,
            Some(p) => crate::domain::access::Access::of_party(p, &self.roles),
        }
    }
}

fn signed_in(req: &HttpRequest, d: &dyn DomainQuery, lang: Lang) -> Option<Signed> {
    let key = session_key(req)?;
    let t = now(req);
    let c = |zh: &'static str, en: &'static str| match lang {
        Lang::Zh => zh.to_string(),
        Lang::En => en.to_string(),
    };
    if Some(key) == d.authority() {
        return Some(Signed {
            party: None,
            who: Who {
                party_id: String::new(),
                party_name: c("主管部门", "The authority"),
                roles: c("主管部门", "authority"),
                key_kind: c("主管部门密钥", "authority key"),
                label: None,
                not_after: None,
            },
            may_delegate: false,
            roles: Vec::new(),
        });
    }
    let party = d.party(&d.party_of_at(&key, t)?)?;
    let dl = d.delegation(&key);
    let dl = dl.as_deref();
    let roles = party
        .roles
        .iter()
        .map(|r| crate::web::i18n::role(*r).get(lang))
        .collect::<Vec<_>>()
        .join("、");
    Some(Signed {
        party: Some(party.id.clone()),
        who: Who {
            party_id: party.id.to_string(),
            party_name: party.name.clone(),
            roles,
            key_kind: match dl {
                Some(_) => c("设备密钥", "device key"),
                None => c("单位密钥", "company key"),
            },
            label: dl.map(|x| x.label.clone()),
            not_after: dl.map(|x| x.not_after.cst()),
        },
        // Only a party's own registered key delegates; a device key cannot.
        may_delegate: dl.is_none(),
        roles: party.roles.clone(),
    })
}

/// The chrome of a page, and who is signed in.
fn chrome(req: &HttpRequest, d: &dyn DomainQuery) -> Result<(Chrome, Option<Signed>), Problem> {
    let (lang, _) = page_lang(req)?;
    let s = signed_in(req, d, lang);
    Ok((
        Chrome {
            lang,
            who: s.as_ref().map(|s| s.who.clone()),
            switch_href: switch_href(req, lang),
            assets: assets::version(),
        },
        s,
    ))
}

/// A rendered page, remembering a language chosen by `?lang=`; never cached (it shows who is
/// signed in and live state).
fn page(req: &HttpRequest, html: Result<String, askama::Error>) -> Result<HttpResponse, Problem> {
    let html = html.map_err(|e| {
        Problem::new(
            500,
            "page-failed",
            "Page failed",
            format!("rendering the page: {e}"),
        )
    })?;
    let mut res = HttpResponse::Ok();
    res.content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        // Never framed by another site (a signed-in page could be overlaid to trick a tap),
        // no plug-ins, no <base> pointing elsewhere.
        .insert_header((
            "Content-Security-Policy",
            "frame-ancestors 'none'; object-src 'none'; base-uri 'self'",
        ));
    let (lang, chosen) = page_lang(req)?;
    if chosen {
        res.insert_header((
            header::SET_COOKIE,
            format!(
                "wl_lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
                lang.tag()
            ),
        ));
    }
    Ok(res.body(html))
}

async fn home(req: HttpRequest, rules: web::Data<DomainRules>) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    let tiles = match &s {
        Some(s) => pages::tiles(&c, &s.roles, s.may_delegate),
        None => Vec::new(),
    };
    drop(d);
    page(&req, pages::HomePage { c, tiles }.render())
}

async fn enrol(req: HttpRequest, rules: web::Data<DomainRules>) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, _) = chrome(&req, &*d)?;
    drop(d);
    page(&req, pages::EnrolPage { c }.render())
}

async fn approve(req: HttpRequest, rules: web::Data<DomainRules>) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    let persons = match &s {
        Some(s) => d
            .persons()
            .iter()
            .filter(|p| p.reg.party.to_string() == s.who.party_id)
            .map(|p| {
                let id = p.reg.person.as_str();
                let role = match (p.reg.role, c.lang) {
                    (PersonRole::Driver, Lang::Zh) => "驾驶员",
                    (PersonRole::Driver, Lang::En) => "driver",
                    (PersonRole::Escort, Lang::Zh) => "押运员",
                    (PersonRole::Escort, Lang::En) => "escort",
                };
                (id.to_string(), format!("{role} {}…", short(id)))
            })
            .collect(),
        None => Vec::new(),
    };
    let view = pages::ApprovePage {
        can_approve: s.as_ref().is_some_and(|s| s.may_delegate),
        device: query(&req, "key").unwrap_or_default(),
        label: query(&req, "label").unwrap_or_default(),
        persons,
        c,
    };
    drop(d);
    page(&req, view.render())
}

/// `GET /app/loads`: the signed-in party's open loads, newest first.
async fn loads(req: HttpRequest, rules: web::Data<DomainRules>) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    let Some(party) = s.and_then(|s| s.party) else {
        drop(d);
        return Ok(to_home());
    };
    let loads = manifest::open_loads(&*d, &party, c.lang);
    drop(d);
    let title = c.s("未完成的联单", "Open manifests").to_string();
    page(&req, manifest::LoadsPage { c, title, loads }.render())
}

/// Pages that need someone signed in send others home, where the device signs in.
fn to_home() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/app"))
        .finish()
}

/// A manifest page's read: the number in the path, and the manifest as `GET
/// /v1/manifests/{number}` answers this reader; None when that is not the full view (not a
/// party to it and not one who sees all: the public verdict is all there is, and the page sends
/// the reader home).
fn full_manifest(
    req: &HttpRequest,
    ledger: &Ledger,
    rules: &web::Data<DomainRules>,
    seen: &SeenRequests,
    path: &str,
) -> Result<Option<(crate::domain::codes::ManifestNumber, serde_json::Value)>, Problem> {
    let number = crate::domain::codes::ManifestNumber::parse(path)
        .map_err(|e| Problem::bad_request(Some("number"), format!("path `number`: {e}")))?;
    let json = super::domain::manifest_read(ledger, rules, seen, req, &number)?;
    Ok((json.get("view").and_then(|v| v.as_str()) == Some("full")).then_some((number, json)))
}

/// `GET /app/m/{number}`: the manifest page, from the same read as `GET /v1/manifests/{number}`.
async fn manifest_page(
    req: HttpRequest,
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let Some((number, json)) = full_manifest(&req, &ledger, &rules, &seen, &path)? else {
        return Ok(to_home());
    };
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    let Some(m) = d.manifest(&number) else {
        return Ok(to_home());
    };
    let roles = s.as_ref().map(|s| s.roles.clone()).unwrap_or_default();
    let mut mv = manifest::view(
        &*d,
        &m,
        c.lang,
        s.as_ref().and_then(|s| s.party.as_ref()),
        &roles,
    );
    let pending = json["pending"].as_array().map_or(&[][..], Vec::as_slice);
    let handover = match s.as_ref().and_then(|s| s.party.as_ref()) {
        Some(me) => pages::handover::view(&*d, &m, me, c.lang, pending, now(&req)),
        None => Default::default(),
    };
    drop(d);
    mv.pending = pending.len();
    let data = manifest::script_json(&json);
    page(
        &req,
        manifest::ManifestPage {
            c,
            m: mv,
            data,
            handover,
        }
        .render(),
    )
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// `GET /app/static/<path>`: an embedded file. Revalidated by its digest (`ETag`), so a new
/// binary's files are picked up at once; the offline worker keeps its own copy.
async fn asset(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(a) = assets::get(&path) else {
        return actix_web::ResponseError::error_response(&Problem::new(
            404,
            "not-found",
            "Not found",
            format!("no static file `{path}`"),
        ));
    };
    let etag = format!("\"{}\"", assets::version());
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    if fresh {
        return HttpResponse::NotModified().finish();
    }
    HttpResponse::Ok()
        .content_type(a.mime)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, etag))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(a.bytes)
}

/// `POST /app/session`: a request signed by the device's key (WL-Ed25519, as every signed
/// request) opens a session for that key if it is the authority's or a party's, now.
async fn login(
    req: HttpRequest,
    seen: web::Data<SeenRequests>,
    rules: web::Data<DomainRules>,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, Problem> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if header.is_none() {
        return Err(Problem::new(
            401,
            "unauthenticated",
            "Signed request required",
            "sign POST /app/session with this device's key (WL-Ed25519)",
        )
        .field("Authorization"));
    }
    let t = now(&req);
    let key = seen
        .check(header, "POST", "/app/session", &[], t)?
        .expect("a header was given");
    let d = live(&rules)?;
    let party = if Some(key) == d.authority() {
        json!({"authority": true})
    } else {
        match d.party_of_at(&key, t).and_then(|p| d.party(&p)) {
            Some(p) => json!({"party": p.id.to_string(), "name": p.name}),
            None => {
                return Err(Problem::new(
                    403,
                    "key-not-approved",
                    "Key not approved",
                    format!("{key} is not (or no longer) a key of any party: ask your company to approve this device"),
                )
                .field("Authorization"))
            }
        }
    };
    drop(d);
    let cookie = sessions.open(key, t.unix_millis()).ok_or_else(|| {
        Problem::unavailable(
            "busy",
            "Too many sessions",
            format!(
                "{} sessions are open; try again shortly",
                session::MAX_SESSIONS
            ),
            30,
        )
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::SET_COOKIE,
            sessions.set_cookie(&cookie, super::secure(&req)),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(party))
}

/// `DELETE /app/session`: the session ends here and in the browser.
async fn logout(req: HttpRequest, sessions: web::Data<Sessions>) -> HttpResponse {
    if let Some(c) = session::cookie(&req) {
        sessions.close(c);
    }
    HttpResponse::NoContent()
        .insert_header((
            header::SET_COOKIE,
            sessions.clear_cookie(super::secure(&req)),
        ))
        .finish()
}

/// Most characters drawn by `/app/qr.svg`.
const MAX_QR_TEXT: usize = 1024;

/// `GET /app/qr.svg?d=TEXT`: any short text as a QR code (a device's approval link, a
/// half-signed hand-over): what it draws is given by the page, so it vouches for nothing.
async fn qr_svg(req: HttpRequest) -> Result<HttpResponse, Problem> {
    let d = query(&req, "d").unwrap_or_default();
    if d.is_empty() || d.len() > MAX_QR_TEXT {
        return Err(Problem::bad_request(
            Some("d"),
            format!("query `d`: the text to draw, 1 to {MAX_QR_TEXT} bytes"),
        ));
    }
    super::qr::svg_answer(&d)
}

/// `GET /app/sw.js`: the offline worker, with this binary's asset version and list written in.
/// Its scope is `/app` (the home page has no trailing slash), which `Service-Worker-Allowed`
/// permits.
async fn worker() -> HttpResponse {
    let src = String::from_utf8_lossy(assets::get("sw.js").map_or(&[][..], |a| a.bytes));
    let list: Vec<&str> = assets::ASSETS
        .iter()
        .map(|a| a.path)
        .filter(|p| *p != "sw.js" && !p.ends_with(".LICENSE") && !p.ends_with(".md"))
        .collect();
    let body = src.replacen("__VERSION__", assets::version(), 1).replacen(
        "__ASSETS__",
        &serde_json::to_string(&list).unwrap_or_default(),
        1,
    );
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("Service-Worker-Allowed", "/app"))
        .body(body)
}

/// `GET /app/manifest.webmanifest`: so a phone can put the app on its home screen.
async fn manifest() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/manifest+json")
        .json(json!({
            "name": "废物全程监管 wasteledger",
            "short_name": "废物监管",
            "start_url": "/app",
            "scope": "/app",
            "display": "standalone",
            "lang": "zh-CN",
            "background_color": "#f4f6f8",
            "theme_color": "#0b5cad"
        }))
}

/// `GET /app/i18n.json?lang=zh|en`: the words of `web::i18n` for the pages' scripts (statuses,
/// flags, event types, verdicts, problems, field names), the same tables the server's pages use.
async fn words(req: HttpRequest) -> HttpResponse {
    let lang = query(&req, "lang")
        .map(|l| Lang::from_tag(&l))
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(crate::web::i18n::js_table(lang))
}
