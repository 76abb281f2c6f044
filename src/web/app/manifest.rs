//! PURE: the manifest page (`/app/m/{number}`) as a party to the load sees it: what must be on
//! the truck, where it goes, its status and flags in words, every step so far, hand-overs
//! waiting for a countersignature, and the actions the signed-in party may take next. The
//! page embeds the same JSON the API answers (`GET /v1/manifests/{number}`), which the
//! actions' scripts read.

use super::words::{line_what, load_what, party_name, site_name, tone};
use super::{Chrome, Lang};
use crate::domain::codes::Uscc;
use crate::domain::events::Role;
use crate::domain::model::Manifest;
use crate::domain::query::DomainQuery;
use crate::web::i18n;
use askama::Template;

/// One line of the load.
#[derive(Clone, Debug)]
pub struct LineView {
    /// 1-based, as people count.
    pub n: usize,
    pub what: String,
    pub form: String,
    pub hazards: String,
    pub containers: String,
    pub declared: String,
    /// The last count, when it differs from the declared quantity.
    pub counted: Option<String>,
}

#[derive(Clone, Debug)]
pub struct StepView {
    pub index: u64,
    pub time: String,
    pub what: String,
    pub detail: String,
}

#[derive(Clone, Debug)]
pub struct FlagView {
    pub what: String,
    pub detail: String,
    pub index: u64,
}

/// What the signed-in party is to this load (which actions the page offers).
#[derive(Clone, Debug, Default)]
pub struct Me {
    pub party: Option<String>,
    pub generator: bool,
    pub holder: bool,
    /// A planned hauler, or the hauler holding it.
    pub hauler: bool,
    /// The destination site is one of its sites.
    pub destination: bool,
    pub station: bool,
}

#[derive(Clone, Debug)]
pub struct ManifestView {
    pub number: String,
    pub version: u32,
    pub stream: String,
    pub status: String,
    /// `ok`, `pending` or `bad`: the status band's colour.
    pub tone: &'static str,
    pub closed: bool,
    pub generator: String,
    pub origin: String,
    pub destination: String,
    pub haulers: String,
    pub holder: String,
    pub vehicle: Option<String>,
    pub lines: Vec<LineView>,
    pub flags: Vec<FlagView>,
    pub steps: Vec<StepView>,
    pub pending: usize,
    pub me: Me,
    /// What the signed-in party may do with the load at its gate (`receive::gate`).
    pub gate: Option<super::receive::GateView>,
    /// The reader inspects (inspector, enforcement, auditor): the page links the graph.
    pub investigates: bool,
}

#[derive(Template)]
#[template(path = "manifest.html", config = "src/web/askama.toml")]
pub struct ManifestPage {
    pub c: Chrome,
    pub m: ManifestView,
    /// The API's JSON answer for this manifest, made safe to sit in a `<script>` element.
    pub data: String,
    /// The hand-over form and the halves waiting (`m-handover.html`).
    pub handover: super::handover::HandoverView,
}

/// JSON text that can sit inside `<script type="application/json">`: `<`, `>` and `&` as
/// `\u003c`… (still the same JSON value).
pub fn script_json(v: &serde_json::Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The page's view of `m` for `me_party` (None: someone who sees all).
pub fn view(
    d: &dyn DomainQuery,
    m: &Manifest,
    lang: Lang,
    me_party: Option<&Uscc>,
    roles: &[Role],
) -> ManifestView {
    let v = m.current();
    let q = crate::web::quantity;
    let lines = v
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let what = line_what(l, lang);
            let containers = if l.containers.is_empty() {
                String::new()
            } else {
                let kinds: Vec<String> = l
                    .containers
                    .iter()
                    .map(|c| {
                        i18n::Packaging::of(&c.packaging)
                            .map_or_else(|| c.packaging.clone(), |p| p.text().get(lang).to_string())
                    })
                    .collect();
                let mut uniq = kinds.clone();
                uniq.dedup();
                match lang {
                    Lang::Zh => format!("{} 件（{}）", l.containers.len(), uniq.join("、")),
                    Lang::En => format!("{} ({})", l.containers.len(), uniq.join(", ")),
                }
            };
            let counted = m.quantities.get(i).filter(|c| **c != l.quantity).map(q);
            LineView {
                n: i + 1,
                what,
                form: i18n::form(l.form).get(lang).to_string(),
                hazards: l
                    .hazards
                    .iter()
                    .map(|h| i18n::hazard(*h).get(lang))
                    .collect::<Vec<_>>()
                    .join(if lang == Lang::Zh { "、" } else { ", " }),
                containers,
                declared: q(&l.quantity),
                counted,
            }
        })
        .collect();
    let steps = m
        .steps
        .iter()
        .map(|s| {
            let what = i18n::EventType::parse(s.kind.as_str())
                .map_or(s.kind.as_str(), |e| e.text().get(lang))
                .to_string();
            let mut detail = Vec::new();
            if let (Some(f), Some(t)) = (&s.from, &s.to) {
                detail.push(format!("{} → {}", party_name(d, f), party_name(d, t)));
            }
            if let Some(v) = &s.vehicle {
                detail.push(v.to_string());
            }
            if let Some(qs) = &s.quantities {
                detail.push(qs.iter().map(q).collect::<Vec<_>>().join(" / "));
            }
            StepView {
                index: s.index,
                time: crate::web::when(lang, s.time),
                what,
                detail: detail.join(" · "),
            }
        })
        .collect();
    let flags = m
        .flags
        .iter()
        .map(|f| FlagView {
            what: i18n::flag(f.kind).get(lang).to_string(),
            detail: f.detail.clone(),
            index: f.index,
        })
        .collect();
    let dest_party = d.site(&v.destination).map(|s| s.reg.party.clone());
    let me = match me_party {
        Some(p) => Me {
            party: Some(p.to_string()),
            generator: &m.issuer == p,
            holder: &m.holder == p,
            hauler: v.haulers.contains(p) || (&m.holder == p && roles.contains(&Role::Hauler)),
            destination: dest_party.as_ref() == Some(p),
            station: roles.contains(&Role::Station),
        },
        None => Me::default(),
    };
    ManifestView {
        number: m.number.to_string(),
        version: v.version,
        stream: i18n::stream(m.stream).get(lang).to_string(),
        status: i18n::status(m.status).get(lang).to_string(),
        tone: tone(m.status),
        closed: m.status.is_closed(),
        generator: party_name(d, &m.issuer),
        origin: site_name(d, &m.origin),
        destination: site_name(d, &v.destination),
        haulers: v
            .haulers
            .iter()
            .map(|h| party_name(d, h))
            .collect::<Vec<_>>()
            .join(if lang == Lang::Zh { "、" } else { ", " }),
        holder: party_name(d, &m.holder),
        vehicle: m.vehicle.as_ref().map(|p| p.to_string()),
        lines,
        flags,
        steps,
        pending: 0,
        me,
        gate: me_party.and_then(|p| super::receive::gate(d, m, p, roles, lang)),
        investigates: crate::domain::access::Access::oversees(roles),
    }
}

/// One load in a list.
#[derive(Clone, Debug)]
pub struct LoadRow {
    pub number: String,
    pub status: String,
    pub tone: &'static str,
    pub what: String,
    pub route: String,
    pub vehicle: Option<String>,
    pub time: String,
}

#[derive(Template)]
#[template(path = "loads.html", config = "src/web/askama.toml")]
pub struct LoadsPage {
    pub c: Chrome,
    pub title: String,
    pub loads: Vec<LoadRow>,
}

/// Most loads a list shows.
pub const MAX_LOADS: usize = 100;

/// The open loads `party` is a party to, newest first (from its postings in the subject
/// index, so the work is bounded by the party's own history, not the log's).
pub fn open_loads(d: &dyn DomainQuery, party: &Uscc, lang: Lang) -> Vec<LoadRow> {
    use crate::domain::codes::ManifestNumber;
    use crate::domain::subjects::{Subject, SubjectKind};
    let Some(id) = d.subject_id(&Subject::new(SubjectKind::Party, party.to_string())) else {
        return Vec::new();
    };
    let mut p = crate::domain::query::PostingReader::new(d, id);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for i in (0..p.len()).rev() {
        if out.len() >= MAX_LOADS || seen.len() >= 20 * MAX_LOADS {
            break;
        }
        let packed = p.get(i).manifest;
        if !seen.insert(packed) {
            continue;
        }
        let Some(m) = d.manifest(&ManifestNumber::unpacked(packed)) else {
            continue;
        };
        if m.status.is_closed() {
            continue;
        }
        out.push(load_row(d, &m, lang));
    }
    out
}

/// One manifest as a row of a list of loads.
pub fn load_row(d: &dyn DomainQuery, m: &Manifest, lang: Lang) -> LoadRow {
    let v = m.current();
    LoadRow {
        number: m.number.to_string(),
        status: i18n::status(m.status).get(lang).to_string(),
        tone: tone(m.status),
        what: load_what(m, lang),
        route: format!(
            "{} → {}",
            site_name(d, &m.origin),
            site_name(d, &v.destination)
        ),
        vehicle: m.vehicle.as_ref().map(|p| p.to_string()),
        time: crate::web::when(lang, m.issued_at),
    }
}
