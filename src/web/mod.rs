//! PURE: the printable pages, as HTML strings with print CSS: container labels laid out like
//! the HJ 1276-2022 hazardous-waste label (one code per container), and a manifest page with
//! its QR code and the chain so far. `http/` serves them; the QR images come in as SVG text.

use crate::domain::catalog::Catalog;
use crate::domain::codes::{Hazard, Quantity, Unit, Uscc, WasteCode};
use crate::domain::events::{Container, Form, Line};
use crate::domain::fold::{line_label, Manifest};
use crate::ledger::time::Timestamp;
use std::fmt::Write;

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An SVG document made fit to sit inside a page: no XML declaration, sized by the page's CSS.
fn inline_svg(svg: &str) -> String {
    let body = match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    };
    body.replacen("<svg", "<svg class=\"qr\"", 1)
}

/// A time as people read it, `YYYY-MM-DD HH:MM:SS CST`: [`Timestamp::cst`], the one format.
pub fn cst(t: Timestamp) -> String {
    t.cst()
}

/// `YYYYMMDD` in China Standard Time: dates on labels are local dates.
fn cst_date_digits(t: Timestamp) -> String {
    t.cst_date().replace('-', "")
}

/// The label's digital identification code (数字识别码), as we read HJ 1276-2022: four
/// segments, 37 characters: the generator's USCC (18), the waste code's digits (8), the date
/// it was produced or collected (8, `YYYYMMDD`), and the waste's sequence number (3).
pub fn digital_id(generator: &Uscc, code: &WasteCode, produced: Timestamp, serial: u32) -> String {
    format!(
        "{}{}{}{:03}",
        generator.as_str(),
        code.as_str().replace('-', ""),
        cst_date_digits(produced),
        serial % 1000
    )
}

pub fn quantity(q: &Quantity) -> String {
    let (big, unit) = match q.unit {
        Unit::G => (q.amount as f64 / 1000.0, "kg"),
        Unit::Ml => (q.amount as f64 / 1000.0, "L"),
    };
    if q.amount.is_multiple_of(1000) {
        format!("{} {unit}", q.amount / 1000)
    } else {
        format!("{big:.3} {unit}")
    }
}

fn form(f: Form) -> &'static str {
    match f {
        Form::Solid => "固态 solid",
        Form::SemiSolid => "半固态 semi-solid",
        Form::Liquid => "液态 liquid",
        Form::Gas => "气态 gas",
    }
}

/// A hazard pictogram: a diamond with the characteristic's letter(s), name under it.
fn pictogram(h: Hazard) -> String {
    format!(
        r##"<figure class="hz"><svg viewBox="0 0 40 40" width="40" height="40" aria-hidden="true"><rect x="8" y="8" width="24" height="24" transform="rotate(45 20 20)" fill="#fff" stroke="#c00" stroke-width="2.5"/><text x="20" y="25" text-anchor="middle" font-size="12" font-weight="bold">{}</text></svg><figcaption>{} {}</figcaption></figure>"##,
        h.as_str(),
        h.zh(),
        h.en()
    )
}

const STYLE: &str = r##"
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 12px; color: #000; }
.label { width: 150mm; min-height: 150mm; border: 1.5mm solid #000; background: #ffb400; padding: 4mm;
         box-sizing: border-box; display: grid; grid-template-columns: 1fr 42mm; gap: 2mm 4mm;
         page-break-inside: avoid; break-inside: avoid; margin: 0 0 8mm 0; }
.label h1 { grid-column: 1 / 3; margin: 0; text-align: center; font-size: 9mm; letter-spacing: 2mm;
            border-bottom: 0.8mm solid #000; }
.label h1 small { display: block; font-size: 4mm; letter-spacing: 0; }
.label dl { margin: 0; display: grid; grid-template-columns: 32mm 1fr; gap: 1mm 2mm; font-size: 3.6mm; }
.label dt { font-weight: bold; }
.label dd { margin: 0; }
.label .side { text-align: center; font-size: 3mm; }
.label .side svg.qr { width: 40mm; height: 40mm; background: #fff; }
.label .hazards { display: flex; flex-wrap: wrap; gap: 1mm; justify-content: center; }
.hz { margin: 0; font-size: 2.6mm; text-align: center; }
.label .id { grid-column: 1 / 3; font-family: monospace; font-size: 4mm; text-align: center;
             background: #fff; padding: 1mm; letter-spacing: 0.3mm; }
.page { max-width: 190mm; }
.page table { border-collapse: collapse; width: 100%; font-size: 3.4mm; }
.page th, .page td { border: 0.3mm solid #000; padding: 1mm 2mm; text-align: left; vertical-align: top; }
.page header { display: grid; grid-template-columns: 1fr 45mm; gap: 4mm; }
.page svg.qr { width: 45mm; height: 45mm; }
.note { font-size: 3mm; color: #333; }
@media print { body { margin: 0; } .noprint { display: none; } }
"##;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        esc(title)
    )
}

/// The generator as a label names it.
pub struct Generator<'a> {
    pub id: &'a Uscc,
    pub name: &'a str,
    pub phone: Option<&'a str>,
}

/// One container's place on a manifest: its line, its container, and its sequence number
/// across the manifest (1-based), which the digital identification code carries.
pub struct ContainerRef<'a> {
    pub line_index: usize,
    pub line: &'a Line,
    pub container: &'a Container,
    pub serial: u32,
}

/// Every container of the manifest's current version, in order.
pub fn containers(m: &Manifest) -> Vec<ContainerRef<'_>> {
    let mut out = Vec::new();
    for (i, l) in m.current().lines.iter().enumerate() {
        for c in &l.containers {
            out.push(ContainerRef {
                line_index: i,
                line: l,
                container: c,
                serial: out.len() as u32 + 1,
            });
        }
    }
    out
}

/// The container labels of a manifest, one per container, each with its own QR code
/// (`qr(line, container id)` gives the SVG).
pub fn labels_page(
    m: &Manifest,
    catalog: &Catalog,
    generator: &Generator<'_>,
    qr: &dyn Fn(&ContainerRef<'_>) -> String,
) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p class=\"noprint note\">Manifest {} — {} container label(s). Print at 100% on 150 × 150 mm (containers of 50–450 L; HJ 1276-2022 asks 100 mm for ≤ 50 L, 200 mm for ≥ 450 L).</p>",
        esc(m.number.as_str()),
        containers(m).len()
    );
    for c in containers(m) {
        body.push_str(&label(m, catalog, generator, &c, &qr(&c)));
    }
    page(&format!("危险废物标签 {}", m.number.as_str()), &body)
}

fn label(
    m: &Manifest,
    catalog: &Catalog,
    generator: &Generator<'_>,
    c: &ContainerRef<'_>,
    qr_svg: &str,
) -> String {
    let l = c.line;
    let (category, code, id) = match &l.code {
        Some(code) => {
            let cat = code.category();
            let name = catalog
                .category(cat)
                .map(|i| format!("{cat} {} {}", i.zh, i.en))
                .unwrap_or_else(|| cat.to_string());
            (
                name,
                code.as_str().to_string(),
                digital_id(generator.id, code, m.issued_at, c.serial),
            )
        }
        None => (String::new(), String::new(), String::new()),
    };
    let weight = c
        .container
        .quantity
        .as_ref()
        .map(quantity)
        .unwrap_or_else(|| {
            if l.containers.len() == 1 {
                quantity(&l.quantity)
            } else {
                format!(
                    "{} in {} containers",
                    quantity(&l.quantity),
                    l.containers.len()
                )
            }
        });
    let hazards: String = l.hazards.iter().map(|h| pictogram(*h)).collect();
    let row = |zh: &str, en: &str, v: &str| {
        format!(
            "<dt>{zh}<br><small>{en}</small></dt><dd>{}</dd>",
            if v.is_empty() {
                "—".to_string()
            } else {
                esc(v)
            }
        )
    };
    let mut dl = String::new();
    dl.push_str(&row("废物名称", "Waste name", &l.name));
    dl.push_str(&row("废物类别", "Category", &category));
    dl.push_str(&row("废物代码", "Waste code", &code));
    dl.push_str(&row("废物形态", "Physical form", form(l.form)));
    dl.push_str(&row(
        "主要成分",
        "Main components",
        l.components.as_deref().unwrap_or(""),
    ));
    dl.push_str(&row(
        "有害成分",
        "Hazardous components",
        l.hazardous_components.as_deref().unwrap_or(""),
    ));
    dl.push_str(&row(
        "注意事项",
        "Precautions",
        l.precautions.as_deref().unwrap_or(""),
    ));
    dl.push_str(&row(
        "产生/收集单位",
        "Generator",
        &format!("{} ({})", generator.name, generator.id.as_str()),
    ));
    dl.push_str(&row("联系方式", "Contact", generator.phone.unwrap_or("")));
    dl.push_str(&row("产生日期", "Date", &m.issued_at.cst_date()));
    dl.push_str(&row("废物重量", "Weight", &weight));
    dl.push_str(&row(
        "备注",
        "Notes",
        &format!(
            "联单 manifest {} · 容器 container {} ({}) · line {}",
            m.number.as_str(),
            c.container.id,
            c.container.packaging,
            c.line_index + 1
        ),
    ));
    format!(
        "<section class=\"label\"><h1>危险废物<small>HAZARDOUS WASTE</small></h1><dl>{dl}</dl><div class=\"side\"><b>危险特性 Hazard characteristics</b><div class=\"hazards\">{hazards}</div>{qr_svg}<div>扫码核验 scan to verify</div></div><div class=\"id\">数字识别码 {}</div></section>\n",
        esc(&id),
        qr_svg = inline_svg(qr_svg)
    )
}

/// One row of the chain: an event on the manifest, as the page lists it.
pub struct ChainRow {
    pub index: u64,
    pub time: Timestamp,
    pub kind: String,
    pub who: String,
    pub detail: String,
}

/// The printable manifest: the declaration, its QR code, and the chain so far.
pub fn manifest_page(
    m: &Manifest,
    names: &dyn Fn(&Uscc) -> String,
    qr_svg: &str,
    chain: &[ChainRow],
    flags: &[String],
) -> String {
    let v = m.current();
    let mut b = String::new();
    let _ = write!(
        b,
        "<div class=\"page\"><header><div><h1>危险废物转移联单 Transfer manifest {}</h1><p>{} · 第 {} 版 version {} · 状态 status <b>{}</b></p><p>产生单位 Generator: {}<br>目的地 Destination: {}<br>运输单位 Haulers: {}<br>签发 Issued: {}, log entry {}</p></div><div>{}</div></header>",
        esc(m.number.as_str()),
        m.stream.as_str(),
        v.version,
        v.version,
        esc(m.status.as_str()),
        esc(&names(&m.issuer)),
        esc(&v.destination),
        esc(&v.haulers.iter().map(names).collect::<Vec<_>>().join(", ")),
        cst(m.issued_at),
        m.issue_index,
        inline_svg(qr_svg)
    );
    b.push_str("<h2>废物 Wastes</h2><table><tr><th>#</th><th>废物 Waste</th><th>形态 Form</th><th>危险特性 Hazards</th><th>容器 Containers</th><th>申报量 Declared</th><th>最近计量 Last count</th></tr>");
    for (i, l) in v.lines.iter().enumerate() {
        let hz: Vec<&str> = l.hazards.iter().map(|h| h.as_str()).collect();
        let cs: Vec<String> = l
            .containers
            .iter()
            .map(|c| format!("{} ({})", c.id, c.packaging))
            .collect();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            esc(&line_label(l)),
            form(l.form),
            esc(&hz.join(", ")),
            esc(&cs.join(", ")),
            quantity(&l.quantity),
            m.quantities.get(i).map(quantity).unwrap_or_default()
        );
    }
    b.push_str("</table><h2>流转记录 Chain of custody</h2><table><tr><th>log</th><th>时间 Time</th><th>事件 Event</th><th>单位 Parties</th><th>详情 Detail</th></tr>");
    for r in chain {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.index,
            cst(r.time),
            esc(&r.kind),
            esc(&r.who),
            esc(&r.detail)
        );
    }
    b.push_str("</table>");
    if !flags.is_empty() {
        b.push_str("<h2>标记 Flags</h2><ul>");
        for f in flags {
            let _ = write!(b, "<li>{}</li>", esc(f));
        }
        b.push_str("</ul>");
    }
    b.push_str("<p class=\"note\">Every event above is an entry of the signed log; its inclusion proof is served at /v1/log/proof/inclusion. The QR code carries a token signed by the log's key: scanners verify it offline.</p></div>");
    page(&format!("联单 {}", m.number.as_str()), &b)
}

/// A scan's verdict (as `POST /v1/scan` gives it) as a page a phone shows.
pub fn scan_page(v: &serde_json::Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let ok = v["ok"].as_bool().unwrap_or(false);
    let mut b = format!(
        "<div class=\"page\"><h1 style=\"background:{};padding:3mm\">{} {}</h1><p>{}</p>",
        if ok { "#9be59b" } else { "#ff8a80" },
        if ok { "✔" } else { "✘" },
        esc(&s("verdict")),
        esc(&s("detail"))
    );
    let m = &v["manifest"];
    if m.is_object() {
        let f = |k: &str| esc(m[k].as_str().unwrap_or_default());
        let _ = write!(
            b,
            "<table><tr><th>联单 Manifest</th><td>{}</td></tr><tr><th>类别 Stream</th><td>{}</td></tr><tr><th>状态 Status</th><td>{}</td></tr><tr><th>版本 Version</th><td>{}</td></tr><tr><th>持有 Held by</th><td>{} {}</td></tr><tr><th>车辆 Vehicle</th><td>{}</td></tr></table>",
            f("number"),
            f("stream"),
            f("status"),
            m["version"],
            f("holder_name"),
            f("holder"),
            f("vehicle")
        );
    }
    let c = &v["container"];
    if c.is_object() {
        let _ = write!(
            b,
            "<p>容器 Container {}: {}</p>",
            esc(c["id"].as_str().unwrap_or_default()),
            if c["belongs"].as_bool() == Some(true) {
                "on this manifest"
            } else {
                "NOT on this manifest"
            }
        );
        let h = &c["should_hold"];
        if h.is_object() {
            let what = h["code"].as_str().or(h["cw_type"].as_str()).unwrap_or("?");
            let q: Option<Quantity> = serde_json::from_value(h["quantity"].clone()).ok();
            let _ = write!(
                b,
                "<p>应装 Should hold: {} {}, {} ({})</p>",
                esc(what),
                esc(h["name"].as_str().unwrap_or_default()),
                esc(&q.as_ref().map(quantity).unwrap_or_default()),
                if h["quantity_of"] == "container" {
                    "this container"
                } else {
                    "declared for the line's containers"
                }
            );
        }
    }
    b.push_str("<p class=\"note\">Checked by the server against the log's key and the live log. Offline: `wasteledger scan IMAGE --log-key KEY`.</p></div>");
    page("扫码核验 scan", &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digital_id_has_four_segments_of_37_characters() {
        let first = "91320583MA1ELEC01";
        let u = Uscc::parse(&format!("{first}{}", Uscc::check_char(first).unwrap())).unwrap();
        let code = WasteCode::parse("900-249-08").unwrap();
        // 2026-11-23T20:00:00Z is already the 24th in China.
        let t = Timestamp::parse("2026-11-23T20:00:00Z").unwrap();
        let id = digital_id(&u, &code, t, 7);
        assert_eq!(id.len(), 37, "{id}");
        assert_eq!(&id[..18], u.as_str());
        assert_eq!(&id[18..26], "90024908");
        assert_eq!(&id[26..34], "20261124");
        assert_eq!(&id[34..], "007");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<b>\"A&B's\"</b>"),
            "&lt;b&gt;&quot;A&amp;B&#39;s&quot;&lt;/b&gt;"
        );
    }

    #[test]
    fn quantities_read_in_kilograms_and_litres() {
        assert_eq!(
            quantity(&Quantity {
                amount: 340_000,
                unit: Unit::G
            }),
            "340 kg"
        );
        assert_eq!(
            quantity(&Quantity {
                amount: 1_500,
                unit: Unit::Ml
            }),
            "1.500 L"
        );
    }
}
