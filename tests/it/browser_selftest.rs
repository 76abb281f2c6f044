//! The browser harness checked against pages it serves itself: each claim a page test will
//! lean on (the camera shows the code, offline is offline, requests are all seen, the page
//! checks catch what they should) is shown here once.

use crate::browser::{
    horizontal_overflow, qr_video, screens_dir, untranslated_text, Browser, LaunchOptions,
    RecordingProxy, StaticServer, WAIT,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

const PHONE: &str = r#"<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0; font-family: sans-serif }</style></head><body><p id="hello">你好</p></body></html>"#;

fn panic_text(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a failure");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn fake_camera_shows_the_rendered_qr_code() {
    let dir = tempfile::tempdir().unwrap();
    let payload = "https://ledger.example/m/WL1-selftest-0123456789";
    let png = wasteledger::qr::png(payload, 6).unwrap();
    let video = dir.path().join("qr.y4m");
    qr_video(&png, &video);
    let server = StaticServer::files(&[("/index.html", PHONE.as_bytes())]);
    let browser = Browser::launch(LaunchOptions::default().camera(&video));
    let page = browser.new_page();
    page.navigate(&server.url);
    let seen = page.eval(
        r#"(async () => {
            const stream = await navigator.mediaDevices.getUserMedia({video: true});
            const v = document.createElement('video');
            v.muted = true; v.playsInline = true; v.srcObject = stream;
            document.body.append(v);
            await v.play();
            while (v.videoWidth === 0) await new Promise(r => setTimeout(r, 20));
            const c = document.createElement('canvas');
            c.width = v.videoWidth; c.height = v.videoHeight;
            const g = c.getContext('2d');
            g.drawImage(v, 0, 0);
            const px = g.getImageData(0, 0, c.width, c.height).data;
            let dark = 0;
            for (let i = 0; i < px.length; i += 4) if (px[i] < 64) dark++;
            return {width: c.width, height: c.height, dark: dark / (c.width * c.height),
                    png: c.toDataURL('image/png')};
        })()"#,
    );
    assert_eq!(
        (seen["width"].as_u64(), seen["height"].as_u64()),
        (Some(640), Some(480))
    );
    let dark = seen["dark"].as_f64().unwrap();
    assert!(
        (0.05..0.6).contains(&dark),
        "a camera frame showing a QR code on white should be partly dark, was {:.1}% dark",
        dark * 100.0
    );
    use base64::Engine as _;
    let frame = base64::engine::general_purpose::STANDARD
        .decode(
            seen["png"]
                .as_str()
                .unwrap()
                .trim_start_matches("data:image/png;base64,"),
        )
        .unwrap();
    let read = wasteledger::qr::decode_image(&frame).expect("the camera frame holds a readable QR");
    assert_eq!(read, vec![payload.to_string()]);
}

#[test]
fn phone_screenshot_is_the_whole_page_at_phone_width() {
    let tall = PHONE.replace(
        r#"<p id="hello">你好</p>"#,
        r#"<div style="height: 2000px; background: linear-gradient(#fff, #36c)">很长的页面</div>"#,
    );
    let server = StaticServer::files(&[("/index.html", tall.as_bytes())]);
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.set_viewport(390, 844, true);
    page.navigate(&server.url);
    assert_eq!(
        page.eval("[innerWidth, navigator.maxTouchPoints > 0]"),
        serde_json::json!([390, true])
    );
    let path = screens_dir().join("selftest-phone.png");
    let _ = std::fs::remove_file(&path);
    page.screenshot(&path);
    let (w, h) = image::image_dimensions(&path).expect("the screenshot is a PNG");
    assert_eq!(
        (w, h),
        (390, 2000),
        "full-page screenshot of a 2000 px page at 390 px"
    );
}

#[test]
fn offline_blocks_a_fetch_and_reconnecting_restores_it() {
    let server = StaticServer::files(&[("/index.html", PHONE.as_bytes()), ("/ping.txt", b"pong")]);
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.navigate(&server.url);
    let ping = "fetch('/ping.txt').then(r => r.text()).catch(e => 'failed: ' + e.message)";
    assert_eq!(page.eval(ping), "pong");
    page.set_offline(true);
    let offline = page.eval(ping);
    assert!(
        offline.as_str().unwrap().starts_with("failed"),
        "offline fetch gave {offline}"
    );
    assert_eq!(page.eval("navigator.onLine"), false);
    page.set_offline(false);
    assert_eq!(page.eval(ping), "pong");
}

const SW: &str = r#"
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', e => e.waitUntil(self.clients.claim()));
self.addEventListener('fetch', e => {
  const url = new URL(e.request.url);
  if (url.pathname === '/ping.txt') e.respondWith(fetch(e.request));
  if (url.pathname === '/sw-post') e.respondWith(fetch('/sync', {method: 'POST', body: 'sw-secret-' + url.search}));
});
"#;

#[test]
fn a_service_worker_is_offline_with_its_page_and_its_requests_are_recorded() {
    let server = StaticServer::files(&[
        ("/index.html", PHONE.as_bytes()),
        ("/ping.txt", b"pong"),
        ("/sw.js", SW.as_bytes()),
    ]);
    let proxy = RecordingProxy::start(&server.url);
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.navigate(&proxy.url);
    page.eval("navigator.serviceWorker.register('/sw.js').then(() => true)");
    page.wait_for("navigator.serviceWorker.controller", WAIT);
    let ping = "fetch('/ping.txt').then(r => r.text()).catch(e => 'failed: ' + e.message)";
    assert_eq!(page.eval(ping), "pong");
    let before = server.requests().len();
    page.set_offline(true);
    let offline = page.eval(ping);
    assert!(
        offline.as_str().unwrap().starts_with("failed"),
        "offline fetch through the service worker gave {offline}"
    );
    assert_eq!(
        server.requests().len(),
        before,
        "nothing reached the server while offline"
    );
    page.set_offline(false);
    assert_eq!(page.eval(ping), "pong");

    // The worker's own POST: in requests() (marked as the worker's) and on the wire.
    let answer = page.eval("fetch('/sw-post?k=42').then(r => r.text())");
    assert_eq!(answer, r#"{"received": 15}"#);
    let from_worker: Vec<_> = page
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.from_service_worker)
        .collect();
    assert_eq!(
        from_worker
            .iter()
            .map(|r| r.post_data.as_deref())
            .collect::<Vec<_>>(),
        vec![Some("sw-secret-?k=42")],
        "the service worker's POST, as recorded: {from_worker:?}"
    );
    assert!(proxy.sent_contains(b"sw-secret-?k=42"));
}

#[test]
fn a_post_body_shows_in_requests_and_on_the_wire() {
    let server = StaticServer::files(&[("/index.html", PHONE.as_bytes())]);
    let proxy = RecordingProxy::start(&server.url);
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.navigate(&proxy.url);
    assert_eq!(page.eval("navigator.language"), "zh-CN");
    let answer = page.eval(
        r#"fetch('/api/events', {method: 'POST', headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({secret: 'k-0123'})}).then(r => r.json())"#,
    );
    assert_eq!(answer["received"], 19);
    let posts: Vec<_> = page
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(posts[0].url.ends_with("/api/events"));
    assert_eq!(
        posts[0].post_data.as_deref(),
        Some(r#"{"secret":"k-0123"}"#)
    );
    assert!(!posts[0].from_service_worker);
    assert!(proxy.sent_contains(br#"{"secret":"k-0123"}"#));
    assert!(!proxy.sent_contains(b"k-0124"));
    let wire = String::from_utf8_lossy(&proxy.sent()).to_lowercase();
    assert!(
        wire.contains("accept-language: zh-cn"),
        "the browser asks for Chinese: {wire}"
    );
    // The POST, not whatever the browser asked for after it (a favicon).
    let posted: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].body, br#"{"secret":"k-0123"}"#);
}

#[test]
fn page_checks_catch_overflow_and_raw_identifiers() {
    let server = StaticServer::files(&[("/index.html", PHONE.as_bytes())]);
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.set_viewport(390, 844, true);
    page.navigate(&server.url);
    assert_eq!(horizontal_overflow(&page), None, "a fluid page fits");
    page.eval(r#"document.body.insertAdjacentHTML('beforeend', '<div id="wide" class="table">宽<div style="width: 500px">表</div></div>')"#);
    let found = horizontal_overflow(&page).expect("a 500 px div overflows 390 px");
    assert!(found.contains("in a 390 px viewport"), "{found}");
    assert!(found.contains("div (500 px wide"), "{found}");
    page.eval("document.getElementById('wide').remove()");
    assert_eq!(horizontal_overflow(&page), None);

    assert_eq!(untranslated_text(&page), Vec::<String>::new());
    page.eval(
        r#"document.body.insertAdjacentHTML('beforeend', `
            <p>状态: in_transit</p><p>例如 e.g. 3.5 吨, Version 1.2</p>
            <code>custody.handover</code> <span data-raw>event.vehicle</span>
            <p hidden>event.hidden</p><input placeholder="event.vehicle">`)"#,
    );
    assert_eq!(
        untranslated_text(&page),
        vec!["状态: in_transit", "event.vehicle"]
    );
}

#[test]
fn eval_wait_click_and_type_report_what_happened() {
    let form = PHONE.replace(
        r#"<p id="hello">你好</p>"#,
        r#"<input id="name"><button id="go" onclick="document.getElementById('out').textContent = '收到 ' + document.getElementById('name').value; console.log('clicked')">提交</button><p id="out"></p>"#,
    );
    let server = StaticServer::files(&[("/index.html", form.as_bytes())]);
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.navigate(&server.url);
    page.type_text("#name", "张三");
    page.click("#go");
    page.wait_for(
        "document.getElementById('out').textContent === '收到 张三'",
        WAIT,
    );
    assert!(page
        .console()
        .iter()
        .any(|m| m.kind == "log" && m.text == "clicked"));

    let thrown = panic_text(|| {
        page.eval("undefinedThing()");
    });
    assert!(thrown.contains("undefinedThing is not defined"), "{thrown}");
    let waited =
        panic_text(|| page.wait_for("document.title === 'never'", Duration::from_millis(200)));
    assert!(
        waited.contains(&server.url) && waited.contains("收到 张三"),
        "{waited}"
    );
    page.eval("setTimeout(() => { throw new Error('boom') }, 0)");
    page.wait_for("true", WAIT);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        page.errors().iter().any(|e| e.contains("boom")),
        "{:?}",
        page.console()
    );
    page.reload();
    assert_eq!(page.eval("document.getElementById('out').textContent"), "");
}
