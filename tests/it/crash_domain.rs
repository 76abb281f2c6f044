//! Crash safety of the domain's state: SIGKILL the server at random moments while writers
//! issue loads and hand them over and readers loop on anomalies, search and manifests (and
//! every other round once the load stopped, while the server cleans its database). After
//! each kill the stored log verifies, and the restarted server answers exactly what a fresh
//! replay of the log answers (a copy rebuilt with `reindex` and opened anew): every manifest
//! as the bureau reads it, the postings of every plate and party, the anomalies. Whatever keeps
//! the domain's state (memory replayed at open today, a read model on disk later), a kill must
//! never leave it different from the log.

use crate::durability::copy_dir;
use crate::support::{run_unlocked, signed};
use crate::world::{World, PLATE_A, PLATE_B};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasteledger::client::{encode, LogClient};

/// Submit; `None` once the server is gone. A refusal is a bug of the test's load: it fails.
fn submit(c: &LogClient, body: Value, keys: &[&ed25519_dalek::SigningKey]) -> Option<Value> {
    let a = c.post("/v1/events", &signed(body, keys).to_bytes()).ok()?;
    assert!(
        !(400..500).contains(&a.status),
        "the log refused the load's event: {} {}",
        a.status,
        a.body
    );
    (a.status == 201).then(|| a.json().ok()).flatten()
}

/// Issue, pick up, relay: until the server dies. Counts the loads relayed in full.
fn writer(w: &World, stop: &AtomicBool, relayed: &AtomicU64) {
    let c = LogClient::new(&w.server.url);
    let qty = [340_000, 120_000];
    while !stop.load(Ordering::Relaxed) {
        let Some(a) = submit(&c, w.hazardous_issue("S-DISPOSAL"), &[&w.plant.key]) else {
            return;
        };
        let m = a["manifests"][0].as_str().unwrap().to_string();
        let pickup = w.handover(&m, &w.plant, &w.hauler_a, Some(PLATE_A), &qty);
        if submit(&c, pickup, &[&w.plant.key, &w.hauler_a.key]).is_none() {
            return;
        }
        let relay = w.handover(&m, &w.hauler_a, &w.hauler_b, Some(PLATE_B), &qty);
        if submit(&c, relay, &[&w.hauler_a.key, &w.hauler_b.key]).is_none() {
            return;
        }
        relayed.fetch_add(1, Ordering::Relaxed);
    }
}

/// What inspectors read, over and over, until the server dies.
fn reader(w: &World, stop: &AtomicBool) {
    let c = LogClient::new(&w.server.url);
    let paths = [
        "/v1/anomalies?limit=50".to_string(),
        format!("/v1/search?plate={}", encode(PLATE_A)),
        "/v1/manifests?limit=100".to_string(),
    ];
    while !stop.load(Ordering::Relaxed) {
        for p in &paths {
            if c.get_signed(p, &w.bureau.key).is_err() {
                return;
            }
        }
    }
}

/// Everything the server answers about the domain, by what was asked.
fn state(w: &World) -> BTreeMap<String, Value> {
    let get = |path: &str| -> Value {
        let a = w.c.get_signed(path, &w.bureau.key).unwrap();
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        let mut v: Value = a.json().unwrap();
        // When the answer was made, not what it says.
        if let Some(o) = v.as_object_mut() {
            o.remove("as_of");
        }
        v
    };
    let mut all = BTreeMap::new();
    // Every manifest: the list pages no further than 1000, so walk the numbers, which the
    // log allocates one after the other (one issuer, one region, one year here) until one is
    // unknown.
    let list = get("/v1/manifests?limit=1000");
    let first = list["manifests"][0]["number"].as_str().unwrap();
    let (head, serial) = first.split_at(8);
    let mut serial: u64 = serial.parse().unwrap();
    loop {
        let n = format!("{head}{serial:06}");
        let a =
            w.c.get_signed(&format!("/v1/manifests/{n}"), &w.bureau.key)
                .unwrap();
        if a.status == 404 {
            break;
        }
        assert_eq!(a.status, 200, "{n}: {}", a.body);
        all.insert(format!("manifest {n}"), a.json().unwrap());
        serial += 1;
    }
    all.insert("manifests".into(), list);
    for plate in [PLATE_A, PLATE_B] {
        let q = format!("/v1/search?plate={}", encode(plate));
        all.insert(q.clone(), get(&q));
    }
    for p in w.parties() {
        let q = format!("/v1/search?party={}", p.id);
        all.insert(q.clone(), get(&q));
    }
    all.insert("anomalies".into(), get("/v1/anomalies?limit=500"));
    all
}

/// Whether `file` was written after `time`.
fn written_after(file: &std::path::Path, time: std::time::SystemTime) -> bool {
    std::fs::metadata(file)
        .and_then(|m| m.modified())
        .is_ok_and(|m| m > time)
}

/// Rounds killed on one log before the next starts afresh. Each round's comparison reads every
/// manifest, and each read walks its trucks' fixes, which in this world (two trucks carry every
/// load, all within minutes) are all the loads so far: a round costs the square of the log's
/// length, minutes by the tenth round of one log.
const ROUNDS_PER_LOG: u32 = 3;

fn kill_and_compare(rounds: u32) {
    let dir = tempfile::tempdir().unwrap();
    let mut home = dir.path().join("city-0");
    std::fs::create_dir_all(&home).unwrap();
    let mut w = World::start(&home);
    let seed = Instant::now().elapsed().as_nanos() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    eprintln!("crash_domain seed {seed}");
    let mut rng = seed | 1;
    let mut total = 0;
    for round in 0..rounds {
        if round > 0 && round % ROUNDS_PER_LOG == 0 {
            drop(w);
            home = dir.path().join(format!("city-{}", round / ROUNDS_PER_LOG));
            std::fs::create_dir_all(&home).unwrap();
            w = World::start(&home);
            total = 0;
        }
        // xorshift: a kill between 0.3 and 1.5 s into the load.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let kill_after = Duration::from_millis(300 + rng % 1200);
        // A restarted World counts its slip references from 1 again: the plant's earlier
        // references are taken, so each round numbers its own.
        w.slips.store(100_000 * u64::from(round), Ordering::Relaxed);
        // Every other round the load stops first, and the kill lands while the server has
        // no event: 1 ms after its last batch it cleans its database's log (rewrites what is
        // still live in the half-dead segments of sled's file) until nothing is left, and 100
        // ms after it, with no event come, it makes what it rewrote durable. The kill lands at
        // a random moment of the first 120 ms after the load stopped.
        let when_idle = round % 2 == 1;
        let stop = AtomicBool::new(false);
        let relayed = AtomicU64::new(0);
        let writing = AtomicU64::new(2);
        let mut quiet_from = None;
        // sled's log file, which the server writes while it cleans.
        let db_file = home.join("log").join("db").join("db");
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    writer(&w, &stop, &relayed);
                    writing.fetch_sub(1, Ordering::Relaxed);
                });
                s.spawn(|| reader(&w, &stop));
            }
            // The kill lands `kill_after` after the first relay is in (a loaded machine may
            // take a while to get there).
            let started = Instant::now();
            while relayed.load(Ordering::Relaxed) == 0
                && started.elapsed() < Duration::from_secs(60)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(kill_after);
            if when_idle {
                stop.store(true, Ordering::Relaxed);
                while writing.load(Ordering::Relaxed) > 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let quiet = std::time::SystemTime::now();
                let idle = Duration::from_millis((rng >> 20) % 120);
                quiet_from = Some((quiet, idle));
                std::thread::sleep(idle);
            }
            // SAFETY: kill(2) on our own child's pid; it is reaped when `w` drops below.
            unsafe { libc::kill(w.server.child.id() as i32, libc::SIGKILL) };
            stop.store(true, Ordering::Relaxed);
        });
        // How long the server had no event, and whether it wrote its database meanwhile (it
        // was cleaning).
        let cleaning = quiet_from.map(|(quiet, idle)| (idle, written_after(&db_file, quiet)));
        drop(w);
        let got = relayed.load(Ordering::Relaxed);
        assert!(
            got > 0,
            "round {round}: no load was relayed before the kill"
        );
        total += got;
        let log = home.join("log");
        // The phases after the kill, timed: the reads grow with the log.
        let killed = Instant::now();
        let (ok, out) = run_unlocked(&["verify", "--data", log.to_str().unwrap()]);
        assert!(ok, "round {round}: verify after SIGKILL: {out}");

        let verified = killed.elapsed();
        let restarted = World::restart(&home);
        let after = state(&restarted);
        let read_after = killed.elapsed();
        let relayed_now = after
            .iter()
            .filter(|(k, v)| {
                k.starts_with("manifest ") && v["holder"] == restarted.hauler_b.id.as_str()
            })
            .count() as u64;
        assert!(
            relayed_now >= total,
            "round {round}: {total} relays acknowledged, {relayed_now} in the state"
        );
        drop(restarted);

        // A fresh replay: a copy with every derived tree rebuilt from the entries alone.
        let replay = dir.path().join(format!("replay-{round}"));
        copy_dir(&home, &replay);
        let copy = replay.join("log");
        let (ok, out) = run_unlocked(&["reindex", "--data", copy.to_str().unwrap()]);
        assert!(ok, "round {round}: reindex: {out}");
        let reindexed = killed.elapsed();
        let fresh = World::restart(&replay);
        let replayed = state(&fresh);
        drop(fresh);
        let _ = std::fs::remove_dir_all(&replay);
        let differs = after
            .keys()
            .chain(replayed.keys())
            .find(|k| after.get(*k) != replayed.get(*k));
        assert!(
            differs.is_none(),
            "round {round} (seed {seed}): after the kill the server answers {} differently from a fresh replay:\n restarted: {}\n replayed:  {}",
            differs.unwrap(),
            after.get(differs.unwrap()).unwrap_or(&Value::Null),
            replayed.get(differs.unwrap()).unwrap_or(&Value::Null)
        );
        let idle = match cleaning {
            None => String::new(),
            Some((idle, true)) => {
                format!(", idle {idle:?}, its database written since the load stopped (cleaning)")
            }
            Some((idle, false)) => {
                format!(", idle {idle:?}, nothing written since the load stopped")
            }
        };
        eprintln!(
            "round {round}: killed after {kill_after:?}{idle}, {got} loads relayed, {} answers equal a fresh replay (after the kill: verify {:.1} s, restart and read {:.1} s, copy and reindex {:.1} s, the copy read {:.1} s)",
            after.len(),
            verified.as_secs_f64(),
            (read_after - verified).as_secs_f64(),
            (reindexed - read_after).as_secs_f64(),
            (killed.elapsed() - reindexed).as_secs_f64(),
        );
        w = World::restart(&home);
    }
}

#[test]
fn after_a_sigkill_under_load_the_domain_state_equals_a_fresh_replay_of_the_log() {
    kill_and_compare(3);
}

/// The same, many times (`cargo test --release --test it crash_domain -- --ignored`), on ten
/// logs in turn.
#[test]
#[ignore]
fn after_many_sigkills_under_load_the_domain_state_equals_a_fresh_replay_of_the_log() {
    kill_and_compare(30);
}
