//! The replay index: which entry holds the event of a given hash (SHA-256 of its body), so
//! that the sequencer refuses an event sent twice, naming where the first one is, and the
//! hand-over pages find a countersigned step in the log.
//!
//! It was a sled tree keyed by the hash itself: one random key an event, which cost the
//! sequencer more than a third of its time and 600 bytes of disk an entry (sled rewrites a
//! random key's page and splits it; README, "Where an append's time goes"). Now the log is cut
//! into segments of [`DEFAULT_SEGMENT`] entries (the size a log is created with, kept in
//! `meta`), and the `replay` tree holds, written with the batches that make them:
//! - for the open segment (the newest, not yet full), its entries' hashes in index order,
//!   [`CHUNK`] to a key: `t` || first index u64 (a multiple of [`CHUNK`]) -> 32-byte hashes.
//!   A batch writes the chunks it adds to, whole, so the keys are the same however the log was
//!   batched; the sequencer keeps the same hashes in memory ([`Tail`]) to answer at once;
//! - for each full segment, its (hash, index) pairs sorted by hash, [`BLOCK`] to a key:
//!   `s` || segment u64 || first hash of the block -> (hash, index u64) pairs. The batch that
//!   fills a segment writes them and removes that segment's `t` chunks, in its transaction.
//!
//! Every key is written in order or once: about 40 bytes an entry, and a key for every
//! hundred. A look-up reads the open segment in memory, then one block of each full segment,
//! newest first: a seek a segment (76 at 5 million entries), done only for an event the
//! replay filter (`replay.rs`) cannot call new, and for the hand-over pages' questions.
//! Everything here is derived from the entries: `reindex` writes it anew, `verify` compares it
//! with what the entries make, key for key, and the integrity sweep does the same after open.

use super::StoreError;
use crate::ledger::merkle::Hash;
use std::collections::HashMap;

/// Entries in a segment, for a log created with the default configuration.
pub const DEFAULT_SEGMENT: u64 = 1 << 16;

/// Hashes under one key of the open segment.
const CHUNK: u64 = 128;

/// (hash, index) pairs under one key of a full segment (4,000 bytes: sled's pages of 16 keys
/// stay far below the size it would write as a file of its own).
const BLOCK: usize = 100;

const PAIR: usize = 40;

/// The segment size a log was created with, in `meta`.
pub(super) const SEGMENT_KEY: &[u8] = b"replay_segment";

fn tail_key(first: u64) -> [u8; 9] {
    let mut k = [b't'; 9];
    k[1..].copy_from_slice(&first.to_be_bytes());
    k
}

fn sealed_key(segment: u64, first: &Hash) -> [u8; 41] {
    let mut k = [b's'; 41];
    k[1..9].copy_from_slice(&segment.to_be_bytes());
    k[9..].copy_from_slice(first);
    k
}

fn damaged(what: String) -> StoreError {
    StoreError::Damaged(format!(
        "the replay index {what} (a derived index drifted; run `wasteledger reindex`)"
    ))
}

/// The segment size of the log in `trees`; `new` for a log with no entries yet, which keeps it.
/// A database whose replay index is the old `events` tree (keyed by hash) must be reindexed.
pub(super) fn segment(trees: &super::Trees, new: u64) -> Result<u64, StoreError> {
    if let Some(s) = stored_segment(trees)? {
        return Ok(s);
    }
    if legacy(trees)? {
        return Err(StoreError::Setup(
            "this database was written by an earlier wasteledger, whose replay index was the \
             `events` tree: run `wasteledger reindex --data DIR` once to write it anew"
                .into(),
        ));
    }
    if trees.size()? > 0 {
        return Err(damaged("is missing".into()));
    }
    let new = new.max(CHUNK) / CHUNK * CHUNK;
    trees.meta.insert(SEGMENT_KEY, &new.to_be_bytes())?;
    Ok(new)
}

/// The segment size the log keeps in `meta`, if it keeps one.
pub(super) fn stored_segment(trees: &super::Trees) -> Result<Option<u64>, StoreError> {
    let Some(v) = trees.meta.get(SEGMENT_KEY)? else {
        return Ok(None);
    };
    let s = super::be_u64(&v)?;
    if s == 0 || !s.is_multiple_of(CHUNK) {
        return Err(damaged(format!("names a segment of {s} entries")));
    }
    Ok(Some(s))
}

/// Whether the database still has the replay index of earlier versions.
pub(super) fn legacy(trees: &super::Trees) -> Result<bool, StoreError> {
    super::holds_old_tree(&trees.db, "events")
}

/// The open segment: its entries' hashes, in memory.
pub(crate) struct Tail {
    segment: u64,
    /// First index of the open segment (a multiple of `segment`).
    start: u64,
    hashes: Vec<Hash>,
    at: HashMap<Hash, u64>,
}

impl Tail {
    pub fn new(segment: u64) -> Tail {
        Tail {
            segment,
            start: 0,
            hashes: Vec::new(),
            at: HashMap::new(),
        }
    }

    /// The open segment of a log of `size` entries, from its `t` chunks.
    pub fn load(tree: &sled::Tree, segment: u64, size: u64) -> Result<Tail, StoreError> {
        let mut tail = Tail::new(segment);
        tail.start = size / segment * segment;
        let mut hashes = Vec::with_capacity((size - tail.start) as usize);
        for kv in tree.range(tail_key(tail.start)..tail_key(size.div_ceil(CHUNK) * CHUNK)) {
            let (k, v) = kv?;
            let at = tail.start + hashes.len() as u64;
            if k.as_ref() != tail_key(at) || v.len() % 32 != 0 || v.len() > CHUNK as usize * 32 {
                return Err(damaged(format!("has no chunk of hashes at entry {at}")));
            }
            hashes.extend(
                v.chunks_exact(32)
                    .map(|h| Hash::try_from(h).expect("32 bytes")),
            );
        }
        if hashes.len() as u64 != size - tail.start {
            return Err(damaged(format!(
                "holds {} hashes of the entries from {} where the log holds {}",
                hashes.len(),
                tail.start,
                size - tail.start
            )));
        }
        tail.append(&hashes);
        Ok(tail)
    }

    pub fn segment(&self) -> u64 {
        self.segment
    }

    /// How many segments are full (and written sorted).
    pub fn sealed(&self) -> u64 {
        self.start / self.segment
    }

    /// The index of `h`, if the open segment holds it.
    pub fn find(&self, h: &Hash) -> Option<u64> {
        self.at.get(h).copied()
    }

    /// The index of `h` in the log: the open segment, else the full ones, newest first.
    pub fn find_in(&self, tree: &sled::Tree, h: &Hash) -> Result<Option<u64>, StoreError> {
        if let Some(i) = self.find(h) {
            return Ok(Some(i));
        }
        for segment in (0..self.sealed()).rev() {
            if let Some(i) = find_sealed(tree, segment, h)? {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Whether the index has `h` at `i` (one look-up: in memory or in `i`'s segment).
    pub fn holds(&self, tree: &sled::Tree, h: &Hash, i: u64) -> Result<bool, StoreError> {
        Ok(if i >= self.start {
            self.find(h) == Some(i)
        } else {
            find_sealed(tree, i / self.segment, h)? == Some(i)
        })
    }

    /// The writes that append `new` (the hashes of the entries from the end of this tail on,
    /// in order) to the index; this tail changes only once they are durable ([`Tail::append`]).
    pub fn stage(&self, new: &[Hash], batch: &mut sled::Batch) {
        let first = self.start + self.hashes.len() as u64;
        let end = first + new.len() as u64;
        let at = |i: u64| -> &Hash {
            let k = (i - self.start) as usize;
            self.hashes
                .get(k)
                .unwrap_or_else(|| &new[k - self.hashes.len()])
        };
        let mut start = self.start;
        while start + self.segment <= end {
            let pairs = sorted_pairs(start, (start..start + self.segment).map(at));
            for (k, v) in sealed_blocks(start / self.segment, &pairs) {
                batch.insert(&k[..], v);
            }
            for c in (start..first.min(start + self.segment)).step_by(CHUNK as usize) {
                batch.remove(&tail_key(c));
            }
            start += self.segment;
        }
        let from = (first.max(start) / CHUNK * CHUNK).max(start);
        for c in (from..end).step_by(CHUNK as usize) {
            let value: Vec<u8> = (c..end.min(c + CHUNK)).flat_map(|i| *at(i)).collect();
            batch.insert(&tail_key(c), value);
        }
    }

    /// `new`, whose writes ([`Tail::stage`]) are durable, is part of the log now.
    pub fn append(&mut self, new: &[Hash]) {
        for h in new {
            let i = self.start + self.hashes.len() as u64;
            self.hashes.push(*h);
            self.at.insert(*h, i);
            if self.hashes.len() as u64 == self.segment {
                self.start += self.segment;
                self.hashes.clear();
                self.at.clear();
            }
        }
    }
}

/// A full segment's (hash, index) pairs sorted by hash: its `hashes` in log order from entry
/// `start` on.
fn sorted_pairs<'h>(start: u64, hashes: impl Iterator<Item = &'h Hash>) -> Vec<(Hash, u64)> {
    let mut pairs: Vec<(Hash, u64)> = hashes.zip(start..).map(|(h, i)| (*h, i)).collect();
    pairs.sort_unstable();
    pairs
}

/// A full segment's keys and values, from its pairs sorted by hash.
fn sealed_blocks(
    segment: u64,
    pairs: &[(Hash, u64)],
) -> impl Iterator<Item = ([u8; 41], Vec<u8>)> + '_ {
    pairs.chunks(BLOCK).map(move |block| {
        let mut v = Vec::with_capacity(block.len() * PAIR);
        for (h, i) in block {
            v.extend_from_slice(h);
            v.extend_from_slice(&i.to_be_bytes());
        }
        (sealed_key(segment, &block[0].0), v)
    })
}

/// The index of `h` in full segment `segment`: one seek, then a binary search in its block.
fn find_sealed(tree: &sled::Tree, segment: u64, h: &Hash) -> Result<Option<u64>, StoreError> {
    let Some(kv) = tree
        .range(sealed_key(segment, &[0; 32])..=sealed_key(segment, h))
        .next_back()
    else {
        return Ok(None);
    };
    let (_, block) = kv?;
    if block.is_empty() || block.len() % PAIR != 0 {
        return Err(damaged(format!(
            "has a block of {} bytes in segment {segment}",
            block.len()
        )));
    }
    let pairs: Vec<&[u8]> = block.chunks_exact(PAIR).collect();
    Ok(pairs
        .binary_search_by(|p| p[..32].cmp(&h[..]))
        .ok()
        .map(|k| u64::from_be_bytes(pairs[k][32..].try_into().expect("8 bytes"))))
}

/// Why the stored index is not what the entries make.
pub(super) enum Mismatch {
    /// It could not be read.
    Read(StoreError),
    /// It disagrees with entry `entry` (the first found), as `cause` says.
    Drift { entry: u64, cause: String },
}

impl From<StoreError> for Mismatch {
    fn from(e: StoreError) -> Self {
        Mismatch::Read(e)
    }
}

impl From<sled::Error> for Mismatch {
    fn from(e: sled::Error) -> Self {
        Mismatch::Read(e.into())
    }
}

impl From<Mismatch> for StoreError {
    fn from(m: Mismatch) -> Self {
        match m {
            Mismatch::Read(e) => e,
            Mismatch::Drift { entry, cause } => {
                damaged(format!("disagrees with entry {entry}: {cause}"))
            }
        }
    }
}

/// What the index must hold, built from the entries' hashes in order, and compared with the
/// stored one segment at a time (`verify`, the integrity sweep): memory for one segment.
pub(super) struct Expected {
    tail: Tail,
    /// Keys compared so far.
    keys: u64,
}

impl Expected {
    pub fn new(segment: u64) -> Expected {
        Expected {
            tail: Tail::new(segment),
            keys: 0,
        }
    }

    /// The next entry's event hash; a segment it fills is compared with the stored one.
    pub fn push(&mut self, tree: &sled::Tree, h: Hash) -> Result<(), Mismatch> {
        let t = &mut self.tail;
        t.hashes.push(h);
        if t.hashes.len() as u64 == t.segment {
            let (start, segment) = (t.start, t.start / t.segment);
            let pairs = sorted_pairs(start, t.hashes.iter());
            let lo = sealed_key(segment, &[0; 32]);
            let hi = sealed_key(segment + 1, &[0; 32]);
            let blocks = pairs.chunks(BLOCK).zip(sealed_blocks(segment, &pairs));
            let mut stored = tree.range(lo..hi);
            for (block, (k, v)) in blocks {
                let found = stored.next().transpose()?;
                if let Some(entry) =
                    differs(found.as_ref(), &k, &v, block.iter().map(|p| p.1), PAIR)
                {
                    return Err(Mismatch::Drift {
                        entry,
                        cause: format!("its hash is not where segment {segment} holds it"),
                    });
                }
                self.keys += 1;
            }
            if stored.next().is_some() {
                return Err(Mismatch::Drift {
                    entry: start + t.segment - 1,
                    cause: format!("segment {segment} holds more than its entries"),
                });
            }
            t.start += t.segment;
            t.hashes.clear();
        }
        Ok(())
    }

    /// The open segment's chunks, after the last entry. `grown`: the log takes events beside
    /// the check, so the index may hold more than these entries (a longer last chunk, later
    /// chunks, this segment written full); else it must hold exactly what they make, and
    /// nothing else anywhere.
    pub fn finish(self, tree: &sled::Tree, grown: bool) -> Result<(), Mismatch> {
        let t = &self.tail;
        let (start, end) = (t.start, t.start + t.hashes.len() as u64);
        if grown && end > start && tree.get(tail_key(start))?.is_none() {
            // Filled since: each hash must be found where it is.
            for (h, i) in t.hashes.iter().zip(start..) {
                if find_sealed(tree, start / t.segment, h)? != Some(i) {
                    return Err(Mismatch::Drift {
                        entry: i,
                        cause: "its hash is not where its segment holds it".into(),
                    });
                }
            }
            return Ok(());
        }
        let mut keys = self.keys;
        let mut stored = tree.range(tail_key(start)..tail_key(end.div_ceil(CHUNK) * CHUNK));
        for (hs, c) in t
            .hashes
            .chunks(CHUNK as usize)
            .zip((start..).step_by(CHUNK as usize))
        {
            let want = hs.concat();
            let found = stored.next().transpose()?;
            let longer = |v: &[u8]| grown && hs.len() < CHUNK as usize && v.starts_with(&want);
            if !found
                .as_ref()
                .is_some_and(|(k, v)| k.as_ref() == tail_key(c) && longer(v))
            {
                if let Some(entry) = differs(found.as_ref(), &tail_key(c), &want, c.., 32) {
                    return Err(Mismatch::Drift {
                        entry,
                        cause: "the open segment holds another hash for it".into(),
                    });
                }
            }
            keys += 1;
        }
        if !grown && (stored.next().is_some() || tree.len() as u64 != keys) {
            return Err(Mismatch::Drift {
                entry: end,
                cause: format!(
                    "the index holds {} keys where the entries make {keys}",
                    tree.len()
                ),
            });
        }
        Ok(())
    }
}

/// Whether the stored key and value `found` are `key` and `want`, a value of records of `size`
/// bytes for the entries `entries`: `None` if so, else the entry of the first record that
/// differs (the first, if the key does).
fn differs(
    found: Option<&(sled::IVec, sled::IVec)>,
    key: &[u8],
    want: &[u8],
    mut entries: impl Iterator<Item = u64>,
    size: usize,
) -> Option<u64> {
    let first = entries.next().expect("a key holds at least one record");
    match found {
        Some((k, v)) if k.as_ref() == key && v.as_ref() == want => None,
        Some((k, v)) if k.as_ref() == key => std::iter::once(first)
            .chain(entries)
            .zip(want.chunks(size))
            .enumerate()
            .find(|(n, (_, w))| v.get(n * size..(n + 1) * size) != Some(*w))
            .map(|(_, (i, _))| i)
            .or(Some(first)),
        _ => Some(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn h(i: u64) -> Hash {
        Sha256::digest(i.to_be_bytes()).into()
    }

    fn tree() -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().unwrap();
        db.open_tree("replay").unwrap()
    }

    /// Append `n` hashes in batches of the sizes given, as the sequencer does.
    fn append(tree: &sled::Tree, tail: &mut Tail, from: u64, sizes: &[u64]) -> u64 {
        let mut at = from;
        for &n in sizes {
            let new: Vec<Hash> = (at..at + n).map(h).collect();
            let mut b = sled::Batch::default();
            tail.stage(&new, &mut b);
            tree.apply_batch(b).unwrap();
            tail.append(&new);
            at += n;
        }
        at
    }

    /// Every hash is found at its index, through the open segment and the full ones, and in a
    /// tail loaded anew from disk; the keys are the same however the log was batched.
    #[test]
    fn every_hash_is_found_where_it_is_across_segments_and_a_reload() {
        let (a, b) = (tree(), tree());
        let (mut ta, mut tb) = (Tail::new(256), Tail::new(256));
        let size = append(&a, &mut ta, 0, &[1, 1, 300, 5, 255, 1, 700, 40]);
        assert_eq!(append(&b, &mut tb, 0, &[size]), size);
        assert_eq!(size, 1303);
        assert_eq!(ta.sealed(), 5);
        let keys = |t: &sled::Tree| t.iter().map(|kv| kv.unwrap()).collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&b), "the same keys whatever the batches");
        let loaded = Tail::load(&a, 256, size).unwrap();
        for t in [&ta, &loaded] {
            for i in (0..size)
                .step_by(7)
                .chain([0, 255, 256, 1279, 1280, size - 1])
            {
                assert_eq!(t.find_in(&a, &h(i)).unwrap(), Some(i), "entry {i}");
            }
            assert_eq!(t.find_in(&a, &h(size)).unwrap(), None);
            assert_eq!(t.find_in(&a, &h(u64::MAX)).unwrap(), None);
        }
        // Only the open segment's chunks are left of the `t` keys.
        let chunks = a.scan_prefix(b"t").count();
        assert_eq!(chunks as u64, (size - 1280).div_ceil(CHUNK));
        // What verify builds from the entries is what was written.
        let mut want = Expected::new(256);
        for i in 0..size {
            assert!(want.push(&a, h(i)).is_ok());
        }
        assert!(want.finish(&a, false).is_ok());
    }

    /// A changed, missing or extra key is damage the comparison names.
    #[test]
    fn a_drifted_index_is_found() {
        let t = tree();
        let mut tail = Tail::new(128);
        let size = append(&t, &mut tail, 0, &[200, 100]);
        let check = |t: &sled::Tree| -> Result<(), StoreError> {
            let mut want = Expected::new(128);
            (0..size).try_for_each(|i| want.push(t, h(i)))?;
            Ok(want.finish(t, false)?)
        };
        check(&t).unwrap();
        // The index of a pair in a full segment changed: named at the entry it should be.
        let (k, v) = t.scan_prefix(b"s").next().unwrap().unwrap();
        let mut bad = v.to_vec();
        bad[PAIR + 39] ^= 1;
        let entry = u64::from_be_bytes(v[PAIR + 32..2 * PAIR].try_into().unwrap());
        t.insert(&k, bad).unwrap();
        let e = check(&t).unwrap_err().to_string();
        assert!(
            e.contains(&format!("entry {entry}:"))
                && e.contains("segment 0")
                && e.contains("reindex"),
            "{e}"
        );
        t.insert(&k, v).unwrap();
        // A hash of the open segment changed: named at its entry.
        let c = t.get(tail_key(256)).unwrap().unwrap();
        let mut bad = c.to_vec();
        bad[5 * 32] ^= 1;
        t.insert(tail_key(256), bad).unwrap();
        let e = check(&t).unwrap_err().to_string();
        assert!(e.contains("entry 261:"), "{e}");
        t.insert(tail_key(256), c).unwrap();
        // A key no entry makes.
        t.insert(tail_key(1 << 40), &[1; 32]).unwrap();
        assert!(check(&t)
            .unwrap_err()
            .to_string()
            .contains(&format!("entry {size}:")));
        t.remove(tail_key(1 << 40)).unwrap();
        check(&t).unwrap();
        // A chunk gone: refused when the open segment is loaded.
        t.remove(tail_key(256)).unwrap();
        assert!(Tail::load(&t, 128, size).is_err());
    }
}
