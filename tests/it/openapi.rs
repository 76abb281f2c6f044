//! The API document (`src/http/openapi.json`, served at `/v1/openapi.json`) is the API: every
//! route the code registers is in it, every path and method in it is served, and every real
//! answer of a populated waste log matches the schema the document gives for its status and
//! media type (request bodies sent match theirs too). The schemas are checked by a small
//! validator of the JSON Schema subset the document uses; a keyword it does not know fails the
//! test, so no rule in the document goes unchecked.

use crate::support::{authority, key, pk, signed};
use crate::world::{World, PLATE_A};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use wasteledger::ledger::cosignature::{cosign, WitnessKey};

const DOC: &str = include_str!("../../src/http/openapi.json");

fn doc() -> Value {
    serde_json::from_str(DOC).expect("openapi.json is JSON")
}

/// (METHOD, path template) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// Routes written in src/http/*.rs: `.route("PATH", web::METHOD()...)` and
/// `web::resource("PATH").route(web::METHOD()...)...`. Routes of the witness's own server
/// (`witness_server`, a separate tlog-witness endpoint, not the log's API) are left out.
fn registered() -> BTreeSet<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut routes = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap();
        let src = match src.find("pub fn witness_server") {
            Some(cut) => {
                // Everything of the witness server's function, up to its end.
                let end = src[cut..].find("\n}\n").map_or(src.len(), |e| cut + e);
                format!("{}{}", &src[..cut], &src[end..])
            }
            None => src,
        };
        let squeezed: String = src.split_whitespace().collect::<Vec<_>>().join("");
        assert!(
            !squeezed.contains("scope(\""),
            "{}: routes under web::scope are not read by this scan; register full paths or teach it scopes",
            file.display()
        );
        let method_after = |s: &str| -> Option<String> {
            ["get", "post", "put", "patch", "delete"]
                .iter()
                .filter_map(|m| s.find(&format!("::{m}()")).map(|at| (at, m)))
                .min()
                .map(|(_, m)| m.to_uppercase())
        };
        let mut rest = squeezed.as_str();
        // The next `route("` or `resource("`, whichever comes first.
        while let Some(at) = [rest.find("route(\""), rest.find("resource(\"")]
            .into_iter()
            .flatten()
            .min()
        {
            let is_resource = rest[at..].starts_with("resource(");
            let open = at + rest[at..].find('"').unwrap() + 1;
            let close = open + rest[open..].find('"').unwrap();
            let path = rest[open..close].to_string();
            rest = &rest[close..];
            if is_resource {
                // Its methods: `.route(X::m()` up to the end of the service.
                let end = rest
                    .find(").route(\"")
                    .or(rest.find(';'))
                    .unwrap_or(rest.len());
                let mut part = &rest[..end];
                while let Some(r) = part.find(".route(") {
                    part = &part[r + 7..];
                    let m = method_after(part).unwrap_or_else(|| {
                        panic!("{}: no method for resource {path}", file.display())
                    });
                    routes.insert((m, path.clone()));
                }
            } else {
                let m = method_after(rest)
                    .unwrap_or_else(|| panic!("{}: no method for route {path}", file.display()));
                routes.insert((m, path));
            }
        }
    }
    // The web application's pages (src/http/app.rs) are for people, not the API: the
    // browser tests drive them.
    routes.retain(|(_, path)| path != "/app" && !path.starts_with("/app/"));
    // The log's C2SP tlog-tiles (src/http/tiles.rs) are that specification's resources, not
    // this API's: tests/it/tiles.rs reads them as a tiles client does.
    routes.retain(|(_, path)| path != "/checkpoint" && !path.starts_with("/tile/"));
    routes
}

#[test]
fn every_route_registered_in_the_code_is_in_the_api_document_and_no_other() {
    let doc = doc();
    let documented = documented(&doc);
    let registered = registered();
    assert!(
        registered.len() >= 35,
        "the route scan found only {}: {registered:?}",
        registered.len()
    );
    let missing: Vec<_> = registered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "served but not in src/http/openapi.json: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        extra.is_empty(),
        "in src/http/openapi.json but not registered in src/http: {extra:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The validator.

/// Keywords the validator applies; annotations it allows and ignores.
const APPLIED: &[&str] = &[
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "oneOf",
    "anyOf",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
];
const ANNOTATIONS: &[&str] = &["description", "title", "examples", "format"];

struct Validator<'a> {
    doc: &'a Value,
}

impl Validator<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("$ref {r}: only #/components/schemas/ is used"));
                let s = &self.doc["components"]["schemas"][name];
                assert!(!s.is_null(), "$ref {r}: no such schema");
                s
            }
            None => schema,
        }
    }

    /// Every way `v` (at `at`) breaks `schema`.
    fn check(&self, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
        let obj = schema
            .as_object()
            .unwrap_or_else(|| panic!("schema at {at} is not an object: {schema}"));
        for k in obj.keys() {
            assert!(
                APPLIED.contains(&k.as_str()) || ANNOTATIONS.contains(&k.as_str()),
                "the document's schema at {at} uses `{k}`, which this validator does not apply"
            );
        }
        if obj.contains_key("$ref") {
            assert_eq!(obj.len(), 1, "$ref with siblings at {at}: {schema}");
            return self.check(self.resolve(schema), v, at, errs);
        }
        if let Some(t) = obj.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap()).collect(),
                _ => panic!("type at {at}: {t}"),
            };
            let is = |t: &str| match t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "boolean" => v.is_boolean(),
                "null" => v.is_null(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                other => panic!("unknown type {other} at {at}"),
            };
            if !types.iter().any(|t| is(t)) {
                errs.push(format!("{at}: expected {}, got {v}", types.join(" or ")));
                return;
            }
        }
        if let Some(c) = obj.get("const") {
            if c != v {
                errs.push(format!("{at}: expected {c}, got {v}"));
            }
        }
        if let Some(e) = obj.get("enum") {
            if !e.as_array().unwrap().contains(v) {
                errs.push(format!("{at}: {v} is not one of {e}"));
            }
        }
        if let Some(n) = v.as_f64() {
            if let Some(min) = obj.get("minimum").and_then(Value::as_f64) {
                if n < min {
                    errs.push(format!("{at}: {v} is below the minimum {min}"));
                }
            }
            if let Some(max) = obj.get("maximum").and_then(Value::as_f64) {
                if n > max {
                    errs.push(format!("{at}: {v} is above the maximum {max}"));
                }
            }
        }
        // A length (of a string in characters, of an array in items) within its bounds.
        let mut length = |n: usize, min: &str, max: &str| {
            let n = n as u64;
            if let Some(m) = obj.get(min).and_then(Value::as_u64).filter(|m| n < *m) {
                errs.push(format!("{at}: {n} long, below {min} {m}"));
            }
            if let Some(m) = obj.get(max).and_then(Value::as_u64).filter(|m| n > *m) {
                errs.push(format!("{at}: {n} long, above {max} {m}"));
            }
        };
        if let Some(s) = v.as_str() {
            length(s.chars().count(), "minLength", "maxLength");
        }
        if let Some(a) = v.as_array() {
            length(a.len(), "minItems", "maxItems");
        }
        if let Some(o) = v.as_object() {
            let props = obj.get("properties").and_then(Value::as_object);
            for r in obj
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let r = r.as_str().unwrap();
                if !o.contains_key(r) {
                    errs.push(format!("{at}: required field `{r}` is missing"));
                }
            }
            for (k, x) in o {
                let here = format!("{at}.{k}");
                match (
                    props.and_then(|p| p.get(k)),
                    obj.get("additionalProperties"),
                ) {
                    (Some(s), _) => self.check(s, x, &here, errs),
                    (None, Some(Value::Bool(false))) => {
                        errs.push(format!("{at}: field `{k}` is not in the document"))
                    }
                    (None, Some(Value::Bool(true))) | (None, None) => {}
                    (None, Some(s)) => self.check(s, x, &here, errs),
                }
            }
        }
        if let Some(a) = v.as_array() {
            if let Some(items) = obj.get("items") {
                for (i, x) in a.iter().enumerate() {
                    self.check(items, x, &format!("{at}[{i}]"), errs);
                }
            }
        }
        for (kw, exactly_one) in [("oneOf", true), ("anyOf", false)] {
            let Some(alts) = obj.get(kw).and_then(Value::as_array) else {
                continue;
            };
            let results: Vec<(usize, Vec<String>)> = alts
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut e = Vec::new();
                    self.check(s, v, &format!("{at}<{kw}[{i}]>"), &mut e);
                    (i, e)
                })
                .collect();
            let matched = results.iter().filter(|(_, e)| e.is_empty()).count();
            if matched == 0 {
                // The alternative whose constant (`type`, `view`) the value has, when there is one:
                // its own errors say most.
                let named = results.iter().find(|(i, _)| {
                    let s = self.resolve(&alts[*i]);
                    s["properties"].as_object().is_some_and(|p| {
                        p.iter()
                            .any(|(k, ps)| ps.get("const").is_some_and(|c| v.get(k) == Some(c)))
                    })
                });
                match named {
                    Some((_, e)) => errs.extend(e.iter().cloned()),
                    None => errs.push(format!(
                        "{at}: matches none of {kw}: {}",
                        results
                            .iter()
                            .map(|(_, e)| e.join("; "))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    )),
                }
            } else if exactly_one && matched > 1 {
                errs.push(format!("{at}: matches {matched} of oneOf"));
            }
        }
    }

    fn errors(&self, schema: &Value, v: &Value, at: &str) -> Vec<String> {
        let mut errs = Vec::new();
        self.check(schema, v, at, &mut errs);
        errs
    }
}

#[test]
fn the_validator_finds_a_missing_required_field_an_unknown_field_and_a_wrong_type() {
    let doc = doc();
    let v = Validator { doc: &doc };
    let schema = json!({"$ref": "#/components/schemas/Receipt"});
    let good = json!({"index": 3, "leaf_hash": "AAAA", "tree_size": 4});
    assert_eq!(v.errors(&schema, &good, "r"), Vec::<String>::new());
    let e = v.errors(&schema, &json!({"index": 3, "leaf_hash": "AAAA"}), "r");
    assert!(e[0].contains("`tree_size` is missing"), "{e:?}");
    let mut extra = good.clone();
    extra["colour"] = json!("red");
    let e = v.errors(&schema, &extra, "r");
    assert!(e[0].contains("`colour` is not in the document"), "{e:?}");
    let e = v.errors(
        &schema,
        &json!({"index": "3", "leaf_hash": "AAAA", "tree_size": 4}),
        "r",
    );
    assert!(e[0].contains("r.index: expected integer"), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Real answers.

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

fn call(base: &str, method: &str, path: &str, body: &[u8], who: Option<&SigningKey>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header(
            "content-type",
            if body.first() == Some(&b'{') {
                "application/json"
            } else {
                "text/plain"
            },
        );
    if let Some(k) = who {
        let now =
            wasteledger::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now());
        req = req.header(
            "authorization",
            wasteledger::http::auth::header(k, method, path, now, body),
        );
    }
    let mut resp = agent
        .run(req.body(body.to_vec()).unwrap())
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    Answer {
        status: resp.status().as_u16(),
        content_type,
        body,
    }
}

/// Walks the API: each request is made to the real server, and its answer is checked against
/// the document.
struct Walk<'a> {
    doc: &'a Value,
    base: String,
    done: BTreeSet<(String, String)>,
    problems: Vec<String>,
}

impl Walk<'_> {
    /// `method path` (an instance of `template`), as `who`, with `body`: must succeed; its
    /// answer (and the body sent) must match the document. Returns the answer.
    fn ok(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        body: Option<Value>,
        who: Option<&SigningKey>,
    ) -> Answer {
        let raw = match &body {
            Some(Value::String(s)) => s.clone().into_bytes(),
            Some(v) => serde_json::to_vec(v).unwrap(),
            None => Vec::new(),
        };
        self.ok_raw(method, template, path, &raw, body.as_ref(), who)
    }

    fn ok_raw(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        raw: &[u8],
        sent: Option<&Value>,
        who: Option<&SigningKey>,
    ) -> Answer {
        let what = format!("{method} {template}");
        let op = &self.doc["paths"][template][method.to_lowercase()];
        assert!(op.is_object(), "{what} is not in the document");
        self.done.insert((method.to_string(), template.to_string()));
        let v = Validator { doc: self.doc };
        if let Some(sent) = sent {
            let content = &op["requestBody"]["content"];
            assert!(
                content.is_object(),
                "{what}: the document has no request body"
            );
            match sent {
                Value::String(_) => assert!(
                    content.get("text/plain").is_some(),
                    "{what}: a text body, but the document has {content}"
                ),
                _ => {
                    let schema = &content["application/json"]["schema"];
                    assert!(schema.is_object(), "{what}: no request schema");
                    for e in v.errors(schema, sent, &format!("{what} request")) {
                        self.problems.push(e);
                    }
                }
            }
        }
        let a = call(&self.base, method, path, raw, who);
        assert!(
            (200..300).contains(&a.status),
            "{what} ({path}): {} {}",
            a.status,
            String::from_utf8_lossy(&a.body)
        );
        let answer = &op["responses"][a.status.to_string()];
        assert!(
            answer.is_object(),
            "{what}: answered {}, which the document does not list",
            a.status
        );
        let media = a.content_type.split(';').next().unwrap().trim().to_string();
        let Some(content) = answer["content"].get(&media) else {
            self.problems.push(format!(
                "{what} {}: served as {media}, the document has {}",
                a.status, answer["content"]
            ));
            return a;
        };
        if media == "application/json" || media == "application/problem+json" {
            let body: Value = serde_json::from_slice(&a.body)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e})"));
            let schema = &content["schema"];
            if !schema.is_object() {
                self.problems
                    .push(format!("{what} {}: the document gives no schema", a.status));
            } else {
                let at = format!("{what} {}", a.status);
                self.problems.extend(v.errors(schema, &body, &at));
            }
        } else if media == "application/x-ndjson" {
            let schema = &content["schema"];
            if !schema.is_object() {
                self.problems.push(format!(
                    "{what} {}: the document gives no line schema",
                    a.status
                ));
                return a;
            }
            let text = String::from_utf8(a.body.clone()).unwrap();
            for (i, line) in text.lines().enumerate() {
                let line: Value = serde_json::from_str(line).unwrap();
                let at = format!("{what} line {}", i + 1);
                self.problems.extend(v.errors(schema, &line, &at));
            }
        }
        a
    }
}

fn json_of(a: &Answer) -> Value {
    serde_json::from_slice(&a.body).unwrap()
}

#[test]
fn every_route_in_the_api_document_answers_a_real_request_as_its_schemas_say() {
    let dir = tempfile::tempdir().unwrap();
    let wkey_file = dir.path().join("w1.pem");
    let wkey = key(61);
    wasteledger::keyfile::write(&wkey_file, &wkey).unwrap();
    let witness = WitnessKey::new("w1", wkey.verifying_key()).unwrap();
    let w = World::start_with(dir.path(), &["--witness", &witness.to_string()]);
    let doc = doc();
    let mut walk = Walk {
        doc: &doc,
        base: w.server.url.clone(),
        done: BTreeSet::new(),
        problems: Vec::new(),
    };
    let bureau = &w.bureau.key;

    // Writes: a manifest issued (201 naming it), a hand-over signed by one party (202).
    let issue = json!({
        "type": "manifest.issued", "reference": w.slip(), "stream": "hazardous", "generator": w.plant.id,
        "origin": "S-PLANT", "destination": "S-DISPOSAL",
        "haulers": [w.hauler_a.id],
        "lines": [{"code": "900-249-08", "name": "废矿物油 waste mineral oil", "form": "liquid", "hazards": ["T", "I"],
                   "containers": [{"id": "D1", "packaging": "200 L steel drum"}],
                   "quantity": {"amount": 340_000, "unit": "g"}}]
    });
    let submit = |walk: &mut Walk, body: Value, keys: &[&SigningKey]| {
        let e = signed(body, keys);
        let sent: Value = serde_json::from_slice(&e.to_bytes()).unwrap();
        walk.ok_raw(
            "POST",
            "/v1/events",
            "/v1/events",
            &e.to_bytes(),
            Some(&sent),
            None,
        )
    };
    let a = submit(&mut walk, issue, &[&w.plant.key]);
    assert_eq!(a.status, 201);
    let m = json_of(&a)["manifests"][0].as_str().unwrap().to_string();
    let salt = [7u8; 32];
    let driver = wasteledger::domain::personal::commit(&salt, "王建国");
    let mut h = w.handover(&m, &w.plant, &w.hauler_a, Some(PLATE_A), &[340_000]);
    h["driver"] = json!(driver.as_str());
    let a = submit(&mut walk, h, &[&w.plant.key, &w.hauler_a.key]);
    assert_eq!(a.status, 201);
    let m2 = w.issue_hazardous("S-DISPOSAL");
    let half = w.handover(
        &m2,
        &w.plant,
        &w.hauler_a,
        Some(PLATE_A),
        &[340_000, 120_000],
    );
    let a = submit(&mut walk, half, &[&w.plant.key]);
    assert_eq!(a.status, 202);
    let pending = json_of(&a)["pending"].as_str().unwrap().to_string();

    // The log.
    walk.ok(
        "GET",
        "/v1/log/checkpoint",
        "/v1/log/checkpoint",
        None,
        None,
    );
    walk.ok("GET", "/v1/log/key", "/v1/log/key", None, None);
    walk.ok(
        "GET",
        "/v1/log/entries/{index}",
        "/v1/log/entries/1",
        None,
        Some(bureau),
    );
    walk.ok(
        "GET",
        "/v1/log/entries",
        "/v1/log/entries?start=0&end=40",
        None,
        Some(bureau),
    );
    walk.ok(
        "GET",
        "/v1/log/proof/inclusion",
        "/v1/log/proof/inclusion?index=1",
        None,
        None,
    );
    walk.ok(
        "GET",
        "/v1/log/proof/consistency",
        "/v1/log/proof/consistency?from=1",
        None,
        None,
    );
    let served = walk.ok("GET", "/v1/openapi.json", "/v1/openapi.json", None, None);
    assert_eq!(
        json_of(&served),
        doc,
        "the served document is src/http/openapi.json"
    );

    // Witnesses: a cosignature taken, then served.
    let c = w.server.client();
    let (cp, note) = c.checkpoint(&c.verifier().unwrap()).unwrap();
    let cosigned = format!("{note}{}", cosign(&cp.body(), "w1", &wkey, 1_800_000_000));
    walk.ok(
        "POST",
        "/v1/log/cosignatures",
        "/v1/log/cosignatures",
        Some(json!(cosigned)),
        None,
    );
    walk.ok(
        "GET",
        "/v1/log/checkpoint/cosigned",
        "/v1/log/checkpoint/cosigned",
        None,
        None,
    );
    walk.ok("GET", "/v1/log/witnesses", "/v1/log/witnesses", None, None);

    // The domain's reads.
    let mp = format!("/v1/manifests/{m}");
    walk.ok("GET", "/v1/manifests/{number}", &mp, None, Some(bureau));
    walk.ok("GET", "/v1/manifests/{number}", &mp, None, None);
    walk.ok("GET", "/v1/manifests", "/v1/manifests", None, Some(bureau));
    let party = format!("/v1/parties/{}", w.plant.id);
    walk.ok("GET", "/v1/parties/{id}", &party, None, None);
    // A phone's key delegated by the plant (the event checked against its schema), then read
    // as the enrolment page reads it; and a party key and the authority's.
    let phone = key(62);
    // A year from now (a delegation lasts at most five years).
    let not_after = wasteledger::ledger::time::Timestamp::from_unix_millis(
        wasteledger::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now())
            .unix_millis()
            + 365 * 86_400_000,
    )
    .to_string();
    let a = submit(
        &mut walk,
        json!({"type": "key.delegated", "key": pk(&phone), "holder": w.plant.id, "label": "driver 1",
               "not_after": not_after}),
        &[&w.plant.key],
    );
    assert_eq!(a.status, 201);
    for k in [&phone, &w.plant.key, &authority()] {
        let path = format!("/v1/keys/{}", wasteledger::client::encode(&pk(k)));
        walk.ok("GET", "/v1/keys/{key}", &path, None, None);
    }
    let plate = format!("/v1/vehicles/{}", wasteledger::client::encode(PLATE_A));
    walk.ok("GET", "/v1/vehicles/{plate}", &plate, None, Some(bureau));
    walk.ok("GET", "/v1/sites/{id}", "/v1/sites/S-PLANT", None, None);
    walk.ok(
        "GET",
        "/v1/licences/{id}",
        "/v1/licences/L-HAUL-A",
        None,
        None,
    );
    let p = format!("/v1/pending/{pending}");
    walk.ok("GET", "/v1/pending/{hash}", &p, None, Some(&w.hauler_a.key));
    walk.ok("GET", "/v1/anomalies", "/v1/anomalies", None, Some(bureau));
    let q = format!("/v1/search?plate={}", wasteledger::client::encode(PLATE_A));
    walk.ok("GET", "/v1/search", &q, None, Some(bureau));
    let g = format!("{mp}/graph");
    const GRAPH: &str = "/v1/manifests/{number}/graph";
    walk.ok("GET", GRAPH, &g, None, Some(bureau));

    // QR codes, labels, the printed manifest, scans and the phone's page.
    let t = walk.ok(
        "GET",
        "/v1/manifests/{number}/token",
        &format!("{mp}/token"),
        None,
        Some(&w.plant.key),
    );
    let t = json_of(&t);
    for (template, suffix) in [
        ("/v1/manifests/{number}/qr.svg", "qr.svg"),
        ("/v1/manifests/{number}/qr.png", "qr.png"),
        (
            "/v1/manifests/{number}/containers/{id}/qr.svg",
            "containers/D1/qr.svg",
        ),
        (
            "/v1/manifests/{number}/containers/{id}/qr.png",
            "containers/D1/qr.png",
        ),
        ("/v1/manifests/{number}/labels", "labels"),
        ("/v1/manifests/{number}/print", "print"),
    ] {
        walk.ok(
            "GET",
            template,
            &format!("{mp}/{suffix}"),
            None,
            Some(&w.plant.key),
        );
    }
    let scan = json!({"payload": t["payload"]});
    walk.ok("POST", "/v1/scan", "/v1/scan", Some(scan), None);
    let token = t["token"].as_str().unwrap();
    walk.ok("GET", "/m/{token}", &format!("/m/{token}"), None, None);

    // Personal data: lodged, read, erased.
    let lodge = json!({"kind": "driver_name", "value": "王建国", "salt": hex::encode(salt)});
    walk.ok(
        "POST",
        "/v1/personal",
        "/v1/personal",
        Some(lodge),
        Some(&w.hauler_a.key),
    );
    let pp = format!("/v1/personal/{}", driver.as_str());
    walk.ok("GET", "/v1/personal/{commitment}", &pp, None, Some(bureau));
    let named = format!("/v1/persons?name={}", wasteledger::client::encode("王建国"));
    walk.ok("GET", "/v1/persons", &named, None, Some(bureau));
    walk.ok(
        "DELETE",
        "/v1/personal/{commitment}",
        &pp,
        None,
        Some(&authority()),
    );

    // Evidence bundles.
    let pull = json!({"type": "evidence.exported", "by": w.bureau.id, "case": "KS-2026-0042",
           "reason": "illegal dumping reported at Zhangpu", "manifests": [m],
           "at": "2026-11-29T09:00:00Z"});
    let e = signed(pull, &[bureau]);
    let sent: Value = serde_json::from_slice(&e.to_bytes()).unwrap();
    let b = walk.ok_raw(
        "POST",
        "/v1/bundles",
        "/v1/bundles",
        &e.to_bytes(),
        Some(&sent),
        None,
    );
    let exports = walk.ok("GET", "/v1/exports", "/v1/exports", None, Some(bureau));
    let index = json_of(&exports)["exports"][0]["index"].clone();
    assert!(index.is_u64(), "{}", String::from_utf8_lossy(&b.body));
    walk.ok(
        "GET",
        "/v1/bundles/{index}",
        &format!("/v1/bundles/{index}"),
        None,
        Some(bureau),
    );

    // The load goes on to the end (a track, delivery, weighing, receipt with a gap, treatment):
    // the later states' answers are checked too.
    let track = json!({"type": "vehicle.track", "plate": PLATE_A, "points": [
        {"at": "2026-11-23T09:00:00Z", "lat_e6": 31_350_000, "lon_e6": 121_000_000}]});
    let steps = [
        (track, &w.hauler_a.key, None),
        (
            w.handover(&m, &w.hauler_a, &w.disposal, Some(PLATE_A), &[340_000]),
            &w.hauler_a.key,
            Some(&w.disposal.key),
        ),
        (
            json!({"type": "custody.weighed", "manifest": m, "site": "S-DISPOSAL", "ticket": "WB-1",
                "gross": {"amount": 15_339_000, "unit": "g"}, "tare": {"amount": 15_000_000, "unit": "g"},
                "net": {"amount": 339_000, "unit": "g"}, "at": "2026-11-23T11:00:00Z"}),
            &w.disposal.key,
            None,
        ),
        (
            json!({"type": "custody.received", "manifest": m, "lines": [{"line": 0,
                "accepted": {"amount": 339_000, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"},
                "discrepancy": "quantity"}]}),
            &w.disposal.key,
            None,
        ),
        (
            json!({"type": "custody.treated", "manifest": m, "line": 0, "code": "R9",
                "quantity": {"amount": 339_000, "unit": "g"}}),
            &w.disposal.key,
            None,
        ),
    ];
    for (body, k1, k2) in steps {
        let keys: Vec<&SigningKey> = [Some(k1), k2].into_iter().flatten().collect();
        let a = submit(&mut walk, body, &keys);
        assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    }
    walk.ok("GET", "/v1/manifests/{number}", &mp, None, Some(bureau));
    walk.ok(
        "GET",
        "/v1/vehicles/{plate}",
        &plate,
        None,
        Some(&w.hauler_a.key),
    );
    let track = format!("{plate}/track");
    walk.ok(
        "GET",
        "/v1/vehicles/{plate}/track",
        &track,
        None,
        Some(bureau),
    );
    walk.ok("GET", "/v1/manifests", "/v1/manifests", None, Some(bureau));
    walk.ok("GET", "/v1/search", &q, None, Some(&w.plant.key));
    walk.ok("GET", GRAPH, &g, None, Some(bureau));
    let scan = json!({"payload": t["containers"][0]["payload"]});
    walk.ok(
        "POST",
        "/v1/scan",
        "/v1/scan",
        Some(scan),
        Some(&w.plant.key),
    );

    // Error answers: each operation asked anonymously with a value no path parameter takes
    // and a malformed body is refused with the document's Problem.
    let v = Validator { doc: &doc };
    for (method, template) in documented(&doc) {
        let mut path = template.clone();
        while let (Some(a), Some(b)) = (path.find('{'), path.find('}')) {
            path.replace_range(a..=b, "not~valid");
        }
        let a = call(&walk.base, &method, &path, b"{", None);
        if a.status < 400 {
            continue;
        }
        let what = format!("{method} {template} {}", a.status);
        assert!(
            a.content_type.starts_with("application/problem+json"),
            "{what}: {}",
            a.content_type
        );
        let body: Value = serde_json::from_slice(&a.body).unwrap();
        let op = &doc["paths"][&template][method.to_lowercase()];
        if !op["responses"][a.status.to_string()].is_object() {
            walk.problems.push(format!(
                "{what}: the document does not list this answer ({})",
                body["detail"]
            ));
        }
        let schema = json!({"$ref": "#/components/schemas/Problem"});
        walk.problems.extend(v.errors(&schema, &body, &what));
    }

    let not_walked: Vec<_> = documented(&doc).difference(&walk.done).cloned().collect();
    assert!(
        not_walked.is_empty(),
        "in the document but not requested by this test (add a request): {not_walked:?}"
    );
    assert!(
        walk.problems.is_empty(),
        "answers or requests that do not match src/http/openapi.json:\n{}",
        walk.problems.join("\n")
    );
}

#[test]
fn every_error_answer_in_the_document_is_the_shared_problem_schema() {
    let doc = doc();
    let mut wrong = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, answer) in op["responses"].as_object().into_iter().flatten() {
                if status.starts_with('2') {
                    let content = answer["content"].as_object();
                    if content.is_none_or(|c| c.is_empty()) {
                        wrong.push(format!("{method} {path} {status}: no media type"));
                    }
                    for (media, c) in content.into_iter().flatten() {
                        if media.ends_with("json") && !c["schema"].is_object() {
                            wrong.push(format!("{method} {path} {status} {media}: no schema"));
                        }
                    }
                    continue;
                }
                let schema = &answer["content"]["application/problem+json"]["schema"];
                if schema != &json!({"$ref": "#/components/schemas/Problem"}) {
                    wrong.push(format!("{method} {path} {status}: not the Problem schema"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The event schemas in the document, by `type`: (its fields other than `type`, required ones).
fn event_schemas(
    doc: &Value,
) -> std::collections::BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let s = &doc["components"]["schemas"];
    let mut out = std::collections::BTreeMap::new();
    for alt in s["Event"]["oneOf"].as_array().unwrap() {
        let name = alt["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
        let e = &s[name];
        let t = e["properties"]["type"]["const"]
            .as_str()
            .unwrap()
            .to_string();
        let names = |v: &Value| -> BTreeSet<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .or_else(|| {
                    v.as_array()
                        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                })
                .unwrap_or_default()
        };
        let mut fields = names(&e["properties"]);
        let mut required = names(&e["required"]);
        fields.remove("type");
        required.remove("type");
        out.insert(t, (fields, required));
    }
    out
}

/// Every domain event type has a schema in the document whose fields are exactly the ones the
/// log takes (as its parser names them when refusing an unknown field).
#[test]
fn the_documents_event_schemas_are_the_event_catalogue_field_for_field() {
    use wasteledger::domain::events::DomainEvent;
    use wasteledger::ledger::state::Refusal;
    let doc = doc();
    let schemas = event_schemas(&doc);
    let mut wrong = Vec::new();
    for t in DomainEvent::TYPES {
        let Some((fields, _)) = schemas.get(t) else {
            wrong.push(format!("{t}: no schema in components/schemas/Event"));
            continue;
        };
        let expected = match DomainEvent::parse(t, br#"{"zz_not_a_field": 1}"#) {
            Err(Refusal::Field { expected, .. }) => expected,
            other => panic!("{t}: an unknown field was not refused: {other:?}"),
        };
        // "one of `a`, `b`, got unknown field ..." or "`a`, got ..."
        let list = expected.split(", got").next().unwrap();
        let taken: BTreeSet<String> = list
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        assert!(
            !taken.is_empty(),
            "{t}: cannot read the fields from {expected:?}"
        );
        if &taken != fields {
            wrong.push(format!(
                "{t}: the log takes {taken:?}, the document has {fields:?}"
            ));
        }
    }
    let documented: BTreeSet<&str> = schemas.keys().map(String::as_str).collect();
    let known: BTreeSet<&str> = DomainEvent::TYPES
        .iter()
        .copied()
        .chain(["log.genesis", "key.added", "key.delegated", "key.revoked"])
        .collect();
    for extra in documented.difference(&known) {
        wrong.push(format!(
            "{extra}: in the document, not an event type the log knows"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every `METHOD /path` in README's request tables is in the document, and every operation
/// of the document is in a README table (path parameters compared by position, not name).
#[test]
fn the_readme_api_tables_name_exactly_the_documents_routes() {
    let readme = include_str!("../../README.md");
    let shape = |p: &str| -> String {
        p.split('/')
            .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut in_readme = BTreeSet::new();
    for row in readme.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split(" | ").next().unwrap();
        for span in first.split('`').skip(1).step_by(2) {
            let Some((method, path)) = span.split_once(' ') else {
                continue;
            };
            if !["GET", "POST", "DELETE", "PUT", "PATCH"].contains(&method) {
                continue;
            }
            let path = path.split(['?', ' ']).next().unwrap();
            in_readme.insert((method.to_string(), shape(path)));
        }
    }
    let documented: BTreeSet<(String, String)> = documented(&doc())
        .into_iter()
        .map(|(m, p)| (m, shape(&p)))
        .collect();
    let not_documented: Vec<_> = in_readme.difference(&documented).collect();
    let not_in_readme: Vec<_> = documented.difference(&in_readme).collect();
    assert!(
        not_documented.is_empty() && not_in_readme.is_empty(),
        "in README's tables but not the document: {not_documented:?}\nin the document but not README's tables: {not_in_readme:?}"
    );
}

/// Every keyword of every schema in the document (used by an answer or not) is one the
/// validator applies or an annotation, and every `$ref` names a schema that exists.
#[test]
fn every_schema_in_the_document_uses_only_keywords_the_validator_applies() {
    fn walk(doc: &Value, schema: &Value, at: &str, wrong: &mut Vec<String>) {
        let Some(obj) = schema.as_object() else {
            wrong.push(format!("{at}: not a schema object"));
            return;
        };
        for (k, x) in obj {
            let here = format!("{at}/{k}");
            match k.as_str() {
                "$ref" => {
                    let name = x.as_str().unwrap_or_default();
                    let found = name
                        .strip_prefix("#/components/schemas/")
                        .is_some_and(|n| doc["components"]["schemas"][n].is_object());
                    if !found {
                        wrong.push(format!("{here}: {x} names no schema"));
                    }
                }
                "properties" => {
                    for (name, p) in x.as_object().into_iter().flatten() {
                        walk(doc, p, &format!("{here}/{name}"), wrong);
                    }
                }
                "items" => walk(doc, x, &here, wrong),
                "additionalProperties" if !x.is_boolean() => walk(doc, x, &here, wrong),
                "oneOf" | "anyOf" => {
                    for (i, alt) in x.as_array().into_iter().flatten().enumerate() {
                        walk(doc, alt, &format!("{here}/{i}"), wrong);
                    }
                }
                k if APPLIED.contains(&k) || ANNOTATIONS.contains(&k) => {}
                _ => wrong.push(format!("{here}: `{k}` is not applied by the validator")),
            }
        }
    }
    let doc = doc();
    let mut wrong = Vec::new();
    for (name, s) in doc["components"]["schemas"].as_object().unwrap() {
        walk(&doc, s, &format!("components/schemas/{name}"), &mut wrong);
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let bodies = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(st, a)| (st.clone(), &a["content"]))
                .chain([("request".to_string(), &op["requestBody"]["content"])]);
            for (what, content) in bodies {
                for (media, c) in content.as_object().into_iter().flatten() {
                    let at = format!("{method} {path} {what} {media}");
                    match c.get("schema") {
                        Some(s) => walk(&doc, s, &at, &mut wrong),
                        None => wrong.push(format!("{at}: no schema")),
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
