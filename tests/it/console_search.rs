//! The console's linked search and graph in a real browser, against the demo week, signed in
//! with the bureau's key: the search by the lost truck's plate lists what `/v1/search` answers
//! to the same signed request, step by step in words and CST; its CSV (UTF-8 with a BOM) has
//! the same rows; refusals are shown in Chinese next to the field; picks go to
//! `wl_case_pick`. The graph around the consolidated load draws every node the API returns,
//! labelled in words, and says what the cap cut; clicking a load re-centres on it, the centre
//! opens its page.

use crate::app_kit::{desk, text_of, visible};
use crate::app_pages::look;
use crate::browser::{Page, WAIT};
use crate::demo::{crate_dir, Demo};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use wasteledger::client::{encode, LogClient};

const LOST_PLATE: &str = "苏E9C437";

/// A CSV as Excel reads it: rows of fields, quotes undone.
pub(crate) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

/// (manifest, its entry indexes) as the API lists them.
fn api_rows(answer: &Value) -> Vec<(String, Vec<u64>)> {
    answer["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let entries = m["entries"].as_array().unwrap();
            (
                m["number"].as_str().unwrap().to_string(),
                entries
                    .iter()
                    .map(|e| e["index"].as_u64().unwrap())
                    .collect(),
            )
        })
        .collect()
}

/// The same, as the page lists them.
fn page_rows(page: &Page) -> Vec<(String, Vec<u64>)> {
    let v = page.eval(
        "[...document.querySelectorAll('#hits > li')].map(li => [li.dataset.number,
            [...li.querySelectorAll('ol.entries > li')].map(e => Number(e.dataset.index))])",
    );
    serde_json::from_value(v).unwrap()
}

/// The names the demo registered (the Chinese ones), by USCC.
fn demo_party_names() -> BTreeMap<String, String> {
    let w: Value = serde_json::from_str(
        &std::fs::read_to_string(crate_dir().join("fixtures/demo/world.json")).unwrap(),
    )
    .unwrap();
    w["parties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["uscc"].as_str().unwrap().to_string(),
                p["name_zh"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_lost_trucks_loads_found_by_plate_exported_and_the_consolidated_load_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = Demo::start(&data);
    let bureau = wasteledger::keyfile::read(&data.join("keys/bureau.pem")).unwrap();
    let c = LogClient::new(&demo.url);
    let get = |path: &str| -> Value {
        let a = c.get_signed(path, &bureau).unwrap();
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        a.json().unwrap()
    };
    let api = get(&format!("/v1/search?plate={}", encode(LOST_PLATE)));
    let expected = api_rows(&api);
    let lost: Vec<&Value> = api["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == "in_transit")
        .collect();
    assert_eq!(lost.len(), 1, "the lost load is among the truck's: {api}");
    let lost = lost[0]["number"].as_str().unwrap().to_string();

    let (_browser, page) = desk(&demo.url, &bureau);
    // The home page offers the search to the bureau.
    page.wait_for(
        "document.querySelector('a.tile[href=\"/app/search\"]')",
        WAIT,
    );
    page.navigate(&format!("{}/app/search", demo.url));
    page.wait_for("document.body.dataset.ready === 'search'", WAIT);
    look(&page, "console-search-form");

    // A plate that is not one, and a time that is not one: refused next to the field, in Chinese.
    page.type_text("#plate", "ABC");
    page.click("#search-form button[type=submit]");
    page.wait_for(&visible("[data-error-for=plate]"), WAIT);
    let said = text_of(&page, "[data-error-for=plate]");
    assert!(said.contains("车牌"), "{said}");
    page.type_text("#plate", LOST_PLATE);
    page.type_text("#from", "2026-13-45");
    page.click("#search-form button[type=submit]");
    page.wait_for(&visible("[data-error-for=from]"), WAIT);
    let said = text_of(&page, "[data-error-for=from]");
    assert!(said.contains("北京时间"), "{said}");
    look(&page, "console-search-refused");

    // The truck's loads, each with the steps that involved it: what the API answers.
    page.type_text("#from", "");
    page.click("#search-form button[type=submit]");
    page.wait_for(
        &format!(
            "!document.getElementById('results').hidden && document.querySelectorAll('#hits > li').length === {}",
            expected.len()
        ),
        WAIT,
    );
    assert_eq!(page_rows(&page), expected);
    let lost_text = text_of(&page, &format!("#hits > li[data-number='{lost}']"));
    assert!(
        lost_text.contains("运输中") && lost_text.contains("北京时间") && lost_text.contains("运输车辆"),
        "the lost load: its status, CST times and how the truck was involved, in words: {lost_text}"
    );
    assert!(
        page.url().contains("plate=%E8%8B%8FE9C437"),
        "the search is in the URL: {}",
        page.url()
    );
    look(&page, "console-search-results");

    // The export: a UTF-8 CSV with a BOM, one row per listed step, the same as the API's.
    page.click("#csv");
    page.wait_for(
        "(document.getElementById('csv-link').href || '').startsWith('blob:')",
        WAIT,
    );
    let bytes: Vec<u8> = serde_json::from_value(page.eval(
        "(async () => [...new Uint8Array(await (await fetch(document.getElementById('csv-link').href)).arrayBuffer())])()",
    ))
    .unwrap();
    assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF], "a BOM for Excel");
    let csv = parse_csv(std::str::from_utf8(&bytes[3..]).unwrap());
    assert_eq!(csv[0][0], "联单编号");
    let mut from_csv: Vec<(String, Vec<u64>)> = Vec::new();
    for r in &csv[1..] {
        assert_eq!(r.len(), 11, "{r:?}");
        assert!(r[8].ends_with("北京时间"), "CST times: {r:?}");
        let index: u64 = r[7].parse().unwrap();
        match from_csv.last_mut() {
            Some((n, e)) if *n == r[0] => e.push(index),
            _ => from_csv.push((r[0].clone(), vec![index])),
        }
    }
    assert_eq!(from_csv, expected, "the CSV has the API's rows");

    // Picked for a case: the numbers wait in `wl_case_pick` for the cases page.
    page.click(&format!("#hits > li[data-number='{lost}'] .pick-box"));
    let picked = page.eval("JSON.parse(localStorage.getItem('wl_case_pick'))");
    assert_eq!(picked, json!([lost]));
    assert_eq!(text_of(&page, "#picked"), "1");
    assert!(page
        .eval("document.getElementById('make-case').getAttribute('href')")
        .as_str()
        .unwrap()
        .starts_with("/app/cases"));

    // The consolidated load: the one made of the platform's small loads.
    let list = get("/v1/manifests?limit=1000");
    let merged = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["number"].as_str().unwrap().to_string())
        .find(|n| {
            get(&format!("/v1/manifests/{n}"))["sources"]
                .as_array()
                .is_some_and(|s| s.len() >= 2)
        })
        .expect("a consolidated load in the demo");
    // The manifest page links its graph for the bureau.
    page.navigate(&format!("{}/app/m/{merged}", demo.url));
    page.click("#graph-link");
    page.wait_for("document.body.dataset.ready === 'graph'", WAIT);
    assert!(page
        .url()
        .ends_with(&format!("/app/graph?manifest={merged}")));

    // With a cap of two loads per subject, something is cut, and the page says what.
    let g = get(&format!("/v1/manifests/{merged}/graph?fan_out=2"));
    let cut = g["truncated"].as_array().unwrap();
    assert!(!cut.is_empty(), "the cap cuts something: {g}");
    page.navigate(&format!(
        "{}/app/graph?manifest={merged}&fan_out=2",
        demo.url
    ));
    page.wait_for("document.body.dataset.ready === 'graph'", WAIT);
    let drawn: BTreeSet<String> = serde_json::from_value(
        page.eval("[...document.querySelectorAll('#graph-box svg g.node')].map(g => g.dataset.id)"),
    )
    .unwrap();
    let nodes = g["nodes"].as_array().unwrap();
    let want: BTreeSet<String> = nodes
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(drawn.len(), nodes.len(), "one node drawn per node");
    assert_eq!(drawn, want);
    let edges_drawn = page.eval("document.querySelectorAll('#graph-box svg path.edge').length");
    assert_eq!(edges_drawn, json!(g["edges"].as_array().unwrap().len()));
    // Labelled in words: numbers, plates, companies' and sites' names, never a bare id.
    let parties = demo_party_names();
    for n in nodes {
        let id = n["id"].as_str().unwrap();
        let key = n["key"].as_str().unwrap();
        let shown = page.eval(&format!(
            "document.querySelector('#graph-box g.node[data-id=\"' + CSS.escape({}) + '\"]').textContent",
            json!(id)
        ));
        let shown = shown.as_str().unwrap();
        match n["kind"].as_str().unwrap() {
            "manifest" | "plate" => assert!(shown.contains(key), "{id}: {shown}"),
            "party" => assert!(shown.contains(&parties[key]), "{id}: {shown}"),
            "site" => assert!(
                !shown.contains(key) && shown.contains("场所"),
                "{id}: {shown}"
            ),
            _ => assert!(shown.contains("驾驶员"), "{id}: {shown}"),
        }
    }
    let steps = text_of(&page, "#edge-list");
    assert!(
        steps.contains("合并转运") && steps.contains("转为"),
        "the links name their steps: {steps}"
    );
    let note = text_of(&page, "#cut");
    assert!(
        note.contains("只显示 2 份"),
        "what the cap cut, in words: {note}"
    );
    look(&page, "console-graph");

    // A load opens the graph around it; the centre opens its page.
    let other = nodes
        .iter()
        .find(|n| n["kind"] == "manifest" && n["depth"] == 1)
        .expect("a linked load")["key"]
        .as_str()
        .unwrap()
        .to_string();
    page.click(&format!(
        "#graph-box a.node-link[href^='/app/graph?manifest={other}']"
    ));
    page.wait_for(
        &format!(
            "location.search.includes('manifest={other}') && document.body.dataset.ready === 'graph'"
        ),
        WAIT,
    );
    page.click(&format!("#graph-box a.node-link[href='/app/m/{other}']"));
    page.wait_for(&format!("location.pathname === '/app/m/{other}'"), WAIT);

    // A company on the graph searches by it: the search runs from the URL.
    page.navigate(&format!(
        "{}/app/search?party={}",
        demo.url,
        nodes.iter().find(|n| n["kind"] == "party").unwrap()["key"]
            .as_str()
            .unwrap()
    ));
    page.wait_for("!document.getElementById('results').hidden", WAIT);
    assert!(text_of(&page, "#summary").contains("单位"));
    drop(demo);
}
