//! The driver's scan page (`/app/scan`) and outbox (`/app/outbox`) in a real Chromium at phone
//! size: the plant signs a hand-over half in Rust and the driver's browser reads it through the
//! fake camera (or pasted text), shows exactly what will be signed and countersigns with the
//! hauler's key; offline the signed hand-over waits on the device, survives a reload and goes
//! to the log when the network is back, and no request ever carries the private key; a wrong
//! truck, a voided manifest, a container of another load and a forged token each show a red
//! verdict in Chinese and leave the log as it was. Each test asserts what the log holds.

use crate::app_kit::{log_size, open_scan, sign_in};
use crate::browser::{
    horizontal_overflow, qr_video, screens_dir, untranslated_text, Browser, LaunchOptions, Page,
    RecordingProxy, WAIT,
};
use crate::support::{pk, signed};
use crate::world::{World, PLATE_A, PLATE_B, PLATE_EXPIRED};
use serde_json::{json, Value};
use std::path::Path;

/// A phone signed in as hauler A (its registered key imported from a PKCS#8 file, as the
/// enrol page's import does), with its truck's plate set on the scan page.
fn driver(w: &World, base: &str, camera: Option<&Path>) -> (Browser, Page) {
    let mut opts = LaunchOptions::default();
    if let Some(c) = camera {
        opts = opts.camera(c);
    }
    let browser = Browser::launch(opts);
    let page = browser.new_page();
    page.set_viewport(390, 844, true);
    sign_in(&page, base, &w.hauler_a.key);
    open_scan(&page, base, PLATE_A);
    (browser, page)
}

/// The plant's half of the pickup: signed by the plant only, as a hand-over code.
fn plant_half(w: &World, m: &str, plate: &str) -> String {
    let h = w.handover(m, &w.plant, &w.hauler_a, Some(plate), &[340_000, 120_000]);
    wasteledger::qr::encode_handover(&signed(h, &[&w.plant.key])).unwrap()
}

/// Phone- and desk-size screenshots of what the page shows now, checked as a user would see it.
fn screens(page: &Page, name: &str) {
    for (wd, ht, mobile) in [(1440, 900, false), (390, 844, true)] {
        page.set_viewport(wd, ht, mobile);
        page.screenshot(&screens_dir().join(format!("scan-{name}-{wd}.png")));
        if wd == 390 {
            assert_eq!(horizontal_overflow(page), None, "{name} at 390 px");
        }
        assert_eq!(untranslated_text(page), Vec::<String>::new(), "{name}");
    }
}

fn text_of(page: &Page, id: &str) -> String {
    page.eval(&format!("document.getElementById('{id}').textContent"))
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn paste(page: &Page, code: &str) {
    page.type_text("#code", code);
    page.click("#paste-form button[type=submit]");
}

fn wait_verdict(page: &Page, tone: &str, words: &str) {
    page.wait_for(
        &format!(
            "(() => {{ const v = document.getElementById('verdict');
                return v && v.dataset.tone === {} && v.textContent.includes({}); }})()",
            json!(tone),
            json!(words)
        ),
        WAIT,
    );
}

#[test]
fn driver_scans_the_plants_half_with_the_camera_and_countersigns_into_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    let code = plant_half(&w, &m, PLATE_A);
    let video = dir.path().join("half.y4m");
    qr_video(&wasteledger::qr::png(&code, 4).unwrap(), &video);
    let base = w.server.url.clone();
    let (_b, page) = driver(&w, &base, Some(&video));
    screens(&page, "home");

    page.click("#scan-camera");
    page.wait_for("!document.getElementById('confirm').hidden", WAIT);
    // What will be signed: the manifest, the parties by name (online), the truck, each line.
    page.wait_for(
        &format!(
            "document.getElementById('c-from').textContent.includes({})",
            json!(w.plant.name)
        ),
        WAIT,
    );
    assert_eq!(text_of(&page, "c-manifest"), m);
    assert_eq!(text_of(&page, "c-vehicle"), PLATE_A);
    assert!(text_of(&page, "c-to").contains(w.hauler_a.name));
    assert!(text_of(&page, "c-at").contains("2026-11-23 16:30"), "CST");
    let lines = text_of(&page, "confirm-lines");
    assert!(
        lines.contains("340 千克") && lines.contains("120 千克"),
        "{lines}"
    );
    wait_verdict(&page, "ok", "有效");
    screens(&page, "confirm");
    assert_eq!(w.manifest(&m)["status"], "issued", "nothing signed yet");

    page.click("#countersign");
    page.wait_for(
        "document.getElementById('sign-state').textContent.includes('运输中')",
        WAIT,
    );
    assert!(text_of(&page, "sign-state").contains("交接已记入日志"));
    screens(&page, "accepted");

    let after = w.manifest(&m);
    assert_eq!(after["status"], "in_transit", "{after}");
    assert_eq!(after["holder"], w.hauler_a.id.as_str());
    assert_eq!(after["vehicle"], PLATE_A);
    let step = after["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(step["type"], "custody.handover", "{step}");
    let entry = w.entry(step["index"].as_u64().unwrap());
    assert!(
        entry.contains(&pk(&w.plant.key)) && entry.contains(&pk(&w.hauler_a.key)),
        "both signatures in the entry: {entry}"
    );
    assert_eq!(
        page.eval("document.getElementById('done-flags')"),
        Value::Null,
        "no flag raised, none shown"
    );

    // The next load goes on the truck whose permit ran out: the log takes the hand-over and
    // flags it, and the driver is told at once.
    let m2 = w.issue_hazardous("S-DISPOSAL");
    let code = plant_half(&w, &m2, PLATE_EXPIRED);
    open_scan(&page, &base, PLATE_EXPIRED);
    paste(&page, &code);
    page.wait_for("!document.getElementById('confirm').hidden", WAIT);
    page.click("#countersign");
    page.wait_for(
        &crate::app_kit::visible("#done-flags li[data-kind='no_permit']"),
        WAIT,
    );
    assert!(
        text_of(&page, "done-flags").contains("运输单位或车辆无运输许可"),
        "{}",
        text_of(&page, "done-flags")
    );
    screens(&page, "accepted-flagged");
    let after = w.manifest(&m2);
    assert_eq!(after["status"], "in_transit", "{after}");
    assert!(
        after["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "no_permit"),
        "{after}"
    );
}

#[test]
fn an_offline_countersign_waits_on_the_phone_survives_a_reload_and_reaches_the_log_online() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    let code = plant_half(&w, &m, PLATE_A);
    // A second load, which the plant voids while the phone is offline.
    let m2 = w.issue_hazardous("S-DISPOSAL");
    let code2 = plant_half(&w, &m2, PLATE_A);
    // Every byte the browser sends passes a recording proxy.
    let proxy = RecordingProxy::start(&w.server.url);
    let (_b, page) = driver(&w, &proxy.url, None);
    // The offline worker controls the page: it keeps the pages, their scripts and the log's key.
    page.wait_for(
        "navigator.serviceWorker.controller !== null",
        std::time::Duration::from_secs(60),
    );
    let before = log_size(&w);

    page.set_offline(true);
    proxy.set_offline(true);
    paste(&page, &code);
    page.wait_for("!document.getElementById('confirm').hidden", WAIT);
    wait_verdict(&page, "ok", "有效");
    // Offline the parties are shown by their ids.
    assert!(text_of(&page, "c-from").contains(&w.plant.id));
    assert_eq!(text_of(&page, "c-vehicle"), PLATE_A);
    page.click("#countersign");
    page.wait_for(
        "document.getElementById('sign-state').textContent.includes('等待提交')",
        WAIT,
    );
    page.wait_for(
        "document.getElementById('net').textContent.includes('等待提交')",
        WAIT,
    );
    screens(&page, "queued");
    paste(&page, &code2);
    wait_verdict(&page, "ok", "有效");
    page.click("#countersign");
    page.wait_for(
        "document.getElementById('net').textContent.includes('2 条已签名交接等待提交')",
        WAIT,
    );
    assert_eq!(log_size(&w), before, "nothing reached the log");
    crate::world::ok(
        &w.c,
        json!({"type": "manifest.voided", "manifest": m2, "reason": "开错了 issued in error"}),
        &[&w.plant.key],
    );

    // Closing and reopening the page, still offline: the signed hand-overs are still there.
    page.reload();
    page.wait_for(
        "document.getElementById('verdict').textContent.includes('等待提交')",
        WAIT,
    );
    page.wait_for(
        "document.getElementById('net').textContent.includes('2 条已签名交接等待提交')",
        WAIT,
    );
    page.navigate(&format!("{}/app/outbox", proxy.url));
    page.wait_for(
        "document.querySelectorAll('#outbox-list li[data-state=queued]').length === 2",
        WAIT,
    );
    screens(&page, "outbox-queued");
    assert_eq!(w.manifest(&m)["status"], "issued");

    // Back online: the page's load submits them; the log takes the first and refuses the
    // voided manifest's, which stays listed with the reason in Chinese until removed.
    proxy.set_offline(false);
    page.set_offline(false);
    page.reload();
    page.wait_for(
        "document.getElementById('outbox-state').textContent.includes('1 条被拒绝')",
        WAIT,
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#outbox-list li').length"),
        1
    );
    let reason = page
        .eval("document.querySelector('#outbox-list li[data-state=refused] [data-role=reason]').textContent")
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "the refusal in Chinese: {reason:?}"
    );
    assert!(text_of(&page, "outbox-list").contains(&m2));
    screens(&page, "outbox-refused");
    page.click("#outbox-list button.remove");
    page.click("#outbox-list button.remove-sure");
    page.wait_for(
        "document.getElementById('outbox-state').textContent.includes('没有待提交')",
        WAIT,
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#outbox-list li').length"),
        0
    );
    screens(&page, "outbox-empty");
    let after = w.manifest(&m);
    assert_eq!(after["status"], "in_transit", "{after}");
    assert_eq!(after["vehicle"], PLATE_A);
    let step = after["events"].as_array().unwrap().last().unwrap().clone();
    let entry = w.entry(step["index"].as_u64().unwrap());
    assert!(entry.contains(&pk(&w.hauler_a.key)), "{entry}");
    let voided = w.manifest(&m2);
    assert_eq!(voided["status"], "voided", "{voided}");
    assert!(
        !voided["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "custody.handover"),
        "{voided}"
    );

    // The private key never left the browser: not in any byte sent, in any encoding.
    use base64::Engine as _;
    let seed = w.hauler_a.key.to_bytes();
    let encodings = [
        hex::encode(seed),
        hex::encode_upper(seed),
        base64::engine::general_purpose::STANDARD.encode(seed),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(seed),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(seed),
    ];
    assert!(!proxy.sent().is_empty());
    for e in &encodings {
        assert!(
            !proxy.sent_contains(e.as_bytes()),
            "the seed crossed the wire as {e}"
        );
        for r in page.requests() {
            assert!(
                !r.post_data
                    .as_deref()
                    .unwrap_or_default()
                    .contains(e.as_str()),
                "{} sent the seed",
                r.url
            );
        }
    }
    assert!(!proxy.sent_contains(&seed), "raw seed bytes");
}

#[test]
fn wrong_truck_voided_manifest_other_load_and_forged_token_are_red_in_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    let other = w.issue_hazardous("S-DISPOSAL");
    let voided = w.issue_hazardous("S-DISPOSAL");
    let token = |n: &str| -> Value {
        let a =
            w.c.get_signed(&format!("/v1/manifests/{n}/token"), &w.bureau.key)
                .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        a.json().unwrap()
    };
    // Its code printed before it was voided (the log signs no new code for a voided manifest).
    let voided_code = token(&voided)["payload"].as_str().unwrap().to_string();
    crate::world::ok(
        &w.c,
        json!({"type": "manifest.voided", "manifest": voided, "reason": "开错了 issued in error"}),
        &[&w.plant.key],
    );
    let base = w.server.url.clone();
    let (_b, page) = driver(&w, &base, None);
    let before = log_size(&w);

    // A hand-over naming another truck: red 车辆不符, nothing to sign.
    paste(&page, &plant_half(&w, &m, PLATE_B));
    wait_verdict(&page, "bad", "车辆不符");
    assert_eq!(
        page.eval("document.getElementById('countersign').disabled"),
        true
    );
    screens(&page, "wrong-truck");

    // A voided manifest's code: red 已作废 once the live status is read.
    paste(&page, &voided_code);
    wait_verdict(&page, "bad", "已作废");
    screens(&page, "voided");

    // The load is `m` (its manifest code scanned); a container of another manifest is red.
    paste(&page, token(&m)["payload"].as_str().unwrap());
    wait_verdict(&page, "ok", "有效");
    page.wait_for("document.getElementById('d-status')", WAIT);
    assert!(text_of(&page, "d-lines").contains("200 L steel drum"));
    screens(&page, "manifest");
    let foreign = token(&other)["containers"][0]["payload"]
        .as_str()
        .unwrap()
        .to_string();
    paste(&page, &foreign);
    wait_verdict(&page, "bad", "容器不属于本联单");
    screens(&page, "wrong-container");

    // Offline, a token with one byte of its signature flipped: red 伪造或被篡改; the genuine
    // one is still green.
    let genuine = token(&m)["token"].as_str().unwrap().to_string();
    let mut bin = data_encoding::BASE32_NOPAD
        .decode(&genuine.as_bytes()["WL".len()..])
        .unwrap();
    let last = bin.len() - 1;
    bin[last - 10] ^= 0x01;
    let forged = format!("WL{}", data_encoding::BASE32_NOPAD.encode(&bin));
    page.set_offline(true);
    paste(&page, &forged);
    wait_verdict(&page, "bad", "伪造或被篡改");
    screens(&page, "forged");
    paste(&page, &genuine);
    wait_verdict(&page, "ok", "有效");
    page.wait_for(
        "document.getElementById('live-note').textContent.includes('离线')",
        WAIT,
    );
    paste(&page, "https://example.com/not-a-code");
    wait_verdict(&page, "bad", "非本系统二维码");
    page.set_offline(false);

    assert_eq!(log_size(&w), before, "the log is unchanged");
    assert_eq!(w.manifest(&m)["status"], "issued");
}
