//! PURE: the console's pages for checking the log in the browser. `/app/m/{number}/timeline`:
//! every event of a manifest in order, in words (who signed with their roles and device labels,
//! when in CST, where, truck and driver's pseudonymous id, quantities with gaps marked, flags,
//! hand-overs waiting for their second half, versions, and the loads it came from or went on
//! as); each row names its log entry and the keys that signed it, and `page-timeline.js`
//! checks that entry in the browser. `/app/audit`: the log's checkpoint and its witnesses,
//! checked by `page-audit.js`. The server's words are claims: the script verifies the bytes.

use super::words::{party_name, site_name};
use super::{Chrome, Lang};
use crate::domain::codes::Quantity;
use crate::domain::model::{Manifest, StepKind};
use crate::domain::query::DomainQuery;
use crate::ledger::event::PublicKey;
use crate::web::i18n;
use askama::Template;
use serde_json::Value;

/// Who signed an event.
#[derive(Clone, Debug)]
pub struct SignerView {
    /// The party's name (and a device key's label), or "unknown key".
    pub name: String,
    pub roles: String,
    /// The public key, base64 (what the script checks the signature with).
    pub key: String,
}

#[derive(Clone, Debug)]
pub struct EventRow {
    pub index: u64,
    pub time: String,
    pub what: String,
    pub signers: Vec<SignerView>,
    pub place: Option<String>,
    pub vehicle: Option<String>,
    pub driver: Option<String>,
    pub quantities: Option<String>,
    /// The quantities differ from the step before (a gap to look at), in words.
    pub gap: Option<String>,
    pub flags: Vec<String>,
    pub note: Option<String>,
}

/// A link to another load.
#[derive(Clone, Debug)]
pub struct LinkView {
    pub what: String,
    pub number: String,
}

#[derive(Clone, Debug)]
pub struct PendingView {
    pub what: String,
    pub signed_by: String,
}

#[derive(Clone, Debug)]
pub struct TimelineView {
    pub number: String,
    pub status: String,
    pub tone: &'static str,
    pub versions: Vec<String>,
    pub links: Vec<LinkView>,
    pub rows: Vec<EventRow>,
    pub pending: Vec<PendingView>,
}

#[derive(Template)]
#[template(path = "timeline.html", config = "src/web/askama.toml")]
pub struct TimelinePage {
    pub c: Chrome,
    pub t: TimelineView,
}

#[derive(Template)]
#[template(path = "audit.html", config = "src/web/askama.toml")]
pub struct AuditPage {
    pub c: Chrome,
}

fn pick(lang: Lang, zh: &str, en: &str) -> String {
    match lang {
        Lang::Zh => zh.to_string(),
        Lang::En => en.to_string(),
    }
}

fn sep(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "、",
        Lang::En => ", ",
    }
}

/// How much a count differs from the one before: line `n` (1-based in words), or the total
/// (`usize::MAX`).
fn gap_words(n: usize, now: Quantity, was: Quantity, lang: Lang) -> String {
    let (less, d) = if now.amount < was.amount {
        (true, was.amount - now.amount)
    } else {
        (false, now.amount - was.amount)
    };
    let dq = crate::web::quantity(&Quantity {
        amount: d,
        unit: now.unit,
    });
    let line = match (lang, n) {
        (Lang::Zh, usize::MAX) => "合计".to_string(),
        (Lang::En, usize::MAX) => "total".to_string(),
        (Lang::Zh, n) => format!("第{}行", n + 1),
        (Lang::En, n) => format!("line {}", n + 1),
    };
    match (lang, less) {
        (Lang::Zh, true) => format!("{line}少 {dq}"),
        (Lang::Zh, false) => format!("{line}多 {dq}"),
        (Lang::En, true) => format!("{line}: {dq} less"),
        (Lang::En, false) => format!("{line}: {dq} more"),
    }
}

/// Who a key signs for, in words, with the party's roles.
pub fn signer(d: &dyn DomainQuery, key: &PublicKey, lang: Lang) -> SignerView {
    let name = super::words::signer_words(d, key, lang)
        .unwrap_or_else(|| pick(lang, "未登记的密钥", "unregistered key"));
    let roles = d
        .party_of(key)
        .and_then(|p| d.party(&p))
        .map(|p| {
            p.roles
                .iter()
                .map(|r| i18n::role(*r).get(lang))
                .collect::<Vec<_>>()
                .join(sep(lang))
        })
        .unwrap_or_default();
    SignerView {
        name,
        roles,
        key: key.to_string(),
    }
}

fn quantities(qs: &[Quantity]) -> String {
    qs.iter()
        .map(crate::web::quantity)
        .collect::<Vec<_>>()
        .join(" / ")
}

fn place(d: &dyn DomainQuery, ev: &Value, lang: Lang) -> Option<String> {
    if let Some(s) = ev.get("site").and_then(Value::as_str) {
        return Some(site_name(d, s));
    }
    let p = ev.get("place")?;
    let (lat, lon) = (p.get("lat_e6")?.as_i64()?, p.get("lon_e6")?.as_i64()?);
    Some(format!(
        "{}{:.5}, {:.5}",
        pick(lang, "坐标 ", "at "),
        lat as f64 / 1e6,
        lon as f64 / 1e6
    ))
}

/// The view of `m`'s history. `events` are `GET /v1/manifests/{n}`'s `events` (each with the
/// event's content) and `signers` the keys that signed each step's entry, in step order;
/// `pending` that read's `pending` list.
pub fn view(
    d: &dyn DomainQuery,
    m: &Manifest,
    events: &[Value],
    signers: &[Vec<PublicKey>],
    pending: &[Value],
    lang: Lang,
) -> TimelineView {
    let mut last: Option<Vec<Quantity>> = m
        .versions
        .first()
        .map(|v| v.lines.iter().map(|l| l.quantity).collect::<Vec<_>>());
    let rows = m
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let ev = events
                .iter()
                .find(|e| e["index"] == s.index)
                .map(|e| &e["event"])
                .unwrap_or(&Value::Null);
            let what = i18n::EventType::parse(s.kind.as_str())
                .map_or(s.kind.as_str(), |e| e.text().get(lang))
                .to_string();
            // Gaps: a count of the load (hand-over, receipt) against the count before it,
            // line by line; a weighbridge's single net against the sum of that count.
            // Treatments and other steps are shown, not compared.
            let mut gap = None;
            let counts = matches!(s.kind, StepKind::Handover | StepKind::Received);
            if let (Some(qs), Some(before)) = (&s.quantities, &last) {
                let pairs: Vec<(usize, Quantity, Quantity)> = if counts && qs.len() == before.len()
                {
                    (0..qs.len()).map(|n| (n, qs[n], before[n])).collect()
                } else if s.kind == StepKind::Weighed
                    && qs.len() == 1
                    && before.iter().all(|b| b.unit == qs[0].unit)
                {
                    let sum = before.iter().map(|b| b.amount).sum();
                    let total = Quantity {
                        amount: sum,
                        unit: qs[0].unit,
                    };
                    vec![(usize::MAX, qs[0], total)]
                } else {
                    Vec::new()
                };
                let diffs: Vec<String> = pairs
                    .into_iter()
                    .filter(|(_, now, was)| now.amount != was.amount && now.unit == was.unit)
                    .map(|(n, now, was)| gap_words(n, now, was, lang))
                    .collect();
                if !diffs.is_empty() {
                    gap = Some(diffs.join(sep(lang)));
                }
            }
            if counts {
                if let Some(qs) = &s.quantities {
                    last = Some(qs.clone());
                }
            }
            let mut note = None;
            if let (Some(f), Some(t)) = (&s.from, &s.to) {
                note = Some(format!("{} → {}", party_name(d, f), party_name(d, t)));
            }
            EventRow {
                index: s.index,
                time: crate::web::when(lang, s.time),
                what,
                signers: signers
                    .get(i)
                    .map(|ks| ks.iter().map(|k| signer(d, k, lang)).collect())
                    .unwrap_or_default(),
                place: place(d, ev, lang),
                vehicle: s.vehicle.as_ref().map(|v| v.to_string()),
                driver: ev
                    .get("driver_id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                quantities: s.quantities.as_deref().map(quantities),
                gap,
                flags: m
                    .flags
                    .iter()
                    .filter(|f| f.index == s.index)
                    .map(|f| i18n::flag(f.kind).get(lang).to_string())
                    .collect(),
                note,
            }
        })
        .collect();
    let versions = m
        .versions
        .iter()
        .map(|v| match lang {
            Lang::Zh => format!(
                "第 {} 版 · {} · 日志序号 {}",
                v.version,
                crate::web::when(lang, v.time),
                v.index
            ),
            Lang::En => format!(
                "version {} · {} · entry {}",
                v.version,
                crate::web::when(lang, v.time),
                v.index
            ),
        })
        .collect();
    let mut links = Vec::new();
    for s in &m.sources {
        let what = if m.rejection.is_some() {
            pick(lang, "退回自联单", "the rejected part of")
        } else if m.sources.len() > 1 {
            pick(lang, "由以下联单合并", "consolidated from")
        } else {
            pick(lang, "由以下联单拆分", "split from")
        };
        links.push(LinkView {
            what,
            number: s.to_string(),
        });
    }
    for o in &m.onward {
        let next = d.manifest(o);
        let what = match next {
            Some(n) if n.rejection.is_some() => pick(lang, "拒收部分退回为", "returned as"),
            Some(n) if n.sources.len() > 1 => pick(lang, "并入联单", "consolidated into"),
            _ => pick(lang, "拆分为联单", "split into"),
        };
        links.push(LinkView {
            what,
            number: o.to_string(),
        });
    }
    let pending = pending
        .iter()
        .filter(|p| p["status"] == "pending")
        .map(|p| {
            let ev = &p["event"];
            let what = ev["type"]
                .as_str()
                .and_then(i18n::EventType::parse)
                .map_or_else(String::new, |e| e.text().get(lang).to_string());
            let signed_by = p["signed_by"]
                .as_array()
                .map(|ks| {
                    ks.iter()
                        .filter_map(|k| k.as_str())
                        .filter_map(|k| PublicKey::parse("signed_by", k).ok())
                        .map(|k| signer(d, &k, lang).name)
                        .collect::<Vec<_>>()
                        .join(sep(lang))
                })
                .unwrap_or_default();
            PendingView { what, signed_by }
        })
        .collect();
    TimelineView {
        number: m.number.to_string(),
        status: i18n::status(m.status).get(lang).to_string(),
        tone: super::words::tone(m.status),
        versions,
        links,
        rows,
        pending,
    }
}
