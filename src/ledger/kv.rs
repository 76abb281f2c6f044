//! PURE: where a fold keeps its state between batches. The store hands the live fold a sorted
//! key-value map ([`Kv`]: its `domain` tree) and writes what the fold changed
//! ([`FoldWrites`]) in the same transaction as the batch that changed it, so the fold's state on
//! disk is always exactly the state after the last durable entry. A fold with no [`Kv`] (an
//! audit's, a test's) keeps everything in memory.

use std::ops::ControlFlow;

/// A visitor of a scan's pairs (key, value): `Break` stops the scan.
pub type VisitPair<'f> = &'f mut dyn FnMut(&[u8], &[u8]) -> ControlFlow<()>;

/// A sorted map of byte strings, read only. Reads of a damaged store panic with a message
/// naming the store (there is no answer to give from a map that cannot be read).
pub trait Kv: Send + Sync {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// The pairs with `from <= key < to` (`to` None: every key from `from`), in key order,
    /// until `f` breaks.
    fn scan(&self, from: &[u8], to: Option<&[u8]>, f: VisitPair<'_>);
}

/// One key's change: its new value, or `None` where the key is removed.
pub type Change = (Vec<u8>, Option<Vec<u8>>);

/// What a fold changed since its writes were last taken.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FoldWrites {
    /// Clear the map before writing (a read model rebuilt from entry 0).
    pub reset: bool,
    /// The keys changed, in key order, each once.
    pub changes: Vec<Change>,
}

impl FoldWrites {
    pub fn is_empty(&self) -> bool {
        !self.reset && self.changes.is_empty()
    }
}

/// The smallest key greater than every key that starts with `prefix` (None: there is none).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A [`Kv`] in memory (tests, and a fold that must not touch the disk).
#[derive(Default)]
pub struct MemKv(pub std::sync::RwLock<std::collections::BTreeMap<Vec<u8>, Vec<u8>>>);

impl MemKv {
    /// Apply taken writes, as the store does.
    pub fn apply(&self, w: FoldWrites) {
        let mut m = self.0.write().expect("kv lock");
        if w.reset {
            m.clear();
        }
        for (k, v) in w.changes {
            match v {
                Some(v) => m.insert(k, v),
                None => m.remove(&k),
            };
        }
    }
}

impl Kv for MemKv {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.read().expect("kv lock").get(key).cloned()
    }

    fn scan(&self, from: &[u8], to: Option<&[u8]>, f: VisitPair<'_>) {
        use std::ops::Bound;
        let m = self.0.read().expect("kv lock");
        let hi = to.map_or(Bound::Unbounded, Bound::Excluded);
        for (k, v) in m.range::<[u8], _>((Bound::Included(from), hi)) {
            if f(k, v).is_break() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_the_next_key_that_does_not_start_with_it() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }
}
