//! The only module that knows sled. One sequencer thread orders events, writes each batch's
//! entries, Merkle nodes, indexes and checkpoint in one sled transaction, fsyncs once (group
//! commit), and only then acknowledges the events of that batch.
//!
//! Trees (keys are big-endian, so they iterate in order):
//! - `entries`  index u64 -> entry bytes, or a run of entries  THE LOG (never updated, never
//!   deleted): a key is the index of the first entry it holds ([`runs`])
//! - `node-tiles` level u8 || tile u64 -> up to 16 hashes       derived: complete subtrees at
//!   even levels >= 2, a level's nodes in tiles of 16 ([`nodes`])
//! - `replay`   the replay index (`hashes.rs`): per segment of 65,536 entries, its event
//!   hashes (SHA-256 of the body) with their indexes, sorted; the open segment's in index order
//! - `registry` index u64 -> ()                               derived: entries that change LogState
//! - `meta`     "checkpoint" -> signed checkpoint note         derived: Ed25519 is deterministic
//!
//! Beside the log (not derived, never part of a proof, left alone by `reindex`): `pending`,
//! `personal` with `lodged` (how many live records each party lodged, for the quota),
//! `cosignatures` (witnesses' cosignatures on checkpoints, see `cosign.rs`) and `seen` (signed
//! requests inside their replay window, see `seen.rs`).
//!
//! Everything but `entries` is rebuilt from the entries by [`verify`]'s fold; see `reindex`.
//!
//! Outside the database, in the same directory: `published-checkpoint`, the newest checkpoint
//! the log published, which every open checks the database against (`published.rs`).

mod cosign;
mod hashes;
mod intake;
mod nodes;
mod pending;
pub mod published;
mod readmodel;
mod recover;
mod replay;
mod restore;
mod runs;
mod seen;
mod sequencer;
mod stage;
mod sweep;
mod verify;

pub use cosign::CosignatureRefusal;
pub use pending::{Taken, Waiting, MAX_PENDING_PER_MANIFEST};
pub use restore::{restore, Restored};
pub use seen::{Remembered, MAX_SEEN};
pub use sequencer::{CommitTimes, Receipt, SubmitError};
pub use sweep::Integrity;
pub(crate) use verify::{besides_signatures, verify_in_place};
pub use verify::{reindex, verify, VerifySummary};

use crate::ledger::entry::Entry;
use crate::ledger::event::{PublicKey, SignedEvent, VerifiedEvent};
use crate::ledger::merkle::{self, leaf_hash, Frontier, Hash, SubtreeHashes};
use crate::ledger::note::{Checkpoint, NoteVerifier};
use crate::ledger::state::{genesis_event, Fold, LogState, Rules, HOLDS_EVERY_ENTRY};
use crate::ledger::tiles::{self, Tile};
use crate::ledger::time::Timestamp;
use ed25519_dalek::SigningKey;
use std::path::Path;
use std::sync::{Arc, RwLock};
use thiserror::Error;

/// Where the store gets the time from; the ledger itself never reads a clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_system_time(std::time::SystemTime::now())
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    /// sled's page cache, in bytes: the bound on the store's memory.
    pub cache_bytes: u64,
    /// Most events in one group commit.
    pub max_batch: usize,
    /// Most events waiting in each stage's queue (signature checks, then the sequencer); when
    /// both are full, `submit` answers `SubmitError::Busy` at once. Events are at most 64 KiB.
    pub max_queue: usize,
    /// Most live personal records (lodged, not erased) one party may keep.
    pub max_personal_per_party: u64,
    /// Memory for the filter of the events the log holds (`replay.rs`), which spares the
    /// sequencer a look-up in the replay index for an event certainly new.
    pub replay_filter_bytes: u64,
    /// Entries in a segment of the replay index (`hashes.rs`), for a log created with this
    /// configuration; a log keeps the size it was created with (`meta`), whatever is given
    /// when it is opened later.
    pub replay_segment: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cache_bytes: 256 << 20,
            max_batch: 4096,
            max_queue: 4096,
            max_personal_per_party: 100_000,
            replay_filter_bytes: 16 << 20,
            replay_segment: hashes::DEFAULT_SEGMENT,
        }
    }
}

/// What the operator does once the database is found damaged, said wherever the damage is
/// answered (an append refused, a read refused).
pub const DAMAGE_STEP: &str =
    "the operator must stop the server, run `wasteledger verify`, then `reindex` or `restore`";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database: {}", sled_text(.0))]
    Sled(#[from] sled::Error),
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Setup(String),
    /// The database cannot be trusted as it is on disk (what the operator does then:
    /// [`DAMAGE_STEP`]): it does not reach what the log
    /// published, its derived trees disagree with its entries, or sled failed (or panicked)
    /// reading it. Nothing was served or signed from it.
    #[error("{0}")]
    Damaged(String),
    /// The storage failed and the store is waiting for it to work again (see `recover.rs`).
    #[error("{0}")]
    Unavailable(String),
}

impl StoreError {
    /// An I/O failure or a wait for one to pass, not a fault in what is stored: worth a retry.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Sled(sled::Error::Io(_))
        )
    }
}

/// An I/O error as a sentence. sled keeps the first I/O error and hands out copies whose
/// message is the original's `Debug` text (`Os { code: 28, ... }`): then name the kind.
pub(crate) fn io_text(e: &std::io::Error) -> String {
    if e.raw_os_error().is_some() || !e.to_string().contains("Os {") {
        return e.to_string();
    }
    match e.kind() {
        std::io::ErrorKind::StorageFull => "no space left on device".into(),
        kind => kind.to_string(),
    }
}

fn sled_text(e: &sled::Error) -> String {
    match e {
        sled::Error::Io(io) => format!("I/O error: {}", io_text(io)),
        other => other.to_string(),
    }
}

impl From<sled::transaction::TransactionError<()>> for StoreError {
    fn from(e: sled::transaction::TransactionError<()>) -> Self {
        match e {
            sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
            sled::transaction::TransactionError::Abort(()) => {
                StoreError::Corrupt("transaction aborted".into())
            }
        }
    }
}

/// The published state of the log: what readers may see and proofs may be asked for.
#[derive(Clone, Debug)]
pub struct Head {
    pub size: u64,
    pub root: Hash,
    pub checkpoint: String,
}

pub(crate) struct Trees {
    pub db: sled::Db,
    pub entries: sled::Tree,
    pub nodes: sled::Tree,
    /// Derived: the replay index (`hashes.rs`).
    pub replay: sled::Tree,
    pub registry: sled::Tree,
    /// Beside the log, not derived from it: hand-overs signed by one party, waiting for the
    /// other (event hash -> signed event). Never part of a proof; `reindex` leaves it alone.
    pub pending: sled::Tree,
    /// Beside the log, not derived from it: clear personal values behind the commitments in
    /// events (commitment -> record), erasable. No entry and no proof depends on it.
    pub personal: sled::Tree,
    /// Beside the log, not derived from it: witnesses' cosignatures on the log's checkpoints
    /// (size u64 || witness verifier key -> cosignature line). Never part of a proof.
    pub cosignatures: sled::Tree,
    /// Beside the log: how many live personal records each party keeps (party -> u64).
    pub lodged: sled::Tree,
    /// Beside the log: signed requests inside their replay window (expiry u64 || hash -> ()).
    pub seen: sled::Tree,
    /// Derived: the domain's read model (`readmodel.rs`), written with each batch.
    pub domain: sled::Tree,
    pub meta: sled::Tree,
    /// sled's own log file (`db/db`), which [`Trees::sync`] makes durable.
    log_file: std::fs::File,
}

pub(crate) const CHECKPOINT_KEY: &[u8] = b"checkpoint";

/// Run `f` (sled reading a database that may be damaged on disk), turning a sled error or a
/// panic inside sled into a refusal that names the data directory and the cause: damage is
/// reported, never a panic. The panic's own report is kept off stderr (the refusal says it).
pub(crate) fn guard<T>(
    dir: &Path,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    thread_local!(static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info)
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    let damaged = |cause: String| {
        StoreError::Damaged(format!(
            "the database in {} cannot be read ({cause}): it is damaged on disk. Nothing was \
             served or signed from it; restore the directory from a mirror or a backup",
            dir.display()
        ))
    };
    match outcome {
        Ok(Err(StoreError::Sled(e))) => Err(damaged(format!("sled: {e}"))),
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Err(damaged(format!("sled failed inside ({what})")))
        }
    }
}

/// sled's log file, in bytes: the segments (512 KiB each) that hold data, and all of them. A
/// segment is free once nothing in it is live; the free ones are written again before the
/// file grows, and the file shrinks only when its last segment is free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogSpace {
    pub in_use: u64,
    pub file: u64,
}

impl Trees {
    /// Open the database in `dir` for one job that has it alone (an audit, a reindex, a
    /// restore, the bench's fold) and return once sled has let go of it, so that whoever opens
    /// it next (the server started after a reindex, the bench's next step) finds it free: sled's
    /// threads release its file lock a moment after the last handle is dropped. The job's own
    /// failure is the one reported.
    fn for_one_job<T>(
        dir: &Path,
        job: impl FnOnce(&Trees) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let trees = Trees::open(dir, &Config::default())?;
        let done = job(&trees);
        drop(trees);
        let freed = recover::wait_unlocked(
            dir,
            std::time::Instant::now() + std::time::Duration::from_secs(30),
        );
        done.and_then(|t| freed.map(|()| t))
    }

    fn open(dir: &Path, cfg: &Config) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(cfg.cache_bytes)
            // We fsync ourselves once per batch; sled's timer would add unrequested I/O.
            .flush_every_ms(None)
            .open()
            .map_err(|e| match e {
                // sled 0.34 reports a held file lock only in the message of an Other error.
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Setup(format!(
                        "the database in {} is in use by another process (is the server running?)",
                        dir.display()
                    ))
                }
                other => StoreError::Sled(other),
            })?;
        Ok(Trees {
            entries: db.open_tree("entries")?,
            nodes: db.open_tree(nodes::TREE)?,
            replay: db.open_tree("replay")?,
            registry: db.open_tree("registry")?,
            pending: db.open_tree("pending")?,
            personal: db.open_tree("personal")?,
            cosignatures: db.open_tree("cosignatures")?,
            lodged: db.open_tree("lodged")?,
            seen: db.open_tree("seen")?,
            domain: db.open_tree("domain")?,
            meta: db.open_tree("meta")?,
            log_file: std::fs::File::open(dir.join("db").join("db")).map_err(sled::Error::Io)?,
            db,
        })
    }

    /// Make everything written so far durable. sled's `flush` writes its buffers out with
    /// `sync_file_range` alone on Linux, which neither flushes the disk's write cache nor
    /// records a grown file's new length (the call's manual page; sled issues #1351 and
    /// #1452): a power cut could still lose what it returned for. So the log file is
    /// `fdatasync`ed after it, and only then is a batch durable.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.log_file.sync_data().map_err(sled::Error::Io)?;
        Ok(())
    }

    /// Give back the space of sled's log: rewrite up to `pages` pages out of the segments of its
    /// file that are 30 % or more dead (`vendor/README.md`). How many were taken (none: nothing
    /// waits to be cleaned). Not synced: sled reuses a segment only once what was moved out of it
    /// is stable (its buffer written and pushed to the disk with `sync_file_range`), and the next
    /// [`Trees::sync`] makes it durable. sled does this only from a flusher thread of its own,
    /// which this store leaves out (`flush_every_ms(None)`); without it a segment is reused only
    /// once every page in it was written again, and the file keeps about four times what it holds
    /// (README, "Benchmarks"). The sequencer calls this between batches once no event has come for
    /// a millisecond (`sequencer.rs`), so that it stays the only thread that writes and syncs.
    pub(super) fn clean_log(&self, pages: usize) -> Result<usize, StoreError> {
        let mut taken = 0;
        while taken < pages && self.db.attempt_gc()? {
            taken += 1;
        }
        Ok(taken)
    }

    /// The log file's bytes: in segments that hold data, and in all (the rest are free, and
    /// written again before the file grows).
    fn log_space(&self) -> LogSpace {
        let (in_use, file) = self.db.log_bytes_in_use();
        LogSpace { in_use, file }
    }

    /// Number of entries: one past the last stored index.
    fn size(&self) -> Result<u64, StoreError> {
        runs::size(&self.entries)
    }
}

/// Give the system back the memory freed so far. Opening a log reads sled's snapshot of its
/// page table (about 400 MiB at 1M manifests) and drops it once the table is built; mimalloc,
/// the binary's allocator, would keep those pages for allocations that never come. (A build
/// without the `mimalloc` feature uses glibc's malloc, which gives back its large blocks and
/// the top of its heap by itself.)
fn release_freed_memory() {
    #[cfg(feature = "mimalloc")]
    // SAFETY: takes no pointer and frees only what no allocation holds; callable at any time.
    unsafe {
        libmimalloc_sys::mi_collect(true)
    }
}

/// mimalloc's `mi_option_purge_delay`: its place in `mi_option_e` of mimalloc 3 (`mimalloc.h`;
/// libmimalloc-sys builds version 3 unless its `v2` feature is on, and names no constant for it).
#[cfg(feature = "mimalloc")]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc's `mi_option_allow_thp`, its place in the same `mi_option_e`.
#[cfg(feature = "mimalloc")]
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// How long memory freed stays with the allocator before it is given back to the system.
#[cfg(feature = "mimalloc")]
const KEEP_FREED_MS: std::ffi::c_long = 10_000;

/// Set the allocator's options the sequencer's work wants (the binary's allocator, mimalloc;
/// nothing without it): two of them.
///
/// Memory freed waits ten seconds before mimalloc gives it back to the system (its default
/// is one; `MIMALLOC_PURGE_DELAY` in the environment still decides if set). The sequencer frees
/// and allocates the decoded state of every batch: given back after a second, the same memory
/// came back as fresh pages whose faults and zeroing were 7 % of the sequencer's time, and an
/// append 8 % slower (README, "The domain's append since the read model"). Memory freed after a
/// burst, such as a detector scan, still goes back, ten seconds later.
///
/// And no transparent huge pages (`MIMALLOC_ALLOW_THP` still decides if set): mimalloc asks
/// the kernel for them (`MADV_HUGEPAGE`) on the memory it maps, and each first touch of one
/// then zeroes 2 MiB at once. Zeroing them was a tenth of the sequencer's time; without them
/// the waste rules' append was faster in eight pairs of runs of nine and as fast in the
/// ninth, and the process held 40 to 70 MiB less (README, "Kept (twenty-first session)").
/// Call once, at the start.
pub fn tune_the_allocator() {
    #[cfg(feature = "mimalloc")]
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of the allocator's options to a value it documents (a delay in
        // milliseconds); takes no pointer.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, KEEP_FREED_MS) }
    }
    #[cfg(feature = "mimalloc")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: sets one of the allocator's options to a value it documents (0: off); takes
        // no pointer.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) }
        // mimalloc reads the option as the process loads, and asked for huge pages on the
        // memory it mapped before `main`: the kernel's switch for the whole process covers
        // that too (what mimalloc itself does when the option is off at load).
        // SAFETY: a prctl that takes no pointer; a kernel without it returns an error, and
        // the process goes on with huge pages.
        #[cfg(target_os = "linux")]
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

/// Whether the database has a tree `name` (without creating it, as `open_tree` would).
pub(crate) fn has_tree(db: &sled::Db, name: &str) -> bool {
    db.tree_names().iter().any(|n| n == name.as_bytes())
}

/// Whether the database still holds something in `name`, a tree an earlier version wrote.
pub(crate) fn holds_old_tree(db: &sled::Db, name: &str) -> Result<bool, StoreError> {
    Ok(has_tree(db, name) && !db.open_tree(name)?.is_empty())
}

pub(crate) fn be_u64(b: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = b.try_into().map_err(|_| {
        StoreError::Corrupt(format!("expected an 8-byte key, found {} bytes", b.len()))
    })?;
    Ok(u64::from_be_bytes(arr))
}

/// The store as a source of complete-subtree hashes for proofs.
pub(crate) struct StoredNodes<'a>(pub &'a Trees);

impl SubtreeHashes for StoredNodes<'_> {
    type Error = StoreError;
    fn perfect(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        if level == 0 {
            let bytes = runs::get(&self.0.entries, index)?
                .ok_or_else(|| StoreError::Corrupt(format!("entry {index} is missing")))?;
            return Ok(leaf_hash(&bytes));
        }
        if !nodes::is_stored_level(level) {
            let left = self.perfect(level - 1, 2 * index)?;
            let right = self.perfect(level - 1, 2 * index + 1)?;
            return Ok(merkle::node_hash(&left, &right));
        }
        nodes::get(&self.0.nodes, level, index)?.ok_or_else(|| {
            StoreError::Corrupt(format!("Merkle node level {level} #{index} is missing"))
        })
    }
}

/// An open log: the sequencer runs while this lives. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    trees: Arc<recover::TreesSlot>,
    /// What the background check of the entries opening did not read has found.
    sweep: Arc<sweep::Sweep>,
    head: Arc<RwLock<Head>>,
    /// The replay index's open segment, kept by the sequencer (`hashes.rs`).
    tail: Arc<RwLock<hashes::Tail>>,
    seen: seen::Seen,
    max_personal_per_party: u64,
    verifier: NoteVerifier,
    /// Signs what the log vouches for besides checkpoints (the manifests' QR tokens).
    log_key: SigningKey,
    intake: intake::Intake,
    sequencer: Arc<sequencer::Handle>,
    /// The clock the log was opened with: the sequencer's, and the readers' through
    /// [`Ledger::now`].
    clock: Arc<dyn Clock>,
    /// The rules the sequencer folds by, asked what an arriving event becomes
    /// ([`Ledger::submit_or_wait`]).
    rules: Arc<dyn Rules>,
}

/// What a new log is made of: its name, the key that signs its checkpoints, and the genesis
/// event signed by the authority.
pub struct Genesis {
    pub origin: String,
    pub log_key: SigningKey,
    pub event: SignedEvent,
}

impl Genesis {
    /// The usual case: the authority's key is at hand and signs genesis now. `rules` names the
    /// rulebook the domain judges events by (None: a bare signed log).
    pub fn new(
        origin: &str,
        log_key: SigningKey,
        authority: &SigningKey,
        rules: Option<&str>,
    ) -> Result<Self, StoreError> {
        let body = genesis_event(
            origin,
            &PublicKey(log_key.verifying_key()),
            &PublicKey(authority.verifying_key()),
            rules,
        );
        let event =
            SignedEvent::sign(body, &[authority]).map_err(|e| StoreError::Setup(e.to_string()))?;
        Ok(Genesis {
            origin: origin.to_string(),
            log_key,
            event,
        })
    }
}

impl Ledger {
    /// Whether `dir` already holds a log.
    pub fn exists(dir: &Path) -> bool {
        dir.join("db").exists()
    }

    /// Create a new log in an empty `dir`, with its genesis entry, and open it.
    pub fn create(
        dir: &Path,
        cfg: Config,
        genesis: Genesis,
        rules: Arc<dyn Rules>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        if Self::exists(dir) {
            return Err(StoreError::Setup(format!(
                "{} already holds a log",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Setup(format!("cannot create {}: {e}", dir.display())))?;
        published::create(dir).map_err(|e| {
            StoreError::Setup(format!(
                "cannot create {}: {e}",
                published::path_in(dir).display()
            ))
        })?;
        let verified = VerifiedEvent::check(genesis.event)
            .map_err(|e| StoreError::Setup(format!("genesis event: {e}")))?;
        let ledger = Self::open_with(
            dir,
            cfg,
            genesis.log_key,
            rules,
            clock,
            Some(&genesis.origin),
        )?;
        ledger
            .submit_blocking(verified)
            .map_err(|e| StoreError::Setup(format!("genesis event refused: {e}")))?;
        Ok(ledger)
    }

    /// Open an existing log; `log_key` must be the key its genesis entry names.
    pub fn open(
        dir: &Path,
        cfg: Config,
        log_key: SigningKey,
        rules: Arc<dyn Rules>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        if !Self::exists(dir) {
            return Err(StoreError::Setup(format!("{} holds no log", dir.display())));
        }
        Self::open_with(dir, cfg, log_key, rules, clock, None)
    }

    fn open_with(
        dir: &Path,
        cfg: Config,
        log_key: SigningKey,
        rules: Arc<dyn Rules>,
        clock: Arc<dyn Clock>,
        new_origin: Option<&str>,
    ) -> Result<Self, StoreError> {
        // Held by the sequencer from a batch's transaction to its fsync; by readers of the
        // domain's read model for each read.
        let gate = Arc::new(RwLock::new(()));
        let (slot, d) = guard(dir, || {
            let slot = Arc::new(recover::TreesSlot::open(dir, &cfg)?);
            rules.attach(Arc::new(readmodel::StoredKv::live(
                slot.clone(),
                gate.clone(),
            )));
            let trees = slot.get()?;
            let mut loaded = None;
            rules.with_fold(&mut |fold| {
                loaded = Some(load_durable(
                    dir,
                    &trees,
                    fold,
                    new_origin,
                    &log_key,
                    cfg.replay_segment,
                ));
            });
            let d = loaded.expect("with_fold runs its closure")?;
            drop(trees);
            Ok((slot, d))
        })?;
        release_freed_memory();
        let verifier = NoteVerifier::new(&d.origin, log_key.verifying_key())
            .map_err(|e| StoreError::Setup(format!("log name: {e}")))?;
        let seen = seen::Seen::load(&*slot.get()?, clock.now())?;
        let mut record = published::Record::open(dir).map_err(|e| {
            StoreError::Setup(format!(
                "cannot open {} for writing: {e}",
                published::path_in(dir).display()
            ))
        })?;
        if d.head.size > 0 {
            // Both slots now hold the head, so one torn write later still leaves it.
            for _ in 0..2 {
                record.publish(&d.head.checkpoint).map_err(|e| {
                    StoreError::Setup(format!(
                        "cannot write {}: {e}",
                        published::path_in(dir).display()
                    ))
                })?;
            }
        }
        let swept = d.head.size;
        let segment = d.tail.segment();
        let sweep = sweep::Sweep::new();
        let replay = replay::ReplayFilter::new(cfg.replay_filter_bytes);
        let head = Arc::new(RwLock::new(d.head));
        let tail = Arc::new(RwLock::new(d.tail));
        let gate_for_sweep = gate.clone();
        let sequencer = sequencer::start(
            slot.clone(),
            head.clone(),
            sequencer::SeqState {
                state: d.state,
                frontier: d.frontier,
                prev: d.prev,
                last_time: d.last_time,
                origin: d.origin,
                log_key: log_key.clone(),
                rules: rules.clone(),
                clock: clock.clone(),
                record,
                gate,
                sweep: sweep.clone(),
                replay: replay.clone(),
                tail: tail.clone(),
                timing: Default::default(),
            },
            cfg.max_batch,
            cfg.max_queue,
        );
        let sequencer = Arc::new(sequencer);
        let intake = intake::Intake::start(sequencer.clone(), cfg.max_queue, rules.prepares());
        sweep::start(&slot, swept, sweep.clone(), replay, segment, gate_for_sweep);
        Ok(Ledger {
            inner: Arc::new(Inner {
                trees: slot,
                head,
                tail,
                seen,
                max_personal_per_party: cfg.max_personal_per_party,
                verifier,
                log_key,
                intake,
                sequencer,
                clock,
                rules,
                sweep,
            }),
        })
    }

    /// The database, for the span of one call.
    fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        self.inner.trees.get()
    }

    /// Check the signatures of one event (batched with others arriving at the same time), then
    /// order, write and fsync it; resolves once it is durable (or refused).
    pub async fn submit(&self, event: SignedEvent) -> Result<Receipt, SubmitError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.inner.intake.send(event, reply);
        rx.await.map_err(|_| SubmitError::Stopped)?
    }

    /// Order, write and fsync one event whose signatures were checked, for callers outside an
    /// async runtime; returns once it is durable (or refused).
    pub fn submit_blocking(&self, event: VerifiedEvent) -> Result<Receipt, SubmitError> {
        self.inner
            .sequencer
            .submit(event)
            .blocking_recv()
            .map_err(|_| SubmitError::Stopped)?
    }

    /// Where the sequencer's time went since the log was opened ([`CommitTimes`]): what keeps
    /// a closed loop of clients from the cores' limit when each batch waits for the disk.
    pub fn commit_times(&self) -> CommitTimes {
        self.inner.sequencer.times()
    }

    /// Hand many checked events to the sequencer at once and wait for all (group commit at work).
    pub fn submit_many(&self, events: Vec<VerifiedEvent>) -> Vec<Result<Receipt, SubmitError>> {
        let pending: Vec<_> = events
            .into_iter()
            .map(|e| self.inner.sequencer.submit(e))
            .collect();
        pending
            .into_iter()
            .map(|rx| rx.blocking_recv().map_err(|_| SubmitError::Stopped)?)
            .collect()
    }

    /// Bulk append (imports, benchmarks): every core checks signatures, a part of 32 events at a
    /// time taken in turn, while one more thread hands the checked events to the sequencer in
    /// input order (the sequencer takes what waits as one batch): the first 64 as soon as they
    /// are checked, then twice as many each time up to 1,024; then wait for all. No core waits
    /// for another between parts, and these threads run at a lower priority than the sequencer
    /// (`stage::beside_the_serial_stage`): where the sequencer is the slower stage (the waste
    /// rules) it keeps a core. Results are in input order.
    pub fn append_all(&self, events: Vec<SignedEvent>) -> Vec<Result<Receipt, AppendError>> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        const PART: usize = 32;
        const HANDED: usize = 1024;
        const FIRST_HANDED: usize = 64;
        type Checked = Vec<Result<VerifiedEvent, crate::ledger::event::EventError>>;
        let mut events = events.into_iter();
        let parts: Vec<std::sync::Mutex<Vec<SignedEvent>>> = std::iter::from_fn(|| {
            let part: Vec<SignedEvent> = events.by_ref().take(PART).collect();
            (!part.is_empty()).then(|| std::sync::Mutex::new(part))
        })
        .collect();
        let next = AtomicUsize::new(0);
        let (tx, rx) = crossbeam_channel::unbounded::<(usize, Checked)>();
        let pending = std::thread::scope(|s| {
            let prepare = self.inner.rules.prepares();
            for _ in 0..crate::ledger::parallel::cores() {
                let (tx, parts, next) = (tx.clone(), &parts, &next);
                s.spawn(move || {
                    stage::beside_the_serial_stage();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(part) = parts.get(k) else { break };
                        let part = std::mem::take(&mut *part.lock().expect("part lock"));
                        let checked = part
                            .into_iter()
                            .map(|e| VerifiedEvent::check_preparing(e, prepare))
                            .collect();
                        if tx.send((k, checked)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let handing = move || {
                stage::beside_the_serial_stage();
                // Parts come back in the order they were checked; they go on in input order.
                let mut early = std::collections::BTreeMap::new();
                let (mut pending, mut want) = (Vec::new(), 0);
                let mut ready: Checked = Vec::with_capacity(HANDED);
                // The first events go on once 64 are checked, not 1,024, so that the sequencer
                // starts while the rest are checked; the hand-overs double up to 1,024.
                let mut handed_at = FIRST_HANDED;
                let hand = |ready: &mut Checked, pending: &mut Vec<_>| {
                    pending.extend(
                        ready
                            .drain(..)
                            .map(|v| v.map(|e| self.inner.sequencer.submit(e))),
                    )
                };
                for (k, checked) in rx.iter() {
                    early.insert(k, checked);
                    while let Some(checked) = early.remove(&want) {
                        want += 1;
                        ready.extend(checked);
                        if ready.len() >= handed_at {
                            hand(&mut ready, &mut pending);
                            handed_at = (handed_at * 2).min(HANDED);
                        }
                    }
                }
                hand(&mut ready, &mut pending);
                pending
            };
            // The handing on yields to the sequencer as well, on a thread of its own: the
            // caller's thread keeps its priority.
            s.spawn(handing)
                .join()
                .expect("the thread handing events on")
        });
        pending
            .into_iter()
            .map(|p| Ok(p?.blocking_recv().map_err(|_| SubmitError::Stopped)??))
            .collect()
    }

    /// What the integrity sweep started at open has found of the entries the log held then
    /// (`sweep.rs`): damage found there stops the log taking events.
    pub fn integrity(&self) -> Integrity {
        self.inner.sweep.integrity()
    }

    /// [`Ledger::integrity`] once the sweep has a finding, or after `timeout`.
    pub fn wait_for_integrity(&self, timeout: std::time::Duration) -> Integrity {
        self.inner.sweep.wait(timeout)
    }

    /// How much of sled's log file holds data now (see [`LogSpace`]).
    pub fn log_space(&self) -> Result<LogSpace, StoreError> {
        Ok(self.inner.trees.get()?.log_space())
    }

    /// The published size (cheaper than [`Ledger::head`] on the read paths).
    pub fn size(&self) -> u64 {
        self.inner.head.read().expect("head lock").size
    }

    pub fn head(&self) -> Head {
        self.inner.head.read().expect("head lock").clone()
    }

    /// The log's key signs its checkpoints and its QR tokens here, in the store: it is never
    /// handed out (the rest of the crate gets [`Ledger::sign_token`]).
    ///
    /// ```compile_fail
    /// fn key(l: &wasteledger::store::Ledger) -> &ed25519_dalek::SigningKey {
    ///     l.log_key()
    /// }
    /// ```
    fn log_key(&self) -> &SigningKey {
        &self.inner.log_key
    }

    /// A manifest's or a container's QR token (`qr::token`, in its own signing context),
    /// signed with the log's key under the log's name.
    pub fn sign_token(&self, body: &crate::qr::TokenBody) -> Result<String, crate::qr::BodyError> {
        crate::qr::sign(body, &self.inner.verifier.name, self.log_key())
    }

    /// The time by the clock the log was opened with: the one time every reader of the
    /// log's state goes by (the server never reads the wall clock itself).
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The log's note verifier key (name + key id + public key).
    pub fn verifier(&self) -> &NoteVerifier {
        &self.inner.verifier
    }

    /// Exact bytes of entry `index`, if it is in the published log.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if index >= self.size() {
            return Ok(None);
        }
        Ok(runs::get(&self.trees()?.entries, index)?.map(|v| v.to_vec()))
    }

    /// Exact bytes of entries `[start, end)`, clipped to the published log.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let end = end.min(self.size());
        if start >= end {
            return Ok(Vec::new());
        }
        // Every published entry must be there: a damaged database must not answer a range
        // with some of its entries missing as if that were the log.
        let mut want = start;
        let out = runs::range(&self.trees()?.entries, start, end)?
            .map(|e| {
                let (at, v) = e?;
                if at != want {
                    return Err(missing_entry(want));
                }
                want += 1;
                Ok(v.to_vec())
            })
            .collect::<Result<Vec<_>, _>>()?;
        if want != end {
            return Err(missing_entry(want));
        }
        Ok(out)
    }

    /// A C2SP tile of the published tree (`ledger::tiles`): its bytes, or None when the
    /// published tree does not hold all of it (a partial tile wider than what exists). A full
    /// tile's bytes never change; a partial one is a prefix of its full tile.
    pub fn tile(&self, tile: Tile) -> Result<Option<Vec<u8>>, StoreError> {
        if !tile.exists_in(self.size()) {
            return Ok(None);
        }
        let (level, first) = tile.first();
        let end = first + tile.count();
        match tile {
            Tile::Entries { .. } => {
                let entries = self.entries(first, end)?;
                tiles::bundle(entries.iter().map(Vec::as_slice))
                    .map(Some)
                    .map_err(StoreError::Corrupt)
            }
            Tile::Hashes { .. } if level == 0 => Ok(Some(
                self.entries(first, end)?
                    .iter()
                    .flat_map(|e| leaf_hash(e))
                    .collect(),
            )),
            Tile::Hashes { .. } => {
                let trees = self.trees()?;
                let nodes = StoredNodes(&trees);
                let mut out = Vec::with_capacity(32 * tile.count() as usize);
                for i in first..end {
                    out.extend_from_slice(&nodes.perfect(8 * level, i)?);
                }
                Ok(Some(out))
            }
        }
    }

    pub fn leaf_hash(&self, index: u64) -> Result<Hash, StoreError> {
        StoredNodes(&*self.trees()?).perfect(0, index)
    }

    /// Audit path for `index` in the tree of `size` (both checked against the published size).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofRequestError> {
        self.published("size", size)?;
        if index >= size {
            return Err(range(
                "index",
                format!("`index` {index} is not below `size` {size}"),
            ));
        }
        let trees = self.trees()?;
        let proof = merkle::inclusion_proof(&StoredNodes(&trees), index, size)?;
        // Never serve a proof that does not lead to the published root (checked against the
        // entries at open): a damaged interior node is named here, not passed on.
        let (head_size, head_root) = self.tree_head();
        if size == head_size {
            let leaf = StoredNodes(&trees).perfect(0, index)?;
            merkle::verify_inclusion(index, size, &leaf, &proof, &head_root)
                .map_err(|e| damaged_proof("inclusion", e))?;
        }
        Ok(proof)
    }

    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, ProofRequestError> {
        self.published("to", to)?;
        if from == 0 || from > to {
            return Err(range(
                "from",
                format!("need 0 < `from` <= `to`, got from {from} to {to}"),
            ));
        }
        let trees = self.trees()?;
        let proof = merkle::consistency_proof(&StoredNodes(&trees), from, to)?;
        let (head_size, head_root) = self.tree_head();
        if to == head_size {
            let from_root = merkle::root(&StoredNodes(&trees), from)?;
            merkle::verify_consistency(from, to, &proof, &from_root, &head_root)
                .map_err(|e| damaged_proof("consistency", e))?;
        }
        Ok(proof)
    }

    /// The published size and root, without copying the checkpoint note.
    fn tree_head(&self) -> (u64, Hash) {
        let h = self.inner.head.read().expect("head lock");
        (h.size, h.root)
    }

    /// Proofs exist only for sizes the log has published.
    fn published(&self, field: &'static str, size: u64) -> Result<(), ProofRequestError> {
        let current = self.size();
        if size > current {
            return Err(range(
                field,
                format!("`{field}` {size} is larger than the log ({current})"),
            ));
        }
        Ok(())
    }

    /// The index of the entry holding the event with this hash (from the replay index).
    pub fn event_index(&self, event_hash: &Hash) -> Result<Option<u64>, StoreError> {
        let trees = self.trees()?;
        let size = self.size();
        // Held while the full segments are read: the sequencer moves a segment out of it only
        // once that segment is stored full.
        let tail = self.inner.tail.read().expect("tail lock");
        Ok(tail
            .find_in(&trees.replay, event_hash)?
            .filter(|i| *i < size))
    }

    /// Keep a personal record lodged by `party` under its commitment (durable at once). Changes
    /// nothing if a record (or its erasure) is there already, or if the party keeps
    /// [`Config::max_personal_per_party`] live records already.
    pub fn put_personal(
        &self,
        commitment: &str,
        record: &[u8],
        party: &str,
    ) -> Result<Lodged, StoreError> {
        use sled::transaction::{ConflictableTransactionError, Transactional};
        let t = self.trees()?;
        let quota = self.inner.max_personal_per_party;
        let outcome = (&t.personal, &t.lodged).transaction(|(personal, lodged)| {
            if personal.get(commitment)?.is_some() {
                return Ok(Lodged::Exists);
            }
            let count = match lodged.get(party)? {
                Some(v) => u64::from_be_bytes(
                    v.as_ref()
                        .try_into()
                        .map_err(|_| ConflictableTransactionError::Abort(()))?,
                ),
                None => 0,
            };
            if count >= quota {
                return Ok(Lodged::OverQuota { count, quota });
            }
            personal.insert(commitment, record)?;
            lodged.insert(party, &(count + 1).to_be_bytes())?;
            Ok(Lodged::Stored)
        })?;
        if outcome == Lodged::Stored {
            t.sync()?;
        }
        Ok(outcome)
    }

    pub fn personal(&self, commitment: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.trees()?.personal.get(commitment)?.map(|v| v.to_vec()))
    }

    /// Replace a personal record with the note of its erasure (durable at once). `lodged`: the
    /// party that lodged it and the live record as the caller read it; if that is what the
    /// erasure replaces, the record no longer counts against the party's quota.
    pub fn erase_personal(
        &self,
        commitment: &str,
        note: &[u8],
        lodged: Option<(&str, &[u8])>,
    ) -> Result<(), StoreError> {
        use sled::transaction::Transactional;
        let t = self.trees()?;
        (&t.personal, &t.lodged).transaction(|(personal, lodged_count)| {
            let old = personal.insert(commitment, note)?;
            // Only the erasure that replaces the live record the caller read frees its
            // party's slot: of two erasures at once, the second replaces the first's note.
            if let (Some((party, live)), Some(old)) = (lodged, old) {
                if old.as_ref() == live {
                    if let Some(v) = lodged_count.get(party)? {
                        let n = v.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
                        lodged_count.insert(party, &n.saturating_sub(1).to_be_bytes())?;
                    }
                }
            }
            Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
        })?;
        t.sync()?;
        Ok(())
    }

    /// Stop taking events, commit those in flight, flush. Also done on drop.
    pub fn shutdown(&self) {
        self.inner.intake.stop();
        self.inner.sequencer.stop();
    }

    /// Shut down and close the database: returns once nothing in this process holds it, so the
    /// directory can be opened again at once (here or by another process). Stop serving first:
    /// calls made later through a clone of this log are refused ("the log is closed"), and
    /// reads of the domain's read model find nothing (a reader's long work still running ends
    /// at its next read, its answer empty).
    pub fn close(self) -> Result<(), StoreError> {
        self.shutdown();
        self.inner.trees.close()
    }
}

/// What became of a personal record lodged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lodged {
    Stored,
    /// A record (or its erasure) for the commitment is kept already; nothing changed.
    Exists,
    /// The party keeps `count` live records, its quota; nothing changed.
    OverQuota {
        count: u64,
        quota: u64,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AppendError {
    #[error(transparent)]
    Event(#[from] crate::ledger::event::EventError),
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

#[derive(Debug, Error)]
pub enum ProofRequestError {
    #[error("{detail}")]
    Range { field: &'static str, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn range(field: &'static str, detail: String) -> ProofRequestError {
    ProofRequestError::Range { field, detail }
}

/// What opening established besides the state: the Merkle tree's right edge (the stored
/// nodes' below the entries replayed, their own leaf hashes from there) and the roots at the
/// sizes asked for.
pub(crate) struct FromEntries {
    pub frontier: Frontier,
    pub roots: Vec<(u64, Hash)>,
}

/// The log as it is on disk: its own state and the domain's `fold` replayed from the entries,
/// the chain tip, the frontier and the published head.
pub(super) struct Durable {
    pub state: LogState,
    pub frontier: Frontier,
    pub prev: Hash,
    pub last_time: Timestamp,
    pub origin: String,
    pub head: Head,
    /// The replay index's open segment.
    pub tail: hashes::Tail,
}

/// Load what is durable in the log in `dir` (at open, and when the store resumes after a
/// storage failure), refusing a database that does not reach the checkpoint the log last
/// published or whose derived trees disagree with its entries. `new_origin`: the name of a log
/// being created (else the one entry 0 names); `log_key` must be the key entry 0 names.
pub(super) fn load_durable(
    dir: &Path,
    trees: &Trees,
    fold: &mut dyn Fold,
    new_origin: Option<&str>,
    log_key: &SigningKey,
    new_segment: u64,
) -> Result<Durable, StoreError> {
    let size = trees.size()?;
    published::check_size(dir, size).map_err(StoreError::Damaged)?;
    let sizes = published::sizes_named(dir);
    nodes::check_layout(&trees.db, dir)?;
    let segment = hashes::segment(trees, new_segment)?;
    let tail = hashes::Tail::load(&trees.replay, segment, size)?;
    let (state, prev, last_time, from_entries) = load_state(trees, size, fold, &sizes, &tail)?;
    let origin = match new_origin {
        Some(o) => o.to_string(),
        None => state.origin.clone(),
    };
    if size > 0 && state.log_key != Some(PublicKey(log_key.verifying_key())) {
        return Err(StoreError::Setup(format!(
            "the log key given is not the one entry 0 names ({})",
            state.log_key.map(|k| k.to_string()).unwrap_or_default()
        )));
    }
    let verifier = NoteVerifier::new(&origin, log_key.verifying_key())
        .map_err(|e| StoreError::Setup(format!("log name: {e}")))?;
    check_published(dir, &verifier, size, &from_entries.roots).map_err(|refused| {
        // The roots below the replay came from the stored nodes. If the entries' own make
        // what was published, it is the nodes that are damaged (derived: `reindex`).
        match roots_of_entries(trees, &sizes) {
            Ok(roots) if check_published(dir, &verifier, size, &roots).is_ok() => {
                StoreError::Damaged(format!(
                    "the stored Merkle nodes in {} do not give the root the log published, \
                     though its entries do; nothing was served. Run `wasteledger reindex \
                     --data {}` to rebuild them",
                    dir.display(),
                    dir.display()
                ))
            }
            _ => refused,
        }
    })?;
    // Proofs are served from the stored nodes: they must be the entries' own.
    let frontier = Frontier::load(&StoredNodes(trees), size)?;
    if frontier != from_entries.frontier {
        return Err(StoreError::Damaged(format!(
            "the stored Merkle nodes in {} do not match the entries (the tree's right edge \
             differs); nothing was served. Run `wasteledger reindex --data {}` to rebuild them",
            dir.display(),
            dir.display()
        )));
    }
    stored_nodes_end_at(trees, dir, size)?;
    let root = frontier.root();
    // The checkpoint is derived (Ed25519 signs deterministically): sign it anew, and if one
    // is stored, it must be exactly that one.
    let checkpoint = Checkpoint {
        origin: origin.clone(),
        size,
        root,
    }
    .sign(log_key);
    if size > 0 && trees.meta.get(CHECKPOINT_KEY)?.as_deref() != Some(checkpoint.as_bytes()) {
        return Err(StoreError::Damaged(format!(
            "the stored checkpoint is not the log's own at size {size}; run `wasteledger verify --data {}`",
            dir.display()
        )));
    }
    Ok(Durable {
        state,
        frontier,
        prev,
        last_time,
        origin,
        head: Head {
            size,
            root,
            checkpoint,
        },
        tail,
    })
}

/// Rebuild the log's own state, the domain's fold and the chain tip, reading no more of the log
/// than a restart needs: the entries that change [`LogState`] (through the `registry` index)
/// and every entry from where the fold's stored state stands (`Fold::applied`; the whole log
/// for a fold kept in memory). Those entries are checked as the sequencer wrote them: in
/// place, chained to the entry before them, indexed (replay, registry) and passing the log's
/// rules again; the Merkle frontier is the stored nodes' up to there, extended with their own
/// leaf hashes. Entries before that were checked when they were appended and are checked
/// again, all of them, by `verify` (README, "Reliability"): reading ten years of entries at
/// every restart is what the read model is there to avoid. Only the first `size` entries are
/// read: after a failed write the database may hold more, never made durable. Takes the
/// tree's root at each of `sizes` on the way (from the stored nodes below the replay).
fn load_state(
    trees: &Trees,
    size: u64,
    fold: &mut dyn Fold,
    sizes: &[u64],
    tail: &hashes::Tail,
) -> Result<(LogState, Hash, Timestamp, FromEntries), StoreError> {
    let mut state = LogState::default();
    let start = match fold.applied() {
        HOLDS_EVERY_ENTRY => size,
        applied if applied > size => {
            return Err(StoreError::Damaged(format!(
                "the read model says it holds {applied} entries where the log holds {size}: \
                 it was not written with these entries; run `wasteledger reindex` to rebuild it"
            )))
        }
        applied => applied,
    };
    // The log's own state before `start`, from the entries that change it alone.
    for k in trees.registry.range(..start.to_be_bytes()) {
        let i = be_u64(&k?.0)?;
        let (e, _) = read_entry(trees, i)?;
        if !changes_log_state(e.event.event_type()) {
            return Err(StoreError::Damaged(format!(
                "the registry index names entry {i}, a {} that does not change the log's keys; \
                 run `wasteledger verify`",
                e.event.event_type()
            )));
        }
        state
            .admit(i, e.time, &e.event, &mut crate::ledger::state::OpenRules)
            .map_err(|r| no_longer_passes(i, r))?;
    }
    let (mut prev, mut last_time) = match start.checked_sub(1) {
        None => ([0; 32], Timestamp::from_unix_millis(0)),
        Some(i) => {
            let (e, leaf) = read_entry(trees, i)?;
            (leaf, e.time)
        }
    };
    let mut from = FromEntries {
        frontier: Frontier::load(&StoredNodes(trees), start)?,
        roots: Vec::new(),
    };
    let mut registry_after = 0u64;
    let mut next = start;
    let mut run: Vec<(u64, sled::IVec)> = Vec::with_capacity(4096);
    let mut iter = runs::range(&trees.entries, start, size)?;
    loop {
        run.clear();
        for e in iter.by_ref().take(4096) {
            run.push(e?);
        }
        if run.is_empty() {
            break;
        }
        let decoded = crate::ledger::parallel::par_chunks(&run, 256, |part| {
            part.iter()
                .map(|(i, b)| {
                    Entry::decode(b)
                        .map(|e| (e, leaf_hash(b)))
                        .map_err(|e| format!("entry {i}: {e}"))
                })
                .collect()
        });
        for ((i, _), e) in run.iter().zip(decoded) {
            let (e, leaf) = e.map_err(StoreError::Damaged)?;
            check_link(*i, next, &e, &prev)?;
            state
                .admit(*i, e.time, &e.event, fold)
                .map_err(|r| no_longer_passes(*i, r))?;
            if !tail.holds(&trees.replay, &e.event.event_hash(), *i)? {
                return Err(drifted("replay", *i));
            }
            if changes_log_state(e.event.event_type()) {
                registry_after += 1;
                if !trees.registry.contains_key(i.to_be_bytes())? {
                    return Err(drifted("registry", *i));
                }
            }
            from.frontier.append(leaf, |_| {});
            if sizes.contains(&from.frontier.size()) {
                from.roots
                    .push((from.frontier.size(), from.frontier.root()));
            }
            prev = leaf;
            last_time = e.time;
            next += 1;
        }
        // A fold that keeps its state in the store and was behind (a new or rebuilt read
        // model) stores what it caught up, run by run: memory stays bounded.
        readmodel::apply(&trees.domain, fold.take_writes())?;
    }
    if next != size {
        return Err(StoreError::Damaged(format!(
            "found {next} entries where the log holds {size}"
        )));
    }
    if trees.registry.range(start.to_be_bytes()..).count() as u64 != registry_after {
        return Err(drifted("registry", start));
    }
    // The roots at published sizes below the replay come from the stored nodes.
    for &n in sizes.iter().filter(|n| **n <= start) {
        from.roots.push((n, merkle::root(&StoredNodes(trees), n)?));
    }
    // A read model started on an empty log (or rebuilt to nothing) is stored as it stands.
    readmodel::apply(&trees.domain, fold.take_writes())?;
    Ok((state, prev, last_time, from))
}

/// The tree's roots at `sizes`, from the entries' own leaf hashes (every entry up to the
/// largest is read: for telling damaged nodes from changed entries once a root disagrees).
fn roots_of_entries(trees: &Trees, sizes: &[u64]) -> Result<Vec<(u64, Hash)>, StoreError> {
    let mut frontier = Frontier::new();
    let mut roots = Vec::new();
    let last = sizes.iter().copied().max().unwrap_or(0);
    for e in runs::range(&trees.entries, 0, last)? {
        frontier.append(leaf_hash(&e?.1), |_| {});
        if sizes.contains(&frontier.size()) {
            roots.push((frontier.size(), frontier.root()));
        }
    }
    Ok(roots)
}

/// Entry `e`, read at key `i`, is the `next` one and chains to the one before (leaf `prev`).
pub(crate) fn check_link(i: u64, next: u64, e: &Entry, prev: &Hash) -> Result<(), StoreError> {
    if i != next {
        return Err(StoreError::Damaged(format!("entry {next} is missing")));
    }
    if e.index != i {
        return Err(StoreError::Damaged(format!(
            "the entry stored at {i} says it is entry {}",
            e.index
        )));
    }
    if e.prev != *prev {
        return Err(StoreError::Damaged(format!(
            "entry {i} does not chain to entry {} (its `prev` is not that entry's leaf hash)",
            i.wrapping_sub(1)
        )));
    }
    Ok(())
}

/// Entry `i` and its leaf hash.
fn read_entry(trees: &Trees, i: u64) -> Result<(Entry, Hash), StoreError> {
    let bytes = runs::get(&trees.entries, i)?
        .ok_or_else(|| StoreError::Damaged(format!("entry {i} is missing")))?;
    let e = Entry::decode(&bytes).map_err(|e| StoreError::Damaged(format!("entry {i}: {e}")))?;
    if e.index != i {
        return Err(StoreError::Damaged(format!(
            "the entry stored at {i} says it is entry {}",
            e.index
        )));
    }
    Ok((e, leaf_hash(&bytes)))
}

pub(crate) fn no_longer_passes(i: u64, r: crate::ledger::state::Refusal) -> StoreError {
    StoreError::Damaged(format!(
        "entry {i} no longer passes the log's rules: {r}; run `wasteledger verify`"
    ))
}

fn drifted(index: &str, i: u64) -> StoreError {
    StoreError::Damaged(format!(
        "the {index} index disagrees with the entries at entry {i}; nothing was served. Run \
         `wasteledger reindex` to rebuild it"
    ))
}

/// The database must reach the checkpoint the log last published (`published-checkpoint`
/// beside it), with the same root at that size.
fn check_published(
    dir: &Path,
    verifier: &NoteVerifier,
    size: u64,
    roots: &[(u64, Hash)],
) -> Result<(), StoreError> {
    let path = published::path_in(dir);
    if !path.exists() {
        if size == 0 {
            return Ok(());
        }
        return Err(StoreError::Damaged(format!(
            "{} holds a log of {size} entries but no record of the checkpoints it published \
             ({}): it cannot tell whether the database lost entries. If the directory was made \
             by a wasteledger older than that record, `wasteledger reindex --data {} --adopt` \
             checks it and starts the record. If the record was lost with a restore, restore it \
             too (or the whole directory from a mirror): a database from an older backup is \
             behind what the log published, and adopting it would fork the log",
            dir.display(),
            path.display(),
            dir.display()
        )));
    }
    let Some(published) =
        published::read(dir, verifier).map_err(|e| StoreError::Damaged(e.to_string()))?
    else {
        return published::nothing_published(dir, size).map_err(StoreError::Damaged);
    };
    published::check_reaches(dir, &published, size, |n| {
        roots
            .iter()
            .find(|(s, _)| *s == n)
            .map(|(_, r)| *r)
            .ok_or_else(|| format!("no root was taken at size {n}"))
    })
    .map_err(StoreError::Damaged)
}

/// The stored Merkle nodes end where the log does: at each stored level the last complete
/// subtree is there ([`Frontier::load`] read those it needs) and none lies past it. A cut or
/// drifted index deeper in is the integrity sweep's (and `verify`'s) to find.
fn stored_nodes_end_at(trees: &Trees, dir: &Path, size: u64) -> Result<(), StoreError> {
    if let Some(level) = nodes::first_level_not_ending_at(&trees.nodes, size)? {
        return Err(StoreError::Damaged(format!(
            "the Merkle node index in {} does not end at level {level} where a log of {size} \
             entries does; nothing was served. Run `wasteledger reindex --data {}` to rebuild it",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

fn damaged_proof(kind: &str, e: merkle::ProofError) -> StoreError {
    StoreError::Damaged(format!(
        "the stored Merkle nodes give an {kind} proof that does not lead to the published root \
         ({e}); the nodes are derived from the entries: `wasteledger reindex` rebuilds them"
    ))
}

fn missing_entry(index: u64) -> StoreError {
    StoreError::Damaged(format!(
        "published entry {index} is missing from the database"
    ))
}

/// Event types that change [`LogState`], so they are indexed in `registry`.
pub(crate) fn changes_log_state(event_type: &str) -> bool {
    event_type.starts_with("log.") || event_type.starts_with("key.")
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    use super::*;

    /// A bare bench log opened again (with the default configuration).
    fn reopen(path: &Path) -> Ledger {
        Ledger::open(
            path,
            Config::default(),
            SigningKey::from_bytes(&[2; 32]), // the bench log's key
            Arc::new(crate::ledger::state::OpenRules),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    /// Append `events`, all taken; where each went.
    fn appended(ledger: &Ledger, events: Vec<SignedEvent>) -> Vec<u64> {
        ledger
            .append_all(events)
            .into_iter()
            .map(|r| r.unwrap().index)
            .collect()
    }

    /// The sequencer's committing time counts every batch stored and every entry in them, and
    /// its wait for the disk is part of it; a refused event adds no batch.
    #[test]
    fn commit_times_count_the_batches_stored_and_their_wait_for_the_disk() {
        use crate::bench::{fresh_log, sample_event};
        use crate::ledger::event::VerifiedEvent;
        let dir = tempfile::tempdir().unwrap();
        let (ledger, keys) = fresh_log(&dir.path().join("log"), 1).unwrap();
        let before = ledger.commit_times();
        let one = VerifiedEvent::check(sample_event(0, &keys)).unwrap();
        ledger.submit_blocking(one.clone()).unwrap();
        let after_one = ledger.commit_times() - before;
        assert_eq!((after_one.batches, after_one.events), (1, 1));
        assert!(after_one.durable > std::time::Duration::ZERO);
        assert!(after_one.durable <= after_one.busy, "{after_one:?}");
        // A replay is answered without a batch stored.
        assert!(ledger.submit_blocking(one).is_err());
        assert_eq!(ledger.commit_times() - before, after_one);
        let more: Vec<_> = (1..=500).map(|i| sample_event(i, &keys)).collect();
        appended(&ledger, more);
        let all = ledger.commit_times() - before;
        assert_eq!(all.events, 501, "{all:?}");
        assert!((2..=501).contains(&all.batches), "{all:?}");
        assert!(all.busy > after_one.busy && all.durable > after_one.durable);
    }

    /// How a test writes into a tree: `rounds` rounds synced each, each writing `once` values
    /// of about 1 KB that stay (as entries are) and the same `over` values again (as a
    /// manifest's record is at each step).
    #[derive(Clone, Copy)]
    struct Rounds {
        rounds: u32,
        once: u32,
        over: u32,
    }

    /// Fifty rounds of 50 values written once and 1,000 written over: some 52 MB written for
    /// 3.5 MB that stays, and the pages written once keep the segments of sled's log in use
    /// after the rest of them is dead.
    const WRITTEN_OVER: Rounds = Rounds {
        rounds: 50,
        once: 50,
        over: 1_000,
    };

    /// The key of the `k`th value written once in `round`, and of the `k`th written over.
    fn once_key(round: u32, k: u32) -> Vec<u8> {
        [&[0u8][..], &round.to_be_bytes(), &k.to_be_bytes()].concat()
    }
    fn over_key(k: u32) -> Vec<u8> {
        [&[1u8][..], &k.to_be_bytes()].concat()
    }

    /// A value of about 1 KB for key `k` at `round`, different each round.
    fn written_over(k: u32, round: u32) -> Vec<u8> {
        (0..1_000u32)
            .map(|i| (k.wrapping_mul(31) ^ round.wrapping_mul(7) ^ i) as u8)
            .collect()
    }

    /// Into `tree`, as `w` says.
    fn write_over(trees: &Trees, tree: &sled::Tree, w: Rounds) {
        for round in 0..w.rounds {
            for k in 0..w.once {
                tree.insert(once_key(round, k), written_over(k, round))
                    .unwrap();
            }
            for k in 0..w.over {
                tree.insert(over_key(k), written_over(k, round)).unwrap();
            }
            trees.sync().unwrap();
        }
    }

    /// What [`write_over`] left in `tree`, as last written.
    fn assert_written_over(tree: &sled::Tree, w: Rounds) {
        for round in 0..w.rounds {
            for k in 0..w.once {
                assert_eq!(
                    tree.get(once_key(round, k)).unwrap().as_deref(),
                    Some(&written_over(k, round)[..]),
                    "written once: round {round}, key {k}"
                );
            }
        }
        for k in 0..w.over {
            assert_eq!(
                tree.get(over_key(k)).unwrap().as_deref(),
                Some(&written_over(k, w.rounds - 1)[..]),
                "written over: key {k}"
            );
        }
    }

    /// Clean sled's log until nothing is left to clean, and sync: the pages rewritten.
    fn clean_all(trees: &Trees) -> usize {
        let mut pages = 0;
        loop {
            let n = trees.clean_log(128).unwrap();
            if n == 0 {
                break;
            }
            pages += n;
        }
        trees.sync().unwrap();
        pages
    }

    /// sled's log gives back the space of values written over: once cleaned, the segments of
    /// its file in use hold a quarter less than they held or better, and no segment left
    /// behind is 30 % dead or more (the vendored sled cleans one at 70 % live or less:
    /// `vendor/README.md`); every value reads back as last written when the database is
    /// opened again.
    #[test]
    fn cleaning_the_log_gives_back_what_was_written_over_and_keeps_the_last_values() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::default();
        {
            let trees = Trees::open(dir.path(), &cfg).unwrap();
            write_over(&trees, &trees.domain, WRITTEN_OVER);
            let before = trees.log_space();
            let pages = clean_all(&trees);
            let after = trees.log_space();
            eprintln!("{pages} pages rewritten: {before:?} before, {after:?} after");
            assert!(pages > 0, "nothing was cleaned: {before:?}");
            // Measured here: 11 to 14 MB in use before, 4.7 MB after (how much before depends
            // on where sled's buffers ended).
            assert!(
                after.in_use * 4 < before.in_use * 3,
                "{pages} pages rewritten, and the log holds {after:?}, against {before:?} before"
            );
            // 3,500 values of 1 KB live in segments over 70 % live, and the segments still
            // being written.
            assert!(
                after.in_use * 7 < 10 * 3_500 * 1_024 + 7 * 4 * (512 << 10),
                "{after:?}"
            );
            assert!(after.file >= after.in_use);
        }
        let trees = Trees::open(dir.path(), &cfg).unwrap();
        assert_written_over(&trees.domain, WRITTEN_OVER);
    }

    /// Segments more than half live are cleaned too. After rounds that each write 600 values
    /// of about 1 KB that stay and write 400 others again, the segments sled's log filled are
    /// mostly more than half live: sled as published, which cleans a segment only at half live
    /// or less, rewrote 16 pages of them and left 22.5 MB in use for 12.4 MB live
    /// (`vendor/README.md`). Cleaned at 70 %, the segments in use hold less than 1.3 times what
    /// stays live (13.1 MB here), and every value reads back as written.
    #[test]
    fn cleaning_takes_segments_more_than_half_live() {
        let w = Rounds {
            rounds: 20,
            once: 600,
            over: 400,
        };
        let dir = tempfile::tempdir().unwrap();
        let trees = Trees::open(dir.path(), &Config::default()).unwrap();
        write_over(&trees, &trees.domain, w);
        let before = trees.log_space();
        let pages = clean_all(&trees);
        let after = trees.log_space();
        let live = u64::from(w.rounds * w.once + w.over) * 1_000;
        eprintln!("{pages} pages rewritten: {before:?} before, {after:?} after, {live} bytes live");
        // Over the live values: keys, sled's pages around them, and the segments still being
        // written.
        assert!(
            after.in_use * 10 < live * 13 + 10 * 4 * (512 << 10),
            "{pages} pages rewritten, and the log holds {after:?} for {live} bytes live"
        );
        assert_written_over(&trees.domain, w);
    }

    /// A fresh bench log at `path` whose tree `tree` was written over ([`WRITTEN_OVER`])
    /// outside the sequencer, which learns of it only at its next batch.
    fn log_written_over(path: &Path, tree: &str) -> (Ledger, Vec<SigningKey>) {
        let (ledger, keys) = crate::bench::fresh_log(path, 1).unwrap();
        write_over_in(&ledger, tree);
        (ledger, keys)
    }

    /// [`write_over`] into the tree `tree` of `ledger`'s database.
    fn write_over_in(ledger: &Ledger, tree: &str) {
        let trees = ledger.inner.trees.get().unwrap();
        write_over(&trees, &trees.db.open_tree(tree).unwrap(), WRITTEN_OVER);
    }

    /// `ledger` closed and opened again: as long as it was, and each of `trees` holding what
    /// [`write_over`] left in it.
    fn reopens_with_values_written_over(ledger: Ledger, path: &Path, trees: &[&str]) -> Ledger {
        let size = ledger.size();
        ledger.close().unwrap();
        let again = reopen(path);
        assert_eq!(again.size(), size);
        let held = again.inner.trees.get().unwrap();
        for tree in trees {
            assert_written_over(&held.db.open_tree(tree).unwrap(), WRITTEN_OVER);
        }
        drop(held);
        again
    }

    /// The sequencer cleans sled's log by itself between batches, while events keep coming
    /// (none 100 ms after the one before, so never idle), and gives the space back with their
    /// syncs; it also makes what it cleaned durable once no event has come for a while, with
    /// no batch after it. The log opens again whole afterwards.
    #[test]
    fn the_sequencer_cleans_the_log_between_batches_and_when_no_event_comes() {
        use crate::bench::sample_event;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let (ledger, keys) = log_written_over(&path, "scratch");
        let given_back = |before: LogSpace, event: &mut dyn FnMut()| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let mut after = ledger.log_space().unwrap();
            while after.in_use * 4 >= before.in_use * 3 && std::time::Instant::now() < deadline {
                event();
                after = ledger.log_space().unwrap();
            }
            after
        };
        // A trickle of events, one every 10 ms.
        let (before, cleaned) = (ledger.log_space().unwrap(), ledger.commit_times());
        let mut next = 0;
        let after = given_back(before, &mut || {
            appended(&ledger, vec![sample_event(next, &keys)]);
            next += 1;
            std::thread::sleep(std::time::Duration::from_millis(10));
        });
        let t = ledger.commit_times() - cleaned;
        assert!(
            after.in_use * 4 < before.in_use * 3 && t.cleaned_pages > 0,
            "{after:?} against {before:?} before, {next} events later ({t:?})"
        );
        // One event, then none (written over in a tree of its own: what the first half left in
        // use is already clean).
        write_over_in(&ledger, "scratch too");
        let (before, cleaned) = (ledger.log_space().unwrap(), ledger.commit_times());
        appended(&ledger, vec![sample_event(next, &keys)]);
        let after = given_back(before, &mut || {
            std::thread::sleep(std::time::Duration::from_millis(20))
        });
        let t = ledger.commit_times() - cleaned;
        assert!(
            after.in_use * 4 < before.in_use * 3 && t.cleaned_pages > 0 && t.batches == 1,
            "{after:?} against {before:?} before ({t:?})"
        );
        // And made durable by the sequencer itself: nothing is left for sled to write.
        std::thread::sleep(4 * super::sequencer::IDLE);
        let left = ledger.inner.trees.get().unwrap().db.flush().unwrap();
        assert_eq!(left, 0, "bytes the sequencer left unwritten after cleaning");
        let again = reopens_with_values_written_over(ledger, &path, &["scratch", "scratch too"]);
        assert!(matches!(
            again.wait_for_integrity(std::time::Duration::from_secs(60)),
            Integrity::Whole { .. }
        ));
    }

    /// A log written without a pause is cleaned as it grows: right after each batch, while the
    /// next events wait, the sequencer pays the cleaning its batches earned (a page and a half
    /// an entry, for batches of 256 entries or more, which a bulk of 4,000 makes), and no more
    /// than that.
    #[test]
    fn the_sequencer_cleans_the_log_after_its_batches_while_events_keep_coming() {
        use crate::bench::sample_event;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let (ledger, keys) = log_written_over(&path, "scratch");
        let (before, cleaned) = (ledger.log_space().unwrap(), ledger.commit_times());
        let n = 4_000u64;
        appended(&ledger, (1..=n).map(|i| sample_event(i, &keys)).collect());
        // The steps after the bulk's last batch are taken before the next batch is gathered.
        appended(&ledger, vec![sample_event(n + 1, &keys)]);
        let t = ledger.commit_times() - cleaned;
        let after = ledger.log_space().unwrap();
        assert!(
            t.paced_pages > 0
                && t.paced_pages * 100 <= (n + 1) * sequencer::CLEAN_OWED_PER_ENTRY as u64,
            "{} pages cleaned right after batches for {} entries ({t:?})",
            t.paced_pages,
            t.events
        );
        assert!(
            after.in_use < before.in_use,
            "{after:?} against {before:?} before ({t:?})"
        );
        reopens_with_values_written_over(ledger, &path, &["scratch"]);
    }

    /// Bulk append answers each event at its place and logs them in input order, across the
    /// parts checked on different cores and the hand-overs to the sequencer: a forged signature
    /// is refused where it stands (first and last, at either side of a part's and a hand-over's
    /// edge), a replay of an event earlier in the same call names where that one went.
    #[test]
    fn append_all_answers_in_input_order_and_logs_in_it() {
        use crate::bench::{fresh_log, sample_event};
        let dir = tempfile::tempdir().unwrap();
        let (ledger, keys) = fresh_log(&dir.path().join("log"), 1).unwrap();
        let forged_at = [0usize, 31, 32, 1_023, 1_024, 2_049];
        let mut events: Vec<SignedEvent> = (0..2_050).map(|i| sample_event(i, &keys)).collect();
        for &i in &forged_at {
            let wire = String::from_utf8(events[i].to_bytes()).unwrap();
            let forged = wire.replacen("苏E12345", "苏E12346", 1);
            assert_ne!(forged, wire);
            events[i] = SignedEvent::parse(forged.as_bytes()).unwrap();
        }
        events[1_500] = events[700].clone();
        let answers = ledger.append_all(events.clone());
        assert_eq!(answers.len(), events.len());
        let mut next = 2; // after genesis and the bench party's key
        for (i, answer) in answers.iter().enumerate() {
            if forged_at.contains(&i) {
                assert!(
                    matches!(answer, Err(AppendError::Event(_))),
                    "#{i}: {answer:?}"
                );
            } else if i == 1_500 {
                let first = answers[700].as_ref().unwrap().index;
                assert!(
                    matches!(answer, Err(AppendError::Submit(SubmitError::Replay { index })) if *index == first),
                    "#{i}: {answer:?}"
                );
            } else {
                let index = answer.as_ref().unwrap().index;
                assert_eq!(index, next, "#{i} logged in input order");
                assert_eq!(
                    ledger.event_index(&events[i].event_hash()).unwrap(),
                    Some(index)
                );
                next += 1;
            }
        }
        assert_eq!(ledger.size(), next);
        ledger.close().unwrap();
    }

    /// With the replay filter trusted (after the sweep of a reopened log), events logged before
    /// the restart are still refused as replays naming where they are, and one logged since too.
    #[test]
    fn an_event_logged_before_a_restart_is_a_replay_after_it_once_the_filter_is_trusted() {
        use crate::bench::{fresh_log, sample_event};
        use crate::ledger::event::VerifiedEvent;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let (ledger, keys) = fresh_log(&path, 1).unwrap();
        let old: Vec<_> = (0..300).map(|i| sample_event(i, &keys)).collect();
        let at = appended(&ledger, old.clone());
        ledger.close().unwrap();
        let ledger = reopen(&path);
        // The sweep has given the filter every event and trusted it.
        assert!(matches!(
            ledger.wait_for_integrity(std::time::Duration::from_secs(60)),
            Integrity::Whole { .. }
        ));
        for (i, e) in old.iter().enumerate().step_by(7) {
            let again = ledger.submit_blocking(VerifiedEvent::check(e.clone()).unwrap());
            assert_eq!(again, Err(SubmitError::Replay { index: at[i] }));
        }
        let new = VerifiedEvent::check(sample_event(300, &keys)).unwrap();
        let taken = ledger.submit_blocking(new.clone()).unwrap();
        assert_eq!(
            ledger.submit_blocking(new),
            Err(SubmitError::Replay { index: taken.index })
        );
        ledger.close().unwrap();
    }

    /// With segments of 128 entries, an event sent again is refused naming where it is,
    /// whether that is in a full segment or the open one, before a restart and after it (at
    /// once, the filter not yet trusted, and once the sweep has trusted it); `event_index` finds
    /// the same; `verify` finds the index to be what the entries make, and `reindex` writes it
    /// again byte for byte.
    #[test]
    fn replays_are_found_in_full_segments_and_the_open_one_across_restarts() {
        use crate::bench::{fresh_log_with, sample_event};
        use crate::ledger::event::VerifiedEvent;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let cfg = Config {
            replay_segment: 128,
            ..Config::default()
        };
        let (ledger, keys) = fresh_log_with(&path, 1, cfg).unwrap();
        let events: Vec<_> = (0..400).map(|i| sample_event(i, &keys)).collect();
        let mut at = Vec::new();
        // Batches that end inside a segment, on its last entry, and across two.
        for run in [
            events[..1].to_vec(),
            events[1..126].to_vec(),
            events[126..400].to_vec(),
        ] {
            at.extend(appended(&ledger, run));
        }
        let size = ledger.size();
        assert!(size > 3 * 128 && size < 4 * 128, "{size}");
        let again = |l: &Ledger, k: usize| {
            l.submit_blocking(VerifiedEvent::check(events[k].clone()).unwrap())
        };
        let picks = [0, 1, 120, 125, 126, 127, 250, 300, 399];
        for &k in &picks {
            assert_eq!(
                again(&ledger, k),
                Err(SubmitError::Replay { index: at[k] }),
                "event {k}"
            );
            assert_eq!(
                ledger.event_index(&events[k].event_hash()).unwrap(),
                Some(at[k])
            );
        }
        ledger.close().unwrap();
        let ledger = reopen(&path);
        for &k in &picks {
            assert_eq!(
                again(&ledger, k),
                Err(SubmitError::Replay { index: at[k] }),
                "event {k}"
            );
        }
        assert!(matches!(
            ledger.wait_for_integrity(std::time::Duration::from_secs(60)),
            Integrity::Whole { .. }
        ));
        for &k in &picks {
            assert_eq!(
                again(&ledger, k),
                Err(SubmitError::Replay { index: at[k] }),
                "event {k}"
            );
        }
        // Into the next segment and back.
        let more: Vec<_> = (400..600).map(|i| sample_event(i, &keys)).collect();
        let more_at = appended(&ledger, more.clone());
        assert_eq!(
            ledger.submit_blocking(VerifiedEvent::check(more[199].clone()).unwrap()),
            Err(SubmitError::Replay {
                index: more_at[199]
            })
        );
        assert_eq!(
            again(&ledger, 126),
            Err(SubmitError::Replay { index: at[126] })
        );
        ledger.close().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let rules = crate::ledger::state::OpenRules;
        verify(&path, scratch.path(), &rules, &mut |_, _| ())
            .unwrap()
            .unwrap();
        // Opened at once after each step, and let go of before the next.
        let db = |p: &Path| {
            Trees::for_one_job(p, |t| {
                Ok(t.replay.iter().map(|kv| kv.unwrap()).collect::<Vec<_>>())
            })
            .unwrap()
        };
        let before = db(&path);
        assert!(
            before.iter().any(|(k, _)| k[0] == b's') && before.iter().any(|(k, _)| k[0] == b't')
        );
        reindex(&path, &SigningKey::from_bytes(&[2; 32]), &rules, false)
            .unwrap()
            .unwrap();
        assert_eq!(db(&path), before, "reindex writes what the sequencer wrote");
    }

    /// The options set are mimalloc's purge delay and its `allow_thp`: before they are set
    /// they hold mimalloc 3's defaults (1,000 ms; on, for Linux; `options.c`), and afterwards
    /// what was asked for. The two options before `allow_thp` in `mi_option_e` hold their own
    /// defaults (`page_max_reclaim` -1, `page_cross_thread_max_reclaim` 32), so the index is
    /// the one `mimalloc.h` gives it. One test: the options are the process's.
    #[test]
    fn the_options_set_are_mimallocs() {
        // SAFETY: reads options' values; takes no pointer.
        let get = |o| unsafe { libmimalloc_sys::mi_option_get(o) };
        let (purge, thp) = (super::MI_OPTION_PURGE_DELAY, super::MI_OPTION_ALLOW_THP);
        // Where the environment sets one, it decides, and says what it holds.
        let purge_set = std::env::var_os("MIMALLOC_PURGE_DELAY").is_none();
        let thp_set = std::env::var_os("MIMALLOC_ALLOW_THP").is_none();
        if purge_set {
            assert_eq!(get(purge), 1_000, "mimalloc 3's default purge delay");
        }
        if thp_set {
            assert_eq!(get(thp), 1, "mimalloc 3's default allow_thp on Linux");
        }
        assert_eq!(get(thp - 1), 32, "page_cross_thread_max_reclaim");
        assert_eq!(get(thp - 2), -1, "page_max_reclaim");
        super::tune_the_allocator();
        if purge_set {
            assert_eq!(get(purge), super::KEEP_FREED_MS);
        }
        if thp_set {
            assert_eq!(get(thp), 0);
            // SAFETY: a prctl that takes no pointer.
            let off = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
            assert_eq!(off, 1, "the process's huge pages are off");
        }
    }
}
