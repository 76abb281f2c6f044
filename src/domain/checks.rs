//! The checks every family of events shares (`decide/`), and the refusals they give: a field,
//! a state, a signer, an unknown thing; who signed; the party, site or manifest an event names
//! (and whether its signers may see it); licences and permits; the lines a load declares.

use super::codes::{ManifestNumber, Plate, Uscc};
use super::events::*;
use super::fold::Domain;
use super::model::{Licence, Manifest, Party, Site};
use super::table::enc;
use crate::ledger::event::SignedEvent;
use crate::ledger::state::{LogState, Refusal};
use crate::ledger::time::Timestamp;
use serde::Serialize;
use std::borrow::Cow;
use std::sync::Arc;

/// Parties whose licence ids a fold keeps listed (cleared when full): a licence check reads
/// the holder's list at every hand-over and receipt.
const LICENCE_MEMO: usize = 4_096;

/// How far ahead of its entry's log time an event may say it happened (clocks differ; a
/// terminal may queue a hand-over offline, but not from the future).
pub const MAX_AHEAD_MS: u64 = 24 * 60 * 60 * 1000;

/// Refuse a time the parties give (`at`) more than [`MAX_AHEAD_MS`] after the entry's log
/// time: compared with the log's time, never a clock, so an audit decides the same.
pub(super) fn not_ahead_of_log(ev: &DomainEvent, log_time: Timestamp) -> Result<(), Refusal> {
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

pub(super) fn f(field: &str, expected: impl Into<String>) -> Refusal {
    Refusal::Field {
        field: field.into(),
        expected: expected.into(),
    }
}
pub(super) fn unknown(field: &str, detail: impl Into<String>) -> Refusal {
    Refusal::Unknown {
        field: field.into(),
        detail: detail.into(),
    }
}
pub(super) fn state(field: &str, detail: impl Into<String>) -> Refusal {
    Refusal::State {
        field: field.into(),
        detail: detail.into(),
    }
}
/// How a value is written on the wire ("hw_transport", "g"), for messages.
pub(super) fn wire(v: impl Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Refuse a step the manifest's status does not allow, saying what the rule is.
pub(super) fn require_state(m: &Manifest, allowed: bool, rule: &str) -> Result<(), Refusal> {
    if allowed {
        return Ok(());
    }
    let sep = if rule.is_empty() { "" } else { "; " };
    Err(state(
        "event.manifest",
        format!("{rule}{sep}manifest {} is {}", m.number, m.status.as_str()),
    ))
}

pub(super) fn signer(field: &str, detail: impl Into<String>) -> Refusal {
    Refusal::Signer {
        field: field.into(),
        detail: detail.into(),
    }
}

/// `part` in parts per thousand of `whole`, rounded up.
pub(super) fn gap_permille(a: u64, b: u64) -> u64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    if hi == 0 {
        return 0;
    }
    ((hi - lo) as u128 * 1000).div_ceil(hi as u128) as u64
}

/// Refuse an event not signed by the authority alone (the registry is the authority's to keep).
pub(super) fn authority_signed(event: &SignedEvent, log: &LogState) -> Result<(), Refusal> {
    match log.authority {
        Some(a) if event.signers().all(|k| *k == a) => Ok(()),
        _ => Err(Refusal::NotAuthority {
            event_type: event.event_type().into(),
            authority: log.authority.map(|k| k.to_string()).unwrap_or_default(),
        }),
    }
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

impl Domain {
    pub(super) fn signed_by(&self, event: &SignedEvent, party: &Uscc) -> bool {
        event
            .signers()
            .any(|k| self.keys.get(k).as_deref() == Some(party))
    }

    pub(super) fn require_signed_by(
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
    pub(super) fn only_parties_sign(
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

    pub(super) fn registered_party(
        &self,
        id: &Uscc,
        field: &str,
    ) -> Result<Cow<'_, Party>, Refusal> {
        self.parties
            .get(id)
            .ok_or_else(|| unknown(field, format!("{id} is not a registered party")))
    }

    pub(super) fn party_with(
        &self,
        id: &Uscc,
        role: Role,
        field: &str,
    ) -> Result<Cow<'_, Party>, Refusal> {
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

    pub(super) fn registered_site(&self, id: &str, field: &str) -> Result<Cow<'_, Site>, Refusal> {
        self.sites
            .get(&id.to_string())
            .ok_or_else(|| unknown(field, format!("{id:?} is not a registered site")))
    }

    /// The manifest `n`, for an event about it. A signer learns nothing about a manifest it is
    /// not a party to (not its issuer, a planned hauler, its destination's party, a past holder
    /// or anyone else in `parties`), unless its role reads every manifest (inspector,
    /// enforcement, auditor, the authority): it gets the answer an unknown number gets, so not
    /// even the manifest's existence (nor its holder) is told by a refusal.
    pub(super) fn manifest_for(
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
        self.stored_manifest(n)
            .filter(|m| sees(m))
            .map(Cow::into_owned)
            .ok_or_else(|| {
                unknown(
                    field,
                    format!("manifest {n} does not exist, or its signers are not parties to it"),
                )
            })
    }

    /// The ids of the licences granted to `party`, in the order granted.
    fn licence_ids_of(&self, party: &Uscc) -> Arc<[String]> {
        let memo = self
            .licence_ids
            .lock()
            .expect("licence memo")
            .get(party)
            .cloned();
        memo.unwrap_or_else(|| {
            let mut ids = Vec::new();
            self.licences_of.scan(&enc(party), &mut |_, id| {
                ids.push(id.into_owned());
                std::ops::ControlFlow::Continue(())
            });
            let ids: Arc<[String]> = ids.into();
            let mut memo = self.licence_ids.lock().expect("licence memo");
            if memo.len() >= LICENCE_MEMO {
                memo.clear();
            }
            memo.insert(party.clone(), ids.clone());
            ids
        })
    }

    /// The licences granted to `party`, in the order granted.
    pub(super) fn licences_held(&self, party: &Uscc) -> Vec<Licence> {
        self.licence_ids_of(party)
            .iter()
            .filter_map(|id| self.licences.get(id).map(Cow::into_owned))
            .collect()
    }

    /// The licence, if any, that lets `party` take in `line` at `at`; else why not.
    pub fn licensed(
        &self,
        party: &Uscc,
        stream: Stream,
        line: &Line,
        at: Timestamp,
    ) -> Result<(), String> {
        self.licence_lapse(party, at, |l| l.covers(stream, line), Said::Last)
            .map_err(|lapse| {
                lapse.unwrap_or_else(|| {
                    let what = match (&line.code, &line.cw_type) {
                        (Some(c), _) => format!("code {c}"),
                        (_, Some(t)) => format!("type {}", t.en()),
                        _ => "this waste".into(),
                    };
                    format!("{party} holds no licence for {what}")
                })
            })
    }

    /// Whether one of `party`'s licences that `counts` covers `at`, in the order granted: `Ok`
    /// at the first that does; else the lapse of the first or the last of those that count
    /// (`said`), or `None` where none counts. Each is read where it is held, not copied: asked
    /// for every line a site takes in, and of each hauler at each hand-over.
    fn licence_lapse(
        &self,
        party: &Uscc,
        at: Timestamp,
        counts: impl Fn(&Licence) -> bool,
        said: Said,
    ) -> Result<(), Option<String>> {
        let mut lapse = None;
        for id in self.licence_ids_of(party).iter() {
            match self
                .licences
                .peek(id, |l| l.filter(|l| counts(l)).map(|l| l.lapse(at)))
            {
                Some(None) => return Ok(()),
                Some(Some(why)) if said == Said::Last || lapse.is_none() => lapse = Some(why),
                _ => {}
            }
        }
        Err(lapse)
    }

    /// Why a hauler or its vehicle may not carry this stream at `at`, if so.
    pub(super) fn permit_problems(
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
        // The hauler's licences of this kind: covered by any; else why the first does not cover.
        if let Err(lapse) = self.licence_lapse(hauler, at, |l| l.grant.kind == kind, Said::First) {
            out.push(match lapse {
                Some(why) => format!("hauler {hauler}: {why}"),
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

    pub(super) fn check_lines(
        &self,
        stream: Stream,
        lines: &[Line],
        field: &str,
    ) -> Result<(), Refusal> {
        if lines.is_empty() {
            return Err(f(field, "at least one line"));
        }
        for (i, l) in lines.iter().enumerate() {
            // The field named only when refused.
            let lf = format_args!("{field}[{i}]");
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

    pub(super) fn check_route(
        &self,
        destination: &str,
        haulers: &[Uscc],
        field: &str,
    ) -> Result<(), Refusal> {
        self.registered_site(destination, &format!("{field}destination"))?;
        if haulers.is_empty() {
            return Err(f(&format!("{field}haulers"), "at least one planned hauler"));
        }
        for (i, h) in haulers.iter().enumerate() {
            self.party_with(h, Role::Hauler, &format!("{field}haulers[{i}]"))?;
        }
        Ok(())
    }
}

/// Which lapse [`Domain::licence_lapse`] says where no licence covers: the first licence's that
/// counts, or the last one's (each check has said its own since it was written, and the words
/// are stored in the read model's flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Said {
    First,
    Last,
}
