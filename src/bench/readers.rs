//! Appends under a load of readers, over HTTP (issue 15): the fixture of `fixture.rs` served
//! on loopback as `serve` serves it (the domain's routes, the default workers), and one client
//! appending manifests of the same city (issue, pickup and delivery hand-overs, receipt,
//! treatment: five events a manifest, each POST waiting for its durable acknowledgement) for S
//! seconds alone, then S seconds while R reader threads loop on the heavy reads: the first page
//! of `GET /v1/anomalies`, a subject search over a random window, and a random manifest, every
//! request signed by the authority (who sees all). The appended manifests stay in the fixture
//! (numbered after its own: its later runs accept them, and check them as their own).

use super::domain::{keys, rules, City};
use super::fixture::{self, ms, pct, subjects, window, Rng};
use super::{print_raw, raw_rates, RawRates, Served};
use crate::client::{encode, Answer, LogClient};
use crate::domain::subjects::Subject;
use crate::ledger::event::SignedEvent;
use crate::ledger::time::Timestamp;
use crate::store::{Config, Ledger, SystemClock};
use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// One phase of the appending client: acknowledgements, how long, and each ack's latency.
pub struct Phase {
    pub acks: usize,
    pub secs: f64,
    /// Sorted.
    pub lat: Vec<Duration>,
    /// Share of the phase in which some task on this machine waited for the disk, and for a
    /// core (Linux pressure stall information; this process's own waits count too).
    pub io_stalled: Option<f64>,
    pub cpu_stalled: Option<f64>,
}

/// Microseconds in which some task waited for `resource` (`/proc/pressure/{io,cpu}`), if known.
fn stalled_us(resource: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/pressure/{resource}")).ok()?;
    let some = text.lines().find(|l| l.starts_with("some "))?;
    some.split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

impl Phase {
    pub fn per_s(&self) -> f64 {
        self.acks as f64 / self.secs
    }

    fn line(&self) -> String {
        let share = |s: Option<f64>| s.map_or("?".into(), |s| format!("{:.0} %", s * 100.0));
        format!(
            "{} acks in {:.1}s = {:.0} appends/s; ack p50 {} p99 {} max {} (machine: some task waited for the disk {} of the time, for a core {})",
            self.acks,
            self.secs,
            self.per_s(),
            ms(pct(&self.lat, 0.5)),
            ms(pct(&self.lat, 0.99)),
            ms(self.lat.last().copied().unwrap_or_default()),
            share(self.io_stalled),
            share(self.cpu_stalled)
        )
    }
}

/// The reads of one kind, over every reader thread.
pub struct Reads {
    pub kind: &'static str,
    /// Latencies of the reads answered 200, sorted.
    pub ok: Vec<Duration>,
    /// Reads answered otherwise (or not at all), and the first of them.
    pub refused: usize,
    pub first_refusal: Option<String>,
}

impl Reads {
    fn new(kind: &'static str) -> Reads {
        Reads {
            kind,
            ok: Vec::new(),
            refused: 0,
            first_refusal: None,
        }
    }

    fn refuse(&mut self, why: String) {
        self.refused += 1;
        self.first_refusal.get_or_insert(why);
    }

    fn merge(&mut self, other: Reads) {
        self.ok.extend(other.ok);
        self.refused += other.refused;
        if self.first_refusal.is_none() {
            self.first_refusal = other.first_refusal;
        }
    }
}

const KINDS: [&str; 3] = ["anomalies", "search", "manifest"];

/// What the run measured.
pub struct Figures {
    pub alone: Phase,
    pub loaded: Phase,
    /// One per kind: anomalies, search, manifest.
    pub reads: Vec<Reads>,
    /// Manifests the appender added to the fixture, and how many it holds now.
    pub appended: u64,
    pub manifests: u64,
}

/// Open the fixture in `dir`, serve it, and append for `seconds` alone, then for `seconds`
/// beside `readers` reader threads.
pub fn measure(dir: &Path, readers: usize, seconds: f64, cache_mb: u64) -> Result<Figures> {
    let (log_key, city) = keys();
    let state = rules();
    let t = Instant::now();
    let ledger = Ledger::open(
        dir,
        Config {
            cache_bytes: cache_mb << 20,
            ..Config::default()
        },
        log_key,
        Arc::new(state.clone()),
        Arc::new(SystemClock),
    )?;
    let opened = t.elapsed().as_secs_f64();
    // The sweep the open started reads every entry: measured after it, not beside it.
    super::sweep_after_open(&ledger, t, opened);
    let (numbers, first): (Vec<String>, u64) = {
        let d = state.read();
        let numbers = d
            .manifest_numbers()
            .iter()
            .map(|n| n.as_str().to_string())
            .collect();
        (numbers, d.manifest_count() as u64)
    };
    if numbers.is_empty() {
        bail!("{} holds no manifests to read", dir.display());
    }
    let opts = crate::http::Options {
        workers: crate::http::default_workers(),
        ..crate::http::Options::default()
    };
    let workers = opts.workers;
    let served = Served::start_with(&ledger, Some(state.clone()), opts)?;
    println!(
        "served on {} ({workers} workers): {} manifests; one client appends, each POST waiting for its durable ack",
        served.base,
        numbers.len()
    );
    let run = Duration::from_secs_f64(seconds);
    let mut next = first;
    let result = phases(&served.base, &city, &mut next, readers, &numbers, run);
    served.stop();
    let manifests = state.read().manifest_count() as u64;
    ledger.close()?;
    let (alone, loaded, reads) = result?;
    Ok(Figures {
        alone,
        loaded,
        reads,
        appended: next - first,
        manifests,
    })
}

/// Append for `run` alone, then for `run` beside `readers` reader threads.
fn phases(
    base: &str,
    city: &City,
    next: &mut u64,
    readers: usize,
    numbers: &[String],
    run: Duration,
) -> Result<(Phase, Phase, Vec<Reads>)> {
    let alone = append_for(base, city, next, run)?;
    let all = subjects(city);
    let stop = AtomicBool::new(false);
    let (loaded, per_thread) = std::thread::scope(|s| {
        let threads: Vec<_> = (0..readers)
            .map(|j| {
                let (all, stop) = (&all, &stop);
                s.spawn(move || read_loop(base, &city.authority, all, numbers, j, stop))
            })
            .collect();
        let loaded = append_for(base, city, next, run);
        stop.store(true, Ordering::SeqCst);
        let reads: Vec<Vec<Reads>> = threads
            .into_iter()
            .map(|h| h.join().expect("reader thread"))
            .collect();
        (loaded, reads)
    });
    let loaded = loaded?;
    let mut reads: Vec<Reads> = KINDS.into_iter().map(Reads::new).collect();
    for thread in per_thread {
        for (all, one) in reads.iter_mut().zip(thread) {
            all.merge(one);
        }
    }
    for r in &mut reads {
        r.ok.sort();
    }
    Ok((alone, loaded, reads))
}

/// Append whole manifests for `run` (the last one finished after it): manifest `next` of the
/// city, then the next.
fn append_for(base: &str, city: &City, next: &mut u64, run: Duration) -> Result<Phase> {
    let client = LogClient::new(base);
    let mut lat = Vec::new();
    let mut post = |ev: &SignedEvent| -> Result<Answer> {
        let t = Instant::now();
        let a = client.post("/v1/events", &ev.to_bytes())?;
        lat.push(t.elapsed());
        if a.status != 201 {
            bail!(
                "POST /v1/events ({}): expected 201, got {}",
                ev.event_type(),
                a.problem()
            );
        }
        Ok(a)
    };
    let (io0, cpu0) = (stalled_us("io"), stalled_us("cpu"));
    let t0 = Instant::now();
    while t0.elapsed() < run {
        let n = *next;
        let a = post(&city.issue(n))?;
        *next += 1;
        let number = a.json()?["manifests"][0]
            .as_str()
            .context("the issue's answer names no manifest (`manifests`)")?
            .to_string();
        let now = Timestamp::from_system_time(SystemTime::now());
        let delivery = Timestamp::from_unix_millis(now.unix_millis() + 60_000);
        for ev in city.lifecycle_at(n, &number, &now.to_string(), &delivery.to_string()) {
            post(&ev)?;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let share = |before: Option<u64>, resource| {
        Some(stalled_us(resource)?.saturating_sub(before?) as f64 / 1e6 / secs)
    };
    lat.sort();
    Ok(Phase {
        acks: lat.len(),
        secs,
        lat,
        io_stalled: share(io0, "io"),
        cpu_stalled: share(cpu0, "cpu"),
    })
}

/// One reader: the three kinds in turn (reader `j` starting at kind `j`) until `stop`.
fn read_loop(
    base: &str,
    key: &SigningKey,
    all: &[Subject],
    numbers: &[String],
    j: usize,
    stop: &AtomicBool,
) -> Vec<Reads> {
    let client = LogClient::new(base);
    let mut rng = Rng(0x5EED + j as u64);
    let mut reads: Vec<Reads> = KINDS.into_iter().map(Reads::new).collect();
    let ts = |ms: u64| encode(&Timestamp::from_unix_millis(ms).to_string());
    let mut k = j;
    while !stop.load(Ordering::SeqCst) {
        let path = match k % KINDS.len() {
            0 => "/v1/anomalies".to_string(),
            1 => {
                let s = &all[rng.below(all.len() as u64) as usize];
                let (from, to) = window(&mut rng, numbers.len() as u64);
                format!(
                    "/v1/search?{}={}&from={}&to={}",
                    s.kind.as_str(),
                    encode(&s.id),
                    ts(from),
                    ts(to)
                )
            }
            _ => format!(
                "/v1/manifests/{}",
                encode(&numbers[rng.below(numbers.len() as u64) as usize])
            ),
        };
        let t = Instant::now();
        let r = &mut reads[k % KINDS.len()];
        match client.get_signed(&path, key) {
            Ok(a) if a.status == 200 => r.ok.push(t.elapsed()),
            Ok(a) => r.refuse(format!("GET {path}: {}", a.problem())),
            Err(e) => r.refuse(format!("GET {path}: {e:#}")),
        }
        k += 1;
    }
    reads
}

/// `bench --domain N --readers R [--data DIR]`: build (or reuse) the fixture, then measure.
pub fn run(
    dir: &Path,
    manifests: u64,
    readers: usize,
    seconds: f64,
    cache_mb: u64,
    raw: &RawRates,
) -> Result<()> {
    fixture::ensure(dir, manifests, cache_mb, raw)?;
    let f = measure(dir, readers, seconds, cache_mb)?;
    println!(
        "appends over HTTP, one client (5 events a manifest, each POST waiting for its durable ack), alone: {}",
        f.alone.line()
    );
    println!(
        "the same beside {readers} reader thread{} looping on the anomalies' first page, subject search and manifest reads (signed by the authority): {}",
        if readers == 1 { "" } else { "s" },
        f.loaded.line()
    );
    println!(
        "appends/s under readers / alone: {:.2} (target >= 0.8); ack p99 under readers {} (target < 50 ms)",
        f.loaded.per_s() / f.alone.per_s(),
        ms(pct(&f.loaded.lat, 0.99))
    );
    for r in &f.reads {
        println!(
            "  reads, {}: {} answered 200, p50 {} p99 {} max {}; {} refused{}",
            r.kind,
            r.ok.len(),
            ms(pct(&r.ok, 0.5)),
            ms(pct(&r.ok, 0.99)),
            ms(r.ok.last().copied().unwrap_or_default()),
            r.refused,
            r.first_refusal
                .as_ref()
                .map(|w| format!(" (first: {w})"))
                .unwrap_or_default()
        );
    }
    println!(
        "fixture {}: {} manifests now, {} appended by this run",
        dir.display(),
        f.manifests,
        f.appended
    );
    print_raw(&raw_rates());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two seconds alone and two beside two readers on a small fixture: appends acknowledged
    /// in both, every kind of read answered 200, and the appended manifests are the city's
    /// (the investigation benchmark checks its searches against the generator with them in).
    #[test]
    fn appends_are_acknowledged_alone_and_beside_readers() {
        let (_dir, data, _) = fixture::temporary(300);
        let f = measure(&data, 2, 2.0, 64).unwrap();
        assert!(f.alone.acks >= 5, "{} acks alone", f.alone.acks);
        assert!(f.loaded.acks >= 5, "{} acks beside readers", f.loaded.acks);
        assert_eq!(f.alone.acks + f.loaded.acks, 5 * f.appended as usize);
        for r in &f.reads {
            assert!(!r.ok.is_empty(), "no {} read answered 200", r.kind);
            assert_eq!(r.refused, 0, "{}: {:?}", r.kind, r.first_refusal);
        }
        assert_eq!(f.manifests, 300 + f.appended);
        fixture::searches_find_what_was_logged(&data, f.manifests, 40);
    }
}
