//! The domain's state, folded from the log in order: parties and their keys, licences,
//! vehicles, sites, and every manifest's status, holder, quantities, versions, links and flags.
//!
//! Each event is checked completely before anything is changed, so a refusal leaves the state as
//! it was (invariant 6 of ARCHITECTURE.md). What cannot be trusted or make sense is refused; what
//! breaks a rule is accepted and flagged on the manifest, naming the entry behind the flag.

use super::catalog::Catalog;
use super::codes::{ManifestNumber, Plate, Quantity, Uscc};
use super::events::*;
use super::movements::{Fix, FixKind, Movements};
use super::query::DomainQuery;
use super::table::{enc, Changes, Table};
use crate::ledger::event::{PublicKey, SignedEvent};
use crate::ledger::kv::{FoldWrites, Kv};
use crate::ledger::state::{Delegation, Fold, LogState, Refusal};
use crate::ledger::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
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

/// Whether `s` is written as an anomaly's stable id: a kind (lower case and `_`), `-`, 16 lower
/// hex digits, and for a second finding on the same entries `.N`.
pub fn anomaly_id_well_formed(s: &str) -> bool {
    let (base, n) = match s.split_once('.') {
        Some((b, n)) => (b, Some(n)),
        None => (s, None),
    };
    let base_ok = base.rsplit_once('-').is_some_and(|(k, h)| {
        !k.is_empty()
            && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            && h.len() == 16
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    base_ok && n.is_none_or(|n| n.parse::<u32>().is_ok_and(|n| n >= 2) && !n.starts_with('0'))
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
        let g = &self.grant;
        match stream {
            Stream::Hazardous => {
                g.kind == LicenceKind::HwOperating
                    && line.code.as_ref().is_some_and(|c| {
                        g.codes.contains(c) || g.categories.contains(&c.category())
                    })
            }
            Stream::Construction => {
                g.kind == LicenceKind::CwDisposal
                    && line.cw_type.is_some_and(|t| g.cw_types.contains(&t))
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
    fn at(index: u64, time: Timestamp, kind: StepKind) -> Step {
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

    fn counting(mut self, q: Vec<Quantity>) -> Step {
        self.quantities = Some(q);
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
    /// The current declaration is the last version.
    pub versions: Vec<Version>,
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

/// Most manifests one `evidence.exported` may select (a bundle is built and summarised under
/// the state's read lock).
pub const MAX_EXPORT_MANIFESTS: usize = 1000;

/// The domain state. `Domain` implements the ledger's [`Fold`].
pub struct Domain {
    pub(super) catalog: std::sync::Arc<Catalog>,
    pub(super) limits: Limits,
    /// Entry 0 names no rulebook: a bare signed log, nothing for the domain to judge.
    pub(super) bare: bool,
    /// Entry 0 names the first rulebook (`RULEBOOK_V1`): judged as it was (no bound on `at`).
    pub(super) rulebook_v1: bool,
    pub(super) authority: Option<PublicKey>,
    /// How many entries the state holds (the next entry to fold is this one).
    applied: u64,
    /// The stored state is of another layout (or none): the first writes taken clear it.
    reset: bool,
    /// Until then, the store the state is rebuilt in (nothing of what it holds is read).
    pending_base: Option<std::sync::Arc<dyn Kv>>,
    /// The fold's own facts and counts (layout, position, rulebook, authority, counts).
    pub(super) meta: Table<String, serde_json::Value>,
    pub(super) parties: Table<Uscc, Party>,
    pub(super) keys: Table<PublicKey, Uscc>,
    /// Keys revoked, with the time from which they no longer sign.
    pub(super) revoked: Table<PublicKey, Timestamp>,
    /// Device keys (`key.delegated`): in `keys` too, mapped to their holder; signing until
    /// `not_after`. Not listed in their party's `keys` (a party may have thousands).
    pub(super) delegated: Table<PublicKey, Delegation>,
    pub(super) licences: Table<String, Licence>,
    /// (party, the grant's entry) -> licence id: a party's licences in the order granted.
    pub(super) licences_of: Table<(Uscc, u64), String>,
    pub(super) vehicles: Table<Plate, Vehicle>,
    pub(super) sites: Table<String, Site>,
    /// Registered persons (drivers, escorts) by id (the commitment `person`).
    pub(super) persons: Table<String, Person>,
    pub(super) manifests: Table<ManifestNumber, Manifest>,
    /// Manifests each entry created (an issue creates one, a split several).
    pub(super) created: Table<u64, Vec<ManifestNumber>>,
    pub(super) by_party: Table<(Uscc, ManifestNumber), ()>,
    pub(super) by_vehicle: Table<(Plate, ManifestNumber), ()>,
    /// The registry entries of each key: (added, revoked, delegated by).
    pub(super) key_entries: Table<PublicKey, (u64, Option<u64>, Option<PublicKey>)>,
    /// Every pull of evidence, by its entry (for those who see everything only).
    pub(super) exports: Table<u64, Export>,
    /// What was done about each anomaly (`case.noted`), by its stable id and entry (for
    /// those who see everything only).
    pub(super) notes: Table<(String, u64), CaseNote>,
    /// Subject search (issue 5): plates, parties, sites, drivers → (time, entry, manifest).
    pub(super) subjects: super::subjects::SubjectIndex,
    serials: Table<(u16, String), u32>,
    references: Table<(Uscc, String), ManifestNumber>,
    /// Where each vehicle was: track points and hand-over places (for the vehicle detectors).
    pub(super) movements: Movements,
}

/// The layout of the stored state: a different one is rebuilt from the entries at open.
pub const LAYOUT: u64 = 1;

/// Manifests the sequencer's fold keeps decoded (about 2 KB each; up to twice as many): the
/// loads moving now are read at each of their steps.
pub const LIVE_MANIFESTS: usize = 16_384;
/// Registry records (parties, keys, licences, vehicles, sites, persons) it keeps decoded, per
/// table.
pub const LIVE_REGISTRY: usize = 4_096;
/// What one reader's view keeps decoded (manifests; registry records per table).
pub const READER_MANIFESTS: usize = 2_048;
pub const READER_REGISTRY: usize = 1_024;

/// How far ahead of its entry's log time an event may say it happened (clocks differ; a
/// terminal may queue a hand-over offline, but not from the future).
pub const MAX_AHEAD_MS: u64 = 24 * 60 * 60 * 1000;

/// Refuse a time the parties give (`at`) more than [`MAX_AHEAD_MS`] after the entry's log
/// time: compared with the log's time, never a clock, so an audit decides the same.
fn not_ahead_of_log(ev: &DomainEvent, log_time: Timestamp) -> Result<(), Refusal> {
    let mut times: Vec<(String, Timestamp)> = Vec::new();
    match ev {
        DomainEvent::Handover(x) => times.push(("event.at".into(), x.at)),
        DomainEvent::Weighed(x) => times.push(("event.at".into(), x.at)),
        DomainEvent::Inspection(x) => times.push(("event.at".into(), x.at)),
        DomainEvent::EvidenceExported(x) => times.push(("event.at".into(), x.at)),
        DomainEvent::CaseNoted(x) => times.push(("event.at".into(), x.at)),
        DomainEvent::Track(x) => times.extend(
            x.points
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("event.points[{i}].at"), p.at)),
        ),
        _ => {}
    }
    let limit = log_time.unix_millis().saturating_add(MAX_AHEAD_MS);
    match times.into_iter().find(|(_, t)| t.unix_millis() > limit) {
        Some((field, t)) => Err(f(
            &field,
            format!(
                "a time at most {} h after the log's time {log_time}; got {t}",
                MAX_AHEAD_MS / 3_600_000
            ),
        )),
        None => Ok(()),
    }
}

fn f(field: &str, expected: impl Into<String>) -> Refusal {
    Refusal::Field {
        field: field.into(),
        expected: expected.into(),
    }
}
fn unknown(field: &str, detail: impl Into<String>) -> Refusal {
    Refusal::Unknown {
        field: field.into(),
        detail: detail.into(),
    }
}
fn state(field: &str, detail: impl Into<String>) -> Refusal {
    Refusal::State {
        field: field.into(),
        detail: detail.into(),
    }
}
/// How a value is written on the wire ("hw_transport", "g"), for messages.
fn wire(v: impl Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Refuse a step the manifest's status does not allow, saying what the rule is.
fn require_state(m: &Manifest, allowed: bool, rule: &str) -> Result<(), Refusal> {
    if allowed {
        return Ok(());
    }
    let sep = if rule.is_empty() { "" } else { "; " };
    Err(state(
        "event.manifest",
        format!("{rule}{sep}manifest {} is {}", m.number, m.status.as_str()),
    ))
}

fn signer(field: &str, detail: impl Into<String>) -> Refusal {
    Refusal::Signer {
        field: field.into(),
        detail: detail.into(),
    }
}

/// The year a time falls in, in China Standard Time (UTC+8): manifest numbers run by it.
fn cst_year(t: Timestamp) -> u16 {
    let s = Timestamp::from_unix_millis(t.unix_millis() + 8 * 3_600_000).to_string();
    s[..4]
        .parse()
        .expect("an RFC 3339 time starts with the year")
}

/// `part` in parts per thousand of `whole`, rounded up.
fn gap_permille(a: u64, b: u64) -> u64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    if hi == 0 {
        return 0;
    }
    ((hi - lo) as u128 * 1000).div_ceil(hi as u128) as u64
}

/// What an admitted event does, worked out completely before anything changes.
enum Effect {
    None,
    Party(Party),
    Key(PublicKey, Uscc),
    Delegated(Box<(PublicKey, Uscc, Delegation)>),
    KeyRevoked(PublicKey, Timestamp),
    Licence(Licence),
    LicenceRevoked(String, Timestamp),
    Vehicle(Vehicle),
    Site(Site),
    Person(Person),
    Track(Plate, TrackPoint, u64),
    Export(Export),
    Noted(String, CaseNote),
    /// Another effect, and the vehicle fixes the event gives (see `movements`).
    Moved(Box<Effect>, Vec<(Plate, Fix)>),
    /// New manifests (issue, consolidation, split) and updates to existing ones.
    Manifests {
        new: Vec<Manifest>,
        updated: Vec<Manifest>,
    },
}

impl Effect {
    /// The manifests this effect creates or changes (for the subject index).
    fn touched(&self) -> Vec<ManifestNumber> {
        match self {
            Effect::Manifests { new, updated } => new
                .iter()
                .chain(updated)
                .map(|m| m.number.clone())
                .collect(),
            // A hand-over's effect travels wrapped with the vehicle fixes it gives.
            Effect::Moved(inner, _) => inner.touched(),
            _ => Vec::new(),
        }
    }

    fn updated(m: Manifest) -> Effect {
        Effect::Manifests {
            new: vec![],
            updated: vec![m],
        }
    }
}

impl Domain {
    /// A fold kept in memory, from entry 0 (audits, tests).
    pub fn new(catalog: std::sync::Arc<Catalog>, limits: Limits) -> Self {
        let mut d = Self::over(catalog, limits, None);
        d.reset = false;
        d.meta.insert("layout".into(), LAYOUT.into());
        d
    }

    /// A fold that rebuilds the state in `base` from entry 0, whatever `base` holds: its first
    /// writes clear it.
    pub fn rebuilt_in(
        catalog: std::sync::Arc<Catalog>,
        limits: Limits,
        base: std::sync::Arc<dyn Kv>,
    ) -> Self {
        let mut d = Self::over(catalog, limits, None);
        d.reset = true;
        d.pending_base = Some(base);
        d
    }

    /// The state stored in `base` (the store's tree), from where it stands; a state of another
    /// layout (or none) is rebuilt from entry 0, its first writes clearing `base`.
    pub fn over(
        catalog: std::sync::Arc<Catalog>,
        limits: Limits,
        base: Option<std::sync::Arc<dyn Kv>>,
    ) -> Self {
        let b = || base.clone();
        let mut d = Domain {
            catalog,
            limits,
            bare: false,
            rulebook_v1: false,
            authority: None,
            applied: 0,
            reset: true,
            pending_base: None,
            meta: Table::new(b'0', b()),
            parties: Table::new(b'p', b()),
            keys: Table::new(b'k', b()),
            revoked: Table::new(b'r', b()),
            delegated: Table::new(b'd', b()),
            licences: Table::new(b'l', b()),
            licences_of: Table::new(b'L', b()),
            vehicles: Table::new(b'v', b()),
            sites: Table::new(b's', b()),
            persons: Table::new(b'h', b()),
            manifests: Table::new(b'm', b()),
            created: Table::new(b'c', b()),
            by_party: Table::new(b'P', b()),
            by_vehicle: Table::new(b'V', b()),
            key_entries: Table::new(b'e', b()),
            exports: Table::new(b'x', b()),
            notes: Table::new(b'n', b()),
            subjects: super::subjects::SubjectIndex::new(b()),
            serials: Table::new(b'N', b()),
            references: Table::new(b'R', b()),
            movements: Movements::new(b()),
        };
        if d.meta_u64("layout") != Some(LAYOUT) {
            // Another layout, or none: rebuilt from entry 0, reading nothing of it.
            d.each_table(&mut |t| t.rebase(None));
            d.pending_base = base;
        } else {
            d.reset = false;
            d.applied = d.meta_u64("applied").unwrap_or(0);
            d.bare = d
                .meta
                .get(&"bare".into())
                .is_some_and(|v| v.as_bool() == Some(true));
            d.rulebook_v1 = d
                .meta
                .get(&"rulebook_v1".into())
                .is_some_and(|v| v.as_bool() == Some(true));
            d.authority = d
                .meta
                .get(&"authority".into())
                .and_then(|v| serde_json::from_value(v.into_owned()).ok());
        }
        d
    }

    /// The sequencer's fold: over `base` as [`Domain::over`], keeping the values it reads
    /// again and again decoded (manifests on the road, the registry), within a bound.
    pub fn live_over(
        catalog: std::sync::Arc<Catalog>,
        limits: Limits,
        base: std::sync::Arc<dyn Kv>,
    ) -> Self {
        let mut d = Self::over(catalog, limits, Some(base));
        // What the fold reads (the tables it only writes, postings, links, fixes, the indexes
        // by party and vehicle, are not kept).
        d.manifests.keep_decoded(LIVE_MANIFESTS);
        for t in [
            &mut d.meta as &mut dyn Changes,
            &mut d.parties,
            &mut d.keys,
            &mut d.revoked,
            &mut d.delegated,
            &mut d.licences,
            &mut d.vehicles,
            &mut d.sites,
            &mut d.persons,
            &mut d.key_entries,
            &mut d.serials,
            &mut d.references,
        ] {
            t.cache(LIVE_REGISTRY);
        }
        d.subjects.keep_decoded(LIVE_REGISTRY);
        d.movements.keep_decoded(LIVE_REGISTRY);
        d
    }

    /// A reader's view over `base` (one request, one scan): values it reads again are kept
    /// decoded for its span, within a smaller bound than the sequencer's.
    pub fn reader_over(
        catalog: std::sync::Arc<Catalog>,
        limits: Limits,
        base: std::sync::Arc<dyn Kv>,
    ) -> Self {
        let mut d = Self::over(catalog, limits, Some(base));
        d.manifests.keep_decoded(READER_MANIFESTS);
        d.parties.keep_decoded(READER_REGISTRY);
        d.sites.keep_decoded(READER_REGISTRY);
        d.vehicles.keep_decoded(READER_REGISTRY);
        d.licences.keep_decoded(READER_REGISTRY);
        d
    }

    /// A number the fold keeps in `meta` (a count, the layout, the position).
    pub(super) fn meta_u64(&self, name: &str) -> Option<u64> {
        self.meta.get(&name.to_string()).and_then(|v| v.as_u64())
    }

    fn count(&mut self, name: &str, by: u64) {
        let n = self.meta_u64(name).unwrap_or(0) + by;
        self.meta.insert(name.into(), n.into());
    }

    /// Every table, for `f` to encode (or forget) what changed in it.
    fn each_table(&mut self, f: &mut dyn FnMut(&mut dyn Changes)) {
        f(&mut self.meta);
        f(&mut self.parties);
        f(&mut self.keys);
        f(&mut self.revoked);
        f(&mut self.delegated);
        f(&mut self.licences);
        f(&mut self.licences_of);
        f(&mut self.vehicles);
        f(&mut self.sites);
        f(&mut self.persons);
        f(&mut self.manifests);
        f(&mut self.created);
        f(&mut self.by_party);
        f(&mut self.by_vehicle);
        f(&mut self.key_entries);
        f(&mut self.exports);
        f(&mut self.notes);
        self.subjects.each_table(f);
        f(&mut self.serials);
        f(&mut self.references);
        self.movements.each_table(f);
    }

    /// What changed since the last take, encoded as the store writes it, in key order.
    fn changes(&mut self, forget: bool) -> FoldWrites {
        if self.reset {
            self.meta.insert("layout".into(), LAYOUT.into());
        }
        let mut puts = Vec::new();
        self.each_table(&mut |t| {
            t.encode(&mut puts);
            if forget {
                t.forget();
            }
        });
        puts.sort_by(|a, b| a.0.cmp(&b.0));
        let reset = self.reset;
        if forget && reset {
            // Once these writes are stored (the store cleared what it held first), the state
            // is read from the store again.
            self.reset = false;
            if let Some(base) = self.pending_base.take() {
                self.each_table(&mut |t| t.rebase(Some(base.clone())));
            }
        }
        FoldWrites { reset, puts }
    }

    /// Every stored pair of the state, taken as the store would write it, in key order (tests:
    /// the whole read model, compared byte for byte).
    pub fn stored_pairs(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let w = self.changes(false);
        let mut all = std::collections::BTreeMap::new();
        if let (false, Some(base)) = (w.reset, self.meta.base()) {
            base.scan(&[], None, &mut |k, v| {
                all.insert(k.to_vec(), v.to_vec());
                std::ops::ControlFlow::Continue(())
            });
        }
        all.extend(w.puts);
        all.into_iter().collect()
    }

    /// Everything the fold holds, as the store would hold it, so that a test can tell that a
    /// refusal changed nothing.
    #[cfg(test)]
    pub(crate) fn snapshot(&mut self) -> String {
        self.stored_pairs()
            .into_iter()
            .map(|(k, v)| format!("{} {}\n", hex::encode(k), String::from_utf8_lossy(&v)))
            .collect()
    }

    /// Register a site as it is (tests of readers that need only sites).
    #[cfg(test)]
    pub(crate) fn test_site(&mut self, site: Site) {
        self.sites.insert(site.reg.site.clone(), site);
    }

    /// Add a vehicle fix as it is (tests of readers that need only fixes).
    #[cfg(test)]
    pub(crate) fn test_fix(&mut self, plate: &Plate, fix: Fix) {
        self.movements.add(plate, fix, 0);
    }

    /// Set the last serial allocated for a year and region (tests: running out of numbers).
    #[cfg(test)]
    pub(crate) fn set_serial(&mut self, year: u16, region4: &str, serial: u32) {
        self.serials.insert((year, region4.to_string()), serial);
    }

    fn signed_by(&self, event: &SignedEvent, party: &Uscc) -> bool {
        event
            .signers()
            .any(|k| self.keys.get(k).as_deref() == Some(party))
    }

    fn require_signed_by(
        &self,
        event: &SignedEvent,
        party: &Uscc,
        field: &str,
        what: &str,
    ) -> Result<(), Refusal> {
        self.only_parties_sign(event, &[party], what)?;
        if self.signed_by(event, party) {
            Ok(())
        } else {
            Err(signer(
                field,
                format!("{what} must be signed by a key of {party}, and is not"),
            ))
        }
    }

    /// Every signature must be of one of the parties to the step.
    fn only_parties_sign(
        &self,
        event: &SignedEvent,
        parties: &[&Uscc],
        what: &str,
    ) -> Result<(), Refusal> {
        for (i, k) in event.signers().enumerate() {
            let of = self.keys.get(k);
            if !of.as_deref().is_some_and(|p| parties.contains(&p)) {
                let who = of
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "the authority".into());
                let want: Vec<String> = parties.iter().map(|p| p.to_string()).collect();
                return Err(signer(
                    &format!("signatures[{i}]"),
                    format!("{what}: signed by {who}, who is not a party to this step (only {} sign it)", want.join(" and ")),
                ));
            }
        }
        Ok(())
    }

    fn registered_party(&self, id: &Uscc, field: &str) -> Result<Cow<'_, Party>, Refusal> {
        self.parties
            .get(id)
            .ok_or_else(|| unknown(field, format!("{id} is not a registered party")))
    }

    fn party_with(&self, id: &Uscc, role: Role, field: &str) -> Result<Cow<'_, Party>, Refusal> {
        let p = self.registered_party(id, field)?;
        if !p.roles.contains(&role) {
            return Err(f(
                field,
                format!(
                    "a party registered as {} ({id} is registered as {})",
                    wire(role),
                    wire(&p.roles)
                ),
            ));
        }
        Ok(p)
    }

    fn registered_site(&self, id: &str, field: &str) -> Result<Cow<'_, Site>, Refusal> {
        self.sites
            .get(&id.to_string())
            .ok_or_else(|| unknown(field, format!("{id:?} is not a registered site")))
    }

    /// The manifest `n`, for an event about it. A signer learns nothing about a manifest it is
    /// not a party to (not its issuer, a planned hauler, its destination's party, a past holder
    /// or anyone else in `parties`), unless its role reads every manifest (inspector,
    /// enforcement, auditor, the authority): it gets the answer an unknown number gets, so not
    /// even the manifest's existence (nor its holder) is told by a refusal.
    fn manifest_for(
        &self,
        event: &SignedEvent,
        n: &ManifestNumber,
        field: &str,
    ) -> Result<Manifest, Refusal> {
        let sees = |m: &Manifest| {
            event.signers().any(|k| {
                Some(*k) == self.authority
                    || self.keys.get(k).is_some_and(|p| {
                        m.parties.contains(&p)
                            || self.parties.get(&p).is_some_and(|p| {
                                p.roles.iter().any(|r| {
                                    matches!(r, Role::Inspector | Role::Enforcement | Role::Auditor)
                                })
                            })
                    })
            })
        };
        self.manifests
            .get(n)
            .filter(|m| sees(m))
            .map(Cow::into_owned)
            .ok_or_else(|| {
                unknown(
                    field,
                    format!("manifest {n} does not exist, or its signers are not parties to it"),
                )
            })
    }

    /// The licences granted to `party`, in the order granted.
    pub(super) fn licences_held(&self, party: &Uscc) -> Vec<Licence> {
        let mut out = Vec::new();
        self.licences_of.scan(&enc(party), &mut |_, id| {
            out.extend(self.licences.get(&id).map(Cow::into_owned));
            std::ops::ControlFlow::Continue(())
        });
        out
    }

    /// The licence, if any, that lets `party` take in `line` at `at`; else why not.
    pub fn licensed(
        &self,
        party: &Uscc,
        stream: Stream,
        line: &Line,
        at: Timestamp,
    ) -> Result<(), String> {
        let mut lapsed = None;
        for l in self.licences_held(party) {
            if l.covers(stream, line) {
                match l.lapse(at) {
                    None => return Ok(()),
                    Some(why) => lapsed = Some(why),
                }
            }
        }
        let what = match (&line.code, &line.cw_type) {
            (Some(c), _) => format!("code {c}"),
            (_, Some(t)) => format!("type {}", t.en()),
            _ => "this waste".into(),
        };
        Err(lapsed.unwrap_or_else(|| format!("{party} holds no licence for {what}")))
    }

    /// Why a hauler or its vehicle may not carry this stream at `at`, if so.
    fn permit_problems(
        &self,
        hauler: &Uscc,
        vehicle: &Plate,
        stream: Stream,
        at: Timestamp,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let kind = match stream {
            Stream::Hazardous => LicenceKind::HwTransport,
            Stream::Construction => LicenceKind::CwTransport,
        };
        let licences: Vec<Licence> = self
            .licences_held(hauler)
            .into_iter()
            .filter(|l| l.grant.kind == kind)
            .collect();
        if !licences.iter().any(|l| l.lapse(at).is_none()) {
            out.push(match licences.first() {
                Some(l) => format!("hauler {hauler}: {}", l.lapse(at).unwrap_or_default()),
                None => format!("hauler {hauler} holds no {} licence", wire(kind)),
            });
        }
        let pkind = match stream {
            Stream::Hazardous => PermitKind::HazardousGoods,
            Stream::Construction => PermitKind::Muck,
        };
        match self.vehicles.get(vehicle) {
            None => out.push(format!("vehicle {vehicle} is not registered")),
            Some(v) => {
                if v.party != *hauler {
                    out.push(format!(
                        "vehicle {vehicle} is registered to {}, not to the hauler {hauler}",
                        v.party
                    ));
                }
                let ok = v
                    .permits
                    .iter()
                    .any(|p| p.kind == pkind && p.valid_from <= at && at < p.valid_until);
                if !ok {
                    out.push(match v.permits.iter().find(|p| p.kind == pkind) {
                        Some(p) => format!(
                            "vehicle {vehicle}: {} permit {} valid {} to {}",
                            wire(pkind),
                            p.number,
                            p.valid_from,
                            p.valid_until
                        ),
                        None => format!("vehicle {vehicle} has no {} permit", wire(pkind)),
                    });
                }
            }
        }
        out
    }

    fn check_lines(&self, stream: Stream, lines: &[Line], field: &str) -> Result<(), Refusal> {
        if lines.is_empty() {
            return Err(f(field, "at least one line"));
        }
        for (i, l) in lines.iter().enumerate() {
            let lf = format!("{field}[{i}]");
            match stream {
                Stream::Hazardous => {
                    if l.code.is_none() {
                        return Err(f(&format!("{lf}.code"), "a hazardous waste code (ddd-ddd-dd) on every line of a hazardous manifest"));
                    }
                    if l.cw_type.is_some() {
                        return Err(f(
                            &format!("{lf}.cw_type"),
                            "no construction-waste type on a hazardous manifest",
                        ));
                    }
                    if l.hazards.is_empty() {
                        return Err(f(
                            &format!("{lf}.hazards"),
                            "at least one hazard characteristic (T, C, I, R, In)",
                        ));
                    }
                }
                Stream::Construction => {
                    if l.cw_type.is_none() {
                        return Err(f(
                            &format!("{lf}.cw_type"),
                            "a construction-waste type on every line of a construction manifest",
                        ));
                    }
                    if l.code.is_some() {
                        return Err(f(
                            &format!("{lf}.code"),
                            "no hazardous code on a construction manifest",
                        ));
                    }
                }
            }
            if l.quantity.amount == 0 {
                return Err(f(&format!("{lf}.quantity.amount"), "a quantity above zero"));
            }
            if l.name.trim().is_empty() {
                return Err(f(&format!("{lf}.name"), "the waste's name"));
            }
        }
        Ok(())
    }

    fn check_route(&self, destination: &str, haulers: &[Uscc], field: &str) -> Result<(), Refusal> {
        self.registered_site(destination, &format!("{field}destination"))?;
        if haulers.is_empty() {
            return Err(f(&format!("{field}haulers"), "at least one planned hauler"));
        }
        for (i, h) in haulers.iter().enumerate() {
            self.party_with(h, Role::Hauler, &format!("{field}haulers[{i}]"))?;
        }
        Ok(())
    }

    /// Flags a declaration raises at once (codes outside the catalog).
    fn declaration_flags(&self, lines: &[Line], index: u64) -> Vec<Flag> {
        lines
            .iter()
            .filter_map(|l| l.code.as_ref())
            .filter(|c| !c.is_tested() && self.catalog.waste(c).is_none())
            .map(|c| Flag {
                kind: FlagKind::UnknownCode,
                index,
                detail: format!("code {c} is not in the loaded waste catalog"),
            })
            .collect()
    }

    /// The next manifest number of the issuer's region this year (`taken` more are being
    /// allocated by the same event). `field` names the party whose region it is.
    fn allocate(
        &self,
        issuer: &Uscc,
        time: Timestamp,
        taken: u32,
        field: &str,
    ) -> Result<ManifestNumber, Refusal> {
        let year = cst_year(time);
        let region = issuer.region()[..4].to_string();
        let next = self
            .serials
            .get(&(year, region.clone()))
            .map(|s| *s)
            .unwrap_or(0)
            + 1
            + taken;
        ManifestNumber::new(year, &region, next).map_err(|_| {
            state(
                field,
                format!(
                    "a manifest number left: the serials of {year} for region {region} ({issuer}'s administrative division) are used up (999999 allocated)"
                ),
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn new_manifest(
        &self,
        number: ManifestNumber,
        stream: Stream,
        issuer: &Uscc,
        origin: &str,
        destination: &str,
        haulers: &[Uscc],
        lines: &[Line],
        index: u64,
        time: Timestamp,
        kind: StepKind,
    ) -> Manifest {
        let mut parties: BTreeSet<Uscc> = haulers.iter().cloned().collect();
        parties.insert(issuer.clone());
        if let Some(s) = self.sites.get(&destination.to_string()) {
            parties.insert(s.reg.party.clone());
        }
        Manifest {
            number,
            reference: None,
            stream,
            issuer: issuer.clone(),
            origin: origin.to_string(),
            issued_at: time,
            issue_index: index,
            status: Status::Issued,
            holder: issuer.clone(),
            vehicle: None,
            versions: vec![Version {
                version: 1,
                index,
                time,
                destination: destination.to_string(),
                haulers: haulers.to_vec(),
                lines: lines.to_vec(),
                reason: None,
            }],
            quantities: lines.iter().map(|l| l.quantity).collect(),
            in_transit_since: None,
            in_transit_index: None,
            return_to: None,
            delivered_at: None,
            accepted: Vec::new(),
            rejected: Vec::new(),
            rejection: None,
            treated: Vec::new(),
            sources: Vec::new(),
            onward: Vec::new(),
            steps: vec![Step {
                index,
                time,
                kind,
                from: None,
                to: None,
                vehicle: None,
                quantities: Some(lines.iter().map(|l| l.quantity).collect()),
            }],
            flags: self.declaration_flags(lines, index),
            parties,
            vehicles: BTreeSet::new(),
        }
    }

    /// Check quantities given per line against a manifest's lines: every line once, in order,
    /// in the line's unit.
    fn check_counts(
        m: &Manifest,
        lines: &[LineQty],
        field: &str,
    ) -> Result<Vec<Quantity>, Refusal> {
        let decl = &m.current().lines;
        if lines.len() != decl.len() {
            return Err(f(
                field,
                format!(
                    "a count for each of the manifest's {} lines, in order",
                    decl.len()
                ),
            ));
        }
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if l.line as usize != i {
                    return Err(f(
                        &format!("{field}[{i}].line"),
                        format!("{i} (lines in order, from 0)"),
                    ));
                }
                if l.quantity.unit != decl[i].quantity.unit {
                    return Err(f(
                        &format!("{field}[{i}].quantity.unit"),
                        format!("{}, the line's unit", wire(decl[i].quantity.unit)),
                    ));
                }
                Ok(l.quantity)
            })
            .collect()
    }

    fn gap_flags(&self, m: &Manifest, counts: &[Quantity], index: u64, what: &str) -> Vec<Flag> {
        let tol = self.limits.tolerance_permille(m.stream);
        m.quantities
            .iter()
            .zip(counts)
            .enumerate()
            // Counts in different units are not compared (nothing lets them differ: hand-overs
            // and receipts are counted in the line's unit, and a line's unit is fixed once the
            // load has moved).
            .filter(|(_, (a, b))| a.unit == b.unit && gap_permille(a.amount, b.amount) > tol)
            .map(|(i, (a, b))| Flag {
                kind: FlagKind::QuantityGap,
                index,
                detail: format!(
                    "line {}: {what} {} against {} before ({}‰; the {} stream tolerates {tol}‰)",
                    i + 1,
                    b,
                    a,
                    gap_permille(a.amount, b.amount),
                    m.stream.as_str()
                ),
            })
            .collect()
    }

    fn licence_flags(&self, m: &Manifest, party: &Uscc, at: Timestamp, index: u64) -> Vec<Flag> {
        let mut seen = BTreeSet::new();
        m.current()
            .lines
            .iter()
            .filter_map(|l| self.licensed(party, m.stream, l, at).err())
            .filter(|why| seen.insert(why.clone()))
            .map(|detail| Flag {
                kind: FlagKind::NotLicensed,
                index,
                detail,
            })
            .collect()
    }

    fn decide(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        log: &LogState,
    ) -> Result<Effect, Refusal> {
        let authority_signed = || -> Result<(), Refusal> {
            match log.authority {
                Some(a) if event.signers().all(|k| *k == a) => Ok(()),
                _ => Err(Refusal::NotAuthority {
                    event_type: event.event_type().into(),
                    authority: log.authority.map(|k| k.to_string()).unwrap_or_default(),
                }),
            }
        };
        match event.event_type() {
            "log.genesis" => return Ok(Effect::None),
            "key.revoked" => {
                // The ledger checked it already; keep the revocation for reads and pending checks.
                let ev = event.event();
                let key = PublicKey::parse("event.key", ev["key"].as_str().unwrap_or_default())
                    .map_err(|e| f("event.key", e.to_string()))?;
                let eff = Timestamp::parse(ev["effective"].as_str().unwrap_or_default())
                    .map_err(|e| f("event.effective", e))?;
                return Ok(Effect::KeyRevoked(key, eff));
            }
            "key.delegated" => {
                // The ledger checked the fields and the signer; the holder must be a party,
                // and the person, if named, one of its registered persons.
                let d = crate::ledger::state::delegation(event.event())?;
                let id = Uscc::parse(d.holder).map_err(|e| {
                    f(
                        "event.holder",
                        format!("the USCC of a registered party: {e}"),
                    )
                })?;
                self.registered_party(&id, "event.holder")?;
                if let Some(p) = d.person {
                    match self.persons.get(&p.to_string()) {
                        Some(person) if person.reg.party == id => {}
                        Some(person) => {
                            return Err(f(
                                "event.person",
                                format!(
                                    "a registered person of {id}; {p} is registered by {}",
                                    person.reg.party
                                ),
                            ))
                        }
                        None => {
                            return Err(unknown(
                                "event.person",
                                format!("{p} is not a registered person"),
                            ))
                        }
                    }
                }
                let by = *event
                    .signers()
                    .next()
                    .expect("the ledger checked one signer");
                return Ok(Effect::Delegated(Box::new((
                    d.key,
                    id,
                    Delegation {
                        by,
                        label: d.label.to_string(),
                        not_after: d.not_after,
                        person: d.person.map(str::to_string),
                    },
                ))));
            }
            "key.added" => {
                let holder = event
                    .event()
                    .get("holder")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                let id = Uscc::parse(holder).map_err(|e| {
                    f(
                        "event.holder",
                        format!("the USCC of a registered party: {e}"),
                    )
                })?;
                self.registered_party(&id, "event.holder")?;
                let key = PublicKey::parse(
                    "event.key",
                    event.event()["key"].as_str().unwrap_or_default(),
                )
                .map_err(|e| f("event.key", e.to_string()))?;
                return Ok(Effect::Key(key, id));
            }
            _ => {}
        }
        let ev = DomainEvent::parse(event.event_type(), event.event_bytes())?;
        if !self.rulebook_v1 {
            not_ahead_of_log(&ev, time)?;
        }
        use DomainEvent as E;
        match ev {
            E::PartyRegistered(p) => {
                authority_signed()?;
                if self.parties.contains_key(&p.party) {
                    return Err(state(
                        "event.party",
                        format!("{} is registered already", p.party),
                    ));
                }
                if p.roles.is_empty() {
                    return Err(f("event.roles", "at least one role"));
                }
                if p.name.trim().is_empty() {
                    return Err(f("event.name", "the party's registered name"));
                }
                Ok(Effect::Party(Party {
                    id: p.party,
                    name: p.name,
                    roles: p.roles,
                    index,
                    keys: Vec::new(),
                }))
            }
            E::LicenceGranted(g) => {
                authority_signed()?;
                if self.licences.contains_key(&g.licence) {
                    return Err(state(
                        "event.licence",
                        format!("licence {:?} exists already", g.licence),
                    ));
                }
                self.registered_party(&g.party, "event.party")?;
                if g.valid_until <= g.valid_from {
                    return Err(f("event.valid_until", "a time after valid_from"));
                }
                match g.kind {
                    LicenceKind::HwOperating if g.codes.is_empty() && g.categories.is_empty() => {
                        return Err(f(
                            "event.codes",
                            "the waste codes or categories an hw_operating licence covers (codes or categories, at least one)",
                        ))
                    }
                    LicenceKind::CwDisposal if g.cw_types.is_empty() => {
                        return Err(f(
                            "event.cw_types",
                            "the construction-waste types a cw_disposal licence covers (at least one)",
                        ))
                    }
                    _ => {}
                }
                Ok(Effect::Licence(Licence {
                    grant: g,
                    index,
                    revoked: None,
                }))
            }
            E::LicenceRevoked(r) => {
                authority_signed()?;
                let l = self.licences.get(&r.licence).ok_or_else(|| {
                    unknown(
                        "event.licence",
                        format!("licence {:?} does not exist", r.licence),
                    )
                })?;
                if l.revoked.is_some() {
                    return Err(state(
                        "event.licence",
                        format!("licence {:?} is revoked already", r.licence),
                    ));
                }
                Ok(Effect::LicenceRevoked(r.licence, r.effective))
            }
            E::VehicleRegistered(v) => {
                authority_signed()?;
                if self.vehicles.contains_key(&v.plate) {
                    return Err(state(
                        "event.plate",
                        format!("{} is registered already", v.plate),
                    ));
                }
                self.party_with(&v.party, Role::Hauler, "event.party")?;
                Ok(Effect::Vehicle(Vehicle {
                    plate: v.plate,
                    party: v.party,
                    permits: v.permits,
                    index,
                    track_points: 0,
                    last_position: None,
                }))
            }
            E::SiteRegistered(s) => {
                authority_signed()?;
                if self.sites.contains_key(&s.site) {
                    return Err(state(
                        "event.site",
                        format!("site {:?} is registered already", s.site),
                    ));
                }
                self.registered_party(&s.party, "event.party")?;
                if s.geofence.len() < 3 {
                    return Err(f("event.geofence", "a polygon of at least 3 points"));
                }
                Ok(Effect::Site(Site { reg: s, index }))
            }
            E::PersonRegistered(p) => {
                // The party the person works for registers them (or the authority for it).
                if !(log.authority.is_some() && event.signers().all(|k| Some(*k) == log.authority))
                {
                    self.require_signed_by(
                        event,
                        &p.party,
                        "signatures",
                        "person.registered (by the party the person works for, or the authority)",
                    )?;
                }
                self.registered_party(&p.party, "event.party")?;
                if let Some(old) = self.persons.get(&p.person.as_str().to_string()) {
                    return Err(state(
                        "event.person",
                        format!(
                            "person {} is registered already (entry {}, for {}); a person working for another party is registered again, under a salt of its own",
                            p.person.as_str(),
                            old.index,
                            old.reg.party
                        ),
                    ));
                }
                if p.licence.as_ref() == Some(&p.person) {
                    return Err(f(
                        "event.licence",
                        "a commitment to the licence number, not the person's id again",
                    ));
                }
                Ok(Effect::Person(Person { reg: p, index }))
            }
            E::ManifestIssued(m) => {
                self.party_with(&m.generator, Role::Generator, "event.generator")?;
                self.require_signed_by(event, &m.generator, "signatures", "manifest.issued")?;
                let origin = self.registered_site(&m.origin, "event.origin")?;
                if origin.reg.party != m.generator {
                    return Err(f(
                        "event.origin",
                        format!(
                            "a site of the generator ({:?} is {}'s)",
                            m.origin, origin.reg.party
                        ),
                    ));
                }
                self.check_route(&m.destination, &m.haulers, "event.")?;
                self.check_lines(m.stream, &m.lines, "event.lines")?;
                if m.reference.trim().is_empty() {
                    return Err(f(
                        "event.reference",
                        "the issuer's own reference for the load",
                    ));
                }
                if let Some(n) = self
                    .references
                    .get(&(m.generator.clone(), m.reference.clone()))
                {
                    return Err(state(
                        "event.reference",
                        format!(
                            "a reference not used before; {:?} is manifest {n}",
                            m.reference
                        ),
                    ));
                }
                let number = self.allocate(&m.generator, time, 0, "event.generator")?;
                let mut man = self.new_manifest(
                    number,
                    m.stream,
                    &m.generator,
                    &m.origin,
                    &m.destination,
                    &m.haulers,
                    &m.lines,
                    index,
                    time,
                    StepKind::Issued,
                );
                man.reference = Some(m.reference.clone());
                Ok(Effect::Manifests {
                    new: vec![man],
                    updated: vec![],
                })
            }
            E::ManifestVoided(v) => {
                let m = self.manifest_for(event, &v.manifest, "event.manifest")?;
                self.require_signed_by(event, &m.issuer, "signatures", "manifest.voided")?;
                require_state(
                    &m,
                    m.status == Status::Issued,
                    "a manifest can be voided only before pickup",
                )?;
                // A station's outgoing load (consolidation or split) carries its inputs on: they
                // are `consolidated` or `split` and point at it. Voiding it would leave them
                // pointing at nothing that moves, and the waste would vanish from the record.
                if !m.sources.is_empty() {
                    let from: Vec<String> = m.sources.iter().map(|s| s.to_string()).collect();
                    return Err(state(
                        "event.manifest",
                        format!(
                            "manifest {} is a station's outgoing load, carrying on {}: it cannot be voided, or those loads would vanish with it (a station's outgoing manifest is put right with manifest.corrected)",
                            m.number,
                            from.join(", ")
                        ),
                    ));
                }
                let mut m = m.clone();
                m.status = Status::Voided;
                m.steps.push(Step::at(index, time, StepKind::Voided));
                Ok(Effect::updated(m))
            }
            E::ManifestCorrected(c) => {
                let m = self.manifest_for(event, &c.manifest, "event.manifest")?;
                self.require_signed_by(event, &m.issuer, "signatures", "manifest.corrected")?;
                require_state(
                    &m,
                    matches!(
                        m.status,
                        Status::Issued | Status::InTransit | Status::AtStation | Status::Delivered
                    ),
                    "a manifest can be corrected only before receipt",
                )?;
                let next = m.versions.len() as u32 + 1;
                if c.version != next {
                    return Err(state(
                        "event.version",
                        format!(
                            "{next} (the version this correction makes), got {}",
                            c.version
                        ),
                    ));
                }
                self.check_route(&c.destination, &c.haulers, "event.")?;
                self.check_lines(m.stream, &c.lines, "event.lines")?;
                // Once the load has moved, every count on record is of the declared lines in
                // their units: a correction may fix names, quantities and the route, but not what
                // a line is nor what it is counted in.
                let moved = m.steps.iter().any(|s| s.kind == StepKind::Handover);
                if moved {
                    let old = &m.current().lines;
                    if c.lines.len() != old.len() {
                        return Err(state(
                            "event.lines",
                            "the same number of lines once the load has moved",
                        ));
                    }
                    for (i, (new, old)) in c.lines.iter().zip(old).enumerate() {
                        let was = if new.quantity.unit != old.quantity.unit {
                            Some(("quantity.unit", wire(old.quantity.unit)))
                        } else if new.code != old.code {
                            Some((
                                "code",
                                old.code.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                            ))
                        } else if new.cw_type != old.cw_type {
                            Some(("cw_type", old.cw_type.map(wire).unwrap_or_default()))
                        } else {
                            None
                        };
                        if let Some((what, was)) = was {
                            return Err(state(
                                &format!("event.lines[{i}].{what}"),
                                format!(
                                    "the line's {what} as declared ({was}) once the load has moved: the hand-overs so far counted it so (a different waste or unit is a new manifest)"
                                ),
                            ));
                        }
                    }
                }
                let mut m = m.clone();
                m.versions.push(Version {
                    version: next,
                    index,
                    time,
                    destination: c.destination.clone(),
                    haulers: c.haulers.clone(),
                    lines: c.lines.clone(),
                    reason: Some(c.reason),
                });
                if m.status == Status::Issued {
                    m.quantities = c.lines.iter().map(|l| l.quantity).collect();
                }
                m.flags.extend(self.declaration_flags(&c.lines, index));
                m.parties.extend(c.haulers.iter().cloned());
                if let Some(s) = self.sites.get(&c.destination) {
                    m.parties.insert(s.reg.party.clone());
                }
                m.steps.push(
                    Step::at(index, time, StepKind::Corrected)
                        .counting(c.lines.iter().map(|l| l.quantity).collect()),
                );
                Ok(Effect::updated(m))
            }
            E::Handover(h) => {
                let fixes = self.handover_fixes(&h, index);
                let (m, missing) = self.decide_handover(index, time, event, h)?;
                if let Some((p, what)) = missing {
                    return Err(signer(
                        "signatures",
                        format!(
                            "a hand-over is signed by both parties; missing the signature of {p} ({what} the load)"
                        ),
                    ));
                }
                Ok(Effect::Moved(Box::new(Effect::updated(m)), fixes))
            }
            E::Weighed(w) => {
                let m = self.manifest_for(event, &w.manifest, "event.manifest")?;
                self.require_signed_by(
                    event,
                    &m.holder,
                    "signatures",
                    "custody.weighed (by the holder)",
                )?;
                self.registered_site(&w.site, "event.site")?;
                for (name, q) in [("gross", &w.gross), ("tare", &w.tare), ("net", &w.net)] {
                    if q.unit != super::codes::Unit::G {
                        return Err(f(
                            &format!("event.{name}.unit"),
                            "grams (g): a weighbridge weighs",
                        ));
                    }
                }
                if w.gross.amount.checked_sub(w.tare.amount) != Some(w.net.amount) {
                    return Err(f(
                        "event.net.amount",
                        format!(
                            "gross − tare = {}",
                            w.gross.amount.saturating_sub(w.tare.amount)
                        ),
                    ));
                }
                require_state(
                    &m,
                    !(matches!(
                        m.status,
                        Status::Voided | Status::Treated | Status::Consolidated | Status::Split
                    )),
                    "a load is weighed while it is still a load",
                )?;
                let mut m = m.clone();
                let declared: u64 = m
                    .quantities
                    .iter()
                    .filter(|q| q.unit == super::codes::Unit::G)
                    .map(|q| q.amount)
                    .sum();
                let all_mass = m.quantities.iter().all(|q| q.unit == super::codes::Unit::G);
                if all_mass
                    && gap_permille(declared, w.net.amount)
                        > self.limits.tolerance_permille(m.stream)
                {
                    m.flags.push(Flag {
                        kind: FlagKind::QuantityGap,
                        index,
                        detail: format!(
                            "weighbridge ticket {} at {}: net {} g against {} g counted before",
                            w.ticket, w.site, w.net.amount, declared
                        ),
                    });
                }
                m.steps
                    .push(Step::at(index, time, StepKind::Weighed).counting(vec![w.net]));
                Ok(Effect::updated(m))
            }
            E::Received(r) => {
                let m = self.manifest_for(event, &r.manifest, "event.manifest")?;
                require_state(
                    &m,
                    m.status == Status::Delivered,
                    "a receipt follows delivery",
                )?;
                self.require_signed_by(
                    event,
                    &m.holder,
                    "signatures",
                    "custody.received (by the receiver holding the load)",
                )?;
                let decl = &m.current().lines;
                if r.lines.len() != decl.len() {
                    return Err(f(
                        "event.lines",
                        format!(
                            "a line for each of the manifest's {} lines, in order",
                            decl.len()
                        ),
                    ));
                }
                for (i, l) in r.lines.iter().enumerate() {
                    if l.line as usize != i {
                        return Err(f(&format!("event.lines[{i}].line"), format!("{i}")));
                    }
                    let unit = decl[i].quantity.unit;
                    for (name, q) in [("accepted", &l.accepted), ("rejected", &l.rejected)] {
                        if q.unit != unit {
                            return Err(f(
                                &format!("event.lines[{i}].{name}.unit"),
                                format!("{}, the line's unit", wire(unit)),
                            ));
                        }
                    }
                }
                // A receipt that accounts for nothing would leave the load rejected with
                // nobody to take it back.
                if r.lines
                    .iter()
                    .all(|l| l.accepted.amount == 0 && l.rejected.amount == 0)
                {
                    return Err(f(
                        "event.lines",
                        "accepted + rejected to account for the load: at least one line with an amount above zero",
                    ));
                }
                let any_rejected = r.lines.iter().any(|l| l.rejected.amount > 0);
                if any_rejected != r.rejection.is_some() {
                    return Err(f(
                        "event.rejection",
                        if any_rejected {
                            "where the rejected part goes and why, since some is rejected"
                        } else {
                            "no rejection when nothing is rejected"
                        },
                    ));
                }
                if let Some(rej) = &r.rejection {
                    self.registered_party(&rej.to, "event.rejection.to")?;
                }
                let counts: Vec<Quantity> = r
                    .lines
                    .iter()
                    .map(|l| Quantity::new(l.accepted.amount + l.rejected.amount, l.accepted.unit))
                    .collect();
                let flags = self.gap_flags(&m, &counts, index, "received (accepted + rejected)");
                let mut m = m.clone();
                m.flags.extend(flags);
                m.accepted = r.lines.iter().map(|l| l.accepted).collect();
                m.rejected = r.lines.iter().map(|l| l.rejected).collect();
                m.treated = m
                    .accepted
                    .iter()
                    .map(|q| Quantity::new(0, q.unit))
                    .collect();
                m.rejection = r.rejection.clone();
                m.status = if r.lines.iter().all(|l| l.accepted.amount == 0) {
                    Status::Rejected
                } else {
                    Status::Received
                };
                m.quantities = counts;
                m.steps
                    .push(Step::at(index, time, StepKind::Received).counting(m.accepted.clone()));
                let mut new = Vec::new();
                if let Some(rej) = r.rejection {
                    m.parties.insert(rej.to.clone());
                    if m.status == Status::Rejected {
                        m.return_to = Some(rej.to);
                    } else {
                        // The rejected part of a partly accepted load goes back under a manifest
                        // of its own, allocated by the log, linked both ways.
                        let back = self.return_manifest(&m, &rej, index, time)?;
                        m.onward.push(back.number.clone());
                        new.push(back);
                    }
                }
                Ok(Effect::Manifests {
                    new,
                    updated: vec![m],
                })
            }
            E::Treated(t) => {
                let m = self.manifest_for(event, &t.manifest, "event.manifest")?;
                require_state(
                    &m,
                    m.status == Status::Received,
                    "treatment follows receipt",
                )?;
                self.require_signed_by(
                    event,
                    &m.holder,
                    "signatures",
                    "custody.treated (by the receiver)",
                )?;
                let i = t.line as usize;
                let (acc, done) = match (m.accepted.get(i), m.treated.get(i)) {
                    (Some(a), Some(d)) => (*a, *d),
                    _ => {
                        return Err(f(
                            "event.line",
                            format!("a line of the manifest (0..{})", m.accepted.len()),
                        ))
                    }
                };
                if t.quantity.unit != acc.unit {
                    return Err(f(
                        "event.quantity.unit",
                        format!("{}, the line's unit", wire(acc.unit)),
                    ));
                }
                if t.quantity.amount == 0 || done.amount + t.quantity.amount > acc.amount {
                    return Err(f(
                        "event.quantity.amount",
                        format!(
                            "between 1 and {}, what is accepted and not yet treated",
                            acc.amount - done.amount
                        ),
                    ));
                }
                let mut m = m.clone();
                m.treated[i].amount += t.quantity.amount;
                if m.treated
                    .iter()
                    .zip(&m.accepted)
                    .all(|(d, a)| d.amount >= a.amount)
                {
                    m.status = Status::Treated;
                }
                let mut q: Vec<Quantity> = m
                    .accepted
                    .iter()
                    .map(|a| Quantity::new(0, a.unit))
                    .collect();
                q[i] = t.quantity;
                m.steps
                    .push(Step::at(index, time, StepKind::Treated).counting(q));
                Ok(Effect::updated(m))
            }
            E::Consolidated(c) => {
                self.party_with(&c.station, Role::Station, "event.station")?;
                self.require_signed_by(event, &c.station, "signatures", "station.consolidated")?;
                if c.inputs.len() < 2 {
                    return Err(f("event.inputs", "at least two manifests to consolidate"));
                }
                let mut stream = None;
                let mut inputs = Vec::new();
                for (i, n) in c.inputs.iter().enumerate() {
                    let fld = format!("event.inputs[{i}]");
                    let m = self.manifest_for(event, n, &fld)?;
                    if c.inputs[..i].contains(n) {
                        return Err(f(&fld, format!("each manifest once; {n} is listed twice")));
                    }
                    if m.status != Status::AtStation || m.holder != c.station {
                        return Err(Refusal::NotHolder {
                            field: fld,
                            detail: format!(
                                "manifest {n} is {} with {}, not at station {}",
                                m.status.as_str(),
                                m.holder,
                                c.station
                            ),
                        });
                    }
                    if *stream.get_or_insert(m.stream) != m.stream {
                        return Err(f(&fld, "manifests of one stream"));
                    }
                    inputs.push(m);
                }
                let stream = stream.expect("two inputs");
                self.outgoing(
                    index,
                    time,
                    &c.station,
                    stream,
                    std::slice::from_ref(&c.output),
                    &inputs.iter().collect::<Vec<_>>(),
                    StepKind::Consolidated,
                    "event.output.",
                )
            }
            E::Split(s) => {
                self.party_with(&s.station, Role::Station, "event.station")?;
                self.require_signed_by(event, &s.station, "signatures", "station.split")?;
                let m = self.manifest_for(event, &s.input, "event.input")?;
                if m.status != Status::AtStation || m.holder != s.station {
                    return Err(Refusal::NotHolder {
                        field: "event.input".into(),
                        detail: format!(
                            "manifest {} is {} with {}, not at station {}",
                            m.number,
                            m.status.as_str(),
                            m.holder,
                            s.station
                        ),
                    });
                }
                if s.outputs.len() < 2 {
                    return Err(f("event.outputs", "at least two outgoing loads"));
                }
                self.outgoing(
                    index,
                    time,
                    &s.station,
                    m.stream,
                    &s.outputs,
                    &[&m],
                    StepKind::Split,
                    "event.outputs[{}].",
                )
            }
            E::Inspection(ins) => {
                self.party_with(&ins.inspector, Role::Inspector, "event.inspector")?;
                self.require_signed_by(event, &ins.inspector, "signatures", "inspection.recorded")?;
                if let Some(s) = &ins.site {
                    self.registered_site(s, "event.site")?;
                }
                // The vehicle is what the inspector saw: an unregistered truck carrying a load
                // is a finding, not a reason to refuse the record.
                match &ins.manifest {
                    Some(n) => {
                        let mut m = self.manifest_for(event, n, "event.manifest")?;
                        if let Some(detail) =
                            ins.vehicle.as_ref().and_then(|v| m.vehicle_mismatch(v))
                        {
                            m.flags.push(Flag {
                                kind: FlagKind::WrongVehicle,
                                index,
                                detail: format!(
                                    "inspection by {} at {}: {detail}",
                                    ins.inspector, ins.at
                                ),
                            });
                        }
                        m.steps.push(Step {
                            index,
                            time,
                            kind: StepKind::Inspection,
                            from: Some(ins.inspector),
                            to: None,
                            vehicle: ins.vehicle,
                            quantities: None,
                        });
                        Ok(Effect::updated(m))
                    }
                    None => Ok(Effect::None),
                }
            }
            E::EvidenceExported(x) => self.decide_export(index, time, event, log, x),
            E::CaseNoted(x) => self.decide_note(index, time, event, x),
            E::Track(t) => {
                let v = self.vehicles.get(&t.plate).ok_or_else(|| {
                    unknown(
                        "event.plate",
                        format!("{} is not a registered vehicle", t.plate),
                    )
                })?;
                self.require_signed_by(
                    event,
                    &v.party,
                    "signatures",
                    "vehicle.track (by the vehicle's hauler)",
                )?;
                let last = t
                    .points
                    .iter()
                    .max_by_key(|p| p.at)
                    .cloned()
                    .ok_or_else(|| f("event.points", "at least one point"))?;
                let fixes = t
                    .points
                    .iter()
                    .map(|p| {
                        let at = Point {
                            lat_e6: p.lat_e6,
                            lon_e6: p.lon_e6,
                        };
                        (
                            t.plate.clone(),
                            Fix::new(p.at, Some(at), index, FixKind::Track),
                        )
                    })
                    .collect();
                let n = t.points.len() as u64;
                Ok(Effect::Moved(
                    Box::new(Effect::Track(t.plate, last, n)),
                    fixes,
                ))
            }
        }
    }

    /// `by` (field `event.by`) is a registered enforcement or inspection party; else refused
    /// with `rule` and what `by` is registered as.
    fn inspecting(&self, by: &Uscc, rule: &str) -> Result<(), Refusal> {
        let p = self.registered_party(by, "event.by")?;
        if p.roles
            .iter()
            .any(|r| matches!(r, Role::Enforcement | Role::Inspector))
        {
            return Ok(());
        }
        Err(signer(
            "event.by",
            format!("{rule}; {by} is registered as {}", wire(&p.roles)),
        ))
    }

    /// `case.noted`: an inspection or enforcement party, signing for itself, notes what it did
    /// about an anomaly named by a well-formed id.
    fn decide_note(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        x: CaseNoted,
    ) -> Result<Effect, Refusal> {
        self.inspecting(
            &x.by,
            "what was done about an anomaly is noted by enforcement or an inspector",
        )?;
        self.require_signed_by(event, &x.by, "signatures", "case.noted")?;
        if !anomaly_id_well_formed(&x.anomaly) {
            return Err(f(
                "event.anomaly",
                format!(
                    "an anomaly's id as GET /v1/anomalies gives it (kind-16 hex digits, e.g. overdue-3f09c2a1b4d5e6f7), got {:?}",
                    x.anomaly
                ),
            ));
        }
        if x.action.trim().is_empty() {
            return Err(f("event.action", "what was done about it (non-empty)"));
        }
        if x.case.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(f("event.case", "the case reference, or no `case` field"));
        }
        Ok(Effect::Noted(
            x.anomaly,
            CaseNote {
                index,
                time,
                by: x.by,
                action: x.action,
                case: x.case,
                at: x.at,
            },
        ))
    }

    /// `evidence.exported`: only enforcement, inspectors or the authority pull evidence, and only
    /// of manifests that exist. The export is kept apart from the manifests (not a step).
    fn decide_export(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        log: &LogState,
        x: EvidenceExported,
    ) -> Result<Effect, Refusal> {
        let by_authority =
            log.authority.is_some() && event.signers().all(|k| Some(*k) == log.authority);
        // Who pulled is what the record is for: `by` is a registered enforcement or inspection
        // agency, also when the authority signs on its behalf.
        self.inspecting(
            &x.by,
            "evidence is pulled by enforcement or an inspector (or the authority on its behalf)",
        )?;
        if !by_authority {
            self.require_signed_by(event, &x.by, "signatures", "evidence.exported")?;
        }
        if x.case.trim().is_empty() {
            return Err(f("event.case", "the case reference (non-empty)"));
        }
        if x.reason.trim().is_empty() {
            return Err(f("event.reason", "why the records are pulled (non-empty)"));
        }
        if x.manifests.is_empty() {
            return Err(f("event.manifests", "at least one manifest number"));
        }
        if x.query.as_deref().is_some_and(|q| q.trim().is_empty()) {
            return Err(f(
                "event.query",
                "the search that produced the selection, or no `query` field",
            ));
        }
        if x.manifests.len() > MAX_EXPORT_MANIFESTS {
            return Err(f(
                "event.manifests",
                format!(
                    "at most {MAX_EXPORT_MANIFESTS} manifests in one pull, got {}: split the case into several pulls",
                    x.manifests.len()
                ),
            ));
        }
        let mut listed = std::collections::HashSet::new();
        for (i, n) in x.manifests.iter().enumerate() {
            let field = format!("event.manifests[{i}]");
            if !listed.insert(n) {
                return Err(f(
                    &field,
                    format!("each manifest once; {n} is listed already"),
                ));
            }
            if !self.manifests.contains_key(n) {
                return Err(unknown(&field, format!("manifest {n} does not exist")));
            }
        }
        Ok(Effect::Export(Export {
            index,
            time,
            by: x.by,
            by_authority,
            case: x.case,
            reason: x.reason,
            manifests: x.manifests,
            query: x.query,
            at: x.at,
        }))
    }

    /// A hand-over worked out completely: the manifest after it, and the party whose signature
    /// is missing when only one of the two signed (with what it does: "giving" or "taking").
    /// Every check but the missing signature is made either way, so a half kept pending is one
    /// the log would take once countersigned, and the sequencer refuses a half for the same
    /// reason `check_half_signed` does.
    #[allow(clippy::type_complexity)]
    fn decide_handover(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        h: Handover,
    ) -> Result<(Manifest, Option<(Uscc, &'static str)>), Refusal> {
        // Signers other than the two the event names: told from the event alone, the same
        // whether the manifest exists or not.
        self.only_parties_sign(event, &[&h.from, &h.to], "custody.handover")?;
        // Nothing about the manifest (not even that it exists) to signers who are not parties
        // to it; the holder is named below only to them.
        let m = self.manifest_for(event, &h.manifest, "event.manifest")?;
        if h.from != m.holder {
            return Err(Refusal::NotHolder {
                field: "event.from".into(),
                detail: format!(
                    "{} does not hold manifest {}; {} does",
                    h.from, m.number, m.holder
                ),
            });
        }
        let to = self.registered_party(&h.to, "event.to")?;
        let dest_party = self
            .sites
            .get(&m.current().destination)
            .map(|s| s.reg.party.clone());
        let giving = self.signed_by(event, &h.from);
        let taking = self.signed_by(event, &h.to);
        let missing = match (giving, taking) {
            (true, true) => None,
            // The holder signs first: whoever it names may countersign.
            (true, false) => Some((h.to.clone(), "taking")),
            // The taker signs first: only a party the manifest plans for may make the holder
            // face a hand-over it did not start (else anyone could queue itself on any load).
            (false, true) => {
                let planned = m.current().haulers.contains(&h.to)
                    || Some(&h.to) == dest_party.as_ref()
                    || (m.status == Status::Rejected && Some(&h.to) == m.return_to.as_ref());
                if !planned {
                    return Err(signer(
                        "signatures",
                        format!(
                            "the signature of {} (the holder) first: a hand-over signed only by the party taking the load waits for the holder only when that party is planned on the manifest (one of its haulers, or the destination's party), and {} is not",
                            h.from, h.to
                        ),
                    ));
                }
                Some((h.from.clone(), "giving"))
            }
            (false, false) => {
                return Err(signer(
                    "signatures",
                    format!("a signature of {} or {}", h.from, h.to),
                ))
            }
        };
        let counts = Self::check_counts(&m, &h.lines, "event.lines")?;
        let driver = self.driver_of(&h)?;
        let status = if m.status == Status::Rejected {
            if h.to == h.from {
                return Err(f(
                    "event.to",
                    "a party other than the one holding the rejected load",
                ));
            }
            if Some(&h.to) == m.return_to.as_ref() {
                Status::Returned
            } else if to.roles.contains(&Role::Hauler) {
                Status::Rejected
            } else {
                return Err(f(
                    "event.to",
                    "a hauler, or the party the rejected load goes back to",
                ));
            }
        } else {
            require_state(
                &m,
                matches!(
                    m.status,
                    Status::Issued | Status::InTransit | Status::AtStation | Status::Delivered
                ),
                "it cannot be handed over",
            )?;
            let status = self.taking_status(&m, &h, &to, dest_party.as_ref())?;
            // A party hands a load to itself only when that changes what the load is doing: onto
            // its own truck, or off it into its own station or receiving site (a firm with its
            // own fleet). Signed by that party alone.
            if h.to == h.from && status == m.status {
                return Err(f(
                    "event.to",
                    format!(
                        "a party other than the one handing over (a party hands a load to itself only to load its own truck or unload it at its own site; the load is {} already)",
                        m.status.as_str()
                    ),
                ));
            }
            status
        };
        if status == Status::Rejected && h.vehicle.is_none() {
            return Err(f(
                "event.vehicle",
                "the plate of the vehicle taking the load",
            ));
        }
        if let Some(s) = &h.site {
            self.registered_site(s, "event.site")?;
        }
        let mut flags = self.gap_flags(&m, &counts, index, "handed over");
        if let Some(p) = driver.filter(|p| p.reg.party != h.from && p.reg.party != h.to) {
            flags.push(Flag {
                kind: FlagKind::ForeignDriver,
                index,
                detail: format!(
                    "driver {} works for {} (registered at entry {}), not for {} or {}",
                    p.reg.person.as_str(),
                    p.reg.party,
                    p.index,
                    h.from,
                    h.to
                ),
            });
        }
        match status {
            Status::InTransit | Status::Rejected => {
                if let Some(v) = &h.vehicle {
                    flags.extend(
                        self.permit_problems(&h.to, v, m.stream, time)
                            .into_iter()
                            .map(|detail| Flag {
                                kind: FlagKind::NoPermit,
                                index,
                                detail,
                            }),
                    );
                }
            }
            Status::AtStation | Status::Delivered => {
                flags.extend(self.licence_flags(&m, &h.to, time, index));
                if status == Status::Delivered && Some(&h.to) != dest_party.as_ref() {
                    flags.push(Flag {
                        kind: FlagKind::Diverted,
                        index,
                        detail: format!(
                            "delivered to {}, but the destination {} is {}'s",
                            h.to,
                            m.current().destination,
                            dest_party
                                .clone()
                                .map(|p| p.to_string())
                                .unwrap_or_default()
                        ),
                    });
                }
            }
            _ => {}
        }
        let mut m = m.clone();
        // The on-road clock runs from the hand-over that puts the load on a truck until a
        // hand-over takes it off.
        let onto_truck = matches!(status, Status::InTransit | Status::Rejected);
        if !onto_truck {
            m.in_transit_since = None;
            m.in_transit_index = None;
        } else if m.in_transit_since.is_none() {
            m.in_transit_since = Some(time);
            m.in_transit_index = Some(index);
        }
        if status == Status::Delivered {
            m.delivered_at = Some(time);
        }
        m.status = status;
        m.holder = h.to.clone();
        m.vehicle = h.vehicle.clone();
        m.quantities = counts.clone();
        m.flags.extend(flags);
        m.parties.insert(h.to.clone());
        if let Some(v) = &h.vehicle {
            m.vehicles.insert(v.clone());
        }
        m.steps.push(Step {
            index,
            time,
            kind: StepKind::Handover,
            from: Some(h.from),
            to: Some(h.to),
            vehicle: h.vehicle,
            quantities: Some(counts),
        });
        Ok((m, missing))
    }

    /// The registered person a hand-over's `driver_id` names. A hand-over names its driver one
    /// way: `driver_id` (a registered person) or, in logs made before persons were registered,
    /// `driver` (a per-load commitment, not checked against anything).
    fn driver_of(&self, h: &Handover) -> Result<Option<Cow<'_, Person>>, Refusal> {
        let Some(id) = &h.driver_id else {
            return Ok(None);
        };
        if h.driver.is_some() {
            return Err(f(
                "event.driver",
                "absent when driver_id names the driver (one or the other)",
            ));
        }
        self.persons.get(&id.as_str().to_string()).map(Some).ok_or_else(|| {
            unknown(
                "event.driver_id",
                format!(
                    "{} is not a registered person: the carrier registers its driver once (person.registered) and names that id",
                    id.as_str()
                ),
            )
        })
    }

    /// What a hand-over (not of a rejected load) makes of the load, from who takes it and how.
    ///
    /// A hand-over that names a vehicle, to a party with the hauler role, puts the load on the
    /// road whatever other roles that party has (a disposal firm with its own fleet collecting
    /// at the plant): the transit clock runs and the vehicle's permits are checked as for any
    /// hauler. Without a vehicle the taker's destination roles decide: a station takes a load
    /// in to send it on (at_station); a receiver, or whoever the destination belongs to, takes
    /// it for good (delivered, and then receives it). A party that is both station and receiver
    /// is told apart by the site, since that is what the model knows about where a load stops:
    /// the hand-over's `site` when it names one of that party's sites, else the manifest's
    /// destination when it is that party's site. A station site means at_station; any other
    /// (disposal, recycling, landfill) means delivered. With no site of its own to go by (a
    /// load diverted to it, no site named) it is taken in at the station, which keeps every
    /// step open: it can go on from there, or be handed by the party to itself at its
    /// receiving site, where delivered would be final.
    fn taking_status(
        &self,
        m: &Manifest,
        h: &Handover,
        to: &Party,
        dest_party: Option<&Uscc>,
    ) -> Result<Status, Refusal> {
        let hauler = to.roles.contains(&Role::Hauler);
        if h.vehicle.is_some() && hauler {
            return Ok(Status::InTransit);
        }
        let station = to.roles.contains(&Role::Station);
        let receiver = to.roles.contains(&Role::Receiver) || Some(&h.to) == dest_party;
        Ok(match (station, receiver) {
            (true, false) => Status::AtStation,
            (false, true) => Status::Delivered,
            (true, true) => {
                let own = |s: &String| self.sites.get(s).filter(|s| s.reg.party == h.to);
                let site = h
                    .site
                    .as_ref()
                    .and_then(own)
                    .or_else(|| own(&m.current().destination));
                match site {
                    Some(s) if s.reg.kind != SiteKind::Station => Status::Delivered,
                    _ => Status::AtStation,
                }
            }
            (false, false) if hauler => {
                return Err(f(
                    "event.vehicle",
                    "the plate of the vehicle taking the load",
                ))
            }
            (false, false) => {
                return Err(f(
                    "event.to",
                    format!(
                        "a hauler, station or receiver ({} is registered as {})",
                        h.to,
                        wire(&to.roles)
                    ),
                ))
            }
        })
    }

    /// The manifest a receiver's rejected part travels back under: the receiver holds it, its
    /// lines are the rejected quantities, and it ends with the party named in the rejection.
    fn return_manifest(
        &self,
        m: &Manifest,
        rej: &Rejection,
        index: u64,
        time: Timestamp,
    ) -> Result<Manifest, Refusal> {
        let lines: Vec<Line> = m
            .current()
            .lines
            .iter()
            .zip(&m.rejected)
            .filter(|(_, q)| q.amount > 0)
            .map(|(l, q)| Line {
                quantity: *q,
                containers: Vec::new(),
                ..l.clone()
            })
            .collect();
        let back_to = self
            .find_site(&mut |s| s.reg.party == rej.to)
            .map(|s| s.reg.site.clone())
            .unwrap_or_else(|| m.origin.clone());
        let number = self.allocate(&m.holder, time, 0, "event.rejection")?;
        let mut back = self.new_manifest(
            number,
            m.stream,
            &m.holder,
            &m.current().destination,
            &back_to,
            &[],
            &lines,
            index,
            time,
            StepKind::Received,
        );
        back.status = Status::Rejected;
        back.return_to = Some(rej.to.clone());
        back.rejection = Some(rej.clone());
        back.sources = vec![m.number.clone()];
        back.parties.insert(rej.to.clone());
        back.parties.insert(m.issuer.clone());
        Ok(back)
    }

    /// New manifests for loads leaving a station, linked both ways to the ones they came from.
    #[allow(clippy::too_many_arguments)]
    fn outgoing(
        &self,
        index: u64,
        time: Timestamp,
        station: &Uscc,
        stream: Stream,
        outs: &[Outgoing],
        inputs: &[&Manifest],
        kind: StepKind,
        field: &str,
    ) -> Result<Effect, Refusal> {
        let origin = self
            .find_site(&mut |s| s.reg.party == *station && s.reg.kind == SiteKind::Station)
            .ok_or_else(|| {
                unknown(
                    "event.station",
                    format!("{station} has no registered station site"),
                )
            })?
            .reg
            .site
            .clone();
        let mut new = Vec::new();
        for (k, o) in outs.iter().enumerate() {
            // `field` is "event.output." or "event.outputs[{}]." (filled with the position).
            let field = field.replace("{}", &k.to_string());
            self.check_route(&o.destination, &o.haulers, &field)?;
            self.check_lines(stream, &o.lines, &format!("{field}lines"))?;
            let number = self.allocate(station, time, k as u32, "event.station")?;
            let mut m = self.new_manifest(
                number,
                stream,
                station,
                &origin,
                &o.destination,
                &o.haulers,
                &o.lines,
                index,
                time,
                kind,
            );
            m.status = Status::Issued;
            m.sources = inputs.iter().map(|i| i.number.clone()).collect();
            new.push(m);
        }
        let onward: Vec<ManifestNumber> = new.iter().map(|m| m.number.clone()).collect();
        let status = if kind == StepKind::Split {
            Status::Split
        } else {
            Status::Consolidated
        };
        let updated = inputs
            .iter()
            .map(|i| {
                let mut m = (*i).clone();
                m.status = status;
                m.onward = onward.clone();
                m.steps.push(Step {
                    index,
                    time,
                    kind,
                    from: None,
                    to: None,
                    vehicle: None,
                    quantities: None,
                });
                m
            })
            .collect();
        Ok(Effect::Manifests { new, updated })
    }

    fn apply(&mut self, index: u64, time: Timestamp, effect: Effect) {
        match effect {
            Effect::None => {}
            Effect::Party(p) => {
                self.parties.insert(p.id.clone(), p);
            }
            Effect::Key(k, party) => {
                self.parties.update(&party, |p| p.keys.push(k.to_string()));
                self.keys.insert(k, party);
                self.key_entries.insert(k, (index, None, None));
            }
            Effect::Delegated(b) => {
                let (k, party, d) = *b;
                self.keys.insert(k, party);
                self.key_entries.insert(k, (index, None, Some(d.by)));
                self.delegated.insert(k, d);
            }
            Effect::KeyRevoked(k, eff) => {
                self.revoked.insert(k, eff);
                self.key_entries.update(&k, |e| e.1 = Some(index));
            }
            Effect::Export(e) => self.exports.insert(e.index, e),
            Effect::Noted(id, n) => self.notes.insert((id, n.index), n),
            Effect::Licence(l) => {
                self.licences_of
                    .insert((l.grant.party.clone(), l.index), l.grant.licence.clone());
                self.licences.insert(l.grant.licence.clone(), l);
            }
            Effect::LicenceRevoked(id, eff) => {
                self.licences
                    .update(&id, |l| l.revoked = Some((eff, index)));
            }
            Effect::Vehicle(v) => {
                self.vehicles.insert(v.plate.clone(), v);
            }
            Effect::Site(s) => {
                self.sites.insert(s.reg.site.clone(), s);
            }
            Effect::Person(p) => {
                self.persons.insert(p.reg.person.as_str().to_string(), p);
            }
            Effect::Track(plate, last, n) => {
                self.vehicles.update(&plate, |v| {
                    v.track_points += n;
                    if v.last_position.as_ref().is_none_or(|p| p.at <= last.at) {
                        v.last_position = Some(last);
                    }
                });
            }
            Effect::Moved(inner, fixes) => {
                self.apply(index, time, *inner);
                for (nth, (plate, fix)) in fixes.into_iter().enumerate() {
                    self.movements.add(&plate, fix, nth as u8);
                }
            }
            Effect::Manifests { new, updated } => {
                let _ = time;
                let created: Vec<ManifestNumber> = new.iter().map(|m| m.number.clone()).collect();
                for m in &new {
                    let key = (m.number.year(), m.number.region().to_string());
                    let s = self.serials.get(&key).map_or(0, |s| *s);
                    self.serials.insert(key, s.max(m.number.serial()));
                }
                if !created.is_empty() {
                    self.count("manifests", created.len() as u64);
                    self.created.insert(index, created);
                }
                for m in &new {
                    if let Some(r) = &m.reference {
                        self.references
                            .insert((m.issuer.clone(), r.clone()), m.number.clone());
                    }
                }
                for m in new.into_iter().chain(updated) {
                    for p in &m.parties {
                        self.by_party.insert((p.clone(), m.number.clone()), ());
                    }
                    for v in &m.vehicles {
                        self.by_vehicle.insert((v.clone(), m.number.clone()), ());
                    }
                    self.manifests.insert(m.number.clone(), m);
                }
            }
        }
    }

    /// The vehicle fixes a hand-over gives (worked out before it is decided; dropped with it if
    /// it is refused): the truck the load leaves, if it was on the road, and the truck it goes
    /// onto, at the hand-over's place (its `place`, else its registered site's location) and
    /// the time the parties give.
    fn handover_fixes(&self, h: &Handover, index: u64) -> Vec<(Plate, Fix)> {
        let point = h.place.or_else(|| {
            h.site
                .as_ref()
                .and_then(|s| self.sites.get(s))
                .map(|s| s.reg.location)
        });
        let mut out = Vec::new();
        let Some(m) = self.manifests.get(&h.manifest) else {
            return out;
        };
        if let (Some(v), Status::InTransit | Status::Rejected) = (&m.vehicle, m.status) {
            out.push((v.clone(), Fix::new(h.at, point, index, FixKind::Unload)));
        }
        // Onto a truck: a hauler taking it with a vehicle (as `taking_status` decides), unless
        // it is a rejected load reaching the party it goes back to.
        let hauler = self
            .parties
            .get(&h.to)
            .is_some_and(|p| p.roles.contains(&Role::Hauler));
        let home = m.status == Status::Rejected && m.return_to.as_ref() == Some(&h.to);
        if let (Some(v), true, false) = (&h.vehicle, hauler, home) {
            out.push((v.clone(), Fix::new(h.at, point, index, FixKind::Load)));
        }
        out
    }

    /// Check a hand-over signed by only one of its parties (to be held as pending until the
    /// other countersigns): everything but the missing signature must be right. Returns the
    /// party whose signature is missing.
    pub fn check_half_signed(&self, event: &SignedEvent, now: Timestamp) -> Result<Uscc, Refusal> {
        for k in event.signers() {
            if let Some(r) = self.lapse_of(k, now) {
                return Err(r);
            }
        }
        if event.event_type() != "custody.handover" {
            return Err(f(
                "event.type",
                "custody.handover (only hand-overs wait for a countersignature)",
            ));
        }
        let ev = DomainEvent::parse(event.event_type(), event.event_bytes())?;
        // A half from the future would wait for a countersignature the log must then refuse.
        if !self.rulebook_v1 {
            not_ahead_of_log(&ev, now)?;
        }
        let DomainEvent::Handover(h) = ev else {
            unreachable!("parsed by its type")
        };
        // The same decision the log makes, but for the missing signature (index and flags of
        // this trial run are dropped).
        match self.decide_handover(0, now, event, h)? {
            (_, Some((missing, _))) => Ok(missing),
            (_, None) => Err(f(
                "signatures",
                "one party's signature (this one is complete: submit it to /v1/events)",
            )),
        }
    }
}

impl Fold for Domain {
    fn admit(
        &mut self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        log: &LogState,
    ) -> Result<(), Refusal> {
        if index < self.applied {
            // Already in the stored state (the store replays the log's own fold from 0).
            return Ok(());
        }
        self.decide_and_apply(index, time, event, log)?;
        self.applied = index + 1;
        self.meta.insert("applied".into(), self.applied.into());
        Ok(())
    }

    fn take_writes(&mut self) -> FoldWrites {
        self.changes(true)
    }

    fn discard_writes(&mut self) {
        self.each_table(&mut |t| t.forget());
        // What is cached from the stored state is read again from it.
        let base = self
            .pending_base
            .clone()
            .or_else(|| self.meta.base().cloned());
        *self = Domain::over(self.catalog.clone(), self.limits.clone(), base);
    }

    fn applied(&self) -> u64 {
        self.applied
    }
}

impl Domain {
    fn decide_and_apply(
        &mut self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        log: &LogState,
    ) -> Result<(), Refusal> {
        if index == 0 {
            match log.rules.as_deref() {
                None => self.bare = true,
                Some(super::RULEBOOK) => {}
                Some(super::RULEBOOK_V1) => self.rulebook_v1 = true,
                Some(other) => {
                    return Err(f(
                        "event.rules",
                        format!(
                            "{:?} or {:?} (the rulebooks this build knows), got {other:?}",
                            super::RULEBOOK,
                            super::RULEBOOK_V1
                        ),
                    ))
                }
            }
            self.authority = log.authority;
            self.meta.insert("bare".into(), self.bare.into());
            self.meta
                .insert("rulebook_v1".into(), self.rulebook_v1.into());
            self.meta.insert(
                "authority".into(),
                serde_json::to_value(self.authority).expect("a key encodes"),
            );
            return Ok(());
        }
        if self.bare {
            // A bare log (no rulebook in entry 0): the ledger's own checks are all there is.
            return Ok(());
        }
        // Keys of parties: every signer other than the authority must belong to a party.
        if index > 0 && !event.event_type().starts_with("key.") {
            for k in event.signers() {
                if Some(*k) != log.authority && !self.keys.contains_key(k) {
                    return Err(signer(
                        "signatures",
                        format!("key {k} belongs to no registered party"),
                    ));
                }
            }
        }
        let effect = self.decide(index, time, event, log)?;
        let touched = effect.touched();
        self.apply(index, time, effect);
        // Derived search index (subjects.rs), after the state it reads is applied.
        self.subjects
            .record(index, time, event.event(), &touched, &self.manifests);
        Ok(())
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
