//! The store and the domain decide what a hand-over signed by one party becomes, without HTTP:
//! the half is kept beside the log (signatures checked), the countersigned whole is logged, and
//! the half then waits no more.

use std::sync::Arc;
use wasteledger::bench::domain::City;
use wasteledger::domain::catalog::Catalog;
use wasteledger::domain::model::{Limits, Status};
use wasteledger::domain::{DomainRules, RULEBOOK};
use wasteledger::ledger::event::SignedEvent;
use wasteledger::store::{Config, Genesis, Ledger, SubmitError, SystemClock, Taken};

fn take(ledger: &Ledger, event: SignedEvent) -> Result<Taken, SubmitError> {
    actix_web::rt::System::new().block_on(ledger.submit_or_wait(event))
}

#[test]
fn a_half_is_kept_its_countersigned_whole_is_logged_and_the_half_waits_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let city = City::new(ed25519_dalek::SigningKey::from_bytes(&[1; 32]));
    let log_key = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
    let rules = DomainRules::new(Catalog::builtin(), Limits::default());
    let genesis = Genesis::new("test/pending", log_key, &city.authority, Some(RULEBOOK)).unwrap();
    let ledger = Ledger::create(
        dir.path(),
        Config::default(),
        genesis,
        Arc::new(rules.clone()),
        Arc::new(SystemClock),
    )
    .unwrap();
    for r in ledger.append_all(city.registry()) {
        r.unwrap();
    }
    // The receipt names the manifest the issue created: the one the domain then serves.
    let Taken::Logged(issued) = take(&ledger, city.issue(0)).unwrap() else {
        panic!("an issue is logged")
    };
    let [number] = &issued.created[..] else {
        panic!("one manifest: {:?}", issued.created)
    };
    let served = rules
        .read()
        .manifest(&number.parse().unwrap())
        .unwrap()
        .into_owned();
    assert_eq!(served.reference.as_deref(), Some("BENCH-0"));
    assert_eq!(served.status, Status::Issued);

    let (plant_id, hauler_id, _, _) = city.cast_ids(0);
    let plant = city.plants.iter().find(|a| a.id == plant_id).unwrap();
    let hauler = city.haulers.iter().find(|a| a.id == hauler_id).unwrap();
    let pickup = city.lifecycle(0, number)[0].event().clone();
    let half = SignedEvent::sign(pickup.into(), &[&plant.key]).unwrap();
    let size = ledger.size();

    // A half whose signature does not verify is not kept.
    let mut forged = half.to_bytes();
    let at = String::from_utf8_lossy(&forged)
        .rfind("\"sig\":\"")
        .unwrap()
        + 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = SignedEvent::parse(&forged).unwrap();
    assert!(
        matches!(take(&ledger, forged), Err(SubmitError::Signature(_))),
        "a forged half is refused"
    );
    assert!(ledger.waiting_of(number).unwrap().is_empty());

    // The half waits, for the hauler, under its manifest; the log has not grown.
    let Taken::Waiting(w) = take(&ledger, half.clone()).unwrap() else {
        panic!("a half waits")
    };
    assert_eq!((&w.group, &w.waiting_for), (number, &hauler_id));
    assert_eq!(w.hash, half.event_hash());
    assert_eq!(ledger.size(), size);
    assert_eq!(ledger.waiting_of(number).unwrap(), vec![w.hash]);
    assert_eq!(
        ledger.pending_by_hash(&w.hash).unwrap(),
        Some(half.to_bytes())
    );
    // The same half again is kept once.
    assert!(matches!(take(&ledger, half.clone()), Ok(Taken::Waiting(_))));
    assert_eq!(ledger.waiting_of(number).unwrap().len(), 1);

    // The hauler countersigns: the whole is logged, and the half waits no more.
    let mut whole = SignedEvent::parse(&ledger.pending_by_hash(&w.hash).unwrap().unwrap()).unwrap();
    whole.add_signature(&hauler.key);
    let Taken::Logged(r) = take(&ledger, whole.clone()).unwrap() else {
        panic!("a countersigned hand-over is logged")
    };
    assert_eq!((r.index, ledger.size()), (size, size + 1));
    assert!(r.created.is_empty(), "a hand-over creates no manifest");
    assert!(ledger.waiting_of(number).unwrap().is_empty());
    assert_eq!(ledger.event_index(&w.hash).unwrap(), Some(r.index));
    let m = rules
        .read()
        .manifest(&number.parse().unwrap())
        .unwrap()
        .into_owned();
    assert_eq!(
        (m.status, m.holder.to_string()),
        (Status::InTransit, hauler_id)
    );
    // Sent again, it is a replay, and the half is not kept again.
    assert_eq!(
        take(&ledger, whole).unwrap_err(),
        SubmitError::Replay { index: r.index }
    );
    assert_eq!(
        take(&ledger, half).unwrap_err(),
        SubmitError::Replay { index: r.index }
    );
    assert!(ledger.waiting_of(number).unwrap().is_empty());
}
