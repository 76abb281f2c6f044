//! The log never silently shrinks or forks: a database that does not reach the checkpoint the
//! log last published (`published-checkpoint`, kept outside sled) is refused by `serve`,
//! `verify` and `reindex`, naming both sizes; `verify` changes no byte of what it audits; and
//! bytes flipped or blocks zeroed anywhere in a stopped log end in the same log or a refusal,
//! never in a smaller log served, a new checkpoint signed over it, or a panic.

use crate::support::{run_timed, BIN};
use crate::tamper::{
    append_samples, build_log, edit_node, tamper, tree, wait_unlocked, EVENTS, LOG_KEY_SEED,
    NODES_PER_TILE, NODE_TILES,
};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use wasteledger::bench::fixture::Rng;
use wasteledger::ledger::event::VerifiedEvent;
use wasteledger::ledger::note::{Checkpoint, NoteVerifier};
use wasteledger::ledger::state::OpenRules;
use wasteledger::store::{Config, Integrity, Ledger, SubmitError, SystemClock};

const RECORD: &str = "published-checkpoint";

fn log_key() -> SigningKey {
    SigningKey::from_bytes(&LOG_KEY_SEED)
}

fn open(log: &Path) -> Result<Ledger, String> {
    wait_unlocked(log);
    Ledger::open(
        log,
        Config::default(),
        log_key(),
        Arc::new(OpenRules),
        Arc::new(SystemClock),
    )
    .map_err(|e| e.to_string())
}

/// Append `n` more sample events (numbered from `from`) to a closed log; its new size.
fn grow(log: &Path, from: u64, n: u64) -> u64 {
    let ledger = open(log).unwrap();
    append_samples(&ledger, &[SigningKey::from_bytes(&[10; 32])], from, n);
    let size = ledger.head().size;
    ledger.shutdown();
    drop(ledger);
    wait_unlocked(log);
    size
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Every file under `dir` with the SHA-256 of its bytes.
fn hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(p, hex::encode(Sha256::digest(&bytes)));
            }
        }
    }
    out
}

fn verify(log: &Path) -> (Option<i32>, String) {
    run_timed(
        &["verify", "--data", log.to_str().unwrap()],
        Duration::from_secs(60),
    )
}

/// What `wasteledger serve` did with a log directory.
enum Served {
    /// It started and served this checkpoint.
    Checkpoint(Checkpoint),
    /// It refused to start: exit code and what it said.
    Refused(Option<i32>, String),
}

/// The bench log's key file (written beside it) and verifier.
fn bench_key(log: &Path) -> (PathBuf, NoteVerifier) {
    let key_file = log.with_extension("log.pem");
    if !key_file.exists() {
        wasteledger::keyfile::write(&key_file, &log_key()).unwrap();
    }
    let verifier = NoteVerifier::new("bench.wasteledger/log", log_key().verifying_key()).unwrap();
    (key_file, verifier)
}

/// Start `wasteledger serve` on `log`, read its checkpoint over HTTP if it starts, stop it.
fn serve(log: &Path, key_file: &Path, verifier: &NoteVerifier) -> Served {
    wait_unlocked(log);
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(log)
        .arg("--log-key")
        .arg(key_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "serve on {} neither listened nor exited in 60 s",
                log.display()
            )
        });
    let served = match line.trim().strip_prefix("listening on ") {
        Some(url) => {
            let (cp, _) = wasteledger::client::LogClient::new(url)
                .checkpoint(verifier)
                .unwrap();
            Served::Checkpoint(cp)
        }
        None => {
            let status = child.wait().unwrap();
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return Served::Refused(status.code(), err);
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    served
}

fn head_of(log: &Path) -> Checkpoint {
    let ledger = open(log).unwrap();
    let h = ledger.head();
    ledger.shutdown();
    drop(ledger);
    wait_unlocked(log);
    Checkpoint {
        origin: "bench.wasteledger/log".into(),
        size: h.size,
        root: h.root,
    }
}

#[test]
fn a_database_cut_back_to_an_earlier_state_is_refused_by_serve_verify_and_reindex() {
    let (_dir, log, _) = build_log(EVENTS);
    // What sled's recovery leaves after a bad byte: the database as it was some batches ago.
    let earlier = log.with_extension("earlier-db");
    copy_dir(&log.join("db"), &earlier);
    let short = head_of(&log).size;
    let size = grow(&log, EVENTS, 30);
    assert!(size > short);
    std::fs::remove_dir_all(log.join("db")).unwrap();
    copy_dir(&earlier, &log.join("db"));
    let record = std::fs::read(log.join(RECORD)).unwrap();

    let (code, out) = verify(&log);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("holds {short} entries"))
            && out.contains(&format!("checkpoint of size {size}"))
            && out.contains("lost entries"),
        "verify names both sizes: {out}"
    );
    let (key_file, verifier) = bench_key(&log);
    match serve(&log, &key_file, &verifier) {
        Served::Refused(code, err) => {
            assert_eq!(code, Some(1), "{err}");
            assert!(
                err.contains(&format!("holds {short} entries"))
                    && err.contains(&format!("checkpoint of size {size}"))
                    && err.contains("restore"),
                "{err}"
            );
        }
        Served::Checkpoint(cp) => panic!("served a log cut back to {} entries", cp.size),
    }
    let (ok, out) = crate::support::run(&[
        "reindex",
        "--data",
        log.to_str().unwrap(),
        "--log-key",
        key_file.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("lost entries"), "{out}");
    assert_eq!(
        std::fs::read(log.join(RECORD)).unwrap(),
        record,
        "no refusal touches the record of what was published"
    );
}

#[test]
fn a_database_that_rewrote_published_entries_is_refused_as_a_fork() {
    let (_dir, log, _) = build_log(EVENTS);
    let earlier = log.with_extension("earlier");
    copy_dir(&log, &earlier);
    let published = grow(&log, EVENTS, 10);
    // The earlier copy goes on with other events, past the published size: a fork.
    let forked = grow(&earlier, 1000, 20);
    assert!(forked > published);
    std::fs::remove_dir_all(log.join("db")).unwrap();
    copy_dir(&earlier.join("db"), &log.join("db"));
    let (code, out) = verify(&log);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("entries were changed"), "{out}");
    let err = open(&log).err().expect("a forked database must not open");
    assert!(
        err.contains(&format!("holds {forked} entries"))
            && err.contains(&format!("first {published}"))
            && err.contains("entries were changed"),
        "{err}"
    );
}

#[test]
fn verify_changes_no_byte_of_the_directory_it_audits_intact_or_damaged() {
    let (_dir, log, size) = build_log(EVENTS);
    let before = hashes(&log);
    let (code, out) = verify(&log);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("ok: {size} entries")), "{out}");
    assert_eq!(
        hashes(&log),
        before,
        "verify of an intact log changed a file"
    );

    // Damage the largest file of the database in its middle: sled's recovery would rewrite it.
    let (file, len) = before
        .keys()
        .filter(|p| p.starts_with(log.join("db")))
        .map(|p| (p.clone(), std::fs::metadata(p).unwrap().len()))
        .max_by_key(|(_, l)| *l)
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let at = (len / 2) as usize;
    bytes[at] ^= 0x5a;
    std::fs::write(&file, &bytes).unwrap();
    let damaged = hashes(&log);
    let (code, out) = verify(&log);
    assert_ne!(code, Some(101), "verify panicked: {out}");
    assert_eq!(
        hashes(&log),
        damaged,
        "verify of a damaged log changed a file"
    );
    assert!(
        out.contains("auditing a copy"),
        "it says it works on a copy: {out}"
    );
}

#[test]
fn a_log_without_its_record_is_refused_until_reindex_adopts_it() {
    let (_dir, log, size) = build_log(EVENTS);
    std::fs::remove_file(log.join(RECORD)).unwrap();
    let err = open(&log).err().expect("no record: refused");
    assert!(err.contains(RECORD) && err.contains("--adopt"), "{err}");
    let (code, out) = verify(&log);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is missing"), "{out}");
    let (key_file, _) = bench_key(&log);
    let reindex = |extra: &[&str]| {
        let mut args = vec![
            "reindex",
            "--data",
            log.to_str().unwrap(),
            "--log-key",
            key_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        crate::support::run(&args)
    };
    let (ok, out) = reindex(&[]);
    assert!(!ok && out.contains("--adopt"), "{out}");
    let (ok, out) = reindex(&["--adopt"]);
    assert!(ok, "{out}");
    assert_eq!(head_of(&log).size, size);
    let (code, out) = verify(&log);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn a_torn_record_slot_falls_back_to_the_other_and_a_ruined_record_is_refused() {
    let (_dir, log, size) = build_log(EVENTS);
    let path = log.join(RECORD);
    let mut record = std::fs::read(&path).unwrap();
    assert_eq!(record.len(), 8192, "two slots of 4 KiB");
    // Tear the slot written last (both hold the head after a clean open and close).
    record[100] ^= 1;
    std::fs::write(&path, &record).unwrap();
    assert_eq!(head_of(&log).size, size, "the other slot stands");
    // Opening wrote the head into both slots again; now ruin both.
    let mut record = std::fs::read(&path).unwrap();
    record[100] ^= 1;
    record[4096 + 100] ^= 1;
    std::fs::write(&path, &record).unwrap();
    let err = open(&log).err().expect("a ruined record: refused");
    assert!(err.contains(RECORD) && err.contains("damaged"), "{err}");
    // A wiped record (both slots zero) says "nothing published", which a log of many
    // entries cannot be.
    std::fs::write(&path, vec![0u8; 8192]).unwrap();
    let err = open(&log).err().expect("a wiped record: refused");
    assert!(err.contains("the record was wiped"), "{err}");
}

/// Opening reads only what a restart needs; the integrity sweep it starts reads the rest and
/// stops the log taking events when it finds damage there.
#[test]
fn a_drifted_derived_index_is_found_by_the_sweep_and_stops_the_log_or_refused_at_open() {
    let (_dir, log, size) = build_log(EVENTS);
    // Whole: the sweep says so, and events are taken.
    let ledger = open(&log).unwrap();
    assert_eq!(
        ledger.wait_for_integrity(Duration::from_secs(60)),
        Integrity::Whole { upto: size }
    );
    ledger.shutdown();
    drop(ledger);
    // Entry 10's hash in the replay index changed (the open segment's hashes in index order):
    // opening reads the index only for the entries it replays.
    tamper(&log, |db| {
        let replay = tree(db, "replay");
        let key = crate::tamper::replay_chunk(0);
        let mut chunk = replay
            .get(key)
            .unwrap()
            .expect("entries 0.. indexed")
            .to_vec();
        chunk[10 * 32] ^= 1;
        replay.insert(key, chunk).unwrap();
    });
    let ledger = open(&log).expect("a drifted replay index deep in the log opens");
    let Integrity::Damaged(why) = ledger.wait_for_integrity(Duration::from_secs(60)) else {
        panic!("the sweep missed a cut replay index")
    };
    assert!(
        why.contains("replay index") && why.contains("reindex"),
        "{why}"
    );
    let event = wasteledger::bench::sample_event(EVENTS + 1, &[SigningKey::from_bytes(&[10; 32])]);
    let refused = ledger.submit_blocking(VerifiedEvent::check(event).unwrap());
    assert!(
        matches!(&refused, Err(SubmitError::Damaged(w)) if *w == why),
        "{refused:?}"
    );
    assert_eq!(ledger.head().size, size, "nothing was appended");
    ledger.shutdown();
    drop(ledger);
    tamper(&log, |db| {
        // The last node of the highest level's last tile: on the tree's right edge.
        let tiles = tree(db, NODE_TILES);
        let (key, tile) = tiles.iter().next_back().unwrap().unwrap();
        let index = u64::from_be_bytes(key[1..].try_into().unwrap()) * NODES_PER_TILE
            + tile.len() as u64 / 32
            - 1;
        edit_node(&tiles, key[0], index, |h| h.fill(7));
    });
    let err = open(&log).err().expect("a wrong Merkle node: refused");
    assert!(err.contains("Merkle") && err.contains("reindex"), "{err}");
}

#[derive(Debug, Default)]
struct Tally {
    same: u32,
    refused: u32,
    /// verify refused while serve served the same log (damage only the full audit sees).
    verify_only: u32,
    /// Refusals by what they named.
    kinds: BTreeMap<&'static str, u32>,
}

/// What a refusal named, in a word.
fn kind_of(err: &str) -> &'static str {
    [
        ("lost entries", "database cut back (lost entries)"),
        ("entries were changed", "database rewrote published entries"),
        ("sled failed inside", "sled panicked (caught)"),
        ("published-checkpoint", "record damaged"),
        ("index in", "derived index drifted"),
        ("Merkle nodes", "Merkle nodes drifted"),
        ("sled:", "sled read error"),
        ("entry", "entry damaged"),
    ]
    .iter()
    .find(|(needle, _)| err.contains(needle))
    .map(|(_, kind)| *kind)
    .unwrap_or("other")
}

/// One fault in a copy of `base`: a flipped byte or a zeroed 4 KiB block at a random offset of
/// a random file (the record one time in ten). Panics on any outcome the log must never have.
fn one_fault(base: &Base, rng: &mut Rng, work: &Path, tally: &mut Tally) {
    let want = &base.want;
    let log = work.join("log");
    let _ = std::fs::remove_dir_all(&log);
    copy_dir(&base.dir, &log);
    let files: Vec<(PathBuf, u64)> = hashes(&log.join("db"))
        .into_keys()
        .map(|p| {
            let len = std::fs::metadata(&p).unwrap().len();
            (p, len)
        })
        .filter(|(_, len)| *len > 0)
        .collect();
    let file = if rng.below(10) == 0 {
        log.join(RECORD)
    } else {
        let total: u64 = files.iter().map(|(_, l)| l).sum();
        let mut at = rng.below(total);
        files
            .iter()
            .find(|(_, l)| {
                let hit = at < *l;
                at = at.saturating_sub(*l);
                hit
            })
            .unwrap()
            .0
            .clone()
    };
    let mut bytes = std::fs::read(&file).unwrap();
    let fault = if rng.below(2) == 0 {
        let at = rng.below(bytes.len() as u64) as usize;
        bytes[at] ^= 1 + rng.below(255) as u8;
        format!("byte {at} of {} flipped", file.display())
    } else {
        let block = rng.below(bytes.len().div_ceil(4096) as u64) as usize * 4096;
        let end = (block + 4096).min(bytes.len());
        bytes[block..end].fill(0);
        format!("block at {block} of {} zeroed", file.display())
    };
    std::fs::write(&file, &bytes).unwrap();
    let record = std::fs::read(log.join(RECORD)).unwrap();
    let before = hashes(&log);

    let (code, out) = verify(&log);
    assert!(
        code == Some(0) || code == Some(1),
        "{fault}: verify must end in ok or a refusal, not {code:?}: {out}"
    );
    assert!(!out.contains("panicked"), "{fault}: verify panicked: {out}");
    assert_eq!(
        hashes(&log),
        before,
        "{fault}: verify changed the directory"
    );
    let verified = code == Some(0);
    if verified {
        assert!(
            out.contains(&format!("ok: {} entries", want.size))
                && out.contains(&hex::encode(want.root)),
            "{fault}: verify passed a log other than the one published: {out}"
        );
    }
    match serve(&log, &base.key_file, &base.verifier) {
        Served::Checkpoint(cp) => {
            assert_eq!(
                (cp.size, cp.root),
                (want.size, want.root),
                "{fault}: served a log other than the one published"
            );
            if verified {
                tally.same += 1;
            } else {
                tally.verify_only += 1;
            }
        }
        Served::Refused(code, err) => {
            assert_eq!(
                code,
                Some(1),
                "{fault}: serve must refuse, not {code:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{fault}: serve panicked: {err}");
            assert!(err.trim().len() > 20, "{fault}: serve says why: {err}");
            assert_eq!(
                std::fs::read(log.join(RECORD)).unwrap(),
                record,
                "{fault}: a refused open rewrote the record"
            );
            // Whatever sled's recovery did to the database, nothing newer was signed over it.
            tally.refused += 1;
            *tally.kinds.entry(kind_of(&err)).or_default() += 1;
        }
    }
}

/// A stopped log to damage copies of, and what it published.
struct Base {
    dir: PathBuf,
    key_file: PathBuf,
    verifier: NoteVerifier,
    want: Checkpoint,
}

/// The demo's Kunshan week, played through the server (many small batches, as a real log is
/// made), the server then killed: the log every fault is injected into.
fn demo_base(dir: &Path) -> Base {
    let data = dir.join("demo");
    let demo = crate::demo::Demo::start(&data);
    let verifier = NoteVerifier::parse(&crate::demo::published_verifier()).unwrap();
    let (want, _) = wasteledger::client::LogClient::new(&demo.url)
        .checkpoint(&verifier)
        .unwrap();
    demo.kill();
    wait_unlocked(&data);
    Base {
        dir: data,
        key_file: crate::demo::crate_dir().join("keys/demo-log.pem"),
        verifier,
        want,
    }
}

fn fault_injection(tries: u32, seed: u64) -> Tally {
    let dir = tempfile::tempdir().unwrap();
    let base = demo_base(dir.path());
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let work = dir.path().join("try");
    for _ in 0..tries {
        one_fault(&base, &mut rng, &work, &mut tally);
    }
    eprintln!("fault injection, {tries} tries, seed {seed}: {tally:?}");
    tally
}

#[test]
fn faults_on_disk_end_in_the_same_log_or_a_refusal() {
    let tally = fault_injection(24, 0x5eed_2026_1203);
    assert_eq!(tally.same + tally.refused + tally.verify_only, 24);
}

/// The long run reported in the closing note:
/// `cargo test --release --test it faults_on_disk_many -- --ignored --nocapture`.
#[test]
#[ignore]
fn faults_on_disk_many() {
    let seed = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0bad_b10c);
    let tries = std::env::var("FAULT_TRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    fault_injection(tries, seed);
}

#[test]
fn a_proof_through_a_damaged_interior_node_is_refused_not_served() {
    let (_dir, log, size) = build_log(EVENTS);
    // Level 2, #0: the subtree over entries 0..=3, inside the tree's left peak (not on the
    // right edge the open checks).
    tamper(&log, |db| {
        edit_node(&tree(db, NODE_TILES), 2, 0, |h| h.fill(9))
    });
    let ledger = open(&log).expect("the right edge and the counts are intact");
    let through = ledger.inclusion_proof(10, size).unwrap_err().to_string();
    assert!(
        through.contains("does not lead to the published root") && through.contains("reindex"),
        "{through}"
    );
    // From size 5 the old root itself is made from that node: no proof from it, and no
    // checkpoint of that size is signed again (for a witness or a bundle).
    let consistent = ledger.consistency_proof(5, size).unwrap_err().to_string();
    assert!(consistent.contains("consistency proof"), "{consistent}");
    assert!(
        ledger.checkpoint_at(5).is_err(),
        "a root made from a damaged node is not signed"
    );
    assert!(ledger.checkpoint_at(2).is_ok());
    // Proofs that do not pass through it are served as before.
    assert!(ledger.inclusion_proof(size - 1, size).is_ok());
    assert!(ledger.consistency_proof(2, size).is_ok());
    ledger.shutdown();
}

/// `Ledger::close` returns once nothing in the process holds the database: a reader still
/// reading through a clone of the log is told the log is closed, and the directory opens
/// again at once (no wait for sled to let go of its lock) with every entry. (Before it, a
/// benchmark that reopened its fixture failed "in use by another process" when a reader's
/// work outlived the server.)
#[test]
fn a_closed_log_opens_again_at_once_while_a_clone_was_still_reading() {
    let (_dir, log, size) = build_log(EVENTS);
    let ledger = open(&log).unwrap();
    let reader = ledger.clone();
    let (started, reading) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut reads = 0u64;
        loop {
            match reader.entry(reads % size) {
                Ok(Some(_)) => reads += 1,
                Ok(None) => panic!("entry {} missing from an open log", reads % size),
                Err(e) => return (reads, e.to_string()),
            }
            if reads == 100 {
                started.send(()).unwrap();
            }
        }
    });
    reading.recv_timeout(Duration::from_secs(30)).unwrap();
    ledger.close().unwrap();
    let again = Ledger::open(
        &log,
        Config::default(),
        log_key(),
        Arc::new(OpenRules),
        Arc::new(SystemClock),
    )
    .expect("the closed log opens again at once");
    assert_eq!(again.head().size, size);
    let (reads, refused) = handle.join().unwrap();
    assert!(reads >= 100, "{reads} reads before the close");
    assert!(refused.contains("the log is closed"), "{refused}");
    again.shutdown();
}
