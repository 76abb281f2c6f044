//! The Merkle nodes as stored (derived from the entries; `reindex` rebuilds them): the complete
//! subtrees of the even levels from 2 up ([`is_stored_level`]), each level's nodes in tiles of
//! [`PER_TILE`] under one key of the `node-tiles` tree:
//!
//! ```text
//! level u8 || tile u64 (big-endian) -> the 32-byte hashes of nodes 16·tile, 16·tile + 1, … (1 to 16 of them)
//! ```
//!
//! Only a level's last tile holds fewer than 16, and it is written again, whole, as the level's
//! nodes complete (the tree is derived: a tile is replaced, an entry never is). A batch of 1,024
//! entries writes some 24 keys, where one key a node wrote 341: each sled insert costs
//! microseconds of the sequencer's time. A proof reads as many keys as before. Tiles of 64
//! wrote fewer keys still, for no append rate this machine could tell apart, but the rewritten
//! partial tiles and the sled pages holding 2 KiB values took a tenth more disk an entry, where
//! 16 take a twentieth.
//!
//! Logs written before the tiles keep their nodes one a key in the `nodes` tree: they open
//! only after `wasteledger reindex` has written the tiles ([`check_layout`]).

use super::StoreError;
use crate::ledger::merkle::Hash;

/// The tree's name in the database.
pub(crate) const TREE: &str = "node-tiles";
/// Where earlier versions kept the nodes, one a key (level u8 || index u64 -> hash).
pub(crate) const LEGACY_TREE: &str = "nodes";
/// Nodes a tile holds when full (512 bytes of hashes).
pub(crate) const PER_TILE: u64 = 16;

/// Which complete subtrees are stored: the even levels from 2 up, a third of a node per entry.
/// Any other node is one hash of two neighbours away, and level 0 is the leaf hash of the entry
/// itself, so a proof costs at most twice the reads.
pub(crate) fn is_stored_level(level: u8) -> bool {
    level >= 2 && level.is_multiple_of(2)
}

/// The stored levels a log of any size can have.
pub(crate) fn stored_levels() -> impl Iterator<Item = u8> {
    (1..64u8).filter(|l| is_stored_level(*l))
}

pub(crate) fn key(level: u8, tile: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&tile.to_be_bytes());
    k
}

/// How many nodes a stored tile holds; damage if its length is not that of 1 to [`PER_TILE`]
/// hashes.
pub(crate) fn held(level: u8, tile: u64, value: &[u8]) -> Result<u64, StoreError> {
    let n = value.len() / 32;
    if !value.len().is_multiple_of(32) || n == 0 || n as u64 > PER_TILE {
        return Err(StoreError::Damaged(format!(
            "the Merkle node tile of level {level} #{tile} is {} bytes long, where a tile holds \
             1 to {PER_TILE} hashes of 32 bytes",
            value.len()
        )));
    }
    Ok(n as u64)
}

/// Node `index` of the stored level `level`, if it is stored.
pub(crate) fn get(tree: &sled::Tree, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
    let tile = index / PER_TILE;
    let Some(v) = tree.get(key(level, tile))? else {
        return Ok(None);
    };
    let at = index % PER_TILE;
    if at >= held(level, tile, &v)? {
        return Ok(None);
    }
    let at = at as usize * 32;
    Ok(Some(v[at..at + 32].try_into().expect("32 bytes")))
}

/// Stage `nodes` (of stored levels, each level's in index order, following those `tree` holds)
/// into `batch`, a tile a key: a tile they extend is read from `tree` and written whole.
pub(crate) fn stage(
    tree: &sled::Tree,
    nodes: &[(u8, u64, Hash)],
    batch: &mut sled::Batch,
) -> Result<(), StoreError> {
    // Few tiles a batch (some 24 for 1,024 entries): a list beats a map.
    let mut tiles: Vec<((u8, u64), Vec<u8>)> = Vec::new();
    for &(level, index, hash) in nodes {
        let (tile, at) = (index / PER_TILE, index % PER_TILE);
        let slot = match tiles.iter().position(|(k, _)| *k == (level, tile)) {
            Some(i) => i,
            None => {
                let mut bytes = Vec::with_capacity(PER_TILE as usize * 32);
                if at > 0 {
                    let stored = tree.get(key(level, tile))?.ok_or_else(|| {
                        StoreError::Damaged(format!(
                            "the Merkle node tile of level {level} #{tile} is missing, where \
                             node #{index} follows the ones it holds"
                        ))
                    })?;
                    held(level, tile, &stored)?;
                    bytes.extend_from_slice(&stored);
                }
                tiles.push(((level, tile), bytes));
                tiles.len() - 1
            }
        };
        let bytes = &mut tiles[slot].1;
        if bytes.len() as u64 != at * 32 {
            return Err(StoreError::Damaged(format!(
                "the Merkle node tile of level {level} #{tile} holds {} nodes, where node \
                 #{index} follows them",
                bytes.len() / 32
            )));
        }
        bytes.extend_from_slice(&hash);
    }
    for ((level, tile), bytes) in tiles {
        batch.insert(&key(level, tile), bytes);
    }
    Ok(())
}

/// How many tiles a log of `size` entries stores.
pub(crate) fn tile_count(size: u64) -> u64 {
    stored_levels()
        .map(|l| (size >> l).div_ceil(PER_TILE))
        .sum()
}

/// How many of the first `want` nodes of `level` the tiles hold, counting each tile's own length
/// (a tile cut short, or missing, counts fewer).
pub(crate) fn held_below(tree: &sled::Tree, level: u8, want: u64) -> Result<u64, StoreError> {
    let mut n = 0;
    for kv in tree.range(key(level, 0)..key(level, want.div_ceil(PER_TILE))) {
        let (k, v) = kv?;
        let tile = super::be_u64(&k[1..])?;
        n += held(level, tile, &v)?.min(want - tile * PER_TILE);
    }
    Ok(n)
}

/// The first stored level whose tiles do not end where a log of `size` entries does: its last
/// tile holding exactly the level's last nodes, and no tile past it.
pub(crate) fn first_level_not_ending_at(
    tree: &sled::Tree,
    size: u64,
) -> Result<Option<u8>, StoreError> {
    for level in stored_levels() {
        let have = size >> level;
        let tiles = have.div_ceil(PER_TILE);
        let last_ok = match tiles.checked_sub(1) {
            Some(t) => match tree.get(key(level, t))? {
                Some(v) => held(level, t, &v)? == have - t * PER_TILE,
                None => false,
            },
            None => true,
        };
        let past = tree
            .range(key(level, tiles)..=key(level, u64::MAX))
            .next()
            .is_some();
        if !last_ok || past {
            return Ok(Some(level));
        }
    }
    Ok(None)
}

/// Whether the database still keeps its nodes one a key, as earlier versions wrote them.
pub(crate) fn legacy(db: &sled::Db) -> Result<bool, StoreError> {
    super::holds_old_tree(db, LEGACY_TREE)
}

/// A log whose nodes are still one a key opens after `reindex` has written them as tiles.
pub(crate) fn check_layout(db: &sled::Db, dir: &std::path::Path) -> Result<(), StoreError> {
    if legacy(db)? {
        return Err(StoreError::Setup(format!(
            "the database in {} was written by an earlier wasteledger, which kept the Merkle \
             nodes one a key in the `{LEGACY_TREE}` tree: run `wasteledger reindex --data {}` \
             once to write them anew as tiles",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().unwrap();
        db.open_tree(TREE).unwrap()
    }

    fn h(level: u8, index: u64) -> Hash {
        let mut x = [level; 32];
        x[..8].copy_from_slice(&index.to_be_bytes());
        x
    }

    /// The stored-level nodes of a tree of `size` leaves, in the order appending completes them.
    fn completed(size: u64) -> Vec<(u8, u64, Hash)> {
        let mut f = crate::ledger::merkle::Frontier::default();
        let mut out = Vec::new();
        for i in 0..size {
            f.append(h(0, i), |n| {
                if is_stored_level(n.level) {
                    out.push((n.level, n.index, n.hash))
                }
            });
        }
        out
    }

    /// Nodes staged in batches of any length read back one by one, a tile a key, the last one
    /// of each level short; the tiles end where a log of 600 to 603 entries does.
    #[test]
    fn nodes_staged_in_any_batches_read_back_from_tiles() {
        let all = completed(603);
        // Level 2: 150 nodes in 9 tiles of 16 and one of 6; level 4: 37 in 16, 16, 5; level 6:
        // 9; level 8: 2.
        assert_eq!(all.len(), 150 + 37 + 9 + 2);
        for per_batch in [1usize, 7, 16, 100, 1_000] {
            let t = tree();
            for part in all.chunks(per_batch) {
                let mut b = sled::Batch::default();
                stage(&t, part, &mut b).unwrap();
                t.apply_batch(b).unwrap();
            }
            assert_eq!(t.len() as u64, 10 + 3 + 1 + 1, "batches of {per_batch}");
            assert_eq!(tile_count(603), 15);
            for &(level, index, hash) in &all {
                assert_eq!(
                    get(&t, level, index).unwrap(),
                    Some(hash),
                    "batches of {per_batch}"
                );
            }
            assert_eq!(get(&t, 2, 150).unwrap(), None);
            assert_eq!(get(&t, 4, 37).unwrap(), None);
            assert_eq!(get(&t, 10, 0).unwrap(), None);
            assert_eq!(t.get(key(2, 9)).unwrap().unwrap().len(), 6 * 32);
            assert_eq!(t.get(key(4, 2)).unwrap().unwrap().len(), 5 * 32);
            assert_eq!(held_below(&t, 2, 150).unwrap(), 150);
            assert_eq!(held_below(&t, 2, 100).unwrap(), 100);
            assert_eq!(held_below(&t, 2, 151).unwrap(), 150);
            for size in [600, 603] {
                assert_eq!(first_level_not_ending_at(&t, size).unwrap(), None, "{size}");
            }
            // One node short at level 2, or one past it; level 6 would want a tenth node.
            assert_eq!(first_level_not_ending_at(&t, 604).unwrap(), Some(2));
            assert_eq!(first_level_not_ending_at(&t, 599).unwrap(), Some(2));
            assert_eq!(first_level_not_ending_at(&t, 640).unwrap(), Some(2));
        }
    }

    /// A node that does not follow the stored ones, or a tile of a length no tile has, is
    /// refused as damage: nothing is staged past the hole.
    #[test]
    fn a_gap_or_a_cut_tile_is_damage_named_by_level_and_tile() {
        let t = tree();
        let mut b = sled::Batch::default();
        stage(&t, &[(2, 0, h(2, 0)), (2, 1, h(2, 1))], &mut b).unwrap();
        t.apply_batch(b).unwrap();
        let mut b = sled::Batch::default();
        let gap = stage(&t, &[(2, 3, h(2, 3))], &mut b)
            .unwrap_err()
            .to_string();
        assert!(
            gap.contains("level 2 #0 holds 2 nodes, where node #3"),
            "{gap}"
        );
        let missing = stage(&t, &[(4, 5, h(4, 5))], &mut b)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("level 4 #0 is missing"), "{missing}");
        t.insert(key(2, 0), &[7u8; 40][..]).unwrap();
        let cut = get(&t, 2, 0).unwrap_err().to_string();
        assert!(cut.contains("level 2 #0 is 40 bytes long"), "{cut}");
    }
}
