//! PURE: the console's linked search (`/app/search`) and the graph around one load
//! (`/app/graph?manifest=N`). The pages are shells: their scripts (`page-search.js`,
//! `page-graph.js`) ask the API with requests signed by this device's key (`GET /v1/search`,
//! `GET /v1/manifests/{n}/graph`: a session cookie may not search) and draw the answers. What
//! the scripts need to speak in words is written into the page ([`names`]): the registered
//! parties' and sites' names by id, and the signed-in party's.

use super::{Chrome, Lang};
use crate::domain::query::DomainQuery;
use askama::Template;
use serde_json::{json, Map, Value};

#[derive(Template)]
#[template(path = "search.html", config = "src/web/askama.toml")]
pub struct SearchPage {
    pub c: Chrome,
    /// Registered parties (USCC, name), by name.
    pub parties: Named,
    /// Registered sites (id, name), by name.
    pub sites: Named,
    /// [`names`], as JSON safe inside a `<script>` element.
    pub names: String,
}

#[derive(Template)]
#[template(path = "graph.html", config = "src/web/askama.toml")]
pub struct GraphPage {
    pub c: Chrome,
    /// The load at the centre (as given; the API checks it).
    pub number: String,
    pub names: String,
}

/// (id, name) pairs.
pub type Named = Vec<(String, String)>;

/// The registered parties and sites, each (id, name) sorted by name then id.
pub fn registry(d: &dyn DomainQuery) -> (Named, Named) {
    let mut parties: Vec<(String, String)> = d
        .parties()
        .iter()
        .map(|p| (p.id.to_string(), p.name.clone()))
        .collect();
    let mut sites: Vec<(String, String)> = d
        .sites()
        .iter()
        .map(|s| (s.reg.site.as_str().to_string(), s.reg.name.clone()))
        .collect();
    let by_name = |a: &(String, String), b: &(String, String)| a.1.cmp(&b.1).then(a.0.cmp(&b.0));
    parties.sort_by(by_name);
    sites.sort_by(by_name);
    (parties, sites)
}

/// `{"lang", "party": {USCC: name}, "site": {id: name}}` for the pages' scripts, as JSON safe
/// inside a `<script>` element. The registry is public on the log; a deployment's registry
/// (hundreds to a few thousand parties) keeps this to tens of kilobytes.
pub fn names(d: &dyn DomainQuery, lang: Lang) -> String {
    let (parties, sites) = registry(d);
    let map = |v: Named| -> Map<String, Value> {
        v.into_iter().map(|(k, n)| (k, Value::String(n))).collect()
    };
    super::manifest::script_json(&json!({
        "lang": lang.tag(),
        "party": map(parties),
        "site": map(sites),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fold::Domain;

    fn chrome(lang: Lang) -> Chrome {
        super::super::test_chrome(lang, "/app/search")
    }

    #[test]
    fn the_pages_carry_their_scripts_and_escape_what_they_show() {
        let page = SearchPage {
            c: chrome(Lang::Zh),
            parties: vec![("91320583MA1MXK7P33".into(), "<b>华辰</b>".into())],
            sites: vec![],
            names: "{}".into(),
        };
        let html = page.render().unwrap();
        assert!(html.contains("page-search.js") && html.contains("联单关联查询"));
        assert!(
            !html.contains("<b>华辰") && html.contains("华辰"),
            "escaped"
        );
        let g = GraphPage {
            c: chrome(Lang::En),
            number: "\"><script>".into(),
            names: "{}".into(),
        }
        .render()
        .unwrap();
        assert!(g.contains("page-graph.js") && !g.contains("\"><script>"));
    }

    #[test]
    fn names_cannot_end_the_script_element() {
        let d = Domain::new(
            std::sync::Arc::new(crate::domain::catalog::Catalog::builtin()),
            Default::default(),
        );
        let n = names(&d, Lang::Zh);
        let v: Value = serde_json::from_str(&n).unwrap();
        assert_eq!(v["lang"], "zh-CN");
        assert!(!n.contains('<'));
    }
}
