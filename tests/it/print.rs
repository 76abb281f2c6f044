//! Printed pages measured as printed: labels and the manifest page printed to PDF by headless
//! Chromium, each page's size read back with `pdfinfo` (poppler-utils). Both must be installed
//! (`.ci/run` installs them): a missing one fails the test, naming what to install.

use crate::world::{ok, World};
use serde_json::json;
use std::path::Path;
use std::process::Command;

pub fn need(tool: &str) {
    let found = Command::new(tool).arg("--version").output().is_ok();
    assert!(
        found,
        "`{tool}` is not installed: these tests print to PDF with headless Chromium and measure \
         the pages with pdfinfo (apt-get install -y chromium poppler-utils)"
    );
}

/// Print an HTML page to PDF as a person would (100%, no headers or footers), and give each
/// page's size in millimetres.
fn print_pages(dir: &Path, name: &str, html: &str) -> Vec<(f64, f64)> {
    need("chromium");
    need("pdfinfo");
    // Tofu boxes are narrower than Chinese glyphs: a label measured without the font proves
    // nothing about whether it fits.
    let fonts = Command::new("fc-list")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&fonts).contains("Noto Sans CJK"),
        "no Chinese font: the labels print in Noto Sans CJK (apt-get install -y fonts-noto-cjk)"
    );
    let page = dir.join(format!("{name}.html"));
    let pdf = dir.join(format!("{name}.pdf"));
    std::fs::write(&page, html).unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-pdf-header-footer",
            &format!(
                "--user-data-dir={}",
                dir.join(format!("{name}-profile")).display()
            ),
            &format!("--print-to-pdf={}", pdf.display()),
            &format!("file://{}", page.display()),
        ])
        .output()
        .unwrap();
    assert!(
        pdf.exists(),
        "chromium printed no PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sizes = pdf_page_sizes(&pdf);
    if let Ok(keep) = std::env::var("WASTELEDGER_KEEP_PRINTS") {
        let _ = std::fs::copy(&pdf, Path::new(&keep).join(format!("{name}.pdf")));
        let _ = std::fs::copy(&page, Path::new(&keep).join(format!("{name}.html")));
    }
    sizes
}

/// Each page's size in millimetres, as `pdfinfo` reads the PDF.
pub fn pdf_page_sizes(pdf: &Path) -> Vec<(f64, f64)> {
    need("pdfinfo");
    let info = Command::new("pdfinfo")
        .args(["-f", "1", "-l", "1000"])
        .arg(pdf)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&info.stdout).to_string();
    // "Page    1 size: 425.197 x 425.197 pts"
    let sizes: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.starts_with("Page") && l.contains(" size: "))
        .map(|l| {
            let dims = l.split(" size: ").nth(1).unwrap();
            let mut it = dims.split_whitespace();
            let w: f64 = it.next().unwrap().parse().unwrap();
            it.next();
            let h: f64 = it.next().unwrap().parse().unwrap();
            (w * 25.4 / 72.0, h * 25.4 / 72.0)
        })
        .collect();
    assert!(!sizes.is_empty(), "pdfinfo gave no page sizes: {text}");
    sizes
}

pub fn assert_size(what: &str, got: (f64, f64), mm: (f64, f64)) {
    assert!(
        (got.0 - mm.0).abs() <= 1.0 && (got.1 - mm.1).abs() <= 1.0,
        "{what} printed {:.1} × {:.1} mm, expected {} × {} mm",
        got.0,
        got.1,
        mm.0,
        mm.1
    );
}

/// A manifest of three containers: a 200 L drum, a 20 L can and a 1000 L IBC.
fn three_containers(w: &World) -> String {
    ok(
        &w.c,
        json!({"type": "manifest.issued", "reference": w.slip(), "stream": "hazardous", "generator": w.plant.id,
               "origin": "S-PLANT", "destination": "S-DISPOSAL", "haulers": [w.hauler_a.id],
               "lines": [
                   {"code": "900-249-08", "name": "废矿物油 waste mineral oil", "form": "liquid", "hazards": ["T", "I"],
                    "components": "矿物油 mineral oil", "hazardous_components": "多环芳烃 PAH",
                    "precautions": "远离火源 keep away from flames",
                    "containers": [{"id": "D1", "packaging": "200 L steel drum"}],
                    "quantity": {"amount": 170_000, "unit": "g"}},
                   {"code": "900-041-49", "name": "含油抹布手套 oily rags", "form": "solid", "hazards": ["T", "In"],
                    "containers": [{"id": "C1", "packaging": "20L plastic can"}],
                    "quantity": {"amount": 8_000, "unit": "g"}},
                   {"code": "900-249-08", "name": "废乳化液 waste emulsion", "form": "liquid", "hazards": ["T", "C", "R"],
                    "containers": [{"id": "T1", "packaging": "IBC 1000L tote"}],
                    "quantity": {"amount": 900_000, "unit": "g"}}
               ]}),
        &[&w.plant.key],
    )["manifests"][0]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn each_label_prints_on_one_page_of_its_hj_1276_size_with_drawn_hazard_pictograms() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    // 150, 100 and 200 mm labels.
    let m = three_containers(&w);
    let labels =
        w.c.get_signed(&format!("/v1/manifests/{m}/labels"), &w.plant.key)
            .unwrap();
    assert_eq!(labels.status, 200, "{}", labels.body);
    // The sizes chosen, and why, on the screen-only note.
    for want in ["D1: 150 × 150 mm", "C1: 100 × 100 mm", "T1: 200 × 200 mm"] {
        assert!(labels.body.contains(want), "the note lacks {want:?}");
    }
    // Hazards are drawn pictograms named in Chinese with their letter, not letters in diamonds.
    for want in ["毒性 T", "易燃性 I", "腐蚀性 C", "反应性 R", "感染性 In"] {
        assert!(
            labels
                .body
                .contains(&format!("<figcaption>{want}</figcaption>")),
            "no pictogram {want:?}"
        );
    }
    assert!(
        !labels.body.contains("<text"),
        "pictograms are drawn, not lettered"
    );
    let pages = print_pages(dir.path(), "labels", &labels.body);
    assert_eq!(
        pages.len(),
        3,
        "three labels, each exactly one page: {pages:?}"
    );
    assert_size("the 200 L drum's label", pages[0], (150.0, 150.0));
    assert_size("the 20 L can's label", pages[1], (100.0, 100.0));
    assert_size("the 1000 L IBC's label", pages[2], (200.0, 200.0));
}

#[test]
fn the_manifest_prints_on_a4_with_names_steps_in_words_the_treatment_and_who_signed() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path());
    let m = three_containers(&w);
    // Hand over, receive, treat: the page shows every step in words, who signed it, the code.
    w.hand(
        &m,
        &w.plant,
        &w.hauler_a,
        Some("苏E12345"),
        &[170_000, 8_000, 900_000],
    );
    w.hand(
        &m,
        &w.hauler_a,
        &w.disposal,
        None,
        &[170_000, 8_000, 900_000],
    );
    let line = |i: u32, q: u64| json!({"line": i, "accepted": {"amount": q, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}});
    ok(
        &w.c,
        json!({"type": "custody.received", "manifest": m, "lines": [line(0, 170_000), line(1, 8_000), line(2, 900_000)]}),
        &[&w.disposal.key],
    );
    ok(
        &w.c,
        json!({"type": "custody.treated", "manifest": m, "line": 0, "code": "R9", "quantity": {"amount": 170_000, "unit": "g"}}),
        &[&w.disposal.key],
    );
    let page =
        w.c.get_signed(&format!("/v1/manifests/{m}/print"), &w.plant.key)
            .unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    let html = &page.body;
    assert!(
        html.contains(
            "目的地 Destination: Disposal facility <small class=\"id\">S-DISPOSAL</small>"
        ),
        "the destination by its registered name: {html}"
    );
    assert!(
        !html.contains("custody.") && !html.contains("manifest.issued"),
        "no raw event names: {html}"
    );
    for want in [
        "开具联单 manifest issued",
        "交接 hand-over",
        "接收 received",
        "利用处置 treated R9",
    ] {
        assert!(html.contains(want), "the chain lacks {want:?}: {html}");
    }
    assert!(
        html.contains("<td>第 1 行 line 1: R9 170 kg</td>"),
        "the treatment's line, code and quantity: {html}"
    );
    // The treated line says how it was treated; the lines not yet treated say nothing.
    let oil = html
        .split("<tr>")
        .find(|r| r.contains("废矿物油 waste mineral oil"))
        .unwrap();
    assert!(oil.ends_with("<td>R9 170 kg</td></tr>"), "{oil}");
    // Each step with who signed it: both parties of a hand-over, the receiver its receipt.
    let rows: Vec<&str> = html.split("<tr>").skip(1).collect();
    let row =
        |step: &str| -> Vec<&str> { rows.iter().filter(|r| r.contains(step)).copied().collect() };
    let handovers = row("交接 hand-over");
    assert_eq!(handovers.len(), 2, "{html}");
    let signed_by = |r: &str| r.rsplit("<td>").next().unwrap().to_string();
    let first = signed_by(handovers[0]);
    assert!(
        first.contains("Kunshan electronics plant") && first.contains("Hazardous hauler A"),
        "the first hand-over is signed by the plant and the hauler: {first}"
    );
    assert!(signed_by(row("开具联单 manifest issued")[0]).contains("Kunshan electronics plant"));
    assert!(signed_by(row("利用处置 treated R9")[0]).contains("Licensed disposal facility"));
    let pages = print_pages(dir.path(), "manifest", html);
    for (i, p) in pages.iter().enumerate() {
        assert_size(&format!("manifest page {}", i + 1), *p, (210.0, 297.0));
    }
}
