//! Investigations over HTTP: `GET /v1/anomalies`, the detectors of `investigate::detectors`
//! over the live state, scoped by who reads.

use super::auth::SeenRequests;
use super::domain::{live, now, viewer, Viewer};
use super::Problem;
use crate::domain::codes::{Plate, Uscc};
use crate::domain::fold::Domain;
use crate::domain::DomainRules;
use crate::investigate::detectors::{self, detect, Anomaly, AnomalyKind, DetectorConfig, Filter};
use crate::ledger::time::{DateAs, Timestamp};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How long one full detector scan is served before the next is made. A scan reads the whole
/// state under the domain's read lock (about a second at 1M manifests), during which nothing is
/// appended: without this, every `GET /v1/anomalies` would stall the sequencer that long.
pub const SCAN_MAX_AGE_MS: u64 = 30_000;

/// The last full scan and when it was made (answers say `as_of`); one per server, shared by
/// its workers.
#[derive(Default)]
pub struct ScanCache(Mutex<Option<(Timestamp, Arc<Vec<Anomaly>>)>>);

impl ScanCache {
    /// The anomalies as of at most [`SCAN_MAX_AGE_MS`] ago, scanning anew when older. Readers
    /// that arrive during a scan wait for it and share it.
    fn get(&self, d: &Domain, now: Timestamp) -> (Timestamp, Arc<Vec<Anomaly>>) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, scan)) = slot.as_ref() {
            let age = now.unix_millis().checked_sub(at.unix_millis());
            if age.is_some_and(|a| a < SCAN_MAX_AGE_MS) {
                return (*at, scan.clone());
            }
        }
        let scan = Arc::new(detect(d, now, &DetectorConfig::default()));
        *slot = Some((now, scan.clone()));
        (now, scan)
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/anomalies", web::get().to(anomalies));
}

/// Whether `v` may see `a`: readers who see everything see all; a party only anomalies all of
/// whose manifests it is party to ([`detectors::visible_to`]).
pub(super) fn may_see(v: &Viewer, d: &Domain, a: &Anomaly) -> bool {
    match v {
        _ if v.sees_all() => true,
        Viewer::Party { id, .. } => detectors::visible_to(a, d, id),
        _ => false,
    }
}

fn filter(q: &HashMap<String, String>) -> Result<Filter, Problem> {
    let bad = |name: &str, e: String| {
        Problem::bad_request(Some(name), format!("query parameter `{name}`: {e}"))
    };
    for k in q.keys() {
        if !["kind", "party", "site", "vehicle", "from", "to"].contains(&k.as_str()) {
            return Err(bad(
                k,
                "not a parameter of /v1/anomalies (kind, party, site, vehicle, from, to)".into(),
            ));
        }
    }
    let time = |name: &str| -> Result<Option<Timestamp>, Problem> {
        q.get(name)
            .map(|s| Timestamp::parse_human(s, DateAs::for_bound(name)).map_err(|e| bad(name, e)))
            .transpose()
    };
    let f = Filter {
        kind: q
            .get("kind")
            .map(|s| {
                AnomalyKind::parse(s).ok_or_else(|| {
                    bad(
                        "kind",
                        format!("expected one of {}, got {s:?}", AnomalyKind::names()),
                    )
                })
            })
            .transpose()?,
        party: q
            .get("party")
            .map(|s| Uscc::parse(s).map_err(|e| bad("party", e.to_string())))
            .transpose()?,
        site: q.get("site").cloned(),
        vehicle: q
            .get("vehicle")
            .map(|s| Plate::parse(s).map_err(|e| bad("vehicle", e.to_string())))
            .transpose()?,
        from: time("from")?,
        to: time("to")?,
    };
    if let (Some(a), Some(b)) = (f.from, f.to) {
        if b <= a {
            return Err(bad(
                "to",
                format!("expected a time after from ({a}), got {b}"),
            ));
        }
    }
    Ok(f)
}

async fn anomalies(
    rules: web::Data<DomainRules>,
    cache: web::Data<ScanCache>,
    seen: web::Data<SeenRequests>,
    req: HttpRequest,
    q: super::Params,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let v = viewer(&req, &seen, &d)?;
    if matches!(v, Viewer::Anonymous | Viewer::Unknown) {
        return Err(Problem::new(
            401,
            "unauthenticated",
            "Sign the request",
            "anomalies are served to signed readers: parties see those of their manifests, vehicles and sites; inspectors, enforcement, auditors and the authority see all (Authorization: WL-Ed25519 ...)",
        )
        .field("Authorization"));
    }
    let f = filter(&q)?;
    let (as_of, scan) = cache.get(&d, now());
    let keep: Vec<usize> = (0..scan.len())
        .filter(|&i| f.matches(&scan[i]) && may_see(&v, &d, &scan[i]))
        .collect();
    // The answer is written after the state's read lock is let go.
    drop(d);
    let out: Vec<&Anomaly> = keep.iter().map(|&i| &scan[i]).collect();
    Ok(HttpResponse::Ok().json(json!({"as_of": as_of, "anomalies": out})))
}
