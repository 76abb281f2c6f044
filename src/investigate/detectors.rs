//! Anomaly detectors over the derived domain state. Each anomaly says what is wrong in a
//! sentence a person can act on (with the numbers), and names the log entries behind it, the
//! manifests, parties, sites and vehicles it concerns, and when the rule was broken.
//!
//! [`detect`] reads the manifests the fold watches for the rules about one manifest
//! (`domain::watch`), the rows the fold keeps of what each manifest adds to the aggregates
//! (`domain::balances`: licences' annual capacity, transfer stations' balance, construction
//! sites' balance), judged by the register as it is now, and each vehicle's fixes
//! (`domain::movements`). [`detect_by_scan`] is the reference it is tested against: one pass
//! over every manifest's steps. [`manifest_own`] gives what a manifest read shows
//! (the rules about that manifest and its vehicles' anomalies naming it);
//! [`detect_for_manifest`] adds the aggregates it is counted in, scanning the manifests of its
//! stations and receivers. Who may see which: `domain::access` ([`Anomaly::named`]).
//!
//! Pure: time comes in as `now`; no clock, no I/O. The rules and thresholds are in README.md
//! ("Anomaly detectors").

use crate::domain::access::Named;
use crate::domain::balances::{self, Group, Side, Total};
use crate::domain::codes::{ManifestNumber, Plate, Quantity, Unit, Uscc};
use crate::domain::events::{Line, Point, Role, SiteKind, Stream};
use crate::domain::model::{FlagKind, Licence, Manifest, Site, Status, Step, StepKind};
use crate::domain::movements::{Fix, FixKind};
use crate::domain::query::DomainQuery;
use crate::domain::subjects::{Subject, SubjectKind};
use crate::domain::watch::{arrival_and_receipt, Watched};
use crate::ledger::time::Timestamp;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// China Standard Time is UTC+8 all year.
const CST_MS: u64 = crate::ledger::time::CST_OFFSET_MS;

/// What kind of anomaly: one detector each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    Overdue,
    ReceiptUnconfirmed,
    QuantityGap,
    NotLicensed,
    LicenceExpired,
    NoPermit,
    CapacityExceeded,
    VehicleTwoPlaces,
    TooFast,
    DwellOutsideSites,
    StationImbalance,
    SiteBalance,
    WrongVehicle,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 13] = [
        AnomalyKind::Overdue,
        AnomalyKind::ReceiptUnconfirmed,
        AnomalyKind::QuantityGap,
        AnomalyKind::NotLicensed,
        AnomalyKind::LicenceExpired,
        AnomalyKind::NoPermit,
        AnomalyKind::CapacityExceeded,
        AnomalyKind::VehicleTwoPlaces,
        AnomalyKind::TooFast,
        AnomalyKind::DwellOutsideSites,
        AnomalyKind::StationImbalance,
        AnomalyKind::SiteBalance,
        AnomalyKind::WrongVehicle,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::Overdue => "overdue",
            AnomalyKind::ReceiptUnconfirmed => "receipt_unconfirmed",
            AnomalyKind::QuantityGap => "quantity_gap",
            AnomalyKind::NotLicensed => "not_licensed",
            AnomalyKind::LicenceExpired => "licence_expired",
            AnomalyKind::NoPermit => "no_permit",
            AnomalyKind::CapacityExceeded => "capacity_exceeded",
            AnomalyKind::VehicleTwoPlaces => "vehicle_two_places",
            AnomalyKind::TooFast => "too_fast",
            AnomalyKind::DwellOutsideSites => "dwell_outside_sites",
            AnomalyKind::StationImbalance => "station_imbalance",
            AnomalyKind::SiteBalance => "site_balance",
            AnomalyKind::WrongVehicle => "wrong_vehicle",
        }
    }

    pub fn parse(s: &str) -> Option<AnomalyKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Every kind's name, for messages.
    pub fn names() -> String {
        Self::ALL.map(|k| k.as_str()).join(", ")
    }
}

/// One anomaly: what is wrong, and the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// Stable across scans ([`anomaly_id`]): what `case.noted` names to record what was done.
    pub id: String,
    pub kind: AnomalyKind,
    /// What is wrong, with the numbers.
    pub reason: String,
    /// The log entries behind it, in log order.
    pub entries: Vec<u64>,
    pub manifests: Vec<ManifestNumber>,
    pub parties: Vec<Uscc>,
    pub sites: Vec<String>,
    pub vehicles: Vec<Plate>,
    /// When the rule was broken (for a balance: the latest entry it rests on).
    pub at: Timestamp,
}

impl Anomaly {
    /// What it names, for the access rules (`domain::access::Access::may_see_anomaly`).
    pub fn named(&self) -> Named<'_> {
        Named {
            manifests: &self.manifests,
            vehicles: &self.vehicles,
            sites: &self.sites,
            parties: &self.parties,
        }
    }
}

/// An anomaly's stable id: its kind, a dash and the first 16 hex digits of
/// SHA-256(`kind` `:` the entries behind it in log order, comma-separated), e.g.
/// `overdue-3f09c2a1b4d5e6f7`. The same finding has the same id in every scan while the
/// entries behind it stay the same (an overdue load's grows no new entry as it gets later; a
/// balance that takes in a new entry is a new finding). Two findings of one kind on the same
/// entries (rare: two flags of a kind on one hand-over) are told apart by `.2`, `.3` in scan
/// order.
pub fn anomaly_id(kind: AnomalyKind, entries: &[u64]) -> String {
    use sha2::{Digest, Sha256};
    let list: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
    let h = Sha256::digest(format!("{}:{}", kind.as_str(), list.join(",")).as_bytes());
    format!("{}-{}", kind.as_str(), hex::encode(&h[..8]))
}

/// Order by time (then kind, entries, reason) and give each its id.
fn sort_and_name(out: &mut [Anomaly]) {
    out.sort_by(|a, b| {
        (a.at, a.kind, &a.entries, &a.reason).cmp(&(b.at, b.kind, &b.entries, &b.reason))
    });
    let mut seen: HashMap<String, u32> = HashMap::new();
    for a in out.iter_mut() {
        let id = anomaly_id(a.kind, &a.entries);
        let n = seen.entry(id.clone()).or_insert(0);
        *n += 1;
        a.id = if *n == 1 { id } else { format!("{id}.{n}") };
    }
}

/// Thresholds. Tolerances and transit limits per stream are the fold's (`Domain::limits`).
#[derive(Clone, Debug)]
pub struct DetectorConfig {
    /// Working days (Monday to Friday, China Standard Time) a receiver has to confirm receipt
    /// after the day of arrival.
    pub receipt_working_days: u32,
    /// Public holidays (CST dates, no working day), as days since 1970-01-01. Working weekends
    /// that make up for holidays are not modelled.
    pub holidays: BTreeSet<u64>,
    /// Faster than this, between two known positions, is faster than a truck can go.
    pub max_speed_kmh: u64,
    /// Moves shorter than this never count as too fast (GPS noise, a big site's two gates).
    pub min_jump_m: u64,
    /// Two hand-overs of one vehicle this close in time, too far apart to drive between: the
    /// vehicle holds loads at two places at once (a cloned plate).
    pub two_places_window_ms: u64,
    /// A loaded vehicle whose track stays within this radius...
    pub dwell_radius_m: u64,
    /// ...for at least this long, outside every registered site's geofence, dwells.
    pub dwell_min_ms: u64,
    /// A load counts as on its vehicle from the hand-over that put it on until the one that
    /// took it off, and for at most this long: a load held longer is overdue (the transit
    /// rules report it), and the vehicle's later moves and stops are not laid at its door.
    pub max_on_board_ms: u64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            receipt_working_days: 5,
            holidays: BTreeSet::new(),
            max_speed_kmh: 120,
            min_jump_m: 1_000,
            two_places_window_ms: 15 * MINUTE_MS,
            dwell_radius_m: 300,
            dwell_min_ms: 20 * MINUTE_MS,
            max_on_board_ms: 7 * DAY_MS,
        }
    }
}

impl DetectorConfig {
    /// Add a public holiday given as a CST date, `YYYY-MM-DD`.
    pub fn holiday(&mut self, date: &str) -> Result<(), String> {
        let t = Timestamp::parse(&format!("{date}T00:00:00Z")).map_err(|_| {
            format!("expected a date like 2026-10-01 (a public holiday, China Standard Time), got {date:?}")
        })?;
        self.holidays.insert(t.unix_millis() / DAY_MS);
        Ok(())
    }

    fn working(&self, day: u64) -> bool {
        // 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays.
        (day + 3) % 7 < 5 && !self.holidays.contains(&day)
    }

    /// The end (24:00 CST) of the `receipt_working_days`-th working day after the day `t`
    /// falls on.
    pub fn receipt_deadline(&self, t: Timestamp) -> Timestamp {
        let mut day = (t.unix_millis() + CST_MS) / DAY_MS;
        let mut left = self.receipt_working_days;
        while left > 0 {
            day += 1;
            if self.working(day) {
                left -= 1;
            }
        }
        Timestamp::from_unix_millis((day + 1) * DAY_MS - CST_MS)
    }
}

/// Which anomalies a reader asks for; `None` matches anything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub kind: Option<AnomalyKind>,
    pub party: Option<Uscc>,
    pub site: Option<String>,
    pub vehicle: Option<Plate>,
    /// `at` at or after.
    pub from: Option<Timestamp>,
    /// `at` before.
    pub to: Option<Timestamp>,
}

impl Filter {
    pub fn matches(&self, a: &Anomaly) -> bool {
        self.kind.is_none_or(|k| a.kind == k)
            && self.party.as_ref().is_none_or(|p| a.parties.contains(p))
            && self.site.as_ref().is_none_or(|s| a.sites.contains(s))
            && self.vehicle.as_ref().is_none_or(|v| a.vehicles.contains(v))
            && self.from.is_none_or(|t| a.at >= t)
            && self.to.is_none_or(|t| a.at < t)
    }
}

/// Every anomaly in the state as of `now`, ordered by time (then kind). The rules about one
/// manifest are judged on the manifests the fold watches for them (`domain::watch`), read by
/// range; the aggregates add up the fold's balance rows (`domain::balances`); the vehicles'
/// fixes are walked whole.
/// The same as [`detect_by_scan`], anomaly for anomaly.
pub fn detect(d: &dyn DomainQuery, now: Timestamp, cfg: &DetectorConfig) -> Vec<Anomaly> {
    let mut s = Scan::new(d, now, cfg, None);
    s.watched(None);
    s.balances();
    s.vehicles_and_finish()
}

/// [`detect`] made by judging every manifest (the reference the watched answer is tested
/// against).
pub fn detect_by_scan(d: &dyn DomainQuery, now: Timestamp, cfg: &DetectorConfig) -> Vec<Anomaly> {
    let mut s = Scan::new(d, now, cfg, None);
    d.each_manifest(&mut |m| {
        s.manifest(m);
        ControlFlow::Continue(())
    });
    s.vehicles_and_finish()
}

/// Whether anomalies of `kind` come from a vehicle's fixes (too fast, two places, dwelling).
pub fn vehicle_kind(kind: AnomalyKind) -> bool {
    use AnomalyKind::*;
    matches!(kind, TooFast | VehicleTwoPlaces | DwellOutsideSites)
}

/// Which detectors can give an anomaly a filter matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plan {
    /// The rules about one manifest.
    own: bool,
    /// The vehicles' fixes.
    vehicles: bool,
    /// The aggregates (capacity, a station's or a construction site's balance), read from
    /// the fold's balances. They name no vehicle.
    aggregates: bool,
}

impl Plan {
    fn of(f: &Filter) -> Plan {
        let k = f.kind;
        Plan {
            own: k.is_none_or(watched_kind),
            vehicles: k.is_none_or(vehicle_kind),
            aggregates: k.is_none_or(|k| !watched_kind(k) && !vehicle_kind(k))
                && f.vehicle.is_none(),
        }
    }
}

/// Whether [`detect_filtered`] answers `f` without reading every vehicle's whole track: the
/// filter names a vehicle, or a kind that is no vehicle rule, or a time from which on
/// (`from`). Then only the manifests the fold watches (or those naming the vehicle), the
/// fold's balances and the fixes of the vehicles in and around the window are read.
pub fn bounded(f: &Filter) -> bool {
    !Plan::of(f).vehicles || f.vehicle.is_some() || f.from.is_some()
}

/// Whether anomalies of `kind` are rules about one manifest, answered from the manifests the
/// fold watches without a scan.
pub fn watched_kind(kind: AnomalyKind) -> bool {
    use AnomalyKind::*;
    matches!(
        kind,
        Overdue
            | ReceiptUnconfirmed
            | QuantityGap
            | NotLicensed
            | LicenceExpired
            | NoPermit
            | WrongVehicle
    )
}

/// Where the reference scan's time goes (bench): reading the manifests, their own rules
/// (overdue, receipt, flags), walking their steps for the aggregates, the vehicles' fixes, and
/// working out the aggregates; and what [`detect`] spends instead of the reading and walking
/// (the fold's balance rows added up); in seconds.
pub fn scan_parts(
    d: &dyn DomainQuery,
    now: Timestamp,
    cfg: &DetectorConfig,
) -> Vec<(&'static str, f64)> {
    use std::time::{Duration, Instant};
    let mut s = Scan::new(d, now, cfg, None);
    let (mut own, mut walk) = (Duration::ZERO, Duration::ZERO);
    let t = Instant::now();
    d.each_manifest(&mut |m| {
        let a = Instant::now();
        s.overdue(m);
        s.receipt(m);
        s.flags(m);
        let b = Instant::now();
        s.walk(m);
        own += b - a;
        walk += b.elapsed();
        ControlFlow::Continue(())
    });
    let read = t.elapsed() - own - walk;
    let t = Instant::now();
    for p in d.tracked_vehicles() {
        s.vehicle(&p);
    }
    let vehicles = t.elapsed();
    let t = Instant::now();
    s.finish();
    let aggregates = t.elapsed();
    // What [`detect`] reads instead of every manifest for the aggregates.
    let t = Instant::now();
    Scan::new(d, now, cfg, None).balances();
    vec![
        ("read manifests", read.as_secs_f64()),
        ("their own rules", own.as_secs_f64()),
        ("walk for aggregates", walk.as_secs_f64()),
        ("vehicles", vehicles.as_secs_f64()),
        ("aggregates", aggregates.as_secs_f64()),
        (
            "the balance rows instead of reading and walking the manifests",
            t.elapsed().as_secs_f64(),
        ),
    ]
}

/// [`detect`], keeping those the filter matches, reading only what can give them: a kind of
/// [`watched_kind`] reads the manifests the fold watches for it; a vehicle reads the manifests
/// naming it (subject postings: its hand-overs and the inspections that saw it) and its own
/// fixes; the aggregates add up the fold's balances; a window (`from`, `to`) bounds the fixes
/// read to what the walks over it need. Only a filter that lets in the vehicle rules with no
/// vehicle and no `from` ([`bounded`] false) walks every truck's whole track.
pub fn detect_filtered(
    d: &dyn DomainQuery,
    now: Timestamp,
    cfg: &DetectorConfig,
    f: &Filter,
) -> Vec<Anomaly> {
    let plan = Plan::of(f);
    let mut s = Scan::new(d, now, cfg, None);
    let started = std::time::Instant::now();
    if plan.own {
        match &f.vehicle {
            Some(v) => {
                for n in manifests_naming(d, v) {
                    if let Some(m) = d.manifest(&n) {
                        s.overdue(&m);
                        s.receipt(&m);
                        s.flags(&m);
                    }
                }
            }
            None => s.watched(f.kind),
        }
    }
    let own = started.elapsed();
    if plan.aggregates {
        s.balances();
    }
    let balances = started.elapsed();
    if plan.vehicles {
        let plates = match &f.vehicle {
            Some(v) => vec![v.clone()],
            None => d.tracked_vehicles(),
        };
        let (from, to) = (
            f.from.map(|t| t.unix_millis()),
            f.to.map(|t| t.unix_millis()),
        );
        for p in plates {
            s.vehicle_in(&p, from, to);
        }
    }
    let vehicles = started.elapsed();
    let mut out = if plan.aggregates {
        s.finish()
    } else {
        let mut out = std::mem::take(&mut s.out);
        sort_and_name(&mut out);
        out
    };
    out.retain(|a| f.matches(a));
    tracing::debug!(
        from = ?f.from,
        to = ?f.to,
        found = out.len(),
        "detect_filtered: own rules {:?}, balances {:?}, vehicles {:?}, aggregates and sorting {:?}",
        own,
        balances - own,
        vehicles - balances,
        started.elapsed() - vehicles
    );
    out
}

/// The manifests whose entries name vehicle `plate` (its subject postings).
fn manifests_naming(d: &dyn DomainQuery, plate: &Plate) -> BTreeSet<ManifestNumber> {
    let subject = Subject::new(SubjectKind::Plate, plate.as_str());
    let Some(id) = d.subject_id(&subject) else {
        return BTreeSet::new();
    };
    d.postings_at(id, 0..d.posting_count(id))
        .into_iter()
        .map(|p| ManifestNumber::unpacked(p.manifest))
        .collect()
}

/// What a vehicle carries as its fixes are walked in time order: each load on it (by the
/// hand-over that put it there) until the hand-over that took it off, for at most `on_max`
/// (`DetectorConfig::max_on_board_ms`). Advanced only forwards,
/// so a detector's whole walk over a truck's fixes is linear, however many anomalies it finds.
struct LoadCursor {
    next: usize,
    /// The loads on (packed manifest number) -> the entry and time of the fix that put each on.
    on: BTreeMap<u64, (u64, u64)>,
    on_max: u64,
}

impl LoadCursor {
    fn new(on_max: u64) -> Self {
        LoadCursor {
            next: 0,
            on: BTreeMap::new(),
            on_max,
        }
    }

    /// The loads on the vehicle after fix `upto` (`upto` never goes back) of `fixes`, whose
    /// loads (packed) are `loads`.
    fn at(
        &mut self,
        fixes: &[Fix],
        loads: &[Option<u64>],
        upto: usize,
    ) -> &BTreeMap<u64, (u64, u64)> {
        while self.next <= upto && self.next < fixes.len() {
            let f = &fixes[self.next];
            if let Some(m) = loads[self.next] {
                match f.kind() {
                    FixKind::Load => {
                        self.on.insert(m, (f.index(), f.ms));
                    }
                    FixKind::Unload => {
                        self.on.remove(&m);
                    }
                    FixKind::Track => {}
                }
            }
            self.next += 1;
        }
        let now = fixes[upto].ms;
        let on_max = self.on_max;
        self.on
            .retain(|_, (_, ms)| now.saturating_sub(*ms) <= on_max);
        &self.on
    }
}

/// A vehicle's fixes as read for one walk, in time order, each with the load a hand-over's fix
/// is of (packed); the walk looks at pairs and runs that start in `lo..hi`.
struct Walk {
    fixes: Vec<Fix>,
    loads: Vec<Option<u64>>,
    lo: usize,
    hi: usize,
    /// The time the fixes were read from (None: the vehicle's first).
    from: Option<u64>,
    /// The fixes read reach the vehicle's last.
    to_end: bool,
}

/// What a window of a vehicle's fixes holds for one manifest's walk, or for the anomalies
/// dated in a window of time.
enum Around {
    Found(Walk),
    /// None of the manifest's fixes (none in the window).
    Missing,
    /// Too few before its first fix: read from earlier.
    Earlier,
    /// Too few after its last: read to later.
    Later,
}

impl Walk {
    fn whole(fixes: Vec<Fix>, loads: Vec<Option<u64>>) -> Walk {
        let hi = fixes.len();
        Walk {
            fixes,
            loads,
            lo: 0,
            hi,
            from: None,
            to_end: true,
        }
    }

    /// The walk over `lo..hi` of the fixes read from `from` up to `to` (None: from the first, to
    /// the last).
    fn read(
        fixes: Vec<Fix>,
        loads: Vec<Option<u64>>,
        range: std::ops::Range<usize>,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Walk {
        Walk {
            fixes,
            loads,
            lo: range.start,
            hi: range.end,
            from,
            to_end: to.is_none(),
        }
    }

    /// For the walk of one manifest (`mine`: its steps' entries) on the fixes read from `from`
    /// (None: the first) up to `to` (None: the last): from the last known position before its
    /// first fix on the vehicle, with the loads on it then (those put on up to `on_max`
    /// before), to the first known position after its last (after `on_max` past it, if that
    /// put the load on and nothing took it off).
    fn around(
        fixes: Vec<Fix>,
        loads: Vec<Option<u64>>,
        mine: &HashSet<u64>,
        on_max: u64,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Around {
        let at: Vec<usize> = (0..fixes.len())
            .filter(|&i| fixes[i].kind() != FixKind::Track && mine.contains(&fixes[i].index()))
            .collect();
        let (Some(&first), Some(&last)) = (at.first(), at.last()) else {
            return Around::Missing;
        };
        let lo = match start_before(&fixes, first, on_max, from) {
            Ok(lo) => lo,
            Err(short) => return short,
        };
        let known = |i: &usize| fixes[*i].point().is_some();
        let after = match fixes[last].kind() {
            // Still on: to the first known position after it counts as on no longer.
            FixKind::Load => {
                let until = fixes[last].ms.saturating_add(on_max);
                (last + 1..fixes.len()).find(|i| known(i) && fixes[*i].ms > until)
            }
            // Taken off: to the first known position after.
            _ => (last + 1..fixes.len()).find(known),
        };
        if after.is_none() && to.is_some() {
            return Around::Later;
        }
        let hi = after.map_or(fixes.len(), |i| i + 1);
        Around::Found(Walk::read(fixes, loads, lo..hi, from, to))
    }

    /// For the anomalies dated `wf <= time < wt` (None: unbounded) on the fixes read from
    /// `from` (None: the first) up to `to` (None: the last): the pairs of known positions whose
    /// second fix, and the stop runs whose first, is dated then, walked from the last known
    /// position before the window with the loads on it then (those put on up to `on_max`
    /// before). A run that starts in the window and goes on past it is followed to its end.
    fn within(
        fixes: Vec<Fix>,
        loads: Vec<Option<u64>>,
        (wf, wt): (Option<u64>, Option<u64>),
        on_max: u64,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Around {
        let first = wf.map_or(0, |t| fixes.partition_point(|x| x.ms < t));
        let hi = wt.map_or(fixes.len(), |t| fixes.partition_point(|x| x.ms < t));
        if first >= hi {
            return Around::Missing;
        }
        let lo = match start_before(&fixes, first, on_max, from) {
            Ok(lo) => lo,
            Err(short) => return short,
        };
        Around::Found(Walk::read(fixes, loads, lo..hi, from, to))
    }

    /// Whether any load is on after each fix (a walk from the first fix read).
    fn loaded(&self, on_max: u64) -> Vec<bool> {
        loaded_after_each(&self.fixes, &self.loads, on_max)
    }
}

/// Where a walk that looks at fix `first` on starts: the last known position before it (the
/// first jump to look at ends at `first`'s position or later), or `first` if the fixes read
/// from `from` (None: the vehicle's first) reach back to the vehicle's first. Earlier: the fixes
/// read do not reach that position, or not `on_max` before it (the loads on then).
fn start_before(
    fixes: &[Fix],
    first: usize,
    on_max: u64,
    from: Option<u64>,
) -> Result<usize, Around> {
    let before = (0..first).rev().find(|&i| fixes[i].point().is_some());
    let lo = before.unwrap_or(first);
    if from.is_some_and(|from| before.is_none() || fixes[lo].ms.saturating_sub(on_max) < from) {
        return Err(Around::Earlier);
    }
    Ok(lo)
}

/// Whether any load is on a vehicle after each of `fixes` (`loads`: the load of each, packed),
/// walking from the first: the rule the vehicle detectors and the map's stops share (a load is
/// on from the fix that puts it on until the one that takes it off, for at most `on_max`).
pub(crate) fn loaded_after_each(fixes: &[Fix], loads: &[Option<u64>], on_max: u64) -> Vec<bool> {
    let mut c = LoadCursor::new(on_max);
    (0..fixes.len())
        .map(|i| !c.at(fixes, loads, i).is_empty())
        .collect()
}

/// Manifest `n`'s own anomalies, cheap enough for every read of it: the rules about the
/// manifest itself (overdue, receipt, quantity, licence and permit) and those of its vehicles
/// that name it (too fast, two places, dwell). The aggregates it may be counted in (capacity,
/// a station's or a construction site's balance) are left to [`detect`] and
/// [`detect_for_manifest`]: they cost a scan of a whole party's manifests.
pub fn manifest_own(
    d: &dyn DomainQuery,
    n: &ManifestNumber,
    now: Timestamp,
    cfg: &DetectorConfig,
) -> Vec<Anomaly> {
    let Some(m) = d.manifest(n) else {
        return Vec::new();
    };
    let mut s = Scan::new(d, now, cfg, Some(n));
    s.overdue(&m);
    s.receipt(&m);
    s.flags(&m);
    for v in &m.vehicles {
        s.vehicle(v);
    }
    let mut out = std::mem::take(&mut s.out);
    out.retain(|a| a.manifests.contains(n));
    sort_and_name(&mut out);
    out
}

/// Every anomaly that names manifest `n`, the aggregates included. The aggregates it can be part of (its receiver's
/// capacity, a station's balance, its origin site's balance) are worked out from the manifests
/// of the stations and receivers that took it in (and of its issuer, for a station's outgoing
/// load or a construction site's), which hold every manifest those aggregates count: the cost
/// is that of those parties' manifests, not of the whole state.
pub fn detect_for_manifest(
    d: &dyn DomainQuery,
    n: &ManifestNumber,
    now: Timestamp,
    cfg: &DetectorConfig,
) -> Vec<Anomaly> {
    let Some(m) = d.manifest(n) else {
        return Vec::new();
    };
    let mut s = Scan::new(d, now, cfg, Some(n));
    // The parties whose aggregates can count it: stations and receivers that took it in, and
    // its issuer when that is a station (its outgoing load) or the load left a construction
    // site. Their manifests hold everything those aggregates count.
    let mut parties: BTreeSet<&Uscc> = m
        .steps
        .iter()
        .filter_map(|s| s.to.as_ref())
        .filter(|p| {
            s.capped.contains(*p) || d.has_role(p, Role::Station) || d.has_role(p, Role::Receiver)
        })
        .collect();
    let construction = d
        .site(&m.origin)
        .is_some_and(|site| site.reg.kind == SiteKind::ConstructionSite);
    if construction || !m.sources.is_empty() {
        parties.insert(&m.issuer);
    }
    s.manifest(&m);
    let mut seen: HashSet<ManifestNumber> = HashSet::new();
    seen.insert(m.number.clone());
    for p in parties {
        for other in d.manifests_of_party(p).iter() {
            if seen.insert(other.clone()) {
                if let Some(o) = d.manifest(other) {
                    s.manifest(&o);
                }
            }
        }
    }
    for v in &m.vehicles {
        s.vehicle(v);
    }
    let mut out = s.finish();
    out.retain(|a| a.manifests.contains(n));
    out
}

// ---------------------------------------------------------------------------------------------
// The scan
// ---------------------------------------------------------------------------------------------

/// A waste line's identity for balances: its code or type, and its unit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Waste {
    stream: Stream,
    label: String,
    unit: Unit,
}

fn waste(stream: Stream, line: &Line, unit: Unit) -> Waste {
    let label = match (&line.code, &line.cw_type) {
        (Some(c), _) => c.to_string(),
        (_, Some(t)) => t.as_str().to_string(),
        _ => line.name.clone(),
    };
    Waste {
        stream,
        label,
        unit,
    }
}

/// What a receiver accepted under one licence, one entry at a time.
#[derive(Default)]
struct Intake {
    /// (time, entry, amount, manifest)
    items: Vec<(Timestamp, u64, u64, ManifestNumber)>,
}

/// A transfer station's books for one waste.
#[derive(Default)]
struct Books {
    input: u64,
    output: u64,
    stock: u64,
    entries: BTreeSet<u64>,
    manifests: BTreeSet<ManifestNumber>,
    last: Option<Timestamp>,
}

impl Books {
    fn note(&mut self, index: u64, time: Timestamp, m: &ManifestNumber) {
        self.entries.insert(index);
        self.manifests.insert(m.clone());
        self.last = self.last.max(Some(time));
    }
}

/// A construction site's outgoing loads.
#[derive(Default)]
struct SiteLoads {
    /// Picked up and taken in somewhere (received, or at a station): per unit, picked up and
    /// taken in.
    picked: BTreeMap<Unit, u64>,
    taken: BTreeMap<Unit, u64>,
    matched: Vec<ManifestNumber>,
    /// Picked up longer ago than the stream's transit limit, and taken in nowhere.
    lost: Vec<(ManifestNumber, Timestamp, u64)>,
    entries: BTreeSet<u64>,
    last: Option<Timestamp>,
}

struct Scan<'a> {
    d: &'a dyn DomainQuery,
    now: Timestamp,
    cfg: &'a DetectorConfig,
    /// Only this manifest's own anomalies (the aggregates are kept whole).
    focus: Option<&'a ManifestNumber>,
    out: Vec<Anomaly>,
    /// Parties holding a licence with an annual capacity.
    capped: HashSet<Uscc>,
    intake: HashMap<(String, u16, Unit), Intake>,
    books: BTreeMap<(Uscc, Waste), Books>,
    sites: BTreeMap<String, SiteLoads>,
    /// The register of sites, read once for the vehicle rules (each stop is checked against
    /// every site's geofence, and the nearest named).
    registered: std::cell::OnceCell<Vec<Site>>,
    /// The parties and the two sites (origin, destination) of each manifest a vehicle anomaly
    /// names, read once (a load on board is named by every jump and stop while it is).
    named: std::cell::RefCell<HashMap<ManifestNumber, Option<NamedBy>>>,
}

/// What a manifest adds to a vehicle anomaly that names it: its parties and sites.
type NamedBy = (BTreeSet<Uscc>, [String; 2]);

fn sorted<T: Ord + Clone>(it: impl IntoIterator<Item = T>) -> Vec<T> {
    let s: BTreeSet<T> = it.into_iter().collect();
    s.into_iter().collect()
}

/// Micro-degrees as degrees, `31.461200`.
fn deg(e6: i32) -> String {
    let sign = if e6 < 0 { "-" } else { "" };
    let a = e6.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
}

fn at(p: Point) -> String {
    format!("{}, {}", deg(p.lat_e6), deg(p.lon_e6))
}

/// Great-circle distance in metres (haversine on a 6,371 km sphere).
pub fn distance_m(a: Point, b: Point) -> f64 {
    let rad = |e6: i32| (e6 as f64 / 1e6).to_radians();
    let (la1, lo1, la2, lo2) = (rad(a.lat_e6), rad(a.lon_e6), rad(b.lat_e6), rad(b.lon_e6));
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6_371_000.0 * h.sqrt().min(1.0).asin()
}

/// Whether `p` lies inside the polygon (ray casting; integer arithmetic, micro-degrees).
pub fn inside(p: Point, polygon: &[Point]) -> bool {
    let (x, y) = (p.lon_e6 as i64, p.lat_e6 as i64);
    let mut inside = false;
    let n = polygon.len();
    for i in 0..n {
        let a = polygon[i];
        let b = polygon[(i + n - 1) % n];
        let (xa, ya, xb, yb) = (
            a.lon_e6 as i64,
            a.lat_e6 as i64,
            b.lon_e6 as i64,
            b.lat_e6 as i64,
        );
        if (ya > y) != (yb > y) {
            // x < xa + (y - ya) * (xb - xa) / (yb - ya), without dividing.
            let lhs = (x - xa) * (yb - ya);
            let rhs = (y - ya) * (xb - xa);
            if (yb > ya && lhs < rhs) || (yb < ya && lhs > rhs) {
                inside = !inside;
            }
        }
    }
    inside
}

/// The site of `sites` (the register, in id order) nearest to `p` (the first of those as near),
/// and how far it is in metres.
pub(crate) fn nearest_of(sites: &[Site], p: Point) -> Option<(f64, &Site)> {
    let mut nearest: Option<(f64, &Site)> = None;
    for s in sites {
        let dist = distance_m(p, s.reg.location);
        if nearest.is_none_or(|(d, _)| dist.total_cmp(&d).is_lt()) {
            nearest = Some((dist, s));
        }
    }
    nearest
}

/// The ids of the sites `pred` holds for, in id order.
fn site_ids(d: &dyn DomainQuery, pred: impl Fn(&Site) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    d.each_site(&mut |s| {
        if pred(s) {
            out.push(s.reg.site.clone());
        }
        ControlFlow::Continue(())
    });
    out
}

fn sum(q: &[Quantity]) -> BTreeMap<Unit, u64> {
    let mut out = BTreeMap::new();
    for x in q {
        *out.entry(x.unit).or_default() += x.amount;
    }
    out
}

/// Parts per thousand by which `a` and `b` differ, of the larger (rounded up).
fn gap_permille(a: u64, b: u64) -> u64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    if hi == 0 {
        return 0;
    }
    ((hi - lo) as u128 * 1000).div_ceil(hi as u128) as u64
}

impl<'a> Scan<'a> {
    fn new(
        d: &'a dyn DomainQuery,
        now: Timestamp,
        cfg: &'a DetectorConfig,
        focus: Option<&'a ManifestNumber>,
    ) -> Self {
        let mut capped = HashSet::new();
        d.each_licence(&mut |l| {
            if l.grant.annual_capacity.is_some() {
                capped.insert(l.grant.party.clone());
            }
            ControlFlow::Continue(())
        });
        Scan {
            d,
            now,
            cfg,
            focus,
            out: Vec::new(),
            capped,
            intake: HashMap::new(),
            books: BTreeMap::new(),
            sites: BTreeMap::new(),
            registered: std::cell::OnceCell::new(),
            named: Default::default(),
        }
    }

    /// Every registered site, in id order.
    fn registered_sites(&self) -> &[Site] {
        self.registered
            .get_or_init(|| self.d.sites().into_iter().map(Cow::into_owned).collect())
    }

    /// An anomaly about one manifest: its parties, sites and vehicles.
    fn about(
        &self,
        m: &Manifest,
        kind: AnomalyKind,
        reason: String,
        entries: impl IntoIterator<Item = u64>,
        at: Timestamp,
    ) -> Anomaly {
        Anomaly {
            id: String::new(),
            kind,
            reason,
            entries: sorted(entries),
            manifests: vec![m.number.clone()],
            parties: m.parties.iter().cloned().collect(),
            sites: sorted([m.origin.clone(), m.current().destination.clone()]),
            vehicles: m.vehicles.iter().cloned().collect(),
            at,
        }
    }

    fn own(&self, m: &Manifest) -> bool {
        self.focus.is_none_or(|n| *n == m.number)
    }

    /// One manifest: its own anomalies, and what it adds to the aggregates.
    fn manifest(&mut self, m: &Manifest) {
        if self.own(m) {
            self.overdue(m);
            self.receipt(m);
            self.flags(m);
        }
        self.walk(m);
    }

    /// The rules about one manifest (all, or those giving `kind`), judged on the manifests the
    /// fold watches for them: those on the road since before `now` less the shortest transit
    /// limit; those delivered before `now` less the receipt's working days and not confirmed,
    /// or confirmed more than those days after arriving (a deadline is always later than
    /// that); and those flagged.
    fn watched(&mut self, kind: Option<AnomalyKind>) {
        let d = self.d;
        let want = |ks: &[AnomalyKind]| kind.is_none_or(|k| ks.contains(&k));
        let now = self.now.unix_millis();
        let days = self.cfg.receipt_working_days as u64 * DAY_MS;
        let each =
            |s: &mut Self, w: Watched, from: u64, to: u64, rule: fn(&mut Self, &Manifest)| {
                for (_, n) in d.watched(w, from, to) {
                    if let Some(m) = d.manifest(&n) {
                        rule(s, &m);
                    }
                }
            };
        if want(&[AnomalyKind::Overdue]) {
            let shortest = [Stream::Hazardous, Stream::Construction]
                .map(|st| d.limits().transit_ms(st))
                .into_iter()
                .min()
                .unwrap_or(0);
            each(
                self,
                Watched::InTransit,
                0,
                now.saturating_sub(shortest),
                Self::overdue,
            );
        }
        if want(&[AnomalyKind::ReceiptUnconfirmed]) {
            each(
                self,
                Watched::Unconfirmed,
                0,
                now.saturating_sub(days),
                Self::receipt,
            );
            each(self, Watched::ConfirmedAfter, days, u64::MAX, Self::receipt);
        }
        if want(&[
            AnomalyKind::QuantityGap,
            AnomalyKind::NotLicensed,
            AnomalyKind::LicenceExpired,
            AnomalyKind::NoPermit,
            AnomalyKind::WrongVehicle,
        ]) {
            each(self, Watched::Flagged, 0, u64::MAX, Self::flags);
        }
    }

    fn overdue(&mut self, m: &Manifest) {
        let (Some(since), Some(index)) = (m.in_transit_since, m.in_transit_index) else {
            return;
        };
        let limit = self.d.limits().transit_ms(m.stream);
        let held = self.now.unix_millis().saturating_sub(since.unix_millis());
        if held <= limit {
            return;
        }
        let on = m
            .vehicle
            .as_ref()
            .map(|v| format!(" on {v}"))
            .unwrap_or_default();
        let reason = format!(
            "manifest {} ({}) has been on the road{on} with {} since {} ({} h; the {} stream allows {} h): find the load",
            m.number,
            m.stream.as_str(),
            m.holder,
            Timestamp::cst(since),
            held / HOUR_MS,
            m.stream.as_str(),
            limit / HOUR_MS
        );
        let a = self.about(
            m,
            AnomalyKind::Overdue,
            reason,
            [index],
            Timestamp::from_unix_millis(since.unix_millis() + limit),
        );
        self.out.push(a);
    }

    fn receipt(&mut self, m: &Manifest) {
        let Some((arrival, receipt)) = arrival_and_receipt(m) else {
            return;
        };
        let delivered = arrival.time;
        let deadline = self.cfg.receipt_deadline(delivered);
        let receiver = arrival.to.clone().unwrap_or_else(|| m.holder.clone());
        let days = self.cfg.receipt_working_days;
        let (reason, entries) = match receipt {
            Some(r) if r.time > deadline => (
                format!(
                    "manifest {}: delivered to {receiver} at {} (entry {}), receipt confirmed only at {} (entry {}), after the deadline {} ({days} working days)",
                    m.number,
                    Timestamp::cst(delivered),
                    arrival.index,
                    Timestamp::cst(r.time),
                    r.index,
                    Timestamp::cst(deadline)
                ),
                vec![arrival.index, r.index],
            ),
            None if m.status == Status::Delivered && self.now > deadline => (
                format!(
                    "manifest {}: delivered to {receiver} at {} (entry {}), no receipt confirmed by the deadline {} ({days} working days, Monday to Friday CST); {} h past it",
                    m.number,
                    Timestamp::cst(delivered),
                    arrival.index,
                    Timestamp::cst(deadline),
                    (self.now.unix_millis() - deadline.unix_millis()) / HOUR_MS
                ),
                vec![arrival.index],
            ),
            _ => return,
        };
        let a = self.about(
            m,
            AnomalyKind::ReceiptUnconfirmed,
            reason,
            entries,
            deadline,
        );
        self.out.push(a);
    }

    /// The fold's flags, as anomalies (overdue and the others are computed here).
    fn flags(&mut self, m: &Manifest) {
        let mut mine: Vec<Anomaly> = Vec::new();
        for f in &m.flags {
            let step = m.steps.iter().find(|s| s.index == f.index);
            let time = step.map(|s| s.time).unwrap_or(m.issued_at);
            let (kind, reason, mut entries) = match f.kind {
                FlagKind::QuantityGap => {
                    // The count before, and this one.
                    let before = m
                        .steps
                        .iter()
                        .rev()
                        .filter(|s| s.index < f.index && s.quantities.is_some())
                        .find(|s| s.kind != StepKind::Treated);
                    let mut e = vec![f.index];
                    let before_s = match before {
                        Some(b) => {
                            e.push(b.index);
                            format!(" (counted before at entry {})", b.index)
                        }
                        None => String::new(),
                    };
                    (
                        AnomalyKind::QuantityGap,
                        format!(
                            "manifest {}, entry {}: {}{before_s}",
                            m.number, f.index, f.detail
                        ),
                        e,
                    )
                }
                FlagKind::NotLicensed => {
                    let taker = step
                        .and_then(|s| s.to.clone())
                        .unwrap_or_else(|| m.holder.clone());
                    let lapsed = self
                        .d
                        .licences_of(&taker)
                        .into_iter()
                        .find(|l: &Cow<Licence>| {
                            f.detail
                                .starts_with(&format!("licence {} ", l.grant.licence))
                        });
                    match lapsed {
                        Some(l) => {
                            let mut e = vec![f.index, l.index];
                            e.extend(l.revoked.map(|(_, i)| i));
                            (
                                AnomalyKind::LicenceExpired,
                                format!(
                                    "manifest {}: taken in by {taker} at {} (entry {}) under a licence that did not cover that time: {} (valid {} to {})",
                                    m.number,
                                    Timestamp::cst(time),
                                    f.index,
                                    f.detail,
                                    Timestamp::cst(l.grant.valid_from),
                                    Timestamp::cst(l.grant.valid_until)
                                ),
                                e,
                            )
                        }
                        None => (
                            AnomalyKind::NotLicensed,
                            format!(
                                "manifest {}: taken in by {taker} at {} (entry {}), which is not licensed for it: {}",
                                m.number,
                                Timestamp::cst(time),
                                f.index,
                                f.detail
                            ),
                            vec![f.index],
                        ),
                    }
                }
                FlagKind::NoPermit => {
                    let v = step.and_then(|s| s.vehicle.as_ref());
                    let mut e = vec![f.index];
                    e.extend(v.and_then(|v| self.d.vehicle(v)).map(|v| v.index));
                    (
                        AnomalyKind::NoPermit,
                        format!(
                            "manifest {}: put on the road at {} (entry {}) without the permit the {} stream needs: {}",
                            m.number,
                            Timestamp::cst(time),
                            f.index,
                            m.stream.as_str(),
                            f.detail
                        ),
                        e,
                    )
                }
                FlagKind::WrongVehicle => {
                    // The truck the load should be on: the last hand-over's before the inspection.
                    let on = m
                        .steps
                        .iter()
                        .rev()
                        .filter(|s| s.index < f.index && s.kind == StepKind::Handover)
                        .find_map(|s| s.vehicle.is_some().then_some(s.index));
                    (
                        AnomalyKind::WrongVehicle,
                        format!(
                            "manifest {}: seen on another truck at {} (entry {}): {}",
                            m.number,
                            time.cst(),
                            f.index,
                            f.detail
                        ),
                        std::iter::once(f.index).chain(on).collect(),
                    )
                }
                FlagKind::Overdue
                | FlagKind::UnknownCode
                | FlagKind::Diverted
                | FlagKind::ForeignDriver => continue,
            };
            entries.sort_unstable();
            // Several flags of one kind on one entry (a line each): one anomaly.
            if let Some(last) = mine.last_mut() {
                if last.kind == kind && last.entries == entries {
                    last.reason.push_str("; ");
                    last.reason.push_str(&f.detail);
                    continue;
                }
            }
            let mut a = self.about(m, kind, reason, entries, time);
            // The truck the inspector saw is one the anomaly concerns too.
            if let (AnomalyKind::WrongVehicle, Some(seen)) =
                (kind, step.and_then(|s| s.vehicle.as_ref()))
            {
                if !a.vehicles.contains(seen) {
                    a.vehicles.push(seen.clone());
                    a.vehicles.sort();
                }
            }
            mine.push(a);
        }
        self.out.extend(mine);
    }

    /// Walk a manifest's steps once: what receivers and stations took in, what left stations,
    /// what left construction sites.
    fn walk(&mut self, m: &Manifest) {
        let d = self.d;
        let lines = &m.current().lines;
        let handovers: Vec<usize> = m
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == StepKind::Handover)
            .map(|(i, _)| i)
            .collect();
        // At a station since (its party, the step index in `steps`).
        let mut station: Option<&Uscc> = None;
        let mut taken_in = false;
        for (k, &i) in handovers.iter().enumerate() {
            let s: &Step = &m.steps[i];
            let (Some(from), Some(to), Some(q)) = (&s.from, &s.to, &s.quantities) else {
                continue;
            };
            if let Some(p) = station.take() {
                if p == from {
                    for (l, x) in lines.iter().zip(q) {
                        let b = self
                            .books
                            .entry((p.clone(), waste(m.stream, l, x.unit)))
                            .or_default();
                        b.output += x.amount;
                        b.note(s.index, s.time, &m.number);
                    }
                }
            }
            let on_road = s.vehicle.is_some() && d.has_role(to, Role::Hauler);
            if on_road {
                continue;
            }
            let next = handovers.get(k + 1).copied().unwrap_or(m.steps.len());
            let receipt = m.steps[i + 1..next]
                .iter()
                .find(|r| r.kind == StepKind::Received);
            if let Some(r) = receipt {
                taken_in = true;
                if self.capped.contains(to) {
                    if let Some(acc) = &r.quantities {
                        self.take(to, m, acc, r);
                    }
                }
            } else if d.has_role(to, Role::Station) {
                taken_in = true;
                station = Some(to);
                for (l, x) in lines.iter().zip(q) {
                    let b = self
                        .books
                        .entry((to.clone(), waste(m.stream, l, x.unit)))
                        .or_default();
                    b.input += x.amount;
                    b.note(s.index, s.time, &m.number);
                }
                if self.capped.contains(to) {
                    self.take(to, m, q, s);
                }
            }
        }
        // Still in stock at the station.
        if m.status == Status::AtStation {
            for (l, x) in lines.iter().zip(&m.quantities) {
                let b = self
                    .books
                    .entry((m.holder.clone(), waste(m.stream, l, x.unit)))
                    .or_default();
                b.stock += x.amount;
                b.note(
                    m.steps.last().map_or(m.issue_index, |s| s.index),
                    m.steps.last().map_or(m.issued_at, |s| s.time),
                    &m.number,
                );
            }
        }
        // A station's own outgoing load (not a receiver's return of a rejected part): what
        // left it.
        let outgoing = m
            .steps
            .first()
            .is_some_and(|s| matches!(s.kind, StepKind::Consolidated | StepKind::Split));
        if outgoing {
            for l in lines {
                let b = self
                    .books
                    .entry((m.issuer.clone(), waste(m.stream, l, l.quantity.unit)))
                    .or_default();
                b.output += l.quantity.amount;
                b.note(m.issue_index, m.issued_at, &m.number);
            }
        }
        // A construction site's outgoing load.
        let from_site = m.stream == Stream::Construction
            && m.sources.is_empty()
            && d.site(&m.origin)
                .is_some_and(|s| s.reg.kind == SiteKind::ConstructionSite);
        if let (true, Some(&first)) = (from_site, handovers.first()) {
            let pickup = &m.steps[first];
            let picked = sum(pickup.quantities.as_deref().unwrap_or(&[]));
            let sl = self.sites.entry(m.origin.clone()).or_default();
            sl.entries.insert(pickup.index);
            sl.last = sl.last.max(Some(pickup.time));
            let received = m.steps.iter().find(|s| s.kind == StepKind::Received);
            if let Some(r) = received {
                let mut taken = sum(&m.accepted);
                for (u, a) in sum(&m.rejected) {
                    *taken.entry(u).or_default() += a;
                }
                for (u, a) in picked {
                    *sl.picked.entry(u).or_default() += a;
                }
                for (u, a) in taken {
                    *sl.taken.entry(u).or_default() += a;
                }
                sl.entries.insert(r.index);
                sl.last = sl.last.max(Some(r.time));
                sl.matched.push(m.number.clone());
            } else if taken_in
                || matches!(
                    m.status,
                    Status::AtStation | Status::Consolidated | Status::Split | Status::Voided
                )
            {
                // Taken in at a station: its balance is the station's.
            } else {
                let limit = d.limits().transit_ms(m.stream);
                if self.now.unix_millis() > pickup.time.unix_millis() + limit {
                    sl.lost.push((m.number.clone(), pickup.time, pickup.index));
                }
            }
        }
    }

    /// A receiver or station took `q` of `m` in at step `s`: count it against the licence that
    /// covers each line then, if it has an annual capacity.
    fn take(&mut self, party: &Uscc, m: &Manifest, q: &[Quantity], s: &Step) {
        let d = self.d;
        for (l, x) in m.current().lines.iter().zip(q) {
            if x.amount == 0 {
                continue;
            }
            let licence = d.licences_of(party).into_iter().find(|lc| {
                lc.covers(m.stream, l)
                    && lc.lapse(s.time).is_none()
                    && lc.grant.annual_capacity.is_some()
            });
            if let Some(lc) = licence {
                self.intake
                    .entry((lc.grant.licence.clone(), s.time.cst_year(), x.unit))
                    .or_default()
                    .items
                    .push((s.time, s.index, x.amount, m.number.clone()));
            }
        }
    }

    /// What the aggregates add up, from the totals and rows the fold keeps for them
    /// (`domain::balances`) judged by the register as it is now: what [`Scan::walk`] adds up
    /// from every manifest, kept only for the balances out of line (the only ones
    /// [`Scan::finish`] reports), whose rows are read for the entries behind them.
    fn balances(&mut self) {
        let d = self.d;
        let mut totals: Vec<(Group, Total)> = Vec::new();
        d.balance_totals(&mut |g, t| {
            totals.push((g, t));
            ControlFlow::Continue(())
        });
        // Stations' books added up per party and waste; the rows of those out of balance read
        // for their entries.
        let mut books: BTreeMap<(Uscc, Waste), (Books, Vec<&Group>)> = BTreeMap::new();
        for (g, t) in &totals {
            let Group::Books {
                party,
                stream,
                label,
                unit,
                side,
            } = g
            else {
                continue;
            };
            let waste = Waste {
                stream: *stream,
                label: label.clone(),
                unit: *unit,
            };
            let (b, groups) = books.entry((party.clone(), waste)).or_default();
            match side {
                Side::In => b.input += t.amount,
                Side::Out | Side::Sent => b.output += t.amount,
                Side::Stock => b.stock += t.amount,
            }
            groups.push(g);
        }
        for ((party, w), (mut b, groups)) in books {
            let tol = d.limits().tolerance_permille(w.stream);
            if gap_permille(b.input, b.output + b.stock) <= tol {
                continue;
            }
            for g in groups {
                d.balance_rows(g, &mut |f| {
                    b.note(f.entry, f.time, &f.manifest);
                    ControlFlow::Continue(())
                });
            }
            self.books.insert((party, w), b);
        }

        // Annual capacity: what each licence counted per year and unit. The licence a take
        // counts under is the first of its party's with a capacity that covers the waste and
        // is valid at the take's time: the same all year unless one of them begins, ends or
        // is revoked within it, when the year's rows are judged one by one.
        let mut licences: HashMap<Uscc, Vec<Cow<'_, Licence>>> = HashMap::new();
        type Counted<'g> = (
            u64,
            Vec<&'g Group>,
            Vec<(Timestamp, u64, u64, ManifestNumber)>,
        );
        let mut intake: HashMap<(String, u16, Unit), Counted<'_>> = HashMap::new();
        for (g, t) in &totals {
            let Group::Take {
                party,
                year,
                stream,
                code,
                cw_type,
                unit,
            } = g
            else {
                continue;
            };
            if !self.capped.contains(party) {
                continue;
            }
            let held = licences
                .entry(party.clone())
                .or_insert_with(|| d.licences_of(party));
            let covering: Vec<&Licence> = held
                .iter()
                .map(|lc| &**lc)
                .filter(|lc| {
                    lc.covers_waste(*stream, code.as_ref(), *cw_type)
                        && lc.grant.annual_capacity.is_some()
                })
                .collect();
            let bounds = |lc: &Licence| {
                let g = &lc.grant;
                [
                    Some(g.valid_from),
                    Some(g.valid_until),
                    lc.revoked.map(|r| r.0),
                ]
            };
            let changes_within = covering
                .iter()
                .flat_map(|lc| bounds(lc))
                .flatten()
                .any(|b| b.cst_year() == *year);
            if changes_within {
                d.balance_rows(g, &mut |f| {
                    if let Some(lc) = covering.iter().find(|lc| lc.lapse(f.time).is_none()) {
                        let c = intake
                            .entry((lc.grant.licence.clone(), *year, *unit))
                            .or_default();
                        c.0 += f.amount();
                        c.2.push((f.time, f.entry, f.amount(), f.manifest));
                    }
                    ControlFlow::Continue(())
                });
                continue;
            }
            // Valid all year, or not at all.
            let all_year = covering.iter().find(|lc| {
                let [from, until, revoked] = bounds(lc);
                from.is_some_and(|t| t.cst_year() < *year)
                    && until.is_some_and(|t| t.cst_year() > *year)
                    && revoked.is_none_or(|t| t.cst_year() > *year)
            });
            if let Some(lc) = all_year {
                let c = intake
                    .entry((lc.grant.licence.clone(), *year, *unit))
                    .or_default();
                c.0 += t.amount;
                c.1.push(g);
            }
        }
        for (key, (total, groups, mut items)) in intake {
            let beyond = d
                .licence(&key.0)
                .and_then(|l| l.grant.annual_capacity)
                .is_some_and(|cap| cap.unit == key.2 && total > cap.amount);
            if !beyond {
                continue;
            }
            for g in groups {
                d.balance_rows(g, &mut |f| {
                    items.push((f.time, f.entry, f.amount(), f.manifest));
                    ControlFlow::Continue(())
                });
            }
            self.intake.insert(key, Intake { items });
        }

        // Construction sites: their received loads' totals, and the loads received nowhere
        // (few: read row by row); the rows of a site out of balance read for its entries.
        let now = self.now.unix_millis();
        let lost_after = d.limits().transit_ms(Stream::Construction);
        let tol = d.limits().tolerance_permille(Stream::Construction);
        let mut sites: BTreeMap<&str, (Option<&Total>, bool)> = BTreeMap::new();
        for (g, t) in &totals {
            let Group::Site { site, load } = g else {
                continue;
            };
            let e = sites.entry(site).or_default();
            match *load {
                balances::RECEIVED => e.0 = Some(t),
                balances::UNRECEIVED => e.1 = true,
                _ => {}
            }
        }
        for (site, (received, unreceived)) in sites {
            let construction = d
                .site(site)
                .is_some_and(|s| s.reg.kind == SiteKind::ConstructionSite);
            if !construction {
                continue;
            }
            let mut sl = SiteLoads::default();
            if let Some(r) = received {
                sl.picked = r.picked.clone();
                sl.taken = r.taken.clone();
            }
            let short = sl
                .picked
                .iter()
                .any(|(u, p)| gap_permille(*p, sl.taken.get(u).copied().unwrap_or(0)) > tol);
            let group = |load: u8| Group::Site {
                site: site.to_string(),
                load,
            };
            if unreceived {
                d.balance_rows(&group(balances::UNRECEIVED), &mut |f| {
                    if now > f.time.unix_millis() + lost_after {
                        sl.lost.push((f.manifest, f.time, f.entry));
                    }
                    ControlFlow::Continue(())
                });
            }
            if !short && sl.lost.is_empty() {
                continue;
            }
            for load in [balances::PICKED, balances::RECEIVED] {
                d.balance_rows(&group(load), &mut |f| {
                    sl.entries.insert(f.entry);
                    sl.last = sl.last.max(Some(f.time));
                    if load == balances::RECEIVED {
                        sl.matched.push(f.manifest);
                    }
                    ControlFlow::Continue(())
                });
            }
            // Listed in the order of their numbers, as a walk over the manifests meets them.
            sl.lost.sort();
            self.sites.insert(site.to_string(), sl);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Vehicles
    // -----------------------------------------------------------------------------------------

    fn vehicle_anomaly(
        &self,
        plate: &Plate,
        kind: AnomalyKind,
        reason: String,
        entries: BTreeSet<u64>,
        manifests: BTreeSet<ManifestNumber>,
        at: Timestamp,
    ) -> Anomaly {
        let mut parties: BTreeSet<Uscc> = BTreeSet::new();
        let mut sites: BTreeSet<String> = BTreeSet::new();
        if let Some(v) = self.d.vehicle(plate) {
            parties.insert(v.party.clone());
        }
        let mut named = self.named.borrow_mut();
        for n in &manifests {
            let by = named.entry(n.clone()).or_insert_with(|| {
                self.d.manifest(n).map(|m| {
                    let sites = [m.origin.clone(), m.current().destination.clone()];
                    (m.parties.clone(), sites)
                })
            });
            if let Some((p, s)) = by {
                parties.extend(p.iter().cloned());
                sites.extend(s.iter().cloned());
            }
        }
        Anomaly {
            id: String::new(),
            kind,
            reason,
            entries: entries.into_iter().collect(),
            manifests: manifests.into_iter().collect(),
            parties: parties.into_iter().collect(),
            sites: sites.into_iter().collect(),
            vehicles: vec![plate.clone()],
            at,
        }
    }

    /// One vehicle's fixes in time order: jumps no truck can make, and stops outside every site.
    /// For one manifest's own anomalies only the fixes around its load on this vehicle are
    /// read, in a window of time that grows until it holds all the walk needs.
    fn vehicle(&mut self, plate: &Plate) {
        let d = self.d;
        let Some(n) = self.focus else {
            self.vehicle_in(plate, None, None);
            return;
        };
        let Some(m) = d.manifest(n) else {
            return;
        };
        // Its own fixes on this vehicle, found from its steps' entries.
        let mine: HashSet<u64> = m.steps.iter().map(|s| s.index).collect();
        let times: Vec<u64> = mine
            .iter()
            .filter_map(|i| d.handed_at(plate, *i))
            .map(|t| t.unix_millis())
            .collect();
        let (Some(&first_ms), Some(&last_ms)) = (times.iter().min(), times.iter().max()) else {
            return;
        };
        let on_max = self.cfg.max_on_board_ms;
        let found = self.walk_read(
            plate,
            Some(first_ms),
            Some(last_ms),
            |fixes, loads, from, to| Walk::around(fixes, loads, &mine, on_max, from, to),
        );
        self.out.extend(found);
    }

    /// The anomalies of vehicle `plate` dated `from <= time < to` (None: unbounded): its fixes
    /// in that window and around it, as far as the walks need.
    fn vehicle_in(&mut self, plate: &Plate, from: Option<u64>, to: Option<u64>) {
        if from.is_none() && to.is_none() {
            let (fixes, loads) = self
                .d
                .fixes_with_loads(plate, None, None)
                .into_iter()
                .unzip();
            let walk = Walk::whole(fixes, loads);
            let found = self.walk_vehicle(plate, &walk);
            self.out
                .extend(found.unwrap_or_else(|_| unreachable!("a walk of every fix has them all")));
            return;
        }
        let on_max = self.cfg.max_on_board_ms;
        let mut found = self.walk_read(plate, from, to, |fixes, loads, read_from, read_to| {
            Walk::within(fixes, loads, (from, to), on_max, read_from, read_to)
        });
        let ms = |a: &Anomaly| a.at.unix_millis();
        found.retain(|a| from.is_none_or(|f| ms(a) >= f) && to.is_none_or(|t| ms(a) < t));
        self.out.extend(found);
    }

    /// Walk vehicle `plate`'s fixes read from before `first_ms` to after `last_ms` (None:
    /// from its first, to its last): twice as far as a load counts as on either side
    /// (the loads on at the known position before, and the first known after a load still
    /// on), doubled on the side the walk (`around` makes it of what was read) falls short,
    /// until it has what it needs or reads to the vehicle's first or last fix.
    fn walk_read(
        &self,
        plate: &Plate,
        first_ms: Option<u64>,
        last_ms: Option<u64>,
        around: impl Fn(Vec<Fix>, Vec<Option<u64>>, Option<u64>, Option<u64>) -> Around,
    ) -> Vec<Anomaly> {
        let reach = self.cfg.max_on_board_ms.max(DAY_MS).saturating_mul(2);
        let (mut back, mut ahead) = (reach, reach);
        loop {
            let from = first_ms.and_then(|t| t.checked_sub(back));
            let to = last_ms
                .and_then(|t| t.checked_add(ahead))
                .filter(|t| *t < u64::MAX / 2);
            let (fixes, loads) = self
                .d
                .fixes_with_loads(
                    plate,
                    from.map(Timestamp::from_unix_millis),
                    to.map(Timestamp::from_unix_millis),
                )
                .into_iter()
                .unzip();
            let walked = match around(fixes, loads, from, to) {
                Around::Found(walk) => self.walk_vehicle(plate, &walk),
                short => Err(short),
            };
            match walked {
                Ok(found) => return found,
                Err(Around::Earlier) => back = back.saturating_mul(2),
                Err(Around::Later) => ahead = ahead.saturating_mul(2),
                Err(_) => return Vec::new(),
            }
        }
    }

    /// The anomalies of one walk of a vehicle's fixes: the pairs of known positions in
    /// `lo..hi` too far apart for the time between them, and the runs of track points that
    /// start in `lo..hi` while the vehicle is loaded; or which way the fixes read fall short
    /// (a run goes on past the last fix read, or begins before the first that can be told).
    fn walk_vehicle(&self, plate: &Plate, t: &Walk) -> Result<Vec<Anomaly>, Around> {
        let (fixes, lo, hi) = (&t.fixes[..], t.lo, t.hi);
        let on_max = self.cfg.max_on_board_ms;
        let load_of = |x: &Fix, i: usize| -> Option<ManifestNumber> {
            (x.kind() != FixKind::Track)
                .then(|| t.loads[i].map(ManifestNumber::unpacked))
                .flatten()
        };
        let mut found = Vec::new();
        let mut fast_cursor = LoadCursor::new(on_max);
        // Consecutive known positions.
        let mut prev: Option<(usize, Point)> = None;
        for (i, f) in fixes.iter().enumerate().take(hi).skip(lo) {
            let Some(p) = f.point() else { continue };
            if let Some((j, q)) = prev {
                let a = &fixes[j];
                let dist = distance_m(q, p);
                let dt = f.ms - a.ms;
                // Faster than max_speed_kmh: dist / dt > v, in m and ms.
                let too_fast = dist > self.cfg.min_jump_m as f64
                    && dist * 3_600.0 > (self.cfg.max_speed_kmh * dt) as f64;
                if too_fast {
                    let handover = |x: &Fix| x.kind() != FixKind::Track;
                    let two = handover(a) && handover(f) && dt <= self.cfg.two_places_window_ms;
                    let what = |x: &Fix, at: usize| match x.kind() {
                        FixKind::Track => format!("track point (entry {})", x.index()),
                        _ => {
                            let n = load_of(x, at)
                                .map(|m| format!(" of manifest {m}"))
                                .unwrap_or_default();
                            format!("hand-over{n} (entry {})", x.index())
                        }
                    };
                    let mut manifests: BTreeSet<ManifestNumber> = fast_cursor
                        .at(&t.fixes, &t.loads, j)
                        .keys()
                        .copied()
                        .map(ManifestNumber::unpacked)
                        .collect();
                    manifests.extend(
                        fast_cursor
                            .at(&t.fixes, &t.loads, i)
                            .keys()
                            .copied()
                            .map(ManifestNumber::unpacked),
                    );
                    manifests.extend(load_of(a, j));
                    manifests.extend(load_of(f, i));
                    let km = dist / 1000.0;
                    let speed = if dt == 0 {
                        "at the same moment".to_string()
                    } else {
                        format!("{:.0} km/h", dist * 3_600.0 / dt as f64)
                    };
                    let (kind, reason) = if two {
                        (
                            AnomalyKind::VehicleTwoPlaces,
                            format!(
                                "{plate} holds loads at two places at once: {} at {} ({}) and {} at {} ({}), {km:.1} km apart within {} min ({speed}; a truck does at most {} km/h): a cloned plate, or a record of a hand-over that did not happen there",
                                what(a, j), Timestamp::cst(a.at()), at(q), what(f, i), Timestamp::cst(f.at()), at(p),
                                dt / MINUTE_MS, self.cfg.max_speed_kmh
                            ),
                        )
                    } else {
                        (
                            AnomalyKind::TooFast,
                            format!(
                                "{plate} moved {km:.1} km in {} min ({speed}; a truck does at most {} km/h): {} at {} ({}), then {} at {} ({})",
                                dt / MINUTE_MS, self.cfg.max_speed_kmh,
                                what(a, j), Timestamp::cst(a.at()), at(q), what(f, i), Timestamp::cst(f.at()), at(p)
                            ),
                        )
                    };
                    found.push(self.vehicle_anomaly(
                        plate,
                        kind,
                        reason,
                        [a.index(), f.index()].into_iter().collect(),
                        manifests,
                        f.at(),
                    ));
                }
            }
            prev = Some((i, p));
        }
        // Dwelling: runs of track points while loaded, within the radius of the run's first.
        let loaded = t.loaded(on_max);
        let mut dwell_cursor = LoadCursor::new(on_max);
        let r = self.cfg.dwell_radius_m as f64;
        let starts = |i: usize| {
            let f = &fixes[i];
            f.kind() == FixKind::Track && f.point().is_some() && loaded[i]
        };
        // Runs are cut where a walk from the first fix cuts them: the walk starts after the last
        // fix with nothing on the vehicle (no run goes on through it) before `lo`, or at the
        // first fix when the fixes read start there; none if no run can start in `lo..hi`.
        let mut i = match t.from {
            _ if !(lo..hi).any(starts) => hi,
            // Every fix from the vehicle's first was read: from there, as the full walk does
            // (a run before `lo` can go on past it, and no run then starts inside it).
            None => 0,
            Some(from) => {
                let told = |p: usize| t.fixes[p].ms.saturating_sub(on_max) >= from;
                match (0..=lo).rev().find(|&p| !loaded[p]) {
                    Some(p) if told(p) => p + 1,
                    _ => return Err(Around::Earlier),
                }
            }
        };
        while i < hi {
            let a = &fixes[i];
            let (true, Some(anchor)) = (starts(i), a.point()) else {
                i += 1;
                continue;
            };
            let mut last = i;
            let mut j = i + 1;
            loop {
                if j == fixes.len() {
                    if !t.to_end {
                        return Err(Around::Later);
                    }
                    break;
                }
                let f = &fixes[j];
                if !loaded[j] {
                    break;
                }
                match f.point() {
                    Some(p) if distance_m(anchor, p) > r => break,
                    _ => {}
                }
                if f.kind() == FixKind::Track {
                    last = j;
                }
                j += 1;
            }
            let held = fixes[last].ms - a.ms;
            if held < self.cfg.dwell_min_ms {
                i += 1;
                continue;
            }
            let run: Vec<&Fix> = fixes[i..=last]
                .iter()
                .filter(|f| f.kind() == FixKind::Track)
                .collect();
            let in_site = self.registered_sites().iter().find(|s| {
                run.iter()
                    .any(|f| f.point().is_some_and(|p| inside(p, &s.reg.geofence)))
            });
            if in_site.is_none() {
                let on = dwell_cursor.at(&t.fixes, &t.loads, i);
                let manifests: BTreeSet<ManifestNumber> =
                    on.keys().copied().map(ManifestNumber::unpacked).collect();
                let mut entries: BTreeSet<u64> = run.iter().map(|f| f.index()).collect();
                // The hand-overs that put those loads on the truck.
                entries.extend(on.values().map(|(entry, _)| *entry));
                let nearest = nearest_of(self.registered_sites(), anchor)
                    .map(|(dist, s)| {
                        format!(
                            "; the nearest registered site is {} ({}), {:.1} km away",
                            s.reg.site,
                            s.reg.name,
                            dist / 1000.0
                        )
                    })
                    .unwrap_or_default();
                let list: Vec<String> = manifests.iter().map(|n| n.to_string()).collect();
                let reason = format!(
                    "{plate}, loaded with manifest {}, stood within {} m of {} from {} to {} ({} min, {} track points), outside every registered site{nearest}: check for dumping there",
                    list.join(", "),
                    self.cfg.dwell_radius_m,
                    at(anchor),
                    Timestamp::cst(a.at()),
                    Timestamp::cst(fixes[last].at()),
                    held / MINUTE_MS,
                    run.len(),
                );
                found.push(self.vehicle_anomaly(
                    plate,
                    AnomalyKind::DwellOutsideSites,
                    reason,
                    entries,
                    manifests,
                    a.at(),
                ));
            }
            i = last + 1;
        }
        Ok(found)
    }

    // -----------------------------------------------------------------------------------------
    // Aggregates
    // -----------------------------------------------------------------------------------------

    /// Every tracked vehicle's fixes, then the aggregates.
    fn vehicles_and_finish(mut self) -> Vec<Anomaly> {
        for p in self.d.tracked_vehicles() {
            self.vehicle(&p);
        }
        self.finish()
    }

    fn finish(mut self) -> Vec<Anomaly> {
        self.capacity();
        self.stations();
        self.construction_sites();
        let mut out = std::mem::take(&mut self.out);
        sort_and_name(&mut out);
        out
    }

    fn capacity(&mut self) {
        let d = self.d;
        let mut found = Vec::new();
        for ((licence, year, unit), intake) in &mut self.intake {
            let Some(l) = d.licence(licence) else {
                continue;
            };
            let Some(cap) = l.grant.annual_capacity else {
                continue;
            };
            // Quantities in another unit than the capacity's are not added to it.
            if cap.unit != *unit {
                continue;
            }
            let total: u64 = intake.items.iter().map(|x| x.2).sum();
            if total <= cap.amount {
                continue;
            }
            intake.items.sort();
            // From the entry that crossed the capacity on.
            let mut running = 0u64;
            let mut crossed = 0;
            for (k, x) in intake.items.iter().enumerate() {
                running += x.2;
                if running > cap.amount {
                    crossed = k;
                    break;
                }
            }
            let beyond = &intake.items[crossed..];
            let mut entries: BTreeSet<u64> = beyond.iter().map(|x| x.1).collect();
            entries.insert(l.index);
            let manifests: BTreeSet<ManifestNumber> = beyond.iter().map(|x| x.3.clone()).collect();
            let mut parties: BTreeSet<Uscc> = BTreeSet::new();
            parties.insert(l.grant.party.clone());
            let sites = site_ids(d, |s| s.reg.party == l.grant.party);
            let reason = format!(
                "{} took in {} {unit} in {year} (China Standard Time) under licence {}, beyond its annual capacity of {} by {} {unit}; {} entries from {} (entry {}) on are beyond it",
                l.grant.party,
                total,
                l.grant.licence,
                cap,
                total - cap.amount,
                beyond.len(),
                Timestamp::cst(beyond[0].0),
                beyond[0].1
            );
            found.push(Anomaly {
                id: String::new(),
                kind: AnomalyKind::CapacityExceeded,
                reason,
                entries: entries.into_iter().collect(),
                manifests: manifests.into_iter().collect(),
                parties: parties.into_iter().collect(),
                sites,
                vehicles: Vec::new(),
                at: beyond[0].0,
            });
        }
        self.out.extend(found);
    }

    fn stations(&mut self) {
        let d = self.d;
        let mut found = Vec::new();
        for ((party, w), b) in &self.books {
            let tol = d.limits().tolerance_permille(w.stream);
            let accounted = b.output + b.stock;
            let gap = gap_permille(b.input, accounted);
            if gap <= tol {
                continue;
            }
            let sites = site_ids(d, |s| {
                s.reg.party == *party && s.reg.kind == SiteKind::Station
            });
            let (more, diff) = if b.input > accounted {
                ("less", b.input - accounted)
            } else {
                ("more", accounted - b.input)
            };
            let reason = format!(
                "transfer station {party}: {} {u} of {} taken in, {} {u} sent on and {} {u} in stock: {diff} {u} {more} than it took in ({gap}‰; the {} stream tolerates {tol}‰)",
                b.input,
                w.label,
                b.output,
                b.stock,
                w.stream.as_str(),
                u = w.unit
            );
            let mut parties = BTreeSet::new();
            parties.insert(party.clone());
            found.push(Anomaly {
                id: String::new(),
                kind: AnomalyKind::StationImbalance,
                reason,
                entries: b.entries.iter().copied().collect(),
                manifests: b.manifests.iter().cloned().collect(),
                parties: parties.into_iter().collect(),
                sites,
                vehicles: Vec::new(),
                at: b.last.unwrap_or(self.now),
            });
        }
        self.out.extend(found);
    }

    fn construction_sites(&mut self) {
        let d = self.d;
        let mut found = Vec::new();
        for (site, sl) in &self.sites {
            let Some(s) = d.site(site) else {
                continue;
            };
            let tol = d.limits().tolerance_permille(Stream::Construction);
            let mut problems = Vec::new();
            let mut entries = BTreeSet::new();
            let mut manifests = BTreeSet::new();
            let mut short = false;
            for (u, picked) in &sl.picked {
                let taken = sl.taken.get(u).copied().unwrap_or(0);
                let gap = gap_permille(*picked, taken);
                if gap > tol {
                    short = true;
                    problems.push(format!(
                        "the {} received loads left with {picked} {u} and receiving sites took in {taken} {u} ({gap}‰; construction waste tolerates {tol}‰)",
                        sl.matched.len()
                    ));
                }
            }
            if short {
                entries.extend(sl.entries.iter().copied());
                manifests.extend(sl.matched.iter().cloned());
            }
            if !sl.lost.is_empty() {
                let list: Vec<String> = sl
                    .lost
                    .iter()
                    .map(|(n, t, i)| format!("{n} (picked up {}, entry {i})", Timestamp::cst(*t)))
                    .collect();
                problems.push(format!(
                    "{} load(s) picked up more than {} h ago were taken in by no receiving site: {}",
                    sl.lost.len(),
                    d.limits().transit_ms(Stream::Construction) / HOUR_MS,
                    list.join(", ")
                ));
                for (n, _, i) in &sl.lost {
                    entries.insert(*i);
                    manifests.insert(n.clone());
                }
            }
            if problems.is_empty() {
                continue;
            }
            let mut parties: BTreeSet<Uscc> = BTreeSet::new();
            parties.insert(s.reg.party.clone());
            for n in &manifests {
                if let Some(m) = d.manifest(n) {
                    parties.extend(m.parties.iter().cloned());
                }
            }
            let lost_last = sl.lost.iter().map(|x| x.1).max();
            found.push(Anomaly {
                id: String::new(),
                kind: AnomalyKind::SiteBalance,
                reason: format!(
                    "construction site {site} ({}) of {}: {}",
                    s.reg.name,
                    s.reg.party,
                    problems.join("; ")
                ),
                entries: entries.into_iter().collect(),
                manifests: manifests.into_iter().collect(),
                parties: parties.into_iter().collect(),
                sites: vec![site.to_string()],
                vehicles: Vec::new(),
                at: sl.last.max(lost_last).unwrap_or(self.now),
            });
        }
        self.out.extend(found);
    }
}

#[cfg(test)]
#[path = "detectors_tests.rs"]
mod tests;
