//! PURE: the printable pages, as HTML strings with print CSS: container labels laid out like
//! the HJ 1276-2022 hazardous-waste label (one code per container), and a manifest page with
//! its QR code and the chain so far. `http/` serves them; the QR images come in as SVG text.

pub mod app;
pub mod assets;
pub mod i18n;

use crate::domain::catalog::Catalog;
use crate::domain::codes::{CwType, Hazard, Quantity, Unit, Uscc, WasteCode};
use crate::domain::events::{Container, Form, Line, Stream};
use crate::domain::model::{line_label, Manifest, Status};
use crate::ledger::time::Timestamp;
use i18n::Lang;
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

/// A time as a page in `lang` shows it: China Standard Time, named as its readers name it
/// (`2026-11-23 16:30:00 北京时间`, `… CST`), as `wl-format.js`'s `cst` does in the browser.
pub fn when(lang: Lang, t: Timestamp) -> String {
    let c = t.cst();
    match lang {
        Lang::Zh => format!("{} 北京时间", c.trim_end_matches(" CST")),
        Lang::En => c,
    }
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

/// The symbol drawn inside a hazard's diamond (viewBox 0 0 100 100, black on white).
fn symbol(h: Hazard) -> &'static str {
    match h {
        // A skull over crossed bones.
        Hazard::T => {
            r##"<path d="M30 60 L70 78 M70 60 L30 78" stroke="#000" stroke-width="6" stroke-linecap="round"/><circle cx="50" cy="42" r="15"/><rect x="42" y="50" width="16" height="11" rx="2"/><circle cx="44" cy="41" r="4.5" fill="#fff"/><circle cx="56" cy="41" r="4.5" fill="#fff"/><path d="M50 47 l-2.5 4 h5 z" fill="#fff"/>"##
        }
        // Two tubes pouring drops onto a bar and a hand, both eaten away.
        Hazard::C => {
            r##"<g transform="rotate(-30 36 34)"><rect x="31" y="20" width="9" height="22" rx="1.5"/></g><g transform="rotate(30 64 34)"><rect x="60" y="20" width="9" height="22" rx="1.5"/></g><path d="M40 47 q-4 6 0 9 q4 -3 0 -9 z M60 47 q-4 6 0 9 q4 -3 0 -9 z"/><path d="M22 62 h22 l-3 4 l3 4 h-22 z"/><path d="M56 62 h20 q4 0 4 4 v2 q0 4 -4 4 h-20 l3 -5 z"/>"##
        }
        // A flame over a bar.
        Hazard::I => {
            r##"<path d="M50 20 C60 33 68 43 62 58 C67 55 68 50 67 46 C75 56 73 70 61 75 L39 75 C27 70 26 57 35 47 C35 53 38 57 42 59 C36 45 43 31 50 20 Z"/><rect x="30" y="78" width="40" height="4"/>"##
        }
        // An exploding bomb.
        Hazard::R => {
            r##"<path d="M50 22 L55 38 L68 28 L63 44 L79 45 L65 53 L75 66 L59 61 L56 77 L48 63 L37 74 L38 58 L22 60 L34 49 L23 37 L40 40 Z"/><circle cx="50" cy="51" r="8" fill="#fff"/><circle cx="50" cy="51" r="5"/>"##
        }
        // The biohazard sign: three rings round a centre.
        Hazard::In => {
            r##"<g fill="none" stroke="#000" stroke-width="5"><circle cx="50" cy="38" r="11"/><circle cx="39.6" cy="56" r="11"/><circle cx="60.4" cy="56" r="11"/></g><circle cx="50" cy="50" r="5" fill="none" stroke="#000" stroke-width="3"/>"##
        }
    }
}

/// A hazard pictogram as the label shows it: a red-bordered diamond with the characteristic's
/// symbol drawn in it, named under it in Chinese with its letter (`毒性 T`).
fn pictogram(h: Hazard) -> String {
    format!(
        r##"<figure class="hz"><svg viewBox="0 0 100 100" role="img" aria-label="{zh} {en}"><path d="M50 3 L97 50 L50 97 L3 50 Z" fill="#fff" stroke="#c00" stroke-width="6" stroke-linejoin="round"/>{sym}</svg><figcaption>{zh} {letter}</figcaption></figure>"##,
        zh = h.zh(),
        en = h.en(),
        letter = h.as_str(),
        sym = symbol(h)
    )
}

/// The label sizes HJ 1276-2022 sets by the container's volume (its minimum label size and
/// minimum text height): ≤ 50 L → 100 × 100 mm (text ≥ 3 mm); over 50 up to 450 L →
/// 150 × 150 mm (≥ 5 mm); 450 L and over → 200 × 200 mm (≥ 6 mm). The standard's two upper
/// rows share 450 L; the larger label is the one that satisfies both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LabelSize {
    Mm100,
    Mm150,
    Mm200,
}

impl LabelSize {
    /// The size for a container of `litres`.
    pub fn for_litres(litres: f64) -> LabelSize {
        if litres <= 50.0 {
            LabelSize::Mm100
        } else if litres < 450.0 {
            LabelSize::Mm150
        } else {
            LabelSize::Mm200
        }
    }

    /// The side of the (square) label in millimetres.
    pub fn mm(self) -> u32 {
        match self {
            LabelSize::Mm100 => 100,
            LabelSize::Mm150 => 150,
            LabelSize::Mm200 => 200,
        }
    }
}

/// The volume in litres a packaging text names: the first number with a volume unit (`200 L`,
/// `200L`, `20 litres`, `1 m3`, `1.2 m³`, `1 立方米`, `25升`, `500 ml`, `55 gal`), else 1000 L
/// for an intermediate bulk container or a ton bag (`IBC`, `吨桶`, `ton bag`, `吨袋`), else none.
pub fn packaging_litres(packaging: &str) -> Option<f64> {
    // Longest first: `ml` before `m`-less `l`, `litres` before `l`.
    const UNITS: [(&str, f64); 15] = [
        ("立方米", 1000.0),
        ("gallons", 3.785),
        ("gallon", 3.785),
        ("litres", 1.0),
        ("liters", 1.0),
        ("litre", 1.0),
        ("liter", 1.0),
        ("gal", 3.785),
        ("cbm", 1000.0),
        ("ml", 0.001),
        ("m3", 1000.0),
        ("m³", 1000.0),
        ("升", 1.0),
        ("方", 1000.0),
        ("l", 1.0),
    ];
    let chars: Vec<char> = packaging.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '.'));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
            j += 1;
        }
        let number: String = chars[i..j].iter().collect();
        let mut k = j;
        while k < chars.len() && chars[k] == ' ' {
            k += 1;
        }
        let lower = chars[k..].iter().collect::<String>().to_lowercase();
        for (unit, litres) in UNITS {
            let Some(after) = lower.strip_prefix(unit) else {
                continue;
            };
            // An ASCII unit ends where the word does: `20 lb` is not litres.
            let after = after.chars().next();
            if unit.is_ascii() && after.is_some_and(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            if let Ok(n) = number.parse::<f64>() {
                return Some(n * litres);
            }
        }
        i = j;
    }
    let lower = packaging.to_lowercase();
    let word = |w: &str| {
        lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|x| x == w)
    };
    if word("ibc")
        || word("fibc")
        || lower.contains("ton bag")
        || lower.contains("tonne bag")
        || ["吨桶", "吨袋", "吨包"]
            .iter()
            .any(|w| packaging.contains(w))
    {
        return Some(1000.0);
    }
    None
}

/// A container's label size and why: the volume its packaging names; else what it holds when
/// that is a volume (a lower bound of the container's); else 150 × 150 mm, the size of the
/// common 200 L drum, said as a guess.
pub fn label_size(c: &Container) -> (LabelSize, String) {
    if let Some(l) = packaging_litres(&c.packaging) {
        return (
            LabelSize::for_litres(l),
            format!("{l} L from the packaging {:?}", c.packaging),
        );
    }
    if let Some(q) = c.quantity.as_ref().filter(|q| q.unit == Unit::Ml) {
        let l = q.amount as f64 / 1000.0;
        return (
            LabelSize::for_litres(l),
            format!(
                "{l} L, what it holds (the packaging {:?} names no volume)",
                c.packaging
            ),
        );
    }
    (
        LabelSize::Mm150,
        format!(
            "no volume in the packaging {:?}: 150 mm assumed (write it as \"200 L drum\")",
            c.packaging
        ),
    )
}

const STYLE: &str = r##"
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 12px; color: #000; }
.note { font-size: 3mm; color: #333; }
@media print { body { margin: 0; } .noprint { display: none; } }
"##;

/// Labels: each on a page of its own HJ 1276-2022 size (a named page per size), its text at
/// the standard's minimum height for that size (`--t`).
const LABEL_STYLE: &str = r##"
@page label100 { size: 100mm 100mm; margin: 0; }
@page label150 { size: 150mm 150mm; margin: 0; }
@page label200 { size: 200mm 200mm; margin: 0; }
.label { box-sizing: border-box; width: var(--side); height: var(--side); overflow: hidden;
         border: calc(var(--t) * 0.3) solid #000; background: #ffb400; padding: calc(var(--t) * 0.5);
         display: grid; grid-template-columns: 1fr var(--col); grid-template-rows: auto minmax(0, 1fr) auto;
         gap: calc(var(--t) * 0.3) calc(var(--t) * 0.6); font-size: var(--t); line-height: 1.15;
         margin: 0 0 8mm 0; break-inside: avoid; }
.label + .label { break-before: page; }
.label.s100 { page: label100; --side: 100mm; --t: 3mm; --col: 28mm; --hz: 12mm; }
.label.s150 { page: label150; --side: 150mm; --t: 5mm; --col: 42mm; --hz: 19mm; }
.label.s200 { page: label200; --side: 200mm; --t: 6mm; --col: 58mm; --hz: 27mm; }
.label h1 { grid-column: 1 / 3; margin: 0; text-align: center; font-size: calc(var(--t) * 2);
            letter-spacing: calc(var(--t) * 0.5); line-height: 1.1; border-bottom: calc(var(--t) * 0.2) solid #000; }
.label h1 small { font-size: var(--t); letter-spacing: 0; margin-left: var(--t); }
.label dl { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: calc(var(--t) * 0.15) calc(var(--t) * 0.5);
            align-content: start; overflow-wrap: anywhere; }
.label dt { font-weight: bold; }
.label dd { margin: 0; }
.label .side { text-align: center; display: flex; flex-direction: column; align-items: center; gap: calc(var(--t) * 0.2); }
.label .side svg.qr { width: var(--col); height: var(--col); background: #fff; display: block; }
.label .hazards { display: flex; flex-wrap: wrap; gap: calc(var(--t) * 0.2) calc(var(--t) * 0.4); justify-content: center; }
.hz { margin: 0; text-align: center; min-width: var(--hz); }
.hz svg { width: var(--hz); height: var(--hz); display: block; margin: 0 auto; }
.hz figcaption { font-size: var(--t); white-space: nowrap; }
.label .id { grid-column: 1 / 3; font-family: monospace; text-align: center; background: #fff;
             padding: calc(var(--t) * 0.15); white-space: nowrap; }
@media print { .label { margin: 0; } }
"##;

/// The manifest on A4, as the paper form is.
const PAGE_STYLE: &str = r##"
@page { size: A4; margin: 12mm 12mm 14mm 12mm; }
.page { max-width: 186mm; }
.page h1 { font-size: 6mm; margin: 0 0 2mm 0; }
.page h2 { font-size: 4.5mm; margin: 4mm 0 1.5mm 0; }
.page table { border-collapse: collapse; width: 100%; font-size: 3.2mm; }
.page th, .page td { border: 0.3mm solid #000; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
.page tr { break-inside: avoid; }
.page header { display: grid; grid-template-columns: 1fr 42mm; gap: 4mm; }
.page header p { margin: 1mm 0; font-size: 3.6mm; }
.page svg.qr { width: 42mm; height: 42mm; }
.page small.id { color: #444; font-size: 2.6mm; }
"##;

fn page(title: &str, style: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}{style}</style></head><body>\n{body}</body></html>\n",
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
    let all = containers(m);
    let _ = write!(
        body,
        "<div class=\"noprint note\"><p>Manifest {} — {} container label(s), each on a page of its own size: print at 100% (no scaling), no headers or footers. HJ 1276-2022 sizes by the container's volume: ≤ 50 L 100 × 100 mm, over 50 to 450 L 150 × 150 mm, 450 L and over 200 × 200 mm; the volume is read from the packaging (\"200 L drum\", \"1 m3\", \"IBC\"), else what the container holds in litres, else 150 mm.</p><ul>",
        esc(m.number.as_str()),
        all.len()
    );
    for c in &all {
        let (size, why) = label_size(c.container);
        let _ = write!(
            body,
            "<li>{}: {} × {} mm ({})</li>",
            esc(&c.container.id),
            size.mm(),
            size.mm(),
            esc(&why)
        );
    }
    body.push_str("</ul></div>\n");
    for c in &all {
        body.push_str(&label(m, catalog, generator, c, &qr(c)));
    }
    page(
        &format!("危险废物标签 {}", m.number.as_str()),
        LABEL_STYLE,
        &body,
    )
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
                .map(|i| format!("{cat} {}", i.zh))
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
                format!("{} (共 {} 件)", quantity(&l.quantity), l.containers.len())
            }
        });
    let hazards: String = l.hazards.iter().map(|h| pictogram(*h)).collect();
    let row = |zh: &str, v: &str| {
        format!(
            "<dt>{zh}</dt><dd>{}</dd>",
            if v.is_empty() {
                "—".to_string()
            } else {
                esc(v)
            }
        )
    };
    let mut dl = String::new();
    dl.push_str(&row("废物名称", &l.name));
    dl.push_str(&row("废物类别", &category));
    dl.push_str(&row("废物代码", &code));
    dl.push_str(&row("废物形态", form(l.form)));
    dl.push_str(&row("主要成分", l.components.as_deref().unwrap_or("")));
    dl.push_str(&row(
        "有害成分",
        l.hazardous_components.as_deref().unwrap_or(""),
    ));
    dl.push_str(&row("注意事项", l.precautions.as_deref().unwrap_or("")));
    dl.push_str(&row("产生/收集单位", generator.name));
    dl.push_str(&row("联系方式", generator.phone.unwrap_or("")));
    dl.push_str(&row("产生日期", &m.issued_at.cst_date()));
    dl.push_str(&row("废物重量", &weight));
    dl.push_str(&row(
        "备注",
        &format!(
            "联单 {} 第 {} 行 · 容器 {} ({})",
            m.number.as_str(),
            c.line_index + 1,
            c.container.id,
            c.container.packaging
        ),
    ));
    format!(
        "<section class=\"label s{}\"><h1>危险废物<small>HAZARDOUS WASTE</small></h1><dl>{dl}</dl><div class=\"side\"><b>危险特性</b><div class=\"hazards\">{hazards}</div>{qr_svg}</div><div class=\"id\">数字识别码 {}</div></section>\n",
        label_size(c.container).0.mm(),
        esc(&id),
        qr_svg = inline_svg(qr_svg)
    )
}

/// A party or a site as the page names it: its registered name with its id small beside it,
/// or the id alone when the registry does not know it.
pub struct Named {
    pub id: String,
    pub name: Option<String>,
}

fn named(n: &Named) -> String {
    match &n.name {
        Some(name) => format!("{} <small class=\"id\">{}</small>", esc(name), esc(&n.id)),
        None => esc(&n.id),
    }
}

fn named_list(ns: &[Named]) -> String {
    ns.iter().map(named).collect::<Vec<_>>().join("<br>")
}

/// A step in words, Chinese then English (`交接 hand-over` for `custody.handover`, from
/// [`i18n::EventType`]); a type this build does not know is shown as written.
pub fn step_name(kind: &str) -> String {
    match i18n::EventType::parse(kind) {
        Some(e) => format!("{} {}", e.text().zh, e.text().en),
        None => kind.to_string(),
    }
}

/// A manifest's status in words, Chinese then English.
fn status_name(s: Status) -> String {
    let x = i18n::status(s);
    format!("{} {}", x.zh, x.en)
}

/// One row of the chain: an event on the manifest, as the page lists it.
pub struct ChainRow {
    pub index: u64,
    pub time: Timestamp,
    /// The event type (`custody.handover`), shown in words ([`step_name`]).
    pub kind: String,
    /// What a treatment did, shown with the step and on its line.
    pub treated: Option<Treatment>,
    pub from: Option<Named>,
    pub to: Option<Named>,
    pub detail: String,
    /// Who signed the entry: the parties its signatures' keys belong to.
    pub signers: Vec<Named>,
}

/// A treatment step: the line (0-based), its R/D code (`R9`) and the quantity treated.
pub struct Treatment {
    pub line: usize,
    pub code: String,
    pub quantity: Option<Quantity>,
}

impl Treatment {
    fn said(&self) -> String {
        match &self.quantity {
            Some(q) => format!("{} {}", self.code, quantity(q)),
            None => self.code.clone(),
        }
    }
}

/// How the page names parties (by USCC) and sites (by id).
pub struct Names<'a> {
    pub party: &'a dyn Fn(&Uscc) -> Named,
    pub site: &'a dyn Fn(&str) -> Named,
}

/// The printable manifest on A4: the declaration, its QR code, and the chain so far, every
/// step in words with who signed it.
pub fn manifest_page(
    m: &Manifest,
    names: &Names<'_>,
    qr_svg: &str,
    chain: &[ChainRow],
    flags: &[String],
) -> String {
    let v = m.current();
    let party = |u: &Uscc| named(&(names.party)(u));
    let mut b = String::new();
    let _ = write!(
        b,
        "<div class=\"page\"><header><div><h1>危险废物转移联单 {}</h1><p>Transfer manifest · {} · 第 {} 版 version {} · 状态 <b>{}</b></p><p>产生单位 Generator: {}</p><p>起运地 Origin: {}</p><p>目的地 Destination: {}</p><p>运输单位 Haulers: {}</p><p>签发 Issued: {}, log entry {}</p></div><div>{}</div></header>",
        esc(m.number.as_str()),
        m.stream.as_str(),
        v.version,
        v.version,
        status_name(m.status),
        party(&m.issuer),
        named(&(names.site)(&m.origin)),
        named(&(names.site)(&v.destination)),
        v.haulers.iter().map(party).collect::<Vec<_>>().join("; "),
        cst(m.issued_at),
        m.issue_index,
        inline_svg(qr_svg)
    );
    b.push_str("<h2>废物 Wastes</h2><table><tr><th>#</th><th>废物 Waste</th><th>形态 Form</th><th>危险特性 Hazards</th><th>容器 Containers</th><th>申报量 Declared</th><th>最近计量 Last count</th><th>处置 Treated</th></tr>");
    for (i, l) in v.lines.iter().enumerate() {
        let hz: Vec<String> = l
            .hazards
            .iter()
            .map(|h| format!("{} {}", h.zh(), h.as_str()))
            .collect();
        let cs: Vec<String> = l
            .containers
            .iter()
            .map(|c| format!("{} ({})", c.id, c.packaging))
            .collect();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            esc(&line_label(l)),
            form(l.form),
            esc(&hz.join(", ")),
            esc(&cs.join(", ")),
            quantity(&l.quantity),
            m.quantities.get(i).map(quantity).unwrap_or_default(),
            esc(&chain
                .iter()
                .filter_map(|r| r.treated.as_ref().filter(|t| t.line == i))
                .map(Treatment::said)
                .collect::<Vec<_>>()
                .join(", "))
        );
    }
    b.push_str("</table><h2>流转记录 Chain of custody</h2><table><tr><th>log</th><th>时间 Time</th><th>环节 Step</th><th>单位 Parties</th><th>详情 Detail</th><th>签名 Signed by</th></tr>");
    for r in chain {
        let parties = match (&r.from, &r.to) {
            (Some(f), Some(t)) => format!("{} → {}", named(f), named(t)),
            (Some(x), None) | (None, Some(x)) => named(x),
            (None, None) => String::new(),
        };
        let (step, detail) = match &r.treated {
            Some(t) => (
                format!("{} {}", step_name(&r.kind), t.code),
                [
                    format!("第 {} 行 line {}: {}", t.line + 1, t.line + 1, t.said()),
                    r.detail.clone(),
                ]
                .iter()
                .filter(|d| !d.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            ),
            None => (step_name(&r.kind), r.detail.clone()),
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.index,
            cst(r.time),
            esc(&step),
            parties,
            esc(&detail),
            if r.signers.is_empty() {
                "—".to_string()
            } else {
                named_list(&r.signers)
            }
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
    b.push_str("<p class=\"note\">Every step above is an entry of the signed log, signed by the parties named; its inclusion proof is served at /v1/log/proof/inclusion. The QR code carries a token signed by the log's key: scanners verify it offline.</p></div>");
    page(&format!("联单 {}", m.number.as_str()), PAGE_STYLE, &b)
}

/// The phone page's style: one column, big type, nothing wider than the screen.
const SCAN_STYLE: &str = r##"
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       font-size: 18px; line-height: 1.45; color: #111; background: #fff; }
nav { text-align: right; padding: 6px 12px; font-size: 16px; background: #f3f3f3; }
nav a { color: #0645ad; }
.band { padding: 18px 16px 20px; text-align: center; }
.band.good { background: #1e7e34; color: #fff; }
.band.warn { background: #ffb300; color: #000; }
.band.bad { background: #c62828; color: #fff; }
.band .mark { font-size: 64px; line-height: 1; font-weight: bold; }
.band h1 { margin: 6px 0 0; font-size: 44px; line-height: 1.15; }
.band h1 .s { display: block; font-size: 22px; font-weight: normal; margin-top: 4px; }
.band p { margin: 10px auto 0; max-width: 36rem; font-size: 20px; }
.band p.s { margin-top: 4px; font-size: 16px; }
main, footer { padding: 4px 16px 16px; max-width: 40rem; margin: 0 auto; }
h2 { font-size: 22px; margin: 18px 0 2px; }
h2 .s { font-size: 16px; font-weight: normal; color: #555; margin-left: 8px; }
dl { margin: 0; }
.row { display: grid; grid-template-columns: minmax(6em, 32%) minmax(0, 1fr); gap: 12px;
       padding: 10px 0; border-bottom: 1px solid #ddd; }
dt { color: #444; font-size: 16px; }
dd { margin: 0; font-size: 20px; overflow-wrap: anywhere; }
dt .s, dd .s { display: block; font-size: 14px; color: #666; }
.big { font-size: 24px; font-weight: bold; }
.num { font-family: "Noto Sans Mono", monospace; letter-spacing: 0.02em; }
.chip { display: inline-block; border: 2px solid #c00; color: #a00; border-radius: 6px;
        padding: 0 6px; margin: 2px 6px 2px 0; font-weight: bold; }
.alert { color: #b00; font-weight: bold; }
footer { color: #555; font-size: 14px; }
"##;

/// A scan's verdict (as `POST /v1/scan` gives it) as the page a phone's camera opens: the
/// verdict in a full-width band (green, amber or red, with a mark and words), then the
/// manifest's live status and, for a container's code, what should be in it. Every text in
/// `lang` first with the other language under it; every identifier in words; times in CST.
pub fn scan_page(v: &serde_json::Value, catalog: &Catalog, lang: Lang) -> String {
    use i18n::{ScanVerdict, Text, Tone};
    let other = lang.other();
    // Primary above, the other language under it.
    let bi = |x: Text| {
        format!(
            "<span lang=\"{}\">{}</span><span class=\"s\" lang=\"{}\">{}</span>",
            lang.tag(),
            esc(x.get(lang)),
            other.tag(),
            esc(x.get(other))
        )
    };
    let row = |label: Text, value: String| {
        format!(
            "<div class=\"row\"><dt>{}</dt><dd>{value}</dd></div>",
            bi(label)
        )
    };
    let verdict = v["verdict"].as_str().and_then(ScanVerdict::parse);
    let (tone, mark, words, advice) = match verdict {
        Some(x) => {
            let mark = match x.tone() {
                Tone::Good => "✔",
                Tone::Warn => "!",
                Tone::Bad => "✘",
            };
            (x.tone(), mark, x.text(), x.advice())
        }
        None => (
            Tone::Bad,
            "✘",
            Text {
                zh: "无法核验",
                en: "Could not be checked",
            },
            Text {
                zh: "服务器给出的结论无法识别。",
                en: "The server's verdict was not understood.",
            },
        ),
    };
    let class = match tone {
        Tone::Good => "good",
        Tone::Warn => "warn",
        Tone::Bad => "bad",
    };
    let switch = match other {
        Lang::Zh => "中文",
        Lang::En => "English",
    };
    let mut b = format!(
        "<nav><a href=\"?lang={}\" lang=\"{}\">{switch}</a></nav><header class=\"band {class}\" role=\"status\"><div class=\"mark\" aria-hidden=\"true\">{mark}</div><h1>{}</h1><p lang=\"{}\">{}</p><p class=\"s\" lang=\"{}\">{}</p></header><main>",
        other.param(),
        other.tag(),
        bi(words),
        lang.tag(),
        esc(advice.get(lang)),
        other.tag(),
        esc(advice.get(other)),
    );
    let m = &v["manifest"];
    if m.is_object() {
        let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
        let mut dl = String::new();
        dl.push_str(&row(
            Text {
                zh: "联单号",
                en: "Manifest",
            },
            format!("<span class=\"big num\">{}</span>", esc(&s("number"))),
        ));
        if let Ok(st) = serde_json::from_value::<Stream>(m["stream"].clone()) {
            dl.push_str(&row(
                Text {
                    zh: "废物种类",
                    en: "Stream",
                },
                bi(i18n::stream(st)),
            ));
        }
        if let Some(st) = Status::parse(&s("status")) {
            let words = bi(i18n::status(st));
            dl.push_str(&row(
                Text {
                    zh: "当前状态",
                    en: "Status now",
                },
                if st.is_closed() {
                    format!("<span class=\"alert\">{words}</span>")
                } else {
                    format!("<b>{words}</b>")
                },
            ));
        }
        if let Some(now) = m["version"].as_u64() {
            let printed = v["token"]["version"].as_u64().unwrap_or(now);
            let zh = if printed == now {
                format!("第 {now} 版")
            } else {
                format!("现为第 {now} 版（码上为第 {printed} 版）")
            };
            let en = if printed == now {
                format!("version {now}")
            } else {
                format!("version {now} now (the code shows version {printed})")
            };
            let (p, o) = match lang {
                Lang::Zh => (zh, en),
                Lang::En => (en, zh),
            };
            dl.push_str(&row(
                Text {
                    zh: "版本",
                    en: "Version",
                },
                format!("{}<span class=\"s\">{}</span>", esc(&p), esc(&o)),
            ));
        }
        if let Some(at) = m["issued_at"].as_str() {
            dl.push_str(&row(
                Text {
                    zh: "开具时间",
                    en: "Issued",
                },
                esc(&crate::ledger::time::cst_text(at)),
            ));
        }
        if !s("destination").is_empty() {
            let id = s("destination");
            let value = match m["destination_name"].as_str().filter(|n| !n.is_empty()) {
                Some(n) => format!("{}<span class=\"s num\">{}</span>", esc(n), esc(&id)),
                None => format!("<span class=\"num\">{}</span>", esc(&id)),
            };
            dl.push_str(&row(
                Text {
                    zh: "目的地",
                    en: "Destination",
                },
                value,
            ));
        }
        let onward: Vec<String> = m["onward"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(esc))
            .collect();
        if !onward.is_empty() {
            dl.push_str(&row(
                Text {
                    zh: "现所属联单",
                    en: "Now under",
                },
                format!("<span class=\"num\">{}</span>", onward.join("<br>")),
            ));
        }
        if let Some(h) = m["holder"].as_str() {
            let name = m["holder_name"].as_str().unwrap_or_default();
            dl.push_str(&row(
                Text {
                    zh: "持有单位",
                    en: "Held by",
                },
                format!("{}<span class=\"s num\">{}</span>", esc(name), esc(h)),
            ));
        }
        if let Some(p) = m["vehicle"].as_str() {
            dl.push_str(&row(
                Text {
                    zh: "车牌号",
                    en: "Truck",
                },
                format!("<span class=\"big\">{}</span>", esc(p)),
            ));
        }
        let _ = write!(b, "<dl>{dl}</dl>");
    }
    let c = &v["container"];
    if c.is_object() {
        let id = esc(c["id"].as_str().unwrap_or_default());
        let (zh, en) = if c["belongs"].as_bool() == Some(true) {
            (
                format!("容器 {id} 应装"),
                format!("Container {id} should hold"),
            )
        } else {
            (
                format!("容器 {id} 不在此联单上"),
                format!("Container {id} is not on this manifest"),
            )
        };
        let (p, o) = match lang {
            Lang::Zh => (zh, en),
            Lang::En => (en, zh),
        };
        let _ = write!(b, "<h2>{p}<span class=\"s\">{o}</span></h2>");
        let h = &c["should_hold"];
        if h.is_object() {
            let mut dl = String::new();
            if let Some(name) = h["name"].as_str().filter(|n| !n.is_empty()) {
                dl.push_str(&row(
                    Text {
                        zh: "废物名称",
                        en: "Waste",
                    },
                    format!("<span class=\"big\">{}</span>", esc(name)),
                ));
            }
            let code = h["code"].as_str().and_then(|c| WasteCode::parse(c).ok());
            if let Some(code) = &code {
                let cat = code.category();
                let mut value = format!("<span class=\"big num\">{}</span>", esc(code.as_str()));
                if let Some(ci) = catalog.category(cat) {
                    let _ = write!(
                        value,
                        "<br>{cat} {}<span class=\"s\">{}</span>",
                        esc(&ci.zh),
                        esc(&ci.en)
                    );
                }
                if let Some(w) = catalog.waste(code) {
                    let (p, o) = match lang {
                        Lang::Zh => (&w.zh, &w.en),
                        Lang::En => (&w.en, &w.zh),
                    };
                    let _ = write!(
                        value,
                        "<span class=\"s\">{}</span><span class=\"s\">{}</span>",
                        esc(p),
                        esc(o)
                    );
                }
                dl.push_str(&row(
                    Text {
                        zh: "废物代码",
                        en: "Waste code",
                    },
                    value,
                ));
            }
            if let Some(cw) = h["cw_type"].as_str().and_then(|c| CwType::parse(c).ok()) {
                dl.push_str(&row(
                    Text {
                        zh: "建筑垃圾类别",
                        en: "Type",
                    },
                    bi(i18n::cw_type(cw)),
                ));
            }
            let hazards: Vec<Hazard> = h["hazards"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().and_then(|x| Hazard::parse(x).ok()))
                .collect();
            if !hazards.is_empty() {
                let chips: String = hazards
                    .iter()
                    .map(|x| {
                        format!(
                            "<span class=\"chip\">{} {}</span>",
                            x.as_str(),
                            esc(i18n::hazard(*x).get(lang))
                        )
                    })
                    .collect();
                let under: Vec<&str> = hazards
                    .iter()
                    .map(|x| i18n::hazard(*x).get(other))
                    .collect();
                dl.push_str(&row(
                    Text {
                        zh: "危险特性",
                        en: "Hazards",
                    },
                    format!("{chips}<span class=\"s\">{}</span>", esc(&under.join(", "))),
                ));
            }
            if let Ok(f) = serde_json::from_value::<Form>(h["form"].clone()) {
                dl.push_str(&row(
                    Text {
                        zh: "形态",
                        en: "Form",
                    },
                    bi(i18n::form(f)),
                ));
            }
            if let Some(p) = h["packaging"].as_str().filter(|p| !p.is_empty()) {
                let kind = i18n::Packaging::of(p)
                    .map(|k| format!("{}<span class=\"s\">", bi(k.text())))
                    .unwrap_or_default();
                let close = if kind.is_empty() { "" } else { "</span>" };
                dl.push_str(&row(
                    Text {
                        zh: "包装",
                        en: "Packaging",
                    },
                    format!("{kind}{}{close}", esc(p)),
                ));
            }
            if let Ok(q) = serde_json::from_value::<Quantity>(h["quantity"].clone()) {
                let n = h["containers_on_line"].as_u64().unwrap_or(1);
                let (zh, en) = if h["quantity_of"] == "container" {
                    ("本容器".to_string(), "this container".to_string())
                } else if n > 1 {
                    (
                        format!("本行 {n} 个容器合计"),
                        format!("for the line's {n} containers"),
                    )
                } else {
                    (
                        "本行申报量".to_string(),
                        "declared for the line".to_string(),
                    )
                };
                let (p, o) = match lang {
                    Lang::Zh => (zh, en),
                    Lang::En => (en, zh),
                };
                dl.push_str(&row(
                    Text {
                        zh: "申报数量",
                        en: "Declared",
                    },
                    format!(
                        "<span class=\"big\">{}</span> {}<span class=\"s\">{}</span>",
                        esc(&quantity(&q)),
                        esc(&format!("（{p}）")),
                        esc(&o)
                    ),
                ));
            }
            let _ = write!(b, "<dl>{dl}</dl>");
        }
    }
    let _ = write!(
        b,
        "</main><footer><p>{}</p></footer>",
        bi(Text {
            zh: "由服务器以本日志的密钥和实时记录核验。",
            en: "Checked by the server against the log's key and the live log.",
        })
    );
    let title = format!("扫码核验 · {}", words.get(lang));
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{SCAN_STYLE}</style></head><body>\n{b}</body></html>\n",
        lang.tag(),
        esc(&title)
    )
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
    fn the_label_size_follows_the_container_volume_hj_1276() {
        let size = |packaging: &str| {
            label_size(&Container {
                id: "X".into(),
                packaging: packaging.into(),
                quantity: None,
            })
            .0
            .mm()
        };
        // ≤ 50 L: 100 mm; over 50 to 450 L: 150 mm; 450 L and over: 200 mm.
        assert_eq!(size("20 L plastic can"), 100);
        assert_eq!(size("50L jerrycan"), 100);
        assert_eq!(size("25升塑料桶"), 100);
        assert_eq!(size("200 L steel drum"), 150);
        assert_eq!(size("55 gal drum"), 150);
        assert_eq!(size("0.2 m3 bin"), 150);
        assert_eq!(size("450 litres"), 200);
        assert_eq!(size("IBC 1000L"), 200);
        assert_eq!(size("1 m³ tote"), 200);
        assert_eq!(size("IBC"), 200);
        assert_eq!(size("吨袋"), 200);
        assert_eq!(size("ton bag"), 200);
        // Not volumes: a waste code's digits, a mass, a thickness.
        assert_eq!(packaging_litres("HW08 drum"), None);
        assert_eq!(packaging_litres("20 lb box"), None);
        assert_eq!(packaging_litres("3 mm steel"), None);
        // No volume named: what it holds in litres, else 150 mm, said on the page.
        let held = Container {
            id: "X".into(),
            packaging: "can".into(),
            quantity: Some(Quantity {
                amount: 18_000,
                unit: Unit::Ml,
            }),
        };
        assert_eq!(label_size(&held).0, LabelSize::Mm100);
        let (s, why) = label_size(&Container {
            id: "X".into(),
            packaging: "steel drum".into(),
            quantity: None,
        });
        assert_eq!(s, LabelSize::Mm150);
        assert!(why.contains("assumed"), "{why}");
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
