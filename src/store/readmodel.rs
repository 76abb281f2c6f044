//! The domain's read model on disk: the `domain` tree, which the live fold keeps its state in
//! (`ledger::kv`). The sequencer writes what a batch changed in the same transaction as the
//! batch's entries, so the tree always holds exactly the state after the last durable entry,
//! with that entry's position (`applied`) inside it; opening resumes from there, and a tree of
//! another layout (or none: a log made before the tree existed) is rebuilt from the entries.
//!
//! Readers read it through [`StoredKv`], each read (or each run of a scan) under the read side
//! of the commit gate, which the sequencer holds from the batch's transaction to its fsync: a
//! read sees a batch whole and durable, or not at all, and never waits for more than one
//! commit. The sequencer, taking the gate, waits for the reads in flight: one lookup or one
//! run of [`SCAN_RUN`] pairs each, kept short for that (readers' long work runs below the
//! writer, `http::reader::below_the_writer`, and a preempted reader holds its run until it
//! runs again).

use super::recover::TreesSlot;
use super::StoreError;
use crate::ledger::kv::{Change, FoldWrites, Kv, VisitPair};
use std::sync::{Arc, RwLock};

/// Pairs read per turn of the gate in a scan: short, since the sequencer waits for a run in
/// flight (a run that misses the cache waits on the disk).
const SCAN_RUN: usize = 32;

/// Where the tree is reached: through the live database slot (a server, reopened after a
/// storage failure), or one tree (reindex, restore).
enum Source {
    /// Weak: the read model does not keep a closed ledger's database open.
    Slot(std::sync::Weak<TreesSlot>),
    Tree(sled::Tree),
}

/// The `domain` tree as the fold and its readers see it.
pub(super) struct StoredKv {
    source: Source,
    gate: Arc<RwLock<()>>,
}

impl StoredKv {
    pub fn live(slot: Arc<TreesSlot>, gate: Arc<RwLock<()>>) -> Self {
        StoredKv {
            source: Source::Slot(Arc::downgrade(&slot)),
            gate,
        }
    }

    pub fn tree(tree: sled::Tree) -> Self {
        StoredKv {
            source: Source::Tree(tree),
            gate: Arc::default(),
        }
    }

    fn with_tree<T>(&self, f: impl FnOnce(&sled::Tree) -> Result<T, sled::Error>) -> Option<T> {
        let _read = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let got = match &self.source {
            Source::Tree(t) => f(t).map_err(StoreError::from),
            Source::Slot(s) => match s.upgrade() {
                // Long work still running once the log closed (a scan) reads nothing more.
                Some(s) if s.is_closed() => return None,
                Some(s) => s.get().and_then(|t| f(&t.domain).map_err(StoreError::from)),
                None => return None,
            },
        };
        match got {
            Ok(v) => Some(v),
            Err(e) => {
                // While the database is reopened after a storage failure, domain reads are
                // refused upstream (`DomainRules::read_durable`); others see nothing meanwhile.
                tracing::error!("reading the domain's read model: {e}");
                None
            }
        }
    }
}

impl Kv for StoredKv {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.with_tree(|t| t.get(key)).flatten().map(|v| v.to_vec())
    }

    fn scan(&self, from: &[u8], to: Option<&[u8]>, f: VisitPair<'_>) {
        let mut start = from.to_vec();
        loop {
            let run = self
                .with_tree(|t| {
                    let range = match to {
                        Some(to) => t.range(start.as_slice()..to),
                        None => t.range(start.as_slice()..),
                    };
                    range.take(SCAN_RUN).collect::<Result<Vec<_>, _>>()
                })
                .unwrap_or_default();
            let Some((last, _)) = run.last() else { return };
            // The next run starts just after this one's last key.
            start = last.to_vec();
            start.push(0);
            let full = run.len() == SCAN_RUN;
            for (k, v) in &run {
                if f(k, v).is_break() {
                    return;
                }
            }
            if !full {
                return;
            }
        }
    }
}

/// Store a fold's writes outside a batch (open, reindex): atomically, so a crash leaves the
/// tree as it was before them or after them.
pub(super) fn apply(tree: &sled::Tree, w: FoldWrites) -> Result<(), StoreError> {
    if w.is_empty() {
        return Ok(());
    }
    if w.reset {
        tree.clear()?;
    }
    tree.apply_batch(batch_of(&w.changes))?;
    Ok(())
}

/// A fold's changes as one sled batch (a value to set, or a key to remove).
pub(super) fn batch_of(changes: &[Change]) -> sled::Batch {
    let mut b = sled::Batch::default();
    for (k, v) in changes {
        match v {
            Some(v) => b.insert(k.as_slice(), v.as_slice()),
            None => b.remove(k.as_slice()),
        }
    }
    b
}

/// Whether two stored values are the same value: the same bytes, or the same encoding once
/// unpacked (`value::pack`: what LZ4 makes of a value may differ between versions of the
/// compressor; the value it unpacks to may not). A replay held in memory gives its values
/// unpacked (`Fold::whole_state`): a stored one packed is unpacked to be compared.
fn same_value(stored: &[u8], want: &[u8]) -> bool {
    use crate::domain::value::unpack;
    stored == want || matches!((unpack(stored), unpack(want)), (Ok(a), Ok(b)) if a == b)
}

/// Pairs of a replay held in memory from which [`differs_held`] compares it in parts on two
/// threads.
const COMPARE_APART: usize = 1 << 14;

/// The parts a large replay is compared in, taken in turn by two threads: parts of the same
/// bytes still take their own time (what of the tree is read from the disk, how many keys).
const COMPARE_PARTS: usize = 16;

/// Whether `tree` holds other than exactly the pairs `want` (a fold's whole state replayed from
/// entry 0, in key order): the first difference, said for a person.
pub(super) fn differs(
    tree: &sled::Tree,
    want: impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>>,
) -> Result<Option<String>, StoreError> {
    first_difference(tree.iter(), want)
}

/// [`differs`] for a replay held in memory: a large one compared in parts of about the same
/// bytes on two threads (each part with the stored keys from its first key to the next part's),
/// the first part's difference said first.
pub(super) fn differs_held(
    tree: &sled::Tree,
    want: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<Option<String>, StoreError> {
    if want.len() < COMPARE_APART {
        return first_difference(tree.iter(), pairs(&want));
    }
    let starts = part_starts(&want, COMPARE_PARTS);
    let compare = |p: usize| {
        let (from, to) = (starts[p], starts.get(p + 1).copied());
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let key = |i: usize| want[i].0.as_slice();
        let low = if p == 0 {
            Unbounded
        } else {
            Included(key(from))
        };
        let high = to.map_or(Unbounded, |to| Excluded(key(to)));
        let stored = tree.range::<&[u8], _>((low, high));
        first_difference(stored, pairs(&want[from..to.unwrap_or(want.len())]))
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let take = || {
        let mut said = Vec::new();
        loop {
            let p = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if p >= starts.len() {
                return said;
            }
            said.push((p, compare(p)));
        }
    };
    let mut said = std::thread::scope(|s| {
        let other = s.spawn(take);
        let mut said = take();
        // A panic there (sled's, at a damaged page) is this thread's, message and all, for
        // the store's guard to turn into a refusal.
        said.extend(
            other
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        );
        said
    });
    said.sort_by_key(|(p, _)| *p);
    for (_, d) in said {
        if let Some(d) = d? {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

/// Where each of (at most) `parts` parts of about the same bytes starts (the first at 0): values
/// differ in size from one table to the next far more than keys do.
fn part_starts(want: &[(Vec<u8>, Vec<u8>)], parts: usize) -> Vec<usize> {
    let bytes: usize = want.iter().map(|(k, v)| k.len() + v.len()).sum();
    let mut starts = vec![0];
    let mut seen = 0;
    for (i, (k, v)) in want.iter().enumerate() {
        // `seen` <= `bytes`: at most `parts` starts, one an index at most, so none empty.
        if seen * parts > bytes * starts.len() {
            starts.push(i);
        }
        seen += k.len() + v.len();
    }
    starts
}

fn pairs(w: &[(Vec<u8>, Vec<u8>)]) -> impl Iterator<Item = Result<(&[u8], &[u8]), StoreError>> {
    w.iter().map(|(k, v)| Ok((k.as_slice(), v.as_slice())))
}

fn first_difference<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    stored: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    mut want: impl Iterator<Item = Result<(K, V), StoreError>>,
) -> Result<Option<String>, StoreError> {
    for kv in stored {
        let (k, v) = kv?;
        match want.next().transpose()? {
            None => {
                return Ok(Some(format!(
                    "holds key {} that a replay does not make",
                    hex::encode(&k)
                )))
            }
            Some((wk, _)) if wk.as_ref() != k.as_ref() => {
                let first = wk.as_ref().min(k.as_ref());
                return Ok(Some(format!(
                    "and a replay differ at key {}",
                    hex::encode(first)
                )));
            }
            Some((_, wv)) if !same_value(wv.as_ref(), &v) => {
                return Ok(Some(format!(
                    "holds at key {} {} where a replay makes {}",
                    hex::encode(&k),
                    crate::domain::value::readable(&v),
                    crate::domain::value::readable(wv.as_ref())
                )))
            }
            Some(_) => {}
        }
    }
    Ok(want
        .next()
        .transpose()?
        .map(|(k, _)| format!("lacks key {} that a replay makes", hex::encode(k))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::value::{encode, pack};

    #[test]
    fn a_large_replay_compared_in_parts_names_the_first_difference() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("domain").unwrap();
        let n = 2 * COMPARE_APART as u32;
        let key = |i: u32| [b"m".as_slice(), &i.to_be_bytes()].concat();
        let value = |i: u32| pack(&encode(&format!("record {i}")).unwrap());
        let want: Vec<(Vec<u8>, Vec<u8>)> = (0..n).map(|i| (key(i * 2), value(i))).collect();
        for (k, v) in &want {
            tree.insert(k, v.as_slice()).unwrap();
        }
        assert_eq!(differs_held(&tree, want.clone()).unwrap(), None);
        // Where two parts meet: the ninth part's first key.
        let starts = part_starts(&want, COMPARE_PARTS);
        assert_eq!(starts.len(), COMPARE_PARTS);
        let mid = starts[8] as u32;
        let hex = |i: u32| hex::encode(key(i));
        let said = |tree: &sled::Tree| differs_held(tree, want.clone()).unwrap().unwrap();

        // A value changed in the ninth part, then one in the first: the first is named.
        tree.insert(key(2 * (mid + 5)), value(1)).unwrap();
        assert!(said(&tree).starts_with(&format!("holds at key {} ", hex(2 * (mid + 5)))));
        tree.insert(key(2 * 3), value(1)).unwrap();
        assert!(said(&tree).starts_with(&format!("holds at key {} ", hex(2 * 3))));
        tree.insert(key(2 * 3), value(3)).unwrap();
        tree.insert(key(2 * (mid + 5)), value(mid + 5)).unwrap();

        // A key stored before the first, just below where two parts meet, and past the last.
        tree.insert(b"a", value(0)).unwrap();
        assert_eq!(said(&tree), "and a replay differ at key 61");
        tree.remove(b"a").unwrap();
        tree.insert(key(2 * mid - 1), value(0)).unwrap();
        assert_eq!(
            said(&tree),
            format!("holds key {} that a replay does not make", hex(2 * mid - 1))
        );
        tree.remove(key(2 * mid - 1)).unwrap();
        tree.insert(key(2 * n), value(0)).unwrap();
        assert_eq!(
            said(&tree),
            format!("holds key {} that a replay does not make", hex(2 * n))
        );
        tree.remove(key(2 * n)).unwrap();

        // The first key of the ninth part, and the last of all, missing.
        tree.remove(key(2 * mid)).unwrap();
        assert_eq!(
            said(&tree),
            format!("and a replay differ at key {}", hex(2 * mid))
        );
        tree.insert(key(2 * mid), value(mid)).unwrap();
        tree.remove(key(2 * (n - 1))).unwrap();
        assert_eq!(
            said(&tree),
            format!("lacks key {} that a replay makes", hex(2 * (n - 1)))
        );
    }

    #[test]
    fn a_value_compressed_otherwise_is_the_same_value_and_a_changed_one_is_named() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("domain").unwrap();
        let record: Vec<String> = (0..40)
            .map(|i| format!("91320583P00000{i:04} 废矿物油"))
            .collect();
        let plain = encode(&record).unwrap();
        let packed = pack(&plain);
        assert_ne!(plain, packed);
        // Stored plain (as another compressor's output would be other bytes), wanted packed.
        tree.insert(b"m1", plain.clone()).unwrap();
        let want = |v: &Vec<u8>| vec![Ok((b"m1".to_vec(), v.clone()))].into_iter();
        assert_eq!(differs(&tree, want(&packed)).unwrap(), None);
        let mut other = record.clone();
        other[7].push('x');
        let changed = pack(&encode(&other).unwrap());
        let said = differs(&tree, want(&changed)).unwrap().unwrap();
        assert!(said.starts_with("holds at key 6d31 "), "{said}");
        // A packed value that does not unpack is a difference, not a match.
        let mut broken = packed.clone();
        let n = broken.len();
        broken.truncate(n - 3);
        tree.insert(b"m1", broken).unwrap();
        assert!(differs(&tree, want(&packed)).unwrap().is_some());
    }
}
