//! Cases and bundles in the console (issue 14 item 6): the in-browser bundle check
//! (`wl-bundle.js`) is a second implementation of fixtures/bundle/FORMAT.md, and agrees with
//! `investigate::bundle::verify` (what `wasteledger verify-bundle` runs) on real bundles and on
//! altered copies, reason for reason.

use crate::browser::{Browser, LaunchOptions, Page};
use crate::support::{in_seconds, key, pk, run, signed};
use crate::world::{ok, post, World};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use wasteledger::investigate::bundle::{self, Bundle};
use wasteledger::ledger::note::NoteVerifier;

/// The reason code `wl-bundle.js` gives for what the Rust verifier says (subject, detail).
/// Panics on a message it does not know: a new reason must be mapped here and in the JS.
pub fn code_of(subject: &str, detail: &str) -> &'static str {
    let d = detail;
    let table: &[(&str, &str)] = &[
        ("not a wasteledger bundle", "bundle-json"),
        ("the bundle names ", "log-key"),
        ("not signed by the given log key", "checkpoint-not-signed"),
        (
            "a signature line of the given log key does not verify",
            "checkpoint-bad-signature",
        ),
        ("entries are not in strictly increasing", "entry-order"),
        ("`entry` is not base64", "entry-base64"),
        ("the bytes do not parse as a log entry", "entry-parse"),
        ("the bytes hold entry", "entry-index"),
        ("the proof is for index", "proof-index"),
        ("the proof carries another checkpoint", "proof-checkpoint"),
        ("is not inside the checkpoint's tree", "proof-outside"),
        ("inclusion proof does not lead", "proof-root"),
        ("not 32 zero bytes", "chain-zero"),
        ("the entries do not chain", "chain-prev"),
        ("the log's time never goes backwards", "time-backwards"),
        ("genesis names log key", "genesis-log-key"),
        ("genesis names the log", "genesis-name"),
        ("not a genesis signed", "genesis-not"),
        ("is not signed by the authority", "registry-not-authority"),
        ("the log refuses such an entry", "registry-refused"),
        ("its key.delegated", "delegation-chain"),
        ("on or after its not_after", "device-expired"),
        ("has no key.added entry in the bundle", "key-unregistered"),
        ("used before it was registered", "key-before-registration"),
        ("on or after its revocation effective", "key-revoked"),
        (
            "which has no party.registered entry",
            "key-holder-unregistered",
        ),
        ("(the export) is not in the bundle", "export-missing"),
        ("not evidence.exported", "export-type"),
        ("whom it names", "export-signer"),
        ("the bundle's header says", "export-header"),
        ("is selected but the bundle lists", "export-selection"),
        ("but not in the selection", "export-selection"),
        ("listed more than once", "manifest-twice"),
        ("not in strictly ascending order", "manifest-order"),
        ("is listed but not (readable)", "manifest-entry-missing"),
        ("creating entry", "manifest-creator"),
        ("which creates no manifest", "manifest-creator"),
        ("listed under manifest", "manifest-unnamed"),
        ("registry", "genesis-missing"),
    ];
    if subject == "registry" {
        return "genesis-missing";
    }
    if subject == "bundle" && d.starts_with("format ") {
        return "bundle-format";
    }
    if subject == "checkpoint" && d.starts_with("note:") {
        return "checkpoint-note";
    }
    if subject == "checkpoint" && d.starts_with("checkpoint:") {
        return "checkpoint-body";
    }
    if d.starts_with("proof: ") {
        return "proof-parse";
    }
    if d.starts_with("proof has ") {
        return "proof-length";
    }
    if d.starts_with("signature by key ") {
        return "signature";
    }
    table
        .iter()
        .find(|(text, _)| d.contains(text))
        .map(|(_, code)| *code)
        .unwrap_or_else(|| panic!("no reason code for {subject}: {detail}"))
}

/// Codes whose English wording may differ between the two implementations (a parser's own
/// error text); for every other code the detail is asserted equal, word for word.
const OWN_WORDS: &[&str] = &[
    "bundle-json",
    "entry-parse",
    "checkpoint-note",
    "registry-refused",
];

/// (subject, code, detail) of each failure, sorted.
type Failures = Vec<(String, String, String)>;

pub fn rust_verdict(bytes: &[u8], log: &NoteVerifier) -> (bool, Failures) {
    let r = bundle::verify(bytes, log);
    let mut f: Failures = r
        .failures()
        .iter()
        .map(|c| {
            (
                c.subject.clone(),
                code_of(&c.subject, &c.detail).to_string(),
                c.detail.clone(),
            )
        })
        .collect();
    f.sort();
    (r.ok(), f)
}

pub fn js_verdict(page: &Page, bytes: &[u8], log: &NoteVerifier) -> (bool, Failures) {
    let text = serde_json::to_string(&String::from_utf8_lossy(bytes)).unwrap();
    let key = serde_json::to_string(&log.to_string()).unwrap();
    let v = page.eval(&format!(
        "import('/app/static/wl-bundle.js').then(m => m.verifyBundle({text}, {key})).then(r => ({{ok: r.ok, checks: r.checks}}))"
    ));
    let mut f: Failures = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("subject"), s("code"), s("detail"))
        })
        .collect();
    f.sort();
    (v["ok"] == true, f)
}

/// Both verifiers on `bytes`: the same verdict and the same reasons (codes, and the words
/// themselves where both word them alike). Returns the Rust failures.
pub fn agree(page: &Page, what: &str, bytes: &[u8], log: &NoteVerifier) -> Failures {
    let (rok, rf) = rust_verdict(bytes, log);
    let (jok, jf) = js_verdict(page, bytes, log);
    assert_eq!(
        rok, jok,
        "{what}: verdicts differ\n rust: {rf:#?}\n js: {jf:#?}"
    );
    let codes = |f: &Failures| -> Vec<(String, String)> {
        let mut v: Vec<_> = f.iter().map(|(s, c, _)| (s.clone(), c.clone())).collect();
        v.sort();
        v
    };
    assert_eq!(
        codes(&rf),
        codes(&jf),
        "{what}: reasons differ\n rust: {rf:#?}\n js: {jf:#?}"
    );
    for ((s, c, rd), (_, _, jd)) in rf.iter().zip(&jf) {
        if !OWN_WORDS.contains(&c.as_str()) {
            assert_eq!(rd, jd, "{what}: {s} ({c}) is worded differently");
        }
    }
    rf
}

/// A relayed, received load, and a load issued by the plant's phone (a device key the plant
/// delegated); a bundle of each pulled by the bureau.
struct Pulled {
    w: World,
    log: NoteVerifier,
    plain: Bundle,
    relayed: String,
    delegated: Bundle,
    /// The delegation's entry and the plant key's `key.added` in `delegated`.
    delegation: u64,
    issued: u64,
}

pub fn pull(w: &World, case: &str, manifests: &[&str]) -> Bundle {
    let export = json!({"type": "evidence.exported", "by": w.bureau.id, "case": case,
                        "reason": "illegal dumping reported at Zhangpu", "manifests": manifests,
                        "query": "vehicle=苏E23456", "at": in_seconds(0)});
    let a =
        w.c.post("/v1/bundles", &signed(export, &[&w.bureau.key]).to_bytes())
            .unwrap();
    assert_eq!(a.status, 201, "{}", a.body);
    serde_json::from_str(&a.body).unwrap()
}

fn pulled(dir: &std::path::Path) -> Pulled {
    let w = World::start(dir);
    let relayed = w.relayed_load();
    let phone = key(231);
    let del = ok(
        &w.c,
        json!({"type": "key.delegated", "key": pk(&phone), "holder": w.plant.id,
               "label": "gate phone", "not_after": in_seconds(3600)}),
        &[&w.plant.key],
    );
    let delegation = del["index"].as_u64().unwrap();
    let body = json!({
        "type": "manifest.issued", "reference": w.slip(), "stream": "hazardous", "generator": w.plant.id,
        "origin": "S-PLANT", "destination": "S-DISPOSAL", "haulers": [w.hauler_a.id],
        "lines": [{"code": "900-249-08", "name": "废矿物油 waste mineral oil", "form": "liquid", "hazards": ["T"],
                   "quantity": {"amount": 1000, "unit": "g"}}]});
    let (status, a) = post(&w.c, &signed(body, &[&phone]).to_bytes());
    assert_eq!(status, 201, "{a}");
    let by_phone = a["manifests"][0].as_str().unwrap().to_string();
    let issued = a["index"].as_u64().unwrap();
    let plain = pull(&w, "KS-2026-0042", &[&relayed]);
    let delegated = pull(&w, "KS-DEV-1", &[&by_phone]);
    let log = w.c.verifier().unwrap();
    Pulled {
        w,
        log,
        plain,
        relayed,
        delegated,
        delegation,
        issued,
    }
}

fn with_entry(b: &Bundle, index: u64, edit: impl FnOnce(&mut Vec<u8>)) -> Bundle {
    let mut b = b.clone();
    let e = b.entries.iter_mut().find(|e| e.index == index).unwrap();
    let mut bytes = B64.decode(&e.entry).unwrap();
    edit(&mut bytes);
    e.entry = B64.encode(bytes);
    b
}

fn without(b: &Bundle, index: u64) -> Bundle {
    let mut b = b.clone();
    b.entries.retain(|e| e.index != index);
    b
}

fn has(f: &Failures, subject: &str, code: &str) {
    assert!(
        f.iter().any(|(s, c, _)| s == subject && c == code),
        "expected {subject}: {code}, got {f:#?}"
    );
}

#[test]
fn the_browser_and_verify_bundle_accept_and_reject_the_same_bundles_for_the_same_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let p = pulled(dir.path());
    let (log, w) = (&p.log, &p.w);
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.navigate(&format!("{}/app", w.server.url));

    // Genuine bundles: both accept, and so does the command line.
    for (what, b) in [("plain", &p.plain), ("delegated", &p.delegated)] {
        assert_eq!(agree(&page, what, &b.to_bytes(), log), vec![], "{what}");
        let file = dir.path().join(format!("{what}.bundle.json"));
        std::fs::write(&file, b.to_bytes()).unwrap();
        let (okay, out) = run(&[
            "verify-bundle",
            file.to_str().unwrap(),
            "--log-key",
            &log.to_string(),
        ]);
        assert!(okay, "{what}: {out}");
    }
    let b = &p.plain;
    let m = &p.plain.manifests[0];
    assert_eq!(m.number.as_str(), p.relayed);
    let handed = *m.entries.last().unwrap();

    // One byte of an entry: 340000 g handed over becomes 440000 g: its proof and its
    // signature no longer hold.
    let one_byte = with_entry(b, handed, |bytes| {
        let at = bytes.windows(6).position(|w| w == b"340000").unwrap();
        bytes[at] = b'4';
    });
    let f = agree(&page, "one byte", &one_byte.to_bytes(), log);
    has(&f, &format!("entry {handed}"), "proof-root");
    has(&f, &format!("entry {handed}"), "signature");
    // The same alteration, through the command line: fails, naming the proof.
    let file = dir.path().join("altered.bundle.json");
    std::fs::write(&file, one_byte.to_bytes()).unwrap();
    let (okay, out) = verify_bundle(&file, log);
    assert!(
        !okay && out.contains("inclusion proof does not lead to the checkpoint's root"),
        "{out}"
    );

    // A removed entry: the manifest's own list names it.
    let f = agree(&page, "removed entry", &without(b, handed).to_bytes(), log);
    has(
        &f,
        &format!("manifest {}", m.number),
        "manifest-entry-missing",
    );
    // A removed key.added: its signer's entries name the missing registration.
    let reg = b
        .entries
        .iter()
        .find(|e| {
            e.why
                .iter()
                .any(|r| r == &format!("registry: key.added of {}", pk(&w.hauler_b.key)))
        })
        .unwrap()
        .index;
    let f = agree(&page, "removed key.added", &without(b, reg).to_bytes(), log);
    has(&f, &format!("entry {handed}"), "key-unregistered");
    // The genesis removed.
    let f = agree(&page, "no genesis", &without(b, 0).to_bytes(), log);
    has(&f, "registry", "genesis-missing");

    // A wrong proof: one hash of the hand-over's proof replaced by another's.
    let mut wrong = b.clone();
    let e = wrong
        .entries
        .iter_mut()
        .find(|e| e.index == handed)
        .unwrap();
    let mut lines: Vec<String> = e.proof.lines().map(str::to_string).collect();
    lines[2] = B64.encode([7u8; 32]);
    e.proof = lines.join("\n") + "\n";
    let f = agree(&page, "wrong proof", &wrong.to_bytes(), log);
    has(&f, &format!("entry {handed}"), "proof-root");
    // A proof one hash short.
    let mut short = b.clone();
    let e = short
        .entries
        .iter_mut()
        .find(|e| e.index == handed)
        .unwrap();
    e.proof = e
        .proof
        .replacen(&format!("{}\n", e.proof.lines().nth(2).unwrap()), "", 1);
    let f = agree(&page, "short proof", &short.to_bytes(), log);
    has(&f, &format!("entry {handed}"), "proof-length");

    // A wrong checkpoint signature (in the bundle's checkpoint and every proof's copy).
    let sig_line = b.checkpoint.lines().last().unwrap().to_string();
    let (head, blob) = sig_line.rsplit_once(' ').unwrap();
    let mut raw = B64.decode(blob).unwrap();
    raw[10] ^= 1;
    let forged = b
        .checkpoint
        .replace(&sig_line, &format!("{head} {}", B64.encode(raw)));
    let mut bad_cp = b.clone();
    for e in &mut bad_cp.entries {
        e.proof = e.proof.replace(&b.checkpoint, &forged);
    }
    bad_cp.checkpoint = forged;
    let f = agree(&page, "forged checkpoint", &bad_cp.to_bytes(), log);
    has(&f, "checkpoint", "checkpoint-bad-signature");
    // Only the proofs' copy changed.
    let mut other = b.clone();
    other.checkpoint = bad_cp.checkpoint.clone();
    agree(&page, "another checkpoint", &other.to_bytes(), log);

    // A cosignature line of a witness neither verifier is given: counted, not checked, and the
    // bundle holds for both (as `verify-bundle` without `--witness`).
    let cosigned_note = format!(
        "{}\u{2014} witness.example/w1 {}\n",
        b.checkpoint,
        B64.encode([9u8; 76])
    );
    let mut cosigned = b.clone();
    for e in &mut cosigned.entries {
        e.proof = e.proof.replace(&b.checkpoint, &cosigned_note);
    }
    cosigned.checkpoint = cosigned_note;
    assert_eq!(agree(&page, "cosigned", &cosigned.to_bytes(), log), vec![]);
    let counted = page.eval(&format!(
        "import('/app/static/wl-bundle.js').then(m => m.verifyBundle({}, {})).then(r => r.cosignatures)",
        serde_json::to_string(&String::from_utf8(cosigned.to_bytes()).unwrap()).unwrap(),
        serde_json::to_string(&log.to_string()).unwrap()
    ));
    assert_eq!(counted, 1);

    // Another log's key pinned: the checkpoint is not signed by it, and the bundle names
    // another key.
    let stranger = NoteVerifier::new(&log.name, key(77).verifying_key()).unwrap();
    let f = agree(&page, "another log key", &b.to_bytes(), &stranger);
    has(&f, "log key", "log-key");
    has(&f, "checkpoint", "checkpoint-not-signed");

    // The header lies about the case.
    let mut header = b.clone();
    header.export.case = "KS-2026-9999".into();
    let f = agree(&page, "header", &header.to_bytes(), log);
    has(&f, "export", "export-header");
    // Entries listed out of order, a manifest listed twice.
    let mut order = b.clone();
    order.entries.swap(1, 2);
    agree(&page, "order", &order.to_bytes(), log);
    let mut twice = b.clone();
    twice.manifests.push(twice.manifests[0].clone());
    let f = agree(&page, "twice", &twice.to_bytes(), log);
    has(&f, &format!("manifest {}", m.number), "manifest-twice");
    // Not a bundle at all, or with an unknown field.
    agree(&page, "not json", b"{\"format\": ", log);
    let mut v: Value = serde_json::from_slice(&b.to_bytes()).unwrap();
    v["signed_by_the_court"] = json!(true);
    agree(
        &page,
        "unknown field",
        &serde_json::to_vec(&v).unwrap(),
        log,
    );

    // The delegation chain broken: without the plant key's key.added the phone's delegation
    // is signed by a key the bundle does not register; without the delegation itself the
    // phone's key is unknown.
    let d = &p.delegated;
    let plant_added = d
        .entries
        .iter()
        .find(|e| {
            e.why
                .iter()
                .any(|r| r == &format!("registry: key.added of {}", pk(&w.plant.key)))
        })
        .unwrap()
        .index;
    let f = agree(
        &page,
        "no party key",
        &without(d, plant_added).to_bytes(),
        log,
    );
    has(&f, &format!("entry {}", p.issued), "delegation-chain");
    let f = agree(
        &page,
        "no delegation",
        &without(d, p.delegation).to_bytes(),
        log,
    );
    has(&f, &format!("entry {}", p.issued), "key-unregistered");
    // The delegation's holder altered.
    let altered = with_entry(d, p.delegation, |bytes| {
        let text = String::from_utf8(bytes.clone()).unwrap();
        *bytes = text.replace(&w.plant.id, &w.hauler_a.id).into_bytes();
    });
    agree(&page, "delegation altered", &altered.to_bytes(), log);
}

/// Choose `file` in the file input `selector`, as a person picking it in the dialog.
fn choose_file(page: &Page, selector: &str, file: &std::path::Path) {
    let doc = page.call("DOM.getDocument", json!({}));
    let node = page.call(
        "DOM.querySelector",
        json!({"nodeId": doc["root"]["nodeId"], "selector": selector}),
    );
    page.call(
        "DOM.setFileInputFiles",
        json!({"files": [file.to_str().unwrap()], "nodeId": node["nodeId"]}),
    );
}

/// What `wasteledger verify-bundle FILE --log-key KEY` says: (it holds, its output).
pub(crate) fn verify_bundle(file: &std::path::Path, log: &NoteVerifier) -> (bool, String) {
    run(&[
        "verify-bundle",
        file.to_str().unwrap(),
        "--log-key",
        &log.to_string(),
    ])
}

/// The one bundle Chromium downloaded into `dir`, once complete.
pub(crate) fn downloaded(dir: &std::path::Path) -> std::path::PathBuf {
    downloaded_as(dir, ".bundle.json")
}

/// The one file named `*{suffix}` Chromium downloaded into `dir`, once complete: there, not
/// empty, and the same size a moment later (the name can appear before the bytes do).
pub(crate) fn downloaded_as(dir: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let started = std::time::Instant::now();
    let mut last: Option<(std::path::PathBuf, u64)> = None;
    loop {
        let done: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        if let [one] = &done[..] {
            let size = std::fs::metadata(one).map(|m| m.len()).unwrap_or(0);
            let now = (one.clone(), size);
            if size > 0 && last.as_ref() == Some(&now) {
                return now.0;
            }
            last = Some(now);
        }
        assert!(
            started.elapsed() < crate::browser::WAIT,
            "no complete *{suffix} download in {}: {done:?}",
            dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
}

/// The check page's verdict on `file`: (ok, the failures' (subject, code)).
pub(crate) fn check_page(page: &Page, file: &std::path::Path) -> (bool, Vec<(String, String)>) {
    page.eval("document.getElementById('result').hidden = true; document.getElementById('verdict').removeAttribute('data-ok'); true");
    choose_file(page, "#bundle-file", file);
    page.wait_for(
        "!!document.getElementById('verdict').dataset.ok",
        crate::browser::WAIT,
    );
    let v = page.eval(
        "({ok: document.getElementById('verdict').dataset.ok === 'yes', bad: [...document.querySelectorAll('#checks li.bad')].map(li => [li.dataset.subject, li.dataset.code])})",
    );
    let mut bad: Vec<(String, String)> = serde_json::from_value(v["bad"].clone()).unwrap();
    bad.sort();
    (v["ok"] == true, bad)
}

#[test]
fn a_case_pulled_in_the_browser_verifies_with_verify_bundle_and_on_the_offline_check_page() {
    use crate::app_kit::{desk, set, text_of};
    use crate::app_pages::look;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let base = w.server.url.clone();
    let m = w.relayed_load();
    let log = w.c.verifier().unwrap();
    let (browser, page) = desk(&base, &w.bureau.key);
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    browser.call(
        "Browser.setDownloadBehavior",
        json!({"behavior": "allow", "downloadPath": downloads.to_str().unwrap()}),
    );

    // The search page picked the load; the cases page offers it.
    page.eval(&format!(
        "localStorage.setItem('wl_case_pick', JSON.stringify([{m:?}])); true"
    ));
    page.navigate(&format!("{base}/app/cases"));
    page.wait_for(
        "document.body.dataset.casesReady === 'yes'",
        crate::browser::WAIT,
    );
    assert_eq!(
        page.eval("document.getElementById('manifests').value"),
        json!(m)
    );
    assert!(text_of(&page, "#exports").contains("尚无调取记录"));
    look(&page, "console-cases-pick");
    set(&page, "#case", "KS-2026-0042");
    set(&page, "#reason", "张浦非法倾倒举报");
    page.click("#pull");
    page.wait_for(
        "document.getElementById('bundle-verdict') && document.getElementById('exports').dataset.loaded === 'yes' && document.querySelectorAll('#exports li.export').length === 1",
        crate::browser::WAIT,
    );
    assert_eq!(
        page.eval("document.getElementById('bundle-verdict').dataset.ok"),
        "yes"
    );
    assert!(text_of(&page, "#pull-state").contains("已调取并下载"));

    // The pull is on the log, with the case and the reason, signed by the bureau.
    let a = w.c.get_signed("/v1/exports", &w.bureau.key).unwrap();
    let exports: Value = serde_json::from_str(&a.body).unwrap();
    let x = &exports["exports"][0];
    assert_eq!(
        (&x["case"], &x["reason"], &x["by"], &x["manifests"]),
        (
            &json!("KS-2026-0042"),
            &json!("张浦非法倾倒举报"),
            &json!(w.bureau.id),
            &json!([m])
        ),
        "{exports}"
    );
    let index = x["index"].as_u64().unwrap();
    let entry: Value = serde_json::from_str(&w.entry(index)).unwrap();
    assert_eq!(entry["event"]["type"], "evidence.exported");
    assert_eq!(entry["event"]["case"], "KS-2026-0042");
    assert_eq!(entry["signatures"][0]["key"], pk(&w.bureau.key));
    // The exports list shows it: who, which case, why.
    let listed = text_of(&page, "#exports");
    for want in [
        "KS-2026-0042",
        "张浦非法倾倒举报",
        w.bureau.name,
        m.as_str(),
    ] {
        assert!(listed.contains(want), "{want} in {listed}");
    }
    // The summary names the manifest's entries in words and the file's hash.
    let summary = text_of(&page, "#summary-body");
    assert!(
        summary.contains(&format!("联单 {m}")) && summary.contains("文件 SHA-256"),
        "{summary}"
    );
    look(&page, "console-cases-pulled");
    page.call("Emulation.setEmulatedMedia", json!({"media": "print"}));
    look(&page, "console-cases-print");
    page.call("Emulation.setEmulatedMedia", json!({"media": ""}));

    // The downloaded file passes verify-bundle.
    let file = downloaded(&downloads);
    assert!(
        file.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("case-KS-2026-0042-export-"),
        "{file:?}"
    );
    let (okay, out) = verify_bundle(&file, &log);
    assert!(okay, "{out}");
    let good = std::fs::read(&file).unwrap();
    // One byte altered (a hand-over's 340000 g becomes 440000 g).
    let b: Bundle = serde_json::from_slice(&good).unwrap();
    let handed = *b.manifests[0].entries.last().unwrap();
    let altered = with_entry(&b, handed, |bytes| {
        let at = bytes.windows(6).position(|w| w == b"340000").unwrap();
        bytes[at] = b'4';
    });
    let bad_file = dir.path().join("altered.bundle.json");
    std::fs::write(&bad_file, altered.to_bytes()).unwrap();
    let (okay, out) = verify_bundle(&bad_file, &log);
    assert!(!okay, "{out}");
    let (_, rust) = rust_verdict(&altered.to_bytes(), &log);
    let mut rust: Vec<(String, String)> = rust.into_iter().map(|(s, c, _)| (s, c)).collect();
    rust.sort();
    rust.dedup();
    assert!(
        rust.contains(&(format!("entry {handed}"), "proof-root".into())),
        "{rust:?}"
    );

    // The check page, offline: the genuine file holds, the altered one fails for the same
    // reasons verify-bundle gives.
    // The offline worker (installing since the first page) controls the app before the
    // network goes.
    page.wait_for(
        "navigator.serviceWorker.controller !== null",
        std::time::Duration::from_secs(90),
    );
    page.set_offline(true);
    page.navigate(&format!("{base}/app/check"));
    page.wait_for(
        "document.body.dataset.checkReady === 'yes'",
        crate::browser::WAIT,
    );
    assert_eq!(
        text_of(&page, "#log-key"),
        log.to_string(),
        "the pinned key is shown"
    );
    look(&page, "console-cases-check");
    let (ok_, bad) = check_page(&page, &file);
    assert!(ok_, "{bad:?}");
    assert!(text_of(&page, "#verdict").contains("核验通过"));
    look(&page, "console-cases-check-ok");
    let (ok_, mut bad) = check_page(&page, &bad_file);
    bad.dedup();
    assert!(!ok_);
    assert_eq!(
        bad, rust,
        "the page and verify-bundle name the same failures"
    );
    let verdict = text_of(&page, "#verdict");
    assert!(
        verdict.contains("核验不通过") && verdict.contains("包含证明算不出检查点的根哈希"),
        "{verdict}"
    );
    look(&page, "console-cases-check-bad");
    page.set_offline(false);
}
