//! The words pages show: every problem type the server can answer has its Chinese sentence.

use wasteledger::web::i18n::{problem_message, Lang, ProblemKind};

/// Every `type` slug `src/http` builds a problem with (`Problem::new(409, "wrong-state", …`,
/// `Problem::unavailable("busy", …`), read from the source.
fn problem_slugs() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut slugs = Vec::new();
    // src/http and its subdirectories (the web application's routes are in src/http/app/).
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = dirs.pop() {
        for f in std::fs::read_dir(d).unwrap() {
            let path = f.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for path in files {
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        for (call, skip_status) in [("Problem::new(", true), ("Problem::unavailable(", false)] {
            for (at, _) in src.match_indices(call) {
                let mut rest = src[at + call.len()..].trim_start();
                if skip_status {
                    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
                    if digits == 0 {
                        continue; // not a literal status: not a definition site
                    }
                    rest = rest[digits..]
                        .trim_start()
                        .trim_start_matches(',')
                        .trim_start();
                }
                if let Some(r) = rest.strip_prefix('"') {
                    slugs.push(r[..r.find('"').unwrap()].to_string());
                }
            }
        }
    }
    slugs.sort();
    slugs.dedup();
    slugs
}

#[test]
fn every_problem_type_the_server_answers_has_chinese_words() {
    let slugs = problem_slugs();
    assert!(
        slugs.len() > 30,
        "the scan found the problem types: {slugs:?}"
    );
    for slug in &slugs {
        let kind = ProblemKind::parse(slug)
            .unwrap_or_else(|| panic!("problem type {slug:?} has no words in web::i18n"));
        let p = serde_json::json!({"type": format!("urn:wasteledger:problem:{slug}"),
                                   "status": 400, "detail": "d", "field": "event.lines[0].quantity"});
        let (field, zh) = problem_message(Lang::Zh, &p);
        assert_eq!(field.as_deref(), Some("event.lines[0].quantity"));
        assert_eq!(zh, format!("第1行 数量：{}", kind.text().zh), "{slug}");
    }
}
