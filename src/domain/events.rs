//! The event catalogue: every domain event as it is signed, parsed into types that can only
//! hold valid values. A field that does not parse is refused with its path (`event.lines[0].code`)
//! and what was expected. Unknown fields are refused too: what a party signs is what the log
//! understands.
//!
//! Quantities are integers in a base unit (`g`, `ml`); coordinates are integer micro-degrees
//! (WGS-84); times are RFC 3339 UTC. No floating point anywhere.

use super::codes::{CwType, Hazard, ManifestNumber, Plate, Quantity, RdCode, Uscc, WasteCode};
use crate::ledger::canonical::without_member;
use crate::ledger::state::Refusal;
use crate::ledger::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What a party does in the chain. A party may have several roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Generator,
    Hauler,
    Station,
    Receiver,
    Inspector,
    Enforcement,
    /// Reads the whole log to audit or mirror it (sees everything, signs no custody step).
    Auditor,
}

/// The two streams the bureau supervises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// 危险废物: National Hazardous Waste List codes, electronic transfer manifests.
    Hazardous,
    /// 建筑垃圾 / 工程渣土: the five construction-waste types.
    Construction,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Hazardous => "hazardous",
            Stream::Construction => "construction",
        }
    }

    /// The wire text, `hazardous` or `construction`.
    pub fn parse(s: &str) -> Result<Self, String> {
        [Stream::Hazardous, Stream::Construction]
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("expected a stream, hazardous or construction; got {s:?}"))
    }
}

/// What a licence allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenceKind {
    /// 危险废物经营许可证: collect, store, treat or dispose of the listed codes/categories.
    HwOperating,
    /// 道路危险货物运输许可: carry hazardous waste.
    HwTransport,
    /// 建筑垃圾消纳/资源化利用 approval: take in the listed construction-waste types.
    CwDisposal,
    /// 建筑垃圾运输核准: carry construction waste.
    CwTransport,
}

/// What a vehicle's permit allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermitKind {
    /// 道路危险货物运输证 of the vehicle.
    HazardousGoods,
    /// 建筑垃圾运输车辆核准 (muck truck).
    Muck,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    Plant,
    ConstructionSite,
    Station,
    Disposal,
    Recycling,
    Landfill,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    Solid,
    SemiSolid,
    Liquid,
    Gas,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Discrepancy {
    Quantity,
    Type,
    Residue,
}

/// A point in integer micro-degrees (WGS-84): 31.385712° N = 31385712.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    pub lat_e6: i32,
    pub lon_e6: i32,
}

/// A salted SHA-256 commitment to a personal value (a driver's name or licence number): the
/// clear value and salt are kept beside the log, erasable; the commitment stays provable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Commitment(String);

impl TryFrom<String> for Commitment {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Commitment(s))
        } else {
            Err(format!(
                "expected a commitment: 64 lower-case hex digits of SHA-256(salt || value), got {s:?}"
            ))
        }
    }
}

impl From<Commitment> for String {
    fn from(c: Commitment) -> String {
        c.0
    }
}

impl Commitment {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A vehicle permit, as registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permit {
    pub kind: PermitKind,
    pub number: String,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
}

/// A container on a manifest line: "one item, one code".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    pub id: String,
    pub packaging: String,
    /// What this container holds (its label's weight), when weighed at packing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

/// One line of a manifest: one waste, its form and hazards, its containers and quantity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// Hazardous stream: the 8-digit code. Construction stream: absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<WasteCode>,
    /// Construction stream: the type. Hazardous stream: absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cw_type: Option<CwType>,
    pub name: String,
    pub form: Form,
    #[serde(default)]
    pub hazards: Vec<Hazard>,
    #[serde(default)]
    pub containers: Vec<Container>,
    pub quantity: Quantity,
    /// Main components (主要成分), as the container label shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<String>,
    /// Hazardous components (有害成分).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hazardous_components: Option<String>,
    /// Precautions for handling (注意事项).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precautions: Option<String>,
}

/// A line's quantity at a step, by its position on the manifest (0-based).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineQty {
    /// The line's 0-based index on the wire (people count from 1: index 0 is line 1).
    pub line: u32,
    pub quantity: Quantity,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceivedLine {
    /// The line's 0-based index on the wire (people count from 1: index 0 is line 1).
    pub line: u32,
    pub accepted: Quantity,
    pub rejected: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discrepancy: Option<Discrepancy>,
}

/// Where the rejected part of a load goes, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    pub reason: String,
    /// The party the rejected part goes back or on to (usually the generator).
    pub to: Uscc,
}

/// An outgoing load a station makes: the new manifest's route and lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outgoing {
    pub destination: String,
    pub haulers: Vec<Uscc>,
    pub lines: Vec<Line>,
}

/// Every domain event. The wire `type` of each is in [`DomainEvent::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainEvent {
    PartyRegistered(PartyRegistered),
    LicenceGranted(LicenceGranted),
    LicenceRevoked(LicenceRevoked),
    VehicleRegistered(VehicleRegistered),
    SiteRegistered(SiteRegistered),
    PersonRegistered(PersonRegistered),
    ManifestIssued(ManifestIssued),
    ManifestVoided(ManifestVoided),
    ManifestCorrected(ManifestCorrected),
    Handover(Handover),
    Weighed(Weighed),
    Received(Received),
    Treated(Treated),
    Consolidated(Consolidated),
    Split(Split),
    Inspection(Inspection),
    Track(Track),
    EvidenceExported(EvidenceExported),
    CaseNoted(CaseNoted),
}

/// `party.registered` (authority): a company or agency and its roles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyRegistered {
    pub party: Uscc,
    pub name: String,
    pub roles: Vec<Role>,
    /// The company's business telephone, printed on its container labels (not a person's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// `licence.granted` (authority).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceGranted {
    pub licence: String,
    pub party: Uscc,
    pub kind: LicenceKind,
    /// Hazardous codes covered one by one.
    #[serde(default)]
    pub codes: Vec<WasteCode>,
    /// Whole categories covered, e.g. "HW08".
    #[serde(default)]
    pub categories: Vec<super::codes::HwCategory>,
    #[serde(default)]
    pub cw_types: Vec<CwType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_capacity: Option<Quantity>,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
}

/// `licence.revoked` (authority): also a suspension that does not end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceRevoked {
    pub licence: String,
    pub effective: Timestamp,
    pub reason: String,
}

/// `vehicle.registered` (authority).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehicleRegistered {
    pub plate: Plate,
    pub party: Uscc,
    #[serde(default)]
    pub permits: Vec<Permit>,
}

/// `site.registered` (authority).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteRegistered {
    pub site: String,
    pub party: Uscc,
    pub kind: SiteKind,
    pub name: String,
    pub location: Point,
    /// A polygon (at least 3 points) around the site.
    pub geofence: Vec<Point>,
}

/// What a registered person does for the party it works for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonRole {
    Driver,
    /// 押运员: the escort a hazardous load travels with.
    Escort,
}

/// `person.registered` (the party the person works for, or the authority): one stable
/// pseudonymous identity for a driver or escort. `person` is the commitment to the person's
/// name under a salt drawn once, at registration; it is the person's id in every hand-over
/// (`driver_id`) and in search. The name and its salt are lodged beside the log, erasable; the
/// clear name is never in the event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonRegistered {
    pub person: Commitment,
    /// The party the person works for.
    pub party: Uscc,
    pub role: PersonRole,
    /// Commitment to the person's licence or staff number, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<Commitment>,
}

/// `manifest.issued` (the generator). The log allocates the manifest number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestIssued {
    /// The issuer's own reference for this load (its waste-out slip number): unique per
    /// issuer, it also keeps two otherwise identical manifests from being one event.
    pub reference: String,
    pub stream: Stream,
    pub generator: Uscc,
    /// The site the load leaves from (a plant or a construction site of the generator).
    pub origin: String,
    /// The site it is going to.
    pub destination: String,
    /// Planned haulers, in order.
    pub haulers: Vec<Uscc>,
    pub lines: Vec<Line>,
    /// Transfer plan approval number (转移计划备案号), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
}

/// `manifest.voided` (the issuer, before pickup).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestVoided {
    pub manifest: ManifestNumber,
    pub reason: String,
}

/// `manifest.corrected` (the issuer, before receipt): a new version of the declaration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestCorrected {
    pub manifest: ManifestNumber,
    /// The version this correction makes (the current one + 1): two corrections cannot race.
    pub version: u32,
    pub destination: String,
    pub haulers: Vec<Uscc>,
    pub lines: Vec<Line>,
    pub reason: String,
}

/// `custody.handover`: the holder gives the load to the next party. Both sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handover {
    pub manifest: ManifestNumber,
    pub from: Uscc,
    pub to: Uscc,
    /// The vehicle that carries the load on from here (absent when a station or receiver takes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<Plate>,
    /// A per-load commitment to the driver's name: the form of logs made before persons were
    /// registered, still read and searchable; new hand-overs name `driver_id` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<Commitment>,
    /// The driver, by the id of a `person.registered` (the same on every load they drive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_id: Option<Commitment>,
    /// Where: a registered site, or a point on the road.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Point>,
    /// When the parties say it happened (the log records when it learned of it).
    pub at: Timestamp,
    /// Quantity per line as counted or weighed at the hand-over.
    pub lines: Vec<LineQty>,
}

/// `custody.weighed`: a weighbridge ticket, by the holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weighed {
    pub manifest: ManifestNumber,
    pub site: String,
    pub ticket: String,
    pub gross: Quantity,
    pub tare: Quantity,
    pub net: Quantity,
    pub at: Timestamp,
}

/// `custody.received`: the receiver confirms what it accepted and rejected, line by line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Received {
    pub manifest: ManifestNumber,
    pub lines: Vec<ReceivedLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
}

/// `custody.treated`: the receiver treated (or disposed of) an accepted quantity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Treated {
    pub manifest: ManifestNumber,
    /// The line's 0-based index on the wire (people count from 1: index 0 is line 1).
    pub line: u32,
    pub code: RdCode,
    pub quantity: Quantity,
}

/// `station.consolidated`: a station puts loads it holds into one outgoing load under a new
/// manifest (allocated by the log); inputs and output are linked both ways.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consolidated {
    pub station: Uscc,
    pub inputs: Vec<ManifestNumber>,
    pub output: Outgoing,
}

/// `station.split`: a station divides one load it holds into several outgoing loads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub station: Uscc,
    pub input: ManifestNumber,
    pub outputs: Vec<Outgoing>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Violation,
}

/// `inspection.recorded`: an inspector's check of a load, a vehicle or a site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inspection {
    pub inspector: Uscc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<Plate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Point>,
    pub at: Timestamp,
    pub verdict: Verdict,
    pub findings: String,
    /// The QR token the inspector scanned (manifest or container label), kept as evidence of
    /// what the label said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackPoint {
    pub at: Timestamp,
    pub lat_e6: i32,
    pub lon_e6: i32,
}

/// `vehicle.track`: positions of a vehicle, signed by its hauler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Track {
    pub plate: Plate,
    pub points: Vec<TrackPoint>,
}

/// `evidence.exported`: an enforcement officer, an inspector or the authority pulls the
/// records of a case (a case bundle). Enforcement access is itself on the log: who pulled
/// which manifests, when, for which case and why. Signed by the party that pulls (`by`), or by
/// the authority (then `by` is the agency it acts for).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceExported {
    /// The USCC of the party (or agency) that pulls.
    pub by: Uscc,
    /// The case reference (立案号 or the investigation's own number).
    pub case: String,
    pub reason: String,
    /// The selection: at least one manifest, each once, each in the log.
    pub manifests: Vec<ManifestNumber>,
    /// The search that produced the selection, recorded as given (e.g. a query string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// When the party says it pulled (the log records when it learned of it).
    pub at: Timestamp,
}

/// `case.noted`: an inspector or enforcement officer records what was done about one anomaly
/// the detectors found (named by its stable id, README "Anomaly detectors"): a site visit, a
/// call, a case opened. Signed by the party that notes it (`by`). The log cannot tell whether
/// the id is one a detector finds (anomalies depend on the time they are looked at); a note on
/// an id no scan yields is kept and shows nowhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseNoted {
    /// The USCC of the inspection or enforcement party.
    pub by: Uscc,
    /// The anomaly's stable id (`overdue-3f09c2a1b4d5e6f7`).
    pub anomaly: String,
    /// What was done about it.
    pub action: String,
    /// The case it went into (立案号), if one was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// When the party says it was done.
    pub at: Timestamp,
}

impl DomainEvent {
    /// Every domain event type, as written in `type`.
    pub const TYPES: [&'static str; 19] = [
        "party.registered",
        "licence.granted",
        "licence.revoked",
        "vehicle.registered",
        "site.registered",
        "person.registered",
        "manifest.issued",
        "manifest.voided",
        "manifest.corrected",
        "custody.handover",
        "custody.weighed",
        "custody.received",
        "custody.treated",
        "station.consolidated",
        "station.split",
        "inspection.recorded",
        "vehicle.track",
        "evidence.exported",
        "case.noted",
    ];

    /// Parse the event's canonical JSON (its `type` picks the shape). Errors name the field.
    pub fn parse(event_type: &str, json: &[u8]) -> Result<Self, Refusal> {
        use DomainEvent as E;
        Ok(match event_type {
            "party.registered" => E::PartyRegistered(straight(json)?),
            "licence.granted" => E::LicenceGranted(straight(json)?),
            "licence.revoked" => E::LicenceRevoked(straight(json)?),
            "vehicle.registered" => E::VehicleRegistered(straight(json)?),
            "site.registered" => E::SiteRegistered(straight(json)?),
            "person.registered" => E::PersonRegistered(straight(json)?),
            "manifest.issued" => E::ManifestIssued(straight(json)?),
            "manifest.voided" => E::ManifestVoided(straight(json)?),
            "manifest.corrected" => E::ManifestCorrected(straight(json)?),
            "custody.handover" => E::Handover(straight(json)?),
            "custody.weighed" => E::Weighed(straight(json)?),
            "custody.received" => E::Received(straight(json)?),
            "custody.treated" => E::Treated(straight(json)?),
            "station.consolidated" => E::Consolidated(straight(json)?),
            "station.split" => E::Split(straight(json)?),
            "inspection.recorded" => E::Inspection(straight(json)?),
            "vehicle.track" => E::Track(straight(json)?),
            "evidence.exported" => E::EvidenceExported(straight(json)?),
            "case.noted" => E::CaseNoted(straight(json)?),
            other => {
                return Err(Refusal::Field {
                    field: "event.type".into(),
                    expected: format!(
                        "one of the event types the log knows ({}), got {other:?}",
                        Self::TYPES.join(", ")
                    ),
                })
            }
        })
    }
}

/// Canonical bytes without their `type`, straight into the event's type. Whatever that
/// refuses (or [`without_member`] is unsure of) is read [`tracked`], whose refusal names the
/// field. Under test, every event read straight is read tracked too, and must be the same.
fn straight<T>(json: &[u8]) -> Result<T, Refusal>
where
    T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    match without_member(json, "type").map(|body| serde_json::from_slice(&body)) {
        Some(Ok(event)) => {
            #[cfg(test)]
            assert_eq!(
                tracked::<T>(json).ok().as_ref(),
                Some(&event),
                "read straight, and tracked: {}",
                String::from_utf8_lossy(json)
            );
            Ok(event)
        }
        _ => tracked(json),
    }
}

/// Into a JSON value first, then into the event's type with the path tracked, so that a
/// refusal names the field.
fn tracked<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, Refusal> {
    let mut body: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(json)
        .map_err(|e| Refusal::Field {
            field: "event".into(),
            expected: format!("a JSON object ({e})"),
        })?;
    body.remove("type");
    serde_path_to_error::deserialize(serde_json::Value::Object(body)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "event".to_string()
        } else {
            format!("event.{path}")
        };
        Refusal::Field {
            field,
            expected: expected_from(&e.into_inner().to_string()),
        }
    })
}

/// serde's message as what `Refusal::Field` puts after "expected": "unknown variant `x`,
/// expected one of `a`, `b`" becomes "one of `a`, `b`, got unknown variant `x`"; "missing field
/// `x`" becomes "field `x` to be present"; our codes' own errors begin with "expected".
fn expected_from(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("expected ") {
        return rest.to_string();
    }
    if let Some(at) = msg.find(", expected ") {
        let (got, exp) = (&msg[..at], &msg[at + ", expected ".len()..]);
        return format!("{exp}, got {got}");
    }
    if let Some(name) = msg.strip_prefix("missing field ") {
        return format!("field {name} to be present");
    }
    format!("a valid value ({msg})")
}
