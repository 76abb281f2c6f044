//! `verify`: the full audit of a stored log (server stopped): every entry's signatures, the hash
//! chain, the log's own rules, every stored Merkle node, the derived indexes, and the latest
//! checkpoint's root and signature. `reindex`: the same fold, writing the derived trees anew.

use super::{
    be_u64, changes_log_state, is_stored_level, node_key, Config, StoreError, Trees, CHECKPOINT_KEY,
};
use crate::ledger::audit::{decode_all, AuditFailure, Auditor, Checked, Decoded};
use crate::ledger::merkle::{Hash, PerfectNode};
use crate::ledger::note::{Checkpoint, NoteVerifier};
use crate::ledger::state::Rules;
use ed25519_dalek::SigningKey;
use std::path::Path;

/// What a clean audit established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifySummary {
    pub size: u64,
    pub root: Hash,
    pub checkpoint: String,
    pub signatures: u64,
}

const CHUNK: usize = 4096;

fn open_existing(dir: &Path) -> Result<Trees, StoreError> {
    if !super::Ledger::exists(dir) {
        return Err(StoreError::Setup(format!("{} holds no log", dir.display())));
    }
    Trees::open(dir, &Config::default())
}

/// Feed every stored entry, in key order, through the auditor, a chunk at a time.
/// `on_entry` sees each checked entry and the Merkle nodes it completes; `after_chunk` runs
/// once each chunk has passed.
fn audit_stored(
    trees: &Trees,
    auditor: &mut Auditor,
    mut on_entry: impl FnMut(&Checked, &[PerfectNode]) -> Result<(), AuditFailure>,
    mut after_chunk: impl FnMut(u64) -> Result<(), StoreError>,
) -> Result<Result<(), AuditFailure>, StoreError> {
    // Pipeline: one thread reads the next chunk and decodes it (signatures checked on every
    // core) while this one runs the order-dependent checks on the chunk before.
    type Chunk = Result<(Vec<(u64, sled::IVec)>, Decoded), StoreError>;
    let (tx, rx) = crossbeam_channel::bounded::<Chunk>(1);
    std::thread::scope(move |s| {
        s.spawn(move || {
            let mut iter = trees.entries.iter();
            loop {
                let chunk: Result<Vec<(u64, sled::IVec)>, StoreError> = iter
                    .by_ref()
                    .take(CHUNK)
                    .map(|kv| {
                        let (k, v) = kv?;
                        Ok((be_u64(&k)?, v))
                    })
                    .collect();
                if matches!(&chunk, Ok(c) if c.is_empty()) {
                    return;
                }
                let item = chunk.map(|c| {
                    let refs: Vec<(u64, &[u8])> = c.iter().map(|(i, v)| (*i, v.as_ref())).collect();
                    let decoded = decode_all(&refs);
                    (c, decoded)
                });
                let failed = item.is_err();
                // A closed channel means the checker stopped at a failure.
                if tx.send(item).is_err() || failed {
                    return;
                }
            }
        });
        // `rx` is owned here: an early return drops it, which stops the reader.
        for item in rx {
            let (chunk, decoded) = item?;
            let refs: Vec<(u64, &[u8])> = chunk.iter().map(|(i, v)| (*i, v.as_ref())).collect();
            if let Err(f) = auditor.check_decoded(&refs, decoded, &mut on_entry) {
                return Ok(Err(f));
            }
            after_chunk(auditor.size())?;
        }
        Ok(Ok(()))
    })
}

/// Audit the stored log. Returns the first failure, naming its index and cause.
pub fn verify(
    dir: &Path,
    rules: &dyn Rules,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Result<VerifySummary, AuditFailure>, StoreError> {
    let trees = open_existing(dir)?;
    let total = trees.size()?;
    let mut fold = rules.fresh();
    let mut auditor = Auditor::new(fold.as_mut());
    let mut signatures = 0u64;
    let mut registry_entries = 0u64;
    let audited = audit_stored(
        &trees,
        &mut auditor,
        |c, nodes| {
            signatures += c.entry.event.signatures().len() as u64;
            registry_entries += u64::from(changes_log_state(c.entry.event.event_type()));
            check_derived(&trees, c, nodes)
        },
        |done| {
            progress(done, total);
            Ok(())
        },
    )?;
    if let Err(f) = audited {
        return Ok(Err(f));
    }
    let size = auditor.size();
    if size == 0 {
        return Ok(Err(AuditFailure {
            index: 0,
            cause: "the log is empty: no genesis entry".into(),
        }));
    }
    let state = auditor.state();
    let log_key = state.log_key.expect("genesis audited");
    let verifier = NoteVerifier::new(&state.origin, log_key.0)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let cp_fail = |cause: String| Ok(Err(AuditFailure { index: size, cause }));
    let Some(note) = trees.meta.get(CHECKPOINT_KEY)? else {
        return cp_fail("checkpoint: none stored".into());
    };
    let note = String::from_utf8_lossy(&note).into_owned();
    let cp = match Checkpoint::open(&note, &verifier) {
        Ok(cp) => cp,
        Err(e) => return cp_fail(format!("checkpoint: {e} (the log key named in entry 0)")),
    };
    if cp.size != size {
        return cp_fail(format!(
            "checkpoint: it says size {} but the log holds {size} entries",
            cp.size
        ));
    }
    if cp.root != auditor.root() {
        return cp_fail("checkpoint: its root hash is not the root of the stored entries".into());
    }
    // Every derived key was checked against its entry above; none may exist beside them.
    let expected_nodes: u64 = (1..64u8)
        .filter(|l| is_stored_level(*l))
        .map(|l| size >> l)
        .sum();
    for (name, tree, want) in [
        ("replay", &trees.events, size),
        ("registry", &trees.registry, registry_entries),
        ("Merkle node", &trees.nodes, expected_nodes),
    ] {
        let have = tree.len() as u64;
        if have != want {
            return Ok(Err(AuditFailure {
                index: size,
                cause: format!(
                    "the {name} tree holds {have} keys where the log implies {want} (a derived tree drifted; run reindex)"
                ),
            }));
        }
    }
    Ok(Ok(VerifySummary {
        size,
        root: cp.root,
        checkpoint: note,
        signatures,
    }))
}

/// The stored Merkle nodes and indexes must be exactly what the entries imply.
fn check_derived(trees: &Trees, c: &Checked, nodes: &[PerfectNode]) -> Result<(), AuditFailure> {
    for n in nodes.iter().filter(|n| is_stored_level(n.level)) {
        let stored = trees
            .nodes
            .get(node_key(n.level, n.index))
            .map_err(|e| AuditFailure {
                index: c.index,
                cause: format!("cannot read Merkle node: {e}"),
            })?;
        if stored.as_deref() != Some(&n.hash[..]) {
            let first = n.index << n.level;
            let last = first + (1u64 << n.level) - 1;
            // Named at the entry that completes the node: every earlier leaf under it is
            // already bound by its successor's `prev`, so an unsigned edit is here or in the node.
            return Err(AuditFailure {
                index: c.index,
                cause: format!(
                    "stored Merkle node (level {}, #{}) over entries {first}..={last} {}",
                    n.level,
                    n.index,
                    if stored.is_none() {
                        "is missing"
                    } else {
                        "differs from the hash of those entries"
                    }
                ),
            });
        }
    }
    let drifted = |what: &str| AuditFailure {
        index: c.index,
        cause: format!(
            "the {what} index disagrees with this entry (a derived index drifted; run reindex)"
        ),
    };
    let indexed = trees.events.get(c.entry.event.event_hash()).ok().flatten();
    if indexed.as_deref() != Some(&c.index.to_be_bytes()[..]) {
        return Err(drifted("replay"));
    }
    let in_registry = trees
        .registry
        .contains_key(c.index.to_be_bytes())
        .unwrap_or(false);
    if in_registry != changes_log_state(c.entry.event.event_type()) {
        return Err(drifted("registry"));
    }
    Ok(())
}

/// Rebuild every derived tree (nodes, replay index, registry index, checkpoint) from the
/// entries alone. The result is byte-identical to what the sequencer wrote.
pub fn reindex(
    dir: &Path,
    log_key: &SigningKey,
    rules: &dyn Rules,
) -> Result<Result<u64, AuditFailure>, StoreError> {
    let trees = open_existing(dir)?;
    // The signed checkpoint stays until the rebuilt tree is known to match it: reindex must
    // never sign a log that has lost or changed entries (that would be a fork).
    let old_note = trees
        .meta
        .get(CHECKPOINT_KEY)?
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    for t in [&trees.nodes, &trees.events, &trees.registry] {
        t.clear()?;
    }
    let mut fold = rules.fresh();
    let mut auditor = Auditor::new(fold.as_mut());
    let batch = std::cell::RefCell::new((
        sled::Batch::default(),
        sled::Batch::default(),
        sled::Batch::default(),
    ));
    let audited = audit_stored(
        &trees,
        &mut auditor,
        |c, nodes| {
            let mut b = batch.borrow_mut();
            for n in nodes.iter().filter(|n| is_stored_level(n.level)) {
                b.0.insert(&node_key(n.level, n.index), &n.hash);
            }
            b.1.insert(&c.entry.event.event_hash(), &c.index.to_be_bytes());
            if changes_log_state(c.entry.event.event_type()) {
                b.2.insert(&c.index.to_be_bytes(), &[]);
            }
            Ok(())
        },
        |_| {
            let (nodes, events, registry) = batch.take();
            trees.nodes.apply_batch(nodes)?;
            trees.events.apply_batch(events)?;
            trees.registry.apply_batch(registry)?;
            Ok(())
        },
    )?;
    if let Err(f) = audited {
        return Ok(Err(f));
    }
    let state = auditor.state();
    if state.log_key.map(|k| k.0) != Some(log_key.verifying_key()) {
        return Err(StoreError::Setup(
            "the log key given is not the one entry 0 names".into(),
        ));
    }
    let cp = Checkpoint {
        origin: state.origin.clone(),
        size: auditor.size(),
        root: auditor.root(),
    };
    let verifier = NoteVerifier::new(&state.origin, log_key.verifying_key())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if let Some(old) = old_note
        .as_deref()
        .and_then(|n| Checkpoint::open(n, &verifier).ok())
    {
        if old != cp {
            trees.db.flush()?;
            return Ok(Err(AuditFailure {
                index: cp.size,
                cause: format!(
                    "the entries no longer match the log's signed checkpoint (size {}, the entries make {}); \
                     not signing a new one",
                    old.size, cp.size
                ),
            }));
        }
    }
    trees
        .meta
        .insert(CHECKPOINT_KEY, cp.sign(log_key).as_bytes())?;
    trees.db.flush()?;
    Ok(Ok(auditor.size()))
}
