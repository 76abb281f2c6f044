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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a failed sequencer tries to resume when no event comes.
pub(super) const RETRY: Duration = Duration::from_secs(1);

/// Room the data directory must have before the database is reopened.
const PROBE_BYTES: usize = 1 << 20;

/// The open database, replaced as a whole when it is reopened after a storage failure.
pub(super) struct TreesSlot {
    slot: Mutex<Option<Arc<Trees>>>,
    /// Set by [`TreesSlot::close`]: the database is gone for good, not being reopened.
    closed: AtomicBool,
    dir: PathBuf,
    cfg: Config,
}

impl TreesSlot {
    pub fn open(dir: &Path, cfg: &Config) -> Result<Self, StoreError> {
        Ok(TreesSlot {
            slot: Mutex::new(Some(Arc::new(Trees::open(dir, cfg)?))),
            closed: AtomicBool::new(false),
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
                StoreError::Unavailable(if self.is_closed() {
                    "the log is closed".into()
                } else {
                    "the database is being reopened after a storage failure".into()
                })
            })
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Close the database for good (the sequencer stopped): later calls are refused, and this
    /// returns once the calls in flight have let go of it and sled has released its directory,
    /// so that it can be opened again at once, in this process or another. A reader's long
    /// work still running (an anomaly scan) stops at its next read.
    pub(super) fn close(&self) -> Result<(), StoreError> {
        self.closed.store(true, Ordering::SeqCst);
        let trees = self.slot.lock().expect("trees lock").take();
        if let Some(trees) = trees {
            let trees =
                wait_for_sole(trees, Instant::now() + Duration::from_secs(30)).map_err(|_| {
                    StoreError::Unavailable(
                        "readers still held the database 30 s after the log closed".into(),
                    )
                })?;
            drop(trees);
        }
        wait_unlocked(&self.dir, Instant::now() + Duration::from_secs(30))
    }

    /// Close the database and open it again from what is on disk, once the data directory can
    /// be written again.
    pub(super) fn reopen(&self) -> Result<Arc<Trees>, StoreError> {
        probe(&self.dir)?;
        let old = self.slot.lock().expect("trees lock").take();
        if let Some(old) = old {
            match wait_for_sole(old, Instant::now() + Duration::from_secs(2)) {
                Ok(trees) => drop(trees),
                Err(held) => {
                    *self.slot.lock().expect("trees lock") = Some(held);
                    return Err(StoreError::Unavailable(
                        "readers still hold the database; trying again".into(),
                    ));
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

/// The database once no call holds it but ours (or, at `deadline`, still shared).
fn wait_for_sole(mut trees: Arc<Trees>, deadline: Instant) -> Result<Trees, Arc<Trees>> {
    loop {
        match Arc::try_unwrap(trees) {
            Ok(t) => return Ok(t),
            Err(held) if Instant::now() > deadline => return Err(held),
            Err(held) => {
                trees = held;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Wait until sled has let go of its lock on the database in `dir` (its threads release it a
/// moment after the last handle is dropped).
pub(super) fn wait_unlocked(dir: &Path, deadline: Instant) -> Result<(), StoreError> {
    use std::os::fd::AsRawFd;
    let path = dir.join("db").join("db");
    let file = std::fs::File::open(&path).map_err(|e| {
        StoreError::Setup(format!("cannot open {}: {}", path.display(), io_text(&e)))
    })?;
    // SAFETY: flock on a descriptor we own; a lock taken is dropped at once.
    while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        if Instant::now() > deadline {
            return Err(StoreError::Unavailable(format!(
                "the database in {} stayed locked after it was closed",
                dir.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader holding the database for the span of its call when the log closes: `close`
    /// refuses new calls at once, returns only after that call let go, and sled's lock is free
    /// by then, so the directory opens again at once.
    #[test]
    fn close_waits_for_the_call_in_flight_and_leaves_the_directory_free() {
        let dir = tempfile::tempdir().unwrap();
        let slot = Arc::new(TreesSlot::open(dir.path(), &Config::default()).unwrap());
        slot.get().unwrap().meta.insert("k", "v").unwrap();
        let held = slot.get().unwrap();
        let (went, going) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            going.recv().unwrap();
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(held.meta.get("k").unwrap().unwrap(), "v".as_bytes());
            drop(held);
            Instant::now()
        });
        went.send(()).unwrap();
        slot.close().unwrap();
        let closed = Instant::now();
        let let_go = reader.join().unwrap();
        assert!(
            closed >= let_go,
            "close returned while a call still held the database"
        );
        let refused = slot
            .get()
            .err()
            .expect("a call after the close is refused")
            .to_string();
        assert!(refused.contains("the log is closed"), "{refused}");
        let again = Trees::open(dir.path(), &Config::default()).expect("opens again at once");
        assert_eq!(again.meta.get("k").unwrap().unwrap(), "v".as_bytes());
    }
}
