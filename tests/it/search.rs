//! Linked search and the graph over HTTP and the CLI, on the test city: what the bureau
//! finds by plate, party, site and driver, what a party may find, paging, the graph around a
//! load, and bad parameters named.

use crate::support::run;
use crate::world::{World, PLATE_A, PLATE_B, PLATE_MUCK};
use ed25519_dalek::SigningKey;
use serde_json::Value;
use std::collections::BTreeSet;
use wasteledger::client::encode;

const DRIVER: &str = "5f1e3c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

fn get(w: &World, path: &str, who: &SigningKey) -> (u16, Value) {
    let a = w.c.get_signed(path, who).unwrap();
    (
        a.status,
        serde_json::from_str(&a.body).unwrap_or(Value::Null),
    )
}

fn numbers(page: &Value) -> BTreeSet<String> {
    page["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("no manifests: {page}"))
        .iter()
        .map(|m| m["number"].as_str().unwrap().to_string())
        .collect()
}

fn set(v: &[&String]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn search_finds_each_subjects_manifests_and_a_party_only_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m1 = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m1);
    let m2 = w.issue_hazardous("S-DISPOSAL");
    w.hand(
        &m2,
        &w.plant,
        &w.hauler_b,
        Some(PLATE_B),
        &[340_000, 120_000],
    );
    let m3 = w.issue_muck(5_000_000);
    w.hand(&m3, &w.builder, &w.muck, Some(PLATE_MUCK), &[5_000_000]);
    let bureau = &w.bureau.key;
    let q = |query: &str| get(&w, &format!("/v1/search?{query}"), bureau);

    let (s, page) = q(&format!("plate={}", encode(PLATE_A)));
    assert_eq!(s, 200, "{page}");
    assert_eq!(numbers(&page), set(&[&m1]));
    assert_eq!(page["scope"], "all");
    assert_eq!(page["postings_in_window"], 1);
    let e = &page["manifests"][0]["entries"];
    assert_eq!(e.as_array().unwrap().len(), 1, "{page}");
    assert_eq!(e[0]["type"], "custody.handover");
    assert_eq!(e[0]["roles"], serde_json::json!(["vehicle"]));
    assert_eq!(
        q(&format!("plate={}", encode(PLATE_B))).1["manifests"][0]["number"],
        m2.as_str()
    );
    // The driver's commitment was on the three hand-overs.
    assert_eq!(
        numbers(&q(&format!("driver={DRIVER}")).1),
        set(&[&m1, &m2, &m3])
    );
    // A site: the plant's (origin of both hazardous loads), not the building site's load.
    assert_eq!(numbers(&q("site=S-PLANT").1), set(&[&m1, &m2]));
    assert_eq!(numbers(&q("site=S-BUILD").1), set(&[&m3]));
    // A party: the muck fleet is party to the construction load only.
    let (_, page) = q(&format!("party={}", w.muck.id));
    assert_eq!(numbers(&page), set(&[&m3]));
    // Lower-case plates are the same plate.
    assert_eq!(
        numbers(&q(&format!("plate={}", encode(&PLATE_A.to_lowercase()))).1),
        set(&[&m1])
    );

    // A window: from after everything finds nothing; to before everything too.
    let (_, page) = q(&format!(
        "site=S-PLANT&from={}",
        encode("2099-01-01T00:00:00Z")
    ));
    assert!(numbers(&page).is_empty());
    let (_, page) = q(&format!(
        "site=S-PLANT&to={}",
        encode("2000-01-01T00:00:00Z")
    ));
    assert!(numbers(&page).is_empty());

    // A party searches only within its own manifests: the muck fleet asking for truck A
    // (not its load) gets nothing, for its own truck its load.
    let (s, page) = get(
        &w,
        &format!("/v1/search?plate={}", encode(PLATE_A)),
        &w.muck.key,
    );
    assert_eq!(s, 200, "{page}");
    assert!(numbers(&page).is_empty(), "{page}");
    assert_eq!(
        page["scope"],
        format!("manifests {} is party to", w.muck.id)
    );
    // Nor is it told how many entries involve a truck that is not its business.
    assert!(page.get("postings_in_window").is_none(), "{page}");
    let (_, page) = get(&w, &format!("/v1/search?driver={DRIVER}"), &w.muck.key);
    assert_eq!(numbers(&page), set(&[&m3]));
    // Hauler B sees m2 (it carried it) and m1 (a planned hauler on it), not the muck.
    let (_, page) = get(&w, &format!("/v1/search?driver={DRIVER}"), &w.hauler_b.key);
    assert_eq!(numbers(&page), set(&[&m1, &m2]));
    // Unsigned: 401.
    let a = w.c.get(&format!("/v1/search?driver={DRIVER}")).unwrap();
    assert_eq!(a.status, 401, "{}", a.body);

    // The CLI, as the bureau: readable lines with the manifest and the entries.
    let key = dir.path().join("bureau.pem");
    wasteledger::keyfile::write(&key, bureau).unwrap();
    let (okay, out) = run(&[
        "search",
        "--server",
        &w.server.url,
        "--key",
        key.to_str().unwrap(),
        "--plate",
        PLATE_A,
    ]);
    assert!(okay, "{out}");
    assert!(out.contains(&m1) && !out.contains(&m2), "{out}");
    assert!(
        out.contains("custody.handover") && out.contains("as vehicle"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("custody.handover") && l.contains(" CST ")),
        "entry times in China Standard Time: {out}"
    );
    let (okay, out) = run(&[
        "search",
        "--server",
        &w.server.url,
        "--key",
        key.to_str().unwrap(),
        "--plate",
        "nonsense",
    ]);
    assert!(!okay && out.contains("--plate"), "{out}");
    let (okay, out) = run(&[
        "graph",
        "--server",
        &w.server.url,
        "--key",
        key.to_str().unwrap(),
        "--manifest",
        &m1,
    ]);
    assert!(okay, "{out}");
    assert!(
        out.contains(&format!("plate:{PLATE_A}")) && out.contains("depth 1:"),
        "{out}"
    );
    assert!(out.contains(" CST)"), "issue times in CST: {out}");
}

#[test]
fn pages_list_each_manifest_once_and_bad_parameters_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let mut all = BTreeSet::new();
    for _ in 0..7 {
        let m = w.issue_hazardous("S-DISPOSAL");
        w.pickup(&m);
        all.insert(m);
    }
    for order in ["newest", "oldest"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/v1/search?plate={}&limit=3&order={order}", encode(PLATE_A));
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (s, page) = get(&w, &path, &w.bureau.key);
            assert_eq!(s, 200, "{page}");
            pages += 1;
            seen.extend(numbers(&page));
            match page["next"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(pages, 3, "{order}");
        assert_eq!(seen.len(), 7, "{order}: {seen:?}");
        assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), all);
    }

    let bad = |query: &str, field: &str, says: &str| {
        let (s, p) = get(&w, &format!("/v1/search?{query}"), &w.bureau.key);
        assert_eq!(s, 400, "{query}: {p}");
        assert_eq!(p["field"], field, "{query}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(says), "{query}: {p}");
    };
    bad(
        "limit=3",
        "plate",
        "`plate`, `party`, `site`, `driver` or `driver_name`",
    );
    bad(
        &format!("plate={}&party={}", encode(PLATE_A), w.plant.id),
        "party",
        "one subject",
    );
    bad("plate=XX123", "plate", "plate");
    bad(
        "party=91320583MA1ELEC0X",
        "party",
        "Unified Social Credit Code",
    );
    bad("driver=abc", "driver", "64 lower-case hex");
    bad(
        &format!("plate={}&limit=0", encode(PLATE_A)),
        "limit",
        "from 1 to 500",
    );
    bad(
        &format!("plate={}&from=yesterday", encode(PLATE_A)),
        "from",
        "yesterday",
    );
    bad(
        &format!(
            "plate={}&from={}&to={}",
            encode(PLATE_A),
            encode("2026-11-02T00:00:00Z"),
            encode("2026-11-01T00:00:00Z")
        ),
        "to",
        "after `from`",
    );
    bad(
        &format!("plate={}&cursor=zz", encode(PLATE_A)),
        "cursor",
        "cursor",
    );
    bad(
        &format!("plate={}&order=sideways", encode(PLATE_A)),
        "order",
        "newest or oldest",
    );
    bad(
        &format!("plate={}&vehicle=x", encode(PLATE_A)),
        "vehicle",
        "not a parameter",
    );
}

#[test]
fn the_graph_around_a_load_links_the_loads_its_truck_carried() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m1 = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m1);
    let m2 = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m2);
    let m3 = w.issue_muck(5_000_000);
    w.hand(&m3, &w.builder, &w.muck, Some(PLATE_MUCK), &[5_000_000]);
    let (s, g) = get(&w, &format!("/v1/manifests/{m1}/graph"), &w.bureau.key);
    assert_eq!(s, 200, "{g}");
    let ids: BTreeSet<&str> = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let plate = format!("plate:{PLATE_A}");
    assert!(ids.contains(plate.as_str()), "{ids:?}");
    assert!(ids.contains(format!("manifest:{m2}").as_str()), "{ids:?}");
    // The shared driver links the muck load too (depth 2).
    assert!(ids.contains(format!("manifest:{m3}").as_str()), "{ids:?}");
    let edge = g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == plate.as_str() && e["from"] == format!("manifest:{m2}").as_str())
        .unwrap_or_else(|| panic!("{g}"));
    assert_eq!(edge["entries"].as_array().unwrap().len(), 1);
    // Depth 1: not the other loads; fan-out 1: truncation reported.
    let (_, g1) = get(
        &w,
        &format!("/v1/manifests/{m1}/graph?depth=1"),
        &w.bureau.key,
    );
    assert!(!g1.to_string().contains(&format!("manifest:{m2}")), "{g1}");
    let (_, gf) = get(
        &w,
        &format!("/v1/manifests/{m1}/graph?fan_out=1"),
        &w.bureau.key,
    );
    assert!(
        gf["truncated"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["reason"] == "fan_out"),
        "{gf}"
    );
    // A party sees its own loads only: the muck fleet may not start from m1.
    let (s, p) = get(&w, &format!("/v1/manifests/{m1}/graph"), &w.muck.key);
    assert_eq!(s, 404, "{p}");
    let (s, g) = get(&w, &format!("/v1/manifests/{m3}/graph"), &w.muck.key);
    assert_eq!(s, 200, "{g}");
    assert!(!g.to_string().contains(&m1), "{g}");
    // Bad parameters.
    let (s, p) = get(
        &w,
        &format!("/v1/manifests/{m1}/graph?depth=9"),
        &w.bureau.key,
    );
    assert_eq!((s, p["field"].as_str()), (400, Some("depth")), "{p}");
    let (s, p) = get(&w, "/v1/manifests/123/graph", &w.bureau.key);
    assert_eq!((s, p["field"].as_str()), (400, Some("number")), "{p}");
    let (s, _) = get(&w, "/v1/manifests/20269999000001/graph", &w.bureau.key);
    assert_eq!(s, 404);
}
