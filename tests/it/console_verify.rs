//! Issue 14 items 3, 6 and 7 with real witnesses: the log trusts three, two of them
//! (`wasteledger witness --once`) cosign its checkpoint. The timeline and the audit page show
//! "2 of 3 witnesses cosigned" with each witness's cosignature verified in Chromium, against
//! the witnesses pinned in the browser (not the list the server names now); a bundle pulled
//! after the witnesses cosigned passes the offline check page and `verify_witnessed`, and the
//! same bundle with one witness's cosignature altered is red on both, for the same reason.

use crate::app_kit::{desk, text_of};
use crate::app_pages::look;
use crate::browser::{Page, WAIT};
use crate::console_cases::{check_page, pull};
use crate::support::{key, run};
use crate::world::World;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;
use std::path::PathBuf;
use wasteledger::investigate::bundle::{self, Bundle};
use wasteledger::ledger::cosignature::{open_cosigned, WitnessKey};

/// Witness `n`: its key file `DIR/w{n}.pem` (the witness is named after the file: `w{n}`).
fn witness(dir: &std::path::Path, n: u8) -> (PathBuf, WitnessKey) {
    let path = dir.join(format!("w{n}.pem"));
    let k = key(80 + n);
    wasteledger::keyfile::write(&path, &k).unwrap();
    (
        path,
        WitnessKey::new(&format!("w{n}"), k.verifying_key()).unwrap(),
    )
}

fn state_of(page: &Page, id: &str) -> String {
    page.eval(&format!("document.getElementById('{id}').dataset.state"))
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// (witness name, state) of each item of the list `selector`.
fn witness_states(page: &Page, selector: &str) -> Vec<(String, String)> {
    let v = page.eval(&format!(
        "[...document.querySelectorAll('{selector} li.witness')].map((li) => [li.dataset.witness, li.dataset.state])"
    ));
    serde_json::from_value(v).unwrap()
}

/// `bundle` with the cosignature line of `name` altered (one bit of its signature), in the
/// checkpoint and in every proof that carries it.
fn with_cosignature_altered(b: &Bundle, name: &str) -> Bundle {
    let prefix = format!("\u{2014} {name} ");
    let line = b
        .checkpoint
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{name} cosigned: {}", b.checkpoint))
        .to_string();
    let mut blob = B64.decode(&line[prefix.len()..]).unwrap();
    let last = blob.len() - 1;
    blob[last] ^= 1;
    let altered = format!("{prefix}{}", B64.encode(blob));
    let mut b = b.clone();
    b.checkpoint = b.checkpoint.replace(&line, &altered);
    for e in &mut b.entries {
        e.proof = e.proof.replace(&line, &altered);
    }
    b
}

#[test]
fn witnesses_cosignatures_are_verified_in_the_browser_and_an_altered_one_is_red() {
    let dir = tempfile::tempdir().unwrap();
    let ws: Vec<(PathBuf, WitnessKey)> = (1..=3).map(|n| witness(dir.path(), n)).collect();
    let keys: Vec<WitnessKey> = ws.iter().map(|(_, w)| w.clone()).collect();
    let texts: Vec<String> = keys.iter().map(|w| w.to_string()).collect();
    let mut flags = Vec::new();
    for t in &texts {
        flags.extend(["--witness", t.as_str()]);
    }
    let w = World::start_with(dir.path(), &flags);
    let base = w.server.url.clone();
    let log = w.c.verifier().unwrap();
    let m = w.relayed_load();
    let pulled = pull(&w, "KS-WIT-1", &[&m]);
    let export = pulled.export.index;

    // Two of the three witnesses look at the log once and cosign its checkpoint.
    for (n, (file, _)) in ws.iter().enumerate().take(2) {
        let state = dir.path().join(format!("w{}-state", n + 1));
        let (ok, out) = run(&[
            "witness",
            "--log",
            &base,
            "--key",
            file.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--log-key",
            &log.to_string(),
            "--once",
        ]);
        assert!(ok, "{out}");
    }
    // What the log holds: its newest checkpoint cosigned by 2 of the 3, and nothing by w3.
    let note = w.c.get_ok("/v1/log/checkpoint/cosigned?quorum=2").unwrap();
    let cosigned = open_cosigned(&note, &log, &keys, 2).unwrap();
    let names: Vec<&str> = cosigned
        .cosigners
        .iter()
        .map(|(k, _)| k.name.as_str())
        .collect();
    assert_eq!(names, ["w1", "w2"]);
    assert!(open_cosigned(&note, &log, &keys, 3).is_err());
    let size = cosigned.checkpoint.size;
    assert!(size > export, "the cosigned checkpoint covers the export");

    // The timeline: the witnesses pinned at first use, each cosignature verified.
    let (_browser, page) = desk(&base, &w.bureau.key);
    page.navigate(&format!("{base}/app/m/{m}/timeline"));
    page.wait_for("document.body.dataset.checked === 'yes'", WAIT);
    assert_eq!(state_of(&page, "tl-checkpoint"), "ok");
    assert_eq!(state_of(&page, "tl-witnesses"), "ok");
    let said = text_of(&page, "#tl-witnesses");
    assert!(
        said.contains("2/3 个见证人联署（法定数 2）") && said.contains(&format!("前 {size} 条")),
        "{said}"
    );
    let expect = |w3: &str| {
        vec![
            ("w1".to_string(), "ok".to_string()),
            ("w2".to_string(), "ok".to_string()),
            ("w3".to_string(), w3.to_string()),
        ]
    };
    assert_eq!(witness_states(&page, "#tl-witness-list"), expect("none"));
    let pinned: Vec<String> = serde_json::from_str(
        page.eval("localStorage.getItem('wl_witness_keys')")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(pinned, texts, "pinned at first use: the log's witnesses");
    let rows = page.eval(
        "[...document.querySelectorAll('.tl-check')].map((c) => [c.dataset.state, c.textContent])",
    );
    for r in rows.as_array().unwrap() {
        assert_eq!(r[0], "ok", "{r}");
        assert!(
            r[1].as_str().unwrap().contains("已被 2/3 个见证人联署"),
            "{r}"
        );
    }
    look(&page, "console-verify-timeline-witnessed");

    // The audit page: the same witnesses, their latest cosignatures.
    page.navigate(&format!("{base}/app/audit"));
    page.wait_for("document.body.dataset.checked === 'yes'", WAIT);
    assert_eq!(state_of(&page, "audit-witnesses"), "ok");
    assert_eq!(witness_states(&page, "#audit-witness-list"), expect("none"));
    look(&page, "console-verify-audit-witnesses");

    // The server's list is not the trust root: a browser that pinned another third witness
    // checks against its own, and says the server now names others.
    let stranger = WitnessKey::new("w9", key(99).verifying_key()).unwrap();
    let kept = serde_json::to_string(&[&texts[0], &texts[1], &stranger.to_string()]).unwrap();
    page.eval(&format!(
        "localStorage.setItem('wl_witness_keys', {})",
        serde_json::to_string(&kept).unwrap()
    ));
    page.navigate(&format!("{base}/app/m/{m}/timeline"));
    page.wait_for("document.body.dataset.checked === 'yes'", WAIT);
    assert_eq!(state_of(&page, "tl-witnesses"), "bad");
    assert!(text_of(&page, "#tl-witnesses").contains("与本机固定的不同"));
    let states = witness_states(&page, "#tl-witness-list");
    assert_eq!(states[2], ("w9".to_string(), "none".to_string()));
    page.eval(&format!(
        "localStorage.setItem('wl_witness_keys', {})",
        serde_json::to_string(&serde_json::to_string(&texts).unwrap()).unwrap()
    ));

    // The bundle fetched again once the witnesses cosigned: under their checkpoint.
    let a =
        w.c.get_signed(&format!("/v1/bundles/{export}"), &w.bureau.key)
            .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let b: Bundle = serde_json::from_str(&a.body).unwrap();
    assert!(b.checkpoint.contains("\u{2014} w1 ") && b.checkpoint.contains("\u{2014} w2 "));
    let r = bundle::verify_witnessed(&b.to_bytes(), &log, &keys, 2);
    assert!(r.ok(), "{:?}", r.failures());
    let altered = with_cosignature_altered(&b, "w2");
    let r = bundle::verify_witnessed(&altered.to_bytes(), &log, &keys, 2);
    let rust: Vec<(String, String)> = r
        .failures()
        .iter()
        .map(|c| (c.subject.clone(), c.detail.clone()))
        .collect();
    assert_eq!(
        rust,
        [(
            "witnesses".to_string(),
            format!(
                "the cosignature of {} does not verify: the note is rejected",
                texts[1]
            )
        )]
    );
    // The browser's verifier, given the same witnesses: the same failure, word for word.
    let js = page.eval(&format!(
        "import('/app/static/wl-bundle.js').then(m => m.verifyBundle({}, {}, {{keys: {}}})).then(r => r.checks.filter(c => !c.ok).map(c => [c.subject, c.code, c.detail]))",
        serde_json::to_string(&String::from_utf8(altered.to_bytes()).unwrap()).unwrap(),
        serde_json::to_string(&log.to_string()).unwrap(),
        serde_json::to_string(&texts).unwrap()
    ));
    assert_eq!(
        js,
        serde_json::json!([["witnesses", "witness-cosignature", rust[0].1]])
    );

    // The offline check page: the good file green with 2 of 3, the altered one red on w2.
    page.navigate(&format!("{base}/app/check"));
    page.wait_for("document.body.dataset.checkReady === 'yes'", WAIT);
    let good = dir.path().join("KS-WIT-1.bundle.json");
    std::fs::write(&good, a.body.as_bytes()).unwrap();
    let (ok, bad) = check_page(&page, &good);
    assert!(ok, "{bad:?}");
    assert_eq!(state_of(&page, "bundle-witness-state"), "ok");
    assert!(text_of(&page, "#bundle-witness-state").contains("2/3 个见证人联署（法定数 2）"));
    // The first answer of the pull, under the head's checkpoint no witness had seen: it holds,
    // and the page says it is not witnessed yet (0 of 3, below the quorum).
    let fresh = dir.path().join("KS-WIT-1-fresh.bundle.json");
    std::fs::write(&fresh, pulled.to_bytes()).unwrap();
    let (ok, bad) = check_page(&page, &fresh);
    assert!(ok, "{bad:?}");
    assert_eq!(state_of(&page, "bundle-witness-state"), "none");
    assert!(text_of(&page, "#bundle-witness-state")
        .contains("0/3 个见证人联署（法定数 2）；未达法定数"));
    let tampered = dir.path().join("KS-WIT-1-altered.bundle.json");
    std::fs::write(&tampered, altered.to_bytes()).unwrap();
    let (ok, bad) = check_page(&page, &tampered);
    assert!(!ok);
    assert_eq!(
        bad,
        [("witnesses".to_string(), "witness-cosignature".to_string())]
    );
    assert_eq!(state_of(&page, "bundle-witness-state"), "bad");
    assert_eq!(
        witness_states(&page, "#bundle-witnesses"),
        [
            ("w1".to_string(), "ok".to_string()),
            ("w2".to_string(), "bad".to_string()),
            ("w3".to_string(), "none".to_string()),
        ]
    );
    let why: Value = page.eval("document.querySelector('#checks li.bad .reason').textContent");
    assert!(
        why.as_str().unwrap().contains("见证人的联署签名验证失败"),
        "{why}"
    );
    look(&page, "console-verify-check-altered-cosignature");
}
