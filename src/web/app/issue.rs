//! PURE: the issue page (`/app/issue`): the form a generator's clerk fills to sign
//! `manifest.issued`, with its pick-lists taken from the domain's state (the generator's own
//! sites, the registered receiving sites and haulers with what their licences cover) and the
//! catalog (waste codes with their Chinese names and hazards, construction-waste types), and
//! the packaging kinds of `i18n`. The page's script (`static/page-issue.js`) builds, checks,
//! signs and posts the event; nothing here decides what the log accepts.

use super::{Chrome, Lang};
use crate::domain::catalog::Catalog;
use crate::domain::codes::{CwType, Hazard, Uscc};
use crate::domain::events::{LicenceKind, Role, SiteKind};
use crate::domain::query::DomainQuery;
use crate::ledger::time::Timestamp;
use crate::web::i18n::{self, Packaging};
use askama::Template;

/// One choice of a pick-list: the value signed, the words shown, and what the script needs.
#[derive(Clone, Debug, Default)]
pub struct Choice {
    pub value: String,
    pub text: String,
    /// A second, quieter line (the site's company, a licence's scope).
    pub note: String,
    /// Space-separated words the script reads (`data-covers`): hazardous codes and categories
    /// a receiver's valid licences cover, construction-waste types, `hw`/`cw` for a hauler's
    /// transport licences.
    pub covers: String,
    /// The site's kind (origins: a construction site defaults to construction waste).
    pub kind: String,
}

/// A packaging kind: the words, the letter its containers' ids start with, a usual volume.
#[derive(Clone, Debug)]
pub struct PackagingChoice {
    /// Both languages, as the container's `packaging` text carries them (`钢桶 steel drum`).
    pub words: String,
    pub text: String,
    pub prefix: &'static str,
    pub litres: u32,
}

#[derive(Clone, Debug)]
pub struct IssueView {
    /// The signed-in party is a generator.
    pub can_issue: bool,
    pub generator: String,
    pub generator_name: String,
    pub reference: String,
    pub origins: Vec<Choice>,
    pub destinations: Vec<Choice>,
    pub haulers: Vec<Choice>,
    /// Catalog wastes: code, Chinese name (the `name` prefilled), shown label, hazards.
    pub wastes: Vec<Choice>,
    pub cw_types: Vec<Choice>,
    pub hazards: Vec<Choice>,
    pub forms: Vec<Choice>,
    pub packaging: Vec<PackagingChoice>,
    /// The stream to start with: construction when all the generator's sites are construction
    /// sites.
    pub construction_first: bool,
}

#[derive(Template)]
#[template(path = "issue.html", config = "src/web/askama.toml")]
pub struct IssuePage {
    pub c: Chrome,
    pub v: IssueView,
}

/// The id letter and a usual volume (litres) of a packaging kind.
fn packaging_usual(p: Packaging) -> (&'static str, u32) {
    match p {
        Packaging::SteelDrum => ("D", 200),
        Packaging::PlasticDrum => ("D", 50),
        Packaging::Can => ("D", 20),
        Packaging::Ibc => ("T", 1000),
        Packaging::TonBag => ("B", 1000),
        Packaging::Bag => ("B", 25),
        Packaging::Box => ("X", 50),
    }
}

/// A reference (waste-out slip number) the generator has not used: `CK-YYYYMMDD-NNN`, the
/// date in China Standard Time.
pub fn suggest_reference(d: &dyn DomainQuery, generator: &Uscc, now: Timestamp) -> String {
    let day: String = now
        .cst()
        .chars()
        .filter(char::is_ascii_digit)
        .take(8)
        .collect();
    let used: std::collections::HashSet<String> = d
        .manifests_of_party(generator)
        .iter()
        .filter_map(|n| d.manifest(n))
        .filter(|m| &m.issuer == generator)
        .filter_map(|m| m.reference.clone())
        .collect();
    (1..)
        .map(|n| format!("CK-{day}-{n:03}"))
        .find(|r| !used.contains(r))
        .expect("an unused number")
}

/// What the valid licences of `party` at `at` cover, as `data-covers` words.
fn covers(d: &dyn DomainQuery, party: &Uscc, at: Timestamp) -> (Vec<String>, bool, bool) {
    let mut words = Vec::new();
    let (mut hw_transport, mut cw_transport) = (false, false);
    for l in d.licences_of(party) {
        if l.lapse(at).is_some() {
            continue;
        }
        let g = &l.grant;
        match g.kind {
            LicenceKind::HwOperating => {
                words.extend(g.codes.iter().map(|c| c.to_string()));
                words.extend(g.categories.iter().map(|c| c.to_string()));
            }
            LicenceKind::CwDisposal => words.extend(g.cw_types.iter().map(|t| t.as_str().into())),
            LicenceKind::HwTransport => hw_transport = true,
            LicenceKind::CwTransport => cw_transport = true,
        }
    }
    (words, hw_transport, cw_transport)
}

/// The form's view for `generator` (None: the signed-in party is not a generator).
pub fn view(
    d: &dyn DomainQuery,
    generator: Option<&Uscc>,
    lang: Lang,
    now: Timestamp,
) -> IssueView {
    let say = |zh: &str, en: &str| match lang {
        Lang::Zh => zh.to_string(),
        Lang::En => en.to_string(),
    };
    let party = generator.and_then(|g| d.party(g));
    let can_issue = party
        .as_ref()
        .is_some_and(|p| p.roles.contains(&Role::Generator));
    let sep = if lang == Lang::Zh { "、" } else { ", " };
    let origins: Vec<Choice> = match (can_issue, generator) {
        (true, Some(g)) => d
            .sites()
            .iter()
            .filter(|s| &s.reg.party == g)
            .map(|s| Choice {
                value: s.reg.site.clone(),
                text: s.reg.name.clone(),
                note: i18n::site_kind(s.reg.kind).get(lang).into(),
                kind: if s.reg.kind == SiteKind::ConstructionSite {
                    "construction".into()
                } else {
                    "hazardous".into()
                },
                ..Choice::default()
            })
            .collect(),
        _ => Vec::new(),
    };
    let destinations = d
        .sites()
        .iter()
        .filter(|s| !matches!(s.reg.kind, SiteKind::Plant | SiteKind::ConstructionSite))
        .filter(|s| {
            d.party(&s.reg.party).is_some_and(|p| {
                p.roles
                    .iter()
                    .any(|r| matches!(r, Role::Station | Role::Receiver))
            })
        })
        .map(|site| {
            let (words, _, _) = covers(d, &site.reg.party, now);
            let licensed = if words.is_empty() {
                say(
                    "无有效的经营或消纳许可",
                    "no valid operating or disposal licence",
                )
            } else {
                format!(
                    "{}{}",
                    say("许可范围：", "licensed for: "),
                    words
                        .iter()
                        .map(|w| match CwType::parse(w) {
                            Ok(t) => i18n::cw_type(t).get(lang).to_string(),
                            Err(_) => w.clone(),
                        })
                        .collect::<Vec<_>>()
                        .join(sep)
                )
            };
            Choice {
                value: site.reg.site.clone(),
                text: format!(
                    "{} · {}",
                    site.reg.name,
                    super::words::party_name(d, &site.reg.party)
                ),
                note: format!("{} · {licensed}", i18n::site_kind(site.reg.kind).get(lang)),
                covers: words.join(" "),
                kind: i18n::site_kind(site.reg.kind).get(lang).into(),
            }
        })
        .collect();
    let haulers = d
        .parties()
        .iter()
        .filter(|p| p.roles.contains(&Role::Hauler))
        .map(|p| {
            let (_, hw, cw) = covers(d, &p.id, now);
            let mut covers = Vec::new();
            let mut note = Vec::new();
            if hw {
                covers.push("hazardous");
                note.push(say("危险废物运输许可", "hazardous-waste transport licence"));
            }
            if cw {
                covers.push("construction");
                note.push(say(
                    "建筑垃圾运输核准",
                    "construction-waste transport approval",
                ));
            }
            if note.is_empty() {
                note.push(say("无有效的运输许可", "no valid transport licence"));
            }
            Choice {
                value: p.id.to_string(),
                text: p.name.clone(),
                note: note.join(sep),
                covers: covers.join(" "),
                ..Choice::default()
            }
        })
        .collect();
    let catalog: &Catalog = d.catalog();
    let wastes = catalog
        .wastes()
        .map(|w| {
            let category = catalog
                .category(w.code.category())
                .map(|c| match lang {
                    Lang::Zh => c.zh.as_str(),
                    Lang::En => c.en.as_str(),
                })
                .unwrap_or("");
            Choice {
                value: w.code.to_string(),
                text: format!(
                    "{} · {}",
                    category,
                    match lang {
                        Lang::Zh => &w.zh,
                        Lang::En => &w.en,
                    }
                ),
                note: w.zh.clone(),
                covers: w
                    .hazards
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                kind: w.code.category().to_string(),
            }
        })
        .collect();
    let cw_types = CwType::ALL
        .iter()
        .map(|t| Choice {
            value: t.as_str().into(),
            text: i18n::cw_type(*t).get(lang).into(),
            note: t.zh().into(),
            ..Choice::default()
        })
        .collect();
    let hazards = Hazard::ALL
        .iter()
        .map(|h| Choice {
            value: h.as_str().into(),
            text: i18n::hazard(*h).get(lang).into(),
            ..Choice::default()
        })
        .collect();
    let forms = i18n::FORMS
        .iter()
        .map(|f| Choice {
            value: serde_json::to_value(f)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            text: i18n::form(*f).get(lang).into(),
            ..Choice::default()
        })
        .collect();
    let packaging = Packaging::ALL
        .iter()
        .map(|p| {
            let (prefix, litres) = packaging_usual(*p);
            let t = p.text();
            PackagingChoice {
                words: format!("{} {}", t.zh, t.en),
                text: t.get(lang).into(),
                prefix,
                litres,
            }
        })
        .collect();
    let construction_first =
        !origins.is_empty() && origins.iter().all(|o| o.kind == "construction");
    IssueView {
        can_issue,
        generator: generator.map(|g| g.to_string()).unwrap_or_default(),
        generator_name: party.map(|p| p.name.clone()).unwrap_or_default(),
        reference: match (can_issue, generator) {
            (true, Some(g)) => suggest_reference(d, g, now),
            _ => String::new(),
        },
        origins,
        destinations,
        haulers,
        wastes,
        cw_types,
        hazards,
        forms,
        packaging,
        construction_first,
    }
}
