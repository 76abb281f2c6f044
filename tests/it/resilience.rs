//! No client can exhaust the server: bounded queues (503 + Retry-After), the replay defence
//! across a restart, a full disk (reads keep working, appends resume once space is freed), and
//! the per-party quota on personal records.

use crate::support::{authority, key, key_added, run, signed, Server};
use crate::world::World;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use wasteledger::ledger::merkle::leaf_hash;
use wasteledger::ledger::state::{Fold, OpenRules, Rules};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POST an event: (status, Retry-After header, body).
fn post_event(url: &str, body: &[u8]) -> (u16, Option<String>, String) {
    let mut r = agent()
        .post(format!("{url}/v1/events"))
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (
        r.status().as_u16(),
        retry,
        r.body_mut().read_to_string().unwrap(),
    )
}

/// Bare rules whose fold the test can hold: the sequencer waits at its next batch.
#[derive(Default)]
struct Gate(Mutex<()>);

impl Rules for Gate {
    fn with_fold(&self, f: &mut dyn FnMut(&mut dyn Fold)) {
        let _held = self.0.lock().unwrap();
        f(&mut OpenRules)
    }
    fn fresh(&self) -> Box<dyn Fold> {
        Box::new(OpenRules)
    }
}

#[test]
fn full_queues_answer_503_with_retry_after_at_once_and_leave_the_log_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let cfg = wasteledger::store::Config {
        max_queue: 1,
        max_batch: 1,
        ..Default::default()
    };
    let genesis =
        wasteledger::store::Genesis::new("test/log", key(100), &authority(), None).unwrap();
    let ledger = wasteledger::store::Ledger::create(
        dir.path(),
        cfg,
        genesis,
        gate.clone(),
        Arc::new(wasteledger::store::SystemClock),
    )
    .unwrap();
    let writer = key(1);
    let added = wasteledger::ledger::event::VerifiedEvent::check(key_added(&writer, "w")).unwrap();
    ledger.submit_blocking(added).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = ledger.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            wasteledger::http::server(served, None, listener, 2)
                .unwrap()
                .await
        })
    });

    // The writer is held: one batch waits at the fold, one event in each queue, one in the
    // intake's hands. Every event beyond them is answered at once.
    let held = gate.0.lock().unwrap();
    let (tx, rx) = mpsc::channel();
    let events: Vec<_> = (0..10)
        .map(|n| signed(json!({"type": "note", "n": n}), &[&writer]))
        .collect();
    for (n, ev) in events.iter().enumerate() {
        let (tx, url, body) = (tx.clone(), url.clone(), ev.to_bytes());
        std::thread::spawn(move || tx.send((n, post_event(&url, &body))).unwrap());
        std::thread::sleep(Duration::from_millis(40));
    }
    let mut refused = Vec::new();
    let refusal = |n: usize, status: u16, retry: Option<String>, body: &str| {
        assert_eq!(
            status, 503,
            "event {n} answered while the writer is held: {body}"
        );
        let p: Value = serde_json::from_str(body).unwrap();
        assert_eq!(p["type"], "urn:wasteledger:problem:busy", "{p}");
        assert_eq!(retry.as_deref(), Some("1"), "{p}");
    };
    // At most 5 fit (4 unless two arrive together); the others are answered at once.
    while refused.len() < 5 {
        let (n, (status, retry, body)) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        refusal(n, status, retry, &body);
        refused.push(n);
    }
    while let Ok((n, (status, retry, body))) = rx.recv_timeout(Duration::from_secs(1)) {
        refusal(n, status, retry, &body);
        refused.push(n);
    }
    assert_eq!(
        ledger.size(),
        2,
        "nothing was written while the writer was held"
    );
    drop(held);

    let mut acked = Vec::new();
    for _ in 0..10 - refused.len() {
        let (n, (status, _, body)) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        if status == 503 {
            // Sent late, while the queues were still full.
            refused.push(n);
            continue;
        }
        assert_eq!(status, 201, "event {n}: {body}");
        let r: Value = serde_json::from_str(&body).unwrap();
        acked.push((n, r["index"].as_u64().unwrap()));
    }
    assert!(
        acked.len() >= 4,
        "only {} events waited in the queues",
        acked.len()
    );
    assert_eq!(ledger.size(), 2 + acked.len() as u64);
    for (n, index) in &acked {
        let bytes = ledger.entry(*index).unwrap().unwrap();
        let entry = wasteledger::ledger::entry::Entry::decode(&bytes).unwrap();
        assert_eq!(entry.event.event_bytes(), events[*n].event_bytes());
    }
    for n in &refused {
        let hash = events[*n].event_hash();
        assert_eq!(
            ledger.event_index(&hash).unwrap(),
            None,
            "refused event {n} is in the log"
        );
    }
}

#[test]
fn a_signed_request_used_before_a_restart_is_refused_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let now = wasteledger::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now());
    let header = wasteledger::http::auth::header(&w.bureau.key, "GET", "/v1/manifests", now, b"");
    let get = |url: &str, header: &str| {
        let mut r = agent()
            .get(format!("{url}/v1/manifests"))
            .header("authorization", header)
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(get(&w.server.url, &header).0, 200);
    // SIGKILL: the memory of the request must already be on disk.
    drop(w);
    let w = World::restart(dir.path());
    let (status, body) = get(&w.server.url, &header);
    assert_eq!(status, 401, "a replay after a restart was accepted: {body}");
    assert!(body.contains("replay"), "{body}");
    let fresh = wasteledger::http::auth::header(
        &w.bureau.key,
        "GET",
        "/v1/manifests",
        wasteledger::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now()),
        b"",
    );
    assert_eq!(get(&w.server.url, &fresh).0, 200, "a new request is served");
}

#[test]
fn a_party_may_keep_only_its_quota_of_personal_records() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start_with(dir.path(), &["--personal-quota", "2"]);
    let lodge = |k: &ed25519_dalek::SigningKey, n: u8| {
        let body = json!({"kind": "driver_name", "value": format!("driver {n}"), "salt": hex::encode([n; 32])});
        let a =
            w.c.signed("POST", "/v1/personal", body.to_string().as_bytes(), k)
                .unwrap();
        (a.status, a.json().unwrap())
    };
    assert_eq!(lodge(&w.hauler_a.key, 1).0, 201);
    let (_, second) = lodge(&w.hauler_a.key, 2);
    let (status, p) = lodge(&w.hauler_a.key, 3);
    assert_eq!(status, 403, "{p}");
    assert_eq!(p["type"], "urn:wasteledger:problem:quota-exceeded", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains(&w.hauler_a.id) && detail.contains("max_personal_per_party 2"),
        "{detail}"
    );
    let third = wasteledger::domain::personal::commit(&[3; 32], "driver 3");
    assert_eq!(
        w.c.get_signed(&format!("/v1/personal/{}", third.as_str()), &w.bureau.key)
            .unwrap()
            .status,
        404,
        "nothing was stored over the quota"
    );
    // The quota is each party's own.
    assert_eq!(lodge(&w.plant.key, 4).0, 201);
    // An erased record no longer counts.
    let c = second["commitment"].as_str().unwrap();
    let erased =
        w.c.signed("DELETE", &format!("/v1/personal/{c}"), b"", &authority())
            .unwrap();
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(lodge(&w.hauler_a.key, 3).0, 201);
    assert_eq!(lodge(&w.hauler_a.key, 5).0, 403);
}

/// A small tmpfs mounted for the test (root only), unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fill the file system holding `dir` (a file grown until the disk refuses).
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let mut chunk = vec![1u8; 1 << 20];
    while !chunk.is_empty() {
        if f.write_all(&chunk).is_err() {
            chunk.truncate(chunk.len() / 2);
        }
    }
    let _ = f.sync_all();
    path
}

type Acked = Vec<(u64, [u8; 32])>;

/// POST a note of about 2 KB; an acknowledged one is added to `acked` (index, leaf hash).
fn post_note(
    url: &str,
    writer: &ed25519_dalek::SigningKey,
    n: u64,
    acked: &mut Acked,
) -> (u16, Option<String>, String) {
    let ev = signed(
        json!({"type": "note", "n": n, "pad": "x".repeat(2000)}),
        &[writer],
    );
    let (status, retry, body) = post_event(url, &ev.to_bytes());
    if status == 201 {
        let r: Value = serde_json::from_str(&body).unwrap();
        let leaf: [u8; 32] = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            r["leaf_hash"].as_str().unwrap(),
        )
        .unwrap()
        .try_into()
        .unwrap();
        acked.push((r["index"].as_u64().unwrap(), leaf));
    }
    (status, retry, body)
}

#[test]
fn on_a_full_disk_reads_keep_working_and_appends_resume_once_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "48m") else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the full-disk test did not run"
        );
        return;
    };
    let data = disk.0.join("log");
    let server = Server::start_bare(&data);
    let writer = key(1);
    let (status, _, body) = post_event(&server.url, &key_added(&writer, "w").to_bytes());
    assert_eq!(status, 201, "{body}");
    let mut acked: Acked = Vec::new();
    let url = server.url.clone();
    let post = |acked: &mut Acked, n: u64| post_note(&url, &writer, n, acked);
    for n in 0..20 {
        assert_eq!(post(&mut acked, n).0, 201);
    }
    let filler = fill(&disk.0);

    // Appends fail once sled needs room it cannot get: 503, a sentence, Retry-After.
    let mut failed = None;
    for n in 20..2000 {
        let (status, retry, body) = post(&mut acked, n);
        if status != 201 {
            failed = Some((n, status, retry, body));
            break;
        }
    }
    let (failed_n, status, retry, body) = failed.expect("appends never failed on a full disk");
    assert_eq!(status, 503, "{body}");
    assert!(retry.is_some(), "no Retry-After: {body}");
    let p: Value = serde_json::from_str(&body).unwrap();
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.to_lowercase().contains("no space left on device"),
        "{detail}"
    );
    assert!(!detail.contains("Os {"), "a raw error text: {detail}");
    assert_eq!(post(&mut acked, 5000).0, 503, "the disk is still full");

    // What is durable is served: checkpoint, entries, proofs.
    let c = server.client();
    let size = c.checkpoint(&c.verifier().unwrap()).unwrap().0.size;
    assert_eq!(
        size,
        2 + acked.len() as u64,
        "the published head is what was acknowledged"
    );
    for (index, leaf) in &acked {
        let entry = c.get(&format!("/v1/log/entries/{index}")).unwrap();
        assert_eq!(entry.status, 200, "entry {index}: {}", entry.body);
        assert_eq!(&leaf_hash(entry.body.as_bytes()), leaf);
        let proof = c
            .get(&format!(
                "/v1/log/proof/inclusion?index={index}&size={size}"
            ))
            .unwrap();
        assert_eq!(proof.status, 200, "proof of {index}: {}", proof.body);
    }
    let range = c
        .get(&format!("/v1/log/entries?start=0&end={size}"))
        .unwrap();
    assert_eq!(range.status, 200, "{}", range.body);
    assert_eq!(
        c.get(&format!("/v1/log/proof/consistency?from=1&to={size}"))
            .unwrap()
            .status,
        200
    );

    // Space freed: the log takes events again, without a restart.
    std::fs::remove_file(filler).unwrap();
    let mut resumed = false;
    for n in 6000..6050 {
        let (status, _, body) = post(&mut acked, n);
        if status == 201 {
            resumed = true;
            break;
        }
        assert_eq!(status, 503, "{body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(resumed, "appends did not resume after space was freed");
    for n in 7000..7010 {
        assert_eq!(post(&mut acked, n).0, 201);
    }
    // The events refused on the full disk, sent again: each is taken now, or named a replay
    // of where it is if it reached the disk after all; never logged twice (`verify`, below).
    for n in [failed_n, 5000] {
        let (status, _, body) = post(&mut acked, n);
        assert!(status == 201 || status == 409, "{status}: {body}");
    }
    // And an event logged before the disk filled is a replay still.
    let (status, _, body) = post(&mut acked, 3);
    assert_eq!(status, 409, "{body}");
    let size = c.checkpoint(&c.verifier().unwrap()).unwrap().0.size;
    assert_eq!(
        size,
        2 + acked.len() as u64,
        "nothing refused is in the log"
    );
    for (index, leaf) in &acked {
        let entry = c.get_ok(&format!("/v1/log/entries/{index}")).unwrap();
        assert_eq!(&leaf_hash(entry.as_bytes()), leaf, "entry {index}");
    }
    server.kill();
    let (ok, out) = run(&["verify", "--data", data.to_str().unwrap()]);
    assert!(ok, "the log does not verify after the full disk: {out}");
    drop(disk);
}

/// The price of remembering signed requests on disk: signed reads per second from 1 and 8
/// client threads (`cargo test --release --test it signed_read_rate -- --ignored --nocapture`).
#[test]
#[ignore]
fn signed_read_rate() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let path = "/v1/manifests?status=in_transit";
    for threads in [1usize, 8] {
        let started = std::time::Instant::now();
        let per_thread = 1500;
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let c = wasteledger::client::LogClient::new(&w.server.url);
                    for _ in 0..per_thread {
                        assert_eq!(c.get_signed(path, &w.bureau.key).unwrap().status, 200);
                    }
                });
            }
        });
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{threads} thread(s): {:.0} signed reads/s",
            (threads * per_thread) as f64 / secs
        );
    }
}

/// What one durable `remember_request` costs, alone and with 8 threads at once.
#[test]
#[ignore]
fn remember_request_cost() {
    let dir = tempfile::tempdir().unwrap();
    let genesis =
        wasteledger::store::Genesis::new("test/log", key(100), &authority(), None).unwrap();
    let ledger = wasteledger::store::Ledger::create(
        dir.path(),
        Default::default(),
        genesis,
        Arc::new(OpenRules),
        Arc::new(wasteledger::store::SystemClock),
    )
    .unwrap();
    let next = std::sync::atomic::AtomicU64::new(0);
    for threads in [1u64, 8] {
        let n = 2000;
        let started = std::time::Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..n {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let mut h = [0u8; 32];
                        h[..8].copy_from_slice(&i.to_be_bytes());
                        ledger.remember_request(&h, u64::MAX, 0).unwrap();
                    }
                });
            }
        });
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{threads} thread(s): {:.0} remembered/s, {:.0} us each",
            (threads * n) as f64 / secs,
            secs * 1e6 / n as f64
        );
    }
}

/// Two erasures of one record (as when two arrive at once) free its party's slot once: the
/// second replaces the first's note, not the live record, so the quota still counts the rest.
#[test]
fn erasing_a_record_twice_frees_one_slot_of_the_quota() {
    use wasteledger::store::{Config, Lodged};
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        max_personal_per_party: 2,
        ..Config::default()
    };
    let (ledger, _) = wasteledger::bench::fresh_log_with(&dir.path().join("log"), 0, cfg).unwrap();
    let party = "91320583MA1HAUL01X";
    let record = |n: u8| format!(r#"{{"lodged_by":"{party}","value":"driver {n}"}}"#);
    for n in [1, 2] {
        let r = ledger
            .put_personal(&format!("c{n}"), record(n).as_bytes(), party)
            .unwrap();
        assert_eq!(r, Lodged::Stored);
    }
    let live = record(1);
    for _ in 0..2 {
        // Each caller read the live record before either erasure was written.
        ledger
            .erase_personal(
                "c1",
                br#"{"erased_at":"now"}"#,
                Some((party, live.as_bytes())),
            )
            .unwrap();
    }
    assert_eq!(
        ledger
            .put_personal("c3", record(3).as_bytes(), party)
            .unwrap(),
        Lodged::Stored,
        "one slot freed"
    );
    assert!(
        matches!(
            ledger
                .put_personal("c4", record(4).as_bytes(), party)
                .unwrap(),
            Lodged::OverQuota { count: 2, quota: 2 }
        ),
        "c2 and c3 are live: the quota is full"
    );
    ledger.shutdown();
}
