//! Witnesses: `wasteledger witness` following real logs, the tlog-witness HTTP server, and the
//! log taking and serving cosignatures; `audit --witness --quorum`.

use crate::support::{key, key_added, run, signed, Server, BIN};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wasteledger::client::LogClient;
use wasteledger::ledger::cosignature::{cosign, open_cosigned, verify_line, WitnessKey};
use wasteledger::ledger::merkle::Hash;
use wasteledger::ledger::note::{Checkpoint, NoteVerifier};
use wasteledger::witness::{AddCheckpoint, WitnessState};

const ORIGIN: &str = "kunshan.wasteledger/log";

/// The log key every log of these tests signs with (so a second log can pose as the first).
fn log_key() -> ed25519_dalek::SigningKey {
    key(50)
}

fn log_verifier() -> NoteVerifier {
    NoteVerifier::new(ORIGIN, log_key().verifying_key()).unwrap()
}

/// Witness `n`: key file `DIR/w{n}.pem` (its name is `w{n}`, the file's stem) and its vkey.
fn witness(dir: &Path, n: u8) -> (PathBuf, WitnessKey) {
    let path = dir.join(format!("w{n}.pem"));
    let k = key(60 + n);
    if !path.exists() {
        wasteledger::keyfile::write(&path, &k).unwrap();
    }
    (
        path,
        WitnessKey::new(&format!("w{n}"), k.verifying_key()).unwrap(),
    )
}

/// A bare log signed with [`log_key`], trusting `witnesses`.
fn start_log(dir: &Path, name: &str, witnesses: &[&WitnessKey]) -> Server {
    let lk = dir.join("log.pem");
    if !lk.exists() {
        wasteledger::keyfile::write(&lk, &log_key()).unwrap();
    }
    let mut args: Vec<String> = vec![
        "--bare".into(),
        "--log-key".into(),
        lk.display().to_string(),
    ];
    for w in witnesses {
        args.push("--witness".into());
        args.push(w.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with(&dir.join(name), &args)
}

/// Append `n` notes (tagged) to a bare log, registering the signer first if `register`.
fn grow(c: &LogClient, tag: u64, n: u64, register: bool) {
    let signer = key(1);
    if register {
        let a = c
            .post("/v1/events", &key_added(&signer, "tester").to_bytes())
            .unwrap();
        assert_eq!(a.status, 201, "{}", a.body);
    }
    for i in 0..n {
        let ev = signed(json!({"type": "note", "n": tag * 1000 + i}), &[&signer]);
        let a = c.post("/v1/events", &ev.to_bytes()).unwrap();
        assert_eq!(a.status, 201, "{}", a.body);
    }
}

fn checkpoint(c: &LogClient) -> (Checkpoint, String) {
    c.checkpoint(&log_verifier()).unwrap()
}

fn witness_once(url: &str, wkey: &Path, state: &Path) -> (bool, String) {
    run(&[
        "witness",
        "--log",
        url,
        "--key",
        wkey.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--log-key",
        &log_verifier().to_string(),
        "--once",
    ])
}

fn state(dir: &Path) -> WitnessState {
    serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap()
}

fn cosigned(c: &LogClient, quorum: usize) -> (u16, String) {
    let a = c
        .get(&format!("/v1/log/checkpoint/cosigned?quorum={quorum}"))
        .unwrap();
    (a.status, a.body)
}

#[test]
fn a_witness_follows_a_growing_log_and_the_log_serves_its_cosigned_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (w1_file, w1) = witness(dir.path(), 1);
    let (_, w2) = witness(dir.path(), 2);
    let log = start_log(dir.path(), "a", &[&w1, &w2]);
    let c = log.client();
    assert_eq!(
        c.get_ok("/v1/log/witnesses").unwrap(),
        format!("{w1}\n{w2}\n")
    );
    // Nothing cosigned yet: a clear 404.
    let (status, body) = cosigned(&c, 1);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no-cosigned-checkpoint"), "{body}");

    let st = dir.path().join("w1-state");
    grow(&c, 1, 2, true);
    for (round, more) in [(0, 0), (1, 3), (2, 1)] {
        if more > 0 {
            grow(&c, 10 + round, more, false);
        }
        let (cp, _) = checkpoint(&c);
        let (ok, out) = witness_once(&log.url, &w1_file, &st);
        assert!(ok, "{out}");
        assert!(
            out.contains(&format!("cosigned {ORIGIN} size {}", cp.size)),
            "{out}"
        );
        assert!(out.contains("\"kept\":[\"w1\"]"), "{out}");
        // The log serves the newest cosigned checkpoint; it verifies with k = 1.
        let (status, note) = cosigned(&c, 1);
        assert_eq!(status, 200, "{note}");
        let got = open_cosigned(&note, &log_verifier(), &[w1.clone(), w2.clone()], 1).unwrap();
        assert_eq!(got.checkpoint, cp);
        assert_eq!(got.cosigners.len(), 1);
        assert_eq!(got.cosigners[0].0, w1);
        // k = 2 with one witness: fails, naming the missing one.
        let e = open_cosigned(&note, &log_verifier(), &[w1.clone(), w2.clone()], 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&w2.to_string()) && !e.contains(&w1.to_string()),
            "{e}"
        );
        assert_eq!(state(&st).size_of(ORIGIN), cp.size);
    }
    // Nothing new: nothing cosigned.
    let (ok, out) = witness_once(&log.url, &w1_file, &st);
    assert!(ok && out.contains("unchanged"), "{out}");
    // The server trusts two witnesses; only one cosigned: quorum 2 is a 404.
    assert_eq!(cosigned(&c, 2).0, 404);
    assert_eq!(cosigned(&c, 3).0, 400);

    // The auditor demands 1 of {w1, w2}: passes; 2 of 2: fails naming w2.
    let url = log.url.clone();
    let lv = log_verifier().to_string();
    let (w1s, w2s) = (w1.to_string(), w2.to_string());
    let audit = |q: &str| {
        run(&[
            "audit",
            "--server",
            &url,
            "--log-key",
            &lv,
            "--witness",
            &w1s,
            "--witness",
            &w2s,
            "--quorum",
            q,
        ])
    };
    let (ok, out) = audit("1");
    assert!(ok, "{out}");
    assert!(out.contains("cosigned by 1 of the 2 witnesses"), "{out}");
    let (ok, out) = audit("2");
    assert!(!ok, "{out}");
    assert!(out.contains("need 2 of 2") && out.contains(&w2s), "{out}");
    // The log grew after the last cosignature: the audited checkpoint is newer, and the
    // audit checks the two are consistent.
    grow(&c, 20, 2, false);
    let (ok, out) = audit("1");
    assert!(
        ok && out.contains("consistent with the audited checkpoint"),
        "{out}"
    );
}

#[test]
fn a_witness_refuses_a_fork_a_roll_back_and_a_failing_proof_and_keeps_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let (w1_file, w1) = witness(dir.path(), 1);
    let s0 = dir.path().join("s0");
    let cosigned_a = {
        let a = start_log(dir.path(), "a", &[&w1]);
        grow(&a.client(), 1, 3, true); // size 5
        let (ok, out) = witness_once(&a.url, &w1_file, &s0);
        assert!(ok, "{out}");
        let (cp, _) = checkpoint(&a.client());
        assert_eq!(cp.size, 5);
        cp
    };
    let good = state(&s0);
    let copy = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(s0.join("state.json"), d.join("state.json")).unwrap();
        d
    };
    // Log B: same origin, same log key, other entries.
    let b = start_log(dir.path(), "b", &[&w1]);
    let bc = b.client();
    grow(&bc, 2, 1, true); // size 3: smaller than what w1 cosigned
    let cases: [(&str, u64, &str); 3] = [
        ("roll-back", 0, "roll-back"),
        ("fork", 2, "fork"),
        ("larger", 2, "consistency proof from size 5 to 7"),
    ];
    for (round, (name, more, want)) in cases.into_iter().enumerate() {
        if more > 0 {
            grow(&bc, 3 + round as u64, more, false);
        }
        let d = copy(name);
        let (ok, out) = witness_once(&b.url, &w1_file, &d);
        assert!(!ok, "{name}: {out}");
        assert!(
            out.contains("REFUSED") && out.contains(want),
            "{name}: {out}"
        );
        let after = state(&d);
        // The last cosigned checkpoint is A's, unchanged; the log is halted with evidence.
        assert_eq!(after.logs, good.logs, "{name}");
        assert_eq!(after.logs[ORIGIN].root, B64.encode(cosigned_a.root));
        let halt = &after.halted[ORIGIN];
        assert!(halt.reason.contains(want), "{name}: {}", halt.reason);
        assert!(halt.note.starts_with(ORIGIN), "{name}");
        // Never again until an operator intervenes, even once B looks fine.
        let (ok, out) = witness_once(&b.url, &w1_file, &d);
        assert!(!ok && out.contains("halted"), "{name}: {out}");
        // B never got a cosignature from w1.
        assert_eq!(cosigned(&bc, 1).0, 404, "{name}");
    }
    assert_eq!(checkpoint(&bc).0.size, 7);
}

/// A `wasteledger witness --listen` process; killed when dropped.
struct WitnessProc(Child, String);

impl Drop for WitnessProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// With `log`, the witness also follows it (first look at once, then hourly).
fn start_witness(log: Option<&str>, wkey: &Path, state: &Path) -> WitnessProc {
    let follow: Vec<&str> = match log {
        Some(l) => vec!["--log", l],
        None => vec![],
    };
    let mut child = Command::new(BIN)
        .arg("witness")
        .args(follow)
        .arg("--key")
        .arg(wkey)
        .arg("--state")
        .arg(state)
        .args(["--log-key", &log_verifier().to_string()])
        .args(["--listen", "127.0.0.1:0", "--interval", "3600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    WitnessProc(child, url)
}

fn post_raw(url: &str, body: &[u8]) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.post(url).send(body).unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        r.status().as_u16(),
        ct,
        r.body_mut().read_to_string().unwrap(),
    )
}

fn proof(c: &LogClient, from: u64, to: u64) -> Vec<Hash> {
    let v: Value = serde_json::from_str(
        &c.get_ok(&format!("/v1/log/proof/consistency?from={from}&to={to}"))
            .unwrap(),
    )
    .unwrap();
    v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect()
}

#[test]
fn add_checkpoint_over_http_answers_409_with_the_size_and_422_on_a_bad_proof() {
    let dir = tempfile::tempdir().unwrap();
    let (w1_file, w1) = witness(dir.path(), 1);
    let log = start_log(dir.path(), "a", &[&w1]);
    let c = log.client();
    grow(&c, 1, 1, true); // size 3
    let st = dir.path().join("w1-state");
    let w = start_witness(Some(&log.url), &w1_file, &st);
    let add = format!("{}/add-checkpoint", w.1);
    // The follower's first look cosigns size 3 and hands it to the log.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cosigned(&c, 1).0 != 200 {
        assert!(Instant::now() < deadline, "the witness never cosigned");
        std::thread::sleep(Duration::from_millis(100));
    }
    grow(&c, 2, 2, false); // size 5
    let (cp, note) = checkpoint(&c);
    assert_eq!(cp.size, 5);
    let req = |old: u64, proof: Vec<Hash>| {
        AddCheckpoint {
            old,
            proof,
            note: note.clone(),
        }
        .to_body()
    };
    // Stale old size: 409, the witness's size as text/x.tlog.size.
    let (status, ct, body) = post_raw(&add, req(0, vec![]).as_bytes());
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "3\n")
    );
    // Right old size, a proof of the right length that does not verify: 422.
    let mut bad = proof(&c, 3, 5);
    bad[0][0] ^= 1;
    let (status, _, body) = post_raw(&add, req(3, bad).as_bytes());
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("does not verify"), "{body}");
    // Malformed: 400 naming the part.
    let (status, _, body) = post_raw(&add, b"old x\n\n");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("old size"), "{body}");
    // Not signed by the log: 403.
    let forged = Checkpoint {
        size: 5,
        ..cp.clone()
    }
    .sign(&key(99));
    let (status, _, body) = post_raw(
        &add,
        AddCheckpoint {
            old: 3,
            proof: proof(&c, 3, 5),
            note: forged,
        }
        .to_body()
        .as_bytes(),
    );
    assert_eq!(status, 403, "{body}");
    // Unknown origin: 404.
    let other = Checkpoint {
        origin: "other.example/log".into(),
        ..cp.clone()
    }
    .sign(&log_key());
    let (status, _, body) = post_raw(&add, format!("old 0\n\n{other}").as_bytes());
    assert_eq!(status, 404, "{body}");
    // Too large a body: 413 problem details, like every error but the spec's 409.
    let (status, ct, body) = post_raw(&add, &vec![b'x'; 65 << 10]);
    assert_eq!(
        (status, ct.as_str()),
        (413, "application/problem+json"),
        "{body}"
    );
    // All this left the witness at size 3.
    assert_eq!(state(&st).size_of(ORIGIN), 3);
    // The right proof: 200, a cosignature line that verifies.
    let (status, _, lines) = post_raw(&add, req(3, proof(&c, 3, 5)).as_bytes());
    assert_eq!(status, 200, "{lines}");
    verify_line(&cp.body(), &lines, &w1).unwrap();
    assert_eq!(state(&st).size_of(ORIGIN), 5);
    // The same request again is now stale.
    let (status, _, body) = post_raw(&add, req(3, proof(&c, 3, 5)).as_bytes());
    assert_eq!((status, body.as_str()), (409, "5\n"));
}

#[test]
fn the_log_refuses_cosignatures_from_unknown_witnesses_and_for_roots_it_never_had() {
    let dir = tempfile::tempdir().unwrap();
    let (_, w1) = witness(dir.path(), 1);
    let (_, w2) = witness(dir.path(), 2);
    let log = start_log(dir.path(), "a", &[&w1]);
    let c = log.client();
    grow(&c, 1, 2, true); // size 4
    let (cp, note) = checkpoint(&c);
    let t = 1_800_000_000;
    let post = |n: &str| c.post("/v1/log/cosignatures", n.as_bytes()).unwrap();
    let nothing_kept = || assert_eq!(cosigned(&c, 1).0, 404);

    // A witness the log does not trust.
    let a = post(&format!("{note}{}", cosign(&cp.body(), "w2", &key(62), t)));
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("untrusted-witness"), "{}", a.body);
    nothing_kept();
    let _ = w2;
    // A root the log never had at that size (signed by the log's key all the same).
    let fake = Checkpoint {
        root: [7; 32],
        ..cp.clone()
    };
    let a = post(&format!(
        "{}{}",
        fake.sign(&log_key()),
        cosign(&fake.body(), "w1", &key(61), t)
    ));
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(a.body.contains("never had root"), "{}", a.body);
    nothing_kept();
    // A size the log does not have.
    let big = Checkpoint {
        size: 99,
        ..cp.clone()
    };
    let a = post(&format!(
        "{}{}",
        big.sign(&log_key()),
        cosign(&big.body(), "w1", &key(61), t)
    ));
    assert_eq!(a.status, 409, "{}", a.body);
    nothing_kept();
    // Not the log's signature.
    let a = post(&format!(
        "{}{}",
        cp.sign(&key(99)),
        cosign(&cp.body(), "w1", &key(61), t)
    ));
    assert_eq!(a.status, 403, "{}", a.body);
    nothing_kept();
    // A trusted witness's line that does not verify (signed over another checkpoint).
    let other = Checkpoint {
        size: 3,
        ..cp.clone()
    };
    let a = post(&format!(
        "{note}{}",
        cosign(&other.body(), "w1", &key(61), t)
    ));
    assert_eq!(a.status, 422, "{}", a.body);
    nothing_kept();
    // The real thing: kept, and served (with the unknown line dropped).
    let a = post(&format!(
        "{note}{}{}",
        cosign(&cp.body(), "w1", &key(61), t),
        cosign(&cp.body(), "w2", &key(62), t)
    ));
    assert_eq!(a.status, 200, "{}", a.body);
    let v: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v["kept"], json!(["w1"]));
    assert_eq!(v["size"], json!(cp.size));
    let (status, served) = cosigned(&c, 1);
    assert_eq!(status, 200);
    assert_eq!(
        served,
        format!("{note}{}", cosign(&cp.body(), "w1", &key(61), t))
    );
    // An earlier size can be cosigned too; the newest one is served.
    grow(&c, 2, 1, false);
    let (cp5, note5) = checkpoint(&c);
    assert_eq!(
        post(&format!(
            "{note5}{}",
            cosign(&cp5.body(), "w1", &key(61), t)
        ))
        .status,
        200
    );
    let (_, served) = cosigned(&c, 1);
    assert!(served.starts_with(&note5), "{served}");
}

#[test]
fn a_log_pushes_its_checkpoints_to_a_witness_and_keeps_the_cosignatures() {
    let dir = tempfile::tempdir().unwrap();
    let (w1_file, w1) = witness(dir.path(), 1);
    let st = dir.path().join("w1-state");
    // A witness that only listens (no --log): the log pushes to it.
    let w = start_witness(None, &w1_file, &st);
    let lk = dir.path().join("log.pem");
    wasteledger::keyfile::write(&lk, &log_key()).unwrap();
    let log = Server::start_with(
        &dir.path().join("a"),
        &[
            "--bare",
            "--log-key",
            lk.to_str().unwrap(),
            "--witness",
            &w1.to_string(),
            "--push-witness",
            &w.1,
        ],
    );
    let c = log.client();
    let wait_for = |size: u64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, note) = cosigned(&c, 1);
            if status == 200 {
                let got =
                    open_cosigned(&note, &log_verifier(), std::slice::from_ref(&w1), 1).unwrap();
                if got.checkpoint.size == size {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "never cosigned size {size}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(1);
    grow(&c, 1, 2, true);
    wait_for(4);
    grow(&c, 2, 3, false);
    wait_for(7);
    // The witness's state followed, through consistency proofs from each size it cosigned.
    assert_eq!(state(&st).size_of(ORIGIN), 7);
}

#[test]
fn witness_key_prints_the_verifier_key_and_serve_takes_it_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (w1_file, w1) = witness(dir.path(), 1);
    // Default name: the key file's stem.
    let (ok, out) = run(&["witness-key", "--key", w1_file.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), w1.to_string());
    let (ok, out) = run(&[
        "witness-key",
        "--key",
        w1_file.to_str().unwrap(),
        "--name",
        "witness.kunshan.example/w1",
    ]);
    assert!(ok, "{out}");
    let named = WitnessKey::parse(out.trim()).unwrap();
    assert_eq!(
        (named.name.as_str(), named.key),
        ("witness.kunshan.example/w1", w1.key)
    );
    // serve --witness FILE; a malformed key is refused naming what is expected.
    let vkey_file = dir.path().join("w1.vkey");
    std::fs::write(&vkey_file, format!("{w1}\n")).unwrap();
    let log = Server::start_with(
        &dir.path().join("a"),
        &["--bare", "--witness", vkey_file.to_str().unwrap()],
    );
    assert_eq!(
        log.client().get_ok("/v1/log/witnesses").unwrap(),
        format!("{w1}\n")
    );
    let (ok, out) = run(&[
        "serve",
        "--data",
        dir.path().join("b").to_str().unwrap(),
        "--witness",
        &log_verifier().to_string(),
    ]);
    assert!(!ok);
    assert!(out.contains("0x04"), "{out}");
}
