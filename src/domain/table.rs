//! PURE: the fold's tables. Each table is a typed view of one key range of a [`Kv`] (the
//! store's `domain` tree: one byte of prefix per table) with the values changed since the
//! writes were last taken held decoded in memory. Reads look in memory first, then in the
//! [`Kv`]; [`Table::take`] encodes what changed for the store to write with the batch.
//!
//! Keys are encoded so that byte order is the order of the values (big-endian integers,
//! fixed-width codes as they are, other text escaped and terminated), so scans come out in
//! key order and a prefix of a tuple key is a prefix of its bytes. Values are in the compact
//! binary form of `value.rs` (what JSON would say, without the text).

use super::changed::{Changed, Hasher, SharedKey};
use super::codes::{ManifestNumber, Plate, Uscc};
use crate::ledger::event::PublicKey;
use crate::ledger::kv::{prefix_end, Change, Kv};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

/// A key of a table: written so that byte order is value order, and read back.
pub trait Key: Sized {
    fn put(&self, out: &mut Vec<u8>);
    /// Read one key from the front of `b`, advancing it.
    fn take(b: &mut &[u8]) -> Option<Self>;
}

thread_local!(static SCRATCH: std::cell::Cell<Vec<u8>> = const {
    std::cell::Cell::new(Vec::new())
});

/// The bytes of a key (or of a prefix of a tuple key).
pub fn enc<K: Key>(k: &K) -> Vec<u8> {
    // Written where there is room, then copied out at its size: one allocation, not one for
    // each doubling, and a key kept in a table holds no more than its bytes.
    with_enc(k, <[u8]>::to_vec)
}

/// What `f` makes of the bytes of `k`, written into a buffer kept for the thread: a key looked
/// up is not allocated. A call within `f` writes into a buffer of its own.
fn with_enc<K: Key, R>(k: &K, f: impl FnOnce(&[u8]) -> R) -> R {
    let mut out = SCRATCH.take();
    out.clear();
    k.put(&mut out);
    let r = f(&out);
    SCRATCH.set(out);
    r
}

fn take_n<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if b.len() < n {
        return None;
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Some(head)
}

macro_rules! int_key {
    ($t:ty) => {
        impl Key for $t {
            fn put(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn take(b: &mut &[u8]) -> Option<Self> {
                Some(<$t>::from_be_bytes(
                    take_n(b, std::mem::size_of::<$t>())?.try_into().ok()?,
                ))
            }
        }
    };
}
int_key!(u8);
int_key!(u16);
int_key!(u32);
int_key!(u64);

/// Whether `b` holds a 0x00 byte, looked for eight bytes at a time: keys are short, and
/// `contains` (the library's `memchr`) spent more aligning itself than looking.
fn holds_nul(b: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut words = b.chunks_exact(8);
    // A byte of 0 is the only one whose high bit `w - 1` sets and `w` does not have (the
    // borrow it starts may set higher bytes' bits too, but only after a 0).
    let zero_in = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS != 0;
    if words
        .by_ref()
        .any(|w| zero_in(u64::from_ne_bytes(w.try_into().expect("8 bytes"))))
    {
        return true;
    }
    words.remainder().contains(&0)
}

/// Text: 0x00 escaped as 0x00 0xff, ended by 0x00 0x00 (so "a" sorts before "a\0" and "ab").
fn put_text(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    // Codes and names hold no 0x00 (a party could still write one): copied at once.
    if !holds_nul(bytes) {
        out.extend_from_slice(bytes);
    } else {
        for &c in bytes {
            out.push(c);
            if c == 0 {
                out.push(0xff);
            }
        }
    }
    out.extend_from_slice(&[0, 0]);
}

impl Key for String {
    fn put(&self, out: &mut Vec<u8>) {
        put_text(self, out)
    }
    fn take(b: &mut &[u8]) -> Option<Self> {
        let mut s = Vec::new();
        loop {
            let (&c, rest) = b.split_first()?;
            *b = rest;
            if c != 0 {
                s.push(c);
                continue;
            }
            let (&e, rest) = b.split_first()?;
            *b = rest;
            match e {
                0 => return String::from_utf8(s).ok(),
                0xff => s.push(0),
                _ => return None,
            }
        }
    }
}

/// Codes with a canonical text: as text.
macro_rules! text_key {
    ($t:ty) => {
        impl Key for $t {
            fn put(&self, out: &mut Vec<u8>) {
                put_text(self.as_str(), out)
            }
            fn take(b: &mut &[u8]) -> Option<Self> {
                <$t>::parse(&String::take(b)?).ok()
            }
        }
    };
}
text_key!(Uscc);
text_key!(Plate);
text_key!(ManifestNumber);
text_key!(super::codes::WasteCode);
text_key!(super::codes::CwType);
text_key!(super::codes::Unit);
text_key!(super::events::Stream);

/// Absent as one byte 0, present as 1 and the value (absent sorts first).
impl<T: Key> Key for Option<T> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.put(out);
            }
        }
    }
    fn take(b: &mut &[u8]) -> Option<Self> {
        match take_n(b, 1)?[0] {
            0 => Some(None),
            1 => Some(Some(T::take(b)?)),
            _ => None,
        }
    }
}

impl Key for PublicKey {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.bytes());
    }
    fn take(b: &mut &[u8]) -> Option<Self> {
        let raw: [u8; 32] = take_n(b, 32)?.try_into().ok()?;
        PublicKey::from_bytes(&raw)
    }
}

macro_rules! tuple_key {
    ($($n:ident),+) => {
        impl<$($n: Key),+> Key for ($($n,)+) {
            #[allow(non_snake_case)]
            fn put(&self, out: &mut Vec<u8>) {
                let ($($n,)+) = self;
                $($n.put(out);)+
            }
            fn take(b: &mut &[u8]) -> Option<Self> {
                Some(($($n::take(b)?,)+))
            }
        }
    };
}
tuple_key!(A, B);
tuple_key!(A, B, C);
tuple_key!(A, B, C, D);
tuple_key!(A, B, C, D, E);
tuple_key!(A, B, C, D, E, F);

/// One table: key prefix `tag`, values of type `V`, changes kept decoded until taken.
pub struct Table<K, V> {
    tag: u8,
    base: Option<Arc<dyn Kv>>,
    dirty: Changed<V>,
    /// Values as stored, decoded, kept where they are read again and again (the sequencer's
    /// fold, a reader's view for its span); none unless asked for (`keep_decoded`).
    cache: Option<Mutex<Cache<V>>>,
    _k: std::marker::PhantomData<fn() -> K>,
}

/// A bounded cache in two generations: values found or stored go to the young one; when it
/// is full it becomes the old one (the previous old one is dropped), and a value found in the
/// old one moves back to the young. What is read often stays; memory stays under `2 × cap`.
/// Absent keys are kept too (`None`): a fold asks again and again about keys that do not exist
/// (a key's revocation, a subject not yet seen).
struct Cache<V> {
    cap: usize,
    young: HashMap<SharedKey, Option<V>, Hasher>,
    old: HashMap<SharedKey, Option<V>, Hasher>,
}

impl<V: Clone> Cache<V> {
    /// `Some(value or None)` when the key's state is known.
    fn get(&mut self, k: &[u8]) -> Option<Option<V>> {
        self.with_held(k, |v| v.cloned()).ok()
    }

    /// What `f` makes of the key's state where it is known (its value, or `None`: absent), a
    /// key found in the old generation moved back to the young one so that what is read often
    /// stays; `f` back where the state is not known. (Given to `f`, not returned: a reference
    /// found in the young generation could not be returned from a branch that goes on to change
    /// the maps, and looking it up twice cost the sequencer's fold 6 % more instructions.)
    fn with_held<R, F: FnOnce(Option<&V>) -> R>(&mut self, k: &[u8], f: F) -> Result<R, F> {
        if let Some(v) = self.young.get(k) {
            return Ok(f(v.as_ref()));
        }
        let Some((k, v)) = self.old.remove_entry(k) else {
            return Err(f);
        };
        let r = f(v.as_ref());
        self.put(k, v);
        Ok(r)
    }

    fn put(&mut self, k: SharedKey, v: Option<V>) {
        if self.young.len() >= self.cap {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(k, v);
    }
}

impl<K: Key, V: Serialize + DeserializeOwned + Clone> Table<K, V> {
    pub fn new(tag: u8, base: Option<Arc<dyn Kv>>) -> Self {
        Table {
            tag,
            base,
            dirty: Changed::default(),
            cache: None,
            _k: std::marker::PhantomData,
        }
    }

    /// Keep up to about `cap` stored values decoded (twice that at most).
    pub fn keep_decoded(&mut self, cap: usize) {
        self.cache = Some(Mutex::new(Cache {
            cap: cap.max(1),
            young: HashMap::default(),
            old: HashMap::default(),
        }));
    }

    /// The whole key (with the table's prefix) a value of `k` is stored at.
    pub fn key_of(&self, k: &K) -> Vec<u8> {
        with_enc(k, |key| self.full(key))
    }

    fn full(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + key.len());
        k.push(self.tag);
        k.extend_from_slice(key);
        k
    }

    fn decode(&self, key: &[u8], v: &[u8]) -> V {
        super::value::decode_stored(v).unwrap_or_else(|e| {
            panic!(
                "the domain's read model holds a value it cannot read at table {:?}, key {} ({e}): rebuild it with `wasteledger reindex`",
                self.tag as char,
                hex::encode(key)
            )
        })
    }

    pub fn get(&self, k: &K) -> Option<Cow<'_, V>> {
        with_enc(k, |key| self.get_raw(key))
    }

    fn get_raw(&self, key: &[u8]) -> Option<Cow<'_, V>> {
        if let Some(v) = self.dirty.get(key) {
            return Some(Cow::Borrowed(v));
        }
        let Some(c) = &self.cache else {
            return self.stored(key).map(Cow::Owned);
        };
        let mut c = c.lock().expect("cache lock");
        if let Some(v) = c.get(key) {
            return v.map(Cow::Owned);
        }
        let v = self.stored(key);
        c.put(key.into(), v.clone());
        v.map(Cow::Owned)
    }

    /// The value at `key` as the store holds it, decoded (None: absent, or no store).
    fn stored(&self, key: &[u8]) -> Option<V> {
        let full = self.full(key);
        let v = self.base.as_ref()?.get(&full)?;
        Some(self.decode(&full, &v))
    }

    /// The value at `k` if it changed since the last take.
    pub fn changed(&self, k: &K) -> Option<&V> {
        with_enc(k, |key| self.dirty.get(key))
    }

    /// What `f` makes of the value at `k` (None: absent), read without copying it where it is
    /// held decoded (changed since the last take, or in the cache).
    pub fn peek<R>(&self, k: &K, f: impl FnOnce(Option<&V>) -> R) -> R {
        with_enc(k, |key| self.peek_raw(key, f))
    }

    fn peek_raw<R>(&self, key: &[u8], f: impl FnOnce(Option<&V>) -> R) -> R {
        if let Some(v) = self.dirty.get(key) {
            return f(Some(v));
        }
        let Some(c) = &self.cache else {
            return f(self.stored(key).as_ref());
        };
        // As `get_raw` finds and keeps it, so that what is only looked at stays as long as
        // what is copied; read from the store once, under the lock already taken, and cached
        // without a copy.
        let mut c = c.lock().expect("cache lock");
        match c.with_held(key, f) {
            Ok(r) => r,
            Err(f) => {
                let v = self.stored(key);
                let r = f(v.as_ref());
                c.put(key.into(), v);
                r
            }
        }
    }

    pub fn contains_key(&self, k: &K) -> bool {
        with_enc(k, |key| {
            if self.dirty.contains_key(key) {
                return true;
            }
            if self.cache.is_some() {
                // Looked at where it is held, not copied (a miss reads and caches it).
                return self.peek_raw(key, |v| v.is_some());
            }
            self.base
                .as_ref()
                .is_some_and(|b| b.get(&self.full(key)).is_some())
        })
    }

    pub fn insert(&mut self, k: K, v: V) {
        with_enc(&k, |key| self.dirty.insert(key, v));
    }

    /// The value at `k`, to be replaced: moved out where it changed since the last take, else
    /// read as [`get`](Self::get) reads it. Until the caller inserts its successor, the table
    /// holds the value as stored.
    pub fn take(&mut self, k: &K) -> Option<V> {
        with_enc(k, |key| match self.dirty.remove(key) {
            Some(v) => Some(v),
            None => self.get_raw(key).map(Cow::into_owned),
        })
    }

    /// Change a value in place (read, change, write back); nothing if it is absent.
    pub fn update(&mut self, k: &K, f: impl FnOnce(&mut V)) {
        with_enc(k, |key| {
            if let Some(v) = self.dirty.get_mut(key) {
                return f(v);
            }
            if let Some(v) = self.get_raw(key) {
                let mut v = v.into_owned();
                f(&mut v);
                self.dirty.insert(key, v);
            }
        })
    }

    /// Change the value at `k` in place, starting from `init()` where it is absent.
    pub fn upsert(&mut self, k: K, init: impl FnOnce() -> V, f: impl FnOnce(&mut V)) {
        with_enc(&k, |key| {
            if let Some(v) = self.dirty.get_mut(key) {
                return f(v);
            }
            let mut v = self.get_raw(key).map(Cow::into_owned).unwrap_or_else(init);
            f(&mut v);
            self.dirty.insert(key, v);
        })
    }

    /// The pairs whose key starts with the bytes `prefix` (see [`enc`]), in key order, the
    /// changes since the last take over what the store holds, until `f` breaks.
    pub fn scan(&self, prefix: &[u8], f: &mut dyn FnMut(K, Cow<'_, V>) -> ControlFlow<()>) {
        self.scan_from(prefix, prefix, f)
    }

    /// As [`scan`](Self::scan), starting at the key bytes `from` (which start with `prefix`).
    pub fn scan_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        f: &mut dyn FnMut(K, Cow<'_, V>) -> ControlFlow<()>,
    ) {
        let end = prefix_end(prefix);
        let key_of = |b: &[u8]| {
            let mut s = b;
            K::take(&mut s).unwrap_or_else(|| {
                panic!(
                    "the domain's read model holds a key it cannot read at table {:?}: {}; rebuild it with `wasteledger reindex`",
                    self.tag as char,
                    hex::encode(b)
                )
            })
        };
        merged(
            self.tag,
            self.base.as_ref(),
            &self.dirty,
            from,
            end.as_deref(),
            &mut |met| match met {
                Met::Changed(k, v) => f(key_of(k), Cow::Borrowed(v)),
                Met::Stored(k, v) => f(key_of(k), Cow::Owned(self.decode(&self.full(k), v))),
            },
        );
    }

    /// Encode the changes since the last take from the `from`th to before the `to`th, in key
    /// order, into `out` (full keys), keeping them.
    fn encoded(&self, from: usize, to: usize, values: Values, out: &mut Vec<Change>) {
        // One buffer grown once, each value copied out at its size.
        let mut buf = Vec::with_capacity(4096);
        for (k, v) in self.dirty.part(from, to) {
            buf.clear();
            super::value::encode_into(v, &mut buf).expect("a domain value encodes");
            let v = match values {
                Values::Stored => super::value::pack(&buf),
                Values::Encoded => buf.clone(),
            };
            out.push((self.full(k), Some(v)));
        }
    }

    /// The store the table reads what was taken from.
    pub fn base(&self) -> Option<&Arc<dyn Kv>> {
        self.base.as_ref()
    }
}

/// A pair [`merged`] meets: a change since the last take, or a pair as stored (keys without
/// the table's tag).
pub enum Met<'a, V> {
    Changed(&'a [u8], &'a V),
    Stored(&'a [u8], &'a [u8]),
}

/// The pairs of table `tag` with `lo <= key < hi` (keys without the tag; `hi` none: to the
/// table's end), in key order: the changes since the last take (`dirty`) over what `base`
/// stores, a change hiding the stored pair of its key; until `f` breaks.
pub fn merged<V>(
    tag: u8,
    base: Option<&Arc<dyn Kv>>,
    dirty: &Changed<V>,
    lo: &[u8],
    hi: Option<&[u8]>,
    f: &mut dyn FnMut(Met<'_, V>) -> ControlFlow<()>,
) {
    let mut mem = dirty.range(lo, hi).peekable();
    let full = |k: &[u8]| [&[tag][..], k].concat();
    let mut stopped = false;
    if let Some(base) = base {
        let to = hi.map_or_else(|| vec![tag + 1], full);
        base.scan(&full(lo), Some(&to), &mut |k, v| {
            let k = &k[1..];
            // What changed since the last take and sorts before this key comes first.
            while let Some((mk, mv)) = mem.next_if(|(mk, _)| *mk <= k) {
                if f(Met::Changed(mk, mv)).is_break() {
                    stopped = true;
                    return ControlFlow::Break(());
                }
                if mk == k {
                    return ControlFlow::Continue(());
                }
            }
            if f(Met::Stored(k, v)).is_break() {
                stopped = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
    }
    if stopped {
        return;
    }
    for (mk, mv) in mem {
        if f(Met::Changed(mk, mv)).is_break() {
            return;
        }
    }
}

/// Changes in a take from which the tables are encoded on two threads: the end of an audit's
/// replay held in memory (its whole model); where they reach it, a rebuild's run of 4,096
/// entries and the largest batches. A batch of the waste bench's (about 2,700 changes) stays
/// on the sequencer's thread: split, it was no faster, the other core being busy checking
/// signatures (README).
const ENCODE_APART: usize = 1 << 14;

/// How a take gives the tables' values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Values {
    /// As the store writes them: compressed where that makes them shorter (`value::pack`).
    Stored,
    /// As encoded, never compressed: for an audit that compares them with the stored ones, which
    /// it reads unpacked (`store/readmodel.rs`, `same_value`), so that compressing them would
    /// be work only to be undone.
    Encoded,
}

/// What `tables` changed since the last take, encoded with full keys, in key order.
pub fn encode_all(tables: Vec<&mut dyn Changes>, values: Values) -> Vec<Change> {
    let mut tables = tables;
    let total: usize = tables.iter().map(|t| t.pending()).sum();
    // Each table's new keys sorted once, here, not by each of the threads that encode a part;
    // where those are two, the tables are sorted on two as well, the largest first.
    if total < ENCODE_APART {
        tables.iter_mut().for_each(|t| t.put_in_order());
    } else {
        tables.sort_by_key(|t| std::cmp::Reverse(t.pending()));
        let (mut here, mut there, mut sizes) = (Vec::new(), Vec::new(), (0, 0));
        for t in tables.iter_mut() {
            if sizes.0 <= sizes.1 {
                sizes.0 += t.pending();
                here.push(t);
            } else {
                sizes.1 += t.pending();
                there.push(t);
            }
        }
        std::thread::scope(|s| {
            let sorted = s.spawn(|| there.into_iter().for_each(|t| t.put_in_order()));
            here.into_iter().for_each(|t| t.put_in_order());
            sorted
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
        });
    }
    let tables: Vec<&dyn Changes> = tables.into_iter().map(|t| &*t).collect();
    // Each table's changes from its `lo`th to its `hi`th of `parts`.
    let encode = |lo: usize, hi: usize, parts: usize| -> Vec<Vec<Change>> {
        tables
            .iter()
            .map(|t| {
                let n = t.pending();
                let (from, to) = (n * lo / parts, n * hi / parts);
                let mut out = Vec::with_capacity(to - from);
                t.encode_range(from, to, values, &mut out);
                out
            })
            .collect()
    };
    let mut runs = if total < ENCODE_APART {
        encode(0, 1, 1)
    } else {
        // The first half of every table's changes here, the second half on another thread:
        // tables differ in the size of their values far more than two halves of one do.
        let (first, second) = std::thread::scope(|s| {
            let second = s.spawn(|| encode(1, 2, 2));
            (
                encode(0, 1, 2),
                // A panic there (a value that does not encode) is this thread's, as it was.
                second
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            )
        });
        first
            .into_iter()
            .zip(second)
            .map(|(mut a, b)| {
                a.extend(b);
                a
            })
            .collect()
    };
    // Each table's run is in key order under the table's own prefix: put in the order of their
    // first keys, the runs make one sorted run, which the sort then only checks.
    runs.sort_by(|a, b| a.first().map(|c| &c.0).cmp(&b.first().map(|c| &c.0)));
    let mut changes = Vec::with_capacity(total);
    for run in runs {
        changes.extend(run);
    }
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    changes
}

/// A table as the fold's take sees it: what changed, encoded, and forgetting it.
pub trait Changes: Send + Sync {
    /// Encode the changes since the last take, from the `from`th to before the `to`th in key
    /// order, into `out` (full keys).
    fn encode_range(&self, from: usize, to: usize, values: Values, out: &mut Vec<Change>);
    fn encode(&self, out: &mut Vec<Change>) {
        self.encode_range(0, self.pending(), Values::Stored, out)
    }
    /// How many keys changed since the last take.
    fn pending(&self) -> usize;
    /// Sort the keys changed since the last take, before their parts are encoded.
    fn put_in_order(&mut self);
    fn forget(&mut self);
    /// Keep up to about `cap` stored values (and absent keys) decoded.
    fn cache(&mut self, cap: usize);
    /// Read what is stored from `base` from now on.
    fn rebase(&mut self, base: Option<Arc<dyn Kv>>);
}

impl<K: Key, V: Serialize + DeserializeOwned + Clone + Send + Sync> Changes for Table<K, V> {
    fn encode_range(&self, from: usize, to: usize, values: Values, out: &mut Vec<Change>) {
        self.encoded(from, to, values, out)
    }
    fn pending(&self) -> usize {
        self.dirty.len()
    }
    fn put_in_order(&mut self) {
        self.dirty.put_in_order()
    }
    fn forget(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        // What was just taken is what the store will hold.
        if let Some(c) = &self.cache {
            let mut c = c.lock().expect("cache lock");
            for (k, v) in dirty.drain() {
                c.put(k, Some(v));
            }
        }
    }
    fn cache(&mut self, cap: usize) {
        self.keep_decoded(cap)
    }
    fn rebase(&mut self, base: Option<Arc<dyn Kv>>) {
        self.base = base;
        if let Some(c) = &self.cache {
            let mut c = c.lock().expect("cache lock");
            c.young.clear();
            c.old.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::kv::MemKv;

    #[test]
    fn a_nul_is_found_wherever_it_is() {
        for len in 0..40 {
            let clean: Vec<u8> = (0..len).map(|i| (1 + i * 37 % 255) as u8).collect();
            assert!(!holds_nul(&clean), "{len} bytes, none 0");
            let high = vec![0x80u8; len];
            assert!(!holds_nul(&high), "{len} bytes of 0x80");
            for at in 0..len {
                let mut b = clean.clone();
                b[at] = 0;
                assert!(holds_nul(&b), "{len} bytes, 0 at {at}");
                // A 0 after a 0x01 (where a borrow runs on) and before one.
                b[at.saturating_sub(1)] = 1;
                b[at] = 0;
                assert!(holds_nul(&b), "{len} bytes, 1 then 0 at {at}");
            }
        }
    }

    #[test]
    fn keys_sort_as_their_values_and_read_back() {
        let texts = ["", "a", "a\0", "a\0b", "ab", "b"];
        let enc_t: Vec<Vec<u8>> = texts.iter().map(|t| enc(&t.to_string())).collect();
        let mut sorted = enc_t.clone();
        sorted.sort();
        assert_eq!(sorted, enc_t, "text order is byte order");
        for t in texts {
            let b = enc(&(t.to_string(), 7u64));
            let mut s = b.as_slice();
            assert_eq!(<(String, u64)>::take(&mut s), Some((t.to_string(), 7)));
            assert!(s.is_empty());
        }
        assert!(enc(&(1u64, 2u32)) < enc(&(1u64, 3u32)));
        assert!(enc(&(1u64, u32::MAX)) < enc(&(2u64, 0u32)));
    }

    #[test]
    fn a_large_take_is_encoded_apart_into_the_same_changes_in_key_order() {
        // Tables of several sizes under prefixes out of order, one empty: below and above the
        // number of changes from which they are encoded on two threads.
        for n in [300u64, 3 * ENCODE_APART as u64] {
            let mut big: Table<u64, String> = Table::new(b'm', None);
            let mut mid: Table<(String, u64), u64> = Table::new(b'a', None);
            let mut small: Table<u64, u64> = Table::new(b'Z', None);
            let mut empty: Table<u64, u64> = Table::new(b'0', None);
            for i in (0..n).rev() {
                big.insert(i * 7919 % n, format!("manifest {i}"));
            }
            for i in 0..n / 3 {
                mid.insert((format!("p{}", i % 11), i), i);
            }
            small.insert(1, 1);
            let mut want = Vec::new();
            for t in [&big as &dyn Changes, &mid, &small, &empty] {
                t.encode(&mut want);
            }
            want.sort();
            assert_eq!(want.len() as u64, n + n / 3 + 1);
            let got = encode_all(
                vec![&mut small, &mut big, &mut empty, &mut mid],
                Values::Stored,
            );
            assert_eq!(got, want, "{n} keys");
        }
    }

    /// A table keeping two values decoded reads a value from the store once while it is read
    /// again before two others push it out, whether it is copied (`get`) or only looked at
    /// (`peek`, `contains_key`): a value found in the old generation goes back to the young.
    #[test]
    fn a_value_looked_at_stays_decoded_as_one_copied_does() {
        struct Counted(MemKv, std::sync::atomic::AtomicUsize);
        impl Kv for Counted {
            fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
                self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.0.get(key)
            }
            fn scan(&self, from: &[u8], to: Option<&[u8]>, f: crate::ledger::kv::VisitPair<'_>) {
                self.0.scan(from, to, f)
            }
        }
        let mem = MemKv::default();
        let mut w = Vec::new();
        let mut t: Table<u64, String> = Table::new(b'v', None);
        for i in 1..=5 {
            t.insert(i, format!("value {i}"));
        }
        t.encode(&mut w);
        mem.apply(crate::ledger::kv::FoldWrites {
            reset: false,
            changes: w,
        });
        let kv = Arc::new(Counted(mem, Default::default()));
        let reads = || kv.1.load(std::sync::atomic::Ordering::Relaxed);
        type Look = fn(&Table<u64, String>, u64) -> bool;
        let looks: [(&str, Look); 3] = [
            ("get", |t, k| t.get(&k).is_some()),
            ("peek", |t, k| t.peek(&k, |v| v.is_some())),
            ("contains_key", |t, k| t.contains_key(&k)),
        ];
        for (how, look) in looks {
            let mut t: Table<u64, String> = Table::new(b'v', Some(kv.clone()));
            t.keep_decoded(2);
            let from = reads();
            for k in [1, 2, 3] {
                assert!(t.get(&k).is_some());
            }
            // 1 is in the old generation now; looked at, it is young again.
            assert!(look(&t, 1), "{how}");
            for k in [4, 5] {
                assert!(t.get(&k).is_some());
            }
            assert!(look(&t, 1), "{how}");
            assert_eq!(
                reads() - from,
                5,
                "{how}: each value read from the store once"
            );
            assert_eq!(
                t.peek(&1, |v| v.cloned()).as_deref(),
                Some("value 1"),
                "{how}"
            );
        }
    }

    #[test]
    fn a_scan_merges_the_changes_not_yet_taken_over_the_stored_ones() {
        let kv = Arc::new(MemKv::default());
        let mut t: Table<(String, u64), String> = Table::new(b'x', Some(kv.clone()));
        for i in [1u64, 3, 5] {
            t.insert(("a".into(), i), format!("stored {i}"));
        }
        t.insert(("b".into(), 1), "other".into());
        let mut w = Vec::new();
        t.encode(&mut w);
        t.forget();
        kv.apply(crate::ledger::kv::FoldWrites {
            reset: false,
            changes: w,
        });
        t.insert(("a".into(), 2), "new 2".into());
        t.insert(("a".into(), 3), "new 3".into());
        t.insert(("a".into(), 9), "new 9".into());
        let mut seen = Vec::new();
        t.scan(&enc(&"a".to_string()), &mut |(_, i), v| {
            seen.push((i, v.into_owned()));
            ControlFlow::Continue(())
        });
        assert_eq!(
            seen,
            vec![
                (1, "stored 1".to_string()),
                (2, "new 2".into()),
                (3, "new 3".into()),
                (5, "stored 5".into()),
                (9, "new 9".into())
            ]
        );
        assert_eq!(
            t.get(&("a".into(), 3)).as_deref().map(String::as_str),
            Some("new 3")
        );
        assert_eq!(
            t.get(&("a".into(), 5)).as_deref().map(String::as_str),
            Some("stored 5")
        );
        let mut first = None;
        t.scan(&enc(&"a".to_string()), &mut |(_, i), _| {
            first = Some(i);
            ControlFlow::Break(())
        });
        assert_eq!(first, Some(1));
    }
}
