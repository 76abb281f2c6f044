//! PURE: what the sequencer's fold tells the store about each entry it admits, for the entry's
//! receipt: the manifests it created. `Receipting` is the live `Domain` as
//! [`DomainRules`](super::DomainRules) hands it to the sequencer: the same fold, which also
//! answers [`Fold::created`] from what it just applied (the entry's numbers are among the
//! changes not yet written, so this reads no storage for an entry that created some).

use super::fold::Domain;
use super::query::DomainQuery;
use crate::ledger::event::SignedEvent;
use crate::ledger::kv::FoldWrites;
use crate::ledger::state::{Fold, LogState, Refusal};
use crate::ledger::time::Timestamp;

pub(super) struct Receipting<'a>(pub(super) &'a mut Domain);

impl Fold for Receipting<'_> {
    fn admit(
        &mut self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        log: &LogState,
    ) -> Result<(), Refusal> {
        self.0.admit(index, time, event, log)
    }

    fn take_writes(&mut self) -> FoldWrites {
        self.0.take_writes()
    }

    fn discard_writes(&mut self) {
        self.0.discard_writes()
    }

    fn applied(&self) -> u64 {
        self.0.applied()
    }

    /// The numbers of the manifests entry `index` created (an issue one, a split several).
    fn created(&self, index: u64) -> Vec<String> {
        self.0
            .created_at(index)
            .iter()
            .map(|n| n.as_str().to_string())
            .collect()
    }
}
