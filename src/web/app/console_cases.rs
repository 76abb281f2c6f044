//! PURE: the console's cases and bundles (issue 14 item 6): `/app/check`, a case bundle checked
//! entirely in the browser against the log key pinned in the page (`wl-bundle.js`, a second
//! implementation of fixtures/bundle/FORMAT.md), and `/app/cases`, where an inspector or
//! enforcement officer picks manifests, signs the `evidence.exported` event in the browser,
//! downloads the bundle, lists the pulls and prints a case summary. The pages are shells:
//! `page-check.js` and `page-cases.js` do the work; what they need offline (the pinned key, the
//! domain's words) is written into the page.

use super::{Chrome, Lang};
use crate::web::i18n;
use askama::Template;
use serde_json::{json, Value};

#[derive(Template)]
#[template(path = "check.html", config = "src/web/askama.toml")]
pub struct CheckPage {
    pub c: Chrome,
    /// The log's note verifier key (`name+id+base64`): the one key a bundle is checked with.
    pub log_key: String,
    /// [`words`], as JSON safe inside a `<script>` element.
    pub words: String,
}

#[derive(Template)]
#[template(path = "cases.html", config = "src/web/askama.toml")]
pub struct CasesPage {
    pub c: Chrome,
    pub log_key: String,
    /// The signed-in party may pull case bundles (inspector or enforcement).
    pub may_pull: bool,
    pub words: String,
}

/// What the scripts read: the domain's words in the page's language, the pinned log key, the
/// signed-in party (USCC, or null) and the registered parties' names by USCC (`names`).
pub fn words(lang: Lang, log_key: &str, party: Option<&str>, names: Value) -> String {
    let table: Value = serde_json::from_str(&i18n::js_table(lang)).unwrap_or(Value::Null);
    super::manifest::script_json(&json!({
        "i18n": table,
        "log_key": log_key,
        "party": party,
        "names": names,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(lang: Lang) -> Chrome {
        Chrome {
            lang,
            who: None,
            switch_href: "/app/check?lang=en".into(),
            assets: "test",
        }
    }

    #[test]
    fn the_check_page_shows_the_pinned_key_and_keeps_its_words_in_their_script() {
        let key = "kunshan.wasteledger/log+94768df1+AYXR";
        let html = CheckPage {
            c: c(Lang::Zh),
            log_key: key.into(),
            words: words(Lang::Zh, key, Some("X</script>"), json!({})),
        }
        .render()
        .unwrap();
        assert!(html.contains(key) && html.contains("证据包核验"));
        assert!(html.contains("page-check.js?v=test"));
        assert!(!html.contains("X</script>"), "escaped for a script element");
        let en = CasesPage {
            c: c(Lang::En),
            log_key: key.into(),
            may_pull: false,
            words: words(Lang::En, key, None, json!({})),
        }
        .render()
        .unwrap();
        assert!(
            en.contains("Only inspectors and enforcement officers")
                && !en.contains("id=\"pull-form\"")
        );
    }
}
