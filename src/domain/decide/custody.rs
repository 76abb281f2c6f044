//! Custody of a load: hand-over (complete, or half-signed and waiting), weighing, receipt
//! (with the return of a rejected part) and treatment.

use crate::domain::checks::*;
use crate::domain::codes::{Plate, Quantity, Uscc};
use crate::domain::events::*;
use crate::domain::fold::{Domain, Effect};
use crate::domain::model::*;
use crate::domain::movements::{Fix, FixKind};
use crate::domain::query::DomainQuery;
use crate::ledger::event::SignedEvent;
use crate::ledger::state::Refusal;
use crate::ledger::time::Timestamp;
use std::borrow::Cow;
use std::collections::BTreeSet;

impl Domain {
    /// `custody.handover` as the log takes it: signed by both parties.
    pub(super) fn decide_complete_handover(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        h: Handover,
    ) -> Result<Effect, Refusal> {
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

    /// `custody.weighed`: the holder records a weighbridge's net.
    pub(super) fn decide_weighing(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        w: Weighed,
    ) -> Result<Effect, Refusal> {
        let m = self.manifest_for(event, &w.manifest, "event.manifest")?;
        self.require_signed_by(
            event,
            &m.holder,
            "signatures",
            "custody.weighed (by the holder)",
        )?;
        self.registered_site(&w.site, "event.site")?;
        for (name, q) in [("gross", &w.gross), ("tare", &w.tare), ("net", &w.net)] {
            if q.unit != crate::domain::codes::Unit::G {
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
        let mut m = m;
        let declared: u64 = m
            .quantities
            .iter()
            .filter(|q| q.unit == crate::domain::codes::Unit::G)
            .map(|q| q.amount)
            .sum();
        let all_mass = m
            .quantities
            .iter()
            .all(|q| q.unit == crate::domain::codes::Unit::G);
        if all_mass
            && gap_permille(declared, w.net.amount) > self.limits.tolerance_permille(m.stream)
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

    /// `custody.received`: the receiver holding a delivered load accepts or rejects each line.
    pub(super) fn decide_receipt(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        r: Received,
    ) -> Result<Effect, Refusal> {
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
        let mut m = m;
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

    /// `custody.treated`: the receiver treats part of what it accepted.
    pub(super) fn decide_treatment(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        t: Treated,
    ) -> Result<Effect, Refusal> {
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
        let mut m = m;
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
        let mut m = m;
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
        m.steps.push(
            Step::at(index, time, StepKind::Handover)
                .between(h.from, Some(h.to))
                .on(h.vehicle)
                .counting(counts),
        );
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
        // What is read of the manifest, read where it is held (not a copy of its record).
        let Some((vehicle, status, home)) = self.with_stored_manifest(&h.manifest, |m| {
            m.map(|m| {
                let home = m.return_to.as_ref() == Some(&h.to);
                (m.vehicle.clone(), m.status, home)
            })
        }) else {
            return out;
        };
        if let (Some(v), Status::InTransit | Status::Rejected) = (vehicle, status) {
            out.push((v, Fix::new(h.at, point, index, FixKind::Unload)));
        }
        // Onto a truck: a hauler taking it with a vehicle (as `taking_status` decides), unless
        // it is a rejected load reaching the party it goes back to.
        let hauler = self
            .parties
            .get(&h.to)
            .is_some_and(|p| p.roles.contains(&Role::Hauler));
        let home = status == Status::Rejected && home;
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
