//! PURE: what a table changed since its last take, keyed by bytes: found by the key's hash (the
//! fold reads and writes one key at a time, a dozen times an entry), walked in key order (a
//! scan, the take).
//!
//! The fold of a whole log held in memory (an audit's replay) keeps every change of the log
//! here until its end: hundreds of thousands of keys a table. In an ordered map alone each read
//! compared the key with some twenty others, each behind a pointer; by its hash it is found
//! with one comparison. The order is kept beside it, in a set the key is added to only when it
//! is new, the key's bytes shared by both.
//!
//! Most tables are never scanned while they change: they are only walked in order when taken.
//! Their new keys wait unsorted (`fresh`) and are sorted once, at the take
//! ([`put_in_order`](Changed::put_in_order)), not put in the ordered set one by one: an audit's
//! replay adds some 390,000 keys a 100,000 entries, and an insert here was a fifth of its
//! fold, the set's comparisons behind pointers most of that (README, "Kept (twenty-eighth
//! session)"). A range asked while keys wait sorts those it holds; from then on that map keeps
//! its keys in order as they come, so that a table scanned again and again is not sorted again
//! and again.

use std::collections::{BTreeSet, HashMap};
use std::iter::Peekable;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A key as both halves hold it: one allocation, counted.
pub type SharedKey = Arc<[u8]>;

/// Hashes seeded at random for each map (foldhash: fast, and not predictable from outside); the
/// tables' caches of stored values hash with it too.
pub type Hasher = foldhash::fast::RandomState;

pub struct Changed<V> {
    values: HashMap<SharedKey, V, Hasher>,
    /// Keys of `values`, in order, but for those waiting in `fresh`.
    order: BTreeSet<SharedKey>,
    /// Keys set anew and not yet put in `order`, in the order they came: a key may be here
    /// twice (set, removed, set again) or no longer in `values` (removed). Never in `order`
    /// too: a key leaves `order` when it is removed.
    fresh: Vec<SharedKey>,
    /// A range was asked while keys waited: new keys go straight into `order` from the next
    /// change on. (Only how fast, never what is answered, depends on it.)
    scanned: AtomicBool,
}

impl<V> Default for Changed<V> {
    fn default() -> Self {
        Changed {
            values: HashMap::default(),
            order: BTreeSet::new(),
            fresh: Vec::new(),
            scanned: AtomicBool::new(false),
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
        if *self.scanned.get_mut() {
            self.put_in_order();
            self.order.insert(k.clone());
        } else {
            self.fresh.push(k.clone());
        }
        self.values.insert(k, v);
        None
    }

    pub fn remove(&mut self, k: &[u8]) -> Option<V> {
        let v = self.values.remove(k)?;
        // Where it waits in `fresh` instead, it stays there until sorted, and is dropped then.
        self.order.remove(k);
        Some(v)
    }

    /// Put the keys that wait in order: [`part`](Self::part) then walks them without sorting.
    pub fn put_in_order(&mut self) {
        if self.fresh.is_empty() {
            return;
        }
        let mut fresh = std::mem::take(&mut self.fresh);
        fresh.retain(|k| self.values.contains_key(k));
        fresh.sort_unstable();
        fresh.dedup();
        if self.order.is_empty() {
            // Built from sorted keys at once, not key by key.
            self.order = fresh.into_iter().collect();
        } else {
            self.order.extend(fresh);
        }
    }

    /// The pairs with `lo <= key < hi` (`hi` none: to the end), in key order.
    pub fn range<'a>(
        &'a self,
        lo: &[u8],
        hi: Option<&[u8]>,
    ) -> impl Iterator<Item = (&'a [u8], &'a V)> + 'a {
        self.keys(lo, hi).map(|k| (k, &self.values[k]))
    }

    /// The keys with `lo <= key < hi`, in order.
    fn keys<'a>(&'a self, lo: &[u8], hi: Option<&[u8]>) -> impl Iterator<Item = &'a [u8]> + 'a {
        let upper = match hi {
            // Nothing is in it (where an ordered map's range would panic).
            Some(hi) if hi < lo => Bound::Excluded(lo),
            Some(hi) => Bound::Excluded(hi),
            None => Bound::Unbounded,
        };
        let bounds = (Bound::Included(lo), upper);
        let ordered = self.order.range::<[u8], _>(bounds).map(|k| &k[..]);
        // The keys waiting in the range, sorted here (a key never waits and is ordered too).
        let mut waiting: Vec<&[u8]> = Vec::new();
        if !self.fresh.is_empty() {
            self.scanned.store(true, Ordering::Relaxed);
            waiting = self
                .fresh
                .iter()
                .map(|k| &k[..])
                .filter(|k| RangeBounds::<[u8]>::contains(&bounds, *k))
                .filter(|k| self.values.contains_key(*k))
                .collect();
            waiting.sort_unstable();
            waiting.dedup();
        }
        Merge {
            a: ordered.peekable(),
            b: waiting.into_iter().peekable(),
        }
    }

    /// Every pair, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.range(&[], None)
    }

    /// The `from`th pair to before the `to`th, in key order (a part of the take): the keys
    /// before `from` are stepped over without being looked up. Put in order first, or each
    /// part sorts the keys that wait.
    pub fn part(&self, from: usize, to: usize) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.keys(&[], None)
            .skip(from)
            .take(to.saturating_sub(from))
            .map(|k| (k, &self.values[k]))
    }

    /// Every pair, in no order, leaving the map empty.
    pub fn drain(&mut self) -> impl Iterator<Item = (SharedKey, V)> + '_ {
        self.order.clear();
        self.fresh.clear();
        self.values.drain()
    }

    pub fn clear(&mut self) {
        self.order.clear();
        self.fresh.clear();
        self.values.clear();
    }
}

/// Two ascending runs of keys that share none, as one.
struct Merge<'a, A: Iterator<Item = &'a [u8]>, B: Iterator<Item = &'a [u8]>> {
    a: Peekable<A>,
    b: Peekable<B>,
}

impl<'a, A: Iterator<Item = &'a [u8]>, B: Iterator<Item = &'a [u8]>> Iterator for Merge<'a, A, B> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match (self.a.peek(), self.b.peek()) {
            (Some(a), Some(b)) if b < a => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
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
        /// What a take does first.
        PutInOrder,
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        // Few short keys, so that operations meet the same keys and prefixes.
        proptest::collection::vec(0u8..4, 0..4)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => key().prop_map(Op::Remove),
            2 => (key(), proptest::option::of(key())).prop_map(|(lo, hi)| Op::Range(lo, hi)),
            1 => Just(Op::PutInOrder),
        ]
    }

    /// Every answer of `c` is the ordered map `m`'s.
    fn same(c: &Changed<u32>, m: &BTreeMap<Vec<u8>, u32>) -> Result<(), TestCaseError> {
        prop_assert_eq!(c.len(), m.len());
        let want: Vec<_> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
        // Parts as the take splits it: together, every pair once, in order.
        for cut in 0..=want.len() + 1 {
            let part = |from, to| c.part(from, to).map(|(k, v)| (k.to_vec(), *v));
            let joined: Vec<_> = part(0, cut).chain(part(cut, want.len())).collect();
            prop_assert_eq!(&joined, &want);
        }
        let all: Vec<_> = c.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
        prop_assert_eq!(&all, &want);
        for (k, v) in m {
            prop_assert_eq!(c.get(k), Some(v));
            prop_assert!(c.contains_key(k));
        }
        Ok(())
    }

    /// Run `ops` on a `Changed` and on an ordered map, comparing every answer, and the whole
    /// of both after each op (`each`: the map's keys then never wait long unsorted) or at the
    /// end only (keys wait until a range or a take asks).
    fn run(ops: Vec<Op>, each: bool) -> Result<(), TestCaseError> {
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
                Op::PutInOrder => c.put_in_order(),
            }
            if each {
                same(&c, &m)?;
            }
        }
        same(&c, &m)?;
        c.put_in_order();
        same(&c, &m)
    }

    proptest! {
        /// Whatever is done to it, the map answers as an ordered map given the same would.
        #[test]
        fn answers_as_an_ordered_map(ops in proptest::collection::vec(op(), 0..200)) {
            run(ops, true)?;
        }

        /// So it does with keys waiting unsorted: set, removed, set again before a take.
        #[test]
        fn answers_as_an_ordered_map_with_keys_waiting(
            ops in proptest::collection::vec(op(), 0..200)
        ) {
            run(ops, false)?;
        }
    }

    /// A map never asked for a range keeps its new keys unsorted until the take; one asked
    /// keeps them in order from its next change on.
    #[test]
    fn new_keys_wait_unsorted_until_a_range_or_the_take_asks() {
        let mut c = Changed::default();
        for k in [b"c", b"a", b"b"] {
            c.insert(k, 0u32);
        }
        assert!(c.order.is_empty());
        assert_eq!(c.fresh.len(), 3);
        c.put_in_order();
        assert!(c.fresh.is_empty());
        assert_eq!(c.order.len(), 3);
        c.insert(b"e", 0);
        let keys: Vec<&[u8]> = c.range(b"b", None).map(|(k, _)| k).collect();
        assert_eq!(keys, [&b"b"[..], b"c", b"e"]);
        // The range asked while "e" waited: the next new key goes into the order at once.
        c.insert(b"d", 0);
        assert!(c.fresh.is_empty());
        assert_eq!(c.order.len(), 5);
    }
}
