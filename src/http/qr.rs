//! The manifests' faces: signed QR tokens rendered on request (never stored), container labels
//! and the printable manifest, the URL a phone opens from a code, and `POST /v1/scan`.

use super::reader::{live, now, viewer, Viewer};
use super::Problem;
use crate::domain::codes::{ManifestNumber, Plate, Uscc};
use crate::domain::model::{Manifest, Status, StepKind};
use crate::domain::query::DomainQuery;
use crate::domain::DomainRules;
use crate::http::auth::SeenRequests;
use crate::qr::{self, TokenBody, TokenError, TokenKind};
use crate::store::Ledger;
use crate::web;
use actix_web::{web as aw, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

/// Where the server is reached from outside (the QR codes' URL form), if configured.
#[derive(Clone, Default)]
pub struct PublicUrl(pub Option<String>);

pub fn routes(cfg: &mut aw::ServiceConfig) {
    cfg.route("/v1/manifests/{number}/token", aw::get().to(token_json))
        .route("/v1/manifests/{number}/qr.svg", aw::get().to(manifest_svg))
        .route("/v1/manifests/{number}/qr.png", aw::get().to(manifest_png))
        .route(
            "/v1/manifests/{number}/containers/{id}/qr.svg",
            aw::get().to(container_svg),
        )
        .route(
            "/v1/manifests/{number}/containers/{id}/qr.png",
            aw::get().to(container_png),
        )
        .route("/v1/manifests/{number}/labels", aw::get().to(labels))
        .route("/v1/manifests/{number}/print", aw::get().to(print))
        .route("/v1/scan", aw::post().to(scan))
        .route("/m/{token}", aw::get().to(open_from_phone));
}

fn parse_number(raw: &str) -> Result<ManifestNumber, Problem> {
    ManifestNumber::parse(raw)
        .map_err(|e| Problem::bad_request(Some("number"), format!("path `number`: {e}")))
}

/// The manifest, for a reader who may see it (a party to it, or one who sees all).
fn manifest_for(
    d: &dyn DomainQuery,
    who: &Viewer,
    number: &ManifestNumber,
) -> Result<Manifest, Problem> {
    let m = d.manifest(number).ok_or_else(|| {
        Problem::new(
            404,
            "unknown-manifest",
            "Not found",
            format!("manifest {number} does not exist"),
        )
        .field("number")
    })?;
    if !who.sees(&m) {
        return Err(match who {
            Viewer::Anonymous => Problem::new(
                401,
                "unauthenticated",
                "Signed request required",
                "a manifest's codes and labels are for its parties, inspectors and enforcement: sign the request (WL-Ed25519)",
            ),
            _ => Problem::new(
                403,
                "forbidden",
                "Not for this reader",
                format!("you are not a party to manifest {number}"),
            ),
        }
        .field("Authorization"));
    }
    Ok(m.into_owned())
}

/// The signed token text of a manifest or one of its containers.
fn token_text(
    ledger: &Ledger,
    m: &Manifest,
    container: Option<(u32, &str)>,
) -> Result<String, Problem> {
    // A fresh code for a load that may no longer move would verify offline as if it could.
    if m.status.is_closed() {
        return Err(Problem::new(
            409,
            "manifest-closed",
            "No new codes for this manifest",
            format!(
                "manifest {} is {}: no load may move under it, so the log signs no new code for it",
                m.number,
                m.status.as_str()
            ),
        )
        .field("number"));
    }
    let no_token = |field: &str, detail: String| {
        Problem::new(
            422,
            "no-token",
            "This manifest does not fit a QR token",
            detail,
        )
        .field(field)
    };
    let body = TokenBody::of_manifest(m, container)
        .map_err(|e| no_token("number", format!("{}: {}", e.field, e.detail)))?;
    ledger
        .sign_token(&body)
        .map_err(|e| no_token("number", format!("{}: {}", e.field, e.detail)))
}

/// What goes into the QR code: the URL form when the server knows its public URL.
fn payload(public: &PublicUrl, token: &str) -> String {
    match &public.0 {
        Some(base) => qr::url_payload(base, token),
        None => token.to_string(),
    }
}

/// The line of the current version that holds container `id`.
fn container_line(m: &Manifest, id: &str) -> Result<u32, Problem> {
    m.current()
        .lines
        .iter()
        .position(|l| l.containers.iter().any(|c| c.id == id))
        .map(|i| i as u32)
        .ok_or_else(|| {
            Problem::new(
                404,
                "unknown-container",
                "Not found",
                format!(
                    "manifest {} (version {}) lists no container {id:?}",
                    m.number,
                    m.current().version
                ),
            )
            .field("id")
        })
}

struct Ctx {
    ledger: aw::Data<Ledger>,
    rules: aw::Data<DomainRules>,
    seen: aw::Data<SeenRequests>,
    public: aw::Data<PublicUrl>,
}

impl Ctx {
    /// The manifest at `number` as this request's reader may see it.
    fn manifest(&self, req: &HttpRequest, number: &str) -> Result<Manifest, Problem> {
        let number = parse_number(number)?;
        let d = live(&self.rules)?;
        let who = viewer(req, &self.seen, &*d)?;
        manifest_for(&*d, &who, &number)
    }

    fn payload_for(&self, m: &Manifest, container: Option<&str>) -> Result<String, Problem> {
        let c = match container {
            Some(id) => Some((container_line(m, id)?, id)),
            None => None,
        };
        let token = token_text(&self.ledger, m, c)?;
        Ok(payload(&self.public, &token))
    }
}

/// The four things every handler here needs, taken from the app in one extractor.
impl actix_web::FromRequest for Ctx {
    type Error = Problem;
    type Future = std::future::Ready<Result<Ctx, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        fn get<T: 'static>(req: &HttpRequest) -> Result<aw::Data<T>, Problem> {
            req.app_data::<aw::Data<T>>().cloned().ok_or_else(|| {
                Problem::new(500, "internal", "Internal error", "server state missing")
            })
        }
        std::future::ready((|| {
            Ok(Ctx {
                ledger: get(req)?,
                rules: get(req)?,
                seen: get(req)?,
                public: get(req)?,
            })
        })())
    }
}

fn render_failed(e: impl std::fmt::Display) -> Problem {
    Problem::new(
        500,
        "render-failed",
        "The code could not be drawn",
        format!("{e} (is --public-url very long?)"),
    )
}

fn svg_of(payload: &str) -> Result<String, Problem> {
    qr::svg(payload).map_err(render_failed)
}

pub(super) fn svg_answer(payload: &str) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .body(svg_of(payload)?))
}

/// PNGs at 8 pixels a module: a version-9 code with its quiet zone is 488 px square.
fn png_answer(payload: &str) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .body(qr::png(payload, 8).map_err(render_failed)?))
}

async fn token_json(
    req: HttpRequest,
    c: Ctx,
    path: aw::Path<String>,
) -> Result<HttpResponse, Problem> {
    let m = c.manifest(&req, &path)?;
    let token = token_text(&c.ledger, &m, None)?;
    let containers = web::containers(&m)
        .iter()
        .map(|r| {
            let t = token_text(
                &c.ledger,
                &m,
                Some((r.line_index as u32, &r.container.id)),
            )?;
            Ok(json!({"line": r.line_index, "id": r.container.id, "token": t, "payload": payload(&c.public, &t)}))
        })
        .collect::<Result<Vec<Value>, Problem>>()?;
    Ok(HttpResponse::Ok().json(json!({
        "number": m.number,
        "version": m.current().version,
        "token": token,
        "payload": payload(&c.public, &token),
        "containers": containers,
        "log_key": c.ledger.verifier().to_string(),
    })))
}

async fn manifest_svg(
    req: HttpRequest,
    c: Ctx,
    path: aw::Path<String>,
) -> Result<HttpResponse, Problem> {
    let m = c.manifest(&req, &path)?;
    svg_answer(&c.payload_for(&m, None)?)
}

async fn manifest_png(
    req: HttpRequest,
    c: Ctx,
    path: aw::Path<String>,
) -> Result<HttpResponse, Problem> {
    let m = c.manifest(&req, &path)?;
    png_answer(&c.payload_for(&m, None)?)
}

async fn container_svg(
    req: HttpRequest,
    c: Ctx,
    path: aw::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (number, id) = path.into_inner();
    let m = c.manifest(&req, &number)?;
    svg_answer(&c.payload_for(&m, Some(&id))?)
}

async fn container_png(
    req: HttpRequest,
    c: Ctx,
    path: aw::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (number, id) = path.into_inner();
    let m = c.manifest(&req, &number)?;
    png_answer(&c.payload_for(&m, Some(&id))?)
}

/// The generator as its labels name it: registered name, and the business phone from its
/// registration entry.
fn generator(ledger: &Ledger, d: &dyn DomainQuery, id: &Uscc) -> (String, Option<String>) {
    let Some(p) = d.party(id) else {
        return (id.to_string(), None);
    };
    let phone = ledger
        .entry(p.index)
        .ok()
        .flatten()
        .and_then(|b| crate::ledger::entry::Entry::decode(&b).ok())
        .and_then(|e| {
            e.event
                .event()
                .get("phone")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    (p.name.clone(), phone)
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

async fn labels(req: HttpRequest, c: Ctx, path: aw::Path<String>) -> Result<HttpResponse, Problem> {
    let m = c.manifest(&req, &path)?;
    if web::containers(&m).is_empty() {
        return Err(Problem::new(
            404,
            "no-containers",
            "No containers",
            format!(
                "manifest {} lists no containers: its QR code is the manifest's own (/v1/manifests/{}/qr.svg)",
                m.number, m.number
            ),
        )
        .field("number"));
    }
    let (name, phone) = {
        let d = live(&c.rules)?;
        generator(&c.ledger, &*d, &m.issuer)
    };
    let catalog = c.rules.catalog();
    let g = web::Generator {
        id: &m.issuer,
        name: &name,
        phone: phone.as_deref(),
    };
    // Draw every code first, so that a failure is an answer and not a blank label.
    let mut codes = std::collections::HashMap::new();
    for r in web::containers(&m) {
        let svg = svg_of(&c.payload_for(&m, Some(&r.container.id))?)?;
        codes.insert((r.line_index, r.container.id.clone()), svg);
    }
    let page = web::labels_page(&m, &catalog, &g, &|r| {
        codes
            .get(&(r.line_index, r.container.id.clone()))
            .cloned()
            .unwrap_or_default()
    });
    Ok(html(page))
}

async fn print(req: HttpRequest, c: Ctx, path: aw::Path<String>) -> Result<HttpResponse, Problem> {
    let m = c.manifest(&req, &path)?;
    let d = live(&c.rules)?;
    let party = |u: &Uscc| web::Named {
        id: u.to_string(),
        name: d.party(u).map(|p| p.name.clone()),
    };
    let site = |id: &str| web::Named {
        id: id.to_string(),
        name: d.site(id).map(|s| s.reg.name.clone()),
    };
    let chain: Vec<web::ChainRow> = m
        .steps
        .iter()
        .map(|s| {
            // The signed entry behind the step: who signed it, and what it says beyond the fold.
            let entry = c
                .ledger
                .entry(s.index)
                .ok()
                .flatten()
                .and_then(|b| crate::ledger::entry::Entry::decode(&b).ok());
            let event = entry.as_ref().map(|e| e.event.event());
            let field = |k: &str| event.and_then(|ev| ev.get(k));
            let mut signers: Vec<web::Named> = Vec::new();
            for k in entry.iter().flat_map(|e| e.event.signers()) {
                let named = match d.party_of(k) {
                    Some(u) => party(&u),
                    None => web::Named {
                        id: format!("key {k}"),
                        name: None,
                    },
                };
                if !signers.iter().any(|n| n.id == named.id) {
                    signers.push(named);
                }
            }
            let mut detail = Vec::new();
            if let Some(v) = &s.vehicle {
                detail.push(format!("车辆 vehicle {v}"));
            }
            let treated = if s.kind == StepKind::Treated {
                Some(web::Treatment {
                    line: field("line").and_then(Value::as_u64).unwrap_or(0) as usize,
                    code: field("code")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    quantity: field("quantity")
                        .and_then(|q| serde_json::from_value(q.clone()).ok()),
                })
            } else {
                if let Some(q) = &s.quantities {
                    detail.push(q.iter().map(web::quantity).collect::<Vec<_>>().join(" + "));
                }
                None
            };
            if let Some(t) = field("ticket").and_then(Value::as_str) {
                detail.push(format!("磅单 ticket {t}"));
            }
            if let Some(at) = field("site").and_then(Value::as_str) {
                let n = site(at);
                detail.push(format!("@ {}", n.name.unwrap_or(n.id)));
            }
            web::ChainRow {
                index: s.index,
                time: s.time,
                kind: s.kind.to_string(),
                treated,
                from: s.from.as_ref().map(party),
                to: s.to.as_ref().map(party),
                detail: detail.join(", "),
                signers,
            }
        })
        .collect();
    let flags: Vec<String> = m
        .flags_at(now(&req), d.limits())
        .iter()
        .map(|f| {
            let kind = web::i18n::flag(f.kind);
            format!(
                "{} {} (日志序号 entry {}): {}",
                kind.zh, kind.en, f.index, f.detail
            )
        })
        .collect();
    // A closed manifest's page still prints, without a fresh code.
    let svg = match m.status {
        Status::Voided
        | Status::Treated
        | Status::Consolidated
        | Status::Split
        | Status::Returned => String::new(),
        _ => svg_of(&c.payload_for(&m, None)?)?,
    };
    let names = web::Names {
        party: &party,
        site: &site,
    };
    Ok(html(web::manifest_page(&m, &names, &svg, &chain, &flags)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanRequest {
    /// The scanned text: a token, or a URL ending in one.
    payload: String,
    /// The plate of the truck the scanner sees the load on: compared with the load's truck.
    #[serde(default)]
    vehicle: Option<String>,
}

/// The verdict on a scanned code: the token checked against this log's key, then against the
/// live state of the manifest.
/// `full`: the reader may see the manifest (a party to it, or one who sees all); others get
/// the signature check and the status, not who holds the load or on which truck.
/// `vehicle`: the truck the scanner sees the load on; a load on the road on another truck than
/// the one its last hand-over names gets `wrong_vehicle`.
pub fn verdict(
    ledger: &Ledger,
    d: &dyn DomainQuery,
    scanned: &str,
    full: bool,
    vehicle: Option<&Plate>,
) -> Value {
    let token = match qr::payload_token(scanned) {
        Ok(t) => t,
        Err(e) => {
            return json!({"verdict": "malformed", "ok": false,
                          "detail": format!("not a wasteledger code: {e}")})
        }
    };
    let body = match qr::verify(token, ledger.verifier()) {
        Ok(b) => b,
        Err(e) => {
            let kind = match &e {
                TokenError::BadSignature { .. } => "forged",
                TokenError::OtherLog { .. } => "other_log",
                _ => "malformed",
            };
            return json!({"verdict": kind, "ok": false, "detail": e.to_string()});
        }
    };
    let mut out = json!({"token": body, "signature": "valid: signed by this log's key"});
    let Some(m) = d.manifest(&body.number) else {
        out["verdict"] = json!("unknown_manifest");
        out["ok"] = json!(false);
        out["detail"] = json!(format!(
            "the token is signed by this log, but manifest {} is not in it",
            body.number
        ));
        return out;
    };
    let current = m.current();
    let holder = d
        .party(&m.holder)
        .map(|p| p.name.clone())
        .unwrap_or_default();
    out["manifest"] = json!({
        "number": m.number, "stream": m.stream, "status": m.status, "version": current.version,
        "onward": m.onward, "issued_at": m.issued_at, "destination": current.destination,
        "destination_name": d.site(&current.destination).map(|s| s.reg.name.clone()),
    });
    if full {
        out["manifest"]["holder"] = json!(m.holder);
        out["manifest"]["holder_name"] = json!(holder);
        out["manifest"]["vehicle"] = json!(m.vehicle);
    }
    if let TokenKind::Container { line, id } = &body.kind {
        // A correction may have moved the container to another line: it still belongs.
        let now_on = current
            .lines
            .iter()
            .position(|l| l.containers.iter().any(|c| c.id == *id));
        let belongs = now_on.is_some();
        out["container"] =
            json!({"line": now_on.unwrap_or(*line as usize), "id": id, "belongs": belongs});
        if let Some((l, c)) = now_on.and_then(|i| {
            let l = &current.lines[i];
            l.containers.iter().find(|c| c.id == *id).map(|c| (l, c))
        }) {
            // What should be in it: the line's waste and, when weighed at packing, the
            // container's own quantity (else the line's declared quantity, for all its containers).
            out["container"]["should_hold"] = json!({
                "code": l.code, "cw_type": l.cw_type, "name": l.name,
                "hazards": l.hazards, "form": l.form, "packaging": c.packaging,
                "quantity": c.quantity.unwrap_or(l.quantity),
                "quantity_of": if c.quantity.is_some() { "container" } else { "line" },
                "containers_on_line": l.containers.len(),
            });
        }
        if !belongs {
            out["verdict"] = json!("container_not_on_manifest");
            out["ok"] = json!(false);
            out["detail"] = json!(format!(
                "container {id:?} is not on line {} of manifest {} as it stands (version {})",
                line + 1,
                m.number,
                current.version
            ));
            return out;
        }
    }
    if body.issue_index != m.issue_index {
        out["verdict"] = json!("mismatch");
        out["ok"] = json!(false);
        out["detail"] = json!(format!(
            "the token names issuing entry {}, the log issued manifest {} at entry {}",
            body.issue_index, m.number, m.issue_index
        ));
        return out;
    }
    let (verdict, ok, detail) = match m.status {
        Status::Voided => (
            "voided",
            false,
            format!("manifest {} was voided: this load must not move under it", m.number),
        ),
        Status::Treated => (
            "closed",
            false,
            format!("manifest {} is closed (treated): a label of a finished load on a moving container is suspect", m.number),
        ),
        Status::Consolidated | Status::Split => (
            "went_on",
            true,
            format!(
                "manifest {} went on as {}: the load now travels under that manifest",
                m.number,
                m.onward
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Status::Returned => (
            "closed",
            false,
            format!("manifest {} ended with the load returned", m.number),
        ),
        Status::Issued => (
            "not_picked_up",
            false,
            format!("manifest {} has no pickup in the log: a load on the road under it moves without the hand-over both parties sign", m.number),
        ),
        Status::Delivered | Status::Received | Status::Rejected => (
            "at_destination",
            true,
            format!(
                "manifest {} is {} at its destination {}{}: on the road this load would be suspect",
                m.number,
                m.status.as_str(),
                current.destination,
                if m.onward.is_empty() { String::new() } else {
                    format!("; a rejected part goes back under {}", m.onward.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "))
                }
            ),
        ),
        _ if body.version < current.version => (
            "superseded",
            true,
            format!(
                "the code shows version {} of manifest {}; it was corrected since (version {} now): check the load against the current version",
                body.version, m.number, current.version
            ),
        ),
        _ => (
            "valid",
            true,
            format!(
                "manifest {} is {}; held by {}",
                m.number,
                m.status.as_str(),
                if !full {
                    "a registered party (sign the scan to see which)".to_string()
                } else if holder.is_empty() {
                    m.holder.to_string()
                } else {
                    holder
                }
            ),
        ),
    };
    out["verdict"] = json!(verdict);
    out["ok"] = json!(ok);
    out["detail"] = json!(detail);
    if let Some(seen) = vehicle {
        out["vehicle_seen"] = json!(seen);
        if let Some(why) = m.vehicle_mismatch(seen) {
            out["verdict"] = json!("wrong_vehicle");
            out["ok"] = json!(false);
            out["detail"] = json!(if full {
                format!("{why}: the load is on a truck its hand-over does not name")
            } else {
                format!(
                    "manifest {} is not on the truck {seen} in the log (sign the scan to see which truck it is)",
                    m.number
                )
            });
        } else if ok && m.vehicle.as_ref() == Some(seen) {
            out["detail"] = json!(format!("{detail}; on {seen}, as handed over"));
        }
    }
    out
}

async fn scan(req: HttpRequest, c: Ctx, body: aw::Bytes) -> Result<HttpResponse, Problem> {
    super::limits::content_type(&req, "application/json")?;
    let scan: ScanRequest = serde_json::from_slice(&body).map_err(|e| {
        Problem::bad_request(
            Some("payload"),
            format!("expected {{\"payload\": \"<scanned text>\"}}: {e}"),
        )
    })?;
    let vehicle = scan
        .vehicle
        .as_deref()
        .map(|v| {
            Plate::parse(v.trim())
                .map_err(|e| Problem::bad_request(Some("vehicle"), format!("`vehicle`: {e}")))
        })
        .transpose()?;
    let d = live(&c.rules)?;
    let who = super::reader::viewer_with_body(&req, &body, &c.seen, &*d)?;
    let full = qr::payload_token(&scan.payload)
        .ok()
        .and_then(|t| qr::decode(t).ok())
        .and_then(|t| d.manifest(&t.body.number))
        .is_some_and(|m| who.sees(&m));
    Ok(HttpResponse::Ok().json(verdict(
        &c.ledger,
        &*d,
        &scan.payload,
        full,
        vehicle.as_ref(),
    )))
}

/// A phone's camera opened the code's URL: the verdict as a page, Chinese first.
async fn open_from_phone(
    req: HttpRequest,
    // Read for its check alone: a parameter given twice is refused.
    _q: super::Params,
    ledger: aw::Data<Ledger>,
    rules: aw::Data<DomainRules>,
    path: aw::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (lang, _) = super::reader::page_lang(&req)?;
    let catalog = rules.catalog();
    let d = live(&rules)?;
    let v = verdict(&ledger, &*d, &path, false, None);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(web::scan_page(&v, &catalog, lang)))
}
