//! The log's own memory of what it published, kept outside the sled database.
//!
//! sled's recovery treats a damaged record as the end of its log: one bad byte on disk can cut
//! the database back to an earlier state without an error. A log that then served or signed
//! that shorter history would fork (the same index with two published versions). So the newest
//! checkpoint the log published is also written to `DIR/published-checkpoint`, after the batch
//! it covers is durable and before anyone can see it, and every open compares the database with
//! it ([`check_reaches`]).
//!
//! Layout: two slots of [`SLOT`] bytes. Each publication overwrites the older slot in place and
//! is made durable with one `fdatasync` (no rename, no directory sync), so a torn write can only
//! damage the slot being written while the other still holds the previous checkpoint, which
//! the database reaches too (it was published after its batch was durable). A slot:
//!
//! ```text
//! 0..8     magic "WLPUBCP1"
//! 8..16    sequence number, u64 big-endian (the newer slot has the higher one)
//! 16..20   length L of the note, u32 big-endian
//! 20..52   SHA-256 of bytes 0..20 followed by the note
//! 52..52+L the checkpoint note exactly as published (C2SP signed note, UTF-8)
//! rest     zero
//! ```
//! A slot of zeros is empty (nothing published into it yet). The checksum finds a torn write
//! cheaply; the note's own Ed25519 signature, checked with the log's key, is what makes the
//! record trustworthy.

use crate::ledger::merkle::Hash;
use crate::ledger::note::{Checkpoint, NoteVerifier};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The record's file name inside the data directory (beside `db/`, not in it).
pub const FILE_NAME: &str = "published-checkpoint";
/// Bytes per slot: a checkpoint note with its signature line is a few hundred bytes.
pub const SLOT: usize = 4096;
const MAGIC: &[u8; 8] = b"WLPUBCP1";
const HEADER: usize = 52;

pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// What the record says the log published last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub size: u64,
    pub root: Hash,
    pub note: String,
}

/// Why the record cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: cannot read it: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{path} is damaged: {cause}")]
    Damaged { path: String, cause: String },
}

/// The record of a log that has published nothing yet: both slots empty. Written, and its
/// directory entry made durable, before the database is created, so a log directory without
/// the file is one made before the record existed (or one that lost it). An empty record left
/// by a creation that stopped before the database existed is taken over.
pub fn create(dir: &Path) -> std::io::Result<()> {
    let path = path_in(dir);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    let mut old = Vec::new();
    f.read_to_end(&mut old)?;
    if old.iter().any(|b| *b != 0) {
        return Err(std::io::Error::other(format!(
            "{} already records a published checkpoint: not creating a new log over it",
            path.display()
        )));
    }
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&[0u8; 2 * SLOT])?;
    f.sync_all()?;
    File::open(dir)?.sync_all()
}

/// The sizes the record's intact slots name, before their signatures are checked (the log's
/// key and name come from the entries): what an open must take the entries' roots at.
pub fn sizes_named(dir: &Path) -> Vec<u64> {
    let Ok(bytes) = std::fs::read(path_in(dir)) else {
        return Vec::new();
    };
    bytes
        .chunks(SLOT)
        .filter_map(|slot| {
            let (_, note) = intact(slot).ok()??;
            Checkpoint::parse_body(&note[..=note.find("\n\n")?]).ok()
        })
        .map(|cp| cp.size)
        .collect()
}

/// Read the record: `Ok(None)` when nothing was published yet. A damaged slot beside a good
/// one is a write torn by a crash (or a bad byte): the good one stands.
pub fn read(dir: &Path, verifier: &NoteVerifier) -> Result<Option<Published>, RecordError> {
    let path = path_in(dir);
    let shown = path.display().to_string();
    let io = |cause| RecordError::Io {
        path: shown.clone(),
        cause,
    };
    let mut bytes = Vec::with_capacity(2 * SLOT);
    File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io)?;
    let damaged = |cause: String| RecordError::Damaged {
        path: shown.clone(),
        cause,
    };
    if bytes.len() != 2 * SLOT {
        return Err(damaged(format!(
            "it holds {} bytes where a record holds {}",
            bytes.len(),
            2 * SLOT
        )));
    }
    let mut newest: Option<(u64, Published)> = None;
    let mut problems = Vec::new();
    for (i, slot) in bytes.chunks(SLOT).enumerate() {
        match parse_slot(slot, verifier) {
            Ok(None) => {}
            Ok(Some((seq, p))) => {
                if newest.as_ref().is_none_or(|(s, _)| seq > *s) {
                    newest = Some((seq, p));
                }
            }
            Err(cause) => problems.push(format!("slot {i}: {cause}")),
        }
    }
    match (newest, problems.is_empty()) {
        (Some((_, p)), _) => Ok(Some(p)),
        (None, true) => Ok(None),
        (None, false) => Err(damaged(problems.join("; "))),
    }
}

/// A slot's sequence number and note if its checksum holds; `None` for an empty slot.
fn intact(slot: &[u8]) -> Result<Option<(u64, &str)>, String> {
    if slot.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    if slot.len() != SLOT || &slot[..8] != MAGIC {
        return Err("not a record slot (wrong magic)".into());
    }
    let seq = u64::from_be_bytes(slot[8..16].try_into().expect("8 bytes"));
    let len = u32::from_be_bytes(slot[16..20].try_into().expect("4 bytes")) as usize;
    if len > SLOT - HEADER {
        return Err(format!("note length {len} does not fit in a slot"));
    }
    let note = &slot[HEADER..HEADER + len];
    if checksum(&slot[..20], note)[..] != slot[20..HEADER] {
        return Err("checksum does not match (torn or damaged)".into());
    }
    let note = std::str::from_utf8(note).map_err(|_| "the note is not UTF-8".to_string())?;
    Ok(Some((seq, note)))
}

fn parse_slot(slot: &[u8], verifier: &NoteVerifier) -> Result<Option<(u64, Published)>, String> {
    let Some((seq, note)) = intact(slot)? else {
        return Ok(None);
    };
    let cp = Checkpoint::open(note, verifier)
        .map_err(|e| format!("the note is not a checkpoint signed by the log's key: {e}"))?;
    Ok(Some((
        seq,
        Published {
            size: cp.size,
            root: cp.root,
            note: note.to_string(),
        },
    )))
}

fn checksum(header: &[u8], note: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(header);
    h.update(note);
    h.finalize().into()
}

/// The open record, written by the sequencer (the only writer) after each durable batch.
pub struct Record {
    file: File,
    seq: u64,
    /// The slot the next publication overwrites: never the one holding the newest intact
    /// checkpoint, so a write torn by a crash always leaves that one standing.
    next: u64,
}

impl Record {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path_in(dir))?;
        let mut bytes = Vec::with_capacity(2 * SLOT);
        file.read_to_end(&mut bytes)?;
        let newest = bytes
            .chunks(SLOT)
            .enumerate()
            .filter_map(|(i, slot)| Some((intact(slot).ok()??.0, i as u64)))
            .max();
        let (seq, next) = match newest {
            Some((seq, slot)) => (seq, 1 - slot),
            None => (0, 0),
        };
        Ok(Record { file, seq, next })
    }

    /// Make `note` the record of the newest published checkpoint, durably.
    pub fn publish(&mut self, note: &str) -> std::io::Result<()> {
        let note = note.as_bytes();
        if note.len() > SLOT - HEADER {
            return Err(std::io::Error::other(format!(
                "a checkpoint note of {} bytes does not fit in the record's slot",
                note.len()
            )));
        }
        let seq = self.seq + 1;
        let mut slot = vec![0u8; SLOT];
        slot[..8].copy_from_slice(MAGIC);
        slot[8..16].copy_from_slice(&seq.to_be_bytes());
        slot[16..20].copy_from_slice(&(note.len() as u32).to_be_bytes());
        let sum = checksum(&slot[..20], note);
        slot[20..HEADER].copy_from_slice(&sum);
        slot[HEADER..HEADER + note.len()].copy_from_slice(note);
        self.file.seek(SeekFrom::Start(self.next * SLOT as u64))?;
        self.file.write_all(&slot)?;
        self.file.sync_data()?;
        self.seq = seq;
        self.next = 1 - self.next;
        Ok(())
    }
}

/// Before anything else is known of a database (an empty one has no entry 0 to name the
/// log's key): if the record's newest intact slot names more entries than the database
/// holds, it lost entries. The slot's signature is not checked here; a refusal is the safe
/// side of a forged record.
pub fn check_size(dir: &Path, size: u64) -> Result<(), String> {
    match sizes_named(dir).into_iter().max() {
        Some(published) if published > size => Err(lost(dir, size, published)),
        _ => Ok(()),
    }
}

fn lost(dir: &Path, size: u64, published: u64) -> String {
    format!(
        "the database in {} holds {size} entries, but the log published a checkpoint of \
         size {published} (recorded in {}): the database has lost entries. {RESTORE}.",
        dir.display(),
        path_in(dir).display()
    )
}

const RESTORE: &str = "Do not serve it: restore the data directory from a mirror or a backup \
                       that reaches the published checkpoint (or from a copy of the database \
                       taken before the damage), then open it again";

/// A record with both slots empty: the log published nothing yet. Only a log that stopped
/// between its genesis batch and that batch's record has entries then (one): more means the
/// record was wiped, and the database cannot be checked against it.
pub fn nothing_published(dir: &Path, size: u64) -> Result<(), String> {
    if size <= 1 {
        return Ok(());
    }
    Err(format!(
        "{} records no published checkpoint, but the database in {} holds {size} entries: the \
         record was wiped. {RESTORE}.",
        path_in(dir).display(),
        dir.display()
    ))
}

/// The database must reach what the log published: at least that many entries, and the same
/// root at that size (`root_at` gives the root of the stored entries at a size). Otherwise the
/// database lost or changed entries, and serving or signing it would fork the log.
pub fn check_reaches(
    dir: &Path,
    published: &Published,
    size: u64,
    root_at: impl FnOnce(u64) -> Result<Hash, String>,
) -> Result<(), String> {
    if size < published.size {
        return Err(lost(dir, size, published.size));
    }
    let root = root_at(published.size)?;
    if root != published.root {
        return Err(format!(
            "the database in {} holds {size} entries, but its first {} do not have the root of \
             the checkpoint the log published at that size (recorded in {}): entries were \
             changed. {RESTORE}.",
            dir.display(),
            published.size,
            path_in(dir).display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::merkle::empty_root;
    use ed25519_dalek::SigningKey;

    fn note(key: &SigningKey, size: u64) -> String {
        Checkpoint {
            origin: "test.wasteledger/log".into(),
            size,
            root: empty_root(),
        }
        .sign(key)
    }

    #[test]
    fn the_newest_intact_slot_stands_and_a_torn_one_falls_back_to_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[3; 32]);
        let v = NoteVerifier::new("test.wasteledger/log", key.verifying_key()).unwrap();
        create(dir.path()).unwrap();
        assert_eq!(read(dir.path(), &v).unwrap(), None, "nothing published yet");
        let mut r = Record::open(dir.path()).unwrap();
        for size in 1..=5 {
            r.publish(&note(&key, size)).unwrap();
        }
        assert_eq!(read(dir.path(), &v).unwrap().unwrap().size, 5);
        // The slots alternate from the first: 1, 3, 5 went to slot 0.
        assert_eq!(sizes_named(dir.path()), vec![5, 4]);
        // Tear the newest: the older one stands.
        let path = path_in(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[60] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(dir.path(), &v).unwrap().unwrap().size, 4);
        // Writing again goes over the torn slot, never over the one that stands.
        let mut r = Record::open(dir.path()).unwrap();
        r.publish(&note(&key, 6)).unwrap();
        assert_eq!(sizes_named(dir.path()), vec![6, 4]);
        assert_eq!(read(dir.path(), &v).unwrap().unwrap().size, 6);
        // Another key's note is not the log's record.
        let other = SigningKey::from_bytes(&[4; 32]);
        let mut r = Record::open(dir.path()).unwrap();
        r.publish(&note(&other, 7)).unwrap();
        r.publish(&note(&other, 8)).unwrap();
        let e = read(dir.path(), &v).unwrap_err().to_string();
        assert!(
            e.contains("damaged") && e.contains("signed by the log's key"),
            "{e}"
        );
        // Creating a log over a record that names a checkpoint is refused.
        assert!(create(dir.path()).is_err());
    }

    #[test]
    fn a_panic_while_reading_the_database_becomes_a_refusal_naming_the_directory() {
        let dir = std::path::Path::new("/srv/wl/data");
        let r: Result<(), _> = super::super::guard(dir, || panic!("page 17 is torn"));
        let e = r.unwrap_err();
        assert!(matches!(e, super::super::StoreError::Damaged(_)));
        let e = e.to_string();
        assert!(
            e.contains("/srv/wl/data") && e.contains("page 17 is torn"),
            "{e}"
        );
    }
}
