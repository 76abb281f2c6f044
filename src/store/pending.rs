//! Beside the log: events signed by one of the two parties a step needs, kept until the other
//! countersigns (the `pending` tree). The rules decide what waits ([`Rules::arrival`]: for the
//! domain, a half-signed hand-over that is right but for the other signature); the store
//! checks a half's signatures, refuses one already logged or one too many, and keeps it durably.
//! A half stays once its whole is logged (same event hash): it is then shown as completed.

use super::{Ledger, Receipt, StoreError, SubmitError};
use crate::ledger::event::SignedEvent;
use crate::ledger::merkle::Hash;
use crate::ledger::state::Arrival;

/// Halves one group (a manifest) may have waiting at once.
pub const MAX_PENDING_PER_MANIFEST: usize = 8;

/// What became of an event: logged, or kept waiting for a countersignature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    Logged(Receipt),
    Waiting(Waiting),
}

/// A half kept beside the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// Its event hash, which the whole will have too (signatures are not part of it).
    pub hash: Hash,
    /// What it waits under (the manifest's number).
    pub group: String,
    /// Whose signature it waits for (the party's id).
    pub waiting_for: String,
}

/// `m` ‖ group ‖ `/` ‖ event hash: a group's halves are one prefix.
fn pending_key(group: &str, event_hash: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + group.len() + event_hash.len());
    k.push(b'm');
    k.extend_from_slice(group.as_bytes());
    k.push(b'/');
    k.extend_from_slice(event_hash);
    k
}

fn storage(e: StoreError) -> SubmitError {
    SubmitError::Storage(e.to_string())
}

impl Ledger {
    /// Take one signed event: to the log ([`Ledger::submit`], resolving once it is durable),
    /// or, if the rules say it waits for a countersignature, kept beside the log (durable at
    /// once). Each event's signatures are checked once, either way.
    pub async fn submit_or_wait(&self, event: SignedEvent) -> Result<Taken, SubmitError> {
        match self
            .inner
            .rules
            .arrival(&event, self.now())
            .map_err(SubmitError::Storage)?
        {
            Arrival::Append => Ok(Taken::Logged(self.submit(event).await?)),
            Arrival::Wait { group, waiting_for } => self
                .keep_half(&event, group, waiting_for)
                .map(Taken::Waiting),
        }
    }

    fn keep_half(
        &self,
        event: &SignedEvent,
        group: String,
        waiting_for: String,
    ) -> Result<Waiting, SubmitError> {
        // Nothing is kept, not even beside the log, whose signatures do not verify.
        event.verify_signatures()?;
        let hash = event.event_hash();
        if let Some(index) = self.event_index(&hash).map_err(storage)? {
            return Err(SubmitError::Replay { index });
        }
        let waiting = self.waiting_of(&group).map_err(storage)?;
        // The same half again is kept once, and answered as before.
        if !waiting.contains(&hash) && waiting.len() >= MAX_PENDING_PER_MANIFEST {
            return Err(SubmitError::TooManyWaiting {
                group,
                waiting: waiting.len(),
            });
        }
        self.put_pending(&group, &hash, &event.to_bytes())
            .map_err(storage)?;
        Ok(Waiting {
            hash,
            group,
            waiting_for,
        })
    }

    /// The halves of `group` still waiting (their whole not in the log), in hash order.
    pub fn waiting_of(&self, group: &str) -> Result<Vec<Hash>, StoreError> {
        let mut out = Vec::new();
        for (h, _) in self.pending_of(group)? {
            if self.event_index(&h)?.is_none() {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// Keep a half until its other party countersigns (durable at once).
    fn put_pending(
        &self,
        group: &str,
        event_hash: &Hash,
        signed_event: &[u8],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        batch.insert(pending_key(group, event_hash), signed_event);
        let mut by_hash = b"h".to_vec();
        by_hash.extend_from_slice(event_hash);
        batch.insert(by_hash, group.as_bytes());
        let t = self.trees()?;
        t.pending.apply_batch(batch)?;
        t.sync()?;
        Ok(())
    }

    /// The halves kept for one group, completed ones too (shown as completed), in hash order.
    pub fn pending_of(&self, group: &str) -> Result<Vec<(Hash, Vec<u8>)>, StoreError> {
        let prefix = pending_key(group, &[]);
        self.trees()?
            .pending
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                let h: Hash = k[prefix.len()..].try_into().map_err(|_| {
                    StoreError::Corrupt("pending key is not manifest + 32 bytes".into())
                })?;
                Ok((h, v.to_vec()))
            })
            .collect()
    }

    /// One kept half, by its event hash.
    pub fn pending_by_hash(&self, event_hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let mut by_hash = b"h".to_vec();
        by_hash.extend_from_slice(event_hash);
        let t = self.trees()?;
        let Some(manifest) = t.pending.get(by_hash)? else {
            return Ok(None);
        };
        let manifest = std::str::from_utf8(&manifest)
            .map_err(|_| StoreError::Corrupt("pending index holds no manifest number".into()))?;
        Ok(t.pending
            .get(pending_key(manifest, event_hash))?
            .map(|v| v.to_vec()))
    }
}
