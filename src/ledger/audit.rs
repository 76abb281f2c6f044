//! The audit: re-check a log from entry 0, trusting nothing. The same fold runs in
//! `wasteledger verify` (on the stored database), in `wasteledger audit` (over HTTP, against a
//! server we do not trust) and in `reindex` (which rebuilds every derived tree from it).

use super::entry::Entry;
use super::event::SignedEvent;
use super::merkle::{leaf_hash, Frontier, Hash, PerfectNode};
use super::parallel::par_chunks;
use super::state::{Fold, LogState, Prepare};
use super::time::Timestamp;
use std::collections::HashSet;
use thiserror::Error;

/// The first thing found wrong, at the first entry where it is wrong.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("entry {index}: {cause}")]
pub struct AuditFailure {
    pub index: u64,
    pub cause: String,
}

/// One entry as the auditor sees it, once checked.
pub struct Checked {
    pub index: u64,
    pub leaf: Hash,
    /// The entry's [`event_hash`](crate::ledger::event::SignedEvent::event_hash), worked out
    /// once for the replay check and whoever checks the replay index.
    pub event_hash: Hash,
    pub entry: Entry,
}

pub struct Auditor<'r> {
    fold: &'r mut dyn Fold,
    state: LogState,
    prev: Hash,
    last_time: Timestamp,
    frontier: Frontier,
    /// Event hashes seen (first 16 bytes: a collision would need 2^64 work).
    seen: HashSet<[u8; 16]>,
}

impl<'r> Auditor<'r> {
    /// An auditor from entry 0; `fold` is the domain's, fresh.
    pub fn new(fold: &'r mut dyn Fold) -> Self {
        Auditor {
            fold,
            state: LogState::default(),
            prev: [0; 32],
            last_time: Timestamp::from_unix_millis(0),
            frontier: Frontier::new(),
            seen: HashSet::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// What the checks would otherwise work out from each event in order (the bodies the log's
    /// own checks read, and what the fold prepares), done as [`decode_all`] decodes, on every
    /// core.
    pub fn ahead(&self) -> Ahead {
        Ahead(self.fold.prepares())
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    pub fn state(&self) -> &LogState {
        &self.state
    }

    /// What the domain's fold changed since its writes were last taken (for a fold that
    /// rebuilds a stored state: stored a chunk at a time, its memory stays bounded).
    pub fn take_fold_writes(&mut self) -> super::kv::FoldWrites {
        self.fold.take_writes()
    }

    /// Check the next run of entries. `entries` are (position the entry was found at, bytes),
    /// in order; `on_entry` sees each checked entry and every Merkle node it completes.
    pub fn check(
        &mut self,
        entries: &[(u64, &[u8])],
        on_entry: impl FnMut(&Checked, &[PerfectNode]) -> Result<(), AuditFailure>,
    ) -> Result<(), AuditFailure> {
        let decoded = decode_all(entries, self.ahead());
        self.check_decoded(entries, decoded, on_entry)
    }

    /// The order-dependent half of [`Auditor::check`], on the output of [`decode_all`] for the
    /// same entries (so that a caller can decode the next run while this one is checked).
    pub fn check_decoded(
        &mut self,
        entries: &[(u64, &[u8])],
        decoded: Decoded,
        mut on_entry: impl FnMut(&Checked, &[PerfectNode]) -> Result<(), AuditFailure>,
    ) -> Result<(), AuditFailure> {
        assert_eq!(
            entries.len(),
            decoded.0.len(),
            "decoded output belongs to other entries"
        );
        let mut nodes = Vec::with_capacity(8);
        for ((pos, bytes), d) in entries.iter().zip(decoded.0) {
            let want = self.frontier.size();
            let fail = |cause: String| AuditFailure { index: want, cause };
            if *pos != want {
                return Err(fail(format!(
                    "missing: the next stored entry is at position {pos}"
                )));
            }
            let entry = d.map_err(fail)?;
            if entry.index != want {
                return Err(fail(format!(
                    "the entry stored here says index {} (entries moved or swapped)",
                    entry.index
                )));
            }
            if want == 0 && entry.prev != [0; 32] {
                return Err(fail("`prev` of entry 0 must be 32 zero bytes".into()));
            }
            if entry.prev != self.prev {
                // Entry `want - 1` passed its own checks, so what changed is a part of it no
                // signature covers (its time), or this link. Name the earlier entry: that is
                // where a backdating or an edit happens.
                return Err(AuditFailure {
                    index: want - 1,
                    cause: format!(
                        "its leaf hash is not the `prev` that entry {want} records: the hash chain is broken \
                         (an unsigned part of entry {} such as its time, or the link in entry {want}, was altered)",
                        want - 1
                    ),
                });
            }
            if entry.time < self.last_time {
                return Err(fail(format!(
                    "time {} is earlier than the entry before it ({})",
                    entry.time, self.last_time
                )));
            }
            let eh = entry.event.event_hash();
            if !self.seen.insert(eh[..16].try_into().expect("16 bytes")) {
                return Err(fail(
                    "the same event is already in the log (a replay)".into(),
                ));
            }
            self.state
                .admit(want, entry.time, &entry.event, &mut *self.fold)
                .map_err(|r| fail(format!("should have been refused: {r}")))?;
            let leaf = leaf_hash(bytes);
            nodes.clear();
            self.frontier.append(leaf, |n| nodes.push(n));
            self.prev = leaf;
            self.last_time = entry.time;
            on_entry(
                &Checked {
                    index: want,
                    leaf,
                    event_hash: eh,
                    entry,
                },
                &nodes,
            )?;
        }
        Ok(())
    }
}

/// Entries decoded and their signatures checked: the half of the audit that needs no order.
pub struct Decoded(Vec<Result<Entry, String>>);

/// What an audit works out from each event ahead of its ordered checks ([`Auditor::ahead`]):
/// the bodies [`LogState`] reads, and what the fold prepares.
#[derive(Clone, Copy)]
pub struct Ahead(Prepare);

impl Ahead {
    fn run(self, event: &SignedEvent) {
        if LogState::reads_body(event.event_type()) {
            event.event();
        }
        (self.0)(event)
    }
}

/// Decode entries and check their signatures, on every core; what the checks would work out
/// from each event in order is done here too ([`Ahead`]).
pub fn decode_all(entries: &[(u64, &[u8])], ahead: Ahead) -> Decoded {
    Decoded(par_chunks(entries, 16, |part| {
        part.chunks(64)
            .flat_map(|run| decode_and_verify(run, ahead))
            .collect()
    }))
}

/// [`decode_all`] without checking a signature, on this thread: what an audit costs besides
/// verifying, for the bench to measure (`bench::domain`). Never part of an audit.
pub(crate) fn decode_all_unverified(entries: &[(u64, &[u8])], ahead: Ahead) -> Decoded {
    Decoded(
        entries
            .iter()
            .map(|(_, b)| {
                let e = Entry::decode(b).map_err(|e| format!("cannot be decoded: {e}"))?;
                ahead.run(&e.event);
                Ok(e)
            })
            .collect(),
    )
}

/// Decode a run of entries and check their signatures.
fn decode_and_verify(part: &[(u64, &[u8])], ahead: Ahead) -> Vec<Result<Entry, String>> {
    part.iter()
        .map(|(_, b)| {
            let e = Entry::decode(b).map_err(|e| format!("cannot be decoded: {e}"))?;
            e.event
                .verify_signatures()
                .map_err(|err| format!("signature: {err}"))?;
            ahead.run(&e.event);
            Ok(e)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::event::{PublicKey, SignedEvent};
    use crate::ledger::merkle::mth;
    use crate::ledger::state::{genesis_event, OpenRules};
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    /// A small valid log: genesis, a key registration, and `n` notes by that key.
    fn log(n: usize) -> Vec<Vec<u8>> {
        let (logk, auth, party) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
            SigningKey::from_bytes(&[3; 32]),
        );
        let mut events = vec![
            SignedEvent::sign(genesis_event("o", &PublicKey(logk.verifying_key()), &PublicKey(auth.verifying_key()), None), &[&auth]).unwrap(),
            SignedEvent::sign(json!({"type": "key.added", "key": PublicKey(party.verifying_key()).to_string(), "holder": "p"}), &[&auth]).unwrap(),
        ];
        for i in 0..n {
            events.push(SignedEvent::sign(json!({"type": "note", "n": i}), &[&party]).unwrap());
        }
        let mut prev = [0; 32];
        events
            .into_iter()
            .enumerate()
            .map(|(i, event)| {
                let e = Entry {
                    index: i as u64,
                    prev,
                    time: Timestamp::from_unix_millis(i as u64),
                    event,
                }
                .encode();
                prev = leaf_hash(&e);
                e
            })
            .collect()
    }

    fn audit(entries: &[(u64, Vec<u8>)]) -> Result<Hash, AuditFailure> {
        let mut open = OpenRules;
        let mut a = Auditor::new(&mut open);
        let refs: Vec<(u64, &[u8])> = entries.iter().map(|(p, b)| (*p, b.as_slice())).collect();
        a.check(&refs, |_, _| Ok(()))?;
        Ok(a.root())
    }

    #[test]
    fn a_valid_log_audits_to_its_tree_head() {
        let l = log(10);
        let positioned: Vec<_> = l
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, b)| (i as u64, b))
            .collect();
        let leaves: Vec<Hash> = l.iter().map(|b| leaf_hash(b)).collect();
        assert_eq!(audit(&positioned), Ok(mth(&leaves)));
    }

    #[test]
    fn each_kind_of_damage_is_named_at_its_index() {
        let l = log(6);
        let at = |v: Vec<(u64, Vec<u8>)>| audit(&v).unwrap_err();
        let base: Vec<_> = l
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, b)| (i as u64, b))
            .collect();

        let mut v = base.clone();
        v.remove(4);
        assert_eq!(at(v).index, 4);

        let mut v = base.clone();
        v.swap(3, 5);
        v[3].0 = 3;
        v[5].0 = 5;
        let f = at(v);
        assert_eq!(f.index, 3);
        assert!(f.cause.contains("says index 5"), "{f}");

        let mut v = base.clone();
        let s = String::from_utf8(v[5].1.clone())
            .unwrap()
            .replace("\"n\":3", "\"n\":4");
        v[5].1 = s.into_bytes();
        let f = at(v);
        assert_eq!(f.index, 5);
        assert!(f.cause.contains("signature"), "{f}");
    }
}
