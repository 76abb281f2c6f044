//! What the page tests do as a person would, shared by `app_*.rs`: import a company's key file
//! and sign in, make and approve a phone's own key, pick from a list, fill a field, sign a gate
//! form after its confirm screen, photograph a code on screen, and read the log's size.

use crate::browser::{Browser, LaunchOptions, Page, WAIT};
use crate::world::World;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use std::path::Path;

/// The party's key as the PKCS#8 PEM file a clerk would import.
pub fn pem_of(key: &SigningKey) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pem");
    wasteledger::keyfile::write(&path, key).unwrap();
    std::fs::read_to_string(path).unwrap()
}

/// Put `key` into the browser's key store (as the enrol page's import does, replacing what it
/// held and ending any session) and open `/app`, which signs in with it.
pub fn sign_in(page: &Page, base: &str, key: &SigningKey) {
    page.navigate(&format!("{base}/app/enrol"));
    let pem = serde_json::to_string(&pem_of(key)).unwrap();
    page.eval(&format!(
        "(async () => {{ const k = await import('/app/static/wl-keys.js'); await k.importPkcs8({pem}, {{replace: true}}); await fetch('/app/session', {{method: 'DELETE'}}); return true; }})()"
    ));
    page.navigate(&format!("{base}/app"));
    page.wait_for("document.body.dataset.session === 'yes'", WAIT);
}

/// The demo week served, and the bureau's inspector at a desk browser signed in with the
/// bureau's demo key, whose downloads land in `downloads`.
pub struct BureauDesk {
    pub page: Page,
    /// Held: the browser lives as long as the desk.
    #[allow(dead_code)]
    pub browser: Browser,
    pub demo: crate::demo::Demo,
    pub bureau: SigningKey,
    pub c: wasteledger::client::LogClient,
    pub downloads: std::path::PathBuf,
}

impl BureauDesk {
    /// Play the demo week into `dir/demo` and sit the bureau's inspector at a desk.
    pub fn open(dir: &Path) -> BureauDesk {
        let data = dir.join("demo");
        let demo = crate::demo::Demo::start(&data);
        let bureau = wasteledger::keyfile::read(&data.join("keys/bureau.pem")).unwrap();
        let c = wasteledger::client::LogClient::new(&demo.url);
        let (browser, page) = desk(&demo.url, &bureau);
        let downloads = dir.join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        browser.call(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": downloads.to_str().unwrap()}),
        );
        BureauDesk {
            page,
            browser,
            demo,
            bureau,
            c,
            downloads,
        }
    }

    /// `path` read with a request the bureau signs (it must answer 200).
    pub fn get(&self, path: &str) -> Value {
        let a = self.c.get_signed(path, &self.bureau).unwrap();
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        a.json().unwrap()
    }

    /// The demo's consolidated load: the one made of the platform's small loads.
    pub fn consolidated(&self) -> String {
        self.get("/v1/manifests?limit=1000")["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["number"].as_str().unwrap().to_string())
            .find(|n| {
                self.get(&format!("/v1/manifests/{n}"))["sources"]
                    .as_array()
                    .is_some_and(|s| s.len() >= 2)
            })
            .expect("a consolidated load in the demo")
    }
}

/// A desk browser (1440×900) signed in with `key`.
pub fn desk(base: &str, key: &SigningKey) -> (Browser, Page) {
    let browser = Browser::launch(LaunchOptions::default());
    let page = browser.new_page();
    page.set_viewport(1440, 900, false);
    sign_in(&page, base, key);
    (browser, page)
}

/// The phone makes its own key on the enrol page under `label`; the approval code it shows,
/// read back from a screenshot saved at `shot`.
pub fn enrol(phone: &Page, base: &str, label: &str, shot: &Path) -> String {
    phone.navigate(&format!("{base}/app/enrol"));
    phone.type_text("#label", label);
    phone.click("#enrol-form button[type=submit]");
    phone.wait_for(
        "!document.getElementById('enrolled').hidden && document.getElementById('enrol-qr').complete && document.getElementById('enrol-qr').naturalWidth > 0",
        WAIT,
    );
    phone.screenshot(shot);
    let codes = wasteledger::qr::decode_image(&std::fs::read(shot).unwrap())
        .expect("the approval code reads");
    codes.into_iter().next().expect("one code on the page")
}

/// The clerk opens the approval link the phone showed and signs it for `days`.
pub fn approve(clerk: &Page, link: &str, days: &str) {
    clerk.navigate(link);
    clerk.type_text("#days", days);
    clerk.click("#approve-form button[type=submit]");
    clerk.wait_for(
        "document.getElementById('approve-state').classList.contains('ok')",
        WAIT,
    );
}

/// The public key this browser signs with (base64), as the key store reports it.
pub fn device_key(page: &Page) -> String {
    let info = page.eval("(async () => (await import('/app/static/wl-keys.js')).info())()");
    info["publicKeyB64"].as_str().unwrap().to_string()
}

/// The scan page with the truck's plate set, as a driver starts a shift.
pub fn open_scan(page: &Page, base: &str, plate: &str) {
    page.navigate(&format!("{base}/app/scan"));
    page.wait_for("document.body.dataset.ready === 'scan'", WAIT);
    page.click("#plate-edit");
    page.type_text("#plate", plate);
    page.click("#plate-form button[type=submit]");
    page.wait_for(
        &format!(
            "document.getElementById('plate-shown').textContent === {}",
            json!(plate)
        ),
        WAIT,
    );
}

/// Choose `value` in the `<select>` `css`, as a person picking from the list would; fails if
/// the list does not offer it.
pub fn choose(page: &Page, css: &str, value: &str) {
    page.eval(&format!(
        "(() => {{ const s = document.querySelector({0}); s.value = {1};
            if (s.value !== {1}) throw new Error('no option ' + {1} + ' in ' + {0});
            s.dispatchEvent(new Event('change', {{bubbles: true}})); }})()",
        json!(css),
        json!(value)
    ));
}

/// Set a field's value and tell the page, as typing or picking would.
pub fn set(page: &Page, css: &str, value: &str) {
    page.eval(&format!(
        "(() => {{ const e = document.querySelector({}); e.value = {}; e.dispatchEvent(new Event('input', {{bubbles: true}})); e.dispatchEvent(new Event('change', {{bubbles: true}})); }})()",
        json!(css),
        json!(value)
    ));
}

/// What `css` shows (its rendered text), or "" if there is no such element.
pub fn text_of(page: &Page, css: &str) -> String {
    page.eval(&format!(
        "(document.querySelector({}) || {{}}).innerText || ''",
        json!(css)
    ))
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// A JS condition: `css` is shown and says something.
pub fn visible(css: &str) -> String {
    format!(
        "(() => {{ const e = document.querySelector({}); return e && !e.hidden && e.offsetParent !== null && e.textContent.trim() !== ''; }})()",
        json!(css)
    )
}

/// The hand-over form shown and its script running: `takeOver` marks the form ready once its
/// listeners are attached, and a choice made before then would go unheard (the form itself is
/// drawn by the server, before the module has loaded).
pub fn handover_form_ready(page: &Page) {
    page.wait_for(&visible("#handover-form"), WAIT);
    page.wait_for(
        "document.getElementById('handover-form').dataset.ready === '1'",
        WAIT,
    );
}

/// The element's pixels as a PNG (a QR code as a phone's camera would see it on screen).
pub fn element_png(page: &Page, css: &str) -> Vec<u8> {
    let r = page.eval(&format!(
        "(() => {{ const e = document.querySelector({0}); e.scrollIntoView({{block: 'center'}});
            const r = e.getBoundingClientRect();
            return [r.left + scrollX, r.top + scrollY, r.width, r.height]; }})()",
        json!(css)
    ));
    let n = |i: usize| r[i].as_f64().unwrap();
    let shot = page.call(
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true,
               "clip": {"x": n(0), "y": n(1), "width": n(2), "height": n(3), "scale": 1}}),
    );
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap()
}

/// Wait until the gate office's script has taken over its forms.
pub fn gate_ready(page: &Page) {
    page.wait_for(
        "document.getElementById('gate')?.dataset.ready === '1'",
        WAIT,
    );
}

/// Submit the gate form `form`, wait for its confirm screen (what will be signed), and sign.
pub fn gate_sign(page: &Page, form: &str) {
    page.click(&format!("#{form} button[type=submit]"));
    page.wait_for(
        &format!("!document.querySelector('#{form} .confirm').hidden"),
        WAIT,
    );
    page.click(&format!("#{form} .confirm-sign"));
}

/// Wait for the gate's "done" panel (the log took the step).
pub fn gate_done(page: &Page) {
    page.wait_for("!document.getElementById('gate-done').hidden", WAIT);
}

/// "继续办理": the gate again, as the log now has the load.
pub fn gate_next(page: &Page) {
    page.click("#done-next");
    page.wait_for("document.getElementById('gate-done')?.hidden", WAIT);
    gate_ready(page);
}

/// The log's size, from its signed checkpoint's second line.
pub fn log_size(w: &World) -> u64 {
    w.head().lines().nth(1).unwrap().parse().unwrap()
}

/// The amounts of a list of quantities in a manifest's JSON.
pub fn amounts(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|q| q["amount"].as_u64().unwrap())
        .collect()
}

/// What `GET /v1/keys/{key}` says of a key (base64) to `reader` (a signed read), or to anyone.
pub fn key_view(w: &World, key_b64: &str, reader: Option<&SigningKey>) -> Value {
    let path = format!(
        "/v1/keys/{}",
        key_b64
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
    );
    let a = match reader {
        Some(k) => w.c.get_signed(&path, k),
        None => w.c.get(&path),
    }
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    serde_json::from_str(&a.body).unwrap()
}
