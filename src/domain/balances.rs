//! PURE: what each manifest adds to the balances the detectors keep over many manifests (a
//! transfer station's books, a receiver's intake against its licence's annual capacity, a
//! construction site's loads), kept by the fold as rows of one table (`b`), so that the
//! detectors read these rows instead of every manifest.
//!
//! A row is a fact about the manifest alone. Whether it counts depends on the register as the
//! detectors read it (is the party a station, a hauler, does it hold a licence with a capacity
//! that covers the waste then, is the origin a construction site), so that is left to them: a
//! licence granted or revoked later, or a role given, changes what the rows add up to without
//! rewriting a row. A row is written when the manifest comes to give it and removed when it no
//! longer does (a load leaves a station's stock, a lost load is received).
//!
//! Keys (after the table's tag), in the order a balance is read:
//! - books: (0, party, (stream, label, unit, side), (entry, manifest)) → (amount, time ms)
//! - takes: (1, party, (year CST, how, stream, code, cw type, unit), (time ms, entry, manifest,
//!   line)) → amount
//! - a site's loads: (2, site, what, (time ms, entry, manifest)) → what it adds

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

/// Which side of a party's books a row is on. Whether `In` and `Out` count is the detectors'
/// to say: they do if the party is a transfer station and, for a load that came on a vehicle,
/// not a hauler (a hauler taking a load onto its truck holds it on the road).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// Handed to the party and not received there (no receipt before the next hand-over).
    In { vehicle: bool },
    /// Handed on by the party after such a hand-over (`vehicle`: that hand-over's).
    Out { vehicle: bool },
    /// Held at a station now (the manifest's status): its stock.
    Stock,
    /// A load the party made of what it held (consolidated or split): what left it.
    Sent,
}

impl Side {
    fn code(self) -> u8 {
        match self {
            Side::In { vehicle } => vehicle as u8,
            Side::Out { vehicle } => 2 + vehicle as u8,
            Side::Stock => 4,
            Side::Sent => 5,
        }
    }
    fn of(c: u8) -> Option<Side> {
        Some(match c {
            0 | 1 => Side::In { vehicle: c == 1 },
            2 | 3 => Side::Out { vehicle: c == 3 },
            4 => Side::Stock,
            5 => Side::Sent,
            _ => return None,
        })
    }
}

/// How a party took a load in, for its licence's annual capacity: with a receipt (it counts
/// unless the load came on a vehicle and the party is a hauler), or at a station without one
/// (it counts if the party is a station, and on the same condition).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Taken {
    Received { vehicle: bool },
    AtStation { vehicle: bool },
}

impl Taken {
    fn code(self) -> u8 {
        match self {
            Taken::Received { vehicle } => vehicle as u8,
            Taken::AtStation { vehicle } => 2 + vehicle as u8,
        }
    }
    fn of(c: u8) -> Option<Taken> {
        Some(match c {
            0 | 1 => Taken::Received { vehicle: c == 1 },
            2 | 3 => Taken::AtStation { vehicle: c == 3 },
            _ => return None,
        })
    }
    pub fn vehicle(self) -> bool {
        match self {
            Taken::Received { vehicle } | Taken::AtStation { vehicle } => vehicle,
        }
    }
}

/// A waste line's identity in a balance: its code, else its type, else its name.
pub fn label(line: &Line) -> String {
    match (&line.code, &line.cw_type) {
        (Some(c), _) => c.to_string(),
        (_, Some(t)) => t.as_str().to_string(),
        _ => line.name.clone(),
    }
}

/// One row, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    /// A line's amount on one side of a party's books for a waste (`label`) and unit.
    Books {
        party: Uscc,
        stream: Stream,
        label: String,
        unit: Unit,
        side: Side,
        entry: u64,
        manifest: ManifestNumber,
        amount: u64,
        time: Timestamp,
    },
    /// A line's amount a party took in (for a capacity: the licence that covers the line's
    /// code or type at `time`).
    Take {
        party: Uscc,
        year: u16,
        how: Taken,
        stream: Stream,
        code: Option<WasteCode>,
        cw_type: Option<CwType>,
        unit: Unit,
        time: Timestamp,
        entry: u64,
        manifest: ManifestNumber,
        line: u16,
        amount: u64,
    },
    /// A construction-stream load from `site` (if the site is a construction site): picked up
    /// (`entry`, `time`) and what became of it.
    Site {
        site: String,
        time: Timestamp,
        entry: u64,
        manifest: ManifestNumber,
        load: SiteLoad,
    },
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
    /// Picked up (at `time`, `entry`), received nowhere and not at a station (by its status):
    /// the parties it was handed to without a receipt, each with whether it came on a
    /// vehicle. Lost once its transit limit passes unless one of them is a station (and not,
    /// for a load on a vehicle, a hauler).
    Unreceived { handed: Vec<(Uscc, bool)> },
}

impl SiteLoad {
    fn code(&self) -> u8 {
        match self {
            SiteLoad::Picked => 0,
            SiteLoad::Received { .. } => 1,
            SiteLoad::Unreceived { .. } => 2,
        }
    }
}

const BOOKS: u8 = 0;
const TAKES: u8 = 1;
const SITES: u8 = 2;

type BooksKey = (u8, Uscc, (Stream, String, Unit, u8), (u64, ManifestNumber));
type TakeKey = (
    u8,
    Uscc,
    (u16, u8, Stream, Option<WasteCode>, Option<CwType>, Unit),
    (u64, u64, ManifestNumber, u16),
);
type SiteKey = (u8, String, u8, (u64, u64, ManifestNumber));

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

/// The year a time falls in, China Standard Time.
pub fn cst_year(t: Timestamp) -> u16 {
    t.cst_date()[..4].parse().unwrap_or(0)
}

/// Every row manifest `m` gives as it stands.
fn rows(m: &Manifest) -> RowMap {
    let mut out = RowMap::new();
    let lines = &m.current().lines;
    let mut books =
        |party: &Uscc, line: &Line, unit: Unit, side: Side, s: (u64, Timestamp), amount: u64| {
            let k = enc::<BooksKey>(&(
                BOOKS,
                party.clone(),
                (m.stream, label(line), unit, side.code()),
                (s.0, m.number.clone()),
            ));
            // Two lines of one waste and unit at one entry add up.
            let before = out
                .get(&k)
                .and_then(|v| super::value::decode::<(u64, u64)>(v).ok())
                .map_or(0, |(a, _)| a);
            out.insert(k, encoded(&(before + amount, s.1.unix_millis())));
        };
    let handovers: Vec<usize> = m
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == StepKind::Handover)
        .map(|(i, _)| i)
        .collect();
    let mut takes: Vec<(Uscc, Taken, &Step, &[Quantity])> = Vec::new();
    // The last hand-over went to this party without a receipt (on a vehicle or not).
    let mut held: Option<(&Uscc, bool)> = None;
    let mut handed: Vec<(Uscc, bool)> = Vec::new();
    for (k, &i) in handovers.iter().enumerate() {
        let s: &Step = &m.steps[i];
        let (Some(from), Some(to), Some(q)) = (&s.from, &s.to, &s.quantities) else {
            continue;
        };
        if let Some((p, vehicle)) = held.take() {
            if p == from {
                for (l, x) in lines.iter().zip(q) {
                    books(
                        p,
                        l,
                        x.unit,
                        Side::Out { vehicle },
                        (s.index, s.time),
                        x.amount,
                    );
                }
            }
        }
        let vehicle = s.vehicle.is_some();
        let next = handovers.get(k + 1).copied().unwrap_or(m.steps.len());
        let receipt = m.steps[i + 1..next]
            .iter()
            .find(|r| r.kind == StepKind::Received);
        match receipt {
            Some(r) => {
                if let Some(acc) = &r.quantities {
                    takes.push((to.clone(), Taken::Received { vehicle }, r, acc));
                }
            }
            None => {
                held = Some((to, vehicle));
                handed.push((to.clone(), vehicle));
                for (l, x) in lines.iter().zip(q) {
                    books(
                        to,
                        l,
                        x.unit,
                        Side::In { vehicle },
                        (s.index, s.time),
                        x.amount,
                    );
                }
                takes.push((to.clone(), Taken::AtStation { vehicle }, s, q));
            }
        }
    }
    if m.status == Status::AtStation {
        let last = m
            .steps
            .last()
            .map_or((m.issue_index, m.issued_at), |s| (s.index, s.time));
        for (l, x) in lines.iter().zip(&m.quantities) {
            books(&m.holder, l, x.unit, Side::Stock, last, x.amount);
        }
    }
    let made_at_station = m
        .steps
        .first()
        .is_some_and(|s| matches!(s.kind, StepKind::Consolidated | StepKind::Split));
    if made_at_station {
        for l in lines {
            books(
                &m.issuer,
                l,
                l.quantity.unit,
                Side::Sent,
                (m.issue_index, m.issued_at),
                l.quantity.amount,
            );
        }
    }
    for (party, how, s, q) in takes {
        for (n, (l, x)) in lines.iter().zip(q).enumerate() {
            if x.amount == 0 {
                continue;
            }
            let k = enc::<TakeKey>(&(
                TAKES,
                party.clone(),
                (
                    cst_year(s.time),
                    how.code(),
                    m.stream,
                    l.code.clone(),
                    l.cw_type,
                    x.unit,
                ),
                (s.time.unix_millis(), s.index, m.number.clone(), n as u16),
            ));
            out.insert(k, encoded(&x.amount));
        }
    }
    // A construction-stream load made at its origin (not at a station from others).
    if let (Stream::Construction, true, Some(&first)) =
        (m.stream, m.sources.is_empty(), handovers.first())
    {
        let pickup = &m.steps[first];
        let mut site = |s: &Step, load: SiteLoad| {
            let k = enc::<SiteKey>(&(
                SITES,
                m.origin.clone(),
                load.code(),
                (s.time.unix_millis(), s.index, m.number.clone()),
            ));
            out.insert(k, encoded(&load));
        };
        site(pickup, SiteLoad::Picked);
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
                site(r, SiteLoad::Received { picked, taken });
            }
            None if !at_a_station => site(pickup, SiteLoad::Unreceived { handed }),
            None => {}
        }
    }
    out
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
    match k.first() {
        Some(&BOOKS) => {
            let (_, party, (stream, label, unit, side), (entry, manifest)) =
                BooksKey::take(&mut b).unwrap_or_else(|| unreadable(k));
            let (amount, time): (u64, u64) = value(k, v);
            Fact::Books {
                party,
                stream,
                label,
                unit,
                side: Side::of(side).unwrap_or_else(|| unreadable(k)),
                entry,
                manifest,
                amount,
                time: Timestamp::from_unix_millis(time),
            }
        }
        Some(&TAKES) => {
            let (_, party, (year, how, stream, code, cw_type, unit), (time, entry, manifest, line)) =
                TakeKey::take(&mut b).unwrap_or_else(|| unreadable(k));
            Fact::Take {
                party,
                year,
                how: Taken::of(how).unwrap_or_else(|| unreadable(k)),
                stream,
                code,
                cw_type,
                unit,
                time: Timestamp::from_unix_millis(time),
                entry,
                manifest,
                line,
                amount: value(k, v),
            }
        }
        Some(&SITES) => {
            let (_, site, _, (time, entry, manifest)) =
                SiteKey::take(&mut b).unwrap_or_else(|| unreadable(k));
            Fact::Site {
                site,
                time: Timestamp::from_unix_millis(time),
                entry,
                manifest,
                load: value(k, v),
            }
        }
        _ => unreadable(k),
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

    /// The rows a manifest's stored version gives.
    pub fn rows_of(m: &Manifest) -> RowMap {
        rows(m)
    }

    /// A manifest is stored as `new`, replacing the version that gave `old`.
    pub fn update(&mut self, old: &RowMap, new: &Manifest) {
        self.rows.replace(old, rows(new));
    }

    /// Every row, in key order (books by party, takes by party, sites' loads by site), until
    /// `f` breaks.
    pub fn each(&self, f: &mut dyn FnMut(Fact) -> ControlFlow<()>) {
        self.rows.scan(&[], None, &mut |k, v| f(fact(k, v)));
    }
}
