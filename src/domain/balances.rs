//! PURE: what each manifest adds to the balances the detectors keep over many manifests (a
//! transfer station's books, a receiver's intake against its licence's annual capacity, a
//! construction site's loads), kept by the fold as rows of one table (`b`), so that the
//! detectors read these rows instead of every manifest.
//!
//! A row is a fact about the manifest and its parties' roles, which are fixed when a party is
//! registered (no event changes them, and a party is handed nothing before it is registered):
//! a load handed to a transfer station is in its books unless the station is a hauler too and
//! took it onto its truck. What the register may change later is left to the detectors, which
//! judge it when they read (does a licence with a capacity cover the waste at the row's time,
//! is the origin a construction site): a licence granted or revoked later changes what the rows
//! add up to without rewriting a row.
//! A row is written when the manifest comes to give it and removed when it no longer does (a
//! load leaves a station's stock, a lost load is received). Rows that differ only by entry,
//! manifest, time and line are a group, whose total (how many rows, their amounts) is kept
//! with them, so a balance is read from its groups' totals and its rows are read only when it
//! is out of line (for the entries behind it).
//!
//! Keys (after the table's tag), in the order a balance is read, each a group's prefix and
//! then what orders its rows:
//! - books: (0, party, (stream, label, unit, side)), (entry, manifest) → (amount, time ms)
//! - takes: (1, party, (year CST, stream, code, cw type, unit)), (time ms, entry,
//!   manifest, line) → amount
//! - a site's loads: (2, site, picked up / received / received nowhere), (time ms, entry,
//!   manifest) → what it adds
//! - a group's total: 3, then the group's prefix → [`Total`]

use super::codes::{CwType, ManifestNumber, Quantity, Unit, Uscc, WasteCode};
use super::events::{Line, Stream};
use super::model::{Manifest, Status, Step, StepKind};
use super::rows::{RowMap, Rows};
use super::table::{enc, Key};
use crate::ledger::kv::Kv;
use crate::ledger::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;

/// The table's key prefix.
const TAG: u8 = b'b';

/// Which side of a transfer station's books a row is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// Handed to the station and not received there (no receipt before the next hand-over).
    In,
    /// Handed on by the station after such a hand-over.
    Out,
    /// Held at the station now (the manifest's status): its stock.
    Stock,
    /// A load the station made of what it held (consolidated or split): what left it.
    Sent,
}

impl Side {
    fn code(self) -> u8 {
        self as u8
    }
    fn of(c: u8) -> Option<Side> {
        [Side::In, Side::Out, Side::Stock, Side::Sent]
            .get(c as usize)
            .copied()
    }
}

/// A party's roles as the rows need them: a transfer station, a hauler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    pub station: bool,
    pub hauler: bool,
}

/// A waste line's identity in a balance: its code, else its type, else its name.
pub fn label(line: &Line) -> String {
    match (&line.code, &line.cw_type) {
        (Some(c), _) => c.to_string(),
        (_, Some(t)) => t.as_str().to_string(),
        _ => line.name.clone(),
    }
}

/// One row: the group it is in, where it was given, and what it adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    pub group: Group,
    /// A take: the receipt, or the hand-over to the station; a site's load: its pick-up or
    /// its receipt; books: the step.
    pub time: Timestamp,
    pub entry: u64,
    pub manifest: ManifestNumber,
    pub what: What,
}

/// What a row adds to its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// A line's amount on one side of a party's books (two lines of one waste and unit at one
    /// entry added up).
    Books { amount: u64 },
    /// Line `line`'s amount taken in (for a capacity: under the licence that covers the
    /// line's code or type at the row's time).
    Take { line: u16, amount: u64 },
    /// A construction-stream load from the group's site (if it is a construction site).
    Site(SiteLoad),
}

/// What a construction-stream load from a site adds to the site's balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SiteLoad {
    /// Picked up (the hand-over at `time`, `entry`).
    Picked,
    /// Received (the receipt at `time`, `entry`): how much was picked up, and how much the
    /// receiver took in (accepted and rejected), per unit.
    Received {
        picked: BTreeMap<Unit, u64>,
        taken: BTreeMap<Unit, u64>,
    },
    /// Picked up (at `time`, `entry`), received nowhere and taken in at no station: lost
    /// once its transit limit passes.
    Unreceived,
}

impl SiteLoad {
    fn code(&self) -> u8 {
        match self {
            SiteLoad::Picked => 0,
            SiteLoad::Received { .. } => 1,
            SiteLoad::Unreceived => 2,
        }
    }
}

const BOOKS: u8 = 0;
const TAKES: u8 = 1;
const SITES: u8 = 2;

fn encoded<T: Serialize>(v: &T) -> Vec<u8> {
    super::value::encode(v).expect("a balance row encodes")
}

fn sum(q: &[Quantity]) -> BTreeMap<Unit, u64> {
    let mut out = BTreeMap::new();
    for x in q {
        *out.entry(x.unit).or_default() += x.amount;
    }
    out
}

/// Every fact manifest `m` gives as it stands (each a row), its parties' roles as `roles` says.
fn facts(m: &Manifest, roles: &dyn Fn(&Uscc) -> Roles) -> Vec<Fact> {
    let lines = &m.current().lines;
    // Two lines of one waste and unit at one entry add up: (party, waste, side, entry).
    // (party, label, unit, side, entry) → (amount, time)
    type Booked = (Uscc, String, Unit, Side, u64);
    let mut books: BTreeMap<Booked, (u64, Timestamp)> = BTreeMap::new();
    let mut book =
        |party: &Uscc, line: &Line, unit: Unit, side: Side, s: (u64, Timestamp), amount: u64| {
            books
                .entry((party.clone(), label(line), unit, side, s.0))
                .or_insert((0, s.1))
                .0 += amount;
        };
    let handovers: Vec<usize> = m
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == StepKind::Handover)
        .map(|(i, _)| i)
        .collect();
    let mut takes: Vec<(&Uscc, &Step, &[Quantity])> = Vec::new();
    // The last hand-over went to this station, which took the load in without a receipt.
    let mut station: Option<&Uscc> = None;
    let mut taken_in = false;
    for (k, &i) in handovers.iter().enumerate() {
        let s: &Step = &m.steps[i];
        let (Some(from), Some(to), Some(q)) = (&s.from, &s.to, &s.quantities) else {
            continue;
        };
        if let Some(p) = station.take() {
            if p == from {
                for (l, x) in lines.iter().zip(q) {
                    book(p, l, x.unit, Side::Out, (s.index, s.time), x.amount);
                }
            }
        }
        let r = roles(to);
        // Onto a hauler's truck: on the road.
        if s.vehicle.is_some() && r.hauler {
            continue;
        }
        let next = handovers.get(k + 1).copied().unwrap_or(m.steps.len());
        let receipt = m.steps[i + 1..next]
            .iter()
            .find(|r| r.kind == StepKind::Received);
        match receipt {
            Some(rc) => {
                taken_in = true;
                if let Some(acc) = &rc.quantities {
                    takes.push((to, rc, acc));
                }
            }
            // Taken in at a station, not received there.
            None if r.station => {
                taken_in = true;
                station = Some(to);
                for (l, x) in lines.iter().zip(q) {
                    book(to, l, x.unit, Side::In, (s.index, s.time), x.amount);
                }
                takes.push((to, s, q));
            }
            None => {}
        }
    }
    if m.status == Status::AtStation {
        let last = m
            .steps
            .last()
            .map_or((m.issue_index, m.issued_at), |s| (s.index, s.time));
        for (l, x) in lines.iter().zip(&m.quantities) {
            book(&m.holder, l, x.unit, Side::Stock, last, x.amount);
        }
    }
    let made_at_station = m
        .steps
        .first()
        .is_some_and(|s| matches!(s.kind, StepKind::Consolidated | StepKind::Split));
    if made_at_station {
        for l in lines {
            book(
                &m.issuer,
                l,
                l.quantity.unit,
                Side::Sent,
                (m.issue_index, m.issued_at),
                l.quantity.amount,
            );
        }
    }
    let mut out: Vec<Fact> = books
        .into_iter()
        .map(|((party, label, unit, side, entry), (amount, time))| Fact {
            group: Group::Books {
                party,
                stream: m.stream,
                label,
                unit,
                side,
            },
            time,
            entry,
            manifest: m.number.clone(),
            what: What::Books { amount },
        })
        .collect();
    for (party, s, q) in takes {
        for (n, (l, x)) in lines.iter().zip(q).enumerate() {
            if x.amount == 0 {
                continue;
            }
            out.push(Fact {
                group: Group::Take {
                    party: party.clone(),
                    year: s.time.cst_year(),
                    stream: m.stream,
                    code: l.code.clone(),
                    cw_type: l.cw_type,
                    unit: x.unit,
                },
                time: s.time,
                entry: s.index,
                manifest: m.number.clone(),
                what: What::Take {
                    line: n as u16,
                    amount: x.amount,
                },
            });
        }
    }
    // A construction-stream load made at its origin (not at a station from others).
    if let (Stream::Construction, true, Some(&first)) =
        (m.stream, m.sources.is_empty(), handovers.first())
    {
        let pickup = &m.steps[first];
        let site = |s: &Step, load: SiteLoad| Fact {
            group: Group::Site {
                site: m.origin.clone(),
                load: load.code(),
            },
            time: s.time,
            entry: s.index,
            manifest: m.number.clone(),
            what: What::Site(load),
        };
        out.push(site(pickup, SiteLoad::Picked));
        let received = m.steps.iter().find(|s| s.kind == StepKind::Received);
        let at_a_station = matches!(
            m.status,
            Status::AtStation | Status::Consolidated | Status::Split | Status::Voided
        );
        match received {
            Some(r) => {
                let mut taken = sum(&m.accepted);
                for (u, a) in sum(&m.rejected) {
                    *taken.entry(u).or_default() += a;
                }
                let picked = sum(pickup.quantities.as_deref().unwrap_or(&[]));
                out.push(site(r, SiteLoad::Received { picked, taken }));
            }
            None if !at_a_station && !taken_in => out.push(site(pickup, SiteLoad::Unreceived)),
            None => {}
        }
    }
    out
}

/// A fact as its row: key (without the table's tag: its group's prefix, then what orders the
/// rows of the group) and value.
fn row(f: &Fact) -> (Vec<u8>, Vec<u8>) {
    let mut k = f.group.prefix();
    let v = match &f.what {
        What::Books { amount } => {
            (f.entry, f.manifest.clone()).put(&mut k);
            encoded(&(*amount, f.time.unix_millis()))
        }
        What::Take { line, amount } => {
            (f.time.unix_millis(), f.entry, f.manifest.clone(), *line).put(&mut k);
            encoded(amount)
        }
        What::Site(load) => {
            (f.time.unix_millis(), f.entry, f.manifest.clone()).put(&mut k);
            encoded(load)
        }
    };
    (k, v)
}

fn unreadable(k: &[u8]) -> ! {
    panic!(
        "the domain's read model holds a row it cannot read at table 'b': {}; rebuild it with `wasteledger reindex`",
        hex::encode(k)
    )
}

/// A row read back from its key and value.
fn fact(k: &[u8], v: &[u8]) -> Fact {
    fn value<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> T {
        super::value::decode(v).unwrap_or_else(|_| unreadable(k))
    }
    let mut b = k;
    let group = Group::take(&mut b).unwrap_or_else(|| unreadable(k));
    let ms = Timestamp::from_unix_millis;
    let (time, entry, manifest, what) = match &group {
        Group::Books { .. } => {
            let (entry, manifest) =
                <(u64, ManifestNumber)>::take(&mut b).unwrap_or_else(|| unreadable(k));
            let (amount, time): (u64, u64) = value(k, v);
            (ms(time), entry, manifest, What::Books { amount })
        }
        Group::Take { .. } => {
            let (time, entry, manifest, line) =
                <(u64, u64, ManifestNumber, u16)>::take(&mut b).unwrap_or_else(|| unreadable(k));
            let amount = value(k, v);
            (ms(time), entry, manifest, What::Take { line, amount })
        }
        Group::Site { .. } => {
            let (time, entry, manifest) =
                <(u64, u64, ManifestNumber)>::take(&mut b).unwrap_or_else(|| unreadable(k));
            (ms(time), entry, manifest, What::Site(value(k, v)))
        }
    };
    Fact {
        group,
        time,
        entry,
        manifest,
        what,
    }
}

/// What the rows of one group add up to (a group: the rows that differ only by entry,
/// manifest, time and line).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Total {
    /// Rows in the group.
    pub rows: u64,
    /// Their amounts (books, takes).
    pub amount: u64,
    /// A site's received loads: how much they left with, and how much receivers took in, per
    /// unit.
    pub picked: BTreeMap<Unit, u64>,
    pub taken: BTreeMap<Unit, u64>,
}

/// A group of rows, as its total is kept and its rows are read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Books {
        party: Uscc,
        stream: Stream,
        label: String,
        unit: Unit,
        side: Side,
    },
    Take {
        party: Uscc,
        year: u16,
        stream: Stream,
        code: Option<WasteCode>,
        cw_type: Option<CwType>,
        unit: Unit,
    },
    /// A site's loads of one kind (0 picked up, 1 received, 2 received nowhere).
    Site { site: String, load: u8 },
}

/// The kind byte of a site's received loads, and of its loads received nowhere.
pub const PICKED: u8 = 0;
pub const RECEIVED: u8 = 1;
pub const UNRECEIVED: u8 = 2;

/// The family of the groups' totals (after the rows' three).
const TOTALS: u8 = 3;

impl Group {
    /// The bytes every row of the group starts with (without the table's tag).
    fn prefix(&self) -> Vec<u8> {
        match self {
            Group::Books {
                party,
                stream,
                label,
                unit,
                side,
            } => enc(&(
                BOOKS,
                party.clone(),
                (*stream, label.clone(), *unit, side.code()),
            )),
            Group::Take {
                party,
                year,
                stream,
                code,
                cw_type,
                unit,
            } => enc(&(
                TAKES,
                party.clone(),
                (*year, *stream, code.clone(), *cw_type, *unit),
            )),
            Group::Site { site, load } => enc(&(SITES, site.clone(), *load)),
        }
    }

    /// The key of the group's total.
    fn total_key(&self) -> Vec<u8> {
        [&[TOTALS][..], &self.prefix()].concat()
    }

    /// Read a group from the front of a row's key (without the table's tag), advancing it.
    fn take(b: &mut &[u8]) -> Option<Group> {
        match b.first() {
            Some(&BOOKS) => {
                let (_, party, (stream, label, unit, side)) =
                    <(u8, Uscc, (Stream, String, Unit, u8))>::take(b)?;
                Some(Group::Books {
                    party,
                    stream,
                    label,
                    unit,
                    side: Side::of(side)?,
                })
            }
            Some(&TAKES) => {
                type G = (
                    u8,
                    Uscc,
                    (u16, Stream, Option<WasteCode>, Option<CwType>, Unit),
                );
                let (_, party, (year, stream, code, cw_type, unit)) = G::take(b)?;
                Some(Group::Take {
                    party,
                    year,
                    stream,
                    code,
                    cw_type,
                    unit,
                })
            }
            Some(&SITES) => {
                let (_, site, load) = <(u8, String, u8)>::take(b)?;
                Some(Group::Site { site, load })
            }
            _ => None,
        }
    }
}

impl Fact {
    /// The row's amount (a site's load: none).
    pub fn amount(&self) -> u64 {
        match self.what {
            What::Books { amount } | What::Take { amount, .. } => amount,
            What::Site(_) => 0,
        }
    }

    /// What the row adds to its group's total.
    fn total(&self) -> Total {
        let mut t = Total {
            rows: 1,
            amount: self.amount(),
            ..Total::default()
        };
        if let What::Site(SiteLoad::Received { picked, taken }) = &self.what {
            t.picked = picked.clone();
            t.taken = taken.clone();
        }
        t
    }
}

/// A change to a group's total: what rows came and went add, less what went.
#[derive(Default)]
struct Delta {
    rows: i64,
    amount: i128,
    picked: BTreeMap<Unit, i128>,
    taken: BTreeMap<Unit, i128>,
}

impl Delta {
    fn add(&mut self, t: &Total, sign: i128) {
        self.rows += sign as i64;
        self.amount += sign * t.amount as i128;
        for (u, a) in &t.picked {
            *self.picked.entry(*u).or_default() += sign * *a as i128;
        }
        for (u, a) in &t.taken {
            *self.taken.entry(*u).or_default() += sign * *a as i128;
        }
    }
    fn is_none(&self) -> bool {
        self.rows == 0
            && self.amount == 0
            && self.picked.values().all(|a| *a == 0)
            && self.taken.values().all(|a| *a == 0)
    }
    /// `t` with this change made to it.
    fn apply(&self, t: Total) -> Total {
        let n = |v: u64, d: i128| (v as i128 + d).max(0) as u64;
        // A unit stays while its group does, at 0 too: a site whose received loads left with
        // 0 of a unit that receivers took in is out of balance in it (as the walk over the
        // manifests finds). A site's received loads are never taken back.
        let map = |mut m: BTreeMap<Unit, u64>, d: &BTreeMap<Unit, i128>| {
            for (u, a) in d {
                let v = n(m.get(u).copied().unwrap_or(0), *a);
                m.insert(*u, v);
            }
            m
        };
        Total {
            rows: n(t.rows, self.rows as i128),
            amount: n(t.amount, self.amount),
            picked: map(t.picked, &self.picked),
            taken: map(t.taken, &self.taken),
        }
    }
}

/// The balances table: what changed since the last take over what the store holds.
pub struct Balances {
    rows: Rows,
}

impl Balances {
    pub fn new(base: Option<Arc<dyn Kv>>) -> Self {
        Balances {
            rows: Rows::new(TAG, base),
        }
    }

    /// The table, as the fold's take writes it.
    pub fn rows(&mut self) -> &mut Rows {
        &mut self.rows
    }

    /// The facts a manifest gives as it stands, its parties' roles as `roles` says.
    pub fn facts_of(m: &Manifest, roles: &dyn Fn(&Uscc) -> Roles) -> Vec<Fact> {
        facts(m, roles)
    }

    /// A manifest that gave `old` now gives `new`: its rows where they differ, and the totals
    /// of their groups.
    pub fn update(&mut self, old: &[Fact], new: Vec<Fact>) {
        if old == new.as_slice() {
            return;
        }
        let before: RowMap = old.iter().map(row).collect();
        self.rows.replace(&before, new.iter().map(row).collect());
        let mut changes: BTreeMap<Group, Delta> = BTreeMap::new();
        for (facts, sign) in [(old, -1), (new.as_slice(), 1)] {
            for f in facts {
                changes
                    .entry(f.group.clone())
                    .or_default()
                    .add(&f.total(), sign);
            }
        }
        for (g, c) in changes {
            if c.is_none() {
                continue;
            }
            let k = g.total_key();
            let now = c.apply(self.rows.get(&k).map_or_else(Total::default, |v| {
                super::value::decode(&v).unwrap_or_else(|_| unreadable(&k))
            }));
            self.rows.set(k, (now.rows > 0).then(|| encoded(&now)));
        }
    }

    /// Every group's total, in key order (books by party, takes by party and year, sites'
    /// loads by site), until `f` breaks.
    pub fn each_total(&self, f: &mut dyn FnMut(Group, Total) -> ControlFlow<()>) {
        self.rows.scan(&[TOTALS], Some(&[TOTALS + 1]), &mut |k, v| {
            let t = super::value::decode(v).unwrap_or_else(|_| unreadable(k));
            let mut b = &k[1..];
            f(Group::take(&mut b).unwrap_or_else(|| unreadable(k)), t)
        });
    }

    /// The rows of one group, in key order, until `f` breaks.
    pub fn each_of(&self, g: &Group, f: &mut dyn FnMut(Fact) -> ControlFlow<()>) {
        let lo = g.prefix();
        let hi = crate::ledger::kv::prefix_end(&lo);
        self.rows
            .scan(&lo, hi.as_deref(), &mut |k, v| f(fact(k, v)));
    }
}
