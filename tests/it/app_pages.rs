//! The web application's own pages in a real browser: a browser signs in by itself with the
//! key it holds, shows the party's jobs, in Chinese and English, at phone and desk sizes, with
//! no horizontal overflow and no untranslated text; and no request carries the private key.

use crate::app_kit::sign_in;
use crate::browser::{
    horizontal_overflow, screens_dir, untranslated_text, Browser, LaunchOptions, Page,
    RecordingProxy, WAIT,
};
use crate::world::World;
use base64::Engine;
use ed25519_dalek::SigningKey;

/// Screenshots at phone and desk size, each checked for overflow (at 390 px) and raw words.
pub fn look(page: &Page, name: &str) {
    for (w, h, mobile) in [(390, 844, true), (1440, 900, false)] {
        page.set_viewport(w, h, mobile);
        page.screenshot(&screens_dir().join(format!("{name}-{w}.png")));
        if w == 390 {
            assert_eq!(
                horizontal_overflow(page),
                None,
                "{name} overflows at 390 px"
            );
        }
        let raw = untranslated_text(page);
        assert!(raw.is_empty(), "{name}: untranslated text {raw:?}");
    }
}

/// The seed of `key` as it could cross the wire.
pub fn seed_forms(key: &SigningKey) -> Vec<Vec<u8>> {
    let seed = key.to_bytes();
    vec![
        hex::encode(seed).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(seed)
            .into_bytes(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(seed)
            .into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(&seed[..30])
            .into_bytes(),
    ]
}

#[test]
fn a_browser_signs_in_with_its_key_and_shows_the_partys_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    // Everything the browser sends goes through a recorder.
    let proxy = RecordingProxy::start(&w.server.url);
    let base = proxy.url.trim_end_matches('/').to_string();
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();

    page.navigate(&format!("{base}/app"));
    page.wait_for(
        "document.getElementById('device-state').textContent.includes('本机还没有密钥')",
        WAIT,
    );
    look(&page, "app-home-signed-out");
    page.navigate(&format!("{base}/app/enrol"));
    look(&page, "app-enrol");

    sign_in(&page, &base, &w.plant.key);
    let text = page.text();
    assert!(text.contains(w.plant.name), "{text}");
    assert!(
        text.contains("开具联单") && text.contains("批准设备"),
        "a generator's jobs: {text}"
    );
    look(&page, "app-home-generator");

    page.navigate(&format!("{base}/app/loads"));
    assert!(page.text().contains(&m), "{}", page.text());
    look(&page, "app-loads");
    page.navigate(&format!("{base}/app/m/{m}"));
    let text = page.text();
    assert!(
        text.contains("900-249-08") && text.contains("已开具，待起运"),
        "{text}"
    );
    look(&page, "app-manifest");
    page.navigate(&format!("{base}/app/m/{m}?lang=en"));
    assert!(page.text().contains("What must be on the truck"));
    look(&page, "app-manifest-en");
    // The choice of English is remembered.
    page.navigate(&format!("{base}/app/loads"));
    assert!(page.text().contains("Open manifests"), "{}", page.text());

    // The page signed in with a signed request; the key itself never crossed the wire.
    let sent = proxy.sent();
    assert!(
        sent.windows(18).any(|w| w == b"POST /app/session "),
        "the login went through the proxy"
    );
    for form in seed_forms(&w.plant.key) {
        assert!(
            !proxy.sent_contains(&form),
            "the private key was sent ({})",
            String::from_utf8_lossy(&form)
        );
    }
}

#[test]
fn the_public_verdict_a_camera_opens_fits_a_phone_in_chinese_first() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    let voided = w.issue_hazardous("S-DISPOSAL");
    let token = |path: String| -> String {
        let (status, png) = w.c.get_bytes_signed(&path, &w.plant.key).unwrap();
        assert_eq!(status, 200, "{path}");
        let code = wasteledger::qr::decode_image(&png).unwrap().remove(0);
        code.rsplit('/').next().unwrap().to_string()
    };
    let manifest = token(format!("/v1/manifests/{m}/qr.png"));
    let drum = token(format!("/v1/manifests/{m}/containers/D1/qr.png"));
    let void = token(format!("/v1/manifests/{voided}/qr.png"));
    crate::world::ok(
        &w.c,
        serde_json::json!({"type": "manifest.voided", "manifest": voided, "reason": "plan changed"}),
        &[&w.plant.key],
    );
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    let band = |page: &crate::browser::Page| {
        page.eval("(() => { const b = document.querySelector('header.band'); return [b.className, b.innerText]; })()")
    };
    // The load on the road: green, 有效 before Valid, what the truck carries.
    page.navigate(&format!("{}/m/{manifest}", w.server.url));
    look(&page, "verdict-manifest");
    let b = band(&page);
    let words = b[1].as_str().unwrap();
    assert!(b[0].as_str().unwrap().contains("good"), "{b}");
    assert!(words.find("有效") < words.find("Valid"), "{words}");
    assert!(page.text().contains("运输中"), "{}", page.text());
    // A drum's label: what should be inside it.
    page.navigate(&format!("{}/m/{drum}", w.server.url));
    look(&page, "verdict-container");
    let text = page.text();
    assert!(
        text.contains("D1") && text.contains("900-249-08") && text.contains("废矿物油"),
        "{text}"
    );
    // A voided manifest's code: red, in words.
    page.navigate(&format!("{}/m/{void}", w.server.url));
    look(&page, "verdict-voided");
    let b = band(&page);
    assert!(
        b[0].as_str().unwrap().contains("bad") && b[1].as_str().unwrap().contains("已作废"),
        "{b}"
    );
}
