//! How the `entries` tree holds the log. A key is the index of the first entry it holds (a
//! big-endian `u64`); its value is either
//! - one entry's bytes as they are (canonical JSON, so its first byte is `{`), or
//! - a run of consecutive entries: the byte `0x00`, then each entry as its length (a big-endian
//!   `u16`, as in a C2SP entry bundle) and its bytes; at least two entries; or
//! - a run compressed: the byte `0x01`, then the bytes a run has after its `0x00`, compressed
//!   in the LZ4 block format and prefixed with their length (a little-endian `u32`; the form of
//!   `lz4_flex::compress_prepend_size`).
//!
//! A batch's entries are written as runs of at most [`RUN_PLAIN_BYTES`] before compression
//! that take at most [`RUN_BYTES`] stored (entries that do not compress so far: runs of at most
//! [`RUN_BYTES`]; a batch of one entry, or an entry too long to share a run, as it is),
//! compressed unless that would not make them shorter, in the batch's own transaction, and a
//! key is never written again: the log stays append-only key by key. Logs written before runs
//! hold one entry a key, logs written before compression plain runs, logs written before runs
//! of 24 KiB runs of at most 6 KiB; all read the same way, and a log may hold them all.
//!
//! Why: each sled key costs an insert (a walk down the tree, a fragment in sled's log, a copy
//! of the leaf) whatever its size, and the entries were one key each of the few a plain event
//! writes (README, "Benchmarks"). The bound on what a run takes stored keeps a full leaf of runs
//! (sled splits a leaf above sixteen keys) well inside the largest page sled keeps in its log (a
//! quarter of a 512 KiB segment); a larger page would go to a file of its own. Compressed: the
//! entries of a run share their field names, keys and most of their values; with LZ4 the disk
//! an entry went from about 1,240 to about 510 bytes, and the append and the audit got faster,
//! sled writing fewer bytes; runs of 24 KiB before compression, four times fewer keys, took it
//! to about 440 and the append 2.7 % further (README, "Benchmarks").

use super::{be_u64, StoreError};
use sled::IVec;
use std::collections::VecDeque;

/// The most bytes one run's value takes as stored: compressed, or plain where compression
/// does not shorten it (its marker and length prefixes included).
pub(crate) const RUN_BYTES: usize = 6 * 1024;
/// The most bytes a run holds before it is compressed: stored in at most [`RUN_BYTES`] when
/// it compresses fourfold (a run's entries repeat their field names, keys and most values);
/// entries that do not compress into [`RUN_BYTES`] are stored as runs of at most
/// [`RUN_BYTES`] before compression.
pub(crate) const RUN_PLAIN_BYTES: usize = 4 * RUN_BYTES;

/// The first byte of a run's value (an entry's canonical JSON never starts with it).
const RUN: u8 = 0;
/// The first byte of a compressed run's value.
const PACKED: u8 = 1;
/// The most bytes a compressed run may say it holds. Written runs hold at most
/// [`RUN_PLAIN_BYTES`]; the bound keeps a damaged length from making a read allocate gigabytes.
const MAX_PACKED: usize = 1 << 20;

/// Stage consecutive entries `(index, bytes)`, in order, into `batch` as runs.
pub(crate) fn stage<'a>(
    entries: impl IntoIterator<Item = (u64, &'a [u8])>,
    batch: &mut sled::Batch,
) {
    for run in runs_of(entries, RUN_PLAIN_BYTES) {
        if let Some((key, value)) = stored(&run, RUN_BYTES) {
            batch.insert(&key, value);
        } else {
            // It does not compress into RUN_BYTES: runs that hold no more than that.
            for run in runs_of(run, RUN_BYTES) {
                let (key, value) = stored(&run, usize::MAX).expect("no bound");
                batch.insert(&key, value);
            }
        }
    }
}

/// Consecutive entries cut into runs of at most `bound` bytes as a plain run (an entry longer
/// than that on its own).
fn runs_of<'a>(
    entries: impl IntoIterator<Item = (u64, &'a [u8])>,
    bound: usize,
) -> Vec<Vec<(u64, &'a [u8])>> {
    let mut runs = Vec::new();
    let mut run: Vec<(u64, &[u8])> = Vec::new();
    let mut bytes = 1;
    for (i, e) in entries {
        debug_assert!(run.last().is_none_or(|(last, _)| *last + 1 == i));
        if !run.is_empty() && bytes + 2 + e.len() > bound {
            runs.push(std::mem::take(&mut run));
            bytes = 1;
        }
        run.push((i, e));
        bytes += 2 + e.len();
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// A run's key and value as stored, or None if it would take more than `bound` bytes: one
/// entry as it is; more, compressed unless that does not shorten them.
fn stored(run: &[(u64, &[u8])], bound: usize) -> Option<([u8; 8], Vec<u8>)> {
    let key = run[0].0.to_be_bytes();
    if let [(_, e)] = run {
        return Some((key, e.to_vec()));
    }
    let mut v = Vec::with_capacity(1 + run.iter().map(|(_, e)| 2 + e.len()).sum::<usize>());
    v.push(RUN);
    for (_, e) in run {
        let len = u16::try_from(e.len()).expect("an entry is at most MAX_ENTRY_BYTES long");
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(e);
    }
    let packed = lz4_flex::block::compress_prepend_size(&v[1..]);
    let value = if 1 + packed.len() < v.len() {
        let mut p = Vec::with_capacity(1 + packed.len());
        p.push(PACKED);
        p.extend_from_slice(&packed);
        p
    } else {
        v
    };
    (value.len() <= bound).then_some((key, value))
}

fn not_a_run(first: u64, what: &str) -> StoreError {
    StoreError::Damaged(format!(
        "the entries stored from index {first} are not a run of entries: {what}"
    ))
}

/// A compressed run's value (after its marker) as the plain run it was made from.
fn unpacked(first: u64, packed: &[u8]) -> Result<IVec, StoreError> {
    let Some((len, block)) = packed.split_first_chunk::<4>() else {
        return Err(not_a_run(
            first,
            "a compressed run cut short before its length",
        ));
    };
    let len = u32::from_le_bytes(*len) as usize;
    if len > MAX_PACKED {
        return Err(not_a_run(
            first,
            &format!("a compressed run that says it holds {len} bytes (at most {MAX_PACKED})"),
        ));
    }
    let mut plain = vec![0u8; 1 + len];
    plain[0] = RUN;
    match lz4_flex::block::decompress_into(block, &mut plain[1..]) {
        Ok(n) if n == len => Ok(IVec::from(plain)),
        Ok(n) => Err(not_a_run(
            first,
            &format!("a compressed run of {n} bytes where its length says {len}"),
        )),
        Err(e) => Err(not_a_run(
            first,
            &format!("a compressed run that does not decompress ({e})"),
        )),
    }
}

/// The entries one key holds, `(index, bytes)` in order: its value sliced, not copied.
pub(crate) fn unpack(key: &[u8], value: IVec) -> Result<Vec<(u64, IVec)>, StoreError> {
    let first = be_u64(key)?;
    let value = match value.first() {
        Some(&RUN) => value,
        Some(&PACKED) => unpacked(first, &value[1..])?,
        _ => return Ok(vec![(first, value)]),
    };
    let bad = |what: &str| not_a_run(first, what);
    let mut out = Vec::new();
    let mut at = 1;
    while at < value.len() {
        let Some(len) = value.get(at..at + 2) else {
            return Err(bad(&format!("a length cut short at byte {at}")));
        };
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        at += 2;
        if len == 0 || at + len > value.len() {
            return Err(bad(&format!(
                "an entry of {len} bytes at byte {at} of {}",
                value.len()
            )));
        }
        out.push((first + out.len() as u64, value.subslice(at, len)));
        at += len;
    }
    if out.len() < 2 {
        return Err(bad("fewer than two entries"));
    }
    Ok(out)
}

/// The stored entries with indexes in `[start, end)`, in order, as `(index, bytes)`. A missing
/// entry is not an error here (the indexes skip it: callers check they follow); keys that
/// overlap, or a value that is not a run, are.
pub(crate) fn range(tree: &sled::Tree, start: u64, end: u64) -> Result<Entries, StoreError> {
    // The run holding `start` may begin before it.
    let begin = match tree.range(..=start.to_be_bytes()).next_back() {
        Some(kv) => be_u64(&kv?.0)?,
        None => start,
    };
    let inner = if end == u64::MAX {
        tree.range(begin.to_be_bytes()..)
    } else {
        tree.range(begin.to_be_bytes()..end.to_be_bytes())
    };
    Ok(Entries {
        inner,
        held: VecDeque::new(),
        start,
        end,
        after: None,
    })
}

/// Every stored entry, in order.
pub(crate) fn all(tree: &sled::Tree) -> Result<Entries, StoreError> {
    range(tree, 0, u64::MAX)
}

/// Entry `i`'s bytes, if stored.
pub(crate) fn get(tree: &sled::Tree, i: u64) -> Result<Option<IVec>, StoreError> {
    let Some(kv) = tree.range(..=i.to_be_bytes()).next_back() else {
        return Ok(None);
    };
    let (k, v) = kv?;
    Ok(unpack(&k, v)?
        .into_iter()
        .find(|(at, _)| *at == i)
        .map(|(_, e)| e))
}

/// One past the index of the last stored entry (0 when there is none).
pub(crate) fn size(tree: &sled::Tree) -> Result<u64, StoreError> {
    Ok(match tree.last()? {
        Some((k, v)) => unpack(&k, v)?.last().map_or(0, |(i, _)| i + 1),
        None => 0,
    })
}

/// See [`range`].
pub(crate) struct Entries {
    inner: sled::Iter,
    held: VecDeque<(u64, IVec)>,
    start: u64,
    end: u64,
    /// One past the last entry of the key read last.
    after: Option<u64>,
}

impl Iterator for Entries {
    type Item = Result<(u64, IVec), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.held.pop_front() {
                return Some(Ok(e));
            }
            let (k, v) = match self.inner.next()? {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e.into())),
            };
            let run = match unpack(&k, v) {
                Ok(run) => run,
                Err(e) => return Some(Err(e)),
            };
            let first = run[0].0;
            if let Some(after) = self.after.filter(|a| first < *a) {
                return Some(Err(StoreError::Damaged(format!(
                    "the entries stored from index {first} overlap those stored before them \
                     (up to {})",
                    after - 1
                ))));
            }
            self.after = run.last().map(|(i, _)| i + 1);
            let (start, end) = (self.start, self.end);
            self.held
                .extend(run.into_iter().filter(|(i, _)| *i >= start && *i < end));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64, len: usize) -> Vec<u8> {
        let mut e = format!("{{\"index\":{i},\"pad\":\"").into_bytes();
        e.resize(len - 2, b'x');
        e.extend_from_slice(b"\"}");
        e
    }

    fn tree_with(batches: &[Vec<(u64, Vec<u8>)>]) -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let t = db.open_tree("entries").unwrap();
        for b in batches {
            let mut batch = sled::Batch::default();
            stage(b.iter().map(|(i, e)| (*i, e.as_slice())), &mut batch);
            t.apply_batch(batch).unwrap();
        }
        t
    }

    /// Every entry the tree holds, read through [`all`].
    fn read_all(t: &sled::Tree) -> Vec<(u64, Vec<u8>)> {
        all(t)
            .unwrap()
            .map(|e| e.map(|(i, b)| (i, b.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn batch(from: u64, n: u64, len: usize) -> Vec<(u64, Vec<u8>)> {
        (from..from + n).map(|i| (i, entry(i, len))).collect()
    }

    #[test]
    fn runs_hold_a_batch_in_few_keys_and_read_back_every_entry_as_written() {
        // A batch of one, a batch of many short entries, one with an entry too long to share.
        let batches = vec![
            batch(0, 1, 300),
            batch(1, 100, 500),
            vec![
                (101, entry(101, 400)),
                (102, entry(102, RUN_PLAIN_BYTES + 1000)),
                (103, entry(103, 400)),
            ],
        ];
        let t = tree_with(&batches);
        let written: Vec<(u64, Vec<u8>)> = batches.concat();
        // 500-byte entries, 48 to a run of at most 24 KiB before compression: 3 keys for the
        // 100, each compressed (the entries differ in their index only) to a small part of
        // what it holds.
        assert_eq!(t.len(), 1 + 3 + 3);
        let runs: Vec<IVec> = t
            .iter()
            .map(|kv| kv.unwrap().1)
            .filter(|v| v[0] != b'{')
            .collect();
        assert_eq!(runs.len(), 3);
        assert!(runs
            .iter()
            .all(|v| v[0] == PACKED && v.len() < RUN_BYTES / 4));
        // The batch of one and the long entry are stored as they are.
        assert_eq!(
            &*t.get(0u64.to_be_bytes()).unwrap().unwrap(),
            &written[0].1[..]
        );
        assert_eq!(
            &*t.get(102u64.to_be_bytes()).unwrap().unwrap(),
            &written[102].1[..]
        );
        assert_eq!(read_all(&t), written);
        assert_eq!(size(&t).unwrap(), 104);
        for i in [0, 1, 12, 13, 50, 100, 101, 102, 103] {
            assert_eq!(
                &*get(&t, i).unwrap().unwrap(),
                &written[i as usize].1[..],
                "{i}"
            );
        }
        assert!(get(&t, 104).unwrap().is_none());
        // A range that starts and ends inside runs.
        let some: Vec<u64> = range(&t, 30, 60).unwrap().map(|e| e.unwrap().0).collect();
        assert_eq!(some, (30..60).collect::<Vec<_>>());
    }

    /// What the eleventh session's build wrote: runs not compressed. They read as before,
    /// beside compressed ones; and a run that compression would not shorten stays plain.
    #[test]
    fn plain_runs_read_beside_compressed_ones_and_stay_plain_where_compression_does_not_pay() {
        let t = tree_with(&[batch(0, 1, 300), batch(1, 10, 300)]);
        let plain: Vec<u8> = [vec![RUN]]
            .into_iter()
            .chain((11..14).map(|i| {
                let e = entry(i, 300);
                [(e.len() as u16).to_be_bytes().to_vec(), e].concat()
            }))
            .flatten()
            .collect();
        t.insert(11u64.to_be_bytes(), plain).unwrap();
        assert_eq!(read_all(&t), batch(0, 14, 300));
        assert_eq!(&*get(&t, 12).unwrap().unwrap(), &entry(12, 300)[..]);

        // Two entries of bytes that do not repeat: stored plain.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut noise = |i: u64| {
            let mut e = format!("{{\"i\":{i},\"n\":\"").into_bytes();
            e.extend((0..400).map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b'0' + (x % 75) as u8
            }));
            e.extend_from_slice(b"\"}");
            (i, e)
        };
        let t = tree_with(&[vec![noise(0), noise(1)]]);
        assert_eq!(t.get(0u64.to_be_bytes()).unwrap().unwrap()[0], RUN);

        // Forty of them (16 KiB) do not compress into RUN_BYTES: stored as runs of at most
        // RUN_BYTES, each read back as written.
        let many: Vec<(u64, Vec<u8>)> = (0..40).map(&mut noise).collect();
        let t = tree_with(std::slice::from_ref(&many));
        let stored: Vec<(u64, IVec)> = t
            .iter()
            .map(|kv| kv.map(|(k, v)| (be_u64(&k).unwrap(), v)).unwrap())
            .collect();
        assert_eq!(
            stored.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 14, 28],
            "14 entries of about 415 bytes to a run of 6 KiB"
        );
        assert!(
            stored.iter().all(|(_, v)| v.len() <= RUN_BYTES),
            "{:?}",
            stored.iter().map(|(_, v)| v.len()).collect::<Vec<_>>()
        );
        assert_eq!(read_all(&t), many);
    }

    #[test]
    fn a_damaged_run_is_refused_naming_where_it_is_stored() {
        let t = tree_with(&[batch(0, 1, 300), batch(1, 10, 300)]);
        let key = 1u64.to_be_bytes();
        let good = t.get(key).unwrap().unwrap().to_vec();
        assert_eq!(good[0], PACKED);
        let cut = &good[..good.len() - 5];
        t.insert(key, cut).unwrap();
        let e = all(&t).unwrap().find_map(Result::err).unwrap().to_string();
        assert!(e.contains("stored from index 1 are not a run"), "{e}");
        assert!(e.contains("does not decompress"), "{e}");
        // A length that would have a read allocate 4 GiB: refused before.
        let mut huge = good.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        t.insert(key, huge).unwrap();
        let e = all(&t).unwrap().find_map(Result::err).unwrap().to_string();
        assert!(e.contains("says it holds 4294967295 bytes"), "{e}");
        // Decompressed whole, but its lengths do not add up.
        let mut plain = unpacked(1, &good[1..]).unwrap().to_vec();
        plain.truncate(plain.len() - 5);
        let mut short = vec![PACKED];
        short.extend(lz4_flex::block::compress_prepend_size(&plain[1..]));
        t.insert(key, short).unwrap();
        let e = all(&t).unwrap().find_map(Result::err).unwrap().to_string();
        assert!(
            e.contains("stored from index 1 are not a run of entries: an entry"),
            "{e}"
        );
        // Keys that overlap: a run from 1 and a key at 5.
        t.insert(key, good).unwrap();
        t.insert(5u64.to_be_bytes(), entry(5, 300)).unwrap();
        let e = all(&t).unwrap().find_map(Result::err).unwrap().to_string();
        assert!(
            e.contains("from index 5 overlap those stored before them (up to 10)"),
            "{e}"
        );
    }
}
