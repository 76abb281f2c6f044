//! A manifest's own life (issue, correction, void), and how a new manifest is numbered and
//! made (also a station's outgoing loads and a rejected part's return).

use crate::domain::checks::*;
use crate::domain::codes::{ManifestNumber, Uscc};
use crate::domain::events::*;
use crate::domain::fold::{Domain, Effect};
use crate::domain::model::*;
use crate::ledger::event::SignedEvent;
use crate::ledger::state::Refusal;
use crate::ledger::time::Timestamp;
use std::collections::BTreeSet;

impl Domain {
    /// `manifest.issued`: a generator issues a manifest from its own site, numbered by the log.
    pub(super) fn decide_issue(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        m: ManifestIssued,
    ) -> Result<Effect, Refusal> {
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

    /// `manifest.voided`: the issuer voids a manifest before pickup (not a station's outgoing load).
    pub(super) fn decide_void(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        v: ManifestVoided,
    ) -> Result<Effect, Refusal> {
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
        let mut m = m;
        m.status = Status::Voided;
        m.steps.push(Step::at(index, time, StepKind::Voided));
        Ok(Effect::updated(m))
    }

    /// `manifest.corrected`: the issuer makes the next version, before receipt.
    pub(super) fn decide_correction(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        c: ManifestCorrected,
    ) -> Result<Effect, Refusal> {
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
        let mut m = m;
        m.versions.push(std::sync::Arc::new(Version {
            version: next,
            index,
            time,
            destination: c.destination.clone(),
            haulers: c.haulers.clone(),
            lines: c.lines.clone(),
            reason: Some(c.reason),
        }));
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
    pub(super) fn allocate(
        &self,
        issuer: &Uscc,
        time: Timestamp,
        taken: u32,
        field: &str,
    ) -> Result<ManifestNumber, Refusal> {
        let year = time.cst_year();
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
    pub(super) fn new_manifest(
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
            versions: vec![std::sync::Arc::new(Version {
                version: 1,
                index,
                time,
                destination: destination.to_string(),
                haulers: haulers.to_vec(),
                lines: lines.to_vec(),
                reason: None,
            })],
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
            steps: vec![
                Step::at(index, time, kind).counting(lines.iter().map(|l| l.quantity).collect())
            ],
            flags: self.declaration_flags(lines, index),
            parties,
            vehicles: BTreeSet::new(),
        }
    }
}
