//! PURE: the hand-over part of the manifest page (`m-handover.html`, `page-handover.js`): the
//! form with which the party holding a load hands it over (who takes it, their truck and
//! driver, the count per line, the time and place), and the halves waiting on this manifest:
//! those the other party signed first, for this party to countersign, and this party's own,
//! shown as a hand-over code for the other party's phone. Everything is read from the domain's
//! state and the manifest's JSON answer (`pending`), never from the browser.

use super::words::{big_amount, driver_words, line_what, party_name, signer_words, site_name};
use super::Lang;
use crate::domain::codes::Unit;
use crate::domain::codes::Uscc;
use crate::domain::events::{DomainEvent, Handover, PersonRole, Role, SiteKind};
use crate::domain::model::{Manifest, Status};
use crate::domain::query::DomainQuery;
use crate::ledger::event::PublicKey;
use crate::ledger::time::Timestamp;
use crate::web::i18n;
use serde_json::Value;

/// A party that may take the load from the holder.
#[derive(Clone, Debug)]
pub struct Taker {
    pub id: String,
    pub name: String,
    /// What it is to this load, in words ("planned hauler", "destination", "station").
    pub what: String,
    /// A hauler: the hand-over names its truck.
    pub hauler: bool,
    /// Where the hand-over happens when this party takes the load (a registered site), if
    /// known: (id, name).
    pub site: Option<(String, String)>,
}

/// A registered vehicle or driver of a taker (the form shows those of the chosen taker).
#[derive(Clone, Debug)]
pub struct Choice {
    pub party: String,
    pub value: String,
    pub text: String,
}

/// One line's count, as people write it.
#[derive(Clone, Debug)]
pub struct CountLine {
    /// 0-based, as the event names it.
    pub index: usize,
    /// 1-based, as people count.
    pub n: usize,
    pub what: String,
    /// `kg` or `L`: what the field is entered in.
    pub unit: &'static str,
    /// `g` or `ml`: the unit the event carries (integer grams or millilitres).
    pub wire_unit: &'static str,
    /// The last count in `unit` (decimal, up to 3 places).
    pub value: String,
}

/// A half-signed hand-over on this manifest, in words.
#[derive(Clone, Debug)]
pub struct HalfView {
    pub hash: String,
    /// (label, value) rows: exactly what the half says.
    pub rows: Vec<(String, String)>,
    /// Who signed it.
    pub signer: String,
}

/// The hand-over part of the manifest page for the signed-in party.
#[derive(Clone, Debug, Default)]
pub struct HandoverView {
    /// The signed-in party holds the load and it may be handed over.
    pub can_give: bool,
    pub from: String,
    pub from_name: String,
    pub takers: Vec<Taker>,
    pub vehicles: Vec<Choice>,
    pub drivers: Vec<Choice>,
    pub lines: Vec<CountLine>,
    /// Now in China Standard Time as a `datetime-local` value (`YYYY-MM-DDTHH:MM`).
    pub now_local: String,
    /// Halves the other party signed, waiting for this party's countersignature.
    pub for_me: Vec<HalfView>,
    /// Halves this party signed, waiting for the other party.
    pub mine: Vec<HalfView>,
}

fn s(lang: Lang, zh: &str, en: &str) -> String {
    match lang {
        Lang::Zh => zh.to_string(),
        Lang::En => en.to_string(),
    }
}

/// What `me` may do with hand-overs on `m`; `pending` is the manifest JSON's `pending` array.
pub fn view(
    d: &dyn DomainQuery,
    m: &Manifest,
    me: &Uscc,
    lang: Lang,
    pending: &[Value],
    now: Timestamp,
) -> HandoverView {
    let v = m.current();
    let movable = matches!(
        m.status,
        Status::Issued | Status::InTransit | Status::AtStation | Status::Delivered
    );
    let can_give = movable && &m.holder == me;
    let dest_party = d.site(&v.destination).map(|s| s.reg.party.clone());
    let mut takers: Vec<Taker> = Vec::new();
    let mut add = |id: &Uscc, what: String| {
        if id == me || takers.iter().any(|t| t.id == id.as_str()) {
            return;
        }
        let Some(p) = d.party(id) else { return };
        let hauler = p.roles.contains(&Role::Hauler);
        let site = if Some(id) == dest_party.as_ref() {
            Some(v.destination.clone())
        } else if hauler && m.status == Status::Issued {
            Some(m.origin.clone())
        } else {
            // A station takes the load in at its own station site.
            d.sites()
                .iter()
                .find(|s| &s.reg.party == id && s.reg.kind == SiteKind::Station)
                .map(|s| s.reg.site.clone())
        };
        takers.push(Taker {
            id: id.to_string(),
            name: p.name.clone(),
            what,
            hauler,
            site: site.map(|s| (s.clone(), site_name(d, &s))),
        });
    };
    if can_give {
        for h in &v.haulers {
            add(h, s(lang, "计划运输单位", "planned hauler"));
        }
        if m.status != Status::Issued {
            if let Some(p) = &dest_party {
                add(p, s(lang, "目的地单位", "destination"));
            }
            for p in d.parties().iter() {
                if p.roles.contains(&Role::Station) {
                    add(&p.id, i18n::role(Role::Station).get(lang).to_string());
                }
            }
        }
    }
    let taker_ids: Vec<&str> = takers
        .iter()
        .filter(|t| t.hauler)
        .map(|t| t.id.as_str())
        .collect();
    let vehicles = d
        .vehicles()
        .iter()
        .filter(|x| taker_ids.contains(&x.party.as_str()))
        .map(|x| Choice {
            party: x.party.to_string(),
            value: x.plate.to_string(),
            text: x.plate.to_string(),
        })
        .collect();
    let drivers = d
        .persons()
        .iter()
        .filter(|p| p.reg.role == PersonRole::Driver && taker_ids.contains(&p.reg.party.as_str()))
        .map(|p| Choice {
            party: p.reg.party.to_string(),
            value: p.reg.person.as_str().to_string(),
            text: driver_words(d, p.reg.person.as_str(), lang),
        })
        .collect();
    let lines = v
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let q = m.quantities.get(i).unwrap_or(&l.quantity);
            let litres = q.unit == Unit::Ml;
            CountLine {
                index: i,
                n: i + 1,
                what: line_what(l, lang),
                unit: if litres { "L" } else { "kg" },
                wire_unit: if litres { "ml" } else { "g" },
                value: big_amount(q.amount),
            }
        })
        .collect();
    let (mut for_me, mut mine) = (Vec::new(), Vec::new());
    for p in pending {
        if p["status"] != "pending" {
            continue;
        }
        let Some(ev) = p["event"].as_object() else {
            continue;
        };
        let names = |k: &str| ev.get(k).and_then(Value::as_str) == Some(me.as_str());
        if !names("from") && !names("to") {
            continue;
        }
        let keys: Vec<PublicKey> = p["signed_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|k| PublicKey::parse("key", k).ok())
            .collect();
        let signers: Vec<Uscc> = keys.iter().filter_map(|k| d.party_of(k)).collect();
        let bytes = serde_json::to_vec(ev).unwrap_or_default();
        let Ok(DomainEvent::Handover(h)) = DomainEvent::parse("custody.handover", &bytes) else {
            continue;
        };
        let half = HalfView {
            hash: p["hash"].as_str().unwrap_or_default().to_string(),
            rows: half_rows(d, m, &h, lang),
            signer: keys
                .iter()
                .filter_map(|k| signer_words(d, k, lang))
                .collect::<Vec<_>>()
                .join("、"),
        };
        if signers.contains(me) {
            mine.push(half);
        } else {
            for_me.push(half);
        }
    }
    HandoverView {
        can_give,
        from: me.to_string(),
        from_name: party_name(d, me),
        takers,
        vehicles,
        drivers,
        lines,
        now_local: now_local(now),
        for_me,
        mine,
    }
}

/// `t` in CST as a `datetime-local` value.
pub fn now_local(t: Timestamp) -> String {
    let c = t.cst();
    format!("{}T{}", &c[..10], &c[11..16])
}

/// A hand-over in words, one row a field, in the order the confirm screen shows them.
pub fn half_rows(
    d: &dyn DomainQuery,
    m: &Manifest,
    h: &Handover,
    lang: Lang,
) -> Vec<(String, String)> {
    let mut rows = vec![
        (s(lang, "联单", "Manifest"), h.manifest.to_string()),
        (s(lang, "交出方", "Handed over by"), party_name(d, &h.from)),
        (s(lang, "接收方", "Taken by"), party_name(d, &h.to)),
    ];
    if let Some(p) = &h.vehicle {
        rows.push((s(lang, "车辆", "Truck"), p.to_string()));
    }
    if let Some(id) = &h.driver_id {
        rows.push((
            s(lang, "驾驶员", "Driver"),
            driver_words(d, id.as_str(), lang),
        ));
    }
    if let Some(c) = &h.driver {
        let c = c.as_str();
        rows.push((
            s(lang, "驾驶员（承诺值）", "Driver (commitment)"),
            format!("{}…", c.get(..12).unwrap_or(c)),
        ));
    }
    if let Some(site) = &h.site {
        rows.push((s(lang, "地点", "Place"), site_name(d, site)));
    }
    rows.push((s(lang, "时间", "Time"), crate::web::when(lang, h.at)));
    let v = m.current();
    for l in &h.lines {
        let what = v
            .lines
            .get(l.line as usize)
            .map(|x| line_what(x, lang))
            .unwrap_or_default();
        rows.push((
            match lang {
                Lang::Zh => format!("第{}行 {what}", l.line + 1),
                Lang::En => format!("Line {} {what}", l.line + 1),
            },
            crate::web::quantity(&l.quantity),
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_field_is_china_time() {
        let t = Timestamp::parse("2026-12-03T07:05:09.123Z").unwrap();
        assert_eq!(now_local(t), "2026-12-03T15:05");
    }
}
