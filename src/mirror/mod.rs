//! `mirror`: follow a log through its C2SP tiles only and keep a verified copy of its tile tree
//! in a directory that any static server can serve. Each new checkpoint is checked against the
//! pinned log key and against the last one mirrored (`ledger::tiles::check_growth`: a fork or a
//! roll-back is refused and kept as evidence, the directory left as it was); every new entry is
//! re-checked by the audit's fold (`ledger::audit::Auditor`: signatures, chain, the log's
//! rules), and every hash tile must be what the entries compute before it is written.
//!
//! The fold's state (the domain's rules over all earlier entries) is not persisted: each run
//! re-audits the entries already in the directory from its own bundles (no network), then
//! fetches only what is new.

mod dir;
pub mod source;

pub use dir::MirrorDir;
pub use source::TileSource;

use crate::ledger::audit::{AuditFailure, Auditor};
use crate::ledger::merkle::{empty_root, leaf_hash, Hash};
use crate::ledger::note::{Checkpoint, NoteVerifier};
use crate::ledger::state::Rules;
use crate::ledger::tiles::{
    self, check_growth, hashes_at, tile_holding, tiles_of, Growth, Tile, TileHashes, TILE_WIDTH,
};
use anyhow::{anyhow, Result};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A refusal: the log (or what serves it) misbehaved. Not retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What one step of the mirror did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub from: u64,
    pub to: u64,
    /// Tiles (and checkpoints) fetched from the source, and their bytes.
    pub fetched: (u64, u64),
    pub elapsed: Duration,
}

pub struct Options<'a> {
    pub source: &'a TileSource,
    /// The log key to check checkpoints with (else the directory's pinned one, else entry 0's).
    pub log_key: Option<NoteVerifier>,
    pub rules: &'a dyn Rules,
}

/// The mirror of one directory with its audit state at the directory's checkpoint.
pub struct Mirror<'a, 'r> {
    dir: MirrorDir,
    opts: Options<'a>,
    auditor: Auditor<'r>,
    verifier: Option<NoteVerifier>,
    /// The checkpoint mirrored: note, size, root.
    held: Option<(String, Checkpoint)>,
}

impl<'a, 'r> Mirror<'a, 'r> {
    /// Open `dir` and re-audit what it holds from its own files; `fold` is fresh.
    pub fn open(
        dir: MirrorDir,
        opts: Options<'a>,
        fold: &'r mut dyn crate::ledger::state::Fold,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Self> {
        let pinned = dir.pinned()?;
        let verifier = match (&opts.log_key, pinned) {
            (Some(given), Some(p)) if *given != p => {
                return Err(Refused(format!(
                    "--log-key {given} is not the key {} was mirrored with ({p})",
                    dir.root().display()
                ))
                .into())
            }
            (Some(given), _) => Some(given.clone()),
            (None, p) => p,
        };
        let mut m = Mirror {
            dir,
            opts,
            auditor: Auditor::new(fold),
            verifier,
            held: None,
        };
        if let Some(note) = m.dir.checkpoint()? {
            let v = m.verifier.clone().ok_or_else(|| {
                anyhow!(
                    "{} holds a checkpoint but no pinned log key (.mirror/log-key): give --log-key",
                    m.dir.root().display()
                )
            })?;
            let cp = Checkpoint::open(&note, &v).map_err(|e| {
                Refused(format!(
                    "{}/checkpoint: {e} (the pinned log key {v})",
                    m.dir.root().display()
                ))
            })?;
            m.reaudit_local(&cp, progress)?;
            m.held = Some((note, cp));
        }
        Ok(m)
    }

    pub fn size(&self) -> u64 {
        self.held.as_ref().map_or(0, |(_, cp)| cp.size)
    }

    /// Feed the directory's own entry bundles through the auditor: it must reach the
    /// directory's checkpoint.
    fn reaudit_local(&mut self, cp: &Checkpoint, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        let local = TileSource::Dir(self.dir.root().to_path_buf());
        while self.auditor.size() < cp.size {
            let at = self.auditor.size();
            let (first, entries) = local.bundle(at, cp.size)?.map_err(local_damage)?;
            let run = from_index(first, &entries, at);
            self.auditor
                .check(&run, |_, _| Ok(()))
                .map_err(local_damage)?;
            progress(self.auditor.size(), cp.size);
        }
        if self.auditor.root() != cp.root {
            return Err(local_damage(AuditFailure {
                index: cp.size,
                cause: "the root of the entries is not the checkpoint's".into(),
            }));
        }
        Ok(())
    }

    /// Mirror the source's current checkpoint.
    pub fn step(&mut self, progress: &mut dyn FnMut(u64, u64)) -> Result<Step> {
        let started = Instant::now();
        let fetched_before = source::fetched();
        let src = self.opts.source;
        let note = src.checkpoint()?;
        let verifier = match &self.verifier {
            Some(v) => v.clone(),
            None => self.first_use(&note)?,
        };
        let new = Checkpoint::open(&note, &verifier).map_err(|e| {
            Refused(format!(
                "the checkpoint {} serves: {e} (log key {verifier})",
                src.describe()
            ))
        })?;
        let (old_note, old) = match &self.held {
            Some((n, cp)) => (n.clone(), cp.clone()),
            None => (
                String::new(),
                Checkpoint {
                    origin: new.origin.clone(),
                    size: 0,
                    root: empty_root(),
                },
            ),
        };
        let remote = TileHashes::new(new.size, |t| src.tile(t).map_err(|e| format!("{e:#}")));
        if let Err(g) = check_growth(&old, &new, &remote) {
            return Err(match g {
                Growth::BadTiles { .. } => anyhow!(Refused(format!("{}: {g}", src.describe()))),
                Growth::RolledBack { .. } | Growth::Fork { .. } => {
                    let what = if matches!(g, Growth::Fork { .. }) {
                        "fork"
                    } else {
                        "rollback"
                    };
                    let at = self.dir.keep_evidence(
                        &format!("{what}-{}-{}", old.size, new.size),
                        &old_note,
                        &note,
                        &src.describe(),
                        &g.to_string(),
                    )?;
                    anyhow!(Refused(format!(
                        "refused: {g}; {} left unchanged, both signed checkpoints kept in {}",
                        self.dir.root().display(),
                        at.display()
                    )))
                }
            });
        }
        if new.size > old.size {
            self.fetch_new(&old, &new, &remote, progress)?;
            self.dir.publish(&note)?;
            self.dir.tidy(new.size)?;
        }
        self.held = Some((note, new.clone()));
        let (n, b) = source::fetched();
        Ok(Step {
            from: old.size,
            to: new.size,
            fetched: (n - fetched_before.0, b - fetched_before.1),
            elapsed: started.elapsed(),
        })
    }

    /// No key given or pinned: take the one entry 0 names (trust on first use, as `audit`
    /// does), say so, and pin it in the directory.
    fn first_use(&mut self, note: &str) -> Result<NoteVerifier> {
        let size = crate::ledger::note::split_note(note)
            .and_then(|(b, _)| Checkpoint::parse_body(b))
            .map_err(|e| Refused(format!("the checkpoint served: {e}")))?
            .size;
        let (_, entries) = self
            .opts
            .source
            .bundle(0, size)?
            .map_err(|f| Refused(format!("audit failed at {f}")))?;
        let mut fold = self.opts.rules.fresh();
        let mut a = Auditor::new(fold.as_mut());
        a.check(&[(0, entries[0].as_slice())], |_, _| Ok(()))
            .map_err(|f| Refused(format!("audit failed at {f}")))?;
        let key = a
            .state()
            .log_key
            .ok_or_else(|| Refused("entry 0 names no log key".into()))?;
        let v = NoteVerifier::new(&a.state().origin, key.0)
            .map_err(|e| Refused(format!("the log key entry 0 names: {e}")))?;
        eprintln!(
            "note: no --log-key given: trusting the log key entry 0 names ({v}) on first use; pinned in {}/.mirror/log-key. Pin it with --log-key to detect a substituted log",
            self.dir.root().display()
        );
        self.dir.pin(&v)?;
        self.verifier = Some(v.clone());
        Ok(v)
    }

    /// Fetch the entries and tiles between `old` and `new` (checked to extend `old`), audit
    /// them, check every new hash tile against them, and write them (not the checkpoint).
    fn fetch_new<F: Fn(Tile) -> Result<Vec<u8>, String>>(
        &mut self,
        old: &Checkpoint,
        new: &Checkpoint,
        remote: &TileHashes<F>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        if self.verifier.as_ref().is_some() && self.dir.pinned()?.is_none() {
            let v = self.verifier.clone().expect("checked");
            self.dir.pin(&v)?;
        }
        let src = self.opts.source;
        let local = TileSource::Dir(self.dir.root().to_path_buf());
        let refused = |f: AuditFailure| anyhow!(Refused(format!("audit failed at {f}")));
        // Perfect subtrees of height 8·L (L ≥ 1) completed by the new entries.
        let mut completed: HashMap<(u8, u64), Hash> = HashMap::new();
        let mut at = old.size;
        while at < new.size {
            let (first, entries) = src.bundle(at, new.size)?.map_err(refused)?;
            if first < old.size {
                // The entries of the bundle already mirrored must be the same bytes.
                let (_, mine) = local.bundle(first, old.size)?.map_err(local_damage)?;
                if entries[..mine.len()] != mine[..] {
                    return Err(Refused(format!(
                        "{} serves other bytes for entries {first}..{} than those already mirrored",
                        src.describe(),
                        old.size
                    ))
                    .into());
                }
            }
            let run = from_index(first, &entries, at);
            self.auditor
                .check(&run, |_, nodes| {
                    for n in nodes.iter().filter(|n| n.level > 0 && n.level % 8 == 0) {
                        completed.insert((n.level / 8, n.index), n.hash);
                    }
                    Ok(())
                })
                .map_err(refused)?;
            let bundle = tiles::bundle_holding(first, new.size).expect("served");
            let leaves: Vec<u8> = entries.iter().flat_map(|e| leaf_hash(e)).collect();
            let hashes = tile_holding(0, first, new.size).expect("a bundle has its leaf tile");
            if remote.tile(hashes).map_err(anyhow::Error::msg)? != leaves {
                return Err(Refused(format!(
                    "{}: /{} is not the leaf hashes of /{}",
                    src.describe(),
                    hashes.path(),
                    bundle.path()
                ))
                .into());
            }
            let bytes = tiles::bundle(entries.iter().map(Vec::as_slice)).map_err(Refused)?;
            self.dir.write(&bundle.path(), &bytes)?;
            self.dir.write(&hashes.path(), &leaves)?;
            at = first + entries.len() as u64;
            progress(at, new.size);
        }
        if self.auditor.root() != new.root {
            return Err(Refused(format!(
                "audit failed at entry {}: the root of the entries is not the checkpoint's",
                new.size
            ))
            .into());
        }
        // The hash tiles above level 0: each new hash as the entries computed it, each older
        // one as the directory holds it.
        for tile in tiles_of(new.size) {
            let Tile::Hashes {
                level,
                index,
                width,
            } = tile
            else {
                continue;
            };
            if level == 0 || (width.is_none() && tile.exists_in(old.size)) {
                continue;
            }
            let first = index * TILE_WIDTH;
            let before = hashes_at(level, old.size)
                .saturating_sub(first)
                .min(TILE_WIDTH);
            let mut want = if before > 0 {
                let held = tile_holding(level, first, old.size).expect("held");
                self.dir.read_tile(held)?[..32 * before as usize].to_vec()
            } else {
                Vec::new()
            };
            for j in first + before..first + tile.count() {
                let h = completed.get(&(level, j)).ok_or_else(|| {
                    anyhow!("internal: hash {j} at tile level {level} was not computed")
                })?;
                want.extend_from_slice(h);
            }
            if remote.tile(tile).map_err(anyhow::Error::msg)? != want {
                return Err(Refused(format!(
                    "{}: /{} is not what the entries compute",
                    src.describe(),
                    tile.path()
                ))
                .into());
            }
            self.dir.write(&tile.path(), &want)?;
        }
        Ok(())
    }
}

/// The entries of a bundle starting at `first`, from index `at` on, with their positions.
fn from_index(first: u64, entries: &[Vec<u8>], at: u64) -> Vec<(u64, &[u8])> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| (first + i as u64, e.as_slice()))
        .skip((at - first) as usize)
        .collect()
}

fn local_damage(f: AuditFailure) -> anyhow::Error {
    anyhow!(Refused(format!(
        "the mirror directory does not audit (entry {}: {}); it is not a copy of the log: \
         move it aside and mirror again",
        f.index, f.cause
    )))
}
