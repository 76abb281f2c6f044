//! The waste domain end to end over HTTP: lifecycles of both streams, refusals that leave the
//! log as it was, flags that fire on the case built for them and stay silent on a clean chain,
//! two-party signing with a pending half, scoped reads, and state rebuilt from the log alone.

use crate::support::{authority, key, pk, run, run_unlocked, signed};
use crate::world::{ok, post, World, PLATE_A, PLATE_B, PLATE_EXPIRED, PLATE_MUCK};
use serde_json::{json, Value};

fn status(m: &Value) -> &str {
    m["status"].as_str().unwrap()
}

fn amounts(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|q| q["amount"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_hazardous_load_goes_by_relay_and_station_to_disposal_and_is_treated() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    // The answer to the issue names its manifest: the one then served under that number.
    let issue = w.hazardous_issue("S-DISPOSAL");
    let answer = ok(&w.c, issue.clone(), &[&w.plant.key]);
    let m = answer["manifests"][0].as_str().unwrap().to_string();
    assert_eq!(answer["manifests"], json!([m]));
    let served = w.manifest(&m);
    assert_eq!(
        (&served["number"], &served["reference"]),
        (&json!(m), &issue["reference"])
    );
    assert_eq!(m.len(), 14);
    assert!(m.starts_with("2026") || m.starts_with("2027"), "{m}");
    assert_eq!(&m[4..8], "3205", "Kunshan is in Suzhou (3205): {m}");
    assert_eq!(status(&w.manifest(&m)), "issued");

    w.pickup(&m);
    let v = w.manifest(&m);
    assert_eq!(
        (status(&v), v["holder"].as_str().unwrap()),
        ("in_transit", w.hauler_a.id.as_str())
    );
    // Relay: hauler A hands the load to hauler B on the road.
    w.hand(
        &m,
        &w.hauler_a,
        &w.hauler_b,
        Some(PLATE_B),
        &[340_000, 120_000],
    );
    w.hand(&m, &w.hauler_b, &w.station, None, &[339_000, 120_000]);
    assert_eq!(status(&w.manifest(&m)), "at_station");
    // Station out, then delivery to the destination.
    w.hand(
        &m,
        &w.station,
        &w.hauler_a,
        Some(PLATE_A),
        &[339_000, 120_000],
    );
    w.hand(&m, &w.hauler_a, &w.disposal, None, &[339_000, 120_000]);
    let v = w.manifest(&m);
    assert_eq!(
        (status(&v), v["holder"].as_str().unwrap()),
        ("delivered", w.disposal.id.as_str())
    );
    ok(
        &w.c,
        json!({"type": "custody.weighed", "manifest": m, "site": "S-DISPOSAL", "ticket": "WB-2026-1123-07",
                    "gross": {"amount": 15_459_000, "unit": "g"}, "tare": {"amount": 15_000_000, "unit": "g"},
                    "net": {"amount": 459_000, "unit": "g"}, "at": "2026-11-23T11:00:00Z"}),
        &[&w.disposal.key],
    );
    ok(
        &w.c,
        json!({"type": "custody.received", "manifest": m, "lines": [
        {"line": 0, "accepted": {"amount": 339_000, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}},
        {"line": 1, "accepted": {"amount": 120_000, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}}]}),
        &[&w.disposal.key],
    );
    assert_eq!(status(&w.manifest(&m)), "received");
    ok(
        &w.c,
        json!({"type": "custody.treated", "manifest": m, "line": 0, "code": "R9", "quantity": {"amount": 339_000, "unit": "g"}}),
        &[&w.disposal.key],
    );
    assert_eq!(
        status(&w.manifest(&m)),
        "received",
        "line 1 is not treated yet"
    );
    ok(
        &w.c,
        json!({"type": "custody.treated", "manifest": m, "line": 1, "code": "D10", "quantity": {"amount": 120_000, "unit": "g"}}),
        &[&w.disposal.key],
    );

    let v = w.manifest(&m);
    assert_eq!(status(&v), "treated");
    assert_eq!(amounts(&v["treated"]), [339_000, 120_000]);
    let kinds: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "manifest.issued",
            "custody.handover",
            "custody.handover",
            "custody.handover",
            "custody.handover",
            "custody.handover",
            "custody.weighed",
            "custody.received",
            "custody.treated",
            "custody.treated"
        ]
    );
    // Each event is served with its log index, and that entry holds exactly that event.
    for e in v["events"].as_array().unwrap() {
        let entry: Value = serde_json::from_str(&w.entry(&e["index"])).unwrap();
        assert_eq!(entry["event"], e["event"]);
    }
    assert_eq!(v["flags"], json!([]), "a clean chain raises no flag");
    assert_eq!(v["vehicles"], json!([PLATE_A, PLATE_B]));
}

#[test]
fn a_station_consolidates_loads_and_splits_one_linked_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let ins: Vec<String> = (0..3).map(|_| w.issue_hazardous("S-HUAQIAO")).collect();
    for m in &ins {
        w.pickup(m);
        w.hand(m, &w.hauler_a, &w.station, None, &[340_000, 120_000]);
    }
    let out = ok(
        &w.c,
        json!({"type": "station.consolidated", "station": w.station.id, "inputs": [ins[0], ins[1]],
        "output": {"destination": "S-DISPOSAL", "haulers": [w.hauler_b.id], "lines": [
            {"code": "900-249-08", "name": "废矿物油 waste mineral oil", "form": "liquid", "hazards": ["T", "I"], "quantity": {"amount": 680_000, "unit": "g"}},
            {"code": "900-041-49", "name": "含油抹布 oily rags", "form": "solid", "hazards": ["T", "In"], "quantity": {"amount": 240_000, "unit": "g"}}]}}),
        &[&w.station.key],
    );
    let merged = out["manifests"][0].as_str().unwrap().to_string();
    let v = w.manifest(&merged);
    assert_eq!(v["sources"], json!([ins[0], ins[1]]));
    assert_eq!(v["issuer"], json!(w.station.id));
    for m in &ins[..2] {
        let i = w.manifest(m);
        assert_eq!(status(&i), "consolidated");
        assert_eq!(i["onward"], json!([merged]));
    }
    // The merged load goes on and arrives.
    w.hand(
        &merged,
        &w.station,
        &w.hauler_b,
        Some(PLATE_B),
        &[680_000, 240_000],
    );
    w.hand(&merged, &w.hauler_b, &w.disposal, None, &[680_000, 240_000]);
    assert_eq!(status(&w.manifest(&merged)), "delivered");

    // Split: one load into two outgoing loads.
    let line = |q: u64| json!({"code": "900-249-08", "name": "废矿物油", "form": "liquid", "hazards": ["T", "I"], "quantity": {"amount": q, "unit": "g"}});
    let out = ok(
        &w.c,
        json!({"type": "station.split", "station": w.station.id, "input": ins[2], "outputs": [
        {"destination": "S-DISPOSAL", "haulers": [w.hauler_a.id], "lines": [line(200_000)]},
        {"destination": "S-DISPOSAL", "haulers": [w.hauler_b.id], "lines": [line(140_000)]}]}),
        &[&w.station.key],
    );
    let parts: Vec<String> = out["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(parts.len(), 2);
    assert_ne!(parts[0], parts[1]);
    let i = w.manifest(&ins[2]);
    assert_eq!((status(&i), &i["onward"]), ("split", &json!(parts)));
    for p in &parts {
        assert_eq!(w.manifest(p)["sources"], json!([ins[2]]));
    }
    // A consolidated input is closed: nobody can hand it over any more.
    let (code, answer) = post(
        &w.c,
        &signed(
            w.handover(&ins[0], &w.station, &w.hauler_a, Some(PLATE_A), &[1, 1]),
            &[&w.station.key, &w.hauler_a.key],
        )
        .to_bytes(),
    );
    assert_eq!(code, 409, "{answer}");
}

#[test]
fn a_construction_load_is_partly_rejected_and_the_rest_recycled() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_muck(30_000_000);
    w.hand(&m, &w.builder, &w.muck, Some(PLATE_MUCK), &[30_000_000]);
    w.hand(&m, &w.muck, &w.recycler, None, &[29_500_000]);
    assert_eq!(status(&w.manifest(&m)), "delivered");
    // Rejected lines need to say where the rejected part goes.
    let receipt = |rejection: Option<Value>| {
        let mut r = json!({"type": "custody.received", "manifest": m, "lines": [
            {"line": 0, "accepted": {"amount": 25_000_000, "unit": "g"}, "rejected": {"amount": 4_500_000, "unit": "g"}, "discrepancy": "type"}]});
        if let Some(x) = rejection {
            r["rejection"] = x;
        }
        signed(r, &[&w.recycler.key])
    };
    let (code, answer) = post(&w.c, &receipt(None).to_bytes());
    assert_eq!(
        (code, answer["field"].as_str()),
        (422, Some("event.rejection")),
        "{answer}"
    );
    let (code, answer) = post(
        &w.c,
        &receipt(Some(
            json!({"reason": "mixed with household waste", "to": w.builder.id}),
        ))
        .to_bytes(),
    );
    assert_eq!(code, 201, "{answer}");
    let v = w.manifest(&m);
    assert_eq!(status(&v), "received");
    assert_eq!(
        (amounts(&v["accepted"]), amounts(&v["rejected"])),
        (vec![25_000_000], vec![4_500_000])
    );
    assert_eq!(v["rejection"]["to"], json!(w.builder.id));
    // The rejected part goes back under a manifest of its own, linked both ways, and its
    // return ends when the builder takes it.
    let back = v["onward"][0].as_str().unwrap().to_string();
    let b = w.manifest(&back);
    assert_eq!((status(&b), &b["sources"]), ("rejected", &json!([m])));
    assert_eq!(amounts(&b["quantities"]), [4_500_000]);
    assert_eq!(b["holder"], json!(w.recycler.id));
    w.hand(&back, &w.recycler, &w.muck, Some(PLATE_MUCK), &[4_500_000]);
    let b = w.manifest(&back);
    assert_eq!(
        (status(&b), b["holder"].as_str().unwrap()),
        ("rejected", w.muck.id.as_str())
    );
    assert!(
        b["in_transit_since"].is_string(),
        "a load on its way back is on the road: {b}"
    );
    w.hand(&back, &w.muck, &w.builder, None, &[4_500_000]);
    assert_eq!(status(&w.manifest(&back)), "returned");
    ok(
        &w.c,
        json!({"type": "custody.treated", "manifest": m, "line": 0, "code": "R5", "quantity": {"amount": 25_000_000, "unit": "g"}}),
        &[&w.recycler.key],
    );
    assert_eq!(status(&w.manifest(&m)), "treated");
    // Treating more than was accepted cannot make sense.
    let (code, answer) = post(&w.c, &signed(json!({"type": "custody.treated", "manifest": m, "line": 0, "code": "R5", "quantity": {"amount": 1, "unit": "g"}}), &[&w.recycler.key]).to_bytes());
    assert_eq!(code, 409, "{answer}");
    assert_eq!(
        w.flags(&m),
        Vec::<String>::new(),
        "within the construction stream's tolerance"
    );
}

#[test]
fn every_refusal_names_why_and_leaves_size_and_root_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    // A key of the plant, revoked.
    let old = key(90);
    ok(
        &w.c,
        json!({"type": "key.added", "key": pk(&old), "holder": w.plant.id}),
        &[&authority()],
    );
    ok(
        &w.c,
        json!({"type": "key.revoked", "key": pk(&old), "effective": "2020-01-01T00:00:00Z", "reason": "terminal lost"}),
        &[&authority()],
    );
    let replayed = signed(
        w.handover(
            &m,
            &w.plant,
            &w.hauler_a,
            Some(PLATE_A),
            &[340_000, 120_000],
        ),
        &[&w.plant.key, &w.hauler_a.key],
    );
    let issue = |generator: &str, code: &str| {
        json!({
        "type": "manifest.issued", "reference": "CK-REFUSED", "stream": "hazardous", "generator": generator, "origin": "S-PLANT", "destination": "S-DISPOSAL",
        "haulers": [w.hauler_a.id], "lines": [{"code": code, "name": "废矿物油", "form": "liquid", "hazards": ["T"], "quantity": {"amount": 1000, "unit": "g"}}]})
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("the hauler voids the plant's manifest", signed(json!({"type": "manifest.voided", "manifest": m, "reason": "x"}), &[&w.hauler_a.key]).to_bytes(), 403, "signatures"),
        ("the plant voids after pickup", signed(json!({"type": "manifest.voided", "manifest": m, "reason": "x"}), &[&w.plant.key]).to_bytes(), 409, "event.manifest"),
        ("the plant hands over a load hauler A holds", signed(w.handover(&m, &w.plant, &w.hauler_b, Some(PLATE_B), &[340_000, 120_000]), &[&w.plant.key, &w.hauler_b.key]).to_bytes(), 409, "event.from"),
        ("a hand-over signed by someone else than the taker", signed(w.handover(&m, &w.hauler_a, &w.hauler_b, Some(PLATE_B), &[340_000, 120_000]), &[&w.hauler_a.key, &w.station.key]).to_bytes(), 403, "signatures"),
        ("a manifest issued with a revoked key", signed(issue(&w.plant.id, "900-249-08"), &[&old]).to_bytes(), 403, "signatures"),
        ("a hand-over of a manifest that does not exist", signed(w.handover("20263205999999", &w.hauler_a, &w.hauler_b, Some(PLATE_B), &[1, 1]), &[&w.hauler_a.key, &w.hauler_b.key]).to_bytes(), 422, "event.manifest"),
        ("a malformed waste code", signed(issue(&w.plant.id, "900-249-8"), &[&w.plant.key]).to_bytes(), 422, "event.lines[0].code"),
        ("a category that no longer exists", signed(issue(&w.plant.id, "900-249-42"), &[&w.plant.key]).to_bytes(), 422, "event.lines[0].code"),
        ("a malformed USCC", signed(issue("91320583MA1ELEC01X", "900-249-08"), &[&w.plant.key]).to_bytes(), 422, "event.generator"),
        ("an unknown field", signed(json!({"type": "manifest.voided", "manifest": m, "reason": "x", "extra": 1}), &[&w.plant.key]).to_bytes(), 422, "event"),
        ("a replay of a hand-over in the log", replayed.to_bytes(), 409, "event"),
        ("the generator registers itself", signed(json!({"type": "party.registered", "party": w.plant.id, "name": "x", "roles": ["receiver"]}), &[&w.plant.key]).to_bytes(), 403, "signatures"),
    ];
    for (what, body, want, field) in cases {
        let before = w.head();
        let state_before = w.manifest(&m);
        let (code, answer) = post(&w.c, &body);
        if what.starts_with("a replay") {
            assert_eq!(answer["type"], "urn:wasteledger:problem:replay", "{answer}");
        }
        assert_eq!(code, want, "{what}: {answer}");
        assert!(
            answer["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {answer}"
        );
        assert!(
            answer["field"]
                .as_str()
                .is_some_and(|f| f.starts_with(field)),
            "{what}: field {} (want {field}): {answer}",
            answer["field"]
        );
        assert_eq!(w.head(), before, "{what}: the log changed");
        assert_eq!(w.manifest(&m), state_before, "{what}: the manifest changed");
    }
    let v = w.manifest(&m);
    assert_eq!(
        (status(&v), v["holder"].as_str().unwrap()),
        ("in_transit", w.hauler_a.id.as_str())
    );
}

#[test]
fn each_flag_fires_on_its_case_and_names_the_entry_behind_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    // Quantity gap: 340 kg picked up, 300 kg handed to the next hauler.
    let gap = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&gap);
    let relay = w.hand(
        &gap,
        &w.hauler_a,
        &w.hauler_b,
        Some(PLATE_B),
        &[300_000, 120_000],
    );
    let v = w.manifest(&gap);
    let flags = v["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1, "{v}");
    assert_eq!(flags[0]["kind"], "quantity_gap");
    assert_eq!(flags[0]["index"], relay["index"]);
    assert!(
        flags[0]["detail"].as_str().unwrap().contains("line 1:"),
        "{}",
        flags[0]
    );

    // A receiver with no licence for the code.
    let unlicensed = w.issue_hazardous("S-BACKYARD");
    w.pickup(&unlicensed);
    w.hand(
        &unlicensed,
        &w.hauler_a,
        &w.backyard,
        None,
        &[340_000, 120_000],
    );
    assert_eq!(
        w.flags(&unlicensed),
        ["not_licensed", "not_licensed"],
        "one for each code it takes without a licence"
    );

    // A truck whose permit expired, and a hauler with no transport licence at all (the
    // construction fleet carrying hazardous waste).
    let permit = w.issue_hazardous("S-DISPOSAL");
    w.hand(
        &permit,
        &w.plant,
        &w.hauler_a,
        Some(PLATE_EXPIRED),
        &[340_000, 120_000],
    );
    assert_eq!(w.flags(&permit), ["no_permit"]);
    let wrong_fleet = w.issue_hazardous("S-DISPOSAL");
    w.hand(
        &wrong_fleet,
        &w.plant,
        &w.muck,
        Some(PLATE_MUCK),
        &[340_000, 120_000],
    );
    let details: Vec<String> = w.manifest(&wrong_fleet)["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["detail"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        details.len(),
        2,
        "the hauler's licence and the truck's permit: {details:?}"
    );

    // A licence revoked before delivery.
    ok(
        &w.c,
        json!({"type": "licence.revoked", "licence": "L-DISPOSAL", "effective": "2025-01-01T00:00:00Z", "reason": "suspended for inspection"}),
        &[&authority()],
    );
    let revoked = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&revoked);
    w.hand(
        &revoked,
        &w.hauler_a,
        &w.disposal,
        None,
        &[340_000, 120_000],
    );
    let v = w.manifest(&revoked);
    assert_eq!(v["flags"][0]["kind"], "not_licensed");
    assert!(
        v["flags"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{v}"
    );

    // And the clean chain beside them raises nothing.
    let clean = w.issue_hazardous("S-HUAQIAO");
    w.pickup(&clean);
    w.hand(&clean, &w.hauler_a, &w.station, None, &[339_000, 119_000]);
    assert_eq!(w.flags(&clean), Vec::<String>::new());
}

#[test]
fn a_half_signed_hand_over_waits_as_pending_until_the_other_party_countersigns() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    let half = signed(
        w.handover(
            &m,
            &w.plant,
            &w.hauler_a,
            Some(PLATE_A),
            &[340_000, 120_000],
        ),
        &[&w.plant.key],
    );
    let before = w.head();
    let (code, answer) = post(&w.c, &half.to_bytes());
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["waiting_for"], json!(w.hauler_a.id));
    assert_eq!(w.head(), before, "a pending hand-over is not in the log");
    let v = w.manifest(&m);
    assert_eq!(status(&v), "issued");
    assert_eq!(v["pending"][0]["status"], "pending");
    // The driver's terminal fetches it, countersigns and submits.
    let hash = answer["pending"].as_str().unwrap();
    let path = format!("/v1/pending/{hash}");
    // Only the parties to the hand-over (and who sees all) read the half: it holds quantities,
    // parties and the vehicle.
    let anon = w.c.get(&path).unwrap();
    assert_eq!(anon.status, 401, "{}", anon.body);
    assert!(anon.body.contains("Authorization"), "{}", anon.body);
    let other = w.c.get_signed(&path, &w.disposal.key).unwrap();
    assert_eq!(other.status, 403, "{}", other.body);
    let giver = w.c.get_signed(&path, &w.plant.key).unwrap();
    assert_eq!(giver.status, 200, "{}", giver.body);
    let inspector = w.c.get_signed(&path, &w.bureau.key).unwrap();
    assert_eq!(inspector.status, 200, "{}", inspector.body);
    let fetched = w.c.get_signed(&path, &w.hauler_a.key).unwrap();
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    let fetched = fetched.body;
    let mut full = wasteledger::ledger::event::SignedEvent::parse(fetched.as_bytes()).unwrap();
    full.add_signature(&w.hauler_a.key);
    let (code, answer) = post(&w.c, &full.to_bytes());
    assert_eq!(code, 201, "{answer}");
    let v = w.manifest(&m);
    assert_eq!(status(&v), "in_transit");
    assert_eq!(v["pending"][0]["status"], "completed");
    assert_eq!(v["pending"][0]["completed_index"], answer["index"]);
    // A half whose signature does not verify is not kept, not even beside the log.
    let relay = w.handover(
        &m,
        &w.hauler_a,
        &w.hauler_b,
        Some(PLATE_B),
        &[340_000, 120_000],
    );
    let mut forged = signed(relay.clone(), &[&w.hauler_a.key]).to_bytes();
    let at = String::from_utf8_lossy(&forged)
        .rfind("\"sig\":\"")
        .unwrap()
        + 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(post(&w.c, &forged).0, 422);
    // Nor one signed with a revoked key.
    let lost = key(91);
    ok(
        &w.c,
        json!({"type": "key.added", "key": pk(&lost), "holder": w.hauler_a.id}),
        &[&authority()],
    );
    ok(
        &w.c,
        json!({"type": "key.revoked", "key": pk(&lost), "effective": "2020-01-01T00:00:00Z", "reason": "phone stolen"}),
        &[&authority()],
    );
    let (code, answer) = post(&w.c, &signed(relay, &[&lost]).to_bytes());
    assert_eq!(code, 403, "{answer}");
    // A revoked key does not open private reads either.
    assert_eq!(w.manifest_as(&m, &lost)["view"], "public");
    assert_eq!(w.manifest(&m)["pending"].as_array().unwrap().len(), 1);
    // A half signed by neither party is refused outright.
    let stranger = signed(
        w.handover(
            &m,
            &w.hauler_a,
            &w.hauler_b,
            Some(PLATE_B),
            &[340_000, 120_000],
        ),
        &[&w.station.key],
    );
    assert_eq!(post(&w.c, &stranger.to_bytes()).0, 403);

    // The holder cannot pile up halves on a manifest without end: at most 8 wait at once.
    let m2 = w.issue_hazardous("S-DISPOSAL");
    for i in 0..=wasteledger::http::MAX_PENDING_PER_MANIFEST {
        let mut h = w.handover(
            &m2,
            &w.plant,
            &w.hauler_a,
            Some(PLATE_A),
            &[340_000, 120_000],
        );
        h["at"] = json!(format!("2026-11-23T08:{:02}:00Z", 10 + i));
        let (code, answer) = post(&w.c, &signed(h, &[&w.plant.key]).to_bytes());
        if i < wasteledger::http::MAX_PENDING_PER_MANIFEST {
            assert_eq!(code, 202, "{answer}");
        } else {
            assert_eq!(
                (code, answer["type"].as_str()),
                (409, Some("urn:wasteledger:problem:too-many-pending")),
                "{answer}"
            );
            assert_eq!(answer["field"], "event.manifest");
        }
    }
    let v = w.manifest(&m2);
    assert_eq!(
        v["pending"].as_array().unwrap().len(),
        wasteledger::http::MAX_PENDING_PER_MANIFEST
    );
    // The first manifest's list is its own.
    assert_eq!(w.manifest(&m)["pending"].as_array().unwrap().len(), 1);
}

#[test]
fn readers_see_what_their_role_allows_and_signed_reads_cannot_be_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    let muck = w.issue_muck(10_000_000);
    // Anonymous: the public view of a QR check only.
    let public: Value =
        serde_json::from_str(&w.c.get_ok(&format!("/v1/manifests/{m}")).unwrap()).unwrap();
    assert_eq!(public["view"], "public");
    assert_eq!(public["status"], "in_transit");
    assert_eq!(public["waste_categories"], json!(["HW08", "HW49"]));
    for private in ["quantities", "holder", "events", "parties", "versions"] {
        assert!(
            public.get(private).is_none(),
            "anonymous readers must not see {private}: {public}"
        );
    }
    // A party to it sees it all; a competitor sees the public view; the bureau sees all.
    assert_eq!(w.manifest_as(&m, &w.hauler_a.key)["view"], "full");
    assert_eq!(
        w.manifest_as(&m, &w.hauler_b.key)["view"],
        "full",
        "a planned hauler is a party to it"
    );
    assert_eq!(w.manifest_as(&m, &w.recycler.key)["view"], "public");
    assert_eq!(w.manifest_as(&m, &w.bureau.key)["view"], "full");
    // Lists: only with a signature, and only what the reader may see.
    let list = |k: &ed25519_dalek::SigningKey, q: &str| -> Vec<String> {
        let a = w.c.get_signed(&format!("/v1/manifests{q}"), k).unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        a.json().unwrap()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["number"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(list(&w.plant.key, ""), [m.as_str()]);
    assert_eq!(list(&w.builder.key, ""), [muck.as_str()]);
    assert_eq!(list(&w.bureau.key, "?stream=construction"), [muck.as_str()]);
    assert_eq!(
        list(
            &w.bureau.key,
            &format!("?vehicle={}", wasteledger::client::encode(PLATE_A))
        ),
        [m.as_str()]
    );
    assert_eq!(list(&w.bureau.key, "?status=in_transit"), [m.as_str()]);
    assert_eq!(
        list(&w.recycler.key, &format!("?party={}", w.plant.id)),
        Vec::<String>::new()
    );
    assert_eq!(w.c.get("/v1/manifests").unwrap().status, 401);
    let bad =
        w.c.get_signed("/v1/manifests?status=lost", &w.bureau.key)
            .unwrap();
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("status"), "{}", bad.body);
    // A captured signed request does not work twice.
    let now = wasteledger::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now());
    let header = wasteledger::http::auth::header(&w.bureau.key, "GET", "/v1/manifests", now, b"");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |header: &str| {
        agent
            .get(format!("{}/v1/manifests", w.server.url))
            .header("authorization", header)
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(get(&header), 200);
    assert_eq!(get(&header), 401);
    // The same request signed again at the same millisecond is a new request (its own nonce).
    let again = wasteledger::http::auth::header(&w.bureau.key, "GET", "/v1/manifests", now, b"");
    assert_ne!(again, header);
    assert_eq!(get(&again), 200);
    // Registry reads are public.
    let p: Value = serde_json::from_str(
        &w.c.get_ok(&format!("/v1/parties/{}", w.disposal.id))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(p["licences"][0]["licence"], "L-DISPOSAL");
    assert_eq!(
        w.c.get(&format!(
            "/v1/vehicles/{}",
            wasteledger::client::encode(PLATE_A)
        ))
        .unwrap()
        .status,
        200
    );
    assert_eq!(w.c.get("/v1/manifests/2026320500000").unwrap().status, 400);
    assert_eq!(w.c.get("/v1/manifests/20263205999999").unwrap().status, 404);
    let api: Value = serde_json::from_str(&w.c.get_ok("/v1/openapi.json").unwrap()).unwrap();
    assert!(api["paths"]["/v1/manifests/{number}"].is_object());
}

#[test]
fn state_rebuilt_from_the_log_alone_is_the_state_before() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-HUAQIAO");
    w.pickup(&m);
    w.hand(&m, &w.hauler_a, &w.station, None, &[300_000, 120_000]);
    let muck = w.issue_muck(10_000_000);
    w.hand(&muck, &w.builder, &w.muck, Some(PLATE_MUCK), &[10_000_000]);
    // A split at the station, a correction before pickup, a void, and a key revoked.
    let line = |q: u64| json!({"code": "900-249-08", "name": "废矿物油", "form": "liquid", "hazards": ["T", "I"], "quantity": {"amount": q, "unit": "g"}});
    let out = ok(
        &w.c,
        json!({"type": "station.split", "station": w.station.id, "input": m, "outputs": [
        {"destination": "S-DISPOSAL", "haulers": [w.hauler_a.id], "lines": [line(200_000)]},
        {"destination": "S-DISPOSAL", "haulers": [w.hauler_b.id], "lines": [line(100_000)]}]}),
        &[&w.station.key],
    );
    let parts: Vec<String> = out["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let fixed = w.issue_hazardous("S-DISPOSAL");
    ok(
        &w.c,
        json!({"type": "manifest.corrected", "manifest": fixed, "version": 2, "destination": "S-HUAQIAO",
               "haulers": [w.hauler_a.id], "lines": [line(330_000)], "reason": "one drum only"}),
        &[&w.plant.key],
    );
    let voided = w.issue_hazardous("S-DISPOSAL");
    ok(
        &w.c,
        json!({"type": "manifest.voided", "manifest": voided, "reason": "plan changed"}),
        &[&w.plant.key],
    );
    let spare = key(92);
    ok(
        &w.c,
        json!({"type": "key.added", "key": pk(&spare), "holder": w.plant.id}),
        &[&authority()],
    );
    ok(
        &w.c,
        json!({"type": "key.revoked", "key": pk(&spare), "effective": "2026-01-01T00:00:00Z", "reason": "left the company"}),
        &[&authority()],
    );
    let numbers: Vec<String> = [m.clone(), muck.clone(), fixed, voided]
        .into_iter()
        .chain(parts)
        .collect();
    let view = |w: &World| {
        let all: Vec<Value> = numbers.iter().map(|n| w.manifest(n)).collect();
        let plant: Value =
            serde_json::from_str(&w.c.get_ok(&format!("/v1/parties/{}", w.plant.id)).unwrap())
                .unwrap();
        (all, plant, w.head())
    };
    let before = view(&w);
    assert_eq!(before.0[0]["status"], "split");
    assert_eq!(before.0[2]["versions"].as_array().unwrap().len(), 2);
    assert_eq!(before.0[3]["status"], "voided");
    let World { server, .. } = w;
    let data = server.data.clone();
    server.kill();
    let (okay, out) = run_unlocked(&["verify", "--data", data.to_str().unwrap()]);
    assert!(okay, "{out}");
    let (okay, out) = run_unlocked(&["reindex", "--data", data.to_str().unwrap()]);
    assert!(okay, "{out}");
    let w2 = World::restart(dir.path());
    assert_eq!(view(&w2), before);
}

#[test]
fn a_drivers_name_stays_out_of_the_log_is_read_by_those_who_may_and_is_erased_without_breaking_a_proof(
) {
    use wasteledger::domain::personal::commit;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    let salt = [7u8; 32];
    let name = "王建国";
    let c = commit(&salt, name).as_str().to_string();
    let mut h = w.handover(
        &m,
        &w.plant,
        &w.hauler_a,
        Some(PLATE_A),
        &[340_000, 120_000],
    );
    h["driver"] = json!(c);
    let receipt = ok(&w.c, h, &[&w.plant.key, &w.hauler_a.key]);
    let entry = w.entry(&receipt["index"]);
    assert!(entry.contains(&c) && !entry.contains(name), "{entry}");

    // The hauler lodges the clear value; a wrong salt opens another commitment.
    let lodge = |k: &ed25519_dalek::SigningKey, body: Value| {
        let a =
            w.c.signed("POST", "/v1/personal", body.to_string().as_bytes(), k)
                .unwrap();
        (a.status, a.json().unwrap())
    };
    let body = json!({"kind": "driver_name", "value": name, "salt": hex::encode(salt)});
    let (code, answer) = lodge(&w.hauler_a.key, body.clone());
    assert_eq!(
        (code, answer["commitment"].as_str()),
        (201, Some(c.as_str())),
        "{answer}"
    );
    assert_eq!(lodge(&w.hauler_a.key, body.clone()).0, 409, "lodged once");
    assert_eq!(
        w.c.post("/v1/personal", body.to_string().as_bytes())
            .unwrap()
            .status,
        401
    );
    let read =
        |k: &ed25519_dalek::SigningKey| w.c.get_signed(&format!("/v1/personal/{c}"), k).unwrap();
    assert_eq!(read(&w.bureau.key).json().unwrap()["value"], name);
    assert_eq!(
        read(&w.hauler_a.key).status,
        200,
        "the party that lodged it"
    );
    assert_eq!(read(&w.plant.key).status, 403);
    assert_eq!(w.c.get(&format!("/v1/personal/{c}")).unwrap().status, 401);

    // Erasure: only the authority; the value is gone; the log and its proofs are untouched.
    let before = w.head();
    assert_eq!(
        w.c.signed("DELETE", &format!("/v1/personal/{c}"), b"", &w.bureau.key)
            .unwrap()
            .status,
        403
    );
    assert_eq!(
        w.c.signed("DELETE", &format!("/v1/personal/{c}"), b"", &authority())
            .unwrap()
            .status,
        200
    );
    let gone = read(&w.bureau.key);
    assert_eq!(gone.status, 410);
    assert!(!gone.body.contains(name), "{}", gone.body);
    // The erasure note is the answer (when and by whom), not a generic problem.
    assert!(
        gone.body.contains("\"erased_by\":\"authority\""),
        "{}",
        gone.body
    );
    assert_eq!(w.head(), before);
    assert_eq!(w.entry(&receipt["index"]), entry);
    let bureau_key = dir.path().join("bureau.pem");
    wasteledger::keyfile::write(&bureau_key, &w.bureau.key).unwrap();
    let (okay, out) = run(&[
        "audit",
        "--server",
        &w.server.url,
        "--key",
        bureau_key.to_str().unwrap(),
    ]);
    assert!(okay, "{out}");
}

/// On a waste log, the entries (quantities, parties' business) are for readers who see all;
/// checkpoints and proofs stay public; a truck's position is not for the passer-by.
#[test]
fn entries_and_truck_positions_are_not_for_anonymous_readers() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    let receipt = w.pickup(&m);
    let index = receipt["index"].as_u64().unwrap();
    ok(
        &w.c,
        json!({"type": "vehicle.track", "plate": PLATE_A,
               "points": [{"at": "2026-11-23T08:40:00Z", "lat_e6": 31_385_712, "lon_e6": 120_980_001}]}),
        &[&w.hauler_a.key],
    );

    // Entries: anonymous 401, a generator 403, the bureau the exact bytes.
    for path in [
        format!("/v1/log/entries/{index}"),
        format!("/v1/log/entries?start=0&end={}", index + 1),
    ] {
        let anon = w.c.get(&path).unwrap();
        assert_eq!(anon.status, 401, "{path}: {}", anon.body);
        assert!(!anon.body.contains("340000"), "{}", anon.body);
        assert_eq!(w.c.get_signed(&path, &w.plant.key).unwrap().status, 403);
        assert_eq!(w.c.get_signed(&path, &w.bureau.key).unwrap().status, 200);
    }
    assert!(w.entry(index).contains("340000"));
    // What a verifier needs without trusting anyone stays public.
    assert_eq!(w.c.get("/v1/log/checkpoint").unwrap().status, 200);
    let size = index + 1;
    let proof =
        w.c.get(&format!(
            "/v1/log/proof/inclusion?index={index}&size={size}"
        ))
        .unwrap();
    assert_eq!(proof.status, 200, "{}", proof.body);

    // The public view of a manifest does not point at its entry.
    let public: Value =
        serde_json::from_str(&w.c.get_ok(&format!("/v1/manifests/{m}")).unwrap()).unwrap();
    assert_eq!(public["view"], "public");
    assert!(public.get("issue_index").is_none(), "{public}");

    // The truck's last position: its own company and the bureau, not a passer-by.
    let plate = wasteledger::client::encode(PLATE_A);
    let path = format!("/v1/vehicles/{plate}");
    let anon: Value = serde_json::from_str(&w.c.get_ok(&path).unwrap()).unwrap();
    assert!(anon.get("last_position").is_none(), "{anon}");
    assert_eq!(
        anon["plate"], PLATE_A,
        "the registry entry itself is public"
    );
    for k in [&w.hauler_a.key, &w.bureau.key] {
        let seen = w.c.get_signed(&path, k).unwrap().json().unwrap();
        assert_eq!(seen["last_position"]["lat_e6"], 31_385_712, "{seen}");
    }
    let other = w.c.get_signed(&path, &w.plant.key).unwrap().json().unwrap();
    assert!(other.get("last_position").is_none(), "{other}");
}

/// Every page of `GET /v1/manifests?{q}` read as `who`, following `next`: the numbers of each.
fn pages(w: &World, q: &str, who: &ed25519_dalek::SigningKey) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut path = format!("/v1/manifests?{q}");
    loop {
        let a = w.c.get_signed(&path, who).unwrap();
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        let body = a.json().unwrap();
        let numbers: Vec<String> = body["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["number"].as_str().unwrap().to_string())
            .collect();
        out.push(numbers);
        match body["next"].as_str() {
            Some(n) => path = format!("/v1/manifests?{q}&cursor={n}"),
            None => return out,
        }
        assert!(out.len() < 100, "{out:?}");
    }
}

#[test]
fn manifests_are_listed_page_by_page_in_number_order_by_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let mut plants: Vec<String> = (0..7).map(|_| w.issue_hazardous("S-DISPOSAL")).collect();
    let muck = w.issue_muck(10_000);
    let mut all = plants.clone();
    all.push(muck.clone());
    all.sort();
    plants.sort();
    // Who sees all pages through every manifest; the plant through its own.
    for (who, q, want) in [
        (&w.bureau.key, "limit=3", &all),
        (&w.plant.key, "limit=3", &plants),
        (&w.bureau.key, "limit=2&stream=hazardous", &plants),
    ] {
        let got = pages(&w, q, who);
        assert!(
            got.iter().all(|p| !p.is_empty() && p.len() <= 3),
            "{q}: {got:?}"
        );
        let flat: Vec<String> = got.concat();
        assert_eq!(
            &flat, want,
            "{q}: in number order, none twice, none missing"
        );
    }
    assert_eq!(pages(&w, "limit=3", &w.bureau.key).len(), 3, "3 + 3 + 2");
    // Exactly one page's worth: no `next` on it.
    assert_eq!(pages(&w, "limit=8", &w.bureau.key), vec![all.clone()]);
    // A cursor the server did not write is refused, naming `cursor`.
    for bad in ["not-a-cursor!", "Zm9v", "%20"] {
        let a =
            w.c.get_signed(&format!("/v1/manifests?cursor={bad}"), &w.bureau.key)
                .unwrap();
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        let p = a.json().unwrap();
        assert_eq!(p["field"], "cursor", "{p}");
    }
}
