//! PURE: the subject index of the fold (derived, rebuilt at open by replay like the rest of
//! the domain state). For every subject — a plate, a party, a site, a driver's commitment —
//! the (time, entry, manifest) postings in log order, and for every manifest the subjects
//! each of its entries involved (its links, kept in the manifest's own record). Log time
//! never goes backwards, so appending keeps each subject's postings sorted by time: a time
//! window is two binary searches.
//!
//! Kept compact for a million manifests: subjects are interned to a `u32`, manifest numbers
//! (14 digits) are held as a `u64`, postings are columns of plain integers, and an entry that
//! involves a subject in several ways is one posting with a role bit set per way.

use super::codes::ManifestNumber;
use super::table::{enc, Changes, Key, Table};
use crate::ledger::kv::Kv;
use crate::ledger::time::Timestamp;
use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::Arc;

/// What kind of thing a subject is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Plate,
    Party,
    Site,
    /// A driver, by the id the hand-overs carry: a registered person's (`driver_id`), or an
    /// older log's per-load commitment (`driver`); never the clear value.
    Driver,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Plate => "plate",
            SubjectKind::Party => "party",
            SubjectKind::Site => "site",
            SubjectKind::Driver => "driver",
        }
    }
}

/// A subject: its kind and its canonical text (plate, USCC, site id, commitment).
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: String,
}

impl Subject {
    pub fn new(kind: SubjectKind, id: impl Into<String>) -> Subject {
        Subject {
            kind,
            id: id.into(),
        }
    }
}

/// How an entry involved a subject (bits of [`Roles`]).
pub mod role {
    /// A party to the manifest as issued or corrected (issuer, planned hauler, destination's
    /// party, a station making it).
    pub const PARTY: u16 = 1;
    /// Gave the load (hand-over `from`, the inspector of an inspection).
    pub const FROM: u16 = 2;
    /// Took the load.
    pub const TO: u16 = 4;
    pub const VEHICLE: u16 = 8;
    pub const DRIVER: u16 = 16;
    /// Where the step happened (hand-over, weighing or inspection site).
    pub const SITE: u16 = 32;
    pub const ORIGIN: u16 = 64;
    pub const DESTINATION: u16 = 128;
    /// Made a step that names no giver or taker (receipt, weighing, treatment, void,
    /// correction): the party holding the load then.
    pub const ACTOR: u16 = 256;

    pub const NAMES: [(u16, &str); 9] = [
        (PARTY, "party"),
        (FROM, "from"),
        (TO, "to"),
        (VEHICLE, "vehicle"),
        (DRIVER, "driver"),
        (SITE, "site"),
        (ORIGIN, "origin"),
        (DESTINATION, "destination"),
        (ACTOR, "actor"),
    ];

    /// The names of the bits set.
    pub fn names(bits: u16) -> Vec<&'static str> {
        NAMES
            .iter()
            .filter(|(b, _)| bits & b != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

impl Key for Subject {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(self.kind as u8);
        self.id.put(out);
    }
    fn take(b: &mut &[u8]) -> Option<Self> {
        let kind = match u8::take(b)? {
            0 => SubjectKind::Plate,
            1 => SubjectKind::Party,
            2 => SubjectKind::Site,
            3 => SubjectKind::Driver,
            _ => return None,
        };
        Some(Subject::new(kind, String::take(b)?))
    }
}

/// The subjects one entry names in one manifest, each with its role bits ([`role`]).
pub type Named = Vec<(Subject, u16)>;

/// One posting: an entry that involved a subject in a manifest (time in Unix ms, entry
/// index, packed manifest number, role bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posting {
    pub at: u64,
    pub entry: u64,
    pub manifest: u64,
    pub roles: u16,
}

/// One entry's involvement of one subject in a manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub entry: u64,
    pub subject: u32,
    pub roles: u16,
}

/// A link as its manifest's record stores it: (entry, subject, roles).
pub type StoredLink = (u64, u32, u16);

/// A posting as stored: (time ms, entry, packed manifest, roles).
type StoredPosting = (u64, u64, u64, u16);

/// Postings per stored block: a subject's postings are kept in blocks of this many, by
/// position, so that a busy subject costs one write per block, not one per posting.
pub const BLOCK: usize = 64;

/// The index: subjects numbered in the order first seen, and their postings (in blocks of
/// [`BLOCK`], by position). Each manifest's links are kept in the manifest's own record
/// (`fold::ManifestRecord`), which every entry that links it rewrites anyway.
pub struct SubjectIndex {
    /// subject -> its number.
    ids: Table<Subject, u32>,
    /// number -> subject.
    names: Table<u32, Subject>,
    /// (subject, position) -> (time ms, entry, packed manifest, roles).
    /// (subject, block) -> the block's postings.
    postings: Table<(u32, u32), Vec<StoredPosting>>,
    /// subject -> how many postings it has.
    counts: Table<u32, u32>,
    /// "subjects" and "postings": how many of each.
    totals: Table<String, u64>,
}

impl SubjectIndex {
    pub fn new(base: Option<Arc<dyn Kv>>) -> Self {
        let b = || base.clone();
        SubjectIndex {
            ids: Table::new(b'S', b()),
            names: Table::new(b'i', b()),
            postings: Table::new(b't', b()),
            counts: Table::new(b'C', b()),
            totals: Table::new(b'Z', b()),
        }
    }

    pub(super) fn tables<'a>(&'a mut self, out: &mut Vec<&'a mut dyn Changes>) {
        out.push(&mut self.ids);
        out.push(&mut self.names);
        out.push(&mut self.postings);
        out.push(&mut self.counts);
        out.push(&mut self.totals);
    }

    /// Keep what the fold reads (numbers of subjects, counts, totals) decoded.
    pub(super) fn keep_decoded(&mut self, cap: usize) {
        self.ids.keep_decoded(cap);
        self.counts.keep_decoded(cap);
        self.postings.keep_decoded(cap);
        self.totals.keep_decoded(4);
    }

    pub fn id(&self, s: &Subject) -> Option<u32> {
        self.ids.get(s).map(|c| *c)
    }

    pub fn subject(&self, id: u32) -> Subject {
        self.names
            .get(&id)
            .map(Cow::into_owned)
            .unwrap_or_else(|| panic!("subject {id} is not in the index"))
    }

    /// How many postings a subject has.
    pub fn count(&self, id: u32) -> usize {
        self.counts.get(&id).map_or(0, |c| *c as usize)
    }

    /// A subject's postings at positions `range`, in log order.
    pub fn postings_at(&self, id: u32, range: std::ops::Range<usize>) -> Vec<Posting> {
        let mut out = Vec::with_capacity(range.len().min(4 * BLOCK));
        if range.is_empty() {
            return out;
        }
        let from = enc(&(id, (range.start / BLOCK) as u32));
        self.postings
            .scan_from(&enc(&id), &from, &mut |(_, block), v| {
                let first = block as usize * BLOCK;
                for (i, &(at, entry, manifest, roles)) in v.iter().enumerate() {
                    let pos = first + i;
                    if pos >= range.end {
                        return ControlFlow::Break(());
                    }
                    if pos >= range.start {
                        out.push(Posting {
                            at,
                            entry,
                            manifest,
                            roles,
                        });
                    }
                }
                ControlFlow::Continue(())
            });
        out
    }

    fn total(&self, what: &str) -> u64 {
        self.totals.get(&what.to_string()).map_or(0, |c| *c)
    }

    pub fn subject_count(&self) -> usize {
        self.total("subjects") as usize
    }

    /// Total postings (for memory figures).
    pub fn posting_count(&self) -> usize {
        self.total("postings") as usize
    }

    fn add_total(&mut self, what: &str, by: u64) {
        if by > 0 {
            self.totals.upsert(what.to_string(), || 0, |n| *n += by);
        }
    }

    fn intern(&mut self, s: Subject) -> u32 {
        if let Some(id) = self.id(&s) {
            return id;
        }
        let id = self.subject_count() as u32;
        self.names.insert(id, s.clone());
        self.ids.insert(s, id);
        self.add_total("subjects", 1);
        id
    }

    /// Index an admitted entry: for each manifest it created or changed, the subjects it
    /// names there and in which roles (`Manifest::named_at`, the fold's reading of the entry).
    /// Returns each manifest's new links (entry, subject, roles), for its record.
    pub fn record(
        &mut self,
        index: u64,
        time: Timestamp,
        named: Vec<(ManifestNumber, Named)>,
    ) -> Vec<(ManifestNumber, Vec<StoredLink>)> {
        let mut out = Vec::with_capacity(named.len());
        let mut added = 0;
        for (number, found) in named {
            let packed = number.packed();
            let mut links = Vec::with_capacity(found.len());
            for (s, bits) in found {
                let id = self.intern(s);
                let mut n = 0;
                self.counts.upsert(
                    id,
                    || 0,
                    |c| {
                        n = *c;
                        *c += 1;
                    },
                );
                // In place: a block changed in this batch is not copied for each posting.
                self.postings.upsert((id, n / BLOCK as u32), Vec::new, |b| {
                    b.push((time.unix_millis(), index, packed, bits))
                });
                added += 1;
                links.push((index, id, bits));
            }
            out.push((number, links));
        }
        self.add_total("postings", added);
        out
    }
}
