//! The console's map (`GET /app/map?plate=&from=&to=`, or `?manifest=N` for the window around a
//! load's hand-overs): the form is checked here (refusals in the page's language next to their
//! field) and the page (`web::app::console_map`) draws what the browser reads, signed, from
//! `GET /v1/vehicles/{plate}/track` and `GET /v1/anomalies`. The base map's tile URL is the
//! server's `--tile-url` ([`TileUrl`]).

use super::{chrome, page, query, to_home};
use crate::domain::codes::{ManifestNumber, Plate};
use crate::domain::DomainRules;
use crate::http::reader::{live, now};
use crate::http::Problem;
use crate::ledger::time::{DateAs, Timestamp};
use crate::web::app::console_map::{words, MapPage, MapQuery};
use crate::web::app::Lang;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

/// The base map's tile URL template (`{z}`, `{x}`, `{y}`), if the server was given one.
#[derive(Clone, Debug, Default)]
pub struct TileUrl(pub Option<String>);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/map", web::get().to(map_page));
}

const HOUR_MS: u64 = 3_600_000;

/// A time as the form shows it: `2026-12-01 08:30` (CST).
fn form_time(t: Timestamp) -> String {
    t.cst()[..16].to_string()
}

async fn map_page(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
    tiles: Option<web::Data<TileUrl>>,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    let Some(s) = s else {
        drop(d);
        return Ok(to_home());
    };
    let lang = c.lang;
    let say = |zh: &str, en: &str| match lang {
        Lang::Zh => zh.to_string(),
        Lang::En => en.to_string(),
    };
    let mut plate = query(&req, "plate").unwrap_or_default().trim().to_string();
    let mut from = query(&req, "from").unwrap_or_default().trim().to_string();
    let mut to = query(&req, "to").unwrap_or_default().trim().to_string();
    let mut errors: Vec<(&'static str, String)> = Vec::new();
    // `?manifest=N`: the truck of its hand-overs, from an hour before the first to a day after
    // the last (or now), for those who may see the load.
    if let Some(n) = query(&req, "manifest").filter(|_| plate.is_empty()) {
        let access = s.access();
        let m = ManifestNumber::parse(&n).ok().and_then(|n| d.manifest(&n));
        let m = m.filter(|m| access.may_see_manifest(m));
        let moved: Vec<_> = m
            .map(|m| {
                m.steps
                    .iter()
                    .filter(|x| x.vehicle.is_some())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        match (moved.first(), moved.last()) {
            (Some(first), Some(last)) => {
                plate = last
                    .vehicle
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                let a = first.time.unix_millis().saturating_sub(HOUR_MS);
                let b = (last.time.unix_millis() + 24 * HOUR_MS)
                    .min(now(&req).unix_millis().max(a + HOUR_MS));
                from = form_time(Timestamp::from_unix_millis(a));
                to = form_time(Timestamp::from_unix_millis(b));
            }
            _ => errors.push((
                "plate",
                say(
                    "该联单没有经车辆运输的交接记录（或您无权查看）",
                    "that manifest has no hand-over by a vehicle (or is not yours to see)",
                ),
            )),
        }
    }
    let mut q = None;
    if !plate.is_empty() || !from.is_empty() || !to.is_empty() {
        let p = match Plate::parse(&plate) {
            Ok(p) if d.vehicle(&p).is_some() => Some(p),
            Ok(p) => {
                errors.push((
                    "plate",
                    say(
                        &format!("{p} 不是登记车辆"),
                        &format!("{p} is not a registered vehicle"),
                    ),
                ));
                None
            }
            Err(_) if plate.is_empty() => {
                errors.push(("plate", say("请填写车牌号", "Give a plate")));
                None
            }
            Err(_) => {
                errors.push(("plate", say("车牌号格式不对：应如 苏E12345（省份简称、字母和5到6位字母数字）", "Not a plate: expected e.g. 苏E12345 (province, letter, 5 or 6 letters and digits)")));
                None
            }
        };
        let time = |name: &'static str, v: &str, errors: &mut Vec<(&'static str, String)>| {
            if v.is_empty() {
                return None;
            }
            Timestamp::parse_human(v, DateAs::for_bound(name))
                .map_err(|_| {
                    errors.push((
                        name,
                        say(
                            "时间格式不对：应如 2026-12-01 或 2026-12-01 08:30（北京时间）",
                            "Not a time: expected e.g. 2026-12-01 or 2026-12-01 08:30 (CST)",
                        ),
                    ))
                })
                .ok()
        };
        let b = time("to", &to, &mut errors);
        let a = time("from", &from, &mut errors);
        let b = b.or_else(|| to.is_empty().then(|| now(&req)));
        let a = a.or_else(|| {
            (from.is_empty() && b.is_some()).then(|| {
                Timestamp::from_unix_millis(
                    b.map_or(0, |b| b.unix_millis())
                        .saturating_sub(24 * HOUR_MS),
                )
            })
        });
        if let (Some(a), Some(b)) = (a, b) {
            if b <= a {
                errors.push((
                    "to",
                    say("结束时间须晚于开始时间", "The end must be after the start"),
                ));
            } else if b.unix_millis() - a.unix_millis() > crate::http::track::MAX_WINDOW_MS {
                errors.push((
                    "to",
                    say("时间范围不能超过31天", "The window may be at most 31 days"),
                ));
            }
            if from.is_empty() {
                from = form_time(a);
            }
            if to.is_empty() {
                to = form_time(b);
            }
        }
        if let (Some(p), Some(a), Some(b), true) = (p, a, b, errors.is_empty()) {
            q = Some(MapQuery {
                plate: p.to_string(),
                from: a.to_string(),
                to: b.to_string(),
            });
        }
    }
    drop(d);
    let view = MapPage {
        words: words(lang),
        plate,
        from,
        to,
        errors,
        query: q,
        tile_url: tiles.and_then(|t| t.0.clone()),
        c,
    };
    page(&req, view.render())
}
