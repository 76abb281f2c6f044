//! Case bundles end to end: pulled over HTTP (the pull is on the log), verified offline with the
//! log's key alone, and every kind of tampering named for what it is.

use crate::support::{authority, key, pk, run, signed};
use crate::world::{ok, post, World, PLATE_A, PLATE_B, PLATE_EXPIRED};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use wasteledger::investigate::bundle::{self, Bundle};
use wasteledger::ledger::note::{Checkpoint, NoteVerifier};

struct Case {
    w: World,
    /// A load relayed hauler A → hauler B → disposal, received, inspected.
    relayed: String,
    /// Two loads consolidated at the station into `merged`.
    inputs: Vec<String>,
    merged: String,
    log: NoteVerifier,
    /// A checkpoint of the same log from before the export (another size).
    earlier_checkpoint: String,
}

fn export_event(by: &str, manifests: &[&str]) -> Value {
    json!({"type": "evidence.exported", "by": by, "case": "KS-2026-0042",
           "reason": "illegal dumping reported at Zhangpu; one case, many investigations",
           "manifests": manifests, "query": "vehicle=苏E23456&from=2026-11-01T00:00:00Z",
           "at": "2026-11-29T09:00:00Z"})
}

fn city(dir: &std::path::Path) -> Case {
    let w = World::start(dir);
    let relayed = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&relayed);
    w.hand(
        &relayed,
        &w.hauler_a,
        &w.hauler_b,
        Some(PLATE_B),
        &[340_000, 120_000],
    );
    w.hand(
        &relayed,
        &w.hauler_b,
        &w.disposal,
        None,
        &[339_000, 120_000],
    );
    ok(
        &w.c,
        json!({"type": "custody.received", "manifest": relayed, "lines": [
            {"line": 0, "accepted": {"amount": 339_000, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}},
            {"line": 1, "accepted": {"amount": 120_000, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}}]}),
        &[&w.disposal.key],
    );
    ok(
        &w.c,
        json!({"type": "inspection.recorded", "inspector": w.bureau.id, "manifest": relayed,
               "vehicle": PLATE_B, "at": "2026-11-23T09:10:00Z", "verdict": "pass",
               "findings": "drums sealed, labels match"}),
        &[&w.bureau.key],
    );
    let inputs: Vec<String> = (0..2).map(|_| w.issue_hazardous("S-HUAQIAO")).collect();
    for m in &inputs {
        w.pickup(m);
        w.hand(m, &w.hauler_a, &w.station, None, &[340_000, 120_000]);
    }
    let out = ok(
        &w.c,
        json!({"type": "station.consolidated", "station": w.station.id, "inputs": inputs,
        "output": {"destination": "S-DISPOSAL", "haulers": [w.hauler_b.id], "lines": [
            {"code": "900-249-08", "name": "废矿物油 waste mineral oil", "form": "liquid", "hazards": ["T", "I"], "quantity": {"amount": 680_000, "unit": "g"}},
            {"code": "900-041-49", "name": "含油抹布 oily rags", "form": "solid", "hazards": ["T", "In"], "quantity": {"amount": 240_000, "unit": "g"}}]}}),
        &[&w.station.key],
    );
    let merged = out["manifests"][0].as_str().unwrap().to_string();
    w.hand(
        &merged,
        &w.station,
        &w.hauler_b,
        Some(PLATE_B),
        &[680_000, 240_000],
    );
    let log = w.c.verifier().unwrap();
    let earlier_checkpoint = w.head();
    Case {
        w,
        relayed,
        inputs,
        merged,
        log,
        earlier_checkpoint,
    }
}

/// Pull a bundle over HTTP as `who`; (status, headers' Content-Disposition, body).
fn pull(w: &World, event: Value, who: &[&SigningKey]) -> (u16, String) {
    let a =
        w.c.post("/v1/bundles", &signed(event, who).to_bytes())
            .unwrap();
    (a.status, a.body)
}

fn parse(body: &str) -> Bundle {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a bundle ({e}): {body}"))
}

fn failures(b: &Bundle, log: &NoteVerifier) -> Vec<String> {
    bundle::verify(&b.to_bytes(), log)
        .failures()
        .iter()
        .map(|c| c.to_string())
        .collect()
}

fn has(fails: &[String], want: &str) {
    assert!(
        fails.iter().any(|f| f == want),
        "expected the failure {want:?}, got:\n  {}",
        fails.join("\n  ")
    );
}

fn entry_bytes(b: &Bundle, index: u64) -> Vec<u8> {
    let e = b.entries.iter().find(|e| e.index == index).unwrap();
    B64.decode(&e.entry).unwrap()
}

fn event_of(b: &Bundle, index: u64) -> Value {
    let v: Value = serde_json::from_slice(&entry_bytes(b, index)).unwrap();
    v["event"].clone()
}

#[test]
fn a_bundle_pulled_over_http_verifies_offline_and_the_pull_is_on_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let w = &c.w;
    // A load picked up on a truck whose permit expired: flagged.
    let flagged = w.issue_hazardous("S-DISPOSAL");
    w.hand(
        &flagged,
        &w.plant,
        &w.hauler_a,
        Some(PLATE_EXPIRED),
        &[340_000, 120_000],
    );
    let selection = [
        c.relayed.as_str(),
        c.inputs[0].as_str(),
        c.merged.as_str(),
        flagged.as_str(),
    ];
    let (status, body) = pull(w, export_event(&w.bureau.id, &selection), &[&w.bureau.key]);
    assert_eq!(status, 201, "{body}");
    let b = parse(&body);
    let report = bundle::verify(body.as_bytes(), &c.log);
    assert!(
        report.ok(),
        "a fresh bundle verifies: {:?}",
        report.failures()
    );
    assert!(
        report.checks.len() > b.entries.len() * 3,
        "every entry is checked several ways"
    );

    // The pull is itself on the log, readable by those who see everything.
    let x = &b.export;
    assert_eq!(x.case, "KS-2026-0042");
    assert_eq!(x.by.as_str(), w.bureau.id);
    let e: Value = serde_json::from_str(&w.entry(x.index)).unwrap();
    assert_eq!(e["event"]["type"], "evidence.exported");
    assert_eq!(e["event"]["manifests"], json!(selection));
    let exports = w.c.get_signed("/v1/exports", &w.bureau.key).unwrap();
    assert_eq!(exports.status, 200, "{}", exports.body);
    let exports = exports.json().unwrap();
    assert_eq!(exports["exports"][0]["index"], json!(x.index));
    assert_eq!(exports["exports"][0]["case"], "KS-2026-0042");
    assert_eq!(exports["reader"]["party"], json!(w.bureau.id));
    // ... and not on the manifests: a party does not learn from its own manifest that it is
    // under investigation.
    let seen_by_plant = w.manifest_as(&c.relayed, &w.plant.key);
    assert!(!seen_by_plant.to_string().contains("evidence.exported"));
    assert!(!seen_by_plant.to_string().contains("KS-2026-0042"));
    let a = w.c.get_signed("/v1/exports", &w.plant.key).unwrap();
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(w.c.get("/v1/exports").unwrap().status, 401);
    // The same export's bundle again (a lost answer), for those who see everything: not a new
    // pull, and it verifies.
    let again =
        w.c.get_signed(&format!("/v1/bundles/{}", x.index), &w.bureau.key)
            .unwrap();
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(parse(&again.body).export, b.export);
    assert!(bundle::verify(again.body.as_bytes(), &c.log).ok());
    let exports =
        w.c.get_signed("/v1/exports", &w.bureau.key)
            .unwrap()
            .json()
            .unwrap();
    assert_eq!(exports["exports"].as_array().unwrap().len(), 1);
    let a =
        w.c.get_signed(&format!("/v1/bundles/{}", x.index), &w.plant.key)
            .unwrap();
    assert_eq!(a.status, 403, "{}", a.body);
    let a = w.c.get_signed("/v1/bundles/3", &w.bureau.key).unwrap();
    assert_eq!(a.status, 404, "{}", a.body);

    // What the bundle holds: every entry of each selected manifest, in log order.
    let full = w.manifest(&c.relayed);
    let want: Vec<u64> = full["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["index"].as_u64().unwrap())
        .collect();
    let m = b
        .manifests
        .iter()
        .find(|m| m.number.as_str() == c.relayed)
        .unwrap();
    assert_eq!(m.entries, want);
    let kinds: Vec<String> = m
        .entries
        .iter()
        .map(|i| event_of(&b, *i)["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "manifest.issued",
            "custody.handover",
            "custody.handover",
            "custody.handover",
            "custody.received",
            "inspection.recorded"
        ]
    );
    // The consolidation links both ways: the entry that made `merged` is in the input's entries.
    let merged = b
        .manifests
        .iter()
        .find(|m| m.number.as_str() == c.merged)
        .unwrap();
    let input = b
        .manifests
        .iter()
        .find(|m| m.number.as_str() == c.inputs[0])
        .unwrap();
    assert_eq!(
        event_of(&b, merged.created_by)["type"],
        "station.consolidated"
    );
    assert!(input.entries.contains(&merged.created_by));
    assert_eq!(event_of(&b, merged.created_by)["inputs"], json!(c.inputs));
    // The registry: genesis, and the party.registered and key.added of every signer.
    assert_eq!(event_of(&b, 0)["type"], "log.genesis");
    for p in [
        &w.plant,
        &w.hauler_a,
        &w.hauler_b,
        &w.disposal,
        &w.station,
        &w.bureau,
    ] {
        let added = b
            .entries
            .iter()
            .find(|e| {
                let ev = event_of(&b, e.index);
                ev["type"] == "key.added" && ev["key"] == json!(pk(&p.key))
            })
            .unwrap_or_else(|| panic!("no key.added of {}", p.name));
        assert!(added
            .why
            .iter()
            .any(|w| w.starts_with("registry: key.added")));
        assert!(b.entries.iter().any(|e| {
            let ev = event_of(&b, e.index);
            ev["type"] == "party.registered" && ev["party"] == json!(p.id) && e.index < added.index
        }));
    }
    // The recycler signed nothing here: its key is not in the bundle.
    assert!(!b
        .entries
        .iter()
        .any(|e| event_of(&b, e.index)["key"] == json!(pk(&w.recycler.key))));
    // Each proof travels alone as a C2SP tlog-proof of the entry's bytes.
    let one = &b.entries[3];
    let p = wasteledger::ledger::tlog_proof::TlogProof::parse(&one.proof).unwrap();
    assert!(one
        .proof
        .starts_with(&format!("c2sp.org/tlog-proof@v1\nindex {}\n", one.index)));
    p.verify(&B64.decode(&one.entry).unwrap(), &c.log).unwrap();
    // The summary reads as a case file: names, Chinese where the data has them, plates, numbers.
    for s in [
        c.relayed.as_str(),
        c.merged.as_str(),
        "废矿物油",
        "危险废物",
        PLATE_A,
        PLATE_B,
        "Hazardous hauler B",
        "Huaqiao transfer platform",
        "KS-2026-0042",
        "Made from",
        "Went on as",
        "Flags as of the export: none.",
        "- no_permit (entry ",
        PLATE_EXPIRED,
    ] {
        assert!(b.summary.contains(s), "summary lacks {s:?}:\n{}", b.summary);
    }
}

#[test]
fn tampering_with_a_bundle_is_named_for_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let w = &c.w;
    let (status, body) = pull(
        w,
        export_event(&w.bureau.id, &[&c.relayed, &c.merged]),
        &[&w.bureau.key],
    );
    assert_eq!(status, 201, "{body}");
    let good = parse(&body);
    assert_eq!(failures(&good, &c.log), Vec::<String>::new());
    let size = Checkpoint::open(&good.checkpoint, &c.log).unwrap().size;
    // The relay hand-over (hauler A to hauler B), signed by both.
    let m = good
        .manifests
        .iter()
        .find(|m| m.number.as_str() == c.relayed)
        .unwrap();
    let n = m.entries[2];
    let pos = good.entries.iter().position(|e| e.index == n).unwrap();
    assert_eq!(event_of(&good, n)["to"], json!(w.hauler_b.id));

    // One byte of the entry: 340000 becomes 940000.
    let mut b = good.clone();
    let bytes = String::from_utf8(entry_bytes(&b, n)).unwrap();
    let changed = bytes.replacen("\"amount\":340000", "\"amount\":940000", 1);
    assert_ne!(bytes, changed);
    b.entries[pos].entry = B64.encode(changed.as_bytes());
    let f = failures(&b, &c.log);
    has(
        &f,
        &format!("entry {n}: inclusion proof does not lead to the checkpoint's root"),
    );
    has(
        &f,
        &format!(
            "entry {n}: signature by key {} does not verify",
            pk(&w.hauler_a.key)
        ),
    );
    has(
        &f,
        &format!(
            "entry {n}: signature by key {} does not verify",
            pk(&w.hauler_b.key)
        ),
    );
    // ... and the entry after it, when the bundle holds it, no longer chains to it.
    let next = good.entries.iter().any(|e| e.index == n + 1);
    if next {
        assert!(
            f.iter()
                .any(|s| s.starts_with(&format!("entry {}: prev is ", n + 1))
                    && s.ends_with(&format!(" of entry {n}: the entries do not chain"))),
            "{f:?}"
        );
    }
    assert_eq!(
        f.len(),
        3 + usize::from(next),
        "only that entry fails: {f:?}"
    );

    // One bit of a proof hash.
    let mut b = good.clone();
    let mut p = wasteledger::ledger::tlog_proof::TlogProof::parse(&b.entries[pos].proof).unwrap();
    let k = p.hashes.len();
    assert!(k >= 3, "a proof in a tree of {size} entries");
    p.hashes[1][7] ^= 0x20;
    b.entries[pos].proof = p.format();
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "entry {n}: inclusion proof does not lead to the checkpoint's root"
        )]
    );

    // One proof hash dropped.
    let mut b = good.clone();
    let mut p = wasteledger::ledger::tlog_proof::TlogProof::parse(&b.entries[pos].proof).unwrap();
    p.hashes.pop();
    b.entries[pos].proof = p.format();
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "entry {n}: proof has {} hashes, a tree of size {size} needs {k} for index {n}",
            k - 1
        )]
    );

    // Another valid checkpoint of the same log, at another size (from before the export),
    // everywhere in the file: the export is not under it and the proofs do not fit it.
    let earlier = Checkpoint::open(&c.earlier_checkpoint, &c.log).unwrap();
    assert!(earlier.size <= good.export.index);
    let mut b = good.clone();
    b.checkpoint = c.earlier_checkpoint.clone();
    for e in &mut b.entries {
        e.proof = e.proof.replace(&good.checkpoint, &c.earlier_checkpoint);
    }
    let f = failures(&b, &c.log);
    let x = good.export.index;
    has(
        &f,
        &format!(
            "entry {x}: index {x} is not inside the checkpoint's tree of size {}",
            earlier.size
        ),
    );
    assert!(
        f.iter().any(|s| s.starts_with("entry 0: proof has ")
            || s == "entry 0: inclusion proof does not lead to the checkpoint's root"),
        "{f:?}"
    );
    // ... or only the bundle's checkpoint swapped: the proofs carry another one.
    let mut b = good.clone();
    b.checkpoint = c.earlier_checkpoint.clone();
    has(
        &failures(&b, &c.log),
        &format!("entry {n}: the proof carries another checkpoint than the bundle's"),
    );

    // A checkpoint of the same tree, signed by another key under the log's name.
    let cp = Checkpoint::open(&good.checkpoint, &c.log).unwrap();
    let forged = cp.sign(&key(77));
    let mut b = good.clone();
    for e in &mut b.entries {
        e.proof = e.proof.replace(&good.checkpoint, &forged);
    }
    b.checkpoint = forged;
    assert_eq!(
        failures(&b, &c.log),
        ["checkpoint: not signed by the given log key"]
    );
    // The good bundle checked with another log's key fails the same way.
    let other = NoteVerifier::new(&c.log.name, key(78).verifying_key()).unwrap();
    let f = failures(&good, &other);
    has(&f, "checkpoint: not signed by the given log key");
    has(
        &f,
        &format!(
            "entry 0: genesis names log key {}, not the given log key {}",
            wasteledger::ledger::event::PublicKey(c.log.key),
            pk(&key(78))
        ),
    );

    // A signer's key.added dropped: every entry hauler B signed is named.
    let mut b = good.clone();
    let hb = pk(&w.hauler_b.key);
    let added = b
        .entries
        .iter()
        .position(|e| {
            let ev = event_of(&good, e.index);
            ev["type"] == "key.added" && ev["key"] == json!(hb)
        })
        .unwrap();
    b.entries.remove(added);
    let f = failures(&b, &c.log);
    let signed_by_b: Vec<u64> = good
        .entries
        .iter()
        .filter(|e| {
            let v: Value = serde_json::from_slice(&B64.decode(&e.entry).unwrap()).unwrap();
            v["signatures"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["key"] == json!(hb))
        })
        .map(|e| e.index)
        .collect();
    assert!(signed_by_b.contains(&n));
    for i in &signed_by_b {
        has(
            &f,
            &format!("entry {i}: key {hb} has no key.added entry in the bundle"),
        );
    }
    assert_eq!(f.len(), signed_by_b.len(), "{f:?}");

    // The export re-signed by someone else (the plant) than the party it names.
    let mut b = good.clone();
    let xpos = b.entries.iter().position(|e| e.index == x).unwrap();
    let mut forged = wasteledger::ledger::entry::Entry::decode(&entry_bytes(&b, x)).unwrap();
    forged.event = signed(Value::Object(forged.event.event().clone()), &[&w.plant.key]);
    b.entries[xpos].entry = B64.encode(forged.encode());
    let f = failures(&b, &c.log);
    has(
        &f,
        &format!("entry {x}: inclusion proof does not lead to the checkpoint's root"),
    );
    has(
        &f,
        &format!(
            "export: entry {x} is signed by key {} of {}, not of {} whom it names",
            pk(&w.plant.key),
            w.plant.id,
            w.bureau.id
        ),
    );

    // The export dropped.
    let mut b = good.clone();
    b.entries.retain(|e| e.index != x);
    has(
        &failures(&b, &c.log),
        &format!("export: entry {x} (the export) is not in the bundle"),
    );
    // The header claims another selection than the signed export.
    let mut b = good.clone();
    b.export.manifests.pop();
    let f = failures(&b, &c.log);
    assert!(
        f.iter()
            .any(|s| s.starts_with("export: the bundle's header says manifests = ")),
        "{f:?}"
    );
}

/// The plant's second key is added and signs an issue: (the key, the manifest, its entry).
fn second_plant_key_issues(w: &World) -> (SigningKey, String, u64) {
    let k2 = key(91);
    ok(
        &w.c,
        json!({"type": "key.added", "key": pk(&k2), "holder": w.plant.id}),
        &[&authority()],
    );
    let answer = ok(
        &w.c,
        json!({"type": "manifest.issued", "reference": "CK-K2", "stream": "hazardous", "generator": w.plant.id,
               "origin": "S-PLANT", "destination": "S-DISPOSAL", "haulers": [w.hauler_a.id],
               "lines": [{"code": "900-249-08", "name": "废矿物油", "form": "liquid", "hazards": ["T"],
                          "quantity": {"amount": 1000, "unit": "g"}}]}),
        &[&k2],
    );
    let m = answer["manifests"][0].as_str().unwrap().to_string();
    let issued = answer["index"].as_u64().unwrap();
    (k2, m, issued)
}

#[test]
fn a_key_used_after_its_revocation_took_effect_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let w = &c.w;
    // The plant's second key signs an issue, then is revoked back to a time before that.
    let (k2, m, issued) = second_plant_key_issues(w);
    let rev = ok(
        &w.c,
        json!({"type": "key.revoked", "key": pk(&k2), "effective": "2020-01-01T00:00:00Z", "reason": "terminal stolen in 2020"}),
        &[&authority()],
    );
    let (status, body) = pull(w, export_event(&w.bureau.id, &[&m]), &[&w.bureau.key]);
    assert_eq!(status, 201, "{body}");
    let b = parse(&body);
    let f = failures(&b, &c.log);
    let t: Value = serde_json::from_slice(&entry_bytes(&b, issued)).unwrap();
    assert_eq!(
        f,
        [format!(
            "entry {issued}: key {} used at {} on or after its revocation effective 2020-01-01T00:00:00.000Z (entry {})",
            pk(&k2),
            t["time"].as_str().unwrap(),
            rev["index"]
        )]
    );
}

#[test]
fn only_enforcement_inspectors_and_the_authority_pull_and_a_refusal_leaves_the_log_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let w = &c.w;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "a generator pulls",
            signed(export_event(&w.plant.id, &[&c.relayed]), &[&w.plant.key]).to_bytes(),
            403,
            "event.by",
        ),
        (
            "a hauler pulls in the bureau's name",
            signed(
                export_event(&w.bureau.id, &[&c.relayed]),
                &[&w.hauler_a.key],
            )
            .to_bytes(),
            403,
            "signatures",
        ),
        (
            "an unknown manifest",
            signed(
                export_event(&w.bureau.id, &[&c.relayed, "20263205999999"]),
                &[&w.bureau.key],
            )
            .to_bytes(),
            422,
            "event.manifests[1]",
        ),
        (
            "an empty selection",
            signed(export_event(&w.bureau.id, &[]), &[&w.bureau.key]).to_bytes(),
            422,
            "event.manifests",
        ),
        (
            "another event type",
            signed(
                json!({"type": "manifest.voided", "manifest": c.relayed, "reason": "x"}),
                &[&w.plant.key],
            )
            .to_bytes(),
            422,
            "event.type",
        ),
    ];
    for (what, body, want, field) in cases {
        let before = w.head();
        let a = w.c.post("/v1/bundles", &body).unwrap();
        let answer: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(a.status, want, "{what}: {answer}");
        assert!(
            answer["field"]
                .as_str()
                .is_some_and(|f| f.starts_with(field)),
            "{what}: field {} (want {field}): {answer}",
            answer["field"]
        );
        assert_eq!(w.head(), before, "{what}: the log changed");
    }
    // The same refusals through POST /v1/events.
    let (code, _) = post(
        &w.c,
        &signed(
            export_event(&w.hauler_a.id, &[&c.relayed]),
            &[&w.hauler_a.key],
        )
        .to_bytes(),
    );
    assert_eq!(code, 403);
    let a = w.c.get_signed("/v1/exports", &w.bureau.key).unwrap();
    assert_eq!(
        a.json().unwrap()["exports"],
        json!([]),
        "no pull was logged"
    );
    // The authority may pull, naming the agency it acts for.
    let (status, body) = pull(
        w,
        export_event(&w.bureau.id, &[&c.relayed]),
        &[&authority()],
    );
    assert_eq!(status, 201, "{body}");
    assert!(bundle::verify(body.as_bytes(), &c.log).ok());
}

#[test]
fn the_cli_pulls_a_bundle_and_verify_bundle_fails_a_tampered_one() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let w = &c.w;
    let bureau_key = dir.path().join("bureau.pem");
    wasteledger::keyfile::write(&bureau_key, &w.bureau.key).unwrap();
    let out = dir.path().join("case.bundle.json");
    let (ok_, text) = run(&[
        "bundle",
        "--server",
        &w.server.url,
        "--key",
        bureau_key.to_str().unwrap(),
        "--case",
        "KS-2026-0042",
        "--reason",
        "illegal dumping",
        "--manifest",
        &c.relayed,
        "--manifest",
        &c.merged,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok_, "{text}");
    assert!(text.contains(&format!("manifest {}", c.relayed)), "{text}");
    assert!(text.contains("checks hold"), "{text}");
    let key_file = dir.path().join("log.key");
    std::fs::write(&key_file, format!("{}\n", c.log)).unwrap();
    let log_key = c.log.to_string();
    let (ok_, text) = run(&[
        "verify-bundle",
        out.to_str().unwrap(),
        "--log-key",
        &log_key,
    ]);
    assert!(ok_, "{text}");
    assert!(text.contains("verified: "), "{text}");
    assert!(text.contains("废矿物油"), "the summary is printed: {text}");
    // A hauler's key may not pull.
    let hauler_key = dir.path().join("hauler.pem");
    wasteledger::keyfile::write(&hauler_key, &w.hauler_a.key).unwrap();
    let (ok_, text) = run(&[
        "bundle",
        "--server",
        &w.server.url,
        "--key",
        hauler_key.to_str().unwrap(),
        "--case",
        "X",
        "--reason",
        "curious",
        "--manifest",
        &c.relayed,
        "--out",
        dir.path().join("no.json").to_str().unwrap(),
    ]);
    assert!(!ok_, "{text}");
    assert!(text.contains("may not pull evidence"), "{text}");

    // A selection by search: every load truck B carried, the search recorded with the pull.
    let by_plate = dir.path().join("plate.bundle.json");
    let (ok_, text) = run(&[
        "bundle",
        "--server",
        &w.server.url,
        "--key",
        bureau_key.to_str().unwrap(),
        "--case",
        "KS-2026-0043",
        "--reason",
        "truck B seen at Zhangpu",
        "--plate",
        PLATE_B,
        "--from",
        "2020-01-01T00:00:00Z",
        "--out",
        by_plate.to_str().unwrap(),
    ]);
    assert!(ok_, "{text}");
    let found =
        w.c.get_signed(
            &format!(
                "/v1/search?plate={}&limit=500",
                wasteledger::client::encode(PLATE_B)
            ),
            &w.bureau.key,
        )
        .unwrap()
        .json()
        .unwrap();
    let mut want: Vec<String> = found["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["number"].as_str().unwrap().to_string())
        .collect();
    want.sort();
    assert!(want.contains(&c.relayed), "{found}");
    assert!(
        text.contains(&format!("selects {} manifest(s)", want.len())),
        "{text}"
    );
    let b = parse(&std::fs::read_to_string(&by_plate).unwrap());
    let mut got: Vec<String> = b.export.manifests.iter().map(|m| m.to_string()).collect();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        b.export.query.as_deref(),
        Some(format!("plate={PLATE_B}&from=2020-01-01T00:00:00Z").as_str())
    );
    assert!(bundle::verify(&b.to_bytes(), &c.log).ok());
    // A window without a subject is a mistake, named.
    let (ok_, text) = run(&[
        "bundle",
        "--server",
        &w.server.url,
        "--key",
        bureau_key.to_str().unwrap(),
        "--case",
        "X",
        "--reason",
        "r",
        "--manifest",
        &c.relayed,
        "--from",
        "2020-01-01T00:00:00Z",
        "--out",
        dir.path().join("x.json").to_str().unwrap(),
    ]);
    assert!(!ok_ && text.contains("--from/--to"), "{text}");

    // One byte of one entry changed in the file.
    let mut b = parse(&std::fs::read_to_string(&out).unwrap());
    let i = b.manifests[0].entries[1];
    let pos = b.entries.iter().position(|e| e.index == i).unwrap();
    let bytes = String::from_utf8(entry_bytes(&b, i)).unwrap();
    b.entries[pos].entry =
        B64.encode(bytes.replacen("2026-11-23T08:30:00Z", "2026-11-23T08:31:00Z", 1));
    let bad = dir.path().join("tampered.bundle.json");
    std::fs::write(&bad, b.to_bytes()).unwrap();
    let (ok_, text) = run(&[
        "verify-bundle",
        bad.to_str().unwrap(),
        "--log-key",
        key_file.to_str().unwrap(),
    ]);
    assert!(!ok_, "{text}");
    assert!(
        text.contains(&format!(
            "entry {i}: inclusion proof does not lead to the checkpoint's root"
        )),
        "{text}"
    );
    assert!(text.contains("FAIL  entry"), "{text}");
}

#[test]
fn a_bundle_fetched_after_the_witnesses_cosigned_demands_k_of_n_of_them() {
    use wasteledger::ledger::cosignature::WitnessKey;
    let dir = tempfile::tempdir().unwrap();
    let w1_file = dir.path().join("w1.pem");
    wasteledger::keyfile::write(&w1_file, &key(71)).unwrap();
    let w1 = WitnessKey::new("w1", key(71).verifying_key()).unwrap();
    let w2 = WitnessKey::new("w2", key(72).verifying_key()).unwrap();
    let w = World::start_with(dir.path(), &["--witness", &w1.to_string()]);
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    let log = NoteVerifier::parse(w.c.get_ok("/v1/log/key").unwrap().trim()).unwrap();
    let (status, body) = pull(&w, export_event(&w.bureau.id, &[&m]), &[&w.bureau.key]);
    assert_eq!(status, 201, "{body}");
    let fresh = parse(&body);
    // Fresh from the pull: signed by the log, cosigned by nobody yet.
    assert!(bundle::verify(body.as_bytes(), &log).ok());
    let r = bundle::verify_witnessed(body.as_bytes(), &log, std::slice::from_ref(&w1), 1);
    assert!(!r.ok());
    let fails: Vec<String> = r.failures().iter().map(|c| c.to_string()).collect();
    assert!(
        fails
            .iter()
            .any(|f| f.starts_with("witnesses: ") && f.contains(&w1.to_string())),
        "names the missing witness: {fails:?}"
    );

    // The witness cosigns the log as it now stands; the same export fetched again carries it.
    let (ok_, text) = run(&[
        "witness",
        "--log",
        &w.server.url,
        "--key",
        w1_file.to_str().unwrap(),
        "--state",
        dir.path().join("w1-state").to_str().unwrap(),
        "--log-key",
        &log.to_string(),
        "--once",
    ]);
    assert!(ok_, "{text}");
    let again =
        w.c.get_signed(
            &format!("/v1/bundles/{}", fresh.export.index),
            &w.bureau.key,
        )
        .unwrap();
    assert_eq!(again.status, 200, "{}", again.body);
    let cosigned = parse(&again.body);
    assert_ne!(cosigned.checkpoint, fresh.checkpoint);
    assert_eq!(cosigned.entries.len(), fresh.entries.len());
    let r = bundle::verify_witnessed(again.body.as_bytes(), &log, std::slice::from_ref(&w1), 1);
    assert!(r.ok(), "{:?}", r.failures());
    // Two of two known witnesses demanded: w2 never cosigned, and is named.
    let both = [w1.clone(), w2.clone()];
    let r = bundle::verify_witnessed(again.body.as_bytes(), &log, &both, 2);
    let fails: Vec<String> = r.failures().iter().map(|c| c.to_string()).collect();
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(
        fails[0].contains("missing: ") && fails[0].contains(&w2.to_string()),
        "{fails:?}"
    );
    assert!(!fails[0].contains(&format!("missing: {w1}")), "{fails:?}");

    // The CLI demands the same.
    let file = dir.path().join("cosigned.bundle.json");
    std::fs::write(&file, &again.body).unwrap();
    let (ok_, text) = run(&[
        "verify-bundle",
        file.to_str().unwrap(),
        "--log-key",
        &log.to_string(),
        "--witness",
        &w1.to_string(),
        "--quiet",
    ]);
    assert!(ok_, "{text}");
    let (ok_, text) = run(&[
        "verify-bundle",
        file.to_str().unwrap(),
        "--log-key",
        &log.to_string(),
        "--witness",
        &w1.to_string(),
        "--witness",
        &w2.to_string(),
        "--quorum",
        "2",
        "--quiet",
    ]);
    assert!(!ok_, "{text}");
    assert!(text.contains(&w2.to_string()), "{text}");
}

// ---- Rules that need a log built otherwise ------------------------------------------------------
//
// Some alterations can only be made by whoever holds the log's and the authority's keys (a
// revocation written with an offset, which the log refuses; entries that do not chain). To show
// that the verifier names them, the test holds both keys (the server's `keys/log.pem`, the test
// authority) and rebuilds the log's tree around the change, so that only the change is wrong.

/// The bundle `good` again, over the log's entries (up to its checkpoint) as `edit` leaves them:
/// with `rechain`, every entry's `prev` is set again to the leaf hash of the one before (so that
/// only the edit is wrong); then the tree, every proof and the checkpoint, signed with the
/// log's own key.
fn reseal(
    c: &Case,
    good: &Bundle,
    rechain: bool,
    edit: impl FnOnce(&mut Vec<wasteledger::ledger::entry::Entry>),
) -> Bundle {
    use wasteledger::ledger::entry::Entry;
    use wasteledger::ledger::merkle::{inclusion_proof, leaf_hash, mth};
    use wasteledger::ledger::tlog_proof::TlogProof;
    let cp = Checkpoint::open(&good.checkpoint, &c.log).unwrap();
    let mut entries: Vec<Entry> = (0..cp.size)
        .map(|i| {
            let bytes = c.w.entry(i);
            let e = Entry::decode(bytes.as_bytes()).unwrap();
            assert_eq!(e.encode(), bytes.as_bytes(), "entry {i} re-encodes exactly");
            e
        })
        .collect();
    edit(&mut entries);
    if rechain {
        for i in 1..entries.len() {
            entries[i].prev = leaf_hash(&entries[i - 1].encode());
        }
    }
    let bytes: Vec<Vec<u8>> = entries.iter().map(Entry::encode).collect();
    let leaves: Vec<_> = bytes.iter().map(|b| leaf_hash(b)).collect();
    let log_key = wasteledger::keyfile::read(&c.w.server.data.join("keys/log.pem")).unwrap();
    let checkpoint = Checkpoint {
        root: mth(&leaves),
        ..cp.clone()
    }
    .sign(&log_key);
    let mut b = good.clone();
    for e in &mut b.entries {
        e.entry = B64.encode(&bytes[e.index as usize]);
        e.proof = TlogProof {
            extra: None,
            index: e.index,
            hashes: inclusion_proof(&leaves[..], e.index, cp.size).unwrap(),
            checkpoint: checkpoint.clone(),
        }
        .format();
    }
    b.checkpoint = checkpoint;
    b
}

/// Entry `i`'s event replaced by `event`, signed by `keys`.
fn resign(
    entries: &mut [wasteledger::ledger::entry::Entry],
    i: u64,
    event: Value,
    keys: &[&SigningKey],
) {
    entries[i as usize].event = signed(event, keys);
}

fn pulled(c: &Case, manifests: &[&str]) -> Bundle {
    let (status, body) = pull(
        &c.w,
        export_event(&c.w.bureau.id, manifests),
        &[&c.w.bureau.key],
    );
    assert_eq!(status, 201, "{body}");
    let b = parse(&body);
    assert_eq!(failures(&b, &c.log), Vec::<String>::new());
    b
}

#[test]
fn a_checkpoint_with_a_failing_line_of_the_log_key_is_rejected_first_or_last() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    use ed25519_dalek::Signer;
    let good = pulled(&c, &[&c.relayed]);
    // A line with the log key's name and key id, whose signature is of other bytes.
    let split = good.checkpoint.find("\n\n").unwrap();
    let (body, sigs) = (&good.checkpoint[..=split], &good.checkpoint[split + 2..]);
    let mut blob = c.log.id().to_vec();
    blob.extend_from_slice(&key(77).sign(b"another body\n").to_bytes());
    let bad = format!("\u{2014} {} {}\n", c.log.name, B64.encode(blob));
    for note in [
        format!("{body}\n{bad}{sigs}"),
        format!("{}{bad}", good.checkpoint),
    ] {
        let mut b = good.clone();
        for e in &mut b.entries {
            e.proof = e.proof.replace(&good.checkpoint, &note);
        }
        b.checkpoint = note;
        assert_eq!(
            failures(&b, &c.log),
            ["checkpoint: a signature line of the given log key does not verify: the note is rejected"]
        );
    }
    // A line of a key the verifier does not know is ignored.
    let mut b = good.clone();
    let other = wasteledger::ledger::note::sign_note(body, "witness.example", &key(78));
    let note = format!(
        "{}{}",
        good.checkpoint,
        other.rsplit("\n\n").next().unwrap()
    );
    for e in &mut b.entries {
        e.proof = e.proof.replace(&good.checkpoint, &note);
    }
    b.checkpoint = note;
    assert_eq!(failures(&b, &c.log), Vec::<String>::new());
}

#[test]
fn entries_next_to_each_other_chain_and_entry_0_starts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let good = pulled(&c, &[&c.relayed]);
    let held: Vec<u64> = good.entries.iter().map(|e| e.index).collect();
    let n = *held
        .iter()
        .find(|i| **i > 1 && held.contains(&(*i - 1)))
        .expect("two entries next to each other in the bundle");
    // Entry n's prev points elsewhere (the entries after it chain to it); the tree and
    // checkpoint are made over it.
    let b = reseal(&c, &good, false, |es| {
        let n = n as usize;
        es[n].prev = [7; 32];
        for j in n + 1..es.len() {
            es[j].prev = wasteledger::ledger::merkle::leaf_hash(&es[j - 1].encode());
        }
    });
    let f = failures(&b, &c.log);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with(&format!(
            "entry {n}: prev is {}, not the leaf hash ",
            B64.encode([7; 32])
        )) && f[0].ends_with(&format!(" of entry {}: the entries do not chain", n - 1)),
        "{f:?}"
    );
    // Entry 0's prev is not zero (and entry 1 chains to it).
    let b = reseal(&c, &good, true, |es| es[0].prev = [1; 32]);
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "entry 0: prev is {}, not 32 zero bytes (entry 0 starts the chain)",
            B64.encode([1; 32])
        )]
    );
    // Entry n logged a second before entry n-1: time went backwards.
    let mut at = None;
    let b = reseal(&c, &good, true, |es| {
        let t = wasteledger::ledger::time::Timestamp::from_unix_millis(
            es[n as usize - 1].time.unix_millis() - 1000,
        );
        es[n as usize].time = t;
        at = Some((t, es[n as usize - 1].time));
    });
    let (t, before) = at.unwrap();
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "entry {n}: logged at {t}, before entry {} (logged at {before}): the log's time never goes backwards",
            n - 1
        )]
    );
}

#[test]
fn a_revocation_written_with_an_offset_fails_and_a_utc_one_is_compared_as_an_instant() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let w = &c.w;
    let (k2, m, issued) = second_plant_key_issues(w);
    // The log refuses a revocation written with an offset ...
    let offset = json!({"type": "key.revoked", "key": pk(&k2), "effective": "2020-01-01T08:00:00+08:00", "reason": "terminal stolen in 2020"});
    let (code, problem) = post(&w.c, &signed(offset.clone(), &[&authority()]).to_bytes());
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem["field"], "event.effective", "{problem}");
    // ... so the log revokes the key in the future, and the bundle holds (the use is before).
    let rev = ok(
        &w.c,
        json!({"type": "key.revoked", "key": pk(&k2), "effective": "2099-01-01T00:00:00Z", "reason": "to be retired"}),
        &[&authority()],
    )["index"]
        .as_u64()
        .unwrap();
    let good = pulled(&c, &[&m]);
    // Whoever holds the keys writes the revocation with an offset, effective before the use:
    // the bundle fails at the revocation, which the log would have refused.
    let b = reseal(&c, &good, true, |es| {
        resign(es, rev, offset.clone(), &[&authority()])
    });
    let f = failures(&b, &c.log);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with(&format!(
            "entry {rev}: key.revoked: field `event.effective`: expected an RFC 3339 UTC time"
        )) && f[0].contains("2020-01-01T08:00:00+08:00")
            && f[0].ends_with("; the log refuses such an entry"),
        "{f:?}"
    );
    // The same instant written +00:00 is read, and the use after it is named.
    let utc = json!({"type": "key.revoked", "key": pk(&k2), "effective": "2020-01-01T00:00:00+00:00", "reason": "terminal stolen in 2020"});
    let b = reseal(&c, &good, true, |es| {
        resign(es, rev, utc.clone(), &[&authority()])
    });
    let t: Value = serde_json::from_slice(&entry_bytes(&b, issued)).unwrap();
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "entry {issued}: key {} used at {} on or after its revocation effective 2020-01-01T00:00:00.000Z (entry {rev})",
            pk(&k2),
            t["time"].as_str().unwrap()
        )]
    );
}

#[test]
fn a_genesis_of_another_log_name_fails() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let good = pulled(&c, &[&c.relayed]);
    let mut g = event_of(&good, 0);
    g["log"] = json!("other.example/log");
    let b = reseal(&c, &good, true, |es| resign(es, 0, g, &[&authority()]));
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "entry 0: genesis names the log \"other.example/log\", not {:?} (the given key's name)",
            c.log.name
        )]
    );
}

#[test]
fn a_manifests_entry_list_is_ascending_once_each_and_held_in_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let good = pulled(&c, &[&c.relayed, &c.merged]);
    let pos = good
        .manifests
        .iter()
        .position(|m| m.number.as_str() == c.relayed)
        .unwrap();
    let list = good.manifests[pos].entries.clone();
    let (a, z) = (list[1], list[2]);
    // Two entries swapped.
    let mut b = good.clone();
    b.manifests[pos].entries.swap(1, 2);
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "manifest {}: its entries are not in strictly ascending order: {a} is listed after {z}",
            c.relayed
        )]
    );
    // One listed twice.
    let mut b = good.clone();
    b.manifests[pos].entries.insert(2, a);
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "manifest {}: its entries are not in strictly ascending order: {a} is listed after {a}",
            c.relayed
        )]
    );
    // An entry the bundle does not hold.
    let mut b = good.clone();
    let missing = good.entries.last().unwrap().index + 1;
    b.manifests[pos].entries.push(missing);
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "manifest {}: entry {missing} is listed but not (readable) in the bundle",
            c.relayed
        )]
    );
    // The creating entry left out of the list.
    let mut b = good.clone();
    b.manifests[pos].entries.remove(0);
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "manifest {}: its creating entry {} is not among its entries",
            c.relayed, list[0]
        )]
    );
    // The same manifest listed twice.
    let mut b = good.clone();
    b.manifests.push(good.manifests[pos].clone());
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "manifest {}: listed more than once in `manifests`",
            c.relayed
        )]
    );
}

#[test]
fn the_stored_summary_is_not_evidence_and_the_verifier_prints_what_the_entries_say() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let good = pulled(&c, &[&c.relayed]);
    let m = &good.manifests[0];
    // The summary says something the entries do not: not checked, the bundle still holds ...
    let mut b = good.clone();
    b.summary = "# Case KS-2026-0042\n\nNothing was ever handed over.\n".into();
    let r = bundle::verify(&b.to_bytes(), &c.log);
    assert!(r.ok(), "{:?}", r.failures());
    // ... and the verifier's own account, from the entries alone, says what they say.
    let account = r.account.unwrap();
    assert_eq!(
        account,
        bundle::verify(&good.to_bytes(), &c.log).account.unwrap(),
        "the account does not depend on the stored summary"
    );
    for i in &m.entries {
        let e = wasteledger::ledger::entry::Entry::decode(&entry_bytes(&good, *i)).unwrap();
        let row = format!("| {i} | {} | {} | ", e.time.cst(), e.event.event_type());
        assert!(account.contains(&row), "no row {row:?}:\n{account}");
    }
    assert!(account.contains("\"amount\":339000"), "{account}");
    assert!(
        account.contains("Hazardous hauler B"),
        "signers by name: {account}"
    );
    // The CLI prints both, each for what it is.
    let file = dir.path().join("b.json");
    std::fs::write(&file, b.to_bytes()).unwrap();
    let (ok_, text) = run(&[
        "verify-bundle",
        file.to_str().unwrap(),
        "--log-key",
        &c.log.to_string(),
    ]);
    assert!(ok_, "{text}");
    assert!(
        text.contains(
            "--- what the entries say (re-derived by this verifier from their bytes) ---"
        ),
        "{text}"
    );
    assert!(
        text.contains("a reading aid, not checked, not evidence"),
        "{text}"
    );
}

#[test]
fn each_entrys_own_rules_and_the_log_key_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let good = pulled(&c, &[&c.relayed]);
    let (p, q) = (3, 4);
    let (i, j) = (good.entries[p].index, good.entries[q].index);
    // The bundle names another log key than the one given.
    let mut b = good.clone();
    let named = NoteVerifier::new("other.example/log", key(79).verifying_key()).unwrap();
    b.log_key = named.to_string();
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "log key: the bundle names {named}, not the given key {} (checked with the given key)",
            c.log
        )]
    );
    // `entry` is not base64; the bytes are not an entry.
    let mut b = good.clone();
    b.entries[p].entry = "not base64!".into();
    has(
        &failures(&b, &c.log),
        &format!("entry {i}: `entry` is not base64"),
    );
    let mut b = good.clone();
    b.entries[p].entry = B64.encode(b"{\"event\":{}}");
    assert!(
        failures(&b, &c.log).iter().any(|f| f.starts_with(&format!(
            "entry {i}: the bytes do not parse as a log entry: "
        ))),
        "{:?}",
        failures(&b, &c.log)
    );
    // Another entry's bytes under this index; another entry's proof.
    let mut b = good.clone();
    b.entries[p].entry = good.entries[q].entry.clone();
    has(
        &failures(&b, &c.log),
        &format!("entry {i}: the bytes hold entry {j}, not {i}"),
    );
    let mut b = good.clone();
    b.entries[p].proof = good.entries[q].proof.clone();
    has(
        &failures(&b, &c.log),
        &format!("entry {i}: the proof is for index {j}"),
    );
    // A proof that is not a tlog-proof.
    let mut b = good.clone();
    b.entries[p].proof = good.entries[p].proof.replacen("index ", "index: ", 1);
    assert_eq!(
        failures(&b, &c.log),
        [format!("entry {i}: proof: line 2: expected `index N`")]
    );
    // Two entries out of order, and one listed twice.
    let mut b = good.clone();
    b.entries.swap(p, q);
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "entry {i}: entries are not in strictly increasing index order (listed twice or out of order)"
        )]
    );
    let mut b = good.clone();
    b.entries.insert(q, good.entries[p].clone());
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "entry {i}: entries are not in strictly increasing index order (listed twice or out of order)"
        )]
    );
}

#[test]
fn the_registrys_rules_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let w = &c.w;
    let good = pulled(&c, &[&c.relayed]);
    let hb = pk(&w.hauler_b.key);
    let registry = |t: &str, k: &str| {
        good.entries
            .iter()
            .map(|e| e.index)
            .find(|i| {
                let ev = event_of(&good, *i);
                ev["type"] == t && (ev["key"] == json!(k) || ev["party"] == json!(k))
            })
            .unwrap()
    };
    let added = registry("key.added", &hb);
    let relay = good.manifests[0].entries[2];
    assert_eq!(event_of(&good, relay)["to"], json!(w.hauler_b.id));
    // Genesis signed by another key than the authority it names.
    let g = event_of(&good, 0);
    let b = reseal(&c, &good, true, |es| resign(es, 0, g.clone(), &[&key(79)]));
    has(
        &failures(&b, &c.log),
        "entry 0: not a genesis signed by the authority it names",
    );
    // A key.added signed by someone else than the authority: refused, so the key is unknown.
    let ev = event_of(&good, added);
    let b = reseal(&c, &good, true, |es| {
        resign(es, added, ev.clone(), &[&w.plant.key])
    });
    let f = failures(&b, &c.log);
    has(
        &f,
        &format!("entry {added}: key.added is not signed by the authority"),
    );
    has(
        &f,
        &format!("entry {relay}: key {hb} has no key.added entry in the bundle"),
    );
    // The key.added and the relay it signs change places: the key is used before it is added.
    let b = reseal(&c, &good, true, |es| {
        let (a, r) = (added as usize, relay as usize);
        let moved = es[a].event.clone();
        es[a].event = es[r].event.clone();
        es[r].event = moved;
    });
    has(
        &failures(&b, &c.log),
        &format!("entry {added}: key {hb} used before it was registered (entry {relay})"),
    );
    // The plant's key.added made to add hauler B's key again (which the log refuses); and
    // hauler B's key.added made a revocation of a key not added before it.
    let plant_added = registry("key.added", &pk(&w.plant.key));
    let again = json!({"type": "key.added", "key": hb, "holder": w.hauler_b.id});
    let b = reseal(&c, &good, true, |es| {
        resign(es, plant_added, again, &[&authority()])
    });
    let first = added.min(plant_added);
    has(
        &failures(&b, &c.log),
        &format!(
            "entry {}: key.added: key {hb} is already added at entry {first}; the log refuses such an entry",
            added.max(plant_added)
        ),
    );
    let revoke = json!({"type": "key.revoked", "key": hb, "effective": "2099-01-01T00:00:00Z", "reason": "r"});
    let b = reseal(&c, &good, true, |es| {
        resign(es, added, revoke, &[&authority()])
    });
    has(
        &failures(&b, &c.log),
        &format!(
            "entry {added}: key.revoked: key {hb} has no key.added before it in the bundle; the log refuses such an entry"
        ),
    );
    // The holder's party.registered comes after the key.added.
    let party = registry("party.registered", &w.hauler_b.id);
    assert!(party < added);
    let b = reseal(&c, &good, true, |es| {
        let mut ev = es[party as usize].event.event().clone();
        ev.insert("party".into(), json!(w.recycler.id));
        es[party as usize].event = signed(Value::Object(ev), &[&authority()]);
    });
    has(
        &failures(&b, &c.log),
        &format!(
            "entry {added}: key {hb} is added for {:?}, which has no party.registered entry before it in the bundle",
            w.hauler_b.id
        ),
    );
}

#[test]
fn the_export_and_manifest_rules_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let c = city(dir.path());
    let good = pulled(&c, &[&c.relayed, &c.merged]);
    let x = good.export.index;
    let pos = good
        .manifests
        .iter()
        .position(|m| m.number.as_str() == c.relayed)
        .unwrap();
    let list = good.manifests[pos].entries.clone();
    // The header points at another entry than the export.
    let mut b = good.clone();
    b.export.index = list[1];
    has(
        &failures(&b, &c.log),
        &format!(
            "export: entry {} is a custody.handover, not evidence.exported",
            list[1]
        ),
    );
    // The header's case and logged time differ from the entry's.
    let mut b = good.clone();
    b.export.case = "KS-2026-0099".into();
    b.export.time =
        wasteledger::ledger::time::Timestamp::from_unix_millis(good.export.time.unix_millis() + 1);
    let f = failures(&b, &c.log);
    has(
        &f,
        &format!("export: the bundle's header says case = \"KS-2026-0099\", entry {x} says \"KS-2026-0042\""),
    );
    has(
        &f,
        &format!(
            "export: the bundle's header says it was logged at {}, entry {x} at {}",
            b.export.time, good.export.time
        ),
    );
    // The header's time written with an offset: not read at all.
    let mut v: Value = serde_json::from_slice(&good.to_bytes()).unwrap();
    v["export"]["time"] = json!("2026-12-01T17:30:00.000+08:00");
    let r = bundle::verify(&serde_json::to_vec(&v).unwrap(), &c.log);
    let f: Vec<String> = r.failures().iter().map(|c| c.to_string()).collect();
    assert!(
        f.len() == 1
            && f[0].starts_with("bundle: not a wasteledger bundle (wasteledger-bundle/v1 JSON): expected an RFC 3339 UTC time"),
        "{f:?}"
    );
    // A selected manifest without its item; an item for a manifest not selected.
    let mut b = good.clone();
    b.manifests.remove(pos);
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "export: manifest {} is selected but the bundle lists no entries for it",
            c.relayed
        )]
    );
    let mut b = good.clone();
    b.manifests[pos].number = c.inputs[1].parse().unwrap();
    let f = failures(&b, &c.log);
    has(
        &f,
        &format!(
            "export: manifest {} is in the bundle but not in the selection",
            c.inputs[1]
        ),
    );
    // The creating entry is one that creates nothing; an entry that does not name the manifest.
    let mut b = good.clone();
    b.manifests[pos].created_by = list[1];
    has(
        &failures(&b, &c.log),
        &format!(
            "manifest {}: entry {} is a custody.handover, which creates no manifest",
            c.relayed, list[1]
        ),
    );
    let mut b = good.clone();
    b.manifests[pos].entries.insert(0, 0);
    assert_eq!(
        failures(&b, &c.log),
        [format!(
            "entry 0: listed under manifest {} but its event does not name it",
            c.relayed
        )]
    );
}
