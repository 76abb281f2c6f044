//! The console's dashboard and anomaly queue: `/app/console` (督查首页: counters of manifests
//! by stream and status, each a link to `/app/console/manifests`; anomalies by kind and the
//! latest pulls of evidence are read by its script with signed requests) and `/app/anomalies`
//! (异常联单: a shell whose script pages through `GET /v1/anomalies` and signs `case.noted`).
//! The counters and lists count only what the signed-in reader may list through
//! `GET /v1/manifests` (a session read), so they equal what that route answers.

use super::{chrome, page, query, to_home};
use crate::domain::events::Role;
use crate::domain::DomainRules;
use crate::http::auth::SeenRequests;
use crate::http::reader::{live, long_off_worker, now, viewer, Viewer};
use crate::http::Problem;
use crate::web::app::console_queue::{
    counts, list, parse_stream, AnomaliesPage, ConsolePage, Count, QueueFilter, MAX_LIST,
};
use crate::web::app::manifest::LoadsPage;
use crate::web::i18n;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/console", web::get().to(console))
        .route("/app/console/manifests", web::get().to(manifests))
        .route("/app/anomalies", web::get().to(anomalies));
}

/// May note what was done about an anomaly (`case.noted`): inspection or enforcement.
fn may_note(roles: &[Role]) -> bool {
    roles
        .iter()
        .any(|r| matches!(r, Role::Inspector | Role::Enforcement))
}

async fn console(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
) -> Result<HttpResponse, Problem> {
    let (c, s, v) = {
        let d = live(&rules)?;
        let (c, s) = chrome(&req, &*d)?;
        let v = s.as_ref().map(|_| viewer(&req, &seen, &*d)).transpose()?;
        (c, s, v)
    };
    let (Some(s), Some(v)) = (s, v) else {
        return Ok(to_home());
    };
    if matches!(v, Viewer::Anonymous | Viewer::Unknown) {
        return Ok(to_home());
    }
    let access = v.access();
    let (lang, now, note) = (c.lang, now(&req), may_note(&s.roles));
    // The counters scan every manifest the reader may see: off the async workers.
    let (streams, words) = long_off_worker(move || {
        let d = live(&rules)?;
        let streams = counts(&*d, lang, now, |m| access.may_see_manifest(m));
        let words = crate::web::app::console_queue::queue_words(&*d, lang, s.party.as_ref(), note);
        Ok((streams, words))
    })
    .await?;
    page(&req, ConsolePage { c, streams, words }.render())
}

/// `GET /app/console/manifests?stream=S&show=K`: the manifests behind one of the dashboard's
/// counters, newest first.
async fn manifests(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
    seen: web::Data<SeenRequests>,
) -> Result<HttpResponse, Problem> {
    let stream_q = query(&req, "stream").unwrap_or_default();
    let stream = parse_stream(&stream_q).ok_or_else(|| {
        Problem::bad_request(
            Some("stream"),
            format!(
                "query parameter `stream`: expected hazardous or construction, got {stream_q:?}"
            ),
        )
    })?;
    let show_q = query(&req, "show").unwrap_or_default();
    let show = Count::parse(&show_q).ok_or_else(|| {
        Problem::bad_request(
            Some("show"),
            format!(
                "query parameter `show`: expected one of {}, got {show_q:?}",
                Count::ALL.map(|c| c.key()).join(", ")
            ),
        )
    })?;
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    let v = viewer(&req, &seen, &*d)?;
    drop(d);
    if s.is_none() || matches!(v, Viewer::Anonymous | Viewer::Unknown) {
        return Ok(to_home());
    }
    let access = v.access();
    let (lang, now) = (c.lang, now(&req));
    // The list scans every manifest the reader may see: off the async workers.
    let (total, loads) = long_off_worker(move || {
        let d = live(&rules)?;
        Ok(list(&*d, lang, now, stream, show, |m| {
            access.may_see_manifest(m)
        }))
    })
    .await?;
    let more = if total > MAX_LIST {
        format!(" · {} {MAX_LIST}", c.s("显示最新", "showing the newest"))
    } else {
        String::new()
    };
    let title = format!(
        "{} · {} ({total}{more})",
        i18n::stream(stream).get(c.lang),
        show.text().get(c.lang)
    );
    page(&req, LoadsPage { c, title, loads }.render())
}

async fn anomalies(
    req: HttpRequest,
    rules: web::Data<DomainRules>,
) -> Result<HttpResponse, Problem> {
    let d = live(&rules)?;
    let (c, s) = chrome(&req, &*d)?;
    let Some(s) = s else {
        drop(d);
        return Ok(to_home());
    };
    let q = |name| query(&req, name).unwrap_or_default();
    let f = QueueFilter {
        kind: q("kind"),
        party: q("party"),
        site: q("site"),
        vehicle: q("vehicle"),
        from: q("from"),
        to: q("to"),
        state: q("state"),
    };
    let view = AnomaliesPage::new(c, &*d, f, s.party.as_ref(), may_note(&s.roles));
    drop(d);
    page(&req, view.render())
}
