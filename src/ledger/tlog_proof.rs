//! C2SP tlog-proof@v1: a proof that one entry is in the log, which travels alone (a court
//! exhibit is one `.tlog-proof` file plus the entry's bytes). The text form:
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>            (optional, unauthenticated; we write none)
//! index <decimal, no leading zeros>
//! <base64 hash>             (the inclusion proof, leaf's sibling first, one per line)
//! ...
//!
//! <the checkpoint note verbatim, with its signature and cosignature lines>
//! ```
//!
//! Parsing is strict: every line in its place, base64 in its canonical (padded) form, hashes of
//! 32 bytes, no leading zeros, a checkpoint that ends in a newline. Verifying needs only the
//! entry's bytes and the log's verifier key.

use super::merkle::{leaf_hash, verify_inclusion, Hash, ProofError};
use super::note::{Checkpoint, NoteError, NoteVerifier};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use thiserror::Error;

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A parsed tlog-proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque extra data (not authenticated by anything: never trust it).
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    /// The inclusion proof (audit path), the leaf's sibling first.
    pub hashes: Vec<Hash>,
    /// The checkpoint note, verbatim (body, blank line, signature lines).
    pub checkpoint: String,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TlogProofError {
    /// The text is not a tlog-proof (names the line and what was expected).
    #[error("line {line}: expected {expected}")]
    Format { line: usize, expected: String },
    /// The checkpoint does not verify under the log's key (or is malformed).
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("index {index} is not inside the checkpoint's tree of size {size}")]
    OutsideTree { index: u64, size: u64 },
    #[error("proof has {got} hashes, a tree of size {size} needs {want} for index {index}")]
    WrongLength {
        index: u64,
        size: u64,
        got: usize,
        want: usize,
    },
    #[error("inclusion proof does not lead to the checkpoint's root")]
    RootMismatch,
}

/// A checkpoint error in words a reader of a verification report understands.
pub fn describe_note_error(e: &NoteError) -> String {
    match e {
        NoteError::NotSigned(_) => "not signed by the given log key".to_string(),
        NoteError::BadSignature(_) => {
            "a signature line of the given log key does not verify: the note is rejected"
                .to_string()
        }
        other => other.to_string(),
    }
}

impl TlogProof {
    /// The text form.
    pub fn format(&self) -> String {
        let mut out = String::with_capacity(64 + self.hashes.len() * 45 + self.checkpoint.len());
        out.push_str(HEADER);
        out.push('\n');
        if let Some(x) = &self.extra {
            out.push_str("extra ");
            out.push_str(&B64.encode(x));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parse the text form, strictly.
    pub fn parse(text: &str) -> Result<Self, TlogProofError> {
        let bad = |line: usize, expected: &str| TlogProofError::Format {
            line,
            expected: expected.to_string(),
        };
        // The proof part ends at the first empty line; the checkpoint note follows verbatim.
        let split = text
            .find("\n\n")
            .ok_or_else(|| bad(1, "the proof lines, an empty line, then the checkpoint"))?;
        let (head, checkpoint) = (&text[..split], &text[split + 2..]);
        let lines: Vec<&str> = head.split('\n').collect();
        if lines[0] != HEADER {
            return Err(bad(1, &format!("{HEADER:?} as the first line")));
        }
        let mut at = 1;
        let mut extra = None;
        if let Some(x) = lines.get(at).and_then(|l| l.strip_prefix("extra ")) {
            let bytes = B64
                .decode(x)
                .ok()
                .filter(|b| B64.encode(b) == x)
                .ok_or_else(|| bad(at + 1, "`extra ` followed by standard base64"))?;
            extra = Some(bytes);
            at += 1;
        }
        let digits = lines
            .get(at)
            .and_then(|l| l.strip_prefix("index "))
            .ok_or_else(|| bad(at + 1, "`index N`"))?;
        let index: u64 = digits
            .parse()
            .ok()
            .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
            .filter(|_| digits == "0" || !digits.starts_with('0'))
            .ok_or_else(|| {
                bad(
                    at + 1,
                    "`index N` with N a decimal number without leading zeros",
                )
            })?;
        at += 1;
        let mut hashes = Vec::with_capacity(lines.len() - at);
        for (i, l) in lines.iter().enumerate().skip(at) {
            let h: Hash = B64
                .decode(l)
                .ok()
                .filter(|b| B64.encode(b) == *l)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad(i + 1, "a hash: standard base64 of 32 bytes"))?;
            hashes.push(h);
        }
        if checkpoint.is_empty() || !checkpoint.ends_with('\n') {
            return Err(bad(
                lines.len() + 2,
                "the checkpoint note, ending in a newline",
            ));
        }
        Ok(TlogProof {
            extra,
            index,
            hashes,
            checkpoint: checkpoint.to_string(),
        })
    }

    /// The checkpoint, verified with the log's key.
    pub fn open_checkpoint(&self, log: &NoteVerifier) -> Result<Checkpoint, TlogProofError> {
        Checkpoint::open(&self.checkpoint, log)
            .map_err(|e| TlogProofError::Checkpoint(describe_note_error(&e)))
    }

    /// Check the proof's hashes for `entry` against a checkpoint already opened.
    pub fn verify_against(&self, entry: &[u8], cp: &Checkpoint) -> Result<(), TlogProofError> {
        verify_inclusion(
            self.index,
            cp.size,
            &leaf_hash(entry),
            &self.hashes,
            &cp.root,
        )
        .map_err(|e| match e {
            ProofError::IndexOutOfRange { index, size } => {
                TlogProofError::OutsideTree { index, size }
            }
            ProofError::WrongLength { got, want } => TlogProofError::WrongLength {
                index: self.index,
                size: cp.size,
                got,
                want,
            },
            _ => TlogProofError::RootMismatch,
        })
    }

    /// Verify that `entry` is entry `index` of the log whose key is `log`: the checkpoint's
    /// signature, then the inclusion proof against its root. Returns the checkpoint.
    pub fn verify(&self, entry: &[u8], log: &NoteVerifier) -> Result<Checkpoint, TlogProofError> {
        let cp = self.open_checkpoint(log)?;
        self.verify_against(entry, &cp)?;
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::merkle::{inclusion_proof, mth};
    use ed25519_dalek::SigningKey;

    fn log() -> (SigningKey, NoteVerifier) {
        let k = SigningKey::from_bytes(&[9; 32]);
        let v = NoteVerifier::new("example.com/log", k.verifying_key()).unwrap();
        (k, v)
    }

    fn entries(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
    }

    /// A proof for entry `index` of a tree of `n` entries, with its signed checkpoint.
    fn proof_for(index: u64, n: usize) -> (TlogProof, Vec<Vec<u8>>, NoteVerifier) {
        let (k, v) = log();
        let es = entries(n);
        let leaves: Vec<Hash> = es.iter().map(|e| leaf_hash(e)).collect();
        let cp = Checkpoint {
            origin: v.name.clone(),
            size: n as u64,
            root: mth(&leaves),
        };
        let p = TlogProof {
            extra: None,
            index,
            hashes: inclusion_proof(&leaves[..], index, n as u64).unwrap(),
            checkpoint: cp.sign(&k),
        };
        (p, es, v)
    }

    #[test]
    fn formats_as_the_spec_shows_and_parses_back() {
        let (p, es, v) = proof_for(5, 13);
        let text = p.format();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("c2sp.org/tlog-proof@v1"));
        assert_eq!(lines.next(), Some("index 5"));
        assert_eq!(text.lines().filter(|l| l.len() == 44).count(), 4 + 1);
        assert!(text.contains("\n\nexample.com/log\n13\n"), "{text}");
        assert!(text.ends_with('\n'));
        let back = TlogProof::parse(&text).unwrap();
        assert_eq!(back, p);
        let cp = back.verify(&es[5], &v).unwrap();
        assert_eq!(cp.size, 13);
        // With extra data too, and with cosignature lines after the log's signature.
        let mut with_extra = p.clone();
        with_extra.extra = Some(b"context".to_vec());
        with_extra
            .checkpoint
            .push_str("\u{2014} witness.example AAAAAAAA\n");
        let t = with_extra.format();
        assert!(t.starts_with("c2sp.org/tlog-proof@v1\nextra Y29udGV4dA==\nindex 5\n"));
        let back = TlogProof::parse(&t).unwrap();
        assert_eq!(back, with_extra);
        back.verify(&es[5], &v).unwrap();
    }

    #[test]
    fn every_entry_of_small_trees_verifies_and_no_other_entry_does() {
        for n in 1..=9usize {
            for i in 0..n as u64 {
                let (p, es, v) = proof_for(i, n);
                let p = TlogProof::parse(&p.format()).unwrap();
                p.verify(&es[i as usize], &v).unwrap();
                let other = (i as usize + 1) % n;
                if other != i as usize {
                    assert_eq!(p.verify(&es[other], &v), Err(TlogProofError::RootMismatch));
                }
            }
        }
    }

    #[test]
    fn tampering_is_named() {
        let (p, es, v) = proof_for(6, 11);
        // One changed bit in a hash.
        let mut bad = p.clone();
        bad.hashes[1][0] ^= 1;
        assert_eq!(bad.verify(&es[6], &v), Err(TlogProofError::RootMismatch));
        // A dropped hash.
        let mut short = p.clone();
        short.hashes.pop();
        let want = p.hashes.len();
        assert_eq!(
            short.verify(&es[6], &v).unwrap_err().to_string(),
            format!(
                "proof has {} hashes, a tree of size 11 needs {want} for index 6",
                want - 1
            )
        );
        // Another entry's bytes.
        assert_eq!(p.verify(b"entry 6 ", &v), Err(TlogProofError::RootMismatch));
        // An index outside the tree.
        let mut far = p.clone();
        far.index = 11;
        assert_eq!(
            far.verify(&es[6], &v),
            Err(TlogProofError::OutsideTree {
                index: 11,
                size: 11
            })
        );
        // Another log's key.
        let other = NoteVerifier::new(
            "example.com/log",
            SigningKey::from_bytes(&[8; 32]).verifying_key(),
        )
        .unwrap();
        assert_eq!(
            p.verify(&es[6], &other).unwrap_err().to_string(),
            "checkpoint: not signed by the given log key"
        );
    }

    #[test]
    fn parsing_is_strict_and_names_the_line() {
        let (p, _, _) = proof_for(3, 6);
        let good = p.format();
        let line = |t: &str| match TlogProof::parse(t) {
            Err(TlogProofError::Format { line, .. }) => line,
            other => panic!("expected a format error, got {other:?}"),
        };
        assert_eq!(line(&good.replacen("tlog-proof@v1", "tlog-proof@v2", 1)), 1);
        assert_eq!(line(&good.replacen("index 3", "index 03", 1)), 2);
        assert_eq!(line(&good.replacen("index 3", "index +3", 1)), 2);
        assert_eq!(line(&good.replacen("index 3", "idx 3", 1)), 2);
        // A hash that is not 32 bytes, or not canonical base64.
        let h0 = B64.encode(p.hashes[0]);
        assert_eq!(line(&good.replacen(&h0, &h0[..40], 1)), 3);
        let unpadded = h0.trim_end_matches('=').to_string();
        assert_eq!(line(&good.replacen(&h0, &unpadded, 1)), 3);
        // No checkpoint, or one cut short.
        assert!(TlogProof::parse(good.split("\n\n").next().unwrap()).is_err());
        assert!(TlogProof::parse(good.trim_end()).is_err());
        // An index of 0 is written as 0.
        let (p0, es, v) = proof_for(0, 1);
        let t = p0.format();
        assert!(
            t.contains("index 0\n\n"),
            "a one-entry tree needs no hashes: {t}"
        );
        TlogProof::parse(&t).unwrap().verify(&es[0], &v).unwrap();
    }
}
