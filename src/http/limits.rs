//! What one client may hold of the server: time to send a request's head and body, idle
//! keep-alive, connections at once, and the listen backlog. And the guard every request
//! passes: its body read under a deadline, every error answer made RFC 9457 problem details.
//!
//! actix-http bounds a connection's *first* request head (`header_timeout`, answered 408 by
//! actix-http itself, without a body) and idle keep-alive; it does not bound a request body.
//! [`guard`] does: the body is read through a stream that fails once `body_timeout` has passed
//! since the head arrived, and the answer is a 408 problem. The request payload is kept alive
//! inside the answer's body, so actix-http closes the connection after answering rather than
//! draining a body that may never end. [`watch`] closes a connection whose later request head
//! trickles in, or whose client stops reading an answer.

use super::Problem;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::rt::time::{sleep, Sleep};
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, ResponseError};
use futures_util::Stream;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The HTTP server's bounds (`serve` flags; see README "Limits").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time to send a connection's first request head (actix-http answers 408 and closes).
    pub header_timeout: Duration,
    /// Time to send a request body, from the moment its head arrived (408 problem, closed).
    pub body_timeout: Duration,
    /// Idle time a connection is kept open between requests.
    pub keep_alive: Duration,
    /// Time a closing connection is given to shut down cleanly (and to read what the client
    /// still sends after an answer to a body it did not finish).
    pub disconnect_timeout: Duration,
    /// Longest a request may hold its connection, from its head to the end of its answer (a
    /// client that stops reading its answer); and a kept-alive connection's next request head
    /// must arrive within `keep_alive` + `header_timeout` of the last answer. Past either, the
    /// connection is closed.
    pub request_timeout: Duration,
    /// Connections served at once, over all workers (each worker takes its share, at least
    /// one); beyond it, new connections wait in the listen backlog.
    pub max_connections: usize,
    /// Connections the operating system queues before the server accepts them.
    pub backlog: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(5),
            disconnect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(120),
            max_connections: 4096,
            backlog: 1024,
        }
    }
}

impl Limits {
    /// Each worker's share of [`Limits::max_connections`] (rounded up, at least one).
    pub fn per_worker(&self, workers: usize) -> usize {
        self.max_connections.div_ceil(workers.max(1)).max(1)
    }
}

/// A listening socket on `addr` with `backlog` (the standard library's bind fixes it at 128).
pub fn bind(addr: &str, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    use std::net::ToSocketAddrs;
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        let socket = Socket::new(Domain::for_address(a), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        match socket.bind(&a.into()) {
            Ok(()) => {
                socket.listen(backlog.min(i32::MAX as u32) as i32)?;
                return Ok(socket.into());
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{addr:?} resolves to no address"),
        )
    }))
}

/// One connection, watched: actix-http times a connection's first request head and idle
/// keep-alive, but neither a later request head that trickles in nor an answer the client
/// stops reading. [`watch`] closes such a connection (a shutdown of the socket, through a
/// duplicate of its descriptor that lives exactly as long as the connection).
struct Watch {
    socket: RefCell<Option<std::net::TcpStream>>,
    /// The head of the oldest request in flight, or the end of the last answer.
    since: Cell<std::time::Instant>,
    /// Requests whose answer is not written yet.
    busy: Cell<u32>,
}

/// The connection's [`Watch`] (connection data: dropped with the connection).
#[derive(Clone)]
struct ConnWatch(Rc<Watch>);

impl ConnWatch {
    fn begin(&self) {
        if self.0.busy.get() == 0 {
            self.0.since.set(std::time::Instant::now());
        }
        self.0.busy.set(self.0.busy.get() + 1);
    }

    fn end(&self) {
        self.0.busy.set(self.0.busy.get().saturating_sub(1));
        self.0.since.set(std::time::Instant::now());
    }
}

/// How often a watched connection is looked at.
const WATCH_TICK: Duration = Duration::from_millis(250);

/// For `HttpServer::on_connect`: watch a TCP connection, plain or under TLS (its socket then
/// lies beneath the TLS stream), under `limits`.
pub(super) fn watch(
    conn: &dyn std::any::Any,
    ext: &mut actix_web::dev::Extensions,
    limits: &Limits,
) {
    use actix_tls::accept::rustls_0_23::TlsStream;
    use actix_web::rt::net::TcpStream;
    use std::os::fd::AsFd;
    let tcp = match (
        conn.downcast_ref::<TcpStream>(),
        conn.downcast_ref::<TlsStream<TcpStream>>(),
    ) {
        (Some(tcp), _) => tcp,
        (None, Some(tls)) => tls.get_ref().0,
        (None, None) => return,
    };
    let Ok(fd) = tcp.as_fd().try_clone_to_owned() else {
        return;
    };
    let w = Rc::new(Watch {
        socket: RefCell::new(Some(std::net::TcpStream::from(fd))),
        since: Cell::new(std::time::Instant::now()),
        busy: Cell::new(0),
    });
    let weak = Rc::downgrade(&w);
    let idle = limits.keep_alive + limits.header_timeout;
    let request = limits.request_timeout;
    actix_web::rt::spawn(async move {
        loop {
            sleep(WATCH_TICK).await;
            let Some(w) = weak.upgrade() else { return };
            let limit = if w.busy.get() > 0 { request } else { idle };
            if w.since.get().elapsed() > limit {
                if let Some(s) = w.socket.borrow_mut().take() {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
                return;
            }
        }
    });
    ext.insert(ConnWatch(w));
}

/// The body timeout every request's body is read under (app data).
#[derive(Clone, Copy)]
pub(super) struct BodyTimeout(pub Duration);

/// The request payload, shared between the handler's stream and the answer that keeps it.
type Shared = Rc<RefCell<Payload>>;

/// An answer's body that holds the request payload until it is written (actix-http then sees
/// a body not read to its end, not one dropped, which it would drain however long that takes,
/// and closes the connection after the answer), and tells the connection's watch when the
/// answer is written.
struct Held {
    body: BoxBody,
    _payload: Option<Shared>,
    watch: Option<ConnWatch>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(w) = &self.watch {
            w.end();
        }
    }
}

impl MessageBody for Held {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> actix_web::body::BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// A request body that fails once its deadline passed.
struct Deadline {
    inner: Shared,
    sleep: Pin<Box<Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.get() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut *self.inner.borrow_mut()).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }
}

/// Problem details for an error answer that is not one already (an extractor's, a 404 or 405
/// of the router): the status kept, the cause as the detail.
fn as_problem(status: StatusCode, cause: Option<String>) -> Problem {
    let (kind, title, default) = match status.as_u16() {
        400 => ("bad-request", "Bad request", "the request is malformed"),
        404 => ("not-found", "Not found", "no such resource"),
        405 => (
            "method-not-allowed",
            "Method not allowed",
            "this resource does not take that method",
        ),
        408 => (
            "timeout",
            "Request timeout",
            "the request did not arrive in time",
        ),
        411 => (
            "length-required",
            "Length required",
            "the request needs a Content-Length",
        ),
        413 => (
            "too-large",
            "Payload too large",
            "the request body is larger than this route takes",
        ),
        415 => (
            "unsupported-media-type",
            "Unsupported media type",
            "the request body's Content-Type is not the one this route takes",
        ),
        _ => (
            "error",
            status.canonical_reason().unwrap_or("Error"),
            "the request failed",
        ),
    };
    let p = Problem::new(
        status.as_u16(),
        kind,
        title,
        cause.unwrap_or_else(|| default.to_string()),
    );
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        p.field("(body)")
    } else {
        p
    }
}

/// Every request passes here: the body under its deadline, error answers as problem details.
pub(super) async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let timeout = req
        .app_data::<BodyTimeout>()
        .map(|t| t.0)
        .unwrap_or(Limits::default().body_timeout);
    let watch = req.conn_data::<ConnWatch>().cloned();
    if let Some(w) = &watch {
        w.begin();
    }
    let payload = req.take_payload();
    let expired = Rc::new(Cell::new(false));
    let kept = match payload {
        Payload::None => None,
        p => {
            let shared: Shared = Rc::new(RefCell::new(p));
            req.set_payload(Payload::Stream {
                payload: Box::pin(Deadline {
                    inner: shared.clone(),
                    sleep: Box::pin(sleep(timeout)),
                    expired: expired.clone(),
                }),
            });
            Some(shared)
        }
    };
    let res = match next.call(req).await {
        Ok(res) => res.map_into_boxed_body(),
        // (The request is gone with the error: answered as a problem without the guard's care.)
        Err(e) => {
            if let Some(w) = &watch {
                w.end();
            }
            let status = e.as_response_error().status_code();
            return Err(as_problem(status, Some(e.to_string())).into());
        }
    };
    let res = if expired.get() {
        let p = Problem::new(
            408,
            "body-timeout",
            "Request body too slow",
            format!(
                "the request body did not arrive within {} s of its head",
                timeout.as_secs_f64()
            ),
        )
        .field("(body)");
        let (req, _) = res.into_parts();
        ServiceResponse::new(req, p.error_response())
    } else if res.status().as_u16() >= 400 && !is_problem(res.response()) && !deliberate(&res) {
        let cause = res.response().error().map(|e| e.to_string());
        let p = as_problem(res.status(), cause);
        let (req, _) = res.into_parts();
        ServiceResponse::new(req, p.error_response())
    } else {
        res
    };
    Ok(if kept.is_some() || watch.is_some() {
        res.map_body(|_, body| {
            BoxBody::new(Held {
                body,
                _payload: kept,
                watch,
            })
        })
    } else {
        res
    })
}

/// An error answer a handler wrote on purpose in another form (an erased record's 410, the
/// tlog-witness 409 with its size): it has a body and no error behind it.
fn deliberate(res: &ServiceResponse<BoxBody>) -> bool {
    use actix_web::body::BodySize;
    res.response().error().is_none()
        && !matches!(
            res.response().body().size(),
            BodySize::None | BodySize::Sized(0)
        )
}

fn is_problem<B>(res: &actix_web::HttpResponse<B>) -> bool {
    res.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"))
}

/// Refuse a body whose `Content-Type` is not `expected` (absent is taken: the body is parsed
/// and checked anyway).
pub(super) fn content_type(req: &actix_web::HttpRequest, expected: &str) -> Result<(), Problem> {
    let Some(given) = req.headers().get(actix_web::http::header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = given
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() == Some(expected) {
        return Ok(());
    }
    Err(Problem::new(
        415,
        "unsupported-media-type",
        "Unsupported media type",
        format!(
            "header `Content-Type`: expected {expected}, got {:?}",
            given.to_str().unwrap_or("(not text)")
        ),
    )
    .field("Content-Type"))
}
