//! PURE: the manifests the fold watches for the detectors, so that the rules about one
//! manifest (overdue, receipt not confirmed, the flags) are answered by reading a range of
//! keys instead of every manifest.
//!
//! One table (`w`) of keys (kind, time, manifest), each the manifest's current state: a key
//! is added as a manifest comes to need watching, and removed when it no longer does. What
//! the detectors' thresholds are (transit limits, working days, holidays) the fold does not
//! need to know: each key holds the fold's own time, and the query works out the range from
//! its `now` and thresholds, then judges each manifest it finds with the same code as a full
//! scan.

use super::codes::ManifestNumber;
use super::model::{Manifest, Status, Step, StepKind};
use super::table::{enc, Changes, Key};
use crate::ledger::kv::{prefix_end, Change, Kv};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::Arc;

/// The table's key prefix.
const TAG: u8 = b'w';

/// What a manifest is watched for, and what the key's time is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Watched {
    /// On the road: since when (`in_transit_since`). Overdue once its stream's limit passes.
    InTransit = 0,
    /// Delivered, no receipt confirmed yet: when it arrived (`delivered_at`). Late once the
    /// receipt deadline passes.
    Unconfirmed = 1,
    /// Receipt confirmed: how many ms after the arrival. Late when past the deadline, which is
    /// always more than the working days after the arrival.
    ConfirmedAfter = 2,
    /// Flagged with a rule the detectors report (quantity gap, licence, permit, vehicle); the
    /// time is 0. Flags are never taken back.
    Flagged = 3,
}

/// A delivered manifest's arrival (the hand-over at `delivered_at`), and the receipt confirmed
/// after it, if any.
pub fn arrival_and_receipt(m: &Manifest) -> Option<(&Step, Option<&Step>)> {
    let delivered = m.delivered_at?;
    let arrival = m
        .steps
        .iter()
        .rev()
        .find(|s| s.kind == StepKind::Handover && s.time == delivered)?;
    let receipt = m
        .steps
        .iter()
        .find(|s| s.kind == StepKind::Received && s.index > arrival.index);
    Some((arrival, receipt))
}

/// Whether a flag is one of those the detectors report as an anomaly of its own.
pub fn reported(kind: super::model::FlagKind) -> bool {
    use super::model::FlagKind::*;
    matches!(kind, QuantityGap | NotLicensed | NoPermit | WrongVehicle)
}

type WatchKey = (u8, u64, ManifestNumber);

/// The keys a manifest's current state is watched under.
fn keys(m: &Manifest) -> BTreeSet<Vec<u8>> {
    let mut out = BTreeSet::new();
    let mut add = |w: Watched, t: u64| out.insert(enc(&(w as u8, t, m.number.clone())));
    if let (Some(since), Some(_)) = (m.in_transit_since, m.in_transit_index) {
        add(Watched::InTransit, since.unix_millis());
    }
    if let Some((arrival, receipt)) = arrival_and_receipt(m) {
        match receipt {
            Some(r) => add(
                Watched::ConfirmedAfter,
                r.time
                    .unix_millis()
                    .saturating_sub(arrival.time.unix_millis()),
            ),
            None if m.status == Status::Delivered => {
                add(Watched::Unconfirmed, arrival.time.unix_millis())
            }
            None => false,
        };
    }
    if m.flags.iter().any(|f| reported(f.kind)) {
        add(Watched::Flagged, 0);
    }
    out
}

/// The watch table: what changed since the last take over what the store holds.
pub struct Watch {
    base: Option<Arc<dyn Kv>>,
    /// Keys (without the tag) added (true) or removed (false) since the last take.
    dirty: BTreeMap<Vec<u8>, bool>,
}

impl Watch {
    pub fn new(base: Option<Arc<dyn Kv>>) -> Self {
        Watch {
            base,
            dirty: BTreeMap::new(),
        }
    }

    /// A manifest is stored as `new`, replacing `old` (its keys, [`Watch::keys_of`]).
    pub fn update(&mut self, old: &BTreeSet<Vec<u8>>, new: &Manifest) {
        let new = keys(new);
        for k in old.difference(&new) {
            self.dirty.insert(k.clone(), false);
        }
        for k in new.difference(old) {
            self.dirty.insert(k.clone(), true);
        }
    }

    /// The keys a manifest's stored version is watched under.
    pub fn keys_of(m: &Manifest) -> BTreeSet<Vec<u8>> {
        keys(m)
    }

    /// The manifests watched for `w` with `from <= time < to`, in (time, number) order.
    pub fn range(&self, w: Watched, from: u64, to: u64) -> Vec<(u64, ManifestNumber)> {
        let lo = enc(&(w as u8, from));
        let hi = if to == u64::MAX {
            prefix_end(&[w as u8]).expect("a kind below 0xff")
        } else {
            enc(&(w as u8, to))
        };
        if lo >= hi {
            return Vec::new();
        }
        let mut found: BTreeMap<Vec<u8>, bool> = BTreeMap::new();
        if let Some(base) = &self.base {
            let full = |k: &[u8]| [&[TAG][..], k].concat();
            base.scan(&full(&lo), Some(&full(&hi)), &mut |k, _| {
                found.insert(k[1..].to_vec(), true);
                ControlFlow::Continue(())
            });
        }
        for (k, on) in self.dirty.range(lo..hi) {
            found.insert(k.clone(), *on);
        }
        found
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(k, _)| {
                let mut s = k.as_slice();
                let (_, t, n) = WatchKey::take(&mut s).unwrap_or_else(|| {
                    panic!(
                        "the domain's read model holds a key it cannot read at table 'w': {}; rebuild it with `wasteledger reindex`",
                        hex::encode(&k)
                    )
                });
                (t, n)
            })
            .collect()
    }
}

impl Changes for Watch {
    fn encode(&self, out: &mut Vec<Change>) {
        let mut present = Vec::new();
        super::value::encode_into(&(), &mut present).expect("unit encodes");
        for (k, on) in &self.dirty {
            let key = [&[TAG][..], k].concat();
            out.push((key, on.then(|| present.clone())));
        }
    }
    fn forget(&mut self) {
        self.dirty.clear();
    }
    fn cache(&mut self, _cap: usize) {}
    fn rebase(&mut self, base: Option<Arc<dyn Kv>>) {
        self.base = base;
    }
}
