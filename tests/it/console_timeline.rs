//! The console's verification in the browser: `wl-tlog.js` against the Rust code's own proofs,
//! checkpoints and cosignatures (accepted and altered), the manifest timeline with every event
//! checked in Chromium (and one served altered, shown red), and the audit page's memory of the
//! last checkpoint (a fork is shown red).

use crate::browser::{Browser, LaunchOptions, StaticServer};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use std::path::PathBuf;
use wasteledger::ledger::cosignature::{
    cosign, cosigners, verify_line, CosignatureError, WitnessKey,
};
use wasteledger::ledger::merkle::{self, Hash};
use wasteledger::ledger::note::{Checkpoint, NoteVerifier};

fn b64(h: &[u8]) -> String {
    B64.encode(h)
}

fn flipped(b: &[u8], at: usize) -> Vec<u8> {
    let mut v = b.to_vec();
    v[at] ^= 1;
    v
}

/// Each case: {kind, args…, expect: 'ok' | reason}. The page runs them all with wl-tlog.js and
/// answers, for each, 'ok' or the TlogError's reason.
const RUNNER: &str = r#"(async (cases) => {
  const t = await import('/wl-tlog.js');
  const u = await import('/wl-util.js');
  const d = (s) => u.b64decode(s);
  const out = [];
  for (const c of cases) {
    try {
      switch (c.kind) {
        case 'leaf': { const h = await t.leafHash(d(c.bytes)); if (u.b64encode(h) !== c.hash) throw new t.TlogError('leaf', 'leaf hash differs'); break; }
        case 'inclusion': await t.verifyInclusion(c.index, c.size, await t.leafHash(d(c.leaf)), c.proof, d(c.root)); break;
        case 'consistency': await t.verifyConsistency(c.from, c.to, c.proof, d(c.root1), d(c.root2)); break;
        case 'note': await t.openNote(c.note, c.key); break;
        case 'checkpoint': { const cp = await t.openCheckpoint(c.note, c.key); if (cp.size !== BigInt(c.size) || u.b64encode(cp.root) !== c.root) throw new t.TlogError('parsed', 'size or root differs'); break; }
        case 'cosigned': { const r = await t.verifyCosigned(c.note, c.key, c.witnesses, c.k); if (r.valid.length !== c.valid) throw new t.TlogError('count', `valid ${r.valid.length}`); break; }
        case 'cosline': { const [w] = await t.parseWitnesses([c.witness]); const time = await t.verifyCosignature(c.body, c.line, w); if (time !== c.time) throw new Error(`time ${time}`); break; }
        case 'cosigners': { const ws = await t.parseWitnesses(c.witnesses); const r = await t.cosigners(c.body, c.lines, ws); const got = r.witnesses.map((w) => `${w.state}:${w.code || ''}:${w.time ?? ''}`).join(' '); if (got !== c.states) throw new Error(`states ${got}`); break; }
        default: throw new Error('unknown case ' + c.kind);
      }
      out.push('ok');
    } catch (e) {
      out.push(e instanceof t.TlogError ? e.reason : 'threw: ' + e.message);
    }
  }
  return out;
})"#;

fn root_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn unhex_b64(h: &Value) -> String {
    b64(&hex::decode(h.as_str().unwrap()).unwrap())
}

/// Merkle cases from the Rust tree code: every inclusion and consistency proof of trees up to
/// `max` leaves, and for each a proof that must fail (altered leaf, another index's proof,
/// another root, a proof cut short).
fn merkle_cases(max: u64, cases: &mut Vec<Value>) {
    let data: Vec<Vec<u8>> = (0..max)
        .map(|i| format!("{{\"entry\":{i}}}").into_bytes())
        .collect();
    let leaves: Vec<Hash> = data.iter().map(|d| merkle::leaf_hash(d)).collect();
    let root = |n: u64| merkle::mth(&leaves[..n as usize]);
    for (i, d) in data.iter().enumerate() {
        cases.push(
            json!({"kind": "leaf", "bytes": b64(d), "hash": b64(&leaves[i]), "expect": "ok"}),
        );
        cases.push(json!({"kind": "leaf", "bytes": b64(&flipped(d, 3)), "hash": b64(&leaves[i]), "expect": "leaf"}));
    }
    for n in 1..=max {
        for i in 0..n {
            let proof: Vec<String> = merkle::inclusion_proof(&leaves[..], i, n)
                .unwrap()
                .iter()
                .map(|h| b64(h))
                .collect();
            let leaf = b64(&data[i as usize]);
            let r = b64(&root(n));
            cases.push(json!({"kind": "inclusion", "index": i, "size": n, "leaf": leaf, "proof": proof, "root": r, "expect": "ok"}));
            cases.push(json!({"kind": "inclusion", "index": i, "size": n, "leaf": b64(&flipped(&data[i as usize], 2)), "proof": proof, "root": r, "expect": "proof"}));
            cases.push(json!({"kind": "inclusion", "index": i, "size": n, "leaf": leaf, "proof": proof, "root": b64(&flipped(&root(n), 31)), "expect": "proof"}));
            if n > 1 {
                let other = (i + 1) % n;
                let p2: Vec<String> = merkle::inclusion_proof(&leaves[..], other, n)
                    .unwrap()
                    .iter()
                    .map(|h| b64(h))
                    .collect();
                cases.push(json!({"kind": "inclusion", "index": i, "size": n, "leaf": leaf, "proof": p2, "root": r, "expect": "proof"}));
                cases.push(json!({"kind": "inclusion", "index": i, "size": n, "leaf": leaf, "proof": proof[..proof.len() - 1], "root": r, "expect": "proof"}));
            }
        }
        for m in 1..=n {
            let proof: Vec<String> = merkle::consistency_proof(&leaves[..], m, n)
                .unwrap()
                .iter()
                .map(|h| b64(h))
                .collect();
            let (r1, r2) = (b64(&root(m)), b64(&root(n)));
            cases.push(json!({"kind": "consistency", "from": m, "to": n, "proof": proof, "root1": r1, "root2": r2, "expect": "ok"}));
            if m < n {
                cases.push(json!({"kind": "consistency", "from": m, "to": n, "proof": proof, "root1": b64(&flipped(&root(m), 0)), "root2": r2, "expect": "consistency"}));
                cases.push(json!({"kind": "consistency", "from": m, "to": n, "proof": proof, "root1": r1, "root2": b64(&flipped(&root(n), 0)), "expect": "consistency"}));
                cases.push(json!({"kind": "consistency", "from": n, "to": m, "proof": proof, "root1": r2, "root2": r1, "expect": "consistency"}));
            } else {
                cases.push(json!({"kind": "consistency", "from": m, "to": n, "proof": [], "root1": r1, "root2": b64(&flipped(&root(n), 0)), "expect": "consistency"}));
            }
        }
    }
}

/// The RFC 6962 reference tree (fixtures/vectors/rfc6962-merkle.json).
fn fixture_cases(cases: &mut Vec<Value>) {
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(root_dir().join("fixtures/vectors/rfc6962-merkle.json")).unwrap(),
    )
    .unwrap();
    let root_of = |n: u64| {
        v["roots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["size"] == n)
            .map(|r| unhex_b64(&r["root"]))
            .unwrap()
    };
    let hexes =
        |p: &Value| -> Vec<String> { p.as_array().unwrap().iter().map(unhex_b64).collect() };
    for c in v["inclusion"].as_array().unwrap() {
        let (i, n) = (c["index"].as_u64().unwrap(), c["size"].as_u64().unwrap());
        cases.push(json!({"kind": "inclusion", "index": i, "size": n,
            "leaf": unhex_b64(&v["leaves"][i as usize]), "proof": hexes(&c["proof"]), "root": root_of(n), "expect": "ok"}));
    }
    for c in v["consistency"].as_array().unwrap() {
        let (m, n) = (c["from"].as_u64().unwrap(), c["to"].as_u64().unwrap());
        cases.push(
            json!({"kind": "consistency", "from": m, "to": n, "proof": hexes(&c["proof"]),
            "root1": root_of(m), "root2": root_of(n), "expect": "ok"}),
        );
    }
    let note: Value = serde_json::from_str(
        &std::fs::read_to_string(root_dir().join("fixtures/vectors/signed-note.json")).unwrap(),
    )
    .unwrap();
    let (key, text) = (&note["verifier_key"], note["note"].as_str().unwrap());
    cases.push(json!({"kind": "note", "note": text, "key": key, "expect": "ok"}));
    cases.push(json!({"kind": "note", "note": text.replacen("cryptography", "cryptographY", 1), "key": key, "expect": "signature"}));
}

/// Checkpoints signed by the Rust code, and cosignatures by three witnesses.
fn note_cases(cases: &mut Vec<Value>) {
    let log = SigningKey::from_bytes(&[41; 32]);
    let other = SigningKey::from_bytes(&[42; 32]);
    let name = "test.wasteledger/log";
    let vkey = NoteVerifier::new(name, log.verifying_key())
        .unwrap()
        .to_string();
    let cp = Checkpoint {
        origin: name.into(),
        size: 1234,
        root: [7; 32],
    };
    let note = cp.sign(&log);
    let (size, root) = (1234, b64(&[7; 32]));
    cases.push(json!({"kind": "checkpoint", "note": note, "key": vkey, "size": size, "root": root, "expect": "ok"}));
    // One byte of the signature changed.
    let sig_at = note.rfind(' ').unwrap() + 20;
    let mut bad = note.clone().into_bytes();
    bad[sig_at] = if bad[sig_at] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    cases.push(json!({"kind": "checkpoint", "note": bad, "key": vkey, "size": size, "root": root, "expect": "signature"}));
    // The size changed after signing.
    cases.push(json!({"kind": "checkpoint", "note": note.replacen("1234", "1235", 1), "key": vkey, "size": size, "root": root, "expect": "signature"}));
    // The same name signed by another key: not this log's checkpoint.
    let forged = cp.sign(&other);
    cases.push(json!({"kind": "checkpoint", "note": forged, "key": vkey, "size": size, "root": root, "expect": "other_key"}));
    // Another log's key pinned.
    let other_vkey = NoteVerifier::new(name, other.verifying_key())
        .unwrap()
        .to_string();
    cases.push(json!({"kind": "checkpoint", "note": note, "key": other_vkey, "size": size, "root": root, "expect": "other_key"}));

    let ws: Vec<(SigningKey, WitnessKey)> = (1..=3u8)
        .map(|i| {
            let k = SigningKey::from_bytes(&[50 + i; 32]);
            let w = WitnessKey::new(&format!("w{i}"), k.verifying_key()).unwrap();
            (k, w)
        })
        .collect();
    let wtexts: Vec<String> = ws.iter().map(|(_, w)| w.to_string()).collect();
    let body = cp.body();
    let line = |i: usize| cosign(&body, &ws[i].1.name, &ws[i].0, 1_795_000_000 + i as u64);
    let two = format!("{note}{}{}", line(0), line(1));
    cases.push(json!({"kind": "cosigned", "note": two, "key": vkey, "witnesses": wtexts, "k": 2, "valid": 2, "expect": "ok"}));
    cases.push(json!({"kind": "cosigned", "note": two, "key": vkey, "witnesses": wtexts, "k": 3, "valid": 2, "expect": "quorum"}));
    // A cosignature over another time (its signature no longer matches).
    let l1 = line(1);
    let blob = B64
        .decode(l1.trim_end().rsplit(' ').next().unwrap())
        .unwrap();
    let mut blob2 = blob.clone();
    blob2[11] ^= 1;
    let altered = format!("{note}{}\u{2014} w2 {}\n", line(0), B64.encode(&blob2));
    cases.push(json!({"kind": "cosigned", "note": altered, "key": vkey, "witnesses": wtexts, "k": 1, "valid": 1, "expect": "cosignature"}));
    // A witness's cosignature on another checkpoint body does not count.
    let other_body = Checkpoint {
        origin: name.into(),
        size: 1235,
        root: [7; 32],
    }
    .body();
    let elsewhere = format!(
        "{note}{}",
        cosign(&other_body, "w1", &ws[0].0, 1_795_000_000)
    );
    cases.push(json!({"kind": "cosigned", "note": elsewhere, "key": vkey, "witnesses": wtexts, "k": 1, "valid": 0, "expect": "cosignature"}));
    cosignature_cases(&body, &ws, cases);
}

/// One cosignature line at a time, each expectation the Rust `verify_line`'s verdict on it: a
/// good line, every byte of it flipped in turn (key id, time, signature), a line of another
/// key id under the witness's name, a line over another checkpoint; and per witness, what
/// `cosigners` makes of a note holding them.
fn cosignature_cases(body: &str, ws: &[(SigningKey, WitnessKey)], cases: &mut Vec<Value>) {
    let (key, w) = &ws[0];
    let time = 1_795_000_000u64;
    let good = cosign(body, &w.name, key, time);
    let blob_of = |line: &str| {
        B64.decode(line.trim_end().rsplit(' ').next().unwrap())
            .unwrap()
    };
    let line_of = |name: &str, blob: &[u8]| format!("\u{2014} {name} {}\n", B64.encode(blob));
    let rust = |line: &str| match verify_line(body, line, w) {
        Ok(t) => {
            assert_eq!(t, time);
            "ok"
        }
        Err(CosignatureError::OtherSigner(_)) => "other_signer",
        Err(_) => "cosignature",
    };
    let mut push = |line: String| {
        let expect = rust(&line);
        cases.push(json!({"kind": "cosline", "body": body, "line": line, "witness": w.to_string(), "time": time, "expect": expect}));
    };
    push(good.clone());
    let blob = blob_of(&good);
    for at in 0..blob.len() {
        push(line_of(&w.name, &flipped(&blob, at)));
    }
    let other_body = body.replacen("1234", "1233", 1);
    push(cosign(&other_body, &w.name, key, time));
    // Another witness's line under this one's name: its key id is not this witness's.
    let stranger = cosign(body, &w.name, &ws[1].0, time);
    push(stranger.clone());
    let expected = ["ok", "other_signer", "cosignature"];
    let got: Vec<&str> = cases
        .iter()
        .filter(|c| c["kind"] == "cosline")
        .map(|c| c["expect"].as_str().unwrap())
        .collect();
    for e in expected {
        assert!(got.contains(&e), "the Rust code answers {e} for some line");
    }

    // Per witness: w1 good, w2 over another checkpoint, w3 only under another key id.
    let bad = cosign(&other_body, &ws[1].1.name, &ws[1].0, time + 1);
    let lines = [
        good.trim_end().to_string(),
        bad.trim_end().to_string(),
        stranger
            .replace(&w.name, &ws[2].1.name)
            .trim_end()
            .to_string(),
    ];
    let texts: Vec<String> = ws.iter().map(|(_, w)| w.to_string()).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (valid, invalid) = cosigners(
        body,
        &refs,
        &ws.iter().map(|(_, w)| w.clone()).collect::<Vec<_>>(),
    );
    assert_eq!(
        (valid, invalid),
        (vec![(0, time)], vec![1]),
        "the Rust code's verdict"
    );
    cases.push(json!({"kind": "cosigners", "body": body, "lines": lines, "witnesses": texts,
                      "states": format!("ok::{time} bad:signature: none:other_key_id:"), "expect": "ok"}));

    // Published cosignatures of four real witnesses on a CT log's checkpoint (the tests of
    // src/ledger/cosignature.rs): our key ids are theirs and every signature verifies.
    let real_body = "arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n";
    let real = [
        ("transparency.dev/DEV:witness-little-garden+d8042a87+BCtusOxINQNUTN5Oj8HObRkh2yHf/MwYaGX4CPdiVEPM",
         "\u{2014} transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ=="),
        ("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
         "\u{2014} remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw=="),
    ];
    for (k, line) in real {
        let w = WitnessKey::parse(k).unwrap();
        assert_eq!(verify_line(real_body, line, &w), Ok(0x6a12_2120));
        cases.push(json!({"kind": "cosline", "body": real_body, "line": line, "witness": k, "time": 0x6a12_2120u64, "expect": "ok"}));
        cases.push(json!({"kind": "cosline", "body": real_body.replacen("1432088532", "1432088533", 1), "line": line, "witness": k, "time": 0x6a12_2120u64, "expect": "cosignature"}));
    }
}

#[test]
fn the_browser_verifier_agrees_with_the_rust_code_on_proofs_checkpoints_and_cosignatures() {
    let mut cases = Vec::new();
    merkle_cases(11, &mut cases);
    fixture_cases(&mut cases);
    note_cases(&mut cases);
    let server = StaticServer::dir(&root_dir().join("src/web/static"));
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.navigate(&format!("{}/wl-util.js", server.url));
    let got = page.eval(&format!(
        "{RUNNER}({})",
        serde_json::to_string(&cases).unwrap()
    ));
    let got = got.as_array().expect("one answer a case");
    assert_eq!(got.len(), cases.len());
    let mut wrong = Vec::new();
    for (c, g) in cases.iter().zip(got) {
        if c["expect"] != *g {
            wrong.push(format!("{c}\n  → {g}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong[..wrong.len().min(5)].join("\n")
    );
    let rejected = cases.iter().filter(|c| c["expect"] != "ok").count();
    assert!(rejected > 100, "altered cases: {rejected}");
}

// ---------------------------------------------------------------------------------------------
// The timeline and the audit page, in Chromium against the demo week
// ---------------------------------------------------------------------------------------------

use crate::app_kit::{sign_in, text_of};
use crate::app_pages::look;
use crate::browser::WAIT;
use crate::demo::{crate_dir, published_verifier, Demo};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use wasteledger::client::LogClient;

/// The demo's relay-and-partial-rejection load: some accepted, the rest sent back, carried by
/// two trucks. Its number and the full read.
fn relay_and_partial_rejection(c: &LogClient, bureau: &SigningKey) -> (String, Value) {
    let list = c.get_signed("/v1/manifests?limit=1000", bureau).unwrap();
    assert_eq!(list.status, 200, "{}", list.body);
    for m in list.json().unwrap()["manifests"].as_array().unwrap() {
        let n = m["number"].as_str().unwrap();
        let v = c
            .get_signed(&format!("/v1/manifests/{n}"), bureau)
            .unwrap()
            .json()
            .unwrap();
        let rejected = crate::app_kit::amounts(&v["rejected"]);
        if rejected.iter().any(|&r| r > 0) && v["vehicles"].as_array().is_some_and(|a| a.len() >= 2)
        {
            return (n.to_string(), v);
        }
    }
    panic!("the demo week has a relay-and-partial-rejection load");
}

/// A proxy in front of `target` that answers every request as the server does, except that
/// in the answer to `GET {path}` one digit of the first quantity is changed: a server that
/// serves one altered entry byte. One request a connection (it asks the server to close).
struct AlteringProxy {
    url: String,
}

fn read_request(c: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = c.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            while buf.len() < end + 4 + len {
                let n = c.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf);
        }
    }
}

/// Change one digit of the first `"amount":` in an HTTP answer's body.
fn alter_amount(answer: &mut [u8]) -> bool {
    let Some(body) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let key = b"\"amount\":";
    let Some(at) = answer[body..].windows(key.len()).position(|w| w == key) else {
        return false;
    };
    let d = body + at + key.len();
    answer[d] = if answer[d] == b'9' {
        b'8'
    } else {
        answer[d] + 1
    };
    true
}

impl AlteringProxy {
    fn start(target: &str, path: String) -> AlteringProxy {
        let target = target.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (target, path) = (target.clone(), path.clone());
                std::thread::spawn(move || {
                    let mut conn = conn;
                    let Some(req) = read_request(&mut conn) else {
                        return;
                    };
                    let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                    let head = String::from_utf8_lossy(&req[..end]).to_string();
                    let target_line = head.lines().next().unwrap_or("").to_string();
                    let mut out: Vec<String> = head
                        .lines()
                        .filter(|l| !l.to_lowercase().starts_with("connection:"))
                        .map(str::to_string)
                        .collect();
                    out.push("Connection: close".into());
                    let mut fwd = (out.join("\r\n") + "\r\n\r\n").into_bytes();
                    fwd.extend_from_slice(&req[end + 4..]);
                    let Ok(mut server) = TcpStream::connect(&target) else {
                        return;
                    };
                    let _ = server.write_all(&fwd);
                    let mut answer = Vec::new();
                    let _ = server.read_to_end(&mut answer);
                    if target_line.starts_with(&format!("GET {path} ")) {
                        assert!(alter_amount(&mut answer), "the entry holds a quantity");
                    }
                    let _ = conn.write_all(&answer);
                });
            }
        });
        AlteringProxy { url }
    }
}

/// Each row's check: (entry index, state, reasons, text).
fn checks(page: &crate::browser::Page) -> Vec<(u64, String, String, String)> {
    let v = page.eval(
        "[...document.querySelectorAll('.tl-event')].map((r) => { const c = r.querySelector('.tl-check'); return [Number(r.dataset.index), c.dataset.state, c.dataset.reasons || '', c.textContent]; })",
    );
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_u64().unwrap(),
                r[1].as_str().unwrap().to_string(),
                r[2].as_str().unwrap().to_string(),
                r[3].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_event_of_the_relay_and_partial_rejection_is_verified_in_the_browser_and_an_altered_entry_is_red(
) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = Demo::start(&data);
    let bureau = wasteledger::keyfile::read(&data.join("keys/bureau.pem")).unwrap();
    let c = LogClient::new(&demo.url);
    let (number, full) = relay_and_partial_rejection(&c, &bureau);
    let steps: Vec<u64> = full["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["index"].as_u64().unwrap())
        .collect();
    assert!(steps.len() >= 5, "{full}");

    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.set_viewport(1440, 900, false);
    sign_in(&page, &demo.url, &bureau);
    page.navigate(&format!("{}/app/m/{number}/timeline", demo.url));
    page.wait_for("document.body.dataset.checked === 'yes'", WAIT);
    let rows = checks(&page);
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        steps,
        "every event, in the log's order"
    );
    for (i, state, reasons, text) in &rows {
        assert_eq!(state, "ok", "entry {i}: {reasons} {text}");
        assert!(text.contains("包含证明"), "{text}");
    }
    assert_eq!(
        page.eval("document.getElementById('tl-checkpoint').dataset.state"),
        "ok"
    );
    // The page names the return and the gap the rejection left, and two trucks.
    let body = page.text();
    assert!(body.contains("拒收部分退回为"), "{body}");
    assert!(body.contains("差额"), "{body}");
    for v in full["vehicles"].as_array().unwrap() {
        assert!(body.contains(v.as_str().unwrap()), "{v} on the page");
    }
    look(&page, "console-timeline-verified");

    // One entry served altered (a digit of its quantity): that row red, naming why; the others
    // still green. The log itself still holds the original: its own proof leads to its root.
    let handover = full["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "custody.handover")
        .unwrap()["index"]
        .as_u64()
        .unwrap();
    let path = format!("/v1/log/entries/{handover}");
    let proxy = AlteringProxy::start(&demo.url, path.clone());
    let (status, held) = c.get_bytes_signed(&path, &bureau).unwrap();
    assert_eq!(status, 200);
    let tampered_page = browser.new_page();
    tampered_page.set_viewport(1440, 900, false);
    sign_in(&tampered_page, &proxy.url, &bureau);
    tampered_page.navigate(&format!("{}/app/m/{number}/timeline", proxy.url));
    tampered_page.wait_for("document.body.dataset.checked === 'yes'", WAIT);
    for (i, state, reasons, text) in checks(&tampered_page) {
        if i == handover {
            assert_eq!(state, "bad", "the altered entry {i}: {text}");
            assert!(
                reasons.contains("proof") && reasons.contains("signature"),
                "{reasons}"
            );
            assert!(
                text.contains("包含证明不能从该条目的哈希推到已签名检查点的根")
                    && text.contains("事件签名不成立"),
                "{text}"
            );
        } else {
            assert_eq!(state, "ok", "entry {i}: {reasons} {text}");
        }
    }
    let proof: Value = serde_json::from_str(
        &c.get_ok(&format!("/v1/log/proof/inclusion?index={handover}"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        proof["leaf_hash"].as_str().unwrap(),
        b64(&merkle::leaf_hash(&held)),
        "the server holds the original entry"
    );
    tampered_page.eval(&format!(
        "document.querySelector('.tl-event[data-index=\"{handover}\"]').scrollIntoView()"
    ));
    look(&tampered_page, "console-timeline-altered");
}

#[test]
fn the_audit_page_remembers_the_checkpoint_and_flags_a_fork_and_a_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = Demo::start(&data);
    let bureau = wasteledger::keyfile::read(&data.join("keys/bureau.pem")).unwrap();
    let c = LogClient::new(&demo.url);
    let verifier = NoteVerifier::parse(&published_verifier()).unwrap();
    let (now, _) = c.checkpoint(&verifier).unwrap();

    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.set_viewport(1440, 900, false);
    sign_in(&page, &demo.url, &bureau);
    // The inspector's home links the audit page.
    page.click("a.tile[href='/app/audit']");
    page.wait_for("document.body.dataset.checked === 'yes'", WAIT);
    let st = |id: &str| {
        page.eval(&format!("document.getElementById('{id}').dataset.state"))
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(st("audit-checkpoint"), "ok");
    assert_eq!(st("audit-consistency"), "none", "first visit: kept");
    assert!(text_of(&page, "#audit-now").contains(&now.size.to_string()));
    let kept = page.eval("localStorage.getItem('wl_audit_checkpoint')");
    assert_eq!(
        kept.as_str().unwrap(),
        c.get_ok("/v1/log/checkpoint").unwrap()
    );
    page.reload();
    page.wait_for("document.body.dataset.checked === 'yes'", WAIT);
    assert_eq!(st("audit-consistency"), "ok");
    look(&page, "console-audit-consistent");

    // A checkpoint of the same log key with another history (same size, another root): the log
    // the browser sees now is not consistent with it. Shown red with both; the kept one stays.
    let log_key = wasteledger::keyfile::read(&crate_dir().join("keys/demo-log.pem")).unwrap();
    let mut other_root = now.root;
    other_root[0] ^= 1;
    let fork = Checkpoint {
        origin: now.origin.clone(),
        size: now.size - 3,
        root: other_root,
    }
    .sign(&log_key);
    let inject = |note: &str| {
        page.eval(&format!(
            "localStorage.setItem('wl_audit_checkpoint', {})",
            serde_json::to_string(note).unwrap()
        ));
        page.reload();
        page.wait_for("document.body.dataset.checked === 'yes'", WAIT);
    };
    inject(&fork);
    assert_eq!(st("audit-consistency"), "bad");
    let text = text_of(&page, "#audit-consistency");
    assert!(text.contains("分叉"), "{text}");
    assert!(text_of(&page, "#audit-before").contains(&B64.encode(other_root)));
    assert!(text_of(&page, "#audit-after").contains(&B64.encode(now.root)));
    assert_eq!(
        page.eval("localStorage.getItem('wl_audit_checkpoint')"),
        Value::from(fork.clone()),
        "the alarm stays until someone looks"
    );
    look(&page, "console-audit-fork");

    // One seen larger than the log is now: a roll-back.
    let ahead = Checkpoint {
        origin: now.origin.clone(),
        size: now.size + 5,
        root: [9; 32],
    }
    .sign(&log_key);
    inject(&ahead);
    assert_eq!(st("audit-consistency"), "bad");
    assert!(text_of(&page, "#audit-consistency").contains("回滚"));
    // A checkpoint by another key is not taken as this log's.
    inject(
        &Checkpoint {
            origin: now.origin.clone(),
            size: 1,
            root: [1; 32],
        }
        .sign(&SigningKey::from_bytes(&[77; 32])),
    );
    assert_eq!(st("audit-consistency"), "bad");
    // The server's log did not move meanwhile: what the page verified is what it holds.
    let (after, _) = c.checkpoint(&verifier).unwrap();
    assert_eq!(after, now);
    assert_eq!(st("audit-witnesses"), "none", "the demo names no witnesses");
}
