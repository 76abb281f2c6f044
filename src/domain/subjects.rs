//! PURE: the subject index of the fold (derived, rebuilt at open by replay like the rest of
//! the domain state). For every subject — a plate, a party, a site, a driver's commitment —
//! the (time, entry, manifest) postings in log order, and for every manifest the subjects
//! each of its entries involved. Log time never goes backwards, so appending keeps each
//! subject's postings sorted by time: a time window is two binary searches.
//!
//! Kept compact for a million manifests: subjects are interned to a `u32`, manifest numbers
//! (14 digits) are held as a `u64`, postings are columns of plain integers, and an entry that
//! involves a subject in several ways is one posting with a role bit set per way.

use super::codes::ManifestNumber;
use super::model::{Manifest, StepKind};
use super::query::DomainQuery;
use super::table::{enc, Changes, Table};
use crate::ledger::kv::Kv;
use crate::ledger::time::Timestamp;
use serde_json::{Map, Value};
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

/// A manifest number as an integer (14 digits fit in a `u64`).
pub fn pack(n: &ManifestNumber) -> u64 {
    n.as_str().parse().expect("a manifest number is 14 digits")
}

/// The manifest number of a packed one.
pub fn unpack(n: u64) -> ManifestNumber {
    ManifestNumber::parse(&format!("{n:014}")).expect("packed from a manifest number")
}

/// One posting: an entry that involved a subject in a manifest (time in Unix ms, entry
/// index, packed manifest number, role bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posting {
    pub at: u64,
    pub entry: u64,
    pub manifest: u64,
    pub roles: u16,
}

/// Postings read per fetch by a [`PostingReader`].
const RUN: usize = 128;

/// A subject's postings read by position, a run at a time: a subject may have hundreds of
/// thousands, and a page needs a few.
pub struct PostingReader<'d> {
    d: &'d dyn DomainQuery,
    id: u32,
    len: usize,
    start: usize,
    run: Vec<Posting>,
}

impl<'d> PostingReader<'d> {
    pub fn new(d: &'d dyn DomainQuery, id: u32) -> Self {
        PostingReader {
            d,
            id,
            len: d.posting_count(id),
            start: 0,
            run: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The posting at `pos` (< `len`), fetching the run around it if it is not held.
    pub fn get(&mut self, pos: usize) -> Posting {
        if !(self.start..self.start + self.run.len()).contains(&pos) {
            // Runs are read in either direction: take the run that ends or starts at `pos`
            // as the previous one lay below or above it.
            let lo = if pos < self.start {
                (pos + 1).saturating_sub(RUN)
            } else {
                pos
            };
            let hi = (lo + RUN).min(self.len);
            self.run = self.d.postings_at(self.id, lo..hi);
            self.start = lo;
        }
        self.run[pos - self.start]
    }

    /// Positions of the postings with `from <= time < to` (log time never goes backwards,
    /// so each end is a binary search).
    pub fn window(
        &mut self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> std::ops::Range<usize> {
        let first_at_or_after = |r: &mut Self, t: u64| {
            let (mut lo, mut hi) = (0, r.len);
            while lo < hi {
                let mid = (lo + hi) / 2;
                let at =
                    r.d.postings_at(r.id, mid..mid + 1)
                        .first()
                        .map_or(u64::MAX, |p| p.at);
                if at < t {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        let lo = from.map_or(0, |f| first_at_or_after(self, f.unix_millis()));
        let hi = to.map_or(self.len, |t| first_at_or_after(self, t.unix_millis()));
        lo..hi.max(lo)
    }
}

/// One entry's involvement of one subject in a manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub entry: u64,
    pub subject: u32,
    pub roles: u16,
}

/// A posting as stored: (time ms, entry, packed manifest, roles).
type StoredPosting = (u64, u64, u64, u16);

/// Postings per stored block: a subject's postings are kept in blocks of this many, by
/// position, so that a busy subject costs one write per block, not one per posting.
pub const BLOCK: usize = 64;

/// The index: subjects numbered in the order first seen, their postings (in blocks of
/// [`BLOCK`], by position), and each manifest's links (one list per manifest).
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
    /// (packed manifest, entry, position in the entry) -> (subject, roles).
    /// packed manifest -> its links: (entry, subject, roles), in log order.
    links: Table<u64, Vec<(u64, u32, u16)>>,
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
            links: Table::new(b'T', b()),
            totals: Table::new(b'Z', b()),
        }
    }

    pub(super) fn each_table(&mut self, f: &mut dyn FnMut(&mut dyn Changes)) {
        f(&mut self.ids);
        f(&mut self.names);
        f(&mut self.postings);
        f(&mut self.counts);
        f(&mut self.links);
        f(&mut self.totals);
    }

    /// Keep what the fold reads (numbers of subjects, counts, totals) decoded.
    pub(super) fn keep_decoded(&mut self, cap: usize) {
        self.ids.keep_decoded(cap);
        self.counts.keep_decoded(cap);
        self.postings.keep_decoded(cap);
        self.links.keep_decoded(cap);
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
        let mut out = Vec::with_capacity(range.len().min(RUN));
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

    /// The links of a manifest (entry, subject, roles), in log order.
    pub fn links(&self, manifest: &ManifestNumber) -> Vec<Link> {
        self.links
            .get(&pack(manifest))
            .map(|l| {
                l.iter()
                    .map(|&(entry, subject, roles)| Link {
                        entry,
                        subject,
                        roles,
                    })
                    .collect()
            })
            .unwrap_or_default()
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

    fn add_total(&mut self, what: &str) {
        let n = self.total(what) + 1;
        self.totals.insert(what.to_string(), n);
    }

    fn intern(&mut self, s: Subject) -> u32 {
        if let Some(id) = self.id(&s) {
            return id;
        }
        let id = self.subject_count() as u32;
        self.names.insert(id, s.clone());
        self.ids.insert(s, id);
        self.add_total("subjects");
        id
    }

    /// Index an admitted entry that created or changed the manifests `touched` (already
    /// applied to `manifests`): the subjects of each one's step at this entry, plus the
    /// event's site and driver, plus, when it was created or corrected here, its parties,
    /// origin and destination.
    pub fn record(
        &mut self,
        index: u64,
        time: Timestamp,
        event: &Map<String, Value>,
        touched: &[ManifestNumber],
        manifests: &Table<ManifestNumber, Manifest>,
    ) {
        let site = event.get("site").and_then(Value::as_str);
        // A registered person's id (`driver_id`), or an older log's per-load commitment.
        let driver = event
            .get("driver_id")
            .or_else(|| event.get("driver"))
            .and_then(Value::as_str);
        for number in touched {
            let Some(m) = manifests.get(number) else {
                continue;
            };
            let mut found: Vec<(Subject, u16)> = Vec::new();
            let mut add = |kind: SubjectKind, id: &str, bits: u16| match found
                .iter_mut()
                .find(|(s, _)| s.kind == kind && s.id == id)
            {
                Some((_, b)) => *b |= bits,
                None => found.push((Subject::new(kind, id), bits)),
            };
            let step = m.steps.iter().rev().find(|s| s.index == index);
            if let Some(s) = step {
                if let Some(p) = &s.from {
                    add(SubjectKind::Party, p.as_str(), role::FROM);
                }
                if let Some(p) = &s.to {
                    add(SubjectKind::Party, p.as_str(), role::TO);
                }
                if let Some(v) = &s.vehicle {
                    add(SubjectKind::Plate, v.as_str(), role::VEHICLE);
                }
                if s.from.is_none() && s.to.is_none() {
                    add(SubjectKind::Party, m.holder.as_str(), role::ACTOR);
                }
            }
            let declared =
                m.issue_index == index || step.is_some_and(|s| s.kind == StepKind::Corrected);
            if declared {
                for p in &m.parties {
                    add(SubjectKind::Party, p.as_str(), role::PARTY);
                }
                add(SubjectKind::Site, &m.origin, role::ORIGIN);
                add(
                    SubjectKind::Site,
                    &m.current().destination,
                    role::DESTINATION,
                );
            }
            if let Some(s) = site {
                add(SubjectKind::Site, s, role::SITE);
            }
            if let Some(d) = driver {
                add(SubjectKind::Driver, d, role::DRIVER);
            }
            let packed = pack(number);
            let mut links = Vec::with_capacity(found.len());
            for (s, bits) in found {
                let id = self.intern(s);
                let n = self.counts.get(&id).map_or(0, |c| *c);
                // In place: a block changed in this batch is not copied for each posting.
                self.postings.upsert((id, n / BLOCK as u32), Vec::new, |b| {
                    b.push((time.unix_millis(), index, packed, bits))
                });
                self.counts.insert(id, n + 1);
                self.add_total("postings");
                links.push((index, id, bits));
            }
            self.links
                .upsert(packed, Vec::new, |l| l.extend_from_slice(&links));
        }
    }
}
