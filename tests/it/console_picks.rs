//! A case made of loads picked on three pages (issue 14 item 6): one from the anomaly queue,
//! one from the graph around the consolidated load, one from a dashboard list (which also
//! exports itself as CSV for Excel). The cases page offers the three; the pull signed in the
//! browser names exactly them on the log, and its bundle holds with `verify-bundle`.

use crate::app_kit::{set, text_of, BureauDesk};
use crate::app_pages::look;
use crate::browser::{Page, WAIT};
use crate::console_cases::{downloaded, verify_bundle};
use crate::console_search::parse_csv;
use serde_json::{json, Value};

fn picked(page: &Page) -> Vec<String> {
    serde_json::from_value(page.eval("JSON.parse(localStorage.getItem('wl_case_pick') || '[]')"))
        .unwrap()
}

#[test]
fn a_case_of_loads_picked_in_the_queue_the_graph_and_a_list_is_pulled_as_picked() {
    let dir = tempfile::tempdir().unwrap();
    let desk = BureauDesk::open(dir.path());
    let (page, base, downloads) = (&desk.page, desk.demo.url.clone(), &desk.downloads);
    let get = |path: &str| desk.get(path);

    // 1. The queue: the unlicensed receiver's load, picked from its row.
    let found = get("/v1/anomalies");
    let unlicensed = found["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "not_licensed")
        .unwrap_or_else(|| panic!("the demo has an unlicensed receiver: {found}"));
    let first = unlicensed["manifests"][0].as_str().unwrap().to_string();
    page.navigate(&format!("{base}/app/anomalies"));
    let row = format!(
        "#queue li.anomaly[data-id='{}']",
        unlicensed["id"].as_str().unwrap()
    );
    page.wait_for(&format!("!!document.querySelector({})", json!(row)), WAIT);
    page.click(&format!("{row} input.pick-box[value='{first}']"));
    assert_eq!(picked(page), vec![first.clone()]);
    assert_eq!(text_of(page, "#picked"), "1");
    look(page, "console-picks-queue");

    // 2. The graph around the consolidated load: every load drawn is offered; the centre is
    // picked.
    let merged = desk.consolidated();
    page.navigate(&format!("{base}/app/m/{merged}"));
    page.click("#graph-link");
    page.wait_for("document.body.dataset.ready === 'graph'", WAIT);
    let graph = get(&format!("/v1/manifests/{merged}/graph"));
    let mut drawn: Vec<String> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "manifest")
        .map(|n| n["key"].as_str().unwrap().to_string())
        .collect();
    drawn.sort();
    let mut offered: Vec<String> = serde_json::from_value(
        page.eval("[...document.querySelectorAll('#pick-list li')].map(li => li.dataset.number)"),
    )
    .unwrap();
    assert_eq!(offered[0], merged, "the centre comes first");
    offered.sort();
    assert_eq!(offered, drawn, "every load of the graph is offered");
    page.click(&format!("#pick-list input.pick-box[value='{merged}']"));
    assert_eq!(text_of(page, "#picked"), "2");
    look(page, "console-picks-graph");

    // 3. A dashboard list (treated hazardous loads): exported as CSV, one row per load as
    // listed; one load not yet picked is picked.
    page.navigate(&format!("{base}/app/console"));
    page.click("section[data-stream='hazardous'] a[data-count='treated']");
    page.wait_for("!document.getElementById('list-actions').hidden", WAIT);
    let rows: Vec<Vec<String>> = serde_json::from_value(page.eval(
        "[...document.querySelectorAll('#loads li[data-number]')].map(li => [li.dataset.number, li.dataset.status, li.dataset.time])",
    ))
    .unwrap();
    assert!(!rows.is_empty());
    page.click("#csv");
    let csv_file = crate::console_cases::downloaded_as(downloads, ".csv");
    let bytes = std::fs::read(&csv_file).unwrap();
    assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF], "a BOM for Excel");
    let csv = parse_csv(std::str::from_utf8(&bytes[3..]).unwrap());
    assert_eq!(csv[0][..2], ["联单编号".to_string(), "状态".to_string()]);
    let from_csv: Vec<Vec<String>> = csv[1..]
        .iter()
        .map(|r| vec![r[0].clone(), r[1].clone(), r[5].clone()])
        .collect();
    assert_eq!(from_csv, rows, "the CSV is the list as shown");
    assert!(rows.iter().all(|r| r[1] == "已利用处置"), "{rows:?}");
    let third = rows
        .iter()
        .map(|r| r[0].clone())
        .find(|n| *n != first && *n != merged)
        .unwrap();
    page.click(&format!("#loads li[data-number='{third}'] input.pick-box"));
    assert_eq!(text_of(page, "#picked"), "3");
    look(page, "console-picks-list");

    // 4. The case: the three, pulled as picked.
    page.click("#make-case");
    page.wait_for("document.body.dataset.casesReady === 'yes'", WAIT);
    let offered = page.eval("document.getElementById('manifests').value");
    assert_eq!(
        offered,
        json!([first.clone(), merged.clone(), third.clone()].join("\n"))
    );
    set(page, "#case", "KS-2026-0211");
    set(page, "#reason", "无证接收与合并转运核查");
    page.click("#pull");
    page.wait_for(
        "document.getElementById('exports').dataset.loaded === 'yes' && document.querySelectorAll('#exports li.export').length === 1",
        WAIT,
    );
    // The event names them in the order picked, and so does the bundle.
    let exports = get("/v1/exports");
    let want = vec![first, merged, third];
    assert_eq!(exports["exports"][0]["manifests"], json!(want), "{exports}");
    let file = downloaded(downloads);
    let (okay, out) = verify_bundle(&file, &desk.c.verifier().unwrap());
    assert!(okay, "{out}");
    let b: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let in_bundle: Vec<&str> = b["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["number"].as_str().unwrap())
        .collect();
    assert_eq!(in_bundle, want);
}
