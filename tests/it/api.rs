//! The public log API over real HTTP, against the real server process.

use crate::support::{authority, key, key_added, pk, signed, Server};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use wasteledger::client::LogClient;
use wasteledger::ledger::merkle::{verify_consistency, verify_inclusion, Hash};
use wasteledger::ledger::note::{Checkpoint, NoteVerifier};

fn checkpoint(c: &LogClient) -> Checkpoint {
    c.checkpoint(&c.verifier().unwrap()).unwrap().0
}

fn post(c: &LogClient, body: &[u8]) -> (u16, Value) {
    let a = c.post("/v1/events", body).unwrap();
    (
        a.status,
        serde_json::from_str(&a.body).unwrap_or_else(|_| panic!("not JSON: {}", a.body)),
    )
}

/// Log note `n` signed by `by`; it must be accepted.
fn note(c: &LogClient, by: &ed25519_dalek::SigningKey, n: u64) {
    let (status, body) = post(
        c,
        &signed(json!({"type": "note", "n": n}), &[by]).to_bytes(),
    );
    assert_eq!(status, 201, "{body}");
}

fn hashes(v: &Value) -> Vec<Hash> {
    v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect()
}

fn b64hash(v: &Value) -> Hash {
    B64.decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

#[test]
fn every_bad_submission_gets_a_problem_naming_it_and_leaves_the_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_bare(&dir.path().join("log"));
    let c = server.client();
    let (plant, revoked, stranger) = (key(1), key(2), key(3));
    for ev in [
        key_added(&plant, "plant"),
        key_added(&revoked, "old terminal"),
    ] {
        assert_eq!(post(&c, &ev.to_bytes()).0, 201);
    }
    let revoke = signed(
        json!({"type": "key.revoked", "key": pk(&revoked), "effective": "2020-01-01T00:00:00Z", "reason": "terminal lost"}),
        &[&authority()],
    );
    assert_eq!(post(&c, &revoke.to_bytes()).0, 201);
    let good = signed(
        json!({"type": "note", "text": "pickup at gate 2"}),
        &[&plant],
    );
    let (status, receipt) = post(&c, &good.to_bytes());
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["index"], 4);

    let good_bytes = good.to_bytes();
    let mut bad_sig = good.clone();
    bad_sig.add_signature(&plant);
    let mut bad_sig_bytes = bad_sig.to_bytes();
    // Flip one character inside the base64 signature (the last "sig" value).
    let at = String::from_utf8_lossy(&bad_sig_bytes)
        .rfind("\"sig\":\"")
        .unwrap()
        + 10;
    bad_sig_bytes[at] = if bad_sig_bytes[at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let unsigned = br#"{"event":{"text":"x","type":"note"},"signatures":[]}"#.to_vec();
    let float = signed(json!({"type": "note"}), &[&plant]).to_bytes();
    let float = String::from_utf8(float)
        .unwrap()
        .replace(r#""type":"note""#, r#""qty":1.5,"type":"note""#);
    let non_canonical = String::from_utf8(good_bytes.clone())
        .unwrap()
        .replacen('{', "{ ", 1);
    let oversized = format!(
        r#"{{"event":{{"pad":"{}","type":"note"}},"signatures":[]}}"#,
        "x".repeat(70_000)
    );
    let by_stranger = signed(json!({"type": "note", "text": "who am I"}), &[&stranger]).to_bytes();
    let by_revoked = signed(
        json!({"type": "note", "text": "after revocation"}),
        &[&revoked],
    )
    .to_bytes();
    let key_by_party = signed(
        json!({"type": "key.added", "key": pk(&stranger), "holder": "self-made"}),
        &[&plant],
    )
    .to_bytes();

    let before = checkpoint(&c);
    // (what, body, status, problem type, field)
    type Case<'a> = (&'a str, Vec<u8>, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            b"{\"event\":".to_vec(),
            400,
            "malformed-json",
            None,
        ),
        (
            "non-canonical body",
            non_canonical.into_bytes(),
            400,
            "not-canonical",
            Some("(body)"),
        ),
        (
            "oversized body",
            oversized.into_bytes(),
            413,
            "too-large",
            Some("(body)"),
        ),
        (
            "no signature",
            unsigned,
            400,
            "bad-field",
            Some("signatures"),
        ),
        (
            "floating-point quantity",
            float.into_bytes(),
            400,
            "not-an-integer",
            Some("event.qty"),
        ),
        (
            "bad signature",
            bad_sig_bytes,
            422,
            "bad-signature",
            Some("signatures[0].sig"),
        ),
        (
            "unknown key",
            by_stranger,
            403,
            "unknown-key",
            Some("signatures"),
        ),
        (
            "revoked key",
            by_revoked,
            403,
            "revoked-key",
            Some("signatures"),
        ),
        (
            "key registration not by the authority",
            key_by_party,
            403,
            "not-authority",
            Some("signatures"),
        ),
        ("replay", good_bytes, 409, "replay", Some("event")),
    ];
    for (what, body, status, kind, field) in cases {
        let (got, problem) = post(&c, &body);
        assert_eq!(got, status, "{what}: {problem}");
        assert_eq!(
            problem["type"],
            format!("urn:wasteledger:problem:{kind}"),
            "{what}: {problem}"
        );
        assert_eq!(problem["status"], status, "{what}");
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{what}");
        if let Some(f) = field {
            assert_eq!(problem["field"], f, "{what}: {problem}");
        }
        assert_eq!(checkpoint(&c), before, "{what} changed the log");
    }
    let (_, replay) = post(&c, &good.to_bytes());
    assert_eq!(
        replay["existing_index"], 4,
        "a replay names where the event already is"
    );
}

#[test]
fn proofs_verify_against_checkpoints_old_and_new_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let server = Server::start_bare(&data);
    let c = server.client();
    let plant = key(1);
    assert_eq!(post(&c, &key_added(&plant, "plant").to_bytes()).0, 201);
    for i in 0..9 {
        note(&c, &plant, i);
    }
    let verifier: NoteVerifier = c.verifier().unwrap();
    let old_note = c.get_ok("/v1/log/checkpoint").unwrap();
    let old = Checkpoint::open(&old_note, &verifier).unwrap();
    assert_eq!(old.size, 11);
    server.kill();

    let server = Server::start_bare(&data);
    let c = server.client();
    assert_eq!(checkpoint(&c), old, "a restart keeps size and root");
    assert_eq!(
        c.get_ok("/v1/log/checkpoint").unwrap(),
        old_note,
        "and the very same signed checkpoint"
    );
    // A replay of an event logged before the restart is still known.
    let (status, replay) = post(
        &c,
        &signed(json!({"type": "note", "n": 3}), &[&plant]).to_bytes(),
    );
    assert_eq!(
        (status, replay["existing_index"].clone()),
        (409, json!(5)),
        "{replay}"
    );
    for i in 9..20 {
        note(&c, &plant, i);
    }
    let new = checkpoint(&c);
    assert_eq!(new.size, 22);

    // Inclusion at the old size, against the old checkpoint; the leaf hash is the served bytes'.
    for index in [0, 5, 10] {
        let p: Value = serde_json::from_str(
            &c.get_ok(&format!(
                "/v1/log/proof/inclusion?index={index}&size={}",
                old.size
            ))
            .unwrap(),
        )
        .unwrap();
        let entry = c.get_ok(&format!("/v1/log/entries/{index}")).unwrap();
        let leaf = wasteledger::ledger::merkle::leaf_hash(entry.as_bytes());
        assert_eq!(b64hash(&p["leaf_hash"]), leaf);
        assert_eq!(
            verify_inclusion(index, old.size, &leaf, &hashes(&p), &old.root),
            Ok(())
        );
        assert!(verify_inclusion(index, new.size, &leaf, &hashes(&p), &new.root).is_err());
        let p: Value = serde_json::from_str(
            &c.get_ok(&format!("/v1/log/proof/inclusion?index={index}"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(p["size"], new.size);
        assert_eq!(
            verify_inclusion(index, new.size, &leaf, &hashes(&p), &new.root),
            Ok(())
        );
    }
    let p: Value = serde_json::from_str(
        &c.get_ok(&format!(
            "/v1/log/proof/consistency?from={}&to={}",
            old.size, new.size
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        verify_consistency(old.size, new.size, &hashes(&p), &old.root, &new.root),
        Ok(())
    );

    // A range serves exactly the bytes of the single-entry reads.
    let range = c.get_ok("/v1/log/entries?start=3&end=7").unwrap();
    let lines: Vec<&str> = range.lines().collect();
    assert_eq!(lines.len(), 4);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(
            *line,
            c.get_ok(&format!("/v1/log/entries/{}", 3 + i)).unwrap()
        );
    }

    // Requests outside the log are answered with a problem naming the parameter.
    for (path, field) in [
        (
            format!("/v1/log/proof/inclusion?index=3&size={}", new.size + 1),
            "size",
        ),
        (
            format!("/v1/log/proof/inclusion?index={}", new.size),
            "index",
        ),
        ("/v1/log/proof/consistency?from=0&to=5".to_string(), "from"),
        ("/v1/log/proof/inclusion?index=abc".to_string(), "index"),
        ("/v1/log/entries?start=0&end=5000".to_string(), "end"),
    ] {
        let a = c.get(&path).unwrap();
        assert_eq!(a.status, 400, "{path}: {}", a.body);
        assert_eq!(a.json().unwrap()["field"], field, "{path}");
    }
    let a = c.get(&format!("/v1/log/entries/{}", new.size)).unwrap();
    assert_eq!(
        (a.status, a.json().unwrap()["field"].clone()),
        (404, json!("index"))
    );

    // The stored-log audit needs the server stopped, and says so.
    let (ok, out) = crate::support::run(&["verify", "--data", data.to_str().unwrap()]);
    assert!(!ok && out.contains("in use by another process"), "{out}");

    // The remote audit agrees with the signed checkpoint.
    let audit = wasteledger::client::audit_remote(
        &c,
        Some(verifier),
        &wasteledger::ledger::state::OpenRules,
        &mut |_, _| {},
    )
    .unwrap()
    .unwrap();
    assert_eq!((audit.size, audit.root), (new.size, new.root));
}

#[test]
fn the_demo_keys_are_the_ones_keys_readme_publishes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/keys");
    let readme = std::fs::read_to_string(format!("{dir}/README.md")).unwrap();
    let log =
        wasteledger::keyfile::read(std::path::Path::new(&format!("{dir}/demo-log.pem"))).unwrap();
    let verifier = NoteVerifier::new("kunshan.wasteledger/log", log.verifying_key()).unwrap();
    assert!(
        readme.contains(&verifier.to_string()),
        "keys/README.md does not show {verifier}"
    );
    let authority =
        wasteledger::keyfile::read(std::path::Path::new(&format!("{dir}/demo-authority.pem")))
            .unwrap();
    assert!(
        readme.contains(&pk(&authority)),
        "keys/README.md does not show the demo authority key"
    );
}

/// A time past year 9999 in a query is a 400 naming the parameter, not a crashed worker.
#[test]
fn a_query_time_past_year_9999_is_refused_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::support::Server::start(&dir.path().join("log"));
    let c = server.client();
    for path in [
        "/v1/anomalies?from=9999-12-31T23:59:59-23:59",
        "/v1/search?plate=%E8%8B%8FE12345&from=2026-01-01&to=9999-12-31T23:59:59-23:59",
    ] {
        let a = c.get(path).unwrap();
        assert!(
            a.status == 400 || a.status == 401,
            "{path}: {} {}",
            a.status,
            a.body
        );
        if a.status == 400 {
            assert!(a.body.contains("9999-12-31T23:59:59Z"), "{}", a.body);
        }
    }
    assert_eq!(c.get("/v1/log/checkpoint").unwrap().status, 200);
}
