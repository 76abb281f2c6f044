//! The gate office of a receiver and of a transfer station in a real Chromium (desk 1440×900 and
//! a phone at the weighbridge, 390×844): loads are set up in Rust (issued, picked up, handed
//! over with both keys), then the facility's browser, with its key imported, weighs, receives
//! with a partial rejection and treats; the station consolidates two loads into one. After each
//! step the log (the manifest as the bureau reads it) holds exactly that event; a flag the step
//! raised shows at once in Chinese; a refused step shows in Chinese next to its field and leaves
//! the log as it was.

use crate::app_kit::{amounts, desk, gate_done, gate_next, gate_ready, log_size, set, text_of};
use crate::browser::{horizontal_overflow, screens_dir, untranslated_text, Page, WAIT};
use crate::world::{ok, World, PLATE_A};
use serde_json::{json, Value};

/// Desk- and phone-size screenshots of what the page shows now, checked as a user sees it.
fn screens(page: &Page, name: &str) {
    for (wd, ht, mobile) in [(390, 844, true), (1440, 900, false)] {
        page.set_viewport(wd, ht, mobile);
        page.screenshot(&screens_dir().join(format!("receive-{name}-{wd}.png")));
        if wd == 390 {
            assert_eq!(horizontal_overflow(page), None, "{name} at 390 px");
        }
        assert_eq!(untranslated_text(page), Vec::<String>::new(), "{name}");
    }
}

/// Submit `form`, look at what is to be signed, confirm, and wait for the log's answer.
fn sign(page: &Page, form: &str, shot: Option<&str>) {
    page.click(&format!("#{form} button[type=submit]"));
    page.wait_for(
        &format!("!document.querySelector('#{form} .confirm').hidden"),
        WAIT,
    );
    if let Some(name) = shot {
        screens(page, name);
    }
    page.click(&format!("#{form} .confirm-sign"));
}

fn last_step(m: &Value) -> (String, u64) {
    let s = m["steps"].as_array().unwrap().last().unwrap();
    (
        s["type"].as_str().unwrap().to_string(),
        s["index"].as_u64().unwrap(),
    )
}

#[test]
fn disposal_weighs_receives_a_partial_rejection_and_treats_at_its_gate() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let base = w.server.url.clone();
    // One load handed over at the gate, one still on the road here.
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    w.hand(&m, &w.hauler_a, &w.disposal, None, &[340_000, 120_000]);
    let road = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&road);
    let (_b, page) = desk(&base, &w.disposal.key);

    page.navigate(&format!("{base}/app/incoming"));
    let heading = text_of(&page, "#heading");
    assert!(
        heading.contains(&road) && heading.contains(PLATE_A),
        "{heading}"
    );
    assert!(
        heading.contains("运输中") && heading.contains("在途"),
        "{heading}"
    );
    let held = text_of(&page, "#held");
    assert!(held.contains(&m) && held.contains("已送达"), "{held}");
    assert!(held.contains("460 kg"), "the load's last count: {held}");
    assert!(
        !held.contains(&road) && !heading.contains(&m),
        "each in its list"
    );
    screens(&page, "incoming");

    // Weigh: 14 400 − 14 000 kg = 400 kg against the 460 kg counted at the hand-over.
    page.click(&format!("#held li[data-number='{m}'] a"));
    gate_ready(&page);
    screens(&page, "manifest");
    page.type_text("#w-ticket", "BD-20261203-0042");
    page.type_text("#w-gross", "14400");
    page.type_text("#w-tare", "14000");
    assert_eq!(text_of(&page, "#w-net"), "400", "net shown as typed");
    let n0 = log_size(&w);
    sign(&page, "weigh-form", Some("weigh-confirm"));
    gate_done(&page);
    page.wait_for(
        "(() => { const f = document.getElementById('done-flags')?.innerText || '';
            return f.includes('前后称重数量不符') && f.includes('磅单净重 400 千克，此前计量 460 千克'); })()",
        WAIT,
    );
    screens(&page, "weigh-flagged");
    assert_eq!(log_size(&w), n0 + 1, "exactly one entry");
    let after = w.manifest(&m);
    let (kind, index) = last_step(&after);
    assert_eq!(kind, "custody.weighed");
    assert_eq!(
        amounts(&after["steps"].as_array().unwrap().last().unwrap()["quantities"]),
        [400_000]
    );
    assert!(
        after["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "quantity_gap" && f["index"] == index),
        "{after}"
    );

    // Receive: line 1 partly rejected (40 kg of another type), back to the plant.
    gate_next(&page);
    set(&page, "#r-acc-0", "300");
    set(&page, "#r-rej-0", "40");
    page.wait_for("!document.getElementById('r-rejection').hidden", WAIT);
    // A rejection needs its kind: said next to the field, nothing signed.
    page.click("#receive-form button[type=submit]");
    page.wait_for(
        "(() => { const e = document.querySelector('[data-error-for=\"event.lines[0].discrepancy\"]'); return e && !e.hidden && e.innerText.includes('差异类型'); })()",
        WAIT,
    );
    set(&page, "#r-disc-0", "type");
    page.type_text("#r-reason", "混入其他废物");
    let n1 = log_size(&w);
    sign(&page, "receive-form", Some("receive-confirm"));
    gate_done(&page);
    page.wait_for(
        "document.getElementById('done-status')?.innerText.includes('已接收')",
        WAIT,
    );
    assert_eq!(log_size(&w), n1 + 1, "exactly one entry");
    let after = w.manifest(&m);
    assert_eq!(last_step(&after).0, "custody.received");
    assert_eq!(after["status"], "received");
    assert_eq!(amounts(&after["accepted"]), [300_000, 120_000]);
    assert_eq!(amounts(&after["rejected"]), [40_000, 0]);
    assert_eq!(after["rejection"]["to"], w.plant.id.as_str());
    assert_eq!(after["rejection"]["reason"], "混入其他废物");
    let back = after["onward"][0]
        .as_str()
        .expect("the rejected part's own manifest");
    assert!(
        text_of(&page, "#gate-done").contains(back),
        "the return manifest is named"
    );
    let entry: Value = serde_json::from_str(&w.entry(last_step(&after).1)).unwrap();
    assert_eq!(entry["event"]["lines"][0]["discrepancy"], "type", "{entry}");

    // Treat: meanwhile another clerk treated 200 kg of line 1, so 300 kg is now refused by the
    // log, in Chinese next to the quantity, and nothing is written.
    gate_next(&page);
    ok(
        &w.c,
        json!({"type": "custody.treated", "manifest": m, "line": 0, "code": "R9",
               "quantity": {"amount": 200_000, "unit": "g"}}),
        &[&w.disposal.key],
    );
    set(&page, "#t-code", "R9");
    // More than the page knows is open: refused here, before signing.
    set(&page, "#t-qty", "300.5");
    page.click("#treat-form button[type=submit]");
    page.wait_for(
        "document.querySelector('[data-error-for=\"event.quantity\"]').innerText.includes('超过待处置量')",
        WAIT,
    );
    set(&page, "#t-qty", "300");
    let n2 = log_size(&w);
    sign(&page, "treat-form", None);
    page.wait_for(
        "(() => { const e = document.querySelector('[data-error-for=\"event.quantity\"]'); return !e.hidden && e.innerText.includes('处置量超过尚未处置的接收量：最多 100'); })()",
        WAIT,
    );
    screens(&page, "treat-refused");
    assert_eq!(log_size(&w), n2, "a refused step writes nothing");
    assert_eq!(amounts(&w.manifest(&m)["treated"]), [200_000, 0]);

    // The rest of line 1 (100 kg, R9), then line 2 (D10): the load is treated.
    page.reload();
    gate_ready(&page);
    page.wait_for("document.getElementById('t-qty').value === '100'", WAIT);
    set(&page, "#t-code", "R9");
    sign(&page, "treat-form", None);
    gate_done(&page);
    gate_next(&page);
    page.wait_for("document.getElementById('t-qty').value === '120'", WAIT);
    set(&page, "#t-code", "D10");
    let n3 = log_size(&w);
    sign(&page, "treat-form", Some("treat-confirm"));
    gate_done(&page);
    page.wait_for(
        "document.getElementById('done-status')?.innerText.includes('已利用处置')",
        WAIT,
    );
    screens(&page, "treated");
    assert_eq!(log_size(&w), n3 + 1);
    let after = w.manifest(&m);
    assert_eq!(after["status"], "treated");
    assert_eq!(amounts(&after["treated"]), [300_000, 120_000]);
    let entry: Value = serde_json::from_str(&w.entry(last_step(&after).1)).unwrap();
    assert_eq!(entry["event"]["code"], "D10", "{entry}");
    assert_eq!(entry["event"]["line"], 1, "{entry}");
}

#[test]
fn station_consolidates_two_loads_into_one_and_splits_another_in_three() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let base = w.server.url.clone();
    let (m1, m2, m3) = (
        w.issue_hazardous("S-HUAQIAO"),
        w.issue_hazardous("S-HUAQIAO"),
        w.issue_hazardous("S-HUAQIAO"),
    );
    let m4 = w.issue_hazardous("S-HUAQIAO");
    for m in [&m1, &m2, &m3, &m4] {
        w.pickup(m);
        w.hand(m, &w.hauler_a, &w.station, None, &[340_000, 120_000]);
    }
    let (_b, page) = desk(&base, &w.station.key);
    page.navigate(&format!("{base}/app/incoming"));
    let held = text_of(&page, "#held");
    assert!(
        held.contains(&m1) && held.contains(&m2) && held.contains("在转运站"),
        "{held}"
    );

    page.navigate(&format!("{base}/app/m/{m1}"));
    page.wait_for("document.getElementById('consolidate-form')", WAIT);
    gate_ready(&page);
    screens(&page, "station");
    page.click(&format!("#consolidate-form input[value='{m2}']"));
    set(&page, "#c-dest", "S-DISPOSAL");
    set(&page, "#c-hauler", &w.hauler_b.id);
    let n0 = log_size(&w);
    sign(&page, "consolidate-form", Some("consolidate-confirm"));
    gate_done(&page);
    page.wait_for(
        "document.getElementById('done-status')?.innerText.includes('已合并转运')",
        WAIT,
    );
    screens(&page, "consolidated");
    assert_eq!(log_size(&w), n0 + 1, "exactly one entry");
    let a = w.manifest(&m1);
    let out = a["onward"][0]
        .as_str()
        .expect("the outgoing load")
        .to_string();
    assert!(text_of(&page, "#gate-done").contains(&out));
    for m in [&m1, &m2] {
        let v = w.manifest(m);
        assert_eq!(v["status"], "consolidated", "{v}");
        assert_eq!(v["onward"], json!([out]));
    }
    let o = w.manifest(&out);
    assert_eq!(o["sources"], json!([m1, m2]));
    assert_eq!(o["status"], "issued");
    assert_eq!(o["holder"], w.station.id.as_str());
    let v = o["versions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(v["destination"], "S-DISPOSAL");
    assert_eq!(v["haulers"], json!([w.hauler_b.id]));
    let lines: Vec<u64> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["quantity"]["amount"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [680_000, 240_000], "the same wastes added up: {v}");
    assert_eq!(
        v["lines"][0]["containers"].as_array().unwrap().len(),
        4,
        "every drum goes on"
    );

    // Split the third: 200 + 120 kg on hauler A's load, the other 140 kg of line 1 on two more
    // trucks. Parts that do not add up to the load are said next to the form first.
    page.navigate(&format!("{base}/app/m/{m3}"));
    gate_ready(&page);
    set(&page, "#s-dest-0", "S-DISPOSAL");
    set(&page, "#s-hauler-0", &w.hauler_a.id);
    set(&page, "#s-q-0-0", "200");
    set(&page, "#s-dest-1", "S-DISPOSAL");
    set(&page, "#s-hauler-1", &w.hauler_b.id);
    set(&page, "#s-q-1-0", "100");
    page.click("#split-form button[type=submit]");
    page.wait_for(
        "document.querySelector('[data-error-for=\"event.outputs\"]').innerText.includes('两车合计 300，应为 340')",
        WAIT,
    );
    // A third truck takes 40 kg of line 1 off hauler B's.
    page.click("#split-add");
    page.wait_for("document.getElementById('s-q-2-0')?.value === '0'", WAIT);
    set(&page, "#s-dest-2", "S-DISPOSAL");
    set(&page, "#s-hauler-2", &w.hauler_a.id);
    set(&page, "#s-q-2-0", "40");
    set(&page, "#s-q-1-0", "100");
    let n1 = log_size(&w);
    sign(&page, "split-form", Some("split-confirm"));
    gate_done(&page);
    assert_eq!(log_size(&w), n1 + 1, "exactly one entry");
    let v = w.manifest(&m3);
    assert_eq!(v["status"], "split", "{v}");
    let outs: Vec<String> = v["onward"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(outs.len(), 3, "{v}");
    let carried = |n: &str| -> (Vec<u64>, Value) {
        let o = w.manifest(n);
        assert_eq!(o["sources"], json!([m3]));
        let v = o["versions"].as_array().unwrap().last().unwrap().clone();
        let q = v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["quantity"]["amount"].as_u64().unwrap())
            .collect();
        (q, v["haulers"].clone())
    };
    assert_eq!(
        carried(&outs[0]),
        (vec![200_000, 120_000], json!([w.hauler_a.id]))
    );
    assert_eq!(carried(&outs[1]), (vec![100_000], json!([w.hauler_b.id])));
    assert_eq!(carried(&outs[2]), (vec![40_000], json!([w.hauler_a.id])));
    for n in &outs {
        assert!(text_of(&page, "#gate-done").contains(n.as_str()));
    }

    // A page drawn while the station held the load; the load left on hauler B's truck since:
    // the log refuses the weighing (only the holder weighs), said in Chinese on the form, and
    // nothing is written.
    page.navigate(&format!("{base}/app/m/{m4}"));
    gate_ready(&page);
    w.hand(
        &m4,
        &w.station,
        &w.hauler_b,
        Some(crate::world::PLATE_B),
        &[340_000, 120_000],
    );
    page.type_text("#w-ticket", "BD-20261203-0099");
    page.type_text("#w-gross", "14460");
    page.type_text("#w-tare", "14000");
    let n2 = log_size(&w);
    sign(&page, "weigh-form", None);
    page.wait_for(
        "(() => { const e = document.querySelector('#weigh-form [data-error-for=\"event\"]'); return !e.hidden && e.innerText.includes('签名人不是此环节的当事方'); })()",
        WAIT,
    );
    assert!(text_of(&page, "#weigh-form").contains("刷新页面"));
    screens(&page, "weigh-refused");
    assert_eq!(log_size(&w), n2, "a refused step writes nothing");
    assert_eq!(w.manifest(&m4)["status"], "in_transit");
}
