//! How the fold's [`Domain`] answers the read interface ([`DomainQuery`]): each query a look-up
//! or a scan of its tables (what the batch changed over what is stored). Kept apart from the
//! interface, which knows nothing of how the state is kept.

use super::catalog::Catalog;
use super::codes::{ManifestNumber, Plate, Uscc};
use super::fold::Domain;
use super::model::{
    CaseNote, Export, KeyEntries, Licence, Limits, Manifest, Party, Person, Site, Vehicle,
};
use super::movements::Fix;
use super::query::{DomainQuery, Visit};
use super::subjects::{Link, Posting, Subject};
use super::table::{enc, Key, Table};
use crate::ledger::event::PublicKey;
use crate::ledger::state::Delegation;
use crate::ledger::time::Timestamp;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::ControlFlow;

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
    fn watched(&self, w: super::watch::Watched, from: u64, to: u64) -> Vec<(u64, ManifestNumber)> {
        self.watch.range(w, from, to)
    }
    fn balance_totals(
        &self,
        f: &mut dyn FnMut(super::balances::Group, super::balances::Total) -> ControlFlow<()>,
    ) {
        self.balances.each_total(f)
    }
    fn balance_rows(
        &self,
        g: &super::balances::Group,
        f: &mut dyn FnMut(super::balances::Fact) -> ControlFlow<()>,
    ) {
        self.balances.each_of(g, f)
    }
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
        self.stored_manifest(n)
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
            .scan_from(&[], from.as_deref().unwrap_or(&[]), &mut |_, r| {
                f(&r.manifest)
            })
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
    fn party(&self, id: &Uscc) -> Option<Cow<'_, Party>> {
        self.parties.get(id)
    }
    /// Read where the party is held, not copied: the fold asks it for each party of a manifest
    /// at each of its steps (`balance_facts`).
    fn has_role(&self, p: &Uscc, r: super::events::Role) -> bool {
        self.parties
            .peek(p, |p| p.is_some_and(|p| p.roles.contains(&r)))
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
        Cow::Owned(self.stored_links(n))
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
    fn fixes_with_loads(
        &self,
        plate: &Plate,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Vec<(Fix, Option<u64>)> {
        self.movements.window_with_loads(plate, from, to)
    }
    fn handed_at(&self, plate: &Plate, entry: u64) -> Option<Timestamp> {
        self.movements.handed_at(plate, entry)
    }
    fn newest_fix(&self) -> Option<Timestamp> {
        self.movements.newest()
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
