//! The web app's JavaScript library (src/web/static/*.js) against the server's own code.
//!
//! A tiny HTTP server on 127.0.0.1 (a secure context, so WebCrypto works) serves the modules at
//! `/app/static/…` (the path the app serves them at), the QR vectors, a key file written by
//! `keyfile::write` and a QR image; headless Chromium opens `tests/it/js/test.html`, which runs
//! the modules and posts what they produced. Everything is then checked here with the Rust
//! implementation: event signatures with `verify_strict` over the bytes `ledger::canonical`
//! makes, request signatures with `http::auth::message`, codes with `qr::`. The page runs twice
//! (a reload in between) to show the keys and the outbox persist.

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wasteledger::http::auth;
use wasteledger::ledger::canonical::{parse_canonical, to_canonical};
use wasteledger::ledger::event::SignedEvent;
use wasteledger::ledger::note::NoteVerifier;
use wasteledger::ledger::time::Timestamp;
use wasteledger::qr::{self, TokenError};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "js" => "text/javascript; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        _ => "text/plain; charset=utf-8",
    }
}

/// Serve one request on `conn` (Connection: close), posting results to `results`.
fn handle(
    mut conn: TcpStream,
    data: &HashMap<String, Vec<u8>>,
    results: &mpsc::Sender<(String, Vec<u8>)>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let path = target.split('?').next().unwrap_or("").to_string();
    let found: Option<Vec<u8>> = if method == "POST" {
        path.strip_prefix("/result/").map(|stage| {
            let _ = results.send((stage.to_string(), body));
            b"ok".to_vec()
        })
    } else if path.contains("..") {
        None
    } else if let Some(p) = path.strip_prefix("/app/static/") {
        std::fs::read(root().join("src/web/static").join(p)).ok()
    } else if let Some(p) = path.strip_prefix("/test/") {
        std::fs::read(root().join("tests/it/js").join(p)).ok()
    } else if let Some(p) = path.strip_prefix("/fixtures/qr/") {
        std::fs::read(root().join("fixtures/qr").join(p)).ok()
    } else if let Some(p) = path.strip_prefix("/data/") {
        data.get(p).cloned()
    } else {
        None
    };
    let head = match &found {
        Some(b) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            content_type(&path),
            b.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    let _ = conn.write_all(head.as_bytes());
    if let Some(b) = found {
        let _ = conn.write_all(&b);
    }
    let _ = conn.flush();
}

/// Serve on 127.0.0.1 in background threads; results arrive on the receiver.
fn serve(data: HashMap<String, Vec<u8>>) -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (tx, rx) = mpsc::channel();
    let data = std::sync::Arc::new(data);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (data, tx) = (data.clone(), tx.clone());
            std::thread::spawn(move || handle(conn, &data, &tx));
        }
    });
    (base, rx)
}

/// The page's results, stage 1 then stage 2 (after the reload).
fn run_page(data: HashMap<String, Vec<u8>>, profile: &Path) -> (Value, Value) {
    let (base, rx) = serve(data);
    let mut chromium = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            &format!("--user-data-dir={}", profile.display()),
            &format!("{base}/test/test.html"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium must be installed (apt-get install -y chromium): these tests run the web app's JavaScript in it");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got: HashMap<String, Value> = HashMap::new();
    while got.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((stage, body)) => {
                let v: Value = serde_json::from_slice(&body).expect("the page posts JSON");
                got.insert(stage, v);
            }
            Err(_) => break,
        }
    }
    let _ = chromium.kill();
    let out = chromium.wait_with_output().unwrap();
    assert!(
        got.len() == 2,
        "the test page did not post both stages within 120 s (got {:?}); chromium said: {}",
        got.keys().collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    (got.remove("1").unwrap(), got.remove("2").unwrap())
}

fn token_verdict(payload: &str, log: &NoteVerifier) -> String {
    match qr::verify_payload(payload, log) {
        Ok(_) => "valid".into(),
        Err(TokenError::Malformed { field, .. }) => format!("malformed: {field}"),
        Err(TokenError::UnknownVersion { .. }) => "unknown_version".into(),
        Err(TokenError::OtherLog { .. }) => "other_log".into(),
        Err(TokenError::BadSignature { .. }) => "bad_signature".into(),
    }
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn read_json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

/// What every signed event of the page is: the same handover body, Chinese, quotes, controls.
fn expected_event() -> Value {
    json!({
        "type": "custody.handover",
        "manifest": "20263205000123",
        "from": "91320583MA1MXK7P33",
        "to": "91320583MA1HAUL01B",
        "at": "2026-11-23T08:30:12.345Z",
        "lines": [{"line": 0, "quantity": {"amount": 336000, "unit": "g"}}],
        "vehicle": "苏E7H261",
        "note": "司机签字 \"引号\" \\ 🚚 \u{1}",
    })
}

/// The wire form parses as the server parses it (canonical, byte for byte), carries the expected
/// event, and each signature holds under `verify_strict`. Returns the signers in base64.
fn check_wire(what: &str, wire: &str) -> Vec<String> {
    let ev = SignedEvent::parse(wire.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: the server refuses the JS wire form: {e}\n{wire}"));
    ev.verify_signatures()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        Value::Object(ev.event().clone()),
        expected_event(),
        "{what}: event"
    );
    assert_eq!(
        ev.event_bytes(),
        to_canonical(&expected_event()).as_slice(),
        "{what}: canonical bytes"
    );
    ev.signers().map(|k| k.to_string()).collect()
}

/// The Authorization header verifies as the server checks it, for this request only.
fn check_header(what: &str, header: &str, method: &str, path: &str, body: &[u8], key: &str) {
    let rest = header
        .strip_prefix("WL-Ed25519 ")
        .unwrap_or_else(|| panic!("{what}: scheme in {header}"));
    let parts: HashMap<&str, &str> = rest
        .split(',')
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    assert_eq!(parts["key"], key, "{what}: the header names the slot's key");
    let time = parts["time"];
    let t = Timestamp::parse(time).unwrap_or_else(|e| panic!("{what}: time {time}: {e}"));
    assert_eq!(
        t.to_string(),
        time,
        "{what}: time is written as the server writes it"
    );
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    let skew = now.unix_millis().abs_diff(t.unix_millis());
    assert!(skew < 120_000, "{what}: time {time} is {skew} ms off");
    let nonce = parts["nonce"];
    assert_eq!(B64.decode(nonce).unwrap().len(), 16, "{what}: nonce");
    let vk = VerifyingKey::from_bytes(&B64.decode(key).unwrap().try_into().unwrap()).unwrap();
    let sig = Signature::from_bytes(&B64.decode(parts["sig"]).unwrap().try_into().unwrap());
    vk.verify_strict(&auth::message(method, path, time, nonce, body), &sig)
        .unwrap_or_else(|_| panic!("{what}: the request signature does not verify: {header}"));
    assert!(
        vk.verify_strict(&auth::message(method, "/v1/other", time, nonce, body), &sig)
            .is_err(),
        "{what}: the signature must bind the path"
    );
}

#[test]
fn js_modules_agree_with_the_server_on_codes_canonical_json_keys_signatures_and_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let key = wasteledger::keyfile::generate();
    let key_path = dir.path().join("party.pem");
    wasteledger::keyfile::write(&key_path, &key).unwrap();
    let party_b64 = B64.encode(key.verifying_key().as_bytes());
    let vectors = read_json("fixtures/qr/vectors.json");
    let handovers = read_json("fixtures/qr/handover_vectors.json");
    let scanned = s(&vectors["valid"][1]["payload"]).to_string();
    let mut blank = Vec::new();
    image::GrayImage::from_pixel(240, 240, image::Luma([255]))
        .write_to(
            &mut std::io::Cursor::new(&mut blank),
            image::ImageFormat::Png,
        )
        .unwrap();
    let mut data = HashMap::new();
    data.insert("key.pem".into(), std::fs::read(&key_path).unwrap());
    data.insert("qr.png".into(), qr::png(&scanned, 6).unwrap());
    data.insert("blank.png".into(), blank);

    let (r, r2) = run_page(data, &dir.path().join("profile"));
    let pretty = serde_json::to_string_pretty(&r).unwrap();
    assert_eq!(r["errors"], json!([]), "the page hit errors:\n{pretty}");
    assert_eq!(r2["errors"], json!([]), "after the reload: {r2}");

    // --- manifest and container tokens: every vector, its fields and verdict -------------
    let log = NoteVerifier::parse(s(&vectors["log"]["verifier_key"])).unwrap();
    let valid = vectors["valid"].as_array().unwrap();
    assert_eq!(r["tokens"].as_array().unwrap().len(), valid.len());
    for (js, v) in r["tokens"].as_array().unwrap().iter().zip(valid) {
        let name = s(&v["name"]);
        assert_eq!(js["token"], v["token"], "{name}: payloadToken");
        assert_eq!(js["verdict"], "valid", "{name}");
        assert_eq!(js["check"], "valid", "{name}");
        assert_eq!(js["with_other_key"], "other_log", "{name}");
        assert_eq!(js["body"], v["body"], "{name}: every field of the body");
        assert_eq!(js["body_hex"], v["body_hex"], "{name}");
        assert_eq!(js["key_id_hex"], v["key_id_hex"], "{name}");
        assert_eq!(js["signature_hex"], v["signature_hex"], "{name}");
    }
    let invalid = vectors["invalid"].as_array().unwrap();
    assert_eq!(r["invalid_tokens"].as_array().unwrap().len(), invalid.len());
    for (js, v) in r["invalid_tokens"].as_array().unwrap().iter().zip(invalid) {
        assert_eq!(js["verdict"], v["verdict"], "{}", s(&v["name"]));
    }
    for js in r["extra_tokens"].as_array().unwrap() {
        let text = s(&js["text"]);
        assert_eq!(
            s(&js["verdict"]),
            token_verdict(text, &log),
            "{}: the JS verdict differs from the server's on {text}",
            s(&js["name"])
        );
    }
    let extra: HashMap<&str, &str> = r["extra_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (s(&e["name"]), s(&e["verdict"])))
        .collect();
    assert_eq!(extra["S + L"], "bad_signature");
    assert_eq!(extra["url with query"], "valid");
    assert_eq!(extra["padding"], "malformed: payload");
    assert_eq!(extra["not a code"], "malformed: payload");
    assert!(
        s(&r["verifier_key_wrong_id"]).contains("key id"),
        "{}",
        r["verifier_key_wrong_id"]
    );

    // --- hand-over codes: the canonical JSON rebuilt byte for byte ------------------------
    let hv = handovers["valid"].as_array().unwrap();
    assert_eq!(r["handovers"].as_array().unwrap().len(), hv.len());
    for (js, v) in r["handovers"].as_array().unwrap().iter().zip(hv) {
        let name = s(&v["name"]);
        assert_eq!(
            s(&js["canonical"]).as_bytes(),
            s(&v["event_canonical"]).as_bytes(),
            "{name}"
        );
        let rust = qr::decode_handover(s(&v["code"])).unwrap();
        assert_eq!(s(&js["canonical"]).as_bytes(), rust.event_bytes(), "{name}");
        assert_eq!(js["key"], v["public_key_b64"], "{name}");
        assert_eq!(js["verdict"], "valid", "{name}");
    }
    let hi = handovers["invalid"].as_array().unwrap();
    for (js, v) in r["invalid_handovers"].as_array().unwrap().iter().zip(hi) {
        assert_eq!(js["verdict"], v["verdict"], "{}", s(&v["name"]));
    }
    assert_eq!(r["invalid_handovers"].as_array().unwrap().len(), hi.len());
    // A small-order R: noble's own strict mode takes it (cofactored), the server does not, and
    // neither does the app.
    let so = &r["small_order_r"];
    assert_eq!(so["r_is_small_order"], true);
    assert_eq!(
        so["noble_strict_accepts"], true,
        "the forged signature is meant to pass noble's cofactored check: {so}"
    );
    let forged = qr::decode_handover(s(&so["code"])).unwrap();
    assert!(forged.verify_signatures().is_err(), "the server refuses it");
    assert_eq!(so["verdict"], "bad_signature", "the app must refuse it too");

    // --- canonical JSON -------------------------------------------------------------------
    for c in r["canon"].as_array().unwrap() {
        let text = s(c);
        let v = parse_canonical(text.as_bytes())
            .unwrap_or_else(|e| panic!("JS canonical JSON refused by the server: {e}\n{text}"));
        assert_eq!(to_canonical(&v), text.as_bytes());
    }
    assert_eq!(
        s(&r["canon"][0]),
        "{\"a\":[1,\"x\",{\"b\":true}],\"z\":null,\"\u{1f600}\":2,\"\u{fb01}\":1}",
        "keys sort by UTF-16 code units"
    );
    for k in ["canon_refused", "parse_refused"] {
        assert!(
            r[k].as_array().unwrap().iter().all(|b| *b == true),
            "{k}: {}",
            r[k]
        );
    }
    assert!(
        s(&r["canon_error"]).contains("lines[0].quantity.amount"),
        "{}",
        r["canon_error"]
    );

    // --- encodings --------------------------------------------------------------------------
    let bytes: Vec<u8> = (0..40u32).map(|i| ((i * 37 + 11) & 0xff) as u8).collect();
    let u = &r["util"];
    assert_eq!(u["hex"], hex::encode(&bytes));
    assert_eq!(u["b64"], B64.encode(&bytes));
    assert_eq!(u["b64url"], URL_SAFE_NO_PAD.encode(&bytes));
    assert_eq!(u["b32"], data_encoding::BASE32_NOPAD.encode(&bytes));
    assert_eq!(u["round_trips"], true);
    assert_eq!(u["sha256_abc"], hex::encode(Sha256::digest(b"abc")));
    assert!(
        u["refusals"].as_array().unwrap().iter().all(|b| *b == true),
        "strict decoders: {}",
        u["refusals"]
    );

    // --- keys: each engine signs events and requests the server takes ------------------------
    assert_eq!(
        r["webcrypto_available"], true,
        "Chromium has WebCrypto Ed25519"
    );
    assert_eq!(r["engine_when_forced"], "noble");
    assert_eq!(r["second_generate_refused"], true);
    let engines: HashMap<&str, &str> = r["signed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (s(&e["slot"]), s(&e["engine"])))
        .collect();
    assert_eq!(
        engines,
        HashMap::from([
            ("wc", "webcrypto"),
            ("nb", "noble"),
            ("party", "webcrypto"),
            ("party-noble", "noble"),
        ])
    );
    let signed = r["signed"].as_array().unwrap();
    for e in signed.iter().chain([&r2["signed_after_reload"]]) {
        let what = format!("slot {} ({})", s(&e["slot"]), s(&e["engine"]));
        let pk = s(&e["publicKey"]);
        assert_eq!(
            check_wire(&what, s(&e["wire"])),
            vec![pk.to_string()],
            "{what}"
        );
        check_header(
            &what,
            s(&e["header"]),
            "POST",
            s(&e["path"]),
            s(&e["body"]).as_bytes(),
            pk,
        );
        check_header(&what, s(&e["getHeader"]), "GET", "/v1/manifests", b"", pk);
        let h = Sha256::digest(B64.decode(pk).unwrap());
        let fp = hex::encode(&h[..8]);
        assert_eq!(
            s(&e["fingerprint"]),
            format!("{}-{}-{}-{}", &fp[..4], &fp[4..8], &fp[8..12], &fp[12..]),
            "{what}"
        );
    }
    let pk_of = |slot: &str| {
        signed
            .iter()
            .find(|e| e["slot"] == slot)
            .map(|e| s(&e["publicKey"]).to_string())
            .unwrap()
    };
    assert_eq!(pk_of("party"), party_b64, "the imported key file's key");
    assert_eq!(pk_of("party-noble"), party_b64);
    assert_ne!(pk_of("wc"), pk_of("nb"));
    assert!(
        s(&r["bad_key_file"]).contains("PKCS#8"),
        "{}",
        r["bad_key_file"]
    );
    assert_eq!(
        check_wire("countersigned", s(&r["countersigned"])),
        vec![pk_of("wc"), party_b64.clone()]
    );
    assert!(
        s(&r["countersign_damaged"]).contains("signatures[0]"),
        "{}",
        r["countersign_damaged"]
    );
    assert_eq!(r["slots"], json!(["nb", "party", "party-noble", "wc"]));
    assert_eq!(r["slots_after_forget"], json!(["nb", "party", "wc"]));

    // --- the outbox --------------------------------------------------------------------------
    let o = &r["outbox"];
    let ids = o["ids"].as_array().unwrap();
    assert_eq!(o["posted_canonical"], true);
    assert_eq!(
        o["first"],
        json!([
            {"id": ids[0], "outcome": "accepted", "index": 7},
            {"id": ids[1], "outcome": "queued", "index": null},
        ]),
        "a network error stops the flush and keeps the item"
    );
    assert_eq!(o["after_first"][0]["id"], ids[1]);
    assert_eq!(o["after_first"][0]["state"], "queued");
    assert!(s(&o["after_first"][0]["lastError"]).contains("network"));
    assert_eq!(o["after_first"][1]["id"], ids[2]);
    assert_eq!(o["second"][0]["outcome"], "refused");
    assert_eq!(o["second"][0]["problem"]["field"], "lines[0]");
    assert_eq!(
        o["second"][1]["outcome"], "accepted",
        "a replay is in the log"
    );
    assert_eq!(o["second"][1]["index"], 7);
    assert_eq!(o["after_second"].as_array().unwrap().len(), 1);
    assert_eq!(o["after_second"][0]["state"], "refused");
    assert_eq!(o["third"], json!([{"id": ids[3], "outcome": "queued"}]));
    let left = json!([
        {"title": "second", "state": "refused"},
        {"title": "fourth", "state": "queued"},
    ]);
    assert_eq!(o["left"], left);

    // --- a photo of a code -------------------------------------------------------------------
    assert_eq!(r["scan"]["text"], scanned, "scanImage of the PNG");
    assert_eq!(r["scan"]["blank"], Value::Null);

    // --- after the reload ---------------------------------------------------------------------
    let a = &r2["after_reload"];
    assert_eq!(a["slots"], r["slots_after_forget"]);
    assert_eq!(a["wc_engine"], "webcrypto");
    assert_eq!(a["wc_public"], r["wc_public"]);
    assert_eq!(s(&a["wc_public"]), pk_of("wc"));
    assert_eq!(a["outbox"], left, "the outbox survives a reload");
}
