//! The domain's read API: manifests (as their parties, inspectors and the public may see
//! them), the registry, and hand-overs waiting for a countersignature.

use super::auth::SeenRequests;
use super::reader::{live, long_off_worker, now, off_worker, viewer, viewer_with_body, Viewer};
use super::Problem;
use crate::domain::codes::{ManifestNumber, Plate, Uscc};
use crate::domain::events::Stream;
use crate::domain::model::{Manifest, Status};
use crate::domain::personal::Disclosure;
use crate::domain::DomainRules;
use crate::ledger::event::{PublicKey, SignedEvent};
use crate::ledger::state::Refusal;
use crate::ledger::time::{DateAs, Timestamp};
use crate::store::{Ledger, Lodged};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::ops::{Bound, ControlFlow};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/manifests/{number}", web::get().to(manifest))
        .route("/v1/manifests", web::get().to(list))
        .route("/v1/parties/{id}", web::get().to(party))
        .route("/v1/keys/{key}", web::get().to(key))
        .route("/v1/vehicles/{plate}", web::get().to(vehicle))
        .route("/v1/sites/{id}", web::get().to(site))
        .route("/v1/licences/{id}", web::get().to(licence))
        .route("/v1/pending/{hash}", web::get().to(pending_one))
        .route("/v1/personal", web::post().to(lodge_personal))
        .route("/v1/personal/{commitment}", web::get().to(read_personal))
        .route(
            "/v1/personal/{commitment}",
            web::delete().to(erase_personal),
        )
        .route("/v1/openapi.json", web::get().to(openapi));
}

fn not_found(what: &str, field: &str, detail: String) -> Problem {
    Problem::new(404, &format!("unknown-{what}"), "Not found", detail).field(field)
}

fn parse_number(raw: &str) -> Result<ManifestNumber, Problem> {
    ManifestNumber::parse(raw)
        .map_err(|e| Problem::bad_request(Some("number"), format!("path `number`: {e}")))
}

/// What anyone scanning a QR code may see: no quantities, no parties' business.
fn public_view(m: &Manifest, size: u64) -> Value {
    let categories: BTreeSet<String> = m
        .current()
        .lines
        .iter()
        .map(|l| match (&l.code, &l.cw_type) {
            (Some(c), _) => c.category().to_string(),
            (_, Some(t)) => t.en().to_string(),
            _ => String::new(),
        })
        .collect();
    json!({
        "number": m.number,
        "stream": m.stream,
        "waste_categories": categories,
        "status": m.status,
        "issued_at": m.issued_at,
        "in_log": m.issue_index < size,
        "view": "public",
    })
}

async fn manifest(
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let number = parse_number(&path)?;
    let v = viewer(&req, &seen, &*live(&rules)?)?;
    // Its own anomalies walk its trucks' fixes: off the workers that take the appends.
    let body = off_worker(move || manifest_answer(&ledger, &rules, v, &number)).await?;
    Ok(HttpResponse::Ok().json(body))
}

/// A manifest as its reader may see it: the JSON API's answer, which the web application's
/// manifest page renders too (one read path for both).
pub(super) fn manifest_read(
    ledger: &Ledger,
    rules: &DomainRules,
    seen: &SeenRequests,
    req: &HttpRequest,
    number: &ManifestNumber,
) -> Result<Value, Problem> {
    let v = viewer(req, seen, &*live(rules)?)?;
    manifest_answer(ledger, rules, v, number)
}

/// [`manifest_read`] for a reader already known.
fn manifest_answer(
    ledger: &Ledger,
    rules: &DomainRules,
    v: Viewer,
    number: &ManifestNumber,
) -> Result<Value, Problem> {
    let number = number.clone();
    let now = ledger.now();
    let (m, pending_for, anomalies) = {
        let d = live(rules)?;
        let m = d.manifest(&number).ok_or_else(|| {
            not_found(
                "manifest",
                "number",
                format!("manifest {number} does not exist"),
            )
        })?;
        if !v.sees(&m) {
            return Ok(public_view(&m, ledger.size()));
        }
        let mut anomalies = crate::investigate::detectors::manifest_own(
            &*d,
            &number,
            now,
            &crate::investigate::detectors::DetectorConfig::default(),
        );
        // A truck's anomaly may name other parties' loads: shown only to who may see them all.
        let access = v.access();
        anomalies.retain(|a| access.may_see_anomaly(&*d, a.named()));
        (m.into_owned(), d.limits().clone(), anomalies)
    };
    let mut events = Vec::new();
    for s in &m.steps {
        let event = match ledger.entry(s.index)? {
            Some(bytes) => crate::ledger::entry::Entry::decode(&bytes)
                .ok()
                .map(|e| Value::Object(e.event.event().clone())),
            None => None,
        };
        events.push(json!({"index": s.index, "time": s.time, "type": s.kind, "event": event}));
    }
    let pending = pending_for_manifest(ledger, &number)?;
    let mut body = serde_json::to_value(&m).expect("manifest serialises");
    body["flags"] = serde_json::to_value(m.flags_at(now, &pending_for)).expect("flags");
    body["events"] = Value::Array(events);
    body["pending"] = Value::Array(pending);
    body["anomalies"] = serde_json::to_value(&anomalies).expect("anomalies");
    body["view"] = json!("full");
    Ok(body)
}

/// Hand-overs signed by one party, waiting for the other, on this manifest.
fn pending_for_manifest(ledger: &Ledger, number: &ManifestNumber) -> Result<Vec<Value>, Problem> {
    let mut out = Vec::new();
    for (hash, bytes) in ledger.pending_of(number.as_str())? {
        let Ok(ev) = SignedEvent::parse(&bytes) else {
            continue;
        };
        let completed = ledger.event_index(&hash)?;
        out.push(json!({
            "hash": hex::encode(hash),
            "status": if completed.is_some() { "completed" } else { "pending" },
            "completed_index": completed,
            "signed_by": ev.signers().map(|k| k.to_string()).collect::<Vec<_>>(),
            "event": Value::Object(ev.event().clone()),
        }));
    }
    Ok(out)
}

/// A hand-over waiting for its countersignature, for the parties to it (the giver `from`
/// and the taker `to`, whose terminal fetches it to countersign) and readers who see
/// everything: anonymous 401, another signed reader 403. It holds quantities, parties and the
/// vehicle, which the hash alone must not give away.
async fn pending_one(
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let hash: [u8; 32] = hex::decode(path.as_str())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Problem::bad_request(Some("hash"), "path `hash`: expected 64 hex digits"))?;
    let who = viewer(&req, &seen, &*live(&rules)?)?;
    if matches!(who, Viewer::Anonymous) {
        return Err(Problem::new(
            401,
            "unauthenticated",
            "Signed request required",
            "a pending hand-over is served to its two parties and to inspectors, enforcement, auditors and the authority: sign the request (WL-Ed25519)",
        )
        .field("Authorization"));
    }
    let Some(bytes) = ledger.pending_by_hash(&hash)? else {
        return Err(not_found(
            "pending",
            "hash",
            format!("no pending hand-over {}", path.as_str()),
        ));
    };
    let party = |ev: &SignedEvent, side: &str| {
        ev.event()
            .get(side)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let access = who.access();
    let ours = access.sees_all()
        || SignedEvent::parse(&bytes).is_ok_and(|ev| {
            access.may_see_handover(party(&ev, "from").as_deref(), party(&ev, "to").as_deref())
        });
    if !ours {
        return Err(Problem::new(
            403,
            "forbidden",
            "Not for this reader",
            format!(
                "pending hand-over {} is served to its giver and taker, and to inspectors, enforcement, auditors and the authority",
                path.as_str()
            ),
        )
        .field("Authorization"));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(bytes))
}

use super::Params;

fn time_param(q: &Params, name: &str) -> Result<Option<Timestamp>, Problem> {
    q.get(name)
        .map(|s| {
            Timestamp::parse_human(s, DateAs::for_bound(name)).map_err(|e| {
                Problem::bad_request(Some(name), format!("query parameter `{name}`: {e}"))
            })
        })
        .transpose()
}

async fn list(
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    q: Params,
) -> Result<HttpResponse, Problem> {
    let v = viewer(&req, &seen, &*live(&rules)?)?;
    if matches!(v, Viewer::Anonymous | Viewer::Unknown) {
        return Err(Problem::new(
            401,
            "unauthenticated",
            "Sign the request",
            "listing manifests needs a request signed with a registered key (Authorization: WL-Ed25519 ...)",
        )
        .field("Authorization"));
    }
    let bad = |name: &str, e: String| {
        Problem::bad_request(Some(name), format!("query parameter `{name}`: {e}"))
    };
    let party = q
        .get("party")
        .map(|s| Uscc::parse(s).map_err(|e| bad("party", e.to_string())))
        .transpose()?;
    let vehicle = q
        .get("vehicle")
        .map(|s| Plate::parse(s).map_err(|e| bad("vehicle", e.to_string())))
        .transpose()?;
    let status = q
        .get("status")
        .map(|s| Status::parse(s).ok_or_else(|| bad("status", format!("one of issued, in_transit, at_station, delivered, received, rejected, returned, treated, voided, consolidated, split; got {s:?}"))))
        .transpose()?;
    let stream = q
        .get("stream")
        .map(|s| match s.as_str() {
            "hazardous" => Ok(Stream::Hazardous),
            "construction" => Ok(Stream::Construction),
            _ => Err(bad(
                "stream",
                format!("hazardous or construction, got {s:?}"),
            )),
        })
        .transpose()?;
    let from = time_param(&q, "from")?;
    let to = time_param(&q, "to")?;
    let limit: usize = match q.get("limit") {
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| bad("limit", format!("an integer from 1 to 1000, got {s:?}")))?,
        None => 100,
    };
    // Pages in number order: the cursor is the last number served.
    let after = q.cursor(|t| ManifestNumber::parse(t).ok())?;
    let now = now(&req);
    let access = v.access();
    // A reader who sees all, with filters no index serves, scans every manifest: off the
    // async workers.
    let body = long_off_worker(move || {
        let d = live(&rules)?;
        let mut out: Vec<Value> = Vec::new();
        let mut last: Option<ManifestNumber> = None;
        let mut more = false;
        let mut consider = |m: &Manifest| {
            let wanted = access.may_see_manifest(m)
                && after.as_ref().is_none_or(|a| m.number > *a)
                && vehicle.as_ref().is_none_or(|pl| m.vehicles.contains(pl))
                && status.is_none_or(|s| m.status == s)
                && stream.is_none_or(|s| m.stream == s)
                && from.is_none_or(|t| m.issued_at >= t)
                && to.is_none_or(|t| m.issued_at < t);
            if !wanted {
                return ControlFlow::Continue(());
            }
            if out.len() == limit {
                more = true;
                return ControlFlow::Break(());
            }
            out.push(json!({
            "number": m.number, "stream": m.stream, "status": m.status, "issuer": m.issuer,
            "holder": m.holder, "destination": m.current().destination, "issued_at": m.issued_at,
            "flags": m.flags_at(now, d.limits()).iter().map(|f| f.kind).collect::<Vec<_>>(),
        }));
            last = Some(m.number.clone());
            ControlFlow::Continue(())
        };
        let indexed = match (&party, &vehicle) {
            (Some(p), _) => Some(d.manifests_of_party(p)),
            (None, Some(pl)) => Some(d.manifests_of_vehicle(pl)),
            (None, None) => access.party().map(|id| d.manifests_of_party(id)),
        };
        match indexed {
            Some(numbers) => {
                let rest = match &after {
                    Some(a) => numbers.range((Bound::Excluded(a), Bound::Unbounded)),
                    None => numbers.range::<ManifestNumber, _>(..),
                };
                for n in rest {
                    if let Some(m) = d.manifest(n) {
                        if consider(&m).is_break() {
                            break;
                        }
                    }
                }
            }
            None => d.each_manifest_after(after.as_ref(), &mut consider),
        }
        let mut body = json!({"manifests": out});
        if let Some(n) = last.filter(|_| more) {
            body["next"] = json!(super::cursor(n.as_str()));
        }
        Ok(body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

async fn party(
    rules: web::Data<DomainRules>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = Uscc::parse(&path)
        .map_err(|e| Problem::bad_request(Some("id"), format!("path `id`: {e}")))?;
    let d = live(&rules)?;
    let p = d
        .party(&id)
        .ok_or_else(|| not_found("party", "id", format!("{id} is not a registered party")))?;
    let licences = d.licences_of(&id);
    let vehicles = d.vehicles_of(&id);
    let sites = d.sites_of(&id);
    Ok(HttpResponse::Ok()
        .json(json!({"party": p, "licences": licences, "vehicles": vehicles, "sites": sites})))
}

/// Where a key stands: its kind, holder, status and the entry that added it, for anyone (a
/// phone waiting for approval asks with no session). A device key's label (a staff number),
/// validity and person are for its own company and those who see everything, as a truck's
/// position is: anyone else gets them as null. The key as standard base64 or base64url, padded
/// or not (`/`, `+`, `=` percent-encoded or not).
async fn key(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let raw = path
        .replace("%2F", "/")
        .replace("%2f", "/")
        .replace("%2B", "+")
        .replace("%2b", "+")
        .replace("%3D", "=")
        .replace("%3d", "=");
    let k = PublicKey::parse_any_base64("key", &raw)
        .map_err(|e| Problem::bad_request(Some("key"), format!("path `key`: {e}")))?;
    let d = live(&rules)?;
    let who = viewer(&req, &seen, &*d)?;
    let unknown = || not_found("key", "key", format!("{k} is not a registered key"));
    let now = now(&req);
    let view = if d.authority() == Some(k) {
        json!({"key": k.to_string(), "kind": "authority", "holder": null, "label": null,
               "not_after": null, "person": null, "added_index": 0, "status": "active"})
    } else {
        let holder = d.party_of(&k).ok_or_else(unknown)?;
        let entries = d.key_entries(&k).ok_or_else(unknown)?;
        let dl = d.delegation(&k);
        let details = dl
            .as_deref()
            .filter(|_| who.access().may_see_business_of(&holder));
        let status = match d.lapse_of(&k, now) {
            None => "active",
            Some(Refusal::ExpiredKey { .. }) => "expired",
            Some(_) => "revoked",
        };
        json!({"key": k.to_string(), "kind": if dl.is_some() { "device" } else { "party" },
               "holder": holder, "label": details.map(|x| &x.label),
               "not_after": details.map(|x| x.not_after.to_string()),
               "person": details.and_then(|x| x.person.as_ref()),
               "added_index": entries.added, "status": status})
    };
    Ok(HttpResponse::Ok().json(view))
}

async fn vehicle(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let plate = Plate::parse(&path)
        .map_err(|e| Problem::bad_request(Some("plate"), format!("path `plate`: {e}")))?;
    let d = live(&rules)?;
    let who = viewer(&req, &seen, &*d)?;
    let v = d.vehicle(&plate).ok_or_else(|| {
        not_found(
            "vehicle",
            "plate",
            format!("{plate} is not a registered vehicle"),
        )
    })?;
    let mut view = serde_json::to_value(&v)
        .map_err(|e| Problem::new(500, "internal", "Internal error", e.to_string()))?;
    // Where a truck is, is for inspectors and enforcement (and its own company) to know.
    if !who.access().may_see_business_of(&v.party) {
        if let Some(o) = view.as_object_mut() {
            o.remove("last_position");
            o.remove("track_points");
        }
    }
    Ok(HttpResponse::Ok().json(view))
}

async fn site(
    rules: web::Data<DomainRules>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let s = d.site(path.as_str()).ok_or_else(|| {
        not_found(
            "site",
            "id",
            format!("{:?} is not a registered site", path.as_str()),
        )
    })?;
    Ok(HttpResponse::Ok().json(s))
}

async fn licence(
    rules: web::Data<DomainRules>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let l = d.licence(path.as_str()).ok_or_else(|| {
        not_found(
            "licence",
            "id",
            format!("{:?} is not a licence", path.as_str()),
        )
    })?;
    Ok(HttpResponse::Ok().json(l))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(include_str!("openapi.json"))
}

fn signed_party(v: &Viewer) -> Result<(), Problem> {
    match v {
        Viewer::Anonymous | Viewer::Unknown => Err(Problem::new(
            401,
            "unauthenticated",
            "Sign the request",
            "personal data is lodged and read only with a request signed by a registered key",
        )
        .field("Authorization")),
        _ => Ok(()),
    }
}

fn viewer_id(v: &Viewer) -> String {
    match v {
        Viewer::Party { id, .. } => id.to_string(),
        Viewer::Authority => "authority".into(),
        _ => String::new(),
    }
}

/// Lodge the clear value behind a commitment (a driver's name, say): a party's signed request.
async fn lodge_personal(
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    super::limits::content_type(&req, "application/json")?;
    let v = viewer_with_body(&req, &body, &seen, &*live(&rules)?)?;
    signed_party(&v)?;
    let d: Disclosure = serde_json::from_slice(&body).map_err(|e| {
        Problem::bad_request(
            Some("(body)"),
            format!("expected {{\"kind\", \"value\", \"salt\"}}: {e}"),
        )
    })?;
    let c = d
        .commitment()
        .map_err(|e| Problem::bad_request(e.split(':').next(), e.clone()))?;
    let party = viewer_id(&v);
    let record = json!({"kind": d.kind, "value": d.value, "salt": d.salt, "lodged_by": party, "lodged_at": ledger.now()});
    match ledger.put_personal(c.as_str(), record.to_string().as_bytes(), &party)? {
        Lodged::Stored => Ok(HttpResponse::Created().json(json!({"commitment": c}))),
        Lodged::Exists => Err(Problem::new(
            409,
            "exists",
            "Already lodged",
            format!(
                "a record (or its erasure) for commitment {} is kept already",
                c.as_str()
            ),
        )
        .field("(body)")),
        Lodged::OverQuota { count, quota } => Err(Problem::new(
            403,
            "quota-exceeded",
            "Personal-record quota reached",
            format!("{party} keeps {count} personal records, its quota (max_personal_per_party {quota}): nothing was stored; records erased at the end of their retention no longer count"),
        )
        .field("(body)")),
    }
}

/// Personal data is for the authority, inspectors and enforcement, and the party that lodged it.
async fn read_personal(
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let v = viewer(&req, &seen, &*live(&rules)?)?;
    signed_party(&v)?;
    let record: Value = match ledger.personal(path.as_str())? {
        Some(b) => serde_json::from_slice(&b)
            .map_err(|e| Problem::new(500, "store", "Storage error", e.to_string()))?,
        None => {
            return Err(not_found(
                "personal",
                "commitment",
                format!("no personal record for commitment {}", path.as_str()),
            ))
        }
    };
    let own = record["lodged_by"]
        .as_str()
        .and_then(|p| Uscc::parse(p).ok())
        .is_some_and(|p| v.access().may_see_business_of(&p));
    if !v.sees_all() && !own {
        return Err(Problem::new(403, "forbidden", "Not yours to read", "personal data is read by the authority, inspectors, enforcement and the party that lodged it").field("Authorization"));
    }
    if record.get("erased_at").is_some() {
        return Ok(HttpResponse::Gone().json(record));
    }
    Ok(HttpResponse::Ok().json(record))
}

/// Erase a clear value when its retention period ends (the authority only). The commitment in
/// the log stays, and so does every proof.
async fn erase_personal(
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let v = viewer(&req, &seen, &*live(&rules)?)?;
    if !matches!(v, Viewer::Authority) {
        return Err(Problem::new(
            403,
            "forbidden",
            "Authority only",
            "only the authority erases personal data",
        )
        .field("Authorization"));
    }
    let Some(old) = ledger.personal(path.as_str())? else {
        return Err(not_found(
            "personal",
            "commitment",
            format!("no personal record for commitment {}", path.as_str()),
        ));
    };
    // A live record stops counting against its party's quota.
    let record: Value = serde_json::from_slice(&old).unwrap_or_default();
    let lodged = record
        .get("erased_at")
        .is_none()
        .then(|| record["lodged_by"].as_str())
        .flatten()
        .map(|party| (party, old.as_slice()));
    let note = json!({"erased_at": ledger.now(), "erased_by": "authority"});
    ledger.erase_personal(path.as_str(), note.to_string().as_bytes(), lodged)?;
    Ok(HttpResponse::Ok().json(note))
}
