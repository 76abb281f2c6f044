//! Crash safety: SIGKILL the server while clients stream events; every acknowledged event must
//! survive, and the log must audit clean (nothing half-written) after each restart.

use crate::support::{key, key_added, run, signed, Server};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasteledger::ledger::merkle::leaf_hash;

/// (index, leaf hash, canonical event body) of every acknowledged event.
type Acked = Vec<(u64, [u8; 32], Vec<u8>)>;

fn stream_until_killed(server: Server, round: u32, kill_after: Duration) -> Acked {
    let acked = Arc::new(Mutex::new(Acked::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let plant = key(1);
    let clients: Vec<_> = (0..4u32)
        .map(|t| {
            let (acked, stop, url, plant) = (
                acked.clone(),
                stop.clone(),
                server.url.clone(),
                plant.clone(),
            );
            std::thread::spawn(move || {
                let c = wasteledger::client::LogClient::new(&url);
                for seq in 0u64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let ev = signed(
                        json!({"type": "note", "round": round, "client": t, "seq": seq}),
                        &[&plant],
                    );
                    let Ok(a) = c.post("/v1/events", &ev.to_bytes()) else {
                        break;
                    };
                    if a.status != 201 {
                        break;
                    }
                    let r = a.json().unwrap();
                    let leaf = base64::Engine::decode(
                        &base64::engine::general_purpose::STANDARD,
                        r["leaf_hash"].as_str().unwrap(),
                    )
                    .unwrap();
                    acked.lock().unwrap().push((
                        r["index"].as_u64().unwrap(),
                        leaf.try_into().unwrap(),
                        ev.event_bytes().to_vec(),
                    ));
                }
            })
        })
        .collect();
    // The kill lands `kill_after` into the stream, and not before the clients have had a
    // dozen answers (a machine busy with other work answers the first ones slowly).
    std::thread::sleep(kill_after);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() <= 12 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    Arc::try_unwrap(acked).unwrap().into_inner().unwrap()
}

#[test]
fn acknowledged_events_survive_sigkill_and_the_log_stays_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let server = Server::start_bare(&data);
    assert_eq!(
        server
            .client()
            .post("/v1/events", &key_added(&key(1), "plant").to_bytes())
            .unwrap()
            .status,
        201
    );
    let mut all_acked: Acked = Vec::new();
    let mut server = Some(server);
    for round in 0..4u32 {
        let acked = stream_until_killed(
            server.take().unwrap(),
            round,
            Duration::from_millis(300 + 170 * round as u64),
        );
        assert!(
            acked.len() > 10,
            "round {round}: the clients got only {} acknowledgements",
            acked.len()
        );
        all_acked.extend(acked);

        // Stopped: the stored log audits clean, whatever the kill interrupted.
        let (ok, out) = run(&["verify", "--data", data.to_str().unwrap()]);
        assert!(ok, "round {round}: verify after SIGKILL failed: {out}");

        let restarted = Server::start_bare(&data);
        let c = restarted.client();
        let cp = c.checkpoint(&c.verifier().unwrap()).unwrap().0;
        eprintln!(
            "round {round}: {} acknowledged so far, log size {} after restart",
            all_acked.len(),
            cp.size
        );
        for (index, leaf, body) in &all_acked {
            assert!(
                *index < cp.size,
                "acknowledged entry {index} is beyond the restarted log's size {}",
                cp.size
            );
            let bytes = c.get_ok(&format!("/v1/log/entries/{index}")).unwrap();
            assert_eq!(
                &leaf_hash(bytes.as_bytes()),
                leaf,
                "entry {index} is not what was acknowledged"
            );
            let entry = wasteledger::ledger::entry::Entry::decode(bytes.as_bytes()).unwrap();
            assert_eq!(entry.event.event_bytes(), &body[..]);
        }
        server = Some(restarted);
    }
}
