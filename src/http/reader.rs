//! The reader of a request: who is reading (a signed request's key, or a page's session, as a
//! [`Viewer`]), what they may see (their [`Access`], whose rules are the domain's:
//! `domain::access`), and the time they read at: the clock the [`Ledger`] was built with
//! ([`now`]), never the wall clock, so what a reader is shown (overdue flags, key lapses,
//! anomalies' `as_of`, a signed request's window) goes by the log's time; and the language
//! of the pages rendered for them ([`page_lang`]).

use super::auth::SeenRequests;
use super::Problem;
use crate::domain::access::Access;
use crate::domain::codes::Uscc;
use crate::domain::events::Role;
use crate::domain::model::Manifest;
use crate::domain::query::DomainQuery;
use crate::domain::{DomainRead, DomainRules};
use crate::ledger::event::PublicKey;
use crate::ledger::time::Timestamp;
use crate::store::Ledger;
use crate::web::app::Lang;
use actix_web::http::header;
use actix_web::{web, HttpRequest};

/// Who is reading.
pub enum Viewer {
    Anonymous,
    Authority,
    Party {
        id: Uscc,
        roles: Vec<Role>,
    },
    /// A registered key whose party is not known (cannot happen for keys the domain admitted).
    Unknown,
}

impl Viewer {
    /// What this reader may see.
    pub fn access(&self) -> Access {
        match self {
            Viewer::Authority => Access::All,
            Viewer::Party { id, roles } => Access::of_party(id, roles),
            Viewer::Anonymous | Viewer::Unknown => Access::Public,
        }
    }

    pub(super) fn sees_all(&self) -> bool {
        match self {
            Viewer::Authority => true,
            Viewer::Party { roles, .. } => Access::oversees(roles),
            _ => false,
        }
    }

    pub(super) fn sees(&self, m: &Manifest) -> bool {
        self.access().may_see_manifest(m)
    }
}

/// The time by the clock the server's ledger was built with (`Ledger::now`): the one time the
/// server reads at.
pub(super) fn now(req: &HttpRequest) -> Timestamp {
    req.app_data::<web::Data<Ledger>>()
        .expect("the server registers its ledger with every app")
        .now()
}

/// The domain's state for a reader, or 503 after a failed write (the read model in memory may
/// hold the failed batch until the store reopened the database from disk).
pub(super) fn live(rules: &DomainRules) -> Result<DomainRead<'_>, Problem> {
    rules.read_durable().map_err(|cause| {
        Problem::unavailable(
            "storage-failed",
            "Log storage failed",
            format!("the log could not make a write durable ({cause}); its state is read again once the disk takes writes, try again shortly"),
            2,
        )
    })
}

pub(super) fn viewer(
    req: &HttpRequest,
    seen: &SeenRequests,
    d: &dyn DomainQuery,
) -> Result<Viewer, Problem> {
    viewer_with_body(req, &[], seen, d)
}

/// Who sent a request whose signature also covers `body`.
pub(super) fn viewer_with_body(
    req: &HttpRequest,
    body: &[u8],
    seen: &SeenRequests,
    d: &dyn DomainQuery,
) -> Result<Viewer, Problem> {
    let given = req.headers().get("authorization");
    // A header that is not text is refused as a header, never read as no header.
    let header = given.map(|v| v.to_str().unwrap_or("(not text)"));
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let now = now(req);
    let key: Option<PublicKey> = match header {
        // A page's reads carry the session cookie instead (`session.rs`): reads only, and
        // only what the pages read.
        None if matches!(req.method().as_str(), "GET" | "HEAD") && session_reads(req.path()) => {
            session_key(req)
        }
        _ => seen.check(header, req.method().as_str(), pq, body, now)?,
    };
    Ok(match key {
        None => Viewer::Anonymous,
        Some(k) if Some(k) == d.authority() => Viewer::Authority,
        Some(k) => match d.party_of_at(&k, now).and_then(|p| d.party(&p)) {
            Some(p) => Viewer::Party {
                id: p.id.clone(),
                roles: p.roles.clone(),
            },
            None => Viewer::Unknown,
        },
    })
}

/// What a session cookie may read: the application's pages and the manifests, hand-over
/// halves and registry entries they show. Personal data, persons, searches, the log's raw
/// entries, exports and bundles stay behind a signature on each request.
pub(super) fn session_reads(path: &str) -> bool {
    path == "/app"
        || path.starts_with("/app/")
        || path.starts_with("/v1/manifests/")
        || path == "/v1/manifests"
        || path.starts_with("/v1/pending/")
        || path.starts_with("/v1/parties/")
        || path.starts_with("/v1/vehicles/")
        || path.starts_with("/v1/sites/")
        || path.starts_with("/v1/keys/")
}

/// The key a request's session cookie names, if it names a live one.
pub(super) fn session_key(req: &HttpRequest) -> Option<PublicKey> {
    let sessions = req.app_data::<web::Data<super::session::Sessions>>()?;
    sessions.key(super::session::cookie(req)?, now(req).unix_millis())
}

/// Refuse a reader who may not see everything: 401 when anonymous, 403 when signed.
pub(super) fn require_sees_all(v: &Viewer, what: &str) -> Result<(), Problem> {
    match v {
        _ if v.sees_all() => Ok(()),
        Viewer::Anonymous => Err(Problem::new(
            401,
            "unauthenticated",
            "Signed request required",
            format!("{what} are served to inspectors, enforcement, auditors and the authority: sign the request with such a key (WL-Ed25519)"),
        )
        .field("Authorization")),
        _ => Err(Problem::new(
            403,
            "forbidden",
            "Not for this reader",
            format!("{what} are served to inspectors, enforcement, auditors and the authority only"),
        )
        .field("Authorization")),
    }
}

/// The nice value of the threads that do readers' work off the workers (`off_worker`: a
/// manifest read, searches, lists, anomalies, bundles, tracks; the background anomaly scan).
const READER_NICE: i32 = 10;

/// Put the calling thread below the log's writer, at nice [`READER_NICE`]: when readers keep
/// both cores busy, the kernel gives the workers taking events, the intake verifying them and
/// the sequencer the cores first, and the reads what is left (README: appends beside readers).
/// Not lower, and not the idle policy: a reader still takes locks the sequencer waits for (the
/// commit gate for each lookup or run of a scan, `store::readmodel`; sled's own for each
/// read), and a reader preempted while holding one holds the writer until it runs again. At
/// nice 10 that is soon; under the idle policy, while other work kept the cores busy, it was
/// seconds (README). An unprivileged thread cannot raise itself again, hence threads kept for
/// this alone. A thread that cannot be lowered stays as it was.
pub(super) fn below_the_writer() {
    // SAFETY: getpriority and setpriority have no memory effects; `who` 0 with PRIO_PROCESS is
    // the calling thread on Linux.
    let now = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    // A server started lower than that already stays where it was.
    if now < READER_NICE && unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, READER_NICE) } != 0 {
        tracing::warn!(
            "a reader thread keeps the writer's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// The turn on a core a thread asks for while it does a long read (Linux 6.12 and later:
/// `sched_setattr`'s runtime of a thread under the normal policy). The kernel lets a thread that
/// wakes with a shorter turn than the running one's (every other thread: the default is about a
/// millisecond) take the core at once, where it let the running one end its turn first. So the
/// writer's threads (a worker with a driver's event, the intake, the sequencer after the disk
/// answered) no longer wait out a scan's turn at each of their hand-overs; at nice 10 alone, the
/// appends beside two readers went at 0.63 to 0.67 of their rate alone, with this at 0.88 to
/// 0.90 (README: appends beside readers). Lookups keep the default turn, so one that wakes
/// takes the core from a scan too.
const LONG_READ_TURN_NS: u64 = 10_000_000;

/// While held, the calling thread asks for long turns on a core ([`LONG_READ_TURN_NS`]); the
/// kernel's default again when dropped. On a kernel without turns of a thread's own choosing
/// nothing changes.
pub(super) struct LongTurns(());

impl LongTurns {
    pub(super) fn take() -> LongTurns {
        set_turn(LONG_READ_TURN_NS);
        LongTurns(())
    }
}

impl Drop for LongTurns {
    fn drop(&mut self) {
        set_turn(0);
    }
}

/// `struct sched_attr` of `sched_setattr(2)` (its first version and the utilisation clamps).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// Ask for turns of `ns` on a core for the calling thread (0: the kernel's default), keeping its
/// policy (normal) and nice value. Not on a thread under another policy.
fn set_turn(ns: u64) {
    // SAFETY: getpriority has no memory effects; `who` 0 with PRIO_PROCESS is the calling
    // thread on Linux.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    if unsafe { libc::sched_getscheduler(0) } != libc::SCHED_OTHER {
        return;
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        nice,
        runtime: ns,
        ..SchedAttr::default()
    };
    // SAFETY: the kernel reads `attr.size` bytes of `attr`, which lives across the call; pid 0
    // is the calling thread.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if r != 0 {
        tracing::debug!(
            "a reader thread keeps its turns on a core: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// The turn on a core the calling thread has (ns), as the kernel reports it.
#[cfg(test)]
fn turn() -> u64 {
    let mut attr = SchedAttr::default();
    // SAFETY: the kernel writes at most the size given into `attr`, which lives across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            std::mem::size_of::<SchedAttr>() as u32,
            0,
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    attr.runtime
}

/// Whether the calling thread runs below the writer ([`below_the_writer`]).
pub fn runs_below_the_writer() -> bool {
    // SAFETY: no memory effects; PRIO_PROCESS with 0 is the calling thread.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) >= READER_NICE }
}

/// The threads of readers' long work: the blocking pool of a runtime of their own, each thread
/// put below the writer as it starts (actix's own blocking pool also serves the witnesses'
/// cosignatures and the tiles, which must not run there).
fn reader_work() -> &'static tokio::runtime::Runtime {
    static POOL: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .thread_name("reader-work")
            .on_thread_start(below_the_writer)
            .max_blocking_threads(64)
            .build()
            .expect("a runtime for readers' long work")
    })
}

/// Run `work` on the threads of readers' long work ([`reader_work`], below the writer), off
/// the async workers, and wait for it there: a lookup (one manifest, a subject search) as it
/// is, a long read through [`long_off_worker`]. `work` takes its own view of the domain there
/// (a view does not cross an await).
pub(super) async fn off_worker<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    reader_work().spawn_blocking(work).await.map_err(|e| {
        // A panic's message is for the server's log, not for the reader.
        tracing::error!("a reader's work ended without an answer: {e}");
        Problem::new(
            500,
            "internal",
            "Internal error",
            "the read failed inside the server; it is logged there".to_string(),
        )
    })?
}

/// Run a long read (a scan, a list, a graph, a track, a bundle) like [`off_worker`], once one
/// of the [`long_read_slots`] is free: waiting takes no thread, and a client that leaves while
/// its read waits takes nothing. The slot is held until the work itself ends, even if the
/// client has gone by then.
pub(super) async fn long_off_worker<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    off_worker_in_turn(long_read_slots(), work).await
}

async fn off_worker_in_turn<T: Send + 'static>(
    slots: &std::sync::Arc<tokio::sync::Semaphore>,
    work: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the long reads' slots are never closed");
    off_worker(move || {
        let _slot = slot;
        let _turns = LongTurns::take();
        work()
    })
    .await
}

/// How many long reads run at once: one fewer than the cores the server may use, and at least
/// one. Readers who loop on scans would otherwise hold every core, and the log's writer, which
/// a driver at a gate waits on, would get a core only between their turns (README: appends
/// beside readers). A manifest read and a subject search are lookups and take no slot.
fn long_read_slots() -> &'static std::sync::Arc<tokio::sync::Semaphore> {
    static SLOTS: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = crate::ledger::parallel::cores();
        std::sync::Arc::new(tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1)))
    })
}

/// The language of every page the server renders (the application's and the public verdict
/// `/m/{token}`): `?lang=zh|en` (the switch in the top bar; `page` then remembers it in the
/// `wl_lang` cookie), else that cookie, else the browser's `Accept-Language`, else Chinese. The
/// bool says the URL chose it. Any other `?lang=` is refused, naming the parameter.
pub(super) fn page_lang(req: &HttpRequest) -> Result<(Lang, bool), Problem> {
    if let Some(v) = query(req, "lang") {
        return Lang::ALL
            .into_iter()
            .find(|l| l.param() == v || l.tag() == v)
            .map(|l| (l, true))
            .ok_or_else(|| {
                Problem::bad_request(
                    Some("lang"),
                    format!("query parameter `lang`: expected zh or en, got {v:?}"),
                )
            });
    }
    if let Some(v) = super::session::cookie_named(req, "wl_lang") {
        return Ok((Lang::from_tag(v), false));
    }
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|h| h.to_str().ok());
    Ok((Lang::from_tag(accept.unwrap_or("")), false))
}

/// The first value of the query parameter `name`, if the request has one.
pub(super) fn query(req: &HttpRequest, name: &str) -> Option<String> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()?
        .into_inner()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readers' long work runs below the writer, and actix's own blocking pool (the witnesses'
    /// cosignatures, the tiles) does not inherit it from a thread that did such work.
    #[actix_web::test]
    async fn long_reads_run_below_the_writer_and_other_blocking_work_does_not() {
        if runs_below_the_writer() {
            // The tests themselves were started as low (`nice -n 19 cargo test`): nothing to tell.
            return;
        }
        for _ in 0..4 {
            assert!(off_worker(|| Ok(runs_below_the_writer())).await.unwrap());
            assert!(!web::block(runs_below_the_writer).await.unwrap());
        }
        assert!(
            !runs_below_the_writer(),
            "the worker itself stays where it was"
        );
    }

    /// A long read asks for long turns on a core and gives them back when it ends; a lookup
    /// keeps the kernel's default (so it, like the writer's threads, takes the core from a
    /// long read as it wakes).
    #[actix_web::test]
    async fn long_reads_ask_for_long_turns_on_a_core_and_give_them_back() {
        let default = std::thread::spawn(turn).join().unwrap();
        let (during, after) = std::thread::spawn(|| {
            let during = {
                let _turns = LongTurns::take();
                turn()
            };
            (during, turn())
        })
        .join()
        .unwrap();
        if during == default {
            // A kernel before 6.12 keeps one turn for every thread under the normal policy.
            eprintln!("this kernel gives no thread turns of its own choosing: nothing to tell");
            return;
        }
        assert_eq!(during, LONG_READ_TURN_NS);
        assert_eq!(after, default);
        for _ in 0..4 {
            let long = long_off_worker(|| Ok(turn())).await.unwrap();
            assert_eq!(long, LONG_READ_TURN_NS);
            let lookup = off_worker(|| Ok(turn())).await.unwrap();
            assert_eq!(lookup, default);
        }
    }

    /// Long reads beyond the slots wait their turn without running; a lookup does not wait for
    /// them; a long read whose client left while it waited never runs.
    #[actix_web::test]
    async fn long_reads_take_turns_and_lookups_pass_them() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use std::time::Duration;
        let slots = Arc::new(tokio::sync::Semaphore::new(1));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let first = actix_web::rt::spawn({
            let slots = slots.clone();
            async move {
                off_worker_in_turn(&slots, move || {
                    held.recv().ok();
                    Ok(1)
                })
                .await
            }
        });
        while slots.available_permits() > 0 {
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
        let ran = |flag: &Arc<AtomicBool>| {
            let flag = flag.clone();
            move || {
                flag.store(true, Ordering::SeqCst);
                Ok(2)
            }
        };
        let (second_ran, left_ran) = (Arc::default(), Arc::default());
        let second = actix_web::rt::spawn({
            let (slots, work) = (slots.clone(), ran(&second_ran));
            async move { off_worker_in_turn(&slots, work).await }
        });
        let left = actix_web::rt::spawn({
            let (slots, work) = (slots.clone(), ran(&left_ran));
            async move { off_worker_in_turn(&slots, work).await }
        });
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !second_ran.load(Ordering::SeqCst),
            "a long read beyond the slots waits"
        );
        let lookup = actix_web::rt::time::timeout(Duration::from_secs(5), off_worker(|| Ok(3)));
        assert_eq!(
            lookup
                .await
                .expect("a lookup does not wait for long reads")
                .unwrap(),
            3
        );
        left.abort();
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(second.await.unwrap().unwrap(), 2);
        assert!(second_ran.load(Ordering::SeqCst));
        assert!(left.await.unwrap_err().is_cancelled());
        assert!(
            !left_ran.load(Ordering::SeqCst),
            "the read whose client left never ran"
        );
        assert_eq!(slots.available_permits(), 1, "every slot is free again");
    }
}
