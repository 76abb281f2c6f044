//! Linked search over HTTP (issue 5): everything about a plate, a party, a site or a driver
//! in a time window, and the graph around one load. Signed readers only; inspectors,
//! enforcement, auditors and the authority search everything, a party only within the
//! manifests it is party to.

use super::auth::SeenRequests;
use super::reader::{live, long_off_worker, off_worker, viewer, Viewer};
use super::Problem;
use crate::domain::access::Access;
use crate::domain::codes::{ManifestNumber, Plate, Uscc};
use crate::domain::events::Commitment;
use crate::domain::model::Person;
use crate::domain::query::DomainQuery;
use crate::domain::subjects::{Subject, SubjectKind};
use crate::domain::DomainRules;
use crate::investigate::search::{self, Cursor, GraphQuery, Order, Query};
use crate::ledger::time::{DateAs, Timestamp};
use crate::store::Ledger;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::borrow::Cow;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/search", web::get().to(search_route))
        .route("/v1/persons", web::get().to(persons_route))
        .route("/v1/manifests/{number}/graph", web::get().to(graph_route));
}

use super::Params;

fn bad(name: &str, expected: impl std::fmt::Display) -> Problem {
    Problem::bad_request(Some(name), format!("query parameter `{name}`: {expected}"))
}

/// Refuse parameters the route does not know (a typo would otherwise widen the search).
fn known(q: &Params, names: &[&str]) -> Result<(), Problem> {
    let mut unknown: Vec<&String> = q.keys().filter(|k| !names.contains(&k.as_str())).collect();
    unknown.sort();
    match unknown.first() {
        Some(k) => Err(bad(
            k,
            format!(
                "not a parameter of this route (expected {})",
                names.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn time(q: &Params, name: &str) -> Result<Option<Timestamp>, Problem> {
    q.get(name)
        .map(|s| Timestamp::parse_human(s, DateAs::for_bound(name)).map_err(|e| bad(name, e)))
        .transpose()
}

/// [from, to), with to after from.
fn window(q: &Params) -> Result<(Option<Timestamp>, Option<Timestamp>), Problem> {
    let (from, to) = (time(q, "from")?, time(q, "to")?);
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            return Err(bad("to", format!("a time after `from` ({f}); got {t}")));
        }
    }
    Ok((from, to))
}

fn number_in(
    q: &Params,
    name: &str,
    range: std::ops::RangeInclusive<usize>,
    default: usize,
) -> Result<usize, Problem> {
    match q.get(name) {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                bad(
                    name,
                    format!(
                        "an integer from {} to {}, got {s:?}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
    }
}

/// The one subject named, checked for its form.
fn subject(q: &Params) -> Result<Subject, Problem> {
    let given: Vec<&str> = ["plate", "party", "site", "driver"]
        .into_iter()
        .filter(|k| q.contains_key(*k))
        .collect();
    let name = match given.as_slice() {
        [one] => *one,
        [] => {
            return Err(Problem::bad_request(
                Some("plate"),
                "one of the query parameters `plate`, `party`, `site`, `driver` or `driver_name` (the subject to search for)",
            ))
        }
        [_, second, ..] => {
            return Err(bad(
                second,
                format!("one subject per search; got {}", given.join(" and ")),
            ))
        }
    };
    let raw = &q[name];
    Ok(match name {
        "plate" => Subject::new(
            SubjectKind::Plate,
            Plate::parse(raw).map_err(|e| bad(name, e))?.as_str(),
        ),
        "party" => Subject::new(
            SubjectKind::Party,
            Uscc::parse(raw).map_err(|e| bad(name, e))?.as_str(),
        ),
        "site" => {
            if raw.trim().is_empty() || raw.len() > 128 || raw.chars().any(char::is_control) {
                return Err(bad(name, format!("a registered site id, got {raw:?}")));
            }
            Subject::new(SubjectKind::Site, raw.as_str())
        }
        _ => Subject::new(
            SubjectKind::Driver,
            Commitment::try_from(raw.clone())
                .map_err(|e| {
                    bad(
                        name,
                        format!(
                            "{e} (drivers are searched by the commitment the hand-overs carry)"
                        ),
                    )
                })?
                .as_str(),
        ),
    })
}

/// A signed reader, and the party its search is limited to (None: sees all).
fn reader(v: &Viewer, what: &str) -> Result<Option<Uscc>, Problem> {
    match v.access() {
        Access::All => Ok(None),
        Access::Party(id) => Ok(Some(id)),
        Access::Public => Err(Problem::new(
            401,
            "unauthenticated",
            "Sign the request",
            format!("{what} needs a request signed with a registered key (Authorization: WL-Ed25519 ...)"),
        )
        .field("Authorization")),
    }
}

/// The registered persons whose lodged name is `name` (trimmed, exact), among the names the
/// reader may read: all of them for those who see all, else those the reading party lodged.
/// Erased names are not found. A look-up per registered person (drivers number thousands).
fn persons_named<'d>(
    ledger: &Ledger,
    d: &'d dyn DomainQuery,
    v: &Viewer,
    param: &str,
    name: &str,
) -> Result<Vec<Cow<'d, Person>>, Problem> {
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(bad(param, format!("a person's name, got {name:?}")));
    }
    let mine = match v.access() {
        Access::All => None,
        Access::Party(id) => Some(id.to_string()),
        Access::Public => {
            return Err(Problem::new(
                401,
                "unauthenticated",
                "Sign the request",
                "names are searched only with a request signed by a registered key",
            )
            .field("Authorization"))
        }
    };
    let mut found = Vec::new();
    for p in d.persons() {
        let Some(bytes) = ledger.personal(p.reg.person.as_str())? else {
            continue;
        };
        let r: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let readable = mine
            .as_deref()
            .is_none_or(|me| r["lodged_by"].as_str() == Some(me));
        if readable
            && r.get("erased_at").is_none()
            && r["kind"] == "driver_name"
            && r["value"].as_str().map(str::trim) == Some(name)
        {
            found.push(p);
        }
    }
    Ok(found)
}

fn person_json(p: &Person) -> serde_json::Value {
    json!({"person": p.reg.person, "party": p.reg.party, "role": p.reg.role, "index": p.index})
}

/// `GET /v1/persons?name=`: the registered persons of that name the reader may know of.
async fn persons_route(
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    q: Params,
) -> Result<HttpResponse, Problem> {
    known(&q, &["name"])?;
    let name = q
        .get("name")
        .ok_or_else(|| bad("name", "the person's name (as lodged beside the log)"))?;
    let d = live(&rules)?;
    let v = viewer(&req, &seen, &*d)?;
    let found = persons_named(&ledger, &*d, &v, "name", name)?;
    Ok(HttpResponse::Ok().json(json!({
        "name": name.trim(),
        "persons": found.iter().map(|p| person_json(p)).collect::<Vec<_>>(),
        "scope": if v.sees_all() { "all" } else { "persons whose names you lodged" },
    })))
}

/// The one driver a `driver_name` names, for this reader.
fn subject_by_name(
    ledger: &Ledger,
    d: &dyn DomainQuery,
    v: &Viewer,
    q: &Params,
    name: &str,
) -> Result<Subject, Problem> {
    if let Some(other) = ["plate", "party", "site", "driver"]
        .into_iter()
        .find(|k| q.contains_key(*k))
    {
        return Err(bad(
            other,
            format!("one subject per search; got driver_name and {other}"),
        ));
    }
    let found = persons_named(ledger, d, v, "driver_name", name)?;
    match found.as_slice() {
        [one] => Ok(Subject::new(SubjectKind::Driver, one.reg.person.as_str())),
        [] => Err(Problem::new(
            404,
            "unknown-person",
            "Not found",
            format!(
                "no registered person named {:?} whose name you may read (inspectors, enforcement, auditors and the authority read every lodged name, a party those it lodged; an erased name is not found: search by the person's id with `driver`)",
                name.trim()
            ),
        )
        .field("driver_name")),
        many => Err(Problem::new(
            409,
            "ambiguous-name",
            "Several persons of that name",
            format!(
                "{} registered persons are named {:?}: search each by its id with `driver`: {}",
                many.len(),
                name.trim(),
                many.iter()
                    .map(|p| format!("{} (role {:?}, for {}, entry {})", p.reg.person.as_str(), p.reg.role, p.reg.party, p.index))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
        .field("driver_name")),
    }
}

async fn search_route(
    ledger: web::Data<Ledger>,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    q: Params,
) -> Result<HttpResponse, Problem> {
    known(
        &q,
        &[
            "plate",
            "party",
            "site",
            "driver",
            "driver_name",
            "from",
            "to",
            "limit",
            "cursor",
            "order",
        ],
    )?;
    let by_name = q.get("driver_name").cloned();
    let mut subject = match &by_name {
        Some(_) => None,
        None => Some(subject(&q)?),
    };
    let (from, to) = window(&q)?;
    let limit = number_in(&q, "limit", 1..=500, 50)?;
    let order = match q.get("order") {
        None => Order::NewestFirst,
        Some(s) => {
            Order::parse(s).ok_or_else(|| bad("order", format!("newest or oldest, got {s:?}")))?
        }
    };
    let cursor = q
        .get("cursor")
        .map(|c| Cursor::parse(c).map_err(|e| bad("cursor", e)))
        .transpose()?;
    let v = viewer(&req, &seen, &*live(&rules)?)?;
    let within = reader(&v, "searching")?;
    // A search by name reads a record per person, and a subject's postings may be long: off
    // the async workers.
    let body = off_worker(move || {
        let d = live(&rules)?;
        if let Some(name) = &by_name {
            subject = Some(subject_by_name(&ledger, &*d, &v, &q, name)?);
        }
        let page = search::search(
            &*d,
            &Query {
                subject: subject.expect("a subject, by id or by name"),
                from,
                to,
                order,
                limit,
                cursor,
                within_party: within.as_ref(),
            },
        )
        .map_err(|e| bad("cursor", e))?;
        let mut body = serde_json::to_value(&page).expect("a page serialises");
        body["from"] = serde_json::to_value(from).expect("time");
        body["to"] = serde_json::to_value(to).expect("time");
        body["scope"] = match &within {
            None => "all".into(),
            Some(p) => format!("manifests {p} is party to").into(),
        };
        if let Some(name) = by_name {
            body["driver_name"] = name.trim().into();
        }
        Ok(body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

async fn graph_route(
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    path: web::Path<String>,
    q: Params,
) -> Result<HttpResponse, Problem> {
    let start = ManifestNumber::parse(&path)
        .map_err(|e| Problem::bad_request(Some("number"), format!("path `number`: {e}")))?;
    known(&q, &["depth", "from", "to", "fan_out", "max_nodes"])?;
    let depth = number_in(
        &q,
        "depth",
        1..=GraphQuery::MAX_DEPTH as usize,
        GraphQuery::DEFAULT_DEPTH as usize,
    )? as u32;
    let (from, to) = window(&q)?;
    let fan_out = number_in(&q, "fan_out", 1..=1000, GraphQuery::DEFAULT_FAN_OUT)?;
    let max_nodes = number_in(&q, "max_nodes", 1..=10_000, GraphQuery::DEFAULT_MAX_NODES)?;
    let v = viewer(&req, &seen, &*live(&rules)?)?;
    let within = reader(&v, "the graph around a load")?;
    let g = long_off_worker(move || {
        let d = live(&rules)?;
        search::graph(
            &*d,
            &GraphQuery {
                start,
                depth,
                from,
                to,
                fan_out,
                max_nodes,
                within_party: within.as_ref(),
            },
        )
        // Unknown, or not this reader's: the same answer, so a party learns nothing of others'.
        .map_err(|e| Problem::new(404, "unknown-manifest", "Not found", e).field("number"))
    })
    .await?;
    Ok(HttpResponse::Ok().json(g))
}
