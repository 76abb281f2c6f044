//! The domain's read model on disk (the `domain` tree): written with each batch, resumed at
//! open, rebuilt by `reindex` byte for byte as the server built it live, rebuilt at open when
//! its layout is not this build's, and held to a replay of the entries by `verify`.

use crate::durability::copy_dir;
use crate::support::run_unlocked;
use crate::world::World;
use std::path::Path;

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Every pair of the read model of the log in `home` (no server may hold it).
fn read_model(home: &Path) -> Pairs {
    let db = open_db(home);
    let t = db.open_tree("domain").unwrap();
    t.iter()
        .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
        .collect()
}

/// sled lets go of its file lock a moment after the server is gone.
fn open_db(home: &Path) -> sled::Db {
    let path = home.join("log").join("db");
    for _ in 0..200 {
        if let Ok(db) = sled::open(&path) {
            return db;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sled::open(&path).unwrap()
}

fn run(args: &[&str], dir: &Path) -> (bool, String) {
    let data = dir.join("log");
    let mut all = args.to_vec();
    all.extend(["--data", data.to_str().unwrap()]);
    run_unlocked(&all)
}

/// The key of one of the fold's own facts (`meta` table: tag `0`, then the text escaped).
fn meta_key(name: &str) -> Vec<u8> {
    let mut k = vec![b'0'];
    k.extend_from_slice(name.as_bytes());
    k.extend_from_slice(&[0, 0]);
    k
}

#[test]
fn the_read_model_is_resumed_rebuilt_byte_for_byte_by_reindex_and_at_a_new_layout_and_held_to_the_entries_by_verify(
) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("city");
    std::fs::create_dir_all(&home).unwrap();
    let w = World::start(&home);
    let loads: Vec<String> = (0..3).map(|_| w.relayed_load()).collect();
    let size = w.server.client().get("/v1/log/checkpoint").unwrap().body;
    drop(w);

    let live = read_model(&home);
    let manifests = live.iter().filter(|(k, _)| k[0] == b'm').count();
    assert_eq!(manifests, loads.len(), "one stored manifest per load");
    let applied = live
        .iter()
        .find(|(k, _)| *k == meta_key("applied"))
        .map(|(_, v)| wasteledger::domain::value::readable(v));
    let entries: u64 = size.lines().nth(1).unwrap().parse().unwrap();
    assert_eq!(
        applied,
        Some(entries.to_string()),
        "the model is at the log's size"
    );
    let (ok, out) = run(&["verify"], &home);
    assert!(ok, "verify: {out}");

    // Reopened, the server resumes from the stored model: it answers as before and writes on.
    let w = World::restart(&home);
    let m = w.manifest(&loads[0]);
    assert_eq!(m["holder"], w.hauler_b.id.as_str(), "{m}");
    assert_eq!(m["status"], "in_transit", "{m}");
    // A restarted World numbers its slip references from 1 again.
    w.slips.store(100, std::sync::atomic::Ordering::Relaxed);
    let more = w.relayed_load();
    drop(w);
    let after = read_model(&home);
    assert!(
        after.iter().any(|(k, _)| k[0] == b'm'
            && k.ends_with(&{
                let mut e = more.as_bytes().to_vec();
                e.extend([0, 0]);
                e
            })),
        "the load appended after the restart is in the model"
    );

    // reindex rebuilds it from the entries alone: byte for byte what the server wrote live.
    let copy = dir.path().join("reindexed");
    copy_dir(&home, &copy);
    let (ok, out) = run(&["reindex"], &copy);
    assert!(ok, "reindex: {out}");
    assert!(
        read_model(&copy) == after,
        "reindex made a read model other than the one written live"
    );

    // A model of another layout is rebuilt when the server opens the log.
    let relaid = dir.path().join("relaid");
    copy_dir(&home, &relaid);
    let set_layout = |layout: &[u8]| {
        let db = open_db(&relaid);
        let t = db.open_tree("domain").unwrap();
        t.insert(meta_key("layout"), layout.to_vec()).unwrap();
        t.insert(b"m-left-over-from-an-old-layout", b"{}".to_vec())
            .unwrap();
        db.flush().unwrap();
    };
    // A layout this build does not know: verify compares the model, and names the difference.
    set_layout(b"999");
    let (ok, out) = run(&["verify"], &relaid);
    assert!(
        !ok && out.contains("read model"),
        "verify of layout 999: {out}"
    );
    // An older one (a log not yet served since an upgrade): verify vouches for the entries and
    // says why it did not compare the model; the server reads nothing of it and rebuilds it.
    set_layout(b"13");
    let (ok, out) = run(&["verify"], &relaid);
    assert!(ok, "verify of a model of an older layout: {out}");
    assert!(
        out.contains(
            "read model was not compared with a replay: it is of layout 13, older than this build's"
        ),
        "{out}"
    );
    drop(World::restart(&relaid));
    let (ok, out) = run(&["verify"], &relaid);
    assert!(
        ok && !out.contains("not compared"),
        "verify after the rebuild: {out}"
    );
    assert!(
        read_model(&relaid) == after,
        "the model rebuilt at open differs from the one written live"
    );

    // verify holds the model to a replay of the entries: a changed value is found and named.
    let tampered = dir.path().join("tampered");
    copy_dir(&home, &tampered);
    {
        let db = open_db(&tampered);
        let t = db.open_tree("domain").unwrap();
        let (k, v) = after.iter().find(|(k, _)| k[0] == b'm').unwrap();
        // Stored compressed (`value::pack`): a record is longer than `PACK_FROM`.
        let mut m: serde_json::Value = wasteledger::domain::value::decode_stored(v).unwrap();
        // A manifest's record: the manifest and its subject links (`fold::ManifestRecord`).
        let status = format!("x{}", m["manifest"]["status"].as_str().unwrap());
        m["manifest"]["status"] = status.into();
        let mut changed = Vec::new();
        wasteledger::domain::value::encode_into(&m, &mut changed).unwrap();
        let changed = wasteledger::domain::value::pack(&changed);
        assert_ne!(&changed, v);
        t.insert(k.clone(), changed).unwrap();
        db.flush().unwrap();
    }
    let (ok, out) = run(&["verify"], &tampered);
    assert!(!ok, "verify passed a tampered read model: {out}");
    assert!(out.contains("read model"), "{out}");
    let (ok, out) = run(&["reindex"], &tampered);
    assert!(ok, "reindex: {out}");
    let (ok, out) = run(&["verify"], &tampered);
    assert!(ok, "verify after reindex: {out}");

    // A key the replay does not make, and one it makes gone: each found and named.
    let (last, _) = after.iter().next_back().unwrap();
    let mut past = last.clone();
    past.push(0);
    for (name, says) in [
        ("extra", "that a replay does not make"),
        ("gone", "that a replay makes"),
    ] {
        let copy = dir.path().join(name);
        copy_dir(&home, &copy);
        {
            let db = open_db(&copy);
            let t = db.open_tree("domain").unwrap();
            if name == "extra" {
                t.insert(&past, &b"x"[..]).unwrap();
            } else {
                t.remove(last).unwrap().expect("the model's last key");
            }
            db.flush().unwrap();
        }
        let (ok, out) = run(&["verify"], &copy);
        assert!(!ok && out.contains(says), "{name}: {out}");
    }
}
