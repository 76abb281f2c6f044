//! `GET /v1/anomalies` and each manifest's `anomalies` on a real server: who sees what, bad
//! parameters named, and `wasteledger anomalies` printing one line per anomaly.

use crate::support::run;
use crate::world::{ok, World, PLATE_A, PLATE_MUCK};
use serde_json::{json, Value};
use wasteledger::client::encode;

fn kinds(v: &Value) -> Vec<String> {
    v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}

/// A hazardous load delivered at 09:30 to a yard with no licence, and a muck truck, loaded at
/// 08:30, standing 25 minutes by the road from 09:00, 30 km from any site: (the hazardous
/// manifest, the delivery's entry, the muck manifest, the track's entry).
pub(crate) fn unlicensed_and_dwell(w: &World) -> (String, u64, String, u64) {
    let m = w.issue_hazardous("S-BACKYARD");
    w.pickup(&m);
    let mut deliver = w.handover(&m, &w.hauler_a, &w.backyard, None, &[340_000, 120_000]);
    deliver["at"] = json!("2026-11-23T09:30:00Z");
    let delivered = ok(&w.c, deliver, &[&w.hauler_a.key, &w.backyard.key])["index"]
        .as_u64()
        .unwrap();
    // A muck truck, loaded at 08:30, stands 25 minutes by the road, 30 km from any site.
    let muck = w.issue_muck(10_000_000);
    w.hand(&muck, &w.builder, &w.muck, Some(PLATE_MUCK), &[10_000_000]);
    let track = ok(
        &w.c,
        json!({"type": "vehicle.track", "plate": PLATE_MUCK, "points": [
            {"at": "2026-11-23T09:00:00Z", "lat_e6": 31_600_000, "lon_e6": 121_200_000},
            {"at": "2026-11-23T09:10:00Z", "lat_e6": 31_600_400, "lon_e6": 121_200_200},
            {"at": "2026-11-23T09:25:00Z", "lat_e6": 31_600_100, "lon_e6": 121_200_100}]}),
        &[&w.muck.key],
    )["index"]
        .as_u64()
        .unwrap();

    (m, delivered, muck, track)
}

/// Each `(query, field, what the detail says)` of `/v1/anomalies` is a 400 naming the field.
pub(crate) fn refused(w: &World, cases: &[(&str, &str, &str)]) {
    for (q, field, says) in cases {
        let a =
            w.c.get_signed(&format!("/v1/anomalies?{q}"), &w.bureau.key)
                .unwrap();
        assert_eq!(a.status, 400, "{q}: {}", a.body);
        let p = a.json().unwrap();
        assert_eq!(p["field"], *field, "{q}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(says), "{q}: {p}");
    }
}

#[test]
fn anomalies_are_served_to_signed_readers_scoped_and_on_each_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let (m, delivered, muck, track) = unlicensed_and_dwell(&w);

    // Anonymous: 401.
    let a = w.c.get("/v1/anomalies").unwrap();
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.json().unwrap()["field"], "Authorization");

    // The bureau sees both.
    let all = w.c.get_signed("/v1/anomalies", &w.bureau.key).unwrap();
    assert_eq!(all.status, 200, "{}", all.body);
    let all = all.json().unwrap();
    let mut k = kinds(&all);
    k.sort();
    assert_eq!(k, vec!["dwell_outside_sites", "not_licensed"], "{all}");
    // One scan serves every reader for a while (it holds the state's read lock): the plant's
    // request right after is answered from the same scan, scoped to what it may see.
    let again = w.c.get_signed("/v1/anomalies", &w.plant.key).unwrap();
    let again = again.json().unwrap();
    assert_eq!(again["as_of"], all["as_of"], "{again}");
    assert_eq!(kinds(&again), vec!["not_licensed"], "{again}");
    let list = all["anomalies"].as_array().unwrap();
    let nl = list.iter().find(|a| a["kind"] == "not_licensed").unwrap();
    assert_eq!(nl["entries"], json!([delivered]));
    assert_eq!(nl["manifests"], json!([m]));
    assert!(
        nl["reason"].as_str().unwrap().contains(&format!(
            "{} holds no licence for code 900-249-08; {} holds no licence for code 900-041-49",
            w.backyard.id, w.backyard.id
        )),
        "{nl}"
    );
    let dwell = list
        .iter()
        .find(|a| a["kind"] == "dwell_outside_sites")
        .unwrap();
    assert_eq!(dwell["vehicles"], json!([PLATE_MUCK]));
    assert_eq!(dwell["manifests"], json!([muck]));
    assert!(dwell["entries"].as_array().unwrap().contains(&json!(track)));
    assert!(
        dwell["reason"]
            .as_str()
            .unwrap()
            .contains("(25 min, 3 track points)"),
        "{dwell}"
    );

    // Filters.
    let q = format!(
        "/v1/anomalies?kind=dwell_outside_sites&vehicle={}&from=2026-11-23T09:00:00Z&to=2026-11-23T09:01:00Z",
        encode(PLATE_MUCK)
    );
    let one = w.c.get_signed(&q, &w.bureau.key).unwrap().json().unwrap();
    assert_eq!(kinds(&one), vec!["dwell_outside_sites"]);
    let q = format!("/v1/anomalies?vehicle={}", encode(PLATE_A));
    let none = w.c.get_signed(&q, &w.bureau.key).unwrap().json().unwrap();
    assert_eq!(
        kinds(&none),
        vec!["not_licensed"],
        "the truck that carried it"
    );

    // Parties: the plant (issuer) and the yard see the unlicensed delivery, the muck fleet its
    // truck's dwell; the station, party to neither, sees nothing.
    for (who, want) in [
        (&w.plant, vec!["not_licensed"]),
        (&w.backyard, vec!["not_licensed"]),
        (&w.muck, vec!["dwell_outside_sites"]),
        (&w.builder, vec!["dwell_outside_sites"]),
        (&w.station, vec![]),
    ] {
        let a = w.c.get_signed("/v1/anomalies", &who.key).unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(kinds(&a.json().unwrap()), want, "as {}", who.name);
    }

    // Bad parameters: 400 naming the parameter and what was expected.
    refused(
        &w,
        &[
            ("kind=fast", "kind", "one of overdue"),
            ("vehicle=XY123", "vehicle", "mainland plate"),
            ("party=123", "party", "Unified Social Credit Code"),
            ("from=yesterday", "from", "RFC 3339"),
            (
                "from=2026-11-24T00:00:00Z&to=2026-11-23T00:00:00Z",
                "to",
                "after from",
            ),
            ("limit=3000", "limit", "from 1 to 500"),
            ("offset=3", "offset", "not a parameter"),
        ],
    );

    // Each manifest carries its own, and still everything it had.
    let full = w.manifest(&m);
    assert_eq!(kinds(&full), vec!["not_licensed"]);
    assert_eq!(full["anomalies"][0]["entries"], json!([delivered]));
    assert_eq!(full["view"], "full");
    assert!(full["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "not_licensed"));
    assert_eq!(kinds(&w.manifest(&muck)), vec!["dwell_outside_sites"]);
    // A party to it sees the same; the public view has none.
    assert_eq!(
        kinds(&w.manifest_as(&m, &w.plant.key)),
        vec!["not_licensed"]
    );
    let public: Value =
        serde_json::from_str(&w.c.get_ok(&format!("/v1/manifests/{m}")).unwrap()).unwrap();
    assert!(public.get("anomalies").is_none(), "{public}");

    let api: Value = serde_json::from_str(&w.c.get_ok("/v1/openapi.json").unwrap()).unwrap();
    assert!(api["paths"]["/v1/anomalies"]["get"].is_object());
    // Every kind the detectors report, and no other.
    assert_eq!(
        api["components"]["schemas"]["Anomaly"]["properties"]["kind"]["enum"],
        json!(wasteledger::investigate::detectors::AnomalyKind::ALL.map(|k| k.as_str()))
    );

    // The CLI: one line per anomaly, with its reason and entries.
    let key = dir.path().join("bureau.pem");
    wasteledger::keyfile::write(&key, &w.bureau.key).unwrap();
    let (good, out) = run(&[
        "anomalies",
        "--server",
        &w.server.url,
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(good, "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("[entries")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("not_licensed") && l.contains(&format!("[entries {delivered}]"))),
        "{out}"
    );
    assert!(out.contains("2 anomalies"), "{out}");
    assert!(
        lines.iter().all(|l| l.contains(" CST  ")) && out.contains(" CST\n"),
        "times in China Standard Time, the zone named: {out}"
    );
    let (good, out) = run(&[
        "anomalies",
        "--server",
        &w.server.url,
        "--key",
        key.to_str().unwrap(),
        "--kind",
        "fast",
    ]);
    assert!(!good && out.contains("--kind: one of overdue"), "{out}");
}
