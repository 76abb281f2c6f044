//! Storage failures: what the store does when a batch cannot be made durable (a full disk, an
//! I/O error), and how it takes events again once the cause is gone, without a restart.
//!
//! sled 0.34 refuses every write after one I/O error (its "global error", kept until the
//! database is opened again), and a read that would reorganise a page fails with it too. So
//! after a failed batch the sequencer:
//! 1. answers the batch's callers with the storage error (nothing of it was acknowledged, the
//!    published head did not move); the domain's reads are refused until the database is
//!    reopened, since its read model in memory may hold the failed batch;
//! 2. refuses events meanwhile (`SubmitError::Storage`, 503 with `Retry-After`), and on each
//!    new submit, and every [`RETRY`] without one, tries to resume (`sequencer.rs`): a probe file of
//!    [`PROBE_BYTES`] written, fsync'd and removed in the data directory; once that works, the
//!    database is closed and opened again from disk ([`TreesSlot::reopen`]), the log's state
//!    replayed from what is durable, and events are taken again.
//!
//! Readers reach the database through [`TreesSlot::get`] for the span of one call, so the
//! reopen waits for those in flight; while it runs (milliseconds) a reader is told to retry.

use super::{io_text, Config, StoreError, Trees};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a failed sequencer tries to resume when no event comes.
pub(super) const RETRY: Duration = Duration::from_secs(1);

/// Room the data directory must have before the database is reopened.
const PROBE_BYTES: usize = 1 << 20;

/// The open database, replaced as a whole when it is reopened after a storage failure.
pub(super) struct TreesSlot {
    slot: Mutex<Option<Arc<Trees>>>,
    dir: PathBuf,
    cfg: Config,
}

impl TreesSlot {
    pub fn open(dir: &Path, cfg: &Config) -> Result<Self, StoreError> {
        Ok(TreesSlot {
            slot: Mutex::new(Some(Arc::new(Trees::open(dir, cfg)?))),
            dir: dir.to_path_buf(),
            cfg: cfg.clone(),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database, for the span of one call (hold it no longer: a reopen waits for it).
    pub fn get(&self) -> Result<Arc<Trees>, StoreError> {
        self.slot
            .lock()
            .expect("trees lock")
            .clone()
            .ok_or_else(|| {
                StoreError::Unavailable(
                    "the database is being reopened after a storage failure".into(),
                )
            })
    }

    /// Close the database and open it again from what is on disk, once the data directory can
    /// be written again.
    pub(super) fn reopen(&self) -> Result<Arc<Trees>, StoreError> {
        probe(&self.dir)?;
        let old = self.slot.lock().expect("trees lock").take();
        if let Some(mut old) = old {
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                match Arc::try_unwrap(old) {
                    Ok(trees) => break drop(trees),
                    Err(held) if Instant::now() > deadline => {
                        *self.slot.lock().expect("trees lock") = Some(held);
                        return Err(StoreError::Unavailable(
                            "readers still hold the database; trying again".into(),
                        ));
                    }
                    Err(held) => {
                        old = held;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
        // sled's own threads let go of its file lock a moment after the last handle.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match Trees::open(&self.dir, &self.cfg) {
                Ok(t) => {
                    let t = Arc::new(t);
                    *self.slot.lock().expect("trees lock") = Some(t.clone());
                    return Ok(t);
                }
                Err(StoreError::Setup(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Can the data directory take [`PROBE_BYTES`] durably?
fn probe(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join("space-probe");
    let written = std::fs::File::create(&path).and_then(|mut f| {
        f.write_all(&vec![0u8; PROBE_BYTES])?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&path);
    // Said to clients too: the directory is named in the server's log, not here.
    written.map_err(|e| {
        StoreError::Unavailable(format!(
            "the data directory still cannot be written ({})",
            io_text(&e)
        ))
    })
}

/// Right after a failed batch. The database in memory may hold the failed batch (its
/// transaction applied, its fsync failed), the domain's read model with it: domain reads stay
/// refused (`Rules::storage_failed`) until the sequencer has resumed, reopening the database from disk.
pub(super) fn after_failure(slot: &TreesSlot) {
    tracing::error!(
        "the operator's step: free space in {} (the data directory); the log takes events again by itself once it can write there",
        slot.dir.display()
    );
}
