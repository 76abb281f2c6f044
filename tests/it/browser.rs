//! A headless Chromium driven over the DevTools protocol, for page tests: a phone-sized page
//! against the real server, a fake camera showing a QR code, offline emulation, screenshots,
//! and a record of every request a page made.
//!
//! Why a client of our own instead of a crate: chromiumoxide (and the like) generate the whole
//! protocol as Rust types, tens of thousands of lines that take minutes to compile on a 2-core
//! machine, and need an async runtime. The few commands the tests use are plain JSON, so this is a
//! small client over `--remote-debugging-pipe` built from std, serde_json and libc, which the
//! crate already depends on. Chromium reads commands on its fd 3 and writes answers and events on
//! its fd 4, each message a JSON object ended by a NUL byte; the child's fds 3 and 4 are set up
//! with `CommandExt::pre_exec` + `dup2`. A pipe (unlike a TCP debugging port) is private to this
//! process and needs no free port, so parallel tests never reach each other's browser.
//!
//! Sessions are "flattened": each page is a target attached with its own `sessionId`, and every
//! message names the session it belongs to. One reader thread per browser stores answers by id
//! and keeps every event, so a test can ask after the fact (requests, console messages).
//!
//! Service workers: the browser auto-attaches to every service worker (paused until the harness
//! has enabled the network domain on it), so their requests appear in [`Page::requests`] and
//! [`Page::set_offline`] cuts them off too. A [`RecordingProxy`] in front of the server still
//! sees more than the protocol does (every byte, whoever sent it): use it for "never crosses the
//! wire" checks.
//!
//! Chromium must be installed (`apt-get install -y chromium`); CI runs as root, hence
//! `--no-sandbox`.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long any single wait may take: generous, since several browsers share 2 cores in CI.
pub const WAIT: Duration = Duration::from_secs(30);
/// How often [`Page::wait_for`] asks again.
const POLL: Duration = Duration::from_millis(25);

/// The path [`Page::set_offline`] probes to see that the change is in force; left out of
/// [`Page::requests`], [`Page::console`] and [`StaticServer::requests`].
const OFFLINE_PROBE: &str = "/__harness_offline_probe";

/// How to start a browser. `LaunchOptions::default()` is a Chinese-language phone with no camera.
#[derive(Clone, Debug)]
pub struct LaunchOptions {
    /// A Y4M file (see [`qr_video`]) the fake camera plays in a loop.
    pub camera: Option<PathBuf>,
    /// UI language and `Accept-Language`, e.g. `zh-CN` (the default) or `en-US`.
    pub lang: String,
    /// More command-line switches.
    pub args: Vec<String>,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions {
            camera: None,
            lang: "zh-CN".into(),
            args: Vec::new(),
        }
    }
}

impl LaunchOptions {
    pub fn camera(mut self, y4m: &Path) -> Self {
        self.camera = Some(y4m.to_path_buf());
        self
    }
    pub fn lang(mut self, lang: &str) -> Self {
        self.lang = lang.into();
        self
    }
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.into());
        self
    }
}

/// One message from the browser that is not an answer, with the session it came from.
#[derive(Clone, Debug)]
struct Event {
    session: Option<String>,
    method: String,
    params: Value,
}

#[derive(Default)]
struct State {
    answers: HashMap<u64, Value>,
    events: Vec<Event>,
    /// Sessions of service workers attached so far (kept after they detach, so their requests
    /// are still attributed).
    workers: HashSet<String>,
    /// Service-worker sessions currently attached.
    live_workers: HashSet<String>,
    offline: bool,
    /// Why the pipe closed, once it has.
    closed: Option<String>,
}

/// The pipe to one browser: commands out, answers and events in.
struct Conn {
    out: Mutex<File>,
    state: Mutex<State>,
    changed: Condvar,
    next_id: AtomicU64,
    log: PathBuf,
}

impl Conn {
    /// Send a command without waiting for its answer; returns its id.
    fn send(&self, session: Option<&str>, method: &str, params: Value) -> Result<u64, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("a JSON value serialises");
        bytes.push(0);
        self.out.lock().unwrap().write_all(&bytes).map_err(|e| {
            format!(
                "{method}: cannot write to the browser ({e}){}",
                self.log_tail()
            )
        })?;
        Ok(id)
    }

    /// Send a command and wait for its answer: the `result`, or the protocol error.
    fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, String> {
        let id = self.send(session, method, params)?;
        let deadline = Instant::now() + WAIT;
        let mut st = self.state.lock().unwrap();
        loop {
            if let Some(answer) = st.answers.remove(&id) {
                return match answer.get("error") {
                    Some(e) => Err(format!(
                        "{method}: {}",
                        e["message"].as_str().unwrap_or("?")
                    )),
                    None => Ok(answer["result"].clone()),
                };
            }
            if let Some(why) = &st.closed {
                return Err(format!(
                    "{method}: the browser went away ({why}){}",
                    self.log_tail()
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "{method}: no answer from the browser within {WAIT:?}"
                ));
            }
            st = self.changed.wait_timeout(st, deadline - now).unwrap().0;
        }
    }

    /// Wait for an event `method` on `session` that arrived at or after index `since`.
    fn wait_event(&self, session: &str, method: &str, since: usize) -> Result<Value, String> {
        let deadline = Instant::now() + WAIT;
        let mut st = self.state.lock().unwrap();
        loop {
            if let Some(e) = st.events[since.min(st.events.len())..]
                .iter()
                .find(|e| e.method == method && e.session.as_deref() == Some(session))
            {
                return Ok(e.params.clone());
            }
            if let Some(why) = &st.closed {
                return Err(format!(
                    "waiting for {method}: the browser went away ({why})"
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("no {method} within {WAIT:?}"));
            }
            st = self.changed.wait_timeout(st, deadline - now).unwrap().0;
        }
    }

    fn event_count(&self) -> usize {
        self.state.lock().unwrap().events.len()
    }

    /// Wait until the network conditions just set on `session` are in force. Chromium answers
    /// `Network.emulateNetworkConditions` before its network service has applied them (the two
    /// travel on different pipes), so a request made at once can still go out, or still fail.
    /// A same-origin `HEAD` to [`OFFLINE_PROBE`] is sent from the session (page or worker)
    /// until it fails (offline) or gets any answer (online). A session without an origin
    /// (about:blank) is not waited for.
    fn settle(&self, session: &str, offline: bool) -> Result<(), String> {
        let probe = format!(
            "(async () => {{
                if (self.location.origin === 'null') return 'no origin';
                try {{ await fetch({OFFLINE_PROBE:?}, {{method: 'HEAD', cache: 'no-store'}}); return 'online'; }}
                catch (e) {{ return 'offline'; }} }})()"
        );
        let want = if offline { "offline" } else { "online" };
        let deadline = Instant::now() + WAIT;
        loop {
            let r = self.call(
                Some(session),
                "Runtime.evaluate",
                json!({"expression": probe, "awaitPromise": true, "returnByValue": true}),
            )?;
            let got = r["result"]["value"].as_str().unwrap_or_default();
            if got == want || got == "no origin" {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the browser was set {want} but its requests still went {got} after {WAIT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last lines Chromium wrote to stderr, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("\nchromium's last words:\n{tail}")
        }
    }

    /// The reader thread: store answers, keep events, and bring new service workers under
    /// watch (network recorded, offline if the pages are) before they run.
    fn read_loop(self: Arc<Self>, input: File) {
        let mut input = BufReader::new(input);
        let mut buf = Vec::new();
        let why = loop {
            buf.clear();
            match input.read_until(0, &mut buf) {
                Ok(0) => break "pipe closed".to_string(),
                Err(e) => break format!("read error: {e}"),
                Ok(_) => {}
            }
            if buf.last() == Some(&0) {
                buf.pop();
            }
            let Ok(msg) = serde_json::from_slice::<Value>(&buf) else {
                continue;
            };
            if let Some(id) = msg.get("id").and_then(Value::as_u64) {
                self.state.lock().unwrap().answers.insert(id, msg);
                self.changed.notify_all();
                continue;
            }
            let event = Event {
                session: msg["sessionId"].as_str().map(str::to_string),
                method: msg["method"].as_str().unwrap_or_default().to_string(),
                params: msg["params"].clone(),
            };
            if event.method == "Target.attachedToTarget"
                && event.params["targetInfo"]["type"] == "service_worker"
            {
                let s = event.params["sessionId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let offline = {
                    let mut st = self.state.lock().unwrap();
                    st.workers.insert(s.clone());
                    st.live_workers.insert(s.clone());
                    st.offline
                };
                // Fire and forget: the answers land in `answers`, unread. A session handles
                // its commands in order, so the worker starts with all of these in force.
                let _ = self.send(Some(&s), "Network.enable", json!({}));
                if offline {
                    let _ = self.send(
                        Some(&s),
                        "Network.emulateNetworkConditions",
                        conditions(true),
                    );
                }
                let _ = self.send(Some(&s), "Runtime.runIfWaitingForDebugger", json!({}));
            }
            if event.method == "Target.detachedFromTarget" {
                if let Some(s) = event.params["sessionId"].as_str() {
                    self.state.lock().unwrap().live_workers.remove(s);
                }
            }
            self.state.lock().unwrap().events.push(event);
            self.changed.notify_all();
        };
        self.state.lock().unwrap().closed = Some(why);
        self.changed.notify_all();
    }
}

fn conditions(offline: bool) -> Value {
    json!({"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
}

/// A pipe whose both ends are closed on exec (the child gets copies at fds 3 and 4 only).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array; each is owned exactly once below.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// A running headless Chromium with its own profile (two browsers are two phones); killed on
/// drop.
pub struct Browser {
    child: Child,
    conn: Arc<Conn>,
    lang: String,
    user_agent: String,
    profile: tempfile::TempDir,
}

impl Browser {
    pub fn launch(opts: LaunchOptions) -> Browser {
        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let log = profile.path().join("chromium.log");
        let (cmd_read, cmd_write) = pipe();
        let (ev_read, ev_write) = pipe();
        let mut command = Command::new("chromium");
        command
            .arg("--remote-debugging-pipe")
            .arg(format!(
                "--user-data-dir={}",
                profile.path().join("data").display()
            ))
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-extensions",
                "--mute-audio",
                "--use-fake-ui-for-media-stream",
            ])
            .arg(format!("--lang={}", opts.lang))
            .arg(format!("--accept-lang={}", opts.lang))
            .env("LANGUAGE", opts.lang.replace('-', "_"));
        if let Some(y4m) = &opts.camera {
            command
                .arg("--use-fake-device-for-media-stream")
                .arg(format!(
                    "--use-file-for-fake-video-capture={}",
                    y4m.display()
                ));
        }
        command
            .args(&opts.args)
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("chromium's log file"));
        let (r, w) = (cmd_read.as_raw_fd(), ev_write.as_raw_fd());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec. Both fds
        // are first copied above 10 so that neither is overwritten if it happens to be 3 or 4;
        // dup2 clears close-on-exec on the copies at 3 and 4 only.
        unsafe {
            command.pre_exec(move || {
                let r2 = libc::fcntl(r, libc::F_DUPFD_CLOEXEC, 10);
                let w2 = libc::fcntl(w, libc::F_DUPFD_CLOEXEC, 10);
                if r2 < 0 || w2 < 0 || libc::dup2(r2, 3) < 0 || libc::dup2(w2, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = match command.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "`chromium` is not installed: the page tests drive a headless Chromium \
                 (apt-get install -y chromium)"
            ),
            Err(e) => panic!("cannot start chromium: {e}"),
        };
        // The child has its copies; ours must go, or the reader never sees the pipe close.
        drop(cmd_read);
        drop(ev_write);
        let conn = Arc::new(Conn {
            out: Mutex::new(File::from(cmd_write)),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            next_id: AtomicU64::new(1),
            log,
        });
        let reader = conn.clone();
        std::thread::spawn(move || reader.read_loop(File::from(ev_read)));
        let mut browser = Browser {
            child,
            conn,
            lang: opts.lang,
            user_agent: String::new(),
            profile,
        };
        let version = browser.call("Browser.getVersion", json!({}));
        browser.user_agent = version["userAgent"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        browser.call(
            "Target.setAutoAttach",
            json!({"autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true,
                   "filter": [{"type": "service_worker"}]}),
        );
        browser
    }

    /// A browser-level command (no session); panics with the protocol's error.
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.conn
            .call(None, method, params)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A new tab, attached, with page, runtime, network and log events recorded from now on.
    pub fn new_page(&self) -> Page {
        let target = self.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = self.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        let page = Page {
            conn: self.conn.clone(),
            target_id,
            session: attached["sessionId"].as_str().unwrap().to_string(),
            viewport: Mutex::new(None),
        };
        for domain in ["Page", "Runtime", "Network", "Log"] {
            page.call(&format!("{domain}.enable"), json!({}));
        }
        page.call(
            "Network.setUserAgentOverride",
            json!({"userAgent": self.user_agent, "acceptLanguage": self.lang}),
        );
        page.call("Emulation.setLocaleOverride", json!({"locale": self.lang}));
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request as the page (or a service worker) sent it.
#[derive(Clone, Debug)]
pub struct Request {
    pub url: String,
    pub method: String,
    pub headers: Value,
    pub post_data: Option<String>,
    pub from_service_worker: bool,
}

/// A console message or uncaught error.
#[derive(Clone, Debug)]
pub struct ConsoleMessage {
    /// `log`, `warning`, `error`, ... or `exception` for an uncaught error.
    pub kind: String,
    pub text: String,
}

/// One tab of a [`Browser`].
pub struct Page {
    conn: Arc<Conn>,
    pub target_id: String,
    session: String,
    viewport: Mutex<Option<(u32, u32)>>,
}

impl Page {
    /// A command on this page's session; panics with the protocol's error.
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.conn.call(Some(&self.session), method, params)
    }

    /// Go to `url` and wait for its load event; panics if it cannot be loaded.
    pub fn navigate(&self, url: &str) {
        self.try_navigate(url)
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"))
    }

    /// Go to `url` and wait for its load event; `Err` with Chromium's reason (such as
    /// `net::ERR_INTERNET_DISCONNECTED`) if it could not be loaded.
    pub fn try_navigate(&self, url: &str) -> Result<(), String> {
        let mark = self.conn.event_count();
        let r = self.try_call("Page.navigate", json!({"url": url}))?;
        if let Some(e) = r["errorText"].as_str().filter(|e| !e.is_empty()) {
            return Err(e.to_string());
        }
        if r.get("loaderId").is_none() {
            return Ok(()); // same-document navigation: no load event
        }
        self.conn
            .wait_event(&self.session, "Page.loadEventFired", mark)?;
        Ok(())
    }

    /// Reload and wait for the load event.
    pub fn reload(&self) {
        let mark = self.conn.event_count();
        self.call("Page.reload", json!({}));
        self.conn
            .wait_event(&self.session, "Page.loadEventFired", mark)
            .unwrap_or_else(|e| panic!("reload {}: {e}", self.url()));
    }

    /// Evaluate `js` (awaiting a promise) and return its value as JSON; a thrown exception
    /// fails the test with the exception's text.
    pub fn eval(&self, js: &str) -> Value {
        self.try_eval(js)
            .unwrap_or_else(|e| panic!("{e}\n  in: {js}\n  on: {}", self.url()))
    }

    pub fn try_eval(&self, js: &str) -> Result<Value, String> {
        let r = self.try_call(
            "Runtime.evaluate",
            json!({"expression": js, "awaitPromise": true, "returnByValue": true,
                   "userGesture": true}),
        )?;
        if let Some(ex) = r.get("exceptionDetails") {
            let text = ex["exception"]["description"]
                .as_str()
                .or(ex["exception"]["value"].as_str())
                .or(ex["text"].as_str())
                .unwrap_or("?");
            return Err(format!("the page threw: {text}"));
        }
        Ok(r["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// The page's current address (empty if it cannot be read).
    pub fn url(&self) -> String {
        self.try_eval("location.href")
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The page's visible text (`document.body.innerText`).
    pub fn text(&self) -> String {
        self.try_eval("document.body ? document.body.innerText : ''")
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Poll until `js_expr` is truthy; after `timeout`, fail naming the expression, the page's
    /// address, the last error and what the page shows.
    pub fn wait_for(&self, js_expr: &str, timeout: Duration) {
        let started = Instant::now();
        let mut last = String::new();
        loop {
            match self.try_eval(&format!("!!({js_expr})")) {
                Ok(Value::Bool(true)) => return,
                Ok(_) => last.clear(),
                Err(e) => last = e,
            }
            if started.elapsed() >= timeout {
                let mut text = self.text();
                if text.chars().count() > 2000 {
                    text = text.chars().take(2000).collect::<String>() + "…";
                }
                panic!(
                    "waited {timeout:?} for `{js_expr}` on {}{}\n--- the page shows ---\n{text}",
                    self.url(),
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(" (last error: {last})")
                    },
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Click the centre of the first element matching `css`, as a user would: waits for it to
    /// exist and be enabled (a button its page's script has not taken over yet is disabled),
    /// scrolls it into view, and fails if another element covers that point.
    pub fn click(&self, css: &str) {
        let sel = json!(css);
        // A page that fills in as answers arrive can move the element between finding it and
        // the press landing (a name that wraps, a list that grows): the press then misses, as
        // a finger would. The element counts the clicks it gets, and a missed press is made
        // again where the element is now.
        for _ in 0..5 {
            self.wait_for(
                &format!("(e => e && !e.disabled)(document.querySelector({sel}))"),
                WAIT,
            );
            let at = self.eval(&format!(
                "(() => {{ const e = document.querySelector({sel});
                    e.scrollIntoView({{block: 'center', inline: 'center'}});
                    const r = e.getBoundingClientRect();
                    const x = r.left + r.width / 2, y = r.top + r.height / 2;
                    const hit = document.elementFromPoint(x, y);
                    if (r.width === 0 || r.height === 0) throw new Error({sel} + ' has no size (hidden?)');
                    if (!hit || !(hit === e || e.contains(hit) || hit.contains(e)))
                      throw new Error({sel} + ' is covered by ' + (hit ? hit.outerHTML.slice(0, 120) : 'nothing'));
                    window.__wlClicked = false;
                    e.addEventListener('click', () => {{ window.__wlClicked = true; }}, {{once: true, capture: true}});
                    return [x, y]; }})()",
            ));
            let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
            for kind in ["mousePressed", "mouseReleased"] {
                self.call(
                    "Input.dispatchMouseEvent",
                    json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
                );
            }
            // A click that navigated leaves a new page behind (no flag): it landed.
            match self.try_eval("window.__wlClicked") {
                Ok(Value::Bool(false)) => std::thread::sleep(POLL),
                _ => return,
            }
        }
        panic!("{css} moved away from every press on {}", self.url());
    }

    /// Replace the value of the input matching `css` with `text`, typed as an input method
    /// would (input events), then fire `change`.
    pub fn type_text(&self, css: &str, text: &str) {
        let sel = json!(css);
        self.wait_for(&format!("document.querySelector({sel})"), WAIT);
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); e.focus();
                if ('value' in e) e.value = ''; }})()"
        ));
        self.call("Input.insertText", json!({"text": text}));
        self.eval(&format!(
            "document.querySelector({sel}).dispatchEvent(new Event('change', {{bubbles: true}}))"
        ));
    }

    /// Emulate a screen `width`×`height` CSS pixels (device scale 1, so a screenshot is that
    /// many pixels wide); `mobile` also turns on a phone's viewport rules and touch.
    pub fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        );
        self.call(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": mobile, "maxTouchPoints": 5}),
        );
        *self.viewport.lock().unwrap() = Some((width, height));
    }

    /// The viewport width set by [`Page::set_viewport`], else the window's.
    pub fn viewport_width(&self) -> u32 {
        match *self.viewport.lock().unwrap() {
            Some((w, _)) => w,
            None => self.eval("window.innerWidth").as_u64().unwrap_or(0) as u32,
        }
    }

    /// A PNG of the whole page (not just the viewport), written to `path` (parent directories
    /// created).
    pub fn screenshot(&self, path: &Path) {
        let m = self.call("Page.getLayoutMetrics", json!({}));
        let vw = m["cssLayoutViewport"]["clientWidth"]
            .as_f64()
            .unwrap_or(0.0);
        let vh = m["cssLayoutViewport"]["clientHeight"]
            .as_f64()
            .unwrap_or(0.0);
        let w = m["cssContentSize"]["width"].as_f64().unwrap_or(0.0).max(vw);
        let h = m["cssContentSize"]["height"]
            .as_f64()
            .unwrap_or(0.0)
            .max(vh);
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}}),
        );
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .expect("the screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Cut the page (and every service worker of this browser) off the network, or reconnect.
    pub fn set_offline(&self, offline: bool) {
        let workers: Vec<String> = {
            let mut st = self.conn.state.lock().unwrap();
            st.offline = offline;
            st.live_workers.iter().cloned().collect()
        };
        self.call("Network.emulateNetworkConditions", conditions(offline));
        self.conn
            .settle(&self.session, offline)
            .unwrap_or_else(|e| panic!("{e}"));
        for w in workers {
            // A worker that stopped in between has nothing left to cut off.
            if self
                .conn
                .call(
                    Some(&w),
                    "Network.emulateNetworkConditions",
                    conditions(offline),
                )
                .is_ok()
            {
                let _ = self.conn.settle(&w, offline);
            }
        }
    }

    fn events(&self, include_workers: bool) -> Vec<Event> {
        let st = self.conn.state.lock().unwrap();
        st.events
            .iter()
            .filter(|e| match &e.session {
                Some(s) => *s == self.session || (include_workers && st.workers.contains(s)),
                None => false,
            })
            .cloned()
            .collect()
    }

    /// Every request this page made since it was opened, and every request any service worker
    /// of this browser made, in order. Redirects appear as separate requests.
    pub fn requests(&self) -> Vec<Request> {
        self.events(true)
            .into_iter()
            .filter(|e| e.method == "Network.requestWillBeSent")
            .filter(|e| !is_probe(&e.params["request"]["url"]))
            .map(|e| {
                let r = &e.params["request"];
                let post_data = r["postData"].as_str().map(str::to_string).or_else(|| {
                    let entries = r["postDataEntries"].as_array()?;
                    use base64::Engine as _;
                    let mut bytes = Vec::new();
                    for entry in entries {
                        let b = entry["bytes"].as_str().unwrap_or_default();
                        bytes.extend(base64::engine::general_purpose::STANDARD.decode(b).ok()?);
                    }
                    Some(String::from_utf8_lossy(&bytes).into_owned())
                });
                Request {
                    url: r["url"].as_str().unwrap_or_default().to_string(),
                    method: r["method"].as_str().unwrap_or_default().to_string(),
                    headers: r["headers"].clone(),
                    post_data,
                    from_service_worker: e.session.as_deref() != Some(self.session.as_str()),
                }
            })
            .collect()
    }

    /// Console messages, uncaught errors (kind `exception`) and browser log entries (network
    /// errors, CSP violations), in order.
    pub fn console(&self) -> Vec<ConsoleMessage> {
        self.events(false)
            .into_iter()
            .filter_map(|e| match e.method.as_str() {
                "Runtime.consoleAPICalled" => Some(ConsoleMessage {
                    kind: e.params["type"].as_str().unwrap_or("log").to_string(),
                    text: e.params["args"]
                        .as_array()
                        .map(|args| {
                            args.iter()
                                .map(|a| match &a["value"] {
                                    Value::String(s) => s.clone(),
                                    Value::Null => a["description"]
                                        .as_str()
                                        .or(a["unserializableValue"].as_str())
                                        .unwrap_or(a["type"].as_str().unwrap_or(""))
                                        .to_string(),
                                    v => v.to_string(),
                                })
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default(),
                }),
                "Runtime.exceptionThrown" => Some(ConsoleMessage {
                    kind: "exception".into(),
                    text: exception_text(&e.params["exceptionDetails"]),
                }),
                "Log.entryAdded" if !is_probe(&e.params["entry"]["url"]) => Some(ConsoleMessage {
                    kind: e.params["entry"]["level"]
                        .as_str()
                        .unwrap_or("log")
                        .to_string(),
                    text: e.params["entry"]["text"].as_str().unwrap_or("").to_string(),
                }),
                _ => None,
            })
            .collect()
    }

    /// Uncaught errors only (the texts of `console()` entries of kind `exception`).
    pub fn errors(&self) -> Vec<String> {
        self.console()
            .into_iter()
            .filter(|m| m.kind == "exception")
            .map(|m| m.text)
            .collect()
    }
}

/// Whether `url` is the harness's own offline probe.
fn is_probe(url: &Value) -> bool {
    url.as_str()
        .is_some_and(|u| u.split('?').next().unwrap_or(u).ends_with(OFFLINE_PROBE))
}

fn exception_text(details: &Value) -> String {
    details["exception"]["description"]
        .as_str()
        .or(details["text"].as_str())
        .unwrap_or("?")
        .to_string()
}

/// `Some(description)` when the page is wider than its viewport (a phone user would have to
/// scroll sideways), naming the element that reaches furthest right.
pub fn horizontal_overflow(page: &Page) -> Option<String> {
    let width = page.viewport_width();
    let found = page.eval(&format!(
        "(() => {{ const vw = {width} || document.documentElement.clientWidth;
            const sw = Math.max(document.documentElement.scrollWidth, document.body ? document.body.scrollWidth : 0);
            if (sw <= vw) return null;
            let worst = null, right = vw;
            for (const e of document.body.querySelectorAll('*')) {{
              const r = e.getBoundingClientRect();
              if (r.width > 0 && r.right >= right) {{ worst = e; right = r.right; }}
            }}
            let name = 'an element outside the body';
            if (worst) {{
              name = worst.tagName.toLowerCase() + (worst.id ? '#' + worst.id : '')
                + [...worst.classList].map(c => '.' + c).join('');
              const r = worst.getBoundingClientRect();
              name += ` (${{Math.round(r.width)}} px wide, right edge at ${{Math.round(r.right)}} px)`;
              const t = (worst.innerText || '').trim().slice(0, 60);
              if (t) name += ` \"${{t}}\"`;
            }}
            return `the page is ${{sw}} px wide in a ${{vw}} px viewport; widest: ${{name}}`; }})()"
    ));
    found.as_str().map(str::to_string)
}

/// Visible text that looks like a raw identifier instead of words (`in_transit`,
/// `custody.handover`, `event.vehicle`: lower-case ASCII words joined by `_` or `.`), each
/// entry the whole text it was found in. Text inside `code`, `pre`, `kbd`, `samp` or an
/// element marked `data-raw` is meant to be raw and is skipped; placeholders are checked too.
pub fn untranslated_text(page: &Page) -> Vec<String> {
    let found = page.eval(
        r#"(() => {
            const raw = /(^|[^A-Za-z0-9_.])([a-z][a-z0-9]*(?:[._][a-z][a-z0-9]*)+)(?![A-Za-z0-9_])/g;
            const skip = 'code, pre, kbd, samp, [data-raw], script, style, noscript, template';
            const looksRaw = s => [...s.matchAll(raw)].some(m => m[2].split(/[._]/).some(w => w.length > 1));
            const visible = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
            const out = [];
            if (!document.body) return out;
            const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            for (let n = walk.nextNode(); n; n = walk.nextNode()) {
              const e = n.parentElement, t = n.textContent.trim();
              if (!t || !e || e.closest(skip) || !visible(e)) continue;
              if (looksRaw(t)) out.push(t);
            }
            for (const e of document.querySelectorAll('[placeholder]')) {
              const t = e.getAttribute('placeholder');
              if (!e.closest(skip) && visible(e) && looksRaw(t)) out.push(t);
            }
            return out; })()"#,
    );
    found
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Where page tests put their screenshots: `target/screens/` (created).
pub fn screens_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Write a Y4M video (640×480, YUV 4:2:0, 10 frames) of the PNG `png` scaled to fit and
/// centred on white, for `LaunchOptions::camera`: Chromium's fake camera plays it in a loop.
pub fn qr_video(png: &[u8], out: &Path) {
    const W: u32 = 640;
    const H: u32 = 480;
    let img = image::load_from_memory(png)
        .expect("qr_video: the image is a PNG")
        .to_luma8();
    // Whole pixels per source pixel keep the modules sharp, as a camera held close would see.
    let scale = ((W - 80) / img.width()).min((H - 80) / img.height()).max(1);
    let (sw, sh) = (img.width() * scale, img.height() * scale);
    let scaled = image::imageops::resize(&img, sw, sh, image::imageops::FilterType::Nearest);
    let mut y = vec![255u8; (W * H) as usize];
    let (x0, y0) = ((W.saturating_sub(sw)) / 2, (H.saturating_sub(sh)) / 2);
    for (x, yy, p) in scaled.enumerate_pixels() {
        let (tx, ty) = (x0 + x, y0 + yy);
        if tx < W && ty < H {
            y[(ty * W + tx) as usize] = p.0[0];
        }
    }
    let chroma = vec![128u8; (W / 2 * H / 2) as usize];
    let mut file = Vec::new();
    writeln!(file, "YUV4MPEG2 W{W} H{H} F10:1 Ip A1:1 C420jpeg").unwrap();
    for _ in 0..10 {
        file.extend_from_slice(b"FRAME\n");
        file.extend_from_slice(&y);
        file.extend_from_slice(&chroma);
        file.extend_from_slice(&chroma);
    }
    std::fs::write(out, file).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
}

/// One request the [`StaticServer`] received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header lines as sent (`Name: value`).
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

/// A tiny HTTP server for pages that need no app server: serves in-memory files or a
/// directory (GET/HEAD), answers any POST with `{"received": <bytes>}`, and records every
/// request. One connection at a time is enough for a test page; stopped on drop.
pub struct StaticServer {
    pub url: String,
    _acceptor: Acceptor,
    log: Arc<Mutex<Vec<Received>>>,
}

enum Source {
    Files(HashMap<String, Vec<u8>>),
    Dir(PathBuf),
}

impl StaticServer {
    /// Serve `files` (path such as `/index.html`, bytes); `/` is `/index.html`.
    pub fn files(files: &[(&str, &[u8])]) -> StaticServer {
        let map = files
            .iter()
            .map(|(p, b)| (p.to_string(), b.to_vec()))
            .collect();
        Self::start(Source::Files(map))
    }

    /// Serve the files under `root`.
    pub fn dir(root: &Path) -> StaticServer {
        Self::start(Source::Dir(root.to_path_buf()))
    }

    fn start(source: Source) -> StaticServer {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (source, log2) = (Arc::new(source), log.clone());
        let acceptor = Acceptor::start(move |conn| {
            let (source, log) = (source.clone(), log2.clone());
            std::thread::spawn(move || {
                let _ = serve_one(conn, &source, &log);
            });
        });
        StaticServer {
            url: acceptor.url(),
            _acceptor: acceptor,
            log,
        }
    }

    /// Every request received so far (but the harness's offline probes).
    pub fn requests(&self) -> Vec<Received> {
        let mut log = self.log.lock().unwrap().clone();
        log.retain(|r| r.path != OFFLINE_PROBE);
        log
    }
}

/// A loopback listener handing each connection to `handle` until dropped.
struct Acceptor {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Acceptor {
    fn start(handle: impl Fn(TcpStream) + Send + 'static) -> Acceptor {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(conn) = conn {
                    handle(conn);
                }
            }
        });
        Acceptor { addr, stop }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Answer one request on `conn` (then close it).
fn serve_one(
    mut conn: TcpStream,
    source: &Source,
    log: &Mutex<Vec<Received>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(WAIT))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        let h = h.trim_end().to_string();
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        headers.push(h);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    let path = if path == "/" {
        "/index.html".to_string()
    } else {
        path
    };
    let found: Option<Vec<u8>> = if method == "POST" {
        Some(format!("{{\"received\": {length}}}").into_bytes())
    } else {
        match source {
            Source::Files(map) => map.get(&path).cloned(),
            Source::Dir(root) if !path.contains("..") => {
                std::fs::read(root.join(path.trim_start_matches('/'))).ok()
            }
            Source::Dir(_) => None,
        }
    };
    log.lock().unwrap().push(Received {
        method: method.clone(),
        path: path.clone(),
        headers,
        body,
    });
    let (status, ctype, bytes) = match found {
        Some(b) if method == "POST" => ("200 OK", "application/json", b),
        Some(b) => ("200 OK", content_type(&path), b),
        None => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            b"not found".to_vec(),
        ),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        bytes.len()
    )?;
    if method != "HEAD" {
        conn.write_all(&bytes)?;
    }
    conn.flush()?;
    let _ = conn.shutdown(Shutdown::Write);
    Ok(())
}

/// A TCP proxy in front of a server that forwards bytes both ways and keeps every byte the
/// browser sent, whoever sent it (page, service worker, prefetch): the check that a secret
/// never crossed the wire. Point the browser at [`RecordingProxy::url`]; stopped on drop.
pub struct RecordingProxy {
    pub url: String,
    _acceptor: Acceptor,
    /// What the browser sent, one buffer a connection.
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    /// While set, the network is down: new connections are closed and nothing more is
    /// forwarded either way on open ones.
    offline: Arc<AtomicBool>,
}

impl RecordingProxy {
    /// `target` is `host:port` or an `http://host:port` URL.
    pub fn start(target: &str) -> RecordingProxy {
        let target = target
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let all = sent.clone();
        let offline = Arc::new(AtomicBool::new(false));
        let down = offline.clone();
        let acceptor = Acceptor::start(move |client| {
            if down.load(Ordering::SeqCst) {
                return; // no network: the connection closes unanswered
            }
            let Ok(server) = TcpStream::connect(&target) else {
                return; // the client sees the connection close, as with a dead server
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let record = (all.clone(), {
                let mut all = all.lock().unwrap();
                all.push(Vec::new());
                all.len() - 1
            });
            let (d1, d2) = (down.clone(), down.clone());
            std::thread::spawn(move || pump(client, server, Some(record), d1));
            std::thread::spawn(move || pump(s2, c2, None, d2));
        });
        RecordingProxy {
            url: acceptor.url(),
            _acceptor: acceptor,
            sent,
            offline,
        }
    }

    /// Cut the network between the browser and the server (or bring it back). A page's own
    /// offline emulation ([`Page::set_offline`]) is what the page sees; this makes sure that
    /// no byte reaches the server meanwhile, whichever way the browser sends it.
    pub fn set_offline(&self, offline: bool) {
        self.offline.store(offline, Ordering::SeqCst);
    }

    /// Every byte the browser sent so far, connection after connection (in the order they
    /// were opened).
    pub fn sent(&self) -> Vec<u8> {
        self.sent.lock().unwrap().concat()
    }

    /// Whether `needle` appears anywhere in what the browser sent on any one connection.
    pub fn sent_contains(&self, needle: &[u8]) -> bool {
        let sent = self.sent.lock().unwrap();
        !needle.is_empty()
            && sent
                .iter()
                .any(|c| c.windows(needle.len()).any(|w| w == needle))
    }
}

type Record = (Arc<Mutex<Vec<Vec<u8>>>>, usize);

fn pump(mut from: TcpStream, mut to: TcpStream, record: Option<Record>, down: Arc<AtomicBool>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if down.load(Ordering::SeqCst) {
            break; // the network went down: the bytes are lost and the connection with them
        }
        if let Some((all, i)) = &record {
            all.lock().unwrap()[*i].extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
