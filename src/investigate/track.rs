//! One vehicle's movements over a window, for the map (`GET /v1/vehicles/{plate}/track`): its
//! track points, the hand-overs that put loads on it or took them off (with their places), the
//! places it stood still outside every registered site, and the registered sites around it.
//!
//! A stop ("dwell") is a run of track points within `dwell_radius_m` of the run's first for at
//! least `dwell_min_ms`, none of them inside any site's geofence, the same thresholds as the
//! `dwell_outside_sites` detector; unlike the detector it lists stops whether or not the truck
//! was loaded (`loaded` says which), since an inspector reading a map wants every stop. The
//! nearest site is measured, as the detector does, to the site's registered location
//! (great-circle). Coordinates stay as the log holds them (WGS-84 micro-degrees).
//!
//! Pure: the window and thresholds come in; no clock, no I/O.

use super::detectors::{distance_m, inside, loaded_after_each, nearest_of, DetectorConfig};
use crate::domain::codes::Uscc;
use crate::domain::codes::{ManifestNumber, Plate};
use crate::domain::events::{Point, SiteKind};
use crate::domain::model::Site;
use crate::domain::movements::{Fix, FixKind};
use crate::domain::query::DomainQuery;
use crate::ledger::time::Timestamp;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;

/// At most this many fixes are returned for one window (a month of a truck reporting every
/// minute is 43,200); beyond it the answer says `truncated` and ends at the last one returned.
pub const MAX_FIXES: usize = 20_000;

/// Sites whose location lies within this margin (micro-degrees, about 11 km north-south) of
/// the box around the track are drawn.
const SITE_MARGIN_E6: i32 = 100_000;

/// At most this many sites are listed (nearest to the track's centre first).
pub const MAX_SITES: usize = 500;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Position {
    pub at: Timestamp,
    pub lat_e6: i32,
    pub lon_e6: i32,
    /// The log entry that gives it.
    pub entry: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Handover {
    pub at: Timestamp,
    /// `load` (put a load on this vehicle) or `unload` (took one off).
    pub kind: &'static str,
    /// Where, when the hand-over named a site or a place.
    pub lat_e6: Option<i32>,
    pub lon_e6: Option<i32>,
    pub entry: u64,
    pub manifest: Option<ManifestNumber>,
    /// The registered site at that place (its location, or inside its geofence), if any.
    pub site: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Nearest {
    pub site: String,
    pub name: String,
    pub distance_m: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Dwell {
    pub from: Timestamp,
    pub to: Timestamp,
    pub minutes: u64,
    /// The run's first point (the anchor every other point is within the radius of).
    pub lat_e6: i32,
    pub lon_e6: i32,
    pub points: usize,
    /// The track points' entries.
    pub entries: Vec<u64>,
    /// Whether the vehicle held a load (a hand-over put one on and none took it off) then.
    pub loaded: bool,
    pub nearest: Option<Nearest>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SiteShape {
    pub site: String,
    pub name: String,
    pub kind: SiteKind,
    pub party: Uscc,
    pub location: Point,
    pub geofence: Vec<Point>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Track {
    pub plate: Plate,
    pub from: Timestamp,
    pub to: Timestamp,
    /// The coordinates' datum, as the log holds them: never converted.
    pub datum: &'static str,
    pub points: Vec<Position>,
    pub handovers: Vec<Handover>,
    pub dwells: Vec<Dwell>,
    pub sites: Vec<SiteShape>,
    /// More than [`MAX_FIXES`] fixes in the window: the answer stops at `to` = the last kept.
    pub truncated: bool,
}

/// `plate`'s movements in `[from, to)`.
pub fn track(
    d: &dyn DomainQuery,
    plate: &Plate,
    from: Timestamp,
    to: Timestamp,
    cfg: &DetectorConfig,
) -> Track {
    // From as long before the window as a load counts as on: the loads on at its start.
    let since = from.unix_millis().saturating_sub(cfg.max_on_board_ms);
    let (all, loads): (Vec<Fix>, Vec<Option<u64>>) = d
        .fixes_with_loads(plate, Some(Timestamp::from_unix_millis(since)), Some(to))
        .into_iter()
        .unzip();
    let lo = all.partition_point(|f| f.ms < from.unix_millis());
    let hi = all.len();
    let truncated = hi - lo > MAX_FIXES;
    let fixes = &all[lo..hi.min(lo + MAX_FIXES)];
    // Loads on the truck after each fix of the window, as the detectors count them.
    let load_before =
        loaded_after_each(&all, &loads, cfg.max_on_board_ms)[lo..lo + fixes.len()].to_vec();
    // The load each hand-over's fix moved (the fixes name them).
    let manifests: HashMap<u64, ManifestNumber> = (lo..lo + fixes.len())
        .filter_map(|i| Some((all[i].index(), ManifestNumber::unpacked(loads[i]?))))
        .collect();
    // The register of sites, read once: the hand-overs' sites, the stops, the sites drawn.
    let registered: Vec<Site> = d.sites().into_iter().map(Cow::into_owned).collect();
    let site_at = |p: Point| {
        registered
            .iter()
            .find(|s| s.reg.location == p)
            .or_else(|| registered.iter().find(|s| inside(p, &s.reg.geofence)))
            .map(|s| s.reg.site.clone())
    };
    let mut points = Vec::new();
    let mut handovers = Vec::new();
    for f in fixes {
        match (f.kind(), f.point()) {
            (FixKind::Track, Some(p)) => points.push(Position {
                at: f.at(),
                lat_e6: p.lat_e6,
                lon_e6: p.lon_e6,
                entry: f.index(),
            }),
            (FixKind::Track, None) => {}
            (k, p) => handovers.push(Handover {
                at: f.at(),
                kind: if k == FixKind::Load { "load" } else { "unload" },
                lat_e6: p.map(|p| p.lat_e6),
                lon_e6: p.map(|p| p.lon_e6),
                entry: f.index(),
                manifest: manifests.get(&f.index()).cloned(),
                site: p.and_then(site_at),
            }),
        }
    }
    let dwells = dwells(&registered, fixes, &load_before, cfg);
    let sites = sites_around(&registered, fixes, &dwells);
    Track {
        plate: plate.clone(),
        from,
        to: match (truncated, fixes.last()) {
            (true, Some(f)) => Timestamp::from_unix_millis(f.ms + 1),
            _ => to,
        },
        datum: "WGS-84",
        points,
        handovers,
        dwells,
        sites,
        truncated,
    }
}

/// Runs of track points within the radius of their first for the minimum time, outside every
/// registered site's geofence.
fn dwells(registered: &[Site], fixes: &[Fix], loaded: &[bool], cfg: &DetectorConfig) -> Vec<Dwell> {
    let track: Vec<(usize, Point)> = fixes
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind() == FixKind::Track)
        .filter_map(|(i, f)| f.point().map(|p| (i, p)))
        .collect();
    let r = cfg.dwell_radius_m as f64;
    let mut out = Vec::new();
    let mut a = 0;
    while a < track.len() {
        let (ia, anchor) = track[a];
        let mut b = a;
        while b + 1 < track.len() && distance_m(anchor, track[b + 1].1) <= r {
            b += 1;
        }
        let ib = track[b].0;
        let held = fixes[ib].ms - fixes[ia].ms;
        let run = &track[a..=b];
        let in_site = registered
            .iter()
            .any(|s| run.iter().any(|(_, p)| inside(*p, &s.reg.geofence)));
        if in_site {
            // Standing at a site is what trucks do.
            a = b + 1;
            continue;
        }
        if held < cfg.dwell_min_ms {
            a += 1;
            continue;
        }
        let nearest = nearest_of(registered, anchor).map(|(m, s)| Nearest {
            site: s.reg.site.clone(),
            name: s.reg.name.clone(),
            distance_m: m.round() as u64,
        });
        out.push(Dwell {
            from: fixes[ia].at(),
            to: fixes[ib].at(),
            minutes: held / 60_000,
            lat_e6: anchor.lat_e6,
            lon_e6: anchor.lon_e6,
            points: run.len(),
            entries: run.iter().map(|(i, _)| fixes[*i].index()).collect(),
            loaded: loaded[ia],
            nearest,
        });
        a = b + 1;
    }
    out
}

/// The sites near the track (within [`SITE_MARGIN_E6`] of its box), the hand-overs' sites and
/// each stop's nearest site; nearest the track's centre first, at most [`MAX_SITES`].
fn sites_around(registered: &[Site], fixes: &[Fix], dwells: &[Dwell]) -> Vec<SiteShape> {
    let known: Vec<Point> = fixes.iter().filter_map(Fix::point).collect();
    let Some(first) = known.first() else {
        return Vec::new();
    };
    let (mut s, mut n, mut w, mut e) = (first.lat_e6, first.lat_e6, first.lon_e6, first.lon_e6);
    for p in &known {
        s = s.min(p.lat_e6);
        n = n.max(p.lat_e6);
        w = w.min(p.lon_e6);
        e = e.max(p.lon_e6);
    }
    let (s, n, w, e) = (
        s.saturating_sub(SITE_MARGIN_E6),
        n.saturating_add(SITE_MARGIN_E6),
        w.saturating_sub(SITE_MARGIN_E6),
        e.saturating_add(SITE_MARGIN_E6),
    );
    let centre = Point {
        lat_e6: ((s as i64 + n as i64) / 2) as i32,
        lon_e6: ((w as i64 + e as i64) / 2) as i32,
    };
    let mut near: Vec<(f64, SiteShape)> = Vec::new();
    for x in registered {
        let p = x.reg.location;
        let shown = ((s..=n).contains(&p.lat_e6) && (w..=e).contains(&p.lon_e6))
            || dwells
                .iter()
                .any(|dw| dw.nearest.as_ref().is_some_and(|m| m.site == x.reg.site));
        if shown {
            near.push((
                distance_m(centre, x.reg.location),
                SiteShape {
                    site: x.reg.site.clone(),
                    name: x.reg.name.clone(),
                    kind: x.reg.kind,
                    party: x.reg.party.clone(),
                    location: x.reg.location,
                    geofence: x.reg.geofence.clone(),
                },
            ));
        }
    }
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    near.into_iter().take(MAX_SITES).map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::Catalog;
    use crate::domain::events::SiteRegistered;
    use crate::domain::fold::Domain;
    use crate::domain::model::Limits;
    use std::sync::Arc;

    const MIN: u64 = 60_000;
    const T0: u64 = 1_795_392_000_000;

    fn p(lat_e6: i32, lon_e6: i32) -> Point {
        Point { lat_e6, lon_e6 }
    }

    fn world() -> (Domain, Plate) {
        let mut d = Domain::new(Arc::new(Catalog::builtin()), Limits::default());
        let first = "91320583MA1PLANT1";
        let party = Uscc::parse(&format!("{first}{}", Uscc::check_char(first).unwrap())).unwrap();
        for (site, lat, lon) in [
            ("S-YARD", 31_400_000, 121_000_000),
            ("S-FAR", 33_000_000, 119_000_000),
        ] {
            let f = 2000;
            d.test_site(Site {
                reg: SiteRegistered {
                    site: site.into(),
                    party: party.clone(),
                    kind: SiteKind::Station,
                    name: format!("site {site}"),
                    location: p(lat, lon),
                    geofence: vec![
                        p(lat - f, lon - f),
                        p(lat - f, lon + f),
                        p(lat + f, lon + f),
                        p(lat + f, lon - f),
                    ],
                },
                index: 1,
            });
        }
        let plate = Plate::parse("苏E12345").unwrap();
        let t = |m: u64| Timestamp::from_unix_millis(T0 + m * MIN);
        let load = ManifestNumber::parse("20263205000123").unwrap();
        let mut add = |m: u64, at: Option<Point>, i: u64, k: FixKind| {
            let of = (k != FixKind::Track).then_some(&load);
            d.test_fix(&plate, Fix::new(t(m), at, i, k), of)
        };
        // Loaded in the yard, driven away, stopped 30 min by the road (about 5.6 km north),
        // then 40 min inside the yard's fence: one stop outside, the yard's is no stop.
        add(0, Some(p(31_400_000, 121_000_000)), 10, FixKind::Load);
        add(10, Some(p(31_430_000, 121_000_000)), 11, FixKind::Track);
        add(20, Some(p(31_450_000, 121_000_000)), 12, FixKind::Track);
        add(35, Some(p(31_450_900, 121_000_500)), 13, FixKind::Track);
        add(50, Some(p(31_450_200, 121_000_200)), 14, FixKind::Track);
        add(60, Some(p(31_400_100, 121_000_100)), 15, FixKind::Track);
        add(100, Some(p(31_400_200, 121_000_100)), 16, FixKind::Track);
        add(110, None, 17, FixKind::Unload);
        (d, plate)
    }

    #[test]
    fn a_stop_outside_every_site_is_listed_with_its_nearest_site_and_a_stop_inside_one_is_not() {
        let (d, plate) = world();
        let cfg = DetectorConfig::default();
        let w = track(
            &d,
            &plate,
            Timestamp::from_unix_millis(T0),
            Timestamp::from_unix_millis(T0 + 200 * MIN),
            &cfg,
        );
        assert_eq!(w.points.len(), 6);
        assert_eq!(w.handovers.len(), 2);
        assert_eq!(
            (w.handovers[0].kind, w.handovers[0].site.as_deref()),
            ("load", Some("S-YARD"))
        );
        assert_eq!(
            (w.handovers[1].kind, w.handovers[1].lat_e6),
            ("unload", None)
        );
        assert_eq!(w.dwells.len(), 1, "{:?}", w.dwells);
        let s = &w.dwells[0];
        assert_eq!(
            (s.minutes, s.points, s.loaded, s.entries.clone()),
            (30, 3, true, vec![12, 13, 14])
        );
        let near = s.nearest.as_ref().unwrap();
        assert_eq!(near.site, "S-YARD");
        assert!(
            (5_500..5_600).contains(&near.distance_m),
            "{}",
            near.distance_m
        );
        // The far site is neither near the track nor any stop's nearest: not drawn.
        let drawn: Vec<&str> = w.sites.iter().map(|s| s.site.as_str()).collect();
        assert_eq!(drawn, ["S-YARD"]);
        assert_eq!(w.datum, "WGS-84");
        assert!(!w.truncated);

        // A window that starts after the load keeps the truck loaded; one before it is empty.
        let later = track(
            &d,
            &plate,
            Timestamp::from_unix_millis(T0 + 15 * MIN),
            Timestamp::from_unix_millis(T0 + 55 * MIN),
            &cfg,
        );
        assert_eq!(
            (
                later.points.len(),
                later.handovers.len(),
                later.dwells.len()
            ),
            (3, 0, 1)
        );
        assert!(later.dwells[0].loaded);
        let before = track(
            &d,
            &plate,
            Timestamp::from_unix_millis(T0 - 100 * MIN),
            Timestamp::from_unix_millis(T0),
            &cfg,
        );
        assert!(before.points.is_empty() && before.sites.is_empty() && before.dwells.is_empty());
    }
}
