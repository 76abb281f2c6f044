//! Each detector on a scenario built for it, and silent on a clean one that runs the same code
//! path (a truck at a plausible speed, a station that balances, a receipt in time...).

use super::*;
use crate::domain::access::Access;
use crate::domain::fold::Domain;
use crate::domain::testkit::*;
use crate::ledger::event::PublicKey;
use serde_json::json;
use std::sync::Arc;

impl Log {
    fn detect(&self, now: Timestamp) -> Vec<Anomaly> {
        detect(self.query(), now, &DetectorConfig::default())
    }
}

/// [`super::detect`], checked in every test against the full scan (the same anomalies, ids and
/// order), and each kind the fold watches for against what it reads alone (no scan).
fn detect(d: &dyn DomainQuery, now: Timestamp, cfg: &DetectorConfig) -> Vec<Anomaly> {
    let found = super::detect(d, now, cfg);
    assert_eq!(
        found,
        detect_by_scan(d, now, cfg),
        "watched and scanned at {now}"
    );
    for kind in AnomalyKind::ALL.into_iter().filter(|k| watched_kind(*k)) {
        let f = Filter {
            kind: Some(kind),
            ..Filter::default()
        };
        let alone = detect_filtered(d, now, cfg, &f);
        let of_scan: Vec<Anomaly> = found.iter().filter(|a| a.kind == kind).cloned().collect();
        assert_eq!(alone, of_scan, "{kind:?} read alone at {now}");
    }
    // A vehicle's anomalies read from the manifests naming it and its own fixes, and the
    // vehicle rules alone.
    let mut plates: BTreeSet<Plate> = d.tracked_vehicles().into_iter().collect();
    plates.extend(found.iter().flat_map(|a| a.vehicles.iter().cloned()));
    for v in plates {
        let f = Filter {
            vehicle: Some(v.clone()),
            ..Filter::default()
        };
        assert!(bounded(&f));
        assert_same(
            &detect_filtered(d, now, cfg, &f),
            &found,
            &f,
            "one vehicle's",
        );
    }
    for kind in AnomalyKind::ALL.into_iter().filter(|k| vehicle_kind(*k)) {
        let f = Filter {
            kind: Some(kind),
            ..Filter::default()
        };
        assert_same(
            &detect_filtered(d, now, cfg, &f),
            &found,
            &f,
            "a vehicle rule's",
        );
    }
    found
}

/// What a filtered read found is what the full scan found that the filter matches (ids
/// aside: a `.2` is given among the anomalies read).
fn assert_same(read: &[Anomaly], all: &[Anomaly], f: &Filter, what: &str) {
    let unnamed = |a: &Anomaly| Anomaly {
        id: String::new(),
        ..a.clone()
    };
    let read: Vec<Anomaly> = read.iter().map(unnamed).collect();
    let scanned: Vec<Anomaly> = all.iter().filter(|a| f.matches(a)).map(unnamed).collect();
    assert_eq!(read, scanned, "{what} anomalies, {f:?}");
}

fn of(all: &[Anomaly], kind: AnomalyKind) -> Vec<&Anomaly> {
    all.iter().filter(|a| a.kind == kind).collect()
}

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

#[test]
fn overdue_fires_past_the_streams_limit_and_not_before() {
    let mut log = Log::new();
    let m = log.issue_hw(1000, "S-RECV");
    log.at(T0 + HOUR);
    let pickup = log.pickup(&m, TRUCK, 1000);
    let before = log.detect(ts(T0 + HOUR + 71 * HOUR));
    assert!(of(&before, AnomalyKind::Overdue).is_empty(), "{before:?}");
    let all = log.detect(ts(T0 + HOUR + 73 * HOUR));
    let a = of(&all, AnomalyKind::Overdue);
    assert_eq!(a.len(), 1, "{all:?}");
    assert_eq!(a[0].entries, vec![pickup]);
    assert_eq!(a[0].manifests[0].to_string(), m);
    assert!(
        a[0].reason
            .contains("(73 h; the hazardous stream allows 72 h)")
            && a[0].reason.contains(TRUCK),
        "{}",
        a[0].reason
    );
    assert_eq!(a[0].at, ts(T0 + HOUR + 72 * HOUR));
    assert_eq!(a[0].vehicles, vec![Plate::parse(TRUCK).unwrap()]);
}

#[test]
fn receipt_unconfirmed_counts_five_working_days_in_china_standard_time() {
    let mut log = Log::new();
    let m = log.issue_hw(1000, "S-RECV");
    log.at(T0 + HOUR);
    log.pickup(&m, TRUCK, 1000);
    // Delivered Monday 23 Nov at 10:00 CST: the deadline is the end of Monday 30 Nov (CST).
    log.at(T0 + 2 * HOUR);
    let arrival = log.hand(&m, HAUL, RECV, 1000).site("S-RECV").admit();
    let deadline = Timestamp::parse("2026-11-30T16:00:00Z").unwrap();
    let cfg = DetectorConfig::default();
    assert_eq!(cfg.receipt_deadline(ts(T0 + 2 * HOUR)), deadline);
    let quiet = detect(&log.d, ts(deadline.unix_millis() - MIN), &cfg);
    assert!(of(&quiet, AnomalyKind::ReceiptUnconfirmed).is_empty());
    let all = detect(&log.d, ts(deadline.unix_millis() + 3 * HOUR), &cfg);
    let a = of(&all, AnomalyKind::ReceiptUnconfirmed);
    assert_eq!(a.len(), 1, "{all:?}");
    assert_eq!(a[0].entries, vec![arrival]);
    assert!(
        a[0].reason.contains("2026-11-23 10:00:00 CST")
            && a[0].reason.contains("deadline 2026-12-01 00:00:00 CST")
            && a[0].reason.contains("3 h past it"),
        "{}",
        a[0].reason
    );
    // A public holiday in between moves the deadline a day on.
    let mut holiday = DetectorConfig::default();
    holiday.holiday("2026-11-27").unwrap();
    assert!(holiday.holiday("27 Nov").is_err());
    let quiet = detect(&log.d, ts(deadline.unix_millis() + 3 * HOUR), &holiday);
    assert!(of(&quiet, AnomalyKind::ReceiptUnconfirmed).is_empty());
    // Confirmed late: still an anomaly, naming both entries; confirmed in time: none.
    log.at(deadline.unix_millis() + HOUR);
    let receipt = log.receive(&m, RECV, 1000);
    let all = log.detect(log.now());
    let a = of(&all, AnomalyKind::ReceiptUnconfirmed);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].entries, vec![arrival, receipt]);
    assert!(
        a[0].reason
            .contains("confirmed only at 2026-12-01 01:00:00 CST"),
        "{}",
        a[0].reason
    );

    let mut log = Log::new();
    let m = log.issue_hw(1000, "S-RECV");
    log.pickup(&m, TRUCK, 1000);
    log.at(T0 + HOUR);
    log.hand(&m, HAUL, RECV, 1000).site("S-RECV").admit();
    log.at(T0 + 3 * 24 * HOUR);
    log.receive(&m, RECV, 1000);
    assert!(log.detect(ts(T0 + 30 * 24 * HOUR)).is_empty());
}

#[test]
fn quantity_gaps_not_licensed_licence_expired_and_no_permit_come_from_the_folds_flags() {
    let mut log = Log::new();
    // 1000 g declared, 900 g handed over: 100‰, beyond the 20‰ hazardous tolerance.
    let gap = log.issue_hw(1000, "S-RECV");
    let issue = log.size - 1;
    let pickup = log.pickup(&gap, TRUCK, 900);
    // Delivered to a yard with no licence, and to a receiver whose licence expired in 2025.
    let yard = log.issue_hw(1000, "S-YARD");
    log.at(T0 + 2 * HOUR);
    log.pickup(&yard, TRUCK, 1000);
    log.at(T0 + 3 * HOUR);
    let to_yard = log.hand(&yard, HAUL, YARD, 1000).site("S-YARD").admit();
    let old = log.issue_hw(1000, "S-OLD");
    log.at(T0 + 5 * HOUR);
    log.pickup(&old, TRUCK, 1000);
    log.at(T0 + 6 * HOUR);
    let to_old = log.hand(&old, HAUL, OLD, 1000).site("S-OLD").admit();
    // Carried on a truck whose permit ran out in 2021.
    let np = log.issue_hw(1000, "S-RECV");
    let on_expired = log.pickup(&np, TRUCK_EXPIRED, 1000);
    let all = log.detect(log.now());

    let g = of(&all, AnomalyKind::QuantityGap);
    assert_eq!(g.len(), 1, "{all:?}");
    assert_eq!(g[0].entries, vec![issue, pickup]);
    assert_eq!(g[0].manifests[0].to_string(), gap);
    assert!(
        g[0].reason.contains("900 g against 1000 g")
            && g[0]
                .reason
                .contains("(100‰; the hazardous stream tolerates 20‰)"),
        "{}",
        g[0].reason
    );

    let n = of(&all, AnomalyKind::NotLicensed);
    assert_eq!(n.len(), 1, "{all:?}");
    assert_eq!(n[0].entries, vec![to_yard]);
    assert!(
        n[0].reason.contains(&format!(
            "{} holds no licence for code 900-249-08",
            id(YARD)
        )),
        "{}",
        n[0].reason
    );

    let e = of(&all, AnomalyKind::LicenceExpired);
    assert_eq!(e.len(), 1, "{all:?}");
    let lo = log.d.licence("LO").unwrap().index;
    assert_eq!(e[0].entries, vec![lo, to_old]);
    assert!(
        e[0].reason
            .contains("licence LO expired 2025-01-01T00:00:00.000Z"),
        "{}",
        e[0].reason
    );

    let p = of(&all, AnomalyKind::NoPermit);
    assert_eq!(p.len(), 1, "{all:?}");
    let reg = log
        .d
        .vehicle(&Plate::parse(TRUCK_EXPIRED).unwrap())
        .unwrap()
        .index;
    assert_eq!(p[0].entries, vec![reg, on_expired]);
    assert!(
        p[0].reason.contains(
            "hazardous_goods permit P valid 2020-01-01T00:00:00.000Z to 2021-01-01T00:00:00.000Z"
        ),
        "{}",
        p[0].reason
    );

    // The same steps, done right: nothing.
    let mut log = Log::new();
    let m = log.issue_hw(1000, "S-RECV");
    log.pickup(&m, TRUCK, 990);
    log.at(T0 + HOUR);
    log.hand(&m, HAUL, RECV, 985).site("S-RECV").admit();
    log.receive(&m, RECV, 985);
    assert!(log.detect(log.now()).is_empty());
}

/// A load of `grams` of HW08 picked up, delivered to the receiver and received whole, each
/// step an hour or two after the last: (the receipt's entry, the manifest).
fn load_received(log: &mut Log, grams: u64) -> (u64, String) {
    let m = log.issue_hw(grams, "S-RECV");
    log.at(log.t + 2 * HOUR);
    log.pickup(&m, TRUCK, grams);
    log.at(log.t + HOUR);
    log.hand(&m, HAUL, RECV, grams).site("S-RECV").admit();
    (log.receive(&m, RECV, grams), m)
}

#[test]
fn capacity_exceeded_names_the_entries_beyond_the_licences_annual_capacity() {
    // LR allows 1,000,000 g a year: two loads of 400,000 g fit, the third goes beyond.
    let mut log = Log::new();
    let mut receipts = Vec::new();
    for _ in 0..3 {
        receipts.push(load_received(&mut log, 400_000));
        let all = log.detect(log.now());
        let c = of(&all, AnomalyKind::CapacityExceeded);
        if receipts.len() < 3 {
            assert!(c.is_empty(), "{all:?}");
        } else {
            assert_eq!(c.len(), 1, "{all:?}");
            let lr = log.d.licence("LR").unwrap().index;
            assert_eq!(c[0].entries, vec![lr, receipts[2].0]);
            assert_eq!(c[0].manifests[0].to_string(), receipts[2].1);
            // The manifest's own include it (from its receiver's manifests alone).
            let n: ManifestNumber = receipts[2].1.parse().unwrap();
            let own = detect_for_manifest(&log.d, &n, log.now(), &DetectorConfig::default());
            assert_eq!(own, vec![c[0].clone()]);
            // Not among its own: the aggregates are left to the full scan.
            assert!(manifest_own(&log.d, &n, log.now(), &DetectorConfig::default()).is_empty());
            assert_eq!(c[0].parties, vec![party(RECV)]);
            assert!(
                c[0].reason.contains("took in 1200000 g in 2026")
                    && c[0]
                        .reason
                        .contains("annual capacity of 1000000 g by 200000 g"),
                "{}",
                c[0].reason
            );
        }
    }
}

#[test]
fn too_fast_between_known_positions_and_not_at_a_trucks_speed_nor_for_gps_jitter() {
    let mut log = Log::new();
    // 22.2 km north in 5 minutes: 267 km/h.
    let t = log.track(
        TRUCK,
        HAUL,
        &[(0, 31_300_000, 120_950_000), (5, 31_500_000, 120_950_000)],
    );
    let all = log.detect(log.now());
    let a = of(&all, AnomalyKind::TooFast);
    assert_eq!(a.len(), 1, "{all:?}");
    assert_eq!(a[0].entries, vec![t]);
    assert!(
        a[0].reason
            .contains("moved 22.2 km in 5 min (267 km/h; a truck does at most 120 km/h)"),
        "{}",
        a[0].reason
    );
    assert_eq!(a[0].at, ts(T0 + 5 * MIN));

    // The same road in 30 minutes (44 km/h), then 200 m in one second (GPS jitter): nothing.
    let mut log = Log::new();
    log.track(
        TRUCK,
        HAUL,
        &[(0, 31_300_000, 120_950_000), (30, 31_500_000, 120_950_000)],
    );
    let jitter = Timestamp::from_unix_millis(T0 + 30 * MIN + 1000);
    log.admit(json!({"type": "vehicle.track", "plate": TRUCK, "points": [{"at": jitter, "lat_e6": 31_501_800, "lon_e6": 120_950_000}]}), &[&pkey(HAUL)]);
    assert!(log.detect(log.now()).is_empty());
}

/// A manifest read looks only at its vehicles' fixes around its own load: it must show exactly
/// the anomalies the full scan found that name it.
fn own_reads_show_what_the_scan_found(log: &Log, all: &[Anomaly]) {
    let cfg = DetectorConfig::default();
    for a in all {
        for n in &a.manifests {
            let own = manifest_own(&log.d, n, log.now(), &cfg);
            assert!(own.contains(a), "{n}: {a:?} not in its own {own:?}");
        }
    }
}

#[test]
fn a_vehicle_holding_loads_at_two_places_at_once() {
    let mut log = Log::new();
    let a = log.issue_hw(1000, "S-RECV");
    let b = log.issue_hw(1000, "S-RECV");
    log.at(T0 + HOUR);
    let first = log.pickup(&a, TRUCK, 1000);
    // Five minutes later the same plate takes another load 40 km away.
    log.at(T0 + HOUR + 5 * MIN);
    let second = log
        .hand(&b, PLANT, HAUL, 1000)
        .vehicle(TRUCK)
        .place(31_600_000, 121_200_000)
        .admit();
    let all = log.detect(log.now());
    own_reads_show_what_the_scan_found(&log, &all);
    let two = of(&all, AnomalyKind::VehicleTwoPlaces);
    assert_eq!(two.len(), 1, "{all:?}");
    assert!(of(&all, AnomalyKind::TooFast).is_empty(), "{all:?}");
    assert_eq!(two[0].entries, vec![first, second]);
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(
        two[0]
            .manifests
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>(),
        both
    );
    assert!(
        two[0]
            .reason
            .contains(&format!("hand-over of manifest {a} (entry {first})"))
            && two[0]
                .reason
                .contains(&format!("hand-over of manifest {b} (entry {second})"))
            && two[0].reason.contains("km apart within 5 min"),
        "{}",
        two[0].reason
    );

    // Two hours apart: a truck can drive that.
    let mut log = Log::new();
    let a = log.issue_hw(1000, "S-RECV");
    let b = log.issue_hw(1000, "S-RECV");
    log.at(T0 + HOUR);
    log.pickup(&a, TRUCK, 1000);
    log.at(T0 + 3 * HOUR);
    log.hand(&b, PLANT, HAUL, 1000)
        .vehicle(TRUCK)
        .place(31_600_000, 121_200_000)
        .admit();
    assert!(log.detect(log.now()).is_empty());
}

/// A load on the truck from the plant at T0 + 30 min, then track points (minutes, lat, lon).
fn loaded_then(points: &[(u64, i32, i32)], load: bool) -> (Log, String, u64, u64) {
    let mut log = Log::new();
    let m = log.issue_hw(1000, "S-RECV");
    log.at(T0 + 30 * MIN);
    let pickup = if load { log.pickup(&m, TRUCK, 1000) } else { 0 };
    log.at(T0 + 2 * HOUR);
    let t = log.track(TRUCK, HAUL, points);
    (log, m, pickup, t)
}

#[test]
fn a_loaded_truck_dwelling_outside_every_site() {
    // 25 minutes within 150 m of one point 30 km from the plant, nowhere registered.
    let stop = [
        (60, 31_500_000, 121_200_000),
        (70, 31_500_500, 121_200_300),
        (85, 31_501_000, 121_200_000),
    ];
    let (log, m, pickup, t) = loaded_then(&stop, true);
    let all = log.detect(log.now());
    own_reads_show_what_the_scan_found(&log, &all);
    let a = of(&all, AnomalyKind::DwellOutsideSites);
    assert_eq!(a.len(), 1, "{all:?}");
    assert_eq!(a[0].entries, vec![pickup, t]);
    assert_eq!(a[0].manifests[0].to_string(), m);
    assert!(
        a[0].reason.contains(&format!(
            "{TRUCK}, loaded with manifest {m}, stood within 300 m of 31.500000, 121.200000"
        )) && a[0].reason.contains("(25 min, 3 track points)")
            && a[0]
                .reason
                .contains("the nearest registered site is S-STATION"),
        "{}",
        a[0].reason
    );
    assert_eq!(a[0].at, ts(T0 + 60 * MIN));

    // Empty, the same stop is no dwell; loaded, 15 minutes is none, and nor is a stop
    // inside a registered site's fence (the station's).
    let (log, ..) = loaded_then(&stop, false);
    assert!(log.detect(log.now()).is_empty());
    let (log, ..) = loaded_then(&stop[..2], true);
    assert!(log.detect(log.now()).is_empty());
    let at_station = [
        (60, 31_320_000, 121_080_000),
        (70, 31_320_500, 121_080_300),
        (85, 31_321_000, 121_080_000),
    ];
    let (log, ..) = loaded_then(&at_station, true);
    assert!(
        log.detect(log.now()).is_empty(),
        "{:?}",
        log.detect(log.now())
    );
}

/// Two loads of 1000 g taken in at the station, consolidated into one of `out` g.
fn station_week(out: u64) -> (Log, Vec<u64>) {
    let mut log = Log::new();
    let mut entries = Vec::new();
    let mut ms = Vec::new();
    for k in 0..2 {
        let m = log.issue_hw(1000, "S-STATION");
        log.at(T0 + HOUR + k * 2 * HOUR);
        log.pickup(&m, TRUCK, 1000);
        log.at(T0 + 2 * HOUR + k * 2 * HOUR);
        entries.push(log.hand(&m, HAUL, STATION, 1000).site("S-STATION").admit());
        ms.push(m);
    }
    entries.push(log.consolidate(&ms, outgoing(out, &[HAUL])));
    (log, entries)
}

#[test]
fn a_station_whose_inputs_outputs_and_stock_do_not_balance() {
    let (log, entries) = station_week(1500);
    let all = log.detect(log.now());
    let a = of(&all, AnomalyKind::StationImbalance);
    assert_eq!(a.len(), 1, "{all:?}");
    assert_eq!(a[0].entries, entries);
    assert_eq!(a[0].manifests.len(), 3);
    assert_eq!(a[0].sites, vec!["S-STATION".to_string()]);
    // The station's books are the station's: the plant that sent one load in does not see them.
    let sees = |p: usize| Access::Party(party(p)).may_see_anomaly(&log.d, a[0].named());
    assert!(sees(STATION));
    assert!(!sees(PLANT));
    for n in &a[0].manifests {
        let own = detect_for_manifest(&log.d, n, log.now(), &DetectorConfig::default());
        assert_eq!(own, vec![a[0].clone()], "{n}");
    }
    assert!(
        a[0].reason.contains("2000 g of 900-249-08 taken in, 1500 g sent on and 0 g in stock: 500 g less than it took in (250‰; the hazardous stream tolerates 20‰)"),
        "{}",
        a[0].reason
    );
    // Sent on as taken in; and with one load still in stock, the books balance too.
    let (log, _) = station_week(2000);
    assert!(
        log.detect(log.now()).is_empty(),
        "{:?}",
        log.detect(log.now())
    );
    let mut log = Log::new();
    let m = log.issue_hw(1000, "S-STATION");
    log.pickup(&m, TRUCK, 1000);
    log.at(T0 + HOUR);
    log.hand(&m, HAUL, STATION, 1000).site("S-STATION").admit();
    assert!(log.detect(log.now()).is_empty());
}

#[test]
fn a_construction_site_whose_loads_were_not_taken_in() {
    let mut log = Log::new();
    // One load received 20% short, one picked up and never taken in anywhere.
    let short = log.issue_soil(10_000_000);
    let p1 = log
        .hand(&short, BUILDER, MUCK, 10_000_000)
        .vehicle(MUCK_TRUCK)
        .site("S-BUILD")
        .admit();
    log.at(T0 + HOUR);
    log.hand(&short, MUCK, RECYCLER, 10_000_000)
        .site("S-RECYCLE")
        .admit();
    let r1 = log.receive(&short, RECYCLER, 8_000_000);
    let lost = log.issue_soil(10_000_000);
    log.at(T0 + 2 * HOUR);
    let p2 = log
        .hand(&lost, BUILDER, MUCK, 10_000_000)
        .vehicle(MUCK_TRUCK)
        .site("S-BUILD")
        .admit();
    // Before the construction stream's 24 h are up, the lost load may still be on its way.
    let early = log.detect(log.now());
    let s = of(&early, AnomalyKind::SiteBalance);
    assert_eq!(s.len(), 1, "{early:?}");
    assert!(
        !s[0].reason.contains("taken in by no receiving site"),
        "{}",
        s[0].reason
    );
    let all = log.detect(ts(T0 + 30 * HOUR));
    let s = of(&all, AnomalyKind::SiteBalance);
    assert_eq!(s.len(), 1, "{all:?}");
    let mut want = vec![p1, r1, p2];
    want.sort();
    assert_eq!(s[0].entries, want);
    assert_eq!(s[0].sites, vec!["S-BUILD".to_string()]);
    let n: ManifestNumber = lost.parse().unwrap();
    let own = detect_for_manifest(&log.d, &n, ts(T0 + 30 * HOUR), &DetectorConfig::default());
    assert!(own.contains(s[0]), "{own:?}");
    assert!(
        s[0].reason.contains("the 1 received loads left with 10000000 g and receiving sites took in 8000000 g (200‰; construction waste tolerates 100‰)")
            && s[0].reason.contains(&format!("1 load(s) picked up more than 24 h ago were taken in by no receiving site: {lost}")),
        "{}",
        s[0].reason
    );

    // Received within the tolerance, nothing lost: balanced.
    let mut log = Log::new();
    let m = log.issue_soil(10_000_000);
    log.hand(&m, BUILDER, MUCK, 10_000_000)
        .vehicle(MUCK_TRUCK)
        .site("S-BUILD")
        .admit();
    log.at(T0 + HOUR);
    log.hand(&m, MUCK, RECYCLER, 9_900_000)
        .site("S-RECYCLE")
        .admit();
    log.receive(&m, RECYCLER, 9_700_000);
    assert!(log.detect(ts(T0 + 30 * HOUR)).is_empty());
}

#[test]
fn a_clean_chain_through_every_detector_raises_nothing() {
    let mut log = Log::new();
    // Two hazardous loads through the station, consolidated, carried on and received.
    let a = log.issue_hw(300_000, "S-STATION");
    let b = log.issue_hw(200_000, "S-STATION");
    log.at(T0 + 30 * MIN);
    log.pickup(&a, TRUCK, 300_000);
    log.pickup(&b, TRUCK, 200_000);
    log.at(T0 + 40 * MIN);
    // On the road at a truck's speed (the station is 12.6 km from the plant).
    log.track(
        TRUCK,
        HAUL,
        &[
            (40, 31_305_000, 120_980_000),
            (50, 31_312_000, 121_020_000),
            (60, 31_318_000, 121_070_000),
        ],
    );
    log.at(T0 + 75 * MIN);
    log.hand(&a, HAUL, STATION, 299_000)
        .site("S-STATION")
        .admit();
    log.hand(&b, HAUL, STATION, 200_000)
        .site("S-STATION")
        .admit();
    log.at(T0 + 3 * HOUR);
    let c = log.consolidate(&[a, b], outgoing(499_000, &[HAUL_B]));
    let out = log.d.created_at(c)[0].to_string();
    log.hand(&out, STATION, HAUL_B, 499_000)
        .vehicle(TRUCK_B)
        .site("S-STATION")
        .admit();
    log.at(T0 + 5 * HOUR);
    log.hand(&out, HAUL_B, RECV, 498_000).site("S-RECV").admit();
    // Part of it rejected, going back to the plant under a manifest of its own (which is no
    // station's outgoing load).
    log.admit(
        json!({"type": "custody.received", "manifest": out, "lines": [{"line": 0,
        "accepted": {"amount": 490_000, "unit": "g"}, "rejected": {"amount": 8_000, "unit": "g"}}],
        "rejection": {"reason": "one drum off-spec", "to": id(PLANT)}}),
        &[&pkey(RECV)],
    );
    assert_eq!(log.d.created_at(log.size - 1).len(), 1, "a return manifest");
    // A muck load from the construction site to the recycler.
    let s = log.issue_soil(30_000_000);
    log.hand(&s, BUILDER, MUCK, 30_000_000)
        .vehicle(MUCK_TRUCK)
        .site("S-BUILD")
        .admit();
    log.at(T0 + 6 * HOUR);
    log.hand(&s, MUCK, RECYCLER, 29_800_000)
        .site("S-RECYCLE")
        .admit();
    log.receive(&s, RECYCLER, 29_800_000);
    let all = log.detect(ts(T0 + 20 * 24 * HOUR));
    assert!(all.is_empty(), "{all:#?}");
}

#[test]
fn filters_and_one_manifests_own_anomalies() {
    let mut log = Log::new();
    let m = log.issue_hw(1000, "S-YARD");
    log.at(T0 + HOUR);
    log.pickup(&m, TRUCK_EXPIRED, 900);
    log.at(T0 + 2 * HOUR);
    log.hand(&m, HAUL, YARD, 900).site("S-YARD").admit();
    let other = log.issue_hw(1000, "S-RECV");
    log.pickup(&other, TRUCK, 1000);
    let now = ts(T0 + 100 * HOUR);
    let cfg = DetectorConfig::default();
    let all = detect(&log.d, now, &cfg);
    let kinds: BTreeSet<AnomalyKind> = all.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            AnomalyKind::Overdue,
            AnomalyKind::QuantityGap,
            AnomalyKind::NotLicensed,
            AnomalyKind::NoPermit
        ]
        .into_iter()
        .collect()
    );
    let n: ManifestNumber = m.parse().unwrap();
    let own = detect_for_manifest(&log.d, &n, now, &cfg);
    assert_eq!(own.len(), 3, "{own:?}");
    assert!(own.iter().all(|a| a.manifests.contains(&n)));
    assert_eq!(manifest_own(&log.d, &n, now, &cfg), own);
    let f = Filter {
        vehicle: Some(Plate::parse(TRUCK).unwrap()),
        ..Filter::default()
    };
    let v = detect_filtered(&log.d, now, &cfg, &f);
    assert_eq!(
        v.iter().map(|a| a.kind).collect::<Vec<_>>(),
        vec![AnomalyKind::Overdue]
    );
    let f = Filter {
        kind: Some(AnomalyKind::NoPermit),
        party: Some(party(HAUL)),
        site: Some("S-YARD".into()),
        from: Some(ts(T0 + HOUR)),
        to: Some(ts(T0 + HOUR + 1)),
        ..Filter::default()
    };
    assert_eq!(detect_filtered(&log.d, now, &cfg, &f).len(), 1);
    let f = Filter {
        from: Some(ts(T0 + HOUR + 1)),
        kind: Some(AnomalyKind::NoPermit),
        ..Filter::default()
    };
    assert!(detect_filtered(&log.d, now, &cfg, &f).is_empty());
    assert_eq!(AnomalyKind::parse("too_fast"), Some(AnomalyKind::TooFast));
    assert_eq!(AnomalyKind::parse("fast"), None);
}

/// An inspector finds a load on another truck than the one it was handed to: the anomaly
/// names both plates, and a read of the truck the inspector saw (which the load was never
/// handed to) finds it.
#[test]
fn a_load_seen_on_another_truck_is_found_by_either_plate() {
    let mut log = Log::new();
    let insp = uscc("MA1BUREA1");
    log.auth(json!({"type": "party.registered", "party": insp, "name": "bureau", "roles": ["inspector"]}));
    log.auth(json!({"type": "key.added", "key": PublicKey(key(40).verifying_key()).to_string(), "holder": insp}));
    let m = log.issue_hw(1000, "S-RECV");
    log.at(T0 + HOUR);
    log.pickup(&m, TRUCK, 1000);
    log.at(T0 + 2 * HOUR);
    let seen = log.admit(
        json!({"type": "inspection.recorded", "inspector": insp, "manifest": m,
               "vehicle": TRUCK_B, "at": ts(T0 + 2 * HOUR), "verdict": "violation",
               "findings": "the load is on the wrong truck"}),
        &[&key(40)],
    );
    let now = ts(T0 + 3 * HOUR);
    let all = log.detect(now);
    let wrong = of(&all, AnomalyKind::WrongVehicle);
    assert_eq!(wrong.len(), 1, "{all:?}");
    assert!(wrong[0].entries.contains(&seen));
    let plates = [TRUCK, TRUCK_B].map(|p| Plate::parse(p).unwrap());
    assert_eq!(wrong[0].vehicles, plates.to_vec());
    for p in plates {
        let f = Filter {
            vehicle: Some(p.clone()),
            kind: Some(AnomalyKind::WrongVehicle),
            ..Filter::default()
        };
        let read = detect_filtered(&log.d, now, &DetectorConfig::default(), &f);
        assert_eq!(read.len(), 1, "read by {p}: {read:?}");
        assert_eq!(read[0].id, wrong[0].id);
    }
}

#[test]
fn geometry_point_in_polygon_and_distance() {
    let sq = [
        Point {
            lat_e6: 0,
            lon_e6: 0,
        },
        Point {
            lat_e6: 0,
            lon_e6: 1000,
        },
        Point {
            lat_e6: 1000,
            lon_e6: 1000,
        },
        Point {
            lat_e6: 1000,
            lon_e6: 0,
        },
    ];
    assert!(inside(
        Point {
            lat_e6: 500,
            lon_e6: 500
        },
        &sq
    ));
    assert!(!inside(
        Point {
            lat_e6: 1500,
            lon_e6: 500
        },
        &sq
    ));
    assert!(!inside(
        Point {
            lat_e6: 500,
            lon_e6: -1
        },
        &sq
    ));
    // One degree of latitude is 111.2 km.
    let d = distance_m(
        Point {
            lat_e6: 31_000_000,
            lon_e6: 121_000_000,
        },
        Point {
            lat_e6: 32_000_000,
            lon_e6: 121_000_000,
        },
    );
    assert!((d - 111_195.0).abs() < 10.0, "{d}");
}

/// Loads that go overdue, are delivered and left unconfirmed, confirmed late or in time, and
/// flagged; `look` is called at times along the way (the rules about one manifest change with
/// the time alone, no entry made).
fn watched_story(log: &mut Log, look: &mut dyn FnMut(&Log, Timestamp)) {
    // On the road at T0, overdue at T0 + 72 h; delivered at T0 + 80 h, confirmed 16 days on.
    let late = log.issue_hw(1000, "S-RECV");
    log.pickup(&late, TRUCK, 1000);
    // Short at pickup (a quantity gap), delivered and never confirmed.
    let gap = log.issue_hw(1000, "S-RECV");
    log.pickup(&gap, TRUCK, 900);
    look(log, log.now());
    log.at(T0 + 2 * HOUR);
    log.hand(&gap, HAUL, RECV, 900).site("S-RECV").admit();
    // Confirmed in time.
    log.at(T0 + 3 * HOUR);
    let ok = log.issue_hw(1000, "S-RECV");
    log.pickup(&ok, TRUCK, 1000);
    log.at(T0 + 4 * HOUR);
    log.hand(&ok, HAUL, RECV, 1000).site("S-RECV").admit();
    log.at(T0 + 26 * HOUR);
    log.receive(&ok, RECV, 1000);
    look(log, ts(T0 + 71 * HOUR));
    look(log, ts(T0 + 73 * HOUR));
    log.at(T0 + 80 * HOUR);
    log.hand(&late, HAUL, RECV, 1000).site("S-RECV").admit();
    look(log, log.now());
    look(log, ts(T0 + 9 * 24 * HOUR));
    log.at(T0 + 16 * 24 * HOUR);
    log.receive(&late, RECV, 1000);
    look(log, log.now());
    look(log, ts(T0 + 40 * 24 * HOUR));
}

#[test]
fn the_watched_rules_equal_the_full_scan_as_time_passes_live_stored_and_reopened() {
    let cfg = DetectorConfig::default();
    let mut in_memory = Vec::new();
    watched_story(&mut Log::new(), &mut |log, now| {
        in_memory.push(detect(&log.d, now, &cfg))
    });
    // The fold's writes taken after each entry and stored (keys watched, then removed), and
    // the state reopened from them at each look.
    let mut stored = Log::stored();
    let mut seen = Vec::new();
    watched_story(&mut stored, &mut |log, now| {
        let found = detect(&log.d, now, &cfg);
        let reopened = Domain::over(
            Arc::new(crate::domain::catalog::Catalog::builtin()),
            Default::default(),
            log.kv
                .clone()
                .map(|kv| kv as Arc<dyn crate::ledger::kv::Kv>),
        );
        assert_eq!(detect(&reopened, now, &cfg), found, "reopened at {now}");
        seen.push(found);
    });
    assert_eq!(seen, in_memory);
    // The same read model as a fold that kept everything in memory.
    let mut mem = Log::new();
    watched_story(&mut mem, &mut |_, _| {});
    assert_eq!(stored.snapshot(), mem.snapshot());
    // What a person sees as time passes: the short load's gap; the other load overdue past
    // 72 h, then delivered; the short load never confirmed, the other confirmed late.
    let kinds: Vec<Vec<&str>> = seen
        .iter()
        .map(|all| all.iter().map(|a| a.kind.as_str()).collect())
        .collect();
    let (gap, overdue, receipt) = ("quantity_gap", "overdue", "receipt_unconfirmed");
    assert_eq!(
        kinds,
        vec![
            vec![gap],
            vec![gap],
            vec![gap, overdue],
            vec![gap],
            vec![gap, receipt],
            vec![gap, receipt, receipt],
            vec![gap, receipt, receipt],
        ]
    );
    // Watched now: the short load (flagged, unconfirmed) and the two confirmed receipts;
    // nothing on the road.
    let all = |w| stored.d.watched(w, 0, u64::MAX).len();
    assert_eq!(all(Watched::InTransit), 0);
    assert_eq!(all(Watched::Unconfirmed), 1);
    assert_eq!(all(Watched::ConfirmedAfter), 2);
    assert_eq!(all(Watched::Flagged), 1);
}

const DAY: u64 = 24 * HOUR;

/// A load counts as on its truck for at most `max_on_board_ms`: a stop outside every site a
/// week and more after a pickup that nothing took off is not laid at that load's door.
#[test]
fn a_load_held_past_the_on_board_limit_no_longer_counts_as_on_the_truck() {
    let stop = |log: &mut Log, after: u64| {
        let m0 = (after - T0) / MIN;
        log.at(after + HOUR);
        log.track(
            TRUCK,
            HAUL,
            &[
                (m0, 31_500_000, 121_200_000),
                (m0 + 10, 31_500_500, 121_200_300),
                (m0 + 25, 31_501_000, 121_200_000),
            ],
        )
    };
    for (days, dwells) in [(6, true), (8, false)] {
        let mut log = Log::new();
        let m = log.issue_hw(1000, "S-RECV");
        log.at(T0 + 30 * MIN);
        log.pickup(&m, TRUCK, 1000);
        stop(&mut log, T0 + days * DAY);
        let all = log.detect(log.now());
        own_reads_show_what_the_scan_found(&log, &all);
        assert_eq!(
            of(&all, AnomalyKind::DwellOutsideSites).len(),
            dwells as usize,
            "{days} days after the pickup: {all:?}"
        );
    }
}

/// A busy truck, made at random (a fixed seed): pickups and deliveries at places near and far,
/// hand-overs dated hours or weeks before they were logged, loads never taken off, idle weeks,
/// track points that wander and that stop. Each manifest's own read (a window of its truck's
/// fixes around its load, grown as far as the walk needs) finds exactly the anomalies the full
/// scan finds that name it.
#[test]
fn own_reads_equal_the_full_scan_on_a_busy_truck_made_at_random() {
    busy_truck_reads_equal_the_full_scan(0x2545_f491_4f6c_dd1d, 300, 1_000, true);
}

/// Ten trucks whose stops spread over 400 m: a stop's points lie within the dwell radius of
/// some and not of others, so where a walk starts changes which stops it finds (a read that
/// begins its stop search at the window instead of after the last fix with nothing on board
/// fails here).
#[test]
fn busy_trucks_stopping_over_400_m_read_what_the_full_scan_finds() {
    for k in 1..=10u64 {
        busy_truck_reads_equal_the_full_scan(
            k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            120,
            4_000,
            false,
        );
    }
}

/// The same on 200 more trucks, each of its own seed and 120 steps, half of them stopping over
/// 400 m (a stop's points then lie within the dwell radius of some and not of others, so where
/// a walk starts changes which stops it finds): `cargo test --lib many_busy_trucks -- --ignored`
/// (under a minute in a debug build).
#[test]
#[ignore]
fn many_busy_trucks_made_at_random_read_what_the_full_scan_finds() {
    for k in 1..=200u64 {
        let spread = if k % 2 == 0 { 1_000 } else { 4_000 };
        busy_truck_reads_equal_the_full_scan(
            k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            120,
            spread,
            false,
        );
    }
}

/// A busy truck of `steps` events made from `seed` (its stops' points spread over `stop_spread`
/// millionths of a degree), its reads checked against the full scan (`enough`: the scenario
/// must make enough of each vehicle anomaly to compare).
fn busy_truck_reads_equal_the_full_scan(seed: u64, steps: usize, stop_spread: u64, enough: bool) {
    let mut seed = seed;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut log = Log::new();
    let mut t = T0;
    let mut on: Vec<String> = Vec::new();
    let mut issued: Vec<String> = Vec::new();
    let mut last = (31_300_000, 120_900_000);
    let mut place = |next: &mut dyn FnMut(u64) -> u64| -> (i32, i32) {
        // Near Kunshan; now and then up to 150 km off (too far to have driven); as often where the
        // truck last was (a hand-over in the middle of a stop).
        last = match next(3) {
            0 => (last.0 + next(500) as i32, last.1 + next(500) as i32),
            _ => {
                let far = if next(3) == 0 { 1_000_000 } else { 30_000 };
                (
                    31_300_000 + next(far) as i32,
                    120_900_000 + next(far) as i32,
                )
            }
        };
        last
    };
    for _ in 0..steps {
        t += [5 * MIN, 40 * MIN, 3 * HOUR, 2 * DAY, 9 * DAY][next(5) as usize];
        log.at(t);
        // Now and then dated before it was logged: hours, or more than a week.
        let dated = |next: &mut dyn FnMut(u64) -> u64| match next(6) {
            0 => (t - (1 + next(5)) * HOUR).max(T0),
            1 => t.saturating_sub((8 + next(3)) * DAY).max(T0),
            _ => t,
        };
        match next(5) {
            0 | 1 => {
                let m = log.issue_hw(1000, "S-RECV");
                let (lat, lon) = place(&mut next);
                let mut body = log
                    .hand(&m, PLANT, HAUL, 1000)
                    .vehicle(TRUCK)
                    .place(lat, lon)
                    .body();
                body["at"] = json!(ts(dated(&mut next)));
                log.admit(body, &[&pkey(PLANT), &pkey(HAUL)]);
                on.push(m.clone());
                issued.push(m);
            }
            2 if !on.is_empty() => {
                let m = on.remove(next(on.len() as u64) as usize);
                let (lat, lon) = place(&mut next);
                let mut body = log.hand(&m, HAUL, RECV, 1000).place(lat, lon).body();
                body["at"] = json!(ts(dated(&mut next)));
                log.admit(body, &[&pkey(HAUL), &pkey(RECV)]);
            }
            _ => {
                // A few points that wander, or a stop: within 300 m for 30 minutes.
                let (lat, lon) = place(&mut next);
                let start = (dated(&mut next) - T0) / MIN;
                let stop = next(2) == 0;
                let pts: Vec<(u64, i32, i32)> = (0..4)
                    .map(|k| {
                        let spread = if stop { stop_spread } else { 20_000 };
                        (
                            start + k * 10,
                            lat + next(spread) as i32,
                            lon + next(spread) as i32,
                        )
                    })
                    .collect();
                t += 40 * MIN;
                log.at(t);
                log.track(TRUCK, HAUL, &pts);
            }
        }
    }
    let all = log.detect(log.now());
    let count = |k| of(&all, k).len();
    let (fast, two, dwell) = (
        count(AnomalyKind::TooFast),
        count(AnomalyKind::VehicleTwoPlaces),
        count(AnomalyKind::DwellOutsideSites),
    );
    assert!(
        !enough || (fast + two >= 10 && dwell >= 10 && issued.len() >= 100),
        "the scenario makes too few to compare: {fast} too fast, {two} two places, {dwell} dwells, {} loads",
        issued.len()
    );
    let cfg = DetectorConfig::default();
    let vehicle = |a: &&Anomaly| {
        matches!(
            a.kind,
            AnomalyKind::TooFast | AnomalyKind::VehicleTwoPlaces | AnomalyKind::DwellOutsideSites
        )
    };
    let unnamed = |a: &Anomaly| Anomaly {
        id: String::new(),
        ..a.clone()
    };
    // Windows of time, from an hour to months, some open on one side: the truck's anomalies
    // dated in each, read from its fixes in and around it, are the full scan's.
    // Half of them begin at a fix (or just after it): inside a run of track points, where a
    // jump's first position is before the window and its second in it.
    let span = log.now().unix_millis() - T0;
    let times: Vec<u64> = log
        .d
        .fixes(&Plate::parse(TRUCK).unwrap(), None, None)
        .iter()
        .map(|x| x.ms)
        .collect();
    let mut found_in = 0;
    for k in 0..60u64 {
        let a = match k % 4 {
            _ if times.is_empty() => T0 + next(span),
            0 | 1 => T0 + next(span),
            _ => times[next(times.len() as u64) as usize] + next(2),
        };
        let b = a + [HOUR, DAY, 3 * DAY, 20 * DAY, 90 * DAY][(k % 5) as usize];
        let f = Filter {
            vehicle: (k % 2 == 0).then(|| Plate::parse(TRUCK).unwrap()),
            kind: (k % 2 == 1).then(|| AnomalyKind::ALL[7 + (k / 2 % 3) as usize]),
            from: (k % 7 != 3).then(|| ts(a)),
            to: (k % 7 != 5).then(|| ts(b)),
            ..Filter::default()
        };
        assert_eq!(bounded(&f), f.vehicle.is_some() || f.from.is_some());
        let read = detect_filtered(&log.d, log.now(), &cfg, &f);
        found_in += usize::from(!read.is_empty());
        assert_same(&read, &all, &f, "a window's");
    }
    assert!(
        !enough || found_in >= 20,
        "only {found_in} of 60 windows hold an anomaly: the windows test little"
    );
    // Windows that begin or end at a vehicle anomaly's time: a jump whose first position is
    // before the window, a stop that goes on past its end; and windows that begin at each fix
    // of the first hours of a stop (a read from inside it).
    let plate = Plate::parse(TRUCK).unwrap();
    for a in all.iter().filter(vehicle) {
        let t = a.at.unix_millis();
        let inside: Vec<(u64, u64)> = match a.kind {
            AnomalyKind::DwellOutsideSites => times
                .iter()
                .filter(|ms| (t + 1..t + 2 * HOUR).contains(ms))
                .map(|ms| (*ms, ms + DAY))
                .collect(),
            _ => Vec::new(),
        };
        for (from, to) in [
            (t, t + HOUR),
            (t + 1, t + DAY),
            (t - HOUR, t),
            (t - HOUR, t + 1),
        ]
        .into_iter()
        .chain(inside)
        {
            let f = Filter {
                vehicle: Some(plate.clone()),
                from: Some(ts(from)),
                to: Some(ts(to)),
                ..Filter::default()
            };
            assert_same(
                &detect_filtered(&log.d, log.now(), &cfg, &f),
                &all,
                &f,
                "an edge's",
            );
        }
    }
    for m in &issued {
        let n: ManifestNumber = m.parse().unwrap();
        let own: Vec<Anomaly> = manifest_own(&log.d, &n, log.now(), &cfg)
            .iter()
            .filter(vehicle)
            .map(unnamed)
            .collect();
        let scanned: Vec<Anomaly> = all
            .iter()
            .filter(|a| vehicle(a) && a.manifests.contains(&n))
            .map(unnamed)
            .collect();
        assert_eq!(own, scanned, "manifest {m}");
    }
}

/// Track points at A, one step aside, then 31 minutes at B within the dwell radius of A: one
/// stop from minute 60 (the step aside and B are within 300 m of A). The truck has been loaded
/// since its first fix, so a window read grows back to its first fix and must cut the runs from
/// there, as the full walk does: read from inside the stop, no second stop appears at minute 70.
fn a_stop_on_a_truck_loaded_since_its_first_fix(log: &mut Log) {
    log.at(T0 + 2 * HOUR);
    let mut pts: Vec<(u64, i32, i32)> = (60..=68).map(|k| (k, 31_500_000, 121_200_000)).collect();
    pts.push((69, 31_500_000, 121_200_000 - 2_600));
    pts.extend((70..=100).map(|k| (k, 31_500_000, 121_200_000 + 2_600)));
    log.track(TRUCK, HAUL, &pts);
}

#[test]
fn a_window_inside_a_stop_finds_the_stop_the_full_scan_finds_and_no_other() {
    let mut log = Log::new();
    let m = log.issue_hw(1000, "S-RECV");
    log.at(T0 + 30 * MIN);
    log.pickup(&m, TRUCK, 1000);
    a_stop_on_a_truck_loaded_since_its_first_fix(&mut log);
    let all = log.detect(log.now());
    assert_eq!(of(&all, AnomalyKind::DwellOutsideSites).len(), 1, "{all:?}");
    let f = Filter {
        vehicle: Some(Plate::parse(TRUCK).unwrap()),
        from: Some(ts(T0 + 70 * MIN)),
        to: Some(ts(T0 + 200 * MIN)),
        ..Filter::default()
    };
    let read = detect_filtered(&log.d, log.now(), &DetectorConfig::default(), &f);
    assert_same(&read, &all, &f, "inside a stop");
}

/// A second load put on in the middle of the stop: its own read names the stop the full scan
/// names it in (none), not a stop cut from its own window.
#[test]
fn a_load_put_on_in_the_middle_of_a_stop_reads_what_the_full_scan_finds() {
    let mut log = Log::new();
    let a = log.issue_hw(1000, "S-RECV");
    let b = log.issue_hw(1000, "S-RECV");
    log.at(T0 + 30 * MIN);
    log.pickup(&a, TRUCK, 1000);
    log.at(T0 + 69 * MIN + 30_000);
    log.hand(&b, PLANT, HAUL, 1000)
        .vehicle(TRUCK)
        .place(31_500_000, 121_200_000 + 2_600)
        .admit();
    a_stop_on_a_truck_loaded_since_its_first_fix(&mut log);
    log.at(T0 + 3 * HOUR);
    let cfg = DetectorConfig::default();
    let all = log.detect(log.now());
    let n: ManifestNumber = b.parse().unwrap();
    let own = manifest_own(&log.d, &n, log.now(), &cfg);
    let want: Vec<&Anomaly> = all.iter().filter(|x| x.manifests.contains(&n)).collect();
    assert_eq!(own.iter().collect::<Vec<_>>(), want);
}

/// The capacity counted from the fold's balances follows the register as it is when read: a
/// licence revoked with an effective time in the past stops counting the loads after it (here
/// the whole year), and one granted later but valid from before them (within the year) counts
/// them (the full scan, which judges every
/// manifest against today's register, agrees at each step: [`detect`]).
#[test]
fn a_licence_granted_or_revoked_later_changes_a_past_years_capacity() {
    let mut log = Log::new();
    let receipts: Vec<u64> = (0..3).map(|_| load_received(&mut log, 400_000).0).collect();
    let capacity = |log: &Log| {
        let all = log.detect(log.now());
        of(&all, AnomalyKind::CapacityExceeded)
            .into_iter()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(capacity(&log).len(), 1);
    // LR revoked as of the year before: none of them counts under it.
    log.at(log.t + HOUR);
    log.auth(json!({"type": "licence.revoked", "licence": "LR", "effective": "2025-06-01T00:00:00Z", "reason": "t"}));
    assert!(capacity(&log).is_empty());
    // A licence of 500,000 g a year granted now, valid from before the loads: the second load
    // crosses it.
    let granted = log.auth(json!({"type": "licence.granted", "licence": "LR2", "party": id(RECV),
        "kind": "hw_operating", "categories": ["HW08"], "annual_capacity": {"amount": 500_000, "unit": "g"},
        "valid_from": ts(T0 - 2 * HOUR), "valid_until": "2030-01-01T00:00:00Z"}));
    let c = capacity(&log);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].entries, vec![receipts[1], receipts[2], granted]);
    assert!(
        c[0].reason.contains("under licence LR2") && c[0].reason.contains("2 entries from"),
        "{}",
        c[0].reason
    );
}

/// A party that is both a transfer station and a hauler: a load it takes onto its truck is on
/// the road, not in its books; one walked in to it is. A construction load a station took in
/// and sent on is not lost from its site, though no receiver took it in. Read from the fold's
/// balances as the full scan finds them ([`detect`]).
#[test]
fn a_station_that_also_hauls_and_a_load_that_went_through_a_station() {
    let mut log = Log::new();
    let hub = uscc("MA1HUB001");
    let hub_key = key(60);
    log.auth(json!({"type": "party.registered", "party": hub, "name": "hub", "roles": ["station", "hauler"]}));
    log.auth(json!({"type": "key.added", "key": PublicKey(hub_key.verifying_key()).to_string(), "holder": hub}));
    log.auth(json!({"type": "vehicle.registered", "plate": "苏E9H001", "party": hub,
        "permits": [{"kind": "hazardous_goods", "number": "P", "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}]}));
    let to_hub = |log: &mut Log, m: &str, vehicle: bool| {
        let mut body = log.hand(&m, PLANT, HAUL, 1_000_000).body();
        body["to"] = json!(hub);
        if vehicle {
            body["vehicle"] = json!("苏E9H001");
        }
        log.admit(body, &[&pkey(PLANT), &hub_key]);
    };
    let from_hub = |log: &mut Log, m: &str, grams: u64| {
        let mut body = log.hand(&m, HAUL, RECV, grams).site("S-RECV").body();
        body["from"] = json!(hub);
        log.admit(body, &[&hub_key, &pkey(RECV)]);
    };
    // On the hub's truck, 1,000,000 g; 900,000 g handed on: not the hub's books.
    let m = log.issue_hw(1_000_000, "S-RECV");
    to_hub(&mut log, &m, true);
    log.at(log.t + HOUR);
    from_hub(&mut log, &m, 900_000);
    let all = log.detect(log.now());
    assert!(
        of(&all, AnomalyKind::StationImbalance).is_empty(),
        "{all:?}"
    );
    // Walked in, 1,000,000 g; 900,000 g handed on: the hub's books are 100‰ short.
    let m = log.issue_hw(1_000_000, "S-RECV");
    to_hub(&mut log, &m, false);
    log.at(log.t + HOUR);
    from_hub(&mut log, &m, 900_000);
    let all = log.detect(log.now());
    let a = of(&all, AnomalyKind::StationImbalance);
    assert_eq!(a.len(), 1, "{all:?}");
    assert_eq!(a[0].parties, vec![Uscc::parse(&hub).unwrap()]);

    // Soil from the building site to the station, and on from it: not lost from the site.
    let soil = log.issue_soil(10_000_000);
    log.hand(&soil, BUILDER, MUCK, 10_000_000)
        .vehicle(MUCK_TRUCK)
        .site("S-BUILD")
        .admit();
    log.at(log.t + HOUR);
    log.hand(&soil, MUCK, STATION, 10_000_000)
        .site("S-STATION")
        .admit();
    log.at(log.t + HOUR);
    log.hand(&soil, STATION, MUCK, 10_000_000)
        .vehicle(MUCK_TRUCK)
        .admit();
    let later = ts(log.t + 30 * HOUR);
    let all = detect(log.query(), later, &DetectorConfig::default());
    assert!(of(&all, AnomalyKind::SiteBalance).is_empty(), "{all:?}");
}

/// A load counted 0 at its pick-up and taken in whole: the site's books are out in that unit
/// (nothing left, something arrived), read from the balances' totals as from the manifests.
#[test]
fn a_site_load_counted_nothing_at_pickup_and_received() {
    let mut log = Log::new();
    let m = log.issue_soil(10_000_000);
    log.hand(&m, BUILDER, MUCK, 0)
        .vehicle(MUCK_TRUCK)
        .site("S-BUILD")
        .admit();
    log.at(T0 + HOUR);
    log.hand(&m, MUCK, RECYCLER, 10_000_000)
        .site("S-RECYCLE")
        .admit();
    log.receive(&m, RECYCLER, 10_000_000);
    let all = log.detect(log.now());
    let s = of(&all, AnomalyKind::SiteBalance);
    assert_eq!(s.len(), 1, "{all:?}");
    assert!(
        s[0].reason
            .contains("left with 0 g and receiving sites took in 10000000 g"),
        "{}",
        s[0].reason
    );
}
