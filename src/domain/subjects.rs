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
use super::fold::Manifest;
use crate::ledger::time::Timestamp;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// What kind of thing a subject is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// One subject's postings, in log order (columns: time in Unix ms, entry index, packed
/// manifest number, role bits).
#[derive(Clone, Debug, Default)]
pub struct Postings {
    pub at: Vec<u64>,
    pub entry: Vec<u64>,
    pub manifest: Vec<u64>,
    pub roles: Vec<u16>,
}

impl Postings {
    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Positions of the postings with `from <= time < to`.
    pub fn window(&self, from: Option<Timestamp>, to: Option<Timestamp>) -> std::ops::Range<usize> {
        let lo = from.map_or(0, |f| self.at.partition_point(|&t| t < f.unix_millis()));
        let hi = to.map_or(self.at.len(), |t| {
            self.at.partition_point(|&x| x < t.unix_millis())
        });
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

/// The index: subjects interned, their postings, and each manifest's links.
#[derive(Clone, Debug, Default)]
pub struct SubjectIndex {
    subjects: Vec<Subject>,
    ids: HashMap<Subject, u32>,
    postings: Vec<Postings>,
    links: HashMap<u64, Vec<Link>>,
}

impl SubjectIndex {
    pub fn id(&self, s: &Subject) -> Option<u32> {
        self.ids.get(s).copied()
    }

    pub fn subject(&self, id: u32) -> &Subject {
        &self.subjects[id as usize]
    }

    pub fn postings(&self, id: u32) -> &Postings {
        &self.postings[id as usize]
    }

    /// The links of a manifest (entry, subject, roles), in log order.
    pub fn links(&self, manifest: &ManifestNumber) -> &[Link] {
        self.links
            .get(&pack(manifest))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn subject_count(&self) -> usize {
        self.subjects.len()
    }

    /// Total postings (for memory figures).
    pub fn posting_count(&self) -> usize {
        self.postings.iter().map(Postings::len).sum()
    }

    fn intern(&mut self, s: Subject) -> u32 {
        if let Some(&id) = self.ids.get(&s) {
            return id;
        }
        let id = self.subjects.len() as u32;
        self.subjects.push(s.clone());
        self.ids.insert(s, id);
        self.postings.push(Postings::default());
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
        manifests: &BTreeMap<ManifestNumber, Manifest>,
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
                m.issue_index == index || step.is_some_and(|s| s.kind == "manifest.corrected");
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
            for (s, bits) in found {
                let id = self.intern(s);
                let p = &mut self.postings[id as usize];
                p.at.push(time.unix_millis());
                p.entry.push(index);
                p.manifest.push(packed);
                p.roles.push(bits);
                self.links.entry(packed).or_default().push(Link {
                    entry: index,
                    subject: id,
                    roles: bits,
                });
            }
        }
    }
}
