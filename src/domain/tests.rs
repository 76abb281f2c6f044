//! The fold on its own: the overdue flag against a chosen "now", refusals that leave the state
//! as it was, and a property test: random event sequences never reach a state the rules call
//! impossible.

use super::catalog::Catalog;
use super::codes::Uscc;
use super::fold::Domain;
use super::model::{FlagKind, Limits, Status};
use super::query::DomainQuery;
use super::testkit::*;
use super::RULEBOOK;
use crate::ledger::event::{PublicKey, SignedEvent};
use crate::ledger::state::{genesis_event, LogState};
use crate::ledger::time::Timestamp;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::Arc;

/// A station's outgoing load, for haulers A and B.
fn out(grams: u64) -> Value {
    outgoing(grams, &[HAUL, HAUL_B])
}

#[test]
fn overdue_shows_once_the_streams_limit_has_passed_and_not_before() {
    let mut log = Log::new();
    let m = log.picked_up(1000);
    let man = log.d.manifest(&m.parse().unwrap()).unwrap();
    let since = man.in_transit_since.unwrap().unix_millis();
    let at = |h: u64| Timestamp::from_unix_millis(since + h * HOUR);
    let limits = Limits::default();
    assert!(man.flags_at(at(71), &limits).is_empty());
    let f = man.flags_at(at(73), &limits);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FlagKind::Overdue);
    assert!(f[0].detail.contains("72 h"), "{}", f[0].detail);
    // Delivered: no longer on the road, no longer overdue.
    log.hand(&m, 1, 4, 1000).admit();
    assert!(log
        .d
        .manifest(&m.parse().unwrap())
        .unwrap()
        .flags_at(at(500), &limits)
        .is_empty());
}

#[test]
fn a_refused_event_leaves_the_domain_exactly_as_it_was() {
    let mut log = Log::new();
    let m = log.issue_hw(1000, "S-RECV");
    let before = log.snapshot();
    // Handing over from the wrong holder, a treatment before receipt, a void by the hauler.
    assert!(log
        .hand(&m, 1, 2, 1000)
        .vehicle(TRUCK_B)
        .try_admit(&[&pkey(1), &pkey(2)])
        .is_err());
    assert!(log.try_admit(json!({"type": "custody.treated", "manifest": m, "line": 0, "code": "R9", "quantity": {"amount": 1, "unit": "g"}}), &[&pkey(4)]).is_err());
    assert!(log
        .try_admit(
            json!({"type": "manifest.voided", "manifest": m, "reason": "x"}),
            &[&pkey(1)]
        )
        .is_err());
    // A key for a holder that is not a party: refused by the domain, undone in the key registry.
    let stray = PublicKey(key(77).verifying_key());
    assert!(log
        .try_auth(json!({"type": "key.added", "key": stray.to_string(), "holder": "someone"}))
        .is_err());
    assert!(!log.state.keys.contains_key(&stray));
    assert_eq!(log.snapshot(), before);
}

/// The store parses each domain event on the threads that check its signatures
/// (`decide::prepare`): the fold decides the same from that as from parsing the event itself,
/// refusals and their messages included, and takes it (the test kit checks that).
#[test]
fn an_event_parsed_ahead_is_decided_as_one_the_fold_parses() {
    let run = |ahead: bool| {
        let mut log = Log::stored();
        log.prepare_ahead = ahead;
        let mut answers = Vec::new();
        let m = log.issue_hw(1000, "S-RECV");
        answers.push(Ok(log.pickup(&m, TRUCK, 1000)));
        // The wrong holder; a malformed quantity; a treatment before receipt; an unknown type.
        answers.push(
            log.hand(&m, PLANT, HAUL_B, 1000)
                .vehicle(TRUCK_B)
                .try_admit(&[&pkey(PLANT), &pkey(HAUL_B)]),
        );
        answers.push(log.try_admit(
            json!({"type": "custody.received", "manifest": m, "lines": [{"line": 0,
            "accepted": {"amount": "many", "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}}]}),
            &[&pkey(RECV)],
        ));
        answers.push(log.try_admit(
            json!({"type": "custody.treated", "manifest": m, "line": 0, "code": "R9",
            "quantity": {"amount": 1, "unit": "g"}}),
            &[&pkey(RECV)],
        ));
        answers.push(log.try_admit(
            json!({"type": "custody.teleported", "manifest": m}),
            &[&pkey(HAUL)],
        ));
        answers.push(Ok(log
            .hand(&m, HAUL, RECV, 1000)
            .vehicle(TRUCK)
            .site("S-RECV")
            .admit()));
        answers.push(Ok(log.receive(&m, RECV, 1000)));
        (answers, log.snapshot())
    };
    let (ahead, parsed) = (run(true), run(false));
    assert_eq!(ahead, parsed);
    let refused: Vec<&String> = ahead.0.iter().filter_map(|a| a.as_ref().err()).collect();
    assert_eq!(refused.len(), 4, "{:?}", ahead.0);
    assert!(
        refused[1].contains("event.lines[0].accepted.amount"),
        "{}",
        refused[1]
    );
    assert!(refused[3].contains("event.type"), "{}", refused[3]);
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
    /// From the holder (`None`) or from whoever `from` is.
    Hand {
        from: Option<usize>,
        to: usize,
        plate: Option<u8>,
        grams: u64,
        both: bool,
    },
    /// Signed by the holder (`None`) or by whoever `by` is.
    Receive {
        by: Option<usize>,
        accept_permille: u64,
    },
    Treat {
        by: Option<usize>,
        grams: u64,
    },
    Void {
        by: usize,
    },
    Weigh {
        by: usize,
        net: u64,
    },
    /// By the issuer (`None`) or by whoever `by` is; in millilitres if `ml`.
    Correct {
        by: Option<usize>,
        grams: u64,
        ml: bool,
    },
    /// The station consolidates this manifest with another (an offset in the pool).
    Consolidate {
        other: usize,
    },
    Split {
        first: u64,
    },
}

fn action() -> impl Strategy<Value = (usize, Action)> {
    let party = 0usize..5;
    let by = proptest::option::weighted(0.3, party.clone());
    (
        0usize..16,
        prop_oneof![
            8 => (proptest::option::weighted(0.2, party.clone()), party.clone(), proptest::option::of(0u8..2), 900u64..1100, prop::bool::weighted(0.9))
                .prop_map(|(from, to, plate, grams, both)| Action::Hand { from, to, plate, grams, both }),
            2 => (by.clone(), 0u64..=1000).prop_map(|(by, accept_permille)| Action::Receive { by, accept_permille }),
            2 => (by.clone(), 1u64..700).prop_map(|(by, grams)| Action::Treat { by, grams }),
            1 => party.clone().prop_map(|by| Action::Void { by }),
            1 => (party, 0u64..2000).prop_map(|(by, net)| Action::Weigh { by, net }),
            1 => (by, 500u64..1500, prop::bool::weighted(0.3)).prop_map(|(by, grams, ml)| Action::Correct { by, grams, ml }),
            2 => (1usize..16).prop_map(|other| Action::Consolidate { other }),
            1 => (1u64..1000).prop_map(|first| Action::Split { first }),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever parties try, in whatever order, the state never says the impossible, and every
    /// refusal leaves it as it was: hand-overs, receipts and treatments by the holder or by
    /// anyone else, voids, weighings, corrections, and a station consolidating and splitting
    /// (the manifests it makes join the pool the steps pick from).
    #[test]
    fn random_event_sequences_never_reach_an_impossible_state(actions in prop::collection::vec(action(), 1..60)) {
        let mut log = Log::new();
        let mut ms: Vec<String> = (0..3).map(|_| log.issue_hw(1000, "S-RECV")).collect();
        let pidx = |u: &Uscc| (0..5).find(|p| id(*p) == u.to_string()).unwrap();
        for (which, a) in actions {
            let m = ms[which % ms.len()].clone();
            let man = log.d.manifest(&m.parse().unwrap()).unwrap().clone();
            let holder_p = pidx(&man.holder);
            let issuer_p = pidx(&man.issuer);
            let version = man.versions.len() as u64 + 1;
            let unit = wire_unit(&man);
            // Steps only the holder (receipts, treatments) or the issuer (corrections) may sign.
            let mut only: Option<usize> = None;
            let (body, signers): (Value, Vec<usize>) = match a {
                Action::Hand { from, to, plate, grams, both } => {
                    let from = from.unwrap_or(holder_p);
                    let plate = plate.map(|p| ["苏E12345", "苏E23456"][p as usize]);
                    let mut h = log.hand(&m, from, to, grams);
                    if let Some(p) = plate {
                        h = h.vehicle(p);
                    }
                    let mut h = h.body();
                    h["lines"][0]["quantity"]["unit"] = json!(unit);
                    (h, if both { vec![from, to] } else { vec![from] })
                }
                Action::Receive { by, accept_permille } => {
                    let acc = 1000 * accept_permille / 1000;
                    let mut r = json!({"type": "custody.received", "manifest": m, "lines": [{"line": 0,
                        "accepted": {"amount": acc, "unit": unit}, "rejected": {"amount": 1000 - acc, "unit": unit}}]});
                    if acc < 1000 {
                        r["rejection"] = json!({"reason": "off-spec", "to": id(0)});
                    }
                    only = Some(holder_p);
                    (r, vec![by.unwrap_or(holder_p)])
                }
                Action::Treat { by, grams } => {
                    only = Some(holder_p);
                    (json!({"type": "custody.treated", "manifest": m, "line": 0, "code": "D10", "quantity": {"amount": grams, "unit": unit}}), vec![by.unwrap_or(holder_p)])
                }
                Action::Void { by } => (json!({"type": "manifest.voided", "manifest": m, "reason": "x"}), vec![by]),
                Action::Weigh { by, net } => (json!({"type": "custody.weighed", "manifest": m, "site": "S-RECV", "ticket": "t",
                    "gross": {"amount": net + 100, "unit": "g"}, "tare": {"amount": 100, "unit": "g"}, "net": {"amount": net, "unit": "g"}, "at": "2026-11-23T09:00:00Z"}), vec![by]),
                Action::Correct { by, grams, ml } => {
                    only = Some(issuer_p);
                    (json!({"type": "manifest.corrected", "manifest": m, "version": version, "destination": "S-RECV",
                            "haulers": [id(1), id(2)], "lines": oil(grams, if ml { "ml" } else { "g" }), "reason": "re-counted"}),
                     vec![by.unwrap_or(issuer_p)])
                }
                Action::Consolidate { other } => {
                    // Most often with another load at the station (else rarely two are there).
                    let there: Vec<&String> = ms
                        .iter()
                        .filter(|n| **n != m && log.d.manifest(&n.parse().unwrap()).unwrap().status == Status::AtStation)
                        .collect();
                    let o = if there.is_empty() || other % 4 == 0 {
                        &ms[(which + other) % ms.len()]
                    } else {
                        there[other % there.len()]
                    };
                    (json!({"type": "station.consolidated", "station": id(3), "inputs": [m, o], "output": out(2000)}), vec![3])
                }
                Action::Split { first } => (json!({"type": "station.split", "station": id(3), "input": m,
                    "outputs": [out(first), out(1000 - first)]}), vec![3]),
            };
            let keys: Vec<SigningKey> = signers.iter().map(|p| pkey(*p)).collect();
            let refs: Vec<&SigningKey> = keys.iter().collect();
            let before = log.snapshot();
            let at = log.size;
            let taken = log.try_admit(body.clone(), &refs);
            match &taken {
                Err(_) => prop_assert_eq!(log.snapshot(), before, "a refusal changed the state: {}", body),
                Ok(_) => {
                    if let Some(p) = only {
                        prop_assert_eq!(signers[0], p, "taken, signed by the wrong party: {}", body);
                    }
                    for n in log.d.created_at(at).iter() {
                        ms.push(n.to_string());
                    }
                }
            }
            check_possible(&log)?;
        }
    }
}

/// The line's unit as written on the wire.
fn wire_unit(m: &super::model::Manifest) -> &'static str {
    match m.current().lines[0].quantity.unit {
        super::codes::Unit::G => "g",
        super::codes::Unit::Ml => "ml",
    }
}

/// What the rules call impossible, over every manifest.
fn check_possible(log: &Log) -> Result<(), TestCaseError> {
    let d = &log.d;
    for man in d.manifest_numbers().iter().map(|n| d.manifest(n).unwrap()) {
        let kinds: Vec<&str> = man.steps.iter().map(|s| s.kind.as_str()).collect();
        let received_at = kinds.iter().position(|k| *k == "custody.received");
        // Treated only after received, and never more than accepted.
        if let Some(t) = kinds.iter().position(|k| *k == "custody.treated") {
            prop_assert!(
                received_at.is_some_and(|r| r < t),
                "treated before received: {:?}",
                kinds
            );
        }
        for (d, a) in man.treated.iter().zip(&man.accepted) {
            prop_assert!(d.amount <= a.amount);
        }
        if matches!(
            man.status,
            Status::Received | Status::Treated | Status::Rejected
        ) {
            prop_assert!(received_at.is_some(), "{:?} without a receipt", man.status);
        }
        // A rejected load has somewhere to go.
        if man.status == Status::Rejected {
            prop_assert!(man.return_to.is_some(), "rejected, going nowhere");
        }
        // One holder: the party the last hand-over went to (or the issuer before any).
        let last_to = man.steps.iter().rev().find_map(|s| s.to.clone());
        prop_assert_eq!(&man.holder, last_to.as_ref().unwrap_or(&man.issuer));
        prop_assert!(d.parties.contains_key(&man.holder));
        if man.status == Status::Voided {
            prop_assert!(
                !kinds.contains(&"custody.handover"),
                "voided after a hand-over"
            );
            prop_assert!(man.sources.is_empty(), "a station's outgoing load voided");
        }
        // On the road: a hauler's truck, with the clock running.
        if man.status == Status::InTransit {
            prop_assert!(man.vehicle.is_some() && man.in_transit_since.is_some());
        }
        // Counts are in the lines' units once the load has moved.
        if kinds.contains(&"custody.handover") {
            for (q, l) in man.quantities.iter().zip(&man.current().lines) {
                prop_assert_eq!(q.unit, l.quantity.unit, "{}", man.number);
            }
        }
        // Consolidation and split are linked both ways, and what went on still exists.
        if matches!(man.status, Status::Consolidated | Status::Split) {
            prop_assert!(!man.onward.is_empty());
        }
        for n in &man.onward {
            let o = d.manifest(n).unwrap();
            prop_assert!(
                o.sources.contains(&man.number),
                "{} → {} not linked back",
                man.number,
                n
            );
        }
        for n in &man.sources {
            prop_assert!(
                d.manifest(n).unwrap().onward.contains(&man.number),
                "{} ← {} not linked",
                man.number,
                n
            );
        }
        // The indexes name every party and vehicle of it.
        for p in &man.parties {
            prop_assert!(d.manifests_of_party(p).contains(&man.number));
        }
        for v in &man.vehicles {
            prop_assert!(d.manifests_of_vehicle(v).contains(&man.number));
        }
    }
    Ok(())
}

/// Running out of manifest numbers is refused naming the party whose region ran out, and
/// saying so.
#[test]
fn running_out_of_manifest_numbers_names_the_issuer_and_what_ran_out() {
    let mut log = Log::new();
    log.issue_hw(1000, "S-RECV");
    log.d.set_serial(2026, "3205", 999_999);
    let before = log.snapshot();
    let err = log
        .issue()
        .haulers(&[HAUL])
        .reference("LAST")
        .try_admit(&[&pkey(0)])
        .unwrap_err();
    assert!(
        err.starts_with("field `event.generator`") && err.contains("used up"),
        "{err}"
    );
    assert_eq!(log.snapshot(), before);
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
    assert!(
        !m.contains("expected expected") && !m.contains("expected unknown"),
        "{m}"
    );
}

/// After the store fails to make a folded batch durable, the live state is not served until
/// the store replayed it from what is durable.
#[test]
fn after_a_storage_failure_the_state_is_not_read() {
    use crate::ledger::state::Rules;
    let rules = super::DomainRules::new(Catalog::builtin(), Limits::default());
    assert!(rules.read_durable().is_ok());
    rules.with_fold(&mut |_| rules.storage_failed("fsync: no space left on device"));
    let err = rules.read_durable().map(|_| ()).unwrap_err();
    assert!(err.contains("no space left"), "{err}");
    // A replay that fails keeps it refused; one that succeeds replaces the state and serves it.
    rules.reload(&mut |_| false);
    assert!(rules.read_durable().is_err());
    rules.reload(&mut |_| true);
    assert!(rules.read_durable().is_ok());
}

#[test]
fn evidence_is_pulled_by_enforcement_only_and_stays_off_the_manifests() {
    let mut log = Log::new();
    let m = log.issue_hw(1000, "S-RECV");
    let officer = uscc("MB1ENFC01");
    log.auth(json!({"type": "party.registered", "party": officer, "name": "执法支队 enforcement", "roles": ["enforcement"]}));
    let k = key(40);
    log.auth(json!({"type": "key.added", "key": PublicKey(k.verifying_key()).to_string(), "holder": officer}));
    let added = log.size - 1;
    assert_eq!(
        log.d.key_entries(&PublicKey(k.verifying_key())).unwrap(),
        super::model::KeyEntries {
            added,
            revoked: None,
            delegated_by: None,
        }
    );
    let export = |by: &str, ms: Value| {
        json!({"type": "evidence.exported", "by": by, "case": "C-1", "reason": "dumping", "manifests": ms,
               "at": "2026-11-23T08:00:00Z"})
    };
    let before = log.snapshot();
    let refused = [
        (
            export(&id(1), json!([m])),
            pkey(1),
            "field `event.by`: evidence is pulled by enforcement",
        ),
        (
            export(&officer, json!([m])),
            pkey(1),
            "field `signatures[0]`",
        ),
        (
            export(&officer, json!([m, "20263205999999"])),
            k.clone(),
            "field `event.manifests[1]`: manifest 20263205999999 does not exist",
        ),
        (
            export(&officer, json!([m, m])),
            k.clone(),
            "field `event.manifests[1]`: expected each manifest once",
        ),
        (
            export(&officer, json!([])),
            k.clone(),
            "field `event.manifests`",
        ),
    ];
    for (ev, signer, want) in refused {
        let err = log.try_admit(ev.clone(), &[&signer]).unwrap_err();
        assert!(err.starts_with(want), "{ev}: {err}");
        assert_eq!(log.snapshot(), before, "{ev}: the domain changed");
    }
    let manifest_before = serde_json::to_string(
        &log.d
            .manifest_numbers()
            .iter()
            .map(|n| log.d.manifest(n).unwrap().into_owned())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    log.admit(export(&officer, json!([m])), &[&k]);
    assert_eq!(log.d.exports().len(), 1);
    assert_eq!(log.d.exports()[0].index, log.size - 1);
    assert!(!log.d.exports()[0].by_authority);
    assert_eq!(
        serde_json::to_string(
            &log.d
                .manifest_numbers()
                .iter()
                .map(|n| log.d.manifest(n).unwrap().into_owned())
                .collect::<Vec<_>>()
        )
        .unwrap(),
        manifest_before,
        "an export is not a step of the manifests it pulls"
    );
    // The authority pulls for an agency.
    let mut again = export(&officer, json!([m]));
    again["case"] = json!("C-2");
    log.auth(again);
    assert!(log.d.exports()[1].by_authority);
    // ... but only for an agency: the record names who pulled, so `by` must be a registered
    // enforcement or inspection party whoever signs.
    let before = log.snapshot();
    for (by, want) in [
        (id(1), "field `event.by`: evidence is pulled by enforcement"),
        (uscc("MB1NEWAG1"), "field `event.by`"),
    ] {
        let err = log.try_auth(export(&by, json!([m]))).unwrap_err();
        assert!(err.starts_with(want), "{by}: {err}");
        assert_eq!(log.snapshot(), before);
    }
    // At most MAX_EXPORT_MANIFESTS manifests in one pull.
    let many: Vec<String> = (0..=super::fold::MAX_EXPORT_MANIFESTS)
        .map(|_| m.to_string())
        .collect();
    let err = log
        .try_admit(export(&officer, json!(many)), &[&k])
        .unwrap_err();
    assert!(
        err.starts_with("field `event.manifests`: expected at most 1000"),
        "{err}"
    );
    assert_eq!(log.snapshot(), before);
}

#[test]
fn a_person_is_registered_once_by_their_party_and_named_by_id_on_every_hand_over() {
    let mut log = Log::new();
    let person = |n: u8| {
        super::personal::commit(&[n; 32], "张建国")
            .as_str()
            .to_string()
    };
    let reg = |p: &str, party: usize| json!({"type": "person.registered", "person": p, "party": id(party), "role": "driver"});
    // Another party cannot register a person for the hauler; the hauler can, and only once.
    let err = log.try_admit(reg(&person(1), 1), &[&pkey(0)]).unwrap_err();
    assert!(err.contains("signatures[0]"), "{err}");
    log.admit(reg(&person(1), 1), &[&pkey(1)]);
    let err = log.try_auth(reg(&person(1), 2)).unwrap_err();
    assert!(
        err.contains("event.person") && err.contains("registered already"),
        "{err}"
    );
    // The authority registers hauler B's driver for it (the same name, its own salt).
    log.auth(reg(&person(2), 2));
    // A hand-over naming an id nobody registered, or both forms, is refused and changes nothing.
    let m = log.issue_hw(1000, "S-RECV");
    let before_hand = log.snapshot();
    let mut h = log.hand(&m, 0, 1, 1000).vehicle(TRUCK).body();
    h["driver_id"] = json!("ab".repeat(32));
    let err = log.try_admit(h.clone(), &[&pkey(0), &pkey(1)]).unwrap_err();
    assert!(
        err.contains("event.driver_id") && err.contains("not a registered person"),
        "{err}"
    );
    h["driver_id"] = json!(person(1));
    h["driver"] = json!(person(1));
    let err = log.try_admit(h.clone(), &[&pkey(0), &pkey(1)]).unwrap_err();
    assert!(err.contains("event.driver"), "{err}");
    assert_eq!(log.snapshot(), before_hand);
    // Named by id: logged, posted under the id; hauler B's driver on hauler A's truck is flagged.
    h.as_object_mut().unwrap().remove("driver");
    h["driver_id"] = json!(person(2));
    log.admit(h, &[&pkey(0), &pkey(1)]);
    let man = log.d.manifest(&m.parse().unwrap()).unwrap();
    assert_eq!(man.flags.len(), 1, "{:?}", man.flags);
    assert_eq!(man.flags[0].kind, FlagKind::ForeignDriver);
    assert!(
        man.flags[0].detail.contains(&id(2)),
        "{}",
        man.flags[0].detail
    );
    // A log made before persons were registered: the per-load commitment is still admitted.
    let m2 = log.issue_hw(1000, "S-RECV");
    let mut old = log.hand(&m2, 0, 1, 1000).vehicle(TRUCK).body();
    old["driver"] = json!("cd".repeat(32));
    log.admit(old, &[&pkey(0), &pkey(1)]);
}

/// A log made under the first rulebook replays as it was judged (no bound on the times the
/// parties give); a new log bounds them (at most 24 h after the log's time).
#[test]
fn a_log_of_the_first_rulebook_is_judged_as_it_was_and_a_new_one_bounds_the_times_given() {
    for (rules, taken) in [(super::RULEBOOK_V1, true), (RULEBOOK, false)] {
        let mut log = Log::with_rulebook(rules);
        let insp = uscc("MA1BUREA1");
        log.auth(json!({"type": "party.registered", "party": insp, "name": "bureau", "roles": ["inspector"]}));
        log.auth(json!({"type": "key.added", "key": PublicKey(key(40).verifying_key()).to_string(), "holder": insp}));
        let late = json!({"type": "inspection.recorded", "inspector": insp, "site": "S-PLANT",
                          "at": "9999-12-31T00:00:00Z", "verdict": "pass", "findings": "typed in late"});
        let r = log.try_admit(late, &[&key(40)]);
        assert_eq!(r.is_ok(), taken, "{rules}: {r:?}");
    }
}

#[test]
fn a_delegated_device_key_signs_for_its_party_until_not_after_or_revocation() {
    let mut log = Log::new();
    let phone = key(60);
    let device = PublicKey(phone.verifying_key());
    let driver = "ab".repeat(32);
    log.admit(
        json!({"type": "person.registered", "person": driver, "party": id(1), "role": "driver"}),
        &[&pkey(1)],
    );
    let delegation = |person: Option<&str>| {
        let mut d = json!({"type": "key.delegated", "key": device.to_string(), "holder": id(0),
                           "label": "driver 1", "not_after": "2026-11-24T00:00:00Z"});
        if let Some(p) = person {
            d["person"] = json!(p);
        }
        d
    };
    // A person of another party, or none registered: refused, nothing changed.
    let before = log.snapshot();
    let err = log
        .try_admit(delegation(Some(&driver)), &[&pkey(0)])
        .unwrap_err();
    assert!(
        err.contains("event.person") && err.contains(&id(1)),
        "{err}"
    );
    let err = log
        .try_admit(delegation(Some(&"cd".repeat(32))), &[&pkey(0)])
        .unwrap_err();
    assert!(err.contains("is not a registered person"), "{err}");
    assert_eq!(log.snapshot(), before);
    assert!(
        !log.state.keys.contains_key(&device),
        "the ledger's registry put back"
    );
    log.admit(delegation(None), &[&pkey(0)]);
    let at = log.size - 1;
    assert_eq!(log.d.key_entries(&device).unwrap().added, at);
    assert_eq!(
        log.d.key_entries(&device).unwrap().delegated_by,
        Some(PublicKey(pkey(0).verifying_key()))
    );
    let t = |ms: u64| Timestamp::from_unix_millis(ms);
    let plant = party(PLANT);
    assert_eq!(
        log.d.party_of_at(&device, t(T0 + HOUR)),
        Some(plant.clone())
    );
    assert_eq!(
        log.d.party_of_at(&device, t(T0 + 24 * HOUR)),
        None,
        "expired"
    );
    // The phone signs the plant's issue (a step only the plant's keys sign).
    let made = log.d.manifest_count();
    log.issue()
        .haulers(&[HAUL])
        .reference("PHONE-1")
        .lines(json!([{"code": "900-249-08", "name": "废矿物油", "form": "liquid", "hazards": ["T"], "quantity": {"amount": 5, "unit": "g"}}]))
        .try_admit(&[&phone])
        .unwrap();
    assert_eq!(log.d.manifest_count(), made + 1);
    // A hand-over needs both parties: the phone signs for the plant, not for the hauler.
    let m = log.issue_hw(1000, "S-RECV");
    let err = log
        .hand(&m, 0, 1, 1000)
        .vehicle(TRUCK)
        .try_admit(&[&phone])
        .unwrap_err();
    assert!(err.contains(&id(1)), "{err}");
    log.hand(&m, 0, 1, 1000)
        .vehicle(TRUCK)
        .try_admit(&[&phone, &pkey(1)])
        .unwrap();
    // Revoked by the plant's key: no longer the plant's from the effective time.
    log.admit(
        json!({"type": "key.revoked", "key": device.to_string(), "effective": "2026-11-23T06:00:00Z", "reason": "lost"}),
        &[&pkey(0)],
    );
    assert_eq!(
        log.d.party_of_at(&device, t(T0 + HOUR)),
        Some(plant.clone())
    );
    assert_eq!(log.d.party_of_at(&device, t(T0 + 6 * HOUR)), None);
}

#[test]
fn who_may_see_a_manifest_a_party_s_business_a_hand_over_and_an_anomaly() {
    use super::access::{Access, Named};
    use super::codes::{ManifestNumber, Plate};
    use super::events::Role;
    let mut log = Log::new();
    let m = log.issue_hw(1000, "S-RECV");
    let u = party;
    let d = log.query();
    let man = d.manifest(&m.parse().unwrap()).unwrap();
    // Who oversees sees all; a party what it is party to; the public nothing in full.
    assert_eq!(Access::of_party(&u(3), &[Role::Inspector]), Access::All);
    assert_eq!(
        Access::of_party(&u(3), &[Role::Station]),
        Access::Party(u(3))
    );
    assert!(Access::All.may_see_manifest(&man));
    assert!(Access::Party(u(0)).may_see_manifest(&man), "its issuer");
    assert!(
        Access::Party(u(1)).may_see_manifest(&man),
        "a planned hauler"
    );
    assert!(
        !Access::Party(u(3)).may_see_manifest(&man),
        "a station not on it"
    );
    assert!(!Access::Public.may_see_manifest(&man));
    // A party's own business: its own and those who see all.
    assert!(Access::Party(u(1)).may_see_business_of(&u(1)));
    assert!(!Access::Party(u(2)).may_see_business_of(&u(1)));
    assert!(Access::All.may_see_business_of(&u(1)));
    assert!(!Access::Public.may_see_business_of(&u(1)));
    // A half-signed hand-over: its giver and taker.
    let (from, to) = (id(0), id(1));
    let half = |a: &Access| a.may_see_handover(Some(&from), Some(&to));
    assert!(half(&Access::Party(u(0))) && half(&Access::Party(u(1))) && half(&Access::All));
    assert!(!half(&Access::Party(u(2))) && !half(&Access::Public));
    // An anomaly: a party sees it when it is party to every manifest it names, or when it
    // is about its own vehicle, site or self.
    // Another load, carried by hauler B only.
    let other = log
        .issue()
        .haulers(&[HAUL_B])
        .reference("OTHER")
        .lines(oil(5, "g"))
        .admit();
    let d = log.query();
    let ours = [m.parse::<ManifestNumber>().unwrap()];
    let both = [ours[0].clone(), other];
    let truck = [Plate::parse("苏E12345").unwrap()];
    let site = ["S-STATION".to_string()];
    let none = Named {
        manifests: &[],
        vehicles: &[],
        sites: &[],
        parties: &[],
    };
    let sees = |a: Access, n: Named| a.may_see_anomaly(d, n);
    let on = |ms| Named {
        manifests: ms,
        ..none
    };
    assert!(sees(Access::Party(u(1)), on(&ours)));
    assert!(
        !sees(Access::Party(u(1)), on(&both)),
        "one load is not hauler A's"
    );
    assert!(
        sees(Access::Party(u(0)), on(&both)),
        "the plant issued both"
    );
    assert!(!sees(Access::Party(u(3)), on(&ours)));
    assert!(sees(Access::All, on(&both)));
    assert!(!sees(Access::Public, on(&ours)));
    let of_truck = Named {
        vehicles: &truck,
        ..none
    };
    assert!(sees(Access::Party(u(1)), of_truck), "hauler A's truck");
    assert!(!sees(Access::Party(u(2)), of_truck));
    let of_site = Named {
        sites: &site,
        ..none
    };
    assert!(sees(Access::Party(u(3)), of_site), "the station's site");
    assert!(!sees(Access::Party(u(4)), of_site));
    let of_party = [u(4)];
    assert!(sees(
        Access::Party(u(4)),
        Named {
            parties: &of_party,
            ..none
        }
    ));
    assert!(!sees(
        Access::Party(u(0)),
        Named {
            parties: &of_party,
            ..none
        }
    ));
}

/// The sequencer's fold names what each entry created, for the entry's receipt: a split's two
/// new manifests (each of them made from the input), an issue's one, a hand-over's none.
#[test]
fn the_receipt_of_a_split_names_both_new_manifests() {
    use crate::ledger::state::Fold;
    let mut log = Log::new();
    let m = log.picked_up(1000);
    log.hand(&m, 1, 3, 1000).admit();
    let at = log.split(&m, &[out(400), out(600)]);
    let fold = &log.d;
    let created = fold.created(at);
    assert_eq!(created.len(), 2, "{created:?}");
    assert_ne!(created[0], created[1]);
    assert!(fold.created(at - 1).is_empty(), "a hand-over creates none");
    assert_eq!(fold.created(at - 3), vec![m.clone()], "the issue's own");
    for n in &created {
        let made = log.d.manifest(&n.parse().unwrap()).unwrap();
        assert_eq!(made.sources, vec![m.parse().unwrap()], "{n}");
    }
}

/// Real bodies of three kinds: `type` is the last member of two, and in the middle of the
/// hand-over (before `vehicle`).
fn bodies() -> Vec<(&'static str, Value)> {
    let log = Log::new();
    let m = "20260001000001";
    vec![
        (
            "manifest.issued",
            json!({"type": "manifest.issued", "reference": "R1", "stream": "hazardous",
            "generator": id(PLANT), "origin": "S-PLANT", "destination": "S-RECV",
            "haulers": [id(HAUL), id(HAUL_B)], "lines": oil(1000, "g")}),
        ),
        (
            "custody.handover",
            json!({"type": "custody.handover", "manifest": m, "from": id(PLANT),
            "to": id(HAUL), "vehicle": TRUCK, "site": "S-PLANT", "at": log.now(),
            "lines": [{"line": 0, "quantity": {"amount": 1000, "unit": "g"}}]}),
        ),
        (
            "vehicle.track",
            json!({"type": "vehicle.track", "plate": TRUCK,
            "points": [{"at": log.now(), "lat_e6": 31_385_712, "lon_e6": 120_958_000}]}),
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]
    /// An event's body is read straight into its type (`DomainEvent::parse`: the canonical bytes
    /// without `type`, no JSON value built), and whatever that reads is what the slow reading
    /// (a JSON value, then the type with the field's path tracked) makes of it: under test,
    /// every body read straight is read the slow way too, and must come out the same. Here for
    /// real bodies with one byte changed anywhere (a digit, a letter of a code, a quote, a
    /// comma), which the two must take alike or refuse alike.
    #[test]
    fn an_event_read_straight_is_what_the_slow_reading_makes_of_it(
        which in 0usize..3, at in any::<usize>(), how in any::<u8>(), with in any::<u8>()
    ) {
        use super::events::DomainEvent;
        use crate::ledger::canonical::{tests::mutate, to_canonical, without_member};
        let (event_type, body) = &bodies()[which];
        let bytes = to_canonical(body);
        prop_assert!(DomainEvent::parse(event_type, &bytes).is_ok());
        prop_assert!(
            matches!(without_member(&bytes, "type"), Some(std::borrow::Cow::Owned(_))),
            "read straight"
        );
        let changed = mutate(&bytes, at, how, with);
        let _ = DomainEvent::parse(event_type, &changed);
    }
}

/// What an audit compares with the stored read model (`Fold::whole_state`) is the state the
/// store holds, value for value once unpacked: the same keys in the same order, a long value
/// (a manifest's record) as encoded, not compressed, the others the same bytes. Taking it
/// forgets nothing.
#[test]
fn the_whole_state_an_audit_compares_is_the_stored_state_unpacked() {
    use crate::ledger::state::Fold;
    let mut log = Log::new();
    for grams in [1000, 2000, 3000] {
        let m = log.issue_hw(grams, "S-RECV");
        log.pickup(&m, TRUCK, grams);
    }
    let stored = log.d.stored_pairs();
    let whole: Vec<(Vec<u8>, Vec<u8>)> = log
        .d
        .whole_state()
        .changes
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
    let keys = |p: &[(Vec<u8>, Vec<u8>)]| p.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&whole), keys(&stored));
    let mut packed = 0;
    for ((k, s), (_, w)) in stored.iter().zip(&whole) {
        let unpacked = super::value::unpack(s).unwrap();
        assert_eq!(unpacked.as_ref(), w.as_slice(), "at key {}", hex::encode(k));
        packed += usize::from(s != w);
    }
    assert!(packed >= 3, "the manifests' records are stored compressed");
    assert_eq!(log.d.stored_pairs(), stored, "nothing forgotten");
}

/// A site's operating licences that cover a line, in the order granted: any one that covers the
/// time will do; else the last one's lapse is said (not an earlier one's); a party with none
/// that covers the line holds no licence for its code. (These words are stored in the read
/// model's flags: a change of them is a change of every stored model.)
#[test]
fn a_missing_licence_names_the_last_one_covering_the_line_or_that_none_is_held() {
    use super::events::{Line, Stream};
    let mut log = Log::new();
    let t = |s: &str| Timestamp::parse(s).unwrap();
    let line: Line = serde_json::from_value(oil(1000, "g")[0].clone()).unwrap();
    let recv = party(RECV);
    let licensed =
        |log: &Log, who: &Uscc, at: &str| log.d.licensed(who, Stream::Hazardous, &line, t(at));
    assert_eq!(
        licensed(&log, &recv, "2027-01-01T00:00:00Z"),
        Ok(()),
        "LR covers"
    );
    assert_eq!(
        licensed(&log, &recv, "2031-01-01T00:00:00Z"),
        Err("licence LR expired 2030-01-01T00:00:00.000Z".to_string())
    );

    // A second licence covering the line, valid only from 2032; then one that does not cover
    // it (construction waste): in 2031 the second's is the lapse said; from 2032 it covers.
    log.auth(
        json!({"type": "licence.granted", "licence": "LR2", "party": id(RECV),
                    "kind": "hw_operating", "categories": ["HW08"],
                    "valid_from": "2032-01-01T00:00:00Z", "valid_until": "2040-01-01T00:00:00Z"}),
    );
    log.auth(
        json!({"type": "licence.granted", "licence": "LR3", "party": id(RECV),
                    "kind": "cw_disposal", "cw_types": ["excavated_soil"],
                    "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2021-01-01T00:00:00Z"}),
    );
    assert_eq!(
        licensed(&log, &recv, "2031-01-01T00:00:00Z"),
        Err("licence LR2 is valid only from 2032-01-01T00:00:00.000Z".to_string())
    );
    assert_eq!(
        licensed(&log, &recv, "2033-01-01T00:00:00Z"),
        Ok(()),
        "LR2 covers"
    );

    // The hauler holds a transport licence, which is no licence to take the waste in.
    let haul = party(HAUL);
    assert_eq!(
        licensed(&log, &haul, "2027-01-01T00:00:00Z"),
        Err(format!("{haul} holds no licence for code 900-249-08"))
    );
}

/// A hauler's transport licences of the stream's kind, in the order granted: any one that
/// covers the time will do; else the first one's lapse is said (not a later one's); a hauler
/// with none of that kind holds none.
#[test]
fn a_haulers_permit_problem_names_the_first_licence_of_its_kind_or_that_it_holds_none() {
    use super::codes::Plate;
    use super::events::Stream;
    let mut log = Log::new();
    let t = |s: &str| Timestamp::parse(s).unwrap();
    let (haul, truck): (Uscc, Plate) = (party(HAUL), TRUCK.parse().unwrap());
    let of_hauler = |log: &Log, at: &str| -> Vec<String> {
        log.d
            .permit_problems(&haul, &truck, Stream::Hazardous, t(at))
            .into_iter()
            .filter(|p| p.starts_with("hauler "))
            .collect()
    };
    assert!(
        of_hauler(&log, "2027-01-01T00:00:00Z").is_empty(),
        "LA covers"
    );
    let lapsed = of_hauler(&log, "2031-01-01T00:00:00Z");
    assert_eq!(lapsed.len(), 1, "{lapsed:?}");
    assert!(
        lapsed[0].starts_with(&format!("hauler {haul}: ")),
        "{lapsed:?}"
    );

    // A second licence of the kind, valid only from 2032: in 2031 the first's lapse is still
    // the one said; from 2032 the second covers.
    log.auth(
        json!({"type": "licence.granted", "licence": "LA2", "party": id(HAUL),
                    "kind": "hw_transport", "valid_from": "2032-01-01T00:00:00Z",
                    "valid_until": "2040-01-01T00:00:00Z"}),
    );
    assert_eq!(of_hauler(&log, "2031-01-01T00:00:00Z"), lapsed);
    assert!(
        of_hauler(&log, "2033-01-01T00:00:00Z").is_empty(),
        "LA2 covers"
    );

    // The muck hauler holds a construction-waste transport licence only.
    let muck = party(MUCK);
    let none = log.d.permit_problems(
        &muck,
        &MUCK_TRUCK.parse().unwrap(),
        Stream::Hazardous,
        t("2027-01-01T00:00:00Z"),
    );
    assert!(
        none.contains(&format!("hauler {muck} holds no hw_transport licence")),
        "{none:?}"
    );
}
