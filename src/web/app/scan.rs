//! PURE: the driver's scan page (`/app/scan`) and the outbox page (`/app/outbox`). The pages are
//! shells: their scripts (`page-scan.js`, `page-outbox.js`) read the code, check it in the
//! browser against the log's verifier key and show what will be signed. What the scripts need
//! to speak without the network is written into the page ([`words`]): the offline worker keeps
//! the page, so the words travel with it.

use super::{Chrome, Lang};
use crate::domain::query::DomainQuery;
use crate::web::i18n;
use askama::Template;
use serde_json::{json, Map, Value};

#[derive(Template)]
#[template(path = "scan.html", config = "src/web/askama.toml")]
pub struct ScanPage {
    pub c: Chrome,
    /// [`words`], as JSON safe inside a `<script>` element.
    pub words: String,
}

#[derive(Template)]
#[template(path = "outbox.html", config = "src/web/askama.toml")]
pub struct OutboxPage {
    pub c: Chrome,
    pub words: String,
}

/// What the scan and outbox scripts read offline: the domain's words in the page's language
/// (`i18n::js_table`), the listed wastes' names and hazards by code, the construction-waste
/// types' names, the registered sites' names by id, and the signed-in party (`party`, or null).
pub fn words(d: &dyn DomainQuery, lang: Lang, party: Option<&str>) -> String {
    let pick = |zh: &str, en: &str| match lang {
        Lang::Zh => zh.to_string(),
        Lang::En => en.to_string(),
    };
    let mut wastes = Map::new();
    for w in d.catalog().wastes() {
        let hazards: Vec<&str> = w.hazards.iter().map(|h| h.as_str()).collect();
        wastes.insert(
            w.code.as_str().to_string(),
            json!({"name": pick(&w.zh, &w.en), "hazards": hazards}),
        );
    }
    let mut categories = Map::new();
    for c in d.catalog().categories() {
        categories.insert(c.code.to_string(), json!(pick(&c.zh, &c.en)));
    }
    let sites: Map<String, Value> = d
        .sites()
        .iter()
        .map(|s| (s.reg.site.clone(), json!(s.reg.name)))
        .collect();
    let table: Value = serde_json::from_str(&i18n::js_table(lang)).unwrap_or(Value::Null);
    super::manifest::script_json(&json!({
        "i18n": table,
        "wastes": wastes,
        "categories": categories,
        "sites": sites,
        "party": party,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::Catalog;
    use crate::domain::fold::Domain;
    use crate::domain::model::Limits;

    #[test]
    fn the_words_carry_waste_names_and_statuses_in_the_page_language_and_stay_in_their_script() {
        let d = Domain::new(std::sync::Arc::new(Catalog::builtin()), Limits::default());
        let zh: Value = serde_json::from_str(&words(&d, Lang::Zh, Some("X</script>"))).unwrap();
        assert_eq!(zh["i18n"]["status"]["voided"], "已作废");
        assert_eq!(zh["wastes"]["900-249-08"]["hazards"], json!(["T", "I"]));
        assert!(zh["wastes"]["900-249-08"]["name"]
            .as_str()
            .unwrap()
            .contains('油'));
        let raw = words(&d, Lang::En, Some("X</script>"));
        assert!(!raw.contains("</script>"), "escaped for a script element");
        let en: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(en["i18n"]["status"]["in_transit"], "in transit");
    }

    #[test]
    fn the_scan_page_offers_camera_photo_and_paste_in_the_chosen_language() {
        let d = Domain::new(std::sync::Arc::new(Catalog::builtin()), Limits::default());
        let c = |lang| Chrome {
            lang,
            who: None,
            switch_href: "/app/scan?lang=en".into(),
            assets: "test",
        };
        let zh = ScanPage {
            c: c(Lang::Zh),
            words: words(&d, Lang::Zh, None),
        }
        .render()
        .unwrap();
        for id in [
            "scan-camera",
            "photo",
            "code",
            "plate-edit",
            "countersign",
            "words",
        ] {
            assert!(zh.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(zh.contains("扫码（摄像头）") && zh.contains("拍照识别"));
        assert!(zh.contains("page-scan.js?v=test"));
        let en = OutboxPage {
            c: c(Lang::En),
            words: words(&d, Lang::En, None),
        }
        .render()
        .unwrap();
        assert!(en.contains("Signed, not yet in the log") && en.contains("page-outbox.js"));
    }
}
