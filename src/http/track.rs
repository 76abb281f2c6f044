//! `GET /v1/vehicles/{plate}/track?from=&to=`: one vehicle's track points, hand-overs, stops
//! outside every registered site and the sites around them over a window
//! (`investigate::track`), for the console's map. Who may read it is who may read the
//! vehicle's `last_position`: its own company, and inspectors, enforcement, auditors and the
//! authority.

use super::auth::SeenRequests;
use super::reader::{live, long_off_worker, now, viewer, Viewer};
use super::Problem;
use crate::domain::codes::Plate;
use crate::domain::DomainRules;
use crate::investigate::detectors::DetectorConfig;
use crate::investigate::track::track;
use crate::ledger::time::{DateAs, Timestamp};
use actix_web::{web, HttpRequest, HttpResponse};

/// The longest window one request reads (31 days).
pub const MAX_WINDOW_MS: u64 = 31 * 24 * 3_600_000;
/// Without `from`: this long before `to`.
const DEFAULT_WINDOW_MS: u64 = 24 * 3_600_000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/vehicles/{plate}/track", web::get().to(vehicle_track));
}

/// The window `[from, to)` of a query: times as README says (a CST date, a CST time, RFC 3339);
/// `to` defaults to now, `from` to a day before `to`.
pub(crate) fn window(
    from: Option<&str>,
    to: Option<&str>,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp), Problem> {
    let time = |name: &str, v: Option<&str>| -> Result<Option<Timestamp>, Problem> {
        v.map(|s| {
            Timestamp::parse_human(s, DateAs::for_bound(name)).map_err(|e| {
                Problem::bad_request(Some(name), format!("query parameter `{name}`: {e}"))
            })
        })
        .transpose()
    };
    let to = time("to", to)?.unwrap_or(now);
    let from = time("from", from)?.unwrap_or_else(|| {
        Timestamp::from_unix_millis(to.unix_millis().saturating_sub(DEFAULT_WINDOW_MS))
    });
    if to <= from {
        return Err(Problem::bad_request(
            Some("to"),
            format!("query parameter `to`: expected a time after from ({from}), got {to}"),
        ));
    }
    if to.unix_millis() - from.unix_millis() > MAX_WINDOW_MS {
        return Err(Problem::bad_request(
            Some("to"),
            format!("query parameter `to`: the window from {from} to {to} is longer than 31 days; ask for a shorter one"),
        ));
    }
    Ok((from, to))
}

async fn vehicle_track(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
    path: web::Path<String>,
    q: super::Params,
) -> Result<HttpResponse, Problem> {
    for k in q.keys() {
        if k != "from" && k != "to" {
            return Err(Problem::bad_request(
                Some(k),
                format!("query parameter `{k}`: not a parameter of this route (from, to)"),
            ));
        }
    }
    let plate = Plate::parse(&path)
        .map_err(|e| Problem::bad_request(Some("plate"), format!("path `plate`: {e}")))?;
    let (from, to) = window(
        q.get("from").map(String::as_str),
        q.get("to").map(String::as_str),
        now(&req),
    )?;
    let d = live(&rules)?;
    let who = viewer(&req, &seen, &*d)?;
    let v = d.vehicle(&plate).ok_or_else(|| {
        Problem::new(
            404,
            "unknown-vehicle",
            "Not found",
            format!("{plate} is not a registered vehicle"),
        )
        .field("plate")
    })?;
    // Where a truck went is for its own company, and those who see everything, to know: the
    // same rule as its `last_position`.
    if !who.access().may_see_business_of(&v.party) {
        let (status, kind, title) = match who {
            Viewer::Anonymous => (401, "unauthenticated", "Signed request required"),
            _ => (403, "forbidden", "Not for this reader"),
        };
        return Err(Problem::new(
            status,
            kind,
            title,
            format!("{plate}'s track is served to its own company and to inspectors, enforcement, auditors and the authority"),
        )
        .field("Authorization"));
    }
    drop(d);
    // A long window holds many fixes: off the async workers.
    let t = long_off_worker(move || {
        let d = live(&rules)?;
        Ok(track(&*d, &plate, from, to, &DetectorConfig::default()))
    })
    .await?;
    Ok(HttpResponse::Ok().json(t))
}
