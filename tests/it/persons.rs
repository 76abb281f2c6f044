//! One identity per driver (issue 12): a hauler registers its driver once (`person register`),
//! every hand-over names that id, and search links all of the driver's loads, by the id for
//! anyone who may search, by the name for those who may read names; an erased name is no
//! longer found, but the id still links the loads and the log still audits.

use crate::party_cli::{issued, keygen, manifest_json, setup, Field};
use crate::support::run;
use crate::world::uscc;
use serde_json::{json, Value};

/// `person register` as `who` for its party: the id it prints.
pub(crate) fn register_driver(f: &Field, who: &str, name: &str) -> String {
    let party = match who {
        "hauler" => f.hauler.clone(),
        _ => uscc("MA1HAUL02"),
    };
    let out = f.ok(who, "person register", &["--party", &party, "--name", name]);
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("person "))
        .unwrap_or_else(|| panic!("no id in:\n{out}"))
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{out}");
    id
}

/// An inspector and a second hauler, registered by the authority.
fn more_parties(f: &Field) {
    let mut events = Vec::new();
    for (who, id, role) in [
        ("inspector", uscc("MA1NPCT01"), "inspector"),
        ("hauler2", uscc("MA1HAUL02"), "hauler"),
    ] {
        let pk = keygen(&f.dir, who);
        events.push(json!({"type": "party.registered", "party": id, "name": who, "roles": [role]}));
        events.push(json!({"type": "key.added", "key": pk, "holder": id}));
    }
    let file = f.write("more.json", &serde_json::to_string(&events).unwrap());
    f.ok("authority", "register", &[&file]);
}

/// `giver` signs a hand-over into a file (with `extra` flags), `taker` countersigns it.
fn hand_over(f: &Field, giver: &str, taker: &str, m: &str, to: &str, extra: &[&str]) -> String {
    let half = f.path(&format!("{m}-{giver}.json"));
    let mut args = vec!["--manifest", m, "--to", to, "--out", &half];
    args.extend_from_slice(extra);
    let out = f.ok(giver, "handover", &args);
    f.ok(taker, "countersign", &[&half]);
    out
}

/// The plant issues a load of waste oil: its number.
fn issue(f: &Field, reference: &str) -> String {
    let file = f.write(
        &format!("{reference}.json"),
        &manifest_json(f, reference, "900-249-08"),
    );
    issued(&f.ok("plant", "issue", &[&file]))
}

/// The manifest numbers a `search` printed, in order.
fn found(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.len() == 14 && w.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_driver_registered_once_is_linked_across_loads_by_id_and_by_name_until_the_name_is_erased() {
    let f = setup();
    more_parties(&f);
    let driver = register_driver(&f, "hauler", "张建国");
    // The registration is in the log; the name is not.
    let entries = f.ok("authority", "audit", &[]);
    assert!(entries.contains("ok"), "{entries}");

    // Two loads: the plant names the driver by id on the first; the hauler names its own
    // driver by name on the second (looked up among the persons it registered).
    let m1 = issue(&f, "CK-1");
    let m2 = issue(&f, "CK-2");
    hand_over(
        &f,
        "plant",
        "hauler",
        &m1,
        &f.hauler.clone(),
        &["--vehicle", "苏E12345", "--driver", &driver],
    );
    hand_over(
        &f,
        "plant",
        "hauler",
        &m2,
        &f.hauler.clone(),
        &["--vehicle", "苏E12345"],
    );
    let out = hand_over(
        &f,
        "hauler",
        "receiver",
        &m2,
        &f.receiver.clone(),
        &["--site", "S-DISPOSAL", "--driver-name", "张建国"],
    );
    assert!(out.contains(&driver), "the name resolved to the id: {out}");
    let text = std::fs::read_to_string(f.path(&format!("{m2}-hauler.json"))).unwrap();
    assert!(!text.contains("张建国"), "no name in the event: {text}");

    // By the id: both loads, for the inspector and for the hauler (its own loads).
    for who in ["inspector", "hauler"] {
        let out = f.ok(who, "search", &["--driver", &driver]);
        let mut got = found(&out);
        got.sort();
        assert_eq!(got, vec![m1.clone(), m2.clone()], "as {who}:\n{out}");
    }
    // By the name: the inspector finds both; the hauler that registered the driver too.
    for who in ["inspector", "hauler"] {
        let out = f.ok(who, "search", &["--driver-name", "张建国"]);
        assert!(out.contains(&format!("driver {driver} (张建国)")), "{out}");
        let mut got = found(&out);
        got.sort();
        assert_eq!(got, vec![m1.clone(), m2.clone()], "as {who}:\n{out}");
    }
    // Another hauler reads no names but those it lodged: it finds no such person, nor the name.
    let (ok, out) = f.as_("hauler2", "search", &["--driver-name", "张建国"]);
    assert!(!ok && out.contains("no registered person named"), "{out}");
    let (ok, out) = f.as_("hauler2", "personal show", &[&driver]);
    assert!(!ok && out.contains("403"), "{out}");
    let out = f.ok("inspector", "personal show", &[&driver]);
    assert!(out.contains("driver_name 张建国"), "{out}");

    // The authority erases the name: no longer found by name, still linked by id, log audits.
    let (ok, out) = f.as_("hauler", "personal erase", &[&driver]);
    assert!(
        !ok && out.contains("403"),
        "only the authority erases: {out}"
    );
    f.ok("authority", "personal erase", &[&driver]);
    let (ok, out) = f.as_("inspector", "search", &["--driver-name", "张建国"]);
    assert!(!ok && out.contains("no registered person named"), "{out}");
    let out = f.ok("inspector", "personal show", &[&driver]);
    assert!(out.contains("erased at"), "{out}");
    let mut got = found(&f.ok("inspector", "search", &["--driver", &driver]));
    got.sort();
    assert_eq!(got, vec![m1, m2]);
    let out = f.ok("authority", "audit", &[]);
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn a_hand_over_naming_an_unregistered_or_unknown_driver_is_refused_naming_the_field() {
    let f = setup();
    more_parties(&f);
    let m = issue(&f, "CK-1");
    let stranger = "ab".repeat(32);
    let (ok, out) = f.as_(
        "plant",
        "handover",
        &[
            "--manifest",
            &m,
            "--to",
            &f.hauler,
            "--vehicle",
            "苏E12345",
            "--driver",
            &stranger,
        ],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("event.driver_id") && out.contains("not a registered person"),
        "{out}"
    );
    // By name, the plant knows no driver it did not register.
    register_driver(&f, "hauler", "张建国");
    let (ok, out) = f.as_(
        "plant",
        "handover",
        &[
            "--manifest",
            &m,
            "--to",
            &f.hauler,
            "--driver-name",
            "张建国",
        ],
    );
    assert!(
        !ok && out.contains("--driver-name: no registered person"),
        "{out}"
    );
}

#[test]
fn persons_are_registered_by_their_party_once_and_a_foreign_driver_is_flagged() {
    let f = setup();
    more_parties(&f);
    // The plant cannot register a person for the hauler.
    let (ok, out) = f.as_(
        "plant",
        "person register",
        &["--party", &f.hauler, "--name", "李四"],
    );
    assert!(
        !ok && out.contains(&format!("only {} sign it", f.hauler)),
        "{out}"
    );
    // An escort with a licence number: both committed to, both lodged beside the log.
    let out = f.ok(
        "hauler2",
        "person register",
        &[
            "--party",
            &uscc("MA1HAUL02"),
            "--name",
            "赵六",
            "--role",
            "escort",
            "--licence",
            "A1234567",
        ],
    );
    let licence = out
        .lines()
        .find_map(|l| l.strip_prefix("licence "))
        .unwrap_or_else(|| panic!("{out}"));
    let shown = f.ok("inspector", "personal show", &[licence]);
    assert!(shown.contains("driver_licence A1234567"), "{shown}");
    // The second hauler's driver, named on a load between the plant and the first hauler: the
    // hand-over is logged, and flagged.
    let other = register_driver(&f, "hauler2", "王五");
    let m = issue(&f, "CK-1");
    hand_over(
        &f,
        "plant",
        "hauler",
        &m,
        &f.hauler.clone(),
        &["--vehicle", "苏E12345", "--driver", &other],
    );
    let a = f
        .server
        .client()
        .get_signed(
            &format!("/v1/manifests/{m}"),
            &wasteledger::keyfile::read(std::path::Path::new(&f.path("inspector.pem"))).unwrap(),
        )
        .unwrap();
    let v: Value = a.json().unwrap();
    let flags: Vec<&Value> = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "foreign_driver")
        .collect();
    assert_eq!(flags.len(), 1, "{v}");
    assert!(
        flags[0]["detail"]
            .as_str()
            .unwrap()
            .contains(&uscc("MA1HAUL02")),
        "{v}"
    );
    // The id is taken: registering it again, even by the authority for another party, is
    // refused (a person working for two hauliers is registered by each, under its own salt).
    let body =
        json!({"type": "person.registered", "person": other, "party": f.hauler, "role": "driver"});
    let file = f.write("again.json", &body.to_string());
    let (ok, out) = run(&[
        "submit",
        "--server",
        &f.server.url,
        "--key",
        &f.path("log.authority.pem"),
        &file,
    ]);
    assert!(!ok && out.contains("registered already"), "{out}");
}

#[test]
fn search_by_name_over_http_needs_a_signed_reader() {
    let f = setup();
    let a = f
        .server
        .client()
        .get(&format!(
            "/v1/search?driver_name={}",
            wasteledger::client::encode("张建国")
        ))
        .unwrap();
    assert_eq!(a.status, 401, "{}", a.body);
    let a = f.server.client().get("/v1/persons?name=x").unwrap();
    assert_eq!(a.status, 401, "{}", a.body);
}

/// How long a search by name takes with many registered persons: the server reads the lodged
/// record of each. `cargo test --release --test it name_search_cost -- --ignored --nocapture`
#[test]
#[ignore]
fn name_search_cost_with_thousands_of_registered_persons() {
    use crate::world::{ok, World};
    use wasteledger::domain::personal::commit;
    const N: u32 = 5000;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let t = std::time::Instant::now();
    std::thread::scope(|s| {
        for part in 0..8u32 {
            let w = &w;
            s.spawn(move || {
                for i in (part..N).step_by(8) {
                    let name = format!("司机{i}");
                    let salt: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(name.as_bytes()).into();
                    let c = commit(&salt, &name);
                    let body = json!({"type": "person.registered", "person": c, "party": w.hauler_a.id, "role": "driver"});
                    ok(&w.c, body, &[&w.hauler_a.key]);
                    let d = json!({"kind": "driver_name", "value": name, "salt": hex::encode(salt)});
                    let a = w
                        .c
                        .signed("POST", "/v1/personal", d.to_string().as_bytes(), &w.hauler_a.key)
                        .unwrap();
                    assert_eq!(a.status, 201, "{}", a.body);
                }
            });
        }
    });
    eprintln!("{N} persons registered and lodged in {:?}", t.elapsed());
    let path = format!(
        "/v1/persons?name={}",
        wasteledger::client::encode("司机4999")
    );
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = std::time::Instant::now();
        let a = w.c.get_signed(&path, &w.bureau.key).unwrap();
        times.push(t.elapsed());
        assert_eq!(a.json().unwrap()["persons"].as_array().unwrap().len(), 1);
    }
    times.sort();
    eprintln!(
        "name look-up among {N} persons: median {:?}, max {:?}",
        times[10], times[19]
    );
}
