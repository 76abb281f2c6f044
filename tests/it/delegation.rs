//! Device keys delegated by a party (`key.delegated`): a driver's phone signs for its party
//! until `not_after` or its revocation; the delegation travels in case bundles; `GET
//! /v1/keys/{key}` says where a key stands.

use crate::support::{authority, in_seconds, key, pk, run, signed};
use crate::world::{ok, post, World};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use wasteledger::investigate::bundle::{self, Bundle};

fn key_file(dir: &std::path::Path, name: &str, k: &SigningKey) -> String {
    let p = dir.join(format!("{name}.pem"));
    wasteledger::keyfile::write(&p, k).unwrap();
    p.to_str().unwrap().to_string()
}

/// A manifest the plant issues, signed by `k`.
fn issue(w: &World, k: &SigningKey) -> (u16, Value) {
    let body = json!({
        "type": "manifest.issued", "reference": w.slip(), "stream": "hazardous", "generator": w.plant.id,
        "origin": "S-PLANT", "destination": "S-DISPOSAL", "haulers": [w.hauler_a.id],
        "lines": [{"code": "900-249-08", "name": "废矿物油 waste mineral oil", "form": "liquid", "hazards": ["T"],
                   "quantity": {"amount": 1000, "unit": "g"}}]});
    post(&w.c, &signed(body, &[k]).to_bytes())
}

/// `GET /v1/keys/{path_key}` as the plant reads it (its own devices' labels included).
fn key_view(w: &World, path_key: &str) -> (u16, Value) {
    let a =
        w.c.get_signed(&format!("/v1/keys/{path_key}"), &w.plant.key)
            .unwrap();
    (a.status, serde_json::from_str(&a.body).unwrap())
}

/// `wasteledger CMD --server URL --key KEY ARGS...`
fn cli(w: &World, cmd: &str, key: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec![cmd, "--server", &w.server.url, "--key", key];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn a_party_delegates_a_device_key_that_signs_for_it_until_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let plant = key_file(dir.path(), "plant", &w.plant.key);
    let phone = key(201);
    let device = pk(&phone);
    // Before the delegation the phone's key is unknown (the enrolment page polls this).
    let (status, p) = key_view(&w, &B64URL.encode(phone.verifying_key().as_bytes()));
    assert_eq!(status, 404, "{p}");
    assert!(p["type"].as_str().unwrap().ends_with("unknown-key"), "{p}");
    let (okay, out) = cli(
        &w,
        "delegate",
        &plant,
        &[
            "--device",
            &device,
            "--label",
            "driver 0042",
            "--days",
            "7",
            "--json",
        ],
    );
    assert!(okay, "{out}");
    let receipt: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let at = receipt["index"].as_u64().unwrap();
    assert!(out.contains("delegated device key"), "{out}");
    // Both spellings of the key name it.
    for spelled in [
        B64URL.encode(phone.verifying_key().as_bytes()),
        device
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace('=', "%3D"),
    ] {
        let (status, v) = key_view(&w, &spelled);
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["kind"], "device");
        assert_eq!(v["holder"], w.plant.id.as_str());
        assert_eq!(v["label"], "driver 0042");
        assert_eq!(v["added_index"], at);
        assert_eq!(v["status"], "active");
        assert_eq!(v["person"], Value::Null);
    }
    let (_, v) = key_view(&w, &B64URL.encode(w.plant.key.verifying_key().as_bytes()));
    assert_eq!(
        (v["kind"].as_str(), v["status"].as_str()),
        (Some("party"), Some("active"))
    );
    // The phone signs the plant's step; the log accepts it as the plant's.
    let (status, a) = issue(&w, &phone);
    assert_eq!(status, 201, "{a}");
    // Another party's key neither delegates for the plant nor revokes its phone.
    let hauler = key_file(dir.path(), "hauler", &w.hauler_a.key);
    let (okay, out) = cli(
        &w,
        "delegate",
        &hauler,
        &[
            "--device",
            &pk(&key(202)),
            "--label",
            "x",
            "--holder",
            &w.plant.id,
        ],
    );
    assert!(!okay, "{out}");
    assert!(
        out.contains(&format!(
            "a party key of {}, not of {}",
            w.hauler_a.id, w.plant.id
        )),
        "{out}"
    );
    let (okay, out) = cli(
        &w,
        "revoke-device",
        &hauler,
        &["--device", &device, "--reason", "not ours"],
    );
    assert!(!okay, "{out}");
    assert!(out.contains(&format!("not of {}", w.plant.id)), "{out}");
    // The device key delegates nothing.
    let phone_file = key_file(dir.path(), "phone", &phone);
    let (okay, out) = cli(
        &w,
        "delegate",
        &phone_file,
        &["--device", &pk(&key(203)), "--label", "x"],
    );
    assert!(!okay, "{out}");
    assert!(out.contains("a device key"), "{out}");
    let (status, a) = post(
        &w.c,
        &signed(
            json!({"type": "key.delegated", "key": pk(&key(203)), "holder": w.plant.id,
                   "label": "x", "not_after": in_seconds(3600)}),
            &[&phone],
        )
        .to_bytes(),
    );
    assert_eq!(status, 403, "{a}");
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("authority → party key → device key"),
        "{a}"
    );
    // Nor does a party key revoke a party key.
    let (status, a) = post(
        &w.c,
        &signed(
            json!({"type": "key.revoked", "key": pk(&w.hauler_a.key), "effective": in_seconds(0),
                   "reason": "x"}),
            &[&w.plant.key],
        )
        .to_bytes(),
    );
    assert_eq!(status, 403, "{a}");
    // The plant revokes its phone; the phone's signature is refused from then on.
    let (okay, out) = cli(
        &w,
        "revoke-device",
        &plant,
        &["--device", &device, "--reason", "phone lost"],
    );
    assert!(okay, "{out}");
    let (status, a) = issue(&w, &phone);
    assert_eq!(status, 403, "{a}");
    assert!(a["type"].as_str().unwrap().ends_with("revoked-key"), "{a}");
    let (_, v) = key_view(&w, &B64URL.encode(phone.verifying_key().as_bytes()));
    assert_eq!(v["status"], "revoked");
}

#[test]
fn a_device_key_is_refused_once_its_not_after_is_reached() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let plant = key_file(dir.path(), "plant", &w.plant.key);
    let phone = key(211);
    let until = in_seconds(2);
    let (okay, out) = cli(
        &w,
        "delegate",
        &plant,
        &[
            "--device",
            &pk(&phone),
            "--label",
            "driver 7",
            "--not-after",
            &until,
        ],
    );
    assert!(okay, "{out}");
    let (status, a) = issue(&w, &phone);
    assert_eq!(status, 201, "{a}");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (status, a) = issue(&w, &phone);
    assert_eq!(status, 403, "{a}");
    assert!(a["type"].as_str().unwrap().ends_with("expired-key"), "{a}");
    assert!(a["detail"].as_str().unwrap().contains(&pk(&phone)), "{a}");
    let (_, v) = key_view(&w, &B64URL.encode(phone.verifying_key().as_bytes()));
    assert_eq!(v["status"], "expired");
    // A person who is not the plant's is refused by name; the authority delegates for a party.
    let driver = "5f1e3c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
    ok(
        &w.c,
        json!({"type": "person.registered", "person": driver, "party": w.hauler_a.id, "role": "driver"}),
        &[&w.hauler_a.key],
    );
    let d = |holder: &str| {
        json!({"type": "key.delegated", "key": pk(&key(212)), "holder": holder, "label": "d",
               "not_after": in_seconds(3600), "person": driver})
    };
    let (status, a) = post(&w.c, &signed(d(&w.plant.id), &[&w.plant.key]).to_bytes());
    assert_eq!(
        (status, a["field"].as_str()),
        (422, Some("event.person")),
        "{a}"
    );
    ok(&w.c, d(&w.hauler_a.id), &[&authority()]);
    let path = format!(
        "/v1/keys/{}",
        B64URL.encode(key(212).verifying_key().as_bytes())
    );
    let a = w.c.get_signed(&path, &w.hauler_a.key).unwrap();
    let v: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v["person"], driver, "the holder reads its device's person");
    let v: Value = serde_json::from_str(&w.c.get(&path).unwrap().body).unwrap();
    assert_eq!(
        (&v["person"], &v["label"], v["holder"].as_str()),
        (&Value::Null, &Value::Null, Some(w.hauler_a.id.as_str())),
        "anyone else learns whose key it is, not who carries it: {v}"
    );
}

#[test]
fn a_bundle_carries_the_delegation_and_verify_bundle_names_a_missing_or_altered_one() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let phone = key(221);
    let del = ok(
        &w.c,
        json!({"type": "key.delegated", "key": pk(&phone), "holder": w.plant.id,
               "label": "driver 9", "not_after": in_seconds(3600)}),
        &[&w.plant.key],
    );
    let del = del["index"].as_u64().unwrap();
    let (status, a) = issue(&w, &phone);
    assert_eq!(status, 201, "{a}");
    let m = a["manifests"][0].as_str().unwrap().to_string();
    let issued = a["index"].as_u64().unwrap();
    let export = json!({"type": "evidence.exported", "by": w.bureau.id, "case": "KS-DEV-1",
                        "reason": "a phone's signature", "manifests": [m], "at": in_seconds(0)});
    let a =
        w.c.post("/v1/bundles", &signed(export, &[&w.bureau.key]).to_bytes())
            .unwrap();
    assert_eq!(a.status, 201, "{}", a.body);
    let b: Bundle = serde_json::from_str(&a.body).unwrap();
    let why = |i: u64| {
        b.entries
            .iter()
            .find(|e| e.index == i)
            .map(|e| e.why.join("; "))
    };
    assert!(
        why(del).unwrap().contains("registry: key.delegated of"),
        "{:?}",
        why(del)
    );
    let plant_added = b.entries.iter().find(|e| {
        e.why
            .iter()
            .any(|r| r == &format!("registry: key.added of {}", pk(&w.plant.key)))
    });
    assert!(
        plant_added.is_some(),
        "the delegating party key's key.added is carried"
    );
    let log = w.c.verifier().unwrap();
    let report = bundle::verify(&b.to_bytes(), &log);
    assert!(report.ok(), "{:?}", report.checks);
    let used = format!(
        "device key {} of {} (entry {del}), delegated by party key {}",
        pk(&phone),
        w.plant.id,
        pk(&w.plant.key)
    );
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.subject == format!("entry {issued}") && c.ok && c.detail.contains(&used)),
        "{:?}",
        report.checks
    );
    // verify-bundle on the file.
    let file = dir.path().join("case.json");
    std::fs::write(&file, b.to_bytes()).unwrap();
    let (okay, out) = run(&[
        "verify-bundle",
        file.to_str().unwrap(),
        "--log-key",
        &log.to_string(),
    ]);
    assert!(okay, "{out}");
    // The delegation removed: the phone's signature has no registration.
    let mut gone = b.clone();
    gone.entries.retain(|e| e.index != del);
    let fails: Vec<String> = bundle::verify(&gone.to_bytes(), &log)
        .failures()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert!(
        fails.contains(&format!(
            "entry {issued}: key {} has no key.added entry in the bundle",
            pk(&phone)
        )),
        "{fails:?}"
    );
    std::fs::write(&file, gone.to_bytes()).unwrap();
    let (okay, out) = run(&[
        "verify-bundle",
        file.to_str().unwrap(),
        "--log-key",
        &log.to_string(),
    ]);
    assert!(!okay, "{out}");
    assert!(
        out.contains("has no key.added entry in the bundle"),
        "{out}"
    );
    // The delegation altered (its holder changed): its signature and proof no longer hold.
    let mut altered = b.clone();
    let e = altered.entries.iter_mut().find(|e| e.index == del).unwrap();
    let text = String::from_utf8(B64.decode(&e.entry).unwrap()).unwrap();
    e.entry = B64.encode(text.replace(&w.plant.id, &w.hauler_a.id));
    let report = bundle::verify(&altered.to_bytes(), &log);
    assert!(!report.ok());
    assert!(
        report
            .failures()
            .iter()
            .any(|c| c.to_string().starts_with(&format!("entry {del}:"))),
        "{:?}",
        report.checks
    );
}

#[test]
fn the_command_line_knows_a_device_key_as_its_partys_for_hand_overs() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    // Each company delegates a phone of its own.
    let (plant_phone, driver_phone) = (key(211), key(212));
    for (company, phone, label) in [
        (&w.plant, &plant_phone, "gate 1"),
        (&w.hauler_a, &driver_phone, "driver 0042"),
    ] {
        let company = key_file(dir.path(), label, &company.key);
        let (okay, out) = cli(
            &w,
            "delegate",
            &company,
            &["--device", &pk(phone), "--label", label],
        );
        assert!(okay, "{out}");
    }
    let plant_phone = key_file(dir.path(), "plant-phone", &plant_phone);
    let driver_phone = key_file(dir.path(), "driver-phone", &driver_phone);

    // The plant's phone hands the load over: the command finds the plant (the holder) from
    // the device key alone, and the driver's phone countersigns what waits for the hauler.
    let (okay, out) = cli(
        &w,
        "handover",
        &plant_phone,
        &[
            "--manifest",
            &m,
            "--to",
            &w.hauler_a.id,
            "--vehicle",
            crate::world::PLATE_A,
            "--json",
        ],
    );
    assert!(okay, "{out}");
    let answer: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let hash = answer["pending"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    let (okay, out) = cli(&w, "countersign", &driver_phone, &["--pending", hash]);
    assert!(okay, "{out}");
    let v = w.manifest(&m);
    assert_eq!(v["status"], "in_transit", "{v}");
    assert_eq!(v["holder"], w.hauler_a.id.as_str());
}
