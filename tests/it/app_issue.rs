//! The generator's clerk issues a manifest from the browser (`/app/issue`, real Chromium): the
//! form's pick-lists come from the registry and the catalog, the event the page signs is
//! exactly what was filled in (checked in the log, not on the page), the page goes to the
//! manifest the log numbered, whose labels print on pages of the HJ 1276 size for each
//! container's volume and whose manifest prints on A4; a refusal shows in Chinese next to its
//! field and leaves the log as it was; a muck manifest is issued from a construction site.

use crate::app_kit::{choose, sign_in};
use crate::app_pages::look;
use crate::browser::{Browser, LaunchOptions, Page, WAIT};
use crate::print::{assert_size, pdf_page_sizes};
use crate::world::World;
use base64::Engine;
use serde_json::{json, Value};
use wasteledger::client::LogClient;

/// A CSS selector inside the `n`th (1-based) waste line of the form.
pub(crate) fn line(n: usize, css: &str) -> String {
    format!("#lines > fieldset.line:nth-of-type({n}) {css}")
}

fn value(page: &Page, css: &str) -> Value {
    page.eval(&format!("document.querySelector({}).value", json!(css)))
}

fn log_size(c: &LogClient) -> u64 {
    c.checkpoint(&c.verifier().unwrap()).unwrap().0.size
}

/// The event the log holds for the manifest's issue, as it was signed.
fn issued_event(w: &World, m: &str) -> Value {
    let man = w.manifest(m);
    let first = &man["events"][0];
    assert_eq!(first["type"], "manifest.issued", "{man}");
    first["event"].clone()
}

/// Print the page as Chromium prints it (the page's own `@page` sizes), each page's size in mm.
fn print_pdf(page: &Page, path: &std::path::Path) -> Vec<(f64, f64)> {
    let r = page.call(
        "Page.printToPDF",
        json!({"preferCSSPageSize": true, "printBackground": true, "displayHeaderFooter": false}),
    );
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(r["data"].as_str().unwrap())
        .unwrap();
    std::fs::write(path, pdf).unwrap();
    pdf_page_sizes(path)
}

/// The test city, and a desk-size page of a browser of its own (held, or it closes).
fn desk(dir: &std::path::Path) -> (World, String, Browser, Page) {
    let w = World::start(dir);
    let base = w.server.url.trim_end_matches('/').to_string();
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.set_viewport(1440, 900, false);
    (w, base, browser, page)
}

/// Go to `/app/issue` and wait until the script has laid out the first line.
pub(crate) fn open_form(page: &Page, base: &str) {
    page.navigate(&format!("{base}/app/issue"));
    page.wait_for("document.querySelector('#lines > fieldset.line')", WAIT);
}

#[test]
fn the_plants_clerk_issues_a_two_line_hazardous_manifest_and_prints_its_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (w, base, _browser, page) = desk(dir.path());
    sign_in(&page, &base, &w.plant.key);
    open_form(&page, &base);
    look(&page, "issue-form");
    page.set_viewport(1440, 900, false);

    // The pick-lists come from the registry: the plant's own site, the receiving sites with
    // their companies, the haulers.
    let text = page.text();
    assert!(text.contains("Electronics plant, Zhangpu"), "{text}");
    assert!(
        !text.contains("Metro line 11 site"),
        "another party's site offered: {text}"
    );
    let dests =
        page.eval("[...document.querySelectorAll('#destination option')].map(o => o.value)");
    assert_eq!(
        dests,
        json!(["", "S-BACKYARD", "S-DISPOSAL", "S-HUAQIAO", "S-RECYCLE"])
    );
    let reference = value(&page, "#reference");
    assert!(
        reference.as_str().unwrap().starts_with("CK-"),
        "a slip number is suggested: {reference}"
    );

    choose(&page, "#destination", "S-DISPOSAL");
    page.click(&format!("input[name=hauler][value=\"{}\"]", w.hauler_a.id));
    page.type_text("#approval", "320583-ZYJH-0117");

    // Line 1: waste mineral oil, picked by code; name and hazards come from the catalog.
    page.type_text(&line(1, "[data-k=code]"), "900-249-08");
    let name = value(&page, &line(1, "[data-k=name]"));
    assert!(
        name.as_str().unwrap().contains("废矿物油"),
        "name from the catalog: {name}"
    );
    let ticked = |n: usize| {
        page.eval(&format!(
            "[...document.querySelectorAll({})].map(c => c.value)",
            json!(line(n, "[data-k=hazard]:checked"))
        ))
    };
    assert_eq!(ticked(1), json!(["T", "I"]), "hazards from the catalog");
    choose(&page, &line(1, "[data-k=form]"), "liquid");
    choose(&page, &line(1, "[data-k=unit]"), "kg");
    page.type_text(&line(1, "[data-k=amount]"), "340");
    page.type_text(&line(1, ".crow [data-k=count]"), "2");
    page.type_text(&line(1, ".crow [data-k=weight]"), "170");
    page.eval(&format!(
        "document.querySelector({}).open = true",
        json!(line(1, "details"))
    ));
    page.type_text(&line(1, "[data-k=components]"), "矿物油");
    page.type_text(&line(1, "[data-k=precautions]"), "远离火源，防止泄漏");

    // Line 2: oily rags and packaging in a 1000 L IBC and a 20 L can, 0.12 t.
    page.click("#add-line");
    page.type_text(&line(2, "[data-k=code]"), "900-041-49");
    assert_eq!(ticked(2), json!(["T", "In"]));
    choose(&page, &line(2, "[data-k=unit]"), "t");
    page.type_text(&line(2, "[data-k=amount]"), "0.12");
    choose(&page, &line(2, ".crow [data-k=packaging]"), "吨桶 IBC tote");
    assert_eq!(
        value(&page, &line(2, ".crow [data-k=litres]")),
        json!("1000")
    );
    page.click(&line(2, ".add-container"));
    choose(
        &page,
        &line(2, ".crow:nth-of-type(2) [data-k=packaging]"),
        "小桶 can",
    );
    assert_eq!(
        page.eval(&format!(
            "[...document.querySelectorAll({})].map(e => e.textContent)",
            json!("#lines .crow .ids")
        )),
        json!(["编号 D1、D2", "编号 T1", "编号 D3"]),
        "container ids numbered across the manifest"
    );
    // The destination's licence (HW08, HW49) covers both codes.
    page.wait_for(
        "document.getElementById('dest-note').textContent.includes('持有这些废物的有效许可')",
        WAIT,
    );
    look(&page, "issue-filled");
    page.set_viewport(1440, 900, false);

    let before = log_size(&w.c);
    page.click("button[type=submit]");
    page.wait_for("location.pathname.startsWith('/app/m/')", WAIT);
    let m = page.eval("decodeURIComponent(location.pathname.slice('/app/m/'.length))");
    let m = m.as_str().unwrap().to_string();
    assert_eq!(log_size(&w.c), before + 1, "one entry: the issue");

    // The log holds exactly what was filled in: the signed event is the authority.
    let ev = issued_event(&w, &m);
    let drum = |id: &str| json!({"id": id, "packaging": "200 L 钢桶 steel drum", "quantity": {"amount": 170_000, "unit": "g"}});
    let expected_lines = json!([
        {"code": "900-249-08", "name": name, "form": "liquid", "hazards": ["T", "I"],
         "containers": [drum("D1"), drum("D2")],
         "quantity": {"amount": 340_000, "unit": "g"},
         "components": "矿物油", "precautions": "远离火源，防止泄漏"},
        {"code": "900-041-49", "name": ev["lines"][1]["name"], "form": "solid", "hazards": ["T", "In"],
         "containers": [{"id": "T1", "packaging": "1000 L 吨桶 IBC tote"}, {"id": "D3", "packaging": "20 L 小桶 can"}],
         "quantity": {"amount": 120_000, "unit": "g"}}
    ]);
    assert_eq!(ev["lines"], expected_lines, "{ev:#}");
    assert!(ev["lines"][1]["name"]
        .as_str()
        .unwrap()
        .contains("废弃包装物"));
    assert_eq!(ev["stream"], "hazardous");
    assert_eq!(ev["generator"], w.plant.id.as_str());
    assert_eq!(ev["origin"], "S-PLANT");
    assert_eq!(ev["destination"], "S-DISPOSAL");
    assert_eq!(ev["haulers"], json!([w.hauler_a.id]));
    assert_eq!(ev["reference"], reference);
    assert_eq!(ev["approval"], "320583-ZYJH-0117");
    let man = w.manifest(&m);
    assert_eq!(man["status"], "issued");
    assert!(man["flags"].as_array().unwrap().is_empty(), "{man}");

    // The browser is on the manifest's page, which links its prints.
    let text = page.text();
    assert!(
        text.contains(&m) && text.contains("900-249-08") && text.contains("已开具，待起运"),
        "{text}"
    );
    look(&page, "issue-done-manifest");
    page.set_viewport(1440, 900, false);
    let labels = page.eval("document.querySelector('a[href$=\"/labels\"]').href");
    let print = page.eval("document.querySelector('a[href$=\"/print\"]').href");

    // The labels open with the session cookie, each container on a page of its HJ 1276 size.
    page.navigate(labels.as_str().unwrap());
    assert!(page.text().contains("危险废物"), "{}", page.text());
    let sizes = print_pdf(&page, &dir.path().join("labels.pdf"));
    let want = [("D1", 150.0), ("D2", 150.0), ("T1", 200.0), ("D3", 100.0)];
    assert_eq!(sizes.len(), want.len(), "{sizes:?}");
    for (got, (id, mm)) in sizes.iter().zip(want) {
        assert_size(&format!("label of {id}"), *got, (mm, mm));
    }
    page.navigate(print.as_str().unwrap());
    assert!(page.text().contains(&m), "{}", page.text());
    for (i, got) in print_pdf(&page, &dir.path().join("manifest.pdf"))
        .into_iter()
        .enumerate()
    {
        assert_size(&format!("manifest page {}", i + 1), got, (210.0, 297.0));
    }
}

#[test]
fn a_refused_field_shows_in_chinese_next_to_it_and_the_log_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (w, base, _browser, page) = desk(dir.path());
    let used = w.issue_hazardous("S-DISPOSAL");
    let used_ref = w.manifest(&used)["reference"].as_str().unwrap().to_string();
    sign_in(&page, &base, &w.plant.key);
    open_form(&page, &base);
    choose(&page, "#destination", "S-DISPOSAL");
    page.click(&format!("input[name=hauler][value=\"{}\"]", w.hauler_a.id));
    // A code typed by hand, not in the list: its category (43) does not exist.
    page.type_text(&line(1, "[data-k=code]"), "900-249-43");
    page.wait_for(
        &format!(
            "document.querySelector({}).textContent.includes('不是《名录》中的废物类别')",
            json!(line(1, ".code-note"))
        ),
        WAIT,
    );
    page.type_text(&line(1, "[data-k=name]"), "废油");
    page.click(&line(1, "[data-k=hazard][value=T]"));
    page.type_text(&line(1, "[data-k=amount]"), "10");

    let size = log_size(&w.c);
    let slot = |path: &str| format!("[data-error-for=\"{path}\"]");
    let shown = |path: &str| {
        page.eval(&format!(
            "(() => {{ const e = document.querySelector({}); return e.hidden ? null : e.firstChild.textContent; }})()",
            json!(slot(path))
        ))
    };
    page.click("button[type=submit]");
    page.wait_for(
        &format!(
            "!document.querySelector({}).hidden",
            json!(slot("event.lines[0].code"))
        ),
        WAIT,
    );
    let msg = shown("event.lines[0].code");
    let msg = msg.as_str().unwrap();
    assert!(
        msg.starts_with("第1行 代码：提交被拒绝")
            && msg.contains("应为：《国家危险废物名录》中的代码"),
        "the server's refusal in Chinese, line counted from 1: {msg}"
    );
    assert!(
        !msg.contains("expected"),
        "no English on the Chinese page: {msg}"
    );
    assert_eq!(
        page.eval(&format!(
            "document.querySelector({}).getAttribute('aria-invalid')",
            json!(line(1, "[data-k=code]"))
        )),
        json!("true"),
        "the field is marked"
    );
    // Next to THAT field: the message sits in the first line's fieldset, under the code.
    assert_eq!(
        page.eval(&format!(
            "document.querySelector({}).closest('fieldset.line') === document.querySelector('#lines > fieldset.line')
               && document.querySelector({}).previousElementSibling.dataset.k === 'code'",
            json!(slot("event.lines[0].code")),
            json!(slot("event.lines[0].code"))
        )),
        json!(true)
    );
    // (The code's suggestion list would cover the message in the screenshot.)
    page.eval("document.activeElement.blur()");
    look(&page, "issue-refused");
    page.set_viewport(1440, 900, false);
    assert_eq!(
        log_size(&w.c),
        size,
        "a refused event leaves the log as it was"
    );

    // A quantity of zero is caught before anything is signed, under the quantity.
    page.type_text(&line(1, "[data-k=code]"), "900-249-08");
    page.type_text(&line(1, "[data-k=amount]"), "0");
    page.click("button[type=submit]");
    page.wait_for(
        &format!(
            "!document.querySelector({}).hidden",
            json!(slot("event.lines[0].quantity"))
        ),
        WAIT,
    );
    assert_eq!(shown("event.lines[0].quantity"), json!("数量必须大于零"));
    assert_eq!(
        shown("event.lines[0].code"),
        Value::Null,
        "the old message is gone"
    );

    // A slip number used before: only the log knows, and says so next to the reference.
    page.type_text(&line(1, "[data-k=amount]"), "10");
    page.type_text("#reference", &used_ref);
    page.click("button[type=submit]");
    page.wait_for(
        &format!(
            "!document.querySelector({}).hidden",
            json!(slot("event.reference"))
        ),
        WAIT,
    );
    let msg = shown("event.reference");
    assert!(
        msg.as_str().unwrap().contains("本单位未用过的出库单号"),
        "{msg}"
    );
    assert_eq!(log_size(&w.c), size, "nothing half-written");
    assert!(page.url().ends_with("/app/issue"), "{}", page.url());
}

#[test]
fn the_builder_issues_a_muck_manifest_and_a_hauler_is_told_it_cannot_issue() {
    let dir = tempfile::tempdir().unwrap();
    let (w, base, _browser, page) = desk(dir.path());

    sign_in(&page, &base, &w.muck.key);
    page.navigate(&format!("{base}/app/issue"));
    let text = page.text();
    assert!(
        text.contains("只有产生单位可以开具联单"),
        "a hauler is told, in Chinese: {text}"
    );
    look(&page, "issue-not-generator");
    page.eval("fetch('/app/session', {method: 'DELETE'}).then(r => r.status)");

    sign_in(&page, &base, &w.builder.key);
    open_form(&page, &base);
    // A construction site's generator starts on construction waste: no codes, no containers.
    assert_eq!(
        page.eval("document.querySelector('input[name=stream]:checked').value"),
        json!("construction")
    );
    assert_eq!(
        page.eval(&format!(
            "document.querySelector({}).getClientRects().length",
            json!(line(1, "[data-k=code]"))
        )),
        json!(0),
        "no waste code on a construction manifest"
    );
    choose(&page, "#destination", "S-RECYCLE");
    page.click(&format!("input[name=hauler][value=\"{}\"]", w.muck.id));
    assert_eq!(value(&page, &line(1, "[data-k=name]")), json!("工程渣土"));
    page.type_text(&line(1, "[data-k=amount]"), "12.5");
    page.wait_for(
        "document.getElementById('dest-note').textContent.includes('持有这些废物的有效许可')",
        WAIT,
    );
    look(&page, "issue-muck");
    page.set_viewport(1440, 900, false);
    page.click("button[type=submit]");
    page.wait_for("location.pathname.startsWith('/app/m/')", WAIT);
    let m = page.eval("decodeURIComponent(location.pathname.slice('/app/m/'.length))");
    let ev = issued_event(&w, m.as_str().unwrap());
    assert_eq!(ev["stream"], "construction");
    assert_eq!(ev["origin"], "S-BUILD");
    assert_eq!(ev["destination"], "S-RECYCLE");
    assert_eq!(ev["haulers"], json!([w.muck.id]));
    assert_eq!(
        ev["lines"],
        json!([{"cw_type": "excavated_soil", "name": "工程渣土", "form": "solid",
                "quantity": {"amount": 12_500_000u64, "unit": "g"}}])
    );
    assert!(page.text().contains("工程渣土"), "{}", page.text());

    // The same form in English, from the chrome's switch.
    page.navigate(&format!("{base}/app/issue?lang=en"));
    page.wait_for("document.querySelector('#lines > fieldset.line')", WAIT);
    let text = page.text();
    assert!(
        text.contains("Issue a manifest") && !text.contains("开具联单"),
        "{text}"
    );
    assert_eq!(
        page.eval(&format!(
            "document.querySelector({}).textContent",
            json!(line(1, "[data-k=cw_type] option:checked"))
        )),
        json!("excavated soil")
    );
    look(&page, "issue-muck-en");
}
