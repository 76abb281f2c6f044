//! Enrolment in real browsers: a driver's phone makes its own key (WebCrypto Ed25519,
//! non-extractable) and shows an approval code; the company's clerk, signed in with the
//! company's key, scans it and signs `key.delegated`; the phone then signs in by itself. A
//! phone without WebCrypto Ed25519 uses the vendored fallback, and the log takes what it signs.
//! Neither browser ever sends a private key.

use crate::app_kit::{approve, enrol, key_view, sign_in};
use crate::app_pages::look;
use crate::browser::{Browser, LaunchOptions, RecordingProxy, WAIT};
use crate::world::World;
use serde_json::Value;

#[test]
fn a_phone_enrols_its_own_key_and_the_clerk_approves_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let proxy = RecordingProxy::start(&w.server.url);
    let base = proxy.url.trim_end_matches('/').to_string();

    let phone_b = Browser::launch(LaunchOptions::default());
    let phone = phone_b.new_page();
    phone.set_viewport(390, 844, true);
    let shot = dir.path().join("enrol.png");
    let link = enrol(&phone, &base, "HA-0042", &shot);
    assert!(
        link.starts_with(&format!("{base}/app/approve?key=")),
        "{link}"
    );
    let text = phone.text();
    assert!(text.contains("等待单位批准"), "{text}");
    assert!(
        text.contains("WebCrypto"),
        "says which signer is in use: {text}"
    );
    look(&phone, "app-enrol-waiting");
    let info = phone.eval("(async () => (await import('/app/static/wl-keys.js')).info())()");
    assert_eq!(info["engine"], "webcrypto");
    let device = info["publicKeyB64"].as_str().unwrap().to_string();
    // The private key is a CryptoKey no script can read.
    let extractable = phone.eval(
        "(async () => { const db = await import('/app/static/wl-db.js'); const rec = await db.tx('keys', 'readonly', s => s.get('device')); return rec.privateKey ? rec.privateKey.extractable : null; })()",
    );
    assert_eq!(
        extractable,
        Value::Bool(false),
        "the device key is non-extractable"
    );

    // Not yet approved: the log does not know the key.
    let mut r = ureq::get(&format!(
        "{}/v1/keys/{}",
        w.server.url,
        device
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
    ))
    .config()
    .http_status_as_error(false)
    .build()
    .call()
    .unwrap();
    assert_eq!(
        r.status().as_u16(),
        404,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );

    // The hauler's clerk signs the approval with the company's key.
    let desk_b = Browser::launch(LaunchOptions::default());
    let desk = desk_b.new_page();
    sign_in(&desk, &base, &w.hauler_a.key);
    desk.navigate(&link);
    look(&desk, "app-approve");
    assert_eq!(
        desk.eval("document.getElementById('label').value"),
        "HA-0042",
        "the link fills the staff number"
    );
    let fp_shown = desk.eval("document.getElementById('device-fp').textContent");
    assert_eq!(
        fp_shown, info["fingerprint"],
        "the clerk sees the fingerprint the phone shows"
    );
    approve(&desk, &link, "90");

    // The log holds the delegation: the hauler's device, its label, 90 days.
    let v = key_view(&w, &device, Some(&w.hauler_a.key));
    assert_eq!(v["kind"], "device", "{v}");
    assert_eq!(v["holder"], w.hauler_a.id);
    assert_eq!(v["label"], "HA-0042");
    assert_eq!(v["status"], "active");

    // The phone signs in by itself and says whose device it is.
    phone.wait_for(
        "location.pathname === '/app' && document.body.dataset.session === 'yes'",
        WAIT,
    );
    let text = phone.text();
    assert!(
        text.contains(w.hauler_a.name) && text.contains("设备密钥") && text.contains("HA-0042"),
        "{text}"
    );
    assert!(
        !text.contains("批准设备"),
        "a device key cannot approve devices: {text}"
    );
    look(&phone, "app-home-driver");

    // A fallback phone (no WebCrypto Ed25519): its key signs an event the log takes.
    let old_b = Browser::launch(LaunchOptions::default());
    let old = old_b.new_page();
    old.navigate(&format!("{base}/app/enrol"));
    old.eval("localStorage.wl_engine = 'noble'");
    let link = enrol(&old, &base, "PL-7", &dir.path().join("enrol-noble.png"));
    assert!(old.text().contains("@noble/ed25519"), "{}", old.text());
    let signing_desk = desk_b.new_page();
    sign_in(&signing_desk, &base, &w.plant.key);
    approve(&signing_desk, &link, "30");
    old.wait_for("document.body.dataset.session === 'yes'", WAIT);
    let answer = old.eval(&format!(
        r#"(async () => {{
            const s = await import('/app/static/wl-sign.js');
            const wire = await s.signEvent({{type: 'manifest.issued', reference: 'NOBLE-1', stream: 'hazardous',
                generator: '{plant}', origin: 'S-PLANT', destination: 'S-DISPOSAL', haulers: ['{hauler}'],
                lines: [{{code: '900-249-08', name: '废矿物油', form: 'liquid', hazards: ['T', 'I'],
                          containers: [], quantity: {{amount: 100000, unit: 'g'}}}}]}});
            const r = await fetch('/v1/events', {{method: 'POST', headers: {{'content-type': 'application/json'}}, body: s.wireText(wire)}});
            return {{status: r.status, body: await r.json()}};
        }})()"#,
        plant = w.plant.id,
        hauler = w.hauler_a.id
    ));
    assert_eq!(answer["status"], 201, "{answer}");
    let index = answer["body"]["index"].as_u64().unwrap();
    let entry = w.entry(index);
    assert!(entry.contains("NOBLE-1"), "{entry}");

    // No request of any browser carried a private key: the imported party keys' seeds never
    // crossed the wire (the generated keys' bytes are not even known to the page).
    for key in [&w.hauler_a.key, &w.plant.key] {
        for form in crate::app_pages::seed_forms(key) {
            assert!(!proxy.sent_contains(&form));
        }
    }
}
