//! The domain rules the first review found wanting: each case built on the test Kunshan of
//! `world.rs`, over HTTP.

use crate::support::{authority, key, pk, signed};
use crate::world::*;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

fn status(m: &Value) -> &str {
    m["status"].as_str().unwrap()
}

/// Submit `body` signed by `keys`; it must be refused with `code`, naming exactly `field`, and
/// leave the log's checkpoint as it was. Returns the problem answer.
fn refused(w: &World, body: Value, keys: &[&SigningKey], code: u16, field: &str) -> Value {
    let before = w.head();
    let (got, answer) = post(&w.c, &signed(body.clone(), keys).to_bytes());
    assert_eq!(got, code, "{body}\n→ {answer}");
    assert_eq!(answer["field"], json!(field), "{body}\n→ {answer}");
    assert!(
        answer["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{answer}"
    );
    assert_eq!(w.head(), before, "a refused event changed the log: {body}");
    answer
}

fn detail(answer: &Value) -> &str {
    answer["detail"].as_str().unwrap()
}

/// A party the authority registers beside the world's: `roles`, a key, and its sites.
fn register(w: &World, seed: u8, org9: &str, roles: &[&str], sites: &[(&str, &str)]) -> Party {
    let a = authority();
    let p = Party {
        id: uscc(org9),
        key: key(seed),
        name: "extra",
    };
    ok(
        &w.c,
        json!({"type": "party.registered", "party": p.id, "name": format!("party {org9}"), "roles": roles}),
        &[&a],
    );
    ok(
        &w.c,
        json!({"type": "key.added", "key": pk(&p.key), "holder": p.id}),
        &[&a],
    );
    for (k, (site, kind)) in sites.iter().enumerate() {
        let (lat, lon) = (31_200_000 + 10_000 * k as i32, 121_100_000);
        let d = 2000;
        ok(
            &w.c,
            json!({"type": "site.registered", "site": site, "party": p.id, "kind": kind, "name": site,
                   "location": {"lat_e6": lat, "lon_e6": lon},
                   "geofence": [{"lat_e6": lat - d, "lon_e6": lon - d}, {"lat_e6": lat - d, "lon_e6": lon + d},
                                {"lat_e6": lat + d, "lon_e6": lon + d}]}),
            &[&a],
        );
    }
    p
}

fn grant(w: &World, licence: &str, party: &Party, kind: &str, scope: Value) {
    let mut l = json!({"type": "licence.granted", "licence": licence, "party": party.id, "kind": kind,
                       "valid_from": "2024-01-01T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"});
    for (k, v) in scope.as_object().unwrap() {
        l[k] = v.clone();
    }
    ok(&w.c, l, &[&authority()]);
}

fn receipt(m: &str, accepted: &[u64]) -> Value {
    json!({"type": "custody.received", "manifest": m, "lines": accepted.iter().enumerate().map(|(i, a)| json!(
        {"line": i, "accepted": {"amount": a, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}})).collect::<Vec<_>>()})
}

/// Two loads taken in at the Huaqiao station.
fn at_station(w: &World) -> Vec<String> {
    let ins: Vec<String> = (0..3).map(|_| w.issue_hazardous("S-HUAQIAO")).collect();
    for m in &ins {
        w.pickup(m);
        w.hand(m, &w.hauler_a, &w.station, None, &[340_000, 120_000]);
    }
    ins
}

fn outgoing(w: &World, oil: u64, rags: u64) -> Value {
    json!({"destination": "S-DISPOSAL", "haulers": [w.hauler_b.id], "lines": [
        {"code": "900-249-08", "name": "废矿物油 waste mineral oil", "form": "liquid", "hazards": ["T", "I"], "quantity": {"amount": oil, "unit": "g"}},
        {"code": "900-041-49", "name": "含油抹布 oily rags", "form": "solid", "hazards": ["T", "In"], "quantity": {"amount": rags, "unit": "g"}}]})
}

/// Finding 1: a station's outgoing manifest (consolidation or split) carries its inputs on;
/// voiding it would leave them pointing at a voided manifest.
#[test]
fn a_stations_outgoing_manifest_cannot_be_voided() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let ins = at_station(&w);
    let out = ok(
        &w.c,
        json!({"type": "station.consolidated", "station": w.station.id, "inputs": [ins[0], ins[1]],
               "output": outgoing(&w, 680_000, 240_000)}),
        &[&w.station.key],
    );
    let merged = out["manifests"][0].as_str().unwrap().to_string();
    let split = ok(
        &w.c,
        json!({"type": "station.split", "station": w.station.id, "input": ins[2],
               "outputs": [outgoing(&w, 170_000, 60_000), outgoing(&w, 170_000, 60_000)]}),
        &[&w.station.key],
    );
    let part = split["manifests"][1].as_str().unwrap().to_string();
    for (m, sources) in [(&merged, json!([ins[0], ins[1]])), (&part, json!([ins[2]]))] {
        let answer = refused(
            &w,
            json!({"type": "manifest.voided", "manifest": m, "reason": "entered twice"}),
            &[&w.station.key],
            409,
            "event.manifest",
        );
        assert!(detail(&answer).contains("manifest.corrected"), "{answer}");
        let v = w.manifest(m);
        assert_eq!(status(&v), "issued");
        assert_eq!(v["sources"], sources);
    }
    for m in &ins[..2] {
        let v = w.manifest(m);
        assert_eq!(
            (status(&v), &v["onward"]),
            ("consolidated", &json!([merged]))
        );
    }
    // A mistaken outgoing manifest is put right with a correction instead.
    let mut fix = outgoing(&w, 679_000, 240_000);
    fix["type"] = json!("manifest.corrected");
    fix["manifest"] = json!(merged);
    fix["version"] = json!(2);
    fix["reason"] = json!("oil re-counted");
    ok(&w.c, fix, &[&w.station.key]);
    // A plant's own manifest is still voided before pickup.
    let own = w.issue_hazardous("S-DISPOSAL");
    ok(
        &w.c,
        json!({"type": "manifest.voided", "manifest": own, "reason": "cancelled"}),
        &[&w.plant.key],
    );
    assert_eq!(status(&w.manifest(&own)), "voided");
}

/// Finding 2: a disposal firm with its own fleet (hauler and receiver) that collects at the
/// plant puts the load on the road (clock, permits), then unloads it at its own site; a party
/// that is both station and receiver takes delivery at its disposal site and receives.
#[test]
fn a_receiver_with_its_own_fleet_carries_the_load_and_a_station_receiver_receives() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let fleet = register(
        &w,
        60,
        "MA1FLEET1",
        &["hauler", "receiver"],
        &[("S-FLEET", "disposal")],
    );
    grant(&w, "L-FLEET-T", &fleet, "hw_transport", json!({}));
    grant(
        &w,
        "L-FLEET-O",
        &fleet,
        "hw_operating",
        json!({"categories": ["HW08", "HW49"]}),
    );
    let plate = "苏E6F001";
    ok(
        &w.c,
        json!({"type": "vehicle.registered", "plate": plate, "party": fleet.id, "permits": [
            {"kind": "hazardous_goods", "number": "P-F1", "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}]}),
        &[&authority()],
    );
    let m = w.issue_hazardous("S-FLEET");
    w.hand(&m, &w.plant, &fleet, Some(plate), &[340_000, 120_000]);
    let v = w.manifest(&m);
    assert_eq!(
        (status(&v), v["holder"].as_str().unwrap()),
        ("in_transit", fleet.id.as_str())
    );
    assert!(v["in_transit_since"].is_string(), "{v}");
    assert_eq!(v["flags"], json!([]), "a clean pickup by its own truck");
    // On its own truck, at its own site: the firm unloads (a hand-over to itself, no vehicle).
    let unload = w.handover(&m, &fleet, &fleet, None, &[340_000, 120_000]);
    ok(&w.c, unload, &[&fleet.key]);
    let v = w.manifest(&m);
    assert_eq!(status(&v), "delivered");
    assert!(v.get("in_transit_since").is_none(), "{v}");
    ok(&w.c, receipt(&m, &[340_000, 120_000]), &[&fleet.key]);
    assert_eq!(status(&w.manifest(&m)), "received");
    // Taking it with a truck that is not registered: on the road, and flagged.
    let m2 = w.issue_hazardous("S-FLEET");
    w.hand(&m2, &w.plant, &fleet, Some("苏E7Z999"), &[340_000, 120_000]);
    assert_eq!(status(&w.manifest(&m2)), "in_transit");
    assert_eq!(w.flags(&m2), ["no_permit"]);
    // Unloading what is already off the truck changes nothing: refused.
    ok(
        &w.c,
        w.handover(&m2, &fleet, &fleet, None, &[340_000, 120_000]),
        &[&fleet.key],
    );
    let mut again = w.handover(&m2, &fleet, &fleet, None, &[340_000, 120_000]);
    again["at"] = json!("2026-11-23T09:30:00Z");
    refused(&w, again, &[&fleet.key], 422, "event.to");

    // Station and receiver: the site tells which.
    let both = register(
        &w,
        61,
        "MA1BTH001",
        &["station", "receiver"],
        &[("S-BOTH-ST", "station"), ("S-BOTH-DISP", "disposal")],
    );
    grant(
        &w,
        "L-BOTH",
        &both,
        "hw_operating",
        json!({"categories": ["HW08", "HW49"]}),
    );
    let to_disposal = w.issue_hazardous("S-BOTH-DISP");
    w.pickup(&to_disposal);
    w.hand(&to_disposal, &w.hauler_a, &both, None, &[340_000, 120_000]);
    assert_eq!(status(&w.manifest(&to_disposal)), "delivered");
    ok(
        &w.c,
        receipt(&to_disposal, &[340_000, 120_000]),
        &[&both.key],
    );
    assert_eq!(status(&w.manifest(&to_disposal)), "received");
    let to_station = w.issue_hazardous("S-BOTH-ST");
    w.pickup(&to_station);
    w.hand(&to_station, &w.hauler_a, &both, None, &[340_000, 120_000]);
    assert_eq!(status(&w.manifest(&to_station)), "at_station");
}

/// Finding 3: a registered party that is not party to a manifest learns nothing from a
/// refusal: the same answer as for a number that does not exist.
#[test]
fn a_party_not_on_the_manifest_learns_nothing_from_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    let none = "20263205999999";
    // The recycler and the muck fleet are registered, but no party to this hazardous load.
    let tries = |number: &str| -> Vec<(Value, Vec<&SigningKey>)> {
        vec![
            (
                w.handover(number, &w.plant, &w.recycler, None, &[340_000, 120_000]),
                vec![&w.recycler.key],
            ),
            (
                w.handover(number, &w.muck, &w.recycler, None, &[340_000, 120_000]),
                vec![&w.muck.key, &w.recycler.key],
            ),
            (
                json!({"type": "custody.weighed", "manifest": number, "site": "S-RECYCLE", "ticket": "t",
                       "gross": {"amount": 1100, "unit": "g"}, "tare": {"amount": 100, "unit": "g"},
                       "net": {"amount": 1000, "unit": "g"}, "at": "2026-11-23T09:00:00Z"}),
                vec![&w.recycler.key],
            ),
            (receipt(number, &[340_000, 120_000]), vec![&w.recycler.key]),
            (
                json!({"type": "manifest.voided", "manifest": number, "reason": "x"}),
                vec![&w.recycler.key],
            ),
        ]
    };
    for ((real, keys), (fake, fake_keys)) in tries(&m).into_iter().zip(tries(none)) {
        let a = refused(&w, real.clone(), &keys, 422, "event.manifest");
        let b = refused(&w, fake, &fake_keys, 422, "event.manifest");
        assert_eq!(
            detail(&a).replace(&m, "N"),
            detail(&b).replace(none, "N"),
            "{real}"
        );
        assert_eq!(a["type"], b["type"]);
        assert!(!detail(&a).contains(&w.hauler_a.id), "{a}");
    }
    let v = w.manifest(&m);
    assert_eq!(
        (status(&v), v["holder"].as_str().unwrap()),
        ("in_transit", w.hauler_a.id.as_str())
    );
    assert_eq!(v["pending"], json!([]));
    // A party to the manifest (the second planned hauler) is told who holds it.
    let answer = refused(
        &w,
        w.handover(
            &m,
            &w.plant,
            &w.hauler_b,
            Some(PLATE_B),
            &[340_000, 120_000],
        ),
        &[&w.plant.key, &w.hauler_b.key],
        409,
        "event.from",
    );
    assert!(detail(&answer).contains(&w.hauler_a.id), "{answer}");
}

/// Finding 4: a half-signed hand-over waits only when the holder signed it, or a party the
/// manifest plans for (a planned hauler, the destination's party), and only on a load that can
/// be handed over.
#[test]
fn a_half_signed_hand_over_waits_only_for_the_holder_or_a_planned_taker() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let pending = |m: &str| w.manifest(m)["pending"].as_array().unwrap().len();
    // A planned hauler names itself and signs first: it waits for the plant.
    let m = w.issue_hazardous("S-DISPOSAL");
    let (code, answer) = post(
        &w.c,
        &signed(
            w.handover(
                &m,
                &w.plant,
                &w.hauler_b,
                Some(PLATE_B),
                &[340_000, 120_000],
            ),
            &[&w.hauler_b.key],
        )
        .to_bytes(),
    );
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["waiting_for"], json!(w.plant.id));
    assert_eq!(pending(&m), 1);
    // A registered hauler the manifest does not plan for, alone: not kept.
    refused(
        &w,
        w.handover(&m, &w.plant, &w.muck, Some(PLATE_MUCK), &[340_000, 120_000]),
        &[&w.muck.key],
        422,
        "event.manifest",
    );
    // A past holder that is not planned (the station, once the load left it), alone: not kept.
    w.pickup(&m);
    w.hand(&m, &w.hauler_a, &w.station, None, &[340_000, 120_000]);
    w.hand(
        &m,
        &w.station,
        &w.hauler_b,
        Some(PLATE_B),
        &[340_000, 120_000],
    );
    let answer = refused(
        &w,
        w.handover(&m, &w.hauler_b, &w.station, None, &[340_000, 120_000]),
        &[&w.station.key],
        403,
        "signatures",
    );
    assert!(detail(&answer).contains("planned"), "{answer}");
    assert_eq!(pending(&m), 1, "only the first half waits");
    // The holder may start a hand-over to anyone (here: the station).
    let (code, answer) = post(
        &w.c,
        &signed(
            w.handover(&m, &w.hauler_b, &w.station, None, &[340_000, 120_000]),
            &[&w.hauler_b.key],
        )
        .to_bytes(),
    );
    assert_eq!(code, 202, "{answer}");
    // No hand-over of a voided load, whoever signs first.
    let void = w.issue_hazardous("S-DISPOSAL");
    ok(
        &w.c,
        json!({"type": "manifest.voided", "manifest": void, "reason": "cancelled"}),
        &[&w.plant.key],
    );
    for signer in [&w.plant.key, &w.hauler_a.key] {
        refused(
            &w,
            w.handover(
                &void,
                &w.plant,
                &w.hauler_a,
                Some(PLATE_A),
                &[340_000, 120_000],
            ),
            &[signer],
            409,
            "event.manifest",
        );
    }
    assert_eq!(pending(&void), 0);
    assert_eq!(status(&w.manifest(&void)), "voided");
}

fn correction(m: &str, version: u32, w: &World, lines: Value) -> Value {
    json!({"type": "manifest.corrected", "manifest": m, "version": version, "destination": "S-DISPOSAL",
           "haulers": [w.hauler_a.id, w.hauler_b.id], "lines": lines, "reason": "re-counted"})
}

fn hazardous_lines(unit0: &str, code1: &str, oil: u64) -> Value {
    json!([
        {"code": "900-249-08", "name": "废矿物油 waste mineral oil", "form": "liquid", "hazards": ["T", "I"],
         "quantity": {"amount": oil, "unit": unit0}},
        {"code": code1, "name": "含油抹布手套 oily rags and packaging", "form": "solid", "hazards": ["T", "In"],
         "quantity": {"amount": 120_000, "unit": "g"}}
    ])
}

/// Finding 5: once the load has moved, a correction may not change what a line is or what it
/// is counted in; hand-overs count in the line's unit.
#[test]
fn a_correction_after_pickup_keeps_each_lines_unit_code_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    // Before pickup anything may be put right.
    ok(
        &w.c,
        correction(&m, 2, &w, hazardous_lines("ml", "900-041-49", 380_000)),
        &[&w.plant.key],
    );
    ok(
        &w.c,
        correction(&m, 3, &w, hazardous_lines("g", "900-041-49", 340_000)),
        &[&w.plant.key],
    );
    w.pickup(&m);
    let before = w.manifest(&m);
    refused(
        &w,
        correction(&m, 4, &w, hazardous_lines("ml", "900-041-49", 380_000)),
        &[&w.plant.key],
        409,
        "event.lines[0].quantity.unit",
    );
    refused(
        &w,
        correction(&m, 4, &w, hazardous_lines("g", "900-249-08", 340_000)),
        &[&w.plant.key],
        409,
        "event.lines[1].code",
    );
    assert_eq!(w.manifest(&m), before);
    // A hand-over counted in another unit than the line's: refused, naming the line.
    let mut h = w.handover(
        &m,
        &w.hauler_a,
        &w.hauler_b,
        Some(PLATE_B),
        &[340_000, 120_000],
    );
    h["lines"][0]["quantity"]["unit"] = json!("ml");
    refused(
        &w,
        h,
        &[&w.hauler_a.key, &w.hauler_b.key],
        422,
        "event.lines[0].quantity.unit",
    );
    // The quantity itself may still be corrected.
    ok(
        &w.c,
        correction(&m, 4, &w, hazardous_lines("g", "900-041-49", 338_000)),
        &[&w.plant.key],
    );
    // A construction load's type neither.
    let soil = w.issue_muck(20_000_000);
    w.hand(&soil, &w.builder, &w.muck, Some(PLATE_MUCK), &[20_000_000]);
    refused(
        &w,
        json!({"type": "manifest.corrected", "manifest": soil, "version": 2, "destination": "S-RECYCLE",
               "haulers": [w.muck.id], "reason": "it was demolition rubble",
               "lines": [{"cw_type": "demolition", "name": "拆除垃圾", "form": "solid",
                          "quantity": {"amount": 20_000_000, "unit": "g"}}]}),
        &[&w.builder.key],
        409,
        "event.lines[0].cw_type",
    );
}

/// Finding 6: a receipt whose lines account for nothing would leave the load rejected with
/// nobody to take it back.
#[test]
fn a_receipt_that_accounts_for_nothing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    w.hand(&m, &w.hauler_a, &w.disposal, None, &[340_000, 120_000]);
    let answer = refused(
        &w,
        receipt(&m, &[0, 0]),
        &[&w.disposal.key],
        422,
        "event.lines",
    );
    assert!(detail(&answer).contains("account for"), "{answer}");
    assert_eq!(status(&w.manifest(&m)), "delivered");
    ok(&w.c, receipt(&m, &[340_000, 120_000]), &[&w.disposal.key]);
    assert_eq!(status(&w.manifest(&m)), "received");
}

/// Finding 7: a refusal names the field at fault, not a neighbour.
#[test]
fn refusals_name_the_field_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    w.hand(&m, &w.hauler_a, &w.disposal, None, &[340_000, 120_000]);
    let weigh = |gross: &str, tare: &str, net: &str| {
        json!({"type": "custody.weighed", "manifest": m, "site": "S-DISPOSAL", "ticket": "WB-1",
               "gross": {"amount": 15_460_000, "unit": gross}, "tare": {"amount": 15_000_000, "unit": tare},
               "net": {"amount": 460_000, "unit": net}, "at": "2026-11-23T11:00:00Z"})
    };
    for (body, field) in [
        (weigh("ml", "g", "g"), "event.gross.unit"),
        (weigh("g", "ml", "g"), "event.tare.unit"),
        (weigh("g", "g", "ml"), "event.net.unit"),
    ] {
        refused(&w, body, &[&w.disposal.key], 422, field);
    }
    let mut r = receipt(&m, &[300_000, 120_000]);
    r["lines"][0]["rejected"] = json!({"amount": 40_000, "unit": "ml"});
    r["rejection"] = json!({"reason": "water in the oil", "to": w.plant.id});
    refused(
        &w,
        r,
        &[&w.disposal.key],
        422,
        "event.lines[0].rejected.unit",
    );
    refused(
        &w,
        json!({"type": "licence.granted", "licence": "L-EMPTY", "party": w.recycler.id, "kind": "cw_disposal",
               "valid_from": "2024-01-01T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}),
        &[&authority()],
        422,
        "event.cw_types",
    );
    refused(
        &w,
        json!({"type": "licence.granted", "licence": "L-EMPTY", "party": w.disposal.id, "kind": "hw_operating",
               "valid_from": "2024-01-01T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}),
        &[&authority()],
        422,
        "event.codes",
    );
}
