//! PURE: the waste domain. Codes and formats that can only be built valid (`codes`), the
//! catalogs (`catalog`), the event catalogue (`events`), and the fold of the log into parties,
//! licences, vehicles, sites and manifests with their flags (`fold`; the types in `model`, each
//! event decided in `decide`). No I/O: catalogs come in as strings, time as a value.

pub mod access;
pub mod balances;
pub mod catalog;
pub mod changed;
mod checks;
pub mod codes;
mod decide;
pub mod events;
pub mod fold;
pub mod model;
pub mod movements;
pub mod pending;
pub mod personal;
pub mod query;
mod reads;
pub mod rows;
pub mod subjects;
pub mod table;
pub mod value;
pub mod watch;

use crate::ledger::event::SignedEvent;
use crate::ledger::state::{Arrival, Fold, Rules};
use crate::ledger::time::Timestamp;

/// The rulebook a new waste log's genesis names; the domain refuses to judge a log that names
/// one it does not know. A log whose genesis names none is bare: only the ledger's own checks
/// apply. A rule that refuses what an earlier rulebook took comes with a new version, so a log
/// made under the earlier one replays, opens and audits as it was judged.
pub const RULEBOOK: &str = "wasteledger/waste/v2";
/// The first rulebook: v2 but for the bound on the times the parties give (`at` at most 24 h
/// after the log's time), which v1 did not have.
pub const RULEBOOK_V1: &str = "wasteledger/waste/v1";
use crate::ledger::kv::Kv;
use fold::Domain;
use model::Limits;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// The domain as the store and the readers share it. The sequencer folds batches into the live
/// fold; once the store attached its tree ([`Rules::attach`]), the state lives there, written
/// with each batch, and readers read it through the read interface, never waiting for the
/// fold. Without a tree (a log kept in memory, tests), readers read the live fold itself.
#[derive(Clone)]
pub struct DomainRules {
    live: Arc<Mutex<Domain>>,
    kv: Arc<RwLock<Option<Arc<dyn Kv>>>>,
    catalog: Arc<catalog::Catalog>,
    limits: Limits,
    /// Why the state may be ahead of the disk: the store could not make a folded batch
    /// durable, and has not reopened the database since.
    failed: Arc<Mutex<Option<String>>>,
}

impl DomainRules {
    pub fn new(catalog: catalog::Catalog, limits: Limits) -> Self {
        let catalog = Arc::new(catalog);
        DomainRules {
            live: Arc::new(Mutex::new(Domain::new(catalog.clone(), limits.clone()))),
            kv: Arc::default(),
            catalog,
            limits,
            failed: Arc::default(),
        }
    }

    /// Read the state (as of the published log), through the read interface.
    pub fn read(&self) -> DomainRead<'_> {
        match self.kv.read().expect("kv lock").clone() {
            Some(kv) => DomainRead::Stored(Box::new(Domain::reader_over(
                self.catalog.clone(),
                self.limits.clone(),
                kv,
            ))),
            None => DomainRead::Live(self.live.lock().expect("domain lock")),
        }
    }

    /// The catalog the fold judges by.
    pub fn catalog(&self) -> Arc<catalog::Catalog> {
        self.catalog.clone()
    }

    /// Read the state, unless the store failed to make what it holds durable (then the
    /// cause: the state may be ahead of the disk until the store reopened the database).
    pub fn read_durable(&self) -> Result<DomainRead<'_>, String> {
        match &*self.failed.lock().expect("failed lock") {
            Some(cause) => Err(cause.clone()),
            None => Ok(self.read()),
        }
    }
}

/// The state as a reader sees it: the read interface ([`query::DomainQuery`]) over the stored
/// state, or over the live fold (its lock held until this is dropped) when nothing is stored.
pub enum DomainRead<'a> {
    Stored(Box<Domain>),
    Live(MutexGuard<'a, Domain>),
}

impl<'a> std::ops::Deref for DomainRead<'a> {
    type Target = dyn query::DomainQuery + 'a;

    fn deref(&self) -> &Self::Target {
        self.fold()
    }
}

impl DomainRead<'_> {
    /// The fold itself, for what only it can decide (a half-signed hand-over's check).
    pub fn fold(&self) -> &Domain {
        match self {
            DomainRead::Stored(d) => d,
            DomainRead::Live(g) => g,
        }
    }
}

impl Rules for DomainRules {
    fn with_fold(&self, f: &mut dyn FnMut(&mut dyn Fold)) {
        let mut g = self.live.lock().expect("domain lock");
        f(&mut *g)
    }

    fn fresh(&self) -> Box<dyn Fold> {
        Box::new(Domain::new(self.catalog.clone(), self.limits.clone()))
    }

    /// Appended events are parsed into the domain's types on the threads that check their
    /// signatures, off the sequencer ([`decide::prepare`]).
    fn prepares(&self) -> crate::ledger::state::Prepare {
        decide::prepare
    }

    fn storage_failed(&self, cause: &str) {
        *self.failed.lock().expect("failed lock") = Some(cause.to_string());
    }

    /// The replay runs on a fresh fold over the stored state beside the live one (readers are
    /// refused meanwhile if the state may be ahead of the disk); then it replaces the live one.
    fn reload(&self, f: &mut dyn FnMut(&mut dyn Fold) -> bool) {
        let kv = self.kv.read().expect("kv lock").clone();
        let mut fresh = match kv {
            Some(kv) => Domain::live_over(self.catalog.clone(), self.limits.clone(), kv),
            None => Domain::new(self.catalog.clone(), self.limits.clone()),
        };
        if f(&mut fresh) {
            *self.live.lock().expect("domain lock") = fresh;
            *self.failed.lock().expect("failed lock") = None;
        }
    }

    fn attach(&self, kv: Arc<dyn Kv>) {
        *self.live.lock().expect("domain lock") =
            Domain::live_over(self.catalog.clone(), self.limits.clone(), kv.clone());
        *self.kv.write().expect("kv lock") = Some(kv);
    }

    fn older_layout(&self, kv: &dyn Kv) -> Option<String> {
        fold::older_layout(kv)
    }

    fn rebuild_in(&self, kv: Arc<dyn Kv>) -> Box<dyn Fold> {
        Box::new(Domain::rebuilt_in(
            self.catalog.clone(),
            self.limits.clone(),
            kv,
        ))
    }

    fn arrival(&self, event: &SignedEvent, now: Timestamp) -> Result<Arrival, String> {
        Ok(pending::arrival(self.read_durable()?.fold(), event, now))
    }
}

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
