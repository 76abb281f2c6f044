//! The sequencer: one thread, the only writer. Group commit: it takes every event waiting (up
//! to `max_batch`), orders and checks them against the log's state, writes the whole batch in
//! one sled transaction, fsyncs once, publishes the new head and checkpoint, and only then
//! answers each caller. After a failed batch it refuses events until the storage works again,
//! then resumes from what is durable (`recover.rs`).

use super::recover::{self, TreesSlot, RETRY};
use super::stage::{drain, gather, Stage};
use super::{changes_log_state, nodes, Head, StoreError, Trees, CHECKPOINT_KEY};
use crate::ledger::entry::encode as encode_entry;
use crate::ledger::event::VerifiedEvent;
use crate::ledger::merkle::{leaf_hash, Frontier, Hash};
use crate::ledger::note::Checkpoint;
use crate::ledger::state::{Fold, LogState, Refusal, Rules};
use crate::ledger::time::Timestamp;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use ed25519_dalek::SigningKey;
use sled::transaction::Transactional;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use thiserror::Error;
use tokio::sync::oneshot;

/// The answer to a durable append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub index: u64,
    pub leaf_hash: Hash,
    /// Size of the checkpoint published with this batch; the entry is provable against it.
    pub tree_size: u64,
    /// What the entry created, as the fold names it ([`Fold::created`]: the domain's new
    /// manifest numbers), so that its submitter need not read the state again.
    pub created: Vec<String>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SubmitError {
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error("replay: this event is already in the log at index {index}")]
    Replay { index: u64 },
    #[error("the log could not store the batch ({0}); nothing of it was acknowledged, and the log takes events again once its storage works (send the same signed event again then: if it did reach the log, the answer is a replay naming its index)")]
    Storage(String),
    #[error("the log is busy: its queues of events waiting to be checked and written are full; nothing was done with this event, try again shortly")]
    Busy,
    /// A half (kept beside the log until countersigned) one too many for its group.
    #[error("manifest {group} has {waiting} hand-overs waiting for a countersignature (at most {max}): complete one, or submit this one signed by both parties", max = super::MAX_PENDING_PER_MANIFEST)]
    TooManyWaiting { group: String, waiting: usize },
    #[error("the log is shutting down or stopped")]
    Stopped,
    /// The integrity sweep found the database damaged (`sweep.rs`).
    #[error("the log takes no events: its database is damaged ({0}). Nothing was done with this event; {step}", step = super::DAMAGE_STEP)]
    Damaged(String),
    #[error(transparent)]
    Signature(#[from] crate::ledger::event::EventError),
    /// Its entry would not fit an entry bundle's `u16` length prefix (`ledger::tiles`).
    #[error("the entry this event makes would be {bytes} bytes; an entry holds at most {max} (the tiles' entry bundles prefix each entry with a 16-bit length): send a smaller event", max = crate::ledger::tiles::MAX_ENTRY_BYTES)]
    TooLarge { bytes: usize },
}

pub(super) type Reply = oneshot::Sender<Result<Receipt, SubmitError>>;

struct Job {
    event: VerifiedEvent,
    reply: Reply,
}

pub(super) struct SeqState {
    pub state: LogState,
    pub frontier: Frontier,
    pub prev: Hash,
    pub last_time: Timestamp,
    pub origin: String,
    pub log_key: SigningKey,
    pub rules: Arc<dyn Rules>,
    pub clock: Arc<dyn super::Clock>,
    /// The durable record of the newest published checkpoint, outside the database.
    pub record: super::published::Record,
    /// Held from a batch's transaction to its fsync and publication, so that readers of the
    /// domain's read model see a batch whole and durable or not at all.
    pub gate: Arc<RwLock<()>>,
    /// The integrity sweep's finding: damage stops the log taking events.
    pub sweep: Arc<super::sweep::Sweep>,
    /// The events the log may hold: a look-up in the replay index only for those.
    pub replay: Arc<super::replay::ReplayFilter>,
    /// The replay index's open segment (`hashes.rs`), shared with readers.
    pub tail: Arc<RwLock<super::hashes::Tail>>,
    /// Where the sequencer's time goes, for [`super::Ledger::commit_times`].
    pub timing: Arc<Timing>,
}

/// The sequencer's time committing batches, summed since the log was opened.
#[derive(Default)]
pub(super) struct Timing {
    batches: AtomicU64,
    events: AtomicU64,
    busy_ns: AtomicU64,
    prepare_ns: AtomicU64,
    write_ns: AtomicU64,
    durable_ns: AtomicU64,
    read_model_keys: AtomicU64,
    read_model_bytes: AtomicU64,
    cleaned_pages: AtomicU64,
    paced_pages: AtomicU64,
    cleaning_ns: AtomicU64,
}

impl Timing {
    fn add(&self, w: &Writes, read_model_bytes: u64, took: Took) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.events
            .fetch_add(w.entries.len() as u64, Ordering::Relaxed);
        self.read_model_keys
            .fetch_add(w.domain.len() as u64, Ordering::Relaxed);
        self.read_model_bytes
            .fetch_add(read_model_bytes, Ordering::Relaxed);
        for (sum, d) in [
            (&self.busy_ns, took.busy),
            (&self.prepare_ns, took.prepare),
            (&self.write_ns, took.write),
            (&self.durable_ns, took.durable),
        ] {
            sum.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
        }
    }

    fn cleaned(&self, pages: usize, took: std::time::Duration, paced: Paced) {
        self.cleaned_pages
            .fetch_add(pages as u64, Ordering::Relaxed);
        if paced == Paced::Yes {
            self.paced_pages.fetch_add(pages as u64, Ordering::Relaxed);
        }
        self.cleaning_ns
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn read(&self) -> CommitTimes {
        CommitTimes {
            batches: self.batches.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            busy: std::time::Duration::from_nanos(self.busy_ns.load(Ordering::Relaxed)),
            prepare: std::time::Duration::from_nanos(self.prepare_ns.load(Ordering::Relaxed)),
            write: std::time::Duration::from_nanos(self.write_ns.load(Ordering::Relaxed)),
            durable: std::time::Duration::from_nanos(self.durable_ns.load(Ordering::Relaxed)),
            read_model_keys: self.read_model_keys.load(Ordering::Relaxed),
            read_model_bytes: self.read_model_bytes.load(Ordering::Relaxed),
            cleaned_pages: self.cleaned_pages.load(Ordering::Relaxed),
            paced_pages: self.paced_pages.load(Ordering::Relaxed),
            cleaning: std::time::Duration::from_nanos(self.cleaning_ns.load(Ordering::Relaxed)),
        }
    }
}

/// Where one batch's time went (see [`CommitTimes`]).
struct Took {
    busy: std::time::Duration,
    prepare: std::time::Duration,
    write: std::time::Duration,
    durable: std::time::Duration,
}

/// The bytes of a batch's writes to the read model (keys, and values where not a removal).
fn read_model_bytes(w: &Writes) -> u64 {
    w.domain
        .iter()
        .map(|(k, v)| (k.len() + v.as_ref().map_or(0, Vec::len)) as u64)
        .sum()
}

/// The sequencer's time committing the batches stored since the log was opened: from taking
/// a batch to its answers being ready to go (`busy`), and of that the wait for the disk to make it
/// durable (`durable`: sled's flush and `fdatasync`, then the published-checkpoint record's).
/// Besides `busy` the sequencer waits for events, or for readers of the domain's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitTimes {
    pub batches: u64,
    /// The entries those batches stored.
    pub events: u64,
    pub busy: std::time::Duration,
    /// Of `busy`, preparing the batch before anything is written: each event ordered and
    /// folded (the log's rules and the domain's), the fold's writes encoded, the checkpoint
    /// signed.
    pub prepare: std::time::Duration,
    /// Of `busy`, writing the batch: the replay index's and the Merkle tiles' writes made
    /// ready, the wait for reads of the read model in flight (the commit gate), and sled's
    /// transaction of every tree's writes, not yet durable.
    pub write: std::time::Duration,
    pub durable: std::time::Duration,
    /// The read model's keys those batches wrote or removed (each a sled insert of its own),
    /// and their bytes: what the domain's fold costs the store beside the entries.
    pub read_model_keys: u64,
    pub read_model_bytes: u64,
    /// Pages of sled's log rewritten between batches, to give back the space of its file's
    /// segments 30 % or more dead (`Trees::clean_log`), and the time that took, syncs included
    /// (not in `busy`).
    pub cleaned_pages: u64,
    /// Of `cleaned_pages`, those rewritten right after a batch to keep pace with what the
    /// batches wrote, whether or not events waited ([`Pace`]); the rest while no event came.
    pub paced_pages: u64,
    pub cleaning: std::time::Duration,
}

impl std::ops::Sub for CommitTimes {
    type Output = CommitTimes;
    fn sub(self, before: CommitTimes) -> CommitTimes {
        CommitTimes {
            batches: self.batches.saturating_sub(before.batches),
            events: self.events.saturating_sub(before.events),
            busy: self.busy.saturating_sub(before.busy),
            prepare: self.prepare.saturating_sub(before.prepare),
            write: self.write.saturating_sub(before.write),
            durable: self.durable.saturating_sub(before.durable),
            read_model_keys: self.read_model_keys.saturating_sub(before.read_model_keys),
            read_model_bytes: self
                .read_model_bytes
                .saturating_sub(before.read_model_bytes),
            cleaned_pages: self.cleaned_pages.saturating_sub(before.cleaned_pages),
            paced_pages: self.paced_pages.saturating_sub(before.paced_pages),
            cleaning: self.cleaning.saturating_sub(before.cleaning),
        }
    }
}

pub(super) struct Handle {
    stage: Stage<Job>,
    timing: Arc<Timing>,
}

impl Handle {
    /// Queue an event; `reply` gets the receipt once it is durable, or why not.
    pub fn send(&self, event: VerifiedEvent, reply: Reply) {
        if let Err(job) = self.stage.send(Job { event, reply }) {
            let _ = job.reply.send(Err(SubmitError::Stopped));
        }
    }

    pub fn submit(&self, event: VerifiedEvent) -> oneshot::Receiver<Result<Receipt, SubmitError>> {
        let (reply, rx) = oneshot::channel();
        self.send(event, reply);
        rx
    }

    /// Close the queue, let the sequencer finish what it holds, and wait for it.
    pub fn stop(&self) {
        self.stage.stop();
    }

    pub fn times(&self) -> CommitTimes {
        self.timing.read()
    }
}

/// `bound`: most events waiting; senders wait for room (the intake refuses instead).
pub(super) fn start(
    trees: Arc<TreesSlot>,
    head: Arc<RwLock<Head>>,
    st: SeqState,
    max_batch: usize,
    bound: usize,
) -> Handle {
    let timing = st.timing.clone();
    Handle {
        stage: Stage::spawn("sequencer", bound, move |rx| {
            run(trees, head, st, rx, max_batch.max(1))
        }),
        timing,
    }
}

/// One batch's writes, prepared before the transaction (whose closure may run more than once).
#[derive(Default)]
struct Writes {
    entries: Vec<(u64, Vec<u8>)>,
    /// The Merkle nodes the batch completes at the stored levels: (level, index, hash).
    nodes: Vec<(u8, u64, Hash)>,
    /// The batch's event hashes, in index order.
    events: Vec<Hash>,
    registry: Vec<u64>,
    /// What the batch changed in the domain's read model.
    domain: Vec<crate::ledger::kv::Change>,
}

fn run(
    slot: Arc<TreesSlot>,
    head: Arc<RwLock<Head>>,
    mut st: SeqState,
    rx: Receiver<Job>,
    max_batch: usize,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    let rules = st.rules.clone();
    // Why the last batch could not be stored, until the storage works again.
    let mut failed: Option<String> = None;
    // Whether sled's log may hold space to give back: after each batch, until a cleaning step
    // found nothing more.
    let mut to_clean = true;
    // Pages cleaned since the last batch's sync, not yet durable (the next batch's sync, or one
    // after `IDLE` with no event, makes them so).
    let mut unsynced = 0;
    // Whether a step ran in this pause (since the last batch): the first waits `QUIET` for an
    // event, the next follow at once. A step that takes none ends the cleaning.
    let mut stepped = false;
    // The cleaning the batches have earned and the steps have not yet paid: a log written
    // without a pause is cleaned as it grows, not only in the pauses.
    let mut pace = Pace::default();
    loop {
        if let Some(cause) = &failed {
            match rx.recv_timeout(RETRY) {
                Ok(job) => {
                    gather(job, &rx, max_batch, &mut jobs);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if let Err(e) = resume(&slot, &head, &mut st) {
                let why = format!("{cause}; not yet resumed: {e}");
                for j in jobs.drain(..) {
                    let _ = j.reply.send(Err(SubmitError::Storage(why.clone())));
                }
                continue;
            }
            tracing::warn!(
                "the storage works again: the log takes events from size {}",
                st.frontier.size()
            );
            failed = None;
            if jobs.is_empty() {
                continue;
            }
        } else if (to_clean || unsynced > 0) && st.sweep.damage().is_none() {
            // Not in a database found damaged: its pages stay as they were found. Between
            // batches, once no event has come for `QUIET`, sled's log is cleaned a step at a
            // time; an event that comes meanwhile waits for at most one step.
            let wait = match (to_clean, stepped) {
                (true, false) => QUIET,
                (true, true) => std::time::Duration::ZERO,
                (false, _) => IDLE,
            };
            match rx.recv_timeout(wait) {
                Ok(job) => gather(job, &rx, max_batch, &mut jobs),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let step = if to_clean {
                        clean_step(&slot, &st.timing, Paced::No).map(|taken| {
                            stepped = true;
                            to_clean = taken > 0;
                            unsynced += taken;
                            pace.paid(taken);
                        })
                    } else {
                        // `IDLE` without an event: what was cleaned is made durable now.
                        slot.get().and_then(|t| {
                            t.sync()?;
                            let space = t.log_space();
                            tracing::debug!(
                                "cleaned the database's log while no event came: {unsynced} pages rewritten since the last batch, now durable; {} of {} MiB of its file in use",
                                space.in_use >> 20,
                                space.file >> 20
                            );
                            unsynced = 0;
                            Ok(())
                        })
                    };
                    if let Err(e) = step {
                        failed = Some(cleaning_failed(&slot, &e));
                        (to_clean, unsynced) = (false, 0);
                    }
                    continue;
                }
            }
        } else if !drain(&rx, max_batch, &mut jobs) {
            break;
        }
        // The batch's sync makes the pages cleaned before it durable too.
        (to_clean, unsynced, stepped) = (true, 0, false);
        if let Some(why) = st.sweep.damage() {
            for j in jobs.drain(..) {
                let _ = j.reply.send(Err(SubmitError::Damaged(why.clone())));
            }
            continue;
        }
        let trees = match slot.get() {
            Ok(t) => t,
            Err(e) => {
                for j in jobs.drain(..) {
                    let _ = j.reply.send(Err(SubmitError::Storage(e.to_string())));
                }
                st.replay.distrust();
                failed = Some(e.to_string());
                continue;
            }
        };
        // The whole batch runs with the domain's fold held, so readers of the domain's state
        // see it only as of a durable, published log.
        let mut outcome = Ok(());
        let size_before = st.frontier.size();
        rules.with_fold(&mut |fold| {
            outcome = commit_batch(&trees, &head, &mut st, &mut jobs, fold);
            if let Err(e) = &outcome {
                // Still holding the fold: no reader sees the state that is not durable.
                rules.storage_failed(&e.to_string());
            }
        });
        drop(trees);
        if outcome.is_ok() && st.sweep.damage().is_none() {
            pace.earn((st.frontier.size() - size_before) as usize);
            // Paid a step at a time, before the next batch is gathered: the events waiting
            // wait for these steps (some 0.2 ms each). Not synced: the next batch's sync makes
            // them durable, as it does those cleaned in a pause.
            while pace.due() {
                match clean_step(&slot, &st.timing, Paced::Yes) {
                    Ok(taken) => {
                        unsynced += taken;
                        pace.paid(taken);
                    }
                    Err(e) => {
                        failed = Some(cleaning_failed(&slot, &e));
                        (to_clean, unsynced, pace) = (false, 0, Pace::default());
                        break;
                    }
                }
            }
        }
        if let Err(e) = outcome {
            // The in-memory state is now ahead of the disk: the domain's reads are refused
            // until the database is reopened, and all of it is loaded again from what is
            // durable when the storage works again.
            tracing::error!(
                "the log could not store a batch: {e}. Nothing of it was acknowledged; events are refused until the storage works again, tried every {} s and at each event",
                RETRY.as_secs()
            );
            recover::after_failure(&slot);
            // The database may hold some of the batch after all (durable before the failure
            // was reported): events the filter was not given.
            st.replay.distrust();
            failed = Some(e.to_string());
        }
    }
    if let Ok(t) = slot.get() {
        let _ = t.sync();
    }
}

/// How long no event comes before the pages the sequencer cleaned since its last batch are made
/// durable by a sync of their own (a batch's sync does it as well).
pub(super) const IDLE: std::time::Duration = std::time::Duration::from_millis(100);

/// How long no event comes after a batch before the sequencer starts cleaning: an event that
/// follows at once (a caller answered sending its next) does not wait for a step.
const QUIET: std::time::Duration = std::time::Duration::from_millis(1);

/// Pages of sled's log rewritten in one step of cleaning between batches: an event that comes
/// meanwhile waits for at most this many (5 to 6 µs each on this machine: some 0.2 ms).
const CLEAN_PAGES: usize = 32;

/// Hundredths of a page of sled's log cleaned for each entry a batch stored, right after the
/// batch even while events wait ([`Pace`]). A page and a half: in `bench --entries 0 --domain
/// 20000` the waste log's file peaked at 1,066 to 1,087 bytes an entry with it, 1,098 to 1,165
/// with one page, 1,118 to 1,181 with half a page, once the bench's own signing, between its
/// bulks, left the sequencer shorter pauses to clean in (README, "Kept (thirty-first
/// session)").
pub(super) const CLEAN_OWED_PER_ENTRY: usize = 150;

/// The fewest entries a batch stores for it to earn cleaning ([`Pace::earn`]): more than the
/// connections a server usually answers at once (`wrk`'s 64 in the bench).
const PACE_FROM: usize = 256;

/// The cleaning of sled's log the batches have earned ([`CLEAN_OWED_PER_ENTRY`] an entry) and
/// no step has paid yet, in hundredths of a page. Steps taken in a pause pay it too; a step
/// that finds nothing to clean clears it (the log is as clean as sled makes it).
#[derive(Default)]
struct Pace {
    owed: usize,
}

impl Pace {
    /// A batch of `entries` stored. Only a batch of [`PACE_FROM`] entries or more earns: one
    /// that large gathered while the batch before it was stored, so the sequencer has no pause
    /// to clean in. Smaller batches (a server answering its clients in turn) keep their pauses,
    /// and their events do not wait for steps.
    fn earn(&mut self, entries: usize) {
        if entries >= PACE_FROM {
            self.owed += entries * CLEAN_OWED_PER_ENTRY;
        }
    }

    /// Whether a whole step is owed.
    fn due(&self) -> bool {
        self.owed >= CLEAN_PAGES * 100
    }

    fn paid(&mut self, pages: usize) {
        self.owed = if pages == 0 {
            0
        } else {
            self.owed.saturating_sub(pages * 100)
        };
    }
}

/// Whether a cleaning step pays for the batches right after one ([`Pace`]), or runs in a pause.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Paced {
    Yes,
    No,
}

/// A cleaning step failed; returns why, for the events refused until the storage works again.
/// As after a failed batch: a failed sync may have lost pages sled counts as written, so the
/// database is opened again before the next event. Nothing the log published depended on them.
fn cleaning_failed(slot: &TreesSlot, e: &StoreError) -> String {
    tracing::error!(
        "the log could not clean its database file: {e}. Events are refused until the storage works again, tried every {} s and at each event",
        RETRY.as_secs()
    );
    recover::after_failure(slot);
    e.to_string()
}

/// One step of cleaning sled's log ([`Trees::clean_log`]), not synced: the pages it rewrote.
fn clean_step(slot: &TreesSlot, timing: &Timing, paced: Paced) -> Result<usize, StoreError> {
    let trees = slot.get()?;
    let started = std::time::Instant::now();
    // sled's panics (a damaged page) become a storage error, not the sequencer's end.
    let taken = super::guard(slot.dir(), || trees.clean_log(CLEAN_PAGES))?;
    timing.cleaned(taken, started.elapsed(), paced);
    Ok(taken)
}

fn commit_batch(
    trees: &Trees,
    head: &RwLock<Head>,
    st: &mut SeqState,
    jobs: &mut Vec<Job>,
    fold: &mut dyn Fold,
) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    // Times never go backwards in the log, even if the clock does.
    let now = st.clock.now().max(st.last_time);
    let mut w = Writes::default();
    let mut answers: Vec<(Reply, Result<Receipt, SubmitError>)> = Vec::with_capacity(jobs.len());
    let now_text = now.to_string();
    let mut in_batch: HashMap<Hash, u64> = HashMap::new();
    for Job { event, reply } in jobs.drain(..) {
        let answer = sequence_one(
            trees,
            st,
            now,
            &now_text,
            event.event(),
            &mut in_batch,
            &mut w,
            fold,
        );
        answers.push((reply, answer));
    }
    if w.entries.is_empty() {
        for (reply, a) in answers {
            let _ = reply.send(a);
        }
        return Ok(());
    }
    let size = st.frontier.size();
    let root = st.frontier.root();
    let checkpoint = Checkpoint {
        origin: st.origin.clone(),
        size,
        root,
    }
    .sign(&st.log_key);
    let changed = fold.take_writes();
    if changed.reset {
        // Only a read model rebuilt from entry 0 clears its tree, and that is done at open.
        fold.discard_writes();
        return Err(StoreError::Corrupt(
            "the domain's read model asked to be cleared in a batch".into(),
        ));
    }
    w.domain = changed.changes;
    let prepared = started.elapsed();
    let mut replay = sled::Batch::default();
    st.tail
        .read()
        .expect("tail lock")
        .stage(&w.events, &mut replay);
    let gate = st.gate.clone();
    let commit = gate.write().unwrap_or_else(|p| p.into_inner());
    let written = write_batch(trees, &w, replay, &checkpoint);
    let wrote = started.elapsed();
    let written = written.and_then(|()| trees.sync());
    let flushed = started.elapsed();
    // Recorded after the batch is durable and before anyone can see the checkpoint: the record
    // never names a size the database does not hold, and every published size is recorded.
    let written = written.and_then(|()| {
        st.record.publish(&checkpoint).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot record the published checkpoint ({}): {}",
                super::published::FILE_NAME,
                super::io_text(&e)
            ))
        })
    });
    let durable = started.elapsed() - wrote;
    let read_model_bytes = read_model_bytes(&w);
    tracing::debug!(
        events = w.entries.len(),
        read_model_keys = w.domain.len(),
        read_model_bytes,
        prepare_us = prepared.as_micros() as u64,
        write_us = (wrote - prepared).as_micros() as u64,
        fsync_us = (flushed - wrote).as_micros() as u64,
        record_us = (started.elapsed() - flushed).as_micros() as u64,
        "batch committed"
    );
    if let Err(e) = written {
        drop(commit);
        fold.discard_writes();
        // Nothing of this batch is acknowledged. Every answer but a replay of an entry logged
        // before it is the storage failure (to be retried): a refusal may rest on an earlier
        // event of this very batch, which was not stored, and the same event retried after
        // the recovery may well be taken.
        let first = size - w.entries.len() as u64;
        for (reply, a) in answers {
            let answer = match a {
                Err(SubmitError::Replay { index }) if index < first => {
                    Err(SubmitError::Replay { index })
                }
                _ => Err(SubmitError::Storage(e.to_string())),
            };
            let _ = reply.send(answer);
        }
        return Err(e);
    }
    // Durable: the filter and the index's open segment learn the batch's events before the
    // next batch is sequenced.
    for h in &w.events {
        st.replay.insert(h);
    }
    st.tail.write().expect("tail lock").append(&w.events);
    *head.write().expect("head lock") = Head {
        size,
        root,
        checkpoint,
    };
    drop(commit);
    // Counted before the answers go: whoever has them sees the batch counted.
    let took = Took {
        busy: started.elapsed(),
        prepare: prepared,
        write: wrote - prepared,
        durable,
    };
    st.timing.add(&w, read_model_bytes, took);
    for (reply, a) in answers {
        let _ = reply.send(a.map(|r| Receipt {
            tree_size: size,
            ..r
        }));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn sequence_one(
    trees: &Trees,
    st: &mut SeqState,
    now: Timestamp,
    now_text: &str,
    event: &crate::ledger::event::SignedEvent,
    in_batch: &mut HashMap<Hash, u64>,
    w: &mut Writes,
    fold: &mut dyn Fold,
) -> Result<Receipt, SubmitError> {
    let eh = event.event_hash();
    if let Some(&index) = in_batch.get(&eh) {
        return Err(SubmitError::Replay { index });
    }
    if st.replay.may_hold(&eh) {
        let tail = st.tail.read().expect("tail lock");
        match tail.find_in(&trees.replay, &eh) {
            Ok(Some(index)) => return Err(SubmitError::Replay { index }),
            Ok(None) => {}
            Err(e) => return Err(SubmitError::Storage(e.to_string())),
        }
    }
    let index = st.frontier.size();
    // Before the log state or the domain take the event in, so that a refusal changes nothing.
    let bytes = encode_entry(index, &st.prev, now_text, event);
    if bytes.len() > crate::ledger::tiles::MAX_ENTRY_BYTES {
        return Err(SubmitError::TooLarge { bytes: bytes.len() });
    }
    st.state.admit(index, now, event, fold)?;
    let leaf = leaf_hash(&bytes);
    st.frontier.append(leaf, |n| {
        if nodes::is_stored_level(n.level) {
            w.nodes.push((n.level, n.index, n.hash))
        }
    });
    st.prev = leaf;
    st.last_time = now;
    in_batch.insert(eh, index);
    w.events.push(eh);
    if changes_log_state(event.event_type()) {
        w.registry.push(index);
    }
    w.entries.push((index, bytes));
    Ok(Receipt {
        index,
        leaf_hash: leaf,
        tree_size: 0,
        created: fold.created(index),
    })
}

fn write_batch(
    trees: &Trees,
    w: &Writes,
    replay: sled::Batch,
    checkpoint: &str,
) -> Result<(), StoreError> {
    // Staged as batches: a batch's writes go in without reading the values they replace (the
    // vendored sled's `apply_batch`), where `insert` would look each key up in its tree first
    // to return the old value, which nothing here reads.
    let mut entries = sled::Batch::default();
    let mut nodes = sled::Batch::default();
    let mut registry = sled::Batch::default();
    let mut meta = sled::Batch::default();
    super::runs::stage(
        w.entries.iter().map(|(i, bytes)| (*i, bytes.as_slice())),
        &mut entries,
    );
    // The tiles the nodes extend are read here, outside the transaction: the sequencer is
    // their only writer, and the batch before this one is durable.
    nodes::stage(&trees.nodes, &w.nodes, &mut nodes)?;
    for i in &w.registry {
        registry.insert(&i.to_be_bytes(), &[]);
    }
    let domain = super::readmodel::batch_of(&w.domain);
    meta.insert(CHECKPOINT_KEY, checkpoint.as_bytes());
    (
        &trees.entries,
        &trees.nodes,
        &trees.replay,
        &trees.registry,
        &trees.meta,
        &trees.domain,
    )
        .transaction(
            |(t_entries, t_nodes, t_replay, t_registry, t_meta, t_domain)| {
                t_entries.apply_batch(&entries)?;
                t_nodes.apply_batch(&nodes)?;
                t_replay.apply_batch(&replay)?;
                t_registry.apply_batch(&registry)?;
                t_meta.apply_batch(&meta)?;
                t_domain.apply_batch(&domain)?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            },
        )?;
    Ok(())
}

/// Reopen the database and take the sequencer's state (and the domain's) from what is durable.
fn resume(slot: &TreesSlot, head: &RwLock<Head>, st: &mut SeqState) -> Result<(), StoreError> {
    // Reading a database that may be damaged: sled's panics become a refusal, not the end of
    // the sequencer.
    super::guard(slot.dir(), || resume_from_disk(slot, head, st))
}

fn resume_from_disk(
    slot: &TreesSlot,
    head: &RwLock<Head>,
    st: &mut SeqState,
) -> Result<(), StoreError> {
    let trees = slot.reopen()?;
    let segment = st.tail.read().expect("tail lock").segment();
    let mut loaded = None;
    let (origin, log_key, record) = (&st.origin, &st.log_key, &mut st.record);
    st.rules.reload(&mut |fold| {
        let l = super::load_durable(slot.dir(), &trees, fold, Some(origin), log_key, segment)
            .and_then(|d| {
                // The database may hold a batch that became durable before its record could be
                // written (the write that failed): record the head before anyone can see it, and
                // publish it while the fold is held, as every batch does.
                if d.head.size > 0 {
                    record.publish(&d.head.checkpoint).map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot record the published checkpoint ({}): {}",
                            super::published::FILE_NAME,
                            super::io_text(&e)
                        ))
                    })?;
                }
                *head.write().expect("head lock") = d.head.clone();
                Ok(d)
            });
        let ok = l.is_ok();
        loaded = Some(l);
        ok
    });
    let d = loaded.expect("reload runs its closure")?;
    st.state = d.state;
    *st.tail.write().expect("tail lock") = d.tail;
    st.frontier = d.frontier;
    st.prev = d.prev;
    st.last_time = d.last_time.max(st.last_time);
    Ok(())
}
