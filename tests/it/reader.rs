//! The HTTP reader: the server reads time only from the clock its ledger was built with.

use crate::world::World;
use ed25519_dalek::SigningKey;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::{mpsc, Mutex};
use std::time::Duration;
use std::time::Instant;
use wasteledger::ledger::time::Timestamp;
use wasteledger::store::{Clock, Config, Ledger, SystemClock};

/// A clock the test sets.
pub struct ManualClock(pub AtomicU64);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}

pub fn wall() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// The log a `serve` process left in `data`, opened in this process with `clock` and served
/// with `opts` (the waste domain's routes too): its URL.
pub fn serve_in_process(
    data: &Path,
    clock: Arc<dyn Clock>,
    opts: wasteledger::http::Options,
) -> (String, Ledger) {
    let rules = wasteledger::cli::domain_rules(None).unwrap();
    let key = wasteledger::keyfile::read(&data.join("keys/log.pem")).unwrap();
    // sled lets go of its lock a moment after the process that held it is gone.
    let mut tries = 0;
    let ledger = loop {
        match Ledger::open(
            data,
            Config::default(),
            key.clone(),
            Arc::new(rules.clone()),
            clock.clone(),
        ) {
            Ok(l) => break l,
            Err(e) if tries < 50 => {
                tries += 1;
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("cannot open {}: {e}", data.display()),
        }
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = ledger.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            wasteledger::http::server_with_options(served, Some(rules), listener, opts)
                .unwrap()
                .await
        })
    });
    (url, ledger)
}

/// An agent that takes any status and gives up after 10 s.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// GET `path` signed by `key` as of `at`: status and body.
pub fn get_at(url: &str, path: &str, key: &SigningKey, at: Timestamp) -> (u16, String) {
    let header = wasteledger::http::auth::header(key, "GET", path, at, b"");
    let mut resp = agent()
        .get(format!("{url}{path}"))
        .header("authorization", header)
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

#[test]
fn the_server_goes_by_its_ledgers_clock_not_the_wall_clock() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    assert!(!w.flags(&m).contains(&"overdue".to_string()));
    let bureau = w.bureau.key.clone();
    let data = w.server.data.clone();
    drop(w);
    // The same log, served by a ledger whose clock is four days ahead of the wall clock.
    let later = Timestamp::from_unix_millis(wall().unix_millis() + 4 * 24 * 3_600_000);
    let clock = Arc::new(ManualClock(AtomicU64::new(later.unix_millis())));
    let (url, _ledger) = serve_in_process(&data, clock, Default::default());
    // The load has been on the road 96 h by the log's clock (the hazardous limit is 72 h).
    let (status, body) = get_at(&url, &format!("/v1/manifests/{m}"), &bureau, later);
    assert_eq!(status, 200, "{body}");
    let read: Value = serde_json::from_str(&body).unwrap();
    let flags: Vec<&str> = read["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(flags.contains(&"overdue"), "{read}");
    assert!(
        read["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "overdue"),
        "{read}"
    );
    // A request signed by the wall clock is four days from the server's time: refused.
    let (status, body) = get_at(&url, &format!("/v1/manifests/{m}"), &bureau, wall());
    assert_eq!(status, 401, "{body}");
    assert!(body.contains(&later.to_string()), "{body}");
    // The anomalies are as of the log's clock.
    let (status, body) = get_at(&url, "/v1/anomalies?kind=overdue", &bureau, later);
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["as_of"], later.to_string(), "{list}");
    assert_eq!(list["anomalies"][0]["manifests"][0], m.as_str(), "{list}");
}

#[test]
fn a_detector_scan_in_progress_leaves_the_one_worker_free_for_other_reads_and_the_log_appending() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    let bureau = w.bureau.key.clone();
    // An issue made ready now, sent while the scan is held.
    let issue = crate::support::signed(w.hazardous_issue("S-DISPOSAL"), &[&w.plant.key]);
    let plant = w.plant.key.clone();
    let data = w.server.data.clone();
    drop(w);
    // Each full scan tells the test it started, then waits for the test to let it go.
    let (started, scanning) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let (started, released) = (Mutex::new(started), Mutex::new(released));
    // Whether the thread the scan runs on is below the writer.
    let below = Arc::new(Mutex::new(None));
    let scan_below = below.clone();
    let hook = wasteledger::http::ScanHook(Arc::new(move || {
        *scan_below.lock().unwrap() = Some(wasteledger::http::runs_below_the_writer());
        let _ = started.lock().unwrap().send(());
        let _ = released
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(60));
    }));
    let opts = wasteledger::http::Options {
        workers: 1,
        scan_hook: Some(hook),
        ..Default::default()
    };
    let (url, _ledger) = serve_in_process(&data, Arc::new(SystemClock), opts);
    let scan = {
        let (url, key) = (url.clone(), bureau.clone());
        std::thread::spawn(move || get_at(&url, "/v1/anomalies", &key, wall()))
    };
    scanning
        .recv_timeout(Duration::from_secs(30))
        .expect("the anomalies request starts a scan");
    // It runs below the log's writer: when readers keep the cores busy, appends go first.
    let below = below.lock().unwrap().expect("the scan said its priority");
    assert!(
        below,
        "the scan runs at the writer's priority, not below it"
    );
    // The scan is held open; the server's one worker still answers at once.
    let t = Instant::now();
    let mut resp = agent()
        .get(format!("{url}/v1/log/checkpoint"))
        .call()
        .expect("the checkpoint is served during a scan");
    assert_eq!(resp.status(), 200);
    assert!(resp
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("kunshan"));
    let (status, body) = get_at(&url, &format!("/v1/manifests/{m}"), &bureau, wall());
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&m), "{body}");
    let (status, body) = get_at(&url, "/v1/manifests?limit=5", &bureau, wall());
    assert_eq!(status, 200, "{body}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "three reads during a scan took {:?}",
        t.elapsed()
    );
    // The scan reads the stored state through its own view and holds nothing the sequencer
    // waits for: an event is appended, durably, while the scan is still held.
    let t = Instant::now();
    let mut resp = agent()
        .post(format!("{url}/v1/events"))
        .header("content-type", "application/json")
        .send(issue.to_bytes())
        .expect("the event is answered during a scan");
    let body = resp.body_mut().read_to_string().unwrap();
    assert_eq!(resp.status(), 201, "{body}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "an append during a scan took {:?}",
        t.elapsed()
    );
    let made: Value = serde_json::from_str(&body).unwrap();
    let n = made["manifests"][0].as_str().unwrap();
    let (status, body) = get_at(&url, &format!("/v1/manifests/{n}"), &plant, wall());
    assert_eq!(status, 200, "the new load is read at once: {body}");
    assert!(!scan.is_finished(), "the scan was still held");
    release.send(()).unwrap();
    let (status, body) = scan.join().unwrap();
    assert_eq!(status, 200, "{body}");
}

/// Server options that count the full detector scans made.
fn counting_scans() -> (Arc<AtomicU64>, wasteledger::http::Options) {
    let count = Arc::new(AtomicU64::new(0));
    let hook = {
        let count = count.clone();
        wasteledger::http::ScanHook(Arc::new(move || {
            count.fetch_add(1, Ordering::SeqCst);
        }))
    };
    let opts = wasteledger::http::Options {
        scan_hook: Some(hook),
        ..Default::default()
    };
    (count, opts)
}

/// A world in `dir` with one hazardous load picked up, its server stopped: the load, the
/// bureau's key and the data directory.
fn a_load_on_the_road(dir: &std::path::Path) -> (String, SigningKey, std::path::PathBuf) {
    let w = World::start(dir);
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    (m, w.bureau.key.clone(), w.server.data.clone())
}

/// A reader is answered at once from the last full scan while the next is made in the
/// background, and waits for a scan only when the last is too old to show.
#[test]
fn anomalies_are_served_from_the_last_scan_while_the_next_is_made_and_never_from_a_stale_one() {
    let dir = tempfile::tempdir().unwrap();
    let (m, bureau, data) = a_load_on_the_road(dir.path());
    let t0 = wall().unix_millis();
    let clock = Arc::new(ManualClock(AtomicU64::new(t0)));
    // Every scan tells the test it started; the second waits for the test to let it go.
    let (started, scans) = mpsc::channel::<u32>();
    let (release, released) = mpsc::channel::<()>();
    let (started, released) = (Mutex::new(started), Mutex::new(released));
    let count = Arc::new(AtomicU64::new(0));
    let hook = {
        let count = count.clone();
        wasteledger::http::ScanHook(Arc::new(move || {
            let n = count.fetch_add(1, Ordering::SeqCst) as u32 + 1;
            let _ = started.lock().unwrap().send(n);
            if n == 2 {
                let _ = released
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(60));
            }
        }))
    };
    let opts = wasteledger::http::Options {
        scan_hook: Some(hook),
        ..Default::default()
    };
    let (url, _ledger) = serve_in_process(&data, clock.clone(), opts);
    let as_of = |at: u64| {
        let t = Instant::now();
        let (status, body) = get_at(
            &url,
            "/v1/anomalies",
            &bureau,
            Timestamp::from_unix_millis(at),
        );
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        (v["as_of"].as_str().unwrap().to_string(), t.elapsed(), v)
    };
    let stamp = |ms: u64| Timestamp::from_unix_millis(ms).to_string();
    // The first reader waits for the first scan.
    assert_eq!(as_of(t0).0, stamp(t0));
    assert_eq!(scans.recv_timeout(Duration::from_secs(30)), Ok(1));

    // A minute later the scan is older than the 30 s it is served for: the reader still gets
    // it at once, and the next is made meanwhile (held open here).
    let t1 = t0 + 60_000;
    clock.0.store(t1, Ordering::SeqCst);
    let (seen, took, _) = as_of(t1);
    assert_eq!(seen, stamp(t0), "the last scan, at once");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(scans.recv_timeout(Duration::from_secs(30)), Ok(2));
    let (seen, took, _) = as_of(t1);
    assert_eq!(
        (seen, count.load(Ordering::SeqCst)),
        (stamp(t0), 2),
        "one scan at a time"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    release.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while as_of(t1).0 != stamp(t1) {
        assert!(
            Instant::now() < deadline,
            "the background scan never landed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Four days on, the last scan is too old to show: the reader waits for a new one, which
    // sees the load overdue (72 h for hazardous waste).
    let t2 = t1 + 4 * 24 * 3_600_000;
    clock.0.store(t2, Ordering::SeqCst);
    let (seen, _, v) = as_of(t2);
    assert_eq!(seen, stamp(t2));
    assert!(
        v["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "overdue" && a["manifests"][0] == m.as_str()),
        "{v}"
    );
}

/// A kind that is a rule about one manifest (`overdue` here) is read from the manifests the
/// fold watches for it, as of the request's own time: no full scan is made or waited for, and
/// a load goes overdue the moment its 72 h are up. So is one vehicle's list, and a vehicle
/// rule's over a window.
#[test]
fn a_kind_about_one_manifest_is_answered_as_of_the_request_without_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (m, bureau, data) = a_load_on_the_road(dir.path());
    let t0 = wall().unix_millis();
    let clock = Arc::new(ManualClock(AtomicU64::new(t0)));
    let (count, opts) = counting_scans();
    let (url, _ledger) = serve_in_process(&data, clock.clone(), opts);
    let read = |path: &str, at: u64| {
        let (status, body) = get_at(&url, path, &bureau, Timestamp::from_unix_millis(at));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    let stamp = |ms: u64| Timestamp::from_unix_millis(ms).to_string();
    let overdue = |v: &Value| {
        v["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "overdue" && a["manifests"][0] == m.as_str())
            .count()
    };
    let v = read("/v1/anomalies?kind=overdue", t0);
    assert_eq!((v["as_of"].as_str(), overdue(&v)), (Some(&*stamp(t0)), 0));
    // 73 h on, within the same process and with no new entry: overdue now.
    let t1 = t0 + 73 * 3_600_000;
    clock.0.store(t1, Ordering::SeqCst);
    let v = read("/v1/anomalies?kind=overdue", t1);
    assert_eq!(
        (v["as_of"].as_str(), overdue(&v)),
        (Some(&*stamp(t1)), 1),
        "{v}"
    );
    assert_eq!(v["total"], 1, "{v}");
    // One truck (what the map of a vehicle reads at the roadside): the manifests naming it
    // and its own fixes, as of the request too; and a vehicle rule over a window.
    let plate = crate::world::PLATE_A;
    let encoded: String = plate
        .bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'A'..=b'Z' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let v = read(&format!("/v1/anomalies?vehicle={encoded}"), t1);
    assert_eq!(
        (v["as_of"].as_str(), overdue(&v), &v["total"]),
        (Some(&*stamp(t1)), 1, &Value::from(1)),
        "{v}"
    );
    assert_eq!(v["anomalies"][0]["vehicles"][0], plate, "{v}");
    let v = read(
        &format!(
            "/v1/anomalies?kind=too_fast&from={}&to={}",
            stamp(t0 - 3_600_000),
            stamp(t1)
        ),
        t1,
    );
    assert_eq!(v["total"], 0, "{v}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "no full scan for one kind or one vehicle"
    );
    // Every kind: the full scan, which finds the same.
    let all = read("/v1/anomalies", t1);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(overdue(&all), 1, "{all}");
    let id = |v: &Value| v["anomalies"][0]["id"].clone();
    let only = read("/v1/anomalies?kind=overdue", t1);
    assert_eq!(
        id(&only),
        all["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "overdue")
            .unwrap()["id"]
    );
}

/// The default list (every kind, the vehicle rules with no `from`) is read from the newest
/// window of time that fills its page, as of the request and without a scan: `total` is left
/// out (the list was not read to its end) and `next` goes on. A page the window does not fill
/// (the last) falls back to the shared scan, which counts every page; the pages together list
/// what the scan lists.
#[test]
fn the_newest_page_of_every_kind_is_read_without_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (data, bureau) = {
        let w = World::start(dir.path());
        for _ in 0..3 {
            let m = w.issue_hazardous("S-DISPOSAL");
            w.pickup(&m);
        }
        (w.server.data.clone(), w.bureau.key.clone())
    };
    // 73 h on, the three loads are overdue: three anomalies within the last day.
    let t1 = wall().unix_millis() + 73 * 3_600_000;
    let clock = Arc::new(ManualClock(AtomicU64::new(t1)));
    let (count, opts) = counting_scans();
    let (url, _ledger) = serve_in_process(&data, clock, opts);
    let read = |path: &str| {
        let (status, body) = get_at(&url, path, &bureau, Timestamp::from_unix_millis(t1));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    use crate::console_queue::ids;
    let first = read("/v1/anomalies?limit=2");
    assert_eq!(ids(&first).len(), 2, "{first}");
    assert!(first.get("total").is_none(), "{first}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "no scan for the newest page"
    );
    // So with `to`: back from it.
    let to = Timestamp::from_unix_millis(t1 + 3_600_000).to_string();
    let until = read(&format!("/v1/anomalies?limit=2&to={to}"));
    assert_eq!(ids(&until), ids(&first), "{until}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "no scan for the newest page before `to`"
    );
    let next = first["next"].as_str().expect("a next page").to_string();
    let last = read(&format!("/v1/anomalies?limit=2&cursor={next}"));
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "the last page from the scan"
    );
    assert!(last.get("next").is_none(), "{last}");
    let all = read("/v1/anomalies?limit=500");
    assert_eq!(all["total"], 3, "{all}");
    let paged: Vec<String> = ids(&first).into_iter().chain(ids(&last)).collect();
    assert_eq!(paged, ids(&all));
}
