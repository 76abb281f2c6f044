//! Registry events: parties, keys (added, delegated, revoked), licences, vehicles and their
//! tracks, sites, persons.

use crate::domain::checks::*;
use crate::domain::codes::Uscc;
use crate::domain::events::*;
use crate::domain::fold::{Domain, Effect};
use crate::domain::model::*;
use crate::domain::movements::{Fix, FixKind};
use crate::ledger::event::{PublicKey, SignedEvent};
use crate::ledger::state::{Delegation, LogState, Refusal};
use crate::ledger::time::Timestamp;

impl Domain {
    /// `key.revoked`: the ledger checked it already; the revocation is kept for reads and
    /// pending checks.
    pub(super) fn decide_key_revoked(&self, event: &SignedEvent) -> Result<Effect, Refusal> {
        let ev = event.event();
        let key = PublicKey::parse("event.key", ev["key"].as_str().unwrap_or_default())
            .map_err(|e| f("event.key", e.to_string()))?;
        let eff = Timestamp::parse(ev["effective"].as_str().unwrap_or_default())
            .map_err(|e| f("event.effective", e))?;
        Ok(Effect::KeyRevoked(key, eff))
    }

    /// `key.delegated`: the ledger checked the fields and the signer; the holder must be a party,
    /// and the person, if named, one of its registered persons.
    pub(super) fn decide_key_delegated(&self, event: &SignedEvent) -> Result<Effect, Refusal> {
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
        Ok(Effect::Delegated(Box::new((
            d.key,
            id,
            Delegation {
                by,
                label: d.label.to_string(),
                not_after: d.not_after,
                person: d.person.map(str::to_string),
            },
        ))))
    }

    /// `key.added`: a key of a registered party.
    pub(super) fn decide_key_added(&self, event: &SignedEvent) -> Result<Effect, Refusal> {
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
        Ok(Effect::Key(key, id))
    }

    /// `party.registered` (authority): a new party, named, with at least one role.
    pub(super) fn decide_party(
        &self,
        index: u64,
        event: &SignedEvent,
        log: &LogState,
        p: PartyRegistered,
    ) -> Result<Effect, Refusal> {
        authority_signed(event, log)?;
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

    /// `licence.granted` (authority): a new licence of a registered party, saying what it covers.
    pub(super) fn decide_licence(
        &self,
        index: u64,
        event: &SignedEvent,
        log: &LogState,
        g: LicenceGranted,
    ) -> Result<Effect, Refusal> {
        authority_signed(event, log)?;
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

    /// `licence.revoked` (authority): a licence granted and not revoked yet.
    pub(super) fn decide_licence_revoked(
        &self,
        event: &SignedEvent,
        log: &LogState,
        r: LicenceRevoked,
    ) -> Result<Effect, Refusal> {
        authority_signed(event, log)?;
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

    /// `vehicle.registered` (authority): a new plate, of a hauler.
    pub(super) fn decide_vehicle(
        &self,
        index: u64,
        event: &SignedEvent,
        log: &LogState,
        v: VehicleRegistered,
    ) -> Result<Effect, Refusal> {
        authority_signed(event, log)?;
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

    /// `site.registered` (authority): a new site of a registered party, with its geofence.
    pub(super) fn decide_site(
        &self,
        index: u64,
        event: &SignedEvent,
        log: &LogState,
        s: SiteRegistered,
    ) -> Result<Effect, Refusal> {
        authority_signed(event, log)?;
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

    /// `person.registered`: a new person, registered by the party they work for (or the authority).
    pub(super) fn decide_person(
        &self,
        index: u64,
        event: &SignedEvent,
        log: &LogState,
        p: PersonRegistered,
    ) -> Result<Effect, Refusal> {
        // The party the person works for registers them (or the authority for it).
        if !(log.authority.is_some() && event.signers().all(|k| Some(*k) == log.authority)) {
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

    /// `vehicle.track`: points of a registered vehicle, signed by its hauler; they become fixes.
    pub(super) fn decide_track(
        &self,
        index: u64,
        event: &SignedEvent,
        t: Track,
    ) -> Result<Effect, Refusal> {
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
