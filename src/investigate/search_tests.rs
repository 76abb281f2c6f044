//! Search and graph over a small log folded in memory: each subject kind finds exactly the
//! manifests built for it in the window, paging lists each once, a party sees only its own
//! manifests, and the graph links consolidated, split and shared-truck loads with its caps
//! reported.

use super::*;
use crate::domain::testkit::{
    driver, id, outgoing, party, Log, HAUL, HAUL_B, PLANT, PLANT2, RECV, STATION,
};
use std::collections::BTreeSet;

const PLATE_A: &str = crate::domain::testkit::TRUCK;
const PLATE_B: &str = crate::domain::testkit::TRUCK_B;

impl Log {
    fn q(&self, kind: SubjectKind, id: &str) -> Query<'static> {
        Query {
            subject: Subject::new(kind, id),
            from: None,
            to: None,
            order: Order::NewestFirst,
            limit: 100,
            cursor: None,
            within_party: None,
        }
    }

    fn found(&self, q: &Query) -> Vec<ManifestNumber> {
        search(self.query(), q)
            .unwrap()
            .manifests
            .into_iter()
            .map(|h| h.number)
            .collect()
    }

    /// 1000 g of oil issued by `plant` (from its own site) to `destination`.
    fn load(&mut self, plant: usize, destination: &str, haulers: &[usize]) -> ManifestNumber {
        let site = if plant == PLANT {
            "S-PLANT"
        } else {
            "S-PLANT2"
        };
        self.issue()
            .by(plant, site)
            .to(destination)
            .haulers(haulers)
            .admit()
    }
}

/// The scene: m1 and m2 from the plant to the station (m1 on truck A with driver 7, m2 on
/// truck B), consolidated into m3 which truck B takes to the receiver; m4 from the other
/// plant straight to the receiver on truck A with driver 8; m5 to the station on truck A,
/// split into m6 and m7.
struct Scene {
    log: Log,
    m: Vec<ManifestNumber>,
    /// Entry indexes of the hand-overs: (manifest position, index).
    hand: Vec<(usize, u64)>,
}

/// Hand-overs of whole loads: (the load's position in the scene, from, to, the plate it goes
/// onto or comes off, the driver, the site).
#[rustfmt::skip]
type Leg = (usize, usize, usize, Option<&'static str>, u8, Option<&'static str>);

/// Each leg in turn, its entry recorded in `hand` under the load's position.
fn legs(log: &mut Log, m: &[ManifestNumber], hand: &mut Vec<(usize, u64)>, legs: &[Leg]) {
    for &(pos, from, to, plate, drv, site) in legs {
        let mut h = log.hand(&m[pos], from, to, 1000).driver(&driver(drv));
        if let Some(p) = plate {
            h = h.vehicle(p);
        }
        if let Some(s) = site {
            h = h.site(s);
        }
        hand.push((pos, h.admit()));
    }
}

fn scene() -> Scene {
    let mut log = Log::new();
    let mut hand = Vec::new();
    let mut m = vec![
        log.load(PLANT, "S-STATION", &[HAUL]),
        log.load(PLANT, "S-STATION", &[HAUL_B]),
    ];
    #[rustfmt::skip]
    legs(&mut log, &m, &mut hand, &[
        (0, PLANT, HAUL, Some(PLATE_A), 7, Some("S-PLANT")),
        (1, PLANT, HAUL_B, Some(PLATE_B), 9, Some("S-PLANT")),
        (0, HAUL, STATION, None, 7, Some("S-STATION")),
        (1, HAUL_B, STATION, None, 9, Some("S-STATION")),
    ]);
    let c = log.consolidate(&m[..2], outgoing(2000, &[HAUL_B]));
    m.push(log.d.created_at(c)[0].clone());
    #[rustfmt::skip]
    legs(&mut log, &m, &mut hand, &[
        (2, STATION, HAUL_B, Some(PLATE_B), 9, Some("S-STATION")),
        (2, HAUL_B, RECV, None, 9, Some("S-RECV")),
    ]);
    m.push(log.load(PLANT2, "S-RECV", &[HAUL]));
    #[rustfmt::skip]
    legs(&mut log, &m, &mut hand, &[
        (3, PLANT2, HAUL, Some(PLATE_A), 8, Some("S-PLANT2")),
        (3, HAUL, RECV, None, 8, Some("S-RECV")),
    ]);
    m.push(log.load(PLANT, "S-STATION", &[HAUL]));
    #[rustfmt::skip]
    legs(&mut log, &m, &mut hand, &[
        (4, PLANT, HAUL, Some(PLATE_A), 7, None),
        (4, HAUL, STATION, None, 7, None),
    ]);
    let s = log.split(&m[4], &[outgoing(400, &[HAUL_B]), outgoing(600, &[HAUL_B])]);
    m.extend(log.d.created_at(s).iter().cloned());
    Scene { log, m, hand }
}

fn set(v: &[ManifestNumber]) -> BTreeSet<ManifestNumber> {
    v.iter().cloned().collect()
}

#[test]
fn each_subject_kind_finds_exactly_its_manifests() {
    let s = scene();
    let (log, m) = (&s.log, &s.m);
    // A plate: the loads that truck carried (m1, m4, m5), not those of truck B.
    let got = log.found(&log.q(SubjectKind::Plate, PLATE_A));
    assert_eq!(set(&got), set(&[m[0].clone(), m[3].clone(), m[4].clone()]));
    // Newest first: m5's pickup is the latest entry with truck A.
    assert_eq!(got[0], m[4]);
    assert_eq!(
        set(&log.found(&log.q(SubjectKind::Plate, PLATE_B))),
        set(&[m[1].clone(), m[2].clone()])
    );
    // A driver (the commitment): driver 8 drove only m4.
    assert_eq!(
        log.found(&log.q(SubjectKind::Driver, &driver(8))),
        vec![m[3].clone()]
    );
    // A site: the station saw m1, m2 (hand-overs, destination), m3 (origin of the output,
    // its pickup) and m5 (destination) and m6, m7 (origin).
    assert_eq!(
        set(&log.found(&log.q(SubjectKind::Site, "S-STATION"))),
        set(&[
            m[0].clone(),
            m[1].clone(),
            m[2].clone(),
            m[4].clone(),
            m[5].clone(),
            m[6].clone()
        ])
    );
    // A party: the other plant is party to m4 only.
    assert_eq!(
        log.found(&log.q(SubjectKind::Party, &id(PLANT2))),
        vec![m[3].clone()]
    );
    // Hauler B: m2 (planned, carried), m3 (planned, carried), m6 and m7 (planned).
    assert_eq!(
        set(&log.found(&log.q(SubjectKind::Party, &id(HAUL_B)))),
        set(&[m[1].clone(), m[2].clone(), m[5].clone(), m[6].clone()])
    );
    // Unknown subjects find nothing (and are no error).
    assert!(log.found(&log.q(SubjectKind::Plate, "苏E99999")).is_empty());
    // The entries listed for a manifest are those involving the subject, with their kind and
    // how: truck A on m1 is its pickup only.
    let page = search(log.query(), &log.q(SubjectKind::Plate, PLATE_A)).unwrap();
    let h1 = page.manifests.iter().find(|h| h.number == m[0]).unwrap();
    assert_eq!(h1.entries.len(), 1);
    assert_eq!(h1.entries[0].index, s.hand[0].1);
    assert_eq!(h1.entries[0].kind, "custody.handover");
    assert_eq!(h1.entries[0].roles, vec!["vehicle"]);
    assert_eq!(h1.entries[0].time, log.time_of(s.hand[0].1));
    // Driver 7 on m1: both hand-overs, newest first.
    let page = search(log.query(), &log.q(SubjectKind::Driver, &driver(7))).unwrap();
    let h1 = page.manifests.iter().find(|h| h.number == m[0]).unwrap();
    let idx: Vec<u64> = h1.entries.iter().map(|e| e.index).collect();
    assert_eq!(idx, vec![s.hand[2].1, s.hand[0].1]);
}

#[test]
fn the_window_keeps_out_what_happened_before_or_after() {
    let s = scene();
    let (log, m) = (&s.log, &s.m);
    // Truck A's hand-overs: m1 pickup, m4 pickup, m5 pickup. A window [m4 pickup, m5 pickup)
    // holds m4 only; to is exclusive, from inclusive.
    let m4_pickup = s.hand.iter().find(|(p, _)| *p == 3).unwrap().1;
    let m5_pickup = s.hand.iter().find(|(p, _)| *p == 4).unwrap().1;
    let mut q = log.q(SubjectKind::Plate, PLATE_A);
    q.from = Some(log.time_of(m4_pickup));
    q.to = Some(log.time_of(m5_pickup));
    assert_eq!(log.found(&q), vec![m[3].clone()]);
    q.to = Some(log.time_of(m5_pickup + 1));
    assert_eq!(set(&log.found(&q)), set(&[m[3].clone(), m[4].clone()]));
    q.from = Some(log.time_of(m4_pickup + 1));
    assert_eq!(log.found(&q), vec![m[4].clone()]);
    // Driver 7 in a window that holds only m1's delivery lists that entry, not the pickup.
    let mut q = log.q(SubjectKind::Driver, &driver(7));
    q.from = Some(log.time_of(s.hand[2].1));
    q.to = Some(log.time_of(s.hand[2].1 + 1));
    let page = search(log.query(), &q).unwrap();
    assert_eq!(page.manifests.len(), 1);
    assert_eq!(
        page.manifests[0]
            .entries
            .iter()
            .map(|e| e.index)
            .collect::<Vec<_>>(),
        vec![s.hand[2].1]
    );
    assert_eq!(page.postings_in_window, Some(1));
}

#[test]
fn paging_lists_each_manifest_once_in_either_order() {
    let mut log = Log::new();
    let mut all = Vec::new();
    for i in 0..23 {
        let m = log.load(PLANT, "S-RECV", &[HAUL]);
        log.hand(&m, PLANT, HAUL, 1000)
            .vehicle(PLATE_A)
            .driver(&driver(7))
            .site("S-PLANT")
            .admit();
        all.push(m);
        if i % 3 == 0 {
            // Interleave another truck's loads: skipped, not counted.
            let o = log.load(PLANT2, "S-RECV", &[HAUL_B]);
            log.hand(&o, PLANT2, HAUL_B, 1000).vehicle(PLATE_B).admit();
        }
    }
    // Deliveries of the first ten after all pickups: those manifests have postings far apart.
    for m in all.iter().take(10) {
        log.hand(m, HAUL, RECV, 1000)
            .driver(&driver(7))
            .site("S-RECV")
            .admit();
    }
    for order in [Order::NewestFirst, Order::OldestFirst] {
        for subject in [
            Subject::new(SubjectKind::Plate, PLATE_A),
            Subject::new(SubjectKind::Driver, driver(7)),
        ] {
            let mut seen = Vec::new();
            let mut cursor = None;
            let mut pages = 0;
            loop {
                let page = search(
                    log.query(),
                    &Query {
                        subject: subject.clone(),
                        from: None,
                        to: None,
                        order,
                        limit: 5,
                        cursor,
                        within_party: None,
                    },
                )
                .unwrap();
                pages += 1;
                assert!(page.manifests.len() <= 5);
                seen.extend(page.manifests.iter().map(|h| h.number.clone()));
                match page.next {
                    Some(c) => cursor = Some(Cursor::parse(&c).unwrap()),
                    None => break,
                }
            }
            assert_eq!(seen.len(), 23, "{subject:?} {order:?}: {seen:?}");
            assert_eq!(set(&seen), set(&all), "{subject:?} {order:?}");
            assert_eq!(
                pages, 5,
                "{subject:?} {order:?}: 23 manifests in pages of 5"
            );
            // Newest first by the latest entry involving the subject; oldest by the first.
            if subject.kind == SubjectKind::Plate {
                let mut want = all.clone();
                if order == Order::NewestFirst {
                    want.reverse();
                }
                assert_eq!(seen, want);
            }
        }
    }
    // A cursor of the other order, or that is not a cursor, is refused.
    let c = Cursor::parse("n12").unwrap();
    let mut q = log.q(SubjectKind::Plate, PLATE_A);
    q.order = Order::OldestFirst;
    q.cursor = Some(c);
    assert!(search(log.query(), &q).unwrap_err().contains("cursor"));
    assert!(Cursor::parse("x12").is_err());
    assert!(Cursor::parse("n").is_err());
    assert!(Cursor::parse("n1a").is_err());
    assert_eq!(Cursor::parse("o42").unwrap().to_string(), "o42");
}

#[test]
fn a_party_searching_sees_only_manifests_it_is_party_to() {
    let s = scene();
    let (log, m) = (&s.log, &s.m);
    let plant2 = party(PLANT2);
    // Truck A carried m1, m4, m5; the other plant is party to m4 only.
    let mut q = log.q(SubjectKind::Plate, PLATE_A);
    q.within_party = Some(&plant2);
    assert_eq!(log.found(&q), vec![m[3].clone()]);
    assert_eq!(search(log.query(), &q).unwrap().postings_in_window, None);
    // Truck B carried m2 and m3, none of the other plant's.
    let mut q = log.q(SubjectKind::Plate, PLATE_B);
    q.within_party = Some(&plant2);
    assert!(log.found(&q).is_empty());
    // The graph around its own load stays within its own loads.
    let g = graph(
        log.query(),
        &GraphQuery {
            start: m[3].clone(),
            depth: 2,
            from: None,
            to: None,
            fan_out: 25,
            max_nodes: 500,
            within_party: Some(&plant2),
        },
    )
    .unwrap();
    let loads: Vec<&str> = g
        .nodes
        .iter()
        .filter(|n| n.kind == "manifest")
        .map(|n| n.key.as_str())
        .collect();
    assert_eq!(loads, vec![m[3].as_str()]);
    // And it may not start from another's load.
    let mut gq = GraphQuery {
        start: m[0].clone(),
        depth: 2,
        from: None,
        to: None,
        fan_out: 25,
        max_nodes: 500,
        within_party: Some(&plant2),
    };
    assert!(graph(log.query(), &gq).is_err());
    gq.within_party = None;
    assert!(graph(log.query(), &gq).is_ok());
}

fn gq(start: &ManifestNumber, depth: u32) -> GraphQuery<'static> {
    GraphQuery {
        start: start.clone(),
        depth,
        from: None,
        to: None,
        fan_out: 25,
        max_nodes: 500,
        within_party: None,
    }
}

fn has_edge(g: &Graph, a: &str, b: &str) -> Option<Edge> {
    g.edges
        .iter()
        .find(|e| (e.from == a && e.to == b) || (e.from == b && e.to == a))
        .cloned()
}

#[test]
fn the_graph_links_consolidated_split_and_shared_truck_loads() {
    let s = scene();
    let (log, m) = (&s.log, &s.m);
    let node = |n: &ManifestNumber| format!("manifest:{n}");
    // Depth 1 from m1: what it touched (truck A, driver 7, its parties and sites) and the
    // load it went on as (m3, by the consolidation's entry).
    let g = graph(log.query(), &gq(&m[0], 1)).unwrap();
    let ids: BTreeSet<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    let plate_a = format!("plate:{PLATE_A}");
    let drv7 = format!("driver:{}", driver(7));
    for want in [
        plate_a.as_str(),
        drv7.as_str(),
        "site:S-PLANT",
        "site:S-STATION",
        &format!("party:{}", id(HAUL)),
        &node(&m[2]),
    ] {
        assert!(ids.contains(want), "{want} in {ids:?}");
    }
    let onward = has_edge(&g, &node(&m[0]), &node(&m[2])).unwrap();
    assert_eq!(onward.kind, "onward");
    assert_eq!(onward.from, node(&m[0]));
    assert_eq!(
        onward.entries,
        vec![log.d.manifest(&m[2]).unwrap().issue_index]
    );
    let truck = has_edge(&g, &node(&m[0]), &plate_a).unwrap();
    assert_eq!(truck.entries, vec![s.hand[0].1]);
    assert_eq!(truck.roles, vec!["vehicle"]);
    // Not yet the other loads (depth 1).
    assert!(!ids.contains(node(&m[3]).as_str()));
    // Depth 2: the shared truck brings m4 and m5, the consolidation's other input m2 comes
    // through m3, and driver 8 (m4's) is not there yet.
    let g = graph(log.query(), &gq(&m[0], 2)).unwrap();
    let ids: BTreeSet<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    for want in [&m[1], &m[2], &m[3], &m[4]] {
        assert!(ids.contains(node(want).as_str()), "{want} in {ids:?}");
    }
    assert!(has_edge(&g, &node(&m[3]), &plate_a).is_some());
    assert!(has_edge(&g, &node(&m[1]), &node(&m[2])).is_some());
    assert!(!ids.contains(format!("driver:{}", driver(8)).as_str()));
    assert!(g.truncated.is_empty(), "{:?}", g.truncated);
    // A split: from m6, its input m5 (depth 1) and its sibling m7 (depth 2, through m5).
    let g = graph(log.query(), &gq(&m[5], 2)).unwrap();
    let e = has_edge(&g, &node(&m[4]), &node(&m[5])).unwrap();
    assert_eq!((e.from.as_str(), e.kind), (node(&m[4]).as_str(), "onward"));
    let depth = |n: &ManifestNumber| {
        g.nodes
            .iter()
            .find(|x| x.key == n.as_str())
            .map(|x| x.depth)
    };
    assert_eq!(depth(&m[4]), Some(1));
    assert_eq!(depth(&m[6]), Some(2));
    // Nodes are unique, and every edge joins two nodes of the graph.
    let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids.len(), ids.iter().collect::<BTreeSet<_>>().len());
    for e in &g.edges {
        assert!(
            ids.contains(&e.from.as_str()) && ids.contains(&e.to.as_str()),
            "{e:?}"
        );
        assert!(!e.entries.is_empty());
    }
    // Unknown load.
    assert!(graph(
        log.query(),
        &gq(&ManifestNumber::parse("20269999000001").unwrap(), 2)
    )
    .is_err());
}

#[test]
fn the_graph_reports_what_its_caps_cut() {
    let mut log = Log::new();
    let mut loads = Vec::new();
    for _ in 0..12 {
        let m = log.load(PLANT, "S-RECV", &[HAUL]);
        log.hand(&m, PLANT, HAUL, 1000).vehicle(PLATE_A).admit();
        loads.push(m);
    }
    let mut q = gq(&loads[0], 2);
    q.fan_out = 4;
    let g = graph(log.query(), &q).unwrap();
    let plate = format!("plate:{PLATE_A}");
    let t = g
        .truncated
        .iter()
        .find(|t| t.node == plate)
        .unwrap_or_else(|| panic!("truck A cut: {:?}", g.truncated));
    assert_eq!(t.reason, "fan_out");
    assert_eq!(t.shown, 4);
    // 12 pickups (one each) in the window.
    assert_eq!(t.postings_in_window, Some(12));
    let via_plate = g
        .edges
        .iter()
        .filter(|e| e.to == plate || e.from == plate)
        .count();
    assert_eq!(via_plate, 5, "the start load and 4 others");
    // The newest are shown.
    let ids: BTreeSet<&str> = g.nodes.iter().map(|n| n.key.as_str()).collect();
    assert!(ids.contains(loads[11].as_str()) && !ids.contains(loads[1].as_str()));
    // Without caps nothing is cut and all 12 loads are there.
    let g = graph(log.query(), &gq(&loads[0], 2)).unwrap();
    assert!(g
        .truncated
        .iter()
        .all(|t| t.reason != "fan_out" || t.node != plate));
    assert_eq!(g.nodes.iter().filter(|n| n.kind == "manifest").count(), 12);
    // The node cap: the graph stops at the cap and says so.
    let mut q = gq(&loads[0], 2);
    q.max_nodes = 6;
    let g = graph(log.query(), &q).unwrap();
    assert_eq!(g.nodes.len(), 6);
    assert!(
        g.truncated.iter().any(|t| t.reason == "max_nodes"),
        "{:?}",
        g.truncated
    );
}
