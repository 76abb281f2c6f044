//! `wasteledger demo`: the real binary plays the Kunshan week into a fresh directory and keeps
//! serving; what it logged is checked over HTTP with the published demo keys, then offline.

use crate::support::{run, BIN};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use wasteledger::client::LogClient;
use wasteledger::ledger::note::NoteVerifier;

/// A running `wasteledger demo`; killed when dropped. Its stderr (the summary) is collected.
pub(crate) struct Demo {
    child: Child,
    pub(crate) url: String,
    stderr: Arc<Mutex<String>>,
    /// Held open so that the server never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Demo {
    pub(crate) fn start(data: &Path) -> Demo {
        Self::start_with(data, &[])
    }

    /// The same with more flags (`--public-url`, `--tls-cert`...).
    pub(crate) fn start_with(data: &Path, extra: &[&str]) -> Demo {
        let mut child = Command::new(BIN)
            .args(["demo", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wasteledger demo");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.wait();
            std::thread::sleep(std::time::Duration::from_millis(200));
            panic!(
                "the demo did not start serving; stdout {line:?}, stderr:\n{}",
                stderr.lock().unwrap()
            );
        };
        Demo {
            url: url.to_string(),
            child,
            stderr,
            _stdout: stdout,
        }
    }

    pub(crate) fn summary(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The demo log's verifier key as keys/README.md publishes it.
pub(crate) fn published_verifier() -> String {
    let readme = std::fs::read_to_string(crate_dir().join("keys/README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.contains("demo log verifier key"))
        .expect("keys/README.md publishes the demo log's verifier key");
    line.split('`').nth(1).unwrap().to_string()
}

fn kinds(flags: &Value) -> Vec<String> {
    flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| match f {
            Value::String(s) => s.clone(),
            f => f["kind"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn amounts(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().map(|q| q["amount"].as_u64().unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn demo_plays_a_kunshan_week_keeps_serving_and_its_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = Demo::start(&data);
    let c = LogClient::new(&demo.url);

    // The checkpoint is signed by the published demo log key.
    let published = published_verifier();
    let verifier = NoteVerifier::parse(&published).unwrap();
    assert_eq!(c.get_ok("/v1/log/key").unwrap().trim(), published);
    let (cp, _) = c
        .checkpoint(&verifier)
        .expect("the checkpoint verifies with the demo log's published key");
    assert!(
        (60..=200).contains(&cp.size),
        "a week of 60 to 150 events and the registry: {} entries",
        cp.size
    );

    // Every manifest, read as the demo authority (a signed read: the full view).
    let authority =
        wasteledger::keyfile::read(&crate_dir().join("keys/demo-authority.pem")).unwrap();
    let list = c
        .get_signed("/v1/manifests?limit=1000", &authority)
        .unwrap();
    assert_eq!(list.status, 200, "{}", list.body);
    let list = list.json().unwrap()["manifests"]
        .as_array()
        .unwrap()
        .clone();
    let mut full: BTreeMap<String, Value> = BTreeMap::new();
    for m in &list {
        let n = m["number"].as_str().unwrap();
        let a = c
            .get_signed(&format!("/v1/manifests/{n}"), &authority)
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        let v = a.json().unwrap();
        assert_eq!(v["view"], "full", "{v}");
        full.insert(n.to_string(), v);
    }
    let streams: Vec<&str> = full
        .values()
        .map(|m| m["stream"].as_str().unwrap())
        .collect();
    for s in ["hazardous", "construction"] {
        assert!(
            streams.iter().filter(|x| **x == s).count() >= 2,
            "several {s} manifests: {streams:?}"
        );
    }
    let with_flag = |kind: &str| -> Vec<&Value> {
        full.values()
            .filter(|m| kinds(&m["flags"]).iter().any(|k| k == kind))
            .collect()
    };

    // The load that never arrives: still on the road, overdue by now.
    let overdue = with_flag("overdue");
    assert_eq!(overdue.len(), 1, "one overdue load");
    assert_eq!(overdue[0]["status"], "in_transit");
    assert_eq!(overdue[0]["stream"], "hazardous");
    let lost = overdue[0]["number"].as_str().unwrap().to_string();
    // The public view (a QR scan, no signature) shows where it stands, and nothing private.
    let public: Value =
        serde_json::from_str(&c.get_ok(&format!("/v1/manifests/{lost}")).unwrap()).unwrap();
    assert_eq!(
        (&public["view"], &public["status"]),
        (&Value::from("public"), &Value::from("in_transit"))
    );
    assert!(public.get("holder").is_none(), "{public}");

    // The receiver that took a code it holds no licence for.
    let unlicensed = with_flag("not_licensed");
    assert_eq!(unlicensed.len(), 1, "one unlicensed receipt");
    assert_eq!(unlicensed[0]["status"], "received");

    // Nothing else is wrong in the week: the rest of the chain is clean.
    for kind in [
        "quantity_gap",
        "no_permit",
        "unknown_code",
        "diverted",
        "foreign_driver",
    ] {
        let hit: Vec<&Value> = with_flag(kind);
        assert!(
            hit.is_empty(),
            "no {kind} in the demo: {:?}",
            hit.iter().map(|m| &m["flags"]).collect::<Vec<_>>()
        );
    }

    // Each driver is one registered person: the bureau's search by name links every load the
    // busiest one drove (five hand-overs), and the search by the id finds the same loads.
    let by_name = c
        .get_signed(
            &format!(
                "/v1/search?driver_name={}",
                wasteledger::client::encode("张建国")
            ),
            &authority,
        )
        .unwrap();
    assert_eq!(by_name.status, 200, "{}", by_name.body);
    let by_name = by_name.json().unwrap();
    let loads = by_name["manifests"].as_array().unwrap().len();
    assert!(loads >= 3, "one driver, several loads: {by_name}");
    let id = by_name["subject"]["id"].as_str().unwrap();
    let by_id = c
        .get_signed(&format!("/v1/search?driver={id}"), &authority)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(by_id["manifests"], by_name["manifests"]);

    // The detectors see the same week: the overdue load, the unlicensed receipt, and the lost
    // load's truck standing 45 minutes outside every site (its track points); nothing else.
    let found = c.get_signed("/v1/anomalies", &authority).unwrap();
    assert_eq!(found.status, 200, "{}", found.body);
    let found = found.json().unwrap()["anomalies"]
        .as_array()
        .unwrap()
        .clone();
    let mut found_kinds: Vec<&str> = found.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    found_kinds.sort();
    assert_eq!(
        found_kinds,
        vec!["dwell_outside_sites", "not_licensed", "overdue"],
        "{found:#?}"
    );
    let by_kind = |k: &str| found.iter().find(|a| a["kind"] == k).unwrap();
    assert_eq!(
        by_kind("overdue")["manifests"],
        Value::from(vec![lost.clone()])
    );
    assert_eq!(
        by_kind("not_licensed")["manifests"],
        Value::from(vec![unlicensed[0]["number"].clone()])
    );
    let dwell = by_kind("dwell_outside_sites");
    assert_eq!(dwell["manifests"], Value::from(vec![lost.clone()]));
    assert_eq!(dwell["vehicles"], Value::from(vec!["苏E9C437"]));
    assert!(
        dwell["reason"]
            .as_str()
            .unwrap()
            .contains("(45 min, 5 track points)"),
        "{dwell}"
    );
    // The lost load's manifest carries both of its own.
    let mut own = kinds(&full[&lost]["anomalies"]);
    own.sort();
    assert_eq!(own, vec!["dwell_outside_sites", "overdue"]);

    // Small loads consolidated at the transfer platform into one that went on and was treated.
    let consolidated: Vec<&Value> = full
        .values()
        .filter(|m| m["status"] == "consolidated")
        .collect();
    assert!(consolidated.len() >= 2, "small loads consolidated");
    let onward = consolidated[0]["onward"].as_array().unwrap();
    assert_eq!(onward.len(), 1, "{}", consolidated[0]);
    let out = &full[onward[0].as_str().unwrap()];
    let sources: Vec<&str> = out["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(sources.len() >= 2, "{out}");
    for s in &sources {
        assert_eq!(full[*s]["status"], "consolidated", "input {s}");
        assert_eq!(full[*s]["onward"], Value::from(vec![out["number"].clone()]));
    }
    let issuers: std::collections::BTreeSet<&str> = sources
        .iter()
        .map(|s| full[*s]["issuer"].as_str().unwrap())
        .collect();
    assert!(issuers.len() >= 2, "loads of two plants: {issuers:?}");
    assert_eq!(out["status"], "treated", "{out}");

    // One partial rejection: some of a load accepted, the rest sent back to its generator.
    let partial: Vec<&Value> = full
        .values()
        .filter(|m| amounts(&m["rejected"]).iter().any(|&r| r > 0))
        .collect();
    assert_eq!(partial.len(), 1, "one partial rejection");
    let p = partial[0];
    assert!(amounts(&p["accepted"]).iter().any(|&a| a > 0), "{p}");
    assert_eq!(p["rejection"]["to"], p["issuer"], "back to the generator");
    // It went by relay: two haulers' vehicles carried it.
    assert!(p["vehicles"].as_array().unwrap().len() >= 2, "{p}");

    // The parties' key files are registered keys: each can make a signed read.
    let keys: Vec<PathBuf> = std::fs::read_dir(data.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
        .collect();
    assert!(keys.len() >= 10, "{keys:?}");
    for k in &keys {
        let key = wasteledger::keyfile::read(k).unwrap();
        let a = c.get_signed("/v1/manifests", &key).unwrap();
        assert_eq!(a.status, 200, "{}: {}", k.display(), a.body);
    }

    // The summary says what to open and that the keys are demo keys.
    let summary = demo.summary();
    for want in [
        "DEMO KEYS",
        "/v1/log/checkpoint",
        &format!("/v1/manifests/{lost}"),
        "overdue",
        "not_licensed",
        "dwell_outside_sites (entries",
        "wasteledger anomalies --server",
    ] {
        assert!(
            summary.contains(want),
            "the summary lacks {want:?}:\n{summary}"
        );
    }

    demo.kill();
    // A second demo on the same directory is refused, and changes nothing.
    let dir_s = data.to_str().unwrap();
    let (ok, out) = run(&["demo", "--data", dir_s, "--listen", "127.0.0.1:0"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("already holds a log") && out.contains("pick an empty"),
        "{out}"
    );
    // The stored log verifies offline (sled lets go of its lock a moment after the process).
    let (ok, out) = crate::support::run_unlocked(&["verify", "--data", dir_s]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("ok: {} entries", cp.size)), "{out}");

    // Every derived tree rebuilt from the log alone, then the log reopened by `serve` (the
    // domain state replayed from the entries): every manifest reads exactly as before, with
    // the week's consolidation, void, partial rejection and return, treatments, inspections.
    let log_key = crate_dir().join("keys/demo-log.pem");
    let (ok, out) = run(&[
        "reindex",
        "--data",
        dir_s,
        "--log-key",
        log_key.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let server =
        crate::support::Server::start_with(&data, &["--log-key", log_key.to_str().unwrap()]);
    let c = server.client();
    for (n, before) in &full {
        let after = c
            .get_signed(&format!("/v1/manifests/{n}"), &authority)
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(&after, before, "manifest {n} after reindex and restart");
    }
    let list_after = c
        .get_signed("/v1/manifests?limit=1000", &authority)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list_after["manifests"].as_array().unwrap(), &list);
}

/// Split a printed command line the way a shell would for what the demo prints: words
/// separated by spaces, single quotes around a word that holds `+` or `/`.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Every command the demo prints for a person to copy works as printed (run in a scratch
/// directory, the order printed): labels, a QR code, its scan, the example event, anomalies,
/// the audit.
#[test]
fn every_command_the_demo_prints_works() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(&dir.path().join("demo"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !demo.summary().contains("re-checks every entry") {
        assert!(std::time::Instant::now() < deadline, "{}", demo.summary());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let summary = demo.summary();
    let commands: Vec<Vec<String>> = summary
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("wasteledger "))
        .filter(|l| !l.starts_with("demo:"))
        .map(|l| shell_words(l.split("    ").next().unwrap()))
        .collect();
    assert!(commands.len() >= 6, "{summary}");
    let work = tempfile::tempdir().unwrap();
    for args in &commands {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(work.path())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`wasteledger {}` failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(work.path().join("labels.html").exists() && work.path().join("code.png").exists());
    demo.kill();
}

/// Every command that prints a result gives it as JSON with `--json` (standard output holds
/// only the JSON object): print, scan, audit, bundle, verify-bundle, witness-key, and with the
/// server stopped reindex and verify.
#[test]
fn every_command_that_prints_a_result_answers_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = Demo::start(&data);
    let work = dir.path();
    let at = |name: &str| work.join(name).to_str().unwrap().to_string();
    let json_of = |args: &[&str]| -> Value {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(work)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "one JSON object, nothing else: {stdout}");
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{stdout}: {e}"))
    };
    let log_key = published_verifier();
    let bureau = data.join("keys/bureau.pem");
    let bureau = bureau.to_str().unwrap();
    let huachen = data.join("keys/huachen.pem");
    let c = LogClient::new(&demo.url);
    let list = c
        .get_signed(
            "/v1/manifests?status=in_transit",
            &wasteledger::keyfile::read(&crate_dir().join("keys/demo-authority.pem")).unwrap(),
        )
        .unwrap()
        .json()
        .unwrap();
    let moving = list["manifests"][0]["number"].as_str().unwrap().to_string();

    let printed = json_of(&[
        "print",
        "--server",
        &demo.url,
        "--key",
        bureau,
        "--manifest",
        &moving,
        "--qr",
        "--out",
        &at("m.png"),
        "--json",
    ]);
    assert!(printed["bytes"].as_u64().unwrap() > 100, "{printed}");
    let scanned = json_of(&[
        "scan",
        &at("m.png"),
        "--log-key",
        &log_key,
        "--server",
        &demo.url,
        "--json",
    ]);
    assert_eq!(scanned["offline"]["ok"], true, "{scanned}");
    assert_eq!(
        scanned["offline"]["manifest"],
        serde_json::json!(moving),
        "{scanned}"
    );
    assert!(scanned["live"]["verdict"].is_string(), "{scanned}");
    let audited = json_of(&[
        "audit",
        "--server",
        &demo.url,
        "--key",
        bureau,
        "--log-key",
        &log_key,
        "--json",
    ]);
    assert_eq!(audited["ok"], true, "{audited}");
    let pulled = json_of(&[
        "bundle",
        "--server",
        &demo.url,
        "--key",
        bureau,
        "--case",
        "KS-2026-0099",
        "--reason",
        "a test",
        "--manifest",
        &moving,
        "--out",
        &at("case.json"),
        "--json",
    ]);
    assert_eq!(pulled["verified"], true, "{pulled}");
    let checked = json_of(&[
        "verify-bundle",
        &at("case.json"),
        "--log-key",
        &log_key,
        "--json",
    ]);
    assert_eq!(checked["verified"], true, "{checked}");
    assert!(checked["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true));
    let witness = json_of(&[
        "witness-key",
        "--key",
        huachen.to_str().unwrap(),
        "--name",
        "w.example",
        "--json",
    ]);
    assert!(
        witness["verifier_key"]
            .as_str()
            .unwrap()
            .starts_with("w.example+"),
        "{witness}"
    );
    let size = audited["size"].as_u64().unwrap();
    demo.kill();
    crate::tamper::wait_unlocked(&data);
    let d = data.to_str().unwrap();
    let verified = json_of(&["verify", "--data", d, "--json"]);
    assert_eq!(verified["ok"], true, "{verified}");
    assert!(
        verified["size"].as_u64().unwrap() > size,
        "the pull is on the log too"
    );
    let log_pem = crate_dir().join("keys/demo-log.pem");
    let reindexed = json_of(&[
        "reindex",
        "--data",
        d,
        "--log-key",
        log_pem.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(reindexed["entries"], verified["size"], "{reindexed}");
}
