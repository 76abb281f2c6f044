//! PURE: what a table changed since its last take, keyed by bytes: found by the key's hash (the
//! fold reads and writes one key at a time, a dozen times an entry), walked in key order (a
//! scan, the take).
//!
//! The fold of a whole log held in memory (an audit's replay) keeps every change of the log
//! here until its end: hundreds of thousands of keys a table. In an ordered map alone each read
//! compared the key with some twenty others, each behind a pointer; by its hash it is found
//! with one comparison. The order is kept beside it, in a set the key is added to only when it
//! is new, the key's bytes shared by both.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

/// A key as both halves hold it: one allocation, counted.
pub type SharedKey = Arc<[u8]>;

/// Hashes seeded at random for each map (foldhash: fast, and not predictable from outside); the
/// tables' caches of stored values hash with it too.
pub type Hasher = foldhash::fast::RandomState;

pub struct Changed<V> {
    values: HashMap<SharedKey, V, Hasher>,
    order: BTreeSet<SharedKey>,
}

impl<V> Default for Changed<V> {
    fn default() -> Self {
        Changed {
            values: HashMap::default(),
            order: BTreeSet::new(),
        }
    }
}

impl<V> Changed<V> {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn get(&self, k: &[u8]) -> Option<&V> {
        self.values.get(k)
    }

    pub fn get_mut(&mut self, k: &[u8]) -> Option<&mut V> {
        self.values.get_mut(k)
    }

    pub fn contains_key(&self, k: &[u8]) -> bool {
        self.values.contains_key(k)
    }

    /// Set the value at `k`; the one it replaces, if any.
    pub fn insert(&mut self, k: &[u8], v: V) -> Option<V> {
        if let Some(old) = self.values.get_mut(k) {
            return Some(std::mem::replace(old, v));
        }
        let k = SharedKey::from(k);
        self.order.insert(k.clone());
        self.values.insert(k, v);
        None
    }

    pub fn remove(&mut self, k: &[u8]) -> Option<V> {
        let v = self.values.remove(k)?;
        self.order.remove(k);
        Some(v)
    }

    /// The pairs with `lo <= key < hi` (`hi` none: to the end), in key order.
    pub fn range<'a>(
        &'a self,
        lo: &[u8],
        hi: Option<&[u8]>,
    ) -> impl Iterator<Item = (&'a [u8], &'a V)> + 'a {
        let upper = match hi {
            // Nothing is in it (where an ordered map's range would panic).
            Some(hi) if hi < lo => Bound::Excluded(lo),
            Some(hi) => Bound::Excluded(hi),
            None => Bound::Unbounded,
        };
        self.order
            .range::<[u8], _>((Bound::Included(lo), upper))
            .map(|k| (&k[..], &self.values[k]))
    }

    /// Every pair, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.order.iter().map(|k| (&k[..], &self.values[k]))
    }

    /// The `from`th pair to before the `to`th, in key order (a part of the take): the keys
    /// before `from` are stepped over without being looked up.
    pub fn part(&self, from: usize, to: usize) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.order
            .iter()
            .skip(from)
            .take(to.saturating_sub(from))
            .map(|k| (&k[..], &self.values[k]))
    }

    /// Every pair, in no order, leaving the map empty.
    pub fn drain(&mut self) -> impl Iterator<Item = (SharedKey, V)> + '_ {
        self.order.clear();
        self.values.drain()
    }

    pub fn clear(&mut self) {
        self.order.clear();
        self.values.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(Vec<u8>, u32),
        Remove(Vec<u8>),
        Range(Vec<u8>, Option<Vec<u8>>),
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        // Few short keys, so that operations meet the same keys and prefixes.
        proptest::collection::vec(0u8..4, 0..4)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            1 => key().prop_map(Op::Remove),
            1 => (key(), proptest::option::of(key())).prop_map(|(lo, hi)| Op::Range(lo, hi)),
        ]
    }

    proptest! {
        /// Whatever is done to it, the map answers as an ordered map given the same would.
        #[test]
        fn answers_as_an_ordered_map(ops in proptest::collection::vec(op(), 0..200)) {
            let mut c = Changed::default();
            let mut m = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(c.insert(&k, v), m.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(c.remove(&k), m.remove(&k)),
                    Op::Range(lo, hi) => {
                        let got: Vec<_> = c.range(&lo, hi.as_deref()).collect();
                        let want: Vec<_> = match &hi {
                            Some(hi) if hi < &lo => vec![],
                            Some(hi) => m.range(lo.clone()..hi.clone()).collect(),
                            None => m.range(lo.clone()..).collect(),
                        }
                        .into_iter()
                        .map(|(k, v)| (k.as_slice(), v))
                        .collect();
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(c.len(), m.len());
                let all: Vec<_> = c.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
                let want: Vec<_> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
                prop_assert_eq!(&all, &want);
                // Parts as the take splits it: together, every pair once, in order.
                for cut in 0..=all.len() + 1 {
                    let part = |from, to| c.part(from, to).map(|(k, v)| (k.to_vec(), *v));
                    let joined: Vec<_> = part(0, cut).chain(part(cut, all.len())).collect();
                    prop_assert_eq!(&joined, &want);
                }
                for (k, v) in &m {
                    prop_assert_eq!(c.get(k), Some(v));
                    prop_assert!(c.contains_key(k));
                }
            }
        }
    }
}
