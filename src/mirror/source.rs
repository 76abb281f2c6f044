//! One reader of a C2SP tlog-tiles log with two back ends: a base URL (the log's server, or any
//! static server or cache in front of a mirror) or a mirror directory on this machine.

use crate::client::{LogClient, LogSource};
use crate::ledger::audit::AuditFailure;
use crate::ledger::tiles::{bundle_holding, unbundle, Tile};
use anyhow::{bail, Context, Result};
use std::cell::Cell;
use std::path::PathBuf;

pub enum TileSource {
    /// `http://` or `https://`: entry bundles are fetched as a signed reader when the client
    /// has a reader key (a waste log serves them to readers who see everything).
    Http(Box<LogClient>),
    /// A mirror directory: `DIR/checkpoint`, `DIR/tile/...`.
    Dir(PathBuf),
}

/// One entry bundle: the index of its first entry and its entries.
pub type Bundle = (u64, Vec<Vec<u8>>);

thread_local! {
    static FETCHED: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Tiles and bytes fetched by this thread so far (for the mirror's report and its tests).
pub fn fetched() -> (u64, u64) {
    FETCHED.with(|f| f.get())
}

impl TileSource {
    /// A URL (`http://`, `https://`) or else a directory.
    pub fn open(from: &str, reader: Option<ed25519_dalek::SigningKey>) -> TileSource {
        if from.starts_with("http://") || from.starts_with("https://") {
            let mut c = LogClient::new(from);
            if let Some(k) = reader {
                c = c.reading_as(k);
            }
            TileSource::Http(Box::new(c))
        } else {
            TileSource::Dir(PathBuf::from(from))
        }
    }

    /// Where it reads, for messages.
    pub fn describe(&self) -> String {
        match self {
            TileSource::Http(c) => c.base().to_string(),
            TileSource::Dir(d) => d.display().to_string(),
        }
    }

    /// A resource's bytes under the log's prefix; None when it is not there (404, no file).
    fn get(&self, path: &str, signed: bool) -> Result<Option<Vec<u8>>> {
        let bytes = match self {
            TileSource::Http(c) => {
                let (status, body) = c.get_bytes(&format!("/{path}"), signed)?;
                match status {
                    200 => body,
                    404 => return Ok(None),
                    401 | 403 if signed => bail!(
                        "GET {}/{path}: {status} {} (a waste log serves its entry bundles to signed readers who see everything: give --key with such a reader's key)",
                        c.base(),
                        String::from_utf8_lossy(&body)
                    ),
                    _ => bail!(
                        "GET {}/{path}: {status} {}",
                        c.base(),
                        String::from_utf8_lossy(&body)
                    ),
                }
            }
            TileSource::Dir(d) => match std::fs::read(d.join(path)) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", d.display())),
            },
        };
        FETCHED.with(|f| {
            let (n, b) = f.get();
            f.set((n + 1, b + bytes.len() as u64));
        });
        Ok(Some(bytes))
    }

    /// The signed checkpoint note, as served.
    pub fn checkpoint(&self) -> Result<String> {
        let bytes = self
            .get("checkpoint", false)?
            .with_context(|| format!("{} serves no checkpoint", self.describe()))?;
        String::from_utf8(bytes)
            .with_context(|| format!("{}: the checkpoint is not UTF-8", self.describe()))
    }

    /// A tile's bytes. A partial tile that is gone (the log or mirror moved on and replaced it
    /// by its full tile, as tlog-tiles allows) is read as the prefix of the full one.
    pub fn tile(&self, tile: Tile) -> Result<Vec<u8>> {
        let signed = matches!(tile, Tile::Entries { .. });
        if let Some(b) = self.get(&tile.path(), signed)? {
            return Ok(b);
        }
        let full = match tile {
            Tile::Hashes {
                level,
                index,
                width: Some(w),
            } => Some((
                Tile::Hashes {
                    level,
                    index,
                    width: None,
                },
                32 * usize::from(w),
            )),
            Tile::Entries {
                index,
                width: Some(w),
            } => Some((Tile::Entries { index, width: None }, usize::from(w))),
            _ => None,
        };
        if let Some((full, keep)) = full {
            if let Some(b) = self.get(&full.path(), signed)? {
                if matches!(tile, Tile::Hashes { .. }) {
                    return Ok(b[..keep.min(b.len())].to_vec());
                }
                let entries = unbundle(&b).map_err(|e| anyhow::anyhow!("{}: {e}", full.path()))?;
                return crate::ledger::tiles::bundle(entries.into_iter().take(keep))
                    .map_err(anyhow::Error::msg);
            }
        }
        bail!("{} has no /{}", self.describe(), tile.path())
    }

    /// The entries of one bundle of the tree of `size` (`index` in it), each checked to be
    /// there: the count the tile's width says.
    pub fn bundle(&self, index: u64, size: u64) -> Result<Result<Bundle, AuditFailure>> {
        let tile = bundle_holding(index, size).context("no such entry")?;
        let bytes = self.tile(tile)?;
        let first = tile.first().1;
        let entries = match unbundle(&bytes) {
            Ok(e) if e.len() as u64 == tile.count() => e,
            Ok(e) => {
                return Ok(Err(AuditFailure {
                    index: first,
                    cause: format!(
                        "/{} holds {} entries where {} were expected",
                        tile.path(),
                        e.len(),
                        tile.count()
                    ),
                }))
            }
            Err(e) => {
                return Ok(Err(AuditFailure {
                    index: first,
                    cause: format!("/{}: {e}", tile.path()),
                }))
            }
        };
        Ok(Ok((
            first,
            entries.into_iter().map(<[u8]>::to_vec).collect(),
        )))
    }
}

impl LogSource for TileSource {
    fn checkpoint_note(&self) -> Result<String> {
        self.checkpoint()
    }

    fn entries(
        &self,
        start: u64,
        end: u64,
        size: u64,
    ) -> Result<Result<Vec<Vec<u8>>, AuditFailure>> {
        Ok(self.bundle(start, size)?.map(|(first, entries)| {
            let skip = (start - first) as usize;
            let take = (end - start) as usize;
            entries.into_iter().skip(skip).take(take).collect()
        }))
    }
}
