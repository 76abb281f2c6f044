//! RFC 9162 (section 2.1) Merkle tree: tree hash, inclusion and consistency proofs, and their
//! verification. Written to be read by a court expert beside the RFC: names follow the RFC text.
//!
//! The tree never needs all leaves in memory. Proof generation asks a [`SubtreeHashes`] source
//! for the hash of aligned, complete subtrees ("perfect" subtrees of 2^level leaves starting at a
//! multiple of 2^level); any other range is combined from those, exactly as MTH defines it.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 output: leaf hash, node hash or tree head.
pub type Hash = [u8; 32];

/// SHA-256 of the empty string: the hash of the empty tree (RFC 9162 2.1.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Leaf hash: SHA-256(0x00 || entry bytes).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// Interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly smaller than `n` (n >= 2): the RFC's split point k.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Where proof generation gets its hashes from: the store keeps every complete, aligned subtree.
pub trait SubtreeHashes {
    type Error;
    /// Hash of leaves `[index << level, (index + 1) << level)`, a complete subtree.
    fn perfect(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// A slice of leaf hashes is a source too (tests, small trees, the auditor's recomputation).
impl SubtreeHashes for [Hash] {
    type Error = std::convert::Infallible;
    fn perfect(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        let start = (index << level) as usize;
        let end = ((index + 1) << level) as usize;
        Ok(mth(&self[start..end]))
    }
}

/// MTH over leaf hashes held in memory (RFC 9162 2.1.1).
pub fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// MTH(D[start:end]) for any range inside a tree, built from complete aligned subtrees.
pub fn subtree_hash<S: SubtreeHashes + ?Sized>(
    src: &S,
    start: u64,
    end: u64,
) -> Result<Hash, S::Error> {
    let n = end - start;
    debug_assert!(n >= 1);
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros() as u8;
        return src.perfect(level, start >> level);
    }
    let k = split(n);
    let left = subtree_hash(src, start, start + k)?;
    let right = subtree_hash(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// Tree head of the first `size` leaves.
pub fn root<S: SubtreeHashes + ?Sized>(src: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree_hash(src, 0, size)
}

/// Audit path for leaf `index` in the tree of `size` leaves, leaf's sibling first (RFC 9162 2.1.3.1).
pub fn inclusion_proof<S: SubtreeHashes + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    assert!(
        index < size,
        "inclusion_proof: index {index} outside tree of size {size}"
    );
    let mut path = Vec::new();
    // Walk down from the root, collecting siblings; the list is reversed at the end so that the
    // leaf's sibling comes first, as the RFC's recursive PATH produces it.
    let (mut start, mut end) = (0u64, size);
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            path.push(subtree_hash(src, start + k, end)?);
            end = start + k;
        } else {
            path.push(subtree_hash(src, start, start + k)?);
            start += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// Consistency proof between the tree of `from` leaves and the tree of `to` leaves
/// (RFC 9162 2.1.4.1, SUBPROOF). Empty when the sizes are equal.
pub fn consistency_proof<S: SubtreeHashes + ?Sized>(
    src: &S,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, S::Error> {
    assert!(
        0 < from && from <= to,
        "consistency_proof: need 0 < from {from} <= to {to}"
    );
    let mut proof = Vec::new();
    if from == to {
        return Ok(proof);
    }
    // SUBPROOF(m, D[start:end], b), iteratively; siblings are pushed top-down and reversed.
    let (mut start, mut end, mut m, mut complete) = (0u64, to, from, true);
    loop {
        let n = end - start;
        if m == n {
            if !complete {
                proof.push(subtree_hash(src, start, end)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            proof.push(subtree_hash(src, start + k, end)?);
            end = start + k;
        } else {
            proof.push(subtree_hash(src, start, start + k)?);
            start += k;
            m -= k;
            complete = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("index {index} is not inside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("proof has {got} hashes; a proof for these sizes has exactly {want}")]
    WrongLength { got: usize, want: usize },
    #[error("sizes are not in order: from {from} to {to}")]
    SizesOutOfOrder { from: u64, to: u64 },
    #[error("no consistency proof exists from an empty tree")]
    FromEmptyTree,
    #[error("equal sizes need an empty proof and equal roots")]
    EqualSizesMismatch,
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
}

/// Verify an inclusion proof (RFC 9162 2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 || r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Number of hashes in the audit path of `index` in a tree of `size`.
fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut start, mut end, mut len) = (0u64, size, 0usize);
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            end = start + k;
        } else {
            start += k;
        }
        len += 1;
    }
    len
}

/// Number of hashes in the consistency proof from `from` to `to` (0 < from < to).
fn consistency_len(from: u64, to: u64) -> usize {
    let (mut start, mut end, mut m, mut complete, mut len) = (0u64, to, from, true, 0usize);
    loop {
        let n = end - start;
        if m == n {
            return len + usize::from(!complete);
        }
        let k = split(n);
        if m <= k {
            end = start + k;
        } else {
            start += k;
            m -= k;
            complete = false;
        }
        len += 1;
    }
}

/// Verify a consistency proof (RFC 9162 2.1.4.2), with transparency-dev's extra rules: exact
/// proof length, an empty proof when the sizes are equal, no proof from size 0.
pub fn verify_consistency(
    from: u64,
    to: u64,
    proof: &[Hash],
    from_root: &Hash,
    to_root: &Hash,
) -> Result<(), ProofError> {
    if from > to {
        return Err(ProofError::SizesOutOfOrder { from, to });
    }
    if from == to {
        if !proof.is_empty() || from_root != to_root {
            return Err(ProofError::EqualSizesMismatch);
        }
        return Ok(());
    }
    if from == 0 {
        return Err(ProofError::FromEmptyTree);
    }
    let want = consistency_len(from, to);
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    // Step 2: if `from` is an exact power of 2, prepend first_hash.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        path.push(*from_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (from - 1, to - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = path[0];
    let mut sr = path[0];
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 || fr != *from_root || sr != *to_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree: the roots of its complete subtrees, largest first. Appending
/// a leaf merges equal-sized subtrees and reports each complete node it created, so the store can
/// persist every perfect subtree exactly once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (level, hash) of each complete subtree on the right edge, largest (leftmost) first.
    peaks: Vec<(u8, Hash)>,
}

/// A complete subtree created by an append: `level` and `index` as in [`SubtreeHashes::perfect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerfectNode {
    pub level: u8,
    pub index: u64,
    pub hash: Hash,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuild the frontier of a tree of `size` leaves from its stored perfect subtrees.
    pub fn load<S: SubtreeHashes + ?Sized>(src: &S, size: u64) -> Result<Self, S::Error> {
        let mut peaks = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1u64 << level) != 0 {
                peaks.push((level, src.perfect(level, start >> level)?));
                start += 1u64 << level;
            }
        }
        Ok(Frontier { size, peaks })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append one leaf hash; calls `created` for the leaf itself (level 0) and every interior
    /// node it completes, bottom-up.
    pub fn append(&mut self, leaf: Hash, mut created: impl FnMut(PerfectNode)) {
        let mut index = self.size;
        let mut level = 0u8;
        let mut hash = leaf;
        created(PerfectNode { level, index, hash });
        while let Some(&(top_level, top_hash)) = self.peaks.last() {
            if top_level != level {
                break;
            }
            self.peaks.pop();
            hash = node_hash(&top_hash, &hash);
            level += 1;
            index >>= 1;
            created(PerfectNode { level, index, hash });
        }
        self.peaks.push((level, hash));
        self.size += 1;
    }

    /// The tree head: peaks folded right to left.
    pub fn root(&self) -> Hash {
        let mut it = self.peaks.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(&(_, last)) => it.fold(last, |acc, (_, h)| node_hash(h, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn frontier_root_matches_mth_and_reports_every_perfect_node() {
        let ls = leaves(37);
        let mut f = Frontier::new();
        let mut created = Vec::new();
        for (i, l) in ls.iter().enumerate() {
            f.append(*l, |n| created.push(n));
            assert_eq!(f.root(), mth(&ls[..=i]), "root at size {}", i + 1);
        }
        // 37 leaves have 37 + 18 + 9 + 4 + 2 + 1 complete aligned subtrees.
        assert_eq!(created.len(), 37 + 18 + 9 + 4 + 2 + 1);
        for n in created {
            assert_eq!(n.hash, ls[..].perfect(n.level, n.index).unwrap());
        }
        assert_eq!(Frontier::load(&ls[..], 37).unwrap(), f);
    }

    proptest! {
        #[test]
        fn every_inclusion_proof_verifies_and_tampering_fails(size in 1u64..300, seed in any::<u64>(), bit in 0usize..256) {
            let ls = leaves(size);
            let index = seed % size;
            let r = mth(&ls);
            let proof = inclusion_proof(&ls[..], index, size).unwrap();
            prop_assert_eq!(verify_inclusion(index, size, &ls[index as usize], &proof, &r), Ok(()));
            // A flipped bit in any hash of the proof.
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let which = (seed as usize / 7) % bad.len();
                bad[which][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_inclusion(index, size, &ls[index as usize], &bad, &r).is_err());
            }
            // A flipped bit in the leaf.
            let mut leaf = ls[index as usize];
            leaf[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_inclusion(index, size, &leaf, &proof, &r).is_err());
            // Wrong index, wrong size.
            if size > 1 {
                let other = (index + 1 + seed % (size - 1)) % size;
                prop_assert!(verify_inclusion(other, size, &ls[index as usize], &proof, &r).is_err());
            }
            // Claimed for another size: it must not lead to that tree's head.
            let bigger = leaves(size + 1);
            prop_assert!(verify_inclusion(index, size + 1, &ls[index as usize], &proof, &mth(&bigger)).is_err());
            if index + 1 < size {
                let smaller = mth(&ls[..size as usize - 1]);
                prop_assert!(verify_inclusion(index, size - 1, &ls[index as usize], &proof, &smaller).is_err());
            }
            // Extra or missing hash.
            let mut longer = proof.clone();
            longer.push(r);
            prop_assert!(verify_inclusion(index, size, &ls[index as usize], &longer, &r).is_err());
        }

        #[test]
        fn every_consistency_proof_verifies_and_tampering_fails(to in 1u64..300, seed in any::<u64>(), bit in 0usize..256) {
            let ls = leaves(to);
            let from = 1 + seed % to;
            let (r1, r2) = (mth(&ls[..from as usize]), mth(&ls));
            let proof = consistency_proof(&ls[..], from, to).unwrap();
            prop_assert_eq!(verify_consistency(from, to, &proof, &r1, &r2), Ok(()));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let which = (seed as usize / 7) % bad.len();
                bad[which][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_consistency(from, to, &bad, &r1, &r2).is_err());
                prop_assert!(verify_consistency(from, to, &proof[1..], &r1, &r2).is_err());
            }
            let mut r1x = r1;
            r1x[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_consistency(from, to, &proof, &r1x, &r2).is_err());
            if from < to {
                let bigger = mth(&leaves(to + 1));
                prop_assert!(verify_consistency(from, to + 1, &proof, &r1, &bigger).is_err());
                let later = mth(&ls[..from as usize + 1]);
                prop_assert!(verify_consistency(from + 1, to, &proof, &later, &r2).is_err());
            }
        }
    }

    #[test]
    fn equal_sizes_and_empty_tree_rules() {
        let ls = leaves(5);
        let r = mth(&ls);
        assert_eq!(verify_consistency(5, 5, &[], &r, &r), Ok(()));
        assert_eq!(
            verify_consistency(5, 5, &[r], &r, &r),
            Err(ProofError::EqualSizesMismatch)
        );
        assert_eq!(
            verify_consistency(0, 5, &[], &empty_root(), &r),
            Err(ProofError::FromEmptyTree)
        );
        assert_eq!(
            verify_consistency(0, 0, &[], &empty_root(), &empty_root()),
            Ok(())
        );
        assert_eq!(
            verify_inclusion(5, 5, &ls[0], &[], &r),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
    }
}
