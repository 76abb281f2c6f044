//! The console's dashboard (`/app/console`) and anomaly queue (`/app/anomalies`) in real
//! Chromium on the demo week, each checked against what the API answers the bureau; and
//! `GET /v1/anomalies` paging and `case.noted` over HTTP.

use crate::app_kit::{desk, text_of, visible};
use crate::app_pages::look;
use crate::browser::{Page, WAIT};
use crate::demo::Demo;
use crate::support::signed;
use crate::world::{ok, post, World};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use std::collections::HashSet;
use wasteledger::client::{encode, LogClient};

fn get(c: &LogClient, path: &str, key: &SigningKey) -> Value {
    let a = c.get_signed(path, key).unwrap();
    assert_eq!(a.status, 200, "{path}: {}", a.body);
    a.json().unwrap()
}

/// The ids of the anomalies an answer of `GET /v1/anomalies` lists, in its order.
pub fn ids(v: &Value) -> Vec<String> {
    v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

/// The ids the queue shows, in order.
fn shown_ids(page: &Page) -> Vec<String> {
    let v =
        page.eval("[...document.querySelectorAll('#queue li.anomaly')].map(li => li.dataset.id)");
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// Wait until the dashboard has counted the week's anomalies.
pub(crate) fn counted(page: &Page) {
    page.wait_for(
        "(() => { const s = document.getElementById('kinds-state'); return s && !/正在读取/.test(s.textContent); })()",
        WAIT,
    );
}

fn open_queue(page: &Page, base: &str, query: &str) {
    page.navigate(&format!("{base}/app/anomalies{query}"));
    page.wait_for(
        "(() => { const s = document.getElementById('summary'); return s && !/正在读取|Loading/.test(s.textContent); })()",
        WAIT,
    );
}

#[test]
fn the_console_counts_what_the_api_lists_and_the_queue_shows_handles_pages_and_exports_anomalies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = Demo::start(&data);
    let base = demo.url.clone();
    let bureau = wasteledger::keyfile::read(&data.join("keys/bureau.pem")).unwrap();
    let c = LogClient::new(&base);
    let (_browser, page) = desk(&base, &bureau);

    // The home page links to the console.
    assert!(
        page.eval("!!document.querySelector('a.tile[href=\"/app/console\"]')")
            .as_bool()
            .unwrap(),
        "the inspector's home links to the console"
    );

    // Dashboard: every counter equals what GET /v1/manifests lists to the bureau.
    page.navigate(&format!("{base}/app/console"));
    counted(&page);
    let mut checked_nonzero = 0;
    for stream in ["hazardous", "construction"] {
        let all = get(
            &c,
            &format!("/v1/manifests?stream={stream}&limit=1000"),
            &bureau,
        );
        let all = all["manifests"].as_array().unwrap();
        let count = |f: &dyn Fn(&Value) -> bool| all.iter().filter(|m| f(m)).count();
        let status = |s: &'static str| move |m: &Value| m["status"] == s;
        let want = [
            (
                "in_transit",
                count(&|m| m["status"] == "in_transit" || m["status"] == "at_station"),
            ),
            (
                "overdue",
                count(&|m| {
                    m["flags"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|f| f == "overdue")
                }),
            ),
            ("awaiting_receipt", count(&status("delivered"))),
            ("received", count(&status("received"))),
            ("treated", count(&status("treated"))),
            ("rejected", count(&status("rejected"))),
        ];
        for (key, n) in want {
            let css = format!("[data-stream={stream}] [data-count={key}] .n");
            assert_eq!(
                text_of(&page, &css),
                n.to_string(),
                "{stream} {key} on the dashboard"
            );
            if n > 0 {
                checked_nonzero += 1;
            }
        }
    }
    assert!(checked_nonzero >= 3, "the demo week fills several counters");
    // The overdue counter's list holds the overdue load.
    let overdue_list = get(&c, "/v1/anomalies?kind=overdue", &bureau);
    let lost = overdue_list["anomalies"][0]["manifests"][0]
        .as_str()
        .unwrap()
        .to_string();
    page.navigate(&format!(
        "{base}/app/console/manifests?stream=hazardous&show=overdue"
    ));
    assert!(
        page.eval(&format!(
            "!!document.querySelector('#loads li[data-number=\"{lost}\"]')"
        ))
        .as_bool()
        .unwrap(),
        "the overdue list holds {lost}"
    );
    look(&page, "console-queue-overdue-list");
    // Anomalies by kind: each number is the API's total for that kind and window.
    page.navigate(&format!("{base}/app/console"));
    counted(&page);
    let links = page.eval(
        "[...document.querySelectorAll('#kinds a')].map(a => [a.getAttribute('href'), a.textContent])",
    );
    for l in links.as_array().unwrap() {
        let href = l[0].as_str().unwrap();
        let q = href.strip_prefix("/app/anomalies?").unwrap();
        let api = get(&c, &format!("/v1/anomalies?{q}&limit=1"), &bureau);
        assert_eq!(l[1].as_str().unwrap(), api["total"].to_string(), "{href}");
    }
    look(&page, "console-queue-dashboard");

    // The queue: the overdue load, the dwell outside every site and the unlicensed receiver,
    // each with its reason in Chinese and the detector's sentence beneath.
    for (kind, name, says) in [
        ("overdue", "运输超时", "超过运输时限仍未送达"),
        (
            "dwell_outside_sites",
            "场外停留",
            "在登记场所之外长时间停留",
        ),
        ("not_licensed", "接收方无许可", "没有相应经营许可"),
    ] {
        open_queue(&page, &base, &format!("?kind={kind}"));
        let li = format!("#queue li[data-kind={kind}]");
        page.wait_for(&visible(&li), WAIT);
        let text = text_of(&page, &li);
        assert!(text.contains(name) && text.contains(says), "{kind}: {text}");
        let api = get(&c, &format!("/v1/anomalies?kind={kind}&limit=1"), &bureau);
        let a = &api["anomalies"][0];
        assert!(text.contains(a["reason"].as_str().unwrap()), "{text}");
        for m in a["manifests"].as_array().unwrap() {
            let m = m.as_str().unwrap();
            assert!(
                page.eval(&format!(
                    "!!document.querySelector('{li} a[href=\"/app/m/{m}\"]')"
                ))
                .as_bool()
                .unwrap(),
                "{kind}: a link to {m}"
            );
        }
        if kind == "dwell_outside_sites" {
            let plate = a["vehicles"][0].as_str().unwrap();
            let href = page.eval(&format!(
                "document.querySelector('{li} a.map').getAttribute('href')"
            ));
            assert!(
                href.as_str()
                    .unwrap()
                    .starts_with(&format!("/app/map?plate={}&from=", encode(plate))),
                "{href}"
            );
        }
    }
    open_queue(&page, &base, "");
    look(&page, "console-queue-anomalies");

    // Handling the overdue load: signed in the browser, shown as handled by the bureau, and
    // on the log as a case.noted entry naming the anomaly.
    let id = overdue_list["anomalies"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    open_queue(&page, &base, "?kind=overdue&state=open");
    let li = format!("#queue li[data-id=\"{id}\"]");
    page.click(&format!("{li} .note-open"));
    page.wait_for(
        &format!("!!document.querySelector('{li} form.note textarea')"),
        WAIT,
    );
    crate::app_kit::set(
        &page,
        &format!("{li} form.note textarea"),
        "路检后联系运输单位，车辆已返回 (called the hauler after the roadside check)",
    );
    crate::app_kit::set(
        &page,
        &format!("{li} form.note input[name=case]"),
        "昆环罚〔2026〕17号",
    );
    page.click(&format!("{li} form.note button[type=submit]"));
    page.wait_for(
        &format!("(() => {{ const e = document.querySelector('{li}'); return e && e.dataset.state === 'handled'; }})()"),
        WAIT,
    );
    let shown = text_of(&page, &format!("{li} .handled"));
    assert!(
        shown.contains("已处理") && shown.contains("昆环罚〔2026〕17号"),
        "{shown}"
    );
    let handled = get(&c, "/v1/anomalies?kind=overdue&state=handled", &bureau);
    assert_eq!(ids(&handled), vec![id.clone()], "{handled}");
    let h = &handled["anomalies"][0]["handled"];
    assert!(
        shown.contains(h["by_name"].as_str().unwrap()),
        "{shown} {h}"
    );
    let entry = c
        .get_signed(&format!("/v1/log/entries/{}", h["index"]), &bureau)
        .unwrap()
        .body;
    assert!(
        entry.contains("\"type\":\"case.noted\"")
            && entry.contains(&format!("\"anomaly\":\"{id}\"")),
        "{entry}"
    );
    let open = get(&c, "/v1/anomalies?kind=overdue&state=open", &bureau);
    assert!(!ids(&open).contains(&id), "no longer open");
    look(&page, "console-queue-handled");

    // Paging on the server: two at a time, the second page after the first, none twice.
    let all = get(&c, "/v1/anomalies?limit=500", &bureau);
    let total = all["total"].as_u64().unwrap() as usize;
    assert!(
        total > 2,
        "the demo week has more than two anomalies: {total}"
    );
    open_queue(&page, &base, "?limit=2");
    assert_eq!(shown_ids(&page).len(), 2);
    // The newest days fill a page of two: the page says so, and counts nothing it did not read.
    let said = text_of(&page, "#summary");
    assert!(
        said.contains("已显示最新的 2 条") && said.contains("下一页") && !said.contains("共"),
        "{said}"
    );
    look(&page, "console-queue-newest-page");
    page.click("#more");
    page.wait_for(
        "document.querySelectorAll('#queue li.anomaly').length > 2",
        WAIT,
    );
    let two_pages = shown_ids(&page);
    let unique: HashSet<&String> = two_pages.iter().collect();
    assert_eq!(
        unique.len(),
        two_pages.len(),
        "no duplicates: {two_pages:?}"
    );
    assert_eq!(
        two_pages,
        ids(&all)[..two_pages.len()].to_vec(),
        "newest first"
    );

    // CSV of the filtered list: UTF-8 with a BOM, a Chinese header, a row per anomaly, CST.
    open_queue(&page, &base, "");
    page.eval(
        "(() => { const make = URL.createObjectURL; window.__csv = null; URL.createObjectURL = (b) => { window.__csv = b; return make(b); }; return true; })()",
    );
    page.click("#csv");
    page.wait_for("window.__csv !== null", WAIT);
    let bytes = page.eval("(async () => [...new Uint8Array(await window.__csv.arrayBuffer())])()");
    let bytes: Vec<u8> = bytes
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "a BOM for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("时间（北京时间）,类型,处理情况,原因"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), total + 1, "a row per anomaly:\n{text}");
    assert!(
        text.contains(&id) && text.contains("昆环罚〔2026〕17号"),
        "{text}"
    );
    assert!(
        text.contains("北京时间") && text.contains("运输超时"),
        "{text}"
    );

    // Refused filters: next to their field, in Chinese.
    open_queue(&page, &base, "?vehicle=XY123");
    page.wait_for(&visible("[data-error-for=vehicle]"), WAIT);
    let said = text_of(&page, "[data-error-for=vehicle]");
    assert!(said.contains("车牌号") && said.contains("应为"), "{said}");
    assert!(!said.contains("expected"), "{said}");
    open_queue(&page, &base, "?from=2026-11-23&to=2026-11-22");
    page.wait_for(&visible("[data-error-for=to]"), WAIT);
    assert!(text_of(&page, "[data-error-for=to]").contains("止（北京时间"));
    look(&page, "console-queue-refused");
    drop(demo);
}

#[test]
fn anomalies_come_a_page_at_a_time_newest_first_and_case_noted_marks_them_handled() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    crate::anomalies::unlicensed_and_dwell(&w);

    // A page of one, filled by the newest day: not counted to the end.
    let first = get(&w.c, "/v1/anomalies?limit=1", &w.bureau.key);
    assert!(first.get("total").is_none(), "{first}");
    assert_eq!(first["anomalies"].as_array().unwrap().len(), 1);
    // Newest first: the delivery at 09:30 before the dwell from 09:00.
    assert_eq!(first["anomalies"][0]["kind"], "not_licensed", "{first}");
    let next = first["next"].as_str().expect("more to come");
    let second = get(
        &w.c,
        &format!("/v1/anomalies?limit=1&cursor={}", encode(next)),
        &w.bureau.key,
    );
    assert_eq!(second["anomalies"][0]["kind"], "dwell_outside_sites");
    assert!(second.get("next").is_none(), "the last page: {second}");
    assert_ne!(ids(&first), ids(&second));
    // Ids are stable across reads and name their kind.
    let all = get(&w.c, "/v1/anomalies", &w.bureau.key);
    assert_eq!(all["total"], 2, "{all}");
    let both = ids(&all);
    assert_eq!(both, [ids(&first), ids(&second)].concat());
    assert!(both[0].starts_with("not_licensed-") && both[0].len() == "not_licensed-".len() + 16);

    // Bad parameters: 400 naming each.
    crate::anomalies::refused(
        &w,
        &[
            ("limit=0", "limit", "from 1 to 500"),
            ("limit=501", "limit", "from 1 to 500"),
            (
                "cursor=nonsense",
                "cursor",
                "the `next` of an earlier answer",
            ),
            ("state=done", "state", "open or handled"),
            ("page=2", "page", "not a parameter"),
        ],
    );

    // The bureau notes what it did about the unlicensed delivery.
    let id = both[0].clone();
    let note = json!({"type": "case.noted", "by": w.bureau.id, "anomaly": id,
        "action": "责令接收单位停止接收 (ordered the yard to stop taking it in)", "case": "C-2026-17",
        "at": "2026-11-23T10:00:00Z"});
    let index = ok(&w.c, note.clone(), &[&w.bureau.key])["index"]
        .as_u64()
        .unwrap();
    let handled = get(&w.c, "/v1/anomalies?state=handled", &w.bureau.key);
    assert_eq!(ids(&handled), vec![id.clone()]);
    let h = &handled["anomalies"][0]["handled"];
    assert_eq!(h["by"], json!(w.bureau.id));
    assert_eq!(h["index"], index);
    assert_eq!(h["case"], "C-2026-17");
    assert!(w.entry(index).contains("\"type\":\"case.noted\""));
    let open = get(&w.c, "/v1/anomalies?state=open", &w.bureau.key);
    assert_eq!(ids(&open), vec![both[1].clone()]);
    // A party sees its anomaly, never the bureau's note on it.
    let plant = get(&w.c, "/v1/anomalies", &w.plant.key);
    assert_eq!(ids(&plant), vec![id.clone()]);
    assert!(plant["anomalies"][0].get("handled").is_none(), "{plant}");

    // Refused notes: not an inspector, an id not as the API writes it, nothing said.
    for (body, key, field) in [
        (
            json!({"type": "case.noted", "by": w.plant.id, "anomaly": id, "action": "x", "at": "2026-11-23T10:00:00Z"}),
            &w.plant.key,
            "event.by",
        ),
        (
            json!({"type": "case.noted", "by": w.bureau.id, "anomaly": "overdue-12", "action": "x", "at": "2026-11-23T10:00:00Z"}),
            &w.bureau.key,
            "event.anomaly",
        ),
        (
            json!({"type": "case.noted", "by": w.bureau.id, "anomaly": id, "action": " ", "at": "2026-11-23T10:00:00Z"}),
            &w.bureau.key,
            "event.action",
        ),
    ] {
        let (status, p) = post(&w.c, &signed(body.clone(), &[key]).to_bytes());
        assert!(status >= 400, "{body} → {p}");
        assert_eq!(p["field"], field, "{body} → {p}");
    }
}
