//! Which events the log may already hold, kept in memory so that the sequencer reads the
//! replay index (`hashes.rs`, to refuse a replay) only for an event it may have seen. A look-up
//! there reads a block of every full segment (and, when the index was a tree keyed by hash, a
//! random key's look-up cost the sequencer about a sixth of its time; README, "Kept … the
//! replay filter"); almost every event is new, and this answers "certainly new" for it from
//! one word of memory.
//!
//! A blocked Bloom filter over the event hashes (SHA-256, so already uniform): each hash sets
//! [`PROBES`] bits in one 64-bit word. Its size is fixed by configuration
//! ([`super::Config::replay_filter_bytes`]), not by the log's length: a larger log only makes
//! "maybe" more frequent (in the default 16 MiB, for a new event: 0.13 % at 5 million entries,
//! 0.8 % at 10 million, a third at 50 million, by the filter's arithmetic), and a "maybe" costs
//! the index's look-up. It never answers "new" for a hash it was given.
//!
//! At open the integrity sweep (`sweep.rs`), which reads every entry anyway, gives it each
//! entry's event hash, while the sequencer adds each hash it makes durable; once the sweep
//! finds the log whole (the index too) the filter is trusted, and until then every event is
//! looked up (at 1M manifests, about 80 s after open). An entry logged before the open is given
//! by the sweep, one logged after by the sequencer. After a batch fails, the
//! database may hold events the sequencer never added (a batch can become durable before its
//! failure is reported), so the filter is not trusted again until the log is opened anew.

use crate::ledger::merkle::Hash;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// Bits set in its word by each hash.
const PROBES: usize = 4;

const FILLING: u8 = 0;
const TRUSTED: u8 = 1;
const DISTRUSTED: u8 = 2;

pub(super) struct ReplayFilter {
    words: Box<[AtomicU64]>,
    /// `words.len() - 1` (a power of two).
    mask: u64,
    state: AtomicU8,
}

impl ReplayFilter {
    /// A filter of about `bytes` (rounded down to a power of two, at least one word), not yet
    /// trusted: every event "may" be in the log until [`ReplayFilter::trust`].
    pub fn new(bytes: u64) -> Arc<Self> {
        let words = (bytes / 8).max(1);
        let words = 1u64 << (63 - words.leading_zeros());
        Arc::new(ReplayFilter {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            mask: words - 1,
            state: AtomicU8::new(FILLING),
        })
    }

    fn slot(&self, h: &Hash) -> (usize, u64) {
        let word = u64::from_le_bytes(h[..8].try_into().expect("8 bytes")) & self.mask;
        let bits = (0..PROBES).fold(0u64, |bits, p| bits | 1 << (h[8 + p] & 63));
        (word as usize, bits)
    }

    /// Add an event hash the log holds.
    pub fn insert(&self, h: &Hash) {
        let (w, bits) = self.slot(h);
        self.words[w].fetch_or(bits, Ordering::Relaxed);
    }

    /// False only if the log certainly does not hold an event of this hash.
    pub fn may_hold(&self, h: &Hash) -> bool {
        if self.state.load(Ordering::Acquire) != TRUSTED {
            return true;
        }
        let (w, bits) = self.slot(h);
        self.words[w].load(Ordering::Relaxed) & bits == bits
    }

    /// Never trusted again (until the log is opened anew): the database may hold events the
    /// filter was not given.
    pub fn distrust(&self) {
        self.state.store(DISTRUSTED, Ordering::Release);
    }

    /// Trusted from now on, once it holds every event of the log (the integrity sweep gave it
    /// the entries' hashes; the sequencer gives it each batch's): unless distrusted.
    pub fn trust(&self) {
        let _ = self
            .state
            .compare_exchange(FILLING, TRUSTED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Whether "certainly not held" answers are given yet.
    #[cfg(test)]
    pub fn trusted(&self) -> bool {
        self.state.load(Ordering::Acquire) == TRUSTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn h(i: u64) -> Hash {
        Sha256::digest(i.to_be_bytes()).into()
    }

    /// What was added is always "maybe"; of hashes never added, nearly all are "certainly
    /// not" at the load it is sized for, and none is before it is trusted.
    #[test]
    fn never_says_new_for_what_it_was_given_and_rarely_maybe_for_the_rest() {
        let f = ReplayFilter::new(1 << 20);
        for i in 0..100_000 {
            f.insert(&h(i));
        }
        assert!(
            (100_000..110_000).all(|i| f.may_hold(&h(i))),
            "untrusted: all maybe"
        );
        f.trust();
        assert!(f.trusted());
        assert!((0..100_000).all(|i| f.may_hold(&h(i))));
        let false_maybes = (100_000..200_000).filter(|i| f.may_hold(&h(*i))).count();
        // 0.8 hashes a word: about 0.01 % by the arithmetic.
        assert!(false_maybes < 1_000, "{false_maybes} of 100,000");
        // A batch failed: no "certainly new" any more, whatever comes after.
        f.distrust();
        f.trust();
        assert!(!f.trusted());
        assert!((100_000..110_000).all(|i| f.may_hold(&h(i))));
    }

    #[test]
    fn its_size_is_the_configured_one_rounded_down_to_a_power_of_two() {
        assert_eq!(ReplayFilter::new(16 << 20).words.len(), 2 << 20);
        assert_eq!(ReplayFilter::new(3_000).words.len(), 256);
        assert_eq!(ReplayFilter::new(0).words.len(), 1);
    }
}
