//! What an event does, decided before anything changes: [`Domain::decide`] sends each event
//! to its family's file, which checks it completely and returns the [`Effect`] the fold then
//! applies (`fold.rs`); [`Domain::decide_and_apply`] does both and indexes what the entry
//! names. The checks the families share are in `checks.rs`.

mod custody;
mod manifest;
mod oversight;
mod registry;
mod station;

use crate::domain::checks::{f, not_ahead_of_log, signer};
use crate::domain::events::DomainEvent;
use crate::domain::fold::{Domain, Effect};
use crate::ledger::event::SignedEvent;
use crate::ledger::state::{LogState, Refusal};
use crate::ledger::time::Timestamp;

/// A domain event as [`DomainEvent::parse`] reads it: what [`prepare`] keeps with the event.
pub(crate) type Parsed = Result<DomainEvent, Refusal>;

/// Parse a domain event ahead, on the thread that checks its signatures (`Rules::prepares`,
/// `Fold::prepares`): `decide` takes the result instead of parsing it on the serial fold. The
/// parse reads the event's type and bytes alone, so it is the same wherever it runs.
pub(crate) fn prepare(event: &SignedEvent) {
    if DomainEvent::TYPES.contains(&event.event_type()) {
        event.prepare(|e| -> Parsed { DomainEvent::parse(e.event_type(), e.event_bytes()) });
    }
}

impl Domain {
    /// What `event` at `index` does, checked completely before anything changes: each event
    /// goes to its family's `decide_*` (registry, manifest, custody, station, oversight).
    pub(super) fn decide(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        log: &LogState,
    ) -> Result<Effect, Refusal> {
        match event.event_type() {
            "log.genesis" => return Ok(Effect::None),
            "key.revoked" => return self.decide_key_revoked(event),
            "key.delegated" => return self.decide_key_delegated(event),
            "key.added" => return self.decide_key_added(event),
            _ => {}
        }
        let ev = match event.take_prepared::<Parsed>() {
            Some(parsed) => parsed?,
            None => DomainEvent::parse(event.event_type(), event.event_bytes())?,
        };
        if !self.rulebook_v1 {
            not_ahead_of_log(&ev, time)?;
        }
        use DomainEvent as E;
        match ev {
            E::PartyRegistered(p) => self.decide_party(index, event, log, p),
            E::LicenceGranted(g) => self.decide_licence(index, event, log, g),
            E::LicenceRevoked(r) => self.decide_licence_revoked(event, log, r),
            E::VehicleRegistered(v) => self.decide_vehicle(index, event, log, v),
            E::SiteRegistered(s) => self.decide_site(index, event, log, s),
            E::PersonRegistered(p) => self.decide_person(index, event, log, p),
            E::ManifestIssued(m) => self.decide_issue(index, time, event, m),
            E::ManifestVoided(v) => self.decide_void(index, time, event, v),
            E::ManifestCorrected(c) => self.decide_correction(index, time, event, c),
            E::Handover(h) => self.decide_complete_handover(index, time, event, h),
            E::Weighed(w) => self.decide_weighing(index, time, event, w),
            E::Received(r) => self.decide_receipt(index, time, event, r),
            E::Treated(t) => self.decide_treatment(index, time, event, t),
            E::Consolidated(c) => self.decide_consolidation(index, time, event, c),
            E::Split(s) => self.decide_split(index, time, event, s),
            E::Inspection(ins) => self.decide_inspection(index, time, event, ins),
            E::EvidenceExported(x) => self.decide_export(index, time, event, log, x),
            E::CaseNoted(x) => self.decide_note(index, time, event, x),
            E::Track(t) => self.decide_track(index, event, t),
        }
    }
}

impl Domain {
    /// Decide entry `index` and apply what it does, then index what it names; the fold's
    /// `admit` calls this once the log's own checks passed.
    pub(in crate::domain) fn decide_and_apply(
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
        // Derived search index (subjects.rs): what the entry names in each manifest it
        // created or changed, read from the state as applied.
        let [site, driver_id, driver] = event.top_level_strs(["site", "driver_id", "driver"]);
        let site = site.flatten();
        let driver = match driver_id {
            Some(id) => id,
            None => driver.flatten(),
        };
        let named = touched
            .into_iter()
            .filter_map(|n| {
                let m = self.stored_manifest(&n)?;
                let found = m.named_at(index, site, driver);
                Some((n, found))
            })
            .collect();
        for (n, links) in self.subjects.record(index, time, named) {
            self.manifests
                .update(&n, |r| r.links.extend_from_slice(&links));
        }
        Ok(())
    }
}
