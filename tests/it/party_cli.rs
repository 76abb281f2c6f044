//! The parties' commands against the real server, as people in the field use them: the
//! authority registers from a file, the plant issues from JSON and TOML, hand-overs are signed
//! by one party and completed by the other (from a file, from the log's pending list, or made
//! with no network at all), the receiver weighs, receives with a partial rejection and treats;
//! each mistake a person makes is answered with what is wrong and what to do; and times and
//! line numbers are typed and read as people in Kunshan do (dates, China Standard Time, lines
//! counted from 1).

use crate::support::{run, Server};
use crate::world::uscc;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use wasteledger::ledger::time::Timestamp;

const PLATE: &str = "苏E12345";

/// A log with a plant, a hauler and a receiver registered through `wasteledger register`.
pub(crate) struct Field {
    _dir: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) server: Server,
    pub(crate) plant: String,
    pub(crate) hauler: String,
    pub(crate) receiver: String,
}

impl Field {
    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    fn key(&self, who: &str) -> String {
        self.path(&format!("{who}.pem"))
    }

    /// Run a command as `who` (a key file name) against the server.
    pub(crate) fn as_(&self, who: &str, cmd: &str, args: &[&str]) -> (bool, String) {
        let (cmd, sub) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let key = if who == "authority" {
            self.dir
                .join("log.authority.pem")
                .to_str()
                .unwrap()
                .to_string()
        } else {
            self.key(who)
        };
        let mut all = vec![cmd];
        if !sub.is_empty() {
            all.push(sub);
        }
        all.extend(["--server", &self.server.url, "--key", &key]);
        all.extend_from_slice(args);
        run(&all)
    }

    pub(crate) fn ok(&self, who: &str, cmd: &str, args: &[&str]) -> String {
        let (ok, out) = self.as_(who, cmd, args);
        assert!(ok, "{cmd} {args:?} as {who} failed:\n{out}");
        out
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.dir.join(name), text).unwrap();
        self.path(name)
    }

    fn show(&self, who: &str, m: &str) -> String {
        self.ok(who, "show", &["--manifest", m])
    }

    /// The log's size, from its checkpoint.
    fn size(&self) -> u64 {
        let cp = self.server.client().get_ok("/v1/log/checkpoint").unwrap();
        cp.lines().nth(1).unwrap().parse().unwrap()
    }
}

/// `wasteledger keygen`: the key file and its public key.
pub(crate) fn keygen(dir: &Path, name: &str) -> String {
    let out_path = dir.join(format!("{name}.pem"));
    let (ok, out) = run(&["keygen", "--out", out_path.to_str().unwrap()]);
    assert!(ok, "{out}");
    out.lines()
        .find_map(|l| l.strip_prefix("public key:"))
        .unwrap()
        .trim()
        .to_string()
}

fn site(id: &str, party: &str, kind: &str, lat: i32, lon: i32) -> Value {
    let d = 2000;
    json!({"type": "site.registered", "site": id, "party": party, "kind": kind, "name": id,
           "location": {"lat_e6": lat, "lon_e6": lon},
           "geofence": [{"lat_e6": lat - d, "lon_e6": lon - d}, {"lat_e6": lat - d, "lon_e6": lon + d},
                        {"lat_e6": lat + d, "lon_e6": lon + d}]})
}

pub(crate) fn setup() -> Field {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let server = Server::start(&dir.join("log"));
    let (plant, hauler, receiver) = (uscc("MA1PLNT01"), uscc("MA1HAUL01"), uscc("MA1RCPT01"));
    let f = Field {
        _dir: tmp,
        dir,
        server,
        plant,
        hauler,
        receiver,
    };
    let pks: Vec<String> = ["plant", "hauler", "receiver"]
        .iter()
        .map(|n| keygen(&f.dir, n))
        .collect();
    let (from, until) = ("2024-01-01T00:00:00Z", "2030-01-01T00:00:00Z");
    let mut events = Vec::new();
    for ((id, name, role), pk) in [
        (&f.plant, "Kunshan electronics plant", "generator"),
        (&f.hauler, "Hazardous hauler", "hauler"),
        (&f.receiver, "Licensed disposal facility", "receiver"),
    ]
    .into_iter()
    .zip(&pks)
    {
        events
            .push(json!({"type": "party.registered", "party": id, "name": name, "roles": [role]}));
        events.push(json!({"type": "key.added", "key": pk, "holder": id}));
    }
    events.extend([
        site("S-PLANT", &f.plant, "plant", 31_300_000, 120_950_000),
        site("S-DISPOSAL", &f.receiver, "disposal", 31_400_000, 120_900_000),
        json!({"type": "licence.granted", "licence": "L-HAUL", "party": f.hauler, "kind": "hw_transport",
               "valid_from": from, "valid_until": until}),
        json!({"type": "licence.granted", "licence": "L-DISPOSAL", "party": f.receiver, "kind": "hw_operating",
               "categories": ["HW08", "HW49"], "valid_from": from, "valid_until": until}),
        json!({"type": "vehicle.registered", "plate": PLATE, "party": f.hauler,
               "permits": [{"kind": "hazardous_goods", "number": "P-1", "valid_from": from, "valid_until": until}]}),
    ]);
    let file = f.write(
        "registry.json",
        &serde_json::to_string_pretty(&events).unwrap(),
    );
    let before = f.size();
    let out = f.ok("authority", "register", &[&file]);
    assert_eq!(f.size(), before + events.len() as u64, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains(" index ")).count(),
        events.len(),
        "one line per event with its index:\n{out}"
    );
    assert!(
        out.contains("party.registered") && out.contains("vehicle.registered"),
        "{out}"
    );
    // Running it again changes nothing and says so.
    let out = f.ok("authority", "register", &[&file]);
    assert_eq!(f.size(), before + events.len() as u64);
    assert_eq!(
        out.matches("already in the log").count(),
        events.len(),
        "{out}"
    );
    f
}

pub(crate) fn manifest_json(f: &Field, reference: &str, code: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "reference": reference, "stream": "hazardous", "generator": f.plant,
        "origin": "S-PLANT", "destination": "S-DISPOSAL", "haulers": [f.hauler],
        "lines": [
            {"code": code, "name": "废矿物油 waste mineral oil", "form": "liquid", "hazards": ["T", "I"],
             "containers": [{"id": "D1", "packaging": "200 L steel drum"}],
             "quantity": {"amount": 340_000, "unit": "g"}},
            {"code": "900-041-49", "name": "含油抹布 oily rags", "form": "solid", "hazards": ["T", "In"],
             "quantity": {"amount": 120_000, "unit": "g"}}
        ]
    }))
    .unwrap()
}

fn manifest_toml(f: &Field, reference: &str) -> String {
    format!(
        r#"# waste-out slip {reference}
reference = "{reference}"
stream = "hazardous"
generator = "{plant}"
origin = "S-PLANT"
destination = "S-DISPOSAL"
haulers = ["{hauler}"]

[[lines]]
code = "900-249-08"
name = "废矿物油 waste mineral oil"
form = "liquid"
hazards = ["T", "I"]
containers = [{{ id = "D7", packaging = "200 L steel drum" }}]
quantity = {{ amount = 340000, unit = "g" }}

[[lines]]
code = "900-041-49"
name = "含油抹布 oily rags"
form = "solid"
hazards = ["T", "In"]
quantity = {{ amount = 120000, unit = "g" }}
"#,
        plant = f.plant,
        hauler = f.hauler
    )
}

/// The manifest number from `issue`'s output.
pub(crate) fn issued(out: &str) -> String {
    let n = out
        .lines()
        .find_map(|l| l.strip_prefix("manifest ")?.split_whitespace().next())
        .unwrap_or_else(|| panic!("no manifest number in:\n{out}"))
        .to_string();
    assert_eq!(n.len(), 14, "{out}");
    n
}

/// The hash `handover` prints for a hand-over the log keeps as pending.
fn pending_hash(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("pending "))
        .unwrap_or_else(|| panic!("{out}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A line of `show`'s summary: `label` followed by its value.
fn field<'a>(show: &'a str, label: &str) -> &'a str {
    show.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{show}"))
        .split_whitespace()
        .next()
        .unwrap()
}

#[test]
fn a_load_goes_from_the_plant_to_treatment_by_the_parties_commands() {
    let f = setup();
    let m = issued(&f.ok(
        "plant",
        "issue",
        &[&f.write(
            "load.json",
            &manifest_json(&f, "CK-2026-00001", "900-249-08"),
        )],
    ));
    let m2 = issued(&f.ok(
        "plant",
        "issue",
        &[&f.write("load.toml", &manifest_toml(&f, "CK-2026-00002"))],
    ));
    assert_ne!(m, m2);
    let show = f.show("plant", &m2);
    assert_eq!(field(&show, "status"), "issued", "{show}");
    assert!(
        show.contains("900-249-08") && show.contains("900-041-49"),
        "{show}"
    );
    assert!(show.contains("declared 340000 g"), "{show}");

    // The hauler registered its driver once; the pickup names the driver by that id.
    let driver = crate::persons::register_driver(&f, "hauler", "张建国");
    // Pickup: the plant's terminal signs the hand-over into a file; the driver countersigns.
    let half = f.path("pickup.json");
    f.ok(
        "plant",
        "handover",
        &[
            "--manifest",
            &m,
            "--to",
            &f.hauler,
            "--vehicle",
            PLATE,
            "--driver",
            &driver,
            "--site",
            "S-PLANT",
            "--out",
            &half,
        ],
    );
    let text = std::fs::read_to_string(&half).unwrap();
    assert!(
        !text.contains("张建国"),
        "the name is never in the event in clear: {text}"
    );
    let written: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(written["event"]["driver_id"], json!(driver));
    assert_eq!(
        written["event"]["from"],
        json!(f.plant),
        "from is the holder"
    );
    assert_eq!(written["event"]["lines"][1]["quantity"]["amount"], 120_000);
    assert_eq!(written["signatures"].as_array().unwrap().len(), 1);
    assert_eq!(
        field(&f.show("plant", &m), "status"),
        "issued",
        "nothing submitted yet"
    );
    let out = f.ok("hauler", "countersign", &[&half]);
    assert!(out.contains("logged at index"), "{out}");
    assert!(
        out.contains(PLATE) && out.contains("340000 g"),
        "shows what is signed: {out}"
    );
    let show = f.show("plant", &m);
    assert_eq!(field(&show, "status"), "in_transit", "{show}");
    assert_eq!(field(&show, "holder"), f.hauler, "{show}");

    // Delivery: the hauler signs and submits; the log keeps it as pending for the receiver.
    let out = f.ok(
        "hauler",
        "handover",
        &[
            "--manifest",
            &m,
            "--to",
            &f.receiver,
            "--site",
            "S-DISPOSAL",
        ],
    );
    let hash = pending_hash(&out);
    assert!(
        out.contains(&format!("waiting for {}", f.receiver)),
        "{out}"
    );
    let show = f.show("hauler", &m);
    assert_eq!(field(&show, "status"), "in_transit", "{show}");
    let pending_line = show
        .lines()
        .find(|l| l.contains(&hash))
        .unwrap_or_else(|| panic!("{show}"));
    assert!(pending_line.contains("pending"), "{show}");
    let out = f.ok("receiver", "countersign", &["--pending", &hash]);
    assert!(out.contains("logged at index"), "{out}");
    let show = f.show("receiver", &m);
    assert_eq!(field(&show, "status"), "delivered", "{show}");
    assert!(
        show.lines()
            .any(|l| l.contains(&hash) && l.contains("completed")),
        "{show}"
    );

    // The weighbridge, a receipt with part of line 1 rejected, treatment.
    let out = f.ok(
        "receiver",
        "weigh",
        &[
            "--manifest",
            &m,
            "--site",
            "S-DISPOSAL",
            "--ticket",
            "WB-07",
            "--gross",
            "15.44t",
            "--tare",
            "15000kg",
        ],
    );
    assert!(out.contains("net 440000 g"), "{out}");
    // 440 kg on the weighbridge against 460 kg declared: the step says what it raised.
    assert!(
        out.contains("⚑ flagged quantity_gap") && out.contains("460000 g"),
        "{out}"
    );
    let out = f.ok(
        "receiver",
        "receive",
        &[
            "--manifest",
            &m,
            "--reject",
            "2=20kg",
            "--discrepancy",
            "2=residue",
            "--reason",
            "wet rags leaking oil",
        ],
    );
    assert!(
        out.contains("line 2: accepted 100000 g, rejected 20000 g"),
        "{out}"
    );
    let back = out
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("the rejected part goes back under manifest ")
        })
        .unwrap_or_else(|| panic!("{out}"));
    let show = f.show("receiver", &m);
    assert_eq!(field(&show, "status"), "received", "{show}");
    assert!(
        show.contains("rejected 20000 g") && show.contains(back),
        "{show}"
    );
    let out = f.ok("receiver", "treat", &["--manifest", &m, "--code", "R9"]);
    assert_eq!(
        out.matches("logged at index").count(),
        2,
        "one per line: {out}"
    );

    let show = f.show("receiver", &m);
    assert_eq!(field(&show, "status"), "treated", "{show}");
    assert_eq!(field(&show, "holder"), f.receiver, "{show}");
    for step in [
        "manifest.issued",
        "custody.handover",
        "custody.weighed",
        "custody.received",
        "custody.treated",
    ] {
        assert!(show.contains(step), "{step} in:\n{show}");
    }
    assert!(show.contains("treated 100000 g"), "{show}");
    let raw: Value =
        serde_json::from_str(&f.ok("receiver", "show", &["--manifest", &m, "--json"])).unwrap();
    assert_eq!(raw["status"], "treated");
    assert_eq!(raw["holder"], json!(f.receiver));

    // list: a table of what the plant may see, filtered.
    let out = f.ok("plant", "list", &[]);
    let row = |n: &str| out.lines().find(|l| l.starts_with(n)).map(str::to_string);
    assert!(
        row(&m)
            .unwrap_or_else(|| panic!("{out}"))
            .contains("treated"),
        "{out}"
    );
    assert!(
        row(&m2)
            .unwrap_or_else(|| panic!("{out}"))
            .contains("issued"),
        "{out}"
    );
    let out = f.ok("plant", "list", &["--status", "treated"]);
    assert!(out.contains(&m) && !out.contains(&m2), "{out}");
    let out = f.ok("plant", "list", &["--vehicle", PLATE]);
    assert!(out.contains(&m) && !out.contains(&m2), "{out}");
    // At most --limit, in number order, and told that more remain.
    let (first, second) = if m < m2 { (&m, &m2) } else { (&m2, &m) };
    let out = f.ok("plant", "list", &["--limit", "1"]);
    assert!(
        out.contains(first.as_str()) && !out.contains(second.as_str()),
        "{out}"
    );
    assert!(out.contains("more remain: raise --limit"), "{out}");
    let raw: Value =
        serde_json::from_str(&f.ok("plant", "list", &["--limit", "1", "--json"])).unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 1, "{raw}");
    assert!(raw["next"].is_string(), "{raw}");
}

#[test]
fn people_are_told_what_is_wrong_and_what_to_do() {
    let f = setup();
    let m = issued(&f.ok(
        "plant",
        "issue",
        &[&f.write(
            "load.json",
            &manifest_json(&f, "CK-2026-00011", "900-249-08"),
        )],
    ));

    // The hauler tries to hand over a load the plant still holds.
    let (ok, out) = f.as_(
        "hauler",
        "handover",
        &["--manifest", &m, "--to", &f.receiver],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("held by {}", f.plant))
            && out.contains(&format!("not by you ({})", f.hauler))
            && out.contains("only the holder hands over"),
        "{out}"
    );
    // A file that is not there, a file that is not JSON, a malformed waste code.
    let (ok, out) = f.as_("plant", "issue", &[&f.path("no-such.json")]);
    assert!(
        !ok && out.contains("cannot read") && out.contains("no-such.json"),
        "{out}"
    );
    let (ok, out) = f.as_(
        "plant",
        "issue",
        &[&f.write("bad.json", "{\"reference\": ")],
    );
    assert!(!ok && out.contains("not JSON"), "{out}");
    let before = f.size();
    let bad = f.write(
        "bad-code.json",
        &manifest_json(&f, "CK-2026-00012", "900-249-8"),
    );
    let (ok, out) = f.as_("plant", "issue", &[&bad]);
    assert!(
        !ok && out.contains("event.lines[0].code") && out.contains("900-249-8"),
        "{out}"
    );
    let (ok, out) = f.as_("plant", "issue", &[&f.write("bad.toml", "reference = \n")]);
    assert!(!ok && out.contains("not TOML"), "{out}");
    assert_eq!(f.size(), before, "nothing was logged");

    // With no network: the plant signs into a file, the driver countersigns into another,
    // and either submits it when the log is in reach.
    let (ok, out) = run(&[
        "handover",
        "--offline",
        "--key",
        &f.key("plant"),
        "--manifest",
        &m,
        "--to",
        &f.hauler,
        "--out",
        &f.path("x.json"),
    ]);
    assert!(!ok && out.contains("--from"), "offline needs --from: {out}");
    let half = f.path("offline.json");
    let (ok, out) = run(&[
        "handover",
        "--offline",
        "--key",
        &f.key("plant"),
        "--manifest",
        &m,
        "--from",
        &f.plant,
        "--to",
        &f.hauler,
        "--vehicle",
        "苏e12345",
        "--quantity",
        "340kg,0.12t",
        "--place",
        "31.3,120.95",
        "--out",
        &half,
    ]);
    assert!(ok, "{out}");
    let ev: Value = serde_json::from_str(&std::fs::read_to_string(&half).unwrap()).unwrap();
    assert_eq!(
        ev["event"]["vehicle"], PLATE,
        "the plate in its canonical form"
    );
    assert_eq!(
        ev["event"]["lines"][1]["quantity"],
        json!({"amount": 120_000, "unit": "g"})
    );
    assert_eq!(
        ev["event"]["place"],
        json!({"lat_e6": 31_300_000, "lon_e6": 120_950_000})
    );
    // A changed half is not countersigned.
    let mut forged = ev.clone();
    forged["event"]["lines"][0]["quantity"]["amount"] = json!(300_000);
    let forged_path = f.write("forged.json", &forged.to_string());
    let (ok, out) = f.as_("hauler", "countersign", &[&forged_path]);
    assert!(
        !ok && out.contains("does not verify") && out.contains("do not countersign"),
        "{out}"
    );
    // Nor by a party that is not to it.
    let (ok, out) = f.as_("receiver", "countersign", &[&half]);
    assert!(!ok && out.contains("is not a registered key of"), "{out}");
    // The plant cannot countersign its own half.
    let (ok, out) = f.as_("plant", "countersign", &[&half]);
    assert!(
        !ok && out.contains("signed this hand-over already"),
        "{out}"
    );
    let full = f.path("full.json");
    let (ok, out) = run(&[
        "countersign",
        "--key",
        &f.key("hauler"),
        &half,
        "--out",
        &full,
    ]);
    assert!(ok && out.contains("wasteledger submit"), "{out}");
    assert_eq!(field(&f.show("plant", &m), "status"), "issued");
    let (ok, out) = run(&["submit", "--server", &f.server.url, &full]);
    assert!(ok, "{out}");
    assert_eq!(field(&f.show("plant", &m), "status"), "in_transit");

    // What the log refuses is relayed: its detail and the field at fault.
    let (ok, out) = f.as_(
        "plant",
        "void",
        &["--manifest", &m, "--reason", "wrong load"],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("voided only before pickup") && out.contains("[field event.manifest]"),
        "{out}"
    );
    let more = f.write(
        "more.json",
        &json!({"type": "party.registered", "party": uscc("MA1GEN002"), "name": "Another plant",
                "roles": ["generator"]})
        .to_string(),
    );
    let (ok, out) = f.as_("plant", "register", &[&more]);
    assert!(
        !ok && out.contains("authority") && out.contains("nothing was logged"),
        "{out}"
    );
    // A manifest that does not exist, a number that is not one.
    let (ok, out) = f.as_("plant", "show", &["--manifest", "20263205999999"]);
    assert!(!ok && out.contains("does not exist"), "{out}");
    let (ok, out) = f.as_("plant", "show", &["--manifest", "2026-1"]);
    assert!(!ok && out.contains("--manifest"), "{out}");
    // A receipt before delivery: the log's state rule, named.
    let (ok, out) = f.as_("receiver", "receive", &["--manifest", &m]);
    assert!(!ok && out.contains("a receipt follows delivery"), "{out}");
}

/// Files a person can write: `issue --template` issues as it is against the demo (quantities
/// as people write them, "340kg"); `register --template` registers on a new log once its
/// placeholder key is filled in; both need no --server; a manifest without what its labels
/// print is issued with a note naming what the labels will leave out.
#[test]
fn templates_issue_and_register_as_written_and_labels_say_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, manifest) = run(&["issue", "--template"]);
    assert!(ok, "{manifest}");
    assert!(manifest.contains("quantity = \"340kg\""), "{manifest}");
    let (ok, out) = run(&["issue"]);
    assert!(!ok && out.contains("<FILE>"), "a file or --template: {out}");

    let demo = crate::demo::Demo::start(&dir.path().join("demo"));
    let huachen = dir.path().join("demo/keys/huachen.pem");
    let m = dir.path().join("m.toml");
    std::fs::write(&m, &manifest).unwrap();
    let (ok, out) = run(&[
        "issue",
        "--server",
        &demo.url,
        "--key",
        huachen.to_str().unwrap(),
        m.to_str().unwrap(),
    ]);
    assert!(ok && out.contains("issued; logged at index"), "{out}");
    assert!(
        !out.contains("labels will show"),
        "the template fills every label field: {out}"
    );
    let number = out
        .split_whitespace()
        .find(|w| w.len() == 14 && w.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no manifest number in {out}"))
        .to_string();
    let (ok, shown) = run(&[
        "show",
        "--server",
        &demo.url,
        "--key",
        huachen.to_str().unwrap(),
        "--manifest",
        &number,
        "--json",
    ]);
    assert!(ok, "{shown}");
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let line = &v["versions"][0]["lines"][0];
    let line = if line.is_null() { &v["lines"][0] } else { line };
    assert_eq!(
        line["quantity"],
        serde_json::json!({"amount": 340000, "unit": "g"}),
        "{shown}"
    );

    // The same manifest without what the labels print: issued, with a note naming it.
    let bare: String = manifest
        .lines()
        .filter(|l| !l.starts_with("components") && !l.starts_with("precautions"))
        .map(|l| l.replace("HC-FW-0500", "HC-FW-0501") + "\n")
        .collect();
    std::fs::write(&m, bare).unwrap();
    let (ok, out) = run(&[
        "issue",
        "--server",
        &demo.url,
        "--key",
        huachen.to_str().unwrap(),
        m.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("labels will show")
            && out.contains("line 1: 主要成分 components, 注意事项 precautions"),
        "{out}"
    );
    // A quantity that is not whole grams is refused, naming where it is.
    let frac = manifest
        .replace("quantity = \"340kg\"", "quantity = \"0.0001g\"")
        .replace("HC-FW-0500", "HC-FW-0502");
    std::fs::write(&m, frac).unwrap();
    let (ok, out) = run(&[
        "issue",
        "--server",
        &demo.url,
        "--key",
        huachen.to_str().unwrap(),
        m.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains(".lines[0].quantity"), "{out}");
    demo.kill();

    // The registry template on a new log, with a real key in place of the placeholder.
    let (ok, registry) = run(&["register", "--template"]);
    assert!(ok, "{registry}");
    let server = crate::support::Server::start(&dir.path().join("log"));
    let plant = crate::support::key(31);
    let filled = registry.replace("BASE64-PUBLIC-KEY", &crate::support::pk(&plant));
    let r = dir.path().join("registry.toml");
    std::fs::write(&r, filled).unwrap();
    let auth = dir.path().join("log.authority.pem");
    let (ok, out) = run(&[
        "register",
        "--server",
        &server.url,
        "--key",
        auth.to_str().unwrap(),
        r.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("index")).count(),
        7,
        "{out}"
    );
}

/// The event inside a log entry's JSON (wherever the entry nests it), by its type.
fn event_of<'a>(v: &'a Value, event_type: &str) -> Option<&'a Value> {
    if v["type"] == event_type {
        return Some(v);
    }
    match v {
        Value::Object(m) => m.values().find_map(|x| event_of(x, event_type)),
        Value::Array(a) => a.iter().find_map(|x| event_of(x, event_type)),
        _ => None,
    }
}

#[test]
fn people_type_dates_and_china_standard_time_and_count_lines_from_1() {
    let f = setup();
    let m = issued(&f.ok(
        "plant",
        "issue",
        &[&f.write(
            "load.json",
            &manifest_json(&f, "CK-2026-00021", "900-249-08"),
        )],
    ));
    let raw: Value =
        serde_json::from_str(&f.ok("plant", "show", &["--manifest", &m, "--json"])).unwrap();
    let issued_at = Timestamp::parse(raw["issued_at"].as_str().unwrap()).unwrap();
    assert!(
        raw["issued_at"].as_str().unwrap().ends_with('Z'),
        "JSON stays UTC: {raw}"
    );
    let shifted =
        |ms: i64| Timestamp::from_unix_millis((issued_at.unix_millis() as i64 + ms) as u64);
    let day = issued_at.cst_date();
    let day_before = shifted(-86_400_000).cst_date();
    // "2026-12-03 11:06:37 CST" → "2026-12-03 11:06:37" (local) or "2026-12-03T11:06:37+08:00".
    let local = |t: Timestamp| t.cst().trim_end_matches(" CST").to_string();
    let offset = |t: Timestamp| format!("{}+08:00", local(t).replace(' ', "T"));

    // list: dates (China Standard Time), local CST times and RFC 3339 offsets; --to DATE
    // includes that day. Times are printed in CST with the zone named.
    let listed = |args: &[&str]| f.ok("plant", "list", args).contains(&m);
    assert!(listed(&["--from", &day]));
    assert!(
        listed(&["--from", &day, "--to", &day]),
        "--to a date includes the day"
    );
    assert!(!listed(&["--to", &day_before]));
    assert!(listed(&["--from", &local(shifted(-60_000))]));
    assert!(!listed(&["--from", &local(shifted(60_000))]));
    assert!(listed(&["--from", &offset(shifted(-60_000))]));
    assert!(!listed(&["--from", &offset(shifted(60_000))]));
    let out = f.ok("plant", "list", &["--from", &day]);
    let row = out.lines().find(|l| l.starts_with(&m)).unwrap();
    assert!(row.contains(&issued_at.cst()), "issued in CST: {row}");
    let (ok, out) = f.as_("plant", "list", &["--from", "2026-12"]);
    assert!(
        !ok && out.contains("--from") && out.contains("2026-12-01 08:30") && out.contains("+08:00"),
        "the flag and the accepted forms: {out}"
    );
    // search takes the same forms.
    let out = f.ok(
        "plant",
        "search",
        &["--party", &f.plant, "--from", &day, "--to", &day],
    );
    assert!(out.contains(&m) && out.contains(&issued_at.cst()), "{out}");

    // The HTTP API reads the same forms in its query (+ written %2B in a URL).
    let c = wasteledger::client::LogClient::new(&f.server.url);
    let plant_key = wasteledger::keyfile::read(Path::new(&f.key("plant"))).unwrap();
    for q in [
        format!("from={day}"),
        format!("to={day}"),
        format!("from={}", local(shifted(-60_000)).replace(' ', "T")),
        format!("from={}", offset(shifted(-60_000)).replace('+', "%2B")),
    ] {
        let a = c
            .get_signed(&format!("/v1/manifests?{q}"), &plant_key)
            .unwrap();
        assert_eq!(a.status, 200, "{q}: {}", a.body);
        assert!(a.body.contains(&m), "{q}: {}", a.body);
    }
    let a = c
        .get_signed(
            &format!("/v1/search?party={}&from={day}&to={day}", f.plant),
            &plant_key,
        )
        .unwrap();
    assert!(a.status == 200 && a.body.contains(&m), "{}", a.body);
    let a = c
        .get_signed(&format!("/v1/anomalies?from={day}&to={day}"), &plant_key)
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let a = c
        .get_signed("/v1/manifests?from=tomorrow", &plant_key)
        .unwrap();
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body.contains("`from`") && a.body.contains("2026-12-01 08:30"),
        "{}",
        a.body
    );

    // A hand-over at a local CST time: the signed event carries its UTC form.
    // Whole seconds: a local time is typed to the second.
    let at = Timestamp::from_unix_millis(shifted(120_000).unix_millis() / 1000 * 1000);
    let half = f.path("pickup.json");
    let out = f.ok(
        "plant",
        "handover",
        &[
            "--manifest",
            &m,
            "--to",
            &f.hauler,
            "--vehicle",
            PLATE,
            "--at",
            &local(at),
            "--out",
            &half,
        ],
    );
    assert!(
        out.contains("line 1 ") && out.contains("line 2 "),
        "lines from 1: {out}"
    );
    assert!(
        out.contains(&format!("at         {}", at.cst())),
        "what is signed is shown in CST: {out}"
    );
    let ev: Value = serde_json::from_str(&std::fs::read_to_string(&half).unwrap()).unwrap();
    assert_eq!(
        ev["event"]["at"],
        json!(at.to_string()),
        "UTC in the signed event"
    );
    assert!(ev["event"]["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        ev["event"]["lines"][0]["line"], 0,
        "the wire keeps its 0-based index"
    );
    f.ok("hauler", "countersign", &[&half]);
    let out = f.ok(
        "hauler",
        "handover",
        &["--manifest", &m, "--to", &f.receiver],
    );
    let hash = pending_hash(&out);
    f.ok("receiver", "countersign", &["--pending", &hash]);

    // show: lines from 1, times in CST.
    let show = f.show("receiver", &m);
    assert!(
        show.contains("  1  900-249-08") && show.contains("  2  900-041-49"),
        "{show}"
    );
    assert!(
        show.contains(&format!("issued       {}", issued_at.cst())),
        "{show}"
    );
    assert!(
        show.lines()
            .any(|l| l.contains("custody.handover") && l.contains(" CST ")),
        "the steps' times in CST: {show}"
    );
    assert!(
        !show.contains(&issued_at.to_string()),
        "no UTC form for people: {show}"
    );

    // receive: line 0 is refused with the reason, line 3 does not exist; nothing is logged.
    let before = f.size();
    let (ok, out) = f.as_(
        "receiver",
        "receive",
        &["--manifest", &m, "--accept", "0=335kg"],
    );
    assert!(!ok && out.contains("lines count from 1"), "{out}");
    let (ok, out) = f.as_(
        "receiver",
        "receive",
        &["--manifest", &m, "--accept", "3=1kg"],
    );
    assert!(!ok && out.contains("lines 1 to 2"), "{out}");
    assert_eq!(f.size(), before);
    // line 1 is the first line: 335 kg of the oil accepted, 5 kg rejected.
    let out = f.ok(
        "receiver",
        "receive",
        &[
            "--manifest",
            &m,
            "--accept",
            "1=335kg",
            "--reject",
            "1=5kg",
            "--reason",
            "short",
        ],
    );
    assert!(
        out.contains("line 1: accepted 335000 g, rejected 5000 g"),
        "{out}"
    );
    assert!(
        out.contains("line 2: accepted 120000 g, rejected 0 g"),
        "{out}"
    );
    let index: u64 = out
        .lines()
        .find_map(|l| l.split("logged at index ").nth(1))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let authority = wasteledger::keyfile::read(&f.dir.join("log.authority.pem")).unwrap();
    let entry = c
        .get_signed(&format!("/v1/log/entries/{index}"), &authority)
        .unwrap();
    assert_eq!(entry.status, 200, "{}", entry.body);
    let entry: Value = serde_json::from_str(&entry.body).unwrap();
    let received = event_of(&entry, "custody.received").unwrap_or_else(|| panic!("{entry}"));
    assert_eq!(received["lines"][0]["line"], 0, "{received}");
    assert_eq!(
        received["lines"][0]["accepted"]["amount"], 335_000,
        "{received}"
    );
    assert_eq!(
        received["lines"][0]["rejected"]["amount"], 5_000,
        "{received}"
    );
    assert_eq!(
        received["lines"][1]["accepted"]["amount"], 120_000,
        "{received}"
    );

    // treat --line counts from 1 too.
    let (ok, out) = f.as_(
        "receiver",
        "treat",
        &["--manifest", &m, "--code", "R9", "--line", "0"],
    );
    assert!(!ok && out.contains("lines count from 1"), "{out}");
    let out = f.ok(
        "receiver",
        "treat",
        &["--manifest", &m, "--code", "R9", "--line", "2"],
    );
    assert!(
        out.contains(&format!("manifest {m} line 2: 120000 g treated")),
        "{out}"
    );
}

/// A step dated now by default, hours after the load's last step, is warned about before it
/// is signed (a late entry with the wrong time makes a truck look in two places at once); a
/// step right after the last one is not.
#[test]
fn a_defaulted_time_far_from_the_last_step_is_warned_about() {
    let f = setup();
    let m = issued(&f.ok(
        "plant",
        "issue",
        &[&f.write(
            "late.json",
            &manifest_json(&f, "CK-2026-00031", "900-249-08"),
        )],
    ));
    // The pickup happened ten hours ago and is entered with its time.
    let ten_hours_ago = Timestamp::from_unix_millis(
        Timestamp::from_system_time(std::time::SystemTime::now()).unix_millis() - 10 * 3_600_000,
    );
    let half = f.path("late-pickup.json");
    f.ok(
        "plant",
        "handover",
        &[
            "--manifest",
            &m,
            "--to",
            &f.hauler,
            "--vehicle",
            PLATE,
            "--at",
            &ten_hours_ago.to_string(),
            "--out",
            &half,
        ],
    );
    let out = f.ok("hauler", "countersign", &[&half]);
    assert!(!out.contains("warning"), "{out}");
    // The delivery, typed in without --at: dated now, ten hours after the pickup.
    let out = f.ok(
        "hauler",
        "handover",
        &["--manifest", &m, "--to", &f.receiver],
    );
    assert!(
        out.contains("warning: no --at given") && out.contains("10 h after the load's last step"),
        "{out}"
    );
}

/// The hand-over as a QR code, both ways: the plant shows its half as a code (terminal and
/// PNG), `scan` reads the PNG and says what was signed, a key of another party is refused
/// before anything is submitted, and the hauler countersigns from the image.
#[test]
fn a_half_shown_as_a_qr_code_is_scanned_and_countersigned_from_the_image() {
    let f = setup();
    let m = issued(&f.ok(
        "plant",
        "issue",
        &[&f.write(
            "load.json",
            &manifest_json(&f, "CK-2026-00009", "900-249-08"),
        )],
    ));
    // The hauler's driver, registered once; the plant's half names them by id.
    let driver = crate::persons::register_driver(&f, "hauler", "张建国");
    let png = f.path("half.png");
    let size = f.size();
    let out = f.ok(
        "plant",
        "handover",
        &[
            "--manifest",
            &m,
            "--to",
            &f.hauler,
            "--vehicle",
            PLATE,
            "--driver",
            &driver,
            "--qr",
            &png,
        ],
    );
    let code = out
        .lines()
        .find(|l| l.starts_with("WLH1"))
        .unwrap_or_else(|| panic!("the code's text: {out}"))
        .to_string();
    assert!(
        out.contains('█') || out.contains('▀'),
        "drawn in the terminal: {out}"
    );
    assert!(out.contains("QR version 10"), "{out}");
    assert_eq!(f.size(), size, "a half shown as a code is not submitted");

    // `scan` reads the image: a hand-over code, what was signed, whose key, how to countersign.
    let (ok, out) = run(&["scan", &png, "--server", &f.server.url]);
    assert!(ok, "{out}");
    assert!(
        out.contains("✔ hand-over code")
            && out.contains(&m)
            && out.contains(PLATE)
            && out.contains("340000 g")
            && out.contains(&format!("signed by  {} (giving)", f.plant))
            && out.contains("countersign --server"),
        "{out}"
    );

    // Another party's key: refused before anything is signed or submitted, from the image or
    // from the code's text.
    for input in [["--qr", png.as_str()], ["--code", code.as_str()]] {
        let (ok, out) = f.as_("receiver", "countersign", &input);
        assert!(!ok, "{out}");
        assert!(
            out.contains("is not a registered key of")
                && out.contains(&f.hauler)
                && out.contains("nothing was signed or submitted"),
            "{out}"
        );
        assert_eq!(f.size(), size, "nothing submitted");
    }

    // The hauler countersigns from the photo: the hand-over is in the log with both signatures.
    let out = f.ok("hauler", "countersign", &["--qr", &png]);
    assert!(
        out.contains("logged at index") && out.contains(PLATE),
        "{out}"
    );
    assert_eq!(f.size(), size + 1);
    let show = f.show("plant", &m);
    assert_eq!(field(&show, "status"), "in_transit", "{show}");
    let authority = wasteledger::keyfile::read(&f.dir.join("log.authority.pem")).unwrap();
    let entry = f
        .server
        .client()
        .get_signed(&format!("/v1/log/entries/{size}"), &authority)
        .unwrap();
    assert_eq!(entry.status, 200, "{}", entry.body);
    let entry: Value = entry.json().unwrap();
    assert_eq!(entry["event"]["type"], "custody.handover");
    assert_eq!(entry["event"]["vehicle"], PLATE);
    assert_eq!(entry["signatures"].as_array().unwrap().len(), 2, "{entry}");
}

/// `--json` on the steps that write: standard output holds one JSON object per event logged
/// (or kept pending), the sentences go to standard error, so a script reads the answer as the
/// log gave it.
#[test]
fn the_writing_steps_answer_in_json_on_standard_output() {
    let f = setup();
    let json_out = |who: &str, cmd: &[&str]| -> Vec<Value> {
        let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        args.extend([
            "--server".into(),
            f.server.url.clone(),
            "--key".into(),
            f.key(who),
            "--json".into(),
        ]);
        let out = std::process::Command::new(crate::support::BIN)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    };
    let file = f.write("j.json", &manifest_json(&f, "CK-2026-00041", "900-249-08"));
    let issued = json_out("plant", &["issue", &file]);
    assert_eq!(issued.len(), 1, "{issued:?}");
    let m = issued[0]["manifests"][0].as_str().unwrap().to_string();
    assert!(
        issued[0]["index"].is_u64() && issued[0]["flags"].is_array(),
        "{issued:?}"
    );
    // A hand-over signed by the plant alone: kept pending, its answer says for whom.
    let pending = json_out(
        "plant",
        &[
            "handover",
            "--manifest",
            &m,
            "--to",
            &f.hauler,
            "--vehicle",
            PLATE,
        ],
    );
    assert_eq!(pending[0]["waiting_for"], json!(f.hauler), "{pending:?}");
    let hash = pending[0]["pending"].as_str().unwrap().to_string();
    let done = json_out("hauler", &["countersign", "--pending", &hash]);
    assert_eq!(done.len(), 1);
    assert!(done[0]["index"].as_u64().unwrap() > issued[0]["index"].as_u64().unwrap());
}
