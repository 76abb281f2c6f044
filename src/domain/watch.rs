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
use super::rows::{RowMap, Rows};
use super::table::{enc, Key};
use crate::ledger::kv::{prefix_end, Kv};
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
fn keys(m: &Manifest) -> RowMap {
    let mut out = RowMap::new();
    // The value says nothing: a key is there or not.
    let present = super::value::encode(&()).expect("unit encodes");
    let mut add =
        |w: Watched, t: u64| out.insert(enc(&(w as u8, t, m.number.clone())), present.clone());
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
            None => None,
        };
    }
    if m.flags.iter().any(|f| reported(f.kind)) {
        add(Watched::Flagged, 0);
    }
    out
}

/// The watch table: what changed since the last take over what the store holds.
pub struct Watch {
    rows: Rows,
}

impl Watch {
    pub fn new(base: Option<Arc<dyn Kv>>) -> Self {
        Watch {
            rows: Rows::new(TAG, base),
        }
    }

    /// The table, as the fold's take writes it.
    pub fn rows(&mut self) -> &mut Rows {
        &mut self.rows
    }

    /// A manifest is stored as `new`, replacing `old` (its keys, [`Watch::keys_of`]).
    pub fn update(&mut self, old: &RowMap, new: &Manifest) {
        self.rows.replace(old, keys(new));
    }

    /// The keys a manifest's stored version is watched under.
    pub fn keys_of(m: &Manifest) -> RowMap {
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
        let mut found = Vec::new();
        if lo >= hi {
            return found;
        }
        self.rows.scan(&lo, Some(&hi), &mut |k, _| {
            let mut s = k;
            let (_, t, n) = WatchKey::take(&mut s).unwrap_or_else(|| {
                panic!(
                    "the domain's read model holds a key it cannot read at table 'w': {}; rebuild it with `wasteledger reindex`",
                    hex::encode(k)
                )
            });
            found.push((t, n));
            ControlFlow::Continue(())
        });
        found
    }
}
