//! PURE: the console's dashboard (`/app/console`, 督查首页), its manifest lists
//! (`/app/console/manifests`) and the anomaly queue (`/app/anomalies`, 异常联单). The queue is a
//! shell: its script (`page-anomalies.js`) reads `GET /v1/anomalies` with requests signed by
//! the device's key (a session may not read anomalies), a page at a time, and signs
//! `case.noted` in the browser. The dashboard's counters of manifests are worked out here from
//! what the signed-in reader may list (`GET /v1/manifests` is a session read); its anomaly
//! counts and the latest pulls of evidence are signed reads of its script (`page-console.js`).

use super::manifest::{load_row, LoadRow};
use super::{Chrome, Lang};
use crate::domain::codes::{ManifestNumber, Uscc};
use crate::domain::events::Stream;
use crate::domain::model::{FlagKind, Manifest, Status};
use crate::domain::query::DomainQuery;
use crate::investigate::detectors::AnomalyKind;
use crate::ledger::time::Timestamp;
use crate::web::i18n;
use askama::Template;
use serde_json::{json, Map, Value};
use std::ops::ControlFlow;

/// The queue's filters as the URL gives them (kept as typed: the server judges them).
#[derive(Clone, Debug, Default)]
pub struct QueueFilter {
    pub kind: String,
    pub party: String,
    pub site: String,
    pub vehicle: String,
    pub from: String,
    pub to: String,
    pub state: String,
}

#[derive(Template)]
#[template(path = "console-anomalies.html", config = "src/web/askama.toml")]
pub struct AnomaliesPage {
    pub c: Chrome,
    /// (kind, its name) for the kind filter.
    pub kinds: Vec<(String, String)>,
    /// (site id, name) for the site filter.
    pub sites: Vec<(String, String)>,
    pub f: QueueFilter,
    /// [`queue_words`], as JSON safe in a `<script>` element.
    pub words: String,
}

impl AnomaliesPage {
    pub fn new(
        c: Chrome,
        d: &dyn DomainQuery,
        f: QueueFilter,
        me: Option<&Uscc>,
        may_note: bool,
    ) -> Self {
        let kinds = AnomalyKind::ALL
            .iter()
            .map(|k| {
                (
                    k.as_str().to_string(),
                    i18n::anomaly_kind(*k).get(c.lang).to_string(),
                )
            })
            .collect();
        let sites = d
            .sites()
            .iter()
            .map(|s| (s.reg.site.clone(), format!("{} {}", s.reg.site, s.reg.name)))
            .collect();
        let words = queue_words(d, c.lang, me, may_note);
        AnomaliesPage {
            c,
            kinds,
            sites,
            f,
            words,
        }
    }

    fn is(&self, a: &str, b: &str) -> bool {
        a == b
    }
}

/// What the queue's and the dashboard's scripts need: each kind's name and reason in the page's
/// language (`{m}` `{v}` `{s}` `{p}` to fill in), the registered parties' and sites' names, and
/// the signed-in party (`me`) and whether it may note what was done (inspection or
/// enforcement).
pub fn queue_words(d: &dyn DomainQuery, lang: Lang, me: Option<&Uscc>, may_note: bool) -> String {
    let mut kinds = Map::new();
    for k in AnomalyKind::ALL {
        kinds.insert(
            k.as_str().into(),
            json!({
                "name": i18n::anomaly_kind(k).get(lang),
                "reason": i18n::anomaly_reason(k).get(lang),
            }),
        );
    }
    let parties: Map<String, Value> = d
        .parties()
        .iter()
        .map(|p| (p.id.to_string(), json!(p.name)))
        .collect();
    let sites: Map<String, Value> = d
        .sites()
        .iter()
        .map(|s| (s.reg.site.clone(), json!(s.reg.name)))
        .collect();
    super::manifest::script_json(&json!({
        "kinds": kinds,
        "parties": parties,
        "sites": sites,
        "me": me,
        "may_note": may_note && me.is_some(),
    }))
}

/// What the dashboard counts for each stream, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    InTransit,
    Overdue,
    AwaitingReceipt,
    Received,
    Treated,
    Rejected,
}

impl Count {
    pub const ALL: [Count; 6] = [
        Count::InTransit,
        Count::Overdue,
        Count::AwaitingReceipt,
        Count::Received,
        Count::Treated,
        Count::Rejected,
    ];

    /// The list's parameter (`/app/console/manifests?stream=S&show=KEY`).
    pub fn key(self) -> &'static str {
        match self {
            Count::InTransit => "in_transit",
            Count::Overdue => "overdue",
            Count::AwaitingReceipt => "awaiting_receipt",
            Count::Received => "received",
            Count::Treated => "treated",
            Count::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Count> {
        Count::ALL.into_iter().find(|c| c.key() == s)
    }

    pub fn text(self) -> i18n::Text {
        match self {
            Count::InTransit => i18n::status(Status::InTransit),
            Count::Overdue => i18n::flag(FlagKind::Overdue),
            Count::AwaitingReceipt => i18n::Text {
                zh: "待确认接收",
                en: "awaiting receipt",
            },
            Count::Received => i18n::status(Status::Received),
            Count::Treated => i18n::status(Status::Treated),
            Count::Rejected => i18n::status(Status::Rejected),
        }
    }

    /// Whether manifest `m` counts here at `now`. In transit: on the road or at a station;
    /// overdue: the fold's overdue flag (the detectors' `overdue`); awaiting receipt: delivered,
    /// not yet confirmed.
    pub fn holds(self, d: &dyn DomainQuery, m: &Manifest, now: Timestamp) -> bool {
        match self {
            Count::InTransit => matches!(m.status, Status::InTransit | Status::AtStation),
            Count::Overdue => m
                .flags_at(now, d.limits())
                .iter()
                .any(|f| f.kind == FlagKind::Overdue),
            Count::AwaitingReceipt => m.status == Status::Delivered,
            Count::Received => m.status == Status::Received,
            Count::Treated => m.status == Status::Treated,
            Count::Rejected => m.status == Status::Rejected,
        }
    }
}

pub fn stream_key(s: Stream) -> &'static str {
    match s {
        Stream::Hazardous => "hazardous",
        Stream::Construction => "construction",
    }
}

pub fn parse_stream(s: &str) -> Option<Stream> {
    [Stream::Hazardous, Stream::Construction]
        .into_iter()
        .find(|x| stream_key(*x) == s)
}

/// One counter: its words, number and the list behind it.
#[derive(Clone, Debug)]
pub struct Counter {
    pub key: &'static str,
    pub label: String,
    pub n: usize,
    pub href: String,
}

/// One stream's counters.
#[derive(Clone, Debug)]
pub struct StreamCounts {
    pub stream: &'static str,
    pub name: String,
    pub counters: Vec<Counter>,
}

/// The dashboard's counters over the manifests `sees` admits.
pub fn counts(
    d: &dyn DomainQuery,
    lang: Lang,
    now: Timestamp,
    sees: impl Fn(&Manifest) -> bool,
) -> Vec<StreamCounts> {
    let streams = [Stream::Hazardous, Stream::Construction];
    let mut n = [[0usize; 6]; 2];
    d.each_manifest(&mut |m| {
        if !sees(m) {
            return ControlFlow::Continue(());
        }
        let si = if m.stream == Stream::Hazardous { 0 } else { 1 };
        for (ci, c) in Count::ALL.iter().enumerate() {
            if c.holds(d, m, now) {
                n[si][ci] += 1;
            }
        }
        ControlFlow::Continue(())
    });
    streams
        .iter()
        .enumerate()
        .map(|(si, s)| StreamCounts {
            stream: stream_key(*s),
            name: i18n::stream(*s).get(lang).to_string(),
            counters: Count::ALL
                .iter()
                .enumerate()
                .map(|(ci, c)| Counter {
                    key: c.key(),
                    label: c.text().get(lang).to_string(),
                    n: n[si][ci],
                    href: format!(
                        "/app/console/manifests?stream={}&show={}",
                        stream_key(*s),
                        c.key()
                    ),
                })
                .collect(),
        })
        .collect()
}

/// Most manifests a console list shows.
pub const MAX_LIST: usize = 500;

/// The manifests of one counter, newest first (at most [`MAX_LIST`]), and how many there are.
pub fn list(
    d: &dyn DomainQuery,
    lang: Lang,
    now: Timestamp,
    stream: Stream,
    c: Count,
    sees: impl Fn(&Manifest) -> bool,
) -> (usize, Vec<LoadRow>) {
    // Newest first: (issue time, number) of each hit, then the rows of the first ones.
    let mut hits: Vec<(Timestamp, ManifestNumber)> = Vec::new();
    d.each_manifest(&mut |m| {
        if m.stream == stream && sees(m) && c.holds(d, m, now) {
            hits.push((m.issued_at, m.number.clone()));
        }
        ControlFlow::Continue(())
    });
    hits.sort_by(|a, b| b.cmp(a));
    let total = hits.len();
    let rows = hits
        .iter()
        .take(MAX_LIST)
        .filter_map(|(_, n)| d.manifest(n))
        .map(|m| load_row(d, &m, lang))
        .collect();
    (total, rows)
}

#[derive(Template)]
#[template(path = "console.html", config = "src/web/askama.toml")]
pub struct ConsolePage {
    pub c: Chrome,
    pub streams: Vec<StreamCounts>,
    /// [`queue_words`].
    pub words: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::Catalog;
    use crate::domain::fold::Domain;
    use crate::domain::model::Limits;

    fn chrome(lang: Lang) -> Chrome {
        super::super::test_chrome(lang, "/app/anomalies")
    }

    #[test]
    fn the_queue_names_every_kind_in_the_page_language_and_keeps_the_filters_as_typed() {
        let d = Domain::new(std::sync::Arc::new(Catalog::builtin()), Limits::default());
        let f = QueueFilter {
            kind: "overdue".into(),
            vehicle: "\"><script>".into(),
            ..Default::default()
        };
        let html = AnomaliesPage::new(chrome(Lang::Zh), &d, f, None, true)
            .render()
            .unwrap();
        assert!(html.contains("运输超时") && html.contains("场外停留"));
        assert!(html.contains("value=\"overdue\" selected"), "{html}");
        assert!(!html.contains("\"><script>"), "escaped");
        let w: Value = serde_json::from_str(&queue_words(&d, Lang::En, None, false)).unwrap();
        assert_eq!(w["kinds"]["not_licensed"]["name"], "receiver not licensed");
        for k in AnomalyKind::ALL {
            let r = i18n::anomaly_reason(k);
            assert!(
                r.zh.contains('{') && r.en.contains('{'),
                "{k:?} names what it is about"
            );
        }
        let counts = counts(&d, Lang::Zh, Timestamp::from_unix_millis(0), |_| true);
        assert_eq!(counts.len(), 2);
        assert_eq!(counts[0].counters[1].label, "运输超时");
        assert_eq!(
            counts[1].counters[0].href,
            "/app/console/manifests?stream=construction&show=in_transit"
        );
    }
}
