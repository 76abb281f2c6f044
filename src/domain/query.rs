//! PURE: the domain's read interface. Everything outside `domain/` reads the folded state
//! through [`DomainQuery`], never through the fold's maps, so how the state is kept (in memory
//! today, in the store's trees or another backend later) can change behind it.
//!
//! The answers are owned values or [`Cow`]s (borrowed from memory by [`Domain`], owned when a
//! backend decodes them from disk); scans are visitors that see one value at a time and may
//! stop early, so a backend never has to hold a whole table.

use super::catalog::Catalog;
use super::codes::{ManifestNumber, Plate, Uscc};
use super::fold::Domain;
use super::model::{
    CaseNote, Export, KeyEntries, Licence, Limits, Manifest, Party, Person, Site, Vehicle,
};
use super::movements::Fix;
use super::subjects::{Link, Posting, Subject};
use super::table::{enc, Key, Table};
use crate::ledger::event::PublicKey;
use crate::ledger::state::{Delegation, Refusal};
use crate::ledger::time::Timestamp;
use serde::de::DeserializeOwned;
use serde::Serialize;
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
    /// The manifests entry `index` created (an issue one, a split several).
    fn created_at(&self, index: u64) -> Cow<'_, [ManifestNumber]>;

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
    /// [`PostingReader`](super::subjects::PostingReader)).
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
    /// The load each of a vehicle's hand-over fixes (putting a load on it or taking one off)
    /// belongs to, by the hand-over's entry.
    fn fix_loads(&self, plate: &Plate) -> std::collections::HashMap<u64, ManifestNumber>;
    /// The vehicles that have fixes, in plate order.
    fn tracked_vehicles(&self) -> Vec<Plate>;
    /// How many fixes are held (for memory figures).
    fn fix_count(&self) -> usize;

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

/// Every pair of a table whose key starts with `prefix`, as `f` maps them.
fn collect<K: Key, V: Serialize + DeserializeOwned + Clone, T>(
    t: &Table<K, V>,
    prefix: &[u8],
    mut f: impl FnMut(K, Cow<'_, V>) -> T,
) -> Vec<T> {
    let mut out = Vec::new();
    t.scan(prefix, &mut |k, v| {
        out.push(f(k, v));
        ControlFlow::Continue(())
    });
    out
}

/// The fold's state, read through its tables (what changed in this batch over what is stored).
impl DomainQuery for Domain {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    fn limits(&self) -> &Limits {
        &self.limits
    }
    fn is_bare(&self) -> bool {
        self.bare
    }
    fn authority(&self) -> Option<PublicKey> {
        self.authority
    }

    fn manifest(&self, n: &ManifestNumber) -> Option<Cow<'_, Manifest>> {
        self.manifests.get(n)
    }
    fn manifest_count(&self) -> usize {
        self.meta_u64("manifests").unwrap_or(0) as usize
    }
    fn each_manifest_after(&self, after: Option<&ManifestNumber>, f: Visit<'_, Manifest>) {
        let from = after.map(|a| {
            // Just past `a`'s key: the next key in byte order.
            let mut k = enc(a);
            k.push(0);
            k
        });
        self.manifests
            .scan_from(&[], from.as_deref().unwrap_or(&[]), &mut |_, m| f(&m))
    }
    fn manifests_of_party(&self, p: &Uscc) -> Cow<'_, BTreeSet<ManifestNumber>> {
        Cow::Owned(
            collect(&self.by_party, &enc(p), |(_, n), _| n)
                .into_iter()
                .collect(),
        )
    }
    fn manifests_of_vehicle(&self, p: &Plate) -> Cow<'_, BTreeSet<ManifestNumber>> {
        Cow::Owned(
            collect(&self.by_vehicle, &enc(p), |(_, n), _| n)
                .into_iter()
                .collect(),
        )
    }
    fn created_at(&self, index: u64) -> Cow<'_, [ManifestNumber]> {
        self.created
            .get(&index)
            .map_or(Cow::Borrowed(&[]), |c| Cow::Owned(c.into_owned()))
    }

    fn party(&self, id: &Uscc) -> Option<Cow<'_, Party>> {
        self.parties.get(id)
    }
    fn parties(&self) -> Vec<Cow<'_, Party>> {
        collect(&self.parties, &[], |_, p| Cow::Owned(p.into_owned()))
    }
    fn party_of(&self, key: &PublicKey) -> Option<Uscc> {
        self.keys.get(key).map(Cow::into_owned)
    }
    fn revoked_from(&self, key: &PublicKey) -> Option<Timestamp> {
        self.revoked.get(key).map(|t| *t)
    }
    fn delegation(&self, key: &PublicKey) -> Option<Cow<'_, Delegation>> {
        self.delegated.get(key)
    }
    fn key_entries(&self, key: &PublicKey) -> Option<KeyEntries> {
        self.key_entries.get(key).map(|e| key_entries(&e))
    }
    fn each_delegation(&self, f: &mut dyn FnMut(&PublicKey, &Delegation) -> ControlFlow<()>) {
        self.delegated.scan(&[], &mut |k, d| f(&k, &d))
    }
    fn each_key(&self, f: &mut dyn FnMut(&PublicKey, &KeyEntries) -> ControlFlow<()>) {
        self.key_entries
            .scan(&[], &mut |k, e| f(&k, &key_entries(&e)))
    }
    fn licence(&self, id: &str) -> Option<Cow<'_, Licence>> {
        self.licences.get(&id.to_string())
    }
    fn licences_of(&self, party: &Uscc) -> Vec<Cow<'_, Licence>> {
        self.licences_held(party)
            .into_iter()
            .map(Cow::Owned)
            .collect()
    }
    fn each_licence(&self, f: Visit<'_, Licence>) {
        self.licences.scan(&[], &mut |_, l| f(&l))
    }
    fn vehicle(&self, plate: &Plate) -> Option<Cow<'_, Vehicle>> {
        self.vehicles.get(plate)
    }
    fn vehicles(&self) -> Vec<Cow<'_, Vehicle>> {
        collect(&self.vehicles, &[], |_, v| Cow::Owned(v.into_owned()))
    }
    fn vehicles_of(&self, party: &Uscc) -> Vec<Plate> {
        collect(&self.vehicles, &[], |p, v| (v.party == *party).then_some(p))
            .into_iter()
            .flatten()
            .collect()
    }
    fn site(&self, id: &str) -> Option<Cow<'_, Site>> {
        self.sites.get(&id.to_string())
    }
    fn each_site(&self, f: Visit<'_, Site>) {
        self.sites.scan(&[], &mut |_, s| f(&s))
    }
    fn sites(&self) -> Vec<Cow<'_, Site>> {
        collect(&self.sites, &[], |_, s| Cow::Owned(s.into_owned()))
    }
    fn sites_of(&self, party: &Uscc) -> Vec<Cow<'_, Site>> {
        collect(&self.sites, &[], |_, s| {
            (s.reg.party == *party).then(|| Cow::Owned(s.into_owned()))
        })
        .into_iter()
        .flatten()
        .collect()
    }
    fn person(&self, id: &str) -> Option<Cow<'_, Person>> {
        self.persons.get(&id.to_string())
    }
    fn persons(&self) -> Vec<Cow<'_, Person>> {
        collect(&self.persons, &[], |_, p| Cow::Owned(p.into_owned()))
    }

    fn exports(&self) -> Cow<'_, [Export]> {
        Cow::Owned(collect(&self.exports, &[], |_, e| e.into_owned()))
    }
    fn notes(&self, anomaly: &str) -> Cow<'_, [CaseNote]> {
        Cow::Owned(collect(&self.notes, &enc(&anomaly.to_string()), |_, n| {
            n.into_owned()
        }))
    }

    fn subject_id(&self, s: &Subject) -> Option<u32> {
        self.subjects.id(s)
    }
    fn subject(&self, id: u32) -> Cow<'_, Subject> {
        Cow::Owned(self.subjects.subject(id))
    }
    fn posting_count(&self, id: u32) -> usize {
        self.subjects.count(id)
    }
    fn postings_at(&self, id: u32, range: std::ops::Range<usize>) -> Vec<Posting> {
        self.subjects.postings_at(id, range)
    }
    fn links(&self, n: &ManifestNumber) -> Cow<'_, [Link]> {
        Cow::Owned(self.subjects.links(n))
    }
    fn subject_counts(&self) -> (usize, usize) {
        (self.subjects.subject_count(), self.subjects.posting_count())
    }

    fn fixes(
        &self,
        plate: &Plate,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Cow<'_, [Fix]> {
        Cow::Owned(self.movements.window(plate, from, to))
    }
    fn fix_loads(&self, plate: &Plate) -> std::collections::HashMap<u64, ManifestNumber> {
        self.movements.loads(plate)
    }
    fn tracked_vehicles(&self) -> Vec<Plate> {
        self.movements.vehicles()
    }
    fn fix_count(&self) -> usize {
        self.movements.len()
    }
}

fn key_entries(e: &(u64, Option<u64>, Option<PublicKey>)) -> KeyEntries {
    KeyEntries {
        added: e.0,
        revoked: e.1,
        delegated_by: e.2,
    }
}
