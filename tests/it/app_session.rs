//! The web application's sign-in, over plain HTTP (the browser flows are in the page tests):
//! a signed `POST /app/session` gives an HttpOnly, SameSite=Strict cookie that reads as its
//! key reads, never writes; a key no party approved gets 403 `key-not-approved`; pages speak
//! Chinese by default and English on the switch.

use crate::world::World;
use ed25519_dalek::SigningKey;
use wasteledger::http::auth;
use wasteledger::ledger::time::Timestamp;

struct Answer {
    status: u16,
    cookie: Option<String>,
    body: String,
}

fn call(
    base: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    signer: Option<&SigningKey>,
    body: &[u8],
) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("content-type", "application/json");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(k) = signer {
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        req = req.header("authorization", auth::header(k, method, path, now, body));
    }
    let mut resp = agent.run(req.body(body.to_vec()).unwrap()).unwrap();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Answer {
        status: resp.status().as_u16(),
        cookie,
        body: resp.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn login(base: &str, k: &SigningKey) -> Answer {
    call(base, "POST", "/app/session", None, Some(k), b"")
}

#[test]
fn a_signed_login_gives_a_read_only_cookie_and_pages_in_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let base = w.server.url.clone();
    let m = w.issue_hazardous("S-DISPOSAL");

    // Anonymous: the home page asks this device to sign in, in Chinese.
    let home = call(&base, "GET", "/app", None, None, b"");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("本机尚未登录"), "{}", home.body);
    assert!(home.body.contains("lang=\"zh-CN\""));

    // A key of no party: refused, saying what to do.
    let stranger = SigningKey::from_bytes(&[77; 32]);
    let r = login(&base, &stranger);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("key-not-approved"), "{}", r.body);
    assert!(r.cookie.is_none());

    // The plant's key: a session cookie, HttpOnly and SameSite=Strict.
    let r = login(&base, &w.plant.key);
    assert_eq!(r.status, 200, "{}", r.body);
    let set = r.cookie.expect("a session cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();

    // The cookie reads as the plant: its loads, its manifest (the API's JSON and the page).
    let loads = call(&base, "GET", "/app/loads", Some(&cookie), None, b"");
    assert!(
        loads.body.contains(&m),
        "the plant's open load is listed: {}",
        loads.body
    );
    let api = call(
        &base,
        "GET",
        &format!("/v1/manifests/{m}"),
        Some(&cookie),
        None,
        b"",
    );
    assert!(api.body.contains("\"view\":\"full\""), "{}", api.body);
    let page = call(
        &base,
        "GET",
        &format!("/app/m/{m}"),
        Some(&cookie),
        None,
        b"",
    );
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("应装运的废物") && page.body.contains("已开具，待起运"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(">issued<"), "no raw status on the page");
    let en = call(
        &base,
        "GET",
        &format!("/app/m/{m}?lang=en"),
        Some(&cookie),
        None,
        b"",
    );
    assert!(en.body.contains("What must be on the truck"), "{}", en.body);

    // Another party's session does not see the plant's load in full.
    let r = login(&base, &w.muck.key);
    let other = r.cookie.unwrap().split(';').next().unwrap().to_string();
    let api = call(
        &base,
        "GET",
        &format!("/v1/manifests/{m}"),
        Some(&other),
        None,
        b"",
    );
    assert!(!api.body.contains("\"view\":\"full\""), "{}", api.body);

    // A cookie never authorises anything but a read: lodging personal data with it (a
    // signed request's job) is refused as anonymous.
    let lodge = call(
        &base,
        "POST",
        "/v1/personal",
        Some(&cookie),
        None,
        br#"{"commitment":"00"}"#,
    );
    assert_eq!(lodge.status, 401, "{}", lodge.body);

    // A session reads what the pages show, no more: an inspector's cookie does not read the
    // log's raw entries or personal data, which take a signature on each request.
    let r = login(&base, &w.bureau.key);
    let inspector = r.cookie.unwrap().split(';').next().unwrap().to_string();
    let page_read = call(
        &base,
        "GET",
        &format!("/v1/manifests/{m}"),
        Some(&inspector),
        None,
        b"",
    );
    assert!(
        page_read.body.contains("\"view\":\"full\""),
        "{}",
        page_read.body
    );
    for path in ["/v1/log/entries/1", "/v1/persons?name=x", "/v1/exports"] {
        let r = call(&base, "GET", path, Some(&inspector), None, b"");
        assert_eq!(r.status, 401, "{path} with a cookie only: {}", r.body);
    }

    // Signing out ends the session on the server, not only in the browser.
    let out = call(&base, "DELETE", "/app/session", Some(&cookie), None, b"");
    assert_eq!(out.status, 204);
    let api = call(
        &base,
        "GET",
        &format!("/v1/manifests/{m}"),
        Some(&cookie),
        None,
        b"",
    );
    assert!(
        !api.body.contains("\"view\":\"full\""),
        "a closed session reads as anonymous"
    );
}

#[test]
fn the_static_files_and_the_offline_worker_are_served_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let base = w.server.url.clone();
    for a in wasteledger::web::assets::ASSETS {
        let r = call(
            &base,
            "GET",
            &format!("/app/static/{}", a.path),
            None,
            None,
            b"",
        );
        assert_eq!(r.status, 200, "{}", a.path);
    }
    let sw = call(&base, "GET", "/app/sw.js", None, None, b"");
    assert!(
        sw.body.contains(wasteledger::web::assets::version()),
        "the worker names this version"
    );
    assert!(!sw.body.contains("__ASSETS__"));
    let none = call(&base, "GET", "/app/static/../Cargo.toml", None, None, b"");
    assert_eq!(none.status, 404);
}

#[test]
fn the_hand_over_form_names_a_driver_by_the_staff_number_of_their_phone_never_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let base = w.server.url.clone();
    let m = w.issue_hazardous("S-DISPOSAL");
    // Hauler A registers its driver (a commitment, never the name) and delegates the driver's
    // phone under the staff number HA-0042, naming the driver.
    let person = "7".repeat(64);
    crate::world::ok(
        &w.c,
        serde_json::json!({"type": "person.registered", "person": person,
                           "party": w.hauler_a.id, "role": "driver"}),
        &[&w.hauler_a.key],
    );
    let phone = SigningKey::from_bytes(&[42; 32]);
    let not_after = Timestamp::from_unix_millis(
        Timestamp::from_system_time(std::time::SystemTime::now()).unix_millis() + 86_400_000,
    );
    crate::world::ok(
        &w.c,
        serde_json::json!({"type": "key.delegated", "key": crate::support::pk(&phone),
                           "holder": w.hauler_a.id, "label": "HA-0042",
                           "not_after": not_after.to_string(), "person": person}),
        &[&w.hauler_a.key],
    );
    let cookie = login(&base, &w.plant.key).cookie.unwrap();
    let cookie = cookie.split(';').next().unwrap();
    let page = call(
        &base,
        "GET",
        &format!("/app/m/{m}"),
        Some(cookie),
        None,
        b"",
    );
    let option = format!(
        "<option value=\"{person}\" data-party=\"{}\">驾驶员 HA-0042</option>",
        w.hauler_a.id
    );
    assert!(page.body.contains(&option), "{}", page.body);
}

/// A GET with extra request headers, as a browser sends them.
fn get_with(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = agent.get(format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn every_page_takes_its_language_by_one_rule() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let base = w.server.url.clone();
    let m = w.issue_hazardous("S-DISPOSAL");
    let (_, png) =
        w.c.get_bytes_signed(&format!("/v1/manifests/{m}/qr.png"), &w.plant.key)
            .unwrap();
    let token = wasteledger::qr::decode_image(&png).unwrap().remove(0);
    let token = token.rsplit('/').next().unwrap().to_string();
    // The application's home page and the public verdict a camera opens, alike.
    for path in ["/app".to_string(), format!("/m/{token}")] {
        let english = |headers: &[(&str, &str)]| {
            let (status, body) = get_with(&base, &path, headers);
            assert_eq!(status, 200, "{path}: {body}");
            body.contains("<html lang=\"en\">")
        };
        assert!(!english(&[]), "{path}: Chinese when nothing says otherwise");
        assert!(
            english(&[("accept-language", "en-US,en;q=0.9")]),
            "{path}: the browser's language"
        );
        assert!(
            !english(&[("accept-language", "en-US"), ("cookie", "wl_lang=zh-CN")]),
            "{path}: the switch's choice over the browser's"
        );
        assert!(english(&[("cookie", "wl_lang=en")]), "{path}");
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, body) = get_with(&base, &format!("{path}{sep}lang=fr"), &[]);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("`lang`: expected zh or en"), "{path}: {body}");
    }
}
