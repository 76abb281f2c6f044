//! The console's map (轨迹地图) on the demo week: `GET /v1/vehicles/{plate}/track` gives the lost
//! truck's day (its track, the stop outside every site and the nearest site) to those who may
//! read where it went; `/app/map` draws it in a real browser, with no request leaving the server
//! when no tile URL is configured, and base tiles from the configured tile server when one is.

use crate::app_kit::{desk, text_of};
use crate::app_pages::look;
use crate::browser::{Page, StaticServer, WAIT};
use crate::demo::Demo;
use ed25519_dalek::SigningKey;
use serde_json::Value;
use std::path::Path;
use wasteledger::client::{encode, LogClient};

fn key(data: &Path, short: &str) -> SigningKey {
    wasteledger::keyfile::read(&data.join(format!("keys/{short}.pem"))).unwrap()
}

/// The lost truck's stop, as the detectors report it: (plate, CST date of the stop).
fn lost_truck(demo: &Demo, bureau: &SigningKey) -> (String, String) {
    let c = LogClient::new(&demo.url);
    let a = c
        .get_signed("/v1/anomalies?kind=dwell_outside_sites", bureau)
        .unwrap()
        .json()
        .unwrap();
    let all = a["anomalies"].as_array().unwrap();
    assert_eq!(
        all.len(),
        1,
        "the demo has one stop outside every site: {a}"
    );
    let plate = all[0]["vehicles"][0].as_str().unwrap().to_string();
    let at = wasteledger::ledger::time::Timestamp::parse(all[0]["at"].as_str().unwrap()).unwrap();
    (plate, at.cst_date())
}

fn track_as(demo: &Demo, path: &str, who: Option<&SigningKey>) -> (u16, Value) {
    let c = LogClient::new(&demo.url);
    let a = match who {
        Some(k) => c.get_signed(path, k).unwrap(),
        None => c.get(path).unwrap(),
    };
    (a.status, a.json().unwrap_or(Value::Null))
}

#[test]
fn the_track_api_gives_the_lost_trucks_day_to_the_bureau_and_its_hauler_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = Demo::start(&data);
    let bureau = key(&data, "bureau");
    let (plate, day) = lost_truck(&demo, &bureau);
    assert_eq!(plate, "苏E9C437");
    let path = format!("/v1/vehicles/{}/track?from={day}&to={day}", encode(&plate));

    let (status, t) = track_as(&demo, &path, Some(&bureau));
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["datum"], "WGS-84");
    assert_eq!(t["points"].as_array().unwrap().len(), 8, "{t}");
    let dwells = t["dwells"].as_array().unwrap();
    assert_eq!(dwells.len(), 1, "{t}");
    let d = &dwells[0];
    assert_eq!(
        (d["minutes"].as_u64(), d["loaded"].as_bool()),
        (Some(45), Some(true))
    );
    assert_eq!(
        (d["lat_e6"].as_i64(), d["lon_e6"].as_i64()),
        (Some(31_461_200), Some(121_046_800))
    );
    let near = d["nearest"]["distance_m"].as_u64().unwrap();
    assert!(
        (5_650..5_750).contains(&near),
        "the nearest site is 5.7 km away: {d}"
    );
    let nearest = d["nearest"]["site"].as_str().unwrap();
    let sites: Vec<&str> = t["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site"].as_str().unwrap())
        .collect();
    assert!(
        sites.contains(&nearest),
        "the nearest site is drawn: {sites:?}"
    );
    let pickup = &t["handovers"][0];
    assert_eq!(
        (pickup["kind"].as_str(), pickup["site"].as_str()),
        (Some("load"), Some("KS-HC-ETDZ")),
        "{t}"
    );

    // Its own hauler reads it; another company does not, nor does an anonymous reader.
    assert_eq!(track_as(&demo, &path, Some(&key(&data, "shunan"))).0, 200);
    let (status, p) = track_as(&demo, &path, Some(&key(&data, "huachen")));
    assert_eq!(
        (status, p["field"].as_str()),
        (403, Some("Authorization")),
        "{p}"
    );
    assert_eq!(track_as(&demo, &path, None).0, 401);
    // A bad window is named; an unknown plate is 404.
    let back = format!(
        "/v1/vehicles/{}/track?from={day}T12:00&to={day}T08:00",
        encode(&plate)
    );
    let (status, p) = track_as(&demo, &back, Some(&bureau));
    assert_eq!((status, p["field"].as_str()), (400, Some("to")), "{p}");
    let long = format!(
        "/v1/vehicles/{}/track?from=2026-01-01&to=2026-03-01",
        encode(&plate)
    );
    assert_eq!(track_as(&demo, &long, Some(&bureau)).0, 400);
    let (status, p) = track_as(&demo, "/v1/vehicles/%E8%8B%8FE00000/track", Some(&bureau));
    assert_eq!((status, p["field"].as_str()), (404, Some("plate")), "{p}");
}

/// Open the map as the inspector would: from the home page's tile, fill the form, submit.
fn open_map(page: &Page, base: &str, plate: &str, day: &str) {
    page.navigate(&format!("{base}/app"));
    page.click("a.tile[href='/app/map']");
    page.wait_for("!!document.getElementById('map-form')", WAIT);
    page.type_text("#plate", plate);
    page.type_text("#from", &format!("{day} 00:00"));
    page.type_text("#to", &format!("{day} 23:59"));
    page.click("#map-form button[type=submit]");
    page.wait_for(
        "document.getElementById('map') && document.getElementById('map').dataset.drawn === '1'",
        WAIT,
    );
}

fn count(page: &Page, css: &str) -> u64 {
    let css = serde_json::to_string(css).unwrap();
    page.eval(&format!("document.querySelectorAll({css}).length"))
        .as_u64()
        .unwrap()
}

fn host(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn the_map_of_the_lost_trucks_day_shows_the_stop_and_the_site_57_km_away_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = Demo::start(&data);
    let bureau = key(&data, "bureau");
    let (plate, day) = lost_truck(&demo, &bureau);
    let (_browser, page) = desk(&demo.url, &bureau);

    // A plate that is no plate is refused next to its field, in Chinese.
    page.navigate(&format!(
        "{}/app/map?plate=ABC&from={day}&to={day}",
        demo.url
    ));
    let refused = text_of(&page, "[data-error-for=plate]");
    assert!(refused.contains("车牌号格式不对"), "{refused}");
    look(&page, "console-map-refused");

    open_map(&page, &demo.url, &plate, &day);
    // The stop: drawn, with its duration and the nearest site's distance in words.
    assert_eq!(count(&page, ".leaflet-overlay-pane path.wl-dwell"), 1);
    assert!(count(&page, ".leaflet-overlay-pane path.wl-site") >= 1);
    assert_eq!(count(&page, ".leaflet-overlay-pane path.wl-track"), 1);
    assert!(count(&page, ".leaflet-overlay-pane path.wl-handover") >= 1);
    assert!(
        count(&page, ".leaflet-overlay-pane path.wl-anomaly") >= 1,
        "the stop is an anomaly on the map"
    );
    let stop = text_of(&page, "#dwells li.dwell");
    assert!(stop.contains("停留 45 分钟"), "{stop}");
    assert_eq!(text_of(&page, "#dwells .dwell-distance"), "5.7 公里");
    // The site it names is the one the log gives as nearest, and its fence is drawn and named.
    let c = LogClient::new(&demo.url);
    let t = c
        .get_signed(
            &format!("/v1/vehicles/{}/track?from={day}&to={day}", encode(&plate)),
            &bureau,
        )
        .unwrap()
        .json()
        .unwrap();
    let name = t["dwells"][0]["nearest"]["name"].as_str().unwrap();
    assert_eq!(text_of(&page, "#dwells .dwell-site"), name);
    let labels = page
        .eval("[...document.querySelectorAll('.wl-site-label')].map(e => e.textContent).join('|')");
    assert!(labels.as_str().unwrap().contains(name), "{labels}");
    let anomalies = text_of(&page, "#anomalies");
    assert!(anomalies.contains("在登记场所外停留"), "{anomalies}");
    assert!(text_of(&page, "#datum").contains("WGS-84"));
    assert_eq!(count(&page, ".leaflet-control-scale-line"), 1);

    // No tile URL: no tile layer, and nothing requested from anywhere but the server.
    assert_eq!(count(&page, ".leaflet-tile"), 0);
    let own = host(&demo.url);
    let elsewhere: Vec<String> = page
        .requests()
        .into_iter()
        .map(|r| r.url)
        .filter(|u| u.starts_with("http") && host(u) != own)
        .collect();
    assert!(
        elsewhere.is_empty(),
        "requests left the server: {elsewhere:?}"
    );
    look(&page, "console-map-lost-truck");

    // The truck's hauler logs today's track: 60 jumps no truck can make, 60 anomalies newer
    // than the stop, more than one page of them. The lost day's map still lists its stop (it
    // reads the anomalies of its window, every page), and none of today's: the load's overdue
    // stays too (dated 72 h after its pickup, which the map draws).
    let now = wasteledger::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now())
        .unix_millis();
    let points: Vec<Value> = (0..61u64)
        .map(|i| {
            let at = wasteledger::ledger::time::Timestamp::from_unix_millis(
                now - 3_600_000 + i * 60_000,
            );
            let east = if i % 2 == 0 { 0 } else { 500_000 };
            serde_json::json!({"at": at, "lat_e6": 31_400_000, "lon_e6": 120_900_000 + east})
        })
        .collect();
    let track = crate::support::signed(
        serde_json::json!({"type": "vehicle.track", "plate": plate, "points": points}),
        &[&key(&data, "shunan")],
    );
    let posted = c.post("/v1/events", &track.to_bytes()).unwrap();
    assert_eq!(posted.status, 201, "{}", posted.body);
    let today = c
        .get_signed(
            &format!("/v1/anomalies?vehicle={}&kind=too_fast", encode(&plate)),
            &bureau,
        )
        .unwrap()
        .json()
        .unwrap();
    assert!(today["total"].as_u64() >= Some(60), "{today}");
    open_map(&page, &demo.url, &plate, &day);
    let anomalies = text_of(&page, "#anomalies");
    assert!(anomalies.contains("在登记场所外停留"), "{anomalies}");
    assert!(!anomalies.contains("车速异常"), "{anomalies}");
    look(&page, "console-map-busy-truck");
}

#[test]
fn with_a_tile_url_the_map_draws_tiles_from_that_server() {
    let mut png = Vec::new();
    image::RgbImage::from_pixel(256, 256, image::Rgb([214, 226, 206]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let tiles = StaticServer::files(&[("/tile.png", &png)]);
    let template = format!("{}/tile.png?z={{z}}&x={{x}}&y={{y}}", tiles.url);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = Demo::start_with(&data, &["--tile-url", &template]);
    let bureau = key(&data, "bureau");
    let (plate, day) = lost_truck(&demo, &bureau);
    let (_browser, page) = desk(&demo.url, &bureau);
    open_map(&page, &demo.url, &plate, &day);
    page.wait_for(
        "document.querySelectorAll('.leaflet-tile-loaded').length > 0",
        WAIT,
    );
    let got = tiles.requests();
    assert!(
        !got.is_empty()
            && got
                .iter()
                .all(|r| r.method == "GET" && r.path == "/tile.png"),
        "{got:?}"
    );
    assert!(text_of(&page, "#datum").contains("WGS-84"));
    // Still the same vector layers over the tiles.
    assert_eq!(count(&page, ".leaflet-overlay-pane path.wl-dwell"), 1);
    look(&page, "console-map-tiles");
}
