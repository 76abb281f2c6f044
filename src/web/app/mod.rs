//! PURE: the web application's pages (`/app/...`), rendered on the server from typed askama
//! templates (`src/web/templates/`, escaped by default). `http/app.rs` fills the views from
//! the domain's state and the session; the browser's script (`src/web/static/`) signs, scans
//! and queues. Every text is written in both languages where it is used (`Chrome::s`), so no
//! page can show a key instead of words; the domain's words come from `i18n`.

use askama::Template;

pub mod console_cases;
pub mod console_map;
pub mod console_queue;
pub mod console_search;
pub mod handover;
pub mod issue;
pub mod manifest;
pub mod receive;
pub mod scan;
pub mod timeline;
pub mod words;

pub use crate::web::i18n::Lang;

/// Who is signed in on this browser.
#[derive(Clone, Debug)]
pub struct Who {
    pub party_id: String,
    pub party_name: String,
    /// The party's roles, in words.
    pub roles: String,
    /// "company key", "device key", "authority", in words.
    pub key_kind: String,
    /// A device key's label (the staff number its party gave it).
    pub label: Option<String>,
    /// A device key's end of validity, CST.
    pub not_after: Option<String>,
}

/// What every page carries: language, who is signed in, the switch to the other language.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub lang: Lang,
    pub who: Option<Who>,
    /// This page in the other language.
    pub switch_href: String,
    /// The static files' version (cache busting).
    pub assets: &'static str,
}

impl Chrome {
    /// The Chinese or the English text, as the page's language asks.
    pub fn s<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        match self.lang {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// A tile on the home page: one job.
#[derive(Clone, Debug)]
pub struct Tile {
    pub href: String,
    pub title: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "home.html", config = "src/web/askama.toml")]
pub struct HomePage {
    pub c: Chrome,
    pub tiles: Vec<Tile>,
}

#[derive(Template)]
#[template(path = "enrol.html", config = "src/web/askama.toml")]
pub struct EnrolPage {
    pub c: Chrome,
}

#[derive(Template)]
#[template(path = "approve.html", config = "src/web/askama.toml")]
pub struct ApprovePage {
    pub c: Chrome,
    /// The signed-in key may delegate (a party's registered key, not a device key).
    pub can_approve: bool,
    /// Prefilled from the device's approval link.
    pub device: String,
    pub label: String,
    /// Registered persons of the party: (id, what to show).
    pub persons: Vec<(String, String)>,
}

/// The home page's tiles for a party's roles (`roles` as the domain names them).
pub fn tiles(c: &Chrome, roles: &[crate::domain::events::Role], may_approve: bool) -> Vec<Tile> {
    use crate::domain::events::Role;
    let mut t = Vec::new();
    let mut add = |href: &str, zh: (&str, &str), en: (&str, &str)| {
        let (title, note) = match c.lang {
            Lang::Zh => zh,
            Lang::En => en,
        };
        if !t.iter().any(|x: &Tile| x.href == href) {
            t.push(Tile {
                href: href.into(),
                title: title.into(),
                note: note.into(),
            });
        }
    };
    for r in roles {
        match r {
            Role::Hauler => {
                add(
                    "/app/loads",
                    ("今日运单", "待提货、运输中的联单"),
                    ("Today's loads", "to pick up and on the road"),
                );
                add(
                    "/app/scan",
                    ("扫码交接", "扫联单、容器或交接码"),
                    (
                        "Scan to hand over",
                        "a manifest, container or hand-over code",
                    ),
                );
            }
            Role::Generator => {
                add(
                    "/app/issue",
                    ("开具联单", "填写废物、容器、运输与去向"),
                    ("Issue a manifest", "waste, containers, hauler, destination"),
                );
                add(
                    "/app/loads",
                    ("本单位联单", "待交接、运输中、已接收"),
                    ("Our manifests", "to hand over, on the road, received"),
                );
                add(
                    "/app/scan",
                    ("扫码交接", "会签司机先签的交接码"),
                    ("Scan to hand over", "countersign what a driver signed"),
                );
            }
            Role::Station | Role::Receiver => {
                add(
                    "/app/incoming",
                    ("待接收", "到场车辆、过磅、接收、处置"),
                    ("Incoming", "arrivals, weighing, receipt, treatment"),
                );
                add(
                    "/app/scan",
                    ("扫码交接", "扫司机出示的交接码"),
                    ("Scan to hand over", "the code a driver shows"),
                );
            }
            Role::Inspector | Role::Enforcement | Role::Auditor => {
                add(
                    "/app/console",
                    ("督查首页", "联单统计、异常联单、证据调取"),
                    ("Console", "manifests by status, anomalies, evidence pulls"),
                );
                add(
                    "/app/search",
                    ("联单关联查询", "车牌、单位、场所、驾驶员与关系图"),
                    ("Linked search", "plate, company, site, driver; the graph"),
                );
                add(
                    "/app/scan",
                    ("扫码核验", "联单或容器二维码"),
                    ("Check a code", "a manifest or container code"),
                );
                add(
                    "/app/audit",
                    ("日志审计", "检查点、见证人、是否回滚"),
                    ("Log audit", "checkpoint, witnesses, roll-back check"),
                );
                add(
                    "/app/cases",
                    ("案件与证据包", "调取证据包、调取记录、案件摘要、离线核验"),
                    (
                        "Cases and bundles",
                        "pull a bundle, the pulls, a case summary, check offline",
                    ),
                );
                add(
                    "/app/map",
                    ("轨迹地图", "车辆轨迹、场所外停留、交接地点"),
                    ("Track map", "a truck's track, stops, hand-overs"),
                );
            }
        }
    }
    if may_approve {
        add(
            "/app/approve",
            ("批准设备", "司机手机等设备的密钥"),
            ("Approve a device", "drivers' phones and other devices"),
        );
    }
    add(
        "/app/scan",
        ("扫码核验", "联单或容器二维码"),
        ("Check a code", "a manifest or container code"),
    );
    t
}

/// A page's chrome for the views' unit tests: nobody signed in, the switch to English.
#[cfg(test)]
pub(crate) fn test_chrome(lang: Lang, path: &str) -> Chrome {
    Chrome {
        lang,
        who: None,
        switch_href: format!("{path}?lang=en"),
        assets: "test",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrome(lang: Lang) -> Chrome {
        test_chrome(lang, "/app")
    }

    #[test]
    fn pages_escape_what_they_show_and_speak_the_chosen_language() {
        let page = ApprovePage {
            c: chrome(Lang::Zh),
            can_approve: true,
            device: "\"><script>alert(1)</script>".into(),
            label: "A-1".into(),
            persons: vec![],
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"), "escaped");
        assert!(
            html.contains("请先在本机登录单位密钥"),
            "no one signed in: told so in Chinese"
        );
        let en = EnrolPage {
            c: chrome(Lang::En),
        }
        .render()
        .unwrap();
        assert!(en.contains("Enrol this device") && !en.contains("登记本机（"));
        assert!(en.contains("name=\"viewport\""));
    }
}
