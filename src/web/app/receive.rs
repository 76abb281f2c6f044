//! PURE: the gate office of a transfer station or a receiver (利用处置单位 / 消纳场): the loads
//! heading to its sites and the loads it holds (`/app/incoming`), and what the manifest page
//! offers the party holding a load at its gate (`m-receive.html`, driven by
//! `static/page-receive.js`): weigh (`custody.weighed`), receive line by line with a rejection
//! (`custody.received`), treat with an R/D code (`custody.treated`), and at a station
//! consolidate loads into one or split one into several (`station.consolidated`,
//! `station.split`). Every choice offered is one the log would take from this party now; the
//! log still decides.

use super::words::{big_amount, line_what, load_what, party_name, site_name, tone};
use super::{Chrome, Lang};
use crate::domain::codes::{ManifestNumber, Quantity, RdCode, Unit, Uscc};
use crate::domain::events::{Discrepancy, Line, Role, SiteKind};
use crate::domain::model::{Manifest, Status};
use crate::domain::query::DomainQuery;
use crate::domain::subjects::{Subject, SubjectKind};
use crate::ledger::time::Timestamp;
use crate::web::i18n;
use askama::Template;
use std::borrow::Cow;

/// One load at the gate, or on its way to it.
#[derive(Clone, Debug)]
pub struct IncomingRow {
    pub number: String,
    pub status: String,
    pub tone: &'static str,
    /// Heading here (in transit), or held here.
    pub heading: bool,
    pub what: String,
    /// The last count of the whole load, in words (`460 kg`).
    pub total: String,
    pub vehicle: Option<String>,
    pub route: String,
    /// How long it has been on the road (heading), or since it arrived (held).
    pub since: String,
}

#[derive(Template)]
#[template(path = "incoming.html", config = "src/web/askama.toml")]
pub struct IncomingPage {
    pub c: Chrome,
    pub heading: Vec<IncomingRow>,
    pub held: Vec<IncomingRow>,
}

/// Most loads each list shows, and most postings read to fill them.
pub const MAX_ROWS: usize = 100;
const MAX_POSTINGS: usize = 20 * MAX_ROWS;

/// "3 小时 20 分" / "3 h 20 min".
pub fn duration_words(ms: u64, lang: Lang) -> String {
    let min = ms / 60_000;
    let (d, h, m) = (min / 1440, (min / 60) % 24, min % 60);
    match lang {
        Lang::Zh if d > 0 => format!("{d} 天 {h} 小时"),
        Lang::Zh if h > 0 => format!("{h} 小时 {m} 分"),
        Lang::Zh => format!("{m} 分钟"),
        Lang::En if d > 0 => format!("{d} d {h} h"),
        Lang::En if h > 0 => format!("{h} h {m} min"),
        Lang::En => format!("{m} min"),
    }
}

/// The sum of the last counts, per unit, in words.
fn total(qs: &[Quantity]) -> String {
    let mut out = Vec::new();
    for unit in [Unit::G, Unit::Ml] {
        let sum: u64 = qs.iter().filter(|q| q.unit == unit).map(|q| q.amount).sum();
        if qs.iter().any(|q| q.unit == unit) {
            out.push(crate::web::quantity(&Quantity::new(sum, unit)));
        }
    }
    out.join(" + ")
}

/// The sites registered to `party`.
fn sites_of(d: &dyn DomainQuery, party: &Uscc) -> Vec<String> {
    d.sites_of(party)
        .into_iter()
        .map(|s| s.reg.site.clone())
        .collect()
}

/// Whether `party` holds `m` at its gate and has not treated it yet.
fn held_here(m: &Manifest, party: &Uscc) -> bool {
    &m.holder == party
        && matches!(
            m.status,
            Status::Delivered | Status::AtStation | Status::Received
        )
}

/// Loads heading to `party`'s sites (in transit with one of them as destination) and loads it
/// holds (delivered, at its station, received, not yet treated), each newest first, from its
/// postings in the subject index: the work is bounded by the party's own history.
pub fn incoming(
    d: &dyn DomainQuery,
    party: &Uscc,
    lang: Lang,
    now: Timestamp,
) -> (Vec<IncomingRow>, Vec<IncomingRow>) {
    let (mut heading, mut held) = (Vec::new(), Vec::new());
    let mine = sites_of(d, party);
    for m in recent(d, party) {
        if heading.len() >= MAX_ROWS && held.len() >= MAX_ROWS {
            break;
        }
        let v = m.current();
        let to_me = m.status == Status::InTransit && mine.contains(&v.destination);
        let here = held_here(&m, party);
        if !(to_me || here) {
            continue;
        }
        let ago =
            |t: Timestamp| duration_words(now.unix_millis().saturating_sub(t.unix_millis()), lang);
        let since = match (to_me, m.in_transit_since, m.delivered_at) {
            (true, Some(t), _) => match lang {
                Lang::Zh => format!("在途 {}", ago(t)),
                Lang::En => format!("on the road {}", ago(t)),
            },
            (false, _, Some(t)) => match lang {
                Lang::Zh => format!("到场 {}", ago(t)),
                Lang::En => format!("here for {}", ago(t)),
            },
            _ => String::new(),
        };
        let row = IncomingRow {
            number: m.number.to_string(),
            status: i18n::status(m.status).get(lang).to_string(),
            tone: tone(m.status),
            heading: to_me,
            what: load_what(&m, lang),
            total: total(&m.quantities),
            vehicle: m.vehicle.as_ref().map(|p| p.to_string()),
            route: format!(
                "{} → {}",
                site_name(d, &m.origin),
                site_name(d, &v.destination)
            ),
            since,
        };
        let list = if to_me { &mut heading } else { &mut held };
        if list.len() < MAX_ROWS {
            list.push(row);
        }
    }
    (heading, held)
}

/// A quantity as the forms take it: kilograms (or litres) with up to 3 decimals, exact.
pub fn big_units(q: &Quantity) -> String {
    big_amount(q.amount)
}

fn unit_label(u: Unit, lang: Lang) -> &'static str {
    match (u, lang) {
        (Unit::G, Lang::Zh) => "千克",
        (Unit::G, Lang::En) => "kg",
        (Unit::Ml, Lang::Zh) => "升",
        (Unit::Ml, Lang::En) => "L",
    }
}

/// One line of the load as the gate's forms need it.
#[derive(Clone, Debug)]
pub struct GateLine {
    /// 0-based, as on the wire.
    pub index: usize,
    /// 1-based, as people count.
    pub n: usize,
    pub what: String,
    /// `g` or `ml` (the wire's unit); `label` is what the form's field is in (kg or L).
    pub unit: &'static str,
    pub label: &'static str,
    /// The last count, in the form's unit (the receipt's prefill).
    pub last: String,
    /// Accepted and not yet treated, in the form's unit (after a receipt).
    pub open: String,
    pub open_amount: u64,
}

/// A choice in a pick-list: the wire value and what people read.
#[derive(Clone, Debug)]
pub struct Choice {
    pub value: String,
    pub text: String,
}

/// Another load this station holds (a consolidation's other inputs), with the lines it
/// would bring into the outgoing load (JSON for the script).
#[derive(Clone, Debug)]
pub struct HeldLoad {
    pub number: String,
    pub what: String,
    pub total: String,
    pub lines_json: String,
}

/// What the gate may do with this load now (`None` on the page when it may do nothing).
#[derive(Clone, Debug, Default)]
pub struct GateView {
    pub party: String,
    pub stream: &'static str,
    pub weigh: bool,
    pub receive: bool,
    pub treat: bool,
    /// At this party's station: consolidate or split.
    pub station: bool,
    pub lines: Vec<GateLine>,
    /// This party's sites (the weighbridge's), the destination first when it is one.
    pub sites: Vec<Choice>,
    pub discrepancies: Vec<Choice>,
    /// Who may take back a rejected part: the generator first.
    pub return_to: Vec<Choice>,
    pub rd: Vec<Choice>,
    /// This load's own lines as an outgoing load would carry them (JSON for the script).
    pub lines_json: String,
    pub others: Vec<HeldLoad>,
    /// Where an outgoing load may go: other parties' receiving sites.
    pub destinations: Vec<Choice>,
    pub haulers: Vec<Choice>,
}

/// Most sites or parties a pick-list offers.
const MAX_CHOICES: usize = 500;

/// The lines a load brings into an outgoing load: as declared, each with its last count.
fn carried_lines(m: &Manifest) -> Vec<Line> {
    m.current()
        .lines
        .iter()
        .zip(&m.quantities)
        .map(|(l, q)| Line {
            quantity: *q,
            ..l.clone()
        })
        .collect()
}

/// The gate's view of `m` for `party` with `roles` at `now`; `None` when it may do nothing here.
pub fn gate(
    d: &dyn DomainQuery,
    m: &Manifest,
    party: &Uscc,
    roles: &[Role],
    lang: Lang,
) -> Option<GateView> {
    if !held_here(m, party) {
        return None;
    }
    let station = roles.contains(&Role::Station) && m.status == Status::AtStation;
    let mut g = GateView {
        party: party.to_string(),
        stream: m.stream.as_str(),
        // At the gate, before the receipt: the weighbridge ticket the receipt is counted against.
        weigh: matches!(m.status, Status::Delivered | Status::AtStation),
        receive: m.status == Status::Delivered,
        treat: m.status == Status::Received,
        station,
        ..GateView::default()
    };
    let v = m.current();
    g.lines = v
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let last = m.quantities.get(i).copied().unwrap_or(l.quantity);
            let open = match (m.accepted.get(i), m.treated.get(i)) {
                (Some(a), Some(t)) => Quantity::new(a.amount.saturating_sub(t.amount), a.unit),
                _ => Quantity::new(0, l.quantity.unit),
            };
            GateLine {
                index: i,
                n: i + 1,
                what: line_what(l, lang),
                unit: l.quantity.unit.as_str(),
                label: unit_label(l.quantity.unit, lang),
                last: big_units(&last),
                open: big_units(&open),
                open_amount: open.amount,
            }
        })
        .collect();
    let mut sites: Vec<Choice> = sites_of(d, party)
        .iter()
        .map(|s| Choice {
            value: s.to_string(),
            text: site_name(d, s),
        })
        .collect();
    sites.sort_by_key(|c| c.value != v.destination);
    g.sites = sites;
    g.discrepancies = [
        Discrepancy::Quantity,
        Discrepancy::Type,
        Discrepancy::Residue,
    ]
    .into_iter()
    .map(|k| Choice {
        value: serde_json::to_value(k)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        text: i18n::discrepancy(k).get(lang).to_string(),
    })
    .collect();
    let mut back: Vec<&Uscc> = vec![&m.issuer];
    back.extend(m.parties.iter().filter(|p| *p != &m.issuer && *p != party));
    g.return_to = back
        .into_iter()
        .map(|p| Choice {
            value: p.to_string(),
            text: party_name(d, p),
        })
        .collect();
    g.rd = RdCode::all()
        .filter(|c| !station || c.is_interim())
        .map(|c| Choice {
            value: c.to_string(),
            text: format!("{c} {}", i18n::rd(c).get(lang)),
        })
        .collect();
    if station {
        g.lines_json = serde_json::to_string(&carried_lines(m)).unwrap_or_default();
        g.others = station_loads(d, party)
            .into_iter()
            .filter(|o| o.number != m.number && o.stream == m.stream)
            .map(|o| HeldLoad {
                number: o.number.to_string(),
                what: load_what(&o, lang),
                total: total(&o.quantities),
                lines_json: serde_json::to_string(&carried_lines(&o)).unwrap_or_default(),
            })
            .collect();
        g.destinations = d
            .sites()
            .iter()
            .filter(|s| {
                s.reg.party != *party
                    && !matches!(s.reg.kind, SiteKind::Plant | SiteKind::ConstructionSite)
            })
            .take(MAX_CHOICES)
            .map(|s| Choice {
                value: s.reg.site.clone(),
                text: format!("{} · {}", s.reg.name, i18n::site_kind(s.reg.kind).get(lang)),
            })
            .collect();
        g.haulers = d
            .parties()
            .iter()
            .filter(|p| p.roles.contains(&Role::Hauler))
            .take(MAX_CHOICES)
            .map(|p| Choice {
                value: p.id.to_string(),
                text: p.name.clone(),
            })
            .collect();
    }
    Some(g)
}

/// The manifests `party` has postings for, each once, most recently touched first; at most
/// [`MAX_POSTINGS`] postings are read, so the work is bounded by the party's own history.
fn recent<'a>(
    d: &'a dyn DomainQuery,
    party: &Uscc,
) -> impl Iterator<Item = Cow<'a, Manifest>> + 'a {
    let mut p = d
        .subject_id(&Subject::new(SubjectKind::Party, party.to_string()))
        .map(|id| crate::domain::query::PostingReader::new(d, id));
    let n = p.as_ref().map_or(0, |p| p.len());
    let mut seen = std::collections::HashSet::new();
    (0..n)
        .rev()
        .take(MAX_POSTINGS)
        .filter_map(move |i| {
            let packed = p.as_mut()?.get(i).manifest;
            seen.insert(packed).then_some(packed)
        })
        .filter_map(move |packed| d.manifest(&ManifestNumber::unpacked(packed)))
}

/// The loads `party` holds at its station, newest first (bounded as [`incoming`]).
fn station_loads<'a>(d: &'a dyn DomainQuery, party: &'a Uscc) -> Vec<Cow<'a, Manifest>> {
    recent(d, party)
        .filter(|m| m.status == Status::AtStation && &m.holder == party)
        .take(MAX_ROWS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_durations_read_as_people_write_them() {
        assert_eq!(big_units(&Quantity::new(340_000, Unit::G)), "340");
        assert_eq!(big_units(&Quantity::new(340_500, Unit::G)), "340.5");
        assert_eq!(big_units(&Quantity::new(7, Unit::G)), "0.007");
        assert_eq!(
            duration_words(3 * 3_600_000 + 20 * 60_000, Lang::Zh),
            "3 小时 20 分"
        );
        assert_eq!(duration_words(26 * 3_600_000, Lang::En), "1 d 2 h");
        assert_eq!(duration_words(59_999, Lang::Zh), "0 分钟");
    }
}
