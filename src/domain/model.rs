//! The domain's model as readers see it: manifests with their versions, steps and flags; the
//! registry's records (parties, licences, vehicles, sites, persons); pulls of evidence and
//! notes on anomalies; the limits the rules flag against. The fold (`fold.rs`) keeps them;
//! nothing here decides.

use super::codes::{ManifestNumber, Plate, Quantity, Uscc};
use super::events::*;
use super::subjects::{role, Named, Subject, SubjectKind};
use crate::ledger::event::PublicKey;
use crate::ledger::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Limits the rules flag against, per stream.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest allowed difference between two counts of the same line, in parts per thousand.
    pub hazardous_tolerance_permille: u64,
    pub construction_tolerance_permille: u64,
    /// Longest a load may be on the road (from pickup, or from leaving a station) before it is
    /// flagged overdue.
    pub hazardous_transit_ms: u64,
    pub construction_transit_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hazardous_tolerance_permille: 20,
            construction_tolerance_permille: 100,
            hazardous_transit_ms: 72 * 3_600_000,
            construction_transit_ms: 24 * 3_600_000,
        }
    }
}

impl Limits {
    pub fn tolerance_permille(&self, s: Stream) -> u64 {
        match s {
            Stream::Hazardous => self.hazardous_tolerance_permille,
            Stream::Construction => self.construction_tolerance_permille,
        }
    }
    pub fn transit_ms(&self, s: Stream) -> u64 {
        match s {
            Stream::Hazardous => self.hazardous_transit_ms,
            Stream::Construction => self.construction_transit_ms,
        }
    }
}

/// Where a party's key entered and (if it did) left the registry: the log entries a court
/// needs to see that a signature was made with a key valid at that time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntries {
    /// The `key.added` entry.
    pub added: u64,
    /// The `key.revoked` entry, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<u64>,
    /// For a device key (`added` is then its `key.delegated` entry): the key that delegated it.
    #[serde(skip)]
    pub delegated_by: Option<PublicKey>,
}

/// One pull of evidence (`evidence.exported`): readable by those who see everything only, and
/// never shown on the manifests themselves (a party must not learn from its own manifest that it
/// is under investigation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// The entry of the `evidence.exported` event.
    pub index: u64,
    /// When the log recorded it.
    pub time: Timestamp,
    pub by: Uscc,
    /// `true` when the authority's key signed it (acting for `by`).
    pub by_authority: bool,
    pub case: String,
    pub reason: String,
    pub manifests: Vec<ManifestNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// When the party says it pulled.
    pub at: Timestamp,
}

/// What was done about an anomaly (`case.noted`): readable by those who see everything only,
/// like the pulls of evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseNote {
    /// The entry of the `case.noted` event.
    pub index: u64,
    /// When the log recorded it.
    pub time: Timestamp,
    pub by: Uscc,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// When the party says it was done.
    pub at: Timestamp,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Party {
    pub id: Uscc,
    pub name: String,
    pub roles: Vec<Role>,
    pub index: u64,
    pub keys: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Licence {
    #[serde(flatten)]
    pub grant: LicenceGranted,
    pub index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<(Timestamp, u64)>,
}

impl Licence {
    /// Why this licence does not cover `at`, if it does not.
    pub fn lapse(&self, at: Timestamp) -> Option<String> {
        let g = &self.grant;
        if at < g.valid_from {
            return Some(format!(
                "licence {} is valid only from {}",
                g.licence, g.valid_from
            ));
        }
        if at >= g.valid_until {
            return Some(format!("licence {} expired {}", g.licence, g.valid_until));
        }
        match self.revoked {
            Some((eff, _)) if eff <= at => {
                Some(format!("licence {} was revoked effective {eff}", g.licence))
            }
            _ => None,
        }
    }

    /// Whether the licence's kind and scope cover the line (validity aside).
    pub fn covers(&self, stream: Stream, line: &Line) -> bool {
        self.covers_waste(stream, line.code.as_ref(), line.cw_type)
    }

    /// Whether the licence's kind and scope cover a line of this code or type.
    pub fn covers_waste(
        &self,
        stream: Stream,
        code: Option<&super::codes::WasteCode>,
        cw_type: Option<super::codes::CwType>,
    ) -> bool {
        let g = &self.grant;
        match stream {
            Stream::Hazardous => {
                g.kind == LicenceKind::HwOperating
                    && code.is_some_and(|c| {
                        g.codes.contains(c) || g.categories.contains(&c.category())
                    })
            }
            Stream::Construction => {
                g.kind == LicenceKind::CwDisposal
                    && cw_type.is_some_and(|t| g.cw_types.contains(&t))
            }
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Vehicle {
    pub plate: Plate,
    pub party: Uscc,
    pub permits: Vec<Permit>,
    pub index: u64,
    /// Track points logged for it, and the last one.
    pub track_points: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_position: Option<TrackPoint>,
}

/// A registered person (`person.registered`): a pseudonymous id, never a name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Person {
    #[serde(flatten)]
    pub reg: PersonRegistered,
    pub index: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Site {
    #[serde(flatten)]
    pub reg: SiteRegistered,
    pub index: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Issued,
    InTransit,
    AtStation,
    Delivered,
    Received,
    Rejected,
    Returned,
    Treated,
    Voided,
    /// Went on as part of a consolidated load (see `onward`).
    Consolidated,
    /// Went on as several loads (see `onward`).
    Split,
}

impl Status {
    /// No load may move under a manifest in this status any more (the log signs no new code
    /// for it).
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            Status::Voided
                | Status::Treated
                | Status::Consolidated
                | Status::Split
                | Status::Returned
        )
    }

    pub fn parse(s: &str) -> Option<Status> {
        serde_json::from_value(serde_json::Value::String(s.into())).ok()
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Issued => "issued",
            Status::InTransit => "in_transit",
            Status::AtStation => "at_station",
            Status::Delivered => "delivered",
            Status::Received => "received",
            Status::Rejected => "rejected",
            Status::Returned => "returned",
            Status::Treated => "treated",
            Status::Voided => "voided",
            Status::Consolidated => "consolidated",
            Status::Split => "split",
        }
    }
}

impl<'de> serde::Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        const ALL: [Status; 11] = [
            Status::Issued,
            Status::InTransit,
            Status::AtStation,
            Status::Delivered,
            Status::Received,
            Status::Rejected,
            Status::Returned,
            Status::Treated,
            Status::Voided,
            Status::Consolidated,
            Status::Split,
        ];
        ALL.into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown status {s:?}")))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// Two counts of the same line differ beyond the stream's tolerance.
    QuantityGap,
    /// The station or receiver taking the load has no valid licence for its code or type.
    NotLicensed,
    /// The hauler or the vehicle lacks the licence or permit the stream needs.
    NoPermit,
    /// In transit longer than the stream allows (computed at the time of reading).
    Overdue,
    /// A hazardous code that is not in the loaded catalog.
    UnknownCode,
    /// Delivered to a party other than the destination's.
    Diverted,
    /// An inspector saw the load on a truck other than the one the log's hand-over put it on.
    WrongVehicle,
    /// The hand-over's driver is registered to a party other than the two handing over and
    /// taking (a subcontracted driver, or a wrong id): the step happened, so it is flagged.
    ForeignDriver,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub kind: FlagKind,
    /// The log entry behind the flag.
    pub index: u64,
    pub detail: String,
}

/// One version of a manifest's declaration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Version {
    pub version: u32,
    pub index: u64,
    pub time: Timestamp,
    pub destination: String,
    pub haulers: Vec<Uscc>,
    pub lines: Vec<Line>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One event on a manifest, by its log index.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Step {
    pub index: u64,
    pub time: Timestamp,
    #[serde(rename = "type")]
    pub kind: StepKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Uscc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Uscc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<Plate>,
    /// Quantity per line counted at this step, when it counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantities: Option<Vec<Quantity>>,
}

/// The kinds of step a manifest records; on the wire and in the read model each is
/// the name of the event that made it (`as_str`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StepKind {
    #[serde(rename = "manifest.issued")]
    Issued,
    #[serde(rename = "manifest.corrected")]
    Corrected,
    #[serde(rename = "manifest.voided")]
    Voided,
    #[serde(rename = "custody.handover")]
    Handover,
    #[serde(rename = "custody.received")]
    Received,
    #[serde(rename = "custody.weighed")]
    Weighed,
    #[serde(rename = "custody.treated")]
    Treated,
    #[serde(rename = "inspection.recorded")]
    Inspection,
    #[serde(rename = "station.consolidated")]
    Consolidated,
    #[serde(rename = "station.split")]
    Split,
}

impl StepKind {
    /// Every kind, in the order a manifest's life runs.
    pub const ALL: [StepKind; 10] = [
        StepKind::Issued,
        StepKind::Corrected,
        StepKind::Voided,
        StepKind::Handover,
        StepKind::Received,
        StepKind::Weighed,
        StepKind::Treated,
        StepKind::Inspection,
        StepKind::Consolidated,
        StepKind::Split,
    ];

    /// The kind as written in a manifest's steps (the event type that made it).
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Issued => "manifest.issued",
            StepKind::Corrected => "manifest.corrected",
            StepKind::Voided => "manifest.voided",
            StepKind::Handover => "custody.handover",
            StepKind::Received => "custody.received",
            StepKind::Weighed => "custody.weighed",
            StepKind::Treated => "custody.treated",
            StepKind::Inspection => "inspection.recorded",
            StepKind::Consolidated => "station.consolidated",
            StepKind::Split => "station.split",
        }
    }
}

impl std::fmt::Display for StepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Step {
    pub(super) fn at(index: u64, time: Timestamp, kind: StepKind) -> Step {
        Step {
            index,
            time,
            kind,
            from: None,
            to: None,
            vehicle: None,
            quantities: None,
        }
    }

    pub(super) fn counting(mut self, q: Vec<Quantity>) -> Step {
        self.quantities = Some(q);
        self
    }

    /// Given by `from` (the holder, or whoever acted: an inspector) to `to`.
    pub(super) fn between(mut self, from: Uscc, to: Option<Uscc>) -> Step {
        self.from = Some(from);
        self.to = to;
        self
    }

    /// On (or seen on) `vehicle`.
    pub(super) fn on(mut self, vehicle: Option<Plate>) -> Step {
        self.vehicle = vehicle;
        self
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub number: ManifestNumber,
    /// The issuer's own reference (for a manifest a station makes: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub stream: Stream,
    /// The party that issued it (the generator, or the station for an outgoing load).
    pub issuer: Uscc,
    pub origin: String,
    pub issued_at: Timestamp,
    pub issue_index: u64,
    pub status: Status,
    pub holder: Uscc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<Plate>,
    /// The current declaration is the last version. A version is never changed once declared:
    /// shared, so that the fold's copy of a manifest to change does not copy its declarations
    /// (written and read as the version itself).
    pub versions: Vec<std::sync::Arc<Version>>,
    /// The last count of each line (declared, handed over, weighed or accepted).
    pub quantities: Vec<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_transit_since: Option<Timestamp>,
    /// The entry that put the load on the road (behind an overdue flag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_transit_index: Option<u64>,
    /// Who takes back a rejected load (its return ends at that party).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<Uscc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<Quantity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub treated: Vec<Quantity>,
    /// Manifests this one was made from (consolidation or split at a station).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ManifestNumber>,
    /// Manifests this one went on as.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onward: Vec<ManifestNumber>,
    pub steps: Vec<Step>,
    pub flags: Vec<Flag>,
    /// Every party that has been a party to it (sees it).
    pub parties: BTreeSet<Uscc>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub vehicles: BTreeSet<Plate>,
}

impl Manifest {
    /// The subjects entry `index` names in this manifest (already applied to it), each with
    /// its roles, for the subject index: the parties, vehicle (or holder) of its step at that
    /// entry; when the manifest was issued or corrected there, its parties, origin and
    /// destination; and the event's `site` and `driver` (a registered person's id, or an
    /// older log's per-load commitment).
    pub fn named_at(&self, index: u64, site: Option<&str>, driver: Option<&str>) -> Named {
        let mut found: Named = Vec::new();
        let mut add = |kind: SubjectKind, id: &str, bits: u16| match found
            .iter_mut()
            .find(|(s, _)| s.kind == kind && s.id == id)
        {
            Some((_, b)) => *b |= bits,
            None => found.push((Subject::new(kind, id), bits)),
        };
        let step = self.steps.iter().rev().find(|s| s.index == index);
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
                add(SubjectKind::Party, self.holder.as_str(), role::ACTOR);
            }
        }
        let declared =
            self.issue_index == index || step.is_some_and(|s| s.kind == StepKind::Corrected);
        if declared {
            for p in &self.parties {
                add(SubjectKind::Party, p.as_str(), role::PARTY);
            }
            add(SubjectKind::Site, &self.origin, role::ORIGIN);
            add(
                SubjectKind::Site,
                &self.current().destination,
                role::DESTINATION,
            );
        }
        if let Some(s) = site {
            add(SubjectKind::Site, s, role::SITE);
        }
        if let Some(d) = driver {
            add(SubjectKind::Driver, d, role::DRIVER);
        }
        found
    }

    pub fn current(&self) -> &Version {
        self.versions.last().expect("a manifest has a version")
    }

    /// Where the load is on the road (in transit, or at a station), the log's answer to "is it
    /// on the truck `seen`?": `None` when it is (or when the load is not on the road, where other
    /// verdicts apply), else what the log knows instead.
    pub fn vehicle_mismatch(&self, seen: &Plate) -> Option<String> {
        if !matches!(self.status, Status::InTransit | Status::AtStation) {
            return None;
        }
        match &self.vehicle {
            Some(v) if v == seen => None,
            Some(v) => Some(format!(
                "manifest {} was handed over on {v}, not on {seen}",
                self.number
            )),
            None => Some(format!(
                "manifest {} is held by {} ({}) with no truck in the log, not on {seen}",
                self.number,
                self.holder,
                self.status.as_str()
            )),
        }
    }

    /// The flags as of `now`: those logged, plus overdue if it is still on the road too long.
    pub fn flags_at(&self, now: Timestamp, limits: &Limits) -> Vec<Flag> {
        let mut f = self.flags.clone();
        // On the road: in transit, or a rejected load on its way back.
        if let (Some(since), Some(index)) = (self.in_transit_since, self.in_transit_index) {
            let limit = limits.transit_ms(self.stream);
            let held = now.unix_millis().saturating_sub(since.unix_millis());
            if held > limit {
                f.push(Flag {
                    kind: FlagKind::Overdue,
                    index,
                    detail: format!(
                        "on the road since {} ({} h; the {} stream allows {} h)",
                        since.cst(),
                        held / 3_600_000,
                        self.stream.as_str(),
                        limit / 3_600_000
                    ),
                });
            }
        }
        f
    }
}

/// Manifests' line codes and types, for display.
pub fn line_label(l: &Line) -> String {
    match (&l.code, &l.cw_type) {
        (Some(c), _) => format!("{c} {}", l.name),
        (_, Some(t)) => format!("{} {}", t.zh(), l.name),
        _ => l.name.clone(),
    }
}
