//! PURE: the domain's read interface. Everything outside `domain/` reads the folded state
//! through [`DomainQuery`], never through the fold's maps, so how the state is kept (in memory
//! today, in the store's trees or another backend later) can change behind it.
//!
//! The answers are owned values or [`Cow`]s (borrowed from memory by the fold's
//! [`Domain`](super::fold::Domain), owned when a backend decodes them from disk); scans are visitors that see one value at a time and may
//! stop early, so a backend never has to hold a whole table.

use super::catalog::Catalog;
use super::codes::{ManifestNumber, Plate, Uscc};
use super::model::{
    CaseNote, Export, KeyEntries, Licence, Limits, Manifest, Party, Person, Site, Vehicle,
};
use super::movements::Fix;
use super::subjects::{Link, Posting, Subject};
use crate::ledger::event::PublicKey;
use crate::ledger::state::{Delegation, Refusal};
use crate::ledger::time::Timestamp;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::ControlFlow;

/// A visitor over a scan: `ControlFlow::Break(())` stops it.
pub type Visit<'v, T> = &'v mut dyn FnMut(&T) -> ControlFlow<()>;

/// The queries the readers (detectors, search, bundles, QR, HTTP, pages, CLI, bench) make of
/// the folded state.
pub trait DomainQuery {
    // ---- What the fold was built with -------------------------------------------------------
    fn catalog(&self) -> &Catalog;
    fn limits(&self) -> &Limits;
    /// The log names no rulebook: nothing for the domain to judge.
    fn is_bare(&self) -> bool;
    /// The log's authority key (entry 0).
    fn authority(&self) -> Option<PublicKey>;

    // ---- Manifests --------------------------------------------------------------------------
    fn manifest(&self, n: &ManifestNumber) -> Option<Cow<'_, Manifest>>;
    fn manifest_count(&self) -> usize;
    /// Every manifest, in number order, one at a time.
    fn each_manifest(&self, f: Visit<'_, Manifest>) {
        self.each_manifest_after(None, f)
    }
    /// Every manifest numbered after `after` (all when `None`), in number order, one at a
    /// time: a page that starts where the last one ended reads nothing before it.
    fn each_manifest_after(&self, after: Option<&ManifestNumber>, f: Visit<'_, Manifest>);
    /// The manifests a party is or was a party to.
    fn manifests_of_party(&self, p: &Uscc) -> Cow<'_, BTreeSet<ManifestNumber>>;
    /// The manifests a vehicle carried or carries.
    fn manifests_of_vehicle(&self, p: &Plate) -> Cow<'_, BTreeSet<ManifestNumber>>;

    // ---- Registry ---------------------------------------------------------------------------
    fn party(&self, id: &Uscc) -> Option<Cow<'_, Party>>;
    /// Every party, in USCC order (the register is small and public).
    fn parties(&self) -> Vec<Cow<'_, Party>>;
    /// The party a key (party or device key) belongs to, revoked or not.
    fn party_of(&self, key: &PublicKey) -> Option<Uscc>;
    /// From when a revoked key no longer signs.
    fn revoked_from(&self, key: &PublicKey) -> Option<Timestamp>;
    /// A device key's delegation.
    fn delegation(&self, key: &PublicKey) -> Option<Cow<'_, Delegation>>;
    /// Every device key with its delegation (in no particular order).
    fn each_delegation(&self, f: &mut dyn FnMut(&PublicKey, &Delegation) -> ControlFlow<()>);
    /// The registry entries of a key (added, revoked, delegated by).
    fn key_entries(&self, key: &PublicKey) -> Option<KeyEntries>;
    /// Every party or device key with its registry entries (in no particular order).
    fn each_key(&self, f: &mut dyn FnMut(&PublicKey, &KeyEntries) -> ControlFlow<()>);
    fn licence(&self, id: &str) -> Option<Cow<'_, Licence>>;
    /// The licences granted to a party, in the order they were granted.
    fn licences_of(&self, party: &Uscc) -> Vec<Cow<'_, Licence>>;
    /// Every licence, in id order.
    fn each_licence(&self, f: Visit<'_, Licence>);
    fn vehicle(&self, plate: &Plate) -> Option<Cow<'_, Vehicle>>;
    /// Every vehicle, in plate order.
    fn vehicles(&self) -> Vec<Cow<'_, Vehicle>>;
    /// The plates of a party's vehicles, in plate order.
    fn vehicles_of(&self, party: &Uscc) -> Vec<Plate>;
    fn site(&self, id: &str) -> Option<Cow<'_, Site>>;
    /// Every site, in id order, one at a time.
    fn each_site(&self, f: Visit<'_, Site>);
    /// Every site, in id order (the register is small and public).
    fn sites(&self) -> Vec<Cow<'_, Site>>;
    /// The sites of a party, in id order.
    fn sites_of(&self, party: &Uscc) -> Vec<Cow<'_, Site>>;
    fn person(&self, id: &str) -> Option<Cow<'_, Person>>;
    /// Every registered person, in id order.
    fn persons(&self) -> Vec<Cow<'_, Person>>;

    // ---- Oversight --------------------------------------------------------------------------
    /// Every pull of evidence, in log order.
    fn exports(&self) -> Cow<'_, [Export]>;
    /// What was done about an anomaly, in log order (empty if nothing).
    fn notes(&self, anomaly: &str) -> Cow<'_, [CaseNote]>;

    // ---- Subject index ----------------------------------------------------------------------
    /// A subject's number in the index, if it has postings.
    fn subject_id(&self, s: &Subject) -> Option<u32>;
    /// The subject numbered `id` (as [`subject_id`](Self::subject_id) or a link gave it).
    fn subject(&self, id: u32) -> Cow<'_, Subject>;
    /// How many postings a subject has.
    fn posting_count(&self, id: u32) -> usize;
    /// A subject's postings at positions `range`, in log order (read them through
    /// [`PostingReader`]).
    fn postings_at(&self, id: u32, range: std::ops::Range<usize>) -> Vec<Posting>;
    /// A manifest's links (entry, subject, roles), in log order.
    fn links(&self, n: &ManifestNumber) -> Cow<'_, [Link]>;
    /// How many subjects and postings are held (for memory figures).
    fn subject_counts(&self) -> (usize, usize);

    // ---- Vehicle fixes ----------------------------------------------------------------------
    /// A vehicle's fixes with `from <= time < to` (unbounded where `None`), in time order.
    fn fixes(
        &self,
        plate: &Plate,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Cow<'_, [Fix]>;
    /// [`fixes`](Self::fixes), each with the load a hand-over's fix (putting a load on the
    /// vehicle or taking one off) is of, packed ([`ManifestNumber::packed`]).
    fn fixes_with_loads(
        &self,
        plate: &Plate,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Vec<(Fix, Option<u64>)>;
    /// The time of the hand-over fix entry `entry` gave vehicle `plate`, if it gave it one.
    fn handed_at(&self, plate: &Plate, entry: u64) -> Option<Timestamp>;
    /// The latest time any vehicle's fix has.
    fn newest_fix(&self) -> Option<Timestamp>;
    /// The vehicles that have fixes, in plate order.
    fn tracked_vehicles(&self) -> Vec<Plate>;
    /// How many fixes are held (for memory figures).
    fn fix_count(&self) -> usize;

    // ---- Watched manifests -------------------------------------------------------------------
    /// The manifests the fold watches for `w` (`domain::watch`) with `from <= time < to` (ms),
    /// in (time, number) order.
    fn watched(&self, w: super::watch::Watched, from: u64, to: u64) -> Vec<(u64, ManifestNumber)>;

    // ---- Balances ---------------------------------------------------------------------------
    /// What the manifests add to the balances over many of them (`domain::balances`): each
    /// group's total (books by party and waste, takes by party, year and waste, a site's
    /// loads), in key order, until `f` breaks.
    fn balance_totals(
        &self,
        f: &mut dyn FnMut(super::balances::Group, super::balances::Total) -> ControlFlow<()>,
    );
    /// The rows of one group, in key order (by entry; takes and sites' loads by time), until
    /// `f` breaks.
    fn balance_rows(
        &self,
        g: &super::balances::Group,
        f: &mut dyn FnMut(super::balances::Fact) -> ControlFlow<()>,
    );

    // ---- Derived ----------------------------------------------------------------------------
    /// The party a key belongs to, if the key is not revoked at `at` (nor, for a device key,
    /// past its `not_after`).
    fn party_of_at(&self, key: &PublicKey, at: Timestamp) -> Option<Uscc> {
        self.lapse_of(key, at)
            .is_none()
            .then(|| self.party_of(key))?
    }

    /// Why `key` may not sign at `at` though registered: revoked, or a device key expired.
    fn lapse_of(&self, key: &PublicKey, at: Timestamp) -> Option<Refusal> {
        let revoked = |k: &PublicKey| {
            self.revoked_from(k)
                .filter(|eff| *eff <= at)
                .map(|eff| Refusal::RevokedKey {
                    key: k.to_string(),
                    effective: eff.to_string(),
                })
        };
        if let Some(r) = revoked(key) {
            return Some(r);
        }
        let d = self.delegation(key)?;
        if d.not_after <= at {
            return Some(Refusal::ExpiredKey {
                key: key.to_string(),
                not_after: d.not_after.to_string(),
            });
        }
        // A device key lapses with the party key that delegated it (as `LogState` decides).
        revoked(&d.by)
    }

    /// Every manifest's number, in order.
    fn manifest_numbers(&self) -> Vec<ManifestNumber> {
        let mut out = Vec::with_capacity(self.manifest_count());
        self.each_manifest(&mut |m| {
            out.push(m.number.clone());
            ControlFlow::Continue(())
        });
        out
    }

    /// The first manifest `pred` holds for, in number order.
    fn find_manifest(&self, pred: &mut dyn FnMut(&Manifest) -> bool) -> Option<Manifest> {
        first(|f| self.each_manifest(f), pred)
    }

    /// The first site `pred` holds for, in id order.
    fn find_site(&self, pred: &mut dyn FnMut(&Site) -> bool) -> Option<Site> {
        first(|f| self.each_site(f), pred)
    }

    /// Whether party `p` is registered with role `r`.
    fn has_role(&self, p: &Uscc, r: super::events::Role) -> bool {
        self.party(p).is_some_and(|p| p.roles.contains(&r))
    }
}

/// The first value of a scan that `pred` holds for.
fn first<T: Clone>(scan: impl FnOnce(Visit<'_, T>), pred: &mut dyn FnMut(&T) -> bool) -> Option<T> {
    let mut found = None;
    scan(&mut |x| {
        if pred(x) {
            found = Some(x.clone());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// Postings read per fetch by a [`PostingReader`].
const RUN: usize = 128;

/// A subject's postings read by position, a run at a time: a subject may have hundreds of
/// thousands, and a page needs a few.
pub struct PostingReader<'d> {
    d: &'d dyn DomainQuery,
    id: u32,
    len: usize,
    start: usize,
    run: Vec<Posting>,
}

impl<'d> PostingReader<'d> {
    pub fn new(d: &'d dyn DomainQuery, id: u32) -> Self {
        PostingReader {
            d,
            id,
            len: d.posting_count(id),
            start: 0,
            run: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The posting at `pos` (< `len`), fetching the run around it if it is not held.
    pub fn get(&mut self, pos: usize) -> Posting {
        if !(self.start..self.start + self.run.len()).contains(&pos) {
            // Runs are read in either direction: take the run that ends or starts at `pos`
            // as the previous one lay below or above it.
            let lo = if pos < self.start {
                (pos + 1).saturating_sub(RUN)
            } else {
                pos
            };
            let hi = (lo + RUN).min(self.len);
            self.run = self.d.postings_at(self.id, lo..hi);
            self.start = lo;
        }
        self.run[pos - self.start]
    }

    /// Positions of the postings with `from <= time < to` (log time never goes backwards,
    /// so each end is a binary search).
    pub fn window(
        &mut self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> std::ops::Range<usize> {
        let first_at_or_after = |r: &mut Self, t: u64| {
            let (mut lo, mut hi) = (0, r.len);
            while lo < hi {
                let mid = (lo + hi) / 2;
                let at =
                    r.d.postings_at(r.id, mid..mid + 1)
                        .first()
                        .map_or(u64::MAX, |p| p.at);
                if at < t {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        let lo = from.map_or(0, |f| first_at_or_after(self, f.unix_millis()));
        let hi = to.map_or(self.len, |t| first_at_or_after(self, t.unix_millis()));
        lo..hi.max(lo)
    }
}
