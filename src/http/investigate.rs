//! Investigations over HTTP: `GET /v1/anomalies`, the detectors of `investigate::detectors`
//! over the live state, scoped by who reads. A filter the detectors answer without walking
//! every truck's whole track (a vehicle, a kind that is no vehicle rule, anything from a time
//! on: `detectors::bounded`) is answered as of the request; so is a page of any other list
//! that a window of its newest anomalies fills ([`newest`]); the rest is cut from the last
//! full scan ([`ScanCache`]).

use super::auth::SeenRequests;
use super::reader::{live, long_off_worker, now, off_worker, viewer, Viewer};
use super::Problem;
use crate::domain::access::Access;
use crate::domain::codes::{Plate, Uscc};
use crate::domain::query::DomainQuery;
use crate::domain::DomainRules;
use crate::investigate::detectors::{
    bounded, detect, detect_filtered, Anomaly, AnomalyKind, DetectorConfig, Filter,
};
use crate::ledger::time::{DateAs, Timestamp};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How long one full detector scan is served before the next is made. A scan reads the whole
/// read model (seconds to minutes for a large state, under the commit gate one short run at a
/// time, below the log's writer), so readers share one rather than each making their own.
pub const SCAN_MAX_AGE_MS: u64 = 30_000;

/// A scan older than this is not served even while the next is made: the reader waits for a
/// new one (the clock has moved on by more than the scans can keep up with, or the server was
/// idle).
pub const SCAN_STALE_MAX_MS: u64 = 600_000;

/// The last full scan and when it was made (answers say `as_of`); one per server, shared by
/// its workers. Readers are answered from it at once while it is younger than
/// [`SCAN_MAX_AGE_MS`]; older (up to [`SCAN_STALE_MAX_MS`]) it is still served at once while
/// the next scan is made in the background, so a reader waits for a scan only when there is
/// none recent enough (the first after a start: a scan made before any reader asked would show
/// the first readers a state older than their own writes).
pub struct ScanCache {
    last: Mutex<Option<(Timestamp, Arc<Vec<Anomaly>>)>>,
    /// Held while a scan is made: readers that must wait for one share it.
    scanning: Mutex<()>,
    /// A scan is being made in the background.
    refreshing: AtomicBool,
    hook: Option<ScanHook>,
}

/// Called as each full detector scan starts, with the reader's view of the domain in hand: the
/// tests hold a scan open with it, to see the server answer and the log append meanwhile.
#[derive(Clone)]
pub struct ScanHook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for ScanHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScanHook")
    }
}

impl ScanCache {
    pub fn new(hook: Option<ScanHook>) -> Self {
        ScanCache {
            last: Mutex::default(),
            scanning: Mutex::default(),
            refreshing: AtomicBool::new(false),
            hook,
        }
    }

    fn last(&self) -> Option<(Timestamp, Arc<Vec<Anomaly>>)> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Start a scan as of `now` on a thread of its own, unless one is being made already.
    /// False if none could be started.
    fn refresh_in_background(self: &Arc<Self>, rules: DomainRules, now: Timestamp) -> bool {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return true;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("anomaly-scan".into())
            .spawn(move || {
                super::reader::below_the_writer();
                let _turns = super::reader::LongTurns::take();
                if let Ok(d) = rules.read_durable() {
                    me.scan(&*d, now);
                }
                me.refreshing.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.refreshing.store(false, Ordering::Release);
        }
        spawned.is_ok()
    }

    /// A scan as of `now`, or the one made as of a time at most [`SCAN_MAX_AGE_MS`] before it
    /// while this waited for the scan in progress.
    fn scan(&self, d: &dyn DomainQuery, now: Timestamp) -> (Timestamp, Arc<Vec<Anomaly>>) {
        let _one = self.scanning.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, scan)) = self.last() {
            if age(at, now).is_some_and(|a| a < SCAN_MAX_AGE_MS) {
                return (at, scan);
            }
        }
        if let Some(hook) = &self.hook {
            (hook.0)();
        }
        let scan = Arc::new(in_page_order(detect(d, now, &DetectorConfig::default())));
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        // A background scan as of an earlier time never replaces a newer one.
        if last.as_ref().is_none_or(|(at, _)| *at <= now) {
            *last = Some((now, scan.clone()));
        }
        (now, scan)
    }

    fn get(
        self: &Arc<Self>,
        rules: &DomainRules,
        d: &dyn DomainQuery,
        now: Timestamp,
    ) -> (Timestamp, Arc<Vec<Anomaly>>) {
        if let Some((at, scan)) = self.last() {
            match age(at, now) {
                Some(a) if a < SCAN_MAX_AGE_MS => return (at, scan),
                Some(a)
                    if a < SCAN_STALE_MAX_MS && self.refresh_in_background(rules.clone(), now) =>
                {
                    return (at, scan)
                }
                _ => {}
            }
        }
        self.scan(d, now)
    }
}

/// Ordered by (time, id): the order pages are cut in, newest last.
fn in_page_order(mut found: Vec<Anomaly>) -> Vec<Anomaly> {
    found.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    found
}

/// How long before `now` a scan as of `at` was made (None: after it, by a clock set back).
fn age(at: Timestamp, now: Timestamp) -> Option<u64> {
    now.unix_millis().checked_sub(at.unix_millis())
}

/// Anomalies in one answer when `limit` is not given.
pub const PAGE_DEFAULT: usize = 50;
/// Most anomalies in one answer (`limit`).
pub const PAGE_MAX: usize = 500;

/// Which page: at most `limit`, those before `cursor` (newest first).
struct Page {
    limit: usize,
    /// (time, id) of the last anomaly of the page before.
    before: Option<(Timestamp, String)>,
}

/// The opaque cursor of the page after the one ending with `a`: `MILLIS/ID`.
fn cursor(a: &Anomaly) -> String {
    super::cursor(&format!("{}/{}", a.at.unix_millis(), a.id))
}

fn page(q: &super::Params) -> Result<Page, Problem> {
    let limit = match q.get("limit") {
        None => PAGE_DEFAULT,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=PAGE_MAX).contains(n))
            .ok_or_else(|| {
                Problem::bad_request(
                    Some("limit"),
                    format!(
                        "query parameter `limit`: expected a whole number from 1 to {PAGE_MAX}, got {s:?}"
                    ),
                )
            })?,
    };
    let before = q.cursor(|t| {
        let (ms, id) = t.split_once('/')?;
        Some((
            Timestamp::from_unix_millis(ms.parse().ok()?),
            id.to_string(),
        ))
    })?;
    Ok(Page { limit, before })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/anomalies", web::get().to(anomalies));
}

/// The query parameters of `GET /v1/anomalies`.
const PARAMS: [&str; 9] = [
    "kind", "party", "site", "vehicle", "from", "to", "state", "limit", "cursor",
];

/// Open (no `case.noted` names it) or handled; only those who see everything see the notes, so
/// for anyone else every anomaly is open.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Handled,
}

fn state(q: &HashMap<String, String>) -> Result<Option<State>, Problem> {
    q.get("state")
        .map(|s| match s.as_str() {
            "open" => Ok(State::Open),
            "handled" => Ok(State::Handled),
            _ => Err(Problem::bad_request(
                Some("state"),
                format!("query parameter `state`: expected open or handled, got {s:?}"),
            )),
        })
        .transpose()
}

/// The latest note on anomaly `id` a reader who sees all may read, as an answer's `handled`.
fn handled(d: &dyn DomainQuery, id: &str) -> Option<serde_json::Value> {
    let notes = d.notes(id);
    let n = notes.last()?;
    Some(json!({
        "by": n.by,
        "by_name": d.party(&n.by).map(|p| p.name.clone()),
        "action": n.action,
        "case": n.case,
        "at": n.at,
        "index": n.index,
        "time": n.time,
    }))
}

fn filter(q: &HashMap<String, String>) -> Result<Filter, Problem> {
    let bad = |name: &str, e: String| {
        Problem::bad_request(Some(name), format!("query parameter `{name}`: {e}"))
    };
    for k in q.keys() {
        if !PARAMS.contains(&k.as_str()) {
            return Err(bad(
                k,
                format!("not a parameter of /v1/anomalies ({})", PARAMS.join(", ")),
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
    let v = viewer(&req, &seen, &*live(&rules)?)?;
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
    let pg = page(&q)?;
    let want = state(&q)?;
    let notes = v.sees_all();
    let access = v.access();
    let now = now(&req);
    // The page is read off the async workers: a scan of a large state takes seconds, and a
    // worker held that long would stall every request it serves.
    let cache = cache.into_inner();
    let first = long_off_worker({
        let rules = rules.clone();
        move || {
            let d = live(&rules)?;
            let cfg = DetectorConfig::default();
            let visible = |a: &Anomaly| visible(&*d, a, &f, want, notes, &access);
            if bounded(&f) {
                // A vehicle, a kind that is no vehicle rule (about one manifest, or an aggregate),
                // anything from a time on: read from the manifests the fold watches (or those
                // naming the vehicle), the fold's balances and the vehicles' fixes in and around
                // the window asked for, as of this request.
                let found = in_page_order(detect_filtered(&*d, now, &cfg, &f));
                return Ok(Ok(answer(&*d, now, &found, &pg, &visible, notes, true)));
            }
            if let Some(found) = newest(&*d, now, &cfg, &f, &pg, &visible) {
                return Ok(Ok(answer(&*d, now, &found, &pg, &visible, notes, false)));
            }
            Ok(Err((f, pg, access)))
        }
    })
    .await?;
    let body = match first {
        Ok(body) => body,
        // The shared scan (one at a time for every reader, `ScanCache`) takes no long read's
        // slot: the tens of seconds of a whole city's scan must not hold every other reader's
        // lists, graphs and queues behind it.
        Err((f, pg, access)) => {
            off_worker(move || {
                let d = live(&rules)?;
                let visible = |a: &Anomaly| visible(&*d, a, &f, want, notes, &access);
                let (as_of, scan) = cache.get(&rules, &*d, now);
                Ok(answer(&*d, as_of, &scan, &pg, &visible, notes, true))
            })
            .await?
        }
    };
    Ok(HttpResponse::Ok().json(body))
}

/// Whether the reader (with `access`; `notes`: who sees what was done) is shown anomaly `a`
/// for filter `f` and state `want`.
fn visible(
    d: &dyn DomainQuery,
    a: &Anomaly,
    f: &Filter,
    want: Option<State>,
    notes: bool,
    access: &Access,
) -> bool {
    let is_handled = |a: &Anomaly| notes && !d.notes(&a.id).is_empty();
    f.matches(a)
        && want.is_none_or(|w| (w == State::Handled) == is_handled(a))
        && access.may_see_anomaly(d, a.named())
}

/// The windows of time, back from the page's end, that a list with the vehicle rules and no
/// `from` is read over before it falls back to the shared scan: the newest anomalies of a busy
/// city fill a page from the last day; a filter that lets few in reads on to the scan.
const WINDOWS_MS: [u64; 4] = [DAY_MS, 4 * DAY_MS, 16 * DAY_MS, 64 * DAY_MS];
const DAY_MS: u64 = 86_400_000;

/// No wider window is read once the windows read took this long: a list that fills its page
/// slowly (a party's own, a filter that lets few in) goes to the shared scan, which readers
/// share, rather than each reader reading window after window.
const WINDOWS_BUDGET: std::time::Duration = std::time::Duration::from_millis(300);

/// A page of a list with the vehicle rules and no `from` (the default list) read as of `now`
/// without a scan: everything the filter lets in over a window ending where the page ends
/// (the cursor, `to`, or the future) and starting a span back from it (or from the newest
/// vehicle fix, if neither cursor nor `to` is given), grown until it holds more than a page the reader sees; then
/// the page is the newest of them, whatever is older. None if the last window holds no more
/// than a page, or the windows read took [`WINDOWS_BUDGET`] (the list is short, or sparse:
/// the shared scan answers it).
fn newest(
    d: &dyn DomainQuery,
    now: Timestamp,
    cfg: &DetectorConfig,
    f: &Filter,
    pg: &Page,
    visible: &dyn Fn(&Anomaly) -> bool,
) -> Option<Vec<Anomaly>> {
    // Back from the cursor, or `to`, or else from the newest vehicle fix (if it is not after
    // now), and on into what is dated after it. A window with no end holds every anomaly
    // dated after its start, so starting it earlier only widens it; from the newest fix, a
    // quiet last day (a night, a holiday, a fixture read days after it ends) is not read as
    // one empty window before a wider one.
    let end = [pg.before.as_ref().map(|(at, _)| *at), f.to]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| d.newest_fix().map_or(now, |t| t.min(now)))
        .unix_millis();
    // Past the cursor nothing is needed.
    let to = match (&pg.before, f.to) {
        (Some((at, _)), to) => {
            let next = Timestamp::from_unix_millis(at.unix_millis() + 1);
            Some(to.map_or(next, |t| t.min(next)))
        }
        (None, to) => to,
    };
    let started = std::time::Instant::now();
    for span in WINDOWS_MS {
        if started.elapsed() > WINDOWS_BUDGET {
            return None;
        }
        let window = Filter {
            from: Some(Timestamp::from_unix_millis(end.saturating_sub(span))),
            to,
            ..f.clone()
        };
        let found = in_page_order(detect_filtered(d, now, cfg, &window));
        let before = page_end(&found, pg);
        if found[..before].iter().filter(|a| visible(a)).count() > pg.limit {
            return Some(found);
        }
    }
    None
}

/// The default list's page of `limit` before `before` (time, id) as of `now`, as one who sees
/// every anomaly reads it, if a window of its newest anomalies fills it (the bench).
pub fn newest_page(
    d: &dyn DomainQuery,
    now: Timestamp,
    limit: usize,
    before: Option<(Timestamp, String)>,
) -> Option<Vec<Anomaly>> {
    let pg = Page { limit, before };
    let found = newest_of_all(d, now, &pg)?;
    let end = page_end(&found, &pg);
    Some(found[..end].iter().rev().take(limit).cloned().collect())
}

/// What [`newest`] reads for page `pg` of the default list, as one who sees every anomaly.
fn newest_of_all(d: &dyn DomainQuery, now: Timestamp, pg: &Page) -> Option<Vec<Anomaly>> {
    newest(
        d,
        now,
        &DetectorConfig::default(),
        &Filter::default(),
        pg,
        &|_| true,
    )
}

/// Where the page ends in a list in page order: just before the cursor, or at its end.
fn page_end(list: &[Anomaly], pg: &Page) -> usize {
    match &pg.before {
        Some((at, id)) => list.partition_point(|a| (a.at, &a.id) < (*at, id)),
        None => list.len(),
    }
}

/// One page of anomalies from `list` (in page order) as `visible` lets them in (`notes`:
/// the reader sees what was done); `total` counts every page when `complete`, the list
/// holding every anomaly the filter lets in (not when it was read over the newest window).
fn answer(
    d: &dyn DomainQuery,
    as_of: Timestamp,
    scan: &[Anomaly],
    pg: &Page,
    visible: &dyn Fn(&Anomaly) -> bool,
    notes: bool,
    complete: bool,
) -> serde_json::Value {
    // Newest first, from just before the cursor.
    let end = page_end(scan, pg);
    let mut keep: Vec<usize> = Vec::with_capacity(pg.limit);
    let mut more = false;
    for i in (0..end).rev() {
        if visible(&scan[i]) {
            if keep.len() == pg.limit {
                more = true;
                break;
            }
            keep.push(i);
        }
    }
    let marks: Vec<Option<serde_json::Value>> = keep
        .iter()
        .map(|&i| notes.then(|| handled(d, &scan[i].id)).flatten())
        .collect();
    let next = more
        .then(|| keep.last().map(|&i| cursor(&scan[i])))
        .flatten();
    let out: Vec<serde_json::Value> = keep
        .iter()
        .zip(marks)
        .map(|(&i, mark)| {
            let mut a = json!(&scan[i]);
            if let Some(m) = mark {
                a["handled"] = m;
            }
            a
        })
        .collect();
    let mut body = json!({"as_of": as_of, "anomalies": out});
    if complete {
        body["total"] = json!(scan.iter().filter(|a| visible(a)).count());
    }
    if let Some(n) = next {
        body["next"] = json!(n);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::*;

    /// The default list's first page, read days after the newest fix (a quiet spell), comes
    /// from the day before that fix, not from a window wide enough to reach back to it from
    /// the clock, which reads every truck's fixes over weeks.
    #[test]
    fn the_newest_page_reads_back_from_the_newest_fix_not_from_a_quiet_clock() {
        let mut log = Log::new();
        // Twelve days, each with two jumps of 22 km in 5 minutes (too fast).
        for day in 0..12u64 {
            let m = day * 24 * 60;
            log.at(T0 + (m + 20) * MIN);
            log.track(
                TRUCK,
                HAUL,
                &[
                    (m, 31_300_000, 120_950_000),
                    (m + 5, 31_500_000, 120_950_000),
                    (m + 10, 31_300_000, 120_950_000),
                ],
            );
        }
        let d = log.query();
        let last = Timestamp::from_unix_millis(T0 + (11 * 24 * 60 + 10) * MIN);
        assert_eq!(d.newest_fix(), Some(last));
        let day_before = last.unix_millis() - DAY_MS;
        // Five days on, nothing newer.
        let now = Timestamp::from_unix_millis(last.unix_millis() + 5 * DAY_MS);
        let pg = Page {
            limit: 1,
            before: None,
        };
        let found =
            newest_of_all(d, now, &pg).expect("the day before the newest fix fills a page of one");
        // The last day's two, and the day before's second (24 h before the newest fix).
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found
                .iter()
                .all(|a| a.kind == AnomalyKind::TooFast && a.at.unix_millis() >= day_before),
            "{found:?}"
        );
        // The page is the newest of them, as the shared scan has it.
        let page = newest_page(d, now, 1, None).unwrap();
        let scan = in_page_order(detect_filtered(
            d,
            now,
            &DetectorConfig::default(),
            &Filter::default(),
        ));
        assert_eq!(scan.len(), 24);
        assert_eq!(page, vec![scan[23].clone()]);
    }
}
