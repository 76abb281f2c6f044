//! Signed requests seen inside their replay window, kept beside the log in the `seen` tree
//! (key: expiry in unix seconds, u64 big-endian || a 32-byte hash of the request's signature;
//! no value), so that a restart does not forget them: a request captured before a restart is
//! refused after it as it was before. Not derived from the entries, never part of a proof.
//!
//! Each new request is written and fsync'd before [`Ledger::remember_request`] returns, so
//! before it is answered. The fsync is outside the lock: sled lets concurrent flushes share
//! one write (a group flush of our own measured no better). The memory of the window (a set and the expiry order) is
//! loaded at open, expired ones dropped; expired ones leave the tree with the next write.
//!
//! When the storage fails (a full disk), a request is still remembered in memory and served,
//! and written with the next write that succeeds: reads of what is durable keep working, at the
//! cost of forgetting such requests if the server also restarts before the storage works again.

use super::{Ledger, StoreError, Trees};
use crate::ledger::time::Timestamp;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Most signed requests remembered at once (about 100 bytes each in memory, 40 on disk):
/// beyond it new ones are refused ([`Remembered::Full`]) rather than one inside its window
/// forgotten.
pub const MAX_SEEN: usize = 1_000_000;

/// What [`Ledger::remember_request`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remembered {
    /// Not seen inside its window: now remembered (durably, unless the storage failed).
    First,
    /// Seen already: a replay.
    Replay,
    /// [`MAX_SEEN`] requests are remembered already; this one was not.
    Full,
}

#[derive(Default)]
pub(super) struct Seen {
    mem: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    hashes: HashSet<[u8; 32]>,
    /// (expiry, hash), oldest first.
    expiry: VecDeque<(u64, [u8; 32])>,
    /// Remembered while the storage failed; written with the next write that succeeds.
    unsaved: Vec<(u64, [u8; 32])>,
}

fn key(expiry: u64, hash: &[u8; 32]) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&expiry.to_be_bytes());
    k[8..].copy_from_slice(hash);
    k
}

impl Seen {
    /// The requests still inside their window at `now`; expired ones are removed.
    pub fn load(trees: &Trees, now: Timestamp) -> Result<Self, StoreError> {
        let now_s = now.unix_millis() / 1000;
        let mut w = Window::default();
        let mut expired = sled::Batch::default();
        for kv in trees.seen.iter() {
            let (k, _) = kv?;
            let (Ok(e), Ok(h)) = (
                k[..8.min(k.len())].try_into(),
                k[8.min(k.len())..].try_into(),
            ) else {
                return Err(StoreError::Corrupt(format!(
                    "a key of the `seen` tree is {} bytes, not 40",
                    k.len()
                )));
            };
            let expiry = u64::from_be_bytes(e);
            if expiry < now_s {
                expired.remove(k);
            } else if w.hashes.insert(h) {
                w.expiry.push_back((expiry, h));
            }
        }
        trees.seen.apply_batch(expired)?;
        Ok(Seen { mem: Mutex::new(w) })
    }
}

impl Ledger {
    /// Remember a signed request (by a hash of its signature) until `expires_at` (unix
    /// seconds), durably before returning; `now` (unix seconds) forgets those expired.
    pub fn remember_request(
        &self,
        hash: &[u8; 32],
        expires_at: u64,
        now: u64,
    ) -> Result<Remembered, StoreError> {
        let mut batch = sled::Batch::default();
        let writing = {
            let mut w = self.inner.seen.mem.lock().expect("seen lock");
            while let Some(&(until, old)) = w.expiry.front() {
                if until >= now {
                    break;
                }
                w.expiry.pop_front();
                w.hashes.remove(&old);
                batch.remove(key(until, &old).to_vec());
            }
            if w.hashes.contains(hash) {
                return Ok(Remembered::Replay);
            }
            if w.hashes.len() >= MAX_SEEN {
                return Ok(Remembered::Full);
            }
            w.hashes.insert(*hash);
            w.expiry.push_back((expires_at, *hash));
            let mut writing = std::mem::take(&mut w.unsaved);
            writing.push((expires_at, *hash));
            for (e, h) in &writing {
                batch.insert(key(*e, h).to_vec(), &[]);
            }
            // Applied under the lock, so a request is on its way to the disk before another
            // thread can see it remembered.
            if let Err(e) = self.trees().and_then(|t| Ok(t.seen.apply_batch(batch)?)) {
                tracing::warn!("signed requests are remembered in memory only: {e}");
                w.unsaved = writing;
                return Ok(Remembered::First);
            }
            writing
        };
        if let Err(e) = self.trees().and_then(|t| t.sync()) {
            tracing::warn!("signed requests are remembered in memory only: {e}");
            let mut w = self.inner.seen.mem.lock().expect("seen lock");
            w.unsaved.extend(writing);
        }
        Ok(Remembered::First)
    }
}
