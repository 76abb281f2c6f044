//! The domain's state, folded from the log in order: parties and their keys, licences,
//! vehicles, sites, and every manifest's status, holder, quantities, versions, links and flags.
//!
//! Each event is checked completely before anything is changed, so a refusal leaves the state as
//! it was (invariant 6 of ARCHITECTURE.md). What cannot be trusted or make sense is refused; what
//! breaks a rule is accepted and flagged on the manifest, naming the entry behind the flag.
//!
//! Here: the tables the state is kept in, the [`Effect`] of an admitted event and how it is
//! applied, and [`Fold`] for [`Domain`]. What the state is made of is in `model.rs`; how each
//! event is decided, in `decide/` (one file per family), with the shared checks in `checks.rs`.

use super::catalog::Catalog;
use super::codes::{ManifestNumber, Plate, Uscc};
use super::events::*;
use super::model::*;
use super::movements::{Fix, Movements};
use super::table::{Changes, Table, Values};
use crate::ledger::event::{PublicKey, SignedEvent};
use crate::ledger::kv::{FoldWrites, Kv, MemKv};
use crate::ledger::state::{Delegation, Fold, LogState, Refusal};
use crate::ledger::time::Timestamp;

/// Most manifests one `evidence.exported` may select (a bundle is built and summarised in one
/// request).
pub const MAX_EXPORT_MANIFESTS: usize = 1000;

/// The domain state. `Domain` implements the ledger's [`Fold`].
pub struct Domain {
    pub(super) catalog: std::sync::Arc<Catalog>,
    pub(super) limits: Limits,
    /// Entry 0 names no rulebook: a bare signed log, nothing for the domain to judge.
    pub(super) bare: bool,
    /// Entry 0 names the first rulebook (`RULEBOOK_V1`): judged as it was (no bound on `at`).
    pub(super) rulebook_v1: bool,
    pub(super) authority: Option<PublicKey>,
    /// How many entries the state holds (the next entry to fold is this one).
    applied: u64,
    /// The stored state is of another layout (or none): the first writes taken clear it.
    reset: bool,
    /// Until then, the store the state is rebuilt in (nothing of what it holds is read).
    pending_base: Option<std::sync::Arc<dyn Kv>>,
    /// The fold's own facts and counts (layout, position, rulebook, authority, counts).
    pub(super) meta: Table<String, serde_json::Value>,
    pub(super) parties: Table<Uscc, Party>,
    pub(super) keys: Table<PublicKey, Uscc>,
    /// Keys revoked, with the time from which they no longer sign.
    pub(super) revoked: Table<PublicKey, Timestamp>,
    /// Device keys (`key.delegated`): in `keys` too, mapped to their holder; signing until
    /// `not_after`. Not listed in their party's `keys` (a party may have thousands).
    pub(super) delegated: Table<PublicKey, Delegation>,
    pub(super) licences: Table<String, Licence>,
    /// (party, the grant's entry) -> licence id: a party's licences in the order granted.
    pub(super) licences_of: Table<(Uscc, u64), String>,
    pub(super) vehicles: Table<Plate, Vehicle>,
    pub(super) sites: Table<String, Site>,
    /// Registered persons (drivers, escorts) by id (the commitment `person`).
    pub(super) persons: Table<String, Person>,
    /// Each manifest with its links to the subject index (`ManifestRecord`).
    pub(super) manifests: Table<ManifestNumber, ManifestRecord>,
    /// Manifests each entry of the batch not yet written created (an issue creates one, a
    /// split several), for the entries' receipts; not stored (forgotten at `take_writes`).
    created: std::collections::BTreeMap<u64, Vec<ManifestNumber>>,
    pub(super) by_party: Table<(Uscc, ManifestNumber), ()>,
    pub(super) by_vehicle: Table<(Plate, ManifestNumber), ()>,
    /// The registry entries of each key: (added, revoked, delegated by).
    pub(super) key_entries: Table<PublicKey, (u64, Option<u64>, Option<PublicKey>)>,
    /// Every pull of evidence, by its entry (for those who see everything only).
    pub(super) exports: Table<u64, Export>,
    /// What was done about each anomaly (`case.noted`), by its stable id and entry (for
    /// those who see everything only).
    pub(super) notes: Table<(String, u64), CaseNote>,
    /// Subject search (issue 5): plates, parties, sites, drivers → (time, entry, manifest).
    pub(super) subjects: super::subjects::SubjectIndex,
    pub(super) serials: Table<(u16, String), u32>,
    pub(super) references: Table<(Uscc, String), ManifestNumber>,
    /// Where each vehicle was: track points and hand-over places (for the vehicle detectors).
    pub(super) movements: Movements,
    /// The manifests watched for the detectors' rules about one manifest (`watch.rs`).
    pub(super) watch: super::watch::Watch,
    /// What each manifest adds to the balances over many manifests (`balances.rs`).
    pub(super) balances: super::balances::Balances,
    /// Each party's licence ids as `licences_of` lists them, for the parties checked lately
    /// (`licences_held`); a party's list is forgotten when it is granted one.
    pub(super) licence_ids:
        std::sync::Mutex<std::collections::HashMap<Uscc, std::sync::Arc<[String]>>>,
}

/// The layout of the stored state: a different one is rebuilt from the entries at open. Any
/// change to a table's key or value encoding takes the next number. 2: a hand-over's fix names
/// its load. 3: values in the binary form of `value.rs`, no longer JSON. 4: what each entry
/// created is no longer stored (it was one key per manifest, read by nobody but the entry's
/// receipt). 5: the manifests watched for the detectors (`watch.rs`), whose keys are removed
/// as well as added. 6 was a layout merged and reverted the same night (fixes by
/// load): stores of it exist. 7: each hand-over fix's time by (plate, entry), for the reads of
/// one manifest's vehicle rules (`movements.rs`). 8: what each manifest adds to the balances
/// over many manifests (`balances.rs`), its rows alone. 9: and each group's total. 10: rows
/// only where the parties' roles make them count (no hauler's books). 11: a site's totals keep
/// a unit its loads left with at 0. 12: the latest time of any vehicle's fix (`movements.rs`),
/// where the default list of anomalies starts reading. 13: a manifest's subject links stored
/// in its own record (`ManifestRecord`), no longer under a key of their own. 14: values of
/// 256 bytes and more stored compressed (`value::pack`).
pub const LAYOUT: u64 = 14;

/// Manifests the sequencer's fold keeps decoded (about 2 KB each; up to twice as many): the
/// loads moving now are read at each of their steps.
pub const LIVE_MANIFESTS: usize = 16_384;
/// Registry records (parties, keys, licences, vehicles, sites, persons) it keeps decoded, per
/// table.
pub const LIVE_REGISTRY: usize = 4_096;
/// What one reader's view keeps decoded (manifests; registry records per table).
pub const READER_MANIFESTS: usize = 2_048;
pub const READER_REGISTRY: usize = 1_024;

/// A manifest as the read model stores it: the manifest, and the subjects each of its entries
/// involved (the subject index's links, `subjects.rs`: entry, subject, role bits, in log
/// order). Both change with every entry of the manifest, so they are one key, written once a
/// batch, where they were two (each sled key written costs its own insert: README, issue 17).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ManifestRecord {
    pub manifest: Manifest,
    pub links: Vec<super::subjects::StoredLink>,
}

/// What an admitted event does, worked out completely before anything changes.
pub(super) enum Effect {
    None,
    Party(Party),
    Key(PublicKey, Uscc),
    Delegated(Box<(PublicKey, Uscc, Delegation)>),
    KeyRevoked(PublicKey, Timestamp),
    Licence(Licence),
    LicenceRevoked(String, Timestamp),
    Vehicle(Vehicle),
    Site(Site),
    Person(Person),
    Track(Plate, TrackPoint, u64),
    Export(Export),
    Noted(String, CaseNote),
    /// Another effect, and the vehicle fixes the event gives (see `movements`).
    Moved(Box<Effect>, Vec<(Plate, Fix)>),
    /// New manifests (issue, consolidation, split) and updates to existing ones.
    Manifests {
        new: Vec<Manifest>,
        updated: Vec<Manifest>,
    },
}

impl Effect {
    /// The manifests this effect creates or changes (for the subject index).
    pub(super) fn touched(&self) -> Vec<ManifestNumber> {
        match self {
            Effect::Manifests { new, updated } => new
                .iter()
                .chain(updated)
                .map(|m| m.number.clone())
                .collect(),
            // A hand-over's effect travels wrapped with the vehicle fixes it gives.
            Effect::Moved(inner, _) => inner.touched(),
            _ => Vec::new(),
        }
    }

    pub(super) fn updated(m: Manifest) -> Effect {
        Effect::Manifests {
            new: vec![],
            updated: vec![m],
        }
    }
}

impl Domain {
    /// A fold kept in memory, from entry 0 (audits, tests).
    pub fn new(catalog: std::sync::Arc<Catalog>, limits: Limits) -> Self {
        let mut d = Self::over(catalog, limits, None);
        d.reset = false;
        d.meta.insert("layout".into(), LAYOUT.into());
        d
    }

    /// A fold that rebuilds the state in `base` from entry 0, whatever `base` holds: its first
    /// writes clear it.
    pub fn rebuilt_in(
        catalog: std::sync::Arc<Catalog>,
        limits: Limits,
        base: std::sync::Arc<dyn Kv>,
    ) -> Self {
        let mut d = Self::over(catalog, limits, None);
        d.reset = true;
        d.pending_base = Some(base);
        // Held in memory until the writes are first taken, then read from `base` as the
        // sequencer's fold reads it.
        d.keep_live();
        d
    }

    /// The state stored in `base` (the store's tree), from where it stands; a state of another
    /// layout (or none) is rebuilt from entry 0, its first writes clearing `base`.
    pub fn over(
        catalog: std::sync::Arc<Catalog>,
        limits: Limits,
        base: Option<std::sync::Arc<dyn Kv>>,
    ) -> Self {
        let b = || base.clone();
        let mut d = Domain {
            catalog,
            limits,
            bare: false,
            rulebook_v1: false,
            authority: None,
            applied: 0,
            reset: true,
            pending_base: None,
            meta: Table::new(b'0', b()),
            parties: Table::new(b'p', b()),
            keys: Table::new(b'k', b()),
            revoked: Table::new(b'r', b()),
            delegated: Table::new(b'd', b()),
            licences: Table::new(b'l', b()),
            licences_of: Table::new(b'L', b()),
            vehicles: Table::new(b'v', b()),
            sites: Table::new(b's', b()),
            persons: Table::new(b'h', b()),
            manifests: Table::new(b'm', b()),
            created: Default::default(),
            by_party: Table::new(b'P', b()),
            by_vehicle: Table::new(b'V', b()),
            key_entries: Table::new(b'e', b()),
            exports: Table::new(b'x', b()),
            notes: Table::new(b'n', b()),
            subjects: super::subjects::SubjectIndex::new(b()),
            serials: Table::new(b'N', b()),
            references: Table::new(b'R', b()),
            movements: Movements::new(b()),
            watch: super::watch::Watch::new(b()),
            balances: super::balances::Balances::new(b()),
            licence_ids: Default::default(),
        };
        if stored_layout(base.as_deref()) != Some(LAYOUT) {
            // Another layout, or none: rebuilt from entry 0, reading nothing of it.
            d.tables().into_iter().for_each(|t| t.rebase(None));
            d.pending_base = base;
        } else {
            d.reset = false;
            d.applied = d.meta_u64("applied").unwrap_or(0);
            d.bare = d
                .meta
                .get(&"bare".into())
                .is_some_and(|v| v.as_bool() == Some(true));
            d.rulebook_v1 = d
                .meta
                .get(&"rulebook_v1".into())
                .is_some_and(|v| v.as_bool() == Some(true));
            d.authority = d
                .meta
                .get(&"authority".into())
                .and_then(|v| serde_json::from_value(v.into_owned()).ok());
        }
        d
    }

    /// The sequencer's fold: over `base` as [`Domain::over`], keeping the values it reads
    /// again and again decoded (manifests on the road, the registry), within a bound.
    pub fn live_over(
        catalog: std::sync::Arc<Catalog>,
        limits: Limits,
        base: std::sync::Arc<dyn Kv>,
    ) -> Self {
        let mut d = Self::over(catalog, limits, Some(base));
        d.keep_live();
        d
    }

    /// Keep what the sequencer's fold reads again and again decoded, within a bound.
    fn keep_live(&mut self) {
        let d = self;
        // What the fold reads (the tables it only writes, postings, links, fixes, the indexes
        // by party and vehicle, are not kept).
        d.manifests.keep_decoded(LIVE_MANIFESTS);
        for t in [
            &mut d.meta as &mut dyn Changes,
            &mut d.parties,
            &mut d.keys,
            &mut d.revoked,
            &mut d.delegated,
            &mut d.licences,
            &mut d.vehicles,
            &mut d.sites,
            &mut d.persons,
            &mut d.key_entries,
            &mut d.serials,
            &mut d.references,
        ] {
            t.cache(LIVE_REGISTRY);
        }
        d.subjects.keep_decoded(LIVE_REGISTRY);
        d.movements.keep_decoded(LIVE_REGISTRY);
    }

    /// A reader's view over `base` (one request, one scan): values it reads again are kept
    /// decoded for its span, within a smaller bound than the sequencer's.
    pub fn reader_over(
        catalog: std::sync::Arc<Catalog>,
        limits: Limits,
        base: std::sync::Arc<dyn Kv>,
    ) -> Self {
        let mut d = Self::over(catalog, limits, Some(base));
        d.manifests.keep_decoded(READER_MANIFESTS);
        d.parties.keep_decoded(READER_REGISTRY);
        d.sites.keep_decoded(READER_REGISTRY);
        d.vehicles.keep_decoded(READER_REGISTRY);
        d.licences.keep_decoded(READER_REGISTRY);
        d
    }

    /// A number the fold keeps in `meta` (a count, the layout, the position).
    pub(super) fn meta_u64(&self, name: &str) -> Option<u64> {
        self.meta.get(&name.to_string()).and_then(|v| v.as_u64())
    }

    fn count(&mut self, name: &str, by: u64) {
        let n = self.meta_u64(name).unwrap_or(0) + by;
        self.meta.insert(name.into(), n.into());
    }

    /// Every table, to encode (or forget) what changed in it.
    fn tables(&mut self) -> Vec<&mut dyn Changes> {
        let mut t: Vec<&mut dyn Changes> = vec![
            &mut self.meta,
            &mut self.parties,
            &mut self.keys,
            &mut self.revoked,
            &mut self.delegated,
            &mut self.licences,
            &mut self.licences_of,
            &mut self.vehicles,
            &mut self.sites,
            &mut self.persons,
            &mut self.manifests,
            &mut self.by_party,
            &mut self.by_vehicle,
            &mut self.key_entries,
            &mut self.exports,
            &mut self.notes,
        ];
        self.subjects.tables(&mut t);
        t.push(&mut self.serials);
        t.push(&mut self.references);
        self.movements.tables(&mut t);
        t.push(self.watch.rows());
        t.push(self.balances.rows());
        t
    }

    /// What changed since the last take, encoded (values as `values` says), in key order.
    fn changes(&mut self, forget: bool, values: Values) -> FoldWrites {
        if self.reset {
            self.meta.insert("layout".into(), LAYOUT.into());
        }
        let changes = super::table::encode_all(self.tables(), values);
        if forget {
            self.tables().into_iter().for_each(|t| t.forget());
        }
        let reset = self.reset;
        if forget && reset {
            // Once these writes are stored (the store cleared what it held first), the state
            // is read from the store again.
            self.reset = false;
            if let Some(base) = self.pending_base.take() {
                for t in self.tables() {
                    t.rebase(Some(base.clone()));
                }
            }
        }
        FoldWrites { reset, changes }
    }

    /// Every stored pair of the state, taken as the store would write it, in key order (tests:
    /// the whole read model, compared byte for byte).
    pub fn stored_pairs(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let w = self.changes(false, Values::Stored);
        let mut all = std::collections::BTreeMap::new();
        if let (false, Some(base)) = (w.reset, self.meta.base()) {
            base.scan(&[], None, &mut |k, v| {
                all.insert(k.to_vec(), v.to_vec());
                std::ops::ControlFlow::Continue(())
            });
        }
        // Applied as the store applies them (`MemKv::apply`).
        let all = MemKv(std::sync::RwLock::new(all));
        all.apply(w);
        let all = all.0.into_inner().expect("kv lock");
        all.into_iter().collect()
    }

    /// Everything the fold holds, as the store would hold it, so that a test can tell that a
    /// refusal changed nothing.
    #[cfg(test)]
    pub(crate) fn snapshot(&mut self) -> String {
        self.stored_pairs()
            .into_iter()
            .map(|(k, v)| format!("{} {}\n", hex::encode(k), super::value::readable(&v)))
            .collect()
    }

    /// Register a site as it is (tests of readers that need only sites).
    #[cfg(test)]
    pub(crate) fn test_site(&mut self, site: Site) {
        self.sites.insert(site.reg.site.clone(), site);
    }

    /// Add a vehicle fix as it is, with the load a hand-over's fix is of (tests of readers
    /// that need only fixes).
    #[cfg(test)]
    pub(crate) fn test_fix(&mut self, plate: &Plate, fix: Fix, load: Option<&ManifestNumber>) {
        self.movements.add(plate, fix, 0, load);
    }

    /// Set the last serial allocated for a year and region (tests: running out of numbers).
    #[cfg(test)]
    pub(crate) fn set_serial(&mut self, year: u16, region4: &str, serial: u32) {
        self.serials.insert((year, region4.to_string()), serial);
    }

    pub(super) fn apply(&mut self, index: u64, time: Timestamp, effect: Effect) {
        match effect {
            Effect::None => {}
            Effect::Party(p) => {
                self.parties.insert(p.id.clone(), p);
            }
            Effect::Key(k, party) => {
                self.parties.update(&party, |p| p.keys.push(k.to_string()));
                self.keys.insert(k, party);
                self.key_entries.insert(k, (index, None, None));
            }
            Effect::Delegated(b) => {
                let (k, party, d) = *b;
                self.keys.insert(k, party);
                self.key_entries.insert(k, (index, None, Some(d.by)));
                self.delegated.insert(k, d);
            }
            Effect::KeyRevoked(k, eff) => {
                self.revoked.insert(k, eff);
                self.key_entries.update(&k, |e| e.1 = Some(index));
            }
            Effect::Export(e) => self.exports.insert(e.index, e),
            Effect::Noted(id, n) => self.notes.insert((id, n.index), n),
            Effect::Licence(l) => {
                self.licence_ids
                    .get_mut()
                    .expect("licence memo")
                    .remove(&l.grant.party);
                self.licences_of
                    .insert((l.grant.party.clone(), l.index), l.grant.licence.clone());
                self.licences.insert(l.grant.licence.clone(), l);
            }
            Effect::LicenceRevoked(id, eff) => {
                self.licences
                    .update(&id, |l| l.revoked = Some((eff, index)));
            }
            Effect::Vehicle(v) => {
                self.vehicles.insert(v.plate.clone(), v);
            }
            Effect::Site(s) => {
                self.sites.insert(s.reg.site.clone(), s);
            }
            Effect::Person(p) => {
                self.persons.insert(p.reg.person.as_str().to_string(), p);
            }
            Effect::Track(plate, last, n) => {
                self.vehicles.update(&plate, |v| {
                    v.track_points += n;
                    if v.last_position.as_ref().is_none_or(|p| p.at <= last.at) {
                        v.last_position = Some(last);
                    }
                });
            }
            Effect::Moved(inner, fixes) => {
                // A hand-over's fixes belong to the one load it hands over.
                let load = match &*inner {
                    Effect::Manifests { new, updated } if new.is_empty() && updated.len() == 1 => {
                        Some(updated[0].number.clone())
                    }
                    _ => None,
                };
                self.apply(index, time, *inner);
                for (nth, (plate, fix)) in fixes.into_iter().enumerate() {
                    self.movements.add(&plate, fix, nth as u8, load.as_ref());
                }
            }
            Effect::Manifests { new, updated } => {
                let _ = time;
                let created: Vec<ManifestNumber> = new.iter().map(|m| m.number.clone()).collect();
                for m in &new {
                    let key = (m.number.year(), m.number.region().to_string());
                    let s = self.serials.get(&key).map_or(0, |s| *s);
                    self.serials.insert(key, s.max(m.number.serial()));
                }
                if !created.is_empty() {
                    self.count("manifests", created.len() as u64);
                    self.created.insert(index, created);
                }
                for m in &new {
                    if let Some(r) = &m.reference {
                        self.references
                            .insert((m.issuer.clone(), r.clone()), m.number.clone());
                    }
                }
                for m in new {
                    let gives = self.balance_facts(&m);
                    self.watch.update(&Default::default(), &m);
                    self.balances.update(&[], gives);
                    self.index_manifest(m, None, Vec::new());
                }
                for m in updated {
                    // Parties and vehicles only join a manifest: index those the version it
                    // replaces did not have (rewriting the others would change nothing).
                    // The version it replaces, moved out (index_manifest puts `m` in its place).
                    let (before, watched, balanced, links) = match self.manifests.take(&m.number) {
                        Some(ManifestRecord {
                            manifest: old,
                            links,
                        }) => {
                            let watched = super::watch::Watch::keys_of(&old);
                            let balanced = self.balance_facts(&old);
                            (Some((old.parties, old.vehicles)), watched, balanced, links)
                        }
                        None => Default::default(),
                    };
                    let gives = self.balance_facts(&m);
                    self.watch.update(&watched, &m);
                    self.balances.update(&balanced, gives);
                    self.index_manifest(m, before, links);
                }
            }
        }
    }
}

impl Domain {
    /// What manifest `m` gives the balances as it stands (`balances.rs`), its parties' roles
    /// as registered.
    fn balance_facts(&self, m: &Manifest) -> Vec<super::balances::Fact> {
        use super::query::DomainQuery;
        super::balances::Balances::facts_of(m, &|p| super::balances::Roles {
            station: self.has_role(p, super::events::Role::Station),
            hauler: self.has_role(p, super::events::Role::Hauler),
        })
    }

    /// The manifests entry `index` created (an issue one, a split several), while its batch is
    /// not yet written (a fold kept in memory: always).
    pub fn created_at(&self, index: u64) -> &[ManifestNumber] {
        self.created.get(&index).map_or(&[], Vec::as_slice)
    }
}

/// Whether the state stored in `base` is of an older layout than this build's [`LAYOUT`] (a
/// log not yet opened since an upgrade), which a fold opened over it rebuilds from entry 0
/// without reading it: why, or None (this layout, or one this build does not know).
pub fn older_layout(base: &dyn Kv) -> Option<String> {
    match stored_layout(Some(base)) {
        Some(n) if n < LAYOUT => Some(format!(
            "it is of layout {n}, older than this build's {LAYOUT}"
        )),
        _ => None,
    }
}

/// The layout of the state stored in `base`, read whatever encoding it was stored in (JSON
/// before layout 3): None when there is none, or it cannot be read.
fn stored_layout(base: Option<&dyn Kv>) -> Option<u64> {
    let raw =
        base?.get(&super::table::Table::<String, u64>::new(b'0', None).key_of(&"layout".into()))?;
    super::value::decode_stored(&raw)
        .ok()
        .or_else(|| serde_json::from_slice(&raw).ok())
}

impl Domain {
    /// Store a manifest with the links its entries so far have (`links`), and index it by the
    /// parties and vehicles `before` (its stored version's) did not have.
    fn index_manifest(
        &mut self,
        m: Manifest,
        before: Option<(
            std::collections::BTreeSet<Uscc>,
            std::collections::BTreeSet<Plate>,
        )>,
        links: Vec<super::subjects::StoredLink>,
    ) {
        let (parties, vehicles) = before.unwrap_or_default();
        for p in m.parties.difference(&parties) {
            self.by_party.insert((p.clone(), m.number.clone()), ());
        }
        for v in m.vehicles.difference(&vehicles) {
            self.by_vehicle.insert((v.clone(), m.number.clone()), ());
        }
        self.manifests
            .insert(m.number.clone(), ManifestRecord { manifest: m, links });
    }

    /// Manifest `n` as stored (without its links): borrowed where it changed since the last
    /// take, else a copy of the manifest alone (not of its links, nor a second copy for the
    /// cache).
    pub(super) fn stored_manifest(
        &self,
        n: &ManifestNumber,
    ) -> Option<std::borrow::Cow<'_, Manifest>> {
        use std::borrow::Cow;
        if let Some(r) = self.manifests.changed(n) {
            return Some(Cow::Borrowed(&r.manifest));
        }
        self.with_stored_manifest(n, |m| m.cloned().map(Cow::Owned))
    }

    /// What `f` makes of manifest `n` as stored (None: there is none), read where it is held.
    pub(super) fn with_stored_manifest<R>(
        &self,
        n: &ManifestNumber,
        f: impl FnOnce(Option<&Manifest>) -> R,
    ) -> R {
        self.manifests.peek(n, |r| f(r.map(|r| &r.manifest)))
    }

    /// Manifest `n`'s links to the subject index, in log order.
    pub(super) fn stored_links(&self, n: &ManifestNumber) -> Vec<super::subjects::Link> {
        self.manifests
            .peek(n, |r| {
                r.map(|r| {
                    r.links
                        .iter()
                        .map(|&(entry, subject, roles)| super::subjects::Link {
                            entry,
                            subject,
                            roles,
                        })
                        .collect()
                })
            })
            .unwrap_or_default()
    }
}

impl Fold for Domain {
    fn admit(
        &mut self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        log: &LogState,
    ) -> Result<(), Refusal> {
        if index < self.applied {
            // Already in the stored state (a replay that starts before it).
            return Ok(());
        }
        self.decide_and_apply(index, time, event, log)?;
        self.applied = index + 1;
        self.meta.insert("applied".into(), self.applied.into());
        Ok(())
    }

    fn take_writes(&mut self) -> FoldWrites {
        self.created.clear();
        self.changes(true, Values::Stored)
    }

    /// Nothing forgotten (the fold is dropped next, and forgetting each change would free
    /// what the drop frees anyway), and every value as encoded, not compressed.
    fn whole_state(&mut self) -> FoldWrites {
        self.changes(false, Values::Encoded)
    }

    /// The numbers of the manifests entry `index` created (an issue one, a split several), for
    /// its receipt: among the changes not yet written, so no storage is read for them.
    fn created(&self, index: u64) -> Vec<String> {
        self.created_at(index)
            .iter()
            .map(|n| n.as_str().to_string())
            .collect()
    }

    fn discard_writes(&mut self) {
        self.tables().into_iter().for_each(|t| t.forget());
        // What is cached from the stored state is read again from it.
        let base = self
            .pending_base
            .clone()
            .or_else(|| self.meta.base().cloned());
        *self = Domain::over(self.catalog.clone(), self.limits.clone(), base);
    }

    fn applied(&self) -> u64 {
        self.applied
    }

    /// The domain reads its own events from their bytes, and parses those ahead
    /// ([`super::decide::prepare`]); the subject index reads its fields from the bytes too
    /// (`SignedEvent::top_level_strs`). The bodies it reads as values are the `key.*` events',
    /// which the audit builds for the log's own checks anyway.
    fn prepares(&self) -> crate::ledger::state::Prepare {
        super::decide::prepare
    }
}
