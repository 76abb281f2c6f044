//! The fold on its own: the overdue flag against a chosen "now", refusals that leave the state
//! as it was, and a property test: random event sequences never reach a state the rules call
//! impossible.

use super::catalog::Catalog;
use super::codes::Uscc;
use super::fold::{Domain, FlagKind, Limits, Status};
use super::RULEBOOK;
use crate::ledger::event::{PublicKey, SignedEvent};
use crate::ledger::state::{genesis_event, LogState};
use crate::ledger::time::Timestamp;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::Arc;

const HOUR: u64 = 3_600_000;
/// 2026-11-23T00:00:00Z
const T0: u64 = 1_795_392_000_000;

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn uscc(org9: &str) -> String {
    let first = format!("91320583{org9}");
    format!("{first}{}", Uscc::check_char(&first).unwrap())
}

/// A log in memory: the ledger's state and the domain's fold, admitted entry by entry.
struct Log {
    state: LogState,
    domain: Domain,
    size: u64,
    authority: SigningKey,
}

/// Parties: 0 plant, 1 hauler A, 2 hauler B, 3 station, 4 receiver.
const ORGS: [(&str, &str, u8); 5] = [
    ("MA1PLANT1", "generator", 31),
    ("MA1HAUL0A", "hauler", 32),
    ("MA1HAUL0B", "hauler", 33),
    ("MA1HQTA01", "station", 34),
    ("MA1REC001", "receiver", 35),
];

fn id(p: usize) -> String {
    uscc(ORGS[p].0)
}

fn pkey(p: usize) -> SigningKey {
    key(ORGS[p].2)
}

impl Log {
    fn new() -> Log {
        let authority = key(2);
        let mut log = Log {
            state: LogState::default(),
            domain: Domain::new(Arc::new(Catalog::builtin()), Limits::default()),
            size: 0,
            authority,
        };
        let g = genesis_event(
            "t",
            &PublicKey(key(1).verifying_key()),
            &PublicKey(log.authority.verifying_key()),
            Some(RULEBOOK),
        );
        log.auth(g).unwrap();
        for (p, (_, role, _)) in ORGS.iter().enumerate() {
            log.auth(json!({"type": "party.registered", "party": id(p), "name": format!("party {p}"), "roles": [role]})).unwrap();
            log.auth(json!({"type": "key.added", "key": PublicKey(pkey(p).verifying_key()).to_string(), "holder": id(p)})).unwrap();
        }
        let fence = json!([{"lat_e6": 0, "lon_e6": 0}, {"lat_e6": 0, "lon_e6": 1000}, {"lat_e6": 1000, "lon_e6": 0}]);
        for (site, p, kind) in [
            ("S-PLANT", 0, "plant"),
            ("S-STATION", 3, "station"),
            ("S-RECV", 4, "disposal"),
        ] {
            log.auth(json!({"type": "site.registered", "site": site, "party": id(p), "kind": kind, "name": site,
                            "location": {"lat_e6": 0, "lon_e6": 0}, "geofence": fence})).unwrap();
        }
        for (plate, p) in [("苏E12345", 1), ("苏E23456", 2)] {
            log.auth(json!({"type": "vehicle.registered", "plate": plate, "party": id(p), "permits": [
                {"kind": "hazardous_goods", "number": "x", "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}]})).unwrap();
        }
        for (l, p, kind) in [
            ("LA", 1, "hw_transport"),
            ("LB", 2, "hw_transport"),
            ("LS", 3, "hw_operating"),
            ("LR", 4, "hw_operating"),
        ] {
            log.auth(json!({"type": "licence.granted", "licence": l, "party": id(p), "kind": kind, "categories": ["HW08"],
                            "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"})).unwrap();
        }
        log
    }

    fn auth(&mut self, body: Value) -> Result<(), String> {
        let a = self.authority.clone();
        self.admit(body, &[&a])
    }

    fn admit(&mut self, body: Value, keys: &[&SigningKey]) -> Result<(), String> {
        let ev = SignedEvent::sign(body, keys).unwrap();
        let t = Timestamp::from_unix_millis(T0 + self.size * 60_000);
        self.state
            .admit(self.size, t, &ev, &mut self.domain)
            .map_err(|r| r.to_string())?;
        self.size += 1;
        Ok(())
    }

    fn issue(&mut self, grams: u64) -> String {
        let reference = format!("R{}", self.size);
        self.admit(json!({"type": "manifest.issued", "reference": reference, "stream": "hazardous", "generator": id(0), "origin": "S-PLANT",
            "destination": "S-RECV", "haulers": [id(1), id(2)],
            "lines": [{"code": "900-249-08", "name": "废矿物油", "form": "liquid", "hazards": ["T", "I"], "quantity": {"amount": grams, "unit": "g"}}]}),
            &[&pkey(0)]).unwrap();
        self.domain.created[&(self.size - 1)][0].to_string()
    }

    /// Everything observable about the domain, to compare before and after.
    fn snapshot(&self) -> String {
        serde_json::to_string(&(
            &self.domain.manifests,
            &self.domain.parties,
            &self.domain.licences,
            &self.domain.vehicles,
        ))
        .unwrap()
    }
}

fn hand(m: &str, from: usize, to: usize, plate: Option<&str>, g: u64) -> Value {
    let mut h = json!({"type": "custody.handover", "manifest": m, "from": id(from), "to": id(to), "at": "2026-11-23T08:00:00Z",
                       "lines": [{"line": 0, "quantity": {"amount": g, "unit": "g"}}]});
    if let Some(p) = plate {
        h["vehicle"] = json!(p);
    }
    h
}

#[test]
fn overdue_shows_once_the_streams_limit_has_passed_and_not_before() {
    let mut log = Log::new();
    let m = log.issue(1000);
    log.admit(
        hand(&m, 0, 1, Some("苏E12345"), 1000),
        &[&pkey(0), &pkey(1)],
    )
    .unwrap();
    let man = &log.domain.manifests[&m.parse().unwrap()];
    let since = man.in_transit_since.unwrap().unix_millis();
    let at = |h: u64| Timestamp::from_unix_millis(since + h * HOUR);
    let limits = Limits::default();
    assert!(man.flags_at(at(71), &limits).is_empty());
    let f = man.flags_at(at(73), &limits);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FlagKind::Overdue);
    assert!(f[0].detail.contains("72 h"), "{}", f[0].detail);
    // Delivered: no longer on the road, no longer overdue.
    log.admit(hand(&m, 1, 4, None, 1000), &[&pkey(1), &pkey(4)])
        .unwrap();
    assert!(log.domain.manifests[&m.parse().unwrap()]
        .flags_at(at(500), &limits)
        .is_empty());
}

#[test]
fn a_refused_event_leaves_the_domain_exactly_as_it_was() {
    let mut log = Log::new();
    let m = log.issue(1000);
    let before = log.snapshot();
    // Handing over from the wrong holder, a treatment before receipt, a void by the hauler.
    assert!(log
        .admit(
            hand(&m, 1, 2, Some("苏E23456"), 1000),
            &[&pkey(1), &pkey(2)]
        )
        .is_err());
    assert!(log.admit(json!({"type": "custody.treated", "manifest": m, "line": 0, "code": "R9", "quantity": {"amount": 1, "unit": "g"}}), &[&pkey(4)]).is_err());
    assert!(log
        .admit(
            json!({"type": "manifest.voided", "manifest": m, "reason": "x"}),
            &[&pkey(1)]
        )
        .is_err());
    // A key for a holder that is not a party: refused by the domain, undone in the key registry.
    let stray = PublicKey(key(77).verifying_key());
    assert!(log
        .auth(json!({"type": "key.added", "key": stray.to_string(), "holder": "someone"}))
        .is_err());
    assert!(!log.state.keys.contains_key(&stray));
    assert_eq!(log.snapshot(), before);
}

#[test]
fn a_log_that_names_another_rulebook_is_refused_and_a_bare_log_takes_anything() {
    let mut d = Domain::new(Arc::new(Catalog::builtin()), Limits::default());
    let mut st = LogState::default();
    let g = |rules| {
        SignedEvent::sign(
            genesis_event(
                "t",
                &PublicKey(key(1).verifying_key()),
                &PublicKey(key(2).verifying_key()),
                rules,
            ),
            &[&key(2)],
        )
        .unwrap()
    };
    let t = Timestamp::from_unix_millis(T0);
    assert!(st.admit(0, t, &g(Some("other/v9")), &mut d).is_err());
    let mut st = LogState::default();
    st.admit(0, t, &g(None), &mut d).unwrap();
    let add = SignedEvent::sign(json!({"type": "key.added", "key": PublicKey(key(5).verifying_key()).to_string(), "holder": "anyone"}), &[&key(2)]).unwrap();
    st.admit(1, t, &add, &mut d).unwrap();
    let note = SignedEvent::sign(json!({"type": "note"}), &[&key(5)]).unwrap();
    st.admit(2, t, &note, &mut d).unwrap();
}

#[derive(Clone, Debug)]
enum Action {
    Hand {
        from: usize,
        to: usize,
        plate: Option<u8>,
        grams: u64,
        both: bool,
    },
    Receive {
        accept_permille: u64,
    },
    Treat {
        grams: u64,
    },
    Void {
        by: usize,
    },
    Weigh {
        by: usize,
        net: u64,
    },
}

fn action() -> impl Strategy<Value = (usize, Action)> {
    let party = 0usize..5;
    (
        0usize..3,
        prop_oneof![
            4 => (party.clone(), party.clone(), proptest::option::of(0u8..2), 500u64..1500, prop::bool::weighted(0.9))
                .prop_map(|(from, to, plate, grams, both)| Action::Hand { from, to, plate, grams, both }),
            2 => (0u64..=1000).prop_map(|accept_permille| Action::Receive { accept_permille }),
            2 => (1u64..1200).prop_map(|grams| Action::Treat { grams }),
            1 => party.clone().prop_map(|by| Action::Void { by }),
            1 => (party, 0u64..2000).prop_map(|(by, net)| Action::Weigh { by, net }),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever parties try, in whatever order, the state never says the impossible, and every
    /// refusal leaves it as it was.
    #[test]
    fn random_event_sequences_never_reach_an_impossible_state(actions in prop::collection::vec(action(), 1..40)) {
        let mut log = Log::new();
        let ms: Vec<String> = (0..3).map(|_| log.issue(1000)).collect();
        for (which, a) in actions {
            let m = &ms[which];
            let holder = log.domain.manifests[&m.parse().unwrap()].holder.to_string();
            let holder_p = (0..5).find(|p| id(*p) == holder).unwrap();
            let (body, signers): (Value, Vec<usize>) = match a {
                Action::Hand { from, to, plate, grams, both } => {
                    let plate = plate.map(|p| ["苏E12345", "苏E23456"][p as usize]);
                    (hand(m, from, to, plate, grams), if both { vec![from, to] } else { vec![from] })
                }
                Action::Receive { accept_permille } => {
                    let acc = 1000 * accept_permille / 1000;
                    let mut r = json!({"type": "custody.received", "manifest": m, "lines": [{"line": 0,
                        "accepted": {"amount": acc, "unit": "g"}, "rejected": {"amount": 1000 - acc, "unit": "g"}}]});
                    if acc < 1000 {
                        r["rejection"] = json!({"reason": "off-spec", "to": id(0)});
                    }
                    (r, vec![holder_p])
                }
                Action::Treat { grams } => (json!({"type": "custody.treated", "manifest": m, "line": 0, "code": "D10", "quantity": {"amount": grams, "unit": "g"}}), vec![holder_p]),
                Action::Void { by } => (json!({"type": "manifest.voided", "manifest": m, "reason": "x"}), vec![by]),
                Action::Weigh { by, net } => (json!({"type": "custody.weighed", "manifest": m, "site": "S-RECV", "ticket": "t",
                    "gross": {"amount": net + 100, "unit": "g"}, "tare": {"amount": 100, "unit": "g"}, "net": {"amount": net, "unit": "g"}, "at": "2026-11-23T09:00:00Z"}), vec![by]),
            };
            let keys: Vec<SigningKey> = signers.iter().map(|p| pkey(*p)).collect();
            let refs: Vec<&SigningKey> = keys.iter().collect();
            let before = log.snapshot();
            if log.admit(body, &refs).is_err() {
                prop_assert_eq!(log.snapshot(), before, "a refusal changed the state");
            }
            for man in log.domain.manifests.values() {
                let kinds: Vec<&str> = man.steps.iter().map(|s| s.kind).collect();
                let received_at = kinds.iter().position(|k| *k == "custody.received");
                // Treated only after received, and never more than accepted.
                if let Some(t) = kinds.iter().position(|k| *k == "custody.treated") {
                    prop_assert!(received_at.is_some_and(|r| r < t), "treated before received: {:?}", kinds);
                }
                for (d, a) in man.treated.iter().zip(&man.accepted) {
                    prop_assert!(d.amount <= a.amount);
                }
                if matches!(man.status, Status::Received | Status::Treated | Status::Rejected) {
                    prop_assert!(received_at.is_some(), "{:?} without a receipt", man.status);
                }
                // One holder: the party the last hand-over went to (or the issuer before any).
                let last_to = man.steps.iter().rev().find_map(|s| s.to.clone());
                prop_assert_eq!(&man.holder, last_to.as_ref().unwrap_or(&man.issuer));
                prop_assert!(log.domain.parties.contains_key(&man.holder));
                if man.status == Status::Voided {
                    prop_assert!(!kinds.contains(&"custody.handover"), "voided after a hand-over");
                }
            }
        }
    }
}

/// A refused field says what was expected and what came, in that order, once each.
#[test]
fn malformed_fields_say_what_was_expected_and_what_came() {
    use super::events::DomainEvent;
    let msg = |ev: &str, body: Value| {
        DomainEvent::parse(ev, body.to_string().as_bytes())
            .unwrap_err()
            .to_string()
    };
    let party = uscc("MA1PLANT1");
    let site = json!({"type": "site.registered", "site": "S-1", "party": party, "kind": "depot", "name": "x",
                      "location": {"lat_e6": 31_000_000, "lon_e6": 120_000_000}});
    let m = msg("site.registered", site.clone());
    assert!(
        m.starts_with("field `event.kind`: expected one of `plant`")
            && m.ends_with("got unknown variant `depot`"),
        "{m}"
    );
    let mut no_name = site;
    no_name["kind"] = json!("plant");
    no_name.as_object_mut().unwrap().remove("name");
    let m = msg("site.registered", no_name);
    assert!(m.contains("expected field `name` to be present"), "{m}");
    for m in [&m] {
        assert!(
            !m.contains("expected expected") && !m.contains("expected unknown"),
            "{m}"
        );
    }
}

/// After the store fails to make a folded batch durable, the live state is not served.
#[test]
fn after_a_storage_failure_the_state_is_not_read() {
    use crate::ledger::state::Rules;
    let rules = super::DomainRules::new(Catalog::builtin(), Limits::default());
    assert!(rules.read_durable().is_ok());
    rules.with_fold(&mut |_| rules.storage_failed("fsync: no space left on device"));
    let err = rules.read_durable().map(|_| ()).unwrap_err();
    assert!(err.contains("no space left"), "{err}");
}
