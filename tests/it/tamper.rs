//! Tamper evidence: build a real log through the library, change its sled database behind its
//! back, and check that `wasteledger verify` refuses it, naming the right entry and cause; and
//! that `wasteledger reindex` rebuilds every derived tree byte for byte.

use crate::support::{key, run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use wasteledger::bench::{fresh_log, sample_event};
use wasteledger::ledger::entry::Entry;
use wasteledger::ledger::event::VerifiedEvent;
use wasteledger::ledger::note::Checkpoint;
use wasteledger::ledger::time::Timestamp;

/// Events appended after genesis (entry 0) and the one key registration (entry 1).
pub(crate) const EVENTS: u64 = 40;
/// The log key `bench::fresh_log` creates its logs with.
pub(crate) const LOG_KEY_SEED: [u8; 32] = [2; 32];
/// The trees `reindex` rebuilds from the entries.
const DERIVED: [&str; 4] = [NODE_TILES, "replay", "registry", "meta"];

/// A fresh, closed log of genesis + 1 key + `events` entries: (tempdir, log dir, size).
pub(crate) fn build_log(events: u64) -> (TempDir, PathBuf, u64) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let (ledger, keys) = fresh_log(&log, 1).unwrap();
    append_samples(&ledger, &keys, 0, events);
    let size = ledger.head().size;
    assert_eq!(size, events + 2, "genesis + key registration + events");
    ledger.shutdown();
    drop(ledger);
    wait_unlocked(&log);
    (dir, log, size)
}

/// Entries a run holds in [`log_in_runs`]'s logs.
const RUN: usize = 6;

/// [`build_log`], its entries then stored in runs of [`RUN`] from entry 2 (genesis and the key
/// registration alone), as `store/runs.rs` reads them: the sequencer groups a batch's entries,
/// and how many a batch takes depends on timing; the cases below need to know where each
/// entry is.
fn log_in_runs(events: u64) -> (TempDir, PathBuf, u64) {
    let (dir, log, size) = build_log(events);
    tamper(&log, |db| {
        let entries = tree(db, "entries");
        let all: Vec<Vec<u8>> = stored_entries(&entries)
            .iter()
            .flat_map(|(_, v)| unrun(v))
            .collect();
        assert_eq!(all.len() as u64, size, "every entry is held once");
        entries.clear().unwrap();
        put_run(&entries, 0, &all[..1]);
        put_run(&entries, 1, &all[1..2]);
        for (n, run) in all[2..].chunks(RUN).enumerate() {
            put_run(&entries, 2 + (n * RUN) as u64, run);
        }
    });
    (dir, log, size)
}

/// Append sample events `from..from + n` signed by `keys`, each acknowledged.
pub(crate) fn append_samples(
    ledger: &wasteledger::store::Ledger,
    keys: &[ed25519_dalek::SigningKey],
    from: u64,
    n: u64,
) {
    let signed = (from..from + n).map(|i| sample_event(i, keys)).collect();
    let verified: Vec<VerifiedEvent> = VerifiedEvent::check_all(signed, |_| {})
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    for r in ledger.submit_many(verified) {
        r.unwrap();
    }
}

/// Run `wasteledger verify --data log`: (success, stdout + stderr). A verify that does not
/// finish within a minute fails the test (and is killed) rather than hanging it.
fn verify(log: &Path) -> (bool, String) {
    let (code, out) = crate::support::run_timed(
        &["verify", "--data", log.to_str().unwrap()],
        Duration::from_secs(60),
    );
    (code == Some(0), out)
}

/// Wait until no handle in this process holds the database's lock. Dropping the last
/// `sled::Db` (0.34) does not release its `flock` at once: sled's own threads let go of the
/// file a moment later (spacejam/sled#1234), and until then the `wasteledger` child process
/// would find the database "in use by another process".
pub(crate) fn wait_unlocked(log: &Path) {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(log.join("db/db")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    // SAFETY: flock on a descriptor we own; the lock taken is dropped at once.
    while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        assert!(
            Instant::now() < deadline,
            "the database in {} stayed locked",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
}

/// Open the log's sled database directly (the ledger must be closed), change it, flush, close.
pub(crate) fn tamper<T>(log: &Path, f: impl FnOnce(&sled::Db) -> T) -> T {
    wait_unlocked(log);
    let db = sled::Config::new()
        .path(log.join("db"))
        .flush_every_ms(None)
        .open()
        .unwrap();
    let out = f(&db);
    db.flush().unwrap();
    drop(db);
    wait_unlocked(log);
    out
}

pub(crate) fn tree(db: &sled::Db, name: &str) -> sled::Tree {
    db.open_tree(name).unwrap()
}

/// The replay index's key for the open segment's hashes from entry `first` (`store/hashes.rs`).
pub(crate) fn replay_chunk(first: u64) -> [u8; 9] {
    let mut k = [b't'; 9];
    k[1..].copy_from_slice(&first.to_be_bytes());
    k
}

fn entry_key(i: u64) -> [u8; 8] {
    i.to_be_bytes()
}

// The `entries` tree as ARCHITECTURE.md describes it, read and written here without the
// store's code: a key is the index of the first entry it holds (big-endian); its value is one
// entry as it is (canonical JSON, starting `{`), or a run of at least two consecutive entries:
// 0x00, then each entry's length (big-endian u16) and bytes; or such a run compressed: 0x01,
// then the bytes after the 0x00 in LZ4's block format, prefixed with their length (u32 LE).

/// The entries one key holds.
fn unrun(value: &[u8]) -> Vec<Vec<u8>> {
    let plain = match value.first() {
        Some(0) => value[1..].to_vec(),
        Some(1) => lz4_flex::block::decompress_size_prepended(&value[1..]).unwrap(),
        _ => return vec![value.to_vec()],
    };
    let mut out = Vec::new();
    let mut rest = &plain[..];
    while !rest.is_empty() {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        out.push(rest[2..2 + len].to_vec());
        rest = &rest[2 + len..];
    }
    assert!(out.len() >= 2, "a run holds at least two entries");
    out
}

/// The value of a key holding `entries`, compressed as the sequencer writes them.
fn run_of(entries: &[Vec<u8>]) -> Vec<u8> {
    if let [one] = entries {
        return one.clone();
    }
    let plain = plain_run_of(entries);
    [vec![1], lz4_flex::block::compress_prepend_size(&plain[1..])].concat()
}

/// The value of a key holding `entries` as a run not compressed (older logs).
fn plain_run_of(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![0];
    for e in entries {
        v.extend_from_slice(&(e.len() as u16).to_be_bytes());
        v.extend_from_slice(e);
    }
    v
}

/// The key holding entry `i`, and the entries it holds.
fn holding(entries: &sled::Tree, i: u64) -> (u64, Vec<Vec<u8>>) {
    let (k, v) = entries
        .range(..=entry_key(i))
        .next_back()
        .expect("a key at or before the entry")
        .unwrap();
    let first = u64::from_be_bytes(k.as_ref().try_into().unwrap());
    let run = unrun(&v);
    assert!(i < first + run.len() as u64, "entry {i} is stored");
    (first, run)
}

/// Put `entries` from index `first` under as many keys as runs need (one key, or none).
fn put_run(entries: &sled::Tree, first: u64, run: &[Vec<u8>]) {
    if !run.is_empty() {
        entries.insert(entry_key(first), run_of(run)).unwrap();
    }
}

/// Entry `i`'s stored bytes.
fn get_entry(entries: &sled::Tree, i: u64) -> Vec<u8> {
    let (first, run) = holding(entries, i);
    run[(i - first) as usize].clone()
}

/// Store `bytes` as entry `i`, in its place in the run that holds it.
fn set_entry(entries: &sled::Tree, i: u64, bytes: Vec<u8>) {
    let (first, mut run) = holding(entries, i);
    run[(i - first) as usize] = bytes;
    put_run(entries, first, &run);
}

/// Take entry `i` out, leaving every other entry at its index: the run holding it is cut in
/// two around it.
fn remove_entry(entries: &sled::Tree, i: u64) -> Vec<u8> {
    let (first, mut run) = holding(entries, i);
    let after = run.split_off((i - first) as usize + 1);
    let gone = run.pop().unwrap();
    entries.remove(entry_key(first)).unwrap();
    put_run(entries, first, &run);
    put_run(entries, i + 1, &after);
    gone
}

/// Every key of the `entries` tree and its value, to put back with [`put_back`].
fn stored_entries(entries: &sled::Tree) -> Vec<(sled::IVec, sled::IVec)> {
    entries.iter().map(Result::unwrap).collect()
}

fn put_back(entries: &sled::Tree, kept: &[(sled::IVec, sled::IVec)]) {
    entries.clear().unwrap();
    for (k, v) in kept {
        entries.insert(k, v).unwrap();
    }
}

/// The stored Merkle nodes (`store/nodes.rs`): each level's nodes in tiles of
/// [`NODES_PER_TILE`] hashes of 32 bytes, keyed level u8 || tile u64 (big-endian); a level's
/// last tile holds fewer.
pub(crate) const NODE_TILES: &str = "node-tiles";
pub(crate) const NODES_PER_TILE: u64 = 16;

pub(crate) fn tile_key(level: u8, tile: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&tile.to_be_bytes());
    k
}

/// Change node `index` of `level` where its tile holds it.
pub(crate) fn edit_node(tiles: &sled::Tree, level: u8, index: u64, f: impl FnOnce(&mut [u8])) {
    let key = tile_key(level, index / NODES_PER_TILE);
    let mut tile = tiles
        .get(key)
        .unwrap()
        .expect("the node's tile exists")
        .to_vec();
    let at = (index % NODES_PER_TILE) as usize * 32;
    f(&mut tile[at..at + 32]);
    tiles.insert(key, tile).unwrap();
}

/// Replace the stored bytes of entry `i` by `edit(old bytes)`; the edit must change them.
fn edit_entry(log: &Path, i: u64, edit: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    tamper(log, |db| {
        let entries = tree(db, "entries");
        let old = get_entry(&entries, i);
        let new = edit(old.clone());
        assert_ne!(new, old, "the edit of entry {i} changed nothing");
        set_entry(&entries, i, new);
    })
}

/// Replace the first `from` in `bytes` by `to`, insisting `from` is there.
fn replace_once(bytes: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    let s = String::from_utf8(bytes).unwrap();
    assert!(s.contains(from), "{from:?} not in {s}");
    s.replacen(from, to, 1).into_bytes()
}

/// Decode an entry, change one field, and re-encode it canonically (signatures stay valid).
fn reencode(bytes: Vec<u8>, change: impl FnOnce(&mut Entry)) -> Vec<u8> {
    let mut e = Entry::decode(&bytes).unwrap();
    change(&mut e);
    e.encode()
}

/// Verify must fail at exactly `entry {index}`, and its message must contain every `cause`.
fn assert_fails_at(log: &Path, index: u64, causes: &[&str]) {
    let (ok, out) = verify(log);
    assert!(!ok, "verify accepted a tampered log: {out}");
    let at = format!("wasteledger: verify failed at entry {index}: ");
    assert!(out.contains(&at), "expected {at:?} in: {out}");
    for cause in causes {
        assert!(out.contains(cause), "expected {cause:?} in: {out}");
    }
    // What the audit found, not the server's advice to run the audit.
    assert!(
        !out.contains("run `wasteledger verify`"),
        "verify tells its reader to run verify: {out}"
    );
}

fn assert_verifies(log: &Path, size: u64) {
    let (ok, out) = verify(log);
    assert!(ok, "verify failed on an intact log: {out}");
    assert!(out.starts_with(&format!("ok: {size} entries, ")), "{out}");
}

/// The seq of the sample event in entry `i` (entries 0 and 1 are genesis and the key).
fn seq_of(i: u64) -> u64 {
    i - 2
}

#[test]
fn a_clean_log_verifies_with_its_exact_size() {
    let (_dir, log, size) = build_log(EVENTS);
    assert_verifies(&log, size);
    // The sequencer stores a batch's entries as compressed runs (a batch of one as it is).
    let kinds: Vec<u8> = tamper(&log, |db| {
        let entries = tree(db, "entries");
        stored_entries(&entries).iter().map(|(_, v)| v[0]).collect()
    });
    assert!(kinds.iter().all(|k| [b'{', 1].contains(k)), "{kinds:?}");
    assert!(kinds.contains(&1), "{kinds:?}");
    let (_, out) = verify(&log);
    // genesis and the key registration are signed by the authority, each event by one party.
    assert!(out.contains(&format!(" {size} signatures,")), "{out}");
    // The tampering below edits entries inside runs: the log stored as the sequencer wrote it
    // verifies, and so does the same log in runs of RUN.
    let (_dir, log, size) = log_in_runs(EVENTS);
    let keys = tamper(&log, |db| stored_entries(&tree(db, "entries")).len() as u64);
    assert_eq!(keys, 2 + (size - 2).div_ceil(RUN as u64));
    assert_verifies(&log, size);
    // A log written before runs were compressed: its plain runs verify as they are.
    tamper(&log, |db| {
        let entries = tree(db, "entries");
        for (k, v) in stored_entries(&entries).into_iter().skip(2) {
            entries.insert(k, plain_run_of(&unrun(&v))).unwrap();
        }
    });
    assert_verifies(&log, size);
}

#[test]
fn a_run_that_cannot_be_read_or_overlaps_another_is_named_at_its_first_entry() {
    let (_dir, log, _) = log_in_runs(EVENTS);
    let (first, last) = tamper(&log, |db| {
        let entries = tree(db, "entries");
        let (first, run) = holding(&entries, 17);
        assert!(run.len() > 2 && first > 2, "entry 17 is inside a run");
        // Its last entry's bytes cut short: the lengths no longer add up.
        let mut v = run_of(&run);
        v.truncate(v.len() - 10);
        entries.insert(entry_key(first), v).unwrap();
        (first, first + run.len() as u64 - 1)
    });
    assert_fails_at(
        &log,
        first,
        &[&format!(
            "the entries stored from index {first} are not a run of entries"
        )],
    );
    // Intact again, and a copy of its last entry stored under a key of its own as well.
    let (_dir, log, _) = log_in_runs(EVENTS);
    tamper(&log, |db| {
        let entries = tree(db, "entries");
        let copy = get_entry(&entries, last);
        entries.insert(entry_key(last), copy).unwrap();
    });
    assert_fails_at(
        &log,
        last + 1,
        &[&format!(
            "the entries stored from index {last} overlap those stored before them (up to {last})"
        )],
    );
}

#[test]
fn a_changed_entry_is_named_with_its_cause() {
    let seq = format!("\"seq\":{}", seq_of(17));
    let other_seq = format!("\"seq\":{}", seq_of(17) + 1000);
    let spaced = format!("\"seq\": {}", seq_of(17));
    type Edit<'a> = Box<dyn FnOnce(Vec<u8>) -> Vec<u8> + 'a>;
    let cases: Vec<(&str, Edit, &[&str])> = vec![
        // Still canonical JSON, but not what the party signed.
        (
            "seq digit",
            Box::new(|b| replace_once(b, &seq, &other_seq)),
            &["signature"],
        ),
        // Not canonical (a space) and not JSON at all (cut short).
        (
            "non-canonical",
            Box::new(|b| replace_once(b, &seq, &spaced)),
            &["cannot be decoded"],
        ),
        (
            "truncated",
            Box::new(|b| b[..b.len() - 1].to_vec()),
            &["cannot be decoded"],
        ),
        // Its time is not signed: entry 17 passes its own checks, but its leaf hash is no
        // longer the `prev` that entry 18 records.
        (
            "time",
            Box::new(|b| {
                reencode(b, |e| {
                    e.time = Timestamp::from_unix_millis(e.time.unix_millis() + 1)
                })
            }),
            &["hash chain is broken", "the `prev` that entry 18 records"],
        ),
    ];
    for (what, edit, causes) in cases {
        let (_dir, log, _) = log_in_runs(EVENTS);
        edit_entry(&log, 17, edit);
        eprintln!("case: {what}");
        assert_fails_at(&log, 17, causes);
    }
}

#[test]
fn a_changed_chain_link_is_named_at_the_entry_it_should_link_to() {
    // Entry 17's `prev` is not signed. The auditor cannot tell this from an edit of entry 16's
    // (unsigned) time, so it names entry 16 and says the link in entry 17 may be what changed.
    let (_dir, log, _) = log_in_runs(EVENTS);
    edit_entry(&log, 17, |b| reencode(b, |e| e.prev = [7; 32]));
    assert_fails_at(
        &log,
        16,
        &[
            "hash chain is broken",
            "the `prev` that entry 17 records",
            "the link in entry 17",
        ],
    );
}

#[test]
fn a_changed_time_in_the_last_entry_is_caught_by_the_checkpoint() {
    // No later entry records the last entry's leaf hash: only the checkpoint's root does.
    let (_dir, log, size) = log_in_runs(EVENTS);
    edit_entry(&log, size - 1, |b| {
        reencode(b, |e| {
            e.time = Timestamp::from_unix_millis(e.time.unix_millis() + 1)
        })
    });
    assert_fails_at(
        &log,
        size,
        &["checkpoint: its root hash is not the root of the stored entries"],
    );
}

#[test]
fn a_deleted_entry_is_named_as_missing() {
    let (_dir, log, _) = log_in_runs(EVENTS);
    tamper(&log, |db| remove_entry(&tree(db, "entries"), 17));
    assert_fails_at(&log, 17, &["missing", "position 18"]);
}

#[test]
fn swapped_entries_are_named_at_the_first() {
    let (_dir, log, _) = log_in_runs(EVENTS);
    tamper(&log, |db| {
        let entries = tree(db, "entries");
        let a = get_entry(&entries, 12);
        let b = get_entry(&entries, 20);
        set_entry(&entries, 12, b);
        set_entry(&entries, 20, a);
    });
    assert_fails_at(&log, 12, &["says index 20"]);
}

#[test]
fn a_changed_or_missing_merkle_node_is_named_with_the_entries_it_covers() {
    type Edit = fn(&sled::Tree);
    let cases: [(Edit, &str); 2] = [
        (
            |tiles| edit_node(tiles, 2, 3, |h| h[5] ^= 0x01),
            "differs from the hash of those entries",
        ),
        (
            // The tile of level 2 cut after node #2: #3 and those after it are missing.
            |tiles| {
                let tile = tiles.get(tile_key(2, 0)).unwrap().expect("level 2 tile 0");
                tiles.insert(tile_key(2, 0), &tile[..3 * 32]).unwrap();
            },
            "is missing",
        ),
    ];
    for (edit, cause) in cases {
        let (_dir, log, _) = log_in_runs(EVENTS);
        tamper(&log, |db| edit(&tree(db, NODE_TILES)));
        // Named at entry 15, the one that completes the node (entries 12..=14 are bound by
        // their successors' `prev`).
        assert_fails_at(
            &log,
            15,
            &["Merkle node (level 2, #3)", "entries 12..=15", cause],
        );
    }
}

#[test]
fn a_drifted_replay_index_is_named() {
    let (_dir, log, _) = log_in_runs(EVENTS);
    // The open segment's hashes in index order (`t` || first index, 128 to a key): entry 17's
    // becomes entry 18's, as if the event at 18 had been logged at 17 as well.
    tamper(&log, |db| {
        let replay = tree(db, "replay");
        let mut chunk = replay
            .get(replay_chunk(0))
            .unwrap()
            .expect("entries 0.. indexed")
            .to_vec();
        let eighteen = chunk[18 * 32..19 * 32].to_vec();
        chunk[17 * 32..18 * 32].copy_from_slice(&eighteen);
        replay.insert(replay_chunk(0), chunk).unwrap();
    });
    assert_fails_at(&log, 17, &["replay index disagrees"]);
}

/// A derived key with no entry behind it would make the log refuse an event never logged
/// (replay index) or fail to open (registry index): verify must see it.
#[test]
fn a_derived_key_with_no_entry_behind_it_is_named() {
    for (name, key, value) in [
        ("replay", replay_chunk(1 << 20).to_vec(), vec![0xab; 32]),
        ("registry", entry_key(EVENTS + 10).to_vec(), vec![]),
        (NODE_TILES, tile_key(2, 1_000).to_vec(), vec![0; 32]),
    ] {
        let (_dir, log, size) = log_in_runs(EVENTS);
        tamper(&log, |db| tree(db, name).insert(key, value).unwrap());
        let (ok, out) = verify(&log);
        assert!(!ok, "{name}: verify accepted an extra key: {out}");
        assert!(
            out.contains(&format!("verify failed at entry {size}: ")) && out.contains("drifted"),
            "{name}: {out}"
        );
    }
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let (_dir, log, size) = log_in_runs(EVENTS);
    tamper(&log, |db| {
        let meta = tree(db, "meta");
        let note = String::from_utf8(meta.get("checkpoint").unwrap().unwrap().to_vec()).unwrap();
        let body = &note[..note.find("\n\n").expect("note has a signature block") + 1];
        let cp = Checkpoint::parse_body(body).unwrap();
        assert_eq!(cp.size, size);
        let forged = cp.sign(&key(99));
        assert_ne!(forged, note);
        assert!(forged.starts_with(body), "same origin, size and root");
        meta.insert("checkpoint", forged.as_bytes()).unwrap();
    });
    assert_fails_at(&log, size, &["checkpoint", "no valid signature"]);
}

#[test]
fn a_missing_last_entry_leaves_the_checkpoint_size_wrong() {
    let (_dir, log, size) = log_in_runs(EVENTS);
    tamper(&log, |db| remove_entry(&tree(db, "entries"), size - 1));
    assert_fails_at(
        &log,
        size - 1,
        &[&format!(
            "checkpoint: it says size {size} but the log holds {} entries",
            size - 1
        )],
    );
    // Nor will the server open it and serve a checkpoint the log does not back.
    wait_unlocked(&log);
    let opened = wasteledger::store::Ledger::open(
        &log,
        wasteledger::store::Config::default(),
        ed25519_dalek::SigningKey::from_bytes(&LOG_KEY_SEED),
        std::sync::Arc::new(wasteledger::ledger::state::OpenRules),
        std::sync::Arc::new(wasteledger::store::SystemClock),
    );
    let err = opened
        .err()
        .expect("a log that lost its last entry must not open")
        .to_string();
    assert!(
        err.contains(&format!("holds {} entries", size - 1))
            && err.contains(&format!("checkpoint of size {size}"))
            && err.contains("restore"),
        "{err}"
    );
}

/// Every key/value pair of every derived tree.
/// Each derived tree's name and its key/value pairs, in key order.
type Snapshot = BTreeMap<&'static str, Vec<(Vec<u8>, Vec<u8>)>>;

fn snapshot(log: &Path) -> Snapshot {
    tamper(log, |db| {
        DERIVED
            .iter()
            .map(|&name| {
                let kvs = tree(db, name)
                    .iter()
                    .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                    .collect();
                (name, kvs)
            })
            .collect()
    })
}

/// The log key of `build_log`'s logs, written to a key file in `dir`.
fn log_key_file(dir: &Path) -> PathBuf {
    let key_file = dir.join("log.pem");
    wasteledger::keyfile::write(
        &key_file,
        &ed25519_dalek::SigningKey::from_bytes(&LOG_KEY_SEED),
    )
    .unwrap();
    key_file
}

fn try_reindex(log: &Path, key_file: &Path) -> (bool, String) {
    run(&[
        "reindex",
        "--data",
        log.to_str().unwrap(),
        "--log-key",
        key_file.to_str().unwrap(),
    ])
}

fn reindex(log: &Path, key_file: &Path) {
    let (ok, out) = try_reindex(log, key_file);
    assert!(ok, "reindex failed: {out}");
}

#[test]
fn reindex_rebuilds_every_derived_tree_byte_for_byte() {
    let (dir, log, size) = log_in_runs(EVENTS);
    let key_file = log_key_file(dir.path());
    let before = snapshot(&log);
    for name in DERIVED {
        assert!(!before[name].is_empty(), "the {name} tree is empty");
    }
    assert!(
        before[NODE_TILES]
            .iter()
            .any(|(k, v)| k[..] == tile_key(2, 0) && v.len() > 4 * 32),
        "node level 2 #3 is stored"
    );

    // Untouched: reindexing changes nothing.
    reindex(&log, &key_file);
    assert_eq!(
        snapshot(&log),
        before,
        "reindex of an intact log changed a derived tree"
    );
    assert_verifies(&log, size);

    // One node corrupted: verify sees it, reindex restores it.
    tamper(&log, |db| {
        edit_node(&tree(db, NODE_TILES), 2, 3, |h| h.fill(0))
    });
    assert_fails_at(&log, 15, &["Merkle node (level 2, #3)"]);
    reindex(&log, &key_file);
    assert_eq!(snapshot(&log), before, "reindex did not restore the node");
    assert_verifies(&log, size);

    // Every derived tree wiped: rebuilt from the entries alone.
    tamper(&log, |db| {
        for name in DERIVED {
            tree(db, name).clear().unwrap();
        }
    });
    assert!(
        !verify(&log).0,
        "verify accepted a log without its derived trees"
    );
    reindex(&log, &key_file);
    assert_eq!(
        snapshot(&log),
        before,
        "reindex did not rebuild the wiped trees as they were"
    );
    assert_verifies(&log, size);
}

/// Entries `verify` reads and checks at a time (`CHUNK` in src/store/verify.rs).
const AUDIT_CHUNK: u64 = 4096;

#[test]
fn damage_is_named_across_audit_chunks_and_early_in_a_long_log() {
    // More than three chunks: an early failure leaves most of the log unread, and an audit
    // that reads ahead must still stop and report (not hang).
    let (_dir, log, size) = log_in_runs(3 * AUDIT_CHUNK + 100);
    let originals = tamper(&log, |db| stored_entries(&tree(db, "entries")));
    let restore = || tamper(&log, |db| put_back(&tree(db, "entries"), &originals));
    let seq = format!("\"seq\":{}", seq_of(17));
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>, u64, Vec<String>);
    let cases: Vec<Case> = vec![
        (
            "early signature failure",
            Box::new(|| edit_entry(&log, 17, |b| replace_once(b, &seq, "\"seq\":99999"))),
            17,
            vec!["signature".into()],
        ),
        (
            "first entry of the second chunk deleted",
            Box::new(|| {
                drop(tamper(&log, |db| {
                    remove_entry(&tree(db, "entries"), AUDIT_CHUNK)
                }))
            }),
            AUDIT_CHUNK,
            vec!["missing".into(), format!("position {}", AUDIT_CHUNK + 1)],
        ),
        (
            // The chain tip carried over from the first chunk is what the link is checked against.
            "chain link of the second chunk's first entry",
            Box::new(|| edit_entry(&log, AUDIT_CHUNK, |b| reencode(b, |e| e.prev = [7; 32]))),
            AUDIT_CHUNK - 1,
            vec![
                "hash chain is broken".into(),
                format!("the link in entry {AUDIT_CHUNK}"),
            ],
        ),
    ];
    for (what, damage, index, causes) in cases {
        eprintln!("case: {what}");
        damage();
        let causes: Vec<&str> = causes.iter().map(String::as_str).collect();
        assert_fails_at(&log, index, &causes);
        restore();
        assert_verifies(&log, size);
    }
}

/// Reindex must not sign a log that lost entries: that would be a second, shorter signed view.
#[test]
fn reindex_refuses_to_sign_a_rolled_back_log() {
    let (dir, log, size) = log_in_runs(EVENTS);
    let key_file = log_key_file(dir.path());
    let before = tamper(&log, |db| {
        remove_entry(&tree(db, "entries"), size - 1);
        tree(db, "meta")
            .get(b"checkpoint")
            .unwrap()
            .unwrap()
            .to_vec()
    });
    let (ok, out) = try_reindex(&log, &key_file);
    assert!(
        !ok && out.contains("no longer match the log's signed checkpoint"),
        "{out}"
    );
    wait_unlocked(&log);
    let after = tamper(&log, |db| {
        tree(db, "meta")
            .get(b"checkpoint")
            .unwrap()
            .unwrap()
            .to_vec()
    });
    assert_eq!(
        after, before,
        "the signed checkpoint must survive a refused reindex"
    );
}

/// A database written before the replay index was cut into segments (its index the `events`
/// tree, keyed by hash) is refused at open, saying to run `reindex`; `verify` says the same.
/// `reindex` writes the index anew, byte for byte what a new log holds, and drops the old tree.
#[test]
fn a_log_with_the_earlier_replay_index_is_refused_until_reindexed() {
    let (dir, log, size) = log_in_runs(EVENTS);
    let key_file = log_key_file(dir.path());
    let before = snapshot(&log);
    tamper(&log, |db| {
        tree(db, "replay").clear().unwrap();
        tree(db, "meta").remove("replay_segment").unwrap();
        tree(db, "events")
            .insert([7u8; 32], &3u64.to_be_bytes()[..])
            .unwrap();
    });
    refused_until_reindexed(&log, &key_file, size, "events", &["earlier wasteledger"]);
    assert_eq!(snapshot(&log), before, "the index a new log holds");
}

/// `log`, written by an earlier wasteledger with its derived tree `old`: refused at open and by
/// `verify`, both saying `says` and to run `reindex`; once reindexed, `old` is gone, the log
/// verifies and opens.
fn refused_until_reindexed(log: &Path, key_file: &Path, size: u64, old: &str, says: &[&str]) {
    let open = || {
        wasteledger::store::Ledger::open(
            log,
            wasteledger::store::Config::default(),
            ed25519_dalek::SigningKey::from_bytes(&LOG_KEY_SEED),
            std::sync::Arc::new(wasteledger::ledger::state::OpenRules),
            std::sync::Arc::new(wasteledger::store::SystemClock),
        )
    };
    let refused = open().err().expect("refused").to_string();
    assert!(
        says.iter().all(|s| refused.contains(s)) && refused.contains("reindex"),
        "{refused}"
    );
    let (ok, out) = verify(log);
    assert!(
        !ok && says.iter().all(|s| out.contains(s)) && out.contains("reindex"),
        "{out}"
    );
    reindex(log, key_file);
    assert!(tamper(log, |db| !db
        .tree_names()
        .iter()
        .any(|n| n == old.as_bytes())));
    assert_verifies(log, size);
    open().expect("opens once reindexed").close().unwrap();
}

/// A database written before the Merkle nodes were stored in tiles (one node a key in the
/// `nodes` tree, level u8 || index u64 -> hash) is refused at open, saying to run `reindex`
/// once; `verify` says the same. `reindex` writes the tiles, byte for byte what a new log
/// holds, and drops the old tree.
#[test]
fn a_log_with_its_nodes_one_a_key_is_refused_until_reindexed() {
    let (dir, log, size) = log_in_runs(EVENTS);
    let key_file = log_key_file(dir.path());
    let before = snapshot(&log);
    tamper(&log, |db| {
        let (tiles, old) = (tree(db, NODE_TILES), tree(db, "nodes"));
        for kv in tiles.iter() {
            let (k, v) = kv.unwrap();
            let first = u64::from_be_bytes(k[1..].try_into().unwrap()) * NODES_PER_TILE;
            for (i, h) in v.chunks(32).enumerate() {
                let mut key = vec![k[0]];
                key.extend_from_slice(&(first + i as u64).to_be_bytes());
                old.insert(key, h).unwrap();
            }
        }
        assert!(old.len() > tiles.len(), "more nodes than tiles");
        assert!(db.drop_tree(NODE_TILES).unwrap());
    });
    refused_until_reindexed(&log, &key_file, size, "nodes", &["one a key"]);
    assert_eq!(snapshot(&log), before, "the tiles a new log holds");
}

/// A level's last tile holding a node more than the log implies (no entries under it) is drift
/// `verify` names at the log's end.
#[test]
fn a_tile_holding_a_node_past_the_log_is_named() {
    let (_dir, log, size) = log_in_runs(EVENTS);
    tamper(&log, |db| {
        let tiles = tree(db, NODE_TILES);
        let mut tile = tiles.get(tile_key(2, 0)).unwrap().unwrap().to_vec();
        assert_eq!(tile.len() as u64, (size >> 2) * 32, "level 2's one tile");
        tile.extend_from_slice(&[0xcd; 32]);
        tiles.insert(tile_key(2, 0), tile).unwrap();
    });
    let (ok, out) = verify(&log);
    assert!(
        !ok && out.contains(&format!("verify failed at entry {size}: "))
            && out.contains("level 2 do not end where the log does"),
        "{out}"
    );
}
