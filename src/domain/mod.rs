//! PURE: the waste domain. Codes and formats that can only be built valid (`codes`), the
//! catalogs (`catalog`), the event catalogue (`events`), and the fold of the log into parties,
//! licences, vehicles, sites and manifests with their flags (`fold`). No I/O: catalogs come in
//! as strings, time as a value.

pub mod access;
pub mod catalog;
pub mod codes;
pub mod events;
pub mod fold;
pub mod movements;
pub mod personal;
pub mod query;
pub mod subjects;

use crate::ledger::state::{Fold, Rules};

/// The rulebook a new waste log's genesis names; the domain refuses to judge a log that names
/// one it does not know. A log whose genesis names none is bare: only the ledger's own checks
/// apply. A rule that refuses what an earlier rulebook took comes with a new version, so a log
/// made under the earlier one replays, opens and audits as it was judged.
pub const RULEBOOK: &str = "wasteledger/waste/v2";
/// The first rulebook: v2 but for the bound on the times the parties give (`at` at most 24 h
/// after the log's time), which v1 did not have.
pub const RULEBOOK_V1: &str = "wasteledger/waste/v1";
use fold::{Domain, Limits};
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// The domain as the store and the readers share it: the sequencer folds batches into it under
/// the write lock; readers take the read lock and see only what is durable.
#[derive(Clone)]
pub struct DomainRules {
    live: Arc<RwLock<Domain>>,
    catalog: Arc<catalog::Catalog>,
    limits: Limits,
    /// Why the live state may be ahead of the disk: the store could not make a folded batch
    /// durable, and has not replayed the state from the log since.
    failed: Arc<std::sync::Mutex<Option<String>>>,
}

impl DomainRules {
    pub fn new(catalog: catalog::Catalog, limits: Limits) -> Self {
        let catalog = Arc::new(catalog);
        DomainRules {
            live: Arc::new(RwLock::new(Domain::new(catalog.clone(), limits.clone()))),
            catalog,
            limits,
            failed: Arc::default(),
        }
    }

    /// Read the live state (as of the published log), through the read interface.
    pub fn read(&self) -> DomainRead<'_> {
        DomainRead(self.live.read().expect("domain lock"))
    }

    /// The catalog the fold judges by.
    pub fn catalog(&self) -> Arc<catalog::Catalog> {
        self.catalog.clone()
    }

    /// Read the live state, unless the store failed to make what it holds durable (then the
    /// cause: the state is ahead of the disk until the store replays it from the log).
    pub fn read_durable(&self) -> Result<DomainRead<'_>, String> {
        let guard = self.read();
        match &*self.failed.lock().expect("failed lock") {
            Some(cause) => Err(cause.clone()),
            None => Ok(guard),
        }
    }
}

/// The live state as a reader sees it: the read interface ([`query::DomainQuery`]), with the
/// read lock held until it is dropped.
pub struct DomainRead<'a>(RwLockReadGuard<'a, Domain>);

impl<'a> std::ops::Deref for DomainRead<'a> {
    type Target = dyn query::DomainQuery + 'a;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl DomainRead<'_> {
    /// The fold itself, for what only it can decide (a half-signed hand-over's check).
    pub fn fold(&self) -> &Domain {
        &self.0
    }
}

impl Rules for DomainRules {
    fn with_fold(&self, f: &mut dyn FnMut(&mut dyn Fold)) {
        let mut g = self.live.write().expect("domain lock");
        f(&mut *g)
    }

    fn fresh(&self) -> Box<dyn Fold> {
        Box::new(Domain::new(self.catalog.clone(), self.limits.clone()))
    }

    fn storage_failed(&self, cause: &str) {
        *self.failed.lock().expect("failed lock") = Some(cause.to_string());
    }

    /// The replay runs on a fresh state beside the live one (readers keep the lock meanwhile,
    /// refused while the live state is ahead of the disk); the swap takes the write lock.
    fn reload(&self, f: &mut dyn FnMut(&mut dyn Fold) -> bool) {
        let mut fresh = Domain::new(self.catalog.clone(), self.limits.clone());
        if f(&mut fresh) {
            let mut live = self.live.write().expect("domain lock");
            *live = fresh;
            *self.failed.lock().expect("failed lock") = None;
        }
    }
}

#[cfg(test)]
mod tests;
