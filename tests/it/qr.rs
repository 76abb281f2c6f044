//! QR codes end to end on a real server: rendered PNGs decoded and verified offline, container
//! codes, the verdicts a scanner gives (forged, another log, voided, closed, superseded), the
//! labels and the printable manifest, and `wasteledger scan` recording an inspection.

use crate::support::run;
use crate::world::{ok, World};
use serde_json::{json, Value};
use wasteledger::ledger::note::NoteVerifier;
use wasteledger::qr::{self, TokenKind};

/// A code's image as the party gets it, decoded back to its one payload.
fn decode_png(w: &World, path: &str) -> String {
    let (status, png) = w.c.get_bytes_signed(path, &w.plant.key).unwrap();
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&png));
    assert_eq!(&png[1..4], b"PNG", "{path} is a PNG");
    let found = qr::decode_image(&png).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

fn verifier(w: &World) -> NoteVerifier {
    NoteVerifier::parse(w.c.get_ok("/v1/log/key").unwrap().trim()).unwrap()
}

fn scan(w: &World, payload: &str) -> Value {
    let a =
        w.c.post(
            "/v1/scan",
            json!({ "payload": payload }).to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    a.json().unwrap()
}

/// The page a phone's camera opens for a code, checked for what every such page must be: sized
/// for a phone, every identifier in words. `?lang=en` when `english`. With WASTELEDGER_SCREENS
/// set to a directory, the page is saved there as `{name}.html` (to look at it in a browser).
fn phone_page(w: &World, payload: &str, name: &str, english: bool) -> String {
    let path = format!("/m/{payload}{}", if english { "?lang=en" } else { "" });
    let a = w.c.get(&path).unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let page = a.body;
    if let Ok(dir) = std::env::var("WASTELEDGER_SCREENS") {
        let suffix = if english { "-en" } else { "" };
        std::fs::write(format!("{dir}/{name}{suffix}.html"), &page).unwrap();
    }
    assert!(
        page.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"),
        "{page}"
    );
    // What a reader sees: the text outside tags and the style sheet.
    let style_end = page.find("</style>").expect("a style sheet");
    let mut text = String::new();
    let mut in_tag = false;
    for c in page[style_end..].chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    for word in text.split(|c: char| c.is_whitespace() || "()（）,;:：，".contains(c)) {
        let dotted = word.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.chars().chain(b.chars()).all(|c| c.is_ascii_lowercase())
        });
        assert!(
            !word.contains('_') && !dotted,
            "{name}: the raw identifier {word:?} is on the page: {text}"
        );
    }
    for raw in [
        "in_transit",
        "custody.handover",
        "event.vehicle",
        ">hazardous<",
        ">valid<",
    ] {
        assert!(!page.contains(raw), "{name}: {raw:?} on the page");
    }
    page
}

/// The verdict's band: its colour class and its words, the page's language first.
fn band(page: &str) -> &str {
    let at = page.find("<header class=\"band").expect("a verdict band");
    &page[at..at + page[at..].find("</header>").unwrap()]
}

#[test]
fn a_rendered_code_decodes_and_verifies_offline_for_the_manifest_and_each_container() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    let log = verifier(&w);

    // The manifest's code: decoded from the PNG the server rendered, verified with the log's
    // key alone, and it says what the manifest says.
    let payload = decode_png(&w, &format!("/v1/manifests/{m}/qr.png"));
    let token = qr::payload_token(&payload).unwrap();
    let body = qr::verify(token, &log).unwrap();
    assert_eq!(body.number.as_str(), m);
    assert!(matches!(body.kind, TokenKind::Manifest));
    assert_eq!(body.version, 1);
    assert_eq!(body.generator.as_str(), w.plant.id);
    assert_eq!(body.destination, "S-DISPOSAL");
    let amounts: Vec<u64> = body.lines.iter().map(|l| l.quantity.amount).collect();
    assert_eq!(amounts, [340_000, 120_000]);
    let full = w.manifest(&m);
    assert_eq!(body.issue_index, full["issue_index"].as_u64().unwrap());
    // The same code as SVG.
    let svg =
        w.c.get_signed(&format!("/v1/manifests/{m}/qr.svg"), &w.plant.key)
            .unwrap();
    assert_eq!(svg.status, 200);
    assert!(svg.body.contains("<svg"), "{}", svg.body);

    // Before pickup, a code on the road is a load moving without the signed hand-over.
    let v = scan(&w, &payload);
    assert_eq!(
        (v["verdict"].as_str(), v["ok"].as_bool()),
        (Some("not_picked_up"), Some(false)),
        "{v}"
    );
    w.pickup(&m);
    // One code per container: D2 is on line 0, B1 on line 1.
    for (id, line) in [("D2", 0), ("B1", 1)] {
        let payload = decode_png(&w, &format!("/v1/manifests/{m}/containers/{id}/qr.png"));
        let body = qr::verify(qr::payload_token(&payload).unwrap(), &log).unwrap();
        match &body.kind {
            TokenKind::Container { line: l, id: i } => assert_eq!((*l, i.as_str()), (line, id)),
            other => panic!("{other:?}"),
        }
        let v = scan(&w, &payload);
        assert_eq!(v["verdict"], "valid", "{v}");
        assert_eq!(v["container"]["belongs"], true, "{v}");
        assert_eq!(v["manifest"]["status"], "in_transit");
        // Anonymous: whether it checks out, not who holds it or on which truck.
        assert!(
            v["manifest"].get("holder").is_none() && v["manifest"].get("vehicle").is_none(),
            "{v}"
        );
        // Signed by one who may see the manifest: the holder and the truck.
        let a =
            w.c.signed(
                "POST",
                "/v1/scan",
                json!({ "payload": payload }).to_string().as_bytes(),
                &w.bureau.key,
            )
            .unwrap();
        let v = a.json().unwrap();
        assert_eq!(
            (
                v["manifest"]["holder"].as_str(),
                v["manifest"]["vehicle"].as_str()
            ),
            (Some(w.hauler_a.id.as_str()), Some("苏E12345")),
            "{v}"
        );
    }
    let none =
        w.c.get_signed(
            &format!("/v1/manifests/{m}/containers/ZZ9/qr.png"),
            &w.plant.key,
        )
        .unwrap();
    assert_eq!(none.status, 404, "{}", none.body);
    assert_eq!(none.json().unwrap()["field"], "id");

    // Codes are for the manifest's parties and inspectors: not anonymous, not a stranger.
    let path = format!("/v1/manifests/{m}/qr.png");
    assert_eq!(w.c.get(&path).unwrap().status, 401);
    assert_eq!(w.c.get_bytes_signed(&path, &w.recycler.key).unwrap().0, 403);
    assert_eq!(w.c.get_bytes_signed(&path, &w.bureau.key).unwrap().0, 200);
}

#[test]
fn a_scanner_tells_forged_foreign_voided_closed_and_superseded_codes_apart() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    let token_of = |m: &str| -> String {
        let a =
            w.c.get_signed(&format!("/v1/manifests/{m}/token"), &w.plant.key)
                .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        a.json().unwrap()["token"].as_str().unwrap().to_string()
    };
    let good = token_of(&m);
    assert_eq!(scan(&w, &good)["verdict"], "not_picked_up");
    w.pickup(&m);
    assert_eq!(scan(&w, &good)["verdict"], "valid");
    // The phone's page: a green band saying 有效 first, then Valid; the status, the time and
    // the destination in words.
    let page = phone_page(&w, &good, "valid-manifest", false);
    let b = band(&page);
    assert!(
        b.contains("band good") && b.contains("有效") && b.contains("Valid"),
        "{b}"
    );
    assert!(b.find("有效") < b.find("Valid"), "Chinese first: {b}");
    assert!(page.contains("<html lang=\"zh-CN\">"));
    assert!(
        page.contains("运输中") && page.contains("危险废物"),
        "{page}"
    );
    assert!(
        page.contains(" CST") && page.contains("Disposal facility"),
        "{page}"
    );
    assert!(page.contains(&m), "{page}");
    // ?lang=en: English first, Chinese under it.
    let en = phone_page(&w, &good, "valid-manifest", true);
    let b = band(&en);
    assert!(b.find("Valid") < b.find("有效"), "English first: {b}");
    assert!(en.contains("<html lang=\"en\">") && en.contains("in transit"));

    // One character of the signature changed: forged.
    let mut forged: Vec<char> = good.chars().collect();
    let at = forged.len() - 5;
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let v = scan(&w, &forged);
    assert_eq!(
        (v["verdict"].as_str(), v["ok"].as_bool()),
        (Some("forged"), Some(false)),
        "{v}"
    );
    let b = band(&phone_page(&w, &forged, "forged", false)).to_string();
    assert!(b.contains("band bad") && b.contains("伪造"), "{b}");
    assert!(qr::verify(&forged, &verifier(&w)).is_err());

    // Garbage is not a code at all.
    assert_eq!(scan(&w, "HELLO")["verdict"], "malformed");

    // A code from another log (another server, another log key): named as such.
    let other_dir = tempfile::tempdir().unwrap();
    let other = World::start(other_dir.path());
    let theirs = other.issue_hazardous("S-DISPOSAL");
    let a = other
        .c
        .get_signed(&format!("/v1/manifests/{theirs}/token"), &other.plant.key)
        .unwrap();
    let foreign = a.json().unwrap()["token"].as_str().unwrap().to_string();
    let v = scan(&w, &foreign);
    assert_eq!(v["verdict"], "other_log", "{v}");

    // A voided manifest's code verifies, but the load must not move under it.
    let voided = w.issue_hazardous("S-DISPOSAL");
    let vt = token_of(&voided);
    ok(
        &w.c,
        json!({"type": "manifest.voided", "manifest": voided, "reason": "plan changed"}),
        &[&w.plant.key],
    );
    let v = scan(&w, &vt);
    assert_eq!(
        (v["verdict"].as_str(), v["ok"].as_bool()),
        (Some("voided"), Some(false)),
        "{v}"
    );
    let page = phone_page(&w, &vt, "voided", false);
    assert!(
        band(&page).contains("band bad") && band(&page).contains("已作废"),
        "{page}"
    );
    // And the log signs no fresh code for it (one would verify offline as if the load could move).
    let refused =
        w.c.get_signed(&format!("/v1/manifests/{voided}/token"), &w.plant.key)
            .unwrap();
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(
        w.c.get_bytes_signed(&format!("/v1/manifests/{voided}/qr.png"), &w.plant.key)
            .unwrap()
            .0,
        409
    );
    let page =
        w.c.get_signed(&format!("/v1/manifests/{voided}/print"), &w.plant.key)
            .unwrap();
    assert_eq!(page.status, 200, "the page still prints, without a code");
    assert!(!page.body.contains("<svg class=\"qr\""));
    assert!(
        qr::verify(&vt, &verifier(&w)).is_ok(),
        "offline it still verifies"
    );

    // A corrected manifest: the old label is superseded (the load may still be right).
    let fixed = w.issue_hazardous("S-DISPOSAL");
    let old = token_of(&fixed);
    let line = json!({"code": "900-249-08", "name": "废矿物油", "form": "liquid", "hazards": ["T", "I"], "quantity": {"amount": 300_000, "unit": "g"}});
    ok(
        &w.c,
        json!({"type": "manifest.corrected", "manifest": fixed, "version": 2, "destination": "S-DISPOSAL",
               "haulers": [w.hauler_a.id], "lines": [line], "reason": "one drum only"}),
        &[&w.plant.key],
    );
    w.hand(&fixed, &w.plant, &w.hauler_a, Some("苏E12345"), &[300_000]);
    let v = scan(&w, &old);
    assert_eq!(v["verdict"], "superseded", "{v}");
    assert_eq!(v["manifest"]["version"], 2);
    let page = phone_page(&w, &old, "superseded", false);
    assert!(
        band(&page).contains("band warn") && band(&page).contains("已更正"),
        "{page}"
    );
    assert!(page.contains("现为第 2 版（码上为第 1 版）"), "{page}");
    assert_eq!(
        qr::verify(&token_of(&fixed), &verifier(&w))
            .unwrap()
            .version,
        2
    );

    // A treated (closed) manifest's label seen again: suspect.
    w.hand(&m, &w.hauler_a, &w.disposal, None, &[340_000, 120_000]);
    ok(
        &w.c,
        json!({"type": "custody.received", "manifest": m, "lines": [
            {"line": 0, "accepted": {"amount": 340_000, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}},
            {"line": 1, "accepted": {"amount": 120_000, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}}]}),
        &[&w.disposal.key],
    );
    for (line, code, q) in [(0, "R9", 340_000), (1, "D10", 120_000)] {
        ok(
            &w.c,
            json!({"type": "custody.treated", "manifest": m, "line": line, "code": code, "quantity": {"amount": q, "unit": "g"}}),
            &[&w.disposal.key],
        );
    }
    let v = scan(&w, &good);
    assert_eq!(
        (v["verdict"].as_str(), v["ok"].as_bool()),
        (Some("closed"), Some(false)),
        "{v}"
    );

    // A phone opening the URL form gets the verdict as a page.
    let page = phone_page(&w, &good, "closed", false);
    assert!(
        band(&page).contains("band bad") && band(&page).contains("已办结"),
        "{page}"
    );
    assert!(page.contains(&m) && page.contains("已利用处置"), "{page}");
}

#[test]
fn labels_and_the_printable_manifest_carry_what_the_standard_asks() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    let labels =
        w.c.get_signed(&format!("/v1/manifests/{m}/labels"), &w.plant.key)
            .unwrap();
    assert_eq!(labels.status, 200, "{}", labels.body);
    let html = labels.body;
    // Three containers (D1, D2 on the oil line, B1 on the rags line): three labels, three codes.
    assert_eq!(
        html.matches("<section class=\"label s").count(),
        3,
        "{html}"
    );
    assert_eq!(
        html.matches("<svg").count() - html.matches("class=\"hz\"").count(),
        3
    );
    for want in [
        "危险废物",
        "废物名称",
        "废物代码",
        "900-249-08",
        "HW08",
        "废物形态",
        "危险特性",
        "主要成分",
        "注意事项",
        "产生/收集单位",
        "数字识别码",
        "废物重量",
        "Kunshan electronics plant",
    ] {
        assert!(html.contains(want), "the labels lack {want:?}");
    }
    assert!(!html.contains("<?xml"), "codes are inlined as SVG elements");
    assert_eq!(html.matches("<svg class=\"qr\"").count(), 3);
    // The digital identification code: USCC + code digits + date + sequence, 37 characters.
    let id_at = html.find("数字识别码 ").unwrap() + "数字识别码 ".len();
    let id = &html[id_at..id_at + 37];
    assert!(
        id.starts_with(&w.plant.id) && id[18..26] == *"90024908",
        "{id}"
    );

    let page =
        w.c.get_signed(&format!("/v1/manifests/{m}/print"), &w.plant.key)
            .unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&m) && page.body.contains("交接 hand-over"),
        "{}",
        page.body
    );
    assert!(page.body.contains("苏E12345"), "the chain names the truck");
    assert!(
        page.body.contains(" CST</td>") && page.body.contains(" CST, log entry"),
        "times in China Standard Time, the zone named: {}",
        page.body
    );

    // What parties write is text on the page, never markup.
    let evil = ok(
        &w.c,
        json!({"type": "manifest.issued", "reference": w.slip(), "stream": "hazardous", "generator": w.plant.id,
               "origin": "S-PLANT", "destination": "S-DISPOSAL", "haulers": [w.hauler_a.id],
               "lines": [{"code": "900-249-08", "name": "<script>alert(1)</script>", "form": "liquid", "hazards": ["T"],
                          "components": "<img src=x onerror=alert(2)>", "precautions": "\"'><b>",
                          "containers": [{"id": "<i>D9</i>", "packaging": "<u>drum</u>"}],
                          "quantity": {"amount": 1000, "unit": "g"}}]}),
        &[&w.plant.key],
    )["manifests"][0]
        .as_str()
        .unwrap()
        .to_string();
    for page in ["labels", "print"] {
        let html =
            w.c.get_signed(&format!("/v1/manifests/{evil}/{page}"), &w.plant.key)
                .unwrap()
                .body;
        for bad in ["<script>", "<img", "<i>D9", "<u>drum", "'><b>"] {
            assert!(!html.contains(bad), "{page} lets {bad:?} through");
        }
        assert!(html.contains("&lt;script&gt;"), "{page}");
    }

    // A construction manifest has no containers: no labels, the manifest's own code.
    let muck = w.issue_muck(10_000_000);
    let none =
        w.c.get_signed(&format!("/v1/manifests/{muck}/labels"), &w.builder.key)
            .unwrap();
    assert_eq!(none.status, 404, "{}", none.body);
}

/// Container D1's label as a PNG file, and the bureau's (an inspector's) key file.
fn label_and_bureau_key(
    w: &World,
    dir: &std::path::Path,
    m: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let (_, png) =
        w.c.get_bytes_signed(
            &format!("/v1/manifests/{m}/containers/D1/qr.png"),
            &w.plant.key,
        )
        .unwrap();
    let image = dir.join("label.png");
    std::fs::write(&image, &png).unwrap();
    let bureau_key = dir.join("bureau.pem");
    wasteledger::keyfile::write(&bureau_key, &w.bureau.key).unwrap();
    (image, bureau_key)
}

#[test]
fn the_scan_command_reads_a_png_verifies_offline_and_records_the_inspection() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m);
    let (image, bureau_key) = label_and_bureau_key(&w, dir.path(), &m);
    let key_line = w.c.get_ok("/v1/log/key").unwrap();

    // Offline: the log's key alone.
    let (okay, out) = run(&[
        "scan",
        image.to_str().unwrap(),
        "--log-key",
        key_line.trim(),
    ]);
    assert!(okay, "{out}");
    assert!(
        out.contains("✔ offline") && out.contains(&m) && out.contains("container D1"),
        "{out}"
    );
    assert!(
        out.contains(" CST at log entry") && out.contains("line 1:"),
        "the issue time in CST, lines from 1: {out}"
    );

    // Another log's key: the code does not verify.
    let other = NoteVerifier::new(
        "kunshan.wasteledger/log",
        wasteledger::keyfile::generate().verifying_key(),
    )
    .unwrap()
    .to_string();
    let (okay, out) = run(&["scan", image.to_str().unwrap(), "--log-key", &other]);
    assert!(!okay, "{out}");
    assert!(
        out.contains("✘ offline") && out.contains("not by the log"),
        "{out}"
    );

    // Online, recorded as the bureau's inspection.
    let before = w.manifest(&m)["steps"].as_array().unwrap().len();
    let (okay, out) = run(&[
        "scan",
        image.to_str().unwrap(),
        "--vehicle",
        "苏E12345",
        "--log-key",
        key_line.trim(),
        "--server",
        &w.server.url,
        "--record",
        "--key",
        bureau_key.to_str().unwrap(),
        "--inspector",
        &w.bureau.id,
    ]);
    assert!(okay, "{out}");
    assert!(
        out.contains("live: valid") && out.contains("recorded"),
        "{out}"
    );
    let v = w.manifest(&m);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), before + 1);
    assert_eq!(steps.last().unwrap()["type"], "inspection.recorded");
    let entry: Value = serde_json::from_str(&w.entry(&steps.last().unwrap()["index"])).unwrap();
    assert!(
        entry["event"]["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("WL")),
        "{entry}"
    );
    assert_eq!(
        entry["event"]["vehicle"], "苏E12345",
        "the truck the inspector saw"
    );
}

/// `scan --vehicle` at the roadside: the load on another truck than its hand-over names is
/// `wrong_vehicle` (non-zero exit), recorded as a flag on the manifest and an anomaly; the
/// right truck is valid; a signed scan prints the holder and truck; a container scan says what
/// the container should hold.
#[test]
fn a_load_seen_on_another_truck_is_wrong_vehicle_flagged_and_an_anomaly() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = w.issue_hazardous("S-DISPOSAL");
    w.pickup(&m); // on 苏E12345
    let (image, bureau_key) = label_and_bureau_key(&w, dir.path(), &m);
    let scan_on = |plate: &str, record: bool| {
        let mut args = vec![
            "scan",
            image.to_str().unwrap(),
            "--vehicle",
            plate,
            "--server",
            &w.server.url,
            "--key",
            bureau_key.to_str().unwrap(),
            "--inspector",
            &w.bureau.id,
        ];
        if record {
            args.push("--record");
        }
        run(&args)
    };

    // The right truck: valid, and the holder, the truck and the container's contents are shown;
    // recorded, it flags nothing.
    let (okay, out) = scan_on("苏E12345", true);
    assert!(okay, "{out}");
    assert!(
        out.contains("live: valid") && out.contains("recorded as inspection"),
        "{out}"
    );
    assert!(w.flags(&m).is_empty(), "{:?}", w.flags(&m));
    // A phone opening the container's code is told the same.
    let label = decode_png(&w, &format!("/v1/manifests/{m}/containers/D1/qr.png"));
    let page = phone_page(&w, &label, "container", false);
    for want in [
        "容器 D1 应装",
        "900-249-08",
        "HW08 废矿物油与含矿物油废物",
        "毒性",
        "易燃性",
        "液态",
        "钢桶",
        "340 kg",
        "本行 2 个容器合计",
        "Disposal facility",
    ] {
        assert!(
            page.contains(want),
            "the container's page lacks {want:?}: {page}"
        );
    }
    assert!(
        out.contains(&format!("held by  {}", w.hauler_a.id)) && out.contains("truck    苏E12345"),
        "the holder and truck the server sends: {out}"
    );
    assert!(
        out.contains("should hold: 900-249-08 废矿物油")
            && out.contains("340 kg declared for the line's 2 container(s)"),
        "what container D1 should hold: {out}"
    );

    // Another truck (not even registered): wrong_vehicle, exit non-zero, recorded.
    let (okay, out) = scan_on("苏E3K582", true);
    assert!(!okay, "a wrong truck must fail the scan: {out}");
    assert!(
        out.contains("✘ live: wrong_vehicle")
            && out.contains("handed over on 苏E12345, not on 苏E3K582"),
        "{out}"
    );
    assert!(out.contains("recorded as inspection"), "{out}");
    let v = w.manifest(&m);
    let flag = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "wrong_vehicle")
        .unwrap_or_else(|| panic!("no wrong_vehicle flag: {}", v["flags"]))
        .clone();
    let inspection = v["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(inspection["type"], "inspection.recorded");
    assert_eq!(flag["index"], inspection["index"]);
    let entry: Value = serde_json::from_str(&w.entry(&inspection["index"])).unwrap();
    assert_eq!(entry["event"]["vehicle"], "苏E3K582");
    assert_eq!(entry["event"]["verdict"], "violation");
    let a =
        w.c.get_signed("/v1/anomalies?kind=wrong_vehicle", &w.bureau.key)
            .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let a = a.json().unwrap();
    let found = &a["anomalies"].as_array().unwrap()[0];
    assert_eq!(found["manifests"][0], m.as_str());
    assert!(
        found["vehicles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "苏E3K582"),
        "{found}"
    );
    assert!(found["entries"]
        .as_array()
        .unwrap()
        .contains(&inspection["index"]));

    // Over HTTP, anonymous: the verdict without naming the truck.
    let a =
        w.c.post(
            "/v1/scan",
            json!({"payload": decode_png(&w, &format!("/v1/manifests/{m}/qr.png")), "vehicle": "苏E3K582"})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let v = a.json().unwrap();
    assert_eq!(v["verdict"], "wrong_vehicle", "{v}");
    assert_eq!(v["ok"], false);
    assert!(!v["detail"].as_str().unwrap().contains("苏E12345"), "{v}");
}
