//! Where each vehicle was, and when it took loads on and off: the track points its hauler
//! logged and the places of the hand-overs it was part of. Derived (folded from the log,
//! replayed at open) and kept compact, 24 bytes a fix, for the vehicle detectors of
//! `investigate::detectors` (too fast, two places at once, dwelling outside every site).

use super::codes::{ManifestNumber, Plate};
use super::events::Point;
use super::table::{enc, Changes, Table};
use crate::ledger::kv::Kv;
use crate::ledger::time::Timestamp;
use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::Arc;

/// The first stretch of time read back from a fix (each next one twice as long).
const HOUR_MS: u64 = 3_600_000;

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
/// A fix's place in its vehicle's order: (time in ms, entry, position in the entry).
type FixAt = (u64, u64, u8);
/// What is kept per fix: the fix, the load a hand-over's fix belongs to (packed manifest
/// number), and whether the vehicle holds nothing after it (only ever set on a hand-over's).
type Held = (Fix, Option<u64>, bool);

/// What a vehicle holds after a hand-over fix, as the vehicle detectors count it walking its
/// fixes in time order: how many loads (a load put on adds one, one taken off takes one away,
/// never below none) and which (a hand-over's fix naming its load puts that manifest on or
/// takes it off).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Aboard {
    count: u64,
    /// (packed manifest number, the entry that put it on), in manifest order.
    on: Vec<(u64, u64)>,
    /// The latest hand-over fix taken into account (time order).
    last: Option<FixAt>,
}

impl Aboard {
    fn apply(&mut self, fix: &Fix, load: Option<u64>) {
        let at = |on: &Vec<(u64, u64)>, m: u64| on.binary_search_by_key(&m, |x| x.0);
        match fix.kind() {
            FixKind::Track => {}
            FixKind::Load => {
                self.count += 1;
                if let Some(m) = load {
                    match at(&self.on, m) {
                        Ok(i) => self.on[i].1 = fix.index(),
                        Err(i) => self.on.insert(i, (m, fix.index())),
                    }
                }
            }
            FixKind::Unload => {
                self.count = self.count.saturating_sub(1);
                if let Some(i) = load.and_then(|m| at(&self.on, m).ok()) {
                    self.on.remove(i);
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.count == 0 && self.on.is_empty()
    }
}

/// A vehicle's fixes around one of its loads, enough to judge every jump and stop that could
/// name that load exactly as a walk over all its fixes would (see [`Movements::around_load`]).
pub struct LoadFixes {
    /// In time order; the vehicle held nothing before the first.
    pub fixes: Vec<Fix>,
    /// The load each hand-over fix among them belongs to, by the hand-over's entry.
    pub loads: std::collections::HashMap<u64, ManifestNumber>,
}

/// Every vehicle's fixes, each vehicle's in time order (ties in log order): one key per fix,
/// (plate, time, entry, position in the entry).
pub struct Movements {
    /// (plate, time, entry, position in the entry) -> the fix, the load a hand-over's fix
    /// belongs to (packed manifest number), and whether the vehicle holds nothing after it.
    fixes: Table<FixKey, Held>,
    /// (plate, packed manifest number, time, entry, position) -> whether that hand-over fix put
    /// the load on (else took it off): where each load was on each vehicle.
    loads: Table<(Plate, u64, u64, u64, u8), bool>,
    /// What each vehicle holds after its latest hand-over fix.
    aboard: Table<Plate, Aboard>,
    /// (plate, entry) -> the earliest and latest time of a track entry's points (a hand-over's
    /// fixes all have its one time).
    spans: Table<(Plate, u64), (u64, u64)>,
    /// The vehicles that have fixes.
    tracked: Table<Plate, ()>,
    /// "fixes": how many.
    totals: Table<String, u64>,
}

impl Movements {
    pub fn new(base: Option<Arc<dyn Kv>>) -> Self {
        Movements {
            fixes: Table::new(b'f', base.clone()),
            loads: Table::new(b'H', base.clone()),
            aboard: Table::new(b'A', base.clone()),
            spans: Table::new(b'E', base.clone()),
            tracked: Table::new(b'F', base.clone()),
            totals: Table::new(b'z', base),
        }
    }

    pub(super) fn each_table(&mut self, f: &mut dyn FnMut(&mut dyn Changes)) {
        f(&mut self.fixes);
        f(&mut self.loads);
        f(&mut self.aboard);
        f(&mut self.spans);
        f(&mut self.tracked);
        f(&mut self.totals);
    }

    /// Keep what the fold reads (the vehicles tracked, what each holds, the count) decoded.
    pub(super) fn keep_decoded(&mut self, cap: usize) {
        self.tracked.keep_decoded(cap);
        self.aboard.keep_decoded(cap);
        self.totals.keep_decoded(4);
    }

    /// Add the `nth` fix an entry gives `plate` (`load`: the manifest a hand-over's fix is of).
    pub fn add(&mut self, plate: &Plate, fix: Fix, nth: u8, load: Option<&ManifestNumber>) {
        let load = load.map(ManifestNumber::packed);
        let at: FixAt = (fix.ms, fix.index(), nth);
        self.fixes
            .insert((plate.clone(), at.0, at.1, at.2), (fix, load, false));
        if fix.kind() == FixKind::Track {
            self.spans.upsert(
                (plate.clone(), at.1),
                || (at.0, at.0),
                |s| *s = (s.0.min(at.0), s.1.max(at.0)),
            );
        } else {
            if let Some(m) = load {
                self.loads.insert(
                    (plate.clone(), m, at.0, at.1, at.2),
                    fix.kind() == FixKind::Load,
                );
            }
            self.held_after(plate, at, fix, load);
        }
        if !self.tracked.contains_key(plate) {
            self.tracked.insert(plate.clone(), ());
        }
        let n = self.len() as u64 + 1;
        self.totals.insert("fixes".into(), n);
    }

    /// Keep what `plate` holds after each hand-over fix up to date with a new one at `at`.
    fn held_after(&mut self, plate: &Plate, at: FixAt, fix: Fix, load: Option<u64>) {
        let mut now = self
            .aboard
            .get(plate)
            .map(Cow::into_owned)
            .unwrap_or_default();
        if now.last.is_none_or(|last| last < at) {
            // The usual case: the latest hand-over of the vehicle so far.
            now.apply(&fix, load);
            now.last = Some(at);
            if now.is_empty() {
                self.fixes
                    .update(&(plate.clone(), at.0, at.1, at.2), |h| h.2 = true);
            }
            self.aboard.insert(plate.clone(), now);
            return;
        }
        // A hand-over given a time before the vehicle's latest: what it held after each one
        // from the last moment it held nothing before this one on is worked out again.
        let before = self.back_from(plate, at, &mut |_, h| h.2);
        let from = before.first().filter(|(_, h)| h.2).map(|(k, _)| *k);
        let mut held = Aboard::default();
        let mut flips = Vec::new();
        let start = enc(&(plate.clone(), from.map_or(0, |k| k.0)));
        self.fixes
            .scan_from(&enc(plate), &start, &mut |(_, ms, i, nth), h| {
                let k = (ms, i, nth);
                if from.is_some_and(|f| k <= f) || h.0.kind() == FixKind::Track {
                    return ControlFlow::Continue(());
                }
                held.apply(&h.0, h.1);
                held.last = Some(k);
                if held.is_empty() != h.2 {
                    flips.push(k);
                }
                ControlFlow::Continue(())
            });
        for k in flips {
            self.fixes
                .update(&(plate.clone(), k.0, k.1, k.2), |h| h.2 = !h.2);
        }
        self.aboard.insert(plate.clone(), held);
    }

    /// The fixes of `plate` before `at`, read backwards in time a stretch at a time until
    /// `stop` holds for one (walking back, `stop` sees each once, latest first), in time
    /// order from that one (from the first fix if none).
    fn back_from(
        &self,
        plate: &Plate,
        at: FixAt,
        stop: &mut dyn FnMut(FixAt, &Held) -> bool,
    ) -> Vec<(FixAt, Held)> {
        let prefix = enc(plate);
        let mut out: Vec<(FixAt, Held)> = Vec::new();
        let mut upto = at;
        let mut span = HOUR_MS;
        loop {
            let from = upto.0.saturating_sub(span);
            let mut chunk = Vec::new();
            self.fixes.scan_from(
                &prefix,
                &enc(&(plate.clone(), from)),
                &mut |(_, ms, i, nth), h| {
                    if (ms, i, nth) >= upto {
                        return ControlFlow::Break(());
                    }
                    chunk.push(((ms, i, nth), h.into_owned()));
                    ControlFlow::Continue(())
                },
            );
            for k in (0..chunk.len()).rev() {
                if stop(chunk[k].0, &chunk[k].1) {
                    chunk.drain(..k);
                    chunk.append(&mut out);
                    return chunk;
                }
            }
            chunk.append(&mut out);
            out = chunk;
            if from == 0 {
                return out;
            }
            upto = (from, 0, 0);
            span = span.saturating_mul(2);
        }
    }

    /// The fixes of `plate` around its load `n`, enough to find every anomaly of its fixes
    /// that names `n` exactly as a walk over all of them would, and every other one on the
    /// same entries (which an anomaly's id counts): from the last known position before `n`
    /// was first put on to the first one after it was last taken off (the end, if `n` is still
    /// on), widened to hold every fix of each entry it holds, and widened on to a moment the
    /// vehicle held nothing at each end. None if no fix of `plate` names `n`. A vehicle that
    /// never stands empty is read back to the oldest load still on.
    pub fn around_load(&self, plate: &Plate, n: &ManifestNumber) -> Option<LoadFixes> {
        let mut mine: Vec<(FixAt, bool)> = Vec::new();
        self.loads.scan(
            &enc(&(plate.clone(), n.packed())),
            &mut |(_, _, ms, i, nth), on| {
                mine.push(((ms, i, nth), *on));
                ControlFlow::Continue(())
            },
        );
        let (&(first, _), &(last, on)) = (mine.first()?, mine.last()?);
        // Back to the last known position before it, on to the first after it.
        let mut known = false;
        let mut all = self.back_from(plate, first, &mut |_, h| {
            known |= h.0.point().is_some();
            known
        });
        let mut after = false;
        self.forth_from(plate, first, true, &mut all, &mut |k, h| {
            after |= k > last && h.0.point().is_some();
            !on && after
        });
        // Every fix of each entry held, and empty at both ends.
        let mut spans: std::collections::HashMap<u64, (u64, u64)> = Default::default();
        loop {
            let (mut lo, mut hi) = ((u64::MAX, u64::MAX), (0, 0));
            for (k, h) in &all {
                let (a, b) = match h.0.kind() {
                    FixKind::Track => *spans.entry(k.1).or_insert_with(|| {
                        self.spans
                            .get(&(plate.clone(), k.1))
                            .map_or((k.0, k.0), |s| *s)
                    }),
                    _ => (k.0, k.0),
                };
                lo = lo.min((a, k.1));
                hi = hi.max((b, k.1));
            }
            let len = all.len();
            let start = all[0];
            if !((start.0 .0, start.0 .1) <= lo && start.1 .2) {
                let before = self.back_from(plate, start.0, &mut |k, h| (k.0, k.1) <= lo && h.2);
                all.splice(0..0, before);
            }
            // The last fix after which the vehicle held nothing, and the rest of its entry (a
            // load put back on the truck it was taken off) after it.
            let same = |a: FixAt, b: FixAt| (a.0, a.1) == (b.0, b.1);
            let ends_empty = |all: &[(FixAt, Held)]| {
                all.iter().rposition(|x| x.1 .2).is_some_and(|e| {
                    let k = all[e].0;
                    (k.0, k.1) >= hi && all[e..].iter().all(|x| same(x.0, k))
                })
            };
            if !ends_empty(&all) {
                let end = all[all.len() - 1].0;
                self.forth_from(plate, end, false, &mut all, &mut |k, h| {
                    (k.0, k.1) >= hi && h.2
                });
                let empty = all[all.len() - 1].0;
                self.forth_from(plate, empty, false, &mut all, &mut |k, _| !same(k, empty));
                if !same(all[all.len() - 1].0, empty) {
                    all.pop();
                }
            }
            if all.len() == len {
                break;
            }
        }
        let loads = all
            .iter()
            .filter_map(|(_, h)| Some((h.0.index(), ManifestNumber::unpacked(h.1?))))
            .collect();
        Some(LoadFixes {
            fixes: all.into_iter().map(|(_, h)| h.0).collect(),
            loads,
        })
    }

    /// Append to `out` the fixes of `plate` from `at` on (`at` itself if `with`), in time
    /// order, up to and with the first one `stop` holds for (to the last fix if none).
    fn forth_from(
        &self,
        plate: &Plate,
        at: FixAt,
        with: bool,
        out: &mut Vec<(FixAt, Held)>,
        stop: &mut dyn FnMut(FixAt, &Held) -> bool,
    ) {
        self.fixes.scan_from(
            &enc(plate),
            &enc(&(plate.clone(), at.0, at.1, at.2)),
            &mut |(_, ms, i, nth), h| {
                let k = (ms, i, nth);
                if k == at && !with {
                    return ControlFlow::Continue(());
                }
                let done = stop(k, &h);
                out.push((k, h.into_owned()));
                if done {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
    }

    /// The fixes of one vehicle with `from <= time < to`, in time order.
    pub fn window(
        &self,
        plate: &Plate,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Vec<Fix> {
        let prefix = enc(plate);
        let start = enc(&(plate.clone(), from.map_or(0, |t| t.unix_millis())));
        let mut out = Vec::new();
        self.fixes
            .scan_from(&prefix, &start, &mut |(_, ms, _, _), fix| {
                if to.is_some_and(|t| ms >= t.unix_millis()) {
                    return ControlFlow::Break(());
                }
                out.push(fix.0);
                ControlFlow::Continue(())
            });
        out
    }

    /// The load each of a vehicle's hand-over fixes belongs to, by entry.
    pub fn loads(&self, plate: &Plate) -> std::collections::HashMap<u64, ManifestNumber> {
        let mut out = std::collections::HashMap::new();
        self.fixes.scan(&enc(plate), &mut |(_, _, entry, _), v| {
            if let Some(m) = v.1 {
                out.insert(entry, ManifestNumber::unpacked(m));
            }
            ControlFlow::Continue(())
        });
        out
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

    /// Loads put on and taken off `plate` at (ms, entry, kind, manifest serial).
    fn loaded(m: &mut Movements, plate: &Plate, fixes: &[(u64, u64, FixKind, u32)]) {
        for &(ms, i, kind, serial) in fixes {
            let p = Point {
                lat_e6: 31_000_000,
                lon_e6: 121_000_000 + ms as i32,
            };
            let n = ManifestNumber::parse(&format!("20263205{serial:06}")).unwrap();
            m.add(
                plate,
                Fix::new(Timestamp::from_unix_millis(ms), Some(p), i, kind),
                0,
                Some(&n),
            );
        }
    }

    #[test]
    fn a_loads_fixes_are_read_from_when_the_truck_last_stood_empty_to_when_it_does_again() {
        use FixKind::{Load, Unload};
        let mut m = Movements::new(None);
        let plate = Plate::parse("苏E12345").unwrap();
        let n = |serial: u32| ManifestNumber::parse(&format!("20263205{serial:06}")).unwrap();
        loaded(
            &mut m,
            &plate,
            &[
                (10, 1, Load, 1),
                (20, 2, Unload, 1),
                (30, 3, Load, 2),
                (40, 4, Unload, 2),
                (50, 5, Load, 3),
                (60, 6, Unload, 3),
            ],
        );
        let entries = |m: &Movements, s: u32| -> Vec<u64> {
            m.around_load(&plate, &n(s))
                .unwrap()
                .fixes
                .iter()
                .map(|f| f.index())
                .collect()
        };
        // Empty after entries 2, 4 and 6: load 2 is read from 2 to the first known position
        // after it came off (5), and on to when the truck stood empty again.
        assert_eq!(entries(&m, 2), vec![2, 3, 4, 5, 6]);
        assert_eq!(entries(&m, 1), vec![1, 2, 3, 4]);
        assert!(m.around_load(&plate, &n(9)).is_none());
        // A load handed over at 25 (logged late) and never taken off: the truck stands empty
        // only after entry 2 from then on, so load 3 is read from there to the end.
        loaded(&mut m, &plate, &[(25, 7, Load, 4)]);
        assert_eq!(entries(&m, 3), vec![2, 7, 3, 4, 5, 6]);
        let around = m.around_load(&plate, &n(3)).unwrap();
        assert_eq!(around.loads.get(&7), Some(&n(4)));
        // Taken off at 45 (late again): empty after that one, and after 6 again.
        loaded(&mut m, &plate, &[(45, 8, Unload, 4)]);
        assert_eq!(entries(&m, 3), vec![8, 5, 6]);
        assert_eq!(entries(&m, 2), vec![2, 7, 3, 4, 8]);
    }
}
