//! Issue 14's inspector, end to end through links only: on the demo week, the bureau's
//! inspector opens the console from the home page, goes from the dashboard to the open
//! anomalies, from the lost load's stop outside every site to the truck's map, from the map to
//! every load of that truck, picks the lost load for a case, pulls the bundle, and checks it on
//! the offline check page with the network gone: every page in Chinese, and afterwards the log
//! holds the pull, signed by the bureau, naming the case and the load.

use crate::app_kit::{set, text_of, BureauDesk};
use crate::app_pages::look;
use crate::browser::WAIT;
use crate::console_cases::{check_page, downloaded, verify_bundle};
use crate::console_queue::counted;
use crate::support::pk;
use serde_json::{json, Value};

#[test]
fn an_inspector_goes_from_the_dashboard_to_the_lost_truck_its_loads_and_a_case_checked_offline() {
    let dir = tempfile::tempdir().unwrap();
    let desk = BureauDesk::open(dir.path());
    let (page, base, downloads, bureau, c) = (
        &desk.page,
        desk.demo.url.clone(),
        &desk.downloads,
        &desk.bureau,
        &desk.c,
    );
    let log = c.verifier().unwrap();
    // What the detectors found: the one stop outside every site, its truck and its load.
    let found: Value = c
        .get_signed("/v1/anomalies?kind=dwell_outside_sites", bureau)
        .unwrap()
        .json()
        .unwrap();
    let stop = &found["anomalies"][0];
    let plate = stop["vehicles"][0].as_str().unwrap().to_string();
    let lost = stop["manifests"][0].as_str().unwrap().to_string();
    // 1. Home → the console (督查首页).
    page.navigate(&format!("{base}/app"));
    page.click("a.tile[href='/app/console']");
    counted(page);
    look(page, "journey-1-console");

    // 2. → the open anomalies: the stop is listed, open, with its load and its truck.
    page.click("a.button[href='/app/anomalies?state=open']");
    let row = format!(
        "#queue li.anomaly[data-id={}]",
        json!(stop["id"].as_str().unwrap())
    );
    page.wait_for(&format!("!!document.querySelector({})", json!(row)), WAIT);
    assert_eq!(
        page.eval(&format!(
            "document.querySelector({}).dataset.state",
            json!(row)
        )),
        "open"
    );
    let said = text_of(page, &row);
    assert!(
        said.contains("场外停留") && said.contains(&lost) && said.contains(&plate),
        "{said}"
    );
    look(page, "journey-2-anomalies");

    // 3. → the truck's map around the stop: the stop drawn, 45 minutes, 5.7 km from the
    // nearest site, and the lost load's pickup among the hand-overs.
    page.click(&format!("{row} a.map"));
    page.wait_for(
        "document.getElementById('map') && document.getElementById('map').dataset.drawn === '1'",
        WAIT,
    );
    assert_eq!(
        page.eval("document.querySelectorAll('.leaflet-overlay-pane path.wl-dwell').length"),
        1
    );
    // The window: six hours either side of the stop, in the form as China Standard Time.
    use wasteledger::ledger::time::Timestamp;
    let at = Timestamp::parse(stop["at"].as_str().unwrap()).unwrap();
    let minute = |ms: u64| Timestamp::from_unix_millis(ms).cst()[..16].to_string();
    let six = 6 * 3600 * 1000;
    assert_eq!(
        page.eval("[document.getElementById('from').value, document.getElementById('to').value]"),
        json!([
            minute(at.unix_millis() - six),
            minute(at.unix_millis() + six)
        ])
    );
    assert!(text_of(page, "#dwells li.dwell").contains("停留 45 分钟"));
    assert_eq!(text_of(page, "#dwells .dwell-distance"), "5.7 公里");
    assert!(
        text_of(page, "#handovers").contains(&lost),
        "{}",
        text_of(page, "#handovers")
    );
    look(page, "journey-3-map");
    // The same truck from the load's number alone (`?manifest=`): its hand-overs' window.
    let from_stop = page.url();
    page.navigate(&format!("{base}/app/map?manifest={lost}"));
    page.wait_for(
        "document.getElementById('map') && document.getElementById('map').dataset.drawn === '1'",
        WAIT,
    );
    assert_eq!(
        page.eval("document.getElementById('plate').value"),
        json!(plate)
    );
    assert!(text_of(page, "#dwells li.dwell").contains("停留 45 分钟"));
    page.navigate(&from_stop);
    page.wait_for(
        "document.getElementById('map') && document.getElementById('map').dataset.drawn === '1'",
        WAIT,
    );

    // 4. → every load of that truck: what /v1/search answers for the plate.
    page.click("#search-plate");
    let all: Value = c
        .get_signed(
            &format!("/v1/search?plate={}", wasteledger::client::encode(&plate)),
            bureau,
        )
        .unwrap()
        .json()
        .unwrap();
    // (In the demo week this truck carried only the lost load; the page lists what the log
    // answers, however many.)
    let n = all["manifests"].as_array().unwrap().len();
    assert!(n >= 1, "{all}");
    page.wait_for(
        &format!(
            "!document.getElementById('results').hidden && document.querySelectorAll('#hits > li').length === {n}"
        ),
        WAIT,
    );
    assert_eq!(
        page.eval("document.getElementById('plate').value"),
        json!(plate)
    );
    let hit = text_of(page, &format!("#hits > li[data-number='{lost}']"));
    assert!(
        hit.contains("运输中"),
        "the lost load is still in transit: {hit}"
    );
    look(page, "journey-4-search");

    // 5. Pick the lost load → open a case → pull the bundle (a signed evidence.exported).
    page.click(&format!("#hits > li[data-number='{lost}'] .pick-box"));
    page.click("#make-case");
    page.wait_for("document.body.dataset.casesReady === 'yes'", WAIT);
    assert_eq!(
        page.eval("document.getElementById('manifests').value"),
        json!(lost)
    );
    set(page, "#case", "KS-2026-0107");
    set(page, "#reason", "巴城方向场所外停留 45 分钟，疑似非法倾倒");
    page.click("#pull");
    page.wait_for(
        "document.getElementById('exports').dataset.loaded === 'yes' && document.querySelectorAll('#exports li.export').length === 1",
        WAIT,
    );
    assert_eq!(
        page.eval("document.getElementById('bundle-verdict').dataset.ok"),
        "yes"
    );
    look(page, "journey-5-case");
    let file = downloaded(downloads);
    let (okay, out) = verify_bundle(&file, &log);
    assert!(okay, "{out}");

    // What the log holds: the pull, signed by the bureau, naming the case and the lost load.
    let x: Value = c.get_signed("/v1/exports", bureau).unwrap().json().unwrap();
    let x = &x["exports"][0];
    assert_eq!(
        (&x["case"], &x["manifests"]),
        (&json!("KS-2026-0107"), &json!([lost])),
        "{x}"
    );
    let entry: Value = serde_json::from_str(
        &c.get_signed(
            &format!(
                "/v1/log/entries?start={}&end={}",
                x["index"],
                x["index"].as_u64().unwrap() + 1
            ),
            bureau,
        )
        .unwrap()
        .body,
    )
    .unwrap();
    assert_eq!(entry["event"]["type"], "evidence.exported");
    assert_eq!(entry["signatures"][0]["key"], pk(bureau));

    // Fetched again from the pulls list (a colleague's laptop, a lost file): the same pull,
    // a bundle that holds, and no second pull on the log.
    let first: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    std::fs::remove_file(&file).unwrap();
    page.click(&format!(
        "#exports li.export[data-index='{}'] button.again",
        x["index"]
    ));
    let again = downloaded(downloads);
    let (okay, out) = verify_bundle(&again, &log);
    assert!(okay, "{out}");
    let second: Value = serde_json::from_slice(&std::fs::read(&again).unwrap()).unwrap();
    assert_eq!(
        (&second["export"], &second["manifests"]),
        (&first["export"], &first["manifests"])
    );
    let pulls: Value = c.get_signed("/v1/exports", bureau).unwrap().json().unwrap();
    assert_eq!(pulls["exports"].as_array().unwrap().len(), 1, "{pulls}");
    let file = again;

    // 6. The network goes; the check page (kept by the offline worker) checks the file.
    page.wait_for(
        "navigator.serviceWorker.controller !== null",
        std::time::Duration::from_secs(90),
    );
    page.set_offline(true);
    page.click("a.button[href='/app/check']");
    page.wait_for("document.body.dataset.checkReady === 'yes'", WAIT);
    let (ok_, bad) = check_page(page, &file);
    assert!(ok_, "{bad:?}");
    let verdict = text_of(page, "#verdict");
    assert!(verdict.contains("核验通过"), "{verdict}");
    look(page, "journey-6-check-offline");
    page.set_offline(false);
}
