//! `restore`: a log rebuilt from its entries and the checkpoint it signed (a mirror's tiles are
//! both). The entries are written as they are, the derived trees rebuilt from them by
//! `reindex`'s fold (every entry audited on the way), and the signed checkpoint kept byte for
//! byte: nothing is signed, so no key is needed. The restored directory opens like any log
//! (with the log's key, which must be the one entry 0 names) and continues its chain.

use super::verify::rebuild_derived;
use super::{published, Ledger, StoreError, Trees, CHECKPOINT_KEY};
use crate::ledger::audit::{AuditFailure, Auditor};
use crate::ledger::merkle::Hash;
use crate::ledger::note::{split_note, Checkpoint, NoteVerifier};
use crate::ledger::state::Rules;
use std::path::Path;

/// What a restore established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    pub size: u64,
    pub root: Hash,
    /// The log's verifier key, as entry 0 names it (the checkpoint verified with it).
    pub verifier: NoteVerifier,
}

/// Build the log of `note` (a signed checkpoint) in `dir`, which must not hold a log, from the
/// entries `next(at)` hands over (a run from index `at`, in order). A failure removes what it
/// created and names the first entry that does not audit.
pub fn restore(
    dir: &Path,
    note: &str,
    rules: &dyn Rules,
    next: &mut dyn FnMut(u64) -> Result<Vec<Vec<u8>>, String>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Result<Restored, AuditFailure>, StoreError> {
    if Ledger::exists(dir) || published::path_in(dir).exists() {
        return Err(StoreError::Setup(format!(
            "{} already holds a log: restore into a new directory",
            dir.display()
        )));
    }
    let cp = split_note(note)
        .and_then(|(b, _)| Checkpoint::parse_body(b))
        .map_err(|e| StoreError::Setup(format!("the checkpoint to restore: {e}")))?;
    let created = !dir.exists();
    let outcome = super::guard(dir, || {
        std::fs::create_dir_all(dir).map_err(|e| cannot_create(dir, "the directory", e))?;
        published::create(dir).map_err(|e| cannot_create(dir, published::FILE_NAME, e))?;
        Trees::for_one_job(dir, |trees| {
            build(dir, trees, note, &cp, rules, next, progress)
        })
    });
    if created && !matches!(outcome, Ok(Ok(_))) {
        let _ = std::fs::remove_dir_all(dir);
    }
    outcome
}

fn cannot_create(dir: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Setup(format!("cannot create {what} in {}: {e}", dir.display()))
}

/// The log of `note` built in `dir`, in its database `trees`.
fn build(
    dir: &Path,
    trees: &Trees,
    note: &str,
    cp: &Checkpoint,
    rules: &dyn Rules,
    next: &mut dyn FnMut(u64) -> Result<Vec<Vec<u8>>, String>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Result<Restored, AuditFailure>, StoreError> {
    let setup = |what: &str, e| cannot_create(dir, what, e);
    let mut at = 0u64;
    while at < cp.size {
        let run = next(at).map_err(StoreError::Setup)?;
        if run.is_empty() {
            return Err(StoreError::Setup(format!(
                "the source handed no entries from index {at} (the checkpoint has {})",
                cp.size
            )));
        }
        let mut batch = sled::Batch::default();
        let take = run.len().min((cp.size - at) as usize);
        super::runs::stage(
            (at..).zip(run.iter().take(take).map(Vec::as_slice)),
            &mut batch,
        );
        at += take as u64;
        trees.entries.apply_batch(batch)?;
        progress(at, 2 * cp.size);
    }
    let mut fold = rules.rebuild_in(super::verify::read_model(trees));
    let mut auditor = Auditor::new(fold.as_mut());
    let size = cp.size;
    if let Err(f) = rebuild_derived(trees, &mut auditor, &mut |done| {
        progress(size + done, 2 * size)
    })? {
        return Ok(Err(f));
    }
    let fail = |cause: String| Ok(Err(AuditFailure { index: size, cause }));
    let state = auditor.state();
    let Some(key) = state.log_key else {
        return fail("entry 0 names no log key".into());
    };
    let verifier = NoteVerifier::new(&state.origin, key.0)
        .map_err(|e| StoreError::Corrupt(format!("the log key entry 0 names: {e}")))?;
    match Checkpoint::open(note, &verifier) {
        Err(e) => return fail(format!("checkpoint: {e} (the log key entry 0 names)")),
        Ok(c) if c.size != auditor.size() || c.root != auditor.root() => {
            return fail("checkpoint: its root hash is not the root of the entries".into())
        }
        Ok(_) => {}
    }
    drop(auditor);
    // The domain's read model, from the same replay (as reindex writes it).
    super::readmodel::apply(&trees.domain, fold.take_writes())?;
    trees.meta.insert(CHECKPOINT_KEY, note.as_bytes())?;
    trees.sync()?;
    let mut record = published::Record::open(dir).map_err(|e| setup(published::FILE_NAME, e))?;
    for _ in 0..2 {
        record
            .publish(note)
            .map_err(|e| setup(published::FILE_NAME, e))?;
    }
    Ok(Ok(Restored {
        size,
        root: cp.root,
        verifier,
    }))
}
