//! Linked search over the derived domain state: everything about a subject (a plate, a party,
//! a site, a driver's commitment) in a time window, and the graph around one load. Pure: the
//! subject index is built by the fold (`domain::subjects`); this reads it.
//!
//! Paging: a subject's postings only ever grow at the end, so a position in them is a stable
//! cursor. A manifest is listed once, at its first posting in the order asked for inside the
//! window (its "lead"), with every entry of it that involves the subject in the window; its
//! other postings are skipped wherever they fall, so each manifest appears on exactly one page.

use crate::domain::codes::{ManifestNumber, Uscc};
use crate::domain::model::{Manifest, Status};
use crate::domain::query::DomainQuery;
use crate::domain::query::PostingReader;
use crate::domain::subjects::{role, Subject, SubjectKind};
use crate::ledger::time::Timestamp;
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

impl Order {
    pub fn parse(s: &str) -> Option<Order> {
        match s {
            "newest" | "newest_first" | "desc" => Some(Order::NewestFirst),
            "oldest" | "oldest_first" | "asc" => Some(Order::OldestFirst),
            _ => None,
        }
    }
}

/// A search for one subject.
#[derive(Clone, Debug)]
pub struct Query<'a> {
    pub subject: Subject,
    /// Window [from, to) on the log's time.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub order: Order,
    /// Manifests per page.
    pub limit: usize,
    /// From a previous page's `next`.
    pub cursor: Option<Cursor>,
    /// Only manifests this party is a party to (a party searching): `None` sees all.
    pub within_party: Option<&'a Uscc>,
}

/// Where the next page starts: a position in the subject's postings, and the order it was
/// made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub order: Order,
    pub position: u64,
}

impl Cursor {
    pub fn parse(s: &str) -> Result<Cursor, String> {
        let expected = || {
            format!("a cursor from a previous page's `next` (n or o followed by digits), got {s:?}")
        };
        let (order, rest) = match s.split_at_checked(1) {
            Some(("n", r)) => (Order::NewestFirst, r),
            Some(("o", r)) => (Order::OldestFirst, r),
            _ => return Err(expected()),
        };
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(expected());
        }
        let position = rest.parse().map_err(|_| expected())?;
        Ok(Cursor { order, position })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = match self.order {
            Order::NewestFirst => 'n',
            Order::OldestFirst => 'o',
        };
        write!(f, "{o}{}", self.position)
    }
}

/// One entry of a manifest that involved the subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HitEntry {
    pub index: u64,
    pub time: Timestamp,
    /// The step's event type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// How the subject was involved (party, from, to, vehicle, driver, site, origin,
    /// destination, actor).
    pub roles: Vec<&'static str>,
}

/// A manifest that involved the subject in the window.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    pub number: ManifestNumber,
    pub stream: &'static str,
    pub status: Status,
    pub issuer: Uscc,
    pub holder: Uscc,
    pub origin: String,
    pub destination: String,
    pub issued_at: Timestamp,
    /// In the order asked for.
    pub entries: Vec<HitEntry>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Page {
    pub subject: SubjectOut,
    pub order: Order,
    /// Postings (entry × manifest) of the subject in the window, for readers who see all
    /// (a party is not told how busy others' trucks were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postings_in_window: Option<u64>,
    pub manifests: Vec<Hit>,
    /// Cursor of the next page, when there is more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SubjectOut {
    pub kind: SubjectKind,
    pub id: String,
}

impl From<&Subject> for SubjectOut {
    fn from(s: &Subject) -> Self {
        SubjectOut {
            kind: s.kind,
            id: s.id.clone(),
        }
    }
}

/// A manifest's kind of step at an entry (the issue when it is its creation).
fn step_kind(m: &Manifest, entry: u64) -> &'static str {
    m.steps
        .iter()
        .find(|s| s.index == entry)
        .map(|s| s.kind.as_str())
        .unwrap_or("manifest.issued")
}

fn step_time(m: &Manifest, entry: u64) -> Timestamp {
    m.steps
        .iter()
        .find(|s| s.index == entry)
        .map(|s| s.time)
        .unwrap_or(m.issued_at)
}

/// The entries of `m` that involve subject `id` with entry indexes in `entries` (inclusive).
fn entries_of(
    d: &dyn DomainQuery,
    m: &Manifest,
    id: u32,
    entries: &Range<u64>,
    order: Order,
) -> Vec<HitEntry> {
    let mut out: Vec<HitEntry> = d
        .links(&m.number)
        .iter()
        .filter(|l| l.subject == id && entries.contains(&l.entry))
        .map(|l| HitEntry {
            index: l.entry,
            time: step_time(m, l.entry),
            kind: step_kind(m, l.entry),
            roles: role::names(l.roles),
        })
        .collect();
    if order == Order::NewestFirst {
        out.reverse();
    }
    out
}

/// The entry range (as a half-open range of entry indexes) that a window of positions covers.
fn entry_range(p: &mut PostingReader, w: &Range<usize>) -> Range<u64> {
    if w.is_empty() {
        return 0..0;
    }
    p.get(w.start).entry..p.get(w.end - 1).entry + 1
}

fn hit(m: &Manifest, entries: Vec<HitEntry>) -> Hit {
    Hit {
        number: m.number.clone(),
        stream: m.stream.as_str(),
        status: m.status,
        issuer: m.issuer.clone(),
        holder: m.holder.clone(),
        origin: m.origin.clone(),
        destination: m.current().destination.clone(),
        issued_at: m.issued_at,
        entries,
    }
}

/// Everything about a subject in a window: the manifests, each with the entries that
/// involve the subject, one page at a time.
pub fn search(d: &dyn DomainQuery, q: &Query) -> Result<Page, String> {
    if let Some(c) = q.cursor {
        if c.order != q.order {
            return Err(
                "cursor: it was made for the other order; keep the order of the first page".into(),
            );
        }
    }
    let mut page = Page {
        subject: (&q.subject).into(),
        order: q.order,
        postings_in_window: None,
        manifests: Vec::new(),
        next: None,
    };
    let Some(id) = d.subject_id(&q.subject) else {
        return Ok(page);
    };
    let mut p = PostingReader::new(d, id);
    let w = p.window(q.from, q.to);
    if q.within_party.is_none() {
        page.postings_in_window = Some(w.len() as u64);
    }
    let span = entry_range(&mut p, &w);
    let limit = q.limit.max(1);
    // Positions to scan, in order.
    let scan: Box<dyn Iterator<Item = usize>> = match q.order {
        Order::NewestFirst => {
            let end = q
                .cursor
                .map_or(w.end, |c| (c.position as usize).clamp(w.start, w.end));
            Box::new((w.start..end).rev())
        }
        Order::OldestFirst => {
            let start = q
                .cursor
                .map_or(w.start, |c| (c.position as usize).clamp(w.start, w.end));
            Box::new(start..w.end)
        }
    };
    for pos in scan {
        let number = ManifestNumber::unpacked(p.get(pos).manifest);
        let Some(m) = d.manifest(&number) else {
            continue;
        };
        if let Some(party) = q.within_party {
            if !m.parties.contains(party) {
                continue;
            }
        }
        let entries = entries_of(d, &m, id, &span, q.order);
        // Listed at its lead posting only.
        if entries.first().map(|e| e.index) != Some(p.get(pos).entry) {
            continue;
        }
        if page.manifests.len() == limit {
            // One more visible manifest exists: the next page starts here.
            let position = match q.order {
                Order::NewestFirst => pos + 1,
                Order::OldestFirst => pos,
            } as u64;
            page.next = Some(
                Cursor {
                    order: q.order,
                    position,
                }
                .to_string(),
            );
            break;
        }
        page.manifests.push(hit(&m, entries));
    }
    Ok(page)
}

// ---------------------------------------------------------------------------------------------
// The graph around one load
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct GraphQuery<'a> {
    pub start: ManifestNumber,
    /// Hops from the load: 1 = what it touched (and its linked loads), 2 = also the other
    /// loads those touched, and so on.
    pub depth: u32,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// At most this many loads per subject (newest first), and linked loads per load.
    pub fan_out: usize,
    /// At most this many nodes in all.
    pub max_nodes: usize,
    pub within_party: Option<&'a Uscc>,
}

impl GraphQuery<'_> {
    pub const DEFAULT_DEPTH: u32 = 2;
    pub const MAX_DEPTH: u32 = 4;
    pub const DEFAULT_FAN_OUT: usize = 25;
    pub const DEFAULT_MAX_NODES: usize = 500;
}

#[derive(Clone, Debug, Serialize)]
pub struct Node {
    /// `manifest:NUMBER` or `KIND:ID`.
    pub id: String,
    pub kind: &'static str,
    pub key: String,
    pub depth: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// `involves` (a load and a subject), `onward` (the load went on as the other: a
    /// consolidation, split or return).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<&'static str>,
    /// The log entries behind the edge.
    pub entries: Vec<u64>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Truncation {
    pub node: String,
    /// `fan_out` (more neighbours than the cap) or `max_nodes` (the graph is full).
    pub reason: &'static str,
    pub shown: usize,
    /// For a subject, to readers who see all: its postings in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postings_in_window: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Graph {
    pub start: String,
    pub depth: u32,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub truncated: Vec<Truncation>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Manifest(u64),
    Subject(u32),
}

struct Builder<'a, 'q> {
    d: &'a dyn DomainQuery,
    q: &'a GraphQuery<'q>,
    nodes: Vec<Node>,
    seen: HashMap<Key, usize>,
    edges: Vec<Edge>,
    edge_keys: HashSet<(Key, Key)>,
    truncated: Vec<Truncation>,
    queue: VecDeque<(Key, u32)>,
    full: bool,
}

fn node_id(d: &dyn DomainQuery, k: &Key) -> String {
    match k {
        Key::Manifest(n) => format!("manifest:{n:014}"),
        Key::Subject(id) => {
            let s = d.subject(*id);
            format!("{}:{}", s.kind.as_str(), s.id)
        }
    }
}

impl Builder<'_, '_> {
    fn visible(&self, m: &Manifest) -> bool {
        self.q.within_party.is_none_or(|p| m.parties.contains(p))
    }

    /// Add a node if there is room; false when the graph is full.
    fn node(&mut self, k: Key, depth: u32, from: &str) -> bool {
        if self.seen.contains_key(&k) {
            return true;
        }
        if self.nodes.len() >= self.q.max_nodes {
            if !self.full {
                self.full = true;
                self.truncated.push(Truncation {
                    node: from.to_string(),
                    reason: "max_nodes",
                    shown: self.nodes.len(),
                    postings_in_window: None,
                });
            }
            return false;
        }
        let id = node_id(self.d, &k);
        let (kind, key, status, issued_at) = match &k {
            Key::Manifest(n) => {
                let number = ManifestNumber::unpacked(*n);
                let m = self
                    .d
                    .manifest(&number)
                    .expect("a manifest node is a known manifest");
                (
                    "manifest",
                    number.to_string(),
                    Some(m.status),
                    Some(m.issued_at),
                )
            }
            Key::Subject(s) => {
                let s = self.d.subject(*s);
                (s.kind.as_str(), s.id.clone(), None, None)
            }
        };
        self.seen.insert(k.clone(), self.nodes.len());
        self.nodes.push(Node {
            id,
            kind,
            key,
            depth,
            status,
            issued_at,
        });
        self.queue.push_back((k, depth));
        true
    }

    fn edge(&mut self, a: Key, b: Key, kind: &'static str, roles: u16, entries: Vec<u64>) {
        if self.edge_keys.contains(&(a.clone(), b.clone()))
            || self.edge_keys.contains(&(b.clone(), a.clone()))
        {
            return;
        }
        self.edges.push(Edge {
            from: node_id(self.d, &a),
            to: node_id(self.d, &b),
            kind,
            roles: role::names(roles),
            entries,
        });
        self.edge_keys.insert((a, b));
    }

    fn in_window(&self, t: Timestamp) -> bool {
        self.q.from.is_none_or(|f| t >= f) && self.q.to.is_none_or(|to| t < to)
    }

    /// A load: the subjects its entries in the window touched, and the loads it is linked to.
    fn expand_manifest(&mut self, n: u64, depth: u32) {
        let number = ManifestNumber::unpacked(n);
        let d = self.d;
        let Some(m) = d.manifest(&number) else {
            return;
        };
        let here = node_id(d, &Key::Manifest(n));
        // Subjects, in order of first involvement, with their roles and entries.
        let mut by_subject: Vec<(u32, u16, Vec<u64>)> = Vec::new();
        for l in d.links(&number).iter() {
            if !self.in_window(step_time(&m, l.entry)) {
                continue;
            }
            match by_subject.iter_mut().find(|(s, _, _)| *s == l.subject) {
                Some((_, r, e)) => {
                    *r |= l.roles;
                    if e.last() != Some(&l.entry) {
                        e.push(l.entry);
                    }
                }
                None => by_subject.push((l.subject, l.roles, vec![l.entry])),
            }
        }
        let linked: Vec<(&ManifestNumber, u64)> = m
            .sources
            .iter()
            .map(|s| (s, m.issue_index))
            .chain(
                m.onward
                    .iter()
                    .filter_map(|o| d.manifest(o).map(|om| (o, om.issue_index))),
            )
            .collect();
        // A load touches a handful of subjects: all are shown. Its linked loads (a
        // consolidation may have many inputs) are capped like a subject's loads.
        let mut shown = 0;
        let mut more = false;
        for (other, entry) in linked {
            let Some(om) = d.manifest(other) else {
                continue;
            };
            if !self.visible(&om) {
                continue;
            }
            if shown == self.q.fan_out {
                more = true;
                break;
            }
            let k = Key::Manifest(other.packed());
            if !self.node(k.clone(), depth + 1, &here) {
                return;
            }
            shown += 1;
            let (a, b) = if m.sources.contains(other) {
                (k, Key::Manifest(n))
            } else {
                (Key::Manifest(n), k)
            };
            self.edge(a, b, "onward", 0, vec![entry]);
        }
        if more {
            self.truncated.push(Truncation {
                node: here.clone(),
                reason: "fan_out",
                shown,
                postings_in_window: None,
            });
        }
        for (s, roles, entries) in by_subject {
            let k = Key::Subject(s);
            if !self.node(k.clone(), depth + 1, &here) {
                return;
            }
            self.edge(Key::Manifest(n), k, "involves", roles, entries);
        }
    }

    /// A subject: the other loads it touched in the window, newest first, up to the cap.
    fn expand_subject(&mut self, s: u32, depth: u32) {
        let d = self.d;
        let mut p = PostingReader::new(d, s);
        let w = p.window(self.q.from, self.q.to);
        let span = entry_range(&mut p, &w);
        let here = node_id(d, &Key::Subject(s));
        let mut shown = 0usize;
        let mut more = false;
        let mut done: HashSet<u64> = HashSet::new();
        for pos in w.clone().rev() {
            let packed = p.get(pos).manifest;
            if !done.insert(packed) {
                continue;
            }
            let k = Key::Manifest(packed);
            let number = ManifestNumber::unpacked(packed);
            let Some(m) = d.manifest(&number) else {
                continue;
            };
            if !self.visible(&m) {
                continue;
            }
            if self.edge_keys.contains(&(k.clone(), Key::Subject(s))) {
                continue;
            }
            if shown == self.q.fan_out {
                more = true;
                break;
            }
            if !self.node(k.clone(), depth + 1, &here) {
                return;
            }
            shown += 1;
            let entries = entries_of(d, &m, s, &span, Order::OldestFirst);
            let roles = d
                .links(&number)
                .iter()
                .filter(|l| l.subject == s && span.contains(&l.entry))
                .fold(0u16, |r, l| r | l.roles);
            self.edge(
                k,
                Key::Subject(s),
                "involves",
                roles,
                entries.iter().map(|e| e.index).collect(),
            );
        }
        if more {
            self.truncated.push(Truncation {
                node: here,
                reason: "fan_out",
                shown,
                postings_in_window: self.q.within_party.is_none().then_some(w.len() as u64),
            });
        }
    }
}

/// The graph around one load, breadth first to `depth` hops, with the caps reported.
/// `Err` when the load does not exist or the reader may not see it.
pub fn graph(d: &dyn DomainQuery, q: &GraphQuery) -> Result<Graph, String> {
    let m = d
        .manifest(&q.start)
        .ok_or_else(|| format!("manifest {} does not exist", q.start))?;
    let mut b = Builder {
        d,
        q,
        nodes: Vec::new(),
        seen: HashMap::new(),
        edges: Vec::new(),
        edge_keys: HashSet::new(),
        truncated: Vec::new(),
        queue: VecDeque::new(),
        full: false,
    };
    if !b.visible(&m) {
        return Err(format!("manifest {} does not exist", q.start));
    }
    let start = Key::Manifest(q.start.packed());
    b.node(start.clone(), 0, "");
    while let Some((k, depth)) = b.queue.pop_front() {
        if depth >= q.depth || b.full {
            continue;
        }
        match k {
            Key::Manifest(n) => b.expand_manifest(n, depth),
            Key::Subject(s) => b.expand_subject(s, depth),
        }
    }
    Ok(Graph {
        start: node_id(d, &start),
        depth: q.depth,
        nodes: b.nodes,
        edges: b.edges,
        truncated: b.truncated,
    })
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
