//! Linked search over HTTP (issue 5): everything about a plate, a party, a site or a driver
//! in a time window, and the graph around one load. Signed readers only; inspectors,
//! enforcement, auditors and the authority search everything, a party only within the
//! manifests it is party to.

use super::auth::SeenRequests;
use super::domain::{live, viewer, Viewer};
use super::Problem;
use crate::domain::codes::{ManifestNumber, Plate, Uscc};
use crate::domain::events::Commitment;
use crate::domain::subjects::{Subject, SubjectKind};
use crate::domain::DomainRules;
use crate::investigate::search::{self, Cursor, GraphQuery, Order, Query};
use crate::ledger::time::{DateAs, Timestamp};
use actix_web::{web, HttpRequest, HttpResponse};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/search", web::get().to(search_route))
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
                "one of the query parameters `plate`, `party`, `site` or `driver` (the subject to search for)",
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
    if v.sees_all() {
        return Ok(None);
    }
    match v {
        Viewer::Party { id, .. } => Ok(Some(id.clone())),
        _ => Err(Problem::new(
            401,
            "unauthenticated",
            "Sign the request",
            format!("{what} needs a request signed with a registered key (Authorization: WL-Ed25519 ...)"),
        )
        .field("Authorization")),
    }
}

async fn search_route(
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    q: Params,
) -> Result<HttpResponse, Problem> {
    known(
        &q,
        &[
            "plate", "party", "site", "driver", "from", "to", "limit", "cursor", "order",
        ],
    )?;
    let subject = subject(&q)?;
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
    let d = live(&rules)?;
    let v = viewer(&req, &seen, &d)?;
    let within = reader(&v, "searching")?;
    let page = search::search(
        &d,
        &Query {
            subject,
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
    let d = live(&rules)?;
    let v = viewer(&req, &seen, &d)?;
    let within = reader(&v, "the graph around a load")?;
    let g = search::graph(
        &d,
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
    .map_err(|e| Problem::new(404, "unknown-manifest", "Not found", e).field("number"))?;
    Ok(HttpResponse::Ok().json(g))
}
