//! Whole journeys through the pages, with no terminal and no event made in Rust once the
//! authority has registered the city: the plant's clerk and the builder issue at their desks
//! with their companies' key files; each driver's phone makes its own key, which the hauler's
//! office approves; the plant signs the pickup first and shows it as a code that the driver's
//! phone reads through its camera; a relay between two haulers' drivers, phone to phone; the
//! driver signs the delivery first and the gate countersigns at its desk; the gate weighs,
//! receives with a partial rejection and treats. After each step the log holds that step,
//! signed by the device keys the companies delegated.

use crate::app_issue::{line, open_form};
use crate::app_kit::{
    amounts, approve, choose, desk, device_key, element_png, enrol, gate_done, gate_next,
    gate_ready, gate_sign, handover_form_ready, key_view, log_size, open_scan, set, sign_in,
    text_of, visible,
};
use crate::app_pages::look;
use crate::browser::{qr_video, Browser, LaunchOptions, Page, WAIT};
use crate::world::{Party, World, PLATE_A, PLATE_B, PLATE_MUCK};
use serde_json::{json, Value};
use std::path::Path;

/// A driver's phone, its camera seeing `screen`: it makes its own key under the staff number
/// `label`, the company's office (`office`, signed in now with `company`'s key) approves it for
/// 30 days, and the phone signs in by itself. The phone, and its device key (base64).
fn driver_phone(
    w: &World,
    dir: &Path,
    office: &Page,
    company: &Party,
    label: &str,
    screen: &Path,
) -> (Browser, Page, String) {
    let base = &w.server.url;
    let browser = Browser::launch(LaunchOptions::default().camera(screen));
    let phone = browser.new_page();
    phone.set_viewport(390, 844, true);
    let link = enrol(&phone, base, label, &dir.join(format!("{label}.png")));
    sign_in(office, base, &company.key);
    approve(office, &link, "30");
    // Signed in, the home page names the company (waited for: the page may still be
    // arriving when its body's first tag already says so).
    phone.wait_for(
        &format!(
            "location.pathname === '/app' && document.body.dataset.session === 'yes' \
             && document.readyState === 'complete' && document.body.innerText.includes({})",
            json!(company.name)
        ),
        WAIT,
    );
    assert!(phone.text().contains(company.name), "{}", phone.text());
    let key = device_key(&phone);
    (browser, phone, key)
}

/// The party holding the load hands it to `to` (on `plate` if a hauler takes it) from the
/// manifest page, signs first, and waits for the code to be on screen; the code's picture.
fn sign_first(page: &Page, base: &str, m: &str, to: &Party, plate: Option<&str>) -> Vec<u8> {
    page.navigate(&format!("{base}/app/m/{m}"));
    handover_form_ready(page);
    choose(page, "#ho-to", &to.id);
    if let Some(plate) = plate {
        choose(page, "#ho-vehicle", plate);
    }
    page.click("#handover-form button[type=submit]");
    page.wait_for(&visible("#ho-rows"), WAIT);
    page.click("#ho-sign");
    page.wait_for(
        "document.getElementById('ho-qr').complete && document.getElementById('ho-qr').naturalWidth > 0",
        WAIT,
    );
    element_png(page, "#ho-qr")
}

/// The driver's phone reads the code its camera sees, checks it names `holder` and `plate`,
/// and countersigns; the log answers on the phone.
fn scan_and_countersign(phone: &Page, base: &str, plate: &str, holder: &Party) {
    open_scan(phone, base, plate);
    phone.click("#scan-camera");
    phone.wait_for("!document.getElementById('confirm').hidden", WAIT);
    phone.wait_for(
        &format!(
            "document.getElementById('c-from').textContent.includes({})",
            json!(holder.name)
        ),
        WAIT,
    );
    assert_eq!(
        phone.eval("document.getElementById('c-vehicle').textContent.trim()"),
        json!(plate)
    );
    phone.click("#countersign");
    phone.wait_for(
        "document.getElementById('sign-state').textContent.includes('交接已记入日志')",
        WAIT,
    );
}

/// The gate's clerk countersigns, on the manifest page, the half the driver signed first: the
/// list names the signer as the driver's company and the phone's staff number.
fn countersign_at_desk(page: &Page, base: &str, m: &str, hauler: &Party, staff: &str) {
    page.navigate(&format!("{base}/app/m/{m}"));
    page.wait_for(&visible("#for-me li"), WAIT);
    let listed = text_of(page, "#for-me li");
    assert!(
        listed.contains(&format!("{}（设备 {staff}）", hauler.name)),
        "the driver's phone is named by its staff number: {listed}"
    );
    look(page, "journey-gate-countersign");
    page.set_viewport(1440, 900, false);
    page.click("#for-me [data-countersign]");
    page.wait_for(
        "document.querySelector('#for-me [data-state]').className === 'state ok'",
        WAIT,
    );
}

/// The gate office's list of loads at the gate, and that load's page from it.
fn open_at_gate(page: &Page, base: &str, m: &str) {
    page.navigate(&format!("{base}/app/incoming"));
    page.click(&format!("#held li[data-number='{m}'] a"));
    gate_ready(page);
}

/// Treat what the treat form offers (`open`, as prefilled, if given) by `code`; the gate
/// then says what the log made of the load.
fn treat(gate: &Page, open: Option<&str>, code: &str) {
    if let Some(open) = open {
        gate.wait_for(
            &format!("document.getElementById('t-qty').value === {}", json!(open)),
            WAIT,
        );
    }
    set(gate, "#t-code", code);
    gate_sign(gate, "treat-form");
    gate_done(gate);
}

/// The last step of the manifest: its type, and the entry that holds it (parsed).
fn last_entry(w: &World, m: &Value) -> (String, Value) {
    let s = m["events"].as_array().unwrap().last().unwrap();
    let entry = w.entry(s["index"].as_u64().unwrap());
    (
        s["type"].as_str().unwrap().to_string(),
        serde_json::from_str(&entry).unwrap(),
    )
}

/// The types of the manifest's steps, in order.
fn kinds(v: &Value) -> Vec<&str> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect()
}

/// The keys that signed an entry (base64), in order.
fn signers(entry: &Value) -> Vec<String> {
    entry["signatures"]
        .as_array()
        .unwrap_or_else(|| panic!("no signatures in {entry}"))
        .iter()
        .map(|s| s["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_hazardous_load_goes_from_the_plants_desk_to_treatment_with_a_relay_and_a_partial_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let base = w.server.url.clone();
    let plant_pk = crate::support::pk(&w.plant.key);
    let disposal_pk = crate::support::pk(&w.disposal.key);

    // The plant's clerk issues at the desk, from the catalog's pick-lists.
    let (_plant_b, plant) = desk(&base, &w.plant.key);
    open_form(&plant, &base);
    choose(&plant, "#destination", "S-DISPOSAL");
    for h in [&w.hauler_a, &w.hauler_b] {
        plant.click(&format!("input[name=hauler][value=\"{}\"]", h.id));
    }
    plant.type_text(&line(1, "[data-k=code]"), "900-249-08");
    choose(&plant, &line(1, "[data-k=form]"), "liquid");
    choose(&plant, &line(1, "[data-k=unit]"), "kg");
    plant.type_text(&line(1, "[data-k=amount]"), "340");
    plant.type_text(&line(1, ".crow [data-k=count]"), "2");
    plant.click("#add-line");
    plant.type_text(&line(2, "[data-k=code]"), "900-041-49");
    choose(&plant, &line(2, "[data-k=unit]"), "kg");
    plant.type_text(&line(2, "[data-k=amount]"), "120");
    let n0 = log_size(&w);
    plant.click("button[type=submit]");
    plant.wait_for("location.pathname.startsWith('/app/m/')", WAIT);
    let m = plant.eval("decodeURIComponent(location.pathname.slice('/app/m/'.length))");
    let m = m.as_str().unwrap().to_string();
    assert_eq!(log_size(&w), n0 + 1, "one entry: the issue");
    let v = w.manifest(&m);
    assert_eq!(v["status"], "issued");
    assert_eq!(
        signers(&last_entry(&w, &v).1),
        std::slice::from_ref(&plant_pk)
    );

    // Pickup: the plant signs first for hauler A's truck; the code is on the desk's screen.
    let screen = dir.path().join("plant-screen.y4m");
    qr_video(
        &sign_first(&plant, &base, &m, &w.hauler_a, Some(PLATE_A)),
        &screen,
    );

    // Hauler A's driver: a phone of its own, approved by hauler A's office, reads the screen.
    let (_office_b, office) = desk(&base, &w.hauler_a.key);
    let (_a_b, phone_a, key_a) =
        driver_phone(&w, dir.path(), &office, &w.hauler_a, "HA-0042", &screen);
    scan_and_countersign(&phone_a, &base, PLATE_A, &w.plant);
    plant.wait_for(
        "document.getElementById('ho-status').classList.contains('ok')",
        WAIT,
    );
    let v = w.manifest(&m);
    assert_eq!(v["status"], "in_transit", "{v}");
    assert_eq!(v["holder"], w.hauler_a.id.as_str());
    assert_eq!(v["vehicle"], PLATE_A);
    let (kind, entry) = last_entry(&w, &v);
    assert_eq!(kind, "custody.handover");
    assert_eq!(signers(&entry), [plant_pk.clone(), key_a.clone()]);

    // Relay: driver A hands the load to hauler B's truck on the road; driver B's phone (approved
    // by hauler B's office) reads driver A's screen and countersigns.
    let screen_a = dir.path().join("phone-a-screen.y4m");
    qr_video(
        &sign_first(&phone_a, &base, &m, &w.hauler_b, Some(PLATE_B)),
        &screen_a,
    );
    let (_b_b, phone_b, key_b) =
        driver_phone(&w, dir.path(), &office, &w.hauler_b, "HB-0007", &screen_a);
    scan_and_countersign(&phone_b, &base, PLATE_B, &w.hauler_a);
    let v = w.manifest(&m);
    assert_eq!(v["holder"], w.hauler_b.id.as_str(), "{v}");
    assert_eq!(v["vehicle"], PLATE_B);
    assert_eq!(
        signers(&last_entry(&w, &v).1),
        [key_a.clone(), key_b.clone()]
    );

    // Delivery: driver B signs first at the disposal gate; the gate's clerk countersigns at the
    // desk (the office's browser, now with the disposal facility's key).
    sign_first(&phone_b, &base, &m, &w.disposal, None);
    look(&phone_b, "journey-driver-delivers");
    phone_b.set_viewport(390, 844, true);
    sign_in(&office, &base, &w.disposal.key);
    let gate = office;
    countersign_at_desk(&gate, &base, &m, &w.hauler_b, "HB-0007");
    phone_b.wait_for(
        "document.getElementById('ho-status').classList.contains('ok')",
        WAIT,
    );
    let v = w.manifest(&m);
    assert_eq!(v["status"], "delivered", "{v}");
    assert_eq!(v["holder"], w.disposal.id.as_str());
    assert_eq!(
        signers(&last_entry(&w, &v).1),
        [key_b.clone(), disposal_pk.clone()]
    );

    // Weigh at the weighbridge: 14 460 − 14 000 = 460 kg, as counted: no flag.
    open_at_gate(&gate, &base, &m);
    gate.type_text("#w-ticket", "BD-20261203-0042");
    gate.type_text("#w-gross", "14460");
    gate.type_text("#w-tare", "14000");
    gate_sign(&gate, "weigh-form");
    gate_done(&gate);
    let v = w.manifest(&m);
    assert_eq!(last_entry(&w, &v).0, "custody.weighed");
    assert_eq!(v["flags"], json!([]), "460 kg weighed as counted: {v}");

    // Receive: 40 kg of line 1 is another waste, rejected and returned to the plant.
    gate_next(&gate);
    set(&gate, "#r-acc-0", "300");
    set(&gate, "#r-rej-0", "40");
    gate.wait_for("!document.getElementById('r-rejection').hidden", WAIT);
    set(&gate, "#r-disc-0", "type");
    gate.type_text("#r-reason", "混入其他废物");
    gate_sign(&gate, "receive-form");
    gate_done(&gate);
    let v = w.manifest(&m);
    assert_eq!(v["status"], "received", "{v}");
    assert_eq!(amounts(&v["accepted"]), [300_000, 120_000]);
    assert_eq!(amounts(&v["rejected"]), [40_000, 0]);
    assert_eq!(v["rejection"]["to"], w.plant.id.as_str());
    let back = v["onward"][0]
        .as_str()
        .expect("the returned part's own manifest");
    assert!(
        text_of(&gate, "#gate-done").contains(back),
        "the return is named"
    );

    // Treat what was accepted: line 1 by R9, line 2 by D10.
    gate_next(&gate);
    treat(&gate, Some("300"), "R9");
    gate_next(&gate);
    treat(&gate, Some("120"), "D10");
    assert!(text_of(&gate, "#done-status").contains("已利用处置"));

    // The log: the whole journey, each step once, each signed by whom it should be.
    let v = w.manifest(&m);
    assert_eq!(v["status"], "treated", "{v}");
    assert_eq!(amounts(&v["treated"]), [300_000, 120_000]);
    assert_eq!(
        kinds(&v),
        [
            "manifest.issued",
            "custody.handover",
            "custody.handover",
            "custody.handover",
            "custody.weighed",
            "custody.received",
            "custody.treated",
            "custody.treated"
        ]
    );
    let returned = w.manifest(back);
    assert_eq!(returned["sources"], json!([m]), "{returned}");
    // The drivers' keys are the companies' delegated devices, named by their staff numbers.
    for (key, holder, label) in [
        (&key_a, &w.hauler_a, "HA-0042"),
        (&key_b, &w.hauler_b, "HB-0007"),
    ] {
        let k = key_view(&w, key, Some(&holder.key));
        assert_eq!(
            (
                k["kind"].as_str(),
                k["holder"].as_str(),
                k["label"].as_str()
            ),
            (Some("device"), Some(holder.id.as_str()), Some(label)),
            "{k}"
        );
        // To anyone else the staff number is not shown.
        let k = key_view(&w, key, None);
        assert_eq!(
            (k["holder"].as_str(), &k["label"]),
            (Some(holder.id.as_str()), &Value::Null),
            "{k}"
        );
    }
    // Driver A's phone sees where the load it carried ended.
    phone_a.navigate(&format!("{base}/app/m/{m}"));
    let text = phone_a.text();
    assert!(text.contains("已利用处置"), "{text}");
    look(&phone_a, "journey-driver-treated");
}

#[test]
fn a_muck_load_goes_from_the_building_site_to_the_recycling_centre_through_pages() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let base = w.server.url.clone();
    let recycler_pk = crate::support::pk(&w.recycler.key);

    // The site's clerk issues 12.5 t of excavated soil to the recycling centre.
    let (_site_b, site) = desk(&base, &w.builder.key);
    open_form(&site, &base);
    choose(&site, "#destination", "S-RECYCLE");
    site.click(&format!("input[name=hauler][value=\"{}\"]", w.muck.id));
    choose(&site, &line(1, "[data-k=unit]"), "t");
    site.type_text(&line(1, "[data-k=amount]"), "12.5");
    site.click("button[type=submit]");
    site.wait_for("location.pathname.startsWith('/app/m/')", WAIT);
    let m = site.eval("decodeURIComponent(location.pathname.slice('/app/m/'.length))");
    let m = m.as_str().unwrap().to_string();
    assert_eq!(w.manifest(&m)["status"], "issued");

    // The muck truck's driver reads the site's screen and countersigns.
    let screen = dir.path().join("site-screen.y4m");
    qr_video(
        &sign_first(&site, &base, &m, &w.muck, Some(PLATE_MUCK)),
        &screen,
    );
    let (_office_b, office) = desk(&base, &w.muck.key);
    let (_p, phone, key) = driver_phone(&w, dir.path(), &office, &w.muck, "MK-0311", &screen);
    scan_and_countersign(&phone, &base, PLATE_MUCK, &w.builder);
    let v = w.manifest(&m);
    assert_eq!(v["status"], "in_transit", "{v}");
    assert_eq!(v["vehicle"], PLATE_MUCK);
    assert_eq!(
        signers(&last_entry(&w, &v).1),
        [crate::support::pk(&w.builder.key), key.clone()]
    );

    // At the recycling centre: the driver signs first, the gate countersigns, weighs 12.4 t
    // (a gap under 2 %: no flag), receives all and recycles it (R5).
    sign_first(&phone, &base, &m, &w.recycler, None);
    sign_in(&office, &base, &w.recycler.key);
    let gate = office;
    countersign_at_desk(&gate, &base, &m, &w.muck, "MK-0311");
    let v = w.manifest(&m);
    assert_eq!(signers(&last_entry(&w, &v).1), [key.clone(), recycler_pk]);
    open_at_gate(&gate, &base, &m);
    gate.type_text("#w-ticket", "BD-20261203-0311");
    gate.type_text("#w-gross", "27400");
    gate.type_text("#w-tare", "15000");
    gate_sign(&gate, "weigh-form");
    gate_done(&gate);
    gate_next(&gate);
    gate_sign(&gate, "receive-form");
    gate_done(&gate);
    gate_next(&gate);
    treat(&gate, None, "R5");
    assert!(text_of(&gate, "#done-status").contains("已利用处置"));

    let v = w.manifest(&m);
    assert_eq!(v["status"], "treated", "{v}");
    assert_eq!(v["flags"], json!([]), "{v}");
    assert_eq!(amounts(&v["accepted"]), [12_500_000]);
    assert_eq!(amounts(&v["treated"]), [12_500_000]);
    assert_eq!(
        kinds(&v),
        [
            "manifest.issued",
            "custody.handover",
            "custody.handover",
            "custody.weighed",
            "custody.received",
            "custody.treated"
        ]
    );
    let (_, entry) = last_entry(&w, &v);
    assert_eq!(entry["event"]["code"], "R5", "{entry}");
}
