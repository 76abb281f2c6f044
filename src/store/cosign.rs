//! Witnesses' cosignatures on the log's checkpoints, kept *beside* the log in the
//! `cosignatures` tree: key = tree size (u64 big-endian) || the witness's verifier key string,
//! value = the cosignature line (`— <name> <base64>`, no newline). Not derived from the entries
//! and never part of a proof; `reindex` leaves the tree alone. A cosigned checkpoint is served
//! by re-signing the checkpoint body of that size (Ed25519 is deterministic, so the note is the
//! one the log published at that size) and appending the stored lines.

use super::{be_u64, Ledger, ProofRequestError, StoreError, StoredNodes};
use crate::ledger::cosignature::{cosigners, split_note, WitnessKey};
use crate::ledger::merkle::{self, Hash};
use crate::ledger::note::{Checkpoint, NoteError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use thiserror::Error;

/// Why the log did not take a cosigned checkpoint (nothing is stored then).
#[derive(Debug, Error)]
pub enum CosignatureRefusal {
    #[error("not a signed checkpoint note: {0}")]
    Malformed(String),
    #[error("the checkpoint is not signed by this log's key ({0})")]
    NotSigned(String),
    #[error("the log has no checkpoint of size {size}: it holds {published} entries")]
    NoSuchSize { size: u64, published: u64 },
    #[error("the log never had root {root} at size {size}")]
    OtherRoot { size: u64, root: String },
    #[error("no cosignature line from a witness this log trusts ({0} trusted)")]
    NoTrustedCosignature(usize),
    #[error("the cosignature of {0} does not verify over this checkpoint")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ProofRequestError> for CosignatureRefusal {
    fn from(e: ProofRequestError) -> Self {
        match e {
            ProofRequestError::Store(s) => CosignatureRefusal::Store(s),
            ProofRequestError::Range { detail, .. } => {
                CosignatureRefusal::Store(StoreError::Corrupt(detail))
            }
        }
    }
}

/// What the log kept of a cosigned checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptCosignatures {
    pub size: u64,
    pub root: Hash,
    /// Names of the witnesses whose cosignatures were kept.
    pub witnesses: Vec<String>,
    /// Signature lines ignored (the log's own, unknown keys).
    pub ignored: usize,
}

fn cosig_key(size: u64, witness: &WitnessKey) -> Vec<u8> {
    let mut k = size.to_be_bytes().to_vec();
    k.extend_from_slice(witness.to_string().as_bytes());
    k
}

impl Ledger {
    /// The root of the tree of the first `size` entries (`size` at most the published size).
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofRequestError> {
        self.published("size", size)?;
        Ok(merkle::root(&StoredNodes(&*self.trees()?), size)?)
    }

    /// The log's signed checkpoint note for an earlier (or the current) size.
    pub fn checkpoint_at(&self, size: u64) -> Result<String, ProofRequestError> {
        // The root comes from stored nodes: sign it only if it is consistent with the head,
        // whose root was checked against the entries (the proof checks itself before it is
        // given out), so a damaged node is named, never signed.
        if size > 0 {
            self.consistency_proof(size, self.size())?;
        }
        let cp = Checkpoint {
            origin: self.verifier().name.clone(),
            size,
            root: self.root_at(size)?,
        };
        Ok(cp.sign(self.log_key()))
    }

    /// Take a cosigned checkpoint (the log's note with witnesses' lines): the log's signature
    /// must verify, its size and root must be the log's, and every line naming one of
    /// `trusted` must verify (else nothing is kept). Keeps the valid lines, durably.
    pub fn accept_cosignatures(
        &self,
        note: &str,
        trusted: &[WitnessKey],
    ) -> Result<KeptCosignatures, CosignatureRefusal> {
        let cp = Checkpoint::open(note, self.verifier()).map_err(|e| match e {
            NoteError::NotSigned(k) | NoteError::BadSignature(k) => {
                CosignatureRefusal::NotSigned(k)
            }
            other => CosignatureRefusal::Malformed(other.to_string()),
        })?;
        let published = self.size();
        if cp.size > published || cp.size == 0 {
            return Err(CosignatureRefusal::NoSuchSize {
                size: cp.size,
                published,
            });
        }
        if self.root_at(cp.size)? != cp.root {
            return Err(CosignatureRefusal::OtherRoot {
                size: cp.size,
                root: B64.encode(cp.root),
            });
        }
        let (body, lines) =
            split_note(note).map_err(|e| CosignatureRefusal::Malformed(e.to_string()))?;
        let (valid, invalid) = cosigners(body, &lines, trusted);
        if let Some(&i) = invalid.first() {
            return Err(CosignatureRefusal::Invalid(trusted[i].to_string()));
        }
        if valid.is_empty() {
            return Err(CosignatureRefusal::NoTrustedCosignature(trusted.len()));
        }
        let mut batch = sled::Batch::default();
        let mut witnesses = Vec::new();
        let mut new = false;
        let t = self.trees()?;
        for &(i, _) in &valid {
            let w = &trusted[i];
            let line = lines
                .iter()
                .find(|l| crate::ledger::cosignature::verify_line(body, l, w).is_ok())
                .expect("a valid line is there");
            let key = cosig_key(cp.size, w);
            new |= t
                .cosignatures
                .get(&key)
                .map_err(StoreError::from)?
                .as_deref()
                != Some(line.as_bytes());
            batch.insert(key, line.as_bytes());
            witnesses.push(w.name.clone());
        }
        // The same cosignatures again (a witness retrying, or anyone replaying them) cost no
        // write and no fsync.
        if new {
            t.cosignatures
                .apply_batch(batch)
                .map_err(StoreError::from)?;
            t.sync()?;
        }
        Ok(KeptCosignatures {
            size: cp.size,
            root: cp.root,
            ignored: lines.len() - valid.len(),
            witnesses,
        })
    }

    /// The newest checkpoint of size >= `min_size` that carries valid cosignatures of at least
    /// `quorum` of `witnesses`: the log's signed note for that size with those witnesses'
    /// lines. `None` if there is none.
    pub fn cosigned_checkpoint(
        &self,
        min_size: u64,
        quorum: usize,
        witnesses: &[WitnessKey],
    ) -> Result<Option<String>, StoreError> {
        let published = self.size();
        let trees = self.trees()?;
        let mut iter = trees.cosignatures.iter().rev().peekable();
        while let Some(kv) = iter.next() {
            let (k, v) = kv?;
            let size = be_u64(&k[..8.min(k.len())])?;
            let mut lines = vec![String::from_utf8_lossy(&v).into_owned()];
            while let Some(Ok((k2, _))) = iter.peek() {
                if k2.len() < 8 || k2[..8] != k[..8] {
                    break;
                }
                let (_, v2) = iter.next().expect("peeked")?;
                lines.push(String::from_utf8_lossy(&v2).into_owned());
            }
            if size < min_size {
                break;
            }
            // Too few lines for the quorum: skip before computing a root or signing.
            if size > published || size == 0 || lines.len() < quorum.max(1) {
                continue;
            }
            let note = self.checkpoint_at(size).map_err(|e| match e {
                ProofRequestError::Store(s) => s,
                other => StoreError::Corrupt(other.to_string()),
            })?;
            let (body, _) = split_note(&note).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let (valid, _) = cosigners(body, &refs, witnesses);
            if valid.len() >= quorum.max(1) {
                let mut out = note.clone();
                for (i, _) in valid {
                    let line = refs
                        .iter()
                        .find(|l| {
                            crate::ledger::cosignature::verify_line(body, l, &witnesses[i]).is_ok()
                        })
                        .expect("a valid line is there");
                    out.push_str(line);
                    out.push('\n');
                }
                return Ok(Some(out));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::cosignature::{cosign, open_cosigned};
    use ed25519_dalek::SigningKey;

    #[test]
    fn keeps_trusted_cosignatures_and_serves_the_newest_with_a_quorum() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) =
            crate::bench::fresh_log_with(dir.path(), 2, super::super::Config::default()).unwrap();
        assert_eq!(ledger.size(), 3);
        let keys: Vec<SigningKey> = (0..3u8)
            .map(|i| SigningKey::from_bytes(&[40 + i; 32]))
            .collect();
        let ws: Vec<WitnessKey> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| WitnessKey::new(&format!("w{i}"), k.verifying_key()).unwrap())
            .collect();
        let trusted = &ws[..2];
        let cosigned_by = |size: u64, who: &[usize]| {
            let note = ledger.checkpoint_at(size).unwrap();
            let body = Checkpoint::open(&note, ledger.verifier()).unwrap().body();
            let lines: String = who
                .iter()
                .map(|&i| cosign(&body, &ws[i].name, &keys[i], 1_800_000_000 + size))
                .collect();
            format!("{note}{lines}")
        };
        // The current checkpoint is the one the log published.
        assert_eq!(ledger.checkpoint_at(3).unwrap(), ledger.head().checkpoint);
        assert_eq!(ledger.cosigned_checkpoint(0, 1, trusted).unwrap(), None);
        // Size 2 by both trusted witnesses, size 3 by w0 and by the untrusted w2.
        let kept = ledger
            .accept_cosignatures(&cosigned_by(2, &[0, 1]), trusted)
            .unwrap();
        assert_eq!(kept.witnesses, vec!["w0", "w1"]);
        let kept = ledger
            .accept_cosignatures(&cosigned_by(3, &[0, 2]), trusted)
            .unwrap();
        assert_eq!((kept.witnesses, kept.ignored), (vec!["w0".to_string()], 2));
        // Only w2: refused, nothing kept.
        assert!(matches!(
            ledger.accept_cosignatures(&cosigned_by(1, &[2]), trusted),
            Err(CosignatureRefusal::NoTrustedCosignature(2))
        ));
        let newest = ledger.cosigned_checkpoint(0, 1, trusted).unwrap().unwrap();
        assert_eq!(
            open_cosigned(&newest, ledger.verifier(), trusted, 1)
                .unwrap()
                .checkpoint
                .size,
            3
        );
        // Two of two: the older size 2.
        let two = ledger.cosigned_checkpoint(0, 2, trusted).unwrap().unwrap();
        let c = open_cosigned(&two, ledger.verifier(), trusted, 2).unwrap();
        assert_eq!(c.checkpoint.size, 2);
        assert_eq!(c.checkpoint.root, ledger.root_at(2).unwrap());
        // Not below min_size; nor with witnesses the caller does not trust.
        assert_eq!(ledger.cosigned_checkpoint(3, 2, trusted).unwrap(), None);
        assert_eq!(ledger.cosigned_checkpoint(0, 1, &ws[2..]).unwrap(), None);
        // min_size 2: the newest (size 3) qualifies.
        assert_eq!(
            ledger.cosigned_checkpoint(2, 1, trusted).unwrap(),
            Some(newest)
        );
    }
}
