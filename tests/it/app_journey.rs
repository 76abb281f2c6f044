//! Two browsers, one load: the plant's clerk signs the pickup first and shows it as a QR code
//! on the desk's screen; the driver's phone (another browser profile) reads that screen through
//! its camera, checks what it says and countersigns. The log then holds the hand-over with
//! both signatures, and the desk sees it at once.

use crate::app_handover::{choose, element_png, plant_desk, visible, Desk};
use crate::app_scan::driver;
use crate::browser::{qr_video, WAIT};
use crate::world::PLATE_A;
use serde_json::json;

#[test]
fn the_driver_scans_the_plants_screen_and_countersigns_the_pickup() {
    let Desk {
        _dir: dir,
        w,
        _browser,
        page: desk,
        m,
    } = plant_desk();
    // The clerk hands the load to hauler A's truck and signs first.
    desk.wait_for(&visible("#handover-form"), WAIT);
    choose(&desk, "#ho-to", &w.hauler_a.id);
    choose(&desk, "#ho-vehicle", PLATE_A);
    desk.click("#handover-form button[type=submit]");
    desk.wait_for(&visible("#ho-rows"), WAIT);
    desk.click("#ho-sign");
    desk.wait_for(
        "document.getElementById('ho-qr').complete && document.getElementById('ho-qr').naturalWidth > 0",
        WAIT,
    );
    let shown = desk.eval("document.getElementById('ho-code-text').textContent.trim()");
    let shown = shown.as_str().unwrap().to_string();
    assert!(shown.starts_with("WLH1"), "{shown}");

    // What the desk's screen shows is what the phone's camera sees.
    let video = dir.path().join("screen.y4m");
    qr_video(&element_png(&desk, "#ho-qr"), &video);
    let base = w.server.url.clone();
    let (_phone_b, phone) = driver(&w, dir.path(), &base, Some(&video));
    phone.click("#scan-camera");
    phone.wait_for("!document.getElementById('confirm').hidden", WAIT);
    phone.wait_for(
        &format!(
            "document.getElementById('c-to').textContent.includes({})",
            json!(w.hauler_a.name)
        ),
        WAIT,
    );
    assert_eq!(
        phone.eval("document.getElementById('c-vehicle').textContent.trim()"),
        json!(PLATE_A)
    );
    assert_eq!(
        w.manifest(&m)["status"],
        "issued",
        "nothing countersigned yet"
    );
    phone.click("#countersign");
    phone.wait_for(
        "document.getElementById('sign-state').textContent.includes('运输中')",
        WAIT,
    );

    // The log: in transit on hauler A's truck, the entry signed by both.
    let after = w.manifest(&m);
    assert_eq!(after["status"], "in_transit", "{after}");
    assert_eq!(after["holder"], w.hauler_a.id.as_str());
    assert_eq!(after["vehicle"], PLATE_A);
    let step = after["events"].as_array().unwrap().last().unwrap().clone();
    let entry = w.entry(step["index"].as_u64().unwrap());
    for k in [&w.plant.key, &w.hauler_a.key] {
        assert!(entry.contains(&crate::support::pk(k)), "{entry}");
    }
    // The desk's screen turns green by itself.
    desk.wait_for(
        "document.getElementById('ho-status').classList.contains('ok')",
        WAIT,
    );
}
