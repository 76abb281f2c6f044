//! PURE: the console's map (`/app/map`, 轨迹地图). The page is a form (plate and a window in
//! China Standard Time, checked on the server, refusals next to their field) and a shell for
//! `page-map.js`, which reads the vehicle's track (`GET /v1/vehicles/{plate}/track`) and its
//! anomalies (`GET /v1/anomalies?vehicle=`), both signed with the device's key, and draws them
//! with the vendored Leaflet: the registered sites and their geofences, the track, the stops
//! outside every site, the hand-over places and the anomalies. Base tiles only when the server
//! was given a tile URL (`--tile-url`); without one the vector layers are drawn on a plain
//! background and the page fetches nothing outside the server. Coordinates are drawn as the log
//! holds them (WGS-84), never converted; the page says so.

use super::{Chrome, Lang};
use crate::web::i18n;
use askama::Template;
use serde_json::json;

#[derive(Template)]
#[template(path = "map.html", config = "src/web/askama.toml")]
pub struct MapPage {
    pub c: Chrome,
    /// The form's values, as given (or filled in).
    pub plate: String,
    pub from: String,
    pub to: String,
    /// Refusals by field (`plate`, `from`, `to`), in the page's language.
    pub errors: Vec<(&'static str, String)>,
    /// The window to draw, RFC 3339 UTC, when the form is complete and right.
    pub query: Option<MapQuery>,
    /// The base map's tile URL template, if the server was given one.
    pub tile_url: Option<String>,
    /// What the script needs: anomaly kinds in words, the problem words (JSON for a script).
    pub words: String,
}

/// A window that passed the checks.
#[derive(Clone, Debug)]
pub struct MapQuery {
    pub plate: String,
    pub from: String,
    pub to: String,
}

impl MapPage {
    /// The refusal for `field`, if any.
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, e)| e.as_str())
    }
}

/// The anomaly kinds in words, for the map's legend and list.
pub fn anomaly_kind(kind: &str, lang: Lang) -> &'static str {
    let (zh, en) = match kind {
        "overdue" => ("运输超时", "overdue"),
        "receipt_unconfirmed" => ("逾期未确认接收", "receipt not confirmed"),
        "quantity_gap" => ("数量不符", "quantity gap"),
        "not_licensed" => ("接收方无许可", "not licensed"),
        "licence_expired" => ("许可证过期", "licence expired"),
        "no_permit" => ("无运输许可", "no permit"),
        "capacity_exceeded" => ("超出许可能力", "capacity exceeded"),
        "vehicle_two_places" => ("同一车辆同时出现在两地", "vehicle in two places"),
        "too_fast" => ("行驶速度异常", "moved too fast"),
        "dwell_outside_sites" => ("在登记场所外停留", "stop outside every site"),
        "station_imbalance" => ("中转站进出不平衡", "station imbalance"),
        "site_balance" => ("工地出土与消纳不平衡", "site balance"),
        "wrong_vehicle" => ("车辆与交接记录不符", "wrong vehicle"),
        _ => ("其他异常", "other anomaly"),
    };
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// The script's words: anomaly kinds, site kinds and the i18n tables of the page's language.
pub fn words(lang: Lang) -> String {
    let kinds: serde_json::Map<String, serde_json::Value> =
        crate::investigate::detectors::AnomalyKind::ALL
            .iter()
            .map(|k| {
                (
                    k.as_str().to_string(),
                    json!(anomaly_kind(k.as_str(), lang)),
                )
            })
            .collect();
    let table: serde_json::Value =
        serde_json::from_str(&i18n::js_table(lang)).unwrap_or(serde_json::Value::Null);
    super::manifest::script_json(&json!({"kinds": kinds, "i18n": table}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(lang: Lang, errors: Vec<(&'static str, String)>, tile: Option<&str>) -> String {
        MapPage {
            c: Chrome {
                lang,
                who: None,
                switch_href: "/app/map?lang=en".into(),
                assets: "test",
            },
            plate: "苏E9C437".into(),
            from: "2026-11-24 00:00".into(),
            to: "\"><script>x</script>".into(),
            query: errors.is_empty().then(|| MapQuery {
                plate: "苏E9C437".into(),
                from: "2026-11-23T16:00:00Z".into(),
                to: "2026-11-24T16:00:00Z".into(),
            }),
            errors,
            tile_url: tile.map(String::from),
            words: words(lang),
        }
        .render()
        .unwrap()
    }

    #[test]
    fn the_map_page_names_its_datum_shows_refusals_by_their_field_and_passes_the_tile_url() {
        let zh = page(
            Lang::Zh,
            vec![("to", "结束时间须晚于开始时间".into())],
            None,
        );
        assert!(zh.contains("WGS-84") && zh.contains("坐标按日志原样"));
        assert!(zh.contains("结束时间须晚于开始时间"));
        assert!(!zh.contains("<script>x"), "escaped");
        assert!(
            !zh.contains("data-track="),
            "no window to draw while a field is refused"
        );
        assert!(zh.contains("vendor/leaflet.js?v=test") && zh.contains("page-map.js?v=test"));
        assert!(!zh.contains("data-tiles="));
        let en = page(
            Lang::En,
            vec![],
            Some("https://t.example/{z}/{x}/{y}.png?tk=a&b=1"),
        );
        let tiles = en
            .split("data-tiles=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(tiles, "https://t.example/{z}/{x}/{y}.png?tk=a&#38;b=1");
        assert!(en.contains("data-plate=\"苏E9C437\"") && en.contains("2026-11-23T16:00:00Z"));
        assert!(en.contains("stop outside every site") || en.contains("Stops outside every site"));
    }

    #[test]
    fn every_anomaly_kind_has_words_in_both_languages() {
        for k in crate::investigate::detectors::AnomalyKind::ALL {
            assert_ne!(anomaly_kind(k.as_str(), Lang::Zh), "其他异常", "{k:?}");
            assert_ne!(anomaly_kind(k.as_str(), Lang::En), "other anomaly", "{k:?}");
        }
    }
}
