//! The one test harness of the domain, detector and search unit tests: a log kept in memory
//! (the ledger's state and the domain's fold, admitted entry by entry through
//! `LogState::admit`) on a registered cast of parties, sites, vehicles and licences, with a
//! clock the test sets, and builders for the events the tests write most (issues, hand-overs,
//! receipts, station steps, track points).
//!
//! The cast, registered by the authority before `T0`:
//!
//! | party | index | role | site | vehicles | licence |
//! | --- | --- | --- | --- | --- | --- |
//! | plant | `PLANT` | generator | S-PLANT | | |
//! | hauler A | `HAUL` | hauler | | `TRUCK`, `TRUCK_EXPIRED` (permit ran out in 2021) | LA hw_transport |
//! | hauler B | `HAUL_B` | hauler | | `TRUCK_B` | LB hw_transport |
//! | station | `STATION` | station | S-STATION | | LS hw_operating HW08 |
//! | receiver | `RECV` | receiver | S-RECV | | LR hw_operating HW08, 1 000 000 g a year |
//! | old receiver | `OLD` | receiver | S-OLD | | LO, expired 2025 |
//! | builder | `BUILDER` | generator | S-BUILD (construction site) | | |
//! | muck hauler | `MUCK` | hauler | | `MUCK_TRUCK` (muck permit) | LM cw_transport |
//! | recycler | `RECYCLER` | receiver | S-RECYCLE | | LC cw_disposal, excavated soil |
//! | yard | `YARD` | receiver | S-YARD | | none |
//! | another plant | `PLANT2` | generator | S-PLANT2 | | |
//!
//! Each site is fenced ±2000 micro-degrees (about 200 m) around its location.

use super::catalog::Catalog;
use super::codes::{ManifestNumber, Uscc};
use super::fold::Domain;
use super::model::Limits;
use super::query::DomainQuery;
use super::RULEBOOK;
use crate::ledger::event::{PublicKey, SignedEvent};
use crate::ledger::state::{genesis_event, LogState};
use crate::ledger::time::Timestamp;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use std::sync::Arc;

pub const MIN: u64 = 60_000;
pub const HOUR: u64 = 60 * MIN;
/// 2026-11-23T00:00:00Z, a Monday (08:00 CST): the log's time of the first entry after the
/// cast is registered.
pub const T0: u64 = 1_795_392_000_000;

pub const PLANT: usize = 0;
pub const HAUL: usize = 1;
pub const HAUL_B: usize = 2;
pub const STATION: usize = 3;
pub const RECV: usize = 4;
pub const OLD: usize = 5;
pub const BUILDER: usize = 6;
pub const MUCK: usize = 7;
pub const RECYCLER: usize = 8;
pub const YARD: usize = 9;
pub const PLANT2: usize = 10;

/// Parties: (org code, role, key seed), by index.
const ORGS: [(&str, &str, u8); 11] = [
    ("MA1PLANT1", "generator", 31),
    ("MA1HAUL0A", "hauler", 32),
    ("MA1HAUL0B", "hauler", 33),
    ("MA1HQTA01", "station", 34),
    ("MA1REC001", "receiver", 35),
    ("MA1QLDREC", "receiver", 36),
    ("MA1BULD01", "generator", 37),
    ("MA1MUCK01", "hauler", 38),
    ("MA1RECY01", "receiver", 39),
    ("MA1YARD01", "receiver", 42),
    ("MA1PLANT2", "generator", 41),
];

pub const TRUCK: &str = "苏E12345";
pub const TRUCK_B: &str = "苏E23456";
pub const TRUCK_EXPIRED: &str = "苏E11111";
pub const MUCK_TRUCK: &str = "苏E3M456";

/// Sites: (id, party, kind, lat_e6, lon_e6).
const SITES: [(&str, usize, &str, i32, i32); 8] = [
    ("S-PLANT", PLANT, "plant", 31_300_000, 120_950_000),
    ("S-STATION", STATION, "station", 31_320_000, 121_080_000),
    ("S-RECV", RECV, "disposal", 31_400_000, 120_900_000),
    ("S-OLD", OLD, "disposal", 31_410_000, 120_910_000),
    (
        "S-BUILD",
        BUILDER,
        "construction_site",
        31_380_000,
        120_970_000,
    ),
    ("S-RECYCLE", RECYCLER, "recycling", 31_350_000, 121_000_000),
    ("S-YARD", YARD, "disposal", 31_360_000, 121_010_000),
    ("S-PLANT2", PLANT2, "plant", 31_100_000, 120_600_000),
];

/// A key from a seed (every byte `n`).
pub fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// A Suzhou unified social credit code for the organisation code `org9`, check character and all.
pub fn uscc(org9: &str) -> String {
    let first = format!("91320583{org9}");
    format!("{first}{}", Uscc::check_char(&first).unwrap())
}

/// Party `p`'s code, as written in events.
pub fn id(p: usize) -> String {
    uscc(ORGS[p].0)
}

/// Party `p`'s code, parsed.
pub fn party(p: usize) -> Uscc {
    Uscc::parse(&id(p)).unwrap()
}

/// Party `p`'s key.
pub fn pkey(p: usize) -> SigningKey {
    key(ORGS[p].2)
}

/// A driver's commitment (64 hex digits, every byte `n`).
pub fn driver(n: u8) -> String {
    hex::encode([n; 32])
}

/// Manifest lines: one line of waste mineral oil (HW08).
pub fn oil(amount: u64, unit: &str) -> Value {
    json!([{"code": "900-249-08", "name": "废矿物油", "form": "liquid", "hazards": ["T", "I"], "quantity": {"amount": amount, "unit": unit}}])
}

/// Manifest lines: one line of excavated soil (construction waste).
pub fn soil(grams: u64) -> Value {
    json!([{"cw_type": "excavated_soil", "name": "渣土", "form": "solid", "quantity": {"amount": grams, "unit": "g"}}])
}

/// A station's outgoing load (a consolidation's output, a split's part): `grams` g of oil to
/// the receiver, carried by `haulers`.
pub fn outgoing(grams: u64, haulers: &[usize]) -> Value {
    let haulers: Vec<String> = haulers.iter().map(|h| id(*h)).collect();
    json!({"destination": "S-RECV", "haulers": haulers, "lines": oil(grams, "g")})
}

/// A log in memory: the ledger's state and the domain's fold, with a clock the test sets.
pub struct Log {
    pub state: LogState,
    pub d: Domain,
    pub size: u64,
    pub authority: SigningKey,
    /// The log's time for the next entry (ms); each entry taken moves it a minute on.
    pub t: u64,
    /// The log's time of each entry taken.
    times: Vec<Timestamp>,
    /// Where the fold's writes are stored after each entry, as the sequencer stores a batch's
    /// (None: the fold keeps everything in memory).
    pub kv: Option<Arc<crate::ledger::kv::MemKv>>,
    /// The manifest each entry created first (a stored fold forgets them as it takes writes).
    created: std::collections::BTreeMap<u64, ManifestNumber>,
    /// Parse each event ahead, as the store's signature checks do (`decide::prepare`).
    pub prepare_ahead: bool,
}

impl Log {
    /// The cast registered under the current rulebook; the clock at `T0`.
    pub fn new() -> Log {
        Log::with_rulebook(RULEBOOK)
    }

    /// The cast registered under a log that names `rulebook`; the clock at `T0`.
    pub fn with_rulebook(rulebook: &str) -> Log {
        Log::build(rulebook, None)
    }

    /// The cast of [`Log::new`], with the fold's writes taken after each entry and stored in
    /// a map it reads them back from (as the live fold over the store's tree).
    pub fn stored() -> Log {
        Log::build(RULEBOOK, Some(Arc::default()))
    }

    fn build(rulebook: &str, kv: Option<Arc<crate::ledger::kv::MemKv>>) -> Log {
        let catalog = Arc::new(Catalog::builtin());
        let d = match &kv {
            Some(kv) => Domain::over(catalog, Limits::default(), Some(kv.clone())),
            None => Domain::new(catalog, Limits::default()),
        };
        let mut log = Log {
            state: LogState::default(),
            d,
            size: 0,
            authority: key(2),
            t: T0 - 10 * HOUR,
            times: Vec::new(),
            kv,
            created: Default::default(),
            prepare_ahead: false,
        };
        let g = genesis_event(
            "t",
            &PublicKey(key(1).verifying_key()),
            &PublicKey(log.authority.verifying_key()),
            Some(rulebook),
        );
        log.auth(g);
        for (p, (_, role, _)) in ORGS.iter().enumerate() {
            log.auth(json!({"type": "party.registered", "party": id(p), "name": format!("party {p}"), "roles": [role]}));
            log.auth(json!({"type": "key.added", "key": PublicKey(pkey(p).verifying_key()).to_string(), "holder": id(p)}));
        }
        for (site, p, kind, lat, lon) in SITES {
            let d = 2000;
            log.auth(json!({"type": "site.registered", "site": site, "party": id(p), "kind": kind, "name": format!("site {site}"),
                "location": {"lat_e6": lat, "lon_e6": lon},
                "geofence": [{"lat_e6": lat - d, "lon_e6": lon - d}, {"lat_e6": lat - d, "lon_e6": lon + d},
                             {"lat_e6": lat + d, "lon_e6": lon + d}, {"lat_e6": lat + d, "lon_e6": lon - d}]}));
        }
        let permit = |kind: &str, until: &str| json!([{"kind": kind, "number": "P", "valid_from": "2020-01-01T00:00:00Z", "valid_until": until}]);
        let (from, until) = ("2020-01-01T00:00:00Z", "2030-01-01T00:00:00Z");
        for (plate, p, kind, until) in [
            (TRUCK, HAUL, "hazardous_goods", until),
            (TRUCK_B, HAUL_B, "hazardous_goods", until),
            (
                TRUCK_EXPIRED,
                HAUL,
                "hazardous_goods",
                "2021-01-01T00:00:00Z",
            ),
            (MUCK_TRUCK, MUCK, "muck", until),
        ] {
            log.auth(json!({"type": "vehicle.registered", "plate": plate, "party": id(p), "permits": permit(kind, until)}));
        }
        let hw08 = json!({"categories": ["HW08"]});
        for (l, p, kind, scope, cap, until) in [
            ("LA", HAUL, "hw_transport", json!({}), None, until),
            ("LB", HAUL_B, "hw_transport", json!({}), None, until),
            ("LS", STATION, "hw_operating", hw08.clone(), None, until),
            (
                "LR",
                RECV,
                "hw_operating",
                hw08.clone(),
                Some(1_000_000u64),
                until,
            ),
            (
                "LO",
                OLD,
                "hw_operating",
                hw08,
                None,
                "2025-01-01T00:00:00Z",
            ),
            ("LM", MUCK, "cw_transport", json!({}), None, until),
            (
                "LC",
                RECYCLER,
                "cw_disposal",
                json!({"cw_types": ["excavated_soil"]}),
                None,
                until,
            ),
        ] {
            let mut body = json!({"type": "licence.granted", "licence": l, "party": id(p), "kind": kind,
                                  "valid_from": from, "valid_until": until});
            for (k, v) in scope.as_object().unwrap() {
                body[k] = v.clone();
            }
            if let Some(c) = cap {
                body["annual_capacity"] = json!({"amount": c, "unit": "g"});
            }
            log.auth(body);
        }
        log.t = T0;
        log
    }

    /// Admit an event signed by `keys`; its entry index, or why it was refused (the log, its
    /// size and its clock as they were).
    pub fn try_admit(&mut self, body: Value, keys: &[&SigningKey]) -> Result<u64, String> {
        let ev = SignedEvent::sign(body, keys).unwrap();
        if self.prepare_ahead {
            super::decide::prepare(&ev);
        }
        let t = self.now();
        self.state
            .admit(self.size, t, &ev, &mut self.d)
            .map_err(|r| r.to_string())?;
        if self.prepare_ahead && super::events::DomainEvent::TYPES.contains(&ev.event_type()) {
            assert!(
                ev.take_prepared::<super::decide::Parsed>().is_none(),
                "the fold took what was parsed ahead"
            );
        }
        if let Some(n) = self.d.created_at(self.size).first() {
            self.created.insert(self.size, n.clone());
        }
        if let Some(kv) = &self.kv {
            use crate::ledger::state::Fold;
            kv.apply(self.d.take_writes());
        }
        self.times.push(t);
        self.size += 1;
        self.t += MIN;
        Ok(self.size - 1)
    }

    /// Admit an event that must be taken; its entry index.
    pub fn admit(&mut self, body: Value, keys: &[&SigningKey]) -> u64 {
        self.try_admit(body.clone(), keys)
            .unwrap_or_else(|r| panic!("{body}: {r}"))
    }

    /// Admit an event signed by the authority.
    pub fn try_auth(&mut self, body: Value) -> Result<u64, String> {
        let a = self.authority.clone();
        self.try_admit(body, &[&a])
    }

    /// Admit an event signed by the authority that must be taken.
    pub fn auth(&mut self, body: Value) -> u64 {
        let a = self.authority.clone();
        self.admit(body, &[&a])
    }

    /// Set the log's time for the next entry (never backwards).
    pub fn at(&mut self, ms: u64) -> &mut Self {
        assert!(ms >= self.t);
        self.t = ms;
        self
    }

    /// The log's time for the next entry.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.t)
    }

    /// The log's time of entry `i` (taken already).
    pub fn time_of(&self, i: u64) -> Timestamp {
        self.times[i as usize]
    }

    /// The domain as its readers see it.
    pub fn query(&self) -> &dyn DomainQuery {
        &self.d
    }

    /// Everything the domain holds (manifests, registry, keys, serials, references, the
    /// indexes by party and vehicle), to compare before and after.
    pub fn snapshot(&mut self) -> String {
        self.d.snapshot()
    }

    /// A manifest to issue: by default 1000 g of oil from the plant at S-PLANT to S-RECV,
    /// haulers A and B, reference `R<entry index>`.
    pub fn issue(&mut self) -> Issue<'_> {
        let reference = format!("R{}", self.size);
        Issue {
            body: json!({"type": "manifest.issued", "reference": reference, "stream": "hazardous", "generator": id(PLANT),
                "origin": "S-PLANT", "destination": "S-RECV", "haulers": [id(HAUL), id(HAUL_B)], "lines": oil(1000, "g")}),
            generator: PLANT,
            log: self,
        }
    }

    /// `grams` g of oil issued by the plant to `destination`, haulers A and B.
    pub fn issue_hw(&mut self, grams: u64, destination: &str) -> String {
        self.issue()
            .lines(oil(grams, "g"))
            .to(destination)
            .admit()
            .to_string()
    }

    /// `grams` g of excavated soil issued by the builder at S-BUILD to S-RECYCLE, carried by
    /// the muck hauler.
    pub fn issue_soil(&mut self, grams: u64) -> String {
        self.issue()
            .by(BUILDER, "S-BUILD")
            .stream("construction")
            .lines(soil(grams))
            .to("S-RECYCLE")
            .haulers(&[MUCK])
            .admit()
            .to_string()
    }

    /// Hauler A takes `grams` g of `m` from the plant onto `truck` at S-PLANT; the entry's index.
    pub fn pickup(&mut self, m: &str, truck: &str, grams: u64) -> u64 {
        self.hand(&m, PLANT, HAUL, grams)
            .vehicle(truck)
            .site("S-PLANT")
            .admit()
    }

    /// A manifest of `grams` g of oil issued to S-RECV, then taken on by hauler A on `TRUCK`.
    pub fn picked_up(&mut self, grams: u64) -> String {
        let m = self.issue_hw(grams, "S-RECV");
        self.pickup(&m, TRUCK, grams);
        m
    }

    /// A hand-over of line 0 of manifest `m`, `grams` g, from party `from` to party `to`,
    /// given at the log's time.
    pub fn hand(&mut self, m: &impl ToString, from: usize, to: usize, grams: u64) -> Hand<'_> {
        let body = json!({"type": "custody.handover", "manifest": m.to_string(), "from": id(from), "to": id(to),
                          "at": self.now(), "lines": [{"line": 0, "quantity": {"amount": grams, "unit": "g"}}]});
        Hand {
            body,
            from,
            to,
            log: self,
        }
    }

    /// Party `by` takes in line 0 of `m`: `accepted` g, none rejected.
    pub fn receive(&mut self, m: &str, by: usize, accepted: u64) -> u64 {
        self.admit(json!({"type": "custody.received", "manifest": m, "lines": [{"line": 0,
            "accepted": {"amount": accepted, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}}]}), &[&pkey(by)])
    }

    /// The station consolidates `inputs` into `output` (see [`outgoing`]); the entry's index.
    pub fn consolidate(&mut self, inputs: &[impl ToString], output: Value) -> u64 {
        let inputs: Vec<String> = inputs.iter().map(|m| m.to_string()).collect();
        self.admit(
            json!({"type": "station.consolidated", "station": id(STATION), "inputs": inputs, "output": output}),
            &[&pkey(STATION)],
        )
    }

    /// The station splits `input` into `outputs` (see [`outgoing`]); the entry's index.
    pub fn split(&mut self, input: &impl ToString, outputs: &[Value]) -> u64 {
        self.admit(
            json!({"type": "station.split", "station": id(STATION), "input": input.to_string(), "outputs": outputs}),
            &[&pkey(STATION)],
        )
    }

    /// Track points of `plate`, sent by its hauler `p`: (minutes after T0, lat_e6, lon_e6).
    pub fn track(&mut self, plate: &str, p: usize, points: &[(u64, i32, i32)]) -> u64 {
        let pts: Vec<Value> = points
            .iter()
            .map(|(m, lat, lon)| json!({"at": Timestamp::from_unix_millis(T0 + m * MIN), "lat_e6": lat, "lon_e6": lon}))
            .collect();
        self.admit(
            json!({"type": "vehicle.track", "plate": plate, "points": pts}),
            &[&pkey(p)],
        )
    }
}

/// A `manifest.issued` event being built; signed by its generator.
pub struct Issue<'a> {
    body: Value,
    generator: usize,
    log: &'a mut Log,
}

impl Issue<'_> {
    /// Issued by party `generator` from its site `origin`.
    pub fn by(mut self, generator: usize, origin: &str) -> Self {
        self.body["generator"] = json!(id(generator));
        self.body["origin"] = json!(origin);
        self.generator = generator;
        self
    }

    pub fn to(mut self, destination: &str) -> Self {
        self.body["destination"] = json!(destination);
        self
    }

    pub fn haulers(mut self, haulers: &[usize]) -> Self {
        self.body["haulers"] = json!(haulers.iter().map(|h| id(*h)).collect::<Vec<_>>());
        self
    }

    pub fn stream(mut self, stream: &str) -> Self {
        self.body["stream"] = json!(stream);
        self
    }

    pub fn lines(mut self, lines: Value) -> Self {
        self.body["lines"] = lines;
        self
    }

    pub fn reference(mut self, reference: &str) -> Self {
        self.body["reference"] = json!(reference);
        self
    }

    /// Signed by `keys`: the manifest made, or why it was refused.
    pub fn try_admit(self, keys: &[&SigningKey]) -> Result<ManifestNumber, String> {
        let i = self.log.try_admit(self.body, keys)?;
        Ok(self.log.created[&i].clone())
    }

    /// Signed by the generator; it must be taken.
    pub fn admit(self) -> ManifestNumber {
        let i = self.log.admit(self.body, &[&pkey(self.generator)]);
        self.log.created[&i].clone()
    }
}

/// A `custody.handover` event being built; signed by its giver and its taker.
pub struct Hand<'a> {
    body: Value,
    from: usize,
    to: usize,
    log: &'a mut Log,
}

impl Hand<'_> {
    /// On a vehicle (onto a truck, or from one: the plate it was on).
    pub fn vehicle(mut self, plate: &str) -> Self {
        self.body["vehicle"] = json!(plate);
        self
    }

    /// At a registered site.
    pub fn site(mut self, site: &str) -> Self {
        self.body["site"] = json!(site);
        self
    }

    /// At a place (no site).
    pub fn place(mut self, lat_e6: i32, lon_e6: i32) -> Self {
        self.body["place"] = json!({"lat_e6": lat_e6, "lon_e6": lon_e6});
        self
    }

    /// Driven by the driver of this commitment (see [`driver`]).
    pub fn driver(mut self, commitment: &str) -> Self {
        self.body["driver"] = json!(commitment);
        self
    }

    /// The event as built, for a test to change or sign as it likes.
    pub fn body(self) -> Value {
        self.body
    }

    /// Signed by `keys`: its entry index, or why it was refused.
    pub fn try_admit(self, keys: &[&SigningKey]) -> Result<u64, String> {
        self.log.try_admit(self.body, keys)
    }

    /// Signed by both parties; it must be taken.
    pub fn admit(self) -> u64 {
        self.log
            .admit(self.body, &[&pkey(self.from), &pkey(self.to)])
    }
}
