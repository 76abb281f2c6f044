//! PURE: a table of rows the fold works out from each manifest it stores (what it is watched
//! for, what it adds to the balances), written as the manifest changes: a row the new version
//! no longer gives is removed, one it gives anew or with another value is written. Reads see
//! what changed since the last take over what the store holds.

use super::changed::Changed;
use super::table::{merged, Changes, Met, Values};
use crate::ledger::kv::{Change, Kv, VisitPair};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;

/// A value's rows: key (without the table's tag) → value bytes.
pub type RowMap = BTreeMap<Vec<u8>, Vec<u8>>;

pub struct Rows {
    tag: u8,
    base: Option<Arc<dyn Kv>>,
    /// Rows written (`Some`) or removed (`None`) since the last take.
    dirty: Changed<Option<Vec<u8>>>,
}

impl Rows {
    pub fn new(tag: u8, base: Option<Arc<dyn Kv>>) -> Self {
        Rows {
            tag,
            base,
            dirty: Changed::default(),
        }
    }

    /// A value whose rows were `old` now gives `new`.
    pub fn replace(&mut self, old: &RowMap, new: RowMap) {
        for k in old.keys() {
            if !new.contains_key(k) {
                self.dirty.insert(k, None);
            }
        }
        for (k, v) in new {
            if old.get(&k) != Some(&v) {
                self.dirty.insert(&k, Some(v));
            }
        }
    }

    /// The value of row `k`, as changed since the last take or as stored.
    pub fn get(&self, k: &[u8]) -> Option<Vec<u8>> {
        match self.dirty.get(k) {
            Some(v) => v.clone(),
            None => self.base.as_ref()?.get(&self.full(k)),
        }
    }

    /// Write row `k` (`None`: remove it).
    pub fn set(&mut self, k: Vec<u8>, v: Option<Vec<u8>>) {
        self.dirty.insert(&k, v);
    }

    fn full(&self, k: &[u8]) -> Vec<u8> {
        [&[self.tag][..], k].concat()
    }

    /// The rows with `lo <= key < hi` (keys without the tag; `hi` none: to the table's end),
    /// in key order, until `f` breaks.
    pub fn scan(&self, lo: &[u8], hi: Option<&[u8]>, f: VisitPair<'_>) {
        merged(
            self.tag,
            self.base.as_ref(),
            &self.dirty,
            lo,
            hi,
            &mut |met| {
                match met {
                    Met::Changed(k, Some(v)) => f(k, v),
                    Met::Stored(k, v) => f(k, v),
                    // Removed since the last take.
                    Met::Changed(_, None) => ControlFlow::Continue(()),
                }
            },
        );
    }
}

impl Changes for Rows {
    /// A row's value is its bytes, stored as they are, either way.
    fn encode_range(&self, from: usize, to: usize, _: Values, out: &mut Vec<Change>) {
        for (k, v) in self.dirty.part(from, to) {
            out.push((self.full(k), v.clone()));
        }
    }
    fn pending(&self) -> usize {
        self.dirty.len()
    }
    fn put_in_order(&mut self) {
        self.dirty.put_in_order()
    }
    fn forget(&mut self) {
        self.dirty.clear();
    }
    fn cache(&mut self, _cap: usize) {}
    fn rebase(&mut self, base: Option<Arc<dyn Kv>>) {
        self.base = base;
    }
}
