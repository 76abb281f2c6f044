//! `verify`: the full audit of a stored log (server stopped): every entry's signatures, the hash
//! chain, the log's own rules, every stored Merkle node, the derived indexes, the latest
//! checkpoint's root and signature, and that the entries reach the checkpoint the log last
//! published (`published-checkpoint`). `reindex`: the same fold, writing the derived trees anew.
//!
//! sled cannot open a database without writing to it (its recovery rewrites the tail of a
//! damaged log, and it takes a lock), so `verify` audits a copy of `db/` made in a scratch
//! directory and leaves every byte of the audited directory as it was.

use super::{
    be_u64, changes_log_state, guard, hashes, nodes, published, StoreError, StoredNodes, Trees,
    CHECKPOINT_KEY,
};
use crate::ledger::audit::{decode_all, AuditFailure, Auditor, Checked, Decoded};
use crate::ledger::merkle::{Hash, PerfectNode};
use crate::ledger::note::{Checkpoint, NoteVerifier};
use crate::ledger::state::Rules;
use ed25519_dalek::SigningKey;
use std::path::{Path, PathBuf};

/// What a clean audit established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifySummary {
    pub size: u64,
    pub root: Hash,
    pub checkpoint: String,
    pub signatures: u64,
    /// The log's note verifier key, as entry 0 names it.
    pub verifier: NoteVerifier,
    /// Why the read model was not compared with a replay, where it was not: none was built
    /// yet, or it is of an older layout (the server rebuilds it from the entries when it opens
    /// the log, and reads nothing of it before). None: compared, and equal.
    pub read_model_not_compared: Option<String>,
}

const CHUNK: usize = 4096;

fn exists(dir: &Path) -> Result<(), StoreError> {
    if !super::Ledger::exists(dir) {
        return Err(StoreError::Setup(format!("{} holds no log", dir.display())));
    }
    Ok(())
}

/// A copy of a log's database in a scratch directory, removed when dropped.
struct ScratchCopy(PathBuf);

impl ScratchCopy {
    /// Copy `dir/db` into a new directory under `scratch`, holding a shared lock on the
    /// database file meanwhile so that no server opens it in the middle of the copy.
    fn make(dir: &Path, scratch: &Path) -> Result<Self, StoreError> {
        let db = dir.join("db");
        let lock = std::fs::File::open(db.join("db")).map_err(|e| {
            StoreError::Setup(format!("cannot read {}: {e}", db.join("db").display()))
        })?;
        if lock.try_lock_shared().is_err() {
            return Err(StoreError::Setup(format!(
                "the database in {} is in use by another process (is the server running?)",
                dir.display()
            )));
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let root = scratch.join(format!("wasteledger-verify-{}-{stamp}", std::process::id()));
        let copy = ScratchCopy(root);
        copy_tree(&db, &copy.0.join("db")).map_err(|e| {
            StoreError::Setup(format!(
                "cannot copy {} into {} to audit it: {e} (choose another place with --scratch)",
                db.display(),
                copy.0.display()
            ))
        })?;
        Ok(copy)
    }
}

impl Drop for ScratchCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Feed every stored entry, in key order, through the auditor, a chunk at a time.
/// `on_entry` sees each checked entry and the Merkle nodes it completes; `after_chunk` runs
/// once each chunk has passed, with the auditor.
fn audit_stored(
    trees: &Trees,
    auditor: &mut Auditor,
    mut on_entry: impl FnMut(&Checked, &[PerfectNode]) -> Result<(), AuditFailure>,
    mut after_chunk: impl FnMut(&mut Auditor) -> Result<(), StoreError>,
) -> Result<Result<(), AuditFailure>, StoreError> {
    // Pipeline: one thread reads the next chunk and decodes it (signatures checked on every
    // core) while this one runs the order-dependent checks on the chunk before.
    type Chunk = Result<(Vec<(u64, sled::IVec)>, Decoded), StoreError>;
    let (tx, rx) = crossbeam_channel::bounded::<Chunk>(1);
    let ahead = auditor.ahead();
    std::thread::scope(move |s| {
        s.spawn(move || {
            // This thread and the ones decoding with it yield to the checker (the fold).
            super::stage::beside_the_serial_stage();
            let mut iter = match super::runs::all(&trees.entries) {
                Ok(iter) => iter,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            loop {
                // The entries read before a failure to read are checked first: the audit names
                // the first entry it cannot vouch for.
                let mut chunk = Vec::with_capacity(CHUNK);
                let mut failed = None;
                for e in iter.by_ref().take(CHUNK) {
                    match e {
                        Ok(e) => chunk.push(e),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                if !chunk.is_empty() {
                    let refs: Vec<(u64, &[u8])> =
                        chunk.iter().map(|(i, v)| (*i, v.as_ref())).collect();
                    let decoded = decode_all(&refs, ahead);
                    // A closed channel means the checker stopped at a failure.
                    if tx.send(Ok((chunk, decoded))).is_err() {
                        return;
                    }
                } else if failed.is_none() {
                    return;
                }
                if let Some(e) = failed {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        });
        // `rx` is owned here: an early return drops it, which stops the reader.
        for item in rx {
            let (chunk, decoded) = match item {
                Ok(item) => item,
                // Stored entries that cannot be read as entries (`runs.rs`): the log is
                // damaged from the first entry not yet checked.
                Err(StoreError::Damaged(cause)) => {
                    return Ok(Err(AuditFailure {
                        index: auditor.size(),
                        cause,
                    }))
                }
                Err(e) => return Err(e),
            };
            let refs: Vec<(u64, &[u8])> = chunk.iter().map(|(i, v)| (*i, v.as_ref())).collect();
            if let Err(f) = auditor.check_decoded(&refs, decoded, &mut on_entry) {
                return Ok(Err(f));
            }
            after_chunk(auditor)?;
        }
        Ok(Ok(()))
    })
}

/// Audit the stored log in `dir` without changing a byte of it: the audit runs on a copy of
/// the database made under `scratch` (removed afterwards). Returns the first failure, naming
/// its index and cause.
pub fn verify(
    dir: &Path,
    scratch: &Path,
    rules: &dyn Rules,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Result<VerifySummary, AuditFailure>, StoreError> {
    exists(dir)?;
    let copy = ScratchCopy::make(dir, scratch)?;
    audit_at(dir, &copy.0, Db::Copy, rules, progress)
}

/// [`verify`] on the database itself, which sled may write to (recovery, its lock): for
/// benchmarks on logs they made themselves, where the copy would only add I/O to the figure.
pub(crate) fn verify_in_place(
    dir: &Path,
    rules: &dyn Rules,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Result<VerifySummary, AuditFailure>, StoreError> {
    exists(dir)?;
    audit_at(dir, dir, Db::Own, rules, progress)
}

/// What the audit of the log in `dir` costs besides verifying signatures, on one thread:
/// decoding the entries, what the checks work out from each event ahead of them, the
/// order-dependent checks and the Merkle tree, and every rule of `rules` in a fold held in
/// memory, with nothing written and no derived tree read. No signature is checked: for the
/// bench (`bench::domain`), which reports it beside what verifying leaves of the cores. Reading
/// the entries is not timed. Returns the entries folded, the time, and the root they make;
/// `None` for a log of more than [`REPLAY_HELD`] entries, whose fold the audit stores.
pub(crate) fn besides_signatures(
    dir: &Path,
    rules: &dyn Rules,
) -> Result<Option<(u64, std::time::Duration, Hash)>, StoreError> {
    exists(dir)?;
    guard(dir, || {
        Trees::for_one_job(dir, |trees| fold_unverified(trees, rules))
    })
}

/// [`besides_signatures`]'s fold, in the database it opened.
fn fold_unverified(
    trees: &Trees,
    rules: &dyn Rules,
) -> Result<Option<(u64, std::time::Duration, Hash)>, StoreError> {
    if trees.size()? > REPLAY_HELD {
        return Ok(None);
    }
    let mut fold = rules.fresh();
    let mut auditor = Auditor::new(fold.as_mut());
    let mut took = std::time::Duration::ZERO;
    let mut iter = super::runs::all(&trees.entries)?;
    loop {
        let chunk = iter.by_ref().take(CHUNK).collect::<Result<Vec<_>, _>>()?;
        if chunk.is_empty() {
            break;
        }
        let refs: Vec<(u64, &[u8])> = chunk.iter().map(|(i, v)| (*i, v.as_ref())).collect();
        let t = std::time::Instant::now();
        let decoded = crate::ledger::audit::decode_all_unverified(&refs, auditor.ahead());
        auditor
            .check_decoded(&refs, decoded, |_, _| Ok(()))
            .map_err(|f| StoreError::Corrupt(f.to_string()))?;
        took += t.elapsed();
    }
    Ok(Some((auditor.size(), took, auditor.root())))
}

/// Audit the database in `db_dir` (the log's own directory or a copy of it); the published
/// checkpoint's record is read from the log's directory `dir`, and failures name `dir`.
fn audit_at(
    dir: &Path,
    db_dir: &Path,
    db: Db,
    rules: &dyn Rules,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Result<VerifySummary, AuditFailure>, StoreError> {
    guard(dir, || {
        Trees::for_one_job(db_dir, |trees| {
            let audited = audit_trees(trees, rules, REPLAY_HELD, db, progress)?;
            let Ok(summary) = audited else {
                // A database sled's recovery cut back may fail the audit early (even be empty):
                // the loss is what to report first.
                let size = match trees.size() {
                    Ok(size) => size,
                    // The last key itself cannot be read: the audit's failure says so.
                    Err(StoreError::Damaged(_)) => return Ok(audited),
                    Err(e) => return Err(e),
                };
                return Ok(match (audited, published::check_size(dir, size)) {
                    (Err(f), Err(lost)) => Err(AuditFailure {
                        index: size,
                        cause: format!("{lost} (the audit of what is left: {f})"),
                    }),
                    (audited, _) => audited,
                });
            };
            let reached = reaches_published(dir, trees, &summary)?;
            Ok(reached.map(|()| summary))
        })
    })
}

/// The most entries a log may hold for the audit to replay its read model in memory (about
/// 0.8 GB resident at that size). A larger log's replay is stored in a tree of the database
/// audited ([`REPLAYED_MODEL`]; for `verify`, the copy) a chunk at a time from the first, and
/// read from there: held whole, a city's model outgrows the memory (3.9 GB at 300,000
/// manifests; the 1M fixture's `reindex`, which held it so, was killed at 24 GB), while
/// stored the audit runs at about 0.6 of its rate, and sled's cache and tables take some 1 GB
/// from the start (README, Reliability). Decided before the replay: a replay held in memory
/// and stored part way costs twice its size at once (2.2 GB for 262,144 entries' model).
pub(crate) const REPLAY_HELD: u64 = 1 << 18;

/// The tree of the audited database the replayed read model of a log of more than
/// [`REPLAY_HELD`] entries is stored in.
const REPLAYED_MODEL: &str = "audit-replayed-read-model";

/// Changes stored in one sled batch when the replay is stored: sled's memory grows with the
/// size of a batch (131,072 entries' model as one batch: 3.4 GB resident).
const SPILL_SLICE: usize = 4096;

/// Where the audit runs: in a copy (removed afterwards, and the replay's tree with it), or in
/// the log's own database (benchmarks), from which the replay's tree is dropped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Db {
    Copy,
    Own,
}

fn audit_trees(
    trees: &Trees,
    rules: &dyn Rules,
    held: u64,
    db: Db,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Result<VerifySummary, AuditFailure>, StoreError> {
    // For the progress shown and where the replay goes: a last key that cannot be read fails
    // the audit there.
    let total = match trees.size() {
        Err(StoreError::Damaged(_)) => 0,
        size => size?,
    };
    if total <= held {
        return audit_replaying(trees, rules, None, total, progress);
    }
    let replayed = trees.db.open_tree(REPLAYED_MODEL)?;
    replayed.clear()?;
    let audited = audit_replaying(trees, rules, Some(&replayed), total, progress);
    drop(replayed);
    // Dropping a large tree reads every page of it: 0.7 GB more resident at 1.5M entries, for
    // a copy about to be removed.
    if db == Db::Own {
        trees.db.drop_tree(REPLAYED_MODEL)?;
    }
    audited
}

/// [`audit_trees`], the read model replayed in memory, or stored in `replayed` a chunk at a
/// time.
fn audit_replaying(
    trees: &Trees,
    rules: &dyn Rules,
    replayed: Option<&sled::Tree>,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Result<VerifySummary, AuditFailure>, StoreError> {
    let mut fold = match replayed {
        Some(tree) => rules.rebuild_in(std::sync::Arc::new(super::readmodel::StoredKv::tree(
            tree.clone(),
        ))),
        None => rules.fresh(),
    };
    let mut auditor = Auditor::new(fold.as_mut());
    let mut signatures = 0u64;
    let mut registry_entries = 0u64;
    let Some(segment) = hashes::stored_segment(trees)? else {
        return Ok(Err(AuditFailure {
            index: 0,
            cause: if hashes::legacy(trees)? {
                "the replay index is the `events` tree of an earlier wasteledger: run reindex"
                    .into()
            } else {
                "the replay index is missing (a derived index; run reindex)".into()
            },
        }));
    };
    if nodes::legacy(&trees.db)? {
        return Ok(Err(AuditFailure {
            index: 0,
            cause: format!(
                "the Merkle nodes are kept one a key in the `{}` tree of an earlier wasteledger: \
                 run reindex",
                nodes::LEGACY_TREE
            ),
        }));
    }
    let mut index = hashes::Expected::new(segment);
    let audited = audit_stored(
        trees,
        &mut auditor,
        |c, nodes| {
            signatures += c.entry.event.signatures().len() as u64;
            registry_entries += u64::from(changes_log_state(c.entry.event.event_type()));
            index
                .push(&trees.replay, c.event_hash)
                .map_err(|m| drift(c.index, m))?;
            check_derived(trees, c, nodes)
        },
        |a| {
            progress(a.size(), total);
            if let Some(tree) = replayed {
                spill(tree, a.take_fold_writes())?;
            }
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
    drop(auditor);
    // The domain's read model must be what a replay of the entries makes, byte for byte. A log
    // whose model was never built (made before it existed), or is of an older layout (not yet
    // opened since an upgrade), has it built from the entries when opened, and nothing of the
    // old one is read. A layout this build does not know is compared, and differs.
    let not_compared = if trees.domain.is_empty() {
        Some(
            "none is built yet; the server builds it from the entries when it opens the log"
                .to_string(),
        )
    } else {
        rules.older_layout(&*read_model(trees)).map(|why| {
            format!("{why}; the server rebuilds it from the entries when it opens the log, and reads nothing of it before (or run reindex)")
        })
    };
    if not_compared.is_none() {
        let differs = if let Some(tree) = replayed {
            spill(tree, fold.take_writes())?;
            let pairs = tree.iter().map(|kv| {
                kv.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(StoreError::from)
            });
            super::readmodel::differs(&trees.domain, pairs)?
        } else {
            // Taken once from entry 0: a key added and removed again is not stored.
            let pairs = fold
                .whole_state()
                .changes
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect();
            // The replay's tables are freed beside the comparison, not on one core after it,
            // and on this thread, which made them (the allocator frees another thread's
            // memory more slowly).
            std::thread::scope(|s| {
                let compared = s.spawn(|| super::readmodel::differs_held(&trees.domain, pairs));
                drop(fold);
                compared
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e))
            })?
        };
        if let Some(cause) = differs {
            return Ok(Err(AuditFailure {
                index: size,
                cause: format!("the domain's read model {cause} (it drifted; run reindex)"),
            }));
        }
    }
    // Every derived key was checked against its entry above; none may exist beside them.
    if let Err(m) = index.finish(&trees.replay, false) {
        return Ok(Err(drift(size, m)));
    }
    if let Some(level) = nodes::first_level_not_ending_at(&trees.nodes, size)? {
        return Ok(Err(AuditFailure {
            index: size,
            cause: format!(
                "the Merkle node tiles of level {level} do not end where the log does (a derived tree drifted; run reindex)"
            ),
        }));
    }
    for (name, tree, want) in [
        ("registry", &trees.registry, registry_entries),
        ("Merkle node tile", &trees.nodes, nodes::tile_count(size)),
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
        verifier,
        read_model_not_compared: not_compared,
    }))
}

/// Store a replay's writes in its own tree (a scratch tree: not atomically), a slice at a time:
/// sled's memory grows with the size of one batch.
fn spill(replayed: &sled::Tree, w: crate::ledger::kv::FoldWrites) -> Result<(), StoreError> {
    if w.reset {
        replayed.clear()?;
    }
    for part in w.changes.chunks(SPILL_SLICE) {
        replayed.apply_batch(super::readmodel::batch_of(part))?;
    }
    Ok(())
}

/// The audited entries must reach the checkpoint the log last published: a database that
/// sled's recovery cut back is internally consistent, and only this record shows the loss.
fn reaches_published(
    dir: &Path,
    trees: &Trees,
    audited: &VerifySummary,
) -> Result<Result<(), AuditFailure>, StoreError> {
    let fail = |cause: String| {
        Ok(Err(AuditFailure {
            index: audited.size,
            cause,
        }))
    };
    if !published::path_in(dir).exists() {
        return fail(format!(
            "{} is missing: the log keeps there the checkpoint it last published, and without \
             it nothing shows whether the database lost entries (a log made before the record \
             existed: `wasteledger reindex --data {} --adopt`)",
            published::path_in(dir).display(),
            dir.display()
        ));
    }
    let published = match published::read(dir, &audited.verifier) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return match published::nothing_published(dir, audited.size) {
                Ok(()) => Ok(Ok(())),
                Err(cause) => fail(cause),
            }
        }
        Err(e) => return fail(e.to_string()),
    };
    let reached = published::check_reaches(dir, &published, audited.size, |n| {
        crate::ledger::merkle::root(&StoredNodes(trees), n).map_err(|e| e.to_string())
    });
    match reached {
        Ok(()) => Ok(Ok(())),
        Err(cause) => fail(cause),
    }
}

/// The replay index disagrees with an entry (or could not be read, found at `at`).
fn drift(at: u64, m: hashes::Mismatch) -> AuditFailure {
    match m {
        hashes::Mismatch::Drift { entry, cause } => AuditFailure {
            index: entry,
            cause: format!(
                "the replay index disagrees with this entry: {cause} (a derived index drifted; run reindex)"
            ),
        },
        hashes::Mismatch::Read(e) => AuditFailure {
            index: at,
            cause: format!("cannot read the replay index: {e}"),
        },
    }
}

/// The stored Merkle nodes and indexes must be exactly what the entries imply.
fn check_derived(
    trees: &Trees,
    c: &Checked,
    completed: &[PerfectNode],
) -> Result<(), AuditFailure> {
    for n in completed.iter().filter(|n| nodes::is_stored_level(n.level)) {
        let stored = nodes::get(&trees.nodes, n.level, n.index).map_err(|e| AuditFailure {
            index: c.index,
            cause: format!("cannot read Merkle node: {e}"),
        })?;
        if stored != Some(n.hash) {
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
///
/// The rebuilt log must reach the checkpoint it last published (`published-checkpoint`), or
/// nothing is signed. `adopt` takes a log that has no such record (made before it existed):
/// its entries are then trusted as they are, and the record starts from them.
pub fn reindex(
    dir: &Path,
    log_key: &SigningKey,
    rules: &dyn Rules,
    adopt: bool,
) -> Result<Result<u64, AuditFailure>, StoreError> {
    exists(dir)?;
    let recorded = published::path_in(dir).exists();
    if !recorded && !adopt {
        return Err(StoreError::Damaged(format!(
            "{} is missing: without the record of what the log published, reindex cannot tell \
             whether the database lost entries. If the log was made before the record existed, \
             run again with --adopt (not for a database restored from a backup: that may be \
             behind what the log published)",
            published::path_in(dir).display()
        )));
    }
    guard(dir, || {
        Trees::for_one_job(dir, |trees| {
            reindex_trees(dir, trees, log_key, rules, recorded)
        })
    })
}

fn reindex_trees(
    dir: &Path,
    trees: &Trees,
    log_key: &SigningKey,
    rules: &dyn Rules,
    recorded: bool,
) -> Result<Result<u64, AuditFailure>, StoreError> {
    // The signed checkpoint stays until the rebuilt tree is known to match it: reindex must
    // never sign a log that has lost or changed entries (that would be a fork).
    let old_note = trees
        .meta
        .get(CHECKPOINT_KEY)?
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    let mut fold = rules.rebuild_in(read_model(trees));
    let mut auditor = Auditor::new(fold.as_mut());
    if let Err(f) = rebuild_derived(trees, &mut auditor, &mut |_| ())? {
        return Ok(Err(f));
    }
    let (state, size, root) = (auditor.state().clone(), auditor.size(), auditor.root());
    drop(auditor);
    // The domain's read model, written anew from the same replay.
    super::readmodel::apply(&trees.domain, fold.take_writes())?;
    if state.log_key.map(|k| k.0) != Some(log_key.verifying_key()) {
        return Err(StoreError::Setup(
            "the log key given is not the one entry 0 names".into(),
        ));
    }
    let cp = Checkpoint {
        origin: state.origin.clone(),
        size,
        root,
    };
    let verifier = NoteVerifier::new(&state.origin, log_key.verifying_key())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // Adopting: witnesses that cosigned a larger size saw the log published beyond these
    // entries (cosignatures are kept by size: u64 big-endian ‖ witness key).
    if !recorded {
        if let Some((k, _)) = trees.cosignatures.last()? {
            let cosigned = k.get(..8).map(be_u64).transpose()?.unwrap_or(0);
            if cosigned > cp.size {
                trees.sync()?;
                return Ok(Err(AuditFailure {
                    index: cp.size,
                    cause: format!(
                        "witnesses cosigned a checkpoint of size {cosigned}, but the entries make \
                         {}: the log published more than this database holds; not adopting it",
                        cp.size
                    ),
                }));
            }
        }
    }
    if let Some(old) = old_note
        .as_deref()
        .and_then(|n| Checkpoint::open(n, &verifier).ok())
    {
        if old != cp {
            trees.sync()?;
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
    if recorded {
        let summary = VerifySummary {
            size: cp.size,
            root: cp.root,
            checkpoint: String::new(),
            signatures: 0,
            verifier: verifier.clone(),
            read_model_not_compared: None,
        };
        trees.sync()?;
        if let Err(f) = reaches_published(dir, trees, &summary)? {
            return Ok(Err(f));
        }
    } else {
        published::create(dir).map_err(|e| {
            StoreError::Setup(format!(
                "cannot create {}: {e}",
                published::path_in(dir).display()
            ))
        })?;
    }
    let note = cp.sign(log_key);
    trees.meta.insert(CHECKPOINT_KEY, note.as_bytes())?;
    trees.sync()?;
    let mut record = published::Record::open(dir).map_err(|e| {
        StoreError::Setup(format!(
            "cannot open {}: {e}",
            published::path_in(dir).display()
        ))
    })?;
    for _ in 0..2 {
        record.publish(&note).map_err(|e| {
            StoreError::Setup(format!(
                "cannot write {}: {e}",
                published::path_in(dir).display()
            ))
        })?;
    }
    Ok(Ok(size))
}

/// The domain's read model tree, for a fold that rebuilds it.
pub(super) fn read_model(trees: &Trees) -> std::sync::Arc<dyn crate::ledger::kv::Kv> {
    std::sync::Arc::new(super::readmodel::StoredKv::tree(trees.domain.clone()))
}

/// Clear the derived trees (Merkle nodes, replay and registry indexes) and write them anew
/// from the stored entries, each checked by `auditor` (from entry 0) on the way: what the
/// sequencer wrote, byte for byte. Leaves the checkpoint to the caller.
pub(super) fn rebuild_derived(
    trees: &Trees,
    auditor: &mut Auditor,
    progress: &mut dyn FnMut(u64),
) -> Result<Result<(), AuditFailure>, StoreError> {
    let segment = hashes::stored_segment(trees)?.unwrap_or(hashes::DEFAULT_SEGMENT);
    for t in [&trees.nodes, &trees.replay, &trees.registry] {
        t.clear()?;
    }
    // The replay index and the Merkle nodes of earlier versions, written anew as `replay` and
    // as tiles.
    for old in ["events", nodes::LEGACY_TREE] {
        if super::has_tree(&trees.db, old) {
            trees.db.drop_tree(old)?;
        }
    }
    trees
        .meta
        .insert(hashes::SEGMENT_KEY, &segment.to_be_bytes())?;
    let batch = std::cell::RefCell::new((
        Vec::new(),
        Vec::new(),
        sled::Batch::default(),
        hashes::Tail::new(segment),
    ));
    let audited = audit_stored(
        trees,
        auditor,
        |c, completed| {
            let mut b = batch.borrow_mut();
            for n in completed.iter().filter(|n| nodes::is_stored_level(n.level)) {
                b.0.push((n.level, n.index, n.hash));
            }
            b.1.push(c.event_hash);
            if changes_log_state(c.entry.event.event_type()) {
                b.2.insert(&c.index.to_be_bytes(), &[]);
            }
            Ok(())
        },
        |a| {
            progress(a.size());
            let mut b = batch.borrow_mut();
            let registry = std::mem::take(&mut b.2);
            let (completed, new) = (std::mem::take(&mut b.0), std::mem::take(&mut b.1));
            let mut tiles = sled::Batch::default();
            nodes::stage(&trees.nodes, &completed, &mut tiles)?;
            let mut replay = sled::Batch::default();
            b.3.stage(&new, &mut replay);
            trees.nodes.apply_batch(tiles)?;
            trees.replay.apply_batch(replay)?;
            trees.registry.apply_batch(registry)?;
            // The domain's read model, a chunk at a time: held whole until the end, a city's
            // read model outgrew the memory (reindex of a million manifests: killed at 24 GB).
            super::readmodel::apply(&trees.domain, a.take_fold_writes())?;
            b.3.append(&new);
            Ok(())
        },
    )?;
    Ok(audited)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{catalog::Catalog, model::Limits, DomainRules};

    /// The audit storing its replay of the read model a chunk at a time, and reading it from
    /// there (a log of three chunks and more), judges the stored model as the audit holding
    /// the replay whole in memory: an intact log passes, and a value changed, a key gone and a
    /// key added are each found and named alike. Nothing of the replay is left.
    #[test]
    fn a_replay_stored_past_its_bound_judges_the_read_model_as_one_held_whole() {
        let (_dir, data, _) = crate::bench::fixture::temporary(2_000);
        let rules = DomainRules::new(Catalog::builtin(), Limits::default());
        // Each use opens the database and returns once sled has let go of it again, so the
        // next opens.
        let opened = |f: &mut dyn FnMut(&Trees)| {
            Trees::for_one_job(&data, |trees| {
                f(trees);
                Ok(())
            })
            .unwrap();
        };
        let audit = |held: u64| {
            let mut audited = None;
            opened(&mut |trees| {
                let a = audit_trees(trees, &rules, held, Db::Own, &mut |_, _| {}).unwrap();
                assert!(
                    !crate::store::has_tree(&trees.db, REPLAYED_MODEL),
                    "the replay's tree is dropped"
                );
                audited = Some(a);
            });
            audited
                .expect("audited")
                .map(|s| (s.size, s.root))
                .map_err(|f| format!("entry {}: {}", f.index, f.cause))
        };
        let whole = audit(u64::MAX).expect("the fixture is intact");
        assert!(whole.0 > 2 * CHUNK as u64, "{} entries", whole.0);
        assert_eq!(audit(0), Ok(whole), "stored a chunk at a time");

        let change = |f: &dyn Fn(&sled::Tree)| {
            opened(&mut |trees| {
                f(&trees.domain);
                trees.db.flush().unwrap();
            })
        };
        let mut pairs: Vec<(sled::IVec, sled::IVec)> = Vec::new();
        opened(&mut |trees| pairs = trees.domain.iter().map(|kv| kv.unwrap()).collect());
        // Two manifests' records, the first stored, the other among the last.
        let manifests: Vec<&(sled::IVec, sled::IVec)> =
            pairs.iter().filter(|(k, _)| k[0] == b'm').collect();
        let (first, later) = (manifests[0], manifests[manifests.len() - 10]);
        let (last, _) = pairs.last().unwrap();
        let mut past = last.to_vec();
        past.push(0);
        type Damage<'a> = (
            &'a str,
            Box<dyn Fn(&sled::Tree) + 'a>,
            Box<dyn Fn(&sled::Tree) + 'a>,
        );
        let damages: Vec<Damage> = vec![
            (
                "where a replay makes",
                Box::new(|t| drop(t.insert(&first.0, &later.1).unwrap())),
                Box::new(|t| drop(t.insert(&first.0, &first.1).unwrap())),
            ),
            (
                "lacks key",
                Box::new(|t| drop(t.remove(last).unwrap().unwrap())),
                Box::new(|t| drop(t.insert(last, &pairs.last().unwrap().1).unwrap())),
            ),
            (
                "that a replay does not make",
                Box::new(|t| drop(t.insert(&past, &b"x"[..]).unwrap())),
                Box::new(|t| drop(t.remove(&past).unwrap().unwrap())),
            ),
        ];
        for (says, damage, undo) in &damages {
            change(damage.as_ref());
            let held_whole = audit(u64::MAX).expect_err(says);
            assert!(held_whole.contains(says), "{held_whole}");
            assert_eq!(audit(0), Err(held_whole), "stored a chunk at a time");
            change(undo.as_ref());
        }
        assert_eq!(audit(0), Ok(whole), "undone");
    }
}
