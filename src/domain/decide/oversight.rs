//! Oversight: inspections, pulls of evidence, notes on what was done about an anomaly.

use crate::domain::checks::*;
use crate::domain::codes::Uscc;
use crate::domain::events::*;
use crate::domain::fold::{Domain, Effect, MAX_EXPORT_MANIFESTS};
use crate::domain::model::*;
use crate::ledger::event::SignedEvent;
use crate::ledger::state::{LogState, Refusal};
use crate::ledger::time::Timestamp;

impl Domain {
    /// `inspection.recorded`: an inspector's finding, a step on the manifest it names.
    pub(super) fn decide_inspection(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        ins: Inspection,
    ) -> Result<Effect, Refusal> {
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
                if let Some(detail) = ins.vehicle.as_ref().and_then(|v| m.vehicle_mismatch(v)) {
                    m.flags.push(Flag {
                        kind: FlagKind::WrongVehicle,
                        index,
                        detail: format!("inspection by {} at {}: {detail}", ins.inspector, ins.at),
                    });
                }
                m.steps.push(
                    Step::at(index, time, StepKind::Inspection)
                        .between(ins.inspector, None)
                        .on(ins.vehicle),
                );
                Ok(Effect::updated(m))
            }
            None => Ok(Effect::None),
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
    pub(super) fn decide_note(
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
    pub(super) fn decide_export(
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
}
