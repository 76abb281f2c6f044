//! PURE: the log as C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): tile paths, which tiles a
//! tree of a given size has, and entry bundles.
//!
//! A hash tile at level `l`, index `n`, holds up to 256 consecutive Merkle Tree Hashes of
//! perfect subtrees of height `8·l`: hash `i` is `MTH(D[(n·256+i)·256^l : (n·256+i+1)·256^l])`.
//! A tree of size `s` has `floor(s / 256^l)` such hashes at level `l`: every tile of 256 of
//! them is full (and never changes again), the rest form one partial tile of
//! `floor(s / 256^l) mod 256` hashes, served as `.p/<W>`. Level 0 holds the leaf hashes; the
//! entry bundle `tile/entries/<n>` holds the entries those leaves hash, each prefixed with its
//! length as a big-endian `u16` (so no entry may be longer than [`MAX_ENTRY_BYTES`]).
//!
//! Paths encode `n` in zero-padded 3-digit elements, all but the last prefixed with `x`:
//! `1234067` is `x001/x234/067`.

use super::merkle::{self, node_hash, Hash, SubtreeHashes};
use super::note::Checkpoint;

/// Hashes in a full tile (tile height 8).
pub const TILE_WIDTH: u64 = 256;

/// The longest entry an entry bundle can carry: its length prefix is a `u16`.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// One resource of the tile tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tile {
    /// `tile/<level>/<index>[.p/<width>]`.
    Hashes {
        level: u8,
        index: u64,
        /// `Some(w)`: a partial tile of `w` hashes (1..=255); `None`: a full one.
        width: Option<u8>,
    },
    /// `tile/entries/<index>[.p/<width>]`.
    Entries { index: u64, width: Option<u8> },
}

impl Tile {
    /// How many hashes (or entries) this resource holds.
    pub fn count(&self) -> u64 {
        match self {
            Tile::Hashes { width, .. } | Tile::Entries { width, .. } => {
                width.map_or(TILE_WIDTH, u64::from)
            }
        }
    }

    /// The Merkle tree level (height of each hashed subtree) and the index of its first hash
    /// at that height: level 0 for entries.
    pub fn first(&self) -> (u8, u64) {
        match *self {
            Tile::Hashes { level, index, .. } => (level, index * TILE_WIDTH),
            Tile::Entries { index, .. } => (0, index * TILE_WIDTH),
        }
    }

    /// Whether a tree of `size` has every hash (or entry) this resource holds.
    pub fn exists_in(&self, size: u64) -> bool {
        let (level, first) = self.first();
        first
            .checked_add(self.count())
            .is_some_and(|end| end <= hashes_at(level, size))
    }

    /// The path under the log's prefix (`tile/0/x001/x234/067.p/5`).
    pub fn path(&self) -> String {
        let (head, index, width) = match *self {
            Tile::Hashes {
                level,
                index,
                width,
            } => (level.to_string(), index, width),
            Tile::Entries { index, width } => ("entries".to_string(), index, width),
        };
        let mut p = format!("tile/{head}/{}", encode_index(index));
        if let Some(w) = width {
            p.push_str(&format!(".p/{w}"));
        }
        p
    }

    /// Parse a path under `tile/` (`0/x001/x234/067.p/5`, `entries/000`), strictly: one
    /// spelling per resource (no leading zeros in the level or width, 3 digits per element,
    /// `x` on all but the last), level 0..=63, width 1..=255.
    pub fn parse(rest: &str) -> Result<Tile, String> {
        let (head, tail) = rest
            .split_once('/')
            .ok_or_else(|| format!("expected <level>/<index> or entries/<index>, got {rest:?}"))?;
        let (index_part, width) = match tail.split_once(".p/") {
            Some((i, w)) => (i, Some(parse_width(w)?)),
            None => (tail, None),
        };
        let index = parse_index(index_part)?;
        if head == "entries" {
            return Ok(Tile::Entries { index, width });
        }
        let level = parse_decimal(head, 63).map_err(|e| format!("level: {e}"))? as u8;
        Ok(Tile::Hashes {
            level,
            index,
            width,
        })
    }
}

/// How many perfect subtrees of height `8·level` a tree of `size` has (`floor(size /
/// 256^level)`); 0 where `256^level` passes `u64`.
pub fn hashes_at(level: u8, size: u64) -> u64 {
    match 8u32.checked_mul(u32::from(level)) {
        Some(bits) if bits < 64 => size >> bits,
        _ => 0,
    }
}

/// Every resource of the tile tree of a tree of `size`: the full tiles and the partial ones,
/// level by level, entry bundles last.
pub fn tiles_of(size: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    let mut push = |n: u64, make: &dyn Fn(u64, Option<u8>) -> Tile| {
        for index in 0..n / TILE_WIDTH {
            out.push(make(index, None));
        }
        let rest = n % TILE_WIDTH;
        if rest > 0 {
            out.push(make(n / TILE_WIDTH, Some(rest as u8)));
        }
    };
    for level in 0..=63u8 {
        let n = hashes_at(level, size);
        if n == 0 {
            break;
        }
        push(n, &|index, width| Tile::Hashes {
            level,
            index,
            width,
        });
    }
    push(size, &|index, width| Tile::Entries { index, width });
    out
}

/// `1234067` → `x001/x234/067`; `0` → `000`.
pub fn encode_index(n: u64) -> String {
    let mut groups = Vec::new();
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i + 1 == groups.len() {
                format!("{g:03}")
            } else {
                format!("x{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn parse_index(s: &str) -> Result<u64, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let mut n: u64 = 0;
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let digits = if last {
            *p
        } else {
            p.strip_prefix('x').ok_or_else(|| {
                format!("index: every element but the last starts with `x`, got {p:?} in {s:?}")
            })?
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "index: elements of 3 digits (`x001/x234/067`), got {p:?} in {s:?}"
            ));
        }
        // A leading `x000` would give one index two spellings.
        if i == 0 && !last && digits == "000" {
            return Err(format!("index: no leading `x000` element, got {s:?}"));
        }
        let g: u64 = digits.parse().expect("3 ASCII digits");
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(g))
            .ok_or_else(|| format!("index: {s:?} is too large"))?;
    }
    Ok(n)
}

fn parse_width(s: &str) -> Result<u8, String> {
    let w = parse_decimal(s, 255).map_err(|e| format!("width: {e}"))?;
    if w == 0 {
        return Err("width: 1 to 255 (a full tile has no `.p/`), got 0".into());
    }
    Ok(w as u8)
}

/// A decimal integer `0..=max` with no leading zeros.
fn parse_decimal(s: &str, max: u64) -> Result<u64, String> {
    if s.is_empty()
        || !s.bytes().all(|b| b.is_ascii_digit())
        || (s.len() > 1 && s.starts_with('0'))
        || s.len() > 3
    {
        return Err(format!(
            "a decimal integer with no leading zeros, got {s:?}"
        ));
    }
    let v: u64 = s.parse().expect("at most 3 ASCII digits");
    if v > max {
        return Err(format!("at most {max}, got {v}"));
    }
    Ok(v)
}

/// An entry bundle: each entry prefixed with its length as a big-endian `u16`.
pub fn bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        let len = u16::try_from(e.len()).map_err(|_| {
            format!(
                "entry {i} of the bundle is {} bytes; an entry bundle carries at most {MAX_ENTRY_BYTES}",
                e.len()
            )
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// The entries of a bundle, strictly: every length prefix complete, nothing left over.
pub fn unbundle(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err(format!(
                "entry {}: a length prefix needs 2 bytes, {} left",
                out.len(),
                rest.len()
            ));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(format!(
                "entry {}: {len} bytes announced, {} left",
                out.len(),
                tail.len()
            ));
        }
        let (entry, after) = tail.split_at(len);
        out.push(entry);
        rest = after;
    }
    Ok(out)
}

/// The hash tile of the tree of `size` that holds hash `index` of tile level `level` (full, or
/// the tree's partial tile at that level); None when the tree has no such hash.
pub fn tile_holding(level: u8, index: u64, size: u64) -> Option<Tile> {
    let have = hashes_at(level, size);
    if index >= have {
        return None;
    }
    let n = index / TILE_WIDTH;
    let width = (have - n * TILE_WIDTH).min(TILE_WIDTH);
    Some(Tile::Hashes {
        level,
        index: n,
        width: (width < TILE_WIDTH).then_some(width as u8),
    })
}

/// The entry bundle of the tree of `size` that holds entry `index`.
pub fn bundle_holding(index: u64, size: u64) -> Option<Tile> {
    match tile_holding(0, index, size)? {
        Tile::Hashes { index, width, .. } => Some(Tile::Entries { index, width }),
        Tile::Entries { .. } => None,
    }
}

/// The perfect subtree hashes of the tree of `size`, read from its hash tiles: a hash at a
/// height that is a multiple of 8 is one tile's entry, any other is computed from the tile
/// below. `fetch` gets a tile's bytes (from a server, a directory); each tile is fetched once
/// and its length checked.
pub struct TileHashes<F> {
    size: u64,
    fetch: F,
    fetched: std::cell::RefCell<std::collections::HashMap<Tile, Vec<u8>>>,
}

impl<F: Fn(Tile) -> Result<Vec<u8>, String>> TileHashes<F> {
    pub fn new(size: u64, fetch: F) -> Self {
        TileHashes {
            size,
            fetch,
            fetched: Default::default(),
        }
    }

    /// A tile's bytes, fetched once (a hash tile's length checked).
    pub fn tile(&self, tile: Tile) -> Result<Vec<u8>, String> {
        if let Some(b) = self.fetched.borrow().get(&tile) {
            return Ok(b.clone());
        }
        let bytes = (self.fetch)(tile)?;
        if matches!(tile, Tile::Hashes { .. }) && bytes.len() as u64 != 32 * tile.count() {
            return Err(format!(
                "{}: {} bytes where {} hashes of 32 bytes were expected",
                tile.path(),
                bytes.len(),
                tile.count()
            ));
        }
        self.fetched.borrow_mut().insert(tile, bytes.clone());
        Ok(bytes)
    }
}

impl<F: Fn(Tile) -> Result<Vec<u8>, String>> SubtreeHashes for TileHashes<F> {
    type Error = String;
    fn perfect(&self, height: u8, index: u64) -> Result<Hash, String> {
        if !height.is_multiple_of(8) {
            let left = self.perfect(height - 1, 2 * index)?;
            let right = self.perfect(height - 1, 2 * index + 1)?;
            return Ok(node_hash(&left, &right));
        }
        let level = height / 8;
        let tile = tile_holding(level, index, self.size).ok_or_else(|| {
            format!(
                "the tree of size {} has no hash {index} at tile level {level}",
                self.size
            )
        })?;
        let bytes = self.tile(tile)?;
        let at = 32 * (index % TILE_WIDTH) as usize;
        Ok(bytes[at..at + 32].try_into().expect("32 bytes"))
    }
}

/// Why a newer checkpoint of a log cannot follow the one a follower holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Growth {
    /// The log's size went down: it published a longer tree before.
    #[error(
        "roll-back: the log now serves size {new}, smaller than the size {old} already mirrored"
    )]
    RolledBack { old: u64, new: u64 },
    /// Two signed trees where one cannot extend the other.
    #[error("fork: the log's signed tree of size {new} does not contain the tree of size {old} already mirrored ({detail})")]
    Fork { old: u64, new: u64, detail: String },
    /// The hash tiles served do not hash to the checkpoint they are served with: a bad server
    /// or cache, not evidence against the log.
    #[error("the hash tiles served do not match the checkpoint of size {new}: {detail}")]
    BadTiles { new: u64, detail: String },
}

/// Whether `new` extends `old` (both signed checkpoints already opened), with `tiles` the hash
/// tiles of the tree of `new.size`: its root must be `new.root`, and a consistency proof built
/// from them must verify from `old` (as a witness checks one), so a proof failure is a fork.
pub fn check_growth<S: SubtreeHashes<Error = String> + ?Sized>(
    old: &Checkpoint,
    new: &Checkpoint,
    tiles: &S,
) -> Result<(), Growth> {
    if new.size < old.size {
        return Err(Growth::RolledBack {
            old: old.size,
            new: new.size,
        });
    }
    if new.size == old.size {
        if new.root == old.root {
            return Ok(());
        }
        return Err(Growth::Fork {
            old: old.size,
            new: new.size,
            detail: "same size, another root".into(),
        });
    }
    let bad = |detail: String| Growth::BadTiles {
        new: new.size,
        detail,
    };
    if merkle::root(tiles, new.size).map_err(bad)? != new.root {
        return Err(bad("their root is not the checkpoint's".into()));
    }
    if old.size == 0 {
        return Ok(());
    }
    let proof = merkle::consistency_proof(tiles, old.size, new.size).map_err(bad)?;
    merkle::verify_consistency(old.size, new.size, &proof, &old.root, &new.root).map_err(|e| {
        Growth::Fork {
            old: old.size,
            new: new.size,
            detail: format!("the consistency proof from its own hash tiles fails: {e}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_as_the_spec_writes_them() {
        assert_eq!(encode_index(1_234_067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(encode_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
        let t = Tile::Hashes {
            level: 1,
            index: 1_234_067,
            width: Some(5),
        };
        assert_eq!(t.path(), "tile/1/x001/x234/067.p/5");
        assert_eq!(Tile::parse("1/x001/x234/067.p/5"), Ok(t));
        let e = Tile::Entries {
            index: 7,
            width: None,
        };
        assert_eq!(e.path(), "tile/entries/007");
        assert_eq!(Tile::parse("entries/007"), Ok(e));
        for i in [0, 1, 999, 1000, 65_535, 1_234_067, u64::MAX] {
            let t = Tile::Entries {
                index: i,
                width: None,
            };
            assert_eq!(Tile::parse(&t.path()["tile/".len()..]), Ok(t), "{i}");
        }
    }

    #[test]
    fn each_resource_has_one_spelling() {
        for bad in [
            "0/7",
            "0/0007",
            "0/x1/234",
            "0/001/234",
            "0/x000/001",
            "00/000",
            "64/000",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/05",
            "entries/000.p/",
            "0",
            "0/x018/x446/x744/x073/x709/x551/616",
            "hashes/000",
        ] {
            assert!(Tile::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn a_tree_has_the_tiles_the_spec_lists() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
        // level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width
        // 17, and one partial level 2 tile of width 1".
        let hashes: Vec<Tile> = tiles_of(70_000)
            .into_iter()
            .filter(|t| matches!(t, Tile::Hashes { .. }))
            .collect();
        let at = |l: u8| -> Vec<Option<u8>> {
            hashes
                .iter()
                .filter_map(|t| match t {
                    Tile::Hashes { level, width, .. } if *level == l => Some(*width),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(at(0).len(), 274);
        assert_eq!(at(0).iter().filter(|w| w.is_none()).count(), 273);
        assert_eq!(at(0).last(), Some(&Some(112)));
        assert_eq!(at(1), vec![None, Some(17)]);
        assert_eq!(at(2), vec![Some(1)]);
        assert_eq!(at(3), Vec::<Option<u8>>::new());
        // "a tree of size 256 will be represented by a full level 0 tile and a partial level
        // 1 tile of width 1".
        assert_eq!(
            tiles_of(256),
            vec![
                Tile::Hashes {
                    level: 0,
                    index: 0,
                    width: None
                },
                Tile::Hashes {
                    level: 1,
                    index: 0,
                    width: Some(1)
                },
                Tile::Entries {
                    index: 0,
                    width: None
                },
            ]
        );
        assert!(tiles_of(0).is_empty());
        // Partial tiles of earlier sizes stay servable: they are prefixes.
        let p = Tile::Hashes {
            level: 0,
            index: 273,
            width: Some(100),
        };
        assert!(p.exists_in(70_000) && p.exists_in(69_988) && !p.exists_in(69_987));
        assert!(!Tile::Hashes {
            level: 0,
            index: 273,
            width: None
        }
        .exists_in(70_000));
    }

    #[test]
    fn bundles_carry_length_prefixed_entries_and_refuse_a_longer_one() {
        let b = bundle([&b"ab"[..], &b""[..], &[7u8; 300][..]]).unwrap();
        assert_eq!(&b[..4], &[0, 2, b'a', b'b']);
        assert_eq!(&b[4..6], &[0, 0]);
        assert_eq!(&b[6..8], &[1, 44]);
        assert_eq!(
            unbundle(&b).unwrap(),
            vec![&b"ab"[..], &b""[..], &[7u8; 300][..]]
        );
        assert!(bundle([&vec![0u8; MAX_ENTRY_BYTES][..]]).is_ok());
        let too_long = vec![0u8; MAX_ENTRY_BYTES + 1];
        assert!(bundle([&too_long[..]])
            .unwrap_err()
            .contains("at most 65535"));
        assert!(unbundle(&b[..b.len() - 1]).is_err());
        assert!(unbundle(&[0]).is_err());
    }

    /// The hash tiles of a tree of `leaves`, as a server would serve them.
    fn served(leaves: &[Hash]) -> impl Fn(Tile) -> Result<Vec<u8>, String> + '_ {
        move |t: Tile| {
            let (level, first) = t.first();
            let span = 1usize << (8 * u32::from(level));
            Ok((first..first + t.count())
                .flat_map(|i| merkle::mth(&leaves[i as usize * span..(i as usize + 1) * span]))
                .collect())
        }
    }

    #[test]
    fn tile_hashes_give_every_subtree_and_growth_is_checked_as_a_witness_would() {
        let leaves: Vec<Hash> = (0..70_000u32)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        let cp = |n: usize, l: &[Hash]| Checkpoint {
            origin: "o".into(),
            size: n as u64,
            root: merkle::mth(&l[..n]),
        };
        let tiles = TileHashes::new(70_000, served(&leaves));
        for n in [1, 255, 256, 257, 65_536, 69_999, 70_000] {
            assert_eq!(
                merkle::root(&tiles, n),
                Ok(merkle::mth(&leaves[..n as usize]))
            );
        }
        let (old, new) = (cp(1_000, &leaves), cp(70_000, &leaves));
        assert_eq!(check_growth(&old, &new, &tiles), Ok(()));
        assert_eq!(check_growth(&new, &new, &tiles), Ok(()));
        assert!(matches!(
            check_growth(&new, &old, &tiles),
            Err(Growth::RolledBack {
                old: 70_000,
                new: 1_000
            })
        ));
        // Another history with one entry changed: its tiles are its own, and they do not
        // contain the tree already held.
        let mut other = leaves.clone();
        other[10] = [7; 32];
        let forked = TileHashes::new(70_000, served(&other));
        let err = check_growth(&old, &cp(70_000, &other), &forked).unwrap_err();
        assert!(
            matches!(
                err,
                Growth::Fork {
                    old: 1_000,
                    new: 70_000,
                    ..
                }
            ),
            "{err}"
        );
        let same_size = check_growth(&old, &cp(1_000, &other), &forked).unwrap_err();
        assert!(matches!(same_size, Growth::Fork { .. }), "{same_size}");
        // Tiles that do not hash to the checkpoint are the server's fault, not a fork.
        let err = check_growth(&old, &new, &forked).unwrap_err();
        assert!(matches!(err, Growth::BadTiles { .. }), "{err}");
        // A short tile is named.
        let short = TileHashes::new(70_000, |_| Ok(vec![0u8; 31]));
        assert!(merkle::root(&short, 5).unwrap_err().contains("31 bytes"));
        assert_eq!(
            tile_holding(0, 69_999, 70_000),
            Some(Tile::Hashes {
                level: 0,
                index: 273,
                width: Some(112)
            })
        );
        assert_eq!(tile_holding(2, 1, 70_000), None);
        assert_eq!(
            bundle_holding(300, 70_000),
            Some(Tile::Entries {
                index: 1,
                width: None
            })
        );
    }
}
