//! A mirror directory: the log's tile tree as files (`DIR/checkpoint`, `DIR/tile/...`), served
//! as it is by any static server. Every file is written to a temporary name beside it, fsynced
//! and renamed; the directories are fsynced before the checkpoint is written, and the
//! checkpoint last, so a reader never sees a half-written tile or a checkpoint ahead of its
//! tiles. The mirror's own state sits in `DIR/.mirror/` (the pinned log key, the lock);
//! refused checkpoints in `DIR/evidence/`.

use crate::ledger::note::NoteVerifier;
use crate::ledger::tiles::{tiles_of, Tile};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Test hook: `WASTELEDGER_MIRROR_STOP_AFTER=N` ends the process (as a kill would) after N
/// files were written, half-way through the next one.
const STOP_AFTER: &str = "WASTELEDGER_MIRROR_STOP_AFTER";

pub struct MirrorDir {
    root: PathBuf,
    /// Directories that got a new name since the last sync.
    touched: BTreeSet<PathBuf>,
    written: u64,
    stop_after: Option<u64>,
    _lock: File,
}

impl MirrorDir {
    /// Open (creating) a mirror directory; only one mirror writes it at a time.
    pub fn open(root: &Path) -> Result<MirrorDir> {
        let state = root.join(".mirror");
        std::fs::create_dir_all(&state)
            .with_context(|| format!("cannot create {}", state.display()))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(state.join("lock"))
            .with_context(|| format!("cannot open {}", state.join("lock").display()))?;
        if lock.try_lock().is_err() {
            bail!(
                "another mirror is writing {} (its lock {} is held)",
                root.display(),
                state.join("lock").display()
            );
        }
        Ok(MirrorDir {
            root: root.to_path_buf(),
            touched: BTreeSet::new(),
            written: 0,
            stop_after: std::env::var(STOP_AFTER).ok().and_then(|v| v.parse().ok()),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The log key this directory was first mirrored with.
    pub fn pinned(&self) -> Result<Option<NoteVerifier>> {
        let path = self.root.join(".mirror/log-key");
        match std::fs::read_to_string(&path) {
            Ok(t) => Ok(Some(NoteVerifier::parse(t.trim()).with_context(|| {
                format!("{}: not a log verifier key", path.display())
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn pin(&mut self, v: &NoteVerifier) -> Result<()> {
        self.write(".mirror/log-key", format!("{v}\n").as_bytes())?;
        self.sync()
    }

    /// The checkpoint note mirrored last.
    pub fn checkpoint(&self) -> Result<Option<String>> {
        let path = self.root.join("checkpoint");
        match std::fs::read_to_string(&path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn read_tile(&self, tile: Tile) -> Result<Vec<u8>> {
        let path = self.root.join(tile.path());
        std::fs::read(&path).with_context(|| {
            format!(
                "cannot read {} (the mirror's checkpoint needs it)",
                path.display()
            )
        })
    }

    /// Write `bytes` at `rel` atomically: a temporary name in the same directory, fsync,
    /// rename. The new name is durable after [`MirrorDir::sync`].
    pub fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(rel);
        let dir = path.parent().expect("a file under the root").to_path_buf();
        if !dir.exists() {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let name = path.file_name().expect("a file name").to_string_lossy();
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut f =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        if self.stop_after == Some(self.written) {
            let _ = f.write_all(&bytes[..bytes.len() / 2]);
            eprintln!("{STOP_AFTER}: stopping half-way through {}", path.display());
            std::process::exit(86);
        }
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        self.written += 1;
        let mut d = dir.as_path();
        while d.starts_with(&self.root) {
            self.touched.insert(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        Ok(())
    }

    /// Make every rename so far durable (fsync the directories that changed).
    pub fn sync(&mut self) -> Result<()> {
        for d in std::mem::take(&mut self.touched).iter().rev() {
            File::open(d)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("cannot sync {}", d.display()))?;
        }
        Ok(())
    }

    /// Publish `note`: every tile written so far made durable first, the checkpoint last.
    pub fn publish(&mut self, note: &str) -> Result<()> {
        self.sync()?;
        self.write("checkpoint", note.as_bytes())?;
        self.sync()
    }

    /// Files written by this run.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Keep a refused checkpoint beside the one mirrored, under `DIR/evidence/`; the tiles and
    /// the checkpoint are left as they are. Returns the evidence's directory.
    pub fn keep_evidence(
        &mut self,
        what: &str,
        mirrored: &str,
        served: &str,
        from: &str,
        why: &str,
    ) -> Result<PathBuf> {
        let stamp = crate::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now())
            .unix_millis();
        let rel = format!("evidence/{what}-{stamp}");
        self.write(&format!("{rel}/mirrored-checkpoint"), mirrored.as_bytes())?;
        self.write(&format!("{rel}/served-checkpoint"), served.as_bytes())?;
        self.write(
            &format!("{rel}/README"),
            format!(
                "{why}\n\nmirrored-checkpoint: the checkpoint this mirror held (signed by the log).\n\
                 served-checkpoint: the checkpoint {from} served (signed by the same key).\n\
                 Both are signed notes: anyone with the log's verifier key can check them.\n"
            )
            .as_bytes(),
        )?;
        self.sync()?;
        Ok(self.root.join(rel))
    }

    /// After a checkpoint of `size` is published: remove the partial tiles it no longer names
    /// (their full tiles or wider ones are there) and temporary files a stopped run left.
    pub fn tidy(&mut self, size: u64) -> Result<()> {
        let keep: BTreeSet<String> = tiles_of(size).iter().map(Tile::path).collect();
        let tile_root = self.root.join("tile");
        let mut stack = vec![tile_root.clone()];
        while let Some(d) = stack.pop() {
            let Ok(list) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in list.flatten() {
                let p = e.path();
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(p);
                    continue;
                }
                let rel = p
                    .strip_prefix(&self.root)
                    .expect("under the root")
                    .to_string_lossy()
                    .into_owned();
                let name = e.file_name().to_string_lossy().into_owned();
                let stale_tmp = name.starts_with('.') && name.ends_with(".tmp");
                if stale_tmp || (rel.contains(".p/") && !keep.contains(&rel)) {
                    std::fs::remove_file(&p)
                        .with_context(|| format!("cannot remove {}", p.display()))?;
                    self.touched.insert(d.clone());
                }
            }
            if d != tile_root && d.extension().is_some_and(|e| e == "p") {
                // An emptied `.p` directory: gone too (fails harmlessly when not empty).
                if std::fs::remove_dir(&d).is_ok() {
                    self.touched.remove(&d);
                    if let Some(parent) = d.parent() {
                        self.touched.insert(parent.to_path_buf());
                    }
                }
            }
        }
        let root_tmp = self.root.join(".checkpoint.tmp");
        if root_tmp.exists() {
            std::fs::remove_file(&root_tmp).ok();
        }
        self.sync()
    }
}
