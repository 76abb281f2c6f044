//! A small Kunshan for the domain tests: the authority registers parties, their keys, licences,
//! vehicles and sites on a real server; parties then move loads by signed events over HTTP.

#![allow(dead_code)]

use crate::support::{authority, key, pk, signed, Server};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use wasteledger::client::LogClient;
use wasteledger::domain::codes::Uscc;

/// A valid USCC for a Kunshan (320583) company: `91320583` + 9 characters + the check.
pub fn uscc(org9: &str) -> String {
    let first17 = format!("91320583{org9}");
    assert_eq!(first17.len(), 17, "{first17}");
    let check = Uscc::check_char(&first17).expect("valid alphabet");
    format!("{first17}{check}")
}

pub struct Party {
    pub id: String,
    pub key: SigningKey,
    pub name: &'static str,
}

pub struct World {
    /// Numbers the issuers' own references (waste-out slips).
    pub slips: std::sync::atomic::AtomicU64,
    pub server: Server,
    pub c: LogClient,
    pub plant: Party,
    pub hauler_a: Party,
    pub hauler_b: Party,
    pub station: Party,
    pub disposal: Party,
    pub builder: Party,
    pub muck: Party,
    pub recycler: Party,
    pub bureau: Party,
    /// A receiver with no hazardous-waste licence at all.
    pub backyard: Party,
}

pub const PLATE_A: &str = "苏E12345";
pub const PLATE_B: &str = "苏E23456";
pub const PLATE_MUCK: &str = "苏E3M456";
/// A registered truck of hauler A whose permit expired in 2020.
pub const PLATE_EXPIRED: &str = "苏E99999";

pub fn post(c: &LogClient, body: &[u8]) -> (u16, Value) {
    let a = c.post("/v1/events", body).unwrap();
    (
        a.status,
        serde_json::from_str(&a.body).unwrap_or_else(|_| panic!("not JSON: {}", a.body)),
    )
}

/// Submit an event that must be taken into the log.
pub fn ok(c: &LogClient, body: Value, keys: &[&SigningKey]) -> Value {
    let (status, answer) = post(c, &signed(body.clone(), keys).to_bytes());
    assert_eq!(status, 201, "{body}\n→ {answer}");
    answer
}

fn party(seed: u8, org9: &str, name: &'static str) -> Party {
    Party {
        id: uscc(org9),
        key: key(seed),
        name,
    }
}

fn site(id: &str, party: &str, kind: &str, name: &str, lat: i32, lon: i32) -> Value {
    let d = 2000;
    json!({"type": "site.registered", "site": id, "party": party, "kind": kind, "name": name,
           "location": {"lat_e6": lat, "lon_e6": lon},
           "geofence": [{"lat_e6": lat - d, "lon_e6": lon - d}, {"lat_e6": lat - d, "lon_e6": lon + d},
                        {"lat_e6": lat + d, "lon_e6": lon + d}, {"lat_e6": lat + d, "lon_e6": lon - d}]})
}

fn licence(id: &str, party: &str, kind: &str, scope: Value, from: &str, until: &str) -> Value {
    let mut l = json!({"type": "licence.granted", "licence": id, "party": party, "kind": kind,
                       "valid_from": from, "valid_until": until});
    for (k, v) in scope.as_object().unwrap() {
        l[k] = v.clone();
    }
    l
}

fn vehicle(plate: &str, party: &str, permit: &str, until: &str) -> Value {
    json!({"type": "vehicle.registered", "plate": plate, "party": party,
           "permits": [{"kind": permit, "number": format!("P-{plate}"), "valid_from": "2020-01-01T00:00:00Z", "valid_until": until}]})
}

impl World {
    pub fn start(dir: &std::path::Path) -> World {
        Self::start_with(dir, &[])
    }

    /// [`World::start`] with more `serve` flags (e.g. `--witness KEY`).
    pub fn start_with(dir: &std::path::Path, extra: &[&str]) -> World {
        let w = Self::restart_with(dir, extra);
        w.register();
        w
    }

    /// Start the server on a log made by [`World::start`] before (no registration).
    pub fn restart(dir: &std::path::Path) -> World {
        Self::restart_with(dir, &[])
    }

    fn restart_with(dir: &std::path::Path, extra: &[&str]) -> World {
        let server = Server::start_with(&dir.join("log"), extra);
        let c = server.client();
        World {
            slips: Default::default(),
            c,
            server,
            plant: party(11, "MA1ELEC01", "Kunshan electronics plant"),
            hauler_a: party(12, "MA1HAUL0A", "Hazardous hauler A"),
            hauler_b: party(13, "MA1HAUL0B", "Hazardous hauler B"),
            station: party(14, "MA1HQTA01", "Huaqiao transfer platform"),
            disposal: party(15, "MA1DPQ001", "Licensed disposal facility"),
            builder: party(16, "MA1BULD01", "Construction site"),
            muck: party(17, "MA1MUCK01", "Muck-truck fleet"),
            recycler: party(18, "MA1RECY01", "Construction-waste recycling centre"),
            bureau: party(19, "MB1EEB001", "Kunshan ecology and environment bureau"),
            backyard: party(20, "MA1BACK01", "Unlicensed yard"),
        }
    }

    pub fn parties(&self) -> [&Party; 10] {
        [
            &self.plant,
            &self.hauler_a,
            &self.hauler_b,
            &self.station,
            &self.disposal,
            &self.builder,
            &self.muck,
            &self.recycler,
            &self.bureau,
            &self.backyard,
        ]
    }

    fn register(&self) {
        let a = authority();
        let roles = |p: &Party| -> Vec<&str> {
            match p.name {
                n if n.contains("plant") => vec!["generator"],
                n if n.contains("Construction site") => vec!["generator"],
                n if n.contains("auler") || n.contains("Muck") => vec!["hauler"],
                n if n.contains("transfer") => vec!["station"],
                n if n.contains("bureau") => vec!["inspector", "enforcement"],
                _ => vec!["receiver"],
            }
        };
        for p in self.parties() {
            ok(
                &self.c,
                json!({"type": "party.registered", "party": p.id, "name": p.name, "roles": roles(p)}),
                &[&a],
            );
            ok(
                &self.c,
                json!({"type": "key.added", "key": pk(&p.key), "holder": p.id}),
                &[&a],
            );
        }
        let (from, until) = ("2024-01-01T00:00:00Z", "2030-01-01T00:00:00Z");
        for ev in [
            site(
                "S-PLANT",
                &self.plant.id,
                "plant",
                "Electronics plant, Zhangpu",
                31_300_000,
                120_950_000,
            ),
            site(
                "S-HUAQIAO",
                &self.station.id,
                "station",
                "Huaqiao transfer platform",
                31_320_000,
                121_080_000,
            ),
            site(
                "S-DISPOSAL",
                &self.disposal.id,
                "disposal",
                "Disposal facility",
                31_400_000,
                120_900_000,
            ),
            site(
                "S-BUILD",
                &self.builder.id,
                "construction_site",
                "Metro line 11 site",
                31_380_000,
                120_970_000,
            ),
            site(
                "S-RECYCLE",
                &self.recycler.id,
                "recycling",
                "Recycling centre",
                31_350_000,
                121_000_000,
            ),
            site(
                "S-BACKYARD",
                &self.backyard.id,
                "disposal",
                "Backyard",
                31_360_000,
                121_010_000,
            ),
            licence(
                "L-HAUL-A",
                &self.hauler_a.id,
                "hw_transport",
                json!({}),
                from,
                until,
            ),
            licence(
                "L-HAUL-B",
                &self.hauler_b.id,
                "hw_transport",
                json!({}),
                from,
                until,
            ),
            licence(
                "L-MUCK",
                &self.muck.id,
                "cw_transport",
                json!({}),
                from,
                until,
            ),
            licence(
                "L-STATION",
                &self.station.id,
                "hw_operating",
                json!({"categories": ["HW08", "HW49"]}),
                from,
                until,
            ),
            licence(
                "L-DISPOSAL",
                &self.disposal.id,
                "hw_operating",
                json!({"categories": ["HW08", "HW49"], "annual_capacity": {"amount": 5_000_000_000u64, "unit": "g"}}),
                from,
                until,
            ),
            licence(
                "L-RECYCLE",
                &self.recycler.id,
                "cw_disposal",
                json!({"cw_types": ["excavated_soil", "demolition"]}),
                from,
                until,
            ),
            vehicle(PLATE_A, &self.hauler_a.id, "hazardous_goods", until),
            vehicle(PLATE_B, &self.hauler_b.id, "hazardous_goods", until),
            vehicle(PLATE_MUCK, &self.muck.id, "muck", until),
            vehicle(
                PLATE_EXPIRED,
                &self.hauler_a.id,
                "hazardous_goods",
                "2020-06-01T00:00:00Z",
            ),
        ] {
            ok(&self.c, ev, &[&a]);
        }
    }

    pub fn slip(&self) -> String {
        format!(
            "CK-2026-{:05}",
            self.slips
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1
        )
    }

    /// The plant issues a hazardous manifest: waste mineral oil and contaminated packaging.
    pub fn issue_hazardous(&self, destination: &str) -> String {
        let answer = ok(
            &self.c,
            self.hazardous_issue(destination),
            &[&self.plant.key],
        );
        answer["manifests"][0].as_str().unwrap().to_string()
    }

    /// The body of [`World::issue_hazardous`]'s event (unsigned; the plant signs it).
    pub fn hazardous_issue(&self, destination: &str) -> Value {
        json!({
                "type": "manifest.issued", "reference": self.slip(), "stream": "hazardous", "generator": self.plant.id,
                "origin": "S-PLANT", "destination": destination,
                "haulers": [self.hauler_a.id, self.hauler_b.id],
                "lines": [
                    {"code": "900-249-08", "name": "废矿物油 waste mineral oil", "form": "liquid", "hazards": ["T", "I"],
                     "containers": [{"id": "D1", "packaging": "200 L steel drum"}, {"id": "D2", "packaging": "200 L steel drum"}],
                     "quantity": {"amount": 340_000, "unit": "g"}},
                    {"code": "900-041-49", "name": "含油抹布手套 oily rags and packaging", "form": "solid", "hazards": ["T", "In"],
                     "containers": [{"id": "B1", "packaging": "ton bag"}],
                     "quantity": {"amount": 120_000, "unit": "g"}}
                ]
        })
    }

    /// The builder issues a construction manifest: excavated soil to the recycling centre.
    pub fn issue_muck(&self, amount: u64) -> String {
        let answer = ok(
            &self.c,
            json!({
                "type": "manifest.issued", "reference": self.slip(), "stream": "construction", "generator": self.builder.id,
                "origin": "S-BUILD", "destination": "S-RECYCLE", "haulers": [self.muck.id],
                "lines": [{"cw_type": "excavated_soil", "name": "工程渣土 excavated soil", "form": "solid",
                           "quantity": {"amount": amount, "unit": "g"}}]
            }),
            &[&self.builder.key],
        );
        answer["manifests"][0].as_str().unwrap().to_string()
    }

    /// A hand-over body (unsigned): `qty` per line.
    pub fn handover(
        &self,
        m: &str,
        from: &Party,
        to: &Party,
        vehicle: Option<&str>,
        qty: &[u64],
    ) -> Value {
        let mut h = json!({
            "type": "custody.handover", "manifest": m, "from": from.id, "to": to.id,
            "at": "2026-11-23T08:30:00Z",
            "lines": qty.iter().enumerate().map(|(i, q)| json!({"line": i, "quantity": {"amount": q, "unit": "g"}})).collect::<Vec<_>>(),
        });
        if let Some(v) = vehicle {
            h["vehicle"] = json!(v);
            h["driver"] = json!("5f1e3c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f");
        }
        h
    }

    /// Hand over, signed by both parties.
    pub fn hand(
        &self,
        m: &str,
        from: &Party,
        to: &Party,
        vehicle: Option<&str>,
        qty: &[u64],
    ) -> Value {
        ok(
            &self.c,
            self.handover(m, from, to, vehicle, qty),
            &[&from.key, &to.key],
        )
    }

    /// The plant hands a hazardous load to hauler A's truck, as declared.
    pub fn pickup(&self, m: &str) -> Value {
        self.hand(
            m,
            &self.plant,
            &self.hauler_a,
            Some(PLATE_A),
            &[340_000, 120_000],
        )
    }

    /// A hazardous load to the disposal site, picked up by hauler A and relayed to hauler B's
    /// truck, as declared: the relay most console tests start from.
    pub fn relayed_load(&self) -> String {
        let m = self.issue_hazardous("S-DISPOSAL");
        self.pickup(&m);
        self.hand(
            &m,
            &self.hauler_a,
            &self.hauler_b,
            Some(PLATE_B),
            &[340_000, 120_000],
        );
        m
    }

    /// The manifest as `who` sees it (a signed read).
    pub fn manifest_as(&self, m: &str, who: &SigningKey) -> Value {
        let a = self
            .c
            .get_signed(&format!("/v1/manifests/{m}"), who)
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        a.json().unwrap()
    }

    /// The full view, as the bureau (inspectors see everything).
    pub fn manifest(&self, m: &str) -> Value {
        self.manifest_as(m, &self.bureau.key)
    }

    pub fn flags(&self, m: &str) -> Vec<String> {
        self.manifest(m)["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap().to_string())
            .collect()
    }

    /// Entry `index` exactly as served, read as the bureau (entries of a waste log are served
    /// to inspectors, enforcement, auditors and the authority).
    pub fn entry(&self, index: impl std::fmt::Display) -> String {
        let a = self
            .c
            .get_signed(&format!("/v1/log/entries/{index}"), &self.bureau.key)
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        a.body
    }

    pub fn head(&self) -> String {
        self.c.get_ok("/v1/log/checkpoint").unwrap()
    }
}
