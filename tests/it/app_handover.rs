//! The two-party hand-over on the manifest page (`/app/m/{number}`), in a real Chromium against
//! the real server: the plant's clerk hands a load to a hauler's truck and shows the signed
//! half as a code the driver's phone scans; a half the driver signed first is countersigned
//! in the plant's browser; refusals show in Chinese next to their field. Every test asserts
//! what the log (or its pending tree) holds, read as the authority would.

use crate::app_kit::{
    choose, element_png, handover_form_ready, log_size, sign_in, text_of, visible,
};
use crate::browser::{
    horizontal_overflow, screens_dir, untranslated_text, Browser, LaunchOptions, Page, WAIT,
};
use crate::support::pk;
use crate::world::{post, World, PLATE_A};
use serde_json::{json, Value};
use wasteledger::ledger::event::SignedEvent;
use wasteledger::ledger::time::Timestamp;

/// Desk and phone screenshots of what the page shows now (`target/screens/handover-<name>-<w>.png`),
/// with no sideways scrolling on the phone and no raw identifier on either. Leaves the phone size.
fn screens(page: &Page, name: &str) {
    for (w, h, mobile) in [(1440, 900, false), (390, 844, true)] {
        page.set_viewport(w, h, mobile);
        page.screenshot(&screens_dir().join(format!("handover-{name}-{w}.png")));
        if mobile {
            assert_eq!(horizontal_overflow(page), None, "{name} at {w} px");
        }
        let raw = untranslated_text(page);
        assert!(
            raw.is_empty(),
            "{name} at {w} px shows raw identifiers: {raw:?}"
        );
    }
}

struct Desk {
    pub _dir: tempfile::TempDir,
    pub w: World,
    pub _browser: Browser,
    pub page: Page,
    pub m: String,
}

/// A hazardous load issued by the plant, and the plant's clerk signed in at its manifest page.
fn plant_desk() -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.set_viewport(390, 844, true);
    sign_in(&page, &w.server.url, &w.plant.key);
    page.navigate(&format!("{}/app/m/{m}", w.server.url));
    Desk {
        _dir: dir,
        w,
        _browser: browser,
        page,
        m,
    }
}

#[test]
fn the_plant_hands_a_load_to_a_truck_and_the_drivers_countersignature_completes_it() {
    let Desk {
        w,
        page,
        m,
        _dir,
        _browser,
    } = plant_desk();
    handover_form_ready(&page);
    // The counts are prefilled as people write them, in kg.
    assert_eq!(
        page.eval("document.getElementById('ho-q0').value"),
        json!("340")
    );
    assert_eq!(
        page.eval("document.getElementById('ho-q1').value"),
        json!("120")
    );
    choose(&page, "#ho-to", &w.hauler_a.id);
    // Only hauler A's trucks are offered once hauler A is chosen.
    let trucks = page.eval(
        "[...document.querySelectorAll('#ho-vehicle option')].filter(o => o.value && !o.disabled).map(o => o.value)",
    );
    assert!(
        trucks.as_array().unwrap().contains(&json!(PLATE_A))
            && !trucks
                .as_array()
                .unwrap()
                .contains(&json!(crate::world::PLATE_B)),
        "{trucks}"
    );
    choose(&page, "#ho-vehicle", PLATE_A);
    page.type_text("#ho-q1", "118.5");
    screens(&page, "form");

    page.click("#handover-form button[type=submit]");
    page.wait_for(&visible("#ho-rows"), WAIT);
    let shown = text_of(&page, "#ho-rows");
    for want in [
        m.as_str(),
        w.plant.name,
        w.hauler_a.name,
        PLATE_A,
        "Electronics plant, Zhangpu",
        "340 kg",
        "118.5 kg",
        "北京时间",
    ] {
        assert!(
            shown.contains(want),
            "the confirm screen shows {want:?}: {shown}"
        );
    }
    screens(&page, "confirm");
    let before = log_size(&w);
    page.click("#ho-sign");
    page.wait_for(
        "document.getElementById('ho-code-text').textContent.startsWith('WLH1')",
        WAIT,
    );
    page.wait_for(
        "document.getElementById('ho-qr').complete && document.getElementById('ho-qr').naturalWidth > 0",
        WAIT,
    );
    assert_eq!(log_size(&w), before, "a half waits beside the log");

    // The authority's view: one half waiting, with exactly the fields the form had.
    let pending = w.manifest(&m)["pending"].as_array().unwrap().clone();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let half = &pending[0];
    assert_eq!(half["status"], "pending");
    assert_eq!(half["signed_by"], json!([pk(&w.plant.key)]));
    let ev = &half["event"];
    let at = ev["at"].as_str().unwrap().to_string();
    assert_eq!(
        ev,
        &json!({"type": "custody.handover", "manifest": m, "from": w.plant.id, "to": w.hauler_a.id,
                "vehicle": PLATE_A, "site": "S-PLANT", "at": at,
                "lines": [{"line": 0, "quantity": {"amount": 340_000, "unit": "g"}},
                          {"line": 1, "quantity": {"amount": 118_500, "unit": "g"}}]})
    );
    assert!(
        at.len() == 24 && at.ends_with('Z') && at.as_bytes()[19] == b'.',
        "RFC 3339 UTC with milliseconds: {at}"
    );
    let t = Timestamp::parse(&at).unwrap();
    assert!(
        shown.contains(&t.cst()[..16]),
        "the time signed is the one shown ({}): {shown}",
        t.cst()
    );

    // The code on screen, read from the screen's pixels as a phone would.
    let png = element_png(&page, "#ho-qr");
    let read = wasteledger::qr::decode_image(&png).expect("the on-screen code reads");
    assert_eq!(read.len(), 1);
    let code = &read[0];
    assert_eq!(
        page.eval("document.getElementById('ho-code-text').textContent"),
        json!(code),
        "the text under the code is the code"
    );
    let scanned = wasteledger::qr::decode_handover(code).expect("a WLH1 code");
    scanned.verify_signatures().expect("its signature verifies");
    assert_eq!(&Value::Object(scanned.event().clone()), ev);
    assert_eq!(
        scanned.signers().map(|k| k.to_string()).collect::<Vec<_>>(),
        vec![pk(&w.plant.key)]
    );
    assert_eq!(
        page.eval("document.getElementById('ho-status').className"),
        json!("state pending")
    );
    screens(&page, "code");

    // The half is shown to its two parties only: not to anyone else who asks by its hash.
    let hash = half["hash"].as_str().unwrap();
    for path in [
        format!("/app/pending/{hash}"),
        format!("/app/pending/{hash}/qr.svg"),
    ] {
        assert_eq!(w.c.get(&path).unwrap().status, 401, "{path} anonymous");
        assert_eq!(
            w.c.get_signed(&path, &w.hauler_b.key).unwrap().status,
            404,
            "{path} to a party it does not name"
        );
        assert_eq!(
            w.c.get_signed(&path, &w.hauler_a.key).unwrap().status,
            200,
            "{path} to the taker"
        );
    }
    let as_taker: Value =
        w.c.get_signed(&format!("/app/pending/{hash}"), &w.hauler_a.key)
            .unwrap()
            .json()
            .unwrap();
    assert_eq!(as_taker["code"], json!(code));
    assert_eq!(as_taker["completed"], json!(false));

    // The driver's phone countersigns what it scanned.
    let mut whole: SignedEvent = scanned;
    whole.add_signature(&w.hauler_a.key);
    let (status, answer) = post(&w.c, &whole.to_bytes());
    assert_eq!(status, 201, "{answer}");
    page.wait_for(
        "document.getElementById('ho-status').className === 'state ok'",
        WAIT,
    );
    assert!(text_of(&page, "#ho-status").contains(&answer["index"].to_string()));
    screens(&page, "code-done");
    let after = w.manifest(&m);
    assert_eq!(after["status"], "in_transit");
    assert_eq!(after["holder"], json!(w.hauler_a.id));
    assert_eq!(after["vehicle"], json!(PLATE_A));
}

#[test]
fn a_half_the_driver_signed_first_is_countersigned_in_the_plants_browser() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    let mut body = w.handover(
        &m,
        &w.plant,
        &w.hauler_a,
        Some(PLATE_A),
        &[338_000, 120_000],
    );
    body.as_object_mut().unwrap().remove("driver");
    body["site"] = json!("S-PLANT");
    let half = crate::support::signed(body.clone(), &[&w.hauler_a.key]);
    let (status, answer) = post(&w.c, &half.to_bytes());
    assert_eq!(status, 202, "{answer}");

    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.set_viewport(390, 844, true);
    sign_in(&page, &w.server.url, &w.plant.key);
    page.navigate(&format!("{}/app/m/{m}", w.server.url));
    page.wait_for(&visible("#for-me li"), WAIT);
    let listed = text_of(&page, "#for-me li");
    for want in [
        w.hauler_a.name,
        PLATE_A,
        "338 kg",
        "120 kg",
        "2026-11-23 16:30:00 北京时间",
        "Electronics plant, Zhangpu",
    ] {
        assert!(listed.contains(want), "the list shows {want:?}: {listed}");
    }
    screens(&page, "countersign");
    page.click("#for-me [data-countersign]");
    page.wait_for(
        "document.querySelector('#for-me [data-state]').className === 'state ok'",
        WAIT,
    );
    assert_eq!(
        page.eval("document.querySelector('#for-me [data-countersign]').offsetParent === null && document.getElementById('give').offsetParent === null"),
        json!(true),
        "once countersigned, neither the button nor the (stale) form is offered"
    );
    screens(&page, "countersigned");

    let after = w.manifest(&m);
    assert_eq!(after["status"], "in_transit");
    assert_eq!(after["holder"], json!(w.hauler_a.id));
    let step = after["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(step["type"], "custody.handover");
    assert_eq!(step["event"], body, "the log holds exactly the half listed");
    let entry: Value = serde_json::from_str(&w.entry(step["index"].as_u64().unwrap())).unwrap();
    let text = entry.to_string();
    for k in [pk(&w.hauler_a.key), pk(&w.plant.key)] {
        assert!(
            text.contains(&k),
            "the entry carries the signature of {k}: {text}"
        );
    }
}

#[test]
fn a_refused_hand_over_says_why_in_chinese_next_to_the_field_and_the_log_is_unchanged() {
    let Desk {
        w,
        page,
        m,
        _dir,
        _browser,
    } = plant_desk();
    handover_form_ready(&page);
    choose(&page, "#ho-to", &w.hauler_a.id);
    choose(&page, "#ho-vehicle", PLATE_A);
    let before = log_size(&w);

    // An emptied count: told at once, beside that line, before anything is signed.
    page.type_text("#ho-q0", "");
    page.click("#handover-form button[type=submit]");
    let slot = r#"[data-error-for="event.lines[0].quantity"]"#;
    page.wait_for(&visible(slot), WAIT);
    let said = text_of(&page, slot);
    assert!(
        said.contains("请填写数量") && said.contains("第1行"),
        "{said}"
    );
    assert_eq!(
        page.eval("document.getElementById('ho-q0').getAttribute('aria-invalid')"),
        json!("true")
    );
    screens(&page, "refused-count");

    // A time three days ahead: the log refuses it, and says so beside the time.
    page.type_text("#ho-q0", "340");
    let ahead = Timestamp::from_system_time(
        std::time::SystemTime::now() + std::time::Duration::from_secs(3 * 86_400),
    );
    let local = format!("{}T{}", &ahead.cst()[..10], &ahead.cst()[11..16]);
    page.eval(&format!(
        "(() => {{ const e = document.getElementById('ho-at'); e.value = {0};
            if (e.value !== {0}) throw new Error('not a time: ' + {0});
            e.dispatchEvent(new Event('change', {{bubbles: true}})); }})()",
        json!(local)
    ));
    // The picker draws it in the phone's locale; the line under it says it as the log will.
    assert_eq!(
        text_of(&page, "#ho-at-said"),
        format!("即 {}（北京时间）", local.replace('T', " "))
    );
    page.click("#handover-form button[type=submit]");
    page.wait_for(&visible("#ho-rows"), WAIT);
    page.click("#ho-sign");
    let slot = r#"[data-error-for="event.at"]"#;
    page.wait_for(&visible(slot), WAIT);
    let said = text_of(&page, slot);
    assert!(
        said.starts_with("交接时间"),
        "in Chinese, naming the field: {said}"
    );
    handover_form_ready(&page);
    screens(&page, "refused-time");

    assert_eq!(log_size(&w), before, "nothing was written");
    let after = w.manifest(&m);
    assert_eq!(after["status"], "issued");
    assert_eq!(after["pending"], json!([]), "nothing waits either");
}

#[test]
fn a_flag_the_hand_over_raises_is_shown_at_once_to_whoever_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    // Waste paint (HW12) to the disposal facility, whose licence covers HW08 and HW49 only.
    let issued = crate::world::ok(
        &w.c,
        json!({"type": "manifest.issued", "reference": w.slip(), "stream": "hazardous",
               "generator": w.plant.id, "origin": "S-PLANT", "destination": "S-DISPOSAL",
               "haulers": [w.hauler_a.id],
               "lines": [{"code": "900-252-12", "name": "废油漆 waste paint", "form": "semi_solid",
                          "hazards": ["T", "I"], "quantity": {"amount": 100_000, "unit": "g"}}]}),
        &[&w.plant.key],
    );
    let m = issued["manifests"][0].as_str().unwrap().to_string();
    w.hand(&m, &w.plant, &w.hauler_a, Some(PLATE_A), &[100_000]);
    // The driver signs the delivery first; the facility's clerk completes it at the desk.
    let mut body = w.handover(&m, &w.hauler_a, &w.disposal, None, &[100_000]);
    body["at"] = json!("2026-11-23T10:00:00Z");
    body["site"] = json!("S-DISPOSAL");
    let (status, answer) = post(
        &w.c,
        &crate::support::signed(body, &[&w.hauler_a.key]).to_bytes(),
    );
    assert_eq!(status, 202, "{answer}");

    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.set_viewport(390, 844, true);
    sign_in(&page, &w.server.url, &w.disposal.key);
    page.navigate(&format!("{}/app/m/{m}", w.server.url));
    page.wait_for(&visible("#for-me li"), WAIT);
    page.click("#for-me [data-countersign]");
    page.wait_for(
        &visible("#for-me #done-flags li[data-kind='not_licensed']"),
        WAIT,
    );
    let said = text_of(&page, "#done-flags");
    assert!(said.contains("接收单位无此废物的经营许可"), "{said}");
    screens(&page, "flag-raised");

    // The log took the step and flagged it, at that very entry.
    let after = w.manifest(&m);
    assert_eq!(after["status"], "delivered", "{after}");
    let index = after["events"].as_array().unwrap().last().unwrap()["index"].clone();
    assert!(
        after["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "not_licensed" && f["index"] == index),
        "{after}"
    );
}
