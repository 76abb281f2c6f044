//! Where each vehicle was, and when it took loads on and off: the track points its hauler
//! logged and the places of the hand-overs it was part of. Derived (folded from the log,
//! replayed at open) and kept compact, 24 bytes a fix, for the vehicle detectors of
//! `investigate::detectors` (too fast, two places at once, dwelling outside every site).

use super::codes::{ManifestNumber, Plate};
use super::events::Point;
use super::table::{enc, Changes, Table};
use crate::ledger::kv::Kv;
use crate::ledger::time::Timestamp;
use std::ops::ControlFlow;
use std::sync::Arc;

/// What a fix records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixKind {
    /// A track point (`vehicle.track`).
    Track,
    /// A hand-over put a load on this vehicle.
    Load,
    /// A hand-over took a load off this vehicle.
    Unload,
}

/// One position of a vehicle: the time (the parties' `at`, or the track point's), micro-degrees,
/// and the log entry it comes from with what kind of fix it is (packed: the entry index in the
/// low 60 bits, the kind and whether the position is known in the top 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fix {
    pub ms: u64,
    pub lat_e6: i32,
    pub lon_e6: i32,
    tagged: u64,
}

const INDEX_BITS: u32 = 60;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const NO_POSITION: u64 = 1 << 63;

impl Fix {
    pub fn new(at: Timestamp, point: Option<Point>, index: u64, kind: FixKind) -> Fix {
        let k = match kind {
            FixKind::Track => 0u64,
            FixKind::Load => 1,
            FixKind::Unload => 2,
        };
        let p = point.unwrap_or(Point {
            lat_e6: 0,
            lon_e6: 0,
        });
        Fix {
            ms: at.unix_millis(),
            lat_e6: p.lat_e6,
            lon_e6: p.lon_e6,
            tagged: (index & INDEX_MASK)
                | (k << INDEX_BITS)
                | if point.is_none() { NO_POSITION } else { 0 },
        }
    }

    /// The log entry behind the fix.
    pub fn index(&self) -> u64 {
        self.tagged & INDEX_MASK
    }

    pub fn kind(&self) -> FixKind {
        match (self.tagged >> INDEX_BITS) & 0b11 {
            0 => FixKind::Track,
            1 => FixKind::Load,
            _ => FixKind::Unload,
        }
    }

    /// Where, when known (a hand-over names a site or a place; a track point always has one).
    pub fn point(&self) -> Option<Point> {
        (self.tagged & NO_POSITION == 0).then_some(Point {
            lat_e6: self.lat_e6,
            lon_e6: self.lon_e6,
        })
    }

    pub fn at(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.ms)
    }
}

/// A fix's key: (plate, time in ms, entry, position in the entry).
type FixKey = (Plate, u64, u64, u8);

/// Every vehicle's fixes, each vehicle's in time order (ties in log order): one key per fix,
/// (plate, time, entry, position in the entry).
pub struct Movements {
    /// (plate, time, entry, position in the entry) -> the fix, and the load a hand-over's fix
    /// belongs to (packed manifest number).
    fixes: Table<FixKey, (Fix, Option<u64>)>,
    /// (plate, entry) -> the time of the hand-over fix that entry gives the vehicle: where a
    /// load's own fixes are, found from its steps (a manifest read walks only the fixes
    /// around them).
    handed: Table<(Plate, u64), u64>,
    /// The vehicles that have fixes.
    tracked: Table<Plate, ()>,
    /// "fixes": how many; "newest": the latest time (ms) any fix has.
    totals: Table<String, u64>,
}

impl Movements {
    pub fn new(base: Option<Arc<dyn Kv>>) -> Self {
        Movements {
            fixes: Table::new(b'f', base.clone()),
            handed: Table::new(b'a', base.clone()),
            tracked: Table::new(b'F', base.clone()),
            totals: Table::new(b'z', base),
        }
    }

    pub(super) fn tables<'a>(&'a mut self, out: &mut Vec<&'a mut dyn Changes>) {
        out.push(&mut self.fixes);
        out.push(&mut self.handed);
        out.push(&mut self.tracked);
        out.push(&mut self.totals);
    }

    /// Keep what the fold reads (the vehicles tracked, the count) decoded.
    pub(super) fn keep_decoded(&mut self, cap: usize) {
        self.tracked.keep_decoded(cap);
        self.totals.keep_decoded(4);
    }

    /// Add the `nth` fix an entry gives `plate` (`load`: the manifest a hand-over's fix is of).
    pub fn add(&mut self, plate: &Plate, fix: Fix, nth: u8, load: Option<&ManifestNumber>) {
        self.fixes.insert(
            (plate.clone(), fix.ms, fix.index(), nth),
            (fix, load.map(ManifestNumber::packed)),
        );
        if fix.kind() != FixKind::Track {
            self.handed.insert((plate.clone(), fix.index()), fix.ms);
        }
        if !self.tracked.contains_key(plate) {
            self.tracked.insert(plate.clone(), ());
        }
        let n = self.len() as u64 + 1;
        self.totals.insert("fixes".into(), n);
        if self.newest().is_none_or(|t| fix.ms > t.unix_millis()) {
            self.totals.insert("newest".into(), fix.ms);
        }
    }

    /// The latest time any fix has: where the newest vehicle anomalies are.
    pub fn newest(&self) -> Option<Timestamp> {
        self.totals
            .get(&"newest".to_string())
            .map(|ms| Timestamp::from_unix_millis(*ms))
    }

    /// The fixes of one vehicle with `from <= time < to`, in time order.
    pub fn window(
        &self,
        plate: &Plate,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Vec<Fix> {
        self.window_with_loads(plate, from, to)
            .into_iter()
            .map(|(fix, _)| fix)
            .collect()
    }

    /// [`window`](Self::window), each fix with the load a hand-over's fix is of (packed,
    /// [`ManifestNumber::packed`]).
    pub fn window_with_loads(
        &self,
        plate: &Plate,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Vec<(Fix, Option<u64>)> {
        let prefix = enc(plate);
        let start = enc(&(plate.clone(), from.map_or(0, |t| t.unix_millis())));
        let mut out = Vec::new();
        self.fixes
            .scan_from(&prefix, &start, &mut |(_, ms, _, _), fix| {
                if to.is_some_and(|t| ms >= t.unix_millis()) {
                    return ControlFlow::Break(());
                }
                out.push(fix.into_owned());
                ControlFlow::Continue(())
            });
        out
    }

    /// The time of the hand-over fix entry `entry` gave `plate`, if it gave it one.
    pub fn handed_at(&self, plate: &Plate, entry: u64) -> Option<Timestamp> {
        self.handed
            .get(&(plate.clone(), entry))
            .map(|ms| Timestamp::from_unix_millis(*ms))
    }

    /// The vehicles that have fixes, in plate order.
    pub fn vehicles(&self) -> Vec<Plate> {
        let mut out = Vec::new();
        self.tracked.scan(&[], &mut |p, _| {
            out.push(p);
            ControlFlow::Continue(())
        });
        out
    }

    /// How many fixes are held (for memory estimates).
    pub fn len(&self) -> usize {
        self.totals.get(&"fixes".to_string()).map_or(0, |c| *c) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fix_packs_its_entry_kind_and_position() {
        let t = Timestamp::from_unix_millis(1_795_392_000_000);
        let p = Point {
            lat_e6: -31_000_000,
            lon_e6: 121_000_000,
        };
        let f = Fix::new(t, Some(p), 123_456_789_012, FixKind::Unload);
        assert_eq!(
            (f.index(), f.kind(), f.point(), f.at()),
            (123_456_789_012, FixKind::Unload, Some(p), t)
        );
        let g = Fix::new(t, None, 7, FixKind::Load);
        assert_eq!((g.index(), g.kind(), g.point()), (7, FixKind::Load, None));
        assert_eq!(std::mem::size_of::<Fix>(), 24);
    }

    #[test]
    fn fixes_stay_in_time_order_whatever_order_they_come_in() {
        let mut m = Movements::new(None);
        let plate = Plate::parse("苏E12345").unwrap();
        for (ms, i) in [(30, 1), (10, 2), (20, 3), (10, 4)] {
            m.add(
                &plate,
                Fix::new(Timestamp::from_unix_millis(ms), None, i, FixKind::Track),
                0,
                None,
            );
        }
        let order: Vec<u64> = m
            .window(&plate, None, None)
            .iter()
            .map(|f| f.index())
            .collect();
        assert_eq!(order, vec![2, 4, 3, 1]);
        assert_eq!(m.newest(), Some(Timestamp::from_unix_millis(30)));
        assert_eq!(Movements::new(None).newest(), None);
    }

    #[test]
    fn a_window_holds_the_fixes_from_its_start_up_to_but_not_at_its_end() {
        let mut m = Movements::new(None);
        let plate = Plate::parse("苏E12345").unwrap();
        let t = Timestamp::from_unix_millis;
        for (ms, i) in [(10, 1), (20, 2), (20, 3), (30, 4), (40, 5)] {
            m.add(&plate, Fix::new(t(ms), None, i, FixKind::Track), 0, None);
        }
        let idx = |w: Vec<Fix>| w.iter().map(|f| f.index()).collect::<Vec<_>>();
        assert_eq!(
            idx(m.window(&plate, Some(t(20)), Some(t(40)))),
            vec![2, 3, 4]
        );
        assert_eq!(idx(m.window(&plate, None, Some(t(20)))), vec![1]);
        assert_eq!(idx(m.window(&plate, Some(t(35)), None)), vec![5]);
        assert!(m.window(&plate, Some(t(40)), Some(t(10))).is_empty());
        let other = Plate::parse("苏E54321").unwrap();
        assert!(m.window(&other, None, None).is_empty());
    }
}
