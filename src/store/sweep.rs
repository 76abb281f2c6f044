//! The integrity sweep: what opening no longer reads, checked in the background.
//!
//! Opening reads only what a restart needs (`load_state`: the entries that change the log's
//! keys, and those newer than the read model), so a log of ten years opens in seconds. The
//! rest of what opening used to check, every entry of the log, is checked here, on its own
//! thread, while the server serves: each entry in place and chained to the one before it,
//! every entry passing the log's key rules again, the stored Merkle tree's right edge equal to
//! the tree the entries make, the replay index holding exactly what the entries' hashes make
//! (`hashes.rs`), and the other derived indexes one key per entry that changes the keys
//! (registry) and per stored node. Signatures and the domain's rules are `verify`'s (README,
//! "Reliability").
//!
//! It gives every entry's event hash to the replay filter (`replay.rs`), which it makes
//! trusted once the log is found whole.
//!
//! Damage found stops the log taking events (`SubmitError::Damaged`, with what was found and
//! what to run): nothing is signed over a history the database no longer holds. Reads go on.

use super::hashes::Expected;
use super::recover::TreesSlot;
use super::replay::ReplayFilter;
use super::{changes_log_state, check_link, no_longer_passes, nodes, StoreError, StoredNodes};
use crate::ledger::entry::Entry;
use crate::ledger::merkle::{leaf_hash, Frontier};
use crate::ledger::state::{LogState, OpenRules};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::time::Duration;

/// What the sweep has found of the entries the log held when it was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// Still reading.
    Checking,
    /// The first `upto` entries and the indexes over them are whole.
    Whole { upto: u64 },
    /// What is damaged, and what to run.
    Damaged(String),
}

/// The sweep's finding, shared with the sequencer (which stops on damage) and readers.
pub(super) struct Sweep {
    found: Mutex<Integrity>,
    changed: Condvar,
}

impl Sweep {
    pub fn new() -> Arc<Self> {
        Arc::new(Sweep {
            found: Mutex::new(Integrity::Checking),
            changed: Condvar::new(),
        })
    }

    pub fn integrity(&self) -> Integrity {
        self.found.lock().expect("sweep lock").clone()
    }

    /// Why the log takes no events, if the sweep found damage.
    pub fn damage(&self) -> Option<String> {
        match &*self.found.lock().expect("sweep lock") {
            Integrity::Damaged(why) => Some(why.clone()),
            _ => None,
        }
    }

    /// The finding, once there is one or `timeout` has passed.
    pub fn wait(&self, timeout: Duration) -> Integrity {
        let found = self.found.lock().expect("sweep lock");
        let (found, _) = self
            .changed
            .wait_timeout_while(found, timeout, |f| *f == Integrity::Checking)
            .expect("sweep lock");
        found.clone()
    }

    fn set(&self, finding: Integrity) {
        *self.found.lock().expect("sweep lock") = finding;
        self.changed.notify_all();
    }
}

/// Start sweeping the first `upto` entries. The thread holds the database only a run of
/// entries at a time and ends when the log is dropped.
pub(super) fn start(
    slot: &Arc<TreesSlot>,
    upto: u64,
    sweep: Arc<Sweep>,
    replay: Arc<ReplayFilter>,
    segment: u64,
    gate: Arc<RwLock<()>>,
) {
    let slot = Arc::downgrade(slot);
    let spawned = std::thread::Builder::new()
        .name("integrity-sweep".into())
        .spawn(move || match check(&slot, upto, &replay, segment, &gate) {
            Ok(Some(())) => {
                tracing::info!(
                    "integrity sweep: the first {upto} entries and their indexes are whole"
                );
                // It holds every event of the log: the sweep gave it every entry's.
                replay.trust();
                sweep.set(Integrity::Whole { upto });
            }
            Ok(None) => {}
            Err(e) => {
                let why = e.to_string();
                tracing::error!(
                    "integrity sweep: {why}. The log takes no events until it is repaired"
                );
                sweep.set(Integrity::Damaged(why));
            }
        });
    if let Err(e) = spawned {
        tracing::error!("integrity sweep not started: {e}");
    }
}

const RUN: u64 = 4096;

/// `None`: the log was closed before the sweep ended.
/// Gives `replay` every entry's event hash.
fn check(
    slot: &Weak<TreesSlot>,
    upto: u64,
    replay: &ReplayFilter,
    segment: u64,
    gate: &RwLock<()>,
) -> Result<Option<()>, StoreError> {
    let mut index = Some(Expected::new(segment));
    let mut state = LogState::default();
    let mut frontier = Frontier::new();
    let (mut prev, mut registry, mut next) = ([0; 32], 0u64, 0u64);
    loop {
        let Some(slot) = slot.upgrade() else {
            return Ok(None);
        };
        let trees = match slot.get() {
            Ok(t) => t,
            Err(e) if e.is_transient() => {
                drop(slot);
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            Err(e) => return Err(e),
        };
        if next == upto {
            // The open segment's chunks change with every batch: read them between two.
            let _batch = gate.read().unwrap_or_else(|p| p.into_inner());
            let index = index.take().expect("finished once");
            index.finish(&trees.replay, true)?;
            return ends(&trees, upto, &frontier, registry).map(Some);
        }
        let index = index.as_mut().expect("not finished");
        let end = (next + RUN).min(upto);
        for e in super::runs::range(&trees.entries, next, end)? {
            let (i, bytes) = e?;
            let e = Entry::decode(&bytes)
                .map_err(|e| StoreError::Damaged(format!("entry {i}: {e}")))?;
            check_link(i, next, &e, &prev)?;
            state
                .admit(i, e.time, &e.event, &mut OpenRules)
                .map_err(|r| no_longer_passes(i, r))?;
            registry += u64::from(changes_log_state(e.event.event_type()));
            let h = e.event.event_hash();
            replay.insert(&h);
            index.push(&trees.replay, h)?;
            prev = leaf_hash(&bytes);
            frontier.append(prev, |_| {});
            next += 1;
        }
        if next != end {
            return Err(StoreError::Damaged(format!("entry {next} is missing")));
        }
    }
}

/// The stored tree's right edge and the indexes' sizes, against what the entries made.
fn ends(
    trees: &super::Trees,
    upto: u64,
    frontier: &Frontier,
    registry: u64,
) -> Result<(), StoreError> {
    if Frontier::load(&StoredNodes(trees), upto)? != *frontier {
        return Err(StoreError::Damaged(format!(
            "the stored Merkle nodes do not match the first {upto} entries (the tree's right \
             edge differs); run `wasteledger reindex` to rebuild them"
        )));
    }
    let registry_kept = trees.registry.range(..upto.to_be_bytes()).count() as u64;
    if registry_kept != registry {
        return Err(drifted_count(
            "the registry index holds",
            "keys",
            registry_kept,
            registry,
            upto,
        ));
    }
    for level in nodes::stored_levels() {
        let want = upto >> level;
        let have = nodes::held_below(&trees.nodes, level, want)?;
        if have != want {
            return Err(drifted_count(
                "the Merkle node tiles hold",
                "nodes",
                have,
                want,
                upto,
            ));
        }
    }
    Ok(())
}

fn drifted_count(what_holds: &str, unit: &str, have: u64, want: u64, upto: u64) -> StoreError {
    StoreError::Damaged(format!(
        "{what_holds} {have} {unit} for the first {upto} entries where they imply {want}; run \
         `wasteledger reindex` to rebuild the derived indexes"
    ))
}
